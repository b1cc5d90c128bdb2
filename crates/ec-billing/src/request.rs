//! Requests for a range and what they report: the ids checked and the range planned
//! into windows once, the windows fetched concurrently and delivered in order, and the
//! results merged exactly.

use std::{fmt, pin::Pin, sync::Arc};

use futures_util::{Stream, StreamExt, stream};

use crate::{
    client::Client,
    error::{Error, InvalidInput, Operation, RequestContext},
    model::{Charts, Costs, CostsSum, Items, WindowResult},
    text,
    time::{Bucketing, DateRange, Window, WindowSize},
    transport::{self, Format},
};

/// The longest id accepted, in bytes. Elastic's ids are 32 hexadecimal characters.
pub const MAX_ID_BYTES: usize = 256;

/// Windows a request keeps in progress per unit of the client's concurrency. More
/// windows than requests in flight: a window waiting out a `Retry-After` holds no
/// permit, and must not keep the next windows from starting.
const WINDOWS_PER_PERMIT: usize = 4;

/// A stream of per-window results, in window order.
type WindowStream<T> = Pin<Box<dyn Stream<Item = Result<WindowResult<T>, Error>> + Send>>;

/// A window of a request that has finished (fetched, or failed for good), as told to a
/// progress hook ([`ItemsRequest::on_window`]).
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct WindowDone<'a> {
    /// The deployment the window belongs to.
    pub deployment: &'a str,
    /// The window.
    pub window: Window,
    /// Whether it was fetched.
    pub succeeded: bool,
}

/// What a progress hook is: called once per window as it finishes, from any task.
#[derive(Clone)]
pub(crate) struct OnWindow(Arc<dyn Fn(WindowDone<'_>) + Send + Sync>);

impl OnWindow {
    pub(crate) fn new(hook: impl Fn(WindowDone<'_>) + Send + Sync + 'static) -> Self {
        Self(Arc::new(hook))
    }
}

impl fmt::Debug for OnWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OnWindow")
    }
}

/// What both kinds of request share: the client, the organization, the deployment and
/// the range.
#[derive(Clone, Debug)]
struct Target {
    client: Client,
    organization: String,
    deployment: String,
    range: Option<DateRange>,
    on_window: Option<OnWindow>,
}

/// A request planned once: its range (the month to date, when none was set, read from
/// the clock once) and the windows it fetches.
#[derive(Clone, Debug)]
struct Plan {
    range: DateRange,
    windows: Vec<Window>,
}

impl Target {
    fn new(client: &Client, organization: String, deployment: String) -> Self {
        Self {
            client: client.clone(),
            organization,
            deployment,
            range: None,
            on_window: None,
        }
    }

    /// Checks the ids and splits the range, or says why not.
    fn plan(&self, size: WindowSize) -> Result<Plan, Error> {
        check_id("organization", &self.organization)?;
        check_id("deployment", &self.deployment)?;
        let range = match self.range {
            Some(range) => range,
            None => DateRange::month_to_date(self.client.shared.clock.now())?,
        };
        Ok(Plan {
            range,
            windows: range.plan(size)?,
        })
    }

    fn context(&self, operation: Operation, window: Option<Window>) -> RequestContext {
        RequestContext {
            operation,
            organization: self.organization.clone(),
            deployment: self.deployment.clone(),
            window,
            attempts: 0,
        }
    }

    /// Fetches `windows` concurrently (at most the client's limit in flight, and four
    /// times as many in progress, waiting to retry or to be delivered) and yields their
    /// results in window order.
    fn fetch<T, F, Fut>(&self, windows: Vec<Window>, fetch_one: F) -> WindowStream<T>
    where
        T: Send + 'static,
        F: Fn(Target, Window) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, Error>> + Send + 'static,
    {
        let target = self.clone();
        let limit = self
            .client
            .shared
            .concurrency
            .saturating_mul(WINDOWS_PER_PERMIT);
        Box::pin(
            stream::iter(windows)
                .map(move |window| {
                    let result = fetch_one(target.clone(), window);
                    let (on_window, deployment) =
                        (target.on_window.clone(), target.deployment.clone());
                    async move {
                        let result = result.await;
                        if let Some(OnWindow(hook)) = on_window {
                            hook(WindowDone {
                                deployment: &deployment,
                                window,
                                succeeded: result.is_ok(),
                            });
                        }
                        result.map(|value| WindowResult { window, value })
                    }
                })
                .buffered(limit),
        )
    }
}

/// Refuses an id that cannot be one path segment of the request: empty or blank, a dot
/// segment (`.`, `..`, which a URL parser would resolve, changing the path), or longer
/// than [`MAX_ID_BYTES`]. Any other character is percent-encoded on the wire.
fn check_id(what: &str, id: &str) -> Result<(), Error> {
    let problem = if id.trim().is_empty() {
        "it is empty"
    } else if matches!(id, "." | "..") {
        "a dot segment would change the request's path"
    } else if id.len() > MAX_ID_BYTES {
        "it is longer than 256 bytes"
    } else {
        return Ok(());
    };
    let shown = text::escape(id).truncate(64);
    Err(InvalidInput::new(format!("invalid {what} id \"{shown}\": {problem}")).into())
}

/// Refuses an organization and a deployment id that no request could carry, as every
/// request does before it is made: for a caller that checks its input before doing
/// anything else (a ledger's sync, before it touches a file).
///
/// ```
/// assert!(ec_billing::check_ids("my-org", "we/ird id").is_ok());
/// assert!(ec_billing::check_ids("my-org", "..").is_err());
/// ```
///
/// # Errors
///
/// [`Error::InvalidInput`] for an empty or blank id, a dot segment (`.`, `..`), or one
/// longer than [`MAX_ID_BYTES`].
pub fn check_ids(organization: &str, deployment: &str) -> Result<(), Error> {
    check_id("organization", organization)?;
    check_id("deployment", deployment)
}

fn failed<T: Send + 'static>(err: Error) -> WindowStream<T> {
    Box::pin(stream::once(async move { Err(err) }))
}

