//! Usage charts of one deployment over a range ([`ChartsRequest`]), and what it
//! reports ([`ChartsReport`]).

use futures_util::Stream;

use super::plan::{OnWindow, Target, WindowDone, WindowStream, collect, failed, in_request};
use crate::{
    client::Client,
    error::{Error, Operation},
    http,
    model::{Charts, WindowResult},
    time::{Bucketing, DateRange, Window, WindowSize},
};

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

    /// Calls `hook` as each window finishes; as [`ItemsRequest::on_window`](crate::ItemsRequest::on_window).
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
    /// As [`ItemsRequest::windows`](crate::ItemsRequest::windows).
    pub fn windows(&self) -> Result<Vec<Window>, Error> {
        self.target
            .plan(self.window_size())
            .map(|plan| plan.windows)
    }

    /// Each window's charts, in window order, fetched concurrently; as
    /// [`ItemsRequest::stream`](crate::ItemsRequest::stream).
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
                        http::charts(client.connection(), &request, window, bucketing, attempt)
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
