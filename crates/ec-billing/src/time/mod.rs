//! Time: half-open UTC ranges, their split into windows, and chart bucketing.
//!
//! Every instant is UTC ([`jiff::Timestamp`]) and every range is half-open, `[from, to)`.
//! Consecutive windows share their boundary, so a split has no gap and no overlap.

use std::{fmt, iter::FusedIterator, str::FromStr};

use jiff::{Timestamp, ToSpan, civil::Date, tz::TimeZone};

mod window;

pub use window::Window;
#[cfg(feature = "serde")]
use window::WindowText;

use crate::error::{Error, InvalidInput};

/// The longest window the API is asked for: its historical three-month limit.
pub const MAX_WINDOW_DAYS: u16 = 92;

/// The most windows (requests) one request for a range is split into: 100,000, about
/// 270 years of daily windows. A longer plan is refused before any request, so that
/// what a request holds in memory does not grow with the length of its range.
pub const MAX_WINDOWS: usize = 100_000;

const SECONDS_PER_DAY: i64 = 86_400;

/// A half-open range of UTC instants, `[from, to)`, with `from < to` and whole seconds.
///
/// Parse it once from user input; everything downstream trusts it.
///
/// ```
/// use ec_billing::DateRange;
///
/// let year = DateRange::parse("2024-01-01", "2025-01-01")?;
/// assert_eq!(year.to_string(), "2024-01-01T00:00:00Z..2025-01-01T00:00:00Z");
///
/// // Any RFC 3339 offset is converted to UTC.
/// let r = DateRange::parse("2024-01-01T01:00:00+01:00", "2024-01-02")?;
/// assert_eq!(r.from().to_string(), "2024-01-01T00:00:00Z");
///
/// // Bad input is refused, quoting it.
/// let err = DateRange::parse("2024-02-01", "2024-01-01").unwrap_err();
/// assert!(err.to_string().contains("\"2024-02-01\""));
/// # Ok::<(), ec_billing::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(try_from = "RangeText")
)]
pub struct DateRange {
    from: Timestamp,
    to: Timestamp,
}

impl DateRange {
    /// A range from two instants.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] when `from >= to`, or when either has a fraction of a
    /// second (the API takes whole seconds).
    pub fn new(from: Timestamp, to: Timestamp) -> Result<Self, Error> {
        for instant in [from, to] {
            if instant.subsec_nanosecond() != 0 {
                return Err(InvalidInput::new(format!(
                    "\"{instant}\" has a fraction of a second; the API takes whole seconds"
                ))
                .into());
            }
        }
        if from >= to {
            return Err(InvalidInput::new(format!(
                "invalid date range \"{from}\"..\"{to}\": from must be before to"
            ))
            .into());
        }
        Ok(Self { from, to })
    }

    /// Parses user input: each end is a date (`2024-01-01`, midnight UTC) or an RFC 3339
    /// timestamp with any offset (converted to UTC).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`], quoting the input, when an end is neither, or when the
    /// range is empty or reversed.
    pub fn parse(from: &str, to: &str) -> Result<Self, Error> {
        let (from_at, to_at) = (parse_instant(from)?, parse_instant(to)?);
        if from_at >= to_at {
            return Err(InvalidInput::new(format!(
                "invalid date range from \"{from}\" to \"{to}\": from must be before to"
            ))
            .into());
        }
        Self::new(from_at, to_at)
    }

    /// The API's own default made explicit: the start of the current UTC month until
    /// `now` (truncated to the second).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] in the first second of a month, when the range would be
    /// empty.
    pub fn month_to_date(now: Timestamp) -> Result<Self, Error> {
        // Truncating toward zero never leaves the time scale; `now` is kept if it did.
        let now = Timestamp::from_second(now.as_second()).unwrap_or(now);
        let today = now.to_zoned_datetime(TimeZone::UTC).date();
        // The first of the month is before `now`, so its midnight is on the scale.
        let start = midnight(today.first_of_month()).unwrap_or(Timestamp::MIN);
        Self::new(start, now)
    }

    /// The start of the range (inclusive).
    pub fn from(&self) -> Timestamp {
        self.from
    }

    /// The end of the range (exclusive).
    pub fn to(&self) -> Timestamp {
        self.to
    }

