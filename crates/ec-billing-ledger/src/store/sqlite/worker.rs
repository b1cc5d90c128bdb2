//! The thread that owns a store's connection (rusqlite calls never run on an async
//! worker): jobs come through a bounded channel, and the sync lock is let go through
//! the same queue, after the writes sent before it.

use std::{
    path::{Path, PathBuf},
    thread::JoinHandle,
};

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use super::lock::FileLock;
use crate::error::{Error, FileError, Result};

/// How many jobs may wait for the connection's thread.
const QUEUE: usize = 16;

/// A piece of work for the connection's thread.
type Job = Box<dyn FnOnce(&mut Connection) + Send>;

/// The thread that owns the connection, and the queue that feeds it.
pub(super) struct Worker {
    /// The path as given (what messages name).
    shown: PathBuf,
    jobs: Option<mpsc::Sender<Job>>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Worker {
    /// Lets the connection's thread finish its queue and close the file, so that the
    /// file is whole (and its `-wal` folded in) once the store is gone.
    fn drop(&mut self) {
        drop(self.jobs.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Worker {
    /// Starts the connection's thread, which opens the connection with `connect`, and
    /// waits until it is open; `shown` is the path as given (what messages name).
    pub(super) async fn start(
        shown: &Path,
        connect: impl FnOnce() -> Result<Connection> + Send + 'static,
    ) -> Result<Self> {
        let (jobs, mut queue) = mpsc::channel::<Job>(QUEUE);
        let (ready, opened) = oneshot::channel::<Result<()>>();
        let thread = std::thread::Builder::new()
            .name("ec-billing-ledger-sqlite".to_string())
            .spawn(move || {
                let mut conn = match connect() {
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
                    shown,
                    "cannot start the database's thread",
                    Some(Box::new(e)),
                ))
            })?;
        let worker = Self {
            shown: shown.to_path_buf(),
            jobs: Some(jobs),
            thread: Some(thread),
        };
        opened.await.map_err(|_| worker.gone())??;
        Ok(worker)
    }

    /// The error of a connection whose thread is gone.
    pub(super) fn gone(&self) -> Error {
        Error::Storage(FileError::new(
            &self.shown,
            "the database's thread stopped",
            None,
        ))
    }

    /// Queues `job` for the connection's thread; its result comes through the receiver.
    pub(super) async fn submit<R: Send + 'static>(
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
    pub(super) async fn call<R: Send + 'static>(
        &self,
        job: impl FnOnce(&mut Connection, &Path) -> Result<R> + Send + 'static,
    ) -> Result<R> {
        self.submit(job).await?.await.map_err(|_| self.gone())?
    }

    /// Holds `lock` until it is let go through the connection's queue, after every
    /// write queued before it.
    pub(super) fn queued(&self, lock: FileLock) -> QueuedLock {
        QueuedLock {
            lock: Some(lock),
            jobs: self.jobs.clone(),
        }
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
