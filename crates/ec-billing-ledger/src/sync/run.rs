//! The sync of a plan: the windows each deployment needs fetched (what the ledger holds
//! of them, checked), fetching them through one client, each written as it arrives, and
//! the report.

use std::collections::HashMap;

use ec_billing::ExactAdd;
use ec_billing::{Client, DateRange, Decimal, StreamExt, Window};
use futures_util::stream;
use jiff::Timestamp;

use super::{
    DeploymentSync, OnProgress, SyncFailure, SyncPlan, SyncProgress, SyncReport, answer::overflow,
};
use crate::{
    error::{Error, Result},
    ledger::Ledger,
    plan::{
        Held, Planned, is_final, plan_window, resume_point, whole_seconds, window_of, window_start,
    },
    query::Query,
    store::JournalEnd,
};

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
                        .exact_add(outcome.revised_by)
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
        self.check_windows(&scope, |window, checked| {
            if !scope.holds(window.start) {
                return;
            }
            if checked.is_ok() {
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

    /// The ledger's exact total for `deployment`, over every window it holds, each
    /// window's lines checked against its record.
    async fn deployment_total(&self, organization: &str, deployment: &str) -> Result<Decimal> {
        let query = Query::all()
            .organization(organization)
            .deployments([deployment]);
        let mut total = Decimal::ZERO;
        self.each_line(&query, 1, |_, line| {
            total = total.exact_add(line.cost).ok_or_else(|| {
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