    /// Splits the range into consecutive windows of `size`, the first and last clipped
    /// to the range, lazily: each window is made when the iterator reaches it.
    ///
    /// A boundary that would fall past the end of the time scale (jiff's
    /// [`Timestamp::MAX`], 9999-12-30T22:00Z) is past the range's end, so the last
    /// window ends at the range's end: no instant past the scale is ever built.
    ///
    /// ```
    /// use ec_billing::{DateRange, WindowSize};
    ///
    /// let range = DateRange::parse("2024-01-15", "2024-03-10")?;
    /// let windows: Vec<String> = range.windows(WindowSize::Month).map(|w| w.to_string()).collect();
    /// assert_eq!(windows, [
    ///     "2024-01-15T00:00:00Z..2024-02-01T00:00:00Z",
    ///     "2024-02-01T00:00:00Z..2024-03-01T00:00:00Z",
    ///     "2024-03-01T00:00:00Z..2024-03-10T00:00:00Z",
    /// ]);
    /// # Ok::<(), ec_billing::Error>(())
    /// ```
    pub fn windows(&self, size: WindowSize) -> Windows {
        Windows {
            next: Some(self.from),
            to: self.to,
            size,
            index: 0,
        }
    }

    /// The windows of `size`, at most [`MAX_WINDOWS`] of them.
    pub(crate) fn plan(&self, size: WindowSize) -> Result<Vec<Window>, Error> {
        let windows: Vec<Window> = self.windows(size).take(MAX_WINDOWS + 1).collect();
        if windows.len() > MAX_WINDOWS {
            return Err(InvalidInput::new(format!(
                "the range {self} in {size} windows makes more than {MAX_WINDOWS} requests: \
                 use a shorter range or longer windows"
            ))
            .into());
        }
        Ok(windows)
    }
}

/// The windows of a range, made one at a time: see [`DateRange::windows`].
#[derive(Clone, Debug)]
pub struct Windows {
    next: Option<Timestamp>,
    to: Timestamp,
    size: WindowSize,
    index: usize,
}

impl Iterator for Windows {
    type Item = Window;

    fn next(&mut self) -> Option<Window> {
        let from = self.next.filter(|from| *from < self.to)?;
        let to = self
            .size
            .next_boundary(from)
            .map_or(self.to, |boundary| boundary.min(self.to));
        let window = Window {
            index: self.index,
            from,
            to,
        };
        self.index += 1;
        self.next = Some(to);
        Some(window)
    }
}

impl FusedIterator for Windows {}

impl fmt::Display for DateRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..{}", self.from, self.to)
    }
}

/// Parses an instant as a user gives one (one end of a range, a `--from` flag): a date
/// (`2024-01-01`, midnight UTC) or an RFC 3339 timestamp with any offset (converted to
/// UTC).
///
/// ```
/// let at = ec_billing::parse_instant("2024-03-01T01:00:00+01:00")?;
/// assert_eq!(at.to_string(), "2024-03-01T00:00:00Z");
/// assert_eq!(ec_billing::parse_instant("2024-03-01")?, at);
/// assert!(ec_billing::parse_instant("March 1st").is_err());
/// # Ok::<(), ec_billing::Error>(())
/// ```
///
/// # Errors
///
/// [`Error::InvalidInput`] quoting the input, for anything else or a date past the end
/// of the time scale.
pub fn parse_instant(input: &str) -> Result<Timestamp, Error> {
    let refused = || {
        InvalidInput::new(format!(
            "invalid date or time \"{input}\": expected a date like 2024-01-01 \
             or an RFC 3339 timestamp like 2024-01-01T00:00:00Z"
        ))
    };
    let text = input.trim();
    if text.len() == 10 {
        let date: Date = text.parse().map_err(|_| refused())?;
        return midnight(date).ok_or_else(|| {
            InvalidInput::new(format!(
                "invalid date \"{input}\": its midnight UTC is past the end of the time \
                 scale ({})",
                Timestamp::MAX
            ))
            .into()
        });
    }
    // jiff accepts some ISO 8601 forms RFC 3339 does not; require the RFC 3339 shape.
    let shaped = text.len() >= 20 && matches!(text.as_bytes()[10], b'T' | b't');
    let instant: Timestamp = if shaped {
        text.parse().map_err(|_| refused())?
    } else {
        return Err(refused().into());
    };
    Ok(instant)
}

/// Midnight UTC at the start of `date`; `None` past the end of the time scale
/// (jiff's timestamps end at 9999-12-30T22:00Z, so 9999-12-31 has no midnight).
fn midnight(date: Date) -> Option<Timestamp> {
    date.to_zoned_datetime(TimeZone::UTC)
        .ok()
        .map(|zoned| zoned.timestamp())
}

