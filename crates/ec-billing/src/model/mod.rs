//! The public data: itemized costs and charts with exact decimal money. How they are
//! converted from the wire and decoded is in `wire`; how per-window results merge
//! into one for a range, in `merge`; how they serialize, in `serde_text`.

mod merge;
mod serde_text;
#[cfg(test)]
mod tests;
mod wire;

use std::collections::BTreeMap;

pub use ec_billing_api::{Dimension, ResourceKind};
use jiff::Timestamp;
use rust_decimal::Decimal;

pub(crate) use merge::CostsSum;
pub(crate) use wire::{decode_error, json_field_error};

use crate::time::Window;

/// Itemized costs of a deployment over a window or a whole range, in ECU.
///
/// The same type comes out of JSON and CSV responses.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
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
#[non_exhaustive]
pub struct Costs {
    /// The total cost in ECU.
    #[cfg_attr(feature = "serde", serde(with = "serde_text::money"))]
    pub total: Decimal,
    /// The cost of each billing dimension, in the order first seen.
    pub dimensions: Vec<DimensionCost>,
}

/// The cost of one billing dimension.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct DimensionCost {
    /// The dimension.
    pub dimension: Dimension,
    /// Its cost in ECU.
    #[cfg_attr(feature = "serde", serde(with = "serde_text::money"))]
    pub cost: Decimal,
}

/// The cost of one resource over one period.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
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
    #[cfg_attr(feature = "serde", serde(with = "serde_text::money"))]
    pub cost: Decimal,
    /// The price per hour in ECU.
    #[cfg_attr(feature = "serde", serde(with = "serde_text::money"))]
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
#[non_exhaustive]
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
    #[cfg_attr(feature = "serde", serde(with = "serde_text::money"))]
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
    #[cfg_attr(feature = "serde", serde(with = "serde_text::money"))]
    pub value: Decimal,
    /// The human-readable quantity, e.g. `1,363.9 GB`.
    pub formatted: String,
}

/// A DTS rate: exact, and as the API formats it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Rate {
    /// The raw rate in ECU per unit.
    #[cfg_attr(feature = "serde", serde(with = "serde_text::money"))]
    pub value: Decimal,
    /// The human-readable rate, e.g. `0.03 per GB`.
    pub formatted: String,
}

/// Usage charts of a deployment: buckets in time order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct Charts {
    /// The buckets, in time order, one per timestamp.
    pub buckets: Vec<ChartBucket>,
}

/// One point of the chart's X axis.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct ChartBucket {
    /// The bucket's instant, UTC.
    pub timestamp: Timestamp,
    /// The values plotted at it.
    pub values: Vec<ChartValue>,
}

/// One value of a bucket.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct ChartValue {
    /// The series id.
    pub id: String,
    /// The series name.
    pub name: String,
    /// The value, exact.
    #[cfg_attr(feature = "serde", serde(with = "serde_text::money"))]
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

impl Items {
    /// Items from their parts: a caller's own (a test, a mock, a simulator).
    ///
    /// ```
    /// use ec_billing::{Costs, Items};
    ///
    /// let items = Items::new(Costs::new("1.25".parse()?, vec![]), vec![], vec![]);
    /// assert_eq!(items.costs.total.to_string(), "1.25");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(
        costs: Costs,
        resources: Vec<ResourceLine>,
        data_transfer_and_storage: Vec<DtsLine>,
    ) -> Self {
        Self {
            costs,
            resources,
            data_transfer_and_storage,
        }
    }
}

impl Costs {
    /// A total and its split by dimension.
    pub fn new(total: Decimal, dimensions: Vec<DimensionCost>) -> Self {
        Self { total, dimensions }
    }
}

impl DimensionCost {
    /// The cost of one dimension.
    pub fn new(dimension: Dimension, cost: Decimal) -> Self {
        Self { dimension, cost }
    }
}

impl ResourceLine {
    /// A resource line of `kind` over `period` costing `cost`; its name and SKU empty,
    /// its hours, instance count and price per hour zero, until set (the fields are
    /// public).
    ///
    /// ```
    /// use ec_billing::{Period, ResourceKind, ResourceLine};
    ///
    /// let period = Period {
    ///     start: "2024-01-01T00:00:00Z".parse()?,
    ///     end: "2024-02-01T00:00:00Z".parse()?,
    /// };
    /// let mut line = ResourceLine::new(ResourceKind::Elasticsearch, period, "1011.84".parse()?);
    /// line.hours = 744;
    /// assert_eq!(line.cost.to_string(), "1011.84");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(kind: ResourceKind, period: Period, cost: Decimal) -> Self {
        Self {
            kind,
            name: String::new(),
            sku: String::new(),
            hours: 0,
            instance_count: 0,
            period,
            cost,
            price_per_hour: Decimal::ZERO,
            extra: Extra::default(),
        }
    }
}

impl DtsLine {
    /// A data-transfer-and-storage line of `usage_type` costing `cost`; its name and
    /// SKU empty, its quantity and rate zero, until set (the fields are public).
    pub fn new(usage_type: impl Into<String>, cost: Decimal) -> Self {
        Self {
            name: String::new(),
            sku: String::new(),
            usage_type: usage_type.into(),
            quantity: Quantity {
                value: Decimal::ZERO,
                formatted: String::new(),
            },
            rate: Rate {
                value: Decimal::ZERO,
                formatted: String::new(),
            },
            cost,
            extra: Extra::default(),
        }
    }
}

impl Charts {
    /// Charts from their buckets, in time order.
    pub fn new(buckets: Vec<ChartBucket>) -> Self {
        Self { buckets }
    }
}

impl ChartBucket {
    /// One bucket of the X axis.
    pub fn new(timestamp: Timestamp, values: Vec<ChartValue>) -> Self {
        Self { timestamp, values }
    }
}

impl ChartValue {
    /// One value of a bucket.
    pub fn new(id: impl Into<String>, name: impl Into<String>, value: Decimal) -> Self {
        Self {
            id: id.into(),
            name: name.into(),
            value,
        }
    }
}
