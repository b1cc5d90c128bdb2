//! The public data from the wire: the generated types converted (their exact numbers
//! moved, not parsed again), JSON decoded in one pass with the failing field named.

use std::{collections::HashSet, fmt};

use ec_billing_api::types as wire;
use rust_decimal::Decimal;

use super::{
    ChartBucket, ChartValue, Charts, Costs, DimensionCost, DtsLine, Extra, Items, Period, Quantity,
    Rate, ResourceLine,
};
use crate::{
    error::{DecodeError, Error, RequestContext},
    text::quoted,
    time::{Bucketing, Window, bucket_start, chart_timestamp},
};

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
pub(crate) struct ChartsProblem(pub(super) String);

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
}

impl Charts {
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
}
