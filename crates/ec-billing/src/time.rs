//! Time: half-open UTC ranges, their split into windows, and chart bucketing.
//!
//! Every instant is UTC ([`jiff::Timestamp`]) and every range is half-open, `[from, to)`.
//! Consecutive windows share their boundary, so a split has no gap and no overlap.

use std::{fmt, str::FromStr};

use jiff::{Timestamp, ToSpan, civil::Date, tz::TimeZone};

use crate::error::{Error, InvalidInput};

/// The longest window the API is asked for: its historical three-month limit.
pub const MAX_WINDOW_DAYS: u16 = 92;

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
        let now = Timestamp::from_second(now.as_second()).expect("truncation stays in range");
        let today = now.to_zoned_datetime(TimeZone::UTC).date();
        Self::new(midnight(today.first_of_month()), now)
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
    /// to the range.
    ///
    /// ```
    /// use ec_billing::{DateRange, WindowSize};
    ///
    /// let range = DateRange::parse("2024-01-15", "2024-03-10")?;
    /// let windows: Vec<String> = range.windows(WindowSize::Month).iter().map(|w| w.to_string()).collect();
    /// assert_eq!(windows, [
    ///     "2024-01-15T00:00:00Z..2024-02-01T00:00:00Z",
    ///     "2024-02-01T00:00:00Z..2024-03-01T00:00:00Z",
    ///     "2024-03-01T00:00:00Z..2024-03-10T00:00:00Z",
    /// ]);
    /// # Ok::<(), ec_billing::Error>(())
    /// ```
    pub fn windows(&self, size: WindowSize) -> Vec<Window> {
        let mut windows = Vec::new();
        let mut start = self.from;
        let mut index = 0;
        while start < self.to {
            let end = size.next_boundary(start).min(self.to);
            windows.push(Window {
                index,
                from: start,
                to: end,
            });
            index += 1;
            start = end;
        }
        windows
    }
}

impl fmt::Display for DateRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..{}", self.from, self.to)
    }
}

/// Parses one end of a range: a date (midnight UTC) or an RFC 3339 timestamp.
fn parse_instant(input: &str) -> Result<Timestamp, Error> {
    let refused = || {
        InvalidInput::new(format!(
            "invalid date or time \"{input}\": expected a date like 2024-01-01 \
             or an RFC 3339 timestamp like 2024-01-01T00:00:00Z"
        ))
    };
    let text = input.trim();
    if text.len() == 10 {
        let date: Date = text.parse().map_err(|_| refused())?;
        return Ok(midnight(date));
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

/// Midnight UTC at the start of `date`.
fn midnight(date: Date) -> Timestamp {
    date.to_zoned_datetime(TimeZone::UTC)
        .expect("every civil date has a UTC midnight")
        .timestamp()
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

    /// The first window boundary strictly after `start`.
    fn next_boundary(self, start: Timestamp) -> Timestamp {
        match self {
            Self::Month => {
                let date = start.to_zoned_datetime(TimeZone::UTC).date();
                midnight(
                    date.first_of_month()
                        .checked_add(1.month())
                        .expect("a month later"),
                )
            }
            Self::Day => {
                let date = start.to_zoned_datetime(TimeZone::UTC).date();
                midnight(date.tomorrow().expect("a day later"))
            }
            Self::Days(days) => {
                let seconds = i64::from(days.get()) * SECONDS_PER_DAY;
                Timestamp::from_second(start.as_second().saturating_add(seconds))
                    .unwrap_or(Timestamp::MAX)
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

/// One window of a split range: one request.
///
/// Made by [`DateRange::windows`]; `index` is its position in the split.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Window {
    index: usize,
    from: Timestamp,
    to: Timestamp,
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

    /// The window as a range of its own.
    pub fn range(&self) -> DateRange {
        DateRange {
            from: self.from,
            to: self.to,
        }
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..{}", self.from, self.to)
    }
}

/// The bucketing strategy of charts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
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
        let windows = range("2024-01-01", "2025-01-01").windows(WindowSize::Month);
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
        let windows: Vec<_> = r
            .windows(WindowSize::Day)
            .iter()
            .map(Window::to_string)
            .collect();
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
        let windows = range("2021-01-01", "2024-01-01").windows(WindowSize::days(92).unwrap());
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
    fn month_to_date_starts_at_the_first_of_the_month() {
        let now: Timestamp = "2026-11-24T20:37:10.5Z".parse().unwrap();
        let r = DateRange::month_to_date(now).unwrap();
        assert_eq!(r.to_string(), "2026-11-01T00:00:00Z..2026-11-24T20:37:10Z");
    }

    fn any_range() -> impl Strategy<Value = DateRange> {
        // 2000-01-01 .. 2040-01-01, spans up to ~6 years.
        (946_684_800i64..2_208_988_800, 1i64..200_000_000).prop_map(|(from, len)| {
            DateRange::new(
                Timestamp::from_second(from).unwrap(),
                Timestamp::from_second(from + len).unwrap(),
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
            let windows = r.windows(size);
            prop_assert_eq!(windows.first().unwrap().from(), r.from());
            prop_assert_eq!(windows.last().unwrap().to(), r.to());
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
