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
    /// A window's lines in the file do not match its record (their count, sum or
    /// digest): lines deleted, duplicated or edited outside the ledger. Nothing is read
    /// from it as if it were whole; a sync of its range fetches it again and repairs it.
    Inconsistent(Inconsistency),
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
            Self::Inconsistent(e) => e.fmt(f),
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
            | Self::Overflow(_)
            | Self::Inconsistent(_) => None,
        }
    }
}

impl From<ec_billing::Error> for Error {
    /// Bad input (an id, a range) is this crate's [`Error::InvalidInput`], as its docs
    /// promise; anything else is a request that failed.
    fn from(error: ec_billing::Error) -> Self {
        match error {
            ec_billing::Error::InvalidInput(input) => Self::InvalidInput(input.to_string()),
            other => Self::Api(other),
        }
    }
}

impl Error {
    /// A storage error while reading or writing `deployment`'s `window`, saying so (a
    /// cut connection, say); other errors as they are.
    pub(crate) fn in_window(self, deployment: &str, window: Window) -> Self {
        match self {
            Self::Storage(mut e) => {
                e.what = format!(
                    "{} (deployment \"{}\", window {window})",
                    e.what,
                    ec_billing::text::escape(deployment).truncate(80)
                );
                Self::Storage(e)
            }
            other => other,
        }
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

    /// Whether the cause is a file that does not exist.
    pub(crate) fn not_found(&self) -> bool {
        self.source
            .as_deref()
            .and_then(|e| e.downcast_ref::<std::io::Error>())
            .is_some_and(|e| e.kind() == std::io::ErrorKind::NotFound)
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
            ec_billing::text::escape(&self.deployment),
            self.window,
            self.message
        )
    }
}

impl std::error::Error for AnswerError {}

/// A window whose lines do not match its record.
#[derive(Debug)]
pub struct Inconsistency(Box<InconsistentWindow>);

#[derive(Debug)]
struct InconsistentWindow {
    path: PathBuf,
    organization: String,
    deployment: String,
    window: (jiff::Timestamp, jiff::Timestamp),
    what: String,
}

impl Inconsistency {
    pub(crate) fn new(
        path: &std::path::Path,
        organization: &str,
        deployment: &str,
        window: (jiff::Timestamp, jiff::Timestamp),
        what: impl Into<String>,
    ) -> Self {
        Self(Box::new(InconsistentWindow {
            path: path.to_path_buf(),
            organization: organization.to_string(),
            deployment: deployment.to_string(),
            window,
            what: what.into(),
        }))
    }

    /// The ledger's file.
    pub fn path(&self) -> &std::path::Path {
        &self.0.path
    }

    /// The organization.
    pub fn organization(&self) -> &str {
        &self.0.organization
    }

    /// The deployment.
    pub fn deployment(&self) -> &str {
        &self.0.deployment
    }

    /// The window, `[start, end)`.
    pub fn window(&self) -> (jiff::Timestamp, jiff::Timestamp) {
        self.0.window
    }
}

impl fmt::Display for Inconsistency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = &self.0;
        write!(
            f,
            "{}: the window {}..{} of deployment \"{}\" (organization \"{}\") does not match \
             its record: {}; a sync of that range fetches it again",
            e.path.display(),
            e.window.0,
            e.window.1,
            ec_billing::text::escape(&e.deployment),
            ec_billing::text::escape(&e.organization),
            e.what
        )
    }
}

impl std::error::Error for Inconsistency {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_error_is_send_sync_and_static() {
        fn check<T: Send + Sync + 'static>() {}
        check::<Error>();
    }
}
