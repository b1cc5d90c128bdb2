//! The crate's one error type, its typed API error codes, and the context every error
//! of a request carries (operation, organization, deployment, window, attempts).

use std::{error::Error as StdError, fmt};

mod code;
mod context;
#[cfg(test)]
mod tests;

pub use code::{ErrorCode, UnknownCode};
pub use context::{
    ApiError, CsvError, CsvErrorKind, DecodeError, InvalidInput, Operation, OverflowError,
    PacingError, RequestContext, SetupError, TransportError, TransportKind,
};

use crate::time::Window;

/// A boxed cause, reached through [`std::error::Error::source`].
pub(crate) type Cause = Box<dyn StdError + Send + Sync + 'static>;

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in this crate.
///
/// `Display` is a short lowercase phrase with the context that tells one failure from
/// another (status, code, deployment, window); it never prints its cause, which
/// [`source`](std::error::Error::source) returns. No variant exposes a foreign error
/// type. The API key never appears in any of it.
///
/// ```
/// # fn check(err: ec_billing::Error) {
/// if err.is_rate_limited() {
///     eprintln!("throttled after {} attempts", err.attempts());
/// }
/// match err.code() {
///     Some(ec_billing::error::ErrorCode::OrganizationNotFound) => eprintln!("check --org"),
///     Some(code) => eprintln!("{code}: {err}"),
///     None => eprintln!("{err}"),
/// }
/// # }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// Input refused before any request was made: a bad range, window, key or setting.
    InvalidInput(InvalidInput),
    /// The API answered with an error status.
    Api(Box<ApiError>),
    /// No usable response: the connection failed, timed out, or broke mid-body.
    Transport(Box<TransportError>),
    /// A successful response whose body could not be decoded (JSON or CSV).
    Decode(Box<DecodeError>),
    /// A malformed CSV document, from [`ItemsCsvReader`](crate::csv::ItemsCsvReader).
    Csv(Box<CsvError>),
    /// A sum of money too large for an exact decimal (a total, a dimension, a chart
    /// value summed over windows): never a panic, never a wrapped number.
    Overflow(Box<OverflowError>),
    /// The API's rate limit would hold a request past its deadline: the client did not
    /// wait, and did not send it.
    Pacing(Box<PacingError>),
    /// The client could not be set up (its HTTP client, its TLS backend): nothing to
    /// do with the input, and not retryable.
    Setup(Box<SetupError>),
}

impl Error {
    /// The first error code the API gave (header first, then body), if any.
    pub fn code(&self) -> Option<&ErrorCode> {
        match self {
            Self::Api(e) => e.codes.first(),
            _ => None,
        }
    }

