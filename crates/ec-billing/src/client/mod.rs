//! The client: its configuration and what its clones share. The retry loop every
//! request of every window goes through is in `execute`; the operations a client
//! offers (`items`, `charts`, `items_of`, `charts_of`) are in `crate::ops`.

mod execute;

use std::{
    fmt,
    num::NonZeroUsize,
    sync::{Arc, Mutex},
    time::Duration,
};

use reqwest::{
    Url,
    header::{AUTHORIZATION, HeaderMap, HeaderValue, USER_AGENT},
};

use crate::{
    error::{Error, InvalidInput, SetupError},
    http::{Connection, ConnectionConfig},
    key::ApiKey,
    policy::{Clock, Jitter, Pacer, Pacing, RetryPolicy, SystemClock},
    text,
};

/// The default base URL, with the `/api/v1` prefix.
pub const DEFAULT_BASE_URL: &str = "https://api.elastic-cloud.com/api/v1";

/// Configures a [`Client`]. Start from [`Client::builder`].
///
/// Defaults: base URL [`DEFAULT_BASE_URL`]; a 10 s connect timeout; each attempt must
/// see its answer start within the 60 s read timeout, and its body never pause longer,
/// and must end within the 120 s attempt timeout, body included; a JSON answer (read
/// whole to decode) may be at most 256 MiB, and so may a CSV answer whose lines are
/// kept ([`ItemsRequest::send`](crate::ItemsRequest::send)), while one only totalled
/// ([`ItemsRequest::totals`](crate::ItemsRequest::totals)) streams at any size; one CSV record may be at most
/// [`MAX_CSV_RECORD_BYTES`](crate::csv::MAX_CSV_RECORD_BYTES) (1 MiB); user agent
/// `ec-billing/<version>`; 4 requests in flight; [`RetryPolicy::default`];
/// [`Pacing::Adaptive`]; the [`SystemClock`].
pub struct ClientBuilder {
    base_url: String,
    api_key: Option<ApiKey>,
    connect_timeout: Duration,
    read_timeout: Duration,
    attempt_timeout: Duration,
    max_body_bytes: u64,
    user_agent: String,
    concurrency: NonZeroUsize,
    retry: RetryPolicy,
    pacing: Pacing,
    clock: Arc<dyn Clock>,
    http: Option<reqwest::Client>,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("base_url", &text::redact_url(&self.base_url))
            .field("api_key", &self.api_key)
            .field("connect_timeout", &self.connect_timeout)
            .field("read_timeout", &self.read_timeout)
            .field("attempt_timeout", &self.attempt_timeout)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("user_agent", &self.user_agent)
            .field("concurrency", &self.concurrency)
            .field("retry", &self.retry)
            .field("pacing", &self.pacing)
            .field("clock", &self.clock)
            .field("custom_http_client", &self.http.is_some())
            .finish()
    }
}

impl Default for ClientBuilder {
    fn default() -> Self {
        Self {
            base_url: DEFAULT_BASE_URL.to_string(),
            api_key: None,
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(60),
            attempt_timeout: Duration::from_secs(120),
            max_body_bytes: 256 << 20,
            user_agent: format!("ec-billing/{}", env!("CARGO_PKG_VERSION")),
            concurrency: NonZeroUsize::new(4).unwrap_or(NonZeroUsize::MIN),
            retry: RetryPolicy::default(),
            pacing: Pacing::default(),
            clock: Arc::new(SystemClock),
            http: None,
        }
    }
}

