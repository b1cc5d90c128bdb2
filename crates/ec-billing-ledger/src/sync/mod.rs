//! Incremental sync: what a sync fetches ([`SyncPlan`]) and what it reports; the sync
//! itself is in `run`, the recording of one answer in `answer`.

mod answer;
mod run;

use std::{fmt, sync::Arc, time::Duration};

use ec_billing::{DateRange, Decimal, Format, WindowSize};
use jiff::{SignedDuration, Timestamp};

use crate::{
    error::{Error, Result},
    plan::whole_seconds,
};

/// The settle period by default: 14 days. Elastic revises costs after first publishing
/// them (finalization, late usage records, credits); corrections reported by public
/// consumers land within days, and within the first two weeks after a month ends. A
/// window that ended less than this long before it was last fetched is *provisional*
/// and fetched again by every sync; after that it is *final*.
pub const DEFAULT_SETTLE: SignedDuration = SignedDuration::from_hours(14 * 24);

/// How long a sync waits by default for another sync of the same file to finish.
pub const DEFAULT_LOCK_WAIT: Duration = Duration::from_secs(30);

/// What a sync fetches: some deployments of one organization, over a range.
///
/// ```
/// use ec_billing_ledger::SyncPlan;
///
/// let plan = SyncPlan::new("my-org", ["prod", "staging"])
///     .from("2024-01-01T00:00:00Z".parse()?)
///     .settle(jiff::SignedDuration::from_hours(7 * 24));
/// # let _ = plan;
/// # Ok::<(), jiff::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct SyncPlan {
    organization: String,
    on_progress: Option<OnProgress>,
    deployments: Vec<String>,
    from: Option<Timestamp>,
    to: Option<Timestamp>,
    settle: SignedDuration,
    refetch_final: bool,
    keep_going: bool,
    format: Format,
    now: Option<Timestamp>,
    lock_wait: Duration,
}

impl SyncPlan {
    /// Every window of `deployments` of `organization`, from where the ledger stands
    /// (see [`from`](Self::from)) to now. Repeated ids count once.
    pub fn new(
        organization: impl Into<String>,
        deployments: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        let mut seen = std::collections::HashSet::new();
        let unique: Vec<String> = deployments
            .into_iter()
            .map(Into::into)
            .filter(|deployment: &String| seen.insert(deployment.clone()))
            .collect();
        Self {
            organization: organization.into(),
            on_progress: None,
            deployments: unique,
            from: None,
            to: None,
            settle: DEFAULT_SETTLE,
            refetch_final: false,
            keep_going: false,
            format: Format::Json,
            now: None,
            lock_wait: DEFAULT_LOCK_WAIT,
        }
    }

    /// Where the range starts, taken back to the start of its window (the month or the
    /// day, UTC). By default, each deployment's first provisional window, or the end of
    /// its last final one; a deployment the ledger has nothing of needs a start.
    pub fn from(mut self, from: Timestamp) -> Self {
        self.from = Some(from);
        self
    }

    /// Where the range ends (exclusive); by default now. A window it cuts short is
    /// fetched whole by a later sync that reaches further.
    pub fn to(mut self, to: Timestamp) -> Self {
        self.to = Some(to);
        self
    }

    /// The settle period ([`DEFAULT_SETTLE`] by default).
    pub fn settle(mut self, settle: SignedDuration) -> Self {
        self.settle = settle;
        self
    }

    /// Fetches final windows again too (checking that nothing changed after all).
    pub fn refetch_final(mut self, refetch: bool) -> Self {
        self.refetch_final = refetch;
        self
    }

    /// Keeps going past failures: every window that can be fetched is stored, and the
    /// report lists each failure. By default the first failure ends the sync (every
    /// window stored before it stays stored).
    pub fn keep_going(mut self, keep_going: bool) -> Self {
        self.keep_going = keep_going;
        self
    }

