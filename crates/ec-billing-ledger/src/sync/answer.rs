//! Recording one answer: its lines checked, matched against what the ledger holds of
//! its window, and written in one transaction with its record and the revisions it
//! brings ([`Ledger::record`], and each window of a sync).

use ec_billing::ExactAdd;
use ec_billing::{Decimal, Items, Window};
use jiff::{SignedDuration, Timestamp};

use super::{DEFAULT_LOCK_WAIT, WindowChange, check_ids};
use crate::{
    diff::diff,
    error::{AnswerError, Error, Result},
    export::check_line,
    ledger::Ledger,
    plan::{is_final, is_window, whole_seconds},
    record::{AnswerLine, LineType, answer_lines, digest, number},
    store::{StoreLock, StoredLines, WindowUpdate, WindowWrite},
};

impl Ledger {
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
    pub(super) async fn store_answer(
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
                .exact_add(line.cost)
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
                    .exact_add(delta)
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

pub(super) fn overflow(deployment: &str, window: Window) -> Error {
    Error::Answer(AnswerError::new(
        deployment,
        window,
        "a sum overflows an exact decimal",
    ))
}
