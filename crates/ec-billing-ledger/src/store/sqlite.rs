//! The SQLite store: one file, opened by one thread that owns the connection (rusqlite
//! calls never run on an async worker; jobs come through a bounded channel), its schema
//! and versions, how a file is recognized as a ledger (or refused), and the lock that
//! keeps two syncs apart. The only module that names rusqlite.

use std::{
    fmt,
    fs::{File, OpenOptions, TryLockError},
    path::{Path, PathBuf},
    thread::JoinHandle,
    time::{Duration, Instant},
};

use ec_billing::{Decimal, WindowSize};
use jiff::Timestamp;
use rusqlite::{
    Connection, OpenFlags, OptionalExtension, Row, Transaction, params, params_from_iter,
    types::Value,
};
use tokio::sync::{mpsc, oneshot};

use super::{
    Access, JournalEnd, StoredLines, StoredWindow, WindowGroups, WindowUpdate, WindowWrite,
    parse_window, window_text,
};
use crate::{
    error::{Error, FileError, Result},
    query::{Change, Query, Revision},
    record::{AnswerLine, LineKey, LineType, Tally},
};

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
    CREATE TABLE IF NOT EXISTS repairs (
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

/// How many jobs may wait for the connection's thread.
const QUEUE: usize = 16;

/// A piece of work for the connection's thread.
type Job = Box<dyn FnOnce(&mut Connection) + Send>;

/// A ledger in one SQLite file.
pub(crate) struct SqliteStore {
    /// The path as given (what messages name).
    shown: PathBuf,
    /// The file opened: absolute, links resolved.
    file: PathBuf,
    window: WindowSize,
    read_only: bool,
    jobs: Option<mpsc::Sender<Job>>,
    thread: Option<JoinHandle<()>>,
    /// A read-only store's shared hold on the sync lock.
    _read_lock: Option<File>,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("file", &self.file)
            .field("window", &self.window)
            .field("read_only", &self.read_only)
            .finish_non_exhaustive()
    }
}

