//! Incremental sync: which windows to fetch, fetching them through one client, and
//! storing each answer in one transaction with what changed.

use std::{collections::HashMap, fmt, sync::Arc, time::Duration};

use ec_billing::{Client, DateRange, Decimal, Format, Items, StreamExt, Window, WindowSize};
use futures_util::stream;
use jiff::{SignedDuration, Timestamp, tz::TimeZone};
use rusqlite::{OptionalExtension, Transaction, params};

use crate::{
    Ledger,
    diff::diff,
    error::{AnswerError, Error, Result, storage},
    export::check_line,
    query::{Query, StoredWindow},
    record::{AnswerLine, LineType, Tally, answer_lines, digest, number},
    schema::SyncLock,
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
            ec_billing::check_ids(&self.organization, deployment)?;
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

/// A window the ledger has.
#[derive(Clone, Copy, Debug)]
struct Stored {
    end: Timestamp,
    final_: bool,
    /// Its lines match its record, and its bounds are a window's.
    consistent: bool,
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

impl Ledger {
    /// Fetches what `plan` asks for that the ledger lacks, and every provisional window
    /// again, through `client` (its concurrency, pacing and retries shared by all);
    /// stores each answer in one transaction with its fetch record and the revisions
    /// it brings. Run twice with nothing changed upstream, the second sync fetches only
    /// provisional windows and changes nothing. Killed at any moment, it leaves every
    /// window it finished stored and the rest as they were: the next sync carries on.
    ///
    /// A window whose lines no longer match its record (edited outside the ledger) is
    /// fetched again and its lines replaced: a repair, counted as such, not revisions.
    ///
    /// ```no_run
    /// # async fn run(client: ec_billing::Client) -> Result<(), ec_billing_ledger::Error> {
    /// let ledger = ec_billing_ledger::Ledger::open("costs.db")?;
    /// let plan = ec_billing_ledger::SyncPlan::new("my-org", ["prod", "staging"])
    ///     .from("2024-01-01T00:00:00Z".parse().expect("a timestamp"));
    /// let report = ledger.sync(&client, &plan).await?;
    /// for d in &report.deployments {
    ///     println!("{}: {} windows fetched, {} revised, total {} ECU",
    ///         d.deployment, d.windows_fetched, d.windows_revised, d.total);
    /// }
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] before any request (what [`SyncPlan::check`] refuses, no
    /// start for a deployment the ledger has nothing of, a ledger opened read-only);
    /// [`Error::Busy`] when another sync holds the file past [`SyncPlan::lock_wait`];
    /// without [`SyncPlan::keep_going`], the first window's [`Error::Api`] or
    /// [`Error::Answer`]; [`Error::Inconsistent`] when a window outside the range does
    /// not match its record; [`Error::Storage`].
    pub async fn sync(&self, client: &Client, plan: &SyncPlan) -> Result<SyncReport> {
        self.writable()?;
        let organization = plan.organization.as_str();
        let now = whole_seconds(plan.now.unwrap_or_else(|| client.now()));
        plan.check_input(now)?;
        let _lock = SyncLock::take(&self.file, &self.path, plan.lock_wait).await?;
        let to = whole_seconds(plan.to.unwrap_or(now));
        let mut report = SyncReport::default();
        let mut tasks: Vec<(usize, Window)> = Vec::new();
        for (index, deployment) in plan.deployments.iter().enumerate() {
            let mut summary = DeploymentSync {
                deployment: deployment.clone(),
                ..DeploymentSync::default()
            };
            let from = match plan.from {
                Some(from) => Some(self.window_start(from)?),
                None => self.resume_point(organization, deployment)?,
            };
            let Some(from) = from else {
                return Err(Error::InvalidInput(format!(
                    "the ledger has nothing of deployment \"{}\" yet: give a start (from)",
                    ec_billing::escape(deployment)
                )));
            };
            if from < to {
                let range = DateRange::new(from, to)?;
                summary.range = Some((from, to));
                let stored = self.stored_windows(organization, deployment, from, to)?;
                for window in range.windows(self.window) {
                    if tasks.len() >= ec_billing::MAX_WINDOWS {
                        return Err(Error::InvalidInput(format!(
                            "the range {range} makes more than {} requests: sync a shorter one",
                            ec_billing::MAX_WINDOWS
                        )));
                    }
                    match plan_window(window, stored.get(&window.from()), plan.refetch_final) {
                        Planned::Skip => summary.windows_skipped += 1,
                        Planned::Fetch(span) => {
                            let fetch = self.window_of(window.from(), span)?;
                            tasks.push((index, fetch));
                        }
                    }
                }
            }
            report.deployments.push(summary);
        }

        let journal = self.journal_start(organization, now)?;
        let planned = tasks.len() as u64;
        let mut done = 0u64;
        let progress = |done| {
            if let Some(OnProgress(hook)) = &plan.on_progress {
                hook(SyncProgress { done, planned });
            }
        };
        progress(done);
        let limit = client.concurrency().get().saturating_mul(2);
        let window_size = self.window;
        let mut answers = stream::iter(tasks)
            .map(|(index, window)| {
                let request = client
                    .items(organization, plan.deployments[index].as_str())
                    .range(window.range())
                    .window(window_size)
                    .format(plan.format);
                async move { (index, window, request.send().await) }
            })
            .buffer_unordered(limit.max(1));
        let mut failed = 0u64;
        while let Some((index, window, answer)) = answers.next().await {
            done += 1;
            progress(done);
            let deployment = plan.deployments[index].as_str();
            let stored = answer.map_err(Error::from).and_then(|report| {
                let final_ = is_final(window, now, plan.settle);
                self.store_window(organization, deployment, window, &report.items, now, final_)
            });
            match stored {
                Ok(outcome) => {
                    let summary = &mut report.deployments[index];
                    summary.windows_fetched += 1;
                    summary.windows_new += u64::from(outcome.new);
                    summary.windows_revised += u64::from(outcome.revised);
                    summary.windows_repaired += u64::from(outcome.repaired);
                    summary.lines_added += outcome.added;
                    summary.lines_changed += outcome.changed;
                    summary.lines_removed += outcome.removed;
                    summary.lines_unchanged += outcome.unchanged;
                    summary.revisions += outcome.revisions;
                    summary.revised_by = summary
                        .revised_by
                        .checked_add(outcome.revised_by)
                        .ok_or_else(|| overflow(deployment, window))?;
                }
                Err(error) if plan.keep_going && !matches!(error, Error::Storage(_)) => {
                    failed += 1;
                    tracing::warn!(deployment, %window, %error, "window not synced");
                    report.failures.push(SyncFailure {
                        deployment: deployment.to_string(),
                        window: (window.from(), window.to()),
                        code: match &error {
                            Error::Api(e) => e.code().map(|c| c.as_str().to_string()),
                            _ => None,
                        },
                        message: error.to_string(),
                    });
                }
                Err(error) => return Err(error),
            }
        }
        for summary in &mut report.deployments {
            summary.total = self.deployment_total(organization, &summary.deployment)?;
        }
        self.journal_end(journal, &report, failed, now)?;
        Ok(report)
    }

    /// Where a sync without a start begins for `deployment`: its first provisional
    /// window, or the start of the window after its last final one; `None` when the
    /// ledger has none of its windows.
    fn resume_point(&self, organization: &str, deployment: &str) -> Result<Option<Timestamp>> {
        let conn = self.connection();
        let mut statement = conn
            .prepare_cached(
                "SELECT window_start, window_end, final FROM windows
                 WHERE organization = ?1 AND deployment = ?2 ORDER BY window_start",
            )
            .map_err(|e| storage(&self.path, e))?;
        let rows = statement
            .query_map(params![organization, deployment], |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, i64>(1)?,
                    row.get::<_, bool>(2)?,
                ))
            })
            .map_err(|e| storage(&self.path, e))?;
        let mut resume = None;
        for row in rows {
            let (start, end, final_) = row.map_err(|e| storage(&self.path, e))?;
            if !final_ {
                return Ok(Some(self.stored_instant(start)?));
            }
            resume = Some(end);
        }
        drop(statement);
        drop(conn);
        // The end of the last final window, taken back to a window's start: a window
        // cut short is fetched whole.
        match resume {
            Some(end) => self.window_start(self.stored_instant(end)?).map(Some),
            None => Ok(None),
        }
    }

    /// The windows of `deployment` starting in `[from, to)`, by start, each checked
    /// against its lines: a window whose lines do not match its record (or whose
    /// bounds are not a window's) is marked for repair.
    fn stored_windows(
        &self,
        organization: &str,
        deployment: &str,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<HashMap<Timestamp, Stored>> {
        let conn = self.connection();
        let mut stored = HashMap::new();
        let query = Query::all()
            .organization(organization)
            .deployments([deployment])
            .from(from)
            .to(to);
        self.each_window(&conn, &query, |window, consistent| {
            let start = self.stored_instant(window.start)?;
            let end = self.stored_instant(window.end)?;
            let whole = self.window_of(start, end).is_ok_and(|w| w.to() == end);
            stored.insert(
                start,
                Stored {
                    end,
                    final_: window.final_,
                    consistent: consistent && whole,
                },
            );
            Ok(())
        })?;
        Ok(stored)
    }

    /// The start of the window `at` falls in: its month's or its day's, UTC.
    fn window_start(&self, at: Timestamp) -> Result<Timestamp> {
        let date = at.to_zoned_datetime(TimeZone::UTC).date();
        let date = match self.window {
            WindowSize::Month => date.first_of_month(),
            _ => date,
        };
        date.to_zoned_datetime(TimeZone::UTC)
            .map(|zoned| zoned.timestamp())
            .map_err(|_| {
                Error::InvalidInput(format!(
                    "{at} is too near the end of the time scale for a ledger window"
                ))
            })
    }

    /// The window of this ledger's size that starts at `start` and ends at `end` (or
    /// where such a window ends, if sooner).
    fn window_of(&self, start: Timestamp, end: Timestamp) -> Result<Window> {
        let window = DateRange::new(start, end)?
            .windows(self.window)
            .next()
            .ok_or_else(|| Error::InvalidInput(format!("no window in {start}..{end}")))?;
        if window.from() != start {
            return Err(Error::InvalidInput(format!(
                "{start} is not the start of a window"
            )));
        }
        Ok(window)
    }

    /// An epoch second from the file, as an instant; refused when out of range.
    fn stored_instant(&self, second: i64) -> Result<Timestamp> {
        Timestamp::from_second(second).map_err(|e| self.corrupt(e))
    }

    /// Records an answer fetched by other means (a service's own client, a file of
    /// answers): as [`sync`](Self::sync) stores each window, in one transaction with its
    /// fetch record and, when the same window was stored before, a revision for each
    /// change. The window is final when `fetched_at` is at least `settle` after its end.
    ///
    /// # Errors
    ///
    /// [`Error::Answer`] when the answer cannot be stored as it is (its lines do not
    /// add up to its total, a line's period runs backwards or past the time scale, a
    /// line cannot be priced exactly); nothing is written. [`Error::InvalidInput`] for
    /// a ledger opened read-only or a window that holds less than the ledger has;
    /// [`Error::Storage`].
    pub fn record(
        &self,
        organization: &str,
        deployment: &str,
        window: Window,
        items: &Items,
        fetched_at: Timestamp,
        settle: SignedDuration,
    ) -> Result<WindowChange> {
        self.writable()?;
        ec_billing::check_ids(organization, deployment)?;
        let now = whole_seconds(fetched_at);
        self.store_window(
            organization,
            deployment,
            window,
            items,
            now,
            is_final(window, now, settle),
        )
    }

    /// Stores one answer for `window` in one transaction: its lines, its fetch record,
    /// and, when the same window was stored before, a revision for each change.
    fn store_window(
        &self,
        organization: &str,
        deployment: &str,
        window: Window,
        items: &Items,
        now: Timestamp,
        final_: bool,
    ) -> Result<WindowChange> {
        let lines = answer_lines(items, window);
        let refused =
            |message: String| Error::Answer(AnswerError::new(deployment, window, message));
        let mut lines_total = Decimal::ZERO;
        for line in &lines {
            lines_total = lines_total
                .checked_add(line.cost)
                .ok_or_else(|| overflow(deployment, window))?;
            check_line(line)
                .map_err(|problem| refused(format!("{}: {problem}", line.key.describe())))?;
        }
        if lines_total != items.costs.total {
            return Err(refused(format!(
                "its lines add up to {lines_total} ECU, its total says {} ECU",
                items.costs.total
            )));
        }
        let mut conn = self.connection();
        let tx = conn.transaction().map_err(|e| storage(&self.path, e))?;
        let outcome = self
            .store(
                &tx,
                Answer {
                    organization,
                    deployment,
                    window,
                    lines,
                    total: items.costs.total,
                    now,
                    final_,
                },
            )
            .map_err(|e| match e {
                StoreError::Sql(e) => storage(&self.path, e),
                StoreError::Ledger(e) => e,
                StoreError::Overflow => overflow(deployment, window),
                StoreError::Shorter => Error::InvalidInput(format!(
                    "the ledger holds more of deployment \"{}\"'s window from {} than {window}: \
                     a shorter answer would drop lines",
                    ec_billing::escape(deployment),
                    window.from()
                )),
            })?;
        tx.commit().map_err(|e| storage(&self.path, e))?;
        Ok(outcome)
    }

    /// The ledger's exact total for `deployment`, over every window it holds, each
    /// window's lines checked against its record.
    fn deployment_total(&self, organization: &str, deployment: &str) -> Result<Decimal> {
        let query = Query::all()
            .organization(organization)
            .deployments([deployment]);
        let conn = self.connection();
        let mut total = Decimal::ZERO;
        self.each_line(&conn, &query, |line| {
            total = total.checked_add(line.cost).ok_or_else(|| {
                Error::Overflow(format!(
                    "the total of deployment \"{}\"",
                    ec_billing::escape(deployment)
                ))
            })?;
            Ok(())
        })?;
        Ok(total)
    }

    /// Records the start of a sync in the journal; returns its id.
    fn journal_start(&self, organization: &str, now: Timestamp) -> Result<i64> {
        let conn = self.connection();
        conn.execute(
            "INSERT INTO syncs (organization, started_at) VALUES (?1, ?2)",
            params![organization, now.to_string()],
        )
        .map_err(|e| storage(&self.path, e))?;
        Ok(conn.last_insert_rowid())
    }

    /// Records the end of a sync, on the sync's own clock (a replay's end is never
    /// before its start).
    fn journal_end(&self, id: i64, report: &SyncReport, failed: u64, now: Timestamp) -> Result<()> {
        let fetched: u64 = report.windows_fetched();
        let revised: u64 = report.deployments.iter().map(|d| d.windows_revised).sum();
        let conn = self.connection();
        conn.execute(
            "UPDATE syncs SET finished_at = ?2, fetched = ?3, revised = ?4, failed = ?5
             WHERE id = ?1",
            params![
                id,
                now.to_string(),
                fetched as i64,
                revised as i64,
                failed as i64
            ],
        )
        .map_err(|e| storage(&self.path, e))?;
        Ok(())
    }

    /// Stores `answer` in `tx` (see [`Ledger::store_window`]).
    fn store(
        &self,
        tx: &Transaction<'_>,
        answer: Answer<'_>,
    ) -> std::result::Result<WindowChange, StoreError> {
        let Answer {
            organization,
            deployment,
            window,
            lines,
            total,
            now,
            final_,
        } = answer;
        let start = window.from().as_second();
        let end = window.to().as_second();
        let previous: Option<(StoredWindow, String)> = tx
            .prepare_cached(
                "SELECT organization, deployment, window_start, window_end, final, lines,
                        total, digest, first_fetched_at
                 FROM windows
                 WHERE organization = ?1 AND deployment = ?2 AND window_start = ?3",
            )?
            .query_row(params![organization, deployment, start], |row| {
                Ok((StoredWindow::read(row)?, row.get(8)?))
            })
            .optional()?;
        let (previous, first_fetched) = match previous {
            Some((previous, first)) => (Some(previous), Some(first)),
            None => (None, None),
        };
        if previous.as_ref().is_some_and(|p| p.end > end) {
            return Err(StoreError::Shorter);
        }
        // The lines stored before, checked against their record: lines edited outside
        // the ledger are replaced (a repair), never taken as what was fetched before.
        let mut old: Vec<AnswerLine> = Vec::new();
        let mut consistent = true;
        if let Some(previous) = &previous {
            let mut statement = tx.prepare_cached(
                "SELECT line_type, kind, sku, name, period_start, period_end, ordinal, hours,
                        instance_count, price_per_hour, quantity, quantity_formatted, rate,
                        rate_formatted, cost
                 FROM lines WHERE organization = ?1 AND deployment = ?2 AND window_start = ?3",
            )?;
            let mut rows = statement.query(params![organization, deployment, start])?;
            let mut tally = Tally::new();
            while let Some(row) = rows.next()? {
                match crate::query::answer_line(row, 0) {
                    Ok(line) => {
                        tally.add(&line);
                        old.push(line);
                    }
                    Err(_) => consistent = false,
                }
            }
            consistent = consistent && self.verify(previous, &tally).is_ok();
        }
        let same_window = previous.as_ref().is_some_and(|p| p.end == end);
        let mut outcome = WindowChange {
            new: previous.is_none(),
            ..WindowChange::default()
        };
        let now_text = now.to_string();
        let (lines, changes) = match &previous {
            Some(_) if consistent => {
                // A window that grew (the month to date) is matched across the growth:
                // its DTS lines are keyed by the window, so by the window's start.
                if !same_window {
                    for line in &mut old {
                        if line.key.line_type == LineType::Dts {
                            line.key.period_end = window.to();
                        }
                    }
                    number(&mut old);
                }
                let diff = diff(&old, lines);
                outcome.added = diff.added;
                outcome.changed = diff.changed;
                outcome.removed = diff.removed;
                outcome.unchanged = diff.unchanged;
                (diff.lines, diff.changes)
            }
            Some(_) => {
                outcome.repaired = true;
                outcome.added = lines.len() as u64;
                (lines, Vec::new())
            }
            None => {
                outcome.added = lines.len() as u64;
                (lines, Vec::new())
            }
        };
        let digest = digest(&lines);
        if let Some(previous) = &previous
            && consistent
            && same_window
            && changes.is_empty()
            && previous.digest == digest
        {
            // Nothing changed upstream: the lines stay; the window may have settled.
            if previous.final_ != final_ {
                tx.prepare_cached(
                    "UPDATE windows SET final = ?4, fetched_at = ?5
                     WHERE organization = ?1 AND deployment = ?2 AND window_start = ?3",
                )?
                .execute(params![
                    organization,
                    deployment,
                    start,
                    final_,
                    now_text
                ])?;
            }
            return Ok(outcome);
        }
        if previous.is_some() {
            tx.prepare_cached(
                "DELETE FROM lines WHERE organization = ?1 AND deployment = ?2 AND window_start = ?3",
            )?
            .execute(params![organization, deployment, start])?;
        }
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO lines (organization, deployment, window_start, line_type, kind, sku,
                     name, period_start, period_end, ordinal, hours, instance_count,
                     price_per_hour, quantity, quantity_formatted, rate, rate_formatted, cost)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,
                     ?17, ?18)",
            )?;
            for line in &lines {
                let key = &line.key;
                insert.execute(params![
                    organization,
                    deployment,
                    start,
                    key.line_type.as_str(),
                    key.kind,
                    key.sku,
                    key.name,
                    key.period_start.to_string(),
                    key.period_end.to_string(),
                    key.ordinal,
                    line.hours,
                    line.instance_count,
                    line.price_per_hour.map(|d| d.to_string()),
                    line.quantity.map(|d| d.to_string()),
                    line.quantity_formatted,
                    line.rate.map(|d| d.to_string()),
                    line.rate_formatted,
                    line.cost.to_string(),
                ])?;
            }
        }
        // A revision is a change between two fetches of the same window; a window that
        // grew is replaced, its changes counted but not as revisions.
        if same_window && !changes.is_empty() {
            outcome.revised = true;
            outcome.revisions = changes.len() as u64;
            let mut insert = tx.prepare_cached(
                "INSERT INTO revisions (organization, deployment, window_start, window_end,
                     seen_at, change, line_type, kind, sku, name, period_start, period_end,
                     ordinal, old_cost, new_cost)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
            )?;
            for change in &changes {
                let key = &change.key;
                insert.execute(params![
                    organization,
                    deployment,
                    start,
                    end,
                    now_text,
                    change.change.as_str(),
                    key.line_type.as_str(),
                    key.kind,
                    key.sku,
                    key.name,
                    key.period_start.to_string(),
                    key.period_end.to_string(),
                    key.ordinal,
                    change.old_cost.map(|d| d.to_string()),
                    change.new_cost.map(|d| d.to_string()),
                ])?;
                let delta = change.delta().ok_or(StoreError::Overflow)?;
                outcome.revised_by = outcome
                    .revised_by
                    .checked_add(delta)
                    .ok_or(StoreError::Overflow)?;
            }
        }
        if outcome.repaired {
            tx.prepare_cached(
                "INSERT INTO repairs (organization, deployment, window_start, window_end, seen_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![organization, deployment, start, end, now_text])?;
        }
        let first_fetched = first_fetched.unwrap_or_else(|| now_text.clone());
        tx.prepare_cached(
            "INSERT OR REPLACE INTO windows (organization, deployment, window_start, window_end,
                 first_fetched_at, fetched_at, final, digest, lines, total)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )?
        .execute(params![
            organization,
            deployment,
            start,
            end,
            first_fetched,
            now_text,
            final_,
            digest,
            lines.len() as i64,
            total.to_string(),
        ])?;
        Ok(outcome)
    }
}

