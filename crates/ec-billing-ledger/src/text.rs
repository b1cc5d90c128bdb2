//! Texts the ledger writes and reads back for every line, without an allocation or a
//! parser's generality on the common path: instants (RFC 3339 in UTC, as
//! `jiff::Timestamp` displays them: `2024-01-01T00:00:00Z`, a fraction only when there
//! is one; the fast path covers whole seconds of the years 1970 to 9999, jiff the rest)
//! and exact decimals (as `Decimal` displays them). Property tests hold each to the
//! library's own text.

use ec_billing::Decimal;
use jiff::Timestamp;

/// Appends `amount` as `Decimal`'s `Display` writes it (every digit of its scale:
/// `1.50`, `-0.0231`, `0`).
pub(crate) fn push_decimal_text(amount: Decimal, out: &mut Vec<u8>) {
    if amount.is_sign_negative() {
        out.push(b'-');
    }
    let mantissa = amount.mantissa().unsigned_abs();
    let mut buffer = itoa::Buffer::new();
    let digits: &[u8] = if mantissa == 0 {
        b""
    } else {
        buffer.format(mantissa).as_bytes()
    };
    let scale = amount.scale() as usize;
    if digits.len() <= scale {
        out.push(b'0');
        if scale > 0 {
            out.push(b'.');
            out.extend(std::iter::repeat_n(b'0', scale - digits.len()));
            out.extend_from_slice(digits);
        }
    } else {
        let (whole, fraction) = digits.split_at(digits.len() - scale);
        out.extend_from_slice(whole);
        if scale > 0 {
            out.push(b'.');
            out.extend_from_slice(fraction);
        }
    }
}

/// Decimal text as the ledger writes it (`Decimal`'s own, e.g. `-0.1301`), read
/// exactly; anything else (`1e5`, `+7`, `.5`, `007`, a rounded long value) is `None`.
pub(crate) fn parse_decimal_text(text: &str) -> Option<Decimal> {
    // The shape `Decimal` writes: a sign for negatives, one leading zero at most, a
    // point only with digits after it.
    let unsigned = text.strip_prefix('-').unwrap_or(text);
    let (whole, fraction) = match unsigned.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (unsigned, None),
    };
    let digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || (whole.len() > 1 && whole.starts_with('0')) {
        return None;
    }
    if fraction.is_some_and(|f| !digits(f)) {
        return None;
    }
    let value: Decimal = text.parse().ok()?;
    // Every digit kept: a value read with fewer fraction digits was rounded.
    (value.scale() as usize == fraction.map_or(0, str::len)).then_some(value)
}

/// Appends `at` as `Timestamp`'s `Display` writes it.
pub(crate) fn push_instant(at: Timestamp, out: &mut Vec<u8>) {
    let second = at.as_second();
    if at.subsec_nanosecond() != 0 || !(0..=MAX_FAST_SECOND).contains(&second) {
        out.extend_from_slice(at.to_string().as_bytes());
        return;
    }
    let days = second.div_euclid(86_400);
    let in_day = second.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    let mut text = *b"0000-00-00T00:00:00Z";
    put_digits(&mut text[0..4], year);
    put_digits(&mut text[5..7], month);
    put_digits(&mut text[8..10], day);
    put_digits(&mut text[11..13], in_day / 3600);
    put_digits(&mut text[14..16], in_day / 60 % 60);
    put_digits(&mut text[17..19], in_day % 60);
    out.extend_from_slice(&text);
}

/// Reads an instant the ledger wrote (or any RFC 3339 text jiff reads).
pub(crate) fn parse_instant(text: &str) -> Option<Timestamp> {
    fast_parse(text.as_bytes()).or_else(|| text.parse().ok())
}

/// The last second the fast path writes: 9999-12-31T23:59:59Z.
const MAX_FAST_SECOND: i64 = 253_402_300_799;

