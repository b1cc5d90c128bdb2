//! Retries: which failures are tried again, and how long to wait (`Retry-After`, else
//! exponential backoff with full jitter).

use std::{num::NonZeroU32, time::Duration};

use jiff::Timestamp;
use reqwest::header::{HeaderMap, RETRY_AFTER};

/// When and how often a failed request is tried again.
///
/// Retried: HTTP 429 and `billing_service.rate_limited`, 500, 502, 503, 504, connection
/// failures and timeouts. Never 400, 401, 403 or 404. A `Retry-After` (seconds or HTTP
/// date) is honoured up to [`max_retry_after`](Self::max_retry_after); otherwise the
/// wait before attempt `n + 1` is a uniformly random duration in
/// `[0, min(max_delay, base_delay × 2^(n-1))]` ("full jitter").
///
/// ```
/// use std::{num::NonZeroU32, time::Duration};
/// use ec_billing::policy::RetryPolicy;
///
/// let policy = RetryPolicy::default()
///     .with_max_attempts(NonZeroU32::new(8).unwrap())
///     .with_deadline(Some(Duration::from_secs(120)));
/// assert_eq!(policy.max_attempts().get(), 8);
/// assert_eq!(policy.deadline(), Some(Duration::from_secs(120)));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    max_attempts: NonZeroU32,
    base_delay: Duration,
    max_delay: Duration,
    max_retry_after: Duration,
    deadline: Option<Duration>,
    jitter: Jitter,
}

impl Default for RetryPolicy {
    /// 5 attempts, 500 ms base delay, 30 s cap, `Retry-After` honoured up to 120 s,
    /// 10 minutes overall per request, full jitter.
    fn default() -> Self {
        Self {
            max_attempts: NonZeroU32::new(5).unwrap_or(NonZeroU32::MIN),
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(120),
            deadline: Some(Duration::from_secs(600)),
            jitter: Jitter::Full,
        }
    }
}

impl RetryPolicy {
    /// A policy that makes one attempt and never retries.
    pub fn never() -> Self {
        Self {
            max_attempts: NonZeroU32::MIN,
            ..Self::default()
        }
    }

    /// The most attempts per request, the first included ([`max_attempts`] reads it).
    ///
    /// [`max_attempts`]: Self::max_attempts
    pub fn with_max_attempts(mut self, attempts: NonZeroU32) -> Self {
        self.max_attempts = attempts;
        self
    }

    /// The most attempts per request, the first included.
    pub fn max_attempts(&self) -> NonZeroU32 {
        self.max_attempts
    }

    /// The backoff's first delay; it doubles on each retry up to the longest delay.
    pub fn with_base_delay(mut self, delay: Duration) -> Self {
        self.base_delay = delay;
        self
    }

    /// The backoff's first delay.
    pub fn base_delay(&self) -> Duration {
        self.base_delay
    }

    /// The longest backoff delay.
    pub fn with_max_delay(mut self, delay: Duration) -> Self {
        self.max_delay = delay;
        self
    }

    /// The longest backoff delay.
    pub fn max_delay(&self) -> Duration {
        self.max_delay
    }

    /// The longest `Retry-After` honoured; a longer one ends the retries with the error.
    pub fn with_max_retry_after(mut self, delay: Duration) -> Self {
        self.max_retry_after = delay;
        self
    }

    /// The longest `Retry-After` honoured.
    pub fn max_retry_after(&self) -> Duration {
        self.max_retry_after
    }

    /// The most time one request may take over all its attempts and waits (retry
    /// waits and pacing waits alike); `None` for no limit. A wait that would end past
    /// it is not started, and no attempt runs past it.
    pub fn with_deadline(mut self, deadline: Option<Duration>) -> Self {
        self.deadline = deadline;
        self
    }

    /// The most time one request may take over all its attempts and waits, if limited.
    pub fn deadline(&self) -> Option<Duration> {
        self.deadline
    }

    /// How backoff delays are randomized.
    pub fn with_jitter(mut self, jitter: Jitter) -> Self {
        self.jitter = jitter;
        self
    }

