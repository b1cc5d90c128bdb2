//! One attempt at one window, over each transport: JSON through the generated client,
//! CSV through `reqwest` directly (the generated client only asks for JSON). Both
//! bound what they read: the answer must start within the read timeout, its body
//! never pause longer and end within the attempt's limit; an error answer's body is
//! read up to [`MAX_ERROR_BODY_BYTES`], a JSON body up to the client's
//! `max_body_bytes`. Every one of these bounds runs on the client's [`Clock`]
//! ([`Clock::timer`]), as retries and pacing do.

use std::{
    fmt, io,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;
use ec_billing_api::{CallHooks, ResponseValue, types::BasicFailedReply};
use futures_util::{FutureExt, Stream, StreamExt, future::Shared, stream};
use reqwest::{
    Url,
    header::{ACCEPT, HeaderName},
};
use tokio_util::io::{StreamReader, SyncIoBridge};

use crate::{
    answers::{self, transport},
    client::{Attempt, Client, MAX_ERROR_BODY_BYTES},
    csv::ItemsCsvReader,
    error::{CsvErrorKind, Error, RequestContext, TransportKind},
    model::{Charts, Items, decode_error},
    retry::{Clock, Sleep},
    time::{Bucketing, Window},
};

/// Whether the items endpoint is asked for JSON or CSV. Both give the same [`Items`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// `Accept: application/json`, through the generated client: the default.
    #[default]
    Json,
    /// `Accept: text/csv`, parsed by header name as it streams in.
    Csv,
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Json => "JSON",
            Self::Csv => "CSV",
        })
    }
}

/// One attempt at the items of one window, with their number of lines; the lines are
/// kept only when `keep_lines`.
pub(crate) async fn items(
    client: &Client,
    request: &RequestContext,
    window: Window,
    format: Format,
    keep_lines: bool,
    attempt: Attempt,
) -> Result<(Items, u64), Error> {
    match format {
        Format::Json => items_json(client, request, window, keep_lines, attempt).await,
        Format::Csv => items_csv(client, request, window, keep_lines, attempt).await,
    }
}

async fn items_json(
    client: &Client,
    request: &RequestContext,
    window: Window,
    keep_lines: bool,
    attempt: Attempt,
) -> Result<(Items, u64), Error> {
    let call = GeneratedCall::new(client, attempt);
    let api = call.api(client);
    let send = api
        .get_costs_items_by_deployment()
        .organization_id(&request.organization)
        .deployment_id(&request.deployment)
        .from(window.from())
        .to(window.to())
        .send();
    let mut items = Items::from(call.run(client, request, send).await?);
    let lines = (items.resources.len() + items.data_transfer_and_storage.len()) as u64;
    if !keep_lines {
        items.resources = Vec::new();
        items.data_transfer_and_storage = Vec::new();
    }
    Ok((items, lines))
}

/// One attempt at the charts of one window; a bucket outside the window, or two with
/// one timestamp, fail it as a decode error.
pub(crate) async fn charts(
    client: &Client,
    request: &RequestContext,
    window: Window,
    bucketing: Bucketing,
    attempt: Attempt,
) -> Result<Charts, Error> {
    use ec_billing_api::types::GetCostsChartsByDeploymentBucketingStrategy as Strategy;
    let strategy = match bucketing {
        Bucketing::Daily => Strategy::Daily,
        Bucketing::Monthly => Strategy::Monthly,
    };
    let call = GeneratedCall::new(client, attempt);
    let api = call.api(client);
    let send = api
        .get_costs_charts_by_deployment()
        .organization_id(&request.organization)
        .deployment_id(&request.deployment)
        .bucketing_strategy(strategy)
        .from(window.from())
        .to(window.to())
        .send();
    let wire = call.run(client, request, send).await?;
    let charts = Charts::from_wire(wire).map_err(|e| decode_error(Some(request), e))?;
    charts
        .check_within(&window, bucketing)
        .map_err(|e| decode_error(Some(request), e))?;
    Ok(charts)
}

/// One call of the generated client: its hooks, which add the client's headers, let
/// the pacer learn from the answer's head the moment it arrives, and bound its body.
struct GeneratedCall {
    hooks: CallHooks,
    head_seen: Arc<AtomicBool>,
    deadline: Deadline,
    read_timeout: Duration,
}