    /// The HTTP status of the API's answer, if there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api(e) => Some(e.status),
            _ => None,
        }
    }

    /// Whether trying the same request again may succeed: throttling, 500/502/503/504,
    /// connection failures and timeouts. Never 400, 401, 403 or 404.
    ///
    /// Not retryable either: what the same request would meet again (a redirect loop, a
    /// disallowed redirect, a request that cannot be built, a body that does not
    /// decode, a sum that overflows).
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Api(e) => e.is_retryable(),
            Self::Transport(e) => e.kind.is_retryable(),
            Self::InvalidInput(_)
            | Self::Decode(_)
            | Self::Csv(_)
            | Self::Overflow(_)
            | Self::Pacing(_)
            | Self::Setup(_) => false,
        }
    }

    /// Whether the API throttled the request (HTTP 429 or `billing_service.rate_limited`),
    /// or its rate limit kept the client from sending it in time ([`Error::Pacing`]).
    pub fn is_rate_limited(&self) -> bool {
        match self {
            Self::Api(e) => e.is_rate_limited(),
            Self::Pacing(_) => true,
            _ => false,
        }
    }

    /// Whether the API refused the key or its access: HTTP 401 or 403
    /// (`organization.invalid_access`, a wrong or expired key).
    pub fn is_auth(&self) -> bool {
        matches!(self, Self::Api(e) if matches!(e.status, 401 | 403))
    }

    /// Whether the API does not know the organization or the deployment: HTTP 404
    /// (`organization.not_found`, `billing_service.es_cluster_id_not_found`).
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::Api(e) if e.status == 404)
    }

    /// The messages of the API's error answer, in order (empty for other errors).
    pub fn messages(&self) -> &[String] {
        match self {
            Self::Api(e) => &e.messages,
            _ => &[],
        }
    }

    /// The request id of the API's error answer, if it carried one.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Self::Api(e) => e.request_id.as_deref(),
            _ => None,
        }
    }

    /// The window of the failed request, if the error belongs to one.
    pub fn window(&self) -> Option<&Window> {
        self.request().and_then(|r| r.window.as_ref())
    }

    /// The deployment of the failed request, if the error belongs to one.
    pub fn deployment(&self) -> Option<&str> {
        self.request().map(|r| r.deployment.as_str())
    }

    /// The organization of the failed request, if the error belongs to one.
    pub fn organization(&self) -> Option<&str> {
        self.request().map(|r| r.organization.as_str())
    }

    /// The operation of the failed request, if the error belongs to one.
    pub fn operation(&self) -> Option<Operation> {
        self.request().map(|r| r.operation)
    }

    /// How many attempts were made before giving up (0 when no request was made).
    pub fn attempts(&self) -> u32 {
        self.request().map_or(0, |r| r.attempts)
    }

    /// The context of the request the error belongs to.
    pub fn request(&self) -> Option<&RequestContext> {
        match self {
            Self::Api(e) => Some(&e.request),
            Self::Transport(e) => Some(&e.request),
            Self::Decode(e) => e.request.as_ref(),
            Self::Overflow(e) => e.request.as_deref(),
            Self::Pacing(e) => Some(&e.request),
            Self::InvalidInput(_) | Self::Csv(_) | Self::Setup(_) => None,
        }
    }

    pub(crate) fn request_mut(&mut self) -> Option<&mut RequestContext> {
        match self {
            Self::Api(e) => Some(&mut e.request),
            Self::Transport(e) => Some(&mut e.request),
            Self::Decode(e) => e.request.as_mut(),
            Self::Overflow(e) => e.request.as_deref_mut(),
            Self::Pacing(e) => Some(&mut e.request),
            Self::InvalidInput(_) | Self::Csv(_) | Self::Setup(_) => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidInput(e) => e.fmt(f),
            Self::Api(e) => e.fmt(f),
            Self::Transport(e) => e.fmt(f),
            Self::Decode(e) => e.fmt(f),
            Self::Csv(e) => e.fmt(f),
            Self::Overflow(e) => e.fmt(f),
            Self::Pacing(e) => e.fmt(f),
            Self::Setup(e) => e.fmt(f),
        }
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            Self::InvalidInput(_) | Self::Api(_) | Self::Overflow(_) | Self::Pacing(_) => None,
            Self::Transport(e) => e.source.as_deref().map(|c| c as _),
            Self::Decode(e) => Some(&*e.source),
            Self::Csv(e) => e.source.as_deref().map(|c| c as _),
            Self::Setup(e) => Some(&*e.source),
        }
    }
}

impl From<InvalidInput> for Error {
    fn from(e: InvalidInput) -> Self {
        Self::InvalidInput(e)
    }
}

impl From<ApiError> for Error {
    fn from(e: ApiError) -> Self {
        Self::Api(Box::new(e))
    }
}

impl From<TransportError> for Error {
    fn from(e: TransportError) -> Self {
        Self::Transport(Box::new(e))
    }
}

impl From<DecodeError> for Error {
    fn from(e: DecodeError) -> Self {
        Self::Decode(Box::new(e))
    }
}

impl From<CsvError> for Error {
    fn from(e: CsvError) -> Self {
        Self::Csv(Box::new(e))
    }
}

impl From<OverflowError> for Error {
    fn from(e: OverflowError) -> Self {
        Self::Overflow(Box::new(e))
    }
}

impl From<PacingError> for Error {
    fn from(e: PacingError) -> Self {
        Self::Pacing(Box::new(e))
    }
}

impl From<SetupError> for Error {
    fn from(e: SetupError) -> Self {
        Self::Setup(Box::new(e))
    }
}

/// An error and its causes, one line: `outer: cause: root cause`.
pub(crate) fn causes(err: &(dyn std::error::Error + 'static)) -> String {
    let mut line = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !line.ends_with(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        source = cause.source();
    }
    line
}
