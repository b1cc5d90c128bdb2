//! The simulator's HTTP side: the two endpoints with the contract's semantics, the
//! documented error answers, and the faults a test or benchmark turns on.

use std::{
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
    Fault, Faults,
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
    pub(crate) bucket: Mutex<TokenBucket>,
    pub(crate) rng: Mutex<fastrand::Rng>,
    pub(crate) stats: Counters,
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

    /// Takes a token, or says how long until one is there.
    fn take(&mut self, rate: u32) -> Result<u32, Duration> {
        let rate = f64::from(rate);
        let now = Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.last).as_secs_f64() * rate).min(rate);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(self.tokens as u32)
        } else {
            Err(Duration::from_secs_f64((1.0 - self.tokens) / rate))
        }
    }
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
    limits: Option<(u32, u32)>,
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
    headers: HeaderMap,
) -> Response {
    let admitted = match shared
        .admit(&organization, &deployment, &query, &headers, true)
        .await
    {
        Ok(admitted) => admitted,
        Err(response) => return response,
    };
    let csv = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/csv"));
    if csv {
        // Generated day by day as it is sent: memory stays flat however large the
        // answer (see `Dataset::with_copies`).
        let days = shared.dataset.days(admitted.from, admitted.to);
        let batches = shared.dataset.copy_batches(COPIES_PER_CHUNK);
        let count = days.len() * batches.len() + 1;
        let data = shared.clone();
        let rows = stream::iter(
            days.into_iter()
                .flat_map(move |day| batches.clone().into_iter().map(move |b| (day, b))),
        )
        .map(move |(day, copies)| {
            let lines = data
                .dataset
                .day_lines_of_copies(&organization, &deployment, day, copies)
                .expect("admitted");
            let mut out = Vec::with_capacity(lines.len() * 200);
            for line in &lines {
                write_csv_line(&mut out, line);
            }
            Bytes::from(out)
        });
        let header = Bytes::from(format!("{CSV_HEADER}\r\n"));
        let chunks = stream::once(std::future::ready(header)).chain(rows);
        return shared.respond("text/csv", Box::pin(chunks), count, &admitted);
    }
    let days = shared
        .dataset
        .lines(&organization, &deployment, admitted.from, admitted.to)
        .expect("admitted");
    let lines: Vec<Line> = days.into_iter().flat_map(|(_, lines)| lines).collect();
    shared.respond_with("application/json", json_document(&lines), &admitted)
}

async fn charts(
    State(shared): State<Arc<Shared>>,
    Path((organization, deployment)): Path<(String, String)>,
    Query(query): Query<RangeQuery>,
    headers: HeaderMap,
) -> Response {
    let admitted = match shared
        .admit(&organization, &deployment, &query, &headers, false)
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
        .lines(&organization, &deployment, admitted.from, admitted.to)
        .expect("admitted");
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
        let values = &mut buckets.last_mut().expect("pushed").1;
        for line in &lines {
            let (id, name) = match line.dimension() {
                "capacity" => ("capacity", "Capacity"),
                "data_out" => ("data_out", "Data out"),
                _ => ("storage_bytes", "Storage"),
            };
            match values.iter_mut().find(|(i, _, _)| *i == id) {
                Some(value) => value.2 += line.cost(),
                None => values.push((id, name, line.cost())),
            }
        }
    }
    let data = buckets
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
    let body = serde_json::to_vec(&wire::ChartItems { data }).expect("serializable");
    shared.respond_with("application/json", body, &admitted)
}

