//! Where a ledger keeps its data: one seam, two engines. [`Store`] is the few
//! operations the ledger needs (read a window's lines, write a window in one
//! transaction, scan windows with their lines, the journal, locks); `sqlite` and
//! `postgres` are the only modules that name their drivers.
//!
//! Everything above this seam is engine-free: planning and diffing are pure functions
//! over values, and both engines are handed the same values and give back the same
//! values, so that every export is the same bytes from either.

pub(crate) mod postgres;
pub(crate) mod sqlite;

use std::time::Duration;

use ec_billing::{Decimal, WindowSize};
use jiff::Timestamp;

use crate::{
    diff::LineChange,
    error::Result,
    query::{Query, Revision},
    record::AnswerLine,
};

/// How a ledger is opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Access {
    /// To read and write; a new ledger, with windows of this size (or months), when
    /// there is none.
    Create(Option<WindowSize>),
    /// To read and write a ledger that must exist.
    Existing,
    /// To read only: nothing is written.
    ReadOnly,
}

impl Access {
    pub(crate) fn creates(self) -> bool {
        matches!(self, Self::Create(_))
    }

    pub(crate) fn window(self) -> Option<WindowSize> {
        match self {
            Self::Create(window) => window,
            Self::Existing | Self::ReadOnly => None,
        }
    }
}

/// The window sizes a ledger keeps, as its store writes them: `month` or `day`.
pub(crate) fn window_text(size: WindowSize) -> &'static str {
    match size {
        WindowSize::Day => "day",
        _ => "month",
    }
}

/// A window size as a store reads it back: `month` or `day`, nothing else (an edited
/// `7d` would make windows overlap).
pub(crate) fn parse_window(text: &str) -> Option<WindowSize> {
    match text {
        "month" => Some(WindowSize::Month),
        "day" => Some(WindowSize::Day),
        _ => None,
    }
}

/// A window's record, as stored (its total and digest as text, as they were written:
/// a window's lines are checked against them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct StoredWindow {
    pub(crate) organization: String,
    pub(crate) deployment: String,
    pub(crate) start: Timestamp,
    pub(crate) end: Timestamp,
    pub(crate) first_fetched_at: Timestamp,
    pub(crate) fetched_at: Timestamp,
    pub(crate) final_: bool,
    pub(crate) lines: i64,
    pub(crate) total: String,
    pub(crate) digest: String,
    /// A value of its record or of one of its lines could not be read as the ledger
    /// writes it (the window is then repaired, not read).
    pub(crate) unreadable: bool,
}

impl StoredWindow {
    /// The record of a window of which only the organization, deployment and start
    /// could be read as the ledger writes them: marked unreadable, so that the window
    /// is named, and repaired, rather than the whole read failing.
    pub(crate) fn unreadable(organization: String, deployment: String, start: Timestamp) -> Self {
        Self {
            organization,
            deployment,
            start,
            end: start,
            first_fetched_at: start,
            fetched_at: start,
            final_: false,
            lines: 0,
            total: String::new(),
            digest: String::new(),
            unreadable: true,
        }
    }
}

/// How many lines a scan hands over at once: what memory holds of a window while it is
/// read, however many lines the window has.
pub(crate) const SCAN_CHUNK: usize = 2048;

/// What a scan gives, in order, for each window: its record, its lines in chunks of at
/// most [`SCAN_CHUNK`] (in the store's order: the export's for a ledger as it writes
/// them), and its end.
#[derive(Debug)]
pub(crate) enum Scanned {
    /// A window starts: its record.
    Start(StoredWindow),
    /// Lines of the window that started last.
    Lines(Vec<AnswerLine>),
    /// The window ends. `unreadable`: a row of it could not be read as the ledger
    /// writes it (the window is then named, and repaired).
    End {
        /// A row of the window could not be read.
        unreadable: bool,
    },
}

/// The rows of a windows ⟕ lines join, in window order, cut into [`Scanned`] items:
/// what both stores' scans give. `emit` says whether to go on.
#[derive(Debug, Default)]
pub(crate) struct WindowChunks {
    /// The organization, deployment and start of the window being read.
    current: Option<(String, String, Timestamp)>,
    lines: Vec<AnswerLine>,
    unreadable: bool,
}

impl WindowChunks {
    /// Whether a row of this organization, deployment and start is of the window being
    /// read (a store asks before it reads a row's record: a record is read once).
    pub(crate) fn is_current(
        &self,
        organization: &str,
        deployment: &str,
        start: Timestamp,
    ) -> bool {
        self.current.as_ref().is_some_and(|(o, d, s)| {
            *s == start && d.as_str() == deployment && o.as_str() == organization
        })
    }

