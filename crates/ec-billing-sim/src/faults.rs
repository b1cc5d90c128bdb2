//! The faults a test or benchmark turns on: what they are ([`Faults`], [`Fault`]), which
//! request draws one, and what each does to an answer.

use std::time::Duration;

use axum::{
    body::Body as HttpBody,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use ec_billing_api::{self as api, types as wire};
use futures_util::{
    StreamExt,
    stream::{self, BoxStream},
};
use jiff::Timestamp;
use rust_decimal::Decimal;

use crate::{
    dataset::Line,
    encode::{Body, Chunks, csv_header, error, items_json, json_document, number, set},
    rate_limit::RateLimitDialect,
};

/// Faults to inject; all off by default.
///
/// ```
/// use ec_billing_sim::{Fault, Faults};
///
/// // A third of requests fail with a 502 HTML page or break off mid-body.
/// let faults = Faults { share: 0.33, kinds: vec![Fault::BadGatewayHtml, Fault::Truncated], ..Faults::default() };
/// # let _ = faults;
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Faults {
    /// Added before every answer.
    pub latency: Duration,
    /// Requests per second allowed (a token bucket with a burst of one second's worth);
    /// beyond it, 429 `billing_service.rate_limited` with `Retry-After`. Every answer
    /// then announces the limit as [`rate_limit_dialect`](Self::rate_limit_dialect)
    /// says. The limit is the platform's: one bucket for every deployment (0 counts
    /// as 1).
    pub rate_limit: Option<u32>,
    /// How the rate limit is announced (by default `x-ratelimit-*` with `1s`).
    pub rate_limit_dialect: RateLimitDialect,
    /// The first answer to every request (the same path and query) is a 429 with
    /// `Retry-After: 1` and no rate-limit headers, whatever the rate: transient
    /// throttling, as some gateways do.
    pub throttle_first_answer: bool,
    /// The share (0 to 1) of requests answered with a fault from `kinds`.
    pub share: f64,
    /// The faults to pick from; empty means every transient fault ([`Fault::ALL`]).
    pub kinds: Vec<Fault>,
    /// The pause before each 8 KiB of a [`Fault::SlowBody`] body, and before each byte
    /// of a [`Fault::Trickle`] one.
    pub slow_pause: Duration,
    /// The size of a [`Fault::HugeErrorBody`] body.
    pub huge_body_bytes: u64,
    /// The seed of the random choices, so that a run can be repeated.
    pub seed: u64,
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            latency: Duration::ZERO,
            rate_limit: None,
            rate_limit_dialect: RateLimitDialect::default(),
            throttle_first_answer: false,
            share: 0.0,
            kinds: Vec::new(),
            slow_pause: Duration::from_millis(500),
            huge_body_bytes: 500_000_000,
            seed: 0,
        }
    }
}

