//! The executor: the loop every window's request goes through (a permit of the
//! concurrency limit, the pacer's turn within the deadline, one attempt, its failure
//! classified, a wait), and its one `info` line per request.

use std::{sync::PoisonError, time::Duration};

use tracing::Instrument;

use super::Client;
use crate::{
    error::{Error, PacingError, RequestContext},
    http::Attempt,
    policy::Clock,
    text,
};

impl Client {
    fn random_unit(&self) -> f64 {
        self.shared
            .rng
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .f64()
    }

    /// Runs `attempt` until it succeeds, fails for good, or the policy says stop.
    ///
    /// Each attempt takes a permit of the client-wide limit (not held while waiting to
    /// retry), then its turn from the pacer, whose wait counts against the deadline;
    /// it may take the attempt timeout, or what is left of the deadline if less.
    pub(crate) async fn with_retries<T, F, Fut>(
        &self,
        request: &RequestContext,
        mut attempt: F,
    ) -> Result<T, Error>
    where
        F: FnMut(Attempt) -> Fut,
        Fut: Future<Output = Result<T, Error>>,
    {
        let shared = &self.shared;
        let connection = &*shared.connection;
        let clock = connection.clock();
        let started = clock.now();
        let span = tracing::info_span!(
            "ec_billing.request",
            operation = %request.operation,
            organization = %text::escape(&request.organization).truncate(text::QUOTED_CHARS),
            deployment = %text::escape(&request.deployment).truncate(text::QUOTED_CHARS),
            window = %request.window.map(|w| w.to_string()).unwrap_or_default(),
        );
        let deadline = shared.retry.deadline();
        // Durations in logs are by the client's clock, as every wait and bound is.
        let since = move |from: jiff::Timestamp| {
            let spent = Duration::try_from(clock.now().duration_since(from)).unwrap_or_default();
            u64::try_from(spent.as_millis()).unwrap_or(u64::MAX)
        };
        let took = move || since(started);
        async move {
            let mut attempts = 0;
            let mut after_throttle = false;
            loop {
                attempts += 1;
                let elapsed = Duration::try_from(clock.now().duration_since(started))
                    .unwrap_or_default();
                let budget = deadline.map(|d| d.saturating_sub(elapsed));
                let begun = clock.now();
                let outcome = {
                    let _permit = connection.permit().await;
                    // Paced after the permit: a request queued behind the concurrency
                    // limit must still wait its turn if a limit was learnt meanwhile.
                    if let Err(refusal) = connection.pacer().acquire(clock, budget).await {
                        let mut request = request.clone();
                        request.attempts = attempts - 1;
                        tracing::info!(attempts = attempts - 1, duration_ms = took(), pace = %refusal.reason, "request not sent: the rate limit would hold it past its deadline");
                        return Err(PacingError {
                            request,
                            wait: refusal.wait,
                            rate: refusal.reason,
                        }
                        .into());
                    }
                    let limit = budget.map_or(shared.attempt_timeout, |b| {
                        b.saturating_sub(elapsed_since(clock, started, elapsed))
                            .min(shared.attempt_timeout)
                    });
                    attempt(Attempt {
                        limit,
                        after_throttle,
                    })
                    .await
                };
                let duration_ms = since(begun);
                let mut err = match outcome {
                    Ok(value) => {
                        tracing::debug!(attempt = attempts, status = 200, duration_ms, "attempt succeeded");
                        tracing::info!(status = 200, attempts, duration_ms = took(), "request");
                        return Ok(value);
                    }
                    Err(err) => err,
                };
                if let Some(context) = err.request_mut() {
                    context.attempts = attempts;
                }
                let code = err.code().map(|c| c.to_string()).unwrap_or_default();
                tracing::debug!(attempt = attempts, status = err.status(), code, duration_ms, error = %connection.printable(&err), "attempt failed");
                if !err.is_retryable() {
                    tracing::info!(status = err.status(), code, attempts, duration_ms = took(), error = %connection.printable(&err), "request failed");
                    return Err(err);
                }
                let asked = match &err {
                    Error::Api(api) => api.retry_after,
                    _ => None,
                };
                after_throttle = err.is_rate_limited();
                let elapsed = Duration::try_from(clock.now().duration_since(started))
                    .unwrap_or_default();
                let Some(delay) = shared.retry.delay_after(attempts, asked, self.random_unit(), elapsed) else {
                    tracing::info!(status = err.status(), code, attempts, duration_ms = took(), error = %connection.printable(&err), "request failed");
                    return Err(err);
                };
                tracing::debug!(attempt = attempts, delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX), error = %connection.printable(&err), "retrying");
                clock.sleep(delay).await;
            }
        }
        .instrument(span)
        .await
    }
}

/// Time spent since `started` beyond `before`, by the injected clock: what pacing took
/// of the budget.
fn elapsed_since(clock: &dyn Clock, started: jiff::Timestamp, before: Duration) -> Duration {
    Duration::try_from(clock.now().duration_since(started))
        .unwrap_or_default()
        .saturating_sub(before)
}