    /// A new window starts: the one being read ends.
    pub(crate) fn start(
        &mut self,
        window: StoredWindow,
        emit: &mut impl FnMut(Scanned) -> bool,
    ) -> bool {
        if !self.end(emit) {
            return false;
        }
        self.current = Some((
            window.organization.clone(),
            window.deployment.clone(),
            window.start,
        ));
        emit(Scanned::Start(window))
    }

    /// A row's line: `None` for the one row of a window of no lines; `Some(None)` for
    /// a line that could not be read as the ledger writes it.
    pub(crate) fn line(
        &mut self,
        line: Option<Option<AnswerLine>>,
        emit: &mut impl FnMut(Scanned) -> bool,
    ) -> bool {
        match line {
            None => {}
            Some(Some(line)) => {
                if self.lines.capacity() == 0 {
                    self.lines.reserve_exact(SCAN_CHUNK);
                }
                self.lines.push(line);
                if self.lines.len() >= SCAN_CHUNK {
                    return emit(Scanned::Lines(std::mem::take(&mut self.lines)));
                }
            }
            Some(None) => self.unreadable = true,
        }
        true
    }

    /// Every row is taken: the last window ends.
    pub(crate) fn finish(mut self, emit: &mut impl FnMut(Scanned) -> bool) -> bool {
        self.end(emit)
    }

    fn end(&mut self, emit: &mut impl FnMut(Scanned) -> bool) -> bool {
        if self.current.take().is_none() {
            return true;
        }
        if !self.lines.is_empty() && !emit(Scanned::Lines(std::mem::take(&mut self.lines))) {
            return false;
        }
        emit(Scanned::End {
            unreadable: std::mem::take(&mut self.unreadable),
        })
    }
}

/// A window's lines as a store reads them for a sync: those it could read, and whether
/// any row could not be read as the ledger writes it (then the window is repaired).
#[derive(Debug)]
pub(crate) struct StoredLines {
    pub(crate) window: StoredWindow,
    pub(crate) lines: Vec<AnswerLine>,
    pub(crate) unreadable: bool,
}

/// What a sync writes for one window, in one transaction.
#[derive(Debug)]
pub(crate) enum WindowUpdate {
    /// The window's lines, replacing any it had, with its record, the revisions the
    /// change brings, and whether it is a repair.
    Write(WindowWrite),
    /// Nothing changed upstream; the window may have settled.
    Settle {
        organization: String,
        deployment: String,
        start: Timestamp,
        final_: bool,
        now: Timestamp,
    },
    /// Nothing to write at all.
    Nothing,
}

/// A window written whole (see [`WindowUpdate::Write`]).
#[derive(Debug)]
pub(crate) struct WindowWrite {
    pub(crate) organization: String,
    pub(crate) deployment: String,
    pub(crate) start: Timestamp,
    pub(crate) end: Timestamp,
    pub(crate) lines: Vec<AnswerLine>,
    pub(crate) digest: String,
    pub(crate) total: Decimal,
    pub(crate) first_fetched_at: Timestamp,
    pub(crate) now: Timestamp,
    pub(crate) final_: bool,
    /// Recorded as revisions (empty unless the same window was fetched again).
    pub(crate) revisions: Vec<LineChange>,
    pub(crate) repaired: bool,
}

/// The counts a sync's journal ends with.
#[derive(Clone, Copy, Debug)]
pub(crate) struct JournalEnd {
    pub(crate) id: i64,
    pub(crate) fetched: u64,
    pub(crate) revised: u64,
    pub(crate) failed: u64,
    pub(crate) now: Timestamp,
}

/// Held while a sync or a record writes: for SQLite the whole file, for PostgreSQL
/// each deployment it writes. Let go when dropped.
#[derive(Debug)]
#[must_use]
pub(crate) enum StoreLock {
    Sqlite(#[allow(dead_code, reason = "held for its drop")] sqlite::QueuedLock),
    Postgres(Box<postgres::DeploymentLocks>),
}

/// A ledger's store.
#[derive(Debug)]
pub(crate) enum Store {
    Sqlite(sqlite::SqliteStore),
    Postgres(postgres::PostgresStore),
}

impl Store {
    /// The window size, fixed when the ledger was created.
    pub(crate) fn window_size(&self) -> WindowSize {
        match self {
            Self::Sqlite(s) => s.window_size(),
            Self::Postgres(s) => s.window_size(),
        }
    }

    /// Whether it was opened read-only.
    pub(crate) fn read_only(&self) -> bool {
        match self {
            Self::Sqlite(s) => s.read_only(),
            Self::Postgres(s) => s.read_only(),
        }
    }

    /// Takes the lock a sync of `deployments` of `organization` writes under, waiting
    /// at most `wait`.
    pub(crate) async fn lock(
        &self,
        organization: &str,
        deployments: &[String],
        wait: Duration,
    ) -> Result<StoreLock> {
        Ok(match self {
            Self::Sqlite(s) => StoreLock::Sqlite(s.lock(wait).await?),
            Self::Postgres(s) => {
                StoreLock::Postgres(Box::new(s.lock(organization, deployments, wait).await?))
            }
        })
    }

