//! The public data: itemized costs and charts with exact decimal money, how they are
//! converted from the wire, and how per-window results merge into one for a range.

use std::{collections::BTreeMap, fmt, str::FromStr};

use ec_billing_api::types as wire;
use jiff::Timestamp;
use rust_decimal::Decimal;

use crate::{
    error::{DecodeError, Error},
    time::{Window, chart_timestamp},
};

/// Itemized costs of a deployment over a window or a whole range, in ECU.
///
/// The same type comes out of JSON and CSV responses.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Items {
    /// The total and the per-dimension costs.
    pub costs: Costs,
    /// One line per resource (Elasticsearch, Kibana, ...) and period.
    pub resources: Vec<ResourceLine>,
    /// One line per data-transfer-and-storage (DTS) dimension.
    pub data_transfer_and_storage: Vec<DtsLine>,
}

/// A total and its split by billing dimension, exact.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Costs {
    /// The total cost in ECU.
    pub total: Decimal,
    /// The cost of each billing dimension, in the order first seen.
    pub dimensions: Vec<DimensionCost>,
}

/// The cost of one billing dimension.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DimensionCost {
    /// The dimension.
    pub dimension: Dimension,
    /// Its cost in ECU.
    pub cost: Decimal,
}

/// A billing dimension.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Dimension {
    /// `capacity`: the resources' running hours.
    Capacity,
    /// `data_in`.
    DataIn,
    /// `data_internode`.
    DataInternode,
    /// `data_out`.
    DataOut,
    /// `storage_api`: snapshot API requests.
    StorageApi,
    /// `storage_bytes`: snapshot storage.
    StorageBytes,
    /// A dimension upstream does not document, kept as its text.
    Other(String),
}

impl Dimension {
    /// Reads a dimension's wire name; never fails.
    pub fn parse(name: &str) -> Self {
        match name {
            "capacity" => Self::Capacity,
            "data_in" => Self::DataIn,
            "data_internode" => Self::DataInternode,
            "data_out" => Self::DataOut,
            "storage_api" => Self::StorageApi,
            "storage_bytes" => Self::StorageBytes,
            other => Self::Other(other.to_string()),
        }
    }

    /// The wire name.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Capacity => "capacity",
            Self::DataIn => "data_in",
            Self::DataInternode => "data_internode",
            Self::DataOut => "data_out",
            Self::StorageApi => "storage_api",
            Self::StorageBytes => "storage_bytes",
            Self::Other(name) => name,
        }
    }
}

impl fmt::Display for Dimension {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The kind of a resource.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ResourceKind {
    /// `elasticsearch`.
    Elasticsearch,
    /// `kibana`.
    Kibana,
    /// `apm`.
    Apm,
    /// `integrations_server`.
    IntegrationsServer,
    /// `appsearch`.
    Appsearch,
    /// `enterprise_search`.
    EnterpriseSearch,
    /// A kind upstream does not document, kept as its text.
    Other(String),
}

impl ResourceKind {
    /// Reads a kind's wire name; never fails.
    pub fn parse(name: &str) -> Self {
        match name {
            "elasticsearch" => Self::Elasticsearch,
            "kibana" => Self::Kibana,
            "apm" => Self::Apm,
            "integrations_server" => Self::IntegrationsServer,
            "appsearch" => Self::Appsearch,
            "enterprise_search" => Self::EnterpriseSearch,
            other => Self::Other(other.to_string()),
        }
    }

    /// The wire name.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Elasticsearch => "elasticsearch",
            Self::Kibana => "kibana",
            Self::Apm => "apm",
            Self::IntegrationsServer => "integrations_server",
            Self::Appsearch => "appsearch",
            Self::EnterpriseSearch => "enterprise_search",
            Self::Other(name) => name,
        }
    }
}

