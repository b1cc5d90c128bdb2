//! Which windows a sync fetches, from what the ledger holds and the range asked for:
//! pure functions over values.

use ec_billing::{DateRange, Window, WindowSize};
use jiff::{SignedDuration, Timestamp, tz::TimeZone};

use crate::{
    error::{Error, Result},
    store::values::StoredWindow,
};

/// What the ledger holds of a window of the range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Held {
    pub(crate) end: Timestamp,
    pub(crate) final_: bool,
    /// Its lines match its record, and its bounds are a window's.
    pub(crate) consistent: bool,
}

/// What a sync does with one window of its range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Planned {
    /// Nothing: the ledger has it whole, final, and as its record says.
    Skip,
    /// Fetches the window from its start to this end: the range's, or the ledger's
    /// when it holds more (a window is never shrunk).
    Fetch(Timestamp),
}

/// What to do with `window` of the range, given what the ledger holds of it. A window
/// is skipped only when the ledger holds it final and consistent; one the ledger holds
/// more of than the range asks for (fetched before its end, with a range that reached
/// further) is fetched again over what the ledger holds.
pub(crate) fn plan_window(window: Window, held: Option<Held>, refetch_final: bool) -> Planned {
    match held {
        None => Planned::Fetch(window.to()),
        Some(h) if !h.consistent => Planned::Fetch(h.end.max(window.to())),
        Some(h) if h.end >= window.to() && h.final_ && !refetch_final => Planned::Skip,
        Some(h) => Planned::Fetch(h.end.max(window.to())),
    }
}

/// Where a sync without a start begins for a deployment whose windows (by start) are
/// `windows`: the first window that is missing between the first one and the last (a
/// window that failed while later ones were stored), or provisional, or the start of
/// the window after the last one; `None` when there are none.
pub(crate) fn resume_point(
    windows: &[StoredWindow],
    size: WindowSize,
) -> Result<Option<Timestamp>> {
    let mut expected: Option<Timestamp> = None;
    for window in windows {
        if let Some(expected) = expected
            && window.start > expected
        {
            return Ok(Some(expected));
        }
        if !window.final_ {
            return Ok(Some(window.start));
        }
        expected = natural_end(window.start, size).or(Some(window.end));
    }
    expected.map(|end| window_start(end, size)).transpose()
}

/// The start of the window `at` falls in: its month's or its day's, UTC.
pub(crate) fn window_start(at: Timestamp, size: WindowSize) -> Result<Timestamp> {
    let date = at.to_zoned_datetime(TimeZone::UTC).date();
    let date = match size {
        WindowSize::Month => date.first_of_month(),
        _ => date,
    };
    date.to_zoned_datetime(TimeZone::UTC)
        .map(|zoned| zoned.timestamp())
        .map_err(|_| {
            Error::InvalidInput(format!(
                "{at} is too near the end of the time scale for a ledger window"
            ))
        })
}

/// The window of `size` that starts at `start` and ends at `end` (or where such a
/// window ends, if sooner).
///
/// # Errors
///
/// [`Error::InvalidInput`] when `start` is not before `end`, or is not where a window
/// of `size` starts.
pub(crate) fn window_of(start: Timestamp, end: Timestamp, size: WindowSize) -> Result<Window> {
    let window = DateRange::new(start, end)?
        .windows(size)
        .next()
        .ok_or_else(|| Error::InvalidInput(format!("no window in {start}..{end}")))?;
    if window.from() != start {
        return Err(Error::InvalidInput(format!(
            "{start} is not the start of a window"
        )));
    }
    Ok(window)
}

/// Whether a window's stored bounds are a window's: it starts where one starts and
/// ends no later than that one does.
pub(crate) fn is_window(start: Timestamp, end: Timestamp, size: WindowSize) -> bool {
    start < end
        && window_start(start, size).is_ok_and(|aligned| aligned == start)
        && natural_end(start, size).is_some_and(|whole| end <= whole)
}

/// Where the window of `size` that starts at `start` ends when it is whole (the end of
/// its month or day); `None` past the time scale.
pub(crate) fn natural_end(start: Timestamp, size: WindowSize) -> Option<Timestamp> {
    let date = start.to_zoned_datetime(TimeZone::UTC).date();
    let next = match size {
        WindowSize::Month => date
            .first_of_month()
            .checked_add(jiff::Span::new().months(1)),
        _ => date.tomorrow(),
    }
    .ok()?;
    next.to_zoned_datetime(TimeZone::UTC)
        .ok()
        .map(|zoned| zoned.timestamp())
}

