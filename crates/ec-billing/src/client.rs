//! The client: its configuration, one request per window with retries and error
//! mapping, and the concurrent, in-order fetch of a whole range.

use std::{
    fmt, io,
    pin::Pin,
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

use ec_billing_api::{CallHooks, types::BasicFailedReply};
use futures_util::{Stream, StreamExt, stream};
use reqwest::{
    StatusCode, Url,
    header::{ACCEPT, AUTHORIZATION, HeaderMap, HeaderName, HeaderValue, USER_AGENT},
};
use tokio::sync::Semaphore;
use tokio_util::io::{StreamReader, SyncIoBridge};
use tracing::Instrument;

use crate::{
    error::{
        ApiError, DecodeError, Error, ErrorCode, InvalidInput, Operation, RequestContext,
        TransportError, TransportKind,
    },
    items_csv::{ItemsCsvReader, io_cause},
    key::ApiKey,
    model::{Charts, Items, WindowResult},
    pacing::{Pacer, Pacing},
    retry::{Clock, Jitter, RetryPolicy, SystemClock, retry_after},
    time::{Bucketing, DateRange, Window, WindowSize},
};

/// The default base URL, with the `/api/v1` prefix.
pub const DEFAULT_BASE_URL: &str = "https://api.elastic-cloud.com/api/v1";

/// The header carrying the API's error codes.
const ERROR_CODES: &str = "x-cloud-error-codes";

/// Headers that may carry a request id, in order of preference.
const REQUEST_ID_HEADERS: [&str; 2] = ["x-request-id", "x-cloud-request-id"];

/// A stream of per-window results, in window order.
type WindowStream<T> = Pin<Box<dyn Stream<Item = Result<WindowResult<T>, Error>> + Send>>;

/// Configures a [`Client`]. Start from [`Client::builder`].
///
/// Defaults: base URL [`DEFAULT_BASE_URL`], 10 s connect timeout, 60 s per attempt
/// (for CSV: until the response starts, then between body chunks), user agent
/// `ec-billing/<version>`, 4 requests in flight, [`RetryPolicy::default`], the
/// [`SystemClock`].
pub struct ClientBuilder {
    base_url: String,
    api_key: Option<ApiKey>,
    connect_timeout: Duration,
    attempt_timeout: Duration,
    user_agent: String,
    concurrency: usize,
    retry: RetryPolicy,
    pacing: Pacing,
    clock: Arc<dyn Clock>,
    http: Option<reqwest::Client>,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key)
            .field("connect_timeout", &self.connect_timeout)
            .field("attempt_timeout", &self.attempt_timeout)
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
            attempt_timeout: Duration::from_secs(60),
            user_agent: format!("ec-billing/{}", env!("CARGO_PKG_VERSION")),
            concurrency: 4,
            retry: RetryPolicy::default(),
            pacing: Pacing::default(),
            clock: Arc::new(SystemClock),
            http: None,
        }
    }
}

impl ClientBuilder {
    /// The API's base URL, including the `/api/v1` prefix (a proxy, the simulator).
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

    /// How long one attempt may take before it fails as a (retryable) timeout.
    pub fn attempt_timeout(mut self, timeout: Duration) -> Self {
        self.attempt_timeout = timeout;
        self
    }

