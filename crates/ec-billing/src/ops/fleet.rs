//! Many deployments of one organization through one client: its concurrency, pacing
//! and retries shared, each deployment's result or error delivered as it completes, and
//! one deployment's failure never discarding another's data.

use ec_billing_api::ExactAdd;
use std::{
    collections::{HashMap, HashSet},
    fmt,
};

use futures_util::{Stream, StreamExt, stream};

use super::{
    charts::ChartsReport,
    items::{ItemsReport, ItemsTotals},
    plan::{OnWindow, WindowDone},
};
use crate::{
    client::Client,
    error::{Error, OverflowError},
    format::Format,
    model::Costs,
    time::{Bucketing, DateRange, Window, WindowSize},
};

/// Deployments a fleet request keeps in progress per unit of the client's concurrency:
/// more than requests in flight, so that deployments waiting to retry do not idle it.
const DEPLOYMENTS_PER_PERMIT: usize = 2;

/// One deployment's outcome.
#[derive(Debug)]
#[non_exhaustive]
pub struct DeploymentResult<T> {
    /// The deployment id.
    pub deployment: String,
    /// Its report, or why it has none.
    pub result: Result<T, Error>,
}

impl<T> DeploymentResult<T> {
    /// A result made by hand (a test double of a fleet stream, say).
    pub fn new(deployment: impl Into<String>, result: Result<T, Error>) -> Self {
        Self {
            deployment: deployment.into(),
            result,
        }
    }
}

/// A deployment that failed, and why.
#[derive(Debug)]
#[non_exhaustive]
pub struct DeploymentFailure {
    /// The deployment id.
    pub deployment: String,
    /// What went wrong (it names the window, when one failed).
    pub error: Error,
}

impl DeploymentFailure {
    /// A failure made by hand (a caller collecting its own results, say).
    pub fn new(deployment: impl Into<String>, error: Error) -> Self {
        Self {
            deployment: deployment.into(),
            error,
        }
    }
}

impl fmt::Display for DeploymentFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The error names the deployment itself when it belongs to a request.
        if self.error.deployment().is_some() {
            self.error.fmt(f)
        } else {
            write!(
                f,
                "deployment \"{}\": {}",
                crate::text::escape(&self.deployment).truncate(crate::text::QUOTED_CHARS),
                self.error
            )
        }
    }
}

/// What a fleet request gives: every deployment that answered, in the order asked,
/// and every one that failed.
#[derive(Debug)]
#[non_exhaustive]
pub struct FleetReport<T> {
    /// The reports of the deployments that answered, in the order they were asked for.
    pub reports: Vec<T>,
    /// The deployments that failed, in the order they were asked for.
    pub failures: Vec<DeploymentFailure>,
}

impl<T> FleetReport<T> {
    /// A report made by hand (a caller's own fan-out, a test double).
    pub fn new(reports: Vec<T>, failures: Vec<DeploymentFailure>) -> Self {
        Self { reports, failures }
    }

    /// Whether every deployment answered.
    pub fn is_complete(&self) -> bool {
        self.failures.is_empty()
    }
}

impl FleetReport<ItemsReport> {
    /// The total of every deployment that answered, exact.
    ///
    /// # Errors
    ///
    /// [`Error::Overflow`] when the sum is too large for an exact decimal.
    pub fn total(&self) -> Result<rust_decimal::Decimal, Error> {
        total_of(self.reports.iter().map(|report| &report.items.costs))
    }
}

impl FleetReport<ItemsTotals> {
    /// The total of every deployment that answered, exact.
    ///
    /// # Errors
    ///
    /// [`Error::Overflow`] when the sum is too large for an exact decimal.
    pub fn total(&self) -> Result<rust_decimal::Decimal, Error> {
        total_of(self.reports.iter().map(|totals| &totals.costs))
    }
}

/// The exact sum of the totals of `costs`.
fn total_of<'a>(costs: impl Iterator<Item = &'a Costs>) -> Result<rust_decimal::Decimal, Error> {
    let mut sum = rust_decimal::Decimal::ZERO;
    for costs in costs {
        sum = sum
            .exact_add(costs.total)
            .ok_or_else(|| OverflowError::new("costs.total"))?;
    }
    Ok(sum)
}