/// One kind of injected fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Fault {
    /// 429 `billing_service.rate_limited`, JSON body, `Retry-After: 1`.
    RateLimited,
    /// 429 `billing_service.rate_limited`, JSON body, no `Retry-After`.
    RateLimitedWithoutRetryAfter,
    /// 429 with a plain-text body and `Retry-After: 1`, as a proxy might answer.
    RateLimitedPlainText,
    /// 500 `billing_service.failed_request`, JSON body.
    ServerErrorJson,
    /// 500 with an HTML page.
    ServerErrorHtml,
    /// 502 with an HTML page, as a proxy answers.
    BadGatewayHtml,
    /// 503 with an empty body.
    UnavailableEmpty,
    /// 200, half the body, then the connection breaks.
    Truncated,
    /// 200 and its headers, then the connection breaks before any body.
    Reset,
    /// 200, the body trickled out (see [`Faults::slow_pause`]).
    SlowBody,
    /// 500 with an HTML body of [`Faults::huge_body_bytes`] (500 MB by default),
    /// generated as it is sent.
    HugeErrorBody,
    /// 200 whose body comes one byte per [`Faults::slow_pause`]: it never ends in any
    /// useful time.
    Trickle,
    /// 400 whose code and message (in the JSON body) hold a newline and terminal
    /// escape sequences.
    EscapesInError,
    /// 200 whose names, SKUs, kinds and chart series hold a screen-clearing escape
    /// sequence, a window-title sequence and newlines.
    EscapesInNames,
    /// 400 whose code (header and body) and message echo the request's API key.
    EchoedKey,
    /// 200 whose sums overflow an exact decimal: items with a total, a capacity
    /// dimension and two lines of 7e28 ECU (CSV: two lines of 2^96 - 1), one of them
    /// with `hours` of `i64::MAX` and 2 instances; charts with values of 7e28 and a
    /// bucket at the window's end (which the next window shares).
    OverflowingCosts,
    /// 200 with a cost of 30 significant digits (CSV: 30 decimal places), more than an
    /// exact decimal holds.
    ExcessDigits,
    /// Charts whose answer has one timestamp twice.
    DuplicateBucket,
    /// Charts with a bucket at 86,400,000, milliseconds meant, seconds by the contract's
    /// rule: 1972, far outside the window.
    BucketOutsideWindow,
    /// An items CSV with a cell of a million characters in its cost column (its record
    /// still under the client's 1 MiB bound on one record).
    HugeCell,
    /// 302 to the same URL, for ever.
    RedirectLoop,
    /// 302 to a `file://` URL.
    RedirectToFile,
    /// 200 announcing `x-ratelimit-limit: 1e-300` per `1s`.
    TinyRateLimit,
    /// 200 announcing `x-ratelimit-limit: 1` per `1h`, with none remaining.
    HourlyRateLimit,
    /// An items CSV (to a CSV request) whose second record opens a quoted cell that
    /// never closes: [`ENDLESS_RECORD_BYTES`] of it, streamed, then the answer ends.
    EndlessCsvRecord,
    /// Items (JSON or CSV) with [`MANY_KEYS`] distinct usage types, each a dimension of
    /// 0.01 ECU: JSON as that many dimensions (no lines), CSV as that many DTS rows.
    /// The total is `MANY_KEYS × 0.01` ECU per window.
    ManyDimensions,
    /// Charts with one bucket, at the window's start, of [`MANY_KEYS`] values with
    /// distinct ids, each 0.01 ECU.
    ManyChartSeries,
    /// Items (JSON or CSV) with the clean answer's costs, each DTS line split in two
    /// lines of one key (same usage type, SKU and name: a third and two thirds of its
    /// quantity, their costs adding up to its cost exactly), all in another order on
    /// every answer: what a ledger must not take for a revision.
    ShuffledLines,
}

/// The bytes of the unclosed quoted cell of a [`Fault::EndlessCsvRecord`] answer: 8 MiB,
/// eight times the client's bound on one record, small enough for a quick test.
pub const ENDLESS_RECORD_BYTES: u64 = 8 << 20;

/// How many distinct keys (usage types, chart series ids) the answers of
/// [`Fault::ManyDimensions`] and [`Fault::ManyChartSeries`] hold: 10^5.
pub const MANY_KEYS: usize = 100_000;

impl Fault {
    /// Every hostile kind: what a client must survive without a panic, a hang, a wrong
    /// number or a leak, rather than retry through. Never drawn unless named in
    /// [`Faults::kinds`].
    pub const HOSTILE: [Fault; 18] = [
        Fault::HugeErrorBody,
        Fault::Trickle,
        Fault::EscapesInError,
        Fault::EscapesInNames,
        Fault::EchoedKey,
        Fault::OverflowingCosts,
        Fault::ExcessDigits,
        Fault::DuplicateBucket,
        Fault::BucketOutsideWindow,
        Fault::HugeCell,
        Fault::RedirectLoop,
        Fault::RedirectToFile,
        Fault::TinyRateLimit,
        Fault::HourlyRateLimit,
        Fault::EndlessCsvRecord,
        Fault::ManyDimensions,
        Fault::ManyChartSeries,
        Fault::ShuffledLines,
    ];