    /// The `User-Agent` header.
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// The most requests in flight at once, over every request made with this client.
    pub fn concurrency(mut self, limit: usize) -> Self {
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
    /// here does not apply to it; the key and user agent are still added to every
    /// request.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    /// Builds the client.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] when no API key was given, the base URL is not an
    /// `http(s)` URL, the concurrency is 0, or the user agent is not a valid header.
    pub fn build(self) -> Result<Client, Error> {
        let key = self
            .api_key
            .ok_or_else(|| InvalidInput::new("no API key: set EC_API_KEY or pass one"))?;
        let base_url = self.base_url.trim().trim_end_matches('/').to_string();
        let base = Url::parse(&base_url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
            .ok_or_else(|| {
                InvalidInput::new(format!(
                    "invalid base URL \"{}\": expected http(s)://host/api/v1",
                    self.base_url
                ))
            })?;
        if self.concurrency == 0 {
            return Err(InvalidInput::new("invalid concurrency 0: at least 1 is needed").into());
        }
        let user_agent = HeaderValue::from_str(&self.user_agent).map_err(|_| {
            InvalidInput::new(format!("invalid user agent \"{}\"", self.user_agent))
        })?;
        let http = match self.http {
            Some(http) => http,
            None => reqwest::Client::builder()
                .connect_timeout(self.connect_timeout)
                .build()
                .map_err(|_| InvalidInput::new("the HTTP client could not be built"))?,
        };
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, key.header_value());
        headers.insert(USER_AGENT, user_agent);
        let seed = match self.retry.jitter_mode() {
            Jitter::Seeded(seed) => seed,
            _ => fastrand::u64(..),
        };
        Ok(Client {
            shared: Arc::new(Shared {
                base_url,
                base,
                http,
                headers,
                attempt_timeout: self.attempt_timeout,
                concurrency: self.concurrency,
                limiter: Semaphore::new(self.concurrency),
                retry: self.retry,
                pacer: Pacer::new(self.pacing),
                clock: self.clock,
                rng: Mutex::new(fastrand::Rng::with_seed(seed)),
            }),
        })
    }
}

/// A client of the billing-costs API. Cheap to clone; clones share the concurrency
/// limit.
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

struct Shared {
    /// The base URL without a trailing slash, as the generated client wants it.
    base_url: String,
    base: Url,
    http: reqwest::Client,
    /// `Authorization` (sensitive) and `User-Agent`, added to every request.
    headers: HeaderMap,
    attempt_timeout: Duration,
    concurrency: usize,
    limiter: Semaphore,
    retry: RetryPolicy,
    pacer: Pacer,
    clock: Arc<dyn Clock>,
    rng: Mutex<fastrand::Rng>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shared = &self.shared;
        f.debug_struct("Client")
            .field("base_url", &shared.base_url)
            .field("api_key", &"[redacted]")
            .field("attempt_timeout", &shared.attempt_timeout)
            .field("concurrency", &shared.concurrency)
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

    /// Itemized costs of one deployment: configure, then [`send`](ItemsRequest::send)
    /// or [`stream`](ItemsRequest::stream).
    pub fn items(
        &self,
        organization: impl Into<String>,
        deployment: impl Into<String>,
    ) -> ItemsRequest {
        ItemsRequest {
            target: Target::new(self, organization, deployment),
            window: WindowSize::Month,
            format: Format::Json,
        }
    }

    /// Usage charts of one deployment: configure, then [`send`](ChartsRequest::send)
    /// or [`stream`](ChartsRequest::stream).
    pub fn charts(
        &self,
        organization: impl Into<String>,
        deployment: impl Into<String>,
    ) -> ChartsRequest {
        ChartsRequest {
            target: Target::new(self, organization, deployment),
            window: WindowSize::Month,
            bucketing: Bucketing::Daily,
        }
    }

    /// The configured concurrency limit.
    pub fn concurrency(&self) -> usize {
        self.shared.concurrency
    }

    /// The pace requests are held to now, in requests per second, if any: fixed, or
    /// learnt from the API (see [`Pacing`]).
    pub fn pacing_rate(&self) -> Option<f64> {
        self.shared.pacer.rate()
    }

    /// The generated client for one attempt, with hooks of its own.
    fn generated(&self) -> (ec_billing_api::Client, CallHooks) {
        let shared = &self.shared;
        let hooks = shared
            .headers
            .iter()
            .fold(CallHooks::new(), |hooks, (name, value)| {
                hooks.with_header(name.clone(), value.clone())
            });
        let api = ec_billing_api::Client::new_with_client(
            &shared.base_url,
            shared.http.clone(),
            hooks.clone(),
        );
        (api, hooks)
    }

    fn random_unit(&self) -> f64 {
        self.shared
            .rng
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .f64()
    }

