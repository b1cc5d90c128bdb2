//! Reading the ledger back: lines, windows and revisions, for a query.

use ec_billing::Decimal;
use jiff::Timestamp;
use rusqlite::{Row, params_from_iter, types::Value};

use crate::{
    Ledger,
    error::{Error, FileError, Result, storage},
    record::{AnswerLine, LedgerLine, LineKey, LineType},
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
    /// [`Error::Storage`] when the file cannot be read.
    pub fn lines(&self, query: &Query) -> Result<Vec<LedgerLine>> {
        let mut lines = Vec::new();
        self.each_line(query, |line| {
            lines.push(line);
            Ok(())
        })?;
        Ok(lines)
    }

    /// Calls `each` with every line in `query`, in the order of [`lines`](Self::lines),
    /// one at a time (memory stays flat, whatever the ledger's size).
    pub(crate) fn each_line(
        &self,
        query: &Query,
        mut each: impl FnMut(LedgerLine) -> Result<()>,
    ) -> Result<()> {
        let (condition, values) = query.condition("l", false);
        let sql = format!(
            "SELECT l.organization, l.deployment, l.window_start, w.window_end, w.final,
                    l.line_type, l.kind, l.sku, l.name, l.period_start, l.period_end,
                    l.ordinal, l.hours, l.instance_count, l.price_per_hour, l.quantity,
                    l.quantity_formatted, l.rate, l.rate_formatted, l.cost
             FROM lines l JOIN windows w USING (organization, deployment, window_start)
             WHERE {condition}
             ORDER BY l.organization, l.deployment, l.window_start, l.line_type, l.period_start,
                      l.kind, l.sku, l.name, l.ordinal"
        );
        let conn = self.connection();
        let mut statement = conn.prepare(&sql).map_err(|e| storage(&self.path, e))?;
        let mut rows = statement
            .query(params_from_iter(values))
            .map_err(|e| storage(&self.path, e))?;
        while let Some(row) = rows.next().map_err(|e| storage(&self.path, e))? {
            let read = || -> rusqlite::Result<LedgerLine> {
                let line = answer_line(row, 5)?;
                Ok(LedgerLine {
                    organization: row.get(0)?,
                    deployment: row.get(1)?,
                    window: (instant(row.get(2)?), instant(row.get(3)?)),
                    provisional: !row.get::<_, bool>(4)?,
                    key: line.key,
                    hours: line.hours,
                    instance_count: line.instance_count,
                    price_per_hour: line.price_per_hour,
                    quantity: line.quantity,
                    quantity_formatted: line.quantity_formatted,
                    rate: line.rate,
                    rate_formatted: line.rate_formatted,
                    cost: line.cost,
                })
            };
            let line = read().map_err(|e| self.corrupt(e))?;
            if query.holds(line.key.period_start) {
                each(line)?;
            }
        }
        Ok(())
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
                    lines: row.get::<_, i64>(8)?.max(0) as u64,
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
                let change = match row.get::<_, String>(5)?.as_str() {
                    "added" => Change::Added,
                    "removed" => Change::Removed,
                    _ => Change::Changed,
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
        self.each_line(query, |line| {
            total = total
                .checked_add(line.cost)
                .ok_or_else(|| Error::Overflow("the total of the lines asked for".to_string()))?;
            Ok(())
        })?;
        Ok(total)
    }

    /// A stored amount that is not decimal text as the ledger writes it.
    pub(crate) fn tampered(&self, text: &str) -> Error {
        Error::Storage(FileError::new(
            &self.path,
            format!(
                "an amount in the file, \"{}\", is not decimal text as the ledger writes it",
                ec_billing::escape(text).truncate(48)
            ),
            None,
        ))
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
