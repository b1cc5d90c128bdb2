//! What every operation shares: a target (client, ids, range, progress hook) planned
//! once into windows, fetched concurrently and delivered in window order.

use std::{fmt, pin::Pin, sync::Arc};

use futures_util::{Stream, StreamExt, stream};

use crate::{
    client::Client,
    error::{Error, Operation, RequestContext},
    ids::check_id,
    model::WindowResult,
    time::{DateRange, Window, WindowSize},
};

/// Windows a request keeps in progress per unit of the client's concurrency. More
/// windows than requests in flight: a window waiting out a `Retry-After` holds no
/// permit, and must not keep the next windows from starting.
const WINDOWS_PER_PERMIT: usize = 4;

/// A stream of per-window results, in window order.
pub(super) type WindowStream<T> =
    Pin<Box<dyn Stream<Item = Result<WindowResult<T>, Error>> + Send>>;

/// A window of a request that has finished (fetched, or failed for good), as told to a
/// progress hook ([`ItemsRequest::on_window`](crate::ItemsRequest::on_window)).
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
pub(crate) struct OnWindow(pub(super) Arc<dyn Fn(WindowDone<'_>) + Send + Sync>);

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
pub(super) struct Target {
    pub(super) client: Client,
    pub(super) organization: String,
    pub(super) deployment: String,
    pub(super) range: Option<DateRange>,
    pub(super) on_window: Option<OnWindow>,
}

/// A request planned once: its range (the month to date, when none was set, read from
/// the clock once) and the windows it fetches.
#[derive(Clone, Debug)]
pub(super) struct Plan {
    pub(super) range: DateRange,
    pub(super) windows: Vec<Window>,
}

impl Target {
    pub(super) fn new(client: &Client, organization: String, deployment: String) -> Self {
        Self {
            client: client.clone(),
            organization,
            deployment,
            range: None,
            on_window: None,
        }
    }

    /// Checks the ids and splits the range, or says why not.
    pub(super) fn plan(&self, size: WindowSize) -> Result<Plan, Error> {
        check_id("organization", &self.organization)?;
        check_id("deployment", &self.deployment)?;
        let range = match self.range {
            Some(range) => range,
            None => DateRange::month_to_date(self.client.now())?,
        };
        Ok(Plan {
            range,
            windows: range.plan(size)?,
        })
    }

    pub(super) fn context(&self, operation: Operation, window: Option<Window>) -> RequestContext {
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
    pub(super) fn fetch<T, F, Fut>(&self, windows: Vec<Window>, fetch_one: F) -> WindowStream<T>
    where
        T: Send + 'static,
        F: Fn(Target, Window) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, Error>> + Send + 'static,
    {
        let target = self.clone();
        let limit = self
            .client
            .concurrency()
            .get()
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

pub(super) fn failed<T: Send + 'static>(err: Error) -> WindowStream<T> {
    Box::pin(stream::once(async move { Err(err) }))
}

/// Collects a stream of window results in order; the first error ends it.
pub(super) async fn collect<T>(
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
pub(super) fn in_request(err: Error, request: RequestContext) -> Error {
    match err {
        Error::Overflow(overflow) => overflow.in_request(request).into(),
        other => other,
    }
}
