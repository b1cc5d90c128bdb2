//! The public data: itemized costs and charts with exact decimal money, how they are
//! converted from the wire, and how per-window results merge into one for a range.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    fmt,
};

use ec_billing_api::types as wire;
pub use ec_billing_api::{Dimension, ResourceKind};
use jiff::Timestamp;
use rust_decimal::Decimal;

use crate::{
    error::{DecodeError, Error, OverflowError, RequestContext},
    text::quoted,
    time::{Bucketing, Window, bucket_start, chart_timestamp},
};

/// Itemized costs of a deployment over a window or a whole range, in ECU.
///
/// The same type comes out of JSON and CSV responses.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
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
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Costs {
    /// The total cost in ECU.
    #[cfg_attr(feature = "serde", serde(with = "crate::serde_text::money"))]
    pub total: Decimal,
    /// The cost of each billing dimension, in the order first seen.
    pub dimensions: Vec<DimensionCost>,
}

/// The cost of one billing dimension.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct DimensionCost {
    /// The dimension.
    pub dimension: Dimension,
    /// Its cost in ECU.
    #[cfg_attr(feature = "serde", serde(with = "crate::serde_text::money"))]
    pub cost: Decimal,
}

/// The cost of one resource over one period.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
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
    #[cfg_attr(feature = "serde", serde(with = "crate::serde_text::money"))]
    pub cost: Decimal,
    /// The price per hour in ECU.
    #[cfg_attr(feature = "serde", serde(with = "crate::serde_text::money"))]
    pub price_per_hour: Decimal,
    /// Columns of a CSV response that this type does not name, by header. Empty for JSON.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Extra::is_empty")
    )]
    pub extra: Extra,
}

/// The columns of a CSV line that its type does not name, by header: a map that is
/// empty for every JSON line, and takes one pointer's room until it is not.
///
/// ```
/// let extra: ec_billing::Extra = [("Region".to_string(), "us-central1".to_string())].into_iter().collect();
/// assert_eq!(extra.get("Region"), Some("us-central1"));
/// assert_eq!(extra.get("Zone"), None);
/// assert!(ec_billing::Extra::default().is_empty());
/// ```
#[derive(Clone, Debug, Default)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(from = "BTreeMap<String, String>", into = "BTreeMap<String, String>")
)]
#[allow(
    clippy::box_collection,
    reason = "one pointer's room for a map that is empty for nearly every line"
)]
pub struct Extra(Option<Box<BTreeMap<String, String>>>);

impl PartialEq for Extra {
    /// The same columns with the same values.
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for Extra {}

impl Extra {
    /// The value of the column headed `header`.
    pub fn get(&self, header: &str) -> Option<&str> {
        self.0.as_ref()?.get(header).map(String::as_str)
    }

    /// Takes the value of the column headed `header` out.
    pub fn remove(&mut self, header: &str) -> Option<String> {
        let map = self.0.as_mut()?;
        let value = map.remove(header);
        if map.is_empty() {
            self.0 = None;
        }
        value
    }

    /// Every column, by header in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0
            .iter()
            .flat_map(|map| map.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    }

    /// How many columns there are.
    pub fn len(&self) -> usize {
        self.0.as_ref().map_or(0, |map| map.len())
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The columns as a map.
    pub fn to_map(&self) -> BTreeMap<String, String> {
        self.0.as_deref().cloned().unwrap_or_default()
    }
}

impl From<Extra> for BTreeMap<String, String> {
    fn from(extra: Extra) -> Self {
        extra.0.map(|map| *map).unwrap_or_default()
    }
}

impl From<BTreeMap<String, String>> for Extra {
    fn from(map: BTreeMap<String, String>) -> Self {
        Self((!map.is_empty()).then(|| Box::new(map)))
    }
}

impl FromIterator<(String, String)> for Extra {
    fn from_iter<I: IntoIterator<Item = (String, String)>>(columns: I) -> Self {
        Self::from(columns.into_iter().collect::<BTreeMap<_, _>>())
    }
}

/// A span of time a line covers, as the API reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Period {
    /// Start.
    pub start: Timestamp,
    /// End.
    pub end: Timestamp,
}

/// The cost of one data-transfer-and-storage dimension.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
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
    #[cfg_attr(feature = "serde", serde(with = "crate::serde_text::money"))]
    pub cost: Decimal,
    /// Columns of a CSV response that this type does not name, by header. Empty for JSON.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Extra::is_empty")
    )]
    pub extra: Extra,
}