impl ClientBuilder {
    /// The API's base URL, including the `/api/v1` prefix (a proxy, the simulator),
    /// without a query or a fragment. It is printed (in errors, logs, `Debug`) only
    /// without its userinfo, query and fragment ([`redact_url`](crate::text::redact_url)).
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = url.into();
        self
    }

    /// The API key (required).
    pub fn api_key(mut self, key: ApiKey) -> Self {
        self.api_key = Some(key);
        self
    }

    /// How long to wait for a connection.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long an attempt waits for its answer to start, and for each next piece of
    /// its body: past it, the attempt fails as a (retryable) timeout.
    pub fn read_timeout(mut self, timeout: Duration) -> Self {
        self.read_timeout = timeout;
        self
    }

    /// The most one attempt may take, body included, however steadily it trickles in:
    /// past it, the attempt fails as a (retryable) timeout. Never more than what is
    /// left of the request's deadline ([`RetryPolicy::deadline`]).
    pub fn attempt_timeout(mut self, timeout: Duration) -> Self {
        self.attempt_timeout = timeout;
        self
    }

    /// The largest JSON answer read (it is read whole to be decoded), and the largest
    /// CSV answer whose lines are kept ([`ItemsRequest::send`](crate::ItemsRequest::send),
    /// [`ItemsRequest::stream`](crate::ItemsRequest::stream)); a larger one fails with
    /// [`TransportKind::TooLarge`](crate::error::TransportKind::TooLarge), not retried. A CSV
    /// answer only totalled ([`ItemsRequest::totals`](crate::ItemsRequest::totals)) streams in flat memory and is
    /// not limited by size; each of its records is, by
    /// [`MAX_CSV_RECORD_BYTES`](crate::csv::MAX_CSV_RECORD_BYTES).
    pub fn max_body_bytes(mut self, bytes: u64) -> Self {
        self.max_body_bytes = bytes;
        self
    }

    /// The `User-Agent` header.
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// The most requests in flight at once, over every request made with this client.
    pub fn concurrency(mut self, limit: NonZeroUsize) -> Self {
        self.concurrency = limit;
        self
    }

    /// When and how failed requests are retried.
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// How requests are paced to stay under the API's rate limit; see [`Pacing`].
    pub fn pacing(mut self, pacing: Pacing) -> Self {
        self.pacing = pacing;
        self
    }

    /// The clock retries and pacing wait on (tests inject one that does not really
    /// sleep).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Your own `reqwest::Client` (proxies, custom roots). The connect timeout set
    /// here does not apply to it; the key, the user agent, the read and attempt
    /// timeouts and the body limits still do.
    ///
    /// Build it after [`crate::ensure_crypto_provider`]: reqwest's builder panics
    /// when TLS has no crypto provider, and this crate's default one (`ring`, feature
    /// `tls-ring`) is installed there (and by [`build`](Self::build)), not by reqwest.
    ///
    /// ```no_run
    /// # fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// ec_billing::ensure_crypto_provider()?;
    /// let http = reqwest::Client::builder().pool_max_idle_per_host(2).build()?;
    /// let client = ec_billing::Client::builder()
    ///     .http_client(http)
    ///     .api_key(ec_billing::ApiKey::new("...")?)
    ///     .build()?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    /// Builds the client.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] when no API key was given, the base URL is not an
    /// `http(s)` URL or has a query or a fragment (named without them, and without its
    /// userinfo), or the user agent is not a valid header; [`Error::Setup`] when
    /// the HTTP client cannot start (its TLS backend, say).
    pub fn build(self) -> Result<Client, Error> {
        let key = self
            .api_key
            .ok_or_else(|| InvalidInput::new("no API key: set EC_API_KEY or pass one"))?;
        let base_url = self.base_url.trim().trim_end_matches('/').to_string();
        // Printed only without its userinfo, query and fragment, where secrets travel.
        let shown = text::redact_url(&base_url);
        let parsed = Url::parse(&base_url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
            .ok_or_else(|| {
                InvalidInput::new(format!(
                    "invalid base URL \"{shown}\": expected http(s)://host/api/v1"
                ))
            })?;
        if parsed.query().is_some() || parsed.fragment().is_some() {
            return Err(InvalidInput::new(format!(
                "invalid base URL \"{shown}\": it has a query or a fragment, which would end \
                 up in the middle of every request's path (expected http(s)://host/api/v1)"
            ))
            .into());
        }
        if !parsed.path().trim_end_matches('/').ends_with("/api/v1") {
            tracing::warn!(
                base_url = %shown,
                "the base URL's path does not end with /api/v1: requests go to <path>/billing/costs/..."
            );
        }
        let user_agent = HeaderValue::from_str(&self.user_agent).map_err(|_| {
            InvalidInput::new(format!(
                "invalid user agent \"{}\"",
                text::escape(&self.user_agent).truncate(text::QUOTED_CHARS)
            ))
        })?;
        let http = match self.http {
            Some(http) => http,
            None => ec_billing_api::ensure_crypto_provider()
                .map_err(|err| SetupError {
                    source: Box::new(err),
                })
                .and_then(|()| {
                    reqwest::Client::builder()
                        .connect_timeout(self.connect_timeout)
                        .build()
                        .map_err(|err| SetupError {
                            source: Box::new(err.without_url()),
                        })
                })?,
        };
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, key.header_value());
        headers.insert(USER_AGENT, user_agent);
        let seed = match self.retry.jitter() {
            Jitter::Seeded(seed) => seed,
            _ => fastrand::u64(..),
        };
        let connection = Connection::new(ConnectionConfig {
            base_url,
            http,
            headers,
            key,
            read_timeout: self.read_timeout,
            max_body_bytes: self.max_body_bytes,
            concurrency: self.concurrency.get(),
            pacer: Pacer::new(self.pacing),
            clock: self.clock,
        });
        Ok(Client {
            shared: Arc::new(Shared {
                connection: Arc::new(connection),
                attempt_timeout: self.attempt_timeout,
                retry: self.retry,
                rng: Mutex::new(fastrand::Rng::with_seed(seed)),
            }),
        })
    }
}

