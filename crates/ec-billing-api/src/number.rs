//! Exact numbers: decimal text read into a [`Decimal`] without rounding, and
//! [`ExactNumber`], the type the generator maps the spec's `number`/`double` fields to,
//! which reads a JSON number from its own digits and writes it back with the same digits.

use std::{fmt, str::FromStr};

use rust_decimal::Decimal;
use serde::{
    Deserialize, Deserializer, Serialize, Serializer,
    de::{self, DeserializeSeed, MapAccess, Visitor},
    ser::SerializeStruct,
};

/// The name under which `serde_json` (with its `raw_value` feature, which this crate
/// turns on) hands a value's raw text to a deserializer, and takes raw text to write
/// as it is. It is how `serde_json::value::RawValue` works, reached here without an
/// allocation per number.
const RAW_VALUE_TOKEN: &str = "$serde_json::private::RawValue";

/// The most characters of a refused number quoted in an error.
const QUOTED: usize = 48;

/// Why decimal text was refused by [`parse_decimal`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DecimalError {
    /// Not decimal text: anything but an optional sign, digits with at most one `.`,
    /// and an optional exponent (`e`/`E`, an optional sign, digits).
    Syntax,
    /// Well-formed, but with more digits than a [`Decimal`] holds exactly: more than
    /// 28 decimal places that are not zeros, or a coefficient of 2^96 or more.
    Inexact,
}

impl fmt::Display for DecimalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Syntax => "not a decimal number",
            Self::Inexact => {
                "more digits than an exact decimal holds (28 decimal places, 96-bit coefficient)"
            }
        })
    }
}

impl std::error::Error for DecimalError {}

/// Powers of ten that fit a `u128`.
const POW10: [u128; 39] = {
    let mut table = [1u128; 39];
    let mut i = 1;
    while i < 39 {
        table[i] = table[i - 1] * 10;
        i += 1;
    }
    table
};

/// The largest coefficient a [`Decimal`] holds, plus one.
const COEFFICIENT_LIMIT: u128 = 1 << 96;

/// Exact addition of amounts. `Decimal::checked_add` fails only on overflow: a sum that
/// needs more than the 28 or 29 digits a `Decimal` holds (`4e28 + 1.5`) is rounded.
/// Money is never rounded, so every sum of money goes through [`exact_add`].
///
/// ```
/// use ec_billing_api::ExactAdd;
/// use rust_decimal::Decimal;
///
/// let big: Decimal = "40000000000000000000000000000".parse().unwrap();
/// let half: Decimal = "1.5".parse().unwrap();
/// assert_eq!(big.checked_add(half).map(|d| d.to_string()).as_deref(), Some("40000000000000000000000000002"));
/// assert_eq!(big.exact_add(half), None, "rounded, so refused");
/// assert_eq!(half.exact_add(half), Some("3.0".parse().unwrap()));
/// ```
///
/// [`exact_add`]: ExactAdd::exact_add
pub trait ExactAdd: Sized {
    /// `self + other`, exactly; `None` when the exact sum does not fit a `Decimal`
    /// (where `checked_add` would overflow or round).
    fn exact_add(self, other: Self) -> Option<Self>;
}

impl ExactAdd for Decimal {
    #[inline]
    fn exact_add(self, other: Decimal) -> Option<Decimal> {
        // The common case of a running total, two amounts at one scale and neither
        // negative: their mantissas (each below 2^96) add exactly in 128 bits, and
        // `checked_add` would give the same sum when it fits 96 bits.
        if self.scale() == other.scale() && self.is_sign_positive() && other.is_sign_positive() {
            let sum = self.mantissa() + other.mantissa();
            if sum < 1 << 96 {
                return Decimal::try_from_i128_with_scale(sum, self.scale()).ok();
            }
        }
        exact_add_checked(self, other)
    }
}

