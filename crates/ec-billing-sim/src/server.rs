//! The simulator's HTTP side: the two endpoints with the contract's semantics, the
//! documented error answers, and the faults a test or benchmark turns on.

use std::{
    collections::HashMap,
    str::FromStr,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{
    Router,
    body::Body,
    extract::{Path, Query, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use bytes::Bytes;
use ec_billing_api::{self as api, types as wire};
use futures_util::{
    StreamExt,
    stream::{self, BoxStream},
};
use jiff::{Timestamp, civil::Date};
use rust_decimal::Decimal;
use serde::Deserialize;

use crate::{
    CsvLayout, Fault, Faults,
    dataset::{Dataset, Line, midnight, utc_date},
};

/// How many copies of a day's lines make one chunk of a CSV body (see
/// `Dataset::with_copies`): small chunks keep the simulator's own memory flat.
const COPIES_PER_CHUNK: u32 = 64;

/// The size of the chunks a JSON body is sent in.
const CHUNK: usize = 8 * 1024;

/// A body as a stream of chunks.
type Chunks = BoxStream<'static, Bytes>;

/// One chart value being summed: series id, series name, value.
type SeriesValue = (&'static str, &'static str, Decimal);

/// The earliest `from` the API accepts.
const EARLIEST: &str = "2021-01-01T00:00:00Z";

/// The longest range one request may span, in seconds (92 days).
const MAX_SPAN_SECONDS: i64 = 92 * 86_400;

/// Everything the handlers share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) key: String,
    pub(crate) dataset: Dataset,
    pub(crate) faults: Faults,
    /// Faults of single deployments, `(organization, deployment)`, instead of
    /// `faults` (whose rate limit still applies to all).
    pub(crate) deployment_faults: HashMap<(String, String), Faults>,
    pub(crate) bucket: Mutex<TokenBucket>,
    /// The layout items CSV answers come in.
    pub(crate) csv_layout: CsvLayout,
    /// How many times each request (path and query) has been received.
    pub(crate) seen: Mutex<HashMap<String, u32>>,
    /// The simulator's clock, when set; else the system's.
    pub(crate) now: Mutex<Option<Timestamp>>,
    pub(crate) stats: Counters,
}

/// How a rate limit is announced on every answer (and what a 429 carries besides
/// `Retry-After`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RateLimitDialect {
    /// `x-ratelimit-limit`, `x-ratelimit-remaining`, `x-ratelimit-interval: 1s`: the
    /// default.
    #[default]
    Interval,
    /// The same with the interval as a number of seconds and the limit per minute:
    /// `x-ratelimit-limit: 1200`, `x-ratelimit-interval: 60`.
    IntervalSeconds,
    /// The same with an ISO 8601 interval: `x-ratelimit-interval: PT1S`.
    IntervalIso,
    /// `x-ratelimit-limit`, `x-ratelimit-remaining`, and `x-ratelimit-reset` as the epoch
    /// second at which the bucket is full again; no interval.
    ResetEpoch,
    /// The same with `x-ratelimit-reset` in seconds from now.
    ResetSeconds,
    /// IETF draft headers: `ratelimit-policy: 20;w=1`, `ratelimit-remaining`,
    /// `ratelimit-reset` in seconds from now.
    Ietf,
    /// No rate-limit headers at all: a 429 says `Retry-After`, nothing else.
    RetryAfterOnly,
}

impl RateLimitDialect {
    /// Every dialect.
    pub const ALL: [RateLimitDialect; 7] = [
        RateLimitDialect::Interval,
        RateLimitDialect::IntervalSeconds,
        RateLimitDialect::IntervalIso,
        RateLimitDialect::ResetEpoch,
        RateLimitDialect::ResetSeconds,
        RateLimitDialect::Ietf,
        RateLimitDialect::RetryAfterOnly,
    ];

    /// The dialect's name, as `ec-billing-sim --rate-limit-dialect` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Interval => "interval",
            Self::IntervalSeconds => "interval-seconds",
            Self::IntervalIso => "interval-iso",
            Self::ResetEpoch => "reset-epoch",
            Self::ResetSeconds => "reset-seconds",
            Self::Ietf => "ietf",
            Self::RetryAfterOnly => "retry-after-only",
        }
    }

    /// The dialect named `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|dialect| dialect.name() == name)
    }
}

/// What the simulator has seen, for tests and benchmarks.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) requests: AtomicU64,
    pub(crate) throttled: AtomicU64,
    pub(crate) faults: AtomicU64,
    pub(crate) body_bytes: Arc<AtomicU64>,
}

/// A token bucket: `rate` tokens a second, at most `rate` stored.
#[derive(Debug)]
pub(crate) struct TokenBucket {
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    pub(crate) fn new(rate: u32) -> Self {
        Self {
            tokens: f64::from(rate),
            last: Instant::now(),
        }
    }