/// A DTS usage quantity: exact (fractional quantities are kept), and as the API
/// formats it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Quantity {
    /// The raw quantity.
    #[cfg_attr(feature = "serde", serde(with = "crate::serde_text::money"))]
    pub value: Decimal,
    /// The human-readable quantity, e.g. `1,363.9 GB`.
    pub formatted: String,
}

/// A DTS rate: exact, and as the API formats it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Rate {
    /// The raw rate in ECU per unit.
    #[cfg_attr(feature = "serde", serde(with = "crate::serde_text::money"))]
    pub value: Decimal,
    /// The human-readable rate, e.g. `0.03 per GB`.
    pub formatted: String,
}

/// Usage charts of a deployment: buckets in time order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Charts {
    /// The buckets, in time order, one per timestamp.
    pub buckets: Vec<ChartBucket>,
}

/// One point of the chart's X axis.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ChartBucket {
    /// The bucket's instant, UTC.
    pub timestamp: Timestamp,
    /// The values plotted at it.
    pub values: Vec<ChartValue>,
}

/// One value of a bucket.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ChartValue {
    /// The series id.
    pub id: String,
    /// The series name.
    pub name: String,
    /// The value, exact.
    #[cfg_attr(feature = "serde", serde(with = "crate::serde_text::money"))]
    pub value: Decimal,
}

/// The result of one window.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct WindowResult<T> {
    /// The window fetched.
    pub window: Window,
    /// What it returned.
    pub value: T,
}

impl From<wire::ItemCosts> for ResourceLine {
    /// A decoded JSON resource line; its numbers are already exact.
    fn from(r: wire::ItemCosts) -> Self {
        ResourceLine {
            kind: r.kind,
            name: r.name,
            sku: r.sku,
            hours: r.hours,
            instance_count: r.instance_count,
            period: Period {
                start: r.period.start,
                end: r.period.end,
            },
            cost: r.price.into(),
            price_per_hour: r.price_per_hour.into(),
            extra: Extra::default(),
        }
    }
}

impl From<wire::DtsDimensionCosts> for DtsLine {
    /// A decoded JSON data-transfer-and-storage line; its numbers are already exact.
    fn from(d: wire::DtsDimensionCosts) -> Self {
        DtsLine {
            name: d.name,
            sku: d.sku,
            usage_type: d.type_,
            quantity: Quantity {
                value: Decimal::from(d.quantity.value),
                formatted: d.quantity.formatted_value,
            },
            rate: Rate {
                value: d.rate.value.into(),
                formatted: d.rate.formatted_value,
            },
            cost: d.cost.into(),
            extra: Extra::default(),
        }
    }
}

impl From<wire::Costs> for Costs {
    /// Decoded JSON costs; their numbers are already exact.
    fn from(costs: wire::Costs) -> Self {
        Costs {
            total: costs.total.into(),
            dimensions: costs
                .dimensions
                .into_iter()
                .map(|d| DimensionCost {
                    dimension: d.type_,
                    cost: d.cost.into(),
                })
                .collect(),
        }
    }
}

impl From<wire::ItemsCosts> for Items {
    /// The decoded JSON answer in this crate's types; every number is already exact.
    fn from(items: wire::ItemsCosts) -> Self {
        Self {
            costs: items.costs.into(),
            resources: items.resources.into_iter().map(Into::into).collect(),
            data_transfer_and_storage: items
                .data_transfer_and_storage
                .into_iter()
                .map(Into::into)
                .collect(),
        }
    }
}

