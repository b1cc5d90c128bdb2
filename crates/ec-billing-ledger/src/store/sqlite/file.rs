//! The ledger's file: what a path names, and how its connection is opened (to read and
//! write, read-only beside a running sync, or immutable at rest under the shared lock).

use std::{
    fs::File,
    path::{Path, PathBuf},
    time::Duration,
};

use rusqlite::{Connection, OpenFlags};

use super::{
    error::{open_error, storage},
    lock::{SharedLock, lock_path},
};
use crate::error::{Error, FileError, Result};

/// How long a write waits for a reader (an export) to let go of the database.
pub(super) const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How the connection is opened.
#[derive(Clone, Copy, Debug)]
pub(super) enum Mode {
    ReadWrite { create: bool },
    ReadOnly { immutable: bool },
}

/// A read-only store's mode, and its shared hold on the sync lock. At rest (no sync
/// running: its lock is free, and it is held shared for as long as the store is open;
/// no write-ahead log waiting) the file is read as immutable: nothing is written in its
/// folder, so no `-wal` or `-shm` of this user's is left to lock the owner out, and a
/// ledger in a read-only folder can be read. While a sync writes, through SQLite's
/// read-only mode beside it.
pub(super) fn read_only_mode(file: &Path) -> Result<(Mode, Option<File>)> {
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
pub(super) fn connect(file: &Path, shown: &Path, mode: Mode) -> Result<Connection> {
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

/// The file `path` names, taken literally (never as an SQLite URI or SQLite's
/// `:memory:`): absolute, with symbolic links resolved; and whether it exists. Refused
/// before anything is created: an empty path, `:memory:`, a path that is not a regular
/// file (a device such as `/dev/null`, a pipe, a folder), a folder that does not exist.
pub(super) fn resolve(path: &Path) -> Result<(PathBuf, bool)> {
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