    /// Takes a token, or says how long until one is there. Either way, also the
    /// tokens left and how long until the bucket is full again.
    fn take(&mut self, rate: u32) -> (Result<(), Duration>, Limits) {
        // A limit of 0 would never admit anything, nor say when: it is taken as 1.
        let rate = rate.max(1);
        let rate_f = f64::from(rate);
        let now = Instant::now();
        self.tokens =
            (self.tokens + now.duration_since(self.last).as_secs_f64() * rate_f).min(rate_f);
        self.last = now;
        let taken = if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - self.tokens) / rate_f))
        };
        let limits = Limits {
            rate,
            remaining: self.tokens as u32,
            full_in: Duration::from_secs_f64((rate_f - self.tokens) / rate_f),
        };
        (taken, limits)
    }
}

/// What a rate-limited answer announces.
#[derive(Clone, Copy, Debug)]
struct Limits {
    rate: u32,
    remaining: u32,
    full_in: Duration,
}

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route(
            "/api/v1/billing/costs/{organization}/deployments/{deployment}/items",
            get(items),
        )
        .route(
            "/api/v1/billing/costs/{organization}/deployments/{deployment}/charts",
            get(charts),
        )
        .with_state(shared)
}

/// A request that passed every check: its range, a fault still to inject in its
/// body, and the rate limit and tokens left to report, if limited.
#[derive(Debug)]
struct Admitted {
    from: Timestamp,
    to: Timestamp,
    fault: Option<Fault>,
    limits: Option<Limits>,
    /// The pause of a slow or trickled body, from the deployment's faults.
    slow_pause: Duration,
    /// The size of a huge error body, from the deployment's faults.
    huge_body_bytes: u64,
}

#[derive(Debug, Deserialize)]
struct RangeQuery {
    from: Option<String>,
    to: Option<String>,
    bucketing_strategy: Option<String>,
}

async fn items(
    State(shared): State<Arc<Shared>>,
    Path((organization, deployment)): Path<(String, String)>,
    Query(query): Query<RangeQuery>,
    uri: axum::http::Uri,
    headers: HeaderMap,
) -> Response {
    let admitted = match shared
        .admit(&organization, &deployment, &query, &uri, &headers, true)
        .await
    {
        Ok(admitted) => admitted,
        Err(response) => return response,
    };
    let csv = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/csv"));
    if let Some(response) = admitted
        .fault
        .and_then(|fault| hostile_items(&shared, fault, csv, &admitted))
    {
        return response;
    }
    if admitted.fault == Some(Fault::ShuffledLines) {
        let lines = shuffled_lines(&shared, &organization, &deployment, &admitted);
        if csv {
            let layout = shared.csv_layout;
            let mut out = format!("{}\r\n", layout.header()).into_bytes();
            layout.write_rows(&lines, &mut out);
            let body = Box::pin(stream::once(std::future::ready(Bytes::from(out))));
            return shared.respond("text/csv", body, 1, &admitted);
        }
        return shared.respond_with("application/json", json_document(&lines), &admitted);
    }
    if csv {
        // Generated day by day as it is sent: memory stays flat however large the
        // answer (see `Dataset::with_copies`).
        let days = shared.dataset.days(admitted.from, admitted.to);
        let batches = shared.dataset.copy_batches(COPIES_PER_CHUNK);
        let count = days.len() * batches.len() + 1;
        let data = shared.clone();
        let renamed = admitted.fault == Some(Fault::EscapesInNames);
        let layout = shared.csv_layout;
        let rows = stream::iter(
            days.into_iter()
                .flat_map(move |day| batches.clone().into_iter().map(move |b| (day, b))),
        )
        .map(move |(day, copies)| {
            let lines = data
                .dataset
                .day_lines_of_copies(&organization, &deployment, day, copies, data.now())
                .unwrap_or_default();
            let lines = if renamed {
                lines.into_iter().map(with_escapes).collect()
            } else {
                lines
            };
            let mut out = Vec::with_capacity(lines.len() * 200);
            layout.write_rows(&lines, &mut out);
            Bytes::from(out)
        });
        let header = Bytes::from(format!("{}\r\n", layout.header()));
        let chunks = stream::once(std::future::ready(header)).chain(rows);
        return shared.respond("text/csv", Box::pin(chunks), count, &admitted);
    }
    let mut lines: Vec<Line> = shared
        .dataset
        .lines_as_of(
            &organization,
            &deployment,
            admitted.from,
            admitted.to,
            shared.now(),
        )
        .unwrap_or_default()
        .into_iter()
        .flat_map(|(_, lines)| lines)
        .collect();
    if admitted.fault == Some(Fault::EscapesInNames) {
        lines = lines.into_iter().map(with_escapes).collect();
    }
    shared.respond_with("application/json", json_document(&lines), &admitted)
}

