//! The simulator's HTTP side: the router, the two endpoints with the contract's
//! semantics, and everything a request passes before its data (latency, the rate
//! limit, a fault drawn, the key, the ids, the range).

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use axum::{
    Router,
    body::Body as HttpBody,
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode, header},
    response::Response,
    routing::get,
};
use bytes::Bytes;
use ec_billing_api::types as wire;
use futures_util::{StreamExt, stream};
use jiff::{Timestamp, civil::Date};
use serde::Deserialize;

use crate::{
    csv_layout::CsvLayout,
    dataset::{Dataset, Line, midnight, utc_date},
    encode::{Body, chart_items, error, json_document, set},
    faults::{self, Fault, Faults},
    rate_limit::{Limits, TokenBucket, set_rate_headers},
};

/// How many copies of a day's lines make one chunk of a CSV body (see
/// `Dataset::with_copies`): small chunks keep the simulator's own memory flat.
const COPIES_PER_CHUNK: u32 = 64;

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

/// What the simulator has seen, for tests and benchmarks.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) requests: AtomicU64,
    pub(crate) throttled: AtomicU64,
    pub(crate) faults: AtomicU64,
    pub(crate) body_bytes: Arc<AtomicU64>,
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
    if admitted.fault == Some(Fault::HugeErrorBody) {
        return faults::huge_error(admitted.huge_body_bytes);
    }
    if let Some(body) = admitted
        .fault
        .and_then(|fault| faults::hostile_items(fault, csv, (admitted.from, admitted.to)))
    {
        return shared.respond(body, &admitted);
    }
    if admitted.fault == Some(Fault::ShuffledLines) {
        // Another order on every request: turned by the request's number.
        let turn = shared.stats.requests.load(Ordering::Relaxed) as usize;
        let lines =
            faults::shuffled_lines(shared.lines(&organization, &deployment, &admitted), turn);
        if csv {
            let layout = shared.csv_layout;
            let mut out = format!("{}\r\n", layout.header()).into_bytes();
            layout.write_rows(&lines, &mut out);
            let chunks = Box::pin(stream::once(std::future::ready(Bytes::from(out))));
            let body = Body {
                content_type: "text/csv",
                chunks,
                count: 1,
            };
            return shared.respond(body, &admitted);
        }
        return shared.respond(
            Body::whole("application/json", json_document(&lines)),
            &admitted,
        );
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
                lines.into_iter().map(faults::with_escapes).collect()
            } else {
                lines
            };
            let mut out = Vec::with_capacity(lines.len() * 200);
            layout.write_rows(&lines, &mut out);
            Bytes::from(out)
        });
        let header = Bytes::from(format!("{}\r\n", layout.header()));
        let chunks = stream::once(std::future::ready(header)).chain(rows);
        let body = Body {
            content_type: "text/csv",
            chunks: Box::pin(chunks),
            count,
        };
        return shared.respond(body, &admitted);
    }
    let mut lines = shared.lines(&organization, &deployment, &admitted);
    if admitted.fault == Some(Fault::EscapesInNames) {
        lines = lines.into_iter().map(faults::with_escapes).collect();
    }
    shared.respond(
        Body::whole("application/json", json_document(&lines)),
        &admitted,
    )
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
    if admitted.fault == Some(Fault::ManyChartSeries) {
        return shared.respond(faults::many_chart_series(admitted.from), &admitted);
    }
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
    let mut data = chart_items(days, monthly);
    if let Some(fault) = admitted.fault {
        faults::hostile_charts(fault, &mut data, admitted.to);
    }
    let body = serde_json::to_vec(&wire::ChartItems { data }).unwrap_or_default();
    shared.respond(Body::whole("application/json", body), &admitted)
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
        let fault = faults::draw(faults, &request, times_seen);
        if fault.is_some() {
            self.stats.faults.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(response) =
            fault.and_then(|fault| faults::fault_answer(fault, headers, &request))
        {
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

    /// The clean lines of `[from, to)` as of the simulator's clock.
    fn lines(&self, organization: &str, deployment: &str, admitted: &Admitted) -> Vec<Line> {
        self.dataset
            .lines_as_of(
                organization,
                deployment,
                admitted.from,
                admitted.to,
                self.now(),
            )
            .unwrap_or_default()
            .into_iter()
            .flat_map(|(_, lines)| lines)
            .collect()
    }

    /// A successful answer with `body`, broken off or trickled out when the request
    /// drew a fault of the body, announcing the rate limit.
    fn respond(&self, body: Body, admitted: &Admitted) -> Response {
        let Body {
            content_type,
            chunks,
            count,
        } = body;
        let counter = self.stats.body_bytes.clone();
        let stream = faults::body_stream(admitted.fault, chunks, count, admitted.slow_pause)
            .inspect(move |chunk| {
                if let Ok(chunk) = chunk {
                    counter.fetch_add(chunk.len() as u64, Ordering::Relaxed);
                }
            });
        let mut response = Response::new(HttpBody::from_stream(stream));
        if let Some(limits) = admitted.limits {
            set_rate_headers(&mut response, self.faults.rate_limit_dialect, limits);
        }
        faults::set_hostile_headers(admitted.fault, &mut response);
        set(&mut response, header::CONTENT_TYPE.as_str(), content_type);
        response
    }
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