    /// The kind's name, as `ec-billing-sim --fault` takes it: `rate-limited`,
    /// `huge-error-body`, ...
    pub fn name(self) -> &'static str {
        match self {
            Fault::RateLimited => "rate-limited",
            Fault::RateLimitedWithoutRetryAfter => "rate-limited-without-retry-after",
            Fault::RateLimitedPlainText => "rate-limited-plain-text",
            Fault::ServerErrorJson => "server-error-json",
            Fault::ServerErrorHtml => "server-error-html",
            Fault::BadGatewayHtml => "bad-gateway-html",
            Fault::UnavailableEmpty => "unavailable-empty",
            Fault::Truncated => "truncated",
            Fault::Reset => "reset",
            Fault::SlowBody => "slow-body",
            Fault::HugeErrorBody => "huge-error-body",
            Fault::Trickle => "trickle",
            Fault::EscapesInError => "escapes-in-error",
            Fault::EscapesInNames => "escapes-in-names",
            Fault::EchoedKey => "echoed-key",
            Fault::OverflowingCosts => "overflowing-costs",
            Fault::ExcessDigits => "excess-digits",
            Fault::DuplicateBucket => "duplicate-bucket",
            Fault::BucketOutsideWindow => "bucket-outside-window",
            Fault::HugeCell => "huge-cell",
            Fault::RedirectLoop => "redirect-loop",
            Fault::RedirectToFile => "redirect-to-file",
            Fault::TinyRateLimit => "tiny-rate-limit",
            Fault::HourlyRateLimit => "hourly-rate-limit",
            Fault::EndlessCsvRecord => "endless-csv-record",
            Fault::ManyDimensions => "many-dimensions",
            Fault::ManyChartSeries => "many-chart-series",
            Fault::ShuffledLines => "shuffled-lines",
        }
    }

    /// The kind named `name` (see [`Fault::name`]).
    pub fn from_name(name: &str) -> Option<Fault> {
        Fault::ALL
            .into_iter()
            .chain(Fault::HOSTILE)
            .find(|fault| fault.name() == name)
    }

    /// Every transient kind: what retries get through to the exact total.
    pub const ALL: [Fault; 10] = [
        Fault::RateLimited,
        Fault::RateLimitedWithoutRetryAfter,
        Fault::RateLimitedPlainText,
        Fault::ServerErrorJson,
        Fault::ServerErrorHtml,
        Fault::BadGatewayHtml,
        Fault::UnavailableEmpty,
        Fault::Truncated,
        Fault::Reset,
        Fault::SlowBody,
    ];
}

/// The fault for the `times_seen`-th repeat of `request`, if the dice say so. The dice
/// are a hash of the seed, the request and the repeat: the same requests draw the same
/// faults whatever order they arrive in.
pub(crate) fn draw(faults: &Faults, request: &str, times_seen: u32) -> Option<Fault> {
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
    let pick = hash(faults.seed ^ 0x9e37_79b9_7f4a_7c15, request, times_seen);
    kinds.get((pick % kinds.len() as u64) as usize).copied()
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

/// `chunks` (`count` of them) as a fault of the body sends them: broken off, never
/// started, or trickled out with `pause` between pieces; as they are otherwise.
pub(crate) fn body_stream(
    fault: Option<Fault>,
    chunks: Chunks,
    count: usize,
    pause: Duration,
) -> BoxStream<'static, std::io::Result<Bytes>> {
    let broken = || std::io::Error::other("simulated broken connection");
    match fault {
        Some(Fault::Truncated) => Box::pin(
            chunks
                .take(count / 2)
                .map(Ok)
                .chain(stream::once(async move { Err(broken()) })),
        ),
        Some(Fault::Reset) => Box::pin(stream::once(async move { Err(broken()) })),
        Some(Fault::SlowBody) => Box::pin(chunks.then(move |chunk| async move {
            tokio::time::sleep(pause).await;
            Ok(chunk)
        })),
        Some(Fault::Trickle) => Box::pin(
            chunks
                .flat_map(|chunk| stream::iter((0..chunk.len()).map(move |i| chunk.slice(i..=i))))
                .then(move |byte| async move {
                    tokio::time::sleep(pause).await;
                    Ok(byte)
                }),
        ),
        _ => Box::pin(chunks.map(Ok)),
    }
}

