//! Reading the ledger back: lines, windows and revisions, for a query.

use ec_billing::Decimal;
use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, Row, params_from_iter, types::Value};

use crate::{
    Ledger,
    error::{Error, FileError, Inconsistency, Result, storage},
    record::{AnswerLine, LedgerLine, LineKey, LineType, Tally},
    sync::instant,
};

/// Which part of the ledger to read: an organization, some deployments, a range.
///
/// A line belongs to `[from, to)` when its period starts in it (a resource line's own
/// period; a DTS line's window); a window or a revision, when its window starts in it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Query {
    organization: Option<String>,
    deployments: Vec<String>,
    from: Option<Timestamp>,
    to: Option<Timestamp>,
}

impl Query {
    /// The whole ledger.
    pub fn all() -> Self {
        Self::default()
    }

    /// Only this organization.
    pub fn organization(mut self, organization: impl Into<String>) -> Self {
        self.organization = Some(organization.into());
        self
    }

    /// Only these deployments (all, when none is given).
    pub fn deployments(mut self, deployments: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.deployments = deployments.into_iter().map(Into::into).collect();
        self
    }

    /// From this instant on.
    pub fn from(mut self, from: Timestamp) -> Self {
        self.from = Some(from);
        self
    }

    /// Before this instant.
    pub fn to(mut self, to: Timestamp) -> Self {
        self.to = Some(to);
        self
    }

    /// The SQL condition on `organization`, `deployment` (and `window_start`, for the
    /// range, when `by_window`) of the table named `table`, and its parameters.
    fn condition(&self, table: &str, by_window: bool) -> (String, Vec<Value>) {
        let mut clauses = vec!["1 = 1".to_string()];
        let mut values: Vec<Value> = Vec::new();
        if let Some(organization) = &self.organization {
            values.push(Value::Text(organization.clone()));
            clauses.push(format!("{table}.organization = ?{}", values.len()));
        }
        if !self.deployments.is_empty() {
            let mut marks = Vec::new();
            for deployment in &self.deployments {
                values.push(Value::Text(deployment.clone()));
                marks.push(format!("?{}", values.len()));
            }
            clauses.push(format!("{table}.deployment IN ({})", marks.join(", ")));
        }
        if by_window {
            if let Some(from) = self.from {
                values.push(Value::Integer(from.as_second()));
                clauses.push(format!("{table}.window_start >= ?{}", values.len()));
            }
            if let Some(to) = self.to {
                values.push(Value::Integer(to.as_second()));
                clauses.push(format!("{table}.window_start < ?{}", values.len()));
            }
        }
        (clauses.join(" AND "), values)
    }

    /// Whether a line whose period starts at `start` is in the range.
    fn holds(&self, start: Timestamp) -> bool {
        self.from.is_none_or(|from| start >= from) && self.to.is_none_or(|to| start < to)
    }
}

/// A window of the ledger: what was fetched, when, and what came back.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct WindowRecord {
    /// The organization.
    pub organization: String,
    /// The deployment.
    pub deployment: String,
    /// The window, `[start, end)`.
    pub window: (Timestamp, Timestamp),
    /// When it was first fetched.
    pub first_fetched_at: Timestamp,
    /// When it was last fetched.
    pub fetched_at: Timestamp,
    /// Whether it was last fetched at least the settle period after its end.
    pub is_final: bool,
    /// A digest of the lines of the last answer.
    pub digest: String,
    /// How many lines it has.
    pub lines: u64,
    /// Its total, as the answer gave it (equal to the sum of its lines).
    pub total: Decimal,
}

/// A change found by fetching a window again: a fact, kept.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Revision {
    /// The organization.
    pub organization: String,
    /// The deployment.
    pub deployment: String,
    /// The window fetched again.
    pub window: (Timestamp, Timestamp),
    /// When the change was seen.
    pub seen_at: Timestamp,
    /// What changed.
    pub change: Change,
    /// The line's natural key.
    pub key: LineKey,
    /// Its cost before (none for an added line).
    pub old_cost: Option<Decimal>,
    /// Its cost after (none for a removed line).
    pub new_cost: Option<Decimal>,
}

impl Revision {
    /// What the change did to the total: the new cost less the old.
    pub fn delta(&self) -> Option<Decimal> {
        self.new_cost
            .unwrap_or_default()
            .checked_sub(self.old_cost.unwrap_or_default())
    }
}

/// What a revision changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Change {
    /// A line the earlier answer did not have.
    Added,
    /// A line the new answer does not have.
    Removed,
    /// A line whose cost or other values changed.
    Changed,
}

impl Change {
    /// `added`, `removed`, `changed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Added => "added",
            Self::Removed => "removed",
            Self::Changed => "changed",
        }
    }
}