/// The clean answer's lines with each DTS line split in two of one key (a third and
/// two thirds of its quantity, each costed exactly at its rate), in an order of their
/// own for each request (see [`Fault::ShuffledLines`]).
fn shuffled_lines(
    shared: &Shared,
    organization: &str,
    deployment: &str,
    admitted: &Admitted,
) -> Vec<Line> {
    let mut lines: Vec<Line> = Vec::new();
    for line in shared
        .dataset
        .lines_as_of(
            organization,
            deployment,
            admitted.from,
            admitted.to,
            shared.now(),
        )
        .unwrap_or_default()
        .into_iter()
        .flat_map(|(_, lines)| lines)
    {
        match line {
            Line::Dts {
                name,
                sku,
                usage_type,
                quantity,
                quantity_formatted,
                rate,
                rate_formatted,
                cost,
            } => {
                let third = quantity / 3;
                let share = |part: i64| {
                    if quantity == 0 {
                        Decimal::ZERO
                    } else {
                        cost * Decimal::from(part) / Decimal::from(quantity)
                    }
                };
                let first = share(third);
                for (part, part_cost) in [(third, first), (quantity - third, cost - first)] {
                    lines.push(Line::Dts {
                        name: name.clone(),
                        sku,
                        usage_type,
                        quantity: part,
                        quantity_formatted: quantity_formatted.clone(),
                        rate,
                        rate_formatted: rate_formatted.clone(),
                        cost: part_cost,
                    });
                }
            }
            resource => lines.push(resource),
        }
    }
    // Another order on every request: turned by the request's number, reversed on
    // every other one.
    let turn = shared.stats.requests.load(Ordering::Relaxed) as usize;
    if !lines.is_empty() {
        let len = lines.len();
        lines.rotate_left(turn % len);
    }
    if turn % 2 == 1 {
        lines.reverse();
    }
    lines
}

async fn charts(
    State(shared): State<Arc<Shared>>,
    Path((organization, deployment)): Path<(String, String)>,
    Query(query): Query<RangeQuery>,
    uri: axum::http::Uri,
    headers: HeaderMap,
) -> Response {
    let admitted = match shared
        .admit(&organization, &deployment, &query, &uri, &headers, false)
        .await
    {
        Ok(admitted) => admitted,
        Err(response) => return response,
    };
    let monthly = match query.bucketing_strategy.as_deref() {
        None | Some("daily") => false,
        Some("monthly") => true,
        Some(other) => {
            return error(
                StatusCode::BAD_REQUEST,
                "costs.invalid_bucketing_strategy",
                &format!("unknown bucketing strategy '{other}'"),
            );
        }
    };
    let days = shared
        .dataset
        .lines_as_of(
            &organization,
            &deployment,
            admitted.from,
            admitted.to,
            shared.now(),
        )
        .unwrap_or_default();
    let mut buckets: Vec<(Timestamp, Vec<SeriesValue>)> = Vec::new();
    for (day, lines) in days {
        let at = if monthly {
            midnight(day.first_of_month())
        } else {
            midnight(day)
        };
        if buckets.last().is_none_or(|(t, _)| *t != at) {
            buckets.push((at, Vec::new()));
        }
        let Some((_, values)) = buckets.last_mut() else {
            continue;
        };
        for line in &lines {
            let (id, name) = match line.dimension() {
                "capacity" => ("capacity", "Capacity"),
                "data_out" => ("data_out", "Data out"),
                "data_internode" => ("data_internode", "Data inter-node"),
                _ => ("storage_bytes", "Storage"),
            };
            match values.iter_mut().find(|(i, _, _)| *i == id) {
                Some(value) => value.2 += line.cost(),
                None => values.push((id, name, line.cost())),
            }
        }
    }
    let mut data: Vec<wire::ChartItem> = buckets
        .into_iter()
        .map(|(at, values)| wire::ChartItem {
            // Epoch milliseconds, which clients must tell from seconds by magnitude.
            timestamp: at.as_millisecond(),
            values: values
                .into_iter()
                .map(|(id, name, value)| wire::ChartItemValue {
                    id: id.into(),
                    name: name.into(),
                    value: number(value),
                })
                .collect(),
        })
        .collect();
    if admitted.fault == Some(Fault::ManyChartSeries) {
        // Written by hand, not through serde: quick to make, even in a debug build.
        let mut json = format!(
            "{{\"data\":[{{\"timestamp\":{},\"values\":[",
            admitted.from.as_millisecond()
        );
        for i in 0..crate::MANY_KEYS {
            let comma = if i == 0 { "" } else { "," };
            json.push_str(&format!(
                "{comma}{{\"id\":\"series_{i:06}\",\"name\":\"S\",\"value\":0.01}}"
            ));
        }
        json.push_str("]}]}");
        return shared.respond_with("application/json", json.into_bytes(), &admitted);
    }
    if let Some(fault) = admitted.fault {
        hostile_charts(fault, &mut data, admitted.to);
    }
    let body = serde_json::to_vec(&wire::ChartItems { data }).unwrap_or_default();
    shared.respond_with("application/json", body, &admitted)
}

impl Shared {
    /// The simulator's clock: the instant set, else the system's.
    pub(crate) fn now(&self) -> Timestamp {
        self.now
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .unwrap_or_else(Timestamp::now)
    }