/// [`ExactAdd::exact_add`] in general: `checked_add`, then the check that it did not
/// round.
fn exact_add_checked(left: Decimal, right: Decimal) -> Option<Decimal> {
    let sum = left.checked_add(right)?;
    // The three at one scale, as 128-bit integers: the sum is exact when it equals the
    // sum of the other two (one that cannot be checked so is refused).
    let scale = left.scale().max(right.scale()).max(sum.scale());
    let at_scale = |d: Decimal| {
        d.mantissa()
            .checked_mul(10i128.checked_pow(scale - d.scale())?)
    };
    let exact = at_scale(left)?.checked_add(at_scale(right)?)?;
    (at_scale(sum)? == exact).then_some(sum)
}

/// Reads decimal text exactly: `12.50`, `-0.0011`, `1e-7`, `1.5E+3`, `+.5`.
///
/// The result has the digits of the text: its scale is the text's number of decimal
/// places (`12.50` keeps its trailing zero), unless that would exceed 28, when
/// trailing zeros are dropped. A value that cannot be held exactly is refused, never
/// rounded: `0.00000000000000000000000000001` (29 places) and
/// `79228162514264337593543950336` (2^96) are [`DecimalError::Inexact`].
/// No allocation, whatever the length of the text.
///
/// ```
/// use ec_billing_api::{DecimalError, parse_decimal};
///
/// assert_eq!(parse_decimal("12.50")?.to_string(), "12.50");
/// assert_eq!(parse_decimal("1e-7")?.to_string(), "0.0000001");
/// assert_eq!(parse_decimal("123456789012345.123456789012345"), Err(DecimalError::Inexact));
/// assert_eq!(parse_decimal("12,5"), Err(DecimalError::Syntax));
/// # Ok::<(), DecimalError>(())
/// ```
///
/// # Errors
///
/// [`DecimalError::Syntax`] for anything but decimal text (no spaces, `_`, `,`,
/// `NaN` or `inf`); [`DecimalError::Inexact`] for text with more digits than a
/// [`Decimal`] holds.
pub fn parse_decimal(text: &str) -> Result<Decimal, DecimalError> {
    parse_decimal_bytes(text.as_bytes())
}

/// [`parse_decimal`] over bytes, as a CSV cell comes: decimal text is ASCII, so bytes
/// that are not UTF-8 are [`DecimalError::Syntax`] like any other non-decimal text.
///
/// ```
/// use ec_billing_api::{DecimalError, parse_decimal_bytes};
///
/// assert_eq!(parse_decimal_bytes(b"0.1301")?.to_string(), "0.1301");
/// assert_eq!(parse_decimal_bytes(b"\xff1"), Err(DecimalError::Syntax));
/// # Ok::<(), DecimalError>(())
/// ```
///
/// # Errors
///
/// As [`parse_decimal`].
pub fn parse_decimal_bytes(bytes: &[u8]) -> Result<Decimal, DecimalError> {
    if let Some(value) = plain_decimal(bytes) {
        return Ok(value);
    }
    let (negative, mut rest) = match bytes.first() {
        Some(b'-') => (true, &bytes[1..]),
        Some(b'+') => (false, &bytes[1..]),
        Some(_) => (false, bytes),
        None => return Err(DecimalError::Syntax),
    };
    let mut digits = Digits::default();
    // Too many digits is only known to be the problem once the whole text is known to
    // be decimal text: `999…9x` is not a number at all.
    let mut inexact = false;
    let mut any_digit = false;
    let mut dot = false;
    let mut places: i64 = 0;
    while let Some((&byte, tail)) = rest.split_first() {
        match byte {
            b'0'..=b'9' => {
                inexact = inexact || digits.push(byte - b'0').is_err();
                any_digit = true;
                places += i64::from(dot);
            }
            b'.' if !dot => dot = true,
            _ => break,
        }
        rest = tail;
    }
    if !any_digit {
        return Err(DecimalError::Syntax);
    }
    let exponent = match rest.split_first() {
        None => 0,
        Some((b'e' | b'E', tail)) => exponent(tail)?,
        Some(_) => return Err(DecimalError::Syntax),
    };
    if inexact {
        return Err(DecimalError::Inexact);
    }
    digits.into_decimal(negative, places - exponent)
}