impl Ledger {
    /// Every line in `query`, by organization, deployment, window and natural key.
    ///
    /// # Errors
    ///
    /// [`Error::Inconsistent`] when a window's lines do not match its record;
    /// [`Error::Storage`] when the file cannot be read.
    pub fn lines(&self, query: &Query) -> Result<Vec<LedgerLine>> {
        let mut lines = Vec::new();
        let conn = self.connection();
        self.each_line(&conn, query, |line| {
            lines.push(line);
            Ok(())
        })?;
        Ok(lines)
    }

    /// Calls `each` with every line in `query`, in the order of [`lines`](Self::lines),
    /// a window at a time: each window's lines are checked against its record (their
    /// count, sum and digest) before any of them is given, so a window deleted,
    /// duplicated or edited in part is an error, never a wrong number. Memory holds one
    /// window, whatever the ledger's size.
    pub(crate) fn each_line(
        &self,
        conn: &Connection,
        query: &Query,
        mut each: impl FnMut(LedgerLine) -> Result<()>,
    ) -> Result<()> {
        self.orphans(conn, query)?;
        self.scan(conn, query, |window, tally, lines| {
            self.verify(window, tally)?;
            for line in lines.drain(..) {
                if query.holds(line.key.period_start) {
                    each(line)?;
                }
            }
            Ok(())
        })
    }

    /// Calls `each` with every window of `query` whose start is in its range, and
    /// whether its lines match its record.
    pub(crate) fn each_window(
        &self,
        conn: &Connection,
        query: &Query,
        mut each: impl FnMut(&StoredWindow, bool) -> Result<()>,
    ) -> Result<()> {
        self.scan(conn, query, |window, tally, lines| {
            lines.clear();
            let inside = query.holds(instant(window.start));
            if inside {
                each(window, self.verify(window, tally).is_ok())?;
            }
            Ok(())
        })
    }

    /// Reads the windows of `query` (its organization and deployments) with their
    /// lines, and calls `each` once per window with its record, the tally of its lines
    /// and the lines themselves (a value that is not what the ledger writes is an
    /// error).
    fn scan(
        &self,
        conn: &Connection,
        query: &Query,
        mut each: impl FnMut(&StoredWindow, &Tally, &mut Vec<LedgerLine>) -> Result<()>,
    ) -> Result<()> {
        let (condition, values) = query.condition("w", false);
        let sql = format!(
            "SELECT w.organization, w.deployment, w.window_start, w.window_end, w.final,
                    w.lines, w.total, w.digest,
                    l.line_type, l.kind, l.sku, l.name, l.period_start, l.period_end,
                    l.ordinal, l.hours, l.instance_count, l.price_per_hour, l.quantity,
                    l.quantity_formatted, l.rate, l.rate_formatted, l.cost
             FROM windows w LEFT JOIN lines l
               ON l.organization = w.organization AND l.deployment = w.deployment
              AND l.window_start = w.window_start
             WHERE {condition}
             ORDER BY w.organization, w.deployment, w.window_start, l.line_type,
                      l.period_start, l.kind, l.sku, l.name, l.ordinal"
        );
        let mut statement = conn.prepare(&sql).map_err(|e| storage(&self.path, e))?;
        let mut rows = statement
            .query(params_from_iter(values))
            .map_err(|e| storage(&self.path, e))?;
        let mut window: Option<StoredWindow> = None;
        let mut pending: Vec<LedgerLine> = Vec::new();
        let mut tally = Tally::new();
        while let Some(row) = rows.next().map_err(|e| storage(&self.path, e))? {
            let record = StoredWindow::read(row).map_err(|e| self.corrupt(e))?;
            if window.as_ref().is_none_or(|w| !w.same(&record)) {
                if let Some(done) = window.take() {
                    each(&done, &tally, &mut pending)?;
                }
                pending.clear();
                tally = Tally::new();
                window = Some(record);
            }
            // A window of no lines has one row, of nulls.
            if row
                .get_ref(8)
                .map_err(|e| storage(&self.path, e))?
                .data_type()
                == rusqlite::types::Type::Null
            {
                continue;
            }
            let line = answer_line(row, 8).map_err(|e| self.corrupt(e))?;
            tally.add(&line);
            let Some(current) = &window else { continue };
            pending.push(LedgerLine {
                organization: current.organization.clone(),
                deployment: current.deployment.clone(),
                window: (instant(current.start), instant(current.end)),
                provisional: !current.final_,
                key: line.key,
                hours: line.hours,
                instance_count: line.instance_count,
                price_per_hour: line.price_per_hour,
                quantity: line.quantity,
                quantity_formatted: line.quantity_formatted,
                rate: line.rate,
                rate_formatted: line.rate_formatted,
                cost: line.cost,
            });
        }
        if let Some(done) = window.take() {
            each(&done, &tally, &mut pending)?;
        }
        Ok(())
    }

