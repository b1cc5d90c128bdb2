//! What the report says, in exact decimals: the totals, the months by dimension, the
//! recent days, the deployments, the SKUs and the revisions, summed with checked
//! arithmetic from the ledger's lines, one line at a time.

use std::collections::{BTreeMap, BTreeSet};

use ec_billing::ExactAdd;
use ec_billing_ledger::{LedgerLine, LineType, Revision};
use jiff::{Span, Timestamp, civil::Date, tz::TimeZone};
use rust_decimal::Decimal;

use crate::error::{Error, Result};

/// How many of the range's last months the daily chart shows.
pub(crate) const DAILY_MONTHS: usize = 2;

/// How many SKUs the report ranks.
pub const TOP_SKUS: usize = 10;

/// The report's figures, every amount exact (ECU unless said otherwise).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Summary {
    /// The organizations whose lines are counted, sorted.
    pub organizations: Vec<String>,
    /// The range, `[from, to)`: the one asked for, or the months the lines cover.
    /// `None` when the ledger holds no line in the query and no range was asked for.
    pub range: Option<(Timestamp, Timestamp)>,
    /// How many lines were read.
    pub lines: u64,
    /// When the ledger last fetched any window in the query: how fresh the figures are.
    pub as_of: Option<Timestamp>,
    /// The grand total.
    pub total: Decimal,
    /// The part of it from windows that may still be revised.
    pub provisional: Decimal,
    /// The grand total in a billing currency, when a rate was given.
    pub billing: Option<Billing>,
    /// The cost dimensions, in the order they stack (capacity by resource kind, then
    /// data transfer and storage by usage type).
    pub dimensions: Vec<String>,
    /// Every month of the range, in order, its costs by dimension.
    pub months: Vec<Period>,
    /// Every day of the range's last months, in order, its costs by dimension.
    pub days: Vec<Period>,
    /// In those months, the cost of lines that cover more than one day (a monthly
    /// ledger keeps data transfer and storage per window): not split by day.
    pub days_unsplit: Decimal,
    /// Every deployment, the most costly first.
    pub deployments: Vec<DeploymentTotal>,
    /// The most costly SKUs (at most [`TOP_SKUS`]), the most costly first.
    pub skus: Vec<SkuTotal>,
    /// Every month of the range with what its revisions changed.
    pub revisions: Vec<RevisionMonth>,
}

/// The grand total in a billing currency.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Billing {
    /// The currency's ISO 4217 code.
    pub currency: String,
    /// Its amount per ECU.
    pub per_ecu: Decimal,
    /// The grand total in it, exact.
    pub total: Decimal,
    /// The provisional part in it, exact.
    pub provisional: Decimal,
}

/// A month or a day: its costs by dimension.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Period {
    /// Its first day.
    pub start: Date,
    /// Its cost in each of [`Summary::dimensions`], in that order.
    pub costs: Vec<Decimal>,
    /// Their sum.
    pub total: Decimal,
    /// Whether any of its lines comes from a window that may still be revised.
    pub provisional: bool,
}

/// A deployment's total, share and trend.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeploymentTotal {
    /// The organization.
    pub organization: String,
    /// The deployment.
    pub deployment: String,
    /// Its total over the range.
    pub total: Decimal,
    /// Its share of the grand total, in percent, to one decimal place (`None` when the
    /// grand total is zero).
    pub share: Option<Decimal>,
    /// Its total in every month of the range, in order.
    pub monthly: Vec<Decimal>,
    /// The last month less the one before it (`None` with fewer than two months).
    pub change: Option<Decimal>,
    /// That change in percent of the month before, to one decimal place (`None` when
    /// that month cost nothing).
    pub change_percent: Option<Decimal>,
}

/// A SKU's total.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SkuTotal {
    /// The SKU.
    pub sku: String,
    /// The dimension its lines count toward.
    pub dimension: String,
    /// Its total over the range.
    pub total: Decimal,
    /// Its share of the grand total, in percent, to one decimal place.
    pub share: Option<Decimal>,
}