/// An items answer decoded in one pass: each line is decoded as the generated type and
/// converted on the spot, so that no second vector of lines is built.
#[derive(serde::Deserialize)]
struct ItemsAnswer {
    costs: wire::Costs,
    #[serde(deserialize_with = "converted::<_, wire::DtsDimensionCosts, _>")]
    data_transfer_and_storage: Vec<DtsLine>,
    #[serde(deserialize_with = "converted::<_, wire::ItemCosts, _>")]
    resources: Vec<ResourceLine>,
}

/// A JSON array of `W`s, each converted to a `T` as soon as it is decoded.
fn converted<'de, D, W, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    W: serde::Deserialize<'de>,
    T: From<W>,
{
    struct Lines<W, T>(std::marker::PhantomData<(W, T)>);

    impl<'de, W: serde::Deserialize<'de>, T: From<W>> serde::de::Visitor<'de> for Lines<W, T> {
        type Value = Vec<T>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an array of lines")
        }

        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
            let mut lines = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
            while let Some(line) = seq.next_element::<W>()? {
                lines.push(T::from(line));
            }
            Ok(lines)
        }
    }

    deserializer.deserialize_seq(Lines(std::marker::PhantomData))
}

impl Items {
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
    /// [`Error::Decode`] when the body is not the documented JSON, or a number has more
    /// digits than an exact decimal holds; the error names the field
    /// (`resources[3].price: ...`).
    pub fn from_json(json: &[u8]) -> Result<Items, Error> {
        let answer = decode_json::<ItemsAnswer>(json).map_err(|cause| decode_error(None, cause))?;
        Ok(Items {
            costs: answer.costs.into(),
            resources: answer.resources,
            data_transfer_and_storage: answer.data_transfer_and_storage,
        })
    }

    /// Merges per-window results, in window order: lines concatenated, the total and
    /// each dimension's cost summed exactly.
    ///
    /// # Errors
    ///
    /// [`Error::Overflow`] naming the window whose part made a sum too large for an
    /// exact decimal.
    pub fn merge(parts: impl IntoIterator<Item = WindowResult<Items>>) -> Result<Items, Error> {
        let mut merged = Items::default();
        let mut costs = CostsSum::default();
        for part in parts {
            costs
                .add(part.value.costs)
                .map_err(|overflow| overflow.in_window(part.window))?;
            merged.resources.extend(part.value.resources);
            merged
                .data_transfer_and_storage
                .extend(part.value.data_transfer_and_storage);
        }
        merged.costs = costs.into_costs();
        Ok(merged)
    }
}

/// Up to how many dimensions [`CostsSum`] looks a dimension up by comparing each.
const FEW_DIMENSIONS: usize = 8;

/// Costs summed exactly, dimensions in the order first seen, each found through an
/// index: adding one is as quick with 10^5 dimensions (their names chosen by the
/// server) as with six.
#[derive(Debug, Default)]
pub(crate) struct CostsSum {
    costs: Costs,
    /// Where each dimension is in `costs.dimensions`.
    index: HashMap<Dimension, usize>,
}

impl CostsSum {
    /// Adds `other`'s total and dimensions, exactly.
    pub(crate) fn add(&mut self, other: Costs) -> Result<(), OverflowError> {
        self.costs.total = self
            .costs
            .total
            .checked_add(other.total)
            .ok_or_else(|| OverflowError::new("costs.total"))?;
        for d in other.dimensions {
            self.add_dimension(d.dimension, d.cost)?;
        }
        Ok(())
    }

    /// Adds `cost` to `dimension`, appending it when first seen (the total is left as
    /// it is); returns where the dimension is, for [`add_at`](Self::add_at).
    pub(crate) fn add_dimension(
        &mut self,
        dimension: Dimension,
        cost: Decimal,
    ) -> Result<usize, OverflowError> {
        let dimensions = &mut self.costs.dimensions;
        // A few dimensions (the documented six) are quicker found by looking than by
        // hashing; the index serves many.
        let at = if dimensions.len() <= FEW_DIMENSIONS {
            dimensions.iter().position(|d| d.dimension == dimension)
        } else {
            self.index.get(&dimension).copied()
        };
        match at {
            Some(at) => {
                self.add_at(at, cost)?;
                Ok(at)
            }
            None => {
                let at = dimensions.len();
                self.index.insert(dimension.clone(), at);
                dimensions.push(DimensionCost { dimension, cost });
                Ok(at)
            }
        }
    }

