//! How the database's errors become the ledger's: a failure of the database, a value
//! the ledger did not write.

use crate::error::{Error, FileError};

/// A database error, for the ledger named `shown`.
pub(super) fn failed(shown: &str, error: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::Storage(FileError::new(
        shown,
        "the database failed",
        Some(Box::new(error)),
    ))
}

/// A value of the database that this crate did not write as it reads it.
pub(super) fn corrupt(shown: &str, what: impl Into<String>) -> Error {
    Error::Storage(FileError::new(
        shown,
        format!(
            "a value in the database is not what the ledger writes: {}",
            what.into()
        ),
        None,
    ))
}