/// What the revisions of one month's windows changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RevisionMonth {
    /// The month's first day.
    pub month: Option<Date>,
    /// How many revisions (lines added, removed or changed).
    pub count: u64,
    /// What they changed the total by: the new costs less the old.
    pub net: Decimal,
    /// How far the costs moved either way: the sum of each change's size.
    pub moved: Decimal,
}

/// `a + b`, or an overflow naming `what`.
pub(crate) fn add(a: Decimal, b: Decimal, what: impl FnOnce() -> String) -> Result<Decimal> {
    a.exact_add(b).ok_or_else(|| Error::Overflow(what()))
}

/// `slot += amount`, or an overflow naming `what`.
fn add_to(slot: &mut Decimal, amount: Decimal, what: impl FnOnce() -> String) -> Result<()> {
    *slot = add(*slot, amount, what)?;
    Ok(())
}

/// The UTC date an instant falls on.
pub(crate) fn date_of(at: Timestamp) -> Date {
    at.to_zoned_datetime(TimeZone::UTC).date()
}

/// The instant a date starts (midnight UTC); `None` past the end of the time scale.
pub(crate) fn midnight(date: Date) -> Option<Timestamp> {
    date.to_zoned_datetime(TimeZone::UTC)
        .ok()
        .map(|z| z.timestamp())
}

/// The first day of every month that `[from, to)` touches.
fn months_of(from: Timestamp, to: Timestamp) -> Vec<Date> {
    let mut months = Vec::new();
    let mut month = date_of(from).first_of_month();
    while midnight(month).is_some_and(|start| start < to) {
        months.push(month);
        match month.checked_add(Span::new().months(1)) {
            Ok(next) => month = next,
            Err(_) => break,
        }
    }
    months
}

/// The dimension a line counts toward, as the report names it.
pub(crate) fn dimension(line_type: LineType, kind: &str) -> String {
    match line_type {
        LineType::Resource => format!("capacity: {kind}"),
        LineType::Dts => match kind {
            "data_in" => "data in".to_string(),
            "data_out" => "data out".to_string(),
            "data_internode" => "data inter-node".to_string(),
            "storage_api" => "storage API".to_string(),
            "storage_bytes" => "storage (bytes)".to_string(),
            other => other.to_string(),
        },
    }
}

/// Costs of a period, by dimension.
#[derive(Debug, Default)]
struct Costs {
    by_dimension: BTreeMap<String, Decimal>,
    provisional: bool,
}

impl Costs {
    fn add(&mut self, dimension: &str, cost: Decimal, provisional: bool, at: Date) -> Result<()> {
        self.provisional |= provisional;
        let slot = match self.by_dimension.get_mut(dimension) {
            Some(slot) => slot,
            None => self
                .by_dimension
                .entry(dimension.to_string())
                .or_insert(Decimal::ZERO),
        };
        add_to(slot, cost, || format!("the cost of {dimension} on {at}"))
    }
}

/// The sums, as lines come in.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    organizations: BTreeSet<String>,
    lines: u64,
    total: Decimal,
    provisional: Decimal,
    first: Option<Timestamp>,
    last: Option<Timestamp>,
    dimension_totals: BTreeMap<(LineType, String), Decimal>,
    months: BTreeMap<Date, Costs>,
    days: BTreeMap<Date, Costs>,
    unsplit: BTreeMap<Date, Decimal>,
    deployments: BTreeMap<(String, String), BTreeMap<Date, Decimal>>,
    skus: BTreeMap<(String, String), Decimal>,
    /// The windows that may still be revised: every day in one is provisional.
    provisional_windows: BTreeSet<(Timestamp, Timestamp)>,
}