impl GeneratedCall {
    fn new(client: &Client, attempt: Attempt) -> Self {
        let shared = &client.shared;
        let deadline = deadline(&*shared.clock, attempt.limit);
        let head_seen = Arc::new(AtomicBool::new(false));
        let filter = {
            let (client, head_seen) = (client.clone(), head_seen.clone());
            let deadline = deadline.clone();
            let read_timeout = shared.read_timeout;
            move |response: reqwest::Response| {
                head_seen.store(true, Ordering::Relaxed);
                observe(&client, &response, attempt);
                let limit = if response.status().is_success() {
                    BodyLimit::Fail(client.shared.max_body_bytes)
                } else {
                    BodyLimit::Truncate(MAX_ERROR_BODY_BYTES as u64)
                };
                let clock = client.shared.clock.clone();
                bounded(response, deadline.clone(), clock, read_timeout, limit)
            }
        };
        let hooks = shared
            .headers
            .iter()
            .fold(CallHooks::new(), |hooks, (name, value)| {
                hooks.with_header(name.clone(), value.clone())
            })
            .with_response_filter(Arc::new(filter));
        Self {
            hooks,
            head_seen,
            deadline,
            read_timeout: shared.read_timeout,
        }
    }

    /// The generated client for this call, around the shared `reqwest::Client`.
    fn api(&self, client: &Client) -> ec_billing_api::Client {
        let shared = &client.shared;
        ec_billing_api::Client::new_with_client(
            &shared.base_url,
            shared.http.clone(),
            self.hooks.clone(),
        )
    }

    /// Runs the call: its answer must start within the read timeout, and all of it end
    /// by the attempt's deadline. A failure becomes this crate's [`Error`].
    async fn run<T: serde::de::DeserializeOwned>(
        self,
        client: &Client,
        request: &RequestContext,
        call: impl Future<Output = Result<ResponseValue<T>, ec_billing_api::Error<BasicFailedReply>>>,
    ) -> Result<T, Error> {
        let clock = &*client.shared.clock;
        let mut deadline = self.deadline.clone();
        let mut call = std::pin::pin!(call);
        // The answer first, then the read timeout (which only ends an answer whose head
        // has not come), then the attempt's deadline.
        let outcome = tokio::select! {
            biased;
            outcome = &mut call => Some(outcome),
            () = clock.timer(self.read_timeout) => {
                if self.head_seen.load(Ordering::Relaxed) {
                    tokio::select! {
                        biased;
                        outcome = &mut call => Some(outcome),
                        () = &mut deadline => None,
                    }
                } else {
                    return Err(transport(
                        request,
                        TransportKind::Timeout,
                        Some("no answer within the read timeout".into()),
                    ));
                }
            }
            () = &mut deadline => None,
        };
        match outcome {
            None => Err(transport(
                request,
                TransportKind::Timeout,
                Some("the attempt timeout passed".into()),
            )),
            Some(Ok(reply)) => Ok(reply.into_inner()),
            Some(Err(err)) => {
                Err(answers::generated_error::<T>(client, request, err, &self.hooks).await)
            }
        }
    }
}

/// Lets the pacer learn from an answer's head.
fn observe(client: &Client, response: &reqwest::Response, attempt: Attempt) {
    let shared = &client.shared;
    shared.pacer.observe(
        &*shared.clock,
        response.status().as_u16(),
        response.headers(),
        client.in_flight(),
        attempt.after_throttle,
    );
}