    /// Everything before the data: latency, rate limit, faults, key, the ids and the
    /// range. Returns the range and a fault still to inject in the body, or the answer
    /// to send instead.
    async fn admit(
        &self,
        organization: &str,
        deployment: &str,
        query: &RangeQuery,
        uri: &axum::http::Uri,
        headers: &HeaderMap,
        items: bool,
    ) -> Result<Admitted, Response> {
        self.stats.requests.fetch_add(1, Ordering::Relaxed);
        let faults = self
            .deployment_faults
            .get(&(organization.to_owned(), deployment.to_owned()))
            .unwrap_or(&self.faults);
        if !faults.latency.is_zero() {
            tokio::time::sleep(faults.latency).await;
        }
        let request = uri
            .path_and_query()
            .map_or_else(|| uri.path().to_string(), |pq| pq.as_str().to_string());
        let times_seen = {
            let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
            let count = seen.entry(request.clone()).or_insert(0);
            *count += 1;
            *count - 1
        };
        if faults.throttle_first_answer && times_seen == 0 {
            self.stats.throttled.fetch_add(1, Ordering::Relaxed);
            let mut response = error(
                StatusCode::TOO_MANY_REQUESTS,
                "billing_service.rate_limited",
                "Too many requests",
            );
            set(&mut response, "retry-after", "1");
            return Err(response);
        }
        let dialect = self.faults.rate_limit_dialect;
        let limits = match self.faults.rate_limit {
            None => None,
            Some(rate) => {
                let (taken, limits) = self
                    .bucket
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .take(rate);
                if let Err(wait) = taken {
                    self.stats.throttled.fetch_add(1, Ordering::Relaxed);
                    let mut response = error(
                        StatusCode::TOO_MANY_REQUESTS,
                        "billing_service.rate_limited",
                        "Too many requests",
                    );
                    let seconds = wait.as_secs_f64().ceil().max(1.0) as u64;
                    set(&mut response, "retry-after", &seconds.to_string());
                    set_rate_headers(&mut response, dialect, limits);
                    return Err(response);
                }
                Some(limits)
            }
        };
        let with_limits = |mut response: Response| {
            if let Some(limits) = limits {
                set_rate_headers(&mut response, dialect, limits);
            }
            response
        };
        let fault = self.draw_fault(faults, &request, times_seen);
        if let Some(response) = fault.and_then(|fault| fault_answer(fault, headers, &request)) {
            return Err(with_limits(response));
        }
        let expected = format!("ApiKey {}", self.key);
        if headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            != Some(expected.as_str())
        {
            return Err(with_limits(error(
                StatusCode::UNAUTHORIZED,
                "root.unauthorized",
                "The supplied authentication is invalid",
            )));
        }
        if !self.dataset.has_organization(organization) {
            return Err(with_limits(error(
                StatusCode::NOT_FOUND,
                "organization.not_found",
                "Organization not found",
            )));
        }
        if !self.dataset.has_deployment(organization, deployment) {
            let code = if items {
                "billing_service.es_cluster_id_not_found"
            } else {
                "organization.not_found"
            };
            return Err(with_limits(error(
                StatusCode::NOT_FOUND,
                code,
                &format!("Deployment '{deployment}' not found"),
            )));
        }
        let (from, to) =
            parse_range(query.from.as_deref(), query.to.as_deref()).map_err(|message| {
                with_limits(error(
                    StatusCode::BAD_REQUEST,
                    "costs.invalid_date_range",
                    &message,
                ))
            })?;
        Ok(Admitted {
            from,
            to,
            fault,
            limits,
            slow_pause: faults.slow_pause,
            huge_body_bytes: faults.huge_body_bytes,
        })
    }

    /// The fault for the `times_seen`-th repeat of `request`, if the dice say so. The
    /// dice are a hash of the seed, the request and the repeat: the same requests draw
    /// the same faults whatever order they arrive in.
    fn draw_fault(&self, faults: &Faults, request: &str, times_seen: u32) -> Option<Fault> {
        if faults.share <= 0.0 {
            return None;
        }
        let roll = hash(faults.seed, request, times_seen);
        let unit = (roll >> 11) as f64 / (1u64 << 53) as f64;
        if unit >= faults.share {
            return None;
        }
        let kinds: &[Fault] = if faults.kinds.is_empty() {
            &Fault::ALL
        } else {
            &faults.kinds
        };
        self.stats.faults.fetch_add(1, Ordering::Relaxed);
        let pick = hash(faults.seed ^ 0x9e37_79b9_7f4a_7c15, request, times_seen);
        kinds.get((pick % kinds.len() as u64) as usize).copied()
    }

    /// A successful answer with `body`, sent in 8 KiB chunks.
    fn respond_with(
        &self,
        content_type: &'static str,
        body: Vec<u8>,
        admitted: &Admitted,
    ) -> Response {
        let body = Bytes::from(body);
        let chunks: Vec<Bytes> = (0..body.len().div_ceil(CHUNK).max(1))
            .map(|i| body.slice(i * CHUNK..((i + 1) * CHUNK).min(body.len())))
            .collect();
        let count = chunks.len();
        self.respond(
            content_type,
            Box::pin(stream::iter(chunks)),
            count,
            admitted,
        )
    }

