//! The SQLite store: its type and its operations, the API the seam calls. One file,
//! opened by one thread that owns the connection (rusqlite calls never run on an async
//! worker; jobs come through a bounded channel), its schema and versions, how a file is
//! recognized as a ledger (or refused), and the lock that keeps two syncs apart. This
//! directory is the only one that names rusqlite.

mod error;
mod file;
mod lock;
mod rows;
mod schema;
mod worker;
mod write;

use std::{
    fmt,
    fs::File,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use ec_billing::WindowSize;
use jiff::Timestamp;
use rusqlite::{OptionalExtension, params, params_from_iter};
use tokio::sync::mpsc;

use self::{
    error::{corrupt, open_error, storage},
    file::{BUSY_TIMEOUT, Mode, connect, read_only_mode, resolve},
    lock::FileLock,
    rows::{
        LINE_COLUMNS, WINDOW_COLUMNS, answer_line, condition, instant, invalid, key,
        optional_money, scan_once, stored_window_row, timestamp, tolerant_window_row,
    },
    schema::{check, migrate, stored_window, user_version},
    worker::Worker,
    write::write_window,
};
use crate::{
    error::{Error, FileError, Result},
    query::{Change, Query, Revision},
    store::values::{Access, JournalEnd, Scanned, StoredLines, StoredWindow, WindowUpdate},
};
pub(crate) use worker::QueuedLock;

/// A ledger in one SQLite file.
pub(crate) struct SqliteStore {
    /// The path as given (what messages name).
    shown: PathBuf,
    /// The file opened: absolute, links resolved.
    file: PathBuf,
    window: WindowSize,
    read_only: bool,
    /// The connection's thread; declared before the read lock, so that the connection
    /// is closed before the lock is let go.
    worker: Worker,
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
        let (shown, target) = (path.to_path_buf(), file.clone());
        let worker = Worker::start(path, move || connect(&target, &shown, mode)).await?;
        let mut store = Self {
            shown: path.to_path_buf(),
            file,
            window: WindowSize::Month,
            read_only: matches!(mode, Mode::ReadOnly { .. }),
            worker,
            _read_lock: read_lock,
        };
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

    /// Refuses a file that is not a ledger of a version this crate reads (the version
    /// and the tables read in one snapshot: another process may be creating the ledger
    /// meanwhile); a read-only store also reads its window size here.
    async fn recognize(&self, create: bool) -> Result<WindowSize> {
        let read_only = self.read_only;
        self.worker
            .call(move |conn, path| {
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
                .worker
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
        self.worker
            .call(|conn, path| {
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
        self.worker
            .call(move |conn, path| migrate(conn, path, window, create))
            .await
    }

    /// Takes the file's sync lock, waiting at most `wait`. It is let go through the
    /// connection's queue, after every write queued before it (a sync that returns
    /// early, or is cancelled, leaves writes queued).
    pub(crate) async fn lock(&self, wait: Duration) -> Result<QueuedLock> {
        let lock = FileLock::take(&self.file, &self.shown, wait).await?;
        Ok(self.worker.queued(lock))
    }

    pub(crate) async fn windows(&self, scope: &Query) -> Result<Vec<StoredWindow>> {
        let scope = scope.clone();
        self.worker
            .call(move |conn, path| {
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
        self.worker
            .call(move |conn, path| {
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
        mut each: impl FnMut(u8, &mut Scanned) -> Result<()>,
    ) -> Result<()> {
        let scope = scope.clone();
        // A few chunks wait while the next is read: memory holds a few chunks of lines
        // at most, whatever the size of a window. Chunks read go back to the thread,
        // which reads rows into their lines' room again.
        let (items, mut received) = mpsc::channel::<Result<(u8, Scanned)>>(4);
        let (recycle, recycled) = std::sync::mpsc::channel::<Vec<crate::record::AnswerLine>>();
        let done = self
            .worker
            .submit(move |conn, path| {
                // One snapshot for every pass.
                let snapshot = conn.unchecked_transaction().map_err(|e| storage(path, e))?;
                for pass in 0..passes {
                    // A one-pass read's lines are hashed here, off the reader's thread,
                    // which has the more work then; in two passes this thread has it.
                    let hashing = passes == 1;
                    let sent = scan_once(&snapshot, path, &scope, &recycled, hashing, |item| {
                        items.blocking_send(Ok((pass, item))).is_ok()
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
            let (pass, mut item) = item?;
            each(pass, &mut item)?;
            if let Scanned::Lines(lines, _) = item {
                let _ = recycle.send(lines);
            }
        }
        done.await.map_err(|_| self.worker.gone())?
    }

    pub(crate) async fn write(&self, update: WindowUpdate) -> Result<()> {
        if matches!(update, WindowUpdate::Nothing) {
            return Ok(());
        }
        self.worker
            .call(move |conn, path| {
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
        self.worker
            .call(move |conn, path| {
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
        self.worker
            .call(move |conn, path| {
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
        self.worker
            .call(move |conn, path| {
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
        self.worker
            .call(move |conn, path| {
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
