//! How SQLite's errors become the ledger's: a failure of the database, a value the
//! ledger did not write, a file that is not a ledger.

use std::path::Path;

use crate::error::{Error, FileError};

/// A storage error from SQLite, for `path`.
pub(super) fn storage(path: &Path, error: rusqlite::Error) -> Error {
    Error::Storage(FileError::new(
        path,
        "the database failed",
        Some(Box::new(error)),
    ))
}

/// A value of the file that this crate did not write as it reads it.
pub(super) fn corrupt(path: &Path, error: rusqlite::Error) -> Error {
    Error::Storage(FileError::new(
        path,
        "a value in the file is not what the ledger writes",
        Some(Box::new(error)),
    ))
}

/// An SQLite error met while opening `path`: a file that is not SQLite is not a ledger;
/// anything else (no permission, a read-only folder, a disk error) is named as it is.
pub(super) fn open_error(path: &Path, error: rusqlite::Error) -> Error {
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

pub(super) fn not_a_ledger(path: &Path, what: &str, error: rusqlite::Error) -> Error {
    Error::NotALedger(FileError::new(path, what, Some(Box::new(error))))
}