    /// Adds `cost` to the dimension at `at`, as [`add_dimension`](Self::add_dimension)
    /// returned it.
    #[inline]
    pub(crate) fn add_at(&mut self, at: usize, cost: Decimal) -> Result<(), OverflowError> {
        // `at` comes from `add_dimension`, and dimensions are never removed: it is
        // always in range.
        let Some(existing) = self.costs.dimensions.get_mut(at) else {
            return Ok(());
        };
        existing.cost = existing.cost.checked_add(cost).ok_or_else(|| {
            OverflowError::new(format!(
                "costs of dimension \"{}\"",
                quoted(existing.dimension.as_str())
            ))
        })?;
        Ok(())
    }

    /// The costs summed so far.
    pub(crate) fn costs(&self) -> &Costs {
        &self.costs
    }

    pub(crate) fn into_costs(self) -> Costs {
        self.costs
    }
}

/// Decodes a JSON document into `T`; on failure, decodes it again to name the field
/// that failed (`resources[3].price: number ...`), which costs nothing on success.
pub(crate) fn decode_json<T: serde::de::DeserializeOwned>(
    json: &[u8],
) -> Result<T, Box<dyn std::error::Error + Send + Sync>> {
    serde_json::from_slice(json).map_err(|_| json_field_error::<T>(json))
}

/// The error of decoding `json` as `T`, naming the path of the field at fault.
pub(crate) fn json_field_error<T: serde::de::DeserializeOwned>(
    json: &[u8],
) -> Box<dyn std::error::Error + Send + Sync> {
    let deserializer = &mut serde_json::Deserializer::from_slice(json);
    match serde_path_to_error::deserialize::<_, T>(deserializer) {
        Err(err) => {
            // An exact number is read through serde_json's raw-value entry, which the
            // path would name: it is not part of the document.
            let path = err
                .path()
                .to_string()
                .replace(".$serde_json::private::RawValue", "");
            Box::new(FieldError {
                path,
                source: err.into_inner(),
            })
        }
        Ok(_) => "the document decoded on a second try".into(),
    }
}

/// A JSON document that did not decode, with the path of the field at fault.
#[derive(Debug)]
pub(crate) struct FieldError {
    path: String,
    source: serde_json::Error,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.source)
    }
}

impl std::error::Error for FieldError {}

/// A document that did not decode, outside of any request or in one.
pub(crate) fn decode_error(
    request: Option<&RequestContext>,
    source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
) -> Error {
    DecodeError {
        request: request.cloned(),
        format: crate::format::Format::Json,
        source: source.into(),
    }
    .into()
}

/// Why a charts answer cannot be taken as it is.
#[derive(Debug)]
pub(crate) struct ChartsProblem(String);

impl fmt::Display for ChartsProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ChartsProblem {}