impl Drop for SqliteStore {
    /// Lets the connection's thread finish its queue and close the file, so that the
    /// file is whole (and its `-wal` folded in) once the store is gone.
    fn drop(&mut self) {
        drop(self.jobs.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// How the connection is opened.
#[derive(Clone, Copy, Debug)]
enum Mode {
    ReadWrite { create: bool },
    ReadOnly { immutable: bool },
}

impl SqliteStore {
    /// Opens the ledger at `path` with `access` (see [`resolve`] for what is refused
    /// before anything is created).
    pub(crate) async fn open(path: &Path, access: Access) -> Result<Self> {
        let (file, exists) = resolve(path)?;
        if !exists && !access.creates() {
            return Err(Error::Storage(FileError::new(
                path,
                "no such ledger (a sync creates it)",
                None,
            )));
        }
        let (mode, read_lock) = match access {
            Access::ReadOnly => read_only_mode(&file)?,
            Access::Create(_) | Access::Existing => (Mode::ReadWrite { create: !exists }, None),
        };
        let (jobs, mut queue) = mpsc::channel::<Job>(QUEUE);
        let (ready, opened) = oneshot::channel::<Result<()>>();
        let (shown, target) = (path.to_path_buf(), file.clone());
        let thread = std::thread::Builder::new()
            .name("ec-billing-ledger-sqlite".to_string())
            .spawn(move || {
                let mut conn = match connect(&target, &shown, mode) {
                    Ok(conn) => {
                        let _ = ready.send(Ok(()));
                        conn
                    }
                    Err(e) => {
                        let _ = ready.send(Err(e));
                        return;
                    }
                };
                while let Some(job) = queue.blocking_recv() {
                    job(&mut conn);
                }
            })
            .map_err(|e| {
                Error::Storage(FileError::new(
                    path,
                    "cannot start the database's thread",
                    Some(Box::new(e)),
                ))
            })?;
        let mut store = Self {
            shown: path.to_path_buf(),
            file,
            window: WindowSize::Month,
            read_only: matches!(mode, Mode::ReadOnly { .. }),
            jobs: Some(jobs),
            thread: Some(thread),
            _read_lock: read_lock,
        };
        opened.await.map_err(|_| store.gone())??;
        store.window = match mode {
            Mode::ReadOnly { .. } => store.recognize(false).await?,
            Mode::ReadWrite { .. } => {
                store.recognize(access.creates()).await?;
                store.use_wal().await?;
                store.migrate(access.window(), access.creates()).await?
            }
        };
        Ok(store)
    }

    pub(crate) fn window_size(&self) -> WindowSize {
        self.window
    }

    pub(crate) fn read_only(&self) -> bool {
        self.read_only
    }

    /// The error of a connection whose thread is gone.
    fn gone(&self) -> Error {
        Error::Storage(FileError::new(
            &self.shown,
            "the database's thread stopped",
            None,
        ))
    }

    /// Queues `job` for the connection's thread; its result comes through the receiver.
    async fn submit<R: Send + 'static>(
        &self,
        job: impl FnOnce(&mut Connection, &Path) -> Result<R> + Send + 'static,
    ) -> Result<oneshot::Receiver<Result<R>>> {
        let (reply, result) = oneshot::channel();
        let shown = self.shown.clone();
        let job: Job = Box::new(move |conn| {
            let _ = reply.send(job(conn, &shown));
        });
        let Some(jobs) = &self.jobs else {
            return Err(self.gone());
        };
        jobs.send(job).await.map_err(|_| self.gone())?;
        Ok(result)
    }

    /// Runs `job` on the connection's thread and waits for it, without blocking the
    /// caller's thread.
    async fn call<R: Send + 'static>(
        &self,
        job: impl FnOnce(&mut Connection, &Path) -> Result<R> + Send + 'static,
    ) -> Result<R> {
        self.submit(job).await?.await.map_err(|_| self.gone())?
    }

    /// Refuses a file that is not a ledger of a version this crate reads (the version
    /// and the tables read in one snapshot: another process may be creating the ledger
    /// meanwhile); a read-only store also reads its window size here.
    async fn recognize(&self, create: bool) -> Result<WindowSize> {
        let read_only = self.read_only;
        self.call(move |conn, path| {
            let snapshot = conn
                .unchecked_transaction()
                .map_err(|e| open_error(path, e))?;
            let version = user_version(&snapshot).map_err(|e| open_error(path, e))?;
            check(&snapshot, path, version, create)?;
            if !read_only {
                return Ok(WindowSize::Month);
            }
            stored_window(&snapshot, path)?.ok_or_else(|| {
                Error::NotALedger(FileError::new(path, "it keeps no window size", None))
            })
        })
        .await
    }

    /// Switches to WAL. That takes the file whole for a moment, and SQLite does not wait
    /// for it on its own when another process is opening the same file: waited for here,
    /// bounded, without blocking a thread.
    async fn use_wal(&self) -> Result<()> {
        let started = Instant::now();
        loop {
            let busy = self
                .call(
                    |conn, path| match conn.pragma_update(None, "journal_mode", "WAL") {
                        Ok(()) => Ok(false),
                        Err(e)
                            if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy) =>
                        {
                            Ok(true)
                        }
                        Err(e) => Err(open_error(path, e)),
                    },
                )
                .await?;
            if !busy {
                break;
            }
            if started.elapsed() >= BUSY_TIMEOUT {
                return Err(Error::Storage(FileError::new(
                    &self.shown,
                    "another process held the file too long while it was being opened",
                    None,
                )));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.call(|conn, path| {
            conn.pragma_update(None, "synchronous", "NORMAL")
                .map_err(|e| storage(path, e))?;
            // A window of many lines is one transaction: 64 MiB of page cache keeps its
            // pages in memory instead of reading back what was just spilled.
            conn.pragma_update(None, "cache_size", -64 * 1024)
                .map_err(|e| storage(path, e))
        })
        .await
    }

    /// Brings the file to this crate's version (see [`migrate`]).
    async fn migrate(&self, window: Option<WindowSize>, create: bool) -> Result<WindowSize> {
        self.call(move |conn, path| migrate(conn, path, window, create))
            .await
    }

    /// Takes the file's sync lock, waiting at most `wait`. It is let go through the
    /// connection's queue, after every write queued before it (a sync that returns
    /// early, or is cancelled, leaves writes queued).
    pub(crate) async fn lock(&self, wait: Duration) -> Result<QueuedLock> {
        let lock = FileLock::take(&self.file, &self.shown, wait).await?;
        Ok(QueuedLock {
            lock: Some(lock),
            jobs: self.jobs.clone(),
        })
    }

    pub(crate) async fn windows(&self, scope: &Query) -> Result<Vec<StoredWindow>> {
        let scope = scope.clone();
        self.call(move |conn, path| {
            let (condition, values) = condition(&scope, "w", true);
            let sql = format!(
                "SELECT {WINDOW_COLUMNS} FROM windows w WHERE {condition}
                 ORDER BY w.organization, w.deployment, w.window_start"
            );
            let mut statement = conn.prepare(&sql).map_err(|e| storage(path, e))?;
            let rows = statement
                .query_map(params_from_iter(values), stored_window_row)
                .map_err(|e| storage(path, e))?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
                .map_err(|e| corrupt(path, e))
        })
        .await
    }

    pub(crate) async fn window(
        &self,
        organization: &str,
        deployment: &str,
        start: Timestamp,
    ) -> Result<Option<StoredLines>> {
        let (organization, deployment) = (organization.to_string(), deployment.to_string());
        self.call(move |conn, path| {
            let window = conn
                .prepare_cached(&format!(
                    "SELECT {WINDOW_COLUMNS} FROM windows w
                     WHERE w.organization = ?1 AND w.deployment = ?2 AND w.window_start = ?3"
                ))
                .map_err(|e| storage(path, e))?
                .query_row(
                    params![organization, deployment, start.as_second()],
                    tolerant_window_row,
                )
                .optional();
            let window = match window {
                Ok(Some(window)) => window,
                Ok(None) => return Ok(None),
                Err(e) => return Err(corrupt(path, e)),
            };
            let mut statement = conn
                .prepare_cached(&format!(
                    "SELECT {LINE_COLUMNS} FROM lines l
                     WHERE l.organization = ?1 AND l.deployment = ?2 AND l.window_start = ?3"
                ))
                .map_err(|e| storage(path, e))?;
            let mut rows = statement
                .query(params![organization, deployment, start.as_second()])
                .map_err(|e| storage(path, e))?;
            let mut lines = Vec::new();
            let mut unreadable = false;
            while let Some(row) = rows.next().map_err(|e| storage(path, e))? {
                match answer_line(row, 0) {
                    Ok(line) => lines.push(line),
                    Err(_) => unreadable = true,
                }
            }
            Ok(Some(StoredLines {
                window,
                lines,
                unreadable,
            }))
        })
        .await
    }

    pub(crate) async fn scan(
        &self,
        scope: &Query,
        passes: u8,
        mut each: impl FnMut(u8, StoredWindow, Vec<AnswerLine>) -> Result<()>,
    ) -> Result<()> {
        let scope = scope.clone();
        // One window waits while another is read: memory holds two windows at most.
        let (items, mut received) = mpsc::channel::<Result<(u8, StoredWindow, Vec<AnswerLine>)>>(1);
        let done = self
            .submit(move |conn, path| {
                // One snapshot for every pass.
                let snapshot = conn.unchecked_transaction().map_err(|e| storage(path, e))?;
                for pass in 0..passes {
                    let sent = scan_once(&snapshot, path, &scope, |window, lines| {
                        items.blocking_send(Ok((pass, window, lines))).is_ok()
                    });
                    match sent {
                        Ok(true) => {}
                        // The reader stopped: nothing more to send.
                        Ok(false) => return Ok(()),
                        Err(e) => {
                            let _ = items.blocking_send(Err(e));
                            return Ok(());
                        }
                    }
                }
                Ok(())
            })
            .await?;
        while let Some(item) = received.recv().await {
            let (pass, window, lines) = item?;
            each(pass, window, lines)?;
        }
        done.await.map_err(|_| self.gone())?
    }

    pub(crate) async fn write(&self, update: WindowUpdate) -> Result<()> {
        if matches!(update, WindowUpdate::Nothing) {
            return Ok(());
        }
        self.call(move |conn, path| {
            let tx = conn.transaction().map_err(|e| storage(path, e))?;
            match update {
                WindowUpdate::Nothing => {}
                WindowUpdate::Settle {
                    organization,
                    deployment,
                    start,
                    final_,
                    now,
                } => {
                    tx.prepare_cached(
                        "UPDATE windows SET final = ?4, fetched_at = ?5
                         WHERE organization = ?1 AND deployment = ?2 AND window_start = ?3",
                    )
                    .and_then(|mut s| {
                        s.execute(params![
                            organization,
                            deployment,
                            start.as_second(),
                            final_,
                            now.to_string()
                        ])
                    })
                    .map_err(|e| storage(path, e))?;
                }
                WindowUpdate::Write(write) => {
                    write_window(&tx, &write).map_err(|e| storage(path, e))?;
                }
            }
            tx.commit().map_err(|e| storage(path, e))
        })
        .await
    }

    pub(crate) async fn journal_start(&self, organization: &str, now: Timestamp) -> Result<i64> {
        let organization = organization.to_string();
        self.call(move |conn, path| {
            conn.execute(
                "INSERT INTO syncs (organization, started_at) VALUES (?1, ?2)",
                params![organization, now.to_string()],
            )
            .map_err(|e| storage(path, e))?;
            Ok(conn.last_insert_rowid())
        })
        .await
    }

    pub(crate) async fn journal_end(&self, end: JournalEnd) -> Result<()> {
        self.call(move |conn, path| {
            conn.execute(
                "UPDATE syncs SET finished_at = ?2, fetched = ?3, revised = ?4, failed = ?5
                 WHERE id = ?1",
                params![
                    end.id,
                    end.now.to_string(),
                    i64::try_from(end.fetched).unwrap_or(i64::MAX),
                    i64::try_from(end.revised).unwrap_or(i64::MAX),
                    i64::try_from(end.failed).unwrap_or(i64::MAX),
                ],
            )
            .map_err(|e| storage(path, e))?;
            Ok(())
        })
        .await
    }

    pub(crate) async fn revisions(&self, scope: &Query) -> Result<Vec<Revision>> {
        let scope = scope.clone();
        self.call(move |conn, path| {
            let (condition, values) = condition(&scope, "r", true);
            let sql = format!(
                "SELECT r.organization, r.deployment, r.window_start, r.window_end, r.seen_at,
                        r.change, r.line_type, r.kind, r.sku, r.name, r.period_start,
                        r.period_end, r.ordinal, r.old_cost, r.new_cost
                 FROM revisions r WHERE {condition} ORDER BY r.id"
            );
            let mut statement = conn.prepare(&sql).map_err(|e| storage(path, e))?;
            let rows = statement
                .query_map(params_from_iter(values), |row| {
                    let text: String = row.get(5)?;
                    let change = match text.as_str() {
                        "added" => Change::Added,
                        "removed" => Change::Removed,
                        "changed" => Change::Changed,
                        _ => return Err(invalid(5, &text)),
                    };
                    Ok(Revision {
                        organization: row.get(0)?,
                        deployment: row.get(1)?,
                        window: (instant(row, 2)?, instant(row, 3)?),
                        seen_at: timestamp(row, 4)?,
                        change,
                        key: key(row, 6)?,
                        old_cost: optional_money(row, 13)?,
                        new_cost: optional_money(row, 14)?,
                    })
                })
                .map_err(|e| storage(path, e))?;
            rows.collect::<rusqlite::Result<_>>()
                .map_err(|e| corrupt(path, e))
        })
        .await
    }

    pub(crate) async fn orphans(&self, scope: &Query) -> Result<Vec<(String, String, Timestamp)>> {
        let scope = scope.clone();
        self.call(move |conn, path| {
            let (condition, values) = condition(&scope, "w", false);
            let sql = format!(
                "SELECT DISTINCT w.organization, w.deployment, w.window_start FROM lines w
                 WHERE {condition} AND NOT EXISTS (
                     SELECT 1 FROM windows x WHERE x.organization = w.organization
                       AND x.deployment = w.deployment AND x.window_start = w.window_start)
                 LIMIT 100"
            );
            let mut statement = conn.prepare(&sql).map_err(|e| storage(path, e))?;
            let rows = statement
                .query_map(params_from_iter(values), |row| {
                    Ok((row.get(0)?, row.get(1)?, instant(row, 2)?))
                })
                .map_err(|e| storage(path, e))?;
            rows.collect::<rusqlite::Result<_>>()
                .map_err(|e| corrupt(path, e))
        })
        .await
    }
}

/// The sync lock of a store, let go after the writes queued before it.
#[derive(Debug)]
pub(crate) struct QueuedLock {
    lock: Option<FileLock>,
    jobs: Option<mpsc::Sender<Job>>,
}

impl Drop for QueuedLock {
    fn drop(&mut self) {
        let (Some(lock), Some(jobs)) = (self.lock.take(), self.jobs.take()) else {
            return;
        };
        let release: Job = Box::new(move |_| drop(lock));
        // Queued behind the writes already sent; from a thread of its own, since this
        // may be dropped on an async worker and the queue may be full.
        let _ = std::thread::Builder::new()
            .name("ec-billing-ledger-unlock".to_string())
            .spawn(move || {
                let _ = jobs.blocking_send(release);
            });
    }
}

/// A read-only store's mode, and its shared hold on the sync lock. At rest (no sync
/// running: its lock is free, and it is held shared for as long as the store is open;
/// no write-ahead log waiting) the file is read as immutable: nothing is written in its
/// folder, so no `-wal` or `-shm` of this user's is left to lock the owner out, and a
/// ledger in a read-only folder can be read. While a sync writes, through SQLite's
/// read-only mode beside it.
fn read_only_mode(file: &Path) -> Result<(Mode, Option<File>)> {
    let lock = SharedLock::try_take(&lock_path(file))?;
    let wal_empty = {
        let mut wal = file.as_os_str().to_owned();
        wal.push("-wal");
        match std::fs::metadata(PathBuf::from(wal)) {
            Ok(meta) => meta.len() == 0,
            Err(e) => e.kind() == std::io::ErrorKind::NotFound,
        }
    };
    if !wal_empty {
        let mut shm = file.as_os_str().to_owned();
        shm.push("-shm");
        if !PathBuf::from(shm).exists() {
            return Err(Error::Storage(FileError::new(
                file,
                "it has a write-ahead log without its index (-shm): reading it would create \
                 one beside it; a sync (or any write) folds the log in",
                None,
            )));
        }
    }
    Ok(match lock {
        SharedLock::Held(lock) => (
            Mode::ReadOnly {
                immutable: wal_empty,
            },
            Some(lock),
        ),
        // No sync ever ran beside it here, but one may start now: SQLite's own locks.
        SharedLock::NoLockFile => (Mode::ReadOnly { immutable: false }, None),
        SharedLock::Busy => (Mode::ReadOnly { immutable: false }, None),
    })
}

/// Opens the connection (on the store's thread).
fn connect(file: &Path, shown: &Path, mode: Mode) -> Result<Connection> {
    let conn = match mode {
        Mode::ReadWrite { create } => {
            let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
            if create {
                flags |= OpenFlags::SQLITE_OPEN_CREATE;
            }
            Connection::open_with_flags(file, flags)
        }
        Mode::ReadOnly { immutable: true } => Connection::open_with_flags(
            immutable_uri(file),
            OpenFlags::SQLITE_OPEN_READ_ONLY
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
                | OpenFlags::SQLITE_OPEN_URI,
        ),
        Mode::ReadOnly { immutable: false } => Connection::open_with_flags(
            file,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        ),
    }
    .map_err(|e| open_error(shown, e))?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(|e| storage(shown, e))?;
    Ok(conn)
}

/// The columns of a window's record, as [`stored_window_row`] reads them.
const WINDOW_COLUMNS: &str = "w.organization, w.deployment, w.window_start, w.window_end,
    w.first_fetched_at, w.fetched_at, w.final, w.lines, w.total, w.digest";

/// The columns of a line, as [`answer_line`] reads them.
const LINE_COLUMNS: &str = "l.line_type, l.kind, l.sku, l.name, l.period_start, l.period_end,
    l.ordinal, l.hours, l.instance_count, l.price_per_hour, l.quantity, l.quantity_formatted,
    l.rate, l.rate_formatted, l.cost";

/// A window's record from [`WINDOW_COLUMNS`].
fn stored_window_row(row: &Row<'_>) -> rusqlite::Result<StoredWindow> {
    Ok(StoredWindow {
        organization: row.get(0)?,
        deployment: row.get(1)?,
        start: instant(row, 2)?,
        end: instant(row, 3)?,
        first_fetched_at: timestamp(row, 4)?,
        fetched_at: timestamp(row, 5)?,
        final_: row.get(6)?,
        lines: row.get(7)?,
        total: row.get(8)?,
        digest: row.get(9)?,
        unreadable: false,
    })
}

/// A window's record from [`WINDOW_COLUMNS`], or, when a value of it is not what the
/// ledger writes but its organization, deployment and start are, a record marked
/// unreadable (so that the window is named, and repaired, rather than the whole read
/// failing).
fn tolerant_window_row(row: &Row<'_>) -> rusqlite::Result<StoredWindow> {
    stored_window_row(row).or_else(|_| {
        Ok(StoredWindow::unreadable(
            row.get(0)?,
            row.get(1)?,
            instant(row, 2)?,
        ))
    })
}

/// The condition on `organization`, `deployment` (and `window_start`, for the range,
/// when `by_window`) of the table aliased `table`, and its parameters.
fn condition(scope: &Query, table: &str, by_window: bool) -> (String, Vec<Value>) {
    let mut clauses = vec!["1 = 1".to_string()];
    let mut values: Vec<Value> = Vec::new();
    if let Some(organization) = scope.organization_id() {
        values.push(Value::Text(organization.to_string()));
        clauses.push(format!("{table}.organization = ?{}", values.len()));
    }
    if !scope.deployment_ids().is_empty() {
        let mut marks = Vec::new();
        for deployment in scope.deployment_ids() {
            values.push(Value::Text(deployment.clone()));
            marks.push(format!("?{}", values.len()));
        }
        clauses.push(format!("{table}.deployment IN ({})", marks.join(", ")));
    }
    if by_window {
        let (from, to) = scope.range();
        if let Some(from) = from {
            values.push(Value::Integer(from.as_second()));
            clauses.push(format!("{table}.window_start >= ?{}", values.len()));
        }
        if let Some(to) = to {
            values.push(Value::Integer(to.as_second()));
            clauses.push(format!("{table}.window_start < ?{}", values.len()));
        }
    }
    (clauses.join(" AND "), values)
}

/// One pass over the windows of `scope` with their lines, a window at a time, in order;
/// `each` says whether to go on.
fn scan_once(
    conn: &Connection,
    path: &Path,
    scope: &Query,
    mut each: impl FnMut(StoredWindow, Vec<AnswerLine>) -> bool,
) -> Result<bool> {
    let (condition, values) = condition(scope, "w", false);
    let sql = format!(
        "SELECT {WINDOW_COLUMNS}, {LINE_COLUMNS}
         FROM windows w LEFT JOIN lines l
           ON l.organization = w.organization AND l.deployment = w.deployment
          AND l.window_start = w.window_start
         WHERE {condition}
         ORDER BY w.organization, w.deployment, w.window_start"
    );
    let mut statement = conn.prepare(&sql).map_err(|e| storage(path, e))?;
    let mut rows = statement
        .query(params_from_iter(values))
        .map_err(|e| storage(path, e))?;
    let mut groups = WindowGroups::default();
    while let Some(row) = rows.next().map_err(|e| storage(path, e))? {
        let window = tolerant_window_row(row).map_err(|e| corrupt(path, e))?;
        // A window of no lines has one row, of nulls.
        let line = match row
            .get_ref(WINDOW_WIDTH)
            .map_err(|e| storage(path, e))?
            .data_type()
        {
            rusqlite::types::Type::Null => None,
            _ => Some(answer_line(row, WINDOW_WIDTH).ok()),
        };
        if let Some((done, lines)) = groups.row(window, line)
            && !each(done, lines)
        {
            return Ok(false);
        }
    }
    Ok(groups
        .finish()
        .is_none_or(|(done, lines)| each(done, lines)))
}

/// How many columns [`WINDOW_COLUMNS`] has.
const WINDOW_WIDTH: usize = 10;

/// Writes a window whole in `tx`: its record, its lines (replacing any), its
/// revisions, its repair.
fn write_window(tx: &Transaction<'_>, write: &WindowWrite) -> rusqlite::Result<()> {
    let start = write.start.as_second();
    let end = write.end.as_second();
    let now = write.now.to_string();
    let (organization, deployment) = (&write.organization, &write.deployment);
    // Its lines, and any window (with its lines) that starts inside it: a window whose
    // start was edited, or lines left without a record, are replaced too.
    tx.prepare_cached(
        "DELETE FROM lines WHERE organization = ?1 AND deployment = ?2
           AND window_start >= ?3 AND window_start < ?4",
    )?
    .execute(params![organization, deployment, start, end])?;
    tx.prepare_cached(
        "DELETE FROM windows WHERE organization = ?1 AND deployment = ?2
           AND window_start > ?3 AND window_start < ?4",
    )?
    .execute(params![organization, deployment, start, end])?;
    let mut insert = tx.prepare_cached(
        "INSERT INTO lines (organization, deployment, window_start, line_type, kind, sku,
             name, period_start, period_end, ordinal, hours, instance_count,
             price_per_hour, quantity, quantity_formatted, rate, rate_formatted, cost)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,
             ?17, ?18)",
    )?;
    for line in &write.lines {
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
    let mut revision = tx.prepare_cached(
        "INSERT INTO revisions (organization, deployment, window_start, window_end,
             seen_at, change, line_type, kind, sku, name, period_start, period_end,
             ordinal, old_cost, new_cost)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
    )?;
    for change in &write.revisions {
        let key = &change.key;
        revision.execute(params![
            organization,
            deployment,
            start,
            end,
            now,
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
    }
    if write.repaired {
        tx.prepare_cached(
            "INSERT INTO repairs (organization, deployment, window_start, window_end, seen_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute(params![organization, deployment, start, end, now])?;
    }
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
        write.first_fetched_at.to_string(),
        now,
        write.final_,
        write.digest,
        i64::try_from(write.lines.len()).unwrap_or(i64::MAX),
        write.total.to_string(),
    ])?;
    Ok(())
}

/// A line's key and values, from the columns starting at `first` ([`LINE_COLUMNS`]).
fn answer_line(row: &Row<'_>, first: usize) -> rusqlite::Result<AnswerLine> {
    Ok(AnswerLine {
        key: key(row, first)?,
        hours: row.get(first + 7)?,
        instance_count: row.get(first + 8)?,
        price_per_hour: optional_money(row, first + 9)?,
        quantity: optional_money(row, first + 10)?,
        quantity_formatted: row.get(first + 11)?,
        rate: optional_money(row, first + 12)?,
        rate_formatted: row.get(first + 13)?,
        cost: money(row, first + 14)?,
    })
}

/// A natural key from the columns starting at `first`.
fn key(row: &Row<'_>, first: usize) -> rusqlite::Result<LineKey> {
    let line_type: String = row.get(first)?;
    Ok(LineKey {
        line_type: LineType::parse(&line_type).ok_or_else(|| invalid(first, &line_type))?,
        kind: row.get(first + 1)?,
        sku: row.get(first + 2)?,
        name: row.get(first + 3)?,
        period_start: timestamp(row, first + 4)?,
        period_end: timestamp(row, first + 5)?,
        ordinal: row.get(first + 6)?,
    })
}

/// An instant stored as RFC 3339 text.
fn timestamp(row: &Row<'_>, index: usize) -> rusqlite::Result<Timestamp> {
    let text: String = row.get(index)?;
    text.parse().map_err(|_| invalid(index, &text))
}

/// An instant stored as epoch seconds.
fn instant(row: &Row<'_>, index: usize) -> rusqlite::Result<Timestamp> {
    let second: i64 = row.get(index)?;
    Timestamp::from_second(second).map_err(|_| invalid(index, &second.to_string()))
}

fn money(row: &Row<'_>, index: usize) -> rusqlite::Result<Decimal> {
    let text: String = row.get(index)?;
    crate::query::decimal(&text).ok_or_else(|| invalid(index, &text))
}

fn optional_money(row: &Row<'_>, index: usize) -> rusqlite::Result<Option<Decimal>> {
    row.get::<_, Option<String>>(index)?
        .map(|text| crate::query::decimal(&text).ok_or_else(|| invalid(index, &text)))
        .transpose()
}

fn invalid(index: usize, text: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        index,
        rusqlite::types::Type::Text,
        format!(
            "\"{}\" is not what the ledger writes there",
            ec_billing::text::escape(text).truncate(48)
        )
        .into(),
    )
}