/// One attempt at the items of one window as CSV: the request is made here, with the
/// same headers as the generated client's, and its body is parsed as it streams in.
async fn items_csv(
    client: &Client,
    request: &RequestContext,
    window: Window,
    keep_lines: bool,
    attempt: Attempt,
) -> Result<(Items, u64), Error> {
    let shared = &client.shared;
    let deadline = deadline(&*shared.clock, attempt.limit);
    let url = operation_url(&shared.base_url, request, "items")?;
    let send = shared
        .http
        .get(url)
        .query(&[
            ("from", window.from().to_string()),
            ("to", window.to().to_string()),
        ])
        .headers(shared.headers.clone())
        .header(ACCEPT, "text/csv")
        .header(HeaderName::from_static("api-version"), "1")
        .send();
    let response = tokio::select! {
        biased;
        sent = send => match sent {
            Err(err) => return Err(answers::from_reqwest(request, err)),
            Ok(response) => response,
        },
        () = shared.clock.timer(shared.read_timeout) => {
            return Err(transport(
                request,
                TransportKind::Timeout,
                Some("no answer within the read timeout".into()),
            ));
        }
        () = deadline.clone() => {
            return Err(transport(
                request,
                TransportKind::Timeout,
                Some("the attempt timeout passed".into()),
            ));
        }
    };
    observe(client, &response, attempt);
    let status = response.status();
    if !status.is_success() {
        let response = bounded(
            response,
            deadline,
            shared.clock.clone(),
            shared.read_timeout,
            BodyLimit::Truncate(MAX_ERROR_BODY_BYTES as u64),
        );
        return Err(answers::error_answer(client, request, response).await);
    }
    // Kept lines are held whole, as a JSON answer is: bounded alike. Totals alone
    // stream in flat memory, at any size.
    let limit = if keep_lines {
        BodyLimit::Fail(shared.max_body_bytes)
    } else {
        BodyLimit::None
    };
    let chunks = guarded(
        response.bytes_stream(),
        deadline,
        shared.clock.clone(),
        shared.read_timeout,
        limit,
    );
    let reader = SyncIoBridge::new(StreamReader::new(Box::pin(chunks)));
    let parsed = match tokio::task::spawn_blocking(move || {
        ItemsCsvReader::new(reader)?.accumulate(keep_lines)
    })
    .await
    {
        Ok(parsed) => parsed,
        // A panic in the parser is a bug to report, not a network failure to retry.
        Err(join) if join.is_panic() => std::panic::resume_unwind(join.into_panic()),
        Err(join) => {
            return Err(transport(
                request,
                TransportKind::Other,
                Some(Box::new(join)),
            ));
        }
    };
    parsed.map_err(|err| csv_failure(client, request, err))
}

/// The URL of an operation for the request's ids, each one percent-encoded path
/// segment.
fn operation_url(base_url: &str, request: &RequestContext, operation: &str) -> Result<Url, Error> {
    let text = format!(
        "{base_url}/billing/costs/{}/deployments/{}/{operation}",
        ec_billing_api::encode_path(&request.organization),
        ec_billing_api::encode_path(&request.deployment),
    );
    Url::parse(&text)
        .map_err(|err| transport(request, TransportKind::InvalidRequest, Some(Box::new(err))))
}

/// A failure of the CSV reader: the body broke off or timed out (transport), a bound
/// was hit (the body's size or time, or one record's size), or the document is
/// malformed (decode).
fn csv_failure(client: &Client, request: &RequestContext, err: Error) -> Error {
    let io = match &err {
        Error::Csv(csv) => csv.io_error(),
        _ => None,
    };
    if let Some(io) = io {
        let kind = match answers::bound_in(io) {
            Some(BoundHit::TooLarge) => TransportKind::TooLarge,
            Some(BoundHit::Idle | BoundHit::Deadline) => TransportKind::Timeout,
            None if io.kind() == io::ErrorKind::TimedOut => TransportKind::Timeout,
            None => TransportKind::Body,
        };
        return transport(request, kind, Some(Box::new(err)));
    }
    match err {
        Error::Csv(csv) if csv.kind() == CsvErrorKind::TooLarge => {
            transport(request, TransportKind::TooLarge, Some(csv))
        }
        Error::Csv(csv) => answers::decode(client, Some(request), Format::Csv, *csv),
        Error::Overflow(overflow) => overflow.in_request(request.clone()).into(),
        other => other,
    }
}

/// How much of a body is read.
#[derive(Clone, Copy, Debug)]
enum BodyLimit {
    /// All of it.
    None,
    /// At most this many bytes; more fails the read.
    Fail(u64),
    /// At most this many bytes; the rest is dropped unread and the body ends there.
    Truncate(u64),
}

/// Which bound a body read hit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BoundHit {
    TooLarge,
    Idle,
    Deadline,
}

/// The error a guarded body fails with when it hits a bound, inside an `io::Error`.
#[derive(Debug)]
pub(crate) struct BodyBound {
    pub(crate) hit: BoundHit,
    detail: String,
}

impl fmt::Display for BodyBound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.detail)
    }
}

impl std::error::Error for BodyBound {}

/// `response` with its body guarded: see [`guarded`].
fn bounded(
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
fn guarded(
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
type Deadline = Shared<Sleep>;

/// The deadline `wait` from now, by `clock`; for a wait too long to mean anything (a
/// caller's `Duration::MAX`, meaning "no limit"), about 30 years, which no attempt
/// lives to see.
fn deadline(clock: &dyn Clock, wait: Duration) -> Deadline {
    const FAR: Duration = Duration::from_secs(30 * 365 * 24 * 60 * 60);
    clock.timer(wait.min(FAR)).shared()
}
