//! One attempt at one window, over each transport: JSON through the generated client
//! (`json`), CSV through `reqwest` directly (`csv`; the generated client only asks for
//! JSON). Both bound what they read (`body`): the answer must start within the read
//! timeout, its body never pause longer and end within the attempt's limit; an error
//! answer's body is read up to [`MAX_ERROR_BODY_BYTES`], a JSON body up to the
//! client's `max_body_bytes`. Every one of these bounds runs on the client's [`Clock`]
//! ([`Clock::timer`]), as retries and pacing do. Answers and failures become this
//! crate's [`Error`] in `classify`.
//!
//! [`Connection`] is what every attempt of a client shares: the wire (base URL,
//! `reqwest` client, headers, key, bounds), the clock, the pacer and the concurrency
//! limit. The client above owns one; nothing here knows the client.

mod body;
mod classify;
mod csv;
mod json;

use std::{fmt, sync::Arc, time::Duration};

use reqwest::header::HeaderMap;
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::{
    error::{Error, RequestContext, causes},
    format::Format,
    key::ApiKey,
    model::{Charts, Items},
    policy::{Clock, Pacer},
    text,
    time::{Bucketing, Window},
};

/// The most bytes of an error answer's body that are read; the rest is discarded
/// unread (the connection is closed).
pub const MAX_ERROR_BODY_BYTES: usize = 64 * 1024;

/// What one attempt is given: how long it may take, and whether the request was
/// throttled before (the pacer learns from a second throttle).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Attempt {
    pub(crate) limit: Duration,
    pub(crate) after_throttle: bool,
}

/// What a [`Connection`] is made of.
pub(crate) struct ConnectionConfig {
    /// The base URL without a trailing slash, as the generated client wants it.
    pub(crate) base_url: String,
    pub(crate) http: reqwest::Client,
    /// `Authorization` (sensitive) and `User-Agent`, added to every request.
    pub(crate) headers: HeaderMap,
    /// The key, to redact it from anything a server sends back.
    pub(crate) key: ApiKey,
    pub(crate) read_timeout: Duration,
    pub(crate) max_body_bytes: u64,
    pub(crate) concurrency: usize,
    pub(crate) pacer: Pacer,
    pub(crate) clock: Arc<dyn Clock>,
}

/// What every attempt of a client shares. Its fields are read by this module's rooms
/// only; the client reaches it through the methods below.
pub(crate) struct Connection {
    base_url: String,
    http: reqwest::Client,
    headers: HeaderMap,
    key: ApiKey,
    read_timeout: Duration,
    max_body_bytes: u64,
    concurrency: usize,
    limiter: Semaphore,
    pacer: Pacer,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("base_url", &text::redact_url(&self.base_url))
            .field("api_key", &"[redacted]")
            .field("read_timeout", &self.read_timeout)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("concurrency", &self.concurrency)
            .finish_non_exhaustive()
    }
}

impl Connection {
    pub(crate) fn new(config: ConnectionConfig) -> Self {
        Self {
            base_url: config.base_url,
            http: config.http,
            headers: config.headers,
            key: config.key,
            read_timeout: config.read_timeout,
            max_body_bytes: config.max_body_bytes,
            concurrency: config.concurrency,
            limiter: Semaphore::new(config.concurrency),
            pacer: config.pacer,
            clock: config.clock,
        }
    }

    /// The base URL, without a trailing slash.
    pub(crate) fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The client's clock, which every wait and bound runs on.
    pub(crate) fn clock(&self) -> &dyn Clock {
        &*self.clock
    }

    /// The client-wide pacer.
    pub(crate) fn pacer(&self) -> &Pacer {
        &self.pacer
    }

    /// The read timeout of every answer and every piece of its body.
    pub(crate) fn read_timeout(&self) -> Duration {
        self.read_timeout
    }

    /// The concurrency limit: at most this many attempts in flight.
    pub(crate) fn concurrency(&self) -> usize {
        self.concurrency
    }

    /// A permit of the concurrency limit, held for the length of one attempt.
    pub(crate) async fn permit(&self) -> Option<SemaphorePermit<'_>> {
        // The limiter is never closed, so a permit always comes.
        self.limiter.acquire().await.ok()
    }

    /// Attempts in flight now, by the permits taken.
    pub(crate) fn in_flight(&self) -> usize {
        self.concurrency - self.limiter.available_permits()
    }

    /// An error with its whole cause chain, on one line, the key redacted and control
    /// characters escaped: for logs.
    pub(crate) fn printable(&self, err: &Error) -> String {
        text::escape(&self.key.redact(&causes(err))).to_string()
    }
}

/// One attempt at the items of one window, with their number of lines; the lines are
/// kept only when `keep_lines`.
pub(crate) async fn items(
    connection: &Arc<Connection>,
    request: &RequestContext,
    window: Window,
    format: Format,
    keep_lines: bool,
    attempt: Attempt,
) -> Result<(Items, u64), Error> {
    match format {
        Format::Json => json::items(connection, request, window, keep_lines, attempt).await,
        Format::Csv => csv::items(connection, request, window, keep_lines, attempt).await,
    }
}

/// One attempt at the charts of one window; a bucket outside the window, or two with
/// one timestamp, fail it as a decode error.
pub(crate) async fn charts(
    connection: &Arc<Connection>,
    request: &RequestContext,
    window: Window,
    bucketing: Bucketing,
    attempt: Attempt,
) -> Result<Charts, Error> {
    json::charts(connection, request, window, bucketing, attempt).await
}

/// Lets the pacer learn from an answer's head.
fn observe(connection: &Connection, response: &reqwest::Response, attempt: Attempt) {
    connection.pacer.observe(
        &*connection.clock,
        response.status().as_u16(),
        response.headers(),
        connection.in_flight(),
        attempt.after_throttle,
    );
}