    /// How backoff delays are randomized.
    pub fn jitter(&self) -> Jitter {
        self.jitter
    }

    /// The wait after failed attempt `attempt` (from 1), or `None` to stop retrying.
    ///
    /// `unit` is a random number in `[0, 1)` for the jitter; `elapsed` is the time
    /// spent on the request so far.
    pub(crate) fn delay_after(
        &self,
        attempt: u32,
        retry_after: Option<Duration>,
        unit: f64,
        elapsed: Duration,
    ) -> Option<Duration> {
        if attempt >= self.max_attempts.get() {
            return None;
        }
        let delay = match retry_after {
            Some(asked) if asked > self.max_retry_after => return None,
            Some(asked) => asked,
            None => {
                let exponent = attempt.saturating_sub(1).min(30);
                let cap = self
                    .base_delay
                    .saturating_mul(1 << exponent)
                    .min(self.max_delay);
                match self.jitter {
                    Jitter::Full | Jitter::Seeded(_) => cap.mul_f64(unit.clamp(0.0, 1.0)),
                    Jitter::None => cap,
                }
            }
        };
        match self.deadline {
            Some(deadline) if elapsed.saturating_add(delay) > deadline => None,
            _ => Some(delay),
        }
    }
}

/// How backoff delays are randomized.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Jitter {
    /// Full jitter from a randomly seeded generator: the default.
    #[default]
    Full,
    /// Full jitter from a generator with this seed: reproducible delays.
    Seeded(u64),
    /// No jitter: the capped exponential delay itself.
    None,
}

/// The delay a response's `Retry-After` asks for: whole seconds, or an HTTP date
/// (then relative to `now`, and zero if past).
pub(crate) fn retry_after(headers: &HeaderMap, now: Timestamp) -> Option<Duration> {
    let text = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = jiff::fmt::rfc2822::DateTimeParser::new()
        .parse_timestamp(text)
        .ok()?;
    let wait = at.duration_since(now);
    Some(Duration::try_from(wait).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    fn headers(retry_after: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_str(retry_after).unwrap());
        h
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now: Timestamp = "2024-01-01T00:00:00Z".parse().unwrap();
        assert_eq!(
            retry_after(&headers("7"), now),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            retry_after(&headers("Mon, 01 Jan 2024 00:00:30 GMT"), now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            retry_after(&headers("Sun, 31 Dec 2023 23:00:00 GMT"), now),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after(&headers("soon"), now), None);
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_and_stops_at_max_attempts() {
        let policy = RetryPolicy::default()
            .with_jitter(Jitter::None)
            .with_base_delay(Duration::from_secs(1))
            .with_max_delay(Duration::from_secs(5))
            .with_max_attempts(NonZeroU32::new(5).unwrap());
        let delays: Vec<_> = (1..=5)
            .map(|n| policy.delay_after(n, None, 0.5, Duration::ZERO))
            .collect();
        let secs = |s| Some(Duration::from_secs(s));
        assert_eq!(delays, [secs(1), secs(2), secs(4), secs(5), None]);
    }

    #[test]
    fn full_jitter_scales_the_capped_delay() {
        let policy = RetryPolicy::default().with_base_delay(Duration::from_secs(4));
        assert_eq!(
            policy.delay_after(1, None, 0.25, Duration::ZERO),
            Some(Duration::from_secs(1))
        );
    }

    #[test]
    fn a_long_retry_after_or_a_passed_deadline_stops_retrying() {
        let policy = RetryPolicy::default()
            .with_max_retry_after(Duration::from_secs(60))
            .with_deadline(Some(Duration::from_secs(100)));
        assert_eq!(
            policy.delay_after(1, Some(Duration::from_secs(61)), 0.5, Duration::ZERO),
            None
        );
        assert_eq!(
            policy.delay_after(
                1,
                Some(Duration::from_secs(10)),
                0.5,
                Duration::from_secs(95)
            ),
            None
        );
        assert_eq!(
            policy.delay_after(
                1,
                Some(Duration::from_secs(10)),
                0.5,
                Duration::from_secs(5)
            ),
            Some(Duration::from_secs(10))
        );
    }
}