/// The common case without a detour: an optional `-`, at most 19 digits with at most
/// one `.`, no exponent. `None` for anything else, which the general path reads (or
/// refuses).
#[inline]
fn plain_decimal(bytes: &[u8]) -> Option<Decimal> {
    let (negative, digits) = match bytes.split_first()? {
        (b'-', rest) => (true, rest),
        _ => (false, bytes),
    };
    if digits.is_empty() || digits.len() > 20 {
        return None;
    }
    // The whole part, then after a `.` the places: at most 20 bytes, one of them a `.`
    // when there are 20, so never more than 19 digits, which always fit a u64.
    let mut value: u64 = 0;
    let mut rest = digits;
    while let Some((&byte, tail)) = rest.split_first() {
        let digit = byte.wrapping_sub(b'0');
        if digit >= 10 {
            break;
        }
        value = value.wrapping_mul(10).wrapping_add(u64::from(digit));
        rest = tail;
    }
    let mut places = 0;
    if let Some((b'.', tail)) = rest.split_first() {
        places = tail.len();
        for &byte in tail {
            let digit = byte.wrapping_sub(b'0');
            if digit >= 10 {
                return None;
            }
            value = value.wrapping_mul(10).wrapping_add(u64::from(digit));
        }
    } else if !rest.is_empty() {
        return None;
    }
    // A bare `.` is not a number; 20 digits and no `.` may not fit.
    let dot = places > 0 || rest.first() == Some(&b'.');
    let count = digits.len() - usize::from(dot);
    if count == 0 || count > 19 {
        return None;
    }
    let scale = places as u32;
    Some(Decimal::from_parts(
        value as u32,
        (value >> 32) as u32,
        0,
        negative && value != 0,
        scale,
    ))
}

/// The digits read so far: `coefficient × 10^zeros`, the trailing zeros kept apart so
/// that a long run of them costs nothing until it is known to matter. The coefficient
/// lives in a `u64` while it fits (the common case, and the fast one), then in a `u128`.
#[derive(Default)]
struct Digits {
    small: u64,
    wide: Option<u128>,
    zeros: u32,
}

/// Powers of ten that fit a `u64`.
const POW10_U64: [u64; 20] = {
    let mut table = [1u64; 20];
    let mut i = 1;
    while i < 20 {
        table[i] = table[i - 1] * 10;
        i += 1;
    }
    table
};

impl Digits {
    #[inline]
    fn push(&mut self, digit: u8) -> Result<(), DecimalError> {
        if digit == 0 {
            // Leading zeros do not count; trailing ones wait.
            self.zeros += u32::from(self.small != 0 || self.wide.is_some());
            return Ok(());
        }
        let shift = self.zeros as usize + 1;
        self.zeros = 0;
        if self.wide.is_none()
            && let Some(value) = POW10_U64
                .get(shift)
                .and_then(|scale| self.small.checked_mul(*scale))
                .and_then(|value| value.checked_add(u64::from(digit)))
        {
            self.small = value;
            return Ok(());
        }
        let wide = self.wide.unwrap_or(u128::from(self.small));
        let scale = POW10.get(shift).ok_or(DecimalError::Inexact)?;
        self.wide = Some(
            wide.checked_mul(*scale)
                .and_then(|c| c.checked_add(u128::from(digit)))
                .ok_or(DecimalError::Inexact)?,
        );
        Ok(())
    }

    fn coefficient(&self) -> u128 {
        self.wide.unwrap_or(u128::from(self.small))
    }