    /// A successful answer whose body is `count` chunks, broken off or trickled out
    /// when the request drew a fault of the body.
    fn respond(
        &self,
        content_type: &'static str,
        chunks: Chunks,
        count: usize,
        admitted: &Admitted,
    ) -> Response {
        let broken = || std::io::Error::other("simulated broken connection");
        let body: BoxStream<'static, std::io::Result<Bytes>> = match admitted.fault {
            Some(Fault::Truncated) => Box::pin(
                chunks
                    .take(count / 2)
                    .map(Ok)
                    .chain(stream::once(async move { Err(broken()) })),
            ),
            Some(Fault::Reset) => Box::pin(stream::once(async move { Err(broken()) })),
            Some(Fault::SlowBody) => {
                let pause = admitted.slow_pause;
                Box::pin(chunks.then(move |chunk| async move {
                    tokio::time::sleep(pause).await;
                    Ok(chunk)
                }))
            }
            Some(Fault::Trickle) => {
                let pause = admitted.slow_pause;
                Box::pin(
                    chunks
                        .flat_map(|chunk| {
                            stream::iter((0..chunk.len()).map(move |i| chunk.slice(i..=i)))
                        })
                        .then(move |byte| async move {
                            tokio::time::sleep(pause).await;
                            Ok(byte)
                        }),
                )
            }
            _ => Box::pin(chunks.map(Ok)),
        };
        let counter = self.stats.body_bytes.clone();
        let body = body.inspect(move |chunk| {
            if let Ok(chunk) = chunk {
                counter.fetch_add(chunk.len() as u64, Ordering::Relaxed);
            }
        });
        let mut response = Response::new(Body::from_stream(body));
        if let Some(limits) = admitted.limits {
            set_rate_headers(&mut response, self.faults.rate_limit_dialect, limits);
        }
        match admitted.fault {
            Some(Fault::TinyRateLimit) => {
                set(&mut response, "x-ratelimit-limit", "1e-300");
                set(&mut response, "x-ratelimit-interval", "1s");
            }
            Some(Fault::HourlyRateLimit) => {
                set(&mut response, "x-ratelimit-limit", "1");
                set(&mut response, "x-ratelimit-remaining", "0");
                set(&mut response, "x-ratelimit-interval", "1h");
            }
            _ => {}
        }
        set(&mut response, header::CONTENT_TYPE.as_str(), content_type);
        response
    }
}

/// The answer a fault replaces the real one with; `None` for faults of the body.
fn fault_answer(fault: Fault, headers: &HeaderMap, request: &str) -> Option<Response> {
    let html = "<html><head><title>Error</title></head><body><h1>Something went wrong</h1>nginx</body></html>";
    Some(match fault {
        Fault::RateLimited | Fault::RateLimitedWithoutRetryAfter => {
            let mut response = error(
                StatusCode::TOO_MANY_REQUESTS,
                "billing_service.rate_limited",
                "Too many requests",
            );
            if fault == Fault::RateLimited {
                set(&mut response, "retry-after", "1");
            }
            response
        }
        Fault::RateLimitedPlainText => (
            StatusCode::TOO_MANY_REQUESTS,
            [
                (header::CONTENT_TYPE, "text/plain"),
                (header::RETRY_AFTER, "1"),
            ],
            "Too Many Requests",
        )
            .into_response(),
        Fault::ServerErrorJson => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "billing_service.failed_request",
            "Error fetching the itemized costs",
        ),
        Fault::ServerErrorHtml => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "text/html")],
            html,
        )
            .into_response(),
        Fault::BadGatewayHtml => (
            StatusCode::BAD_GATEWAY,
            [(header::CONTENT_TYPE, "text/html")],
            html,
        )
            .into_response(),
        Fault::UnavailableEmpty => StatusCode::SERVICE_UNAVAILABLE.into_response(),
        Fault::HugeErrorBody => return None,
        Fault::EscapesInError => error(
            StatusCode::BAD_REQUEST,
            "costs.invalid\n\u{1b}[2J\u{1b}]0;pwned\u{7}error: all good",
            "line one\nline two \u{1b}[31mred\u{1b}[0m",
        ),
        Fault::EchoedKey => {
            let sent = headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            let key = sent.strip_prefix("ApiKey ").unwrap_or(sent);
            let mut response = error(
                StatusCode::BAD_REQUEST,
                &format!("costs.invalid_key.{key}"),
                &format!("the key {key} is not valid here"),
            );
            set(&mut response, "x-request-id", &format!("req-{key}"));
            response
        }
        Fault::RedirectLoop => {
            (StatusCode::FOUND, [(header::LOCATION, request.to_string())]).into_response()
        }
        Fault::RedirectToFile => (
            StatusCode::FOUND,
            [(header::LOCATION, "file:///etc/passwd".to_string())],
        )
            .into_response(),
        Fault::Truncated
        | Fault::Reset
        | Fault::SlowBody
        | Fault::Trickle
        | Fault::EscapesInNames
        | Fault::OverflowingCosts
        | Fault::ExcessDigits
        | Fault::DuplicateBucket
        | Fault::BucketOutsideWindow
        | Fault::HugeCell
        | Fault::TinyRateLimit
        | Fault::HourlyRateLimit
        | Fault::EndlessCsvRecord
        | Fault::ManyDimensions
        | Fault::ManyChartSeries
        | Fault::ShuffledLines => return None,
    })
}