    /// Asks for JSON (the default) or CSV answers; the ledger stores the same lines.
    pub fn format(mut self, format: Format) -> Self {
        self.format = format;
        self
    }

    /// The instant taken as now (for tests and replays); by default the client's clock.
    pub fn now(mut self, now: Timestamp) -> Self {
        self.now = Some(now);
        self
    }

    /// How long to wait for another sync of the same file ([`DEFAULT_LOCK_WAIT`]).
    pub fn lock_wait(mut self, wait: Duration) -> Self {
        self.lock_wait = wait;
        self
    }

    /// Calls `hook` once the windows to fetch are planned, and after each is stored
    /// (a progress bar, say).
    pub fn on_progress(mut self, hook: impl Fn(SyncProgress) + Send + Sync + 'static) -> Self {
        self.on_progress = Some(OnProgress(Arc::new(hook)));
        self
    }

    /// The organization.
    pub fn organization(&self) -> &str {
        &self.organization
    }

    /// Where the range starts, when it was given.
    pub fn start(&self) -> Option<Timestamp> {
        self.from
    }

    /// Checks what a sync refuses before any request and before any file is touched,
    /// for a ledger of `window`s at `now` (where the range ends when no end is
    /// given): the ids, the range, the settle period, and, when the range has a start,
    /// how many requests it makes (at most [`ec_billing::MAX_WINDOWS`] over every
    /// deployment). A program that creates a ledger for the sync checks first, so that
    /// a refused sync leaves no file behind.
    ///
    /// ```
    /// use ec_billing::WindowSize;
    /// use ec_billing_ledger::SyncPlan;
    ///
    /// let now = "2024-06-01T00:00:00Z".parse()?;
    /// let plan = SyncPlan::new("my-org", ["prod"]).from("0001-01-01T00:00:00Z".parse()?);
    /// assert!(plan.check(WindowSize::Day, now).is_err(), "over 100,000 daily windows");
    /// assert!(plan.check(WindowSize::Month, now).is_ok());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] naming what is refused.
    pub fn check(&self, window: WindowSize, now: Timestamp) -> Result<()> {
        self.check_input(now)?;
        let Some(from) = self.from else {
            return Ok(());
        };
        let to = whole_seconds(self.to.unwrap_or(now));
        let range = DateRange::new(from, to)?;
        let per_deployment = range
            .windows(window)
            .take(ec_billing::MAX_WINDOWS + 1)
            .count();
        let requests = per_deployment.saturating_mul(self.deployments.len());
        if requests > ec_billing::MAX_WINDOWS {
            return Err(Error::InvalidInput(format!(
                "the range {range} makes more than {} requests: sync a shorter one",
                ec_billing::MAX_WINDOWS
            )));
        }
        Ok(())
    }

    /// What every sync refuses before it takes its lock: ids, the range, the settle
    /// period.
    pub(crate) fn check_input(&self, now: Timestamp) -> Result<()> {
        for deployment in &self.deployments {
            check_ids(&self.organization, deployment)?;
        }
        if self.deployments.is_empty() {
            return Err(Error::InvalidInput(
                "a sync needs at least one deployment".to_string(),
            ));
        }
        if self.settle.is_negative() {
            return Err(Error::InvalidInput(format!(
                "the settle period cannot be negative ({})",
                self.settle
            )));
        }
        let to = whole_seconds(self.to.unwrap_or(now));
        if let Some(from) = self.from
            && from >= to
        {
            return Err(Error::InvalidInput(format!(
                "the range starts at {from}, not before its end {to}"
            )));
        }
        Ok(())
    }

    /// The deployments, each once, in order.
    pub fn deployments(&self) -> &[String] {
        &self.deployments
    }
}

/// How far a sync is: windows done (stored or failed) of those planned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SyncProgress {
    /// Windows done.
    pub done: u64,
    /// Windows to fetch in all.
    pub planned: u64,
}