    /// Runs `attempt` until it succeeds, fails for good, or the policy says stop.
    async fn with_retries<T, F, Fut>(
        &self,
        request: &RequestContext,
        mut attempt: F,
    ) -> Result<T, Error>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Error>>,
    {
        let shared = &self.shared;
        let started = shared.clock.now();
        let span = tracing::info_span!(
            "ec_billing.request",
            operation = %request.operation,
            organization = %request.organization,
            deployment = %request.deployment,
            window = %request.window.map(|w| w.to_string()).unwrap_or_default(),
        );
        async move {
            let mut attempts = 0;
            loop {
                attempts += 1;
                let begun = Instant::now();
                let outcome = {
                    let _permit = shared.limiter.acquire().await.expect("the limiter is never closed");
                    // Paced after the permit: a request queued behind the concurrency limit
                    // must still wait its turn if the limit was learnt while it queued.
                    shared.pacer.acquire(&*shared.clock).await;
                    attempt().await
                };
                let duration_ms = begun.elapsed().as_millis() as u64;
                let mut err = match outcome {
                    Ok(value) => {
                        tracing::debug!(attempt = attempts, status = 200, duration_ms, "attempt succeeded");
                        return Ok(value);
                    }
                    Err(err) => err,
                };
                if let Some(context) = err.request_mut() {
                    context.attempts = attempts;
                }
                let code = err.code().map(|c| c.to_string()).unwrap_or_default();
                tracing::debug!(attempt = attempts, status = err.status(), code, duration_ms, error = %err, "attempt failed");
                if !err.is_retryable() {
                    return Err(err);
                }
                let asked = match &err {
                    Error::Api(api) => api.retry_after,
                    _ => None,
                };
                let elapsed = Duration::try_from(shared.clock.now().duration_since(started)).unwrap_or_default();
                let Some(delay) = shared.retry.delay_after(attempts, asked, self.random_unit(), elapsed) else {
                    return Err(err);
                };
                tracing::warn!(attempt = attempts, delay_ms = delay.as_millis() as u64, error = %err, "retrying");
                shared.clock.sleep(delay).await;
            }
        }
        .instrument(span)
        .await
    }

    /// One attempt at the items of one window, as JSON, through the generated client.
    async fn items_json(
        &self,
        request: &RequestContext,
        window: Window,
        keep_lines: bool,
    ) -> Result<(Items, u64), Error> {
        let (api, hooks) = self.generated();
        let call = api
            .get_costs_items_by_deployment()
            .organization_id(&request.organization)
            .deployment_id(&request.deployment)
            .from(window.from())
            .to(window.to())
            .send();
        let wire = self.generated_call(request, &hooks, call).await?;
        let mut items = Items::from_wire(wire).map_err(|e| decode(request, "JSON", e))?;
        let lines = (items.resources.len() + items.data_transfer_and_storage.len()) as u64;
        if !keep_lines {
            items.resources = Vec::new();
            items.data_transfer_and_storage = Vec::new();
        }
        Ok((items, lines))
    }

    /// One attempt at the charts of one window, through the generated client.
    async fn charts_json(
        &self,
        request: &RequestContext,
        window: Window,
        bucketing: Bucketing,
    ) -> Result<Charts, Error> {
        use ec_billing_api::types::GetCostsChartsByDeploymentBucketingStrategy as Strategy;
        let strategy = match bucketing {
            Bucketing::Daily => Strategy::Daily,
            Bucketing::Monthly => Strategy::Monthly,
        };
        let (api, hooks) = self.generated();
        let call = api
            .get_costs_charts_by_deployment()
            .organization_id(&request.organization)
            .deployment_id(&request.deployment)
            .bucketing_strategy(strategy)
            .from(window.from())
            .to(window.to())
            .send();
        let wire = self.generated_call(request, &hooks, call).await?;
        Charts::from_wire(wire).map_err(|e| decode(request, "JSON", e))
    }