/// The items answer a hostile fault of the body replaces the real one with, if it
/// does.
fn hostile_items(
    shared: &Shared,
    fault: Fault,
    csv: bool,
    admitted: &Admitted,
) -> Option<Response> {
    let huge = || Decimal::new(7, 0) * Decimal::from(10u64.pow(14)) * Decimal::from(10u64.pow(14));
    match (fault, csv) {
        (Fault::HugeErrorBody, _) => Some(huge_error(admitted.huge_body_bytes)),
        (Fault::OverflowingCosts, false) => {
            let mut body = items_json(&[]);
            body.costs.total = number(huge());
            if let Some(capacity) = body.costs.dimensions.first_mut() {
                capacity.cost = number(huge());
            }
            let line = |hours| wire::ItemCosts {
                hours,
                instance_count: 2,
                kind: api::ResourceKind::Elasticsearch,
                name: "ES".into(),
                period: wire::Period {
                    start: admitted.from,
                    end: admitted.to,
                },
                price: number(huge()),
                price_per_hour: number(Decimal::ONE),
                sku: "es".into(),
            };
            body.resources = vec![line(i64::MAX), line(1)];
            let json = serde_json::to_vec(&body).unwrap_or_default();
            Some(shared.respond_with("application/json", json, admitted))
        }
        (Fault::OverflowingCosts, true) => {
            let row = "ES,elasticsearch,,es,2024-01-01T00:00:00Z,2024-01-02T00:00:00Z,24,1,1,,,,,79228162514264337593543950335\r\n";
            let body = format!("{}\r\n{row}{row}", csv_header());
            Some(shared.respond_with("text/csv", body.into_bytes(), admitted))
        }
        (Fault::ExcessDigits, false) => {
            let json = String::from_utf8(json_document(&[])).unwrap_or_default();
            let json = json.replacen(
                "\"total\":0",
                "\"total\":123456789012345.123456789012345",
                1,
            );
            Some(shared.respond_with("application/json", json.into_bytes(), admitted))
        }
        (Fault::ExcessDigits, true) => {
            let row = "ES,elasticsearch,,es,2024-01-01T00:00:00Z,2024-01-02T00:00:00Z,24,1,1,,,,,0.000000000000000000000000000015\r\n";
            let body = format!("{}\r\n{row}", csv_header());
            Some(shared.respond_with("text/csv", body.into_bytes(), admitted))
        }
        (Fault::HugeCell, _) => {
            let cell = "9".repeat(1_000_000) + "x";
            let row = format!(
                "ES,elasticsearch,,es,2024-01-01T00:00:00Z,2024-01-02T00:00:00Z,24,1,1,,,,,{cell}\r\n"
            );
            let body = format!("{}\r\n{row}", csv_header());
            Some(shared.respond_with("text/csv", body.into_bytes(), admitted))
        }
        (Fault::EndlessCsvRecord, true) => {
            const PIECE: usize = 64 * 1024;
            let head = format!(
                "{}\r\nES,elasticsearch,,es,2024-01-01T00:00:00Z,2024-01-02T00:00:00Z,24,1,1,,,,,\"",
                csv_header()
            );
            let piece = Bytes::from(vec![b'9'; PIECE]);
            let pieces = crate::ENDLESS_RECORD_BYTES.div_ceil(PIECE as u64);
            let count = usize::try_from(pieces)
                .unwrap_or(usize::MAX)
                .saturating_add(1);
            let chunks = stream::once(std::future::ready(Bytes::from(head)))
                .chain(stream::iter(0..pieces).map(move |_| piece.clone()));
            Some(shared.respond("text/csv", Box::pin(chunks), count, admitted))
        }
        // Written by hand, not through serde: quick to make, even in a debug build.
        (Fault::ManyDimensions, false) => {
            let mut json = format!(
                "{{\"costs\":{{\"total\":{},\"dimensions\":[",
                many_keys_total()
            );
            for i in 0..crate::MANY_KEYS {
                let comma = if i == 0 { "" } else { "," };
                json.push_str(&format!(
                    "{comma}{{\"type\":\"usage_{i:06}\",\"cost\":0.01}}"
                ));
            }
            json.push_str("]},\"data_transfer_and_storage\":[],\"resources\":[]}");
            Some(shared.respond_with("application/json", json.into_bytes(), admitted))
        }
        // The fewest columns a DTS row needs: the test is of the keys, not the layout.
        (Fault::ManyDimensions, true) => {
            let mut body = String::from("Usage Type,Quantity,Rate,Cost\r\n");
            for i in 0..crate::MANY_KEYS {
                body.push_str(&format!("usage_{i:06},1,0.01,0.01\r\n"));
            }
            Some(shared.respond_with("text/csv", body.into_bytes(), admitted))
        }
        _ => None,
    }
}