/// A client of the billing-costs API. Cheap to clone; clones share the concurrency
/// limit, the pacing and the connection pool.
///
/// ```no_run
/// use ec_billing::{Client, DateRange};
///
/// # async fn run() -> Result<(), ec_billing::Error> {
/// let client = Client::from_env()?;
/// let report = client
///     .items("my-org", "my-deployment")
///     .range(DateRange::parse("2024-01-01", "2025-01-01")?)
///     .send()
///     .await?;
/// println!("{} ECU in {} windows", report.items.costs.total, report.windows.len());
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Client {
    shared: Arc<Shared>,
}

/// What every clone of a client shares: the connection (the wire, the clock, the
/// pacer and the concurrency limit) and the retry policy.
struct Shared {
    connection: Arc<Connection>,
    attempt_timeout: Duration,
    retry: RetryPolicy,
    rng: Mutex<fastrand::Rng>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shared = &self.shared;
        let connection = &shared.connection;
        f.debug_struct("Client")
            .field("base_url", &text::redact_url(connection.base_url()))
            .field("api_key", &"[redacted]")
            .field("read_timeout", &connection.read_timeout())
            .field("attempt_timeout", &shared.attempt_timeout)
            .field("concurrency", &connection.concurrency())
            .field("retry", &shared.retry)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A builder with the defaults.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// A client configured from the environment: `EC_API_KEY` (required) and
    /// `EC_BASE_URL` (optional).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] when `EC_API_KEY` is unset or unusable, or `EC_BASE_URL`
    /// is not an `http(s)` URL.
    pub fn from_env() -> Result<Self, Error> {
        let key =
            std::env::var("EC_API_KEY").map_err(|_| InvalidInput::new("EC_API_KEY is not set"))?;
        let mut builder = Self::builder().api_key(ApiKey::new(key)?);
        if let Ok(url) = std::env::var("EC_BASE_URL") {
            builder = builder.base_url(url);
        }
        builder.build()
    }

    /// The configured concurrency limit.
    pub fn concurrency(&self) -> NonZeroUsize {
        NonZeroUsize::new(self.shared.connection.concurrency()).unwrap_or(NonZeroUsize::MIN)
    }

    /// The current instant by this client's [`Clock`](crate::policy::Clock) (the system's
    /// unless one was given): what "now" means for a range left open.
    pub fn now(&self) -> jiff::Timestamp {
        self.shared.connection.clock().now()
    }

    /// The pace requests are held to now, in requests per second, if any: fixed, or
    /// learnt from the API (see [`Pacing`]).
    pub fn pacing_rate(&self) -> Option<f64> {
        self.shared.connection.pacer().rate()
    }

    /// What every attempt of this client shares, for the transports.
    pub(crate) fn connection(&self) -> &Arc<Connection> {
        &self.shared.connection
    }
}