impl fmt::Display for ResourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The cost of one resource over one period.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceLine {
    /// The kind of resource.
    pub kind: ResourceKind,
    /// Its name, e.g. `GCP.ES.DATAHOT.N2.68X10X45 in us-central1 (8 GB RAM, 2 zones)`.
    pub name: String,
    /// Its stock keeping unit.
    pub sku: String,
    /// Hours of use.
    pub hours: i64,
    /// Number of instances.
    pub instance_count: i32,
    /// The period the line covers.
    pub period: Period,
    /// The cost in ECU (upstream's `price`).
    pub cost: Decimal,
    /// The price per hour in ECU.
    pub price_per_hour: Decimal,
    /// Columns of a CSV response that this type does not name, by header. Empty for JSON.
    pub extra: BTreeMap<String, String>,
}

/// A span of time a line covers, as the API reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Period {
    /// Start.
    pub start: Timestamp,
    /// End.
    pub end: Timestamp,
}

/// The cost of one data-transfer-and-storage dimension.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DtsLine {
    /// Its name, e.g. `Data out (GCP us-central1)`.
    pub name: String,
    /// Its stock keeping unit.
    pub sku: String,
    /// The type of usage, e.g. `data_out` (upstream's `type`).
    pub usage_type: String,
    /// The usage.
    pub quantity: Quantity,
    /// The cost per unit.
    pub rate: Rate,
    /// The cost in ECU.
    pub cost: Decimal,
    /// Columns of a CSV response that this type does not name, by header. Empty for JSON.
    pub extra: BTreeMap<String, String>,
}

/// A DTS usage quantity: exact (fractional quantities are kept), and as the API
/// formats it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Quantity {
    /// The raw quantity.
    pub value: Decimal,
    /// The human-readable quantity, e.g. `1,363.9 GB`.
    pub formatted: String,
}

/// A DTS rate: exact, and as the API formats it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rate {
    /// The raw rate in ECU per unit.
    pub value: Decimal,
    /// The human-readable rate, e.g. `0.03 per GB`.
    pub formatted: String,
}

/// Usage charts of a deployment: buckets in time order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Charts {
    /// The buckets, in time order, one per timestamp.
    pub buckets: Vec<ChartBucket>,
}

/// One point of the chart's X axis.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChartBucket {
    /// The bucket's instant, UTC.
    pub timestamp: Timestamp,
    /// The values plotted at it.
    pub values: Vec<ChartValue>,
}

/// One value of a bucket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChartValue {
    /// The series id.
    pub id: String,
    /// The series name.
    pub name: String,
    /// The value, exact.
    pub value: Decimal,
}

/// The result of one window.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WindowResult<T> {
    /// The window fetched.
    pub window: Window,
    /// What it returned.
    pub value: T,
}

/// A number from the wire that cannot be an exact decimal (too large or too small).
#[derive(Debug)]
pub(crate) struct NumberOutOfRange {
    pub(crate) field: &'static str,
    pub(crate) value: f64,
}

impl fmt::Display for NumberOutOfRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} does not fit an exact decimal",
            self.field, self.value
        )
    }
}

impl std::error::Error for NumberOutOfRange {}

/// The exact decimal a JSON number stood for.
///
/// The API's numbers are `double`s, printed by the server as the shortest text that
/// reads back as the same double. The shortest digits of the `f64` (Ryu) are that same
/// text, so `0.1301` on the wire becomes exactly `0.1301` here, not
/// `0.13009999999999999...`, for every number with at most 15 significant digits.
pub(crate) fn exact(field: &'static str, value: f64) -> Result<Decimal, NumberOutOfRange> {
    let out_of_range = || NumberOutOfRange { field, value };
    if !value.is_finite() {
        return Err(out_of_range());
    }
    let mut buffer = ryu::Buffer::new();
    let digits = buffer.format_finite(value);
    parse_decimal(digits).ok_or_else(out_of_range)
}

