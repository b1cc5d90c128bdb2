//! A deterministic stand-in for the two Elastic Cloud billing-costs endpoints, on
//! loopback: for the README's demo (`ec-billing --simulate`), end-to-end tests and
//! benchmarks. No account, no key of yours, no network.
//!
//! - **Data.** Organization `acme` with deployments `prod`, `staging` and `we/ird id`,
//!   and `globex` with `search` ([`Dataset::standard`]). Every UTC day has
//!   Elasticsearch and Kibana lines (hours × instances × price per hour) and
//!   data-transfer-and-storage lines (data out, snapshot storage), with exact decimal
//!   costs. A day belongs to a range when its midnight is in `[from, to)`, so the
//!   windows of any split add up to the range: [`Dataset::items_total`] is the exact
//!   total to expect.
//! - **Semantics.** `from`/`to` as RFC 3339 or bare dates, half-open; 400
//!   `costs.invalid_date_range` for `from >= to`, a span over 92 days, or `from` before
//!   2021-01-01; 404 `organization.not_found` and (items)
//!   `billing_service.es_cluster_id_not_found`; 401 for a wrong key. Items come as JSON
//!   or, with `Accept: text/csv`, as CSV; charts daily or monthly, timestamps in epoch
//!   milliseconds.
//! - **Faults**, all off by default ([`Faults`]): latency; a token-bucket rate limit
//!   answering 429 with `Retry-After`, announced in one of several
//!   [`RateLimitDialect`]s (`x-ratelimit-*` with an interval as `1s`, `60` or `PT1S`,
//!   with a reset as epoch seconds or seconds from now, IETF `ratelimit-*`, or nothing
//!   but `Retry-After`); a 429 on the first answer to every request, whatever the rate;
//!   and a share of requests answered with a [`Fault`]: the transient ones
//!   ([`Fault::ALL`]: 429 with or without `Retry-After` or as plain text, 500 JSON or
//!   HTML, 502 HTML, 503 empty, a truncated body, a connection broken before the body,
//!   a slow body) and the hostile ones ([`Fault::HOSTILE`]: huge and endless bodies, a
//!   CSV record that never ends, control characters and the echoed key in errors and
//!   names, sums that overflow, numbers with too many digits, chart buckets twice or
//!   out of their window, 10^5 distinct dimensions or chart series, redirect loops,
//!   absurd rate limits). Which requests draw a fault depends only on
//!   the seed, the request and how often it was made before, not on the order in
//!   which concurrent requests arrive, so that two runs can be compared.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
//! let sim = ec_billing_sim::Simulator::new().start().await?;
//! println!("serving {} with key {}", sim.base_url(), sim.api_key());
//! sim.shutdown().await;
//! # Ok(())
//! # }
//! ```

mod csv_layout;
mod dataset;
mod server;

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex, atomic::Ordering},
    time::Duration,
};

pub use csv_layout::CsvLayout;
pub use dataset::{Dataset, Line};
pub use rust_decimal::Decimal;
pub use server::RateLimitDialect;
use server::{Counters, Shared, TokenBucket};
pub use server::{csv_document, json_document};
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};

/// The key the simulator accepts unless told otherwise.
pub const DEFAULT_API_KEY: &str = "sim-key";

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

/// A simulator, ready to start.
#[derive(Clone, Debug)]
pub struct Simulator {
    key: String,
    now: Option<jiff::Timestamp>,
    faults: Faults,
    deployment_faults: HashMap<(String, String), Faults>,
    dataset: Dataset,
    csv_layout: CsvLayout,
}

impl Default for Simulator {
    fn default() -> Self {
        Self::new()
    }
}

impl Simulator {
    /// The standard data set, key [`DEFAULT_API_KEY`], no faults.
    pub fn new() -> Self {
        Self {
            key: DEFAULT_API_KEY.to_string(),
            now: None,
            faults: Faults::default(),
            deployment_faults: HashMap::new(),
            dataset: Dataset::standard(),
            csv_layout: CsvLayout::default(),
        }
    }

    /// The layout items CSV answers come in (by default [`CsvLayout::TitleCase`]).
    pub fn csv_layout(mut self, layout: CsvLayout) -> Self {
        self.csv_layout = layout;
        self
    }

    /// The simulator's clock starts at `now` and stands still there until
    /// [`RunningSimulator::set_now`] moves it; by default it is the system's. It decides
    /// which revisions are published ([`Dataset::with_revisions`]).
    pub fn now(mut self, now: jiff::Timestamp) -> Self {
        self.now = Some(now);
        self
    }