/// Collects a stream of window results in order; the first error ends it.
async fn collect<T>(
    stream: impl Stream<Item = Result<WindowResult<T>, Error>>,
) -> Result<Vec<WindowResult<T>>, Error> {
    let mut stream = std::pin::pin!(stream);
    let mut parts = Vec::new();
    while let Some(result) = stream.next().await {
        parts.push(result?);
    }
    Ok(parts)
}

/// A merge error named with the request it belongs to.
fn in_request(err: Error, request: RequestContext) -> Error {
    match err {
        Error::Overflow(overflow) => overflow.in_request(request).into(),
        other => other,
    }
}

/// Itemized costs of one deployment over a range. Made by [`Client::items`].
#[derive(Clone, Debug)]
pub struct ItemsRequest {
    target: Target,
    window: WindowSize,
    format: Format,
}

impl ItemsRequest {
    pub(crate) fn new(client: &Client, organization: String, deployment: String) -> Self {
        Self {
            target: Target::new(client, organization, deployment),
            window: WindowSize::Month,
            format: Format::Json,
        }
    }

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

    /// Calls `hook` as each window finishes (fetched, or failed for good), from
    /// whichever task fetched it: for progress bars.
    pub fn on_window(mut self, hook: impl Fn(WindowDone<'_>) + Send + Sync + 'static) -> Self {
        self.target.on_window = Some(OnWindow::new(hook));
        self
    }

    pub(crate) fn with_hook(mut self, hook: Option<OnWindow>) -> Self {
        self.target.on_window = hook;
        self
    }

    /// The windows this request will fetch.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] when an id is refused (see [`Client::items`]), the range
    /// would make more than [`MAX_WINDOWS`](crate::MAX_WINDOWS) windows, or no range
    /// was given in the first second of a month.
    pub fn windows(&self) -> Result<Vec<Window>, Error> {
        self.target.plan(self.window).map(|plan| plan.windows)
    }

    /// Each window's items, in window order, fetched concurrently.
    ///
    /// An error names its window ([`Error::window`]); the stream goes on with later
    /// windows, so a caller may skip or stop. Bad input is the stream's only item.
    ///
    /// ```no_run
    /// use ec_billing::StreamExt;
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
        match self.target.plan(self.window) {
            Ok(plan) => self.windows_stream(plan.windows, true),
            Err(err) => failed(err),
        }
        .map(|result| {
            result.map(|WindowResult { window, value }| WindowResult {
                window,
                value: value.0,
            })
        })
    }