/// Parses decimal text (`-12.5`, `0.0011`, `1e-7`, `1.5E+3`) exactly.
///
/// Text of up to 18 significant digits is read without allocating; longer text goes
/// through `rust_decimal`'s own parser. Anything but digits, one `.`, a sign and an
/// exponent is refused (no `_`, no `,`, no spaces), as is a value beyond 28 decimal
/// places or 96 bits.
pub(crate) fn parse_decimal(text: &str) -> Option<Decimal> {
    fast_decimal(text.as_bytes()).or_else(|| {
        let plain = !text.is_empty()
            && text
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'.' | b'-' | b'+' | b'e' | b'E'));
        if !plain {
            return None;
        }
        Decimal::from_str(text)
            .or_else(|_| Decimal::from_scientific(text))
            .ok()
    })
}

/// The allocation-free path of [`parse_decimal`]: `None` when the text is not plain
/// decimal text of at most 18 significant digits.
fn fast_decimal(text: &[u8]) -> Option<Decimal> {
    let (negative, body) = match text.first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let mut mantissa: u64 = 0;
    let mut significant = 0u32;
    let mut scale: i32 = 0;
    let mut dot = false;
    let mut any_digit = false;
    let mut rest = body;
    while let Some((&byte, tail)) = rest.split_first() {
        match byte {
            b'0'..=b'9' => {
                if mantissa != 0 || byte != b'0' {
                    significant += 1;
                }
                if significant > 18 {
                    return None;
                }
                mantissa = mantissa * 10 + u64::from(byte - b'0');
                scale += i32::from(dot);
                any_digit = true;
            }
            b'.' if !dot => dot = true,
            b'e' | b'E' => {
                scale -= exponent(tail)?;
                rest = &[];
                break;
            }
            _ => return None,
        }
        rest = tail;
    }
    debug_assert!(rest.is_empty());
    if !any_digit {
        return None;
    }
    while scale < 0 {
        mantissa = mantissa
            .checked_mul(10)
            .filter(|m| *m < 1_000_000_000_000_000_000)?;
        scale += 1;
    }
    let mut value =
        Decimal::try_new(i64::try_from(mantissa).ok()?, u32::try_from(scale).ok()?).ok()?;
    value.set_sign_negative(negative && mantissa != 0);
    Some(value)
}

/// The exponent after an `e`: an optional sign and one to three digits.
fn exponent(text: &[u8]) -> Option<i32> {
    let (sign, digits) = match text.first()? {
        b'-' => (-1, &text[1..]),
        b'+' => (1, &text[1..]),
        _ => (1, text),
    };
    if digits.is_empty() || digits.len() > 3 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let value = digits
        .iter()
        .fold(0i32, |v, d| v * 10 + i32::from(d - b'0'));
    Some(sign * value)
}

impl Items {
    /// Converts a decoded JSON response, exactly.
    pub(crate) fn from_wire(items: wire::ItemsCosts) -> Result<Self, NumberOutOfRange> {
        let dimensions = convert_all(items.costs.dimensions, |d| {
            Ok(DimensionCost {
                dimension: Dimension::parse(&d.type_),
                cost: exact("costs.dimensions[].cost", d.cost)?,
            })
        })?;
        let resources = convert_all(items.resources, |r| {
            Ok(ResourceLine {
                kind: ResourceKind::parse(&r.kind),
                name: r.name,
                sku: r.sku,
                hours: r.hours,
                instance_count: r.instance_count,
                period: Period {
                    start: r.period.start,
                    end: r.period.end,
                },
                cost: exact("resources[].price", r.price)?,
                price_per_hour: exact("resources[].price_per_hour", r.price_per_hour)?,
                extra: BTreeMap::new(),
            })
        })?;
        let data_transfer_and_storage = convert_all(items.data_transfer_and_storage, |d| {
            Ok(DtsLine {
                name: d.name,
                sku: d.sku,
                usage_type: d.type_,
                quantity: Quantity {
                    value: Decimal::from(d.quantity.value),
                    formatted: d.quantity.formatted_value,
                },
                rate: Rate {
                    value: exact("data_transfer_and_storage[].rate.value", d.rate.value)?,
                    formatted: d.rate.formatted_value,
                },
                cost: exact("data_transfer_and_storage[].cost", d.cost)?,
                extra: BTreeMap::new(),
            })
        })?;
        Ok(Self {
            costs: Costs {
                total: exact("costs.total", items.costs.total)?,
                dimensions,
            },
            resources,
            data_transfer_and_storage,
        })
    }

