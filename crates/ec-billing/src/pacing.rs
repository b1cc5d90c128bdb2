//! Client-side pacing: one schedule shared by every request of a client, so that a
//! client that knows the API's rate limit stops sending what would only come back as
//! 429, without ever being the slow part of a fetch.
//!
//! What the pacer learns from, in order of trust:
//! - **Rate-limit headers** (`x-ratelimit-*`, `ratelimit-*`, `x-rate-limit-*`, and
//!   `ratelimit-policy`): a limit per interval (`1s`, `60`, `PT1S`, `1m`, `;w=60`) is
//!   paced at 97% of `limit / interval`, a GCRA ("virtual scheduling") schedule where
//!   each request takes the next free start time; `remaining`, less the requests in
//!   flight, is spent first, unpaced; `remaining: 0` with a `reset` (epoch seconds,
//!   seconds from now, a duration or an HTTP date) more than two seconds off, and no
//!   interval, holds requests until the reset (a nearer one, in whole seconds, is too
//!   coarse to pace by: the server's `Retry-After` does that).
//! - **Repeated throttling**, when no sustained rate is announced: a request that
//!   waited as a 429 asked and was throttled again is evidence that the client outruns
//!   a limit; the pace is set to the rate of successes over the last two seconds (what
//!   the server is letting through), then grows by one request per second every second
//!   of successes.
//! - Nothing else. A 429's `Retry-After` is a pause for that request, not proof of a
//!   lower rate: transient 429s (a gateway's, or the first answer of every window) and
//!   random ones leave the client unpaced, as fast as no pacing.
//!
//! A wait counts against the request's deadline: one that would pass it is refused
//! (the caller gets [`Error::Pacing`](crate::Error::Pacing)), as is any wait beyond a
//! day. Waits of a second or more are logged at `info`, shorter ones at `debug`.
//! Until a limit is known, a request costs one relaxed atomic load.

use std::{
    fmt,
    str::FromStr,
    sync::{
        Mutex, PoisonError,
        atomic::{AtomicBool, AtomicI64, AtomicU32, Ordering},
    },
    time::Duration,
};

use jiff::{SignedDuration, Timestamp};
use reqwest::header::HeaderMap;

use crate::{
    error::{Error, InvalidInput},
    retry::Clock,
};

/// The share of a published limit the pacer aims for.
const MARGIN: f64 = 0.97;

/// The slowest pace learnt from throttling, in requests per second.
const MIN_LEARNT_RATE: f64 = 0.5;

/// Beyond this pace (requests per second), pacing stops: it could not matter.
const MAX_RATE: f64 = 100_000.0;

/// The longest wait the pacer ever starts, deadline or not.
const MAX_WAIT: Duration = Duration::from_secs(86_400);

/// Waits from this long on are logged at `info` (`-v`).
const LONG_WAIT: Duration = Duration::from_secs(1);

/// How a client paces its requests to stay under the API's rate limit.
///
/// Parses from `adaptive`, `off` or a number of requests per second, as the CLI's
/// `--pacing` takes it.
///
/// ```
/// use ec_billing::{Client, Pacing};
///
/// let fixed = Pacing::fixed(10.0)?;
/// assert_eq!("10".parse::<Pacing>()?, fixed);
/// assert!(Pacing::fixed(0.0).is_err() && Pacing::fixed(f64::NAN).is_err());
/// let builder = Client::builder().pacing(fixed);
/// # let _ = builder;
/// # Ok::<(), ec_billing::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[non_exhaustive]
pub enum Pacing {
    /// Learn the limit from rate-limit headers, or from repeated throttling when there
    /// are none; unpaced until then. The default.
    #[default]
    Adaptive,
    /// At most this many requests per second, from the start; never changed.
    Fixed(PerSecond),
    /// No pacing: 429s are handled by retries alone.
    Off,
}

