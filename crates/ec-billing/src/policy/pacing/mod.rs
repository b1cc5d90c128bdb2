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

mod headers;
#[cfg(test)]
mod tests;

use headers::{Announced, is_far};

use super::clock::Clock;
use crate::error::{Error, InvalidInput};

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
/// use ec_billing::{Client, policy::Pacing};
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

impl Announced {
    /// Applies what was announced to the schedule: a sustained rate paces it, a
    /// remaining budget is spent first, a spent one with a far reset holds it.
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