impl Tally {
    /// Counts one line.
    pub(crate) fn add(&mut self, line: LedgerLine) -> Result<()> {
        let start = line.key.period_start;
        let day = date_of(start);
        let month = day.first_of_month();
        let cost = line.cost;
        self.lines += 1;
        add_to(&mut self.total, cost, || "the grand total".to_string())?;
        if line.provisional {
            add_to(&mut self.provisional, cost, || {
                "the provisional total".to_string()
            })?;
            self.provisional_windows.insert(line.window);
        }
        self.first = Some(self.first.map_or(start, |first| first.min(start)));
        let end = line.key.period_end;
        self.last = Some(self.last.map_or(end, |last| last.max(end)));
        let dimension = dimension(line.key.line_type, &line.key.kind);
        let slot = self
            .dimension_totals
            .entry((line.key.line_type, line.key.kind))
            .or_default();
        add_to(slot, cost, || format!("the total of {dimension}"))?;
        self.months
            .entry(month)
            .or_default()
            .add(&dimension, cost, line.provisional, month)?;
        // A line over a day at most belongs to its day; a longer one (a DTS line of a
        // monthly window) to no day.
        if end.duration_since(start) <= jiff::SignedDuration::from_hours(24) {
            self.days
                .entry(day)
                .or_default()
                .add(&dimension, cost, line.provisional, day)?;
        } else {
            let slot = self.unsplit.entry(month).or_default();
            add_to(slot, cost, || {
                format!("the cost not split by day in {month}")
            })?;
        }
        let deployment = self
            .deployments
            .entry((line.organization.clone(), line.deployment))
            .or_default()
            .entry(month)
            .or_default();
        add_to(deployment, cost, || {
            format!("a deployment's total in {month}")
        })?;
        let sku = self.skus.entry((line.key.sku, dimension)).or_default();
        add_to(sku, cost, || "a SKU's total".to_string())?;
        if !self.organizations.contains(&line.organization) {
            self.organizations.insert(line.organization);
        }
        Ok(())
    }

    /// The summary of what was counted, over `range` (or the months the lines cover),
    /// with `revisions`, billed at `rate` when one is given.
    pub(crate) fn finish(
        self,
        range: (Option<Timestamp>, Option<Timestamp>),
        revisions: &[Revision],
        rate: Option<(&str, Decimal)>,
        as_of: Option<Timestamp>,
    ) -> Result<Summary> {
        let from = range.0.or_else(|| {
            self.first
                .and_then(|f| midnight(date_of(f).first_of_month()))
        });
        let to = range.1.or(self.last);
        let range = match (from, to) {
            (Some(from), Some(to)) if from < to => Some((from, to)),
            _ => None,
        };
        let months = range.map_or_else(Vec::new, |(from, to)| months_of(from, to));
        let (dimensions, column) = columns(&self.dimension_totals);
        let period = |start: Date, costs: Option<&Costs>| -> Result<Period> {
            let mut total = Decimal::ZERO;
            let mut values = vec![Decimal::ZERO; dimensions.len()];
            for (name, cost) in costs.iter().flat_map(|c| &c.by_dimension) {
                let index = column.get(name).copied().or(values.len().checked_sub(1));
                if let Some(slot) = index.and_then(|i| values.get_mut(i)) {
                    add_to(slot, *cost, || format!("the cost of {name} on {start}"))?;
                }
                total = add(total, *cost, || format!("the total of {start}"))?;
            }
            let day = midnight(start);
            let in_window = |(from, to): &(Timestamp, Timestamp)| {
                day.is_some_and(|day| *from <= day && day < *to)
            };
            Ok(Period {
                start,
                costs: values,
                total,
                provisional: costs.is_some_and(|c| c.provisional)
                    || self.provisional_windows.iter().any(in_window),
            })
        };
        let month_periods = months
            .iter()
            .map(|m| period(*m, self.months.get(m)))
            .collect::<Result<Vec<_>>>()?;

        let recent = &months[months.len().saturating_sub(DAILY_MONTHS)..];
        let mut days = Vec::new();
        let mut days_unsplit = Decimal::ZERO;
        if let (Some(first), Some((from, to))) = (recent.first(), range) {
            let mut day = (*first).max(date_of(from));
            while midnight(day).is_some_and(|start| start < to) {
                days.push(period(day, self.days.get(&day))?);
                match day.tomorrow() {
                    Ok(next) => day = next,
                    Err(_) => break,
                }
            }
            for month in recent {
                let unsplit = self.unsplit.get(month).copied().unwrap_or_default();
                days_unsplit = add(days_unsplit, unsplit, || {
                    "the cost not split by day".to_string()
                })?;
            }
        }

        let share = |amount: Decimal| -> Option<Decimal> { percent(amount, self.total) };
        let mut deployments = Vec::with_capacity(self.deployments.len());
        for ((organization, deployment), by_month) in self.deployments {
            let mut total = Decimal::ZERO;
            for cost in by_month.values() {
                total = add(total, *cost, || format!("the total of {deployment}"))?;
            }
            let monthly: Vec<Decimal> = months
                .iter()
                .map(|m| by_month.get(m).copied().unwrap_or_default())
                .collect();
            let (change, change_percent) = match monthly.as_slice() {
                [.., before, last] => {
                    let change = last.checked_sub(*before).ok_or_else(|| {
                        Error::Overflow(format!("the change of {deployment}'s total"))
                    })?;
                    (Some(change), percent(change, *before))
                }
                _ => (None, None),
            };
            deployments.push(DeploymentTotal {
                organization,
                deployment,
                total,
                share: share(total),
                monthly,
                change,
                change_percent,
            });
        }
        deployments.sort_by(|a, b| {
            b.total.cmp(&a.total).then_with(|| {
                (&a.organization, &a.deployment).cmp(&(&b.organization, &b.deployment))
            })
        });
        let mut skus: Vec<SkuTotal> = self
            .skus
            .into_iter()
            .map(|((sku, dimension), total)| SkuTotal {
                sku,
                dimension,
                total,
                share: share(total),
            })
            .collect();
        skus.sort_by(|a, b| {
            b.total
                .cmp(&a.total)
                .then_with(|| (&a.sku, &a.dimension).cmp(&(&b.sku, &b.dimension)))
        });
        skus.truncate(TOP_SKUS);

        let billing = match rate {
            None => None,
            Some((currency, per_ecu)) => Some(Billing {
                currency: currency.to_string(),
                per_ecu,
                total: exact_mul(self.total, per_ecu)
                    .ok_or_else(|| Error::Overflow(format!("the grand total in {currency}")))?,
                provisional: exact_mul(self.provisional, per_ecu).ok_or_else(|| {
                    Error::Overflow(format!("the provisional total in {currency}"))
                })?,
            }),
        };
        Ok(Summary {
            organizations: self.organizations.into_iter().collect(),
            range,
            lines: self.lines,
            as_of,
            total: self.total,
            provisional: self.provisional,
            billing,
            dimensions,
            months: month_periods,
            days,
            days_unsplit,
            deployments,
            skus,
            revisions: revision_months(&months, revisions)?,
        })
    }
}

