//! Reading the ledger back: lines, windows and revisions, for a query.

use ec_billing::Decimal;
use jiff::Timestamp;

use crate::{
    Ledger,
    error::{Error, FileError, Inconsistency, Result},
    record::{AnswerLine, LedgerLine, LineKey, LineType, Tally},
    store::StoredWindow,
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

    /// The organization asked for, if any.
    pub(crate) fn organization_id(&self) -> Option<&str> {
        self.organization.as_deref()
    }

    /// The deployments asked for (all, when empty).
    pub(crate) fn deployment_ids(&self) -> &[String] {
        &self.deployments
    }

    /// The range, `[from, to)`, each end optional.
    pub(crate) fn range(&self) -> (Option<Timestamp>, Option<Timestamp>) {
        (self.from, self.to)
    }

    /// Whether a line whose period starts at `start` is in the range.
    pub(crate) fn holds(&self, start: Timestamp) -> bool {
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
    /// [`Error::Storage`] when the ledger cannot be read.
    pub async fn lines(&self, query: &Query) -> Result<Vec<LedgerLine>> {
        let mut lines = Vec::new();
        self.each_line(query, 1, |_, line| {
            lines.push(line);
            Ok(())
        })
        .await?;
        Ok(lines)
    }

    /// Calls `each` with every line in `query`, in the order of [`lines`](Self::lines),
    /// `passes` times over one snapshot, a window at a time: each window's lines are
    /// checked against its record (their count, sum and digest) before any of them is
    /// given, so a window deleted, duplicated or edited in part is an error, never a
    /// wrong number. Memory holds one window, whatever the ledger's size.
    pub(crate) async fn each_line(
        &self,
        query: &Query,
        passes: u8,
        mut each: impl FnMut(u8, LedgerLine) -> Result<()>,
    ) -> Result<()> {
        if let Some((organization, deployment, start)) =
            self.store.orphans(query).await?.into_iter().next()
        {
            return Err(Error::Inconsistent(Inconsistency::new(
                self.path(),
                &organization,
                &deployment,
                (start, start),
                "its lines have no window record",
            )));
        }
        self.store
            .scan(query, passes, |pass, window, lines| {
                // Every pass reads one snapshot: what the first checked, the others
                // read again as it was.
                if pass == 0 {
                    self.verify(&window, &lines)?;
                }
                for line in lines {
                    if query.holds(line.key.period_start) {
                        each(pass, ledger_line(&window, line))?;
                    }
                }
                Ok(())
            })
            .await
    }

    /// Checks the `lines` read of `window` against its record: its bounds are a
    /// window's, its DTS lines are keyed by those bounds, and their count, exact sum and
    /// digest are the record's.
    pub(crate) fn verify(&self, window: &StoredWindow, lines: &[AnswerLine]) -> Result<()> {
        let mut tally = Tally::new();
        for line in lines {
            tally.add(line);
        }
        let dts_elsewhere = lines.iter().any(|line| {
            line.key.line_type == LineType::Dts
                && (line.key.period_start, line.key.period_end) != (window.start, window.end)
        });
        let mismatch = if window.unreadable {
            Some("a value in its record or its lines is not what the ledger writes".to_string())
        } else if !crate::plan::is_window(window.start, window.end, self.window_size()) {
            Some(format!(
                "its bounds are not those of a {} window",
                crate::store::window_text(self.window_size())
            ))
        } else if dts_elsewhere {
            Some("its data-transfer lines are keyed by other bounds than its own".to_string())
        } else {
            tally.mismatch(window.lines, &window.total, &window.digest)
        };
        match mismatch {
            None => Ok(()),
            Some(what) => Err(Error::Inconsistent(Inconsistency::new(
                self.path(),
                &window.organization,
                &window.deployment,
                (window.start, window.end),
                what,
            ))),
        }
    }

    /// Every window in `query`, by organization, deployment and start.
    ///
    /// # Errors
    ///
    /// [`Error::Storage`] when the ledger cannot be read.
    pub async fn windows(&self, query: &Query) -> Result<Vec<WindowRecord>> {
        let windows = self.store.windows(query).await?;
        windows
            .into_iter()
            .map(|w| {
                let total = decimal(&w.total).ok_or_else(|| self.tampered(&w.total))?;
                Ok(WindowRecord {
                    organization: w.organization,
                    deployment: w.deployment,
                    window: (w.start, w.end),
                    first_fetched_at: w.first_fetched_at,
                    fetched_at: w.fetched_at,
                    is_final: w.final_,
                    digest: w.digest,
                    lines: u64::try_from(w.lines)
                        .map_err(|_| self.tampered(&w.lines.to_string()))?,
                    total,
                })
            })
            .collect()
    }

    /// Every revision in `query`, in the order they were seen.
    ///
    /// # Errors
    ///
    /// [`Error::Storage`] when the ledger cannot be read.
    pub async fn revisions(&self, query: &Query) -> Result<Vec<Revision>> {
        self.store.revisions(query).await
    }

    /// The exact total of the lines in `query`.
    ///
    /// # Errors
    ///
    /// [`Error::Inconsistent`] when a window's lines do not match its record;
    /// [`Error::Storage`] when the ledger cannot be read; [`Error::Overflow`] when the
    /// total overflows an exact decimal.
    pub async fn total(&self, query: &Query) -> Result<Decimal> {
        let mut total = Decimal::ZERO;
        self.each_line(query, 1, |_, line| {
            total = total
                .checked_add(line.cost)
                .ok_or_else(|| Error::Overflow("the total of the lines asked for".to_string()))?;
            Ok(())
        })
        .await?;
        Ok(total)
    }

    /// A stored value that is not what the ledger writes.
    pub(crate) fn tampered(&self, text: &str) -> Error {
        Error::Storage(FileError::new(
            self.path(),
            format!(
                "a value in the ledger, \"{}\", is not what the ledger writes",
                ec_billing::text::escape(text).truncate(48)
            ),
            None,
        ))
    }
}

/// A line of `window`, as the ledger gives it.
fn ledger_line(window: &StoredWindow, line: AnswerLine) -> LedgerLine {
    LedgerLine {
        organization: window.organization.clone(),
        deployment: window.deployment.clone(),
        window: (window.start, window.end),
        provisional: !window.final_,
        key: line.key,
        hours: line.hours,
        instance_count: line.instance_count,
        price_per_hour: line.price_per_hour,
        quantity: line.quantity,
        quantity_formatted: line.quantity_formatted,
        rate: line.rate,
        rate_formatted: line.rate_formatted,
        cost: line.cost,
    }
}

/// Decimal text as the ledger writes it (`Decimal`'s own, e.g. `-0.1301`), read
/// exactly; anything else (`1e5`, `+7`, `.5`, a rounded long value) is not the ledger's.
pub(crate) fn decimal(text: &str) -> Option<Decimal> {
    let value: Decimal = text.parse().ok()?;
    (value.to_string() == text).then_some(value)
}
