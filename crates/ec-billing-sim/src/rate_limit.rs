//! The simulator's rate limit: one token bucket for the platform, and the dialects in
//! which its answers announce it.

use std::time::{Duration, Instant};

use axum::response::Response;
use jiff::Timestamp;

use crate::encode::set;

/// How a rate limit is announced on every answer (and what a 429 carries besides
/// `Retry-After`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RateLimitDialect {
    /// `x-ratelimit-limit`, `x-ratelimit-remaining`, `x-ratelimit-interval: 1s`: the
    /// default.
    #[default]
    Interval,
    /// The same with the interval as a number of seconds and the limit per minute:
    /// `x-ratelimit-limit: 1200`, `x-ratelimit-interval: 60`.
    IntervalSeconds,
    /// The same with an ISO 8601 interval: `x-ratelimit-interval: PT1S`.
    IntervalIso,
    /// `x-ratelimit-limit`, `x-ratelimit-remaining`, and `x-ratelimit-reset` as the epoch
    /// second at which the bucket is full again; no interval.
    ResetEpoch,
    /// The same with `x-ratelimit-reset` in seconds from now.
    ResetSeconds,
    /// IETF draft headers: `ratelimit-policy: 20;w=1`, `ratelimit-remaining`,
    /// `ratelimit-reset` in seconds from now.
    Ietf,
    /// No rate-limit headers at all: a 429 says `Retry-After`, nothing else.
    RetryAfterOnly,
}

impl RateLimitDialect {
    /// Every dialect.
    pub const ALL: [RateLimitDialect; 7] = [
        RateLimitDialect::Interval,
        RateLimitDialect::IntervalSeconds,
        RateLimitDialect::IntervalIso,
        RateLimitDialect::ResetEpoch,
        RateLimitDialect::ResetSeconds,
        RateLimitDialect::Ietf,
        RateLimitDialect::RetryAfterOnly,
    ];

    /// The dialect's name, as `ec-billing-sim --rate-limit-dialect` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Interval => "interval",
            Self::IntervalSeconds => "interval-seconds",
            Self::IntervalIso => "interval-iso",
            Self::ResetEpoch => "reset-epoch",
            Self::ResetSeconds => "reset-seconds",
            Self::Ietf => "ietf",
            Self::RetryAfterOnly => "retry-after-only",
        }
    }

    /// The dialect named `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|dialect| dialect.name() == name)
    }
}

/// A token bucket: `rate` tokens a second, at most `rate` stored.
#[derive(Debug)]
pub(crate) struct TokenBucket {
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    pub(crate) fn new(rate: u32) -> Self {
        Self {
            tokens: f64::from(rate),
            last: Instant::now(),
        }
    }

    /// Takes a token, or says how long until one is there. Either way, also the
    /// tokens left and how long until the bucket is full again.
    pub(crate) fn take(&mut self, rate: u32) -> (Result<(), Duration>, Limits) {
        // A limit of 0 would never admit anything, nor say when: it is taken as 1.
        let rate = rate.max(1);
        let rate_f = f64::from(rate);
        let now = Instant::now();
        self.tokens =
            (self.tokens + now.duration_since(self.last).as_secs_f64() * rate_f).min(rate_f);
        self.last = now;
        let taken = if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - self.tokens) / rate_f))
        };
        let limits = Limits {
            rate,
            remaining: self.tokens as u32,
            full_in: Duration::from_secs_f64((rate_f - self.tokens) / rate_f),
        };
        (taken, limits)
    }
}

/// What a rate-limited answer announces.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    rate: u32,
    remaining: u32,
    full_in: Duration,
}

/// Announces the rate limit in `dialect`.
pub(crate) fn set_rate_headers(response: &mut Response, dialect: RateLimitDialect, limits: Limits) {
    let Limits {
        rate,
        remaining,
        full_in,
    } = limits;
    let reset_in = full_in.as_secs_f64().ceil() as u64;
    let (limit, remaining) = (rate.to_string(), remaining.to_string());
    match dialect {
        RateLimitDialect::Interval | RateLimitDialect::IntervalIso => {
            set(response, "x-ratelimit-limit", &limit);
            set(response, "x-ratelimit-remaining", &remaining);
            let interval = if dialect == RateLimitDialect::Interval {
                "1s"
            } else {
                "PT1S"
            };
            set(response, "x-ratelimit-interval", interval);
        }
        RateLimitDialect::IntervalSeconds => {
            set(
                response,
                "x-ratelimit-limit",
                &(u64::from(rate) * 60).to_string(),
            );
            set(response, "x-ratelimit-remaining", &remaining);
            set(response, "x-ratelimit-interval", "60");
        }
        RateLimitDialect::ResetEpoch | RateLimitDialect::ResetSeconds => {
            set(response, "x-ratelimit-limit", &limit);
            set(response, "x-ratelimit-remaining", &remaining);
            let reset = if dialect == RateLimitDialect::ResetEpoch {
                (Timestamp::now().as_second() as u64 + reset_in).to_string()
            } else {
                reset_in.to_string()
            };
            set(response, "x-ratelimit-reset", &reset);
        }
        RateLimitDialect::Ietf => {
            set(response, "ratelimit-policy", &format!("{rate};w=1"));
            set(response, "ratelimit-remaining", &remaining);
            set(response, "ratelimit-reset", &reset_in.to_string());
        }
        RateLimitDialect::RetryAfterOnly => {}
    }
}