/// At most this many dimensions are charted apart; the rest are one, "other".
pub const MAX_DIMENSIONS: usize = 8;

/// The dimensions charted, in stacking order (capacity first, by resource kind, then
/// data transfer and storage), and the column of each dimension's name: the
/// [`MAX_DIMENSIONS`]` - 1` largest apart, the rest in a last column, "other".
fn columns(
    totals: &BTreeMap<(LineType, String), Decimal>,
) -> (Vec<String>, BTreeMap<String, usize>) {
    let mut names: Vec<(String, Decimal)> = Vec::new();
    for ((line_type, kind), total) in totals {
        let name = dimension(*line_type, kind);
        match names.iter_mut().find(|(n, _)| *n == name) {
            // Two kinds a server named alike are one dimension; their sum only orders.
            Some((_, sum)) => *sum = sum.saturating_add(*total),
            None => names.push((name, *total)),
        }
    }
    let mut column = BTreeMap::new();
    if names.len() <= MAX_DIMENSIONS {
        for (index, (name, _)) in names.iter().enumerate() {
            column.insert(name.clone(), index);
        }
        return (names.into_iter().map(|(n, _)| n).collect(), column);
    }
    let mut by_size: Vec<usize> = (0..names.len()).collect();
    by_size.sort_by(|a, b| names[*b].1.cmp(&names[*a].1).then(a.cmp(b)));
    let mut kept: Vec<usize> = by_size[..MAX_DIMENSIONS - 1].to_vec();
    kept.sort_unstable();
    let mut shown: Vec<String> = kept.iter().map(|i| names[*i].0.clone()).collect();
    for (index, name) in shown.iter().enumerate() {
        column.insert(name.clone(), index);
    }
    for (name, _) in &names {
        column.entry(name.clone()).or_insert(MAX_DIMENSIONS - 1);
    }
    shown.push("other".to_string());
    (shown, column)
}