/// The absurd rate limits a successful answer announces under a fault of its headers.
pub(crate) fn set_hostile_headers(fault: Option<Fault>, response: &mut Response) {
    match fault {
        Some(Fault::TinyRateLimit) => {
            set(response, "x-ratelimit-limit", "1e-300");
            set(response, "x-ratelimit-interval", "1s");
        }
        Some(Fault::HourlyRateLimit) => {
            set(response, "x-ratelimit-limit", "1");
            set(response, "x-ratelimit-remaining", "0");
            set(response, "x-ratelimit-interval", "1h");
        }
        _ => {}
    }
}

/// The answer a fault replaces the real one with; `None` for faults of the body.
pub(crate) fn fault_answer(fault: Fault, headers: &HeaderMap, request: &str) -> Option<Response> {
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

/// The items body a hostile fault of the body replaces the real one with, if it does
/// (`window`: the request's range).
pub(crate) fn hostile_items(
    fault: Fault,
    csv: bool,
    window: (Timestamp, Timestamp),
) -> Option<Body> {
    let huge = || Decimal::new(7, 0) * Decimal::from(10u64.pow(14)) * Decimal::from(10u64.pow(14));
    match (fault, csv) {
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
                    start: window.0,
                    end: window.1,
                },
                price: number(huge()),
                price_per_hour: number(Decimal::ONE),
                sku: "es".into(),
            };
            body.resources = vec![line(i64::MAX), line(1)];
            let json = serde_json::to_vec(&body).unwrap_or_default();
            Some(Body::whole("application/json", json))
        }
        (Fault::OverflowingCosts, true) => {
            let row = "ES,elasticsearch,,es,2024-01-01T00:00:00Z,2024-01-02T00:00:00Z,24,1,1,,,,,79228162514264337593543950335\r\n";
            let body = format!("{}\r\n{row}{row}", csv_header());
            Some(Body::whole("text/csv", body.into_bytes()))
        }
        (Fault::ExcessDigits, false) => {
            let json = String::from_utf8(json_document(&[])).unwrap_or_default();
            let json = json.replacen(
                "\"total\":0",
                "\"total\":123456789012345.123456789012345",
                1,
            );
            Some(Body::whole("application/json", json.into_bytes()))
        }
        (Fault::ExcessDigits, true) => {
            let row = "ES,elasticsearch,,es,2024-01-01T00:00:00Z,2024-01-02T00:00:00Z,24,1,1,,,,,0.000000000000000000000000000015\r\n";
            let body = format!("{}\r\n{row}", csv_header());
            Some(Body::whole("text/csv", body.into_bytes()))
        }
        (Fault::HugeCell, _) => {
            let cell = "9".repeat(1_000_000) + "x";
            let row = format!(
                "ES,elasticsearch,,es,2024-01-01T00:00:00Z,2024-01-02T00:00:00Z,24,1,1,,,,,{cell}\r\n"
            );
            let body = format!("{}\r\n{row}", csv_header());
            Some(Body::whole("text/csv", body.into_bytes()))
        }
        (Fault::EndlessCsvRecord, true) => {
            const PIECE: usize = 64 * 1024;
            let head = format!(
                "{}\r\nES,elasticsearch,,es,2024-01-01T00:00:00Z,2024-01-02T00:00:00Z,24,1,1,,,,,\"",
                csv_header()
            );
            let piece = Bytes::from(vec![b'9'; PIECE]);
            let pieces = ENDLESS_RECORD_BYTES.div_ceil(PIECE as u64);
            let count = usize::try_from(pieces)
                .unwrap_or(usize::MAX)
                .saturating_add(1);
            let chunks = stream::once(std::future::ready(Bytes::from(head)))
                .chain(stream::iter(0..pieces).map(move |_| piece.clone()));
            Some(Body {
                content_type: "text/csv",
                chunks: Box::pin(chunks),
                count,
            })
        }
        // Written by hand, not through serde: quick to make, even in a debug build.
        (Fault::ManyDimensions, false) => {
            let mut json = format!(
                "{{\"costs\":{{\"total\":{},\"dimensions\":[",
                many_keys_total()
            );
            for i in 0..MANY_KEYS {
                let comma = if i == 0 { "" } else { "," };
                json.push_str(&format!(
                    "{comma}{{\"type\":\"usage_{i:06}\",\"cost\":0.01}}"
                ));
            }
            json.push_str("]},\"data_transfer_and_storage\":[],\"resources\":[]}");
            Some(Body::whole("application/json", json.into_bytes()))
        }
        // The fewest columns a DTS row needs: the test is of the keys, not the layout.
        (Fault::ManyDimensions, true) => {
            let mut body = String::from("Usage Type,Quantity,Rate,Cost\r\n");
            for i in 0..MANY_KEYS {
                body.push_str(&format!("usage_{i:06},1,0.01,0.01\r\n"));
            }
            Some(Body::whole("text/csv", body.into_bytes()))
        }
        _ => None,
    }
}

