//! The context each variant of [`Error`](super::Error) wraps: what failed, for which
//! request and window, and why, with accessors; each is an error of its own.

use std::{error::Error as StdError, fmt, time::Duration};

use super::{Cause, ErrorCode};
use crate::{format::Format, text, time::Window};

/// The client could not be set up; its cause says why.
#[derive(Debug)]
pub struct SetupError {
    pub(crate) source: Cause,
}

impl fmt::Display for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the HTTP client could not be set up")
    }
}

impl StdError for SetupError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&*self.source)
    }
}

/// Input refused before any request was made. The message quotes the bad input
/// (except an API key, which is never quoted).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidInput {
    message: String,
}

impl InvalidInput {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }

    /// What was wrong, quoting the input.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for InvalidInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl StdError for InvalidInput {}

/// One of the two API operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Operation {
    /// `get-costs-items-by-deployment`: itemized costs.
    Items,
    /// `get-costs-charts-by-deployment`: usage charts.
    Charts,
}

impl Operation {
    /// The upstream `operationId`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Items => "get-costs-items-by-deployment",
            Self::Charts => "get-costs-charts-by-deployment",
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which request an error belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestContext {
    pub(crate) operation: Operation,
    pub(crate) organization: String,
    pub(crate) deployment: String,
    pub(crate) window: Option<Window>,
    pub(crate) attempts: u32,
}

impl RequestContext {
    /// The operation.
    pub fn operation(&self) -> Operation {
        self.operation
    }

    /// The organization id.
    pub fn organization(&self) -> &str {
        &self.organization
    }

    /// The deployment id.
    pub fn deployment(&self) -> &str {
        &self.deployment
    }

    /// The window requested.
    pub fn window(&self) -> Option<&Window> {
        self.window.as_ref()
    }

    /// How many attempts were made.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }
}

impl fmt::Display for RequestContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let deployment = text::escape(&self.deployment).truncate(text::QUOTED_CHARS);
        write!(f, "deployment \"{deployment}\"")?;
        if let Some(window) = &self.window {
            write!(f, ", window {window}")?;
        }
        Ok(())
    }
}

/// An error status from the API, with what it said about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    pub(crate) request: RequestContext,
    pub(crate) status: u16,
    pub(crate) codes: Vec<ErrorCode>,
    pub(crate) messages: Vec<String>,
    pub(crate) request_id: Option<String>,
    pub(crate) retry_after: Option<Duration>,
}

impl ApiError {
    /// The HTTP status.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The error codes, from the `x-cloud-error-codes` header then the body, without
    /// repeats. Empty when the body was not the documented JSON and no header came.
    pub fn codes(&self) -> &[ErrorCode] {
        &self.codes
    }

    /// The messages of the body's `errors[]`, in order.
    pub fn messages(&self) -> &[String] {
        &self.messages
    }

    /// The request id the response carried (`x-request-id` or `x-cloud-request-id`).
    pub fn request_id(&self) -> Option<&str> {
        self.request_id.as_deref()
    }

    /// The delay the response asked for with `Retry-After`, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// The request this answers.
    pub fn request(&self) -> &RequestContext {
        &self.request
    }

    pub(super) fn is_rate_limited(&self) -> bool {
        self.status == 429 || self.codes.contains(&ErrorCode::RateLimited)
    }

    pub(super) fn is_retryable(&self) -> bool {
        match self.status {
            400 | 401 | 403 | 404 => false,
            500 | 502 | 503 | 504 => true,
            _ => self.is_rate_limited(),
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the API answered {}", self.status)?;
        if let Some(code) = self.codes.first() {
            write!(f, " {code}")?;
        }
        write!(f, " for {}", self.request)
    }
}

impl StdError for ApiError {}

/// No usable response: the connection failed, timed out, or broke mid-body.
#[derive(Debug)]
pub struct TransportError {
    pub(crate) request: RequestContext,
    pub(crate) kind: TransportKind,
    pub(crate) source: Option<Cause>,
}

impl TransportError {
    /// What went wrong.
    pub fn kind(&self) -> TransportKind {
        self.kind
    }

