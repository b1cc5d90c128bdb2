//! Itemized costs of one deployment over a range ([`ItemsRequest`]), and what it
//! reports: the merged items ([`ItemsReport`]) or the totals alone ([`ItemsTotals`]).

use futures_util::{Stream, StreamExt};

use super::plan::{OnWindow, Target, WindowDone, WindowStream, collect, failed, in_request};
use crate::{
    client::Client,
    error::{Error, Operation},
    format::Format,
    http,
    model::{Costs, CostsSum, Items, WindowResult},
    time::{DateRange, Window, WindowSize},
};

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
                        http::items(
                            client.connection(),
                            &request,
                            window,
                            format,
                            keep_lines,
                            attempt,
                        )
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