/// Every month of `months` with what the revisions of its windows changed.
fn revision_months(months: &[Date], revisions: &[Revision]) -> Result<Vec<RevisionMonth>> {
    let mut by_month: BTreeMap<Date, RevisionMonth> = months
        .iter()
        .map(|m| {
            (
                *m,
                RevisionMonth {
                    month: Some(*m),
                    ..RevisionMonth::default()
                },
            )
        })
        .collect();
    for revision in revisions {
        let month = date_of(revision.window.0).first_of_month();
        let Some(entry) = by_month.get_mut(&month) else {
            continue;
        };
        let delta = revision
            .delta()
            .ok_or_else(|| Error::Overflow(format!("a revision's change in {month}")))?;
        entry.count += 1;
        add_to(&mut entry.net, delta, || {
            format!("the revisions' net change in {month}")
        })?;
        add_to(&mut entry.moved, delta.abs(), || {
            format!("how far the revisions moved costs in {month}")
        })?;
    }
    Ok(by_month.into_values().collect())
}

/// `part` in percent of `whole`, to one decimal place; `None` when `whole` is zero.
fn percent(part: Decimal, whole: Decimal) -> Option<Decimal> {
    if whole.is_zero() {
        return None;
    }
    part.checked_mul(Decimal::ONE_HUNDRED)
        .and_then(|p| p.checked_div(whole))
        .map(|p| p.round_dp(1))
}

/// `a × b` exactly, or `None` when the product has more digits than a `Decimal` holds
/// (where `Decimal`'s own multiplication would round). As the FOCUS export prices.
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

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn every_month_the_range_touches_is_named_across_a_year_end() {
        let months = months_of(at("2023-11-15T00:00:00Z"), at("2024-02-01T00:00:00Z"));
        let names: Vec<String> = months.iter().map(ToString::to_string).collect();
        assert_eq!(names, ["2023-11-01", "2023-12-01", "2024-01-01"]);
        assert_eq!(
            months_of(at("2024-01-01T00:00:00Z"), at("2024-01-01T00:00:01Z")).len(),
            1
        );
    }

    #[test]
    fn dimensions_past_eight_are_folded_into_other_and_none_is_counted_twice() {
        let mut totals = BTreeMap::new();
        for i in 0..10_i64 {
            totals.insert((LineType::Dts, format!("kind{i}")), Decimal::from(i));
        }
        // A resource kind and a DTS kind a server named alike are one dimension.
        totals.insert((LineType::Dts, "data_out".to_string()), Decimal::ONE);
        totals.insert((LineType::Dts, "data out".to_string()), Decimal::ONE);
        let (names, column) = columns(&totals);
        assert_eq!(names.len(), MAX_DIMENSIONS);
        assert_eq!(names.last().map(String::as_str), Some("other"));
        assert!(names.contains(&"kind9".to_string()) && !names.contains(&"kind0".to_string()));
        assert_eq!(column["kind0"], MAX_DIMENSIONS - 1);
        assert_eq!(column.len(), 11);
    }

    #[test]
    fn shares_and_prices_are_exact_or_refused() {
        assert_eq!(
            percent(Decimal::ONE, Decimal::from(3)),
            Some("33.3".parse().unwrap())
        );
        assert_eq!(percent(Decimal::ONE, Decimal::ZERO), None);
        assert_eq!(
            exact_mul("12.5".parse().unwrap(), "0.92".parse().unwrap()),
            Some("11.5".parse().unwrap())
        );
        // 28 decimal places times 2 more: the product would be rounded, so it is refused.
        assert_eq!(
            exact_mul(Decimal::new(1, 28), "0.33".parse().unwrap()),
            None
        );
        assert_eq!(exact_mul(Decimal::MAX, Decimal::TWO), None);
    }
}
