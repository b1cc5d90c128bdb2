//! What a line is priced in: its quantity in pricing units, the unit, the unit price,
//! exact; and the checks a line passes when it is fetched, so that it can be exported.

use ec_billing::Decimal;
use jiff::{Timestamp, tz::TimeZone};

use crate::record::{AnswerLine, LedgerLine, LineType};

/// What a line is priced in: its quantity in pricing units, the unit, and the unit
/// price in ECU.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Pricing {
    pub(crate) quantity: Decimal,
    /// `Err` says why the FOCUS mapping cannot place it (an export refuses the line; a
    /// sync stores it all the same).
    pub(crate) unit: std::result::Result<&'static str, String>,
    pub(crate) unit_price: Decimal,
}

/// What pricing a line takes, from a line of the ledger or of an answer.
pub(crate) struct LineValues<'a> {
    line_type: LineType,
    kind: &'a str,
    hours: Option<i64>,
    instance_count: Option<i32>,
    price_per_hour: Option<Decimal>,
    quantity: Option<Decimal>,
    quantity_formatted: Option<&'a str>,
    rate: Option<Decimal>,
    rate_formatted: Option<&'a str>,
    cost: Decimal,
}

/// A [`LineValues`] of a line of the ledger or of an answer: they name their values
/// alike.
macro_rules! line_values {
    ($line:ty) => {
        impl<'a> From<&'a $line> for LineValues<'a> {
            fn from(line: &'a $line) -> Self {
                Self {
                    line_type: line.key.line_type,
                    kind: &line.key.kind,
                    hours: line.hours,
                    instance_count: line.instance_count,
                    price_per_hour: line.price_per_hour,
                    quantity: line.quantity,
                    quantity_formatted: line.quantity_formatted.as_deref(),
                    rate: line.rate,
                    rate_formatted: line.rate_formatted.as_deref(),
                    cost: line.cost,
                }
            }
        }
    };
}

line_values!(LedgerLine);
line_values!(AnswerLine);

/// A line's pricing: instance hours at the price per hour for a resource line; for a
/// DTS line, its quantity in the unit of its rate (see the crate docs), at its rate.
/// `Err` says what cannot be exact.
pub(crate) fn pricing(line: LineValues<'_>) -> std::result::Result<Pricing, String> {
    match line.line_type {
        LineType::Resource => {
            let hours = line.hours.unwrap_or_default();
            let instances = line.instance_count.unwrap_or_default();
            let instance_hours = i128::from(hours)
                .checked_mul(i128::from(instances))
                .and_then(|h| Decimal::try_from_i128_with_scale(h, 0).ok())
                .ok_or("its instance hours overflow an exact decimal")?;
            Ok(Pricing {
                quantity: instance_hours,
                unit: Ok("Hours"),
                unit_price: line.price_per_hour.unwrap_or_default(),
            })
        }
        LineType::Dts => {
            let raw = line.quantity.unwrap_or_default();
            let rate = line.rate.unwrap_or_default();
            let unit = dts_unit(line.kind, line.rate_formatted);
            let digits = dts_scale(raw, line.quantity_formatted, rate, line.cost);
            // Dividing by a power of ten is exact while the scale stays within 28.
            let mut quantity = raw;
            quantity
                .set_scale(raw.scale() + digits)
                .map_err(|_| "its quantity in the unit of its rate has more digits than an exact decimal holds")?;
            Ok(Pricing {
                quantity: quantity.normalize(),
                unit,
                unit_price: rate,
            })
        }
    }
}

/// Refuses, when it is fetched, a line the ledger could not export exactly in ECU: its
/// period runs backwards, its billing month ends past the time scale, or its list cost
/// (unit price × pricing quantity) has more digits than an exact decimal holds.
pub(crate) fn check_line(line: &AnswerLine) -> std::result::Result<(), String> {
    let key = &line.key;
    let texts = [
        ("kind", Some(key.kind.as_str())),
        ("SKU", Some(key.sku.as_str())),
        ("name", Some(key.name.as_str())),
        ("formatted quantity", line.quantity_formatted.as_deref()),
        ("formatted rate", line.rate_formatted.as_deref()),
    ];
    if let Some((field, _)) = texts
        .iter()
        .find(|(_, text)| text.is_some_and(|t| t.contains('\0')))
    {
        return Err(format!(
            "its {field} holds a NUL character, which no database text keeps"
        ));
    }
    if key.period_end < key.period_start {
        return Err("its period ends before it starts".to_string());
    }
    if [key.period_start, key.period_end]
        .iter()
        .any(|at| at.subsec_nanosecond() % 1000 != 0)
    {
        return Err("its period is finer than a microsecond".to_string());
    }
    if billing_period(key.period_start).is_none() {
        return Err("its billing month ends past the end of the time scale".to_string());
    }
    let pricing = pricing(LineValues::from(line))?;
    exact_mul(pricing.unit_price, pricing.quantity).ok_or(
        "its list cost (unit price × quantity) has more digits than an exact decimal holds",
    )?;
    Ok(())
}

/// √10, the geometric midpoint between two powers of ten.
pub(crate) const SQRT_10: Decimal =
    Decimal::from_parts(1_245_693_416, 1_966_436_728, 171_427_415, false, 27);