/// What a sync does with one window of its range.
#[derive(Debug, PartialEq, Eq)]
enum Planned {
    /// Nothing: the ledger has it whole, final, and as its record says.
    Skip,
    /// Fetches the window from its start to this end: the range's, or the ledger's
    /// when it holds more (a window is never shrunk).
    Fetch(Timestamp),
}

/// What to do with `window` of the range, given what the ledger holds of it. A window
/// is skipped only when the ledger holds it final and consistent; one the ledger holds
/// more of than the range asks for (fetched before its end, with a range that reached
/// further) is fetched again over what the ledger holds.
fn plan_window(window: Window, stored: Option<&Stored>, refetch_final: bool) -> Planned {
    match stored {
        None => Planned::Fetch(window.to()),
        Some(s) if !s.consistent => Planned::Fetch(s.end.max(window.to())),
        Some(s) if s.end >= window.to() && s.final_ && !refetch_final => Planned::Skip,
        Some(s) => Planned::Fetch(s.end.max(window.to())),
    }
}

/// An answer to store.
struct Answer<'a> {
    organization: &'a str,
    deployment: &'a str,
    window: Window,
    lines: Vec<AnswerLine>,
    total: Decimal,
    now: Timestamp,
    final_: bool,
}

enum StoreError {
    Sql(rusqlite::Error),
    Ledger(Error),
    Overflow,
    /// The ledger holds more of the window than the answer covers.
    Shorter,
}