    /// The request that failed.
    pub fn request(&self) -> &RequestContext {
        &self.request
    }
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            TransportKind::Connect => "could not connect",
            TransportKind::Timeout => "request timed out",
            TransportKind::Body => "response body broke off",
            TransportKind::TooLarge => "response body too large",
            TransportKind::Redirect => "redirect refused",
            TransportKind::InvalidRequest => "request could not be sent as built",
            TransportKind::Other => "request failed",
        };
        write!(f, "{what} for {}", self.request)
    }
}

impl StdError for TransportError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source.as_deref().map(|c| c as _)
    }
}

/// The kind of a [`TransportError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransportKind {
    /// The connection could not be made.
    Connect,
    /// An attempt took longer than its timeout.
    Timeout,
    /// The response body could not be read to its end.
    Body,
    /// A successful answer's body was larger than the client buffers
    /// ([`ClientBuilder::max_body_bytes`](crate::ClientBuilder::max_body_bytes)), or
    /// one record of a CSV answer was longer than
    /// [`MAX_CSV_RECORD_BYTES`](crate::csv::MAX_CSV_RECORD_BYTES): not retried.
    TooLarge,
    /// A redirect loop, too many redirects, or a redirect the client does not follow
    /// (another scheme): not retried, the same request would meet it again.
    Redirect,
    /// The request could not be built or sent as it is (an invalid or over-long URI):
    /// not retried.
    InvalidRequest,
    /// Anything else that kept the request from completing.
    Other,
}

impl TransportKind {
    /// Whether the same request may fare better on a second try.
    pub(super) fn is_retryable(self) -> bool {
        match self {
            Self::Connect | Self::Timeout | Self::Body | Self::Other => true,
            Self::TooLarge | Self::Redirect | Self::InvalidRequest => false,
        }
    }
}

/// A successful response whose body could not be decoded.
#[derive(Debug)]
pub struct DecodeError {
    pub(crate) request: Option<RequestContext>,
    pub(crate) format: Format,
    pub(crate) source: Cause,
}

impl DecodeError {
    /// The request whose response did not decode; `None` when a document was decoded
    /// on its own ([`Items::from_json`](crate::Items::from_json)).
    pub fn request(&self) -> Option<&RequestContext> {
        self.request.as_ref()
    }

    /// The body's format.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Where in a CSV body the problem is, if it was CSV.
    pub fn csv(&self) -> Option<&CsvError> {
        self.source.downcast_ref::<CsvError>()
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "could not decode the {} response", self.format)?;
        match &self.request {
            Some(request) => write!(f, " for {request}"),
            None => Ok(()),
        }
    }
}

impl StdError for DecodeError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&*self.source)
    }
}

/// A malformed CSV record, or a document that could not be read, with where it is.
///
/// `Display` reads like `invalid decimal "12,x" in column "Cost" at record 12 (line 13)`.
#[derive(Debug)]
pub struct CsvError {
    pub(crate) kind: CsvErrorKind,
    pub(crate) problem: String,
    pub(crate) column: Option<String>,
    pub(crate) record: u64,
    pub(crate) line: u64,
    pub(crate) byte: u64,
    pub(crate) source: Option<Cause>,
}

/// What kind of [`CsvError`] it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CsvErrorKind {
    /// The document is not the items CSV: a bad cell, a bad header, a record of the
    /// wrong length, invalid UTF-8. The same bytes would fail again.
    Malformed,
    /// The underlying reader failed (a network body that broke off or timed out): the
    /// `std::io::Error` is the [`source`](std::error::Error::source).
    Io,
    /// A record (the header row included) longer than
    /// [`MAX_CSV_RECORD_BYTES`](crate::csv::MAX_CSV_RECORD_BYTES): an unclosed quote, a line
    /// that never ends. It is refused as soon as it outgrows the bound, the rest left
    /// unread; the same bytes would fail again.
    TooLarge,
}

impl CsvError {
    /// Whether the document is malformed, could not be read, or has a record over the
    /// size bound.
    pub fn kind(&self) -> CsvErrorKind {
        self.kind
    }

