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
pub(crate) const MIGRATIONS: [&str; 3] = [
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
    // 3: repairs (a window whose lines no longer matched its record, fetched again and
    // replaced: not revisions).
    "
    CREATE TABLE repairs (
        id           INTEGER PRIMARY KEY,
        organization TEXT    NOT NULL,
        deployment   TEXT    NOT NULL,
        window_start INTEGER NOT NULL,
        window_end   INTEGER NOT NULL,
        seen_at      TEXT    NOT NULL
    );
    ",
];

/// The schema version this crate writes.
pub(crate) const VERSION: i64 = MIGRATIONS.len() as i64;

/// How long a write waits for a reader (an export) to let go of the database.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How a ledger is opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Access {
    /// To read and write; a new ledger, with windows of this size (or months), when
    /// there is no file.
    Create(Option<WindowSize>),
    /// To read and write a ledger that must exist.
    Existing,
    /// To read only: nothing in the file or beside it is written.
    ReadOnly,
}

/// A ledger's file, opened.
#[derive(Debug)]
pub(crate) struct Opened {
    pub(crate) conn: Connection,
    pub(crate) window: WindowSize,
    /// The file opened: absolute, symbolic links resolved (its lock is beside it).
    pub(crate) file: PathBuf,
    /// A read-only ledger's hold on the lock file (shared): no sync starts while it is
    /// held.
    pub(crate) read_lock: Option<File>,
}

/// The file `path` names, taken literally (never as an SQLite URI or SQLite's
/// `:memory:`): absolute, with symbolic links resolved; and whether it exists. Refused
/// before anything is created: an empty path, `:memory:`, a path that is not a regular
/// file (a device such as `/dev/null`, a pipe, a folder), a folder that does not exist.
pub(crate) fn resolve(path: &Path) -> Result<(PathBuf, bool)> {
    let shown = || {
        ec_billing::escape(&path.display().to_string())
            .truncate(200)
            .to_string()
    };
    if path.as_os_str().is_empty() {
        return Err(Error::InvalidInput(
            "the ledger's path is empty: give a file path".to_string(),
        ));
    }
    if path.as_os_str() == ":memory:" {
        return Err(Error::InvalidInput(
            "\":memory:\" would keep the ledger nowhere: give a file path".to_string(),
        ));
    }
    let absolute = std::path::absolute(path).map_err(|e| {
        Error::Storage(FileError::new(
            path,
            "cannot find the file",
            Some(Box::new(e)),
        ))
    })?;
    match std::fs::metadata(&absolute) {
        Ok(meta) if meta.is_file() => std::fs::canonicalize(&absolute)
            .map(|file| (file, true))
            .map_err(|e| {
                Error::Storage(FileError::new(
                    path,
                    "cannot find the file",
                    Some(Box::new(e)),
                ))
            }),
        Ok(meta) => Err(Error::InvalidInput(format!(
            "{} is {}, not a file: a ledger is a regular file",
            shown(),
            if meta.is_dir() {
                "a folder"
            } else {
                "a device, a pipe or a socket"
            }
        ))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let (Some(parent), Some(name)) = (absolute.parent(), absolute.file_name()) else {
                return Err(Error::InvalidInput(format!(
                    "{} names no file: a ledger is a regular file",
                    shown()
                )));
            };
            let folder = std::fs::canonicalize(parent).map_err(|e| {
                Error::Storage(FileError::new(
                    path,
                    "its folder cannot be found",
                    Some(Box::new(e)),
                ))
            })?;
            Ok((folder.join(name), false))
        }
        Err(e) => Err(Error::Storage(FileError::new(
            path,
            "cannot read the file's metadata",
            Some(Box::new(e)),
        ))),
    }
}

