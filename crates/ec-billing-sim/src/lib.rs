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
mod encode;
mod faults;
mod http;
mod rate_limit;

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex, atomic::Ordering},
};

pub use csv_layout::CsvLayout;
pub use dataset::{Dataset, Line};
pub use encode::{csv_document, json_document};
pub use faults::{ENDLESS_RECORD_BYTES, Fault, Faults, MANY_KEYS};
use http::{Counters, Shared};
pub use rate_limit::RateLimitDialect;
use rate_limit::TokenBucket;
pub use rust_decimal::Decimal;
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};

/// The key the simulator accepts unless told otherwise.
pub const DEFAULT_API_KEY: &str = "sim-key";

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
        let app = http::router(shared.clone());
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