    /// One attempt at the items of one window as CSV: the generated client only asks
    /// for JSON, so this request is made here, with the same headers, and its body is
    /// parsed as it streams in.
    async fn items_csv(
        &self,
        request: &RequestContext,
        window: Window,
        keep_lines: bool,
    ) -> Result<(Items, u64), Error> {
        let shared = &self.shared;
        let mut url = shared.base.clone();
        url.path_segments_mut()
            .expect("an http(s) URL has path segments")
            .pop_if_empty()
            .extend([
                "billing",
                "costs",
                &request.organization,
                "deployments",
                &request.deployment,
                "items",
            ]);
        url.query_pairs_mut()
            .append_pair("from", &window.from().to_string())
            .append_pair("to", &window.to().to_string());
        let send = shared
            .http
            .get(url)
            .headers(shared.headers.clone())
            .header(ACCEPT, "text/csv")
            .header(HeaderName::from_static("api-version"), "1")
            .send();
        let response = match tokio::time::timeout(shared.attempt_timeout, send).await {
            Err(_) => return Err(transport(request, TransportKind::Timeout, None)),
            Ok(Err(err)) => return Err(from_reqwest(request, err)),
            Ok(Ok(response)) => response,
        };
        let status = response.status();
        shared.pacer.observe(
            &*shared.clock,
            status.as_u16(),
            response.headers(),
            self.in_flight(),
        );
        if !status.is_success() {
            return Err(self.error_answer(request, response).await);
        }
        let idle = shared.attempt_timeout;
        let chunks = stream::unfold(response.bytes_stream(), move |mut body| async move {
            match tokio::time::timeout(idle, body.next()).await {
                Ok(Some(chunk)) => Some((chunk.map_err(io::Error::other), body)),
                Ok(None) => None,
                Err(_) => Some((
                    Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "no body data within the attempt timeout",
                    )),
                    body,
                )),
            }
        });
        let reader = SyncIoBridge::new(StreamReader::new(Box::pin(chunks)));
        let parsed = tokio::task::spawn_blocking(move || {
            ItemsCsvReader::new(reader)?.accumulate(keep_lines)
        })
        .await
        .map_err(|join| transport(request, TransportKind::Other, Some(Box::new(join))))?;
        parsed.map_err(|err| match io_cause(&err).map(io::Error::kind) {
            Some(io::ErrorKind::TimedOut) => {
                transport(request, TransportKind::Timeout, Some(Box::new(err)))
            }
            Some(_) => transport(request, TransportKind::Body, Some(Box::new(err))),
            None => match err {
                Error::Csv(csv) => decode(request, "CSV", *csv),
                other => other,
            },
        })
    }

    /// Runs one call of the generated client within the attempt timeout, lets the pacer
    /// learn from the answer, and maps a failure to this crate's [`Error`].
    async fn generated_call<T>(
        &self,
        request: &RequestContext,
        hooks: &CallHooks,
        call: impl Future<
            Output = Result<
                ec_billing_api::ResponseValue<T>,
                ec_billing_api::Error<BasicFailedReply>,
            >,
        >,
    ) -> Result<T, Error> {
        let outcome = tokio::time::timeout(self.shared.attempt_timeout, call).await;
        self.observe(hooks);
        match outcome {
            Err(_) => Err(transport(request, TransportKind::Timeout, None)),
            Ok(Ok(reply)) => Ok(reply.into_inner()),
            Ok(Err(err)) => Err(self.generated_error(request, err, hooks).await),
        }
    }

    /// Lets the pacer learn from the head of the answer an attempt got, if any.
    fn observe(&self, hooks: &CallHooks) {
        if let Some(head) = hooks.last_response() {
            let shared = &self.shared;
            shared.pacer.observe(
                &*shared.clock,
                head.status.as_u16(),
                &head.headers,
                self.in_flight(),
            );
        }
    }

    /// Requests under way now, by the permits taken.
    fn in_flight(&self) -> usize {
        self.shared.concurrency - self.shared.limiter.available_permits()
    }

    /// Maps an error of the generated client, with the head its hooks recorded.
    async fn generated_error(
        &self,
        request: &RequestContext,
        err: ec_billing_api::Error<BasicFailedReply>,
        hooks: &CallHooks,
    ) -> Error {
        use ec_billing_api::Error as E;
        match err {
            E::ErrorResponse(reply) => {
                let (status, headers) = (reply.status(), reply.headers().clone());
                self.api_error(request, status, &headers, Some(reply.into_inner()))
            }
            E::InvalidResponsePayload(_, json) => match hooks.last_response() {
                // A documented error status whose body is not JSON: keep status and headers.
                Some(head) if !head.status.is_success() => {
                    self.api_error(request, head.status, &head.headers, None)
                }
                _ => decode(request, "JSON", json),
            },
            E::UnexpectedResponse(response) => self.error_answer(request, response).await,
            E::CommunicationError(err) => from_reqwest(request, err),
            E::ResponseBodyError(err) => transport(
                request,
                TransportKind::Body,
                Some(Box::new(err.without_url())),
            ),
            E::InvalidRequest(message) => InvalidInput::new(message).into(),
            other => transport(
                request,
                TransportKind::Other,
                Some(other.to_string().into()),
            ),
        }
    }

    /// An [`ApiError`] from an error answer whose body is still to be read: the body
    /// counts when it arrives within the attempt timeout and is the documented JSON.
    async fn error_answer(&self, request: &RequestContext, response: reqwest::Response) -> Error {
        let (status, headers) = (response.status(), response.headers().clone());
        let body = tokio::time::timeout(self.shared.attempt_timeout, response.bytes()).await;
        let reply = body
            .ok()
            .and_then(Result::ok)
            .and_then(|b| serde_json::from_slice(&b).ok());
        self.api_error(request, status, &headers, reply)
    }

    /// An [`ApiError`] from a status, its headers and, when it decoded, its body.
    fn api_error(
        &self,
        request: &RequestContext,
        status: StatusCode,
        headers: &HeaderMap,
        reply: Option<BasicFailedReply>,
    ) -> Error {
        let mut codes: Vec<ErrorCode> = headers
            .get_all(ERROR_CODES)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(ErrorCode::parse)
            .collect();
        let mut messages = Vec::new();
        for element in reply.map(|r| r.errors).unwrap_or_default() {
            codes.push(ErrorCode::parse(&element.code));
            messages.push(element.message);
        }
        let mut seen = Vec::with_capacity(codes.len());
        codes.retain(|c| {
            !seen.contains(c) && {
                seen.push(c.clone());
                true
            }
        });
        let request_id = REQUEST_ID_HEADERS
            .iter()
            .find_map(|name| headers.get(*name)?.to_str().ok())
            .map(str::to_string);
        ApiError {
            request: request.clone(),
            status: status.as_u16(),
            codes,
            messages,
            request_id,
            retry_after: retry_after(headers, self.shared.clock.now()),
        }
        .into()
    }
}

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

