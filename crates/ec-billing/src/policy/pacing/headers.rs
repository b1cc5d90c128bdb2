//! What an answer's rate-limit headers announce, in the shapes servers write them:
//! `limit`/`interval` (`1s`, `60`, `PT1S`), `remaining`, `reset` (epoch seconds,
//! seconds from now, a duration or an HTTP date) and IETF `ratelimit-policy`.

use jiff::{SignedDuration, Timestamp};
use reqwest::header::HeaderMap;

/// What an answer's rate-limit headers announce.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Announced {
    pub(super) limit: Option<f64>,
    /// Seconds.
    pub(super) interval: Option<f64>,
    pub(super) remaining: Option<u64>,
    pub(super) reset: Option<Timestamp>,
}

/// The prefixes rate-limit headers come with.
const PREFIXES: [&str; 3] = ["x-ratelimit-", "ratelimit-", "x-rate-limit-"];

impl Announced {
    pub(super) fn read(headers: &HeaderMap, now: Timestamp) -> Self {
        let text = |suffix: &str| {
            PREFIXES.iter().find_map(|prefix| {
                let value = headers.get(format!("{prefix}{suffix}"))?.to_str().ok()?;
                Some(value.trim().to_string())
            })
        };
        let mut announced = Self::default();
        for source in [text("policy"), text("limit")].into_iter().flatten() {
            // `100`, `100;w=60`, or a list of quota policies (`100, 100;w=60`): the
            // first with a window, else the first.
            let policies: Vec<(Option<f64>, Option<f64>)> = source
                .split(',')
                .map(|policy| {
                    let mut parts = policy.split(';');
                    let quota = parts
                        .next()
                        .and_then(|q| q.trim().parse::<f64>().ok())
                        .filter(|q| q.is_finite() && *q > 0.0);
                    let window = parts
                        .filter_map(|p| p.trim().split_once('='))
                        .find(|(name, _)| name.trim() == "w")
                        .and_then(|(_, w)| duration_seconds(w.trim()));
                    (quota, window)
                })
                .collect();
            let chosen = policies
                .iter()
                .find(|(quota, window)| quota.is_some() && window.is_some())
                .or_else(|| policies.first());
            if let Some((Some(quota), window)) = chosen {
                announced.limit = Some(*quota);
                announced.interval = window.or(announced.interval);
            }
        }
        if let Some(interval) = text("interval").and_then(|t| duration_seconds(&t)) {
            announced.interval = Some(interval);
        }
        announced.remaining = text("remaining").and_then(|t| {
            let value: f64 = t.split(',').next()?.trim().parse().ok()?;
            // Whole requests; a negative or absurd count is no count.
            (value.is_finite() && value >= 0.0).then(|| value.min(u32::MAX.into()) as u64)
        });
        announced.reset = text("reset").and_then(|t| reset_at(&t, now));
        announced
    }

    pub(super) fn is_some(&self) -> bool {
        *self != Self::default()
    }

    /// `limit / interval` in requests per second, when both make sense.
    pub(super) fn sustained(&self) -> Option<(f64, f64, f64)> {
        let (limit, interval) = (self.limit?, self.interval?);
        let rate = limit / interval;
        (rate.is_finite() && rate > 0.0).then_some((rate, limit, interval))
    }
}

/// Whether a reset is far enough off to hold requests until it. Resets come in whole
/// seconds: one a second or two away says too little to pace a sub-second budget by
/// (waiting for it could be slower than the server's own `Retry-After`), so a spent
/// budget with a near reset is left to that.
pub(super) fn is_far(reset: Timestamp, now: Timestamp) -> bool {
    reset.duration_since(now) > SignedDuration::from_secs(2)
}

/// A duration in seconds: `1s`, `500ms`, `1m`, `1h`, `1d`, `60` (seconds), or ISO 8601
/// (`PT1S`). `None` unless finite and above 0.
fn duration_seconds(text: &str) -> Option<f64> {
    let text = text.trim();
    let seconds = if text.starts_with(['P', 'p']) {
        text.parse::<SignedDuration>().ok()?.as_secs_f64()
    } else {
        let split = text
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(text.len());
        let (number, unit) = text.split_at(split);
        let number: f64 = number.parse().ok()?;
        let scale = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "s" | "sec" | "secs" | "second" | "seconds" => 1.0,
            "ms" => 0.001,
            "m" | "min" | "mins" | "minute" | "minutes" => 60.0,
            "h" | "hr" | "hour" | "hours" => 3600.0,
            "d" | "day" | "days" => 86_400.0,
            _ => return None,
        };
        number * scale
    };
    (seconds.is_finite() && seconds > 0.0).then_some(seconds)
}

/// When a `reset` header says the budget comes back: epoch seconds (from 10^9 on),
/// seconds from now, a duration, or an HTTP date.
fn reset_at(text: &str, now: Timestamp) -> Option<Timestamp> {
    if let Ok(number) = text.parse::<f64>() {
        if !number.is_finite() || number < 0.0 {
            return None;
        }
        return if number >= 1e9 {
            Timestamp::from_second(number as i64).ok()
        } else {
            now.checked_add(SignedDuration::try_from_secs_f64(number).ok()?)
                .ok()
        };
    }
    if let Some(seconds) = duration_seconds(text) {
        return now
            .checked_add(SignedDuration::try_from_secs_f64(seconds).ok()?)
            .ok();
    }
    jiff::fmt::rfc2822::DateTimeParser::new()
        .parse_timestamp(text)
        .ok()
}