/// The total of a window of a [`Fault::ManyDimensions`] answer: 0.01 ECU per key.
fn many_keys_total() -> Decimal {
    Decimal::new(1, 2) * Decimal::from(crate::MANY_KEYS)
}

/// Applies a hostile fault of the body to a charts answer's buckets.
fn hostile_charts(fault: Fault, data: &mut Vec<wire::ChartItem>, to: Timestamp) {
    match fault {
        Fault::OverflowingCosts => {
            let huge =
                Decimal::new(7, 0) * Decimal::from(10u64.pow(14)) * Decimal::from(10u64.pow(14));
            for item in data.iter_mut() {
                for value in &mut item.values {
                    value.value = number(huge);
                }
            }
            // A bucket at the window's end, which the next window starts with.
            data.push(wire::ChartItem {
                timestamp: to.as_millisecond(),
                values: vec![wire::ChartItemValue {
                    id: "capacity".into(),
                    name: "Capacity".into(),
                    value: number(huge),
                }],
            });
        }
        Fault::DuplicateBucket => {
            if let Some(first) = data.first().cloned() {
                data.push(first);
            }
        }
        Fault::BucketOutsideWindow => {
            if let Some(first) = data.first_mut() {
                first.timestamp = 86_400_000;
            }
        }
        Fault::EscapesInNames => {
            for item in data.iter_mut() {
                for value in &mut item.values {
                    value.name = format!("\u{1b}[2J{}\u{1b}]0;pwned\u{7}\nfake", value.name);
                }
            }
        }
        _ => {}
    }
}

/// A 500 whose HTML body of `bytes` is made as it is sent.
fn huge_error(bytes: u64) -> Response {
    const PIECE: usize = 64 * 1024;
    let piece = Bytes::from(vec![b'x'; PIECE]);
    let pieces = bytes.div_ceil(PIECE as u64);
    let body = stream::iter(0..pieces).map(move |_| Ok::<_, std::io::Error>(piece.clone()));
    let mut response = Response::new(Body::from_stream(body));
    *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    set(&mut response, header::CONTENT_TYPE.as_str(), "text/html");
    response
}

/// A line whose name, SKU and kind hold terminal escape sequences and newlines.
fn with_escapes(mut line: Line) -> Line {
    let hostile = |text: &str| format!("\u{1b}[2J{text}\u{1b}]0;pwned\u{7}\nfake line");
    match &mut line {
        Line::Resource { name, .. } | Line::Dts { name, .. } => *name = hostile(name),
    }
    line
}

/// A stable hash of a seed, a request and its repeat (FNV-1a, then mixed).
fn hash(seed: u64, request: &str, times_seen: u32) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64 ^ seed;
    for b in request.bytes().chain(times_seen.to_le_bytes()) {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^ (h >> 29)
}

/// Sets a header; a name or value that is not valid in HTTP (a key with odd bytes, say)
/// is left out.
fn set(response: &mut Response, name: &str, value: &str) {
    if let (Ok(name), Ok(value)) = (
        header::HeaderName::from_str(name),
        HeaderValue::from_str(value),
    ) {
        response.headers_mut().insert(name, value);
    }
}

/// Announces the rate limit in `dialect`.
fn set_rate_headers(response: &mut Response, dialect: RateLimitDialect, limits: Limits) {
    let Limits {
        rate,
        remaining,
        full_in,
    } = limits;
    let reset_in = full_in.as_secs_f64().ceil() as u64;
    let (limit, remaining) = (rate.to_string(), remaining.to_string());
    match dialect {
        RateLimitDialect::Interval | RateLimitDialect::IntervalIso => {
            set(response, "x-ratelimit-limit", &limit);
            set(response, "x-ratelimit-remaining", &remaining);
            let interval = if dialect == RateLimitDialect::Interval {
                "1s"
            } else {
                "PT1S"
            };
            set(response, "x-ratelimit-interval", interval);
        }
        RateLimitDialect::IntervalSeconds => {
            set(
                response,
                "x-ratelimit-limit",
                &(u64::from(rate) * 60).to_string(),
            );
            set(response, "x-ratelimit-remaining", &remaining);
            set(response, "x-ratelimit-interval", "60");
        }
        RateLimitDialect::ResetEpoch | RateLimitDialect::ResetSeconds => {
            set(response, "x-ratelimit-limit", &limit);
            set(response, "x-ratelimit-remaining", &remaining);
            let reset = if dialect == RateLimitDialect::ResetEpoch {
                (Timestamp::now().as_second() as u64 + reset_in).to_string()
            } else {
                reset_in.to_string()
            };
            set(response, "x-ratelimit-reset", &reset);
        }
        RateLimitDialect::Ietf => {
            set(response, "ratelimit-policy", &format!("{rate};w=1"));
            set(response, "ratelimit-remaining", &remaining);
            set(response, "ratelimit-reset", &reset_in.to_string());
        }
        RateLimitDialect::RetryAfterOnly => {}
    }
}

