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
//! - **Faults**, all off by default ([`Faults`]): latency, a rate limit answering 429
//!   with `Retry-After` (and `x-ratelimit-*` headers on every answer), and a share of
//!   requests answered with a [`Fault`]: 429 with or without `Retry-After` or as plain
//!   text, 500 JSON or HTML, 502 HTML, 503 empty, a truncated body, a connection broken
//!   before the body, a slow body.
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
    net::SocketAddr,
    sync::{Arc, Mutex, atomic::Ordering},
    time::Duration,
};

pub use csv_layout::CsvLayout;
pub use dataset::{Dataset, Line};
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
    /// then carries `x-ratelimit-limit`, `x-ratelimit-remaining` and
    /// `x-ratelimit-interval`.
    pub rate_limit: Option<u32>,
    /// The share (0 to 1) of requests answered with a fault from `kinds`.
    pub share: f64,
    /// The faults to pick from, at random; empty means every [`Fault`].
    pub kinds: Vec<Fault>,
    /// The pause before each 8 KiB of a [`Fault::SlowBody`] body.
    pub slow_pause: Duration,
    /// The seed of the random choices, so that a run can be repeated.
    pub seed: u64,
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            latency: Duration::ZERO,
            rate_limit: None,
            share: 0.0,
            kinds: Vec::new(),
            slow_pause: Duration::from_millis(500),
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
}

impl Fault {
    /// Every kind.
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
    faults: Faults,
    dataset: Dataset,
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
            faults: Faults::default(),
            dataset: Dataset::standard(),
        }
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
            rng: Mutex::new(fastrand::Rng::with_seed(self.faults.seed)),
            faults: self.faults,
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
