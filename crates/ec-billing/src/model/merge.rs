//! Per-window results merged into one for a range, every sum checked: lines in window
//! order, totals and dimensions summed exactly, chart buckets of one timestamp joined.

use std::collections::{BTreeMap, HashMap};

use ec_billing_api::ExactAdd;
use jiff::Timestamp;
use rust_decimal::Decimal;

use super::{
    ChartBucket, ChartValue, Charts, Costs, Dimension, DimensionCost, Items, WindowResult,
};
use crate::{
    error::{Error, OverflowError},
    text::quoted,
};

impl Items {
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
            .exact_add(other.total)
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
        existing.cost = existing.cost.exact_add(cost).ok_or_else(|| {
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

impl Charts {
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
                                existing.value.exact_add(value.value).ok_or_else(|| {
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
