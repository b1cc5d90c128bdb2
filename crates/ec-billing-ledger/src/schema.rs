//! The ledger's file: its schema and its versions, how a file is recognized as a ledger
//! (or refused), and the lock that keeps two syncs apart.

use std::{
    fs::{File, OpenOptions, TryLockError},
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use ec_billing::WindowSize;
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use crate::error::{Error, FileError, Result, storage};

/// What `meta.application` says in every ledger.
pub(crate) const APPLICATION: &str = "ec-billing-ledger";

/// Each schema version's script: `MIGRATIONS[i]` takes a file from version `i` to
/// `i + 1` (version 0 is an empty database). Never edit one that shipped; add one.
pub(crate) const MIGRATIONS: [&str; 2] = [
    // 1: the ledger.
    "
    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) WITHOUT ROWID;

    -- Every window fetched, per organization and deployment; a window is known by
    -- its start (its end grows while it is the range's last, the month to date).
    CREATE TABLE windows (
        organization     TEXT    NOT NULL,
        deployment       TEXT    NOT NULL,
        window_start     INTEGER NOT NULL, -- epoch seconds, UTC
        window_end       INTEGER NOT NULL, -- epoch seconds, UTC, exclusive
        first_fetched_at TEXT    NOT NULL, -- RFC 3339 UTC
        fetched_at       TEXT    NOT NULL, -- RFC 3339 UTC, the last fetch
        final            INTEGER NOT NULL, -- 1: last fetched at least the settle period after its end
        digest           TEXT    NOT NULL, -- of the lines of the last answer
        lines            INTEGER NOT NULL,
        total            TEXT    NOT NULL, -- exact decimal, ECU
        PRIMARY KEY (organization, deployment, window_start)
    ) WITHOUT ROWID;

    -- Every line of every window, under its natural key; `ordinal` keeps apart lines
    -- of one answer that share the rest of it. Money is exact decimal text.
    CREATE TABLE lines (
        organization       TEXT    NOT NULL,
        deployment         TEXT    NOT NULL,
        window_start       INTEGER NOT NULL,
        line_type          TEXT    NOT NULL CHECK (line_type IN ('resource', 'dts')),
        kind               TEXT    NOT NULL, -- resource kind, or DTS usage type
        sku                TEXT    NOT NULL,
        name               TEXT    NOT NULL,
        period_start       TEXT    NOT NULL, -- a resource line's own; a DTS line's window's
        period_end         TEXT    NOT NULL,
        ordinal            INTEGER NOT NULL,
        hours              INTEGER,
        instance_count     INTEGER,
        price_per_hour     TEXT,
        quantity           TEXT,
        quantity_formatted TEXT,
        rate               TEXT,
        rate_formatted     TEXT,
        cost               TEXT    NOT NULL,
        PRIMARY KEY (organization, deployment, window_start, line_type, kind, sku, name,
                     period_start, period_end, ordinal)
    ) WITHOUT ROWID;

    -- What a re-fetch of the same window found changed: facts, never overwritten.
    CREATE TABLE revisions (
        id           INTEGER PRIMARY KEY,
        organization TEXT    NOT NULL,
        deployment   TEXT    NOT NULL,
        window_start INTEGER NOT NULL,
        window_end   INTEGER NOT NULL,
        seen_at      TEXT    NOT NULL,
        change       TEXT    NOT NULL CHECK (change IN ('added', 'removed', 'changed')),
        line_type    TEXT    NOT NULL,
        kind         TEXT    NOT NULL,
        sku          TEXT    NOT NULL,
        name         TEXT    NOT NULL,
        period_start TEXT    NOT NULL,
        period_end   TEXT    NOT NULL,
        ordinal      INTEGER NOT NULL,
        old_cost     TEXT,
        new_cost     TEXT
    );
    CREATE INDEX revisions_by_deployment ON revisions (organization, deployment, window_start);
    ",
    // 2: a journal of syncs (when each ran, and whether it finished).
    "
    CREATE TABLE syncs (
        id           INTEGER PRIMARY KEY,
        organization TEXT NOT NULL,
        started_at   TEXT NOT NULL,
        finished_at  TEXT,
        fetched      INTEGER NOT NULL DEFAULT 0,
        revised      INTEGER NOT NULL DEFAULT 0,
        failed       INTEGER NOT NULL DEFAULT 0
    );
    ",
];

/// The schema version this crate writes.
pub(crate) const VERSION: i64 = MIGRATIONS.len() as i64;

/// How long a write waits for a reader (an export) to let go of the database.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Opens `path` as a ledger: an existing one (migrated from an older version), or a new
/// one with windows of `window` when `create` and there is none. Returns the connection
/// and the ledger's window size.
pub(crate) fn open(
    path: &Path,
    window: Option<WindowSize>,
    create: bool,
) -> Result<(Connection, WindowSize)> {
    let exists = path.exists();
    if !exists && !create {
        return Err(Error::Storage(FileError::new(
            path,
            "no such ledger (a sync creates it)",
            None,
        )));
    }
    let flags = if exists {
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let conn = Connection::open_with_flags(path, flags).map_err(|e| storage(path, e))?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(|e| storage(path, e))?;
    // A file that is not SQLite fails on its first read. The version and the tables are
    // read in one snapshot: another process may be creating the ledger meanwhile.
    {
        let snapshot = conn
            .unchecked_transaction()
            .map_err(|e| not_a_ledger(path, "not an SQLite database", e))?;
        let version =
            user_version(&snapshot).map_err(|e| not_a_ledger(path, "not an SQLite database", e))?;
        check(&snapshot, path, version, create)?;
    }
    // Switching to WAL takes the file whole for a moment; SQLite does not wait for it
    // on its own when another process is opening the same file: wait here, bounded.
    let started = std::time::Instant::now();
    loop {
        match conn.pragma_update(None, "journal_mode", "WAL") {
            Ok(()) => break,
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy
                    && started.elapsed() < BUSY_TIMEOUT =>
            {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => return Err(storage(path, e)),
        }
    }
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(|e| storage(path, e))?;
    // A window of many lines is one transaction: 64 MiB of page cache keeps its pages
    // in memory instead of reading back what was just spilled.
    conn.pragma_update(None, "cache_size", -64 * 1024)
        .map_err(|e| storage(path, e))?;
    let size = migrate(&conn, path, window, create)?;
    match window {
        Some(asked) if asked != size => Err(Error::WindowSize {
            ledger: size,
            asked,
        }),
        _ => Ok((conn, size)),
    }
}

fn user_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.pragma_query_value(None, "user_version", |row| row.get(0))
}

/// Refuses a file that is not a ledger of a version this crate reads: another
/// application's database (tables but no version of ours, or a version below 1), a
/// newer ledger, and, unless `create`, an empty database.
fn check(conn: &Connection, path: &Path, version: i64, create: bool) -> Result<()> {
    if version > VERSION {
        return Err(Error::NewerSchema {
            path: path.to_path_buf(),
            version,
            supported: VERSION,
        });
    }
    let tables: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_master", [], |row| row.get(0))
        .map_err(|e| not_a_ledger(path, "not an SQLite database", e))?;
    let foreign = || {
        Error::NotALedger(FileError::new(
            path,
            "an SQLite database of another application",
            None,
        ))
    };
    match (version, tables) {
        (..0, _) => Err(foreign()),
        (0, 0) if create => Ok(()),
        (0, 0) => Err(Error::NotALedger(FileError::new(
            path,
            "an empty database (a sync makes a ledger of it)",
            None,
        ))),
        (0, _) => Err(foreign()),
        _ => check_application(conn, path),
    }
}

/// The text a window size is stored as, which `WindowSize`'s `FromStr` reads back.
pub(crate) fn window_text(size: WindowSize) -> String {
    match size {
        WindowSize::Month => "month".to_string(),
        WindowSize::Day => "day".to_string(),
        WindowSize::Days(days) => format!("{}d", days.get()),
        _ => "month".to_string(),
    }
}

fn not_a_ledger(path: &Path, what: &str, error: rusqlite::Error) -> Error {
    Error::NotALedger(FileError::new(path, what, Some(Box::new(error))))
}

/// Refuses a versioned database that is not ours.
fn check_application(conn: &Connection, path: &Path) -> Result<()> {
    let application: Option<String> = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'application'",
            [],
            |row| row.get(0),
        )
        .optional()
        .unwrap_or(None);
    if application.as_deref() == Some(APPLICATION) {
        Ok(())
    } else {
        Err(Error::NotALedger(FileError::new(
            path,
            "an SQLite database of another application",
            None,
        )))
    }
}

/// Brings the file to this crate's version, in one transaction that holds SQLite's
/// write lock from its start (so that two processes creating one file do not both run
/// a migration), and returns the ledger's window size, fixing it (to `window`, else
/// months) when none is stored yet.
fn migrate(
    conn: &Connection,
    path: &Path,
    window: Option<WindowSize>,
    create: bool,
) -> Result<WindowSize> {
    let run = || -> Result<WindowSize> {
        let tx =
            rusqlite::Transaction::new_unchecked(conn, rusqlite::TransactionBehavior::Immediate)
                .map_err(|e| storage(path, e))?;
        // Read again under the lock: another process may have migrated meanwhile.
        let from = user_version(&tx).map_err(|e| storage(path, e))?;
        check(&tx, path, from, create)?;
        for (index, script) in MIGRATIONS.iter().enumerate().skip(from.max(0) as usize) {
            tx.execute_batch(script).map_err(|e| storage(path, e))?;
            if index == 0 {
                tx.execute(
                    "INSERT INTO meta (key, value) VALUES ('application', ?1)",
                    params![APPLICATION],
                )
                .map_err(|e| storage(path, e))?;
            }
            if from > 0 {
                tracing::info!(path = %path.display(), from = index, to = index + 1, "ledger schema migrated");
            }
        }
        if from < VERSION {
            tx.pragma_update(None, "user_version", VERSION)
                .map_err(|e| storage(path, e))?;
        }
        let stored = tx
            .query_row("SELECT value FROM meta WHERE key = 'window'", [], |row| {
                row.get::<_, String>(0)
            })
            .optional()
            .map_err(|e| storage(path, e))?;
        let size = match stored {
            Some(text) => text.parse::<WindowSize>().map_err(|_| {
                Error::NotALedger(FileError::new(
                    path,
                    format!(
                        "its window size \"{}\" is unknown",
                        ec_billing::escape(&text)
                    ),
                    None,
                ))
            })?,
            None => {
                let size = window.unwrap_or(WindowSize::Month);
                tx.execute(
                    "INSERT INTO meta (key, value) VALUES ('window', ?1)",
                    params![window_text(size)],
                )
                .map_err(|e| storage(path, e))?;
                size
            }
        };
        tx.commit().map_err(|e| storage(path, e))?;
        Ok(size)
    };
    run()
}

/// Held by a sync for its whole run: a second sync of the same file waits for it, a
/// bounded time. An OS lock on a file beside the ledger (`<ledger>.lock`), so that a
/// sync killed at any moment leaves no lock behind.
#[derive(Debug)]
pub(crate) struct SyncLock {
    _file: File,
}

impl SyncLock {
    /// Takes the lock, waiting at most `wait` for another sync to let go of it.
    pub(crate) async fn take(ledger: &Path, wait: Duration) -> Result<Self> {
        let path = lock_path(ledger);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| {
                Error::Storage(FileError::new(
                    &path,
                    "cannot open the lock file",
                    Some(Box::new(e)),
                ))
            })?;
        let started = Instant::now();
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(Self { _file: file }),
                Err(TryLockError::WouldBlock) if started.elapsed() < wait => {
                    tokio::time::sleep(Duration::from_millis(50).min(wait)).await;
                }
                Err(TryLockError::WouldBlock) => {
                    return Err(Error::Busy {
                        path: ledger.to_path_buf(),
                        waited: started.elapsed(),
                    });
                }
                Err(TryLockError::Error(e)) => {
                    return Err(Error::Storage(FileError::new(
                        &path,
                        "cannot lock the lock file",
                        Some(Box::new(e)),
                    )));
                }
            }
        }
    }
}

/// The lock file of the ledger at `path`.
fn lock_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}