/// The total of a window of a [`Fault::ManyDimensions`] answer: 0.01 ECU per key.
pub(crate) fn many_keys_total() -> Decimal {
    Decimal::new(1, 2) * Decimal::from(MANY_KEYS)
}

/// Applies a hostile fault of the body to a charts answer's buckets.
pub(crate) fn hostile_charts(fault: Fault, data: &mut Vec<wire::ChartItem>, to: Timestamp) {
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
pub(crate) fn huge_error(bytes: u64) -> Response {
    const PIECE: usize = 64 * 1024;
    let piece = Bytes::from(vec![b'x'; PIECE]);
    let pieces = bytes.div_ceil(PIECE as u64);
    let body = stream::iter(0..pieces).map(move |_| Ok::<_, std::io::Error>(piece.clone()));
    let mut response = Response::new(HttpBody::from_stream(body));
    *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    set(&mut response, header::CONTENT_TYPE.as_str(), "text/html");
    response
}

/// A line whose name, SKU and kind hold terminal escape sequences and newlines.
pub(crate) fn with_escapes(mut line: Line) -> Line {
    let hostile = |text: &str| format!("\u{1b}[2J{text}\u{1b}]0;pwned\u{7}\nfake line");
    match &mut line {
        Line::Resource { name, .. } | Line::Dts { name, .. } => *name = hostile(name),
    }
    line
}

/// The clean answer's `lines` with each DTS line split in two of one key (a third and
/// two thirds of its quantity, each costed exactly at its rate), in an order of their
/// own for each request, `turn` (see [`Fault::ShuffledLines`]).
pub(crate) fn shuffled_lines(clean: Vec<Line>, turn: usize) -> Vec<Line> {
    let mut lines: Vec<Line> = Vec::new();
    for line in clean {
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
    if !lines.is_empty() {
        let len = lines.len();
        lines.rotate_left(turn % len);
    }
    if turn % 2 == 1 {
        lines.reverse();
    }
    lines
}

/// The charts body of a [`Fault::ManyChartSeries`] answer: one bucket at `from` of
/// [`MANY_KEYS`] values with distinct ids.
pub(crate) fn many_chart_series(from: Timestamp) -> Body {
    // Written by hand, not through serde: quick to make, even in a debug build.
    let mut json = format!(
        "{{\"data\":[{{\"timestamp\":{},\"values\":[",
        from.as_millisecond()
    );
    for i in 0..MANY_KEYS {
        let comma = if i == 0 { "" } else { "," };
        json.push_str(&format!(
            "{comma}{{\"id\":\"series_{i:06}\",\"name\":\"S\",\"value\":0.01}}"
        ));
    }
    json.push_str("]}]}");
    Body::whole("application/json", json.into_bytes())
}
