//! Incremental sync: which windows to fetch, fetching them through one client, and
//! storing each answer in one transaction with what changed.

use std::{collections::HashMap, fmt, sync::Arc, time::Duration};

use ec_billing::{Client, DateRange, Decimal, Format, Items, StreamExt, Window, WindowSize};
use futures_util::stream;
use jiff::{SignedDuration, Timestamp};

use crate::{
    Ledger,
    diff::diff,
    error::{AnswerError, Error, Result},
    export::check_line,
    plan::{
        Held, Planned, is_final, is_window, plan_window, resume_point, whole_seconds, window_of,
        window_start,
    },
    query::Query,
    record::{AnswerLine, LineType, answer_lines, digest, number},
    store::{JournalEnd, StoreLock, StoredLines, WindowUpdate, WindowWrite},
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

impl Ledger {
    /// Fetches what `plan` asks for that the ledger lacks, and every provisional window
    /// again, through `client` (its concurrency, pacing and retries shared by all);
    /// stores each answer in one transaction with its fetch record and the revisions
    /// it brings. Run twice with nothing changed upstream, the second sync fetches only
    /// provisional windows and changes nothing. Killed at any moment, it leaves every
    /// window it finished stored and the rest as they were: the next sync carries on.
    /// While one window is written, the others' fetches go on.
    ///
    /// A window whose lines no longer match its record (edited outside the ledger) is
    /// fetched again and its lines replaced: a repair, counted as such, not revisions.
    ///
    /// ```no_run
    /// # async fn run(client: ec_billing::Client) -> Result<(), ec_billing_ledger::Error> {
    /// let ledger = ec_billing_ledger::Ledger::open("costs.db").await?;
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
    /// [`Error::Busy`] when another sync holds the ledger (or, on PostgreSQL, one of the
    /// deployments) past [`SyncPlan::lock_wait`]; without [`SyncPlan::keep_going`], the
    /// first window's [`Error::Api`] or [`Error::Answer`]; [`Error::Inconsistent`] when
    /// a window outside the range does not match its record; [`Error::Storage`].
    pub async fn sync(&self, client: &Client, plan: &SyncPlan) -> Result<SyncReport> {
        self.writable()?;
        let organization = plan.organization.as_str();
        let now = whole_seconds(plan.now.unwrap_or_else(|| client.now()));
        plan.check_input(now)?;
        let lock = self
            .store
            .lock(organization, &plan.deployments, plan.lock_wait)
            .await?;
        let size = self.window_size();
        let to = whole_seconds(plan.to.unwrap_or(now));
        let mut report = SyncReport::default();
        let mut tasks: Vec<(usize, Window)> = Vec::new();
        for (index, deployment) in plan.deployments.iter().enumerate() {
            let mut summary = DeploymentSync {
                deployment: deployment.clone(),
                ..DeploymentSync::default()
            };
            let from = match plan.from {
                Some(from) => Some(window_start(from, size)?),
                None => {
                    let scope = Query::all()
                        .organization(organization)
                        .deployments([deployment.as_str()]);
                    resume_point(&self.store.windows(&scope).await?, size)?
                }
            };
            let Some(from) = from else {
                return Err(Error::InvalidInput(format!(
                    "the ledger has nothing of deployment \"{}\" yet: give a start (from)",
                    ec_billing::text::escape(deployment)
                )));
            };
            if from < to {
                let range = DateRange::new(from, to)?;
                summary.range = Some((from, to));
                let held = self
                    .held_windows(organization, deployment, from, to)
                    .await?;
                for window in range.windows(size) {
                    if tasks.len() >= ec_billing::MAX_WINDOWS {
                        return Err(Error::InvalidInput(format!(
                            "the range {range} makes more than {} requests: sync a shorter one",
                            ec_billing::MAX_WINDOWS
                        )));
                    }
                    match plan_window(
                        window,
                        held.get(&window.from()).copied(),
                        plan.refetch_final,
                    ) {
                        Planned::Skip => summary.windows_skipped += 1,
                        Planned::Fetch(end) => {
                            tasks.push((index, window_of(window.from(), end, size)?));
                        }
                    }
                }
            }
            report.deployments.push(summary);
        }

        let journal = self.store.journal_start(organization, now).await?;
        let planned = tasks.len() as u64;
        let mut done = 0u64;
        let progress = |done| {
            if let Some(OnProgress(hook)) = &plan.on_progress {
                hook(SyncProgress { done, planned });
            }
        };
        progress(done);
        let limit = client.concurrency().get().saturating_mul(2);
        let lock = &lock;
        // Each window is fetched and then written by one future; while one is written,
        // the others' fetches are polled on.
        let mut windows = stream::iter(tasks)
            .map(|(index, window)| {
                let deployment = plan.deployments[index].as_str();
                let request = client
                    .items(organization, deployment)
                    .range(window.range())
                    .window(size)
                    .format(plan.format);
                async move {
                    let stored = match request.send().await {
                        Ok(answer) => {
                            let final_ = is_final(window, size, now, plan.settle);
                            self.store_answer(
                                lock,
                                organization,
                                deployment,
                                window,
                                &answer.items,
                                now,
                                final_,
                            )
                            .await
                        }
                        Err(error) => Err(Error::from(error)),
                    };
                    (index, window, stored)
                }
            })
            .buffer_unordered(limit.max(1));
        let mut failed = 0u64;
        while let Some((index, window, stored)) = windows.next().await {
            done += 1;
            progress(done);
            let deployment = plan.deployments[index].as_str();
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
        drop(windows);
        for summary in &mut report.deployments {
            summary.total = self
                .deployment_total(organization, &summary.deployment)
                .await?;
        }
        let revised: u64 = report.deployments.iter().map(|d| d.windows_revised).sum();
        self.store
            .journal_end(JournalEnd {
                id: journal,
                fetched: report.windows_fetched(),
                revised,
                failed,
                now,
            })
            .await?;
        Ok(report)
    }

    /// The windows of `deployment` starting in `[from, to)`, by start, each checked
    /// against its lines: a window whose lines do not match its record (or whose
    /// bounds are not a window's) is marked for repair.
    async fn held_windows(
        &self,
        organization: &str,
        deployment: &str,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<HashMap<Timestamp, Held>> {
        let size = self.window_size();
        let scope = Query::all()
            .organization(organization)
            .deployments([deployment])
            .from(from)
            .to(to);
        let mut held: HashMap<Timestamp, Held> = HashMap::new();
        // A window that does not match its record, or whose bounds are not a window's,
        // is repaired: fetched again over the window its start falls in.
        let repair = |held: &mut HashMap<Timestamp, Held>, start: Timestamp, end: Timestamp| {
            let aligned = window_start(start, size)?;
            let entry = held.entry(aligned).or_insert(Held {
                end: aligned,
                final_: false,
                consistent: false,
            });
            entry.consistent = false;
            if start == aligned {
                entry.end = entry.end.max(end);
            }
            Ok::<(), Error>(())
        };
        let mut broken: Vec<(Timestamp, Timestamp)> = Vec::new();
        self.store
            .scan(&scope, 1, |_, window, lines| {
                if !scope.holds(window.start) {
                    return Ok(());
                }
                if self.verify(&window, &lines).is_ok() {
                    held.insert(
                        window.start,
                        Held {
                            end: window.end,
                            final_: window.final_,
                            consistent: true,
                        },
                    );
                } else {
                    broken.push((window.start, window.end));
                }
                Ok(())
            })
            .await?;
        for (start, end) in broken {
            repair(&mut held, start, end)?;
        }
        for (_, _, start) in self.store.orphans(&scope).await? {
            if scope.holds(start) {
                repair(&mut held, start, start)?;
            }
        }
        Ok(held)
    }

    /// Records an answer fetched by other means (a service's own client, a file of
    /// answers): as [`sync`](Self::sync) stores each window, in one transaction with its
    /// fetch record and, when the same window was stored before, a revision for each
    /// change. The window is final when `fetched_at` is at least `settle` after its end
    /// (and after its end at all). It waits for a sync of the same ledger (or, on
    /// PostgreSQL, deployment) to finish, at most [`DEFAULT_LOCK_WAIT`].
    ///
    /// # Errors
    ///
    /// [`Error::Answer`] when the answer cannot be stored as it is (its lines do not
    /// add up to its total, a line's period runs backwards or past the time scale, a
    /// line cannot be priced exactly); nothing is written. [`Error::InvalidInput`] for
    /// a bad id, a ledger opened read-only or a window that holds less than the ledger
    /// has; [`Error::Busy`]; [`Error::Storage`].
    pub async fn record(
        &self,
        organization: &str,
        deployment: &str,
        window: Window,
        items: &Items,
        fetched_at: Timestamp,
        settle: SignedDuration,
    ) -> Result<WindowChange> {
        self.writable()?;
        check_ids(organization, deployment)?;
        let size = self.window_size();
        if !is_window(window.from(), window.to(), size) {
            return Err(Error::InvalidInput(format!(
                "{window} is not a window of this ledger (it keeps {} windows)",
                crate::error::window_name(size)
            )));
        }
        let lock = self
            .store
            .lock(organization, &[deployment.to_string()], DEFAULT_LOCK_WAIT)
            .await?;
        let now = whole_seconds(fetched_at);
        self.store_answer(
            &lock,
            organization,
            deployment,
            window,
            items,
            now,
            is_final(window, size, now, settle),
        )
        .await
    }

    /// Stores one answer for `window`: its lines checked, matched against what the
    /// ledger holds of the window, and written in one transaction with its record and
    /// the revisions it brings.
    #[allow(
        clippy::too_many_arguments,
        reason = "one window's answer and where it goes"
    )]
    async fn store_answer(
        &self,
        lock: &StoreLock,
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
        let previous = self
            .store
            .window(organization, deployment, window.from())
            .await
            .map_err(|e| e.in_window(deployment, window))?;
        let (outcome, update) = self.change(
            Answer {
                organization,
                deployment,
                window,
                lines,
                total: lines_total,
                now,
                final_,
            },
            previous,
        )?;
        self.store
            .write(update, lock)
            .await
            .map_err(|e| e.in_window(deployment, window))?;
        Ok(outcome)
    }

    /// What storing `answer` over what the ledger holds of its window (`previous`)
    /// changes, and the update that writes it.
    fn change(
        &self,
        answer: Answer<'_>,
        previous: Option<StoredLines>,
    ) -> Result<(WindowChange, WindowUpdate)> {
        let Answer {
            organization,
            deployment,
            window,
            lines,
            total,
            now,
            final_,
        } = answer;
        let mut outcome = WindowChange {
            new: previous.is_none(),
            ..WindowChange::default()
        };
        let Some(StoredLines {
            window: record,
            lines: mut old,
            unreadable,
        }) = previous
        else {
            outcome.added = lines.len() as u64;
            let update = WindowUpdate::Write(WindowWrite {
                organization: organization.to_string(),
                deployment: deployment.to_string(),
                start: window.from(),
                end: window.to(),
                digest: digest(&lines),
                lines,
                total,
                first_fetched_at: now,
                now,
                final_,
                revisions: Vec::new(),
                repaired: false,
            });
            return Ok((outcome, update));
        };
        // The lines stored before, checked against their record: lines edited outside
        // the ledger are replaced (a repair), never taken as what was fetched before.
        let consistent = !unreadable && self.verify(&record, &old).is_ok();
        if consistent && record.end > window.to() {
            return Err(Error::InvalidInput(format!(
                "the ledger holds more of deployment \"{}\"'s window from {} than {window}: \
                 a shorter answer would drop lines",
                ec_billing::text::escape(deployment),
                window.from()
            )));
        }
        // The same question asked again: the same span, and the earlier fetch covered
        // all of it (a window fetched before its end has grown since, not been revised).
        let same_window = record.end == window.to() && record.fetched_at >= record.end;
        let (lines, changes) = if consistent {
            // A window that grew (the month to date) is matched across the growth: its
            // DTS lines are keyed by the window, so by the window's start.
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
        } else {
            outcome.repaired = true;
            outcome.added = lines.len() as u64;
            (lines, Vec::new())
        };
        let digest = digest(&lines);
        if consistent && same_window && changes.is_empty() && record.digest == digest {
            // Nothing changed upstream: the lines stay; the window may have settled.
            let update = if record.final_ == final_ {
                WindowUpdate::Nothing
            } else {
                WindowUpdate::Settle {
                    organization: organization.to_string(),
                    deployment: deployment.to_string(),
                    start: window.from(),
                    final_,
                    now,
                }
            };
            return Ok((outcome, update));
        }
        // A revision is a change between two fetches of the same window; a window that
        // grew is replaced, its changes counted but not as revisions.
        let revisions = if same_window { changes } else { Vec::new() };
        if !revisions.is_empty() {
            outcome.revised = true;
            outcome.revisions = revisions.len() as u64;
            for change in &revisions {
                let delta = change.delta().ok_or_else(|| overflow(deployment, window))?;
                outcome.revised_by = outcome
                    .revised_by
                    .checked_add(delta)
                    .ok_or_else(|| overflow(deployment, window))?;
            }
        }
        let update = WindowUpdate::Write(WindowWrite {
            organization: organization.to_string(),
            deployment: deployment.to_string(),
            start: window.from(),
            end: window.to(),
            lines,
            digest,
            total,
            first_fetched_at: record.first_fetched_at,
            now,
            final_,
            revisions,
            repaired: outcome.repaired,
        });
        Ok((outcome, update))
    }

    /// The ledger's exact total for `deployment`, over every window it holds, each
    /// window's lines checked against its record.
    async fn deployment_total(&self, organization: &str, deployment: &str) -> Result<Decimal> {
        let query = Query::all()
            .organization(organization)
            .deployments([deployment]);
        let mut total = Decimal::ZERO;
        self.each_line(&query, 1, |_, line| {
            total = total.checked_add(line.cost).ok_or_else(|| {
                Error::Overflow(format!(
                    "the total of deployment \"{}\"",
                    ec_billing::text::escape(deployment)
                ))
            })?;
            Ok(())
        })
        .await?;
        Ok(total)
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

fn overflow(deployment: &str, window: Window) -> Error {
    Error::Answer(AnswerError::new(
        deployment,
        window,
        "a sum overflows an exact decimal",
    ))
}