/// A storage error from SQLite, for `path`.
fn storage(path: &Path, error: rusqlite::Error) -> Error {
    Error::Storage(FileError::new(
        path,
        "the database failed",
        Some(Box::new(error)),
    ))
}

/// A value of the file that this crate did not write as it reads it.
fn corrupt(path: &Path, error: rusqlite::Error) -> Error {
    Error::Storage(FileError::new(
        path,
        "a value in the file is not what the ledger writes",
        Some(Box::new(error)),
    ))
}

/// The file `path` names, taken literally (never as an SQLite URI or SQLite's
/// `:memory:`): absolute, with symbolic links resolved; and whether it exists. Refused
/// before anything is created: an empty path, `:memory:`, a path that is not a regular
/// file (a device such as `/dev/null`, a pipe, a folder), a folder that does not exist.
pub(crate) fn resolve(path: &Path) -> Result<(PathBuf, bool)> {
    let shown = || {
        ec_billing::text::escape(&path.display().to_string())
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
    if path.as_os_str().as_encoded_bytes().last() == Some(&b'/') {
        return Err(Error::InvalidInput(format!(
            "{} ends with a slash: a ledger is a file, named without one",
            shown()
        )));
    }
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
        && std::fs::metadata(path).is_err()
    {
        return Err(Error::InvalidInput(format!(
            "{} is a link to nothing: give the ledger's own path",
            shown()
        )));
    }
    let failed = |what: &str, e: std::io::Error| {
        Error::Storage(FileError::new(path, what, Some(Box::new(e))))
    };
    let absolute = std::path::absolute(path).map_err(|e| failed("cannot find the file", e))?;
    match std::fs::metadata(&absolute) {
        Ok(meta) if meta.is_file() => std::fs::canonicalize(&absolute)
            .map(|file| (file, true))
            .map_err(|e| failed("cannot find the file", e)),
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
            let folder = std::fs::canonicalize(parent)
                .map_err(|e| failed("its folder cannot be found", e))?;
            Ok((folder.join(name), false))
        }
        Err(e) => Err(failed("cannot read the file's metadata", e)),
    }
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
            "cannot open it",
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

/// The window size a ledger's file keeps, read as strictly as it is written (see
/// [`parse_window`]); `None` when the file keeps none yet.
fn stored_window(conn: &Connection, path: &Path) -> Result<Option<WindowSize>> {
    let stored = conn
        .query_row("SELECT value FROM meta WHERE key = 'window'", [], |row| {
            row.get::<_, String>(0)
        })
        .optional()
        .map_err(|e| storage(path, e))?;
    match stored.as_deref() {
        None => Ok(None),
        Some(text) if parse_window(text).is_some() => Ok(parse_window(text)),
        Some(other) => Err(Error::NotALedger(FileError::new(
            path,
            format!(
                "its window size \"{}\" is not one a ledger keeps (month or day)",
                ec_billing::text::escape(other).truncate(48)
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
    conn: &mut Connection,
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
            if index == 2 && from > 0 {
                rehash(&tx).map_err(|e| storage(path, e))?;
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
                let windows: i64 = tx
                    .query_row("SELECT count(*) FROM windows", [], |row| row.get(0))
                    .map_err(|e| storage(path, e))?;
                if windows > 0 {
                    return Err(Error::NotALedger(FileError::new(
                        path,
                        "it keeps windows but no window size",
                        None,
                    )));
                }
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

/// Gives every window of a ledger of an earlier version the digest this one checks (the
/// sum of its lines' hashes, in any order), in place of one over the answer's order,
/// which the file does not keep. A window whose lines do not add up to its record
/// keeps its old digest: it reads as inconsistent, and a sync repairs it.
fn rehash(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    let windows: Vec<(String, String, i64, i64, String)> = {
        let mut statement =
            tx.prepare("SELECT organization, deployment, window_start, lines, total FROM windows")?;
        let rows = statement.query_map([], |row| {
            Ok((
                row.get(0)?,
                row.get(1)?,
                row.get(2)?,
                row.get(3)?,
                row.get(4)?,
            ))
        })?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    let mut lines = tx.prepare(&format!(
        "SELECT {LINE_COLUMNS} FROM lines l
         WHERE l.organization = ?1 AND l.deployment = ?2 AND l.window_start = ?3"
    ))?;
    let mut update = tx.prepare(
        "UPDATE windows SET digest = ?4
         WHERE organization = ?1 AND deployment = ?2 AND window_start = ?3",
    )?;
    for (organization, deployment, start, count, total) in windows {
        let mut tally = Tally::new();
        let mut rows = lines.query(params![organization, deployment, start])?;
        let mut readable = true;
        while let Some(row) = rows.next()? {
            match answer_line(row, 0) {
                Ok(line) => tally.add(&line),
                Err(_) => readable = false,
            }
        }
        let matches = tally.lines_and_total_match(count, &total);
        if readable && matches {
            update.execute(params![organization, deployment, start, tally.digest()])?;
        }
    }
    Ok(())
}

/// Held by a sync for its whole run: a second sync of the same file waits for it, a
/// bounded time. An OS lock on a file beside the ledger (`<ledger>.lock`), so that a
/// sync killed at any moment leaves no lock behind.
#[derive(Debug)]
pub(crate) struct FileLock {
    _file: File,
}

impl FileLock {
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
            ec_billing::text::escape(&path.display().to_string()).truncate(200)
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
