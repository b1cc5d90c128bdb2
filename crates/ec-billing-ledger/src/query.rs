//! What a read of the ledger asks for and gets back: a query (an organization, some
//! deployments, a range), windows and revisions as records.

use ec_billing::Decimal;
use jiff::Timestamp;

use crate::record::LineKey;

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