impl Pacing {
    /// At most `per_second` requests per second.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] unless `per_second` is a finite number above 0.
    pub fn fixed(per_second: f64) -> Result<Self, Error> {
        PerSecond::new(per_second).map(Self::Fixed)
    }
}

impl FromStr for Pacing {
    type Err = Error;

    fn from_str(input: &str) -> Result<Self, Error> {
        match input.trim().to_ascii_lowercase().as_str() {
            "adaptive" => Ok(Self::Adaptive),
            "off" => Ok(Self::Off),
            number => {
                let refused = || {
                    InvalidInput::new(format!(
                        "invalid pacing \"{input}\": expected adaptive, off, or requests per \
                         second (a number above 0)"
                    ))
                };
                let rate: f64 = number.parse().map_err(|_| refused())?;
                Self::fixed(rate).map_err(|_| refused().into())
            }
        }
    }
}

impl fmt::Display for Pacing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Adaptive => f.write_str("adaptive"),
            Self::Fixed(rate) => write!(f, "{}", rate.get()),
            Self::Off => f.write_str("off"),
        }
    }
}

/// A rate in requests per second: finite and above 0.
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd)]
pub struct PerSecond(f64);

impl PerSecond {
    /// # Errors
    ///
    /// [`Error::InvalidInput`] unless `rate` is a finite number above 0.
    pub fn new(rate: f64) -> Result<Self, Error> {
        if rate.is_finite() && rate > 0.0 {
            Ok(Self(rate))
        } else {
            Err(InvalidInput::new(format!(
                "invalid rate {rate}: expected a finite number of requests per second above 0"
            ))
            .into())
        }
    }

    /// Requests per second.
    pub fn get(self) -> f64 {
        self.0
    }
}

/// A pace and where it comes from.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Pace {
    per_second: f64,
    source: Source,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Source {
    Fixed,
    Published { limit: f64, interval: f64 },
    Throttling,
}

impl fmt::Display for Pace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} requests/s, ", compact(self.per_second))?;
        match self.source {
            Source::Fixed => f.write_str("fixed by the client"),
            Source::Published { limit, interval } => write!(
                f,
                "from the rate-limit headers: {} per {} s, less 3%",
                compact(limit),
                compact(interval)
            ),
            Source::Throttling => f.write_str("learnt from repeated 429s"),
        }
    }
}

/// A number for a message: whole numbers as they are, others with a few significant
/// digits, tiny and huge ones in scientific notation.
fn compact(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{value:.0}")
    } else if (1e-3..1e6).contains(&value.abs()) {
        let fixed = format!("{value:.6}");
        fixed
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
    } else {
        format!("{value:.3e}")
    }
}

/// The shared schedule of one client.
#[derive(Debug)]
pub(crate) struct Pacer {
    mode: Pacing,
    /// Whether anything paces; while not, `acquire` takes no lock.
    active: AtomicBool,
    successes: SecondCounter,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    pace: Option<Pace>,
    /// The earliest start of the next paced request.
    next: Option<Timestamp>,
    /// Requests the server said it would still take, sent before pacing resumes.
    credit: u64,
    /// When that credit lapses (the server's reset), if it said.
    credit_until: Option<Timestamp>,
    /// No request before this: the server's budget is spent until its reset.
    resume_at: Option<Timestamp>,
}

/// Why the pacer would not wait: the wait, when it has a length, and its reason.
#[derive(Debug)]
pub(crate) struct Refusal {
    pub(crate) wait: Option<Duration>,
    pub(crate) reason: String,
}

impl Pacer {
    pub(crate) fn new(mode: Pacing) -> Self {
        let pace = match mode {
            Pacing::Fixed(rate) => Some(Pace {
                per_second: rate.get(),
                source: Source::Fixed,
            }),
            _ => None,
        };
        Self {
            mode,
            active: AtomicBool::new(pace.is_some()),
            successes: SecondCounter::default(),
            state: Mutex::new(State {
                pace,
                ..State::default()
            }),
        }
    }