/// `YYYY-MM-DDTHH:MM:SSZ`, nothing else; `None` sends the text to jiff.
fn fast_parse(text: &[u8]) -> Option<Timestamp> {
    let [
        y0,
        y1,
        y2,
        y3,
        b'-',
        m0,
        m1,
        b'-',
        d0,
        d1,
        b'T',
        h0,
        h1,
        b':',
        n0,
        n1,
        b':',
        s0,
        s1,
        b'Z',
    ] = *text
    else {
        return None;
    };
    let year = digits(&[y0, y1, y2, y3])?;
    let month = digits(&[m0, m1])?;
    let day = digits(&[d0, d1])?;
    let (hour, minute, second) = (digits(&[h0, h1])?, digits(&[n0, n1])?, digits(&[s0, s1])?);
    if year < 1970 || !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Timestamp::from_second(days * 86_400 + hour * 3600 + minute * 60 + second).ok()
}

fn digits(bytes: &[u8]) -> Option<i64> {
    bytes.iter().try_fold(0i64, |n, &b| {
        b.is_ascii_digit().then(|| n * 10 + i64::from(b - b'0'))
    })
}

fn put_digits(out: &mut [u8], mut value: i64) {
    for slot in out.iter_mut().rev() {
        *slot = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The civil date of a day since 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn written(at: Timestamp) -> String {
        let mut out = Vec::new();
        push_instant(at, &mut out);
        String::from_utf8(out).unwrap()
    }

    proptest! {
        #[test]
        fn an_instant_is_written_and_read_as_jiff_writes_and_reads_it(
            second in Timestamp::MIN.as_second()..=Timestamp::MAX.as_second(),
            whole in any::<bool>(),
            nanos in 0i32..1_000_000_000,
        ) {
            let nanos = if whole || second == Timestamp::MIN.as_second() { 0 } else { nanos };
            let at = Timestamp::new(second, nanos).unwrap();
            let text = written(at);
            prop_assert_eq!(&text, &at.to_string());
            prop_assert_eq!(parse_instant(&text), Some(at));
        }

        #[test]
        fn a_whole_second_of_the_fast_years_reads_back(second in 0i64..=MAX_FAST_SECOND) {
            let at = Timestamp::from_second(second).unwrap();
            let text = at.to_string();
            prop_assert_eq!(fast_parse(text.as_bytes()), Some(at));
            prop_assert_eq!(written(at), text);
        }
    }

    proptest! {
        #[test]
        fn a_decimal_is_written_and_read_as_decimal_writes_it(
            lo in any::<u32>(),
            mid in any::<u32>(),
            hi in any::<u32>(),
            negative in any::<bool>(),
            scale in 0u32..=28,
        ) {
            let amount = Decimal::from_parts(lo, mid, hi, negative, scale);
            let mut out = Vec::new();
            push_decimal_text(amount, &mut out);
            let text = String::from_utf8(out).unwrap();
            prop_assert_eq!(&text, &amount.to_string());
            prop_assert_eq!(parse_decimal_text(&text), Some(amount));
        }
    }

    #[test]
    fn decimal_text_the_ledger_does_not_write_is_refused() {
        for text in [
            "1e5",
            "+7",
            ".5",
            "7.",
            "0x10",
            "",
            "79228162514264337593543950336",
        ] {
            assert_eq!(parse_decimal_text(text), None, "{text}");
        }
        assert_eq!(parse_decimal_text("1.50"), Some("1.50".parse().unwrap()));
    }

    #[test]
    fn what_the_fast_path_refuses_goes_to_jiff_or_is_no_instant() {
        assert_eq!(fast_parse(b"2024-02-30T00:00:00Z"), None);
        assert_eq!(parse_instant("2024-02-30T00:00:00Z"), None);
        assert_eq!(fast_parse(b"2024-01-01T24:00:00Z"), None);
        assert_eq!(fast_parse(b"2024-01-01t00:00:00Z"), None);
        assert_eq!(
            parse_instant("2024-01-01T01:00:00+01:00"),
            Some("2024-01-01T00:00:00Z".parse().unwrap()),
            "other RFC 3339 forms are jiff's to read"
        );
        assert_eq!(
            written("2000-02-29T23:59:59Z".parse().unwrap()),
            "2000-02-29T23:59:59Z"
        );
    }
}
