//! Client-side pacing: one schedule shared by every request of a client, so that a
//! client that knows (or has learnt) the API's rate limit stops sending what would only
//! come back as 429.
//!
//! The schedule is a GCRA ("virtual scheduling") pacer: each request takes the next
//! free start time, and the next one is `1 / rate` later. The rate is learnt:
//! - from `x-ratelimit-limit` and `x-ratelimit-interval` when answers carry them (the
//!   Elastic Cloud API does): `limit / interval`, with a 3% margin so that network
//!   jitter does not push a request over. `x-ratelimit-remaining`, less the requests
//!   already in flight, is spent first, unpaced: the server's burst is not wasted;
//! - otherwise from 429s (AIMD): a 429 halves the rate, at most once a second (the first
//!   halves the rate of requests started in the last two seconds); each success adds
//!   `1 / rate`, i.e. one request per second per second.
//!
//! Until a limit is known, a request pays two relaxed atomic operations and no lock.

use std::{
    sync::{
        Mutex, PoisonError,
        atomic::{AtomicBool, AtomicI64, AtomicU32, Ordering},
    },
    time::Duration,
};

use jiff::{SignedDuration, Timestamp};
use reqwest::header::HeaderMap;

use crate::retry::Clock;

/// The share of a published limit the pacer aims for.
const MARGIN: f64 = 0.97;

/// The slowest pace AIMD goes down to, in requests per second.
const MIN_RATE: f64 = 0.2;

/// Beyond this pace (requests per second), AIMD stops pacing altogether.
const MAX_RATE: f64 = 10_000.0;

/// How a client paces its requests to stay under the API's rate limit.
///
/// ```
/// use ec_billing::{Client, Pacing};
///
/// let builder = Client::builder().pacing(Pacing::Fixed { per_second: 10.0 });
/// # let _ = builder;
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[non_exhaustive]
pub enum Pacing {
    /// Learn the limit from `x-ratelimit-*` headers, or from 429s when there are none;
    /// unpaced until the first sign of a limit. The default.
    #[default]
    Adaptive,
    /// At most this many requests per second, from the start; never changed.
    Fixed {
        /// Requests per second.
        per_second: f64,
    },
    /// No pacing: 429s are handled by retries alone.
    Off,
}

/// The shared schedule of one client.
#[derive(Debug)]
pub(crate) struct Pacer {
    mode: Pacing,
    /// Whether a rate is set; while not, `acquire` takes no lock.
    active: AtomicBool,
    /// Requests started in the current and previous whole second, for AIMD's first cut.
    second: AtomicI64,
    this_second: AtomicU32,
    last_second: AtomicU32,
    schedule: Mutex<Schedule>,
}

#[derive(Debug, Default)]
struct Schedule {
    /// Requests per second, when paced.
    rate: Option<f64>,
    /// Whether `rate` comes from the API's headers (then 429s do not change it).
    published: bool,
    /// The earliest start of the next request.
    next: Option<Timestamp>,
    /// When AIMD last cut the rate.
    last_cut: Option<Timestamp>,
    /// Requests the server said it would still take (`x-ratelimit-remaining`, less
    /// those in flight then), sent before pacing resumes.
    credit: u64,
}

impl Pacer {
    pub(crate) fn new(mode: Pacing) -> Self {
        let rate = match mode {
            Pacing::Fixed { per_second } if per_second > 0.0 => Some(per_second),
            _ => None,
        };
        Self {
            mode,
            active: AtomicBool::new(rate.is_some()),
            second: AtomicI64::new(0),
            this_second: AtomicU32::new(0),
            last_second: AtomicU32::new(0),
            schedule: Mutex::new(Schedule {
                rate,
                ..Schedule::default()
            }),
        }
    }

    /// The current pace in requests per second, if any.
    pub(crate) fn rate(&self) -> Option<f64> {
        self.lock().rate
    }