    /// The current pace in requests per second, if any.
    pub(crate) fn rate(&self) -> Option<f64> {
        self.lock().pace.map(|pace| pace.per_second)
    }

    /// Waits for this request's turn. `budget` is what is left of the request's
    /// deadline, if it has one.
    ///
    /// # Errors
    ///
    /// A [`Refusal`], without waiting, when the turn would come after the budget or
    /// more than a day from now.
    pub(crate) async fn acquire(
        &self,
        clock: &dyn Clock,
        budget: Option<Duration>,
    ) -> Result<(), Refusal> {
        if self.mode == Pacing::Off || !self.active.load(Ordering::Relaxed) {
            return Ok(());
        }
        let now = clock.now();
        let (wait, reason) = {
            let mut state = self.lock();
            let mut earliest = now;
            let mut reason = None;
            match state.resume_at {
                Some(resume) if resume > now => {
                    earliest = resume;
                    reason = Some(format!(
                        "the server's budget is spent until its reset at {resume}"
                    ));
                }
                Some(_) => state.resume_at = None,
                None => {}
            }
            if state.credit_until.is_some_and(|until| until <= now) {
                state.credit = 0;
                state.credit_until = None;
            }
            if earliest == now && state.credit > 0 {
                state.credit -= 1;
                return Ok(());
            }
            let slot = match (state.pace, state.next) {
                (Some(_), Some(next)) => next.max(earliest),
                _ => earliest,
            };
            let wait = Duration::try_from(slot.duration_since(now)).unwrap_or(Duration::ZERO);
            let reason = reason
                .or_else(|| state.pace.map(|pace| pace.to_string()))
                .unwrap_or_default();
            let too_long = slot == Timestamp::MAX
                || wait > MAX_WAIT
                || budget.is_some_and(|budget| wait > budget);
            if too_long {
                let wait = (slot != Timestamp::MAX).then_some(wait);
                return Err(Refusal { wait, reason });
            }
            if let Some(pace) = state.pace {
                state.next = Some(
                    slot.checked_add(gap(pace.per_second))
                        .unwrap_or(Timestamp::MAX),
                );
            }
            (wait, reason)
        };
        if wait >= LONG_WAIT {
            tracing::info!(wait_ms = millis(wait), pace = %reason, "waiting for the API's rate limit");
        } else if !wait.is_zero() {
            tracing::debug!(wait_ms = millis(wait), pace = %reason, "pacing");
        }
        if !wait.is_zero() {
            clock.sleep(wait).await;
        }
        Ok(())
    }

