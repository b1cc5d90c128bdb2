//! Policies: when to retry and how long to wait (`retry`), the clock every wait runs
//! on (`clock`), and client-side pacing under the API's rate limit (`pacing`).

mod clock;
mod pacing;
mod retry;

pub use clock::{Clock, Sleep, SystemClock};
pub(crate) use pacing::Pacer;
pub use pacing::{Pacing, PerSecond};
pub(crate) use retry::retry_after;
pub use retry::{Jitter, RetryPolicy};