/// The deployments a fleet request is for, and what every one of its requests shares.
#[derive(Clone, Debug)]
struct Fleet {
    client: Client,
    organization: String,
    deployments: Vec<String>,
    range: Option<DateRange>,
    window: WindowSize,
    on_window: Option<OnWindow>,
}

impl Fleet {
    fn new(
        client: &Client,
        organization: String,
        deployments: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        let mut seen = HashSet::new();
        let mut unique: Vec<String> = Vec::new();
        for deployment in deployments.into_iter().map(Into::into) {
            if !seen.contains(&deployment) {
                seen.insert(deployment.clone());
                unique.push(deployment);
            }
        }
        Self {
            client: client.clone(),
            organization,
            deployments: unique,
            range: None,
            window: WindowSize::Month,
            on_window: None,
        }
    }

    /// With no range set, the month to date, read once for every deployment.
    fn fix_range(&mut self) -> Result<DateRange, Error> {
        let range = match self.range {
            Some(range) => range,
            None => DateRange::month_to_date(self.client.now())?,
        };
        self.range = Some(range);
        Ok(range)
    }

    fn in_progress(&self) -> usize {
        self.client
            .concurrency()
            .get()
            .saturating_mul(DEPLOYMENTS_PER_PERMIT)
    }
}

/// Runs `fetch` for every deployment, at most `limit` at a time, yielding each result as
/// it completes.
fn each<T, F, Fut>(
    deployments: Vec<String>,
    limit: usize,
    fetch: F,
) -> impl Stream<Item = DeploymentResult<T>> + Send + 'static
where
    T: Send + 'static,
    F: Fn(String) -> Fut + Send + 'static,
    Fut: Future<Output = Result<T, Error>> + Send + 'static,
{
    stream::iter(deployments)
        .map(move |deployment| {
            let result = fetch(deployment.clone());
            async move {
                DeploymentResult {
                    deployment,
                    result: result.await,
                }
            }
        })
        .buffer_unordered(limit)
}

/// Every result of `results`, sorted back into the order the deployments were asked for.
async fn gather<T>(
    order: &[String],
    results: impl Stream<Item = DeploymentResult<T>>,
) -> FleetReport<T> {
    let mut done: Vec<DeploymentResult<T>> = results.collect().await;
    let rank: HashMap<&str, usize> = order
        .iter()
        .enumerate()
        .map(|(at, deployment)| (deployment.as_str(), at))
        .collect();
    done.sort_by_key(|r| rank.get(r.deployment.as_str()).copied());
    let mut fleet = FleetReport {
        reports: Vec::new(),
        failures: Vec::new(),
    };
    for DeploymentResult { deployment, result } in done {
        match result {
            Ok(report) => fleet.reports.push(report),
            Err(error) => fleet.failures.push(DeploymentFailure { deployment, error }),
        }
    }
    fleet
}

/// What [`ItemsOf`] and [`ChartsOf`] share: a fleet, and the request each makes for one
/// deployment.
trait PerDeployment: Send + Sync + 'static {
    type Request;

    fn fleet(&self) -> &Fleet;
    fn fleet_mut(&mut self) -> &mut Fleet;
    fn request(&self, deployment: String) -> Self::Request;
    fn windows_of(request: &Self::Request) -> Result<Vec<Window>, Error>;

    /// The windows every deployment is fetched in, after checking every id and the
    /// range (the same windows for all).
    fn plan(&mut self) -> Result<Vec<Window>, Error> {
        self.fleet_mut().fix_range()?;
        let mut windows = Vec::new();
        for deployment in &self.fleet().deployments {
            windows = Self::windows_of(&self.request(deployment.clone()))?;
        }
        Ok(windows)
    }
}