    /// The value `coefficient × 10^zeros × 10^-scale`, at the written `scale` when it
    /// fits, else with as few trailing zeros dropped as needed.
    fn into_decimal(self, negative: bool, scale: i64) -> Result<Decimal, DecimalError> {
        const MAX_SCALE: i64 = 28;
        let digits = self.coefficient();
        if digits == 0 {
            let scale = scale.clamp(0, MAX_SCALE) as u32;
            return Ok(Decimal::from_parts(0, 0, 0, false, scale));
        }
        // The fewest decimal places that hold the value.
        let fewest = (scale - i64::from(self.zeros)).max(0);
        if fewest > MAX_SCALE {
            return Err(DecimalError::Inexact);
        }
        let mut chosen = scale.clamp(fewest, MAX_SCALE);
        loop {
            // `chosen >= fewest`, so this power is never negative.
            let power = i64::from(self.zeros) - scale + chosen;
            let coefficient = usize::try_from(power)
                .ok()
                .and_then(|p| POW10.get(p))
                .and_then(|p| digits.checked_mul(*p))
                .filter(|c| *c < COEFFICIENT_LIMIT);
            match coefficient {
                Some(c) => {
                    return Ok(Decimal::from_parts(
                        c as u32,
                        (c >> 32) as u32,
                        (c >> 64) as u32,
                        negative,
                        chosen as u32,
                    ));
                }
                None if chosen > fewest => chosen -= 1,
                None => return Err(DecimalError::Inexact),
            }
        }
    }
}

/// The exponent after an `e`: an optional sign and at least one digit. Values beyond
/// any that could name a decimal saturate, so that a long exponent cannot overflow.
fn exponent(text: &[u8]) -> Result<i64, DecimalError> {
    let (sign, digits) = match text.first() {
        Some(b'-') => (-1, &text[1..]),
        Some(b'+') => (1, &text[1..]),
        _ => (1, text),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(DecimalError::Syntax);
    }
    let value = digits.iter().fold(0i64, |value, digit| {
        (value * 10 + i64::from(digit - b'0')).min(1_000_000_000)
    });
    Ok(sign * value)
}

/// A JSON number, exactly as the digits on the wire: what the generator maps the
/// spec's `type: number, format: double` fields (money, rates, chart values) to.
///
/// It deserializes from the number's own text, not through an `f64`, so
/// `123456789012.3456789` stays `123456789012.3456789`; a number with more digits than a
/// [`Decimal`] holds is a decode error quoting it, never a rounded value. It serializes
/// back as a JSON number with the same digits. Both use `serde_json`'s raw-value support
/// (this crate turns on its additive `raw_value` feature; nothing changes for other
/// users of `serde_json`). From a self-describing format other than JSON text it
/// accepts integers and decimal strings, and refuses floats: their digits are gone. (A
/// `serde_json::Value` hands over its number's text: the shortest digits of the `f64`
/// it holds, unless `serde_json`'s `arbitrary_precision` kept the wire's.)
///
/// ```
/// use ec_billing_api::types::Costs;
///
/// let costs: Costs = serde_json::from_str(r#"{"total": 0.1301, "dimensions": []}"#)?;
/// assert_eq!(costs.total.to_string(), "0.1301");
/// assert_eq!(serde_json::to_string(&costs)?, r#"{"dimensions":[],"total":0.1301}"#);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ExactNumber(Decimal);

impl ExactNumber {
    /// The number as an exact decimal.
    pub fn get(self) -> Decimal {
        self.0
    }
}

impl From<Decimal> for ExactNumber {
    fn from(value: Decimal) -> Self {
        Self(value)
    }
}

impl From<ExactNumber> for Decimal {
    fn from(value: ExactNumber) -> Self {
        value.0
    }
}

impl fmt::Display for ExactNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl FromStr for ExactNumber {
    type Err = DecimalError;

    fn from_str(text: &str) -> Result<Self, DecimalError> {
        parse_decimal(text).map(Self)
    }
}

impl Serialize for ExactNumber {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // `serde_json` writes this struct's one field as raw JSON: the digits as they
        // are, a number, not a string.
        let text = self.0.to_string();
        let mut raw = serializer.serialize_struct(RAW_VALUE_TOKEN, 1)?;
        raw.serialize_field(RAW_VALUE_TOKEN, &text)?;
        raw.end()
    }
}

impl<'de> Deserialize<'de> for ExactNumber {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_newtype_struct(RAW_VALUE_TOKEN, NumberVisitor { strings: false })
    }
}