    /// Refuses lines in the scope of `query` whose window has no record: what they add
    /// up to is known to no record.
    fn orphans(&self, conn: &Connection, query: &Query) -> Result<()> {
        let (condition, values) = query.condition("w", false);
        let sql = format!(
            "SELECT w.organization, w.deployment, w.window_start FROM lines w
             WHERE {condition} AND NOT EXISTS (
                 SELECT 1 FROM windows x WHERE x.organization = w.organization
                   AND x.deployment = w.deployment AND x.window_start = w.window_start)
             LIMIT 1"
        );
        let orphan: Option<(String, String, i64)> = conn
            .query_row(&sql, params_from_iter(values), |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?))
            })
            .optional()
            .map_err(|e| storage(&self.path, e))?;
        match orphan {
            None => Ok(()),
            Some((organization, deployment, start)) => {
                Err(Error::Inconsistent(Inconsistency::new(
                    &self.path,
                    &organization,
                    &deployment,
                    (instant(start), instant(start)),
                    "its lines have no window record",
                )))
            }
        }
    }

    /// Checks the lines read of `window` (their `tally`) against its record.
    pub(crate) fn verify(&self, window: &StoredWindow, tally: &Tally) -> Result<()> {
        match tally.mismatch(window.lines, &window.total, &window.digest) {
            None => Ok(()),
            Some(what) => Err(Error::Inconsistent(Inconsistency::new(
                &self.path,
                &window.organization,
                &window.deployment,
                (instant(window.start), instant(window.end)),
                what,
            ))),
        }
    }

    /// Every window in `query`, by organization, deployment and start.
    ///
    /// # Errors
    ///
    /// [`Error::Storage`] when the file cannot be read.
    pub fn windows(&self, query: &Query) -> Result<Vec<WindowRecord>> {
        let (condition, values) = query.condition("windows", true);
        let sql = format!(
            "SELECT organization, deployment, window_start, window_end, first_fetched_at,
                    fetched_at, final, digest, lines, total
             FROM windows WHERE {condition}
             ORDER BY organization, deployment, window_start"
        );
        let conn = self.connection();
        let mut statement = conn.prepare(&sql).map_err(|e| storage(&self.path, e))?;
        let rows = statement
            .query_map(params_from_iter(values), |row| {
                Ok(WindowRecord {
                    organization: row.get(0)?,
                    deployment: row.get(1)?,
                    window: (instant(row.get(2)?), instant(row.get(3)?)),
                    first_fetched_at: timestamp(row, 4)?,
                    fetched_at: timestamp(row, 5)?,
                    is_final: row.get(6)?,
                    digest: row.get(7)?,
                    lines: {
                        let lines: i64 = row.get(8)?;
                        u64::try_from(lines).map_err(|_| invalid(8, &lines.to_string()))?
                    },
                    total: money(row, 9)?,
                })
            })
            .map_err(|e| storage(&self.path, e))?;
        rows.collect::<rusqlite::Result<_>>()
            .map_err(|e| self.corrupt(e))
    }

    /// Every revision in `query`, in the order they were seen.
    ///
    /// # Errors
    ///
    /// [`Error::Storage`] when the file cannot be read.
    pub fn revisions(&self, query: &Query) -> Result<Vec<Revision>> {
        let (condition, values) = query.condition("revisions", true);
        let sql = format!(
            "SELECT organization, deployment, window_start, window_end, seen_at, change,
                    line_type, kind, sku, name, period_start, period_end, ordinal, old_cost,
                    new_cost
             FROM revisions WHERE {condition} ORDER BY id"
        );
        let conn = self.connection();
        let mut statement = conn.prepare(&sql).map_err(|e| storage(&self.path, e))?;
        let rows = statement
            .query_map(params_from_iter(values), |row| {
                let text: String = row.get(5)?;
                let change = match text.as_str() {
                    "added" => Change::Added,
                    "removed" => Change::Removed,
                    "changed" => Change::Changed,
                    _ => return Err(invalid(5, &text)),
                };
                Ok(Revision {
                    organization: row.get(0)?,
                    deployment: row.get(1)?,
                    window: (instant(row.get(2)?), instant(row.get(3)?)),
                    seen_at: timestamp(row, 4)?,
                    change,
                    key: key(row, 6)?,
                    old_cost: optional_money(row, 13)?,
                    new_cost: optional_money(row, 14)?,
                })
            })
            .map_err(|e| storage(&self.path, e))?;
        rows.collect::<rusqlite::Result<_>>()
            .map_err(|e| self.corrupt(e))
    }

    /// The exact total of the lines in `query`.
    ///
    /// # Errors
    ///
    /// [`Error::Storage`] when the file cannot be read; [`Error::Overflow`] when the
    /// total overflows an exact decimal.
    pub fn total(&self, query: &Query) -> Result<Decimal> {
        let mut total = Decimal::ZERO;
        let conn = self.connection();
        self.each_line(&conn, query, |line| {
            total = total
                .checked_add(line.cost)
                .ok_or_else(|| Error::Overflow("the total of the lines asked for".to_string()))?;
            Ok(())
        })?;
        Ok(total)
    }

    /// A value of the file that this crate did not write as it reads it.
    pub(crate) fn corrupt(&self, error: impl std::error::Error + Send + Sync + 'static) -> Error {
        Error::Storage(FileError::new(
            &self.path,
            "a value in the file is not what the ledger writes",
            Some(Box::new(error)),
        ))
    }
}