/// What both kinds of request share: the client, the organization, the deployment and
/// the range.
#[derive(Clone, Debug)]
struct Target {
    client: Client,
    organization: String,
    deployment: String,
    range: Option<DateRange>,
}

impl Target {
    fn new(
        client: &Client,
        organization: impl Into<String>,
        deployment: impl Into<String>,
    ) -> Self {
        Self {
            client: client.clone(),
            organization: organization.into(),
            deployment: deployment.into(),
            range: None,
        }
    }

    /// The range (the month to date by default) and its windows, or why not.
    fn plan(&self, size: WindowSize) -> Result<(DateRange, Vec<Window>), Error> {
        for (what, id) in [
            ("organization", &self.organization),
            ("deployment", &self.deployment),
        ] {
            if id.trim().is_empty() {
                return Err(
                    InvalidInput::new(format!("invalid {what} id \"{id}\": it is empty")).into(),
                );
            }
        }
        let range = match self.range {
            Some(range) => range,
            None => DateRange::month_to_date(self.client.shared.clock.now())?,
        };
        Ok((range, range.windows(size)))
    }

    fn context(&self, operation: Operation, window: Window) -> RequestContext {
        RequestContext {
            operation,
            organization: self.organization.clone(),
            deployment: self.deployment.clone(),
            window: Some(window),
            attempts: 0,
        }
    }

    /// Fetches `windows` concurrently (at most the client's limit in flight) and yields
    /// their results in window order.
    fn fetch<T, F, Fut>(&self, windows: Vec<Window>, fetch_one: F) -> WindowStream<T>
    where
        T: Send + 'static,
        F: Fn(Target, Window) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, Error>> + Send + 'static,
    {
        let target = self.clone();
        let limit = self.client.shared.concurrency;
        Box::pin(
            stream::iter(windows)
                .map(move |window| {
                    let result = fetch_one(target.clone(), window);
                    async move { result.await.map(|value| WindowResult { window, value }) }
                })
                .buffered(limit),
        )
    }
}

fn failed<T: Send + 'static>(err: Error) -> WindowStream<T> {
    Box::pin(stream::once(async move { Err(err) }))
}

/// Itemized costs of one deployment over a range. Made by [`Client::items`].
#[derive(Clone, Debug)]
pub struct ItemsRequest {
    target: Target,
    window: WindowSize,
    format: Format,
}

impl ItemsRequest {
    /// The range to fetch; by default the current month to date.
    pub fn range(mut self, range: DateRange) -> Self {
        self.target.range = Some(range);
        self
    }