    /// The API key to accept.
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.key = key.into();
        self
    }

    /// The data to serve (by default [`Dataset::standard`]).
    pub fn dataset(mut self, dataset: Dataset) -> Self {
        self.dataset = dataset;
        self
    }

    /// The faults to inject.
    pub fn faults(mut self, faults: Faults) -> Self {
        self.faults = faults;
        self
    }

    /// The faults to inject for one deployment, instead of those of
    /// [`faults`](Self::faults); the rate limit stays the one set there (the API's
    /// limit is the platform's, shared by every deployment).
    ///
    /// ```
    /// use ec_billing_sim::{Fault, Faults, Simulator};
    ///
    /// // `staging` answers every request with a 500; every other deployment is fine.
    /// let sim = Simulator::new().deployment_faults(
    ///     "acme",
    ///     "staging",
    ///     Faults { share: 1.0, kinds: vec![Fault::ServerErrorJson], ..Faults::default() },
    /// );
    /// # let _ = sim;
    /// ```
    pub fn deployment_faults(
        mut self,
        organization: impl Into<String>,
        deployment: impl Into<String>,
        faults: Faults,
    ) -> Self {
        self.deployment_faults
            .insert((organization.into(), deployment.into()), faults);
        self
    }

    /// Starts on an ephemeral loopback port.
    ///
    /// # Errors
    ///
    /// When no loopback port can be bound.
    pub async fn start(self) -> std::io::Result<RunningSimulator> {
        self.start_on(SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Starts on `addr`.
    ///
    /// # Errors
    ///
    /// When `addr` cannot be bound.
    pub async fn start_on(self, addr: SocketAddr) -> std::io::Result<RunningSimulator> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            key: self.key,
            dataset: self.dataset,
            bucket: Mutex::new(TokenBucket::new(self.faults.rate_limit.unwrap_or(1))),
            csv_layout: self.csv_layout,
            seen: Mutex::default(),
            now: Mutex::new(self.now),
            faults: self.faults,
            deployment_faults: self.deployment_faults,
            stats: Counters::default(),
        });
        let (stop, stopped) = oneshot::channel::<()>();
        let app = server::router(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        Ok(RunningSimulator {
            addr,
            shared,
            stop: Some(stop),
            task: Some(task),
        })
    }
}

/// A simulator serving on loopback. Dropping it stops it.
#[derive(Debug)]
pub struct RunningSimulator {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl RunningSimulator {
    /// The base URL, with the `/api/v1` prefix, e.g. `http://127.0.0.1:41234/api/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/api/v1", self.addr)
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The API key it accepts.
    pub fn api_key(&self) -> &str {
        &self.shared.key
    }

    /// The data it serves, to compute the exact totals a client must get.
    pub fn dataset(&self) -> &Dataset {
        &self.shared.dataset
    }

    /// Sets the simulator's clock (see [`Simulator::now`]).
    pub fn set_now(&self, now: jiff::Timestamp) {
        *self
            .shared
            .now
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(now);
    }

    /// The simulator's clock.
    pub fn now(&self) -> jiff::Timestamp {
        self.shared.now()
    }

    /// The exact total it serves now for `[from, to)`, revisions published by now
    /// included, or `None` for an unknown deployment.
    pub fn items_total(
        &self,
        organization: &str,
        deployment: &str,
        from: jiff::Timestamp,
        to: jiff::Timestamp,
    ) -> Option<rust_decimal::Decimal> {
        self.shared
            .dataset
            .items_total_as_of(organization, deployment, from, to, self.now())
    }

    /// What it has answered so far.
    pub fn stats(&self) -> Stats {
        let c = &self.shared.stats;
        Stats {
            requests: c.requests.load(Ordering::Relaxed),
            throttled: c.throttled.load(Ordering::Relaxed),
            faults: c.faults.load(Ordering::Relaxed),
            body_bytes: c.body_bytes.load(Ordering::Relaxed),
        }
    }

    /// Stops serving and waits until it has.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for RunningSimulator {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Counts of what a simulator has answered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Requests received.
    pub requests: u64,
    /// Answered 429 by the rate limit.
    pub throttled: u64,
    /// Answered with an injected [`Fault`].
    pub faults: u64,
    /// Bytes of successful bodies sent.
    pub body_bytes: u64,
}