    /// Waits for this request's turn.
    pub(crate) async fn acquire(&self, clock: &dyn Clock) {
        if self.mode == Pacing::Off {
            return;
        }
        let now = clock.now();
        self.count_start(now);
        if !self.active.load(Ordering::Relaxed) {
            return;
        }
        let wait = {
            let mut schedule = self.lock();
            let Some(rate) = schedule.rate else { return };
            if schedule.credit > 0 {
                schedule.credit -= 1;
                return;
            }
            let start = schedule.next.map_or(now, |next| next.max(now));
            schedule.next = Some(start + seconds(1.0 / rate));
            start.duration_since(now)
        };
        if let Ok(wait) = Duration::try_from(wait)
            && !wait.is_zero()
        {
            clock.sleep(wait).await;
        }
    }

    /// Learns from an answer's status and headers; `in_flight` requests were under way
    /// when it came.
    pub(crate) fn observe(
        &self,
        clock: &dyn Clock,
        status: u16,
        headers: &HeaderMap,
        in_flight: usize,
    ) {
        if self.mode != Pacing::Adaptive {
            return;
        }
        if let Some(published) = published_rate(headers) {
            let mut schedule = self.lock();
            schedule.rate = Some(published * MARGIN);
            schedule.published = true;
            schedule.credit = match remaining(headers) {
                Some(left) if status != 429 => left.saturating_sub(in_flight as u64),
                _ => 0,
            };
            self.active.store(true, Ordering::Relaxed);
            return;
        }
        if status == 429 {
            let now = clock.now();
            let mut schedule = self.lock();
            if schedule.published
                || schedule
                    .last_cut
                    .is_some_and(|cut| now.duration_since(cut) < SignedDuration::from_secs(1))
            {
                return;
            }
            let current = schedule.rate.unwrap_or_else(|| self.recent_rate());
            schedule.rate = Some((current / 2.0).max(MIN_RATE));
            schedule.last_cut = Some(now);
            self.active.store(true, Ordering::Relaxed);
        } else if (200..300).contains(&status) && self.active.load(Ordering::Relaxed) {
            let mut schedule = self.lock();
            if let (false, Some(rate)) = (schedule.published, schedule.rate) {
                let grown = rate + 1.0 / rate;
                if grown > MAX_RATE {
                    *schedule = Schedule::default();
                    self.active.store(false, Ordering::Relaxed);
                } else {
                    schedule.rate = Some(grown);
                }
            }
        }
    }

    /// Counts a request start in its whole second.
    fn count_start(&self, now: Timestamp) {
        let second = now.as_second();
        let previous = self.second.swap(second, Ordering::Relaxed);
        if previous != second {
            let count = self.this_second.swap(0, Ordering::Relaxed);
            self.last_second.store(
                if second - previous == 1 { count } else { 0 },
                Ordering::Relaxed,
            );
        }
        self.this_second.fetch_add(1, Ordering::Relaxed);
    }