/// A documented error answer: the status, its `x-cloud-error-codes` and body.
fn error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = wire::BasicFailedReply {
        errors: vec![wire::BasicFailedReplyElement {
            code: code.into(),
            message: message.into(),
            fields: vec![],
        }],
    };
    let body = serde_json::to_vec(&body).unwrap_or_default();
    let mut response = (status, [(header::CONTENT_TYPE, "application/json")], body).into_response();
    set(&mut response, "x-cloud-error-codes", code);
    response
}

/// `from` and `to` as the API reads them: RFC 3339 or a bare date; defaults to the
/// start of the current month until now.
fn parse_range(from: Option<&str>, to: Option<&str>) -> Result<(Timestamp, Timestamp), String> {
    let now = Timestamp::now();
    let from = match from {
        Some(text) => parse_instant(text)?,
        None => midnight(utc_date(now).first_of_month()),
    };
    let to = match to {
        Some(text) => parse_instant(text)?,
        None => now,
    };
    if from >= to {
        return Err(format!(
            "The requested date range is invalid: 'from' ({from}) must be before 'to' ({to})."
        ));
    }
    if EARLIEST
        .parse::<Timestamp>()
        .is_ok_and(|earliest| from < earliest)
    {
        return Err(format!(
            "The requested date range is invalid: 'from' ({from}) is before {EARLIEST}."
        ));
    }
    if to.as_second() - from.as_second() > MAX_SPAN_SECONDS {
        return Err("The requested date range is invalid: it spans more than 92 days.".to_string());
    }
    Ok((from, to))
}

fn parse_instant(text: &str) -> Result<Timestamp, String> {
    text.parse::<Timestamp>()
        .ok()
        .or_else(|| text.parse::<Date>().ok().map(midnight))
        .ok_or_else(|| format!("The requested date range is invalid: '{text}' is not a date-time."))
}

/// A decimal as the API's JSON number, with its own digits.
fn number(value: Decimal) -> api::ExactNumber {
    value.into()
}

/// The items JSON the simulator serves for `lines`.
pub fn json_document(lines: &[Line]) -> Vec<u8> {
    // Plain data with exact numbers serializes without fail.
    serde_json::to_vec(&items_json(lines)).unwrap_or_default()
}

fn items_json(lines: &[Line]) -> wire::ItemsCosts {
    let mut dimensions: Vec<(&str, Decimal)> = [
        "capacity",
        "data_in",
        "data_internode",
        "data_out",
        "storage_api",
        "storage_bytes",
    ]
    .into_iter()
    .map(|d| (d, Decimal::ZERO))
    .collect();
    let mut resources = Vec::new();
    let mut dts = Vec::new();
    for line in lines {
        if let Some(slot) = dimensions.iter_mut().find(|(d, _)| *d == line.dimension()) {
            slot.1 += line.cost();
        }
        match line {
            Line::Resource {
                kind,
                name,
                sku,
                hours,
                instance_count,
                start,
                end,
                price_per_hour,
                cost,
            } => {
                resources.push(wire::ItemCosts {
                    hours: *hours,
                    instance_count: *instance_count,
                    kind: api::ResourceKind::from(*kind),
                    name: name.clone(),
                    period: wire::Period {
                        start: *start,
                        end: *end,
                    },
                    price: number(*cost),
                    price_per_hour: number(*price_per_hour),
                    sku: (*sku).to_string(),
                });
            }
            Line::Dts {
                name,
                sku,
                usage_type,
                quantity,
                quantity_formatted,
                rate,
                rate_formatted,
                cost,
            } => {
                dts.push(wire::DtsDimensionCosts {
                    cost: number(*cost),
                    name: name.clone(),
                    quantity: wire::DtsQuantity {
                        value: *quantity,
                        formatted_value: quantity_formatted.clone(),
                    },
                    rate: wire::DtsRate {
                        value: number(*rate),
                        formatted_value: rate_formatted.clone(),
                    },
                    sku: (*sku).to_string(),
                    type_: (*usage_type).to_string(),
                });
            }
        }
    }
    let total: Decimal = dimensions.iter().map(|(_, cost)| *cost).sum();
    wire::ItemsCosts {
        costs: wire::Costs {
            total: number(total),
            dimensions: dimensions
                .into_iter()
                .map(|(d, cost)| wire::Dimension {
                    type_: api::Dimension::from(d),
                    cost: number(cost),
                })
                .collect(),
        },
        data_transfer_and_storage: dts,
        resources,
    }
}

/// The header of the Title Case layout, for the hostile CSV answers.
fn csv_header() -> String {
    CsvLayout::TitleCase.header()
}

/// The items CSV the simulator serves by default for `lines`: a header row, then one
/// row per line ([`CsvLayout::TitleCase`]).
pub fn csv_document(lines: &[Line]) -> Vec<u8> {
    CsvLayout::TitleCase.document(lines)
}