    /// The records of the windows in `scope` (its organization, deployments, and the
    /// range their starts are in), by organization, deployment and start.
    pub(crate) async fn windows(&self, scope: &Query) -> Result<Vec<StoredWindow>> {
        match self {
            Self::Sqlite(s) => s.windows(scope).await,
            Self::Postgres(s) => s.windows(scope).await,
        }
    }

    /// The window of `deployment` that starts at `start`, with its lines.
    pub(crate) async fn window(
        &self,
        organization: &str,
        deployment: &str,
        start: Timestamp,
    ) -> Result<Option<StoredLines>> {
        match self {
            Self::Sqlite(s) => s.window(organization, deployment, start).await,
            Self::Postgres(s) => s.window(organization, deployment, start).await,
        }
    }

    /// Calls `each` with every window of `scope`'s organization and deployments (the
    /// range is the caller's to apply) and its lines, as [`Scanned`] items, `passes`
    /// times over one snapshot. Lines come in the store's key order, the export's (see
    /// [`crate::record::export_order`]) for a ledger as it writes them; the reader
    /// checks it.
    pub(crate) async fn scan(
        &self,
        scope: &Query,
        passes: u8,
        each: impl FnMut(u8, Scanned) -> Result<()>,
    ) -> Result<()> {
        match self {
            Self::Sqlite(s) => s.scan(scope, passes, each).await,
            Self::Postgres(s) => s.scan(scope, passes, each).await,
        }
    }

    /// Writes `update` in one transaction, under `lock` (taken by [`lock`](Self::lock)
    /// for the update's deployment).
    pub(crate) async fn write(&self, update: WindowUpdate, lock: &StoreLock) -> Result<()> {
        match (self, lock) {
            (Self::Sqlite(s), _) => s.write(update).await,
            (Self::Postgres(s), StoreLock::Postgres(locks)) => s.write(update, locks).await,
            (Self::Postgres(_), StoreLock::Sqlite(_)) => Err(crate::error::Error::InvalidInput(
                "a PostgreSQL ledger written under a file's lock".to_string(),
            )),
        }
    }

    /// Records the start of a sync; returns its id.
    pub(crate) async fn journal_start(&self, organization: &str, now: Timestamp) -> Result<i64> {
        match self {
            Self::Sqlite(s) => s.journal_start(organization, now).await,
            Self::Postgres(s) => s.journal_start(organization, now).await,
        }
    }

    /// Records the end of a sync.
    pub(crate) async fn journal_end(&self, end: JournalEnd) -> Result<()> {
        match self {
            Self::Sqlite(s) => s.journal_end(end).await,
            Self::Postgres(s) => s.journal_end(end).await,
        }
    }

    /// Every revision in `scope`, in the order they were seen.
    pub(crate) async fn revisions(&self, scope: &Query) -> Result<Vec<Revision>> {
        match self {
            Self::Sqlite(s) => s.revisions(scope).await,
            Self::Postgres(s) => s.revisions(scope).await,
        }
    }

    /// The windows (organization, deployment, start) of lines in `scope` (its
    /// organization and deployments) that have no record: a few, at most.
    pub(crate) async fn orphans(&self, scope: &Query) -> Result<Vec<(String, String, Timestamp)>> {
        match self {
            Self::Sqlite(s) => s.orphans(scope).await,
            Self::Postgres(s) => s.orphans(scope).await,
        }
    }
}

#[cfg(test)]
mod tests {
    /// Every `.rs` file of this crate's sources, with its path relative to `src`.
    fn sources() -> Vec<(String, String)> {
        fn walk(dir: &std::path::Path, out: &mut Vec<(String, String)>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    walk(&path, out);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    let name = path
                        .strip_prefix(concat!(env!("CARGO_MANIFEST_DIR"), "/src"))
                        .unwrap()
                        .display()
                        .to_string();
                    out.push((name, std::fs::read_to_string(&path).unwrap()));
                }
            }
        }
        let mut out = Vec::new();
        walk(
            std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/src")),
            &mut out,
        );
        out
    }

    #[test]
    fn only_each_store_names_its_driver() {
        for (file, text) in sources() {
            // Code, not comments or doc examples.
            let code: String = text
                .lines()
                .filter(|line| !line.trim_start().starts_with("//"))
                .collect::<Vec<_>>()
                .join("\n");
            for (driver, owner) in [
                ("rusqlite", "store/sqlite.rs"),
                ("tokio_postgres", "store/postgres.rs"),
            ] {
                if file != owner {
                    assert!(
                        !code.contains(&format!("{driver}::")),
                        "{file} names {driver}, which only {owner} may"
                    );
                }
            }
        }
    }
}
