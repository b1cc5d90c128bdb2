//! One attempt over JSON, through the generated client: its hooks add the client's
//! headers, let the pacer learn from the answer's head the moment it arrives, and
//! bound its body.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use ec_billing_api::{CallHooks, ResponseValue, types::BasicFailedReply};

use super::{
    Attempt, Connection, MAX_ERROR_BODY_BYTES,
    body::{BodyLimit, Deadline, bounded, deadline},
    classify::{self, transport},
    observe,
};
use crate::{
    error::{Error, RequestContext, TransportKind},
    model::{Charts, Items, decode_error},
    time::{Bucketing, Window},
};

pub(super) async fn items(
    connection: &Arc<Connection>,
    request: &RequestContext,
    window: Window,
    keep_lines: bool,
    attempt: Attempt,
) -> Result<(Items, u64), Error> {
    let call = GeneratedCall::new(connection, attempt);
    let api = call.api(connection);
    let send = api
        .get_costs_items_by_deployment()
        .organization_id(&request.organization)
        .deployment_id(&request.deployment)
        .from(window.from())
        .to(window.to())
        .send();
    let mut items = Items::from(call.run(connection, request, send).await?);
    let lines = (items.resources.len() + items.data_transfer_and_storage.len()) as u64;
    if !keep_lines {
        items.resources = Vec::new();
        items.data_transfer_and_storage = Vec::new();
    }
    Ok((items, lines))
}

/// One attempt at the charts of one window; a bucket outside the window, or two with
/// one timestamp, fail it as a decode error.
pub(super) async fn charts(
    connection: &Arc<Connection>,
    request: &RequestContext,
    window: Window,
    bucketing: Bucketing,
    attempt: Attempt,
) -> Result<Charts, Error> {
    use ec_billing_api::types::GetCostsChartsByDeploymentBucketingStrategy as Strategy;
    let strategy = match bucketing {
        Bucketing::Daily => Strategy::Daily,
        Bucketing::Monthly => Strategy::Monthly,
    };
    let call = GeneratedCall::new(connection, attempt);
    let api = call.api(connection);
    let send = api
        .get_costs_charts_by_deployment()
        .organization_id(&request.organization)
        .deployment_id(&request.deployment)
        .bucketing_strategy(strategy)
        .from(window.from())
        .to(window.to())
        .send();
    let wire = call.run(connection, request, send).await?;
    let charts = Charts::from_wire(wire).map_err(|e| decode_error(Some(request), e))?;
    charts
        .check_within(&window, bucketing)
        .map_err(|e| decode_error(Some(request), e))?;
    Ok(charts)
}

/// One call of the generated client: its hooks, which add the client's headers, let
/// the pacer learn from the answer's head the moment it arrives, and bound its body.
struct GeneratedCall {
    hooks: CallHooks,
    head_seen: Arc<AtomicBool>,
    deadline: Deadline,
    read_timeout: Duration,
}

impl GeneratedCall {
    fn new(connection: &Arc<Connection>, attempt: Attempt) -> Self {
        let deadline = deadline(&*connection.clock, attempt.limit);
        let head_seen = Arc::new(AtomicBool::new(false));
        let filter = {
            let (connection, head_seen) = (connection.clone(), head_seen.clone());
            let deadline = deadline.clone();
            let read_timeout = connection.read_timeout;
            move |response: reqwest::Response| {
                head_seen.store(true, Ordering::Relaxed);
                observe(&connection, &response, attempt);
                let limit = if response.status().is_success() {
                    BodyLimit::Fail(connection.max_body_bytes)
                } else {
                    BodyLimit::Truncate(MAX_ERROR_BODY_BYTES as u64)
                };
                let clock = connection.clock.clone();
                bounded(response, deadline.clone(), clock, read_timeout, limit)
            }
        };
        let hooks = connection
            .headers
            .iter()
            .fold(CallHooks::new(), |hooks, (name, value)| {
                hooks.with_header(name.clone(), value.clone())
            })
            .with_response_filter(Arc::new(filter));
        Self {
            hooks,
            head_seen,
            deadline,
            read_timeout: connection.read_timeout,
        }
    }

    /// The generated client for this call, around the shared `reqwest::Client`.
    fn api(&self, connection: &Connection) -> ec_billing_api::Client {
        ec_billing_api::Client::new_with_client(
            &connection.base_url,
            connection.http.clone(),
            self.hooks.clone(),
        )
    }

    /// Runs the call: its answer must start within the read timeout, and all of it end
    /// by the attempt's deadline. A failure becomes this crate's [`Error`].
    async fn run<T: serde::de::DeserializeOwned>(
        self,
        connection: &Connection,
        request: &RequestContext,
        call: impl Future<Output = Result<ResponseValue<T>, ec_billing_api::Error<BasicFailedReply>>>,
    ) -> Result<T, Error> {
        let clock = &*connection.clock;
        let mut deadline = self.deadline.clone();
        let mut call = std::pin::pin!(call);
        // The answer first, then the read timeout (which only ends an answer whose head
        // has not come), then the attempt's deadline.
        let outcome = tokio::select! {
            biased;
            outcome = &mut call => Some(outcome),
            () = clock.timer(self.read_timeout) => {
                if self.head_seen.load(Ordering::Relaxed) {
                    tokio::select! {
                        biased;
                        outcome = &mut call => Some(outcome),
                        () = &mut deadline => None,
                    }
                } else {
                    return Err(transport(
                        request,
                        TransportKind::Timeout,
                        Some("no answer within the read timeout".into()),
                    ));
                }
            }
            () = &mut deadline => None,
        };
        match outcome {
            None => Err(transport(
                request,
                TransportKind::Timeout,
                Some("the attempt timeout passed".into()),
            )),
            Some(Ok(reply)) => Ok(reply.into_inner()),
            Some(Err(err)) => {
                Err(classify::generated_error::<T>(connection, request, err, &self.hooks).await)
            }
        }
    }
}