/// The start of the bucket `at` falls in: its UTC day, or its UTC month.
pub(crate) fn bucket_start(at: Timestamp, bucketing: Bucketing) -> Option<Timestamp> {
    let date = at.to_zoned_datetime(TimeZone::UTC).date();
    midnight(match bucketing {
        Bucketing::Daily => date,
        Bucketing::Monthly => date.first_of_month(),
    })
}

/// How a range is split into windows, one request each.
///
/// Parses from `month`, `day` or `Nd` (1 ≤ N ≤ 92), as the CLI's `--window` takes it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WindowSize {
    /// Calendar months (UTC): the default.
    #[default]
    Month,
    /// Calendar days (UTC).
    Day,
    /// Consecutive spans of at most this many days, starting at the range's start.
    Days(DayCount),
}

impl WindowSize {
    /// Windows of at most `days` days.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] unless `1 <= days <= 92`.
    pub fn days(days: u16) -> Result<Self, Error> {
        DayCount::new(days).map(Self::Days)
    }

    /// The first window boundary strictly after `start`; `None` when it would be past
    /// the end of the time scale.
    fn next_boundary(self, start: Timestamp) -> Option<Timestamp> {
        let date = start.to_zoned_datetime(TimeZone::UTC).date();
        match self {
            Self::Month => midnight(date.first_of_month().checked_add(1.month()).ok()?),
            Self::Day => midnight(date.tomorrow().ok()?),
            Self::Days(days) => {
                let seconds = i64::from(days.get()) * SECONDS_PER_DAY;
                Timestamp::from_second(start.as_second().checked_add(seconds)?).ok()
            }
        }
    }
}

impl FromStr for WindowSize {
    type Err = Error;

    fn from_str(input: &str) -> Result<Self, Error> {
        let refused = || {
            InvalidInput::new(format!(
                "invalid window \"{input}\": expected month, day or Nd with 1 <= N <= {MAX_WINDOW_DAYS}"
            ))
        };
        match input.trim().to_ascii_lowercase().as_str() {
            "month" => Ok(Self::Month),
            "day" => Ok(Self::Day),
            other => {
                let digits = other.strip_suffix('d').ok_or_else(refused)?;
                let days: u16 = digits.parse().map_err(|_| refused())?;
                Self::days(days).map_err(|_| refused().into())
            }
        }
    }
}

impl fmt::Display for WindowSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Month => f.write_str("month"),
            Self::Day => f.write_str("day"),
            Self::Days(days) => write!(f, "{}d", days.get()),
        }
    }
}

/// A number of days between 1 and [`MAX_WINDOW_DAYS`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DayCount(u16);

impl DayCount {
    /// # Errors
    ///
    /// [`Error::InvalidInput`] unless `1 <= days <= 92`.
    pub fn new(days: u16) -> Result<Self, Error> {
        if (1..=MAX_WINDOW_DAYS).contains(&days) {
            Ok(Self(days))
        } else {
            Err(InvalidInput::new(format!(
                "invalid window of {days} days: expected 1 to {MAX_WINDOW_DAYS}"
            ))
            .into())
        }
    }

    /// The number of days.
    pub fn get(self) -> u16 {
        self.0
    }
}

impl Window {
    /// The window as a range of its own.
    pub fn range(&self) -> DateRange {
        DateRange {
            from: self.from,
            to: self.to,
        }
    }
}

/// The bucketing strategy of charts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "lowercase")
)]
#[non_exhaustive]
pub enum Bucketing {
    /// One bucket per day: the API's default.
    #[default]
    Daily,
    /// One bucket per month; windows are then month-aligned.
    Monthly,
}

impl Bucketing {
    /// The wire name: `daily` or `monthly`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Daily => "daily",
            Self::Monthly => "monthly",
        }
    }
}

impl FromStr for Bucketing {
    type Err = Error;

    fn from_str(input: &str) -> Result<Self, Error> {
        match input.trim().to_ascii_lowercase().as_str() {
            "daily" => Ok(Self::Daily),
            "monthly" => Ok(Self::Monthly),
            _ => Err(InvalidInput::new(format!(
                "invalid bucketing \"{input}\": expected daily or monthly"
            ))
            .into()),
        }
    }
}

impl fmt::Display for Bucketing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A range as it is written: checked when read back.
#[cfg(feature = "serde")]
#[derive(serde::Deserialize)]
struct RangeText {
    from: Timestamp,
    to: Timestamp,
}

#[cfg(feature = "serde")]
impl TryFrom<RangeText> for DateRange {
    type Error = Error;