/// `fetch` of every deployment's request, each result as it completes, after checking
/// every id and the range: bad input is refused before any request.
fn stream_of<P, T, Fut>(
    mut of: P,
    fetch: impl Fn(P::Request) -> Fut + Send + 'static,
) -> Result<impl Stream<Item = DeploymentResult<T>> + Send + 'static, Error>
where
    P: PerDeployment,
    T: Send + 'static,
    Fut: Future<Output = Result<T, Error>> + Send + 'static,
{
    of.plan()?;
    let limit = of.fleet().in_progress();
    let deployments = of.fleet().deployments.clone();
    Ok(each(deployments, limit, move |deployment| {
        fetch(of.request(deployment))
    }))
}

/// `fetch` of every deployment's request, gathered in the order asked, after checking
/// every id and the range.
async fn send_of<P, T, Fut>(
    mut of: P,
    fetch: impl Fn(P::Request) -> Fut + Send + 'static,
) -> Result<FleetReport<T>, Error>
where
    P: PerDeployment,
    T: Send + 'static,
    Fut: Future<Output = Result<T, Error>> + Send + 'static,
{
    of.plan()?;
    let order = of.fleet().deployments.clone();
    let limit = of.fleet().in_progress();
    let all = each(order.clone(), limit, move |deployment| {
        fetch(of.request(deployment))
    });
    Ok(gather(&order, all).await)
}

/// Itemized costs of several deployments of one organization. Made by
/// [`Client::items_of`].
#[derive(Clone, Debug)]
pub struct ItemsOf {
    fleet: Fleet,
    format: Format,
}

impl ItemsOf {
    pub(crate) fn new(
        client: &Client,
        organization: String,
        deployments: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        Self {
            fleet: Fleet::new(client, organization, deployments),
            format: Format::Json,
        }
    }

    /// The range to fetch; by default the current month to date.
    pub fn range(mut self, range: DateRange) -> Self {
        self.fleet.range = Some(range);
        self
    }

    /// How the range is split into requests; calendar months by default.
    pub fn window(mut self, size: WindowSize) -> Self {
        self.fleet.window = size;
        self
    }

    /// JSON (default) or CSV.
    pub fn format(mut self, format: Format) -> Self {
        self.format = format;
        self
    }

    /// Calls `hook` as each window of each deployment finishes; as
    /// [`ItemsRequest::on_window`](crate::ItemsRequest::on_window).
    pub fn on_window(mut self, hook: impl Fn(WindowDone<'_>) + Send + Sync + 'static) -> Self {
        self.fleet.on_window = Some(OnWindow::new(hook));
        self
    }

    /// The deployments asked for, each once, in order.
    pub fn deployments(&self) -> &[String] {
        &self.fleet.deployments
    }

    /// The windows every deployment is fetched in, after checking every id and the
    /// range.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for the first bad id, or a range that cannot be planned:
    /// see [`ItemsRequest::windows`](crate::ItemsRequest::windows).
    pub fn windows(&self) -> Result<Vec<Window>, Error> {
        self.clone().plan()
    }

    /// Each deployment's report, or its error, as it completes (not in the order
    /// asked).
    ///
    /// # Errors
    ///
    /// Bad input (an id, the range), checked for every deployment before any request:
    /// as [`windows`](Self::windows).
    pub fn stream(
        self,
    ) -> Result<impl Stream<Item = DeploymentResult<ItemsReport>> + Send + 'static, Error> {
        stream_of(self, crate::ItemsRequest::send)
    }