/// A window's record, as a read of its lines needs it.
#[derive(Debug)]
pub(crate) struct StoredWindow {
    pub(crate) organization: String,
    pub(crate) deployment: String,
    pub(crate) start: i64,
    pub(crate) end: i64,
    pub(crate) final_: bool,
    pub(crate) lines: i64,
    pub(crate) total: String,
    pub(crate) digest: String,
}

impl StoredWindow {
    /// From the columns organization, deployment, window_start, window_end, final,
    /// lines, total, digest.
    pub(crate) fn read(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            organization: row.get(0)?,
            deployment: row.get(1)?,
            start: row.get(2)?,
            end: row.get(3)?,
            final_: row.get(4)?,
            lines: row.get(5)?,
            total: row.get(6)?,
            digest: row.get(7)?,
        })
    }

    fn same(&self, other: &StoredWindow) -> bool {
        self.start == other.start
            && self.deployment == other.deployment
            && self.organization == other.organization
    }
}

/// A line's key and values, from the columns starting at `first`: line_type, kind,
/// sku, name, period_start, period_end, ordinal, hours, instance_count,
/// price_per_hour, quantity, quantity_formatted, rate, rate_formatted, cost.
pub(crate) fn answer_line(row: &Row<'_>, first: usize) -> rusqlite::Result<AnswerLine> {
    Ok(AnswerLine {
        key: key(row, first)?,
        hours: row.get(first + 7)?,
        instance_count: row.get(first + 8)?,
        price_per_hour: optional_money(row, first + 9)?,
        quantity: optional_money(row, first + 10)?,
        quantity_formatted: row.get(first + 11)?,
        rate: optional_money(row, first + 12)?,
        rate_formatted: row.get(first + 13)?,
        cost: money(row, first + 14)?,
    })
}

/// A natural key from the columns starting at `first`.
fn key(row: &Row<'_>, first: usize) -> rusqlite::Result<LineKey> {
    let line_type: String = row.get(first)?;
    Ok(LineKey {
        line_type: LineType::parse(&line_type).ok_or_else(|| invalid(first, &line_type))?,
        kind: row.get(first + 1)?,
        sku: row.get(first + 2)?,
        name: row.get(first + 3)?,
        period_start: timestamp(row, first + 4)?,
        period_end: timestamp(row, first + 5)?,
        ordinal: row.get(first + 6)?,
    })
}

fn timestamp(row: &Row<'_>, index: usize) -> rusqlite::Result<Timestamp> {
    let text: String = row.get(index)?;
    text.parse().map_err(|_| invalid(index, &text))
}

fn money(row: &Row<'_>, index: usize) -> rusqlite::Result<Decimal> {
    let text: String = row.get(index)?;
    decimal(&text).ok_or_else(|| invalid(index, &text))
}

fn optional_money(row: &Row<'_>, index: usize) -> rusqlite::Result<Option<Decimal>> {
    row.get::<_, Option<String>>(index)?
        .map(|text| decimal(&text).ok_or_else(|| invalid(index, &text)))
        .transpose()
}

/// Decimal text as the ledger writes it (`Decimal`'s own, e.g. `-0.1301`), read
/// exactly; anything else (`1e5`, `+7`, `.5`, a rounded long value) is not the ledger's.
pub(crate) fn decimal(text: &str) -> Option<Decimal> {
    let value: Decimal = text.parse().ok()?;
    (value.to_string() == text).then_some(value)
}

fn invalid(index: usize, text: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        index,
        rusqlite::types::Type::Text,
        format!(
            "\"{}\" is not what the ledger writes there",
            ec_billing::escape(text).truncate(48)
        )
        .into(),
    )
}
