//! The ledger's one error type.

use std::{fmt, path::PathBuf, time::Duration};

use ec_billing::{Window, WindowSize};

/// `std::result::Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// What went wrong with a ledger.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The file is not a ledger (not SQLite, or another application's database): it
    /// is refused, never overwritten.
    NotALedger(FileError),
    /// The file was written by a newer version of this crate, whose schema this one
    /// does not know.
    NewerSchema {
        /// The file.
        path: PathBuf,
        /// Its schema version.
        version: i64,
        /// The newest version this crate reads.
        supported: i64,
    },
    /// Another sync holds the ledger, and did not let go within the wait allowed.
    Busy {
        /// The file.
        path: PathBuf,
        /// How long this one waited.
        waited: Duration,
    },
    /// The ledger keeps windows of another size than asked for.
    WindowSize {
        /// The ledger's, fixed when it was created.
        ledger: WindowSize,
        /// The one asked for.
        asked: WindowSize,
    },
    /// Bad input, refused before any request: a plan, a query, an id.
    InvalidInput(String),
    /// A request failed: the client's error, naming its deployment and window.
    Api(ec_billing::Error),
    /// An answer that cannot be stored as it is (its lines do not add up to its total,
    /// or a sum overflows): nothing of its window was written.
    Answer(AnswerError),
    /// The file could not be read or written.
    Storage(FileError),
    /// A sum too large for an exact decimal (it names what was summed): never a wrong
    /// number.
    Overflow(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotALedger(e) => write!(f, "{} is not a ledger: {}", e.path.display(), e.what),
            Self::NewerSchema {
                path,
                version,
                supported,
            } => write!(
                f,
                "{} has ledger schema version {version}, newer than this program reads \
                 ({supported}): use a newer ec-billing",
                path.display()
            ),
            Self::Busy { path, waited } => write!(
                f,
                "another sync is writing {} (waited {:.1} s for it to finish)",
                path.display(),
                waited.as_secs_f64()
            ),
            Self::WindowSize { ledger, asked } => write!(
                f,
                "the ledger keeps {} windows, fixed when it was created; {} windows were asked for",
                window_name(*ledger),
                window_name(*asked)
            ),
            Self::InvalidInput(message) => f.write_str(message),
            Self::Api(e) => e.fmt(f),
            Self::Answer(e) => e.fmt(f),
            Self::Storage(e) => write!(f, "cannot use {}: {}", e.path.display(), e.what),
            Self::Overflow(what) => write!(f, "{what} overflows an exact decimal"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::NotALedger(e) | Self::Storage(e) => e.source.as_deref().map(|e| e as _),
            Self::Api(e) => Some(e),
            Self::NewerSchema { .. }
            | Self::Busy { .. }
            | Self::WindowSize { .. }
            | Self::InvalidInput(_)
            | Self::Answer(_)
            | Self::Overflow(_) => None,
        }
    }
}

impl From<ec_billing::Error> for Error {
    fn from(error: ec_billing::Error) -> Self {
        Self::Api(error)
    }
}

/// `month`, `day`, or `N-day`.
pub(crate) fn window_name(size: WindowSize) -> String {
    match size {
        WindowSize::Month => "monthly".to_string(),
        WindowSize::Day => "daily".to_string(),
        WindowSize::Days(days) => format!("{}-day", days.get()),
        _ => "other".to_string(),
    }
}

/// A file that could not be used, and why.
#[derive(Debug)]
pub struct FileError {
    path: PathBuf,
    what: String,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl FileError {
    pub(crate) fn new(
        path: impl Into<PathBuf>,
        what: impl Into<String>,
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self {
            path: path.into(),
            what: what.into(),
            source,
        }
    }

    /// The file.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }
}

/// An answer that could not be stored.
#[derive(Debug)]
pub struct AnswerError {
    deployment: String,
    window: Window,
    message: String,
}

impl AnswerError {
    pub(crate) fn new(deployment: &str, window: Window, message: impl Into<String>) -> Self {
        Self {
            deployment: deployment.to_string(),
            window,
            message: message.into(),
        }
    }

    /// The deployment whose answer it was.
    pub fn deployment(&self) -> &str {
        &self.deployment
    }

    /// The window it answered.
    pub fn window(&self) -> Window {
        self.window
    }
}

impl fmt::Display for AnswerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the answer for deployment \"{}\", window {}, cannot be stored: {}",
            ec_billing::escape(&self.deployment),
            self.window,
            self.message
        )
    }
}

impl std::error::Error for AnswerError {}

/// A storage error from SQLite, for `path`.
pub(crate) fn storage(path: &std::path::Path, error: rusqlite::Error) -> Error {
    Error::Storage(FileError::new(
        path,
        "the database failed",
        Some(Box::new(error)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_error_is_send_sync_and_static() {
        fn check<T: Send + Sync + 'static>() {}
        check::<Error>();
    }
}