    /// How the range is split into requests; calendar months by default.
    pub fn window(mut self, size: WindowSize) -> Self {
        self.window = size;
        self
    }

    /// JSON (default) or CSV.
    pub fn format(mut self, format: Format) -> Self {
        self.format = format;
        self
    }

    /// The windows this request will fetch.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] when an id is empty, or no range was given in the first
    /// second of a month.
    pub fn windows(&self) -> Result<Vec<Window>, Error> {
        self.target.plan(self.window).map(|(_, windows)| windows)
    }

    /// Each window's items, in window order, fetched concurrently.
    ///
    /// An error names its window ([`Error::window`]); the stream goes on with later
    /// windows, so a caller may skip or stop. Bad input is the stream's only item.
    ///
    /// ```no_run
    /// use futures_util::StreamExt;
    ///
    /// # async fn run(client: ec_billing::Client) -> Result<(), ec_billing::Error> {
    /// let mut windows = client.items("my-org", "my-deployment").stream();
    /// while let Some(result) = windows.next().await {
    ///     let result = result?;
    ///     println!("{}: {} ECU", result.window, result.value.costs.total);
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn stream(self) -> impl Stream<Item = Result<WindowResult<Items>, Error>> + Send + 'static {
        self.windows_stream(true).map(|result| {
            result.map(
                |WindowResult {
                     window,
                     value: (items, _),
                 }| WindowResult {
                    window,
                    value: items,
                },
            )
        })
    }

    /// Each window's items with their number of lines; the lines themselves are only
    /// kept when `keep_lines`.
    fn windows_stream(self, keep_lines: bool) -> WindowStream<(Items, u64)> {
        let (_, windows) = match self.target.plan(self.window) {
            Ok(plan) => plan,
            Err(err) => return failed(err),
        };
        let format = self.format;
        self.target
            .fetch(windows, move |target, window| async move {
                let request = target.context(Operation::Items, window);
                let client = &target.client;
                client
                    .with_retries(&request, || async {
                        match format {
                            Format::Json => client.items_json(&request, window, keep_lines).await,
                            Format::Csv => client.items_csv(&request, window, keep_lines).await,
                        }
                    })
                    .await
            })
    }

    /// The total and per-dimension costs of the whole range, and its number of lines,
    /// without keeping the lines: memory stays flat whatever the size of the answers
    /// (CSV is summed as it streams in).
    ///
    /// # Errors
    ///
    /// The first window's error, in window order, after retries: see [`Error`].
    pub async fn totals(self) -> Result<ItemsTotals, Error> {
        let (range, windows) = self.target.plan(self.window)?;
        let (organization, deployment) = (
            self.target.organization.clone(),
            self.target.deployment.clone(),
        );
        let parts = collect(self.windows_stream(false)).await?;
        let lines = parts.iter().map(|(_, count)| count).sum();
        // The parts hold no lines: merging them sums the costs alone.
        let costs = Items::merge(parts.into_iter().map(|(items, _)| items)).costs;
        Ok(ItemsTotals {
            organization,
            deployment,
            range,
            windows,
            costs,
            lines,
        })
    }

    /// Every window's items, merged: lines in window order, totals summed exactly.
    ///
    /// # Errors
    ///
    /// The first window's error, in window order, after retries: see [`Error`].
    pub async fn send(self) -> Result<ItemsReport, Error> {
        let (range, windows) = self.target.plan(self.window)?;
        let (organization, deployment) = (
            self.target.organization.clone(),
            self.target.deployment.clone(),
        );
        let parts = collect(self.stream()).await?;
        Ok(ItemsReport {
            organization,
            deployment,
            range,
            windows,
            items: Items::merge(parts),
        })
    }
}

/// Usage charts of one deployment over a range. Made by [`Client::charts`].
#[derive(Clone, Debug)]
pub struct ChartsRequest {
    target: Target,
    window: WindowSize,
    bucketing: Bucketing,
}

impl ChartsRequest {
    /// The range to fetch; by default the current month to date.
    pub fn range(mut self, range: DateRange) -> Self {
        self.target.range = Some(range);
        self
    }

    /// How the range is split into requests; calendar months by default, and always
    /// calendar months with [`Bucketing::Monthly`].
    pub fn window(mut self, size: WindowSize) -> Self {
        self.window = size;
        self
    }