    /// Requests per second started recently (at least one).
    fn recent_rate(&self) -> f64 {
        let recent =
            self.this_second.load(Ordering::Relaxed) + self.last_second.load(Ordering::Relaxed);
        (f64::from(recent) / 2.0).max(1.0)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Schedule> {
        self.schedule.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn seconds(value: f64) -> SignedDuration {
    SignedDuration::try_from_secs_f64(value).unwrap_or(SignedDuration::MAX)
}

/// `x-ratelimit-limit / x-ratelimit-interval` in requests per second, when both are
/// there and make sense.
fn published_rate(headers: &HeaderMap) -> Option<f64> {
    let text = |name: &str| headers.get(name)?.to_str().ok().map(str::trim);
    let limit: f64 = text("x-ratelimit-limit")?.parse().ok()?;
    let interval = interval_seconds(text("x-ratelimit-interval")?)?;
    (limit > 0.0 && interval > 0.0).then(|| limit / interval)
}

/// `x-ratelimit-remaining`, when it is a whole number.
fn remaining(headers: &HeaderMap) -> Option<u64> {
    headers
        .get("x-ratelimit-remaining")?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// An interval such as `1s`, `500ms`, `1m`, `1h` or `60` (seconds), in seconds.
fn interval_seconds(text: &str) -> Option<f64> {
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let scale = match unit.trim() {
        "" | "s" => 1.0,
        "ms" => 0.001,
        "m" => 60.0,
        "h" => 3600.0,
        _ => return None,
    };
    Some(number * scale)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use reqwest::header::HeaderValue;

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

    fn limits(limit: &str, interval: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-ratelimit-limit", HeaderValue::from_str(limit).unwrap());
        h.insert(
            "x-ratelimit-interval",
            HeaderValue::from_str(interval).unwrap(),
        );
        h
    }

    #[tokio::test]
    async fn without_a_known_limit_requests_are_not_paced() {
        let (pacer, clock) = (Pacer::new(Pacing::Adaptive), clock());
        for _ in 0..100 {
            pacer.acquire(&*clock).await;
        }
        assert!(clock.1.lock().unwrap().is_empty());
        assert_eq!(pacer.rate(), None);
    }

    #[tokio::test]
    async fn a_published_limit_spaces_requests_just_under_it() {
        let (pacer, clock) = (Pacer::new(Pacing::Adaptive), clock());
        pacer.observe(&*clock, 200, &limits("20", "1s"), 0);
        for _ in 0..3 {
            pacer.acquire(&*clock).await;
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

    #[tokio::test]
    async fn the_remaining_budget_less_what_is_in_flight_goes_out_unpaced() {
        let (pacer, clock) = (Pacer::new(Pacing::Adaptive), clock());
        let mut headers = limits("20", "1s");
        headers.insert("x-ratelimit-remaining", HeaderValue::from_static("5"));
        pacer.observe(&*clock, 200, &headers, 2);
        for _ in 0..5 {
            pacer.acquire(&*clock).await;
        }
        // 3 on credit, then the pace: the 4th starts at once, the 5th waits its turn.
        assert_eq!(clock.1.lock().unwrap().len(), 1);
        pacer.observe(&*clock, 429, &headers, 0);
        assert_eq!(pacer.lock().credit, 0, "a 429 ends the credit");
    }

    #[tokio::test]
    async fn a_429_without_headers_halves_the_pace_and_successes_grow_it_back() {
        let (pacer, clock) = (Pacer::new(Pacing::Adaptive), clock());
        for _ in 0..8 {
            pacer.acquire(&*clock).await;
        }
        pacer.observe(&*clock, 429, &HeaderMap::new(), 0);
        assert_eq!(
            pacer.rate(),
            Some(2.0),
            "8 starts over the last two seconds, halved"
        );
        pacer.observe(&*clock, 429, &HeaderMap::new(), 0);
        assert_eq!(pacer.rate(), Some(2.0), "at most one cut a second");
        pacer.observe(&*clock, 200, &HeaderMap::new(), 0);
        assert_eq!(pacer.rate(), Some(2.5));
    }

    #[tokio::test]
    async fn off_and_fixed_ignore_what_answers_say() {
        let clock = clock();
        let off = Pacer::new(Pacing::Off);
        off.observe(&*clock, 429, &limits("1", "1s"), 0);
        assert_eq!(off.rate(), None);
        let fixed = Pacer::new(Pacing::Fixed { per_second: 4.0 });
        fixed.observe(&*clock, 429, &limits("1", "1s"), 0);
        assert_eq!(fixed.rate(), Some(4.0));
    }

    #[test]
    fn intervals_parse_with_or_without_units() {
        assert_eq!(interval_seconds("1s"), Some(1.0));
        assert_eq!(interval_seconds("500ms"), Some(0.5));
        assert_eq!(interval_seconds("1m"), Some(60.0));
        assert_eq!(interval_seconds("60"), Some(60.0));
        assert_eq!(interval_seconds("soon"), None);
        assert_eq!(published_rate(&limits("120", "1m")), Some(2.0));
    }
}
