//! The injectable clock every wait, timer and "now" of a client runs on.

use std::{fmt, future::Future, pin::Pin, time::Duration};

use jiff::Timestamp;

/// A boxed, sendable future, as [`Clock::sleep`] returns.
pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The source of time for retries, pacing and bounds: the current instant, a way to
/// wait, and timers for read and attempt timeouts.
///
/// The default, [`SystemClock`], reads the system time and sleeps on the tokio timer.
/// Tests inject a clock whose `sleep` returns at once and records the delay, so that
/// retry behaviour is checked without waiting; one that also overrides
/// [`timer`](Self::timer) checks timeouts by what the clock saw, not by wall time.
pub trait Clock: fmt::Debug + Send + Sync + 'static {
    /// The current instant.
    fn now(&self) -> Timestamp;

    /// Waits for `duration`.
    fn sleep(&self, duration: Duration) -> Sleep;

    /// A timer for a bound: completes once `duration` has passed, by this clock, from
    /// the moment it is made. Every attempt races its answer against two: the read
    /// timeout (for the answer's head, and for each piece of its body) and the attempt
    /// timeout.
    ///
    /// The default is tokio's timer, on real time, whatever [`sleep`](Self::sleep)
    /// does: a clock whose `sleep` returns at once (to skip retry waits in a test) does
    /// not make every attempt time out at once. A clock that simulates time overrides
    /// it, so that bounds run on its time too and a test checks them exactly, without
    /// waiting.
    fn timer(&self, duration: Duration) -> Sleep {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// The real clock: system time and tokio's timer.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }

    fn sleep(&self, duration: Duration) -> Sleep {
        Box::pin(tokio::time::sleep(duration))
    }
}