    /// Decodes an items response body (JSON), exactly, e.g. one saved to a file.
    ///
    /// ```
    /// let json = br#"{"costs":{"total":0.1301,"dimensions":[]},"resources":[],"data_transfer_and_storage":[]}"#;
    /// let items = ec_billing::Items::from_json(json)?;
    /// assert_eq!(items.costs.total.to_string(), "0.1301");
    /// # Ok::<(), ec_billing::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Decode`] when the body is not the documented JSON, or a number does not
    /// fit an exact decimal.
    pub fn from_json(json: &[u8]) -> Result<Items, Error> {
        let wire: wire::ItemsCosts = serde_json::from_slice(json).map_err(json_error)?;
        Items::from_wire(wire).map_err(json_error)
    }

    /// Merges per-window results, in window order: lines concatenated, the total and
    /// each dimension's cost summed exactly.
    pub fn merge(parts: impl IntoIterator<Item = Items>) -> Items {
        let mut merged = Items::default();
        for part in parts {
            merged.costs.total += part.costs.total;
            for d in part.costs.dimensions {
                add_dimension(&mut merged.costs.dimensions, d.dimension, d.cost);
            }
            merged.resources.extend(part.resources);
            merged
                .data_transfer_and_storage
                .extend(part.data_transfer_and_storage);
        }
        merged
    }
}

/// Converts every element, into a vector allocated once (collecting into a `Result`
/// cannot know the length, and would grow and copy as it goes).
fn convert_all<T, U, E>(
    from: Vec<T>,
    mut convert: impl FnMut(T) -> Result<U, E>,
) -> Result<Vec<U>, E> {
    let mut converted = Vec::with_capacity(from.len());
    for element in from {
        converted.push(convert(element)?);
    }
    Ok(converted)
}