    /// Learns from an answer's status and headers. `in_flight` requests were under way
    /// when it came; `after_throttle` says the request had been throttled before and
    /// waited as asked.
    pub(crate) fn observe(
        &self,
        clock: &dyn Clock,
        status: u16,
        headers: &HeaderMap,
        in_flight: usize,
        after_throttle: bool,
    ) {
        if self.mode != Pacing::Adaptive {
            return;
        }
        let now = clock.now();
        let success = (200..300).contains(&status);
        if success {
            self.successes.count(now);
        }
        let announced = Announced::read(headers, now);
        let sustained = announced.sustained().is_some();
        let throttled_again = status == 429 && after_throttle;
        if !announced.is_some() && !throttled_again && !self.active.load(Ordering::Relaxed) {
            // Nothing to learn, nothing paced: no lock.
            return;
        }
        let mut state = self.lock();
        if announced.is_some() {
            announced.apply(&mut state, now, status == 429, in_flight);
        }
        let learnable = !sustained
            && state
                .pace
                .is_none_or(|pace| pace.source == Source::Throttling);
        if learnable && throttled_again {
            let goodput = self.successes.per_second(now);
            if goodput > 0.0 {
                let per_second = goodput.max(MIN_LEARNT_RATE);
                tracing::debug!(
                    per_second,
                    "pacing at the rate of successes after repeated 429s"
                );
                state.pace = Some(Pace {
                    per_second,
                    source: Source::Throttling,
                });
            }
        } else if let Some(pace) = state.pace.as_mut().filter(|_| learnable && success) {
            // Additive increase: one request per second more for each second of
            // successes at the current pace.
            pace.per_second += 1.0 / pace.per_second;
            if pace.per_second > MAX_RATE {
                state.pace = None;
                state.next = None;
            }
        }
        self.active.store(state.is_pacing(), Ordering::Relaxed);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is plain data, valid whatever a panicking holder left behind.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl State {
    fn is_pacing(&self) -> bool {
        self.pace.is_some() || self.credit > 0 || self.resume_at.is_some()
    }
}

/// The time between two paced starts; the longest duration there is for a rate too
/// small to invert.
fn gap(per_second: f64) -> SignedDuration {
    SignedDuration::try_from_secs_f64(1.0 / per_second).unwrap_or(SignedDuration::MAX)
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Successes counted in whole seconds: the current one and the one before.
#[derive(Debug, Default)]
struct SecondCounter {
    second: AtomicI64,
    this: AtomicU32,
    last: AtomicU32,
}

impl SecondCounter {
    fn count(&self, now: Timestamp) {
        let second = now.as_second();
        let previous = self.second.swap(second, Ordering::Relaxed);
        if previous != second {
            let count = self.this.swap(0, Ordering::Relaxed);
            let adjacent = second.checked_sub(previous) == Some(1);
            self.last
                .store(if adjacent { count } else { 0 }, Ordering::Relaxed);
        }
        self.this.fetch_add(1, Ordering::Relaxed);
    }

    /// Successes per second over the previous whole second and the part of the current
    /// one gone by; 0 when none is recent.
    fn per_second(&self, now: Timestamp) -> f64 {
        let age = now
            .as_second()
            .saturating_sub(self.second.load(Ordering::Relaxed));
        let (this, last) = (
            f64::from(self.this.load(Ordering::Relaxed)),
            f64::from(self.last.load(Ordering::Relaxed)),
        );
        // At least a quarter of a second, so that a few early successes do not read as
        // a great rate.
        let part = (f64::from(now.subsec_nanosecond()) / 1e9).max(0.25);
        match age {
            0 if last > 0.0 => (this + last) / (1.0 + part),
            0 => this / part,
            1 => this / (1.0 + part),
            _ => 0.0,
        }
    }
}

/// What an answer's rate-limit headers announce.
#[derive(Debug, Default, PartialEq)]
struct Announced {
    limit: Option<f64>,
    /// Seconds.
    interval: Option<f64>,
    remaining: Option<u64>,
    reset: Option<Timestamp>,
}

/// The prefixes rate-limit headers come with.
const PREFIXES: [&str; 3] = ["x-ratelimit-", "ratelimit-", "x-rate-limit-"];

impl Announced {
    fn read(headers: &HeaderMap, now: Timestamp) -> Self {
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

    fn is_some(&self) -> bool {
        *self != Self::default()
    }

    /// `limit / interval` in requests per second, when both make sense.
    fn sustained(&self) -> Option<(f64, f64, f64)> {
        let (limit, interval) = (self.limit?, self.interval?);
        let rate = limit / interval;
        (rate.is_finite() && rate > 0.0).then_some((rate, limit, interval))
    }

    fn apply(&self, state: &mut State, now: Timestamp, throttled: bool, in_flight: usize) {
        let sustained = self.sustained();
        if let Some((rate, limit, interval)) = sustained {
            let per_second = rate * MARGIN;
            state.pace = (per_second <= MAX_RATE).then_some(Pace {
                per_second,
                source: Source::Published { limit, interval },
            });
            if state.pace.is_none() {
                state.next = None;
            }
        }
        if let Some(remaining) = self.remaining {
            let left = if throttled {
                0
            } else {
                remaining.saturating_sub(in_flight as u64)
            };
            state.credit = left;
            state.credit_until = self.reset;
            state.resume_at = self
                .reset
                .filter(|reset| left == 0 && sustained.is_none() && is_far(*reset, now));
        } else if let Some(reset) = self
            .reset
            .filter(|reset| throttled && sustained.is_none() && is_far(*reset, now))
        {
            state.resume_at = Some(reset);
        }
    }
}

/// Whether a reset is far enough off to hold requests until it. Resets come in whole
/// seconds: one a second or two away says too little to pace a sub-second budget by
/// (waiting for it could be slower than the server's own `Retry-After`), so a spent
/// budget with a near reset is left to that.
fn is_far(reset: Timestamp, now: Timestamp) -> bool {
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use proptest::prelude::*;
    use reqwest::header::{HeaderName, HeaderValue};

    use super::*;
    use crate::retry::Sleep;

    /// A clock whose sleeps move it forward at once.
    #[derive(Debug)]
    struct Virtual(Mutex<Timestamp>, Mutex<Vec<Duration>>);

    impl Clock for Virtual {
        fn now(&self) -> Timestamp {
            *self.0.lock().unwrap()
        }

        fn sleep(&self, duration: Duration) -> Sleep {
            self.1.lock().unwrap().push(duration);
            let mut now = self.0.lock().unwrap();
            *now = now.checked_add(duration).unwrap();
            Box::pin(async {})
        }
    }

    fn clock() -> Arc<Virtual> {
        Arc::new(Virtual(
            Mutex::new("2024-01-01T00:00:00Z".parse().unwrap()),
            Mutex::default(),
        ))
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(name, value)| {
                (
                    HeaderName::from_bytes(name.as_bytes()).unwrap(),
                    HeaderValue::from_str(value).unwrap(),
                )
            })
            .collect()
    }

    fn limits(limit: &str, interval: &str) -> HeaderMap {
        headers(&[
            ("x-ratelimit-limit", limit),
            ("x-ratelimit-interval", interval),
        ])
    }

    #[tokio::test]
    async fn without_a_known_limit_requests_are_not_paced() {
        let (pacer, clock) = (Pacer::new(Pacing::Adaptive), clock());
        for _ in 0..100 {
            pacer.acquire(&*clock, None).await.unwrap();
        }
        assert!(clock.1.lock().unwrap().is_empty());
        assert_eq!(pacer.rate(), None);
    }

    #[tokio::test]
    async fn a_published_limit_spaces_requests_just_under_it() {
        let (pacer, clock) = (Pacer::new(Pacing::Adaptive), clock());
        pacer.observe(&*clock, 200, &limits("20", "1s"), 0, false);
        for _ in 0..3 {
            pacer.acquire(&*clock, None).await.unwrap();
        }
        let waits = clock.1.lock().unwrap().clone();
        assert_eq!(waits.len(), 2);
        let expected = 1.0 / (20.0 * MARGIN);
        assert!(
            waits
                .iter()
                .all(|w| (w.as_secs_f64() - expected).abs() < 1e-6),
            "{waits:?}"
        );
    }

    #[test]
    fn every_common_shape_of_rate_limit_headers_is_understood() {
        let now: Timestamp = "2024-01-01T00:00:00Z".parse().unwrap();
        let rate = |pairs: &[(&str, &str)]| {
            Announced::read(&headers(pairs), now)
                .sustained()
                .map(|s| s.0)
        };
        assert_eq!(
            rate(&[("x-ratelimit-limit", "20"), ("x-ratelimit-interval", "1s")]),
            Some(20.0)
        );
        assert_eq!(
            rate(&[("x-ratelimit-limit", "120"), ("x-ratelimit-interval", "60")]),
            Some(2.0)
        );
        assert_eq!(
            rate(&[
                ("x-ratelimit-limit", "20"),
                ("x-ratelimit-interval", "PT1S")
            ]),
            Some(20.0)
        );
        assert_eq!(
            rate(&[
                ("x-ratelimit-limit", "3600"),
                ("x-ratelimit-interval", "1h")
            ]),
            Some(1.0)
        );
        assert_eq!(rate(&[("ratelimit-policy", "100;w=50")]), Some(2.0));
        assert_eq!(rate(&[("ratelimit-limit", "100, 100;w=10")]), Some(10.0));
        assert_eq!(
            rate(&[
                ("x-rate-limit-limit", "5"),
                ("x-rate-limit-interval", "500ms")
            ]),
            Some(10.0)
        );
        for (reset, expected) in [
            ("1704067230", "2024-01-01T00:00:30Z"),
            ("30", "2024-01-01T00:00:30Z"),
            ("PT30S", "2024-01-01T00:00:30Z"),
            ("Mon, 01 Jan 2024 00:00:30 GMT", "2024-01-01T00:00:30Z"),
        ] {
            let announced = Announced::read(&headers(&[("x-ratelimit-reset", reset)]), now);
            assert_eq!(announced.reset, Some(expected.parse().unwrap()), "{reset}");
        }
    }

    #[tokio::test]
    async fn a_spent_budget_with_a_reset_holds_requests_until_the_reset() {
        let (pacer, clock) = (Pacer::new(Pacing::Adaptive), clock());
        let answer = headers(&[
            ("x-ratelimit-limit", "20"),
            ("x-ratelimit-remaining", "2"),
            ("x-ratelimit-reset", "30"),
        ]);
        pacer.observe(&*clock, 200, &answer, 0, false);
        for _ in 0..3 {
            pacer.acquire(&*clock, None).await.unwrap();
        }
        assert!(
            clock.1.lock().unwrap().is_empty(),
            "two on credit, one free"
        );
        let spent = headers(&[
            ("x-ratelimit-limit", "20"),
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", "30"),
        ]);
        pacer.observe(&*clock, 200, &spent, 0, false);
        pacer.acquire(&*clock, None).await.unwrap();
        assert_eq!(*clock.1.lock().unwrap(), [Duration::from_secs(30)]);
        let near = headers(&[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", "1")]);
        pacer.observe(&*clock, 200, &near, 0, false);
        pacer.acquire(&*clock, None).await.unwrap();
        assert_eq!(
            clock.1.lock().unwrap().len(),
            1,
            "a reset a second away holds nothing"
        );
    }

    #[tokio::test]
    async fn the_remaining_budget_less_what_is_in_flight_goes_out_unpaced() {
        let (pacer, clock) = (Pacer::new(Pacing::Adaptive), clock());
        let mut answer = limits("20", "1s");
        answer.insert("x-ratelimit-remaining", HeaderValue::from_static("5"));
        pacer.observe(&*clock, 200, &answer, 2, false);
        for _ in 0..5 {
            pacer.acquire(&*clock, None).await.unwrap();
        }
        // 3 on credit, then the pace: the 4th starts at once, the 5th waits its turn.
        assert_eq!(clock.1.lock().unwrap().len(), 1);
        pacer.observe(&*clock, 429, &answer, 0, false);
        assert_eq!(pacer.lock().credit, 0, "a 429 ends the credit");
    }

    #[tokio::test]
    async fn a_retry_after_alone_is_a_pause_and_leaves_the_client_unpaced() {
        let (pacer, clock) = (Pacer::new(Pacing::Adaptive), clock());
        let retry_after = headers(&[("retry-after", "1")]);
        for _ in 0..50 {
            pacer.observe(&*clock, 429, &retry_after, 3, false);
            pacer.observe(&*clock, 200, &HeaderMap::new(), 3, false);
        }
        assert_eq!(pacer.rate(), None);
        for _ in 0..10 {
            pacer.acquire(&*clock, None).await.unwrap();
        }
        assert!(clock.1.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn repeated_throttling_paces_at_the_rate_of_successes_which_then_grows() {
        let (pacer, clock) = (Pacer::new(Pacing::Adaptive), clock());
        for _ in 0..20 {
            pacer.observe(&*clock, 200, &HeaderMap::new(), 0, false);
        }
        clock.sleep(Duration::from_millis(500)).await;
        pacer.observe(&*clock, 429, &HeaderMap::new(), 0, true);
        assert_eq!(pacer.rate(), Some(40.0), "20 successes in half a second");
        pacer.observe(&*clock, 200, &HeaderMap::new(), 0, false);
        assert_eq!(pacer.rate(), Some(40.025));
    }

    #[tokio::test]
    async fn a_wait_past_the_deadline_is_refused_without_waiting() {
        let (pacer, clock) = (Pacer::new(Pacing::Adaptive), clock());
        pacer.observe(&*clock, 200, &limits("1", "1h"), 0, false);
        pacer
            .acquire(&*clock, Some(Duration::from_secs(600)))
            .await
            .unwrap();
        let refusal = pacer
            .acquire(&*clock, Some(Duration::from_secs(600)))
            .await
            .unwrap_err();
        assert!(refusal.wait.unwrap() > Duration::from_secs(3600));
        assert!(
            refusal.reason.contains("1 per 3600 s"),
            "{}",
            refusal.reason
        );
        assert!(clock.1.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn off_and_fixed_ignore_what_answers_say() {
        let clock = clock();
        let off = Pacer::new(Pacing::Off);
        off.observe(&*clock, 429, &limits("1", "1s"), 0, true);
        assert_eq!(off.rate(), None);
        let fixed = Pacer::new(Pacing::fixed(4.0).unwrap());
        fixed.observe(&*clock, 429, &limits("1", "1s"), 0, true);
        assert_eq!(fixed.rate(), Some(4.0));
    }

    #[test]
    fn pacing_parses_from_the_cli_spelling() {
        assert_eq!("adaptive".parse::<Pacing>().unwrap(), Pacing::Adaptive);
        assert_eq!("OFF".parse::<Pacing>().unwrap(), Pacing::Off);
        assert_eq!(
            "2.5".parse::<Pacing>().unwrap(),
            Pacing::fixed(2.5).unwrap()
        );
        for bad in ["0", "-1", "NaN", "inf", "fast", ""] {
            assert!(bad.parse::<Pacing>().is_err(), "{bad}");
        }
    }

    fn header_value() -> impl Strategy<Value = String> {
        prop_oneof![
            "[ -~]{0,24}",
            any::<f64>().prop_map(|f| f.to_string()),
            any::<i64>().prop_map(|i| i.to_string()),
            Just("1e-300".to_string()),
            Just("1e300".to_string()),
            Just("0".to_string()),
            "[0-9]{1,30}(\\.[0-9]{0,10})?(ms|s|m|h|d)?",
            "PT[0-9]{1,20}(\\.[0-9]{1,9})?S",
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]

        #[test]
        fn any_rate_limit_header_values_never_panic_nor_wait_past_the_budget(
            limit in header_value(),
            interval in header_value(),
            remaining in header_value(),
            reset in header_value(),
            status in prop_oneof![Just(200u16), Just(429u16)],
            in_flight in 0usize..64,
        ) {
            let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let (pacer, clock) = (Pacer::new(Pacing::Adaptive), clock());
            let mut map = HeaderMap::new();
            for (name, value) in [
                ("x-ratelimit-limit", &limit),
                ("x-ratelimit-interval", &interval),
                ("x-ratelimit-remaining", &remaining),
                ("ratelimit-reset", &reset),
            ] {
                if let Ok(value) = HeaderValue::from_str(value) {
                    map.insert(name, value);
                }
            }
            pacer.observe(&*clock, status, &map, in_flight, true);
            let budget = Duration::from_secs(600);
            for _ in 0..4 {
                let _ = runtime.block_on(pacer.acquire(&*clock, Some(budget)));
            }
            for wait in clock.1.lock().unwrap().iter() {
                prop_assert!(*wait <= budget);
            }
        }
    }
}