impl Charts {
    /// The decoded JSON answer with timestamps as UTC instants (below 10^11 epoch
    /// seconds, else epoch milliseconds), buckets in time order.
    ///
    /// A timestamp out of the time scale, one that two buckets of the answer share, or
    /// an id that two values of one bucket share, is refused: summing them silently
    /// could count a value twice.
    pub(crate) fn from_wire(charts: wire::ChartItems) -> Result<Self, ChartsProblem> {
        let mut buckets = Vec::with_capacity(charts.data.len());
        for item in charts.data {
            let timestamp = chart_timestamp(item.timestamp).ok_or_else(|| {
                ChartsProblem(format!(
                    "chart timestamp {} is outside the time scale",
                    item.timestamp
                ))
            })?;
            let values: Vec<ChartValue> = item
                .values
                .into_iter()
                .map(|v| ChartValue {
                    id: v.id,
                    name: v.name,
                    value: v.value.into(),
                })
                .collect();
            let mut seen = HashSet::with_capacity(values.len());
            if let Some(twice) = values.iter().find(|v| !seen.insert(v.id.as_str())) {
                return Err(ChartsProblem(format!(
                    "two values of the bucket at {timestamp} have the id \"{}\"",
                    quoted(&twice.id)
                )));
            }
            buckets.push(ChartBucket { timestamp, values });
        }
        buckets.sort_by_key(|b| b.timestamp);
        if let Some(pair) = buckets
            .windows(2)
            .find(|p| p[0].timestamp == p[1].timestamp)
        {
            return Err(ChartsProblem(format!(
                "two buckets of one answer have the timestamp {}",
                pair[0].timestamp
            )));
        }
        Ok(Self { buckets })
    }
}

impl Charts {
    /// Decodes a charts response body (JSON), exactly, with UTC timestamps.
    ///
    /// # Errors
    ///
    /// [`Error::Decode`] when the body is not the documented JSON, a number has more
    /// digits than an exact decimal holds, a timestamp is out of range, two buckets
    /// share a timestamp, or two values of one bucket share an id.
    pub fn from_json(json: &[u8]) -> Result<Charts, Error> {
        let wire = decode_json::<wire::ChartItems>(json).map_err(|e| decode_error(None, e))?;
        Charts::from_wire(wire).map_err(|e| decode_error(None, e))
    }

    /// Refuses a bucket outside `window`: before the start of the day (or month, with
    /// monthly buckets) the window starts in, or after its end. A bucket at the end
    /// itself is taken (upstream does not say whether `to` is inclusive); it merges
    /// with the next window's bucket of the same timestamp.
    pub(crate) fn check_within(
        &self,
        window: &Window,
        bucketing: Bucketing,
    ) -> Result<(), ChartsProblem> {
        let earliest = bucket_start(window.from(), bucketing);
        match self
            .buckets
            .iter()
            .find(|b| earliest.is_some_and(|e| b.timestamp < e) || b.timestamp > window.to())
        {
            Some(bucket) => Err(ChartsProblem(format!(
                "a bucket at {} is outside the requested window {window}",
                bucket.timestamp
            ))),
            None => Ok(()),
        }
    }