/// A JSON document that did not decode, outside of any request.
fn json_error(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Error {
    DecodeError {
        request: None,
        format: "JSON",
        source: source.into(),
    }
    .into()
}

/// Adds `cost` to `dimension` in `dimensions`, appending it when first seen.
pub(crate) fn add_dimension(
    dimensions: &mut Vec<DimensionCost>,
    dimension: Dimension,
    cost: Decimal,
) {
    match dimensions.iter_mut().find(|d| d.dimension == dimension) {
        Some(existing) => existing.cost += cost,
        None => dimensions.push(DimensionCost { dimension, cost }),
    }
}

impl Charts {
    /// Converts a decoded JSON response, exactly, with timestamps as UTC instants.
    pub(crate) fn from_wire(charts: wire::ChartItems) -> Result<Self, NumberOutOfRange> {
        let mut buckets = convert_all(charts.data, |item| {
            let timestamp = chart_timestamp(item.timestamp).ok_or(NumberOutOfRange {
                field: "data[].timestamp",
                value: item.timestamp as f64,
            })?;
            let values = item
                .values
                .into_iter()
                .map(|v| {
                    Ok(ChartValue {
                        id: v.id,
                        name: v.name,
                        value: exact("data[].values[].value", v.value)?,
                    })
                })
                .collect::<Result<_, _>>()?;
            Ok(ChartBucket { timestamp, values })
        })?;
        buckets.sort_by_key(|b| b.timestamp);
        Ok(Self { buckets })
    }

    /// Decodes a charts response body (JSON), exactly, with UTC timestamps.
    ///
    /// # Errors
    ///
    /// [`Error::Decode`] when the body is not the documented JSON, or a value or
    /// timestamp is out of range.
    pub fn from_json(json: &[u8]) -> Result<Charts, Error> {
        let wire: wire::ChartItems = serde_json::from_slice(json).map_err(json_error)?;
        Charts::from_wire(wire).map_err(json_error)
    }

    /// Merges per-window results into buckets in time order. Buckets with the same
    /// timestamp (from adjacent windows) become one, summing values with the same `id`.
    pub fn merge(parts: impl IntoIterator<Item = Charts>) -> Charts {
        let mut by_time: BTreeMap<Timestamp, Vec<ChartValue>> = BTreeMap::new();
        for bucket in parts.into_iter().flat_map(|c| c.buckets) {
            let values = by_time.entry(bucket.timestamp).or_default();
            for value in bucket.values {
                match values.iter_mut().find(|v| v.id == value.id) {
                    Some(existing) => existing.value += value.value,
                    None => values.push(value),
                }
            }
        }
        Charts {
            buckets: by_time
                .into_iter()
                .map(|(timestamp, values)| ChartBucket { timestamp, values })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(text: &str) -> Decimal {
        text.parse().unwrap()
    }

    #[test]
    fn decimal_text_parses_exactly_with_or_without_the_fast_path() {
        for text in [
            "0",
            "-0",
            "12.5",
            "-12.5",
            "+3",
            ".5",
            "0.0011",
            "1e-7",
            "1.5E+3",
            "42.0",
            "1234567890.12345678",
            "12345678901234567890.5",
        ] {
            let expected = Decimal::from_str(text)
                .or_else(|_| Decimal::from_scientific(text))
                .unwrap();
            assert_eq!(parse_decimal(text), Some(expected), "{text}");
        }
        for bad in [
            "", "-", ".", "1,5", "1_000", "12,x", " 1", "1e", "1e1000", "e5", "1.2.3", "NaN", "inf",
        ] {
            assert_eq!(parse_decimal(bad), None, "{bad}");
        }
    }

    #[test]
    fn wire_numbers_become_the_exact_decimals_they_were_written_as() {
        for text in [
            "0.1301",
            "1234.5678",
            "0.00005",
            "0.1198891",
            "42",
            "0",
            "1e-7",
            "123456789012.345",
        ] {
            let value: f64 = text.parse().unwrap();
            let expected = Decimal::from_scientific(text)
                .or_else(|_| text.parse())
                .unwrap();
            assert_eq!(exact("x", value).unwrap(), expected, "{text}");
        }
        assert!(exact("x", 1e300).is_err());
    }

    #[test]
    fn summing_many_windows_is_exact_where_f64_drifts() {
        let part = Items {
            costs: Costs {
                total: dec("0.1"),
                dimensions: vec![DimensionCost {
                    dimension: Dimension::Capacity,
                    cost: dec("0.1"),
                }],
            },
            ..Items::default()
        };
        let merged = Items::merge(std::iter::repeat_n(part, 1000));
        assert_eq!(merged.costs.total, dec("100"));
        assert_eq!(merged.costs.dimensions[0].cost, dec("100"));
        let drifting: f64 = std::iter::repeat_n(0.1f64, 1000).sum();
        assert_ne!(drifting, 100.0, "f64 would have drifted");
    }

    #[test]
    fn same_timestamp_buckets_from_adjacent_windows_sum_by_id() {
        let at: Timestamp = "2024-02-01T00:00:00Z".parse().unwrap();
        let value = |id: &str, v: &str| ChartValue {
            id: id.into(),
            name: id.into(),
            value: dec(v),
        };
        let first = Charts {
            buckets: vec![ChartBucket {
                timestamp: at,
                values: vec![value("a", "1.1"), value("b", "2")],
            }],
        };
        let second = Charts {
            buckets: vec![ChartBucket {
                timestamp: at,
                values: vec![value("a", "0.2"), value("c", "3")],
            }],
        };
        let merged = Charts::merge([first, second]);
        assert_eq!(merged.buckets.len(), 1);
        assert_eq!(
            merged.buckets[0].values,
            [value("a", "1.3"), value("b", "2"), value("c", "3")]
        );
    }
}