/// Opens `path` as a ledger with `access`: an existing one (migrated from an older
/// version, unless read-only), or a new one. See [`resolve`] for what is refused before
/// anything is created.
pub(crate) fn open(path: &Path, access: Access) -> Result<Opened> {
    let (file, exists) = resolve(path)?;
    if !exists && !matches!(access, Access::Create(_)) {
        return Err(Error::Storage(FileError::new(
            path,
            "no such ledger (a sync creates it)",
            None,
        )));
    }
    if access == Access::ReadOnly {
        return open_read_only(path, file);
    }
    let window = match access {
        Access::Create(window) => window,
        Access::Existing | Access::ReadOnly => None,
    };
    let create = matches!(access, Access::Create(_));
    let flags = if exists {
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let conn = Connection::open_with_flags(&file, flags).map_err(|e| open_error(path, e))?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(|e| storage(path, e))?;
    // A file that is not SQLite fails on its first read. The version and the tables are
    // read in one snapshot: another process may be creating the ledger meanwhile.
    {
        let snapshot = conn
            .unchecked_transaction()
            .map_err(|e| open_error(path, e))?;
        let version = user_version(&snapshot).map_err(|e| open_error(path, e))?;
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
            Err(e) => return Err(open_error(path, e)),
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
        _ => Ok(Opened {
            conn,
            window: size,
            file,
            read_lock: None,
        }),
    }
}

/// Opens an existing ledger to read it, writing nothing in its folder: no `-wal` or
/// `-shm` file of this user's is left to lock the owner out, and a ledger in a
/// read-only folder can be read. At rest (no sync running: its lock is free, and it is
/// held shared for as long as the ledger is open; no write-ahead log waiting) the file
/// is read as immutable; while a sync writes, through SQLite's read-only mode beside it.
fn open_read_only(path: &Path, file: PathBuf) -> Result<Opened> {
    let lock = SharedLock::try_take(&lock_path(&file))?;
    let wal_empty = {
        let mut wal = file.as_os_str().to_owned();
        wal.push("-wal");
        match std::fs::metadata(PathBuf::from(wal)) {
            Ok(meta) => meta.len() == 0,
            Err(e) => e.kind() == std::io::ErrorKind::NotFound,
        }
    };
    let (read_lock, immutable) = match lock {
        SharedLock::Held(lock) => (Some(lock), wal_empty),
        SharedLock::NoLockFile => (None, wal_empty),
        SharedLock::Busy => (None, false),
    };
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = if immutable {
        Connection::open_with_flags(immutable_uri(&file), flags | OpenFlags::SQLITE_OPEN_URI)
    } else {
        Connection::open_with_flags(&file, flags)
    }
    .map_err(|e| open_error(path, e))?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(|e| storage(path, e))?;
    let window = {
        let snapshot = conn
            .unchecked_transaction()
            .map_err(|e| open_error(path, e))?;
        let version = user_version(&snapshot).map_err(|e| open_error(path, e))?;
        check(&snapshot, path, version, false)?;
        stored_window(&snapshot, path)?.ok_or_else(|| {
            Error::NotALedger(FileError::new(path, "it keeps no window size", None))
        })?
    };
    Ok(Opened {
        conn,
        window,
        file,
        read_lock,
    })
}

/// An SQLite URI that opens `file` as immutable: no lock, no `-wal` or `-shm` file.
fn immutable_uri(file: &Path) -> String {
    let mut uri = String::from("file:");
    for &byte in file.as_os_str().as_encoded_bytes() {
        if byte.is_ascii_alphanumeric() || b"/._~-".contains(&byte) {
            uri.push(char::from(byte));
        } else {
            uri.push_str(&format!("%{byte:02X}"));
        }
    }
    uri.push_str("?immutable=1");
    uri
}

/// An SQLite error met while opening `path`: a file that is not SQLite is not a ledger;
/// anything else (no permission, a read-only folder, a disk error) is named as it is.
fn open_error(path: &Path, error: rusqlite::Error) -> Error {
    match error.sqlite_error_code() {
        Some(rusqlite::ErrorCode::NotADatabase) => {
            not_a_ledger(path, "not an SQLite database", error)
        }
        _ => Error::Storage(FileError::new(
            path,
            format!("cannot open it ({error})"),
            Some(Box::new(error)),
        )),
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

/// The text a window size is stored as: `month` or `day`, the only sizes a ledger
/// keeps (see [`stored_window`]).
pub(crate) fn window_text(size: WindowSize) -> &'static str {
    match size {
        WindowSize::Day => "day",
        _ => "month",
    }
}

/// The window size a ledger's file keeps, read as strictly as it is written: `month`
/// or `day`, nothing else (an edited `7d` would make windows overlap); `None` when the
/// file keeps none yet.
fn stored_window(conn: &Connection, path: &Path) -> Result<Option<WindowSize>> {
    let stored = conn
        .query_row("SELECT value FROM meta WHERE key = 'window'", [], |row| {
            row.get::<_, String>(0)
        })
        .optional()
        .map_err(|e| storage(path, e))?;
    match stored.as_deref() {
        None => Ok(None),
        Some("month") => Ok(Some(WindowSize::Month)),
        Some("day") => Ok(Some(WindowSize::Day)),
        Some(other) => Err(Error::NotALedger(FileError::new(
            path,
            format!(
                "its window size \"{}\" is not one a ledger keeps (month or day)",
                ec_billing::escape(other).truncate(48)
            ),
            None,
        ))),
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
        let size = match stored_window(&tx, path)? {
            Some(size) => size,
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
    /// Takes the lock beside `file` (the ledger's, resolved), waiting at most `wait` for
    /// another sync (or an export) to let go of it.
    pub(crate) async fn take(file: &Path, shown: &Path, wait: Duration) -> Result<Self> {
        let path = lock_path(file);
        let lock = open_lock_file(&path, true)?;
        let started = Instant::now();
        loop {
            match lock.try_lock() {
                Ok(()) => return Ok(Self { _file: lock }),
                Err(TryLockError::WouldBlock) if started.elapsed() < wait => {
                    tokio::time::sleep(Duration::from_millis(50).min(wait)).await;
                }
                Err(TryLockError::WouldBlock) => {
                    return Err(Error::Busy {
                        path: shown.to_path_buf(),
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

/// A read-only ledger's try at the lock, shared.
enum SharedLock {
    /// Held: no sync starts until it is let go.
    Held(File),
    /// No sync ever ran beside this file (there is no lock file).
    NoLockFile,
    /// A sync holds it (or it cannot be opened to say).
    Busy,
}

impl SharedLock {
    fn try_take(path: &Path) -> Result<Self> {
        let file = match open_lock_file(path, false) {
            Ok(file) => file,
            Err(Error::Storage(e)) if e.not_found() => return Ok(Self::NoLockFile),
            Err(Error::Storage(_)) => return Ok(Self::Busy),
            Err(other) => return Err(other),
        };
        Ok(match file.try_lock_shared() {
            Ok(()) => Self::Held(file),
            Err(_) => Self::Busy,
        })
    }
}

/// Opens a lock file without ever blocking (a pipe put in its place would block an
/// ordinary open for ever), and refuses anything but a regular file. `write`: to take
/// it exclusive, creating it when there is none.
fn open_lock_file(path: &Path, write: bool) -> Result<File> {
    let not_regular = || {
        Error::InvalidInput(format!(
            "{} is not a regular file: the ledger's lock must be one (remove what is there)",
            ec_billing::escape(&path.display().to_string()).truncate(200)
        ))
    };
    if std::fs::metadata(path).is_ok_and(|meta| !meta.is_file()) {
        return Err(not_regular());
    }
    let mut options = OpenOptions::new();
    if write {
        options.create(true).truncate(false).write(true);
    } else {
        options.read(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options.open(path).map_err(|e| {
        Error::Storage(FileError::new(
            path,
            "cannot open the lock file",
            Some(Box::new(e)),
        ))
    })?;
    // Checked again on what was opened: the path may have changed meanwhile.
    let regular = file.metadata().map(|m| m.is_file()).unwrap_or(false);
    if !regular {
        return Err(not_regular());
    }
    Ok(file)
}

/// The lock file of the ledger at `path`.
fn lock_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}