    /// Merges per-window results into buckets in time order. Buckets with the same
    /// timestamp (from adjacent windows) become one, summing values with the same `id`
    /// exactly.
    ///
    /// # Errors
    ///
    /// [`Error::Overflow`] naming the window whose value made a sum too large for an
    /// exact decimal.
    pub fn merge(parts: impl IntoIterator<Item = WindowResult<Charts>>) -> Result<Charts, Error> {
        // Each bucket's values in the order first seen, and where each id is among them.
        type Values = (Vec<ChartValue>, HashMap<String, usize>);
        let mut by_time: BTreeMap<Timestamp, Values> = BTreeMap::new();
        for part in parts {
            for bucket in part.value.buckets {
                let (values, index) = by_time.entry(bucket.timestamp).or_default();
                for value in bucket.values {
                    match index.get(&value.id).map(|&at| &mut values[at]) {
                        Some(existing) => {
                            existing.value =
                                existing.value.checked_add(value.value).ok_or_else(|| {
                                    OverflowError::new(format!(
                                        "chart value \"{}\" at {}",
                                        quoted(&value.id),
                                        bucket.timestamp
                                    ))
                                    .in_window(part.window)
                                })?;
                        }
                        None => {
                            index.insert(value.id.clone(), values.len());
                            values.push(value);
                        }
                    }
                }
            }
        }
        Ok(Charts {
            buckets: by_time
                .into_iter()
                .map(|(timestamp, (values, _))| ChartBucket { timestamp, values })
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::{DateRange, WindowSize};

    fn dec(text: &str) -> Decimal {
        text.parse().unwrap()
    }

    /// `parts` as the results of consecutive daily windows of January 2024.
    fn in_windows<T>(parts: impl IntoIterator<Item = T>) -> Vec<WindowResult<T>> {
        let days = DateRange::parse("2024-01-01", "2024-02-01")
            .unwrap()
            .windows(WindowSize::Day);
        parts
            .into_iter()
            .zip(days.cycle())
            .map(|(value, window)| WindowResult { window, value })
            .collect()
    }

    fn costs(total: &str) -> Items {
        Items {
            costs: Costs {
                total: dec(total),
                dimensions: vec![DimensionCost {
                    dimension: Dimension::Capacity,
                    cost: dec(total),
                }],
            },
            ..Items::default()
        }
    }

    #[test]
    fn summing_many_windows_is_exact_where_f64_drifts() {
        let merged = Items::merge(in_windows(std::iter::repeat_n(costs("0.1"), 1000))).unwrap();
        assert_eq!(merged.costs.total, dec("100"));
        assert_eq!(merged.costs.dimensions[0].cost, dec("100"));
        let drifting: f64 = std::iter::repeat_n(0.1f64, 1000).sum();
        assert_ne!(drifting, 100.0, "f64 would have drifted");
    }

    #[test]
    fn a_total_that_overflows_over_two_windows_is_an_error_naming_the_second() {
        let err = Items::merge(in_windows([costs("7e28"), costs("7e28")])).unwrap_err();
        let Error::Overflow(overflow) = &err else {
            panic!("{err:?}")
        };
        assert_eq!(overflow.what(), "costs.total");
        assert_eq!(
            overflow.window().unwrap().to_string(),
            "2024-01-02T00:00:00Z..2024-01-03T00:00:00Z"
        );
        assert!(!err.is_retryable());
    }

    #[test]
    fn same_timestamp_buckets_from_adjacent_windows_sum_by_id() {
        let at: Timestamp = "2024-02-01T00:00:00Z".parse().unwrap();
        let value = |id: &str, v: &str| ChartValue {
            id: id.into(),
            name: id.into(),
            value: dec(v),
        };
        let bucket = |values| Charts {
            buckets: vec![ChartBucket {
                timestamp: at,
                values,
            }],
        };
        let first = bucket(vec![value("a", "1.1"), value("b", "2")]);
        let second = bucket(vec![value("a", "0.2"), value("c", "3")]);
        let merged = Charts::merge(in_windows([first, second])).unwrap();
        assert_eq!(merged.buckets.len(), 1);
        assert_eq!(
            merged.buckets[0].values,
            [value("a", "1.3"), value("b", "2"), value("c", "3")]
        );

        let huge = || bucket(vec![value("a", "7e28")]);
        let err = Charts::merge(in_windows([huge(), huge()])).unwrap_err();
        assert!(matches!(err, Error::Overflow(_)), "{err:?}");
        assert!(err.to_string().contains("chart value \"a\""), "{err}");
    }

    #[test]
    fn a_timestamp_twice_in_one_charts_answer_is_refused() {
        let json = br#"{"data":[{"timestamp":1704067200,"values":[]},{"timestamp":1704067200000,"values":[]}]}"#;
        let err = Charts::from_json(json).unwrap_err();
        let cause = std::error::Error::source(&err).unwrap().to_string();
        assert!(cause.contains("two buckets"), "{cause}");
    }

    #[test]
    fn a_number_with_too_many_digits_names_its_field() {
        let json = br#"{"costs":{"total":1,"dimensions":[]},"data_transfer_and_storage":[],"resources":[{"hours":1,"instance_count":1,"kind":"kibana","name":"k","sku":"s","period":{"start":"2024-01-01T00:00:00Z","end":"2024-01-02T00:00:00Z"},"price":123456789012345.123456789012345,"price_per_hour":1}]}"#;
        let err = Items::from_json(json).unwrap_err();
        let cause = std::error::Error::source(&err).unwrap().to_string();
        assert!(
            cause.starts_with("resources[0].price: number 123456789012345.123456789012345"),
            "{cause}"
        );
    }
}