/// A progress hook.
#[derive(Clone)]
struct OnProgress(Arc<dyn Fn(SyncProgress) + Send + Sync>);

impl fmt::Debug for OnProgress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OnProgress")
    }
}

/// What a sync did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SyncReport {
    /// Per deployment, in the order asked.
    pub deployments: Vec<DeploymentSync>,
    /// With [`SyncPlan::keep_going`]: each window that could not be fetched or
    /// stored, with its error's one-line description.
    pub failures: Vec<SyncFailure>,
}

impl SyncReport {
    /// Whether the sync changed nothing in the ledger: no line added, changed or
    /// removed, no window fetched for the first time.
    pub fn changed_nothing(&self) -> bool {
        self.deployments.iter().all(|d| {
            d.windows_new == 0
                && d.windows_repaired == 0
                && d.lines_added == 0
                && d.lines_changed == 0
                && d.lines_removed == 0
        })
    }

    /// Requests made (windows fetched), over every deployment.
    pub fn windows_fetched(&self) -> u64 {
        self.deployments.iter().map(|d| d.windows_fetched).sum()
    }
}

/// A window that failed, with [`SyncPlan::keep_going`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SyncFailure {
    /// The deployment.
    pub deployment: String,
    /// The window.
    pub window: (Timestamp, Timestamp),
    /// The error's code, when the API gave one.
    pub code: Option<String>,
    /// The error, in one line.
    pub message: String,
}

/// What a sync did for one deployment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeploymentSync {
    /// The deployment.
    pub deployment: String,
    /// The range planned, after taking its start back to a window's.
    pub range: Option<(Timestamp, Timestamp)>,
    /// Windows fetched (requests made).
    pub windows_fetched: u64,
    /// Of those, windows the ledger did not have.
    pub windows_new: u64,
    /// Windows not fetched: final, and stored whole.
    pub windows_skipped: u64,
    /// Windows fetched again whose lines had changed (each change recorded as a
    /// revision).
    pub windows_revised: u64,
    /// Lines stored that were not there.
    pub lines_added: u64,
    /// Windows fetched again because their lines no longer matched their record
    /// (edited outside the ledger): their lines replaced, recorded as a repair, not as
    /// revisions.
    pub windows_repaired: u64,
    /// Lines whose values changed.
    pub lines_changed: u64,
    /// Lines that are no longer in the answer.
    pub lines_removed: u64,
    /// Lines fetched again as they were.
    pub lines_unchanged: u64,
    /// Revisions recorded (line added, removed or changed in a window fetched again).
    pub revisions: u64,
    /// What the revisions changed the total by, exactly (new costs less old).
    pub revised_by: Decimal,
    /// The ledger's total for the deployment after the sync, over every window it
    /// holds of it, exact.
    pub total: Decimal,
}

/// What recording one answer changed in the ledger.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WindowChange {
    /// The ledger did not have the window.
    pub new: bool,
    /// The same window was stored before, and its lines changed: each change is a
    /// revision.
    pub revised: bool,
    /// The window's lines in the file did not match its record: they were replaced by
    /// the answer's, as a repair (no revision is recorded).
    pub repaired: bool,
    /// Lines that were not there.
    pub added: u64,
    /// Lines whose values changed.
    pub changed: u64,
    /// Lines that are no longer there.
    pub removed: u64,
    /// Lines as they were.
    pub unchanged: u64,
    /// Revisions recorded.
    pub revisions: u64,
    /// What the revisions changed the window's total by, exactly.
    pub revised_by: Decimal,
}

/// Refuses ids no request could carry (as the client does), and ids holding a NUL
/// character, which no database text keeps.
fn check_ids(organization: &str, deployment: &str) -> Result<()> {
    ec_billing::check_ids(organization, deployment)?;
    if organization.contains('\0') || deployment.contains('\0') {
        return Err(Error::InvalidInput(
            "an id holds a NUL character, which a ledger cannot keep".to_string(),
        ));
    }
    Ok(())
}
