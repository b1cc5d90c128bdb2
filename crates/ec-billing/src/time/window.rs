//! [`Window`]: one window of a split range, one request. It names nothing of the crate
//! (its range and its checks are in `time`), so that the error context that carries
//! one imports only this file.

use std::fmt;

use jiff::Timestamp;

/// One window of a split range: one request.
///
/// Made by [`DateRange::windows`](crate::DateRange::windows); `index` is its position
/// in the split.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(try_from = "WindowText")
)]
pub struct Window {
    pub(super) index: usize,
    pub(super) from: Timestamp,
    pub(super) to: Timestamp,
}

impl Window {
    /// The position of this window in its split, from 0.
    pub fn index(&self) -> usize {
        self.index
    }

    /// The start of the window (inclusive).
    pub fn from(&self) -> Timestamp {
        self.from
    }

    /// The end of the window (exclusive).
    pub fn to(&self) -> Timestamp {
        self.to
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..{}", self.from, self.to)
    }
}

/// A window as it is written: checked (by `time`) when read back.
#[cfg(feature = "serde")]
#[derive(serde::Deserialize)]
pub(super) struct WindowText {
    pub(super) index: usize,
    pub(super) from: Timestamp,
    pub(super) to: Timestamp,
}