/// Reads a decimal exactly from a number (by its own digits) or from a string of decimal
/// text: for data written as decimal strings and read back, where [`ExactNumber`]
/// follows the spec and takes numbers only.
///
/// ```
/// #[derive(serde::Deserialize)]
/// struct Saved {
///     #[serde(deserialize_with = "ec_billing_api::decimal_from_text_or_number")]
///     total: rust_decimal::Decimal,
/// }
/// let a: Saved = serde_json::from_str(r#"{"total": "12.50"}"#)?;
/// let b: Saved = serde_json::from_str(r#"{"total": 12.50}"#)?;
/// assert_eq!(a.total.to_string(), "12.50");
/// assert_eq!(a.total, b.total);
/// # Ok::<(), serde_json::Error>(())
/// ```
///
/// # Errors
///
/// The deserializer's error for anything else, or for text with more digits than a
/// `Decimal` holds.
pub fn decimal_from_text_or_number<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Decimal, D::Error> {
    deserializer
        .deserialize_newtype_struct(RAW_VALUE_TOKEN, NumberVisitor { strings: true })
        .map(ExactNumber::get)
}

/// Reads the value `serde_json` hands over as raw text, or a plain number or string
/// from another deserializer; `strings` says whether a JSON string of decimal text is
/// taken too.
struct NumberVisitor {
    strings: bool,
}

