//! The lock that keeps two syncs of one file apart: an OS lock on a file beside the
//! ledger, taken exclusive by a sync and shared by a reader at rest.

use std::{
    fs::{File, OpenOptions, TryLockError},
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use crate::error::{Error, FileError, Result};

/// Held by a sync for its whole run: a second sync of the same file waits for it, a
/// bounded time. An OS lock on a file beside the ledger (`<ledger>.lock`), so that a
/// sync killed at any moment leaves no lock behind.
#[derive(Debug)]
pub(super) struct FileLock {
    _file: File,
}

impl FileLock {
    /// Takes the lock beside `file` (the ledger's, resolved), waiting at most `wait` for
    /// another sync (or an export) to let go of it.
    pub(super) async fn take(file: &Path, shown: &Path, wait: Duration) -> Result<Self> {
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
pub(super) enum SharedLock {
    /// Held: no sync starts until it is let go.
    Held(File),
    /// No sync ever ran beside this file (there is no lock file).
    NoLockFile,
    /// A sync holds it (or it cannot be opened to say).
    Busy,
}

impl SharedLock {
    pub(super) fn try_take(path: &Path) -> Result<Self> {
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
pub(super) fn lock_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}