impl From<rusqlite::Error> for StoreError {
    fn from(error: rusqlite::Error) -> Self {
        Self::Sql(error)
    }
}

impl From<Error> for StoreError {
    fn from(error: Error) -> Self {
        Self::Ledger(error)
    }
}

/// Whether `window`, fetched `now`, is final: the fetch covered all of it (it came
/// after the window's end), and at least `settle` after that end.
fn is_final(window: Window, now: Timestamp, settle: SignedDuration) -> bool {
    now >= window.to()
        && window
            .to()
            .checked_add(settle)
            .is_ok_and(|settled| settled <= now)
}

/// `at` without its fraction of a second.
fn whole_seconds(at: Timestamp) -> Timestamp {
    Timestamp::from_second(at.as_second()).unwrap_or(at)
}

/// The instant of a stored epoch second (one out of range, only a tampered file has,
/// reads as the epoch; the window's check against its lines then fails).
pub(crate) fn instant(second: i64) -> Timestamp {
    Timestamp::from_second(second).unwrap_or(Timestamp::UNIX_EPOCH)
}

fn overflow(deployment: &str, window: Window) -> Error {
    Error::Answer(AnswerError::new(
        deployment,
        window,
        "a sum overflows an exact decimal",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_is_final_once_the_settle_period_has_passed_since_its_end() {
        let window = DateRange::parse("2024-01-01", "2024-02-01")
            .unwrap()
            .windows(WindowSize::Month)
            .next()
            .unwrap();
        let at = |t: &str| t.parse::<Timestamp>().unwrap();
        assert!(!is_final(
            window,
            at("2024-02-14T23:59:59Z"),
            DEFAULT_SETTLE
        ));
        assert!(is_final(window, at("2024-02-15T00:00:00Z"), DEFAULT_SETTLE));
        assert!(!is_final(
            window,
            at("2024-01-20T00:00:00Z"),
            SignedDuration::MAX
        ));
    }
}