impl Shared {
    /// Everything before the data: latency, rate limit, faults, key, the ids and the
    /// range. Returns the range and a fault still to inject in the body, or the answer
    /// to send instead.
    async fn admit(
        &self,
        organization: &str,
        deployment: &str,
        query: &RangeQuery,
        headers: &HeaderMap,
        items: bool,
    ) -> Result<Admitted, Response> {
        self.stats.requests.fetch_add(1, Ordering::Relaxed);
        if !self.faults.latency.is_zero() {
            tokio::time::sleep(self.faults.latency).await;
        }
        let remaining = match self.faults.rate_limit {
            None => None,
            Some(rate) => match self
                .bucket
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take(rate)
            {
                Ok(remaining) => Some((rate, remaining)),
                Err(wait) => {
                    self.stats.throttled.fetch_add(1, Ordering::Relaxed);
                    let mut response = error(
                        StatusCode::TOO_MANY_REQUESTS,
                        "billing_service.rate_limited",
                        "Too many requests",
                    );
                    let seconds = wait.as_secs_f64().ceil().max(1.0) as u64;
                    set(&mut response, "retry-after", &seconds.to_string());
                    set_rate_headers(&mut response, rate, 0);
                    return Err(response);
                }
            },
        };
        let with_limits = |mut response: Response| {
            if let Some((rate, remaining)) = remaining {
                set_rate_headers(&mut response, rate, remaining);
            }
            response
        };
        let fault = self.draw_fault();
        if let Some(response) = fault.and_then(fault_answer) {
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
            limits: remaining,
        })
    }

    /// The fault for this request, if the dice say so.
    fn draw_fault(&self) -> Option<Fault> {
        if self.faults.share <= 0.0 {
            return None;
        }
        let mut rng = self.rng.lock().unwrap_or_else(PoisonError::into_inner);
        if rng.f64() >= self.faults.share {
            return None;
        }
        let kinds: &[Fault] = if self.faults.kinds.is_empty() {
            &Fault::ALL
        } else {
            &self.faults.kinds
        };
        self.stats.faults.fetch_add(1, Ordering::Relaxed);
        Some(kinds[rng.usize(0..kinds.len())])
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
                let pause = self.faults.slow_pause;
                Box::pin(chunks.then(move |chunk| async move {
                    tokio::time::sleep(pause).await;
                    Ok(chunk)
                }))
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
        if let Some((limit, remaining)) = admitted.limits {
            set_rate_headers(&mut response, limit, remaining);
        }
        set(&mut response, header::CONTENT_TYPE.as_str(), content_type);
        response
    }
}

/// The answer a fault replaces the real one with; `None` for faults of the body.
fn fault_answer(fault: Fault) -> Option<Response> {
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
        Fault::Truncated | Fault::Reset | Fault::SlowBody => return None,
    })
}

fn set(response: &mut Response, name: &str, value: &str) {
    let name = header::HeaderName::from_str(name).expect("a valid header name");
    response.headers_mut().insert(
        name,
        HeaderValue::from_str(value).expect("a valid header value"),
    );
}

fn set_rate_headers(response: &mut Response, limit: u32, remaining: u32) {
    set(response, "x-ratelimit-limit", &limit.to_string());
    set(response, "x-ratelimit-remaining", &remaining.to_string());
    set(response, "x-ratelimit-interval", "1s");
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
    let body = serde_json::to_vec(&body).expect("serializable");
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
    if from < EARLIEST.parse::<Timestamp>().expect("a valid timestamp") {
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
    serde_json::to_vec(&items_json(lines)).expect("serializable")
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
                    kind: (*kind).to_string(),
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
                    type_: d.to_string(),
                    cost: number(cost),
                })
                .collect(),
        },
        data_transfer_and_storage: dts,
        resources,
    }
}

/// The CSV layout the simulator serves (upstream documents none): a Title Case header
/// row, one row per line, CRLF line ends, fields quoted where they need it.
pub(crate) const CSV_HEADER: &str = "Name,Kind,Type,SKU,Period Start,Period End,Hours,Instance Count,\
Price Per Hour,Quantity,Quantity Formatted,Rate,Rate Formatted,Cost";

/// The items CSV the simulator serves for `lines`: a header row, then one row per line.
pub fn csv_document(lines: &[Line]) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + lines.len() * 160);
    out.extend_from_slice(CSV_HEADER.as_bytes());
    out.extend_from_slice(b"\r\n");
    for line in lines {
        write_csv_line(&mut out, line);
    }
    out
}

/// Appends one CSV row for `line`.
pub(crate) fn write_csv_line(out: &mut Vec<u8>, line: &Line) {
    let fields: [String; 14] = match line {
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
        } => [
            name.clone(),
            (*kind).into(),
            String::new(),
            (*sku).into(),
            start.to_string(),
            end.to_string(),
            hours.to_string(),
            instance_count.to_string(),
            price_per_hour.to_string(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            cost.to_string(),
        ],
        Line::Dts {
            name,
            sku,
            usage_type,
            quantity,
            quantity_formatted,
            rate,
            rate_formatted,
            cost,
        } => [
            name.clone(),
            String::new(),
            (*usage_type).into(),
            (*sku).into(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            quantity.to_string(),
            quantity_formatted.clone(),
            rate.to_string(),
            rate_formatted.clone(),
            cost.to_string(),
        ],
    };
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        if field.contains([',', '"', '\r', '\n']) {
            out.push(b'"');
            out.extend_from_slice(field.replace('"', "\"\"").as_bytes());
            out.push(b'"');
        } else {
            out.extend_from_slice(field.as_bytes());
        }
    }
    out.extend_from_slice(b"\r\n");
}