    fn try_from(text: RangeText) -> Result<Self, Error> {
        Self::new(text.from, text.to)
    }
}

#[cfg(feature = "serde")]
impl TryFrom<WindowText> for Window {
    type Error = Error;

    fn try_from(text: WindowText) -> Result<Self, Error> {
        let range = DateRange::new(text.from, text.to)?;
        Ok(Self {
            index: text.index,
            from: range.from,
            to: range.to,
        })
    }
}

/// A chart timestamp from the wire as a UTC instant: below 10^11 it is epoch seconds,
/// otherwise epoch milliseconds (the unit is undocumented upstream).
pub(crate) fn chart_timestamp(raw: i64) -> Option<Timestamp> {
    if raw.unsigned_abs() < 100_000_000_000 {
        Timestamp::from_second(raw).ok()
    } else {
        Timestamp::from_millisecond(raw).ok()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn range(from: &str, to: &str) -> DateRange {
        DateRange::parse(from, to).unwrap()
    }

    #[test]
    fn a_year_splits_into_twelve_calendar_months() {
        let windows: Vec<_> = range("2024-01-01", "2025-01-01")
            .windows(WindowSize::Month)
            .collect();
        assert_eq!(windows.len(), 12);
        assert_eq!(
            windows[1].to_string(),
            "2024-02-01T00:00:00Z..2024-03-01T00:00:00Z"
        );
        assert_eq!(windows[11].to(), range("2024-12-01", "2025-01-01").to());
    }

    #[test]
    fn day_windows_align_to_utc_midnight_and_clip_the_ends() {
        let r = range("2024-01-01T12:00:00Z", "2024-01-03T06:00:00Z");
        let windows: Vec<_> = r.windows(WindowSize::Day).map(|w| w.to_string()).collect();
        assert_eq!(
            windows,
            [
                "2024-01-01T12:00:00Z..2024-01-02T00:00:00Z",
                "2024-01-02T00:00:00Z..2024-01-03T00:00:00Z",
                "2024-01-03T00:00:00Z..2024-01-03T06:00:00Z",
            ]
        );
    }

    #[test]
    fn no_window_exceeds_ninety_two_days() {
        assert!(WindowSize::days(93).is_err());
        assert!("93d".parse::<WindowSize>().is_err());
        let windows: Vec<_> = range("2021-01-01", "2024-01-01")
            .windows(WindowSize::days(92).unwrap())
            .collect();
        for w in &windows {
            assert!(w.to().as_second() - w.from().as_second() <= 92 * SECONDS_PER_DAY);
        }
        assert_eq!(windows.len(), 12);
    }

    #[test]
    fn bad_ranges_are_refused_quoting_the_input() {
        for (from, to, quoted) in [
            ("2024-13-01", "2025-01-01", "\"2024-13-01\""),
            ("yesterday", "2025-01-01", "\"yesterday\""),
            (
                "2024-01-01T00:00:00",
                "2025-01-01",
                "\"2024-01-01T00:00:00\"",
            ),
            ("2025-01-01", "2024-01-01", "\"2025-01-01\""),
            ("2024-01-01", "2024-01-01", "\"2024-01-01\""),
        ] {
            let err = DateRange::parse(from, to).unwrap_err();
            assert!(err.to_string().contains(quoted), "{err}");
            assert!(matches!(err, Error::InvalidInput(_)));
        }
    }

    #[test]
    fn window_sizes_parse_from_cli_spelling() {
        assert_eq!("month".parse::<WindowSize>().unwrap(), WindowSize::Month);
        assert_eq!("Day".parse::<WindowSize>().unwrap(), WindowSize::Day);
        assert_eq!(
            "7d".parse::<WindowSize>().unwrap(),
            WindowSize::days(7).unwrap()
        );
        for bad in ["0d", "d", "week", "-3d", "92"] {
            assert!(bad.parse::<WindowSize>().is_err(), "{bad}");
        }
    }

    #[test]
    fn chart_timestamps_below_ten_to_the_eleven_are_seconds() {
        let expected: Timestamp = "2024-01-01T00:00:00Z".parse().unwrap();
        assert_eq!(chart_timestamp(1_704_067_200), Some(expected));
        assert_eq!(chart_timestamp(1_704_067_200_000), Some(expected));
    }

    #[test]
    fn the_end_of_the_time_scale_is_refused_or_clipped_never_a_panic() {
        let err = DateRange::parse("2024-01-01", "9999-12-31").unwrap_err();
        assert!(
            err.to_string().contains("past the end of the time scale"),
            "{err}"
        );
        let last_day = DateRange::parse("9999-12-01", "9999-12-30T22:00:00Z").unwrap();
        for size in [
            WindowSize::Month,
            WindowSize::Day,
            WindowSize::days(92).unwrap(),
        ] {
            let windows: Vec<_> = last_day.windows(size).collect();
            assert_eq!(windows.last().unwrap().to(), last_day.to(), "{size}");
        }
        let month: Vec<_> = DateRange::parse("9999-11-15", "9999-12-30T21:00:00Z")
            .unwrap()
            .windows(WindowSize::Month)
            .map(|w| w.to_string())
            .collect();
        assert_eq!(
            month,
            [
                "9999-11-15T00:00:00Z..9999-12-01T00:00:00Z",
                "9999-12-01T00:00:00Z..9999-12-30T21:00:00Z"
            ]
        );
        assert_eq!(
            bucket_start(Timestamp::MAX, Bucketing::Daily),
            Some("9999-12-30T00:00:00Z".parse().unwrap())
        );
        assert_eq!(
            bucket_start(Timestamp::MIN, Bucketing::Monthly),
            None,
            "the first of -9999-01 has no midnight on the scale"
        );
    }

    #[test]
    fn a_plan_of_more_than_the_cap_is_refused_before_any_request() {
        let millennia = DateRange::parse("1000-01-01", "9000-01-01").unwrap();
        let err = millennia.plan(WindowSize::Day).unwrap_err();
        assert!(matches!(err, Error::InvalidInput(_)));
        assert!(
            err.to_string().contains("more than 100000 requests"),
            "{err}"
        );
        assert_eq!(millennia.plan(WindowSize::Month).unwrap().len(), 96_000);
    }

    #[test]
    fn month_to_date_starts_at_the_first_of_the_month() {
        let now: Timestamp = "2026-11-24T20:37:10.5Z".parse().unwrap();
        let r = DateRange::month_to_date(now).unwrap();
        assert_eq!(r.to_string(), "2026-11-01T00:00:00Z..2026-11-24T20:37:10Z");
    }

    /// Ranges anywhere on the time scale, from a second long to the whole of it,
    /// with ends often on the scale's own ends.
    fn any_range() -> impl Strategy<Value = DateRange> {
        let (min, max) = (Timestamp::MIN.as_second(), Timestamp::MAX.as_second());
        let instant = prop_oneof![
            min..=max,
            Just(min),
            Just(max),
            (max - 400 * SECONDS_PER_DAY)..=max,
            (min..=(min + 400 * SECONDS_PER_DAY)),
        ];
        (instant.clone(), instant)
            .prop_filter("distinct", |(a, b)| a != b)
            .prop_map(|(a, b)| {
                let (from, to) = (a.min(b), a.max(b));
                DateRange::new(
                    Timestamp::from_second(from).unwrap(),
                    Timestamp::from_second(to).unwrap(),
                )
                .unwrap()
            })
    }

    fn any_size() -> impl Strategy<Value = WindowSize> {
        prop_oneof![
            Just(WindowSize::Month),
            Just(WindowSize::Day),
            (1u16..=92).prop_map(|d| WindowSize::days(d).unwrap()),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn windows_cover_any_range_with_no_gap_or_overlap(r in any_range(), size in any_size()) {
            // The first windows, and the last ones of a plan short enough to walk.
            let first: Vec<_> = r.windows(size).take(1000).collect();
            let windows = match r.plan(size) {
                Ok(all) => all,
                Err(err) => {
                    prop_assert!(err.to_string().contains("more than"), "{}", err);
                    first
                }
            };
            prop_assert_eq!(windows.first().unwrap().from(), r.from());
            if windows.len() < 1000 {
                prop_assert_eq!(windows.last().unwrap().to(), r.to());
            }
            for (i, pair) in windows.windows(2).enumerate() {
                prop_assert_eq!(pair[0].to(), pair[1].from());
                prop_assert_eq!(pair[0].index(), i);
            }
            for w in &windows {
                prop_assert!(w.from() < w.to());
                prop_assert!(w.to().as_second() - w.from().as_second() <= 92 * SECONDS_PER_DAY);
            }
        }

        #[test]
        fn parsing_arbitrary_strings_never_panics(from in ".{0,40}", to in ".{0,40}") {
            let _ = DateRange::parse(&from, &to);
            let _ = from.parse::<WindowSize>();
        }
    }
}
