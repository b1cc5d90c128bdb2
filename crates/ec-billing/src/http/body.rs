//! A guarded body: read within the read timeout and the attempt's deadline, and up to
//! a size (failing past it, or cut there for an error answer's body). The one
//! body-stream wrapper both transports use.

use std::{fmt, io, sync::Arc, time::Duration};

use bytes::Bytes;
use futures_util::{FutureExt, Stream, StreamExt, future::Shared, stream};

use crate::policy::{Clock, Sleep};

/// How much of a body is read.
#[derive(Clone, Copy, Debug)]
pub(super) enum BodyLimit {
    /// All of it.
    None,
    /// At most this many bytes; more fails the read.
    Fail(u64),
    /// At most this many bytes; the rest is dropped unread and the body ends there.
    Truncate(u64),
}

/// Which bound a body read hit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum BoundHit {
    TooLarge,
    Idle,
    Deadline,
}

/// The error a guarded body fails with when it hits a bound, inside an `io::Error`.
#[derive(Debug)]
pub(super) struct BodyBound {
    pub(super) hit: BoundHit,
    detail: String,
}

impl fmt::Display for BodyBound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.detail)
    }
}

impl std::error::Error for BodyBound {}

/// `response` with its body guarded: see [`guarded`].
pub(super) fn bounded(
    response: reqwest::Response,
    deadline: Deadline,
    clock: Arc<dyn Clock>,
    read_timeout: Duration,
    limit: BodyLimit,
) -> reqwest::Response {
    let (status, version, headers) = (
        response.status(),
        response.version(),
        response.headers().clone(),
    );
    let body = reqwest::Body::wrap_stream(guarded(
        response.bytes_stream(),
        deadline,
        clock,
        read_timeout,
        limit,
    ));
    let mut rebuilt = http::Response::new(body);
    *rebuilt.status_mut() = status;
    *rebuilt.version_mut() = version;
    *rebuilt.headers_mut() = headers;
    reqwest::Response::from(rebuilt)
}

/// A body stream that ends with an error when a piece takes longer than
/// `read_timeout`, when `deadline` passes, or when it outgrows `limit` (or, for
/// [`BodyLimit::Truncate`], just ends there).
pub(super) fn guarded(
    body: impl Stream<Item = reqwest::Result<Bytes>> + Send + 'static,
    deadline: Deadline,
    clock: Arc<dyn Clock>,
    read_timeout: Duration,
    limit: BodyLimit,
) -> impl Stream<Item = io::Result<Bytes>> + Send + 'static {
    struct Guard<S> {
        body: std::pin::Pin<Box<S>>,
        deadline: Deadline,
        clock: Arc<dyn Clock>,
        read: u64,
        done: bool,
    }
    let failure = |hit: BoundHit, detail: String| {
        let kind = match hit {
            BoundHit::TooLarge => io::ErrorKind::InvalidData,
            BoundHit::Idle | BoundHit::Deadline => io::ErrorKind::TimedOut,
        };
        io::Error::new(kind, BodyBound { hit, detail })
    };
    let start = Guard {
        body: Box::pin(body),
        deadline,
        clock,
        read: 0,
        done: false,
    };
    stream::unfold(start, move |mut guard| async move {
        if guard.done {
            return None;
        }
        // The next piece first; then the attempt's deadline, which wins a tie with the
        // read timeout.
        let next = tokio::select! {
            biased;
            next = guard.body.next() => Ok(next),
            () = &mut guard.deadline => Err(BoundHit::Deadline),
            () = guard.clock.timer(read_timeout) => Err(BoundHit::Idle),
        };
        let item = match next {
            Err(hit) => {
                guard.done = true;
                Err(match hit {
                    BoundHit::Deadline => failure(
                        hit,
                        "the attempt timeout passed while reading the body".into(),
                    ),
                    _ => failure(
                        hit,
                        format!("no body data for {} ms", read_timeout.as_millis()),
                    ),
                })
            }
            Ok(None) => return None,
            Ok(Some(Err(err))) => {
                guard.done = true;
                Err(io::Error::other(err.without_url()))
            }
            Ok(Some(Ok(chunk))) => {
                let size = chunk.len() as u64;
                match limit {
                    BodyLimit::Fail(max) if guard.read.saturating_add(size) > max => {
                        guard.done = true;
                        Err(failure(
                            BoundHit::TooLarge,
                            format!("the body is larger than {max} bytes"),
                        ))
                    }
                    BodyLimit::Truncate(max) if guard.read.saturating_add(size) >= max => {
                        guard.done = true;
                        let keep = usize::try_from(max.saturating_sub(guard.read)).unwrap_or(0);
                        Ok(chunk.slice(..keep.min(chunk.len())))
                    }
                    _ => {
                        guard.read = guard.read.saturating_add(size);
                        Ok(chunk)
                    }
                }
            }
        };
        Some((item, guard))
    })
}

/// The end of an attempt, on the client's clock: one timer that every wait of the
/// attempt (for the answer's head, for each piece of its body) races against; each
/// clone completes when it does.
pub(super) type Deadline = Shared<Sleep>;

/// The deadline `wait` from now, by `clock`; for a wait too long to mean anything (a
/// caller's `Duration::MAX`, meaning "no limit"), about 30 years, which no attempt
/// lives to see.
pub(super) fn deadline(clock: &dyn Clock, wait: Duration) -> Deadline {
    const FAR: Duration = Duration::from_secs(30 * 365 * 24 * 60 * 60);
    clock.timer(wait.min(FAR)).shared()
}
