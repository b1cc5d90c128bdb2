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
pub(crate) mod values;

use std::time::Duration;

use ec_billing::WindowSize;
use jiff::Timestamp;

use crate::{
    error::Result,
    query::{Query, Revision},
};
pub(crate) use values::{
    Access, JournalEnd, Scanned, StoredLines, StoredWindow, WindowUpdate, WindowWrite, window_text,
};

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
        each: impl FnMut(u8, &mut Scanned) -> Result<()>,
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
                ("rusqlite", "store/sqlite/"),
                ("tokio_postgres", "store/postgres/"),
            ] {
                if !file.starts_with(owner) {
                    assert!(
                        !code.contains(&format!("{driver}::")),
                        "{file} names {driver}, which only {owner} may"
                    );
                }
            }
        }
    }
}