    /// Daily (default) or monthly buckets.
    pub fn bucketing(mut self, bucketing: Bucketing) -> Self {
        self.bucketing = bucketing;
        self
    }

    fn window_size(&self) -> WindowSize {
        match self.bucketing {
            Bucketing::Monthly => WindowSize::Month,
            Bucketing::Daily => self.window,
        }
    }

    /// The windows this request will fetch.
    ///
    /// # Errors
    ///
    /// As [`ItemsRequest::windows`].
    pub fn windows(&self) -> Result<Vec<Window>, Error> {
        self.target
            .plan(self.window_size())
            .map(|(_, windows)| windows)
    }

    /// Each window's charts, in window order, fetched concurrently; as
    /// [`ItemsRequest::stream`].
    pub fn stream(
        self,
    ) -> impl Stream<Item = Result<WindowResult<Charts>, Error>> + Send + 'static {
        let (_, windows) = match self.target.plan(self.window_size()) {
            Ok(plan) => plan,
            Err(err) => return failed(err),
        };
        let bucketing = self.bucketing;
        self.target
            .fetch(windows, move |target, window| async move {
                let request = target.context(Operation::Charts, window);
                let client = &target.client;
                client
                    .with_retries(&request, || client.charts_json(&request, window, bucketing))
                    .await
            })
    }

    /// Every window's charts, merged: buckets in time order, same-timestamp buckets of
    /// adjacent windows summed by value id.
    ///
    /// # Errors
    ///
    /// The first window's error, in window order, after retries: see [`Error`].
    pub async fn send(self) -> Result<ChartsReport, Error> {
        let (range, windows) = self.target.plan(self.window_size())?;
        let (organization, deployment) = (
            self.target.organization.clone(),
            self.target.deployment.clone(),
        );
        let bucketing = self.bucketing;
        let parts = collect(self.stream()).await?;
        Ok(ChartsReport {
            organization,
            deployment,
            range,
            bucketing,
            windows,
            charts: Charts::merge(parts),
        })
    }
}

async fn collect<T>(
    stream: impl Stream<Item = Result<WindowResult<T>, Error>>,
) -> Result<Vec<T>, Error> {
    let mut stream = std::pin::pin!(stream);
    let mut parts = Vec::new();
    while let Some(result) = stream.next().await {
        parts.push(result?.value);
    }
    Ok(parts)
}

/// The itemized costs of one deployment over a whole range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ItemsReport {
    /// The organization id.
    pub organization: String,
    /// The deployment id.
    pub deployment: String,
    /// The range fetched.
    pub range: DateRange,
    /// The windows it was fetched in, in order.
    pub windows: Vec<Window>,
    /// The merged items.
    pub items: Items,
}

/// The totals of one deployment over a whole range, without its lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ItemsTotals {
    /// The organization id.
    pub organization: String,
    /// The deployment id.
    pub deployment: String,
    /// The range fetched.
    pub range: DateRange,
    /// The windows it was fetched in, in order.
    pub windows: Vec<Window>,
    /// The total and per-dimension costs, exact.
    pub costs: crate::model::Costs,
    /// How many line items the answers had.
    pub lines: u64,
}

/// The usage charts of one deployment over a whole range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChartsReport {
    /// The organization id.
    pub organization: String,
    /// The deployment id.
    pub deployment: String,
    /// The range fetched.
    pub range: DateRange,
    /// The bucketing asked for.
    pub bucketing: Bucketing,
    /// The windows it was fetched in, in order.
    pub windows: Vec<Window>,
    /// The merged charts.
    pub charts: Charts,
}

fn transport(
    request: &RequestContext,
    kind: TransportKind,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
) -> Error {
    TransportError {
        request: request.clone(),
        kind,
        source,
    }
    .into()
}

fn from_reqwest(request: &RequestContext, err: reqwest::Error) -> Error {
    let kind = if err.is_timeout() {
        TransportKind::Timeout
    } else if err.is_connect() {
        TransportKind::Connect
    } else if err.is_body() || err.is_decode() {
        TransportKind::Body
    } else {
        TransportKind::Other
    };
    transport(request, kind, Some(Box::new(err.without_url())))
}

fn decode(
    request: &RequestContext,
    format: &'static str,
    source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
) -> Error {
    DecodeError {
        request: Some(request.clone()),
        format,
        source: source.into(),
    }
    .into()
}