/// Whether `window` of a ledger of `size`, fetched `now`, is final: it is whole (not
/// cut short by a range's end), the fetch covered all of it (it came after its end),
/// and at least `settle` after that end.
pub(crate) fn is_final(
    window: Window,
    size: WindowSize,
    now: Timestamp,
    settle: SignedDuration,
) -> bool {
    natural_end(window.from(), size) == Some(window.to())
        && now >= window.to()
        && window
            .to()
            .checked_add(settle)
            .is_ok_and(|settled| settled <= now)
}

/// `at` without its fraction of a second.
pub(crate) fn whole_seconds(at: Timestamp) -> Timestamp {
    Timestamp::from_second(at.as_second()).unwrap_or(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn january() -> Window {
        DateRange::parse("2024-01-01", "2024-02-01")
            .unwrap()
            .windows(WindowSize::Month)
            .next()
            .unwrap()
    }

    #[test]
    fn a_window_is_final_once_the_settle_period_has_passed_since_its_end() {
        let settle = SignedDuration::from_hours(14 * 24);
        let month = WindowSize::Month;
        assert!(!is_final(
            january(),
            month,
            at("2024-02-14T23:59:59Z"),
            settle
        ));
        assert!(is_final(
            january(),
            month,
            at("2024-02-15T00:00:00Z"),
            settle
        ));
        assert!(!is_final(
            january(),
            month,
            at("2024-01-20T00:00:00Z"),
            SignedDuration::MAX
        ));
        assert!(
            !is_final(january(), month, at("2024-01-20T00:00:00Z"), -settle),
            "a fetch before the end is provisional whatever the settle period"
        );
        let cut = DateRange::parse("2024-01-01", "2024-01-20")
            .unwrap()
            .windows(month)
            .next()
            .unwrap();
        assert!(
            !is_final(cut, month, at("2024-06-01T00:00:00Z"), SignedDuration::ZERO),
            "a window cut short by its range is never final"
        );
        assert_eq!(
            natural_end(at("2024-12-01T00:00:00Z"), month),
            Some(at("2025-01-01T00:00:00Z"))
        );
        assert_eq!(natural_end(at("9999-12-01T00:00:00Z"), month), None);
    }

    fn stored(start: &str, end: &str, final_: bool) -> StoredWindow {
        StoredWindow {
            organization: "o".into(),
            deployment: "d".into(),
            start: at(start),
            end: at(end),
            first_fetched_at: at(end),
            fetched_at: at(end),
            final_,
            lines: 0,
            total: "0".into(),
            digest: String::new(),
            unreadable: false,
        }
    }

    #[test]
    fn a_sync_without_a_start_resumes_at_the_first_gap_or_provisional_window() {
        let month = WindowSize::Month;
        let jan = stored("2024-01-01T00:00:00Z", "2024-02-01T00:00:00Z", true);
        let mar = stored("2024-03-01T00:00:00Z", "2024-04-01T00:00:00Z", true);
        let apr = stored("2024-04-01T00:00:00Z", "2024-04-20T00:00:00Z", false);
        assert_eq!(
            resume_point(&[jan.clone(), mar.clone()], month).unwrap(),
            Some(at("2024-02-01T00:00:00Z")),
            "February failed while March was stored: it is fetched"
        );
        assert_eq!(
            resume_point(&[mar.clone(), apr], month).unwrap(),
            Some(at("2024-04-01T00:00:00Z"))
        );
        assert_eq!(
            resume_point(&[mar], month).unwrap(),
            Some(at("2024-04-01T00:00:00Z"))
        );
        assert_eq!(resume_point(&[], month).unwrap(), None);
    }

    #[test]
    fn only_a_final_consistent_window_held_whole_is_skipped() {
        let held = |end: &str, final_, consistent| {
            Some(Held {
                end: at(end),
                final_,
                consistent,
            })
        };
        let end = "2024-02-01T00:00:00Z";
        assert_eq!(plan_window(january(), None, false), Planned::Fetch(at(end)));
        assert_eq!(
            plan_window(january(), held(end, true, true), false),
            Planned::Skip
        );
        assert_eq!(
            plan_window(january(), held(end, true, true), true),
            Planned::Fetch(at(end))
        );
        assert_eq!(
            plan_window(january(), held(end, true, false), false),
            Planned::Fetch(at(end)),
            "a window that does not match its record is repaired"
        );
        let short = DateRange::parse("2024-01-01", "2024-01-10")
            .unwrap()
            .windows(WindowSize::Month)
            .next()
            .unwrap();
        assert_eq!(
            plan_window(short, held(end, false, true), false),
            Planned::Fetch(at(end)),
            "a provisional window held longer is fetched again over what is held"
        );
        assert_eq!(
            plan_window(short, held(end, true, true), false),
            Planned::Skip
        );
    }
}