    /// Every deployment's report, and every deployment's failure: one deployment's
    /// failure never discards another's data.
    ///
    /// ```no_run
    /// # async fn run(client: ec_billing::Client) -> Result<(), ec_billing::Error> {
    /// let year = ec_billing::DateRange::parse("2024-01-01", "2025-01-01")?;
    /// let fleet = client.items_of("my-org", ["prod", "staging"]).range(year).send().await?;
    /// for report in &fleet.reports {
    ///     println!("{}: {} ECU", report.deployment, report.items.costs.total);
    /// }
    /// for failure in &fleet.failures {
    ///     eprintln!("{failure}");
    /// }
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`], before any request, for a bad id or range; any other
    /// failure is a deployment's, in [`FleetReport::failures`].
    pub async fn send(self) -> Result<FleetReport<ItemsReport>, Error> {
        send_of(self, crate::ItemsRequest::send).await
    }

    /// Every deployment's totals, without keeping lines (see
    /// [`ItemsRequest::totals`](crate::ItemsRequest::totals)), and every failure.
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send).
    pub async fn totals(self) -> Result<FleetReport<ItemsTotals>, Error> {
        send_of(self, crate::ItemsRequest::totals).await
    }
}

/// Usage charts of several deployments of one organization. Made by
/// [`Client::charts_of`].
#[derive(Clone, Debug)]
pub struct ChartsOf {
    fleet: Fleet,
    bucketing: Bucketing,
}

impl ChartsOf {
    pub(crate) fn new(
        client: &Client,
        organization: String,
        deployments: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        Self {
            fleet: Fleet::new(client, organization, deployments),
            bucketing: Bucketing::Daily,
        }
    }

    /// The range to fetch; by default the current month to date.
    pub fn range(mut self, range: DateRange) -> Self {
        self.fleet.range = Some(range);
        self
    }

    /// How the range is split into requests; see
    /// [`ChartsRequest::window`](crate::ChartsRequest::window).
    pub fn window(mut self, size: WindowSize) -> Self {
        self.fleet.window = size;
        self
    }

    /// Daily (default) or monthly buckets.
    pub fn bucketing(mut self, bucketing: Bucketing) -> Self {
        self.bucketing = bucketing;
        self
    }

    /// Calls `hook` as each window of each deployment finishes.
    pub fn on_window(mut self, hook: impl Fn(WindowDone<'_>) + Send + Sync + 'static) -> Self {
        self.fleet.on_window = Some(OnWindow::new(hook));
        self
    }

    /// The deployments asked for, each once, in order.
    pub fn deployments(&self) -> &[String] {
        &self.fleet.deployments
    }

    /// The windows every deployment is fetched in, after checking every id and the
    /// range.
    ///
    /// # Errors
    ///
    /// As [`ItemsOf::windows`].
    pub fn windows(&self) -> Result<Vec<Window>, Error> {
        self.clone().plan()
    }

    /// Each deployment's charts, or its error, as it completes; as
    /// [`ItemsOf::stream`].
    ///
    /// # Errors
    ///
    /// As [`ItemsOf::stream`].
    pub fn stream(
        self,
    ) -> Result<impl Stream<Item = DeploymentResult<ChartsReport>> + Send + 'static, Error> {
        stream_of(self, crate::ChartsRequest::send)
    }

    /// Every deployment's charts, and every failure; as [`ItemsOf::send`].
    ///
    /// # Errors
    ///
    /// As [`ItemsOf::send`].
    pub async fn send(self) -> Result<FleetReport<ChartsReport>, Error> {
        send_of(self, crate::ChartsRequest::send).await
    }
}

impl PerDeployment for ItemsOf {
    type Request = crate::ItemsRequest;

    fn fleet(&self) -> &Fleet {
        &self.fleet
    }

    fn fleet_mut(&mut self) -> &mut Fleet {
        &mut self.fleet
    }

    fn request(&self, deployment: String) -> crate::ItemsRequest {
        let fleet = &self.fleet;
        let mut request = fleet
            .client
            .items(fleet.organization.clone(), deployment)
            .window(fleet.window)
            .format(self.format)
            .with_hook(fleet.on_window.clone());
        if let Some(range) = fleet.range {
            request = request.range(range);
        }
        request
    }

    fn windows_of(request: &Self::Request) -> Result<Vec<Window>, Error> {
        request.windows()
    }
}

impl PerDeployment for ChartsOf {
    type Request = crate::ChartsRequest;

    fn fleet(&self) -> &Fleet {
        &self.fleet
    }

    fn fleet_mut(&mut self) -> &mut Fleet {
        &mut self.fleet
    }

    fn request(&self, deployment: String) -> crate::ChartsRequest {
        let fleet = &self.fleet;
        let mut request = fleet
            .client
            .charts(fleet.organization.clone(), deployment)
            .window(fleet.window)
            .bucketing(self.bucketing)
            .with_hook(fleet.on_window.clone());
        if let Some(range) = fleet.range {
            request = request.range(range);
        }
        request
    }

    fn windows_of(request: &Self::Request) -> Result<Vec<Window>, Error> {
        request.windows()
    }
}