    /// Each window's items with their number of lines; the lines themselves are only
    /// kept when `keep_lines`.
    fn windows_stream(self, windows: Vec<Window>, keep_lines: bool) -> WindowStream<(Items, u64)> {
        let format = self.format;
        self.target
            .fetch(windows, move |target, window| async move {
                let request = target.context(Operation::Items, Some(window));
                let client = &target.client;
                client
                    .with_retries(&request, |attempt| {
                        transport::items(client, &request, window, format, keep_lines, attempt)
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
    /// The first window's error, in window order, after retries: see [`Error`]; a
    /// total too large for an exact decimal is [`Error::Overflow`] naming its window.
    pub async fn totals(self) -> Result<ItemsTotals, Error> {
        let plan = self.target.plan(self.window)?;
        let context = self.target.context(Operation::Items, None);
        let (organization, deployment) = (
            self.target.organization.clone(),
            self.target.deployment.clone(),
        );
        let mut costs = CostsSum::default();
        let mut lines = 0u64;
        let mut parts = std::pin::pin!(self.windows_stream(plan.windows.clone(), false));
        while let Some(part) = parts.next().await {
            let WindowResult {
                window,
                value: (items, count),
            } = part?;
            lines = lines.saturating_add(count);
            costs
                .add(items.costs)
                .map_err(|overflow| overflow.in_window(window).in_request(context.clone()))?;
        }
        Ok(ItemsTotals {
            organization,
            deployment,
            range: plan.range,
            windows: plan.windows,
            costs: costs.into_costs(),
            lines,
        })
    }

    /// Every window's items, merged: lines in window order, totals summed exactly.
    ///
    /// # Errors
    ///
    /// The first window's error, in window order, after retries: see [`Error`]; a
    /// total too large for an exact decimal is [`Error::Overflow`] naming its window.
    pub async fn send(self) -> Result<ItemsReport, Error> {
        let plan = self.target.plan(self.window)?;
        let context = self.target.context(Operation::Items, None);
        let (organization, deployment) = (
            self.target.organization.clone(),
            self.target.deployment.clone(),
        );
        let parts = collect(self.windows_stream(plan.windows.clone(), true)).await?;
        let parts = parts.into_iter().map(|part| WindowResult {
            window: part.window,
            value: part.value.0,
        });
        let items = Items::merge(parts).map_err(|err| in_request(err, context))?;
        Ok(ItemsReport {
            organization,
            deployment,
            range: plan.range,
            windows: plan.windows,
            items,
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
    pub(crate) fn new(client: &Client, organization: String, deployment: String) -> Self {
        Self {
            target: Target::new(client, organization, deployment),
            window: WindowSize::Month,
            bucketing: Bucketing::Daily,
        }
    }

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

    /// Calls `hook` as each window finishes; as [`ItemsRequest::on_window`].
    pub fn on_window(mut self, hook: impl Fn(WindowDone<'_>) + Send + Sync + 'static) -> Self {
        self.target.on_window = Some(OnWindow::new(hook));
        self
    }

    pub(crate) fn with_hook(mut self, hook: Option<OnWindow>) -> Self {
        self.target.on_window = hook;
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
            .map(|plan| plan.windows)
    }

    /// Each window's charts, in window order, fetched concurrently; as
    /// [`ItemsRequest::stream`].
    ///
    /// A window's buckets must lie in it (from the start of the day, or month, the
    /// window starts in, to its end inclusive) and have distinct timestamps: otherwise
    /// the window fails with [`Error::Decode`] rather than count a value twice or
    /// misplace it.
    pub fn stream(
        self,
    ) -> impl Stream<Item = Result<WindowResult<Charts>, Error>> + Send + 'static {
        match self.target.plan(self.window_size()) {
            Ok(plan) => self.windows_stream(plan.windows),
            Err(err) => failed(err),
        }
    }

    fn windows_stream(self, windows: Vec<Window>) -> WindowStream<Charts> {
        let bucketing = self.bucketing;
        self.target
            .fetch(windows, move |target, window| async move {
                let request = target.context(Operation::Charts, Some(window));
                let client = &target.client;
                client
                    .with_retries(&request, |attempt| {
                        transport::charts(client, &request, window, bucketing, attempt)
                    })
                    .await
            })
    }

    /// Every window's charts, merged: buckets in time order, same-timestamp buckets of
    /// adjacent windows summed by value id.
    ///
    /// # Errors
    ///
    /// The first window's error, in window order, after retries: see [`Error`]; a sum
    /// too large for an exact decimal is [`Error::Overflow`] naming its window.
    pub async fn send(self) -> Result<ChartsReport, Error> {
        let plan = self.target.plan(self.window_size())?;
        let context = self.target.context(Operation::Charts, None);
        let (organization, deployment) = (
            self.target.organization.clone(),
            self.target.deployment.clone(),
        );
        let bucketing = self.bucketing;
        let parts = collect(self.windows_stream(plan.windows.clone())).await?;
        let charts = Charts::merge(parts).map_err(|err| in_request(err, context))?;
        Ok(ChartsReport {
            organization,
            deployment,
            range: plan.range,
            bucketing,
            windows: plan.windows,
            charts,
        })
    }
}

/// The itemized costs of one deployment over a whole range.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
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
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
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
    pub costs: Costs,
    /// How many line items the answers had.
    pub lines: u64,
}

/// The usage charts of one deployment over a whole range.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
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

impl ItemsReport {
    /// A report made by hand (from saved data, say).
    pub fn new(
        organization: impl Into<String>,
        deployment: impl Into<String>,
        range: DateRange,
        windows: Vec<Window>,
        items: Items,
    ) -> Self {
        Self {
            organization: organization.into(),
            deployment: deployment.into(),
            range,
            windows,
            items,
        }
    }
}

impl ItemsTotals {
    /// Totals made by hand (from saved data, say).
    pub fn new(
        organization: impl Into<String>,
        deployment: impl Into<String>,
        range: DateRange,
        windows: Vec<Window>,
        costs: Costs,
        lines: u64,
    ) -> Self {
        Self {
            organization: organization.into(),
            deployment: deployment.into(),
            range,
            windows,
            costs,
            lines,
        }
    }
}

impl ChartsReport {
    /// A report made by hand (from saved data, say).
    pub fn new(
        organization: impl Into<String>,
        deployment: impl Into<String>,
        range: DateRange,
        bucketing: Bucketing,
        windows: Vec<Window>,
        charts: Charts,
    ) -> Self {
        Self {
            organization: organization.into(),
            deployment: deployment.into(),
            range,
            bucketing,
            windows,
            charts,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_that_cannot_be_one_path_segment_are_refused_quoting_them_safely() {
        for (id, problem) in [
            ("", "empty"),
            ("  \t", "empty"),
            (".", "dot segment"),
            ("..", "dot segment"),
        ] {
            let err = check_id("deployment", id).unwrap_err();
            assert!(matches!(err, Error::InvalidInput(_)));
            assert!(err.to_string().contains(problem), "{err}");
        }
        let long = "x\n".repeat(200);
        let err = check_id("organization", &long).unwrap_err().to_string();
        assert!(
            err.contains("longer than 256 bytes") && !err.contains('\n'),
            "{err}"
        );
        for fine in [
            "prod",
            "we/ird id",
            r"..\..\steal",
            "...",
            "a..b",
            "%2e%2e",
            "?#",
        ] {
            assert!(check_id("deployment", fine).is_ok(), "{fine}");
        }
    }
}