impl<'de> Visitor<'de> for NumberVisitor {
    type Value = ExactNumber;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a number")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ExactNumber, A::Error> {
        // `serde_json`'s raw value: one entry, keyed by the token, whose value is the
        // JSON text of the value. (Any other map fails on its value, which must be
        // number text.)
        match map.next_key::<de::IgnoredAny>()? {
            Some(_) => map.next_value_seed(JsonNumberText {
                strings: self.strings,
            }),
            None => Err(de::Error::invalid_type(de::Unexpected::Map, &self)),
        }
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<ExactNumber, D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<ExactNumber, E> {
        Ok(ExactNumber(Decimal::from(value)))
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<ExactNumber, E> {
        Ok(ExactNumber(Decimal::from(value)))
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<ExactNumber, E> {
        // A float has lost the digits it was written with: which decimal it was
        // cannot be known, and a guess would be a silently rounded value.
        Err(E::custom(format_args!(
            "number {value} came as a float, its digits lost: decode an exact number \
             from text"
        )))
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<ExactNumber, E> {
        exact::<E>(text.trim())
    }
}

/// The raw JSON text of a value, which must be a number (or, when `strings`, a string
/// of decimal text).
struct JsonNumberText {
    strings: bool,
}

impl<'de> DeserializeSeed<'de> for JsonNumberText {
    type Value = ExactNumber;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<ExactNumber, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for JsonNumberText {
    type Value = ExactNumber;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a number")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<ExactNumber, E> {
        let unexpected = match text.as_bytes().first() {
            Some(b'-' | b'0'..=b'9') => return exact::<E>(text),
            // Decimal text needs no escapes: a string with any is refused as such.
            Some(b'"') if self.strings && text.len() >= 2 && !text.contains('\\') => {
                return exact::<E>(&text[1..text.len() - 1]);
            }
            Some(b'"') => de::Unexpected::Other("a string"),
            Some(b'{') => de::Unexpected::Map,
            Some(b'[') => de::Unexpected::Seq,
            Some(b't' | b'f') => de::Unexpected::Other("a boolean"),
            Some(b'n') => de::Unexpected::Unit,
            _ => de::Unexpected::Other("something else"),
        };
        Err(E::invalid_type(unexpected, &self))
    }
}

/// The exact value of number text, or an error quoting (the start of) it.
fn exact<E: de::Error>(text: &str) -> Result<ExactNumber, E> {
    // The common case inlined where the number is decoded; the rest, out of line.
    if let Some(value) = plain_decimal(text.as_bytes()) {
        return Ok(ExactNumber(value));
    }
    parse_decimal(text).map(ExactNumber).map_err(|err| {
        let quoted: String = text.chars().take(QUOTED).collect();
        let cut = if quoted.len() < text.len() { "…" } else { "" };
        E::custom(format_args!("number {quoted}{cut}: {err}"))
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// A decimal from its parts: any mantissa up to 96 bits, scale and sign.
    fn decimals() -> impl Strategy<Value = Decimal> {
        (
            any::<u32>(),
            any::<u32>(),
            any::<u32>(),
            0u32..=28,
            any::<bool>(),
            0u8..4,
        )
            .prop_map(|(lo, mid, hi, scale, negative, size)| {
                // Small mantissas too, where sums do not overflow.
                let (mid, hi) = match size {
                    0 => (0, 0),
                    1 => (mid, 0),
                    _ => (mid, hi),
                };
                Decimal::from_parts(lo, mid, hi, negative, scale)
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(5000))]

        #[test]
        fn plain_decimal_text_reads_as_rust_decimal_reads_it(
            text in "-?[0-9]{0,21}(\\.[0-9]{0,21})?|[0-9.x+-]{0,6}",
        ) {
            let ours = parse_decimal_bytes(text.as_bytes()).ok();
            let theirs = Decimal::from_str_exact(&text).ok().filter(|_| {
                // rust_decimal also takes `_` and `+`, and text it rounds, which ours
                // refuses; compare where both are plain.
                !text.contains('+') && !text.is_empty()
            });
            if let (Some(ours), Some(theirs)) = (ours, theirs) {
                prop_assert_eq!(ours, theirs);
                prop_assert_eq!(ours.scale(), theirs.scale());
                prop_assert_eq!(ours.to_string(), theirs.to_string());
            }
            // A plain text of at most 19 digits always reads.
            let digits = text.bytes().filter(u8::is_ascii_digit).count();
            let plain = text.strip_prefix('-').unwrap_or(&text);
            if (1..=19).contains(&digits)
                && plain.bytes().all(|b| b.is_ascii_digit() || b == b'.')
                && plain.matches('.').count() <= 1
            {
                prop_assert!(ours.is_some(), "{} not read", text);
            }
        }

        #[test]
        fn the_quick_exact_sum_is_the_checked_one(
            left in decimals(),
            right in decimals(),
            same_scale in any::<bool>(),
        ) {
            let right = if same_scale {
                Decimal::from_parts(
                    right.mantissa().unsigned_abs() as u32,
                    (right.mantissa().unsigned_abs() >> 32) as u32,
                    (right.mantissa().unsigned_abs() >> 64) as u32,
                    right.is_sign_negative(),
                    left.scale(),
                )
            } else {
                right
            };
            let quick = left.exact_add(right);
            let checked = exact_add_checked(left, right);
            prop_assert_eq!(quick, checked);
            prop_assert_eq!(
                quick.map(|d| (d.to_string(), d.scale(), d.is_sign_negative())),
                checked.map(|d| (d.to_string(), d.scale(), d.is_sign_negative()))
            );
        }
    }

    fn dec(text: &str) -> Decimal {
        Decimal::from_str(text).unwrap_or_else(|err| panic!("{text}: {err}"))
    }

    #[test]
    fn decimal_text_keeps_every_digit_and_its_scale() {
        for (text, expected) in [
            ("0", "0"),
            ("-0", "0"),
            ("12.50", "12.50"),
            ("-12.5", "-12.5"),
            ("+3", "3"),
            (".5", "0.5"),
            ("5.", "5"),
            ("0.0011", "0.0011"),
            ("1e-7", "0.0000001"),
            ("1.5E+3", "1500"),
            ("0001.10", "1.10"),
            (
                "12345678901234.12345678901234",
                "12345678901234.12345678901234",
            ),
            (
                "79228162514264337593543950335",
                "79228162514264337593543950335",
            ),
            (
                "7.9228162514264337593543950335",
                "7.9228162514264337593543950335",
            ),
            (
                "0.0000000000000000000000000001",
                "0.0000000000000000000000000001",
            ),
            // Zeros past 28 places are dropped, not rounded away.
            (
                "1.000000000000000000000000000000000000000000000000",
                "1.0000000000000000000000000000",
            ),
            (
                "79228162514264337593543950335.000",
                "79228162514264337593543950335",
            ),
            ("0e999999999999", "0"),
            ("1e28", "10000000000000000000000000000"),
        ] {
            assert_eq!(parse_decimal(text), Ok(dec(expected)), "{text}");
            assert_eq!(parse_decimal(text).unwrap().to_string(), expected, "{text}");
        }
    }

    #[test]
    fn decimal_text_that_cannot_be_exact_is_refused_not_rounded() {
        for text in [
            "0.00000000000000000000000000001",
            "0.000000000000000000000000000015",
            "1e-29",
            "79228162514264337593543950336",
            "79228162514264337593543950335.5",
            "123456789012345.123456789012345",
            "1e29",
            "1e999999999999",
            "12345678901234567890123456789012345678901234567890",
        ] {
            assert_eq!(parse_decimal(text), Err(DecimalError::Inexact), "{text}");
        }
        for text in [
            "",
            "-",
            "+",
            ".",
            "1,5",
            "1_000",
            " 1",
            "1 ",
            "1e",
            "1e+",
            "e5",
            "1.2.3",
            "NaN",
            "inf",
            "--1",
            "0x10",
            "1e5.5",
            "99999999999999999999999999999999999999999999x",
        ] {
            assert_eq!(parse_decimal(text), Err(DecimalError::Syntax), "{text:?}");
        }
    }

    #[test]
    fn json_numbers_decode_from_their_own_digits_from_a_slice_a_reader_and_a_value() {
        let text = "[0.1301, 123456789012.3456789, 7.9228162514264337593543950335, 42, -1e-7]";
        let expected: Vec<ExactNumber> = [
            "0.1301",
            "123456789012.3456789",
            "7.9228162514264337593543950335",
            "42",
            "-0.0000001",
        ]
        .into_iter()
        .map(|t| ExactNumber(dec(t)))
        .collect();
        let from_slice: Vec<ExactNumber> = serde_json::from_slice(text.as_bytes()).unwrap();
        let from_reader: Vec<ExactNumber> = serde_json::from_reader(text.as_bytes()).unwrap();
        assert_eq!(from_slice, expected);
        assert_eq!(from_reader, expected);
        let whole: Vec<ExactNumber> = serde_json::from_value(serde_json::json!([42])).unwrap();
        assert_eq!(whole, [expected[3]]);
    }

    #[test]
    fn a_number_that_came_as_a_float_is_refused_not_guessed() {
        use serde::de::{IntoDeserializer, value::Error};

        let float = IntoDeserializer::<Error>::into_deserializer(0.1301f64);
        let err = ExactNumber::deserialize(float).unwrap_err().to_string();
        assert!(err.contains("came as a float"), "{err}");
    }

    #[test]
    fn a_json_number_with_too_many_digits_is_an_error_quoting_it() {
        let err = serde_json::from_str::<Vec<ExactNumber>>("[123456789012345.1234567890123456]")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("number 123456789012345.1234567890123456"),
            "{err}"
        );
        assert!(
            err.contains("more digits than an exact decimal holds"),
            "{err}"
        );
        for other in [r#"["1.5"]"#, "[null]", "[true]", "[{}]", "[[1]]"] {
            assert!(
                serde_json::from_str::<Vec<ExactNumber>>(other).is_err(),
                "{other}"
            );
        }
    }

    #[test]
    fn numbers_serialize_back_with_the_same_digits() {
        let numbers: Vec<ExactNumber> =
            serde_json::from_str("[12.50,0.1301,7.9228162514264337593543950335,-3]").unwrap();
        assert_eq!(
            serde_json::to_string(&numbers).unwrap(),
            "[12.50,0.1301,7.9228162514264337593543950335,-3]"
        );
    }
}