    /// The reader's error, when the document could not be read.
    pub fn io_error(&self) -> Option<&std::io::Error> {
        match self.kind {
            CsvErrorKind::Io => self.source.as_deref()?.downcast_ref(),
            CsvErrorKind::Malformed | CsvErrorKind::TooLarge => None,
        }
    }

    /// What is wrong, e.g. `invalid decimal "12,x"`.
    pub fn problem(&self) -> &str {
        &self.problem
    }

    /// The column, as headed in the document, when one is to blame.
    pub fn column(&self) -> Option<&str> {
        self.column.as_deref()
    }

    /// The record number, counting the header as record 0.
    pub fn record(&self) -> u64 {
        self.record
    }

    /// The line number the record starts on, from 1.
    pub fn line(&self) -> u64 {
        self.line
    }

    /// The byte offset of the record, as the csv crate counts it (where the record
    /// starts, or for a record after blank lines, where the first of them starts);
    /// 0 for the header row.
    pub fn byte(&self) -> u64 {
        self.byte
    }
}

impl fmt::Display for CsvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.problem)?;
        if let Some(column) = &self.column {
            let column = text::escape(column).truncate(text::QUOTED_CHARS);
            write!(f, " in column \"{column}\"")?;
        }
        write!(f, " at record {} (line {})", self.record, self.line)
    }
}

impl StdError for CsvError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source.as_deref().map(|c| c as _)
    }
}

/// A sum of money too large for an exact decimal: a total, a dimension's cost or a
/// chart value, summed over the lines of an answer or over windows.
///
/// `Display` reads like `the sum of costs.total overflows an exact decimal for
/// deployment "prod", window 2024-02-01T00:00:00Z..2024-03-01T00:00:00Z`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OverflowError {
    pub(crate) request: Option<Box<RequestContext>>,
    pub(crate) window: Option<Window>,
    pub(crate) what: String,
}

impl OverflowError {
    pub(crate) fn new(what: impl Into<String>) -> Self {
        Self {
            request: None,
            window: None,
            what: what.into(),
        }
    }

    /// The same error, naming the window whose part made the sum overflow.
    pub(crate) fn in_window(mut self, window: Window) -> Self {
        self.window = Some(window);
        if let Some(request) = &mut self.request {
            request.window = Some(window);
        }
        self
    }

    /// The same error, naming the request (its window, if it has none yet).
    pub(crate) fn in_request(mut self, mut request: RequestContext) -> Self {
        if let Some(window) = self.window {
            request.window = Some(window);
        }
        self.request = Some(Box::new(request));
        self
    }

    /// What overflowed: `costs.total`, `the capacity dimension`, a chart value.
    pub fn what(&self) -> &str {
        &self.what
    }

    /// The window whose part made the sum overflow, when known.
    pub fn window(&self) -> Option<&Window> {
        self.window
            .as_ref()
            .or_else(|| self.request.as_ref()?.window.as_ref())
    }
}

impl fmt::Display for OverflowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the sum of {} overflows an exact decimal", self.what)?;
        match (&self.request, &self.window) {
            (Some(request), _) => write!(f, " for {request}"),
            (None, Some(window)) => write!(f, " in window {window}"),
            (None, None) => Ok(()),
        }
    }
}

impl StdError for OverflowError {}

/// The API's rate limit would hold a request past its deadline, so it was not sent.
///
/// `Display` reads like `the API's rate limit (0.000278 requests/s, from x-ratelimit-*
/// headers) would hold deployment "prod", window ... for 3599 s, past its deadline`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PacingError {
    pub(crate) request: RequestContext,
    pub(crate) wait: Option<Duration>,
    pub(crate) rate: String,
}

impl PacingError {
    /// The wait the rate limit asked for; `None` when it is beyond any clock.
    pub fn wait(&self) -> Option<Duration> {
        self.wait
    }

    /// The request that was not sent.
    pub fn request(&self) -> &RequestContext {
        &self.request
    }
}

impl fmt::Display for PacingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the API's rate limit ({}) would hold {} ",
            self.rate, self.request
        )?;
        match self.wait {
            Some(wait) => write!(f, "for {} s", wait.as_secs())?,
            None => f.write_str("indefinitely")?,
        }
        f.write_str(", past its deadline")
    }
}

impl StdError for PacingError {}