/// The power of ten (its exponent, 0 to 18) between a DTS line's raw quantity and its
/// quantity in the unit of its rate (bytes to GB: 9): the one nearest to raw ÷
/// (cost ÷ rate), the quantity its cost prices; or else to raw ÷ the number its
/// formatted quantity shows (`1,363.9 GB`); 0 when neither says.
pub(crate) fn dts_scale(
    raw: Decimal,
    formatted: Option<&str>,
    rate: Decimal,
    cost: Decimal,
) -> u32 {
    let priced = (rate > Decimal::ZERO && cost > Decimal::ZERO)
        .then(|| cost.checked_div(rate))
        .flatten()
        .or_else(|| {
            let text = formatted?;
            let number: String = text
                .split_whitespace()
                .next()?
                .chars()
                .filter(|c| *c != ',')
                .collect();
            number.parse::<Decimal>().ok()
        })
        .filter(|q| *q > Decimal::ZERO);
    let Some(ratio) = priced
        .and_then(|priced| raw.checked_div(priced))
        .filter(|r| *r > Decimal::ZERO)
    else {
        return 0;
    };
    // The nearest power of ten: the first whose upper midpoint (10^k × √10) is above
    // the ratio.
    let mut power = Decimal::ONE;
    for exponent in 0..18 {
        match power.checked_mul(SQRT_10) {
            Some(midpoint) if ratio < midpoint => return exponent,
            Some(_) => power = power.checked_mul(Decimal::TEN).unwrap_or(Decimal::MAX),
            None => return exponent,
        }
    }
    18
}

/// `a × b` exactly, or `None` when the product has more digits than a `Decimal` holds
/// (where `Decimal`'s own multiplication would round).
pub(crate) fn exact_mul(a: Decimal, b: Decimal) -> Option<Decimal> {
    let mut mantissa = a.mantissa().checked_mul(b.mantissa())?;
    let mut scale = a.scale() + b.scale();
    // Trailing zeros of the fraction are not digits: drop them while the scale is over.
    while scale > 28 && mantissa % 10 == 0 {
        mantissa /= 10;
        scale -= 1;
    }
    Decimal::try_from_i128_with_scale(mantissa, scale).ok()
}

/// The calendar month (UTC) an instant falls in: Elastic bills monthly. `None` past
/// the end of the time scale.
pub(crate) fn billing_period(at: Timestamp) -> Option<(Timestamp, Timestamp)> {
    let date = at.to_zoned_datetime(TimeZone::UTC).date().first_of_month();
    let start = date.to_zoned_datetime(TimeZone::UTC).ok()?.timestamp();
    let end = date
        .last_of_month()
        .tomorrow()
        .ok()?
        .to_zoned_datetime(TimeZone::UTC)
        .ok()?
        .timestamp();
    Some((start, end))
}

/// A DTS line's unit as FOCUS spells units (its UnitFormat: `GB`, `GB-Months`,
/// `Requests`): the unit its rate is written per (`0.03 per GB-day`), or, when the rate
/// names none (a CSV answer), the unit its usage type is priced in. `Err` when neither
/// places it: a unit is never guessed.
pub(crate) fn dts_unit(
    kind: &str,
    rate_formatted: Option<&str>,
) -> std::result::Result<&'static str, String> {
    let written = rate_formatted
        .and_then(|text| text.split_once(" per ").or_else(|| text.split_once('/')))
        .map(|(_, unit)| unit.trim().to_ascii_lowercase())
        .filter(|unit| !unit.is_empty());
    if let Some(unit) = &written {
        let unit = unit.replace([' ', '_'], "-");
        let (size, time) = match unit.split_once('-') {
            Some((size, time)) => (size, Some(time.trim_end_matches('s'))),
            None => (unit.as_str(), None),
        };
        let size = match size {
            "b" | "byte" | "bytes" => Some("B"),
            "kb" => Some("KB"),
            "mb" => Some("MB"),
            "gb" => Some("GB"),
            "tb" => Some("TB"),
            "pb" => Some("PB"),
            "kib" => Some("KiB"),
            "mib" => Some("MiB"),
            "gib" => Some("GiB"),
            "tib" => Some("TiB"),
            _ => None,
        };
        let placed = match (size, time) {
            (Some(size), None) => Some(size),
            (Some("GB"), Some("hour")) => Some("GB-Hours"),
            (Some("GB"), Some("day")) => Some("GB-Days"),
            (Some("GB"), Some("month")) => Some("GB-Months"),
            (Some("TB"), Some("month")) => Some("TB-Months"),
            (None, _)
                if matches!(
                    unit.trim_end_matches('s'),
                    "request" | "api-request" | "api-call" | "call" | "operation"
                ) =>
            {
                Some("Requests")
            }
            _ => None,
        };
        return placed.ok_or_else(|| {
            format!(
                "its rate's unit \"{}\" is not one the FOCUS mapping places",
                ec_billing::text::escape(rate_formatted.unwrap_or_default()).truncate(48)
            )
        });
    }
    match kind {
        kind if kind.starts_with("data_") => Ok("GB"),
        "storage_bytes" => Ok("GB-Months"),
        "storage_api" => Ok("Requests"),
        other => Err(format!(
            "its rate names no unit, and its usage type \"{}\" is not one the FOCUS mapping \
             places",
            ec_billing::text::escape(other).truncate(48)
        )),
    }
}
