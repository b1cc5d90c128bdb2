//! Printing results: a table for people, JSON and CSV for programs. Money is printed
//! as exact decimal strings, never through a float; every sum is checked before the
//! first byte is printed; text from the server is escaped in the table (JSON and CSV
//! quote it their own way).

use std::{collections::BTreeMap, io::Write};

use anyhow::Context;
use ec_billing::{ChartsReport, Decimal, Items, ItemsReport, text::escape};

use crate::json::{ChartsDocument, ErrorEntry, ItemsDocument, money};

/// A result the command can print as a table, JSON or CSV.
pub(crate) trait Render {
    /// Aligned, for people.
    fn table(&self, out: &mut dyn Write) -> anyhow::Result<()>;
    /// The contract's JSON document, written as it is serialized.
    fn json(&self, out: &mut dyn Write) -> anyhow::Result<()>;
    /// One row per line item or bucket value, with a header row.
    fn csv(&self, out: &mut dyn Write) -> csv::Result<()>;
}

/// A sum of money for output, checked.
fn sum<'a>(what: &str, amounts: impl IntoIterator<Item = &'a Decimal>) -> anyhow::Result<Decimal> {
    amounts
        .into_iter()
        .try_fold(Decimal::ZERO, |total, amount| total.checked_add(*amount))
        .with_context(|| format!("the sum of {what} overflows an exact decimal"))
}

/// Everything printed for one run of `items`.
#[derive(Debug)]
pub(crate) struct ItemsOutput<'a> {
    pub(crate) organization: &'a str,
    pub(crate) range: ec_billing::DateRange,
    pub(crate) reports: &'a [ItemsReport],
    /// With `--keep-going`: the deployments that failed.
    pub(crate) errors: Option<&'a [ErrorEntry]>,
}

/// Everything printed for one run of `charts`.
#[derive(Debug)]
pub(crate) struct ChartsOutput<'a> {
    pub(crate) organization: &'a str,
    pub(crate) range: ec_billing::DateRange,
    pub(crate) bucketing: ec_billing::Bucketing,
    pub(crate) reports: &'a [ChartsReport],
    /// With `--keep-going`: the deployments that failed.
    pub(crate) errors: Option<&'a [ErrorEntry]>,
}

impl ItemsOutput<'_> {
    fn total(&self) -> anyhow::Result<Decimal> {
        sum(
            "all deployments' totals",
            self.reports.iter().map(|r| &r.items.costs.total),
        )
    }
}

impl Render for ItemsOutput<'_> {
    fn json(&self, out: &mut dyn Write) -> anyhow::Result<()> {
        let document = ItemsDocument::new(
            self.organization,
            self.range,
            self.total()?,
            self.reports,
            self.errors,
        );
        serde_json::to_writer_pretty(&mut *out, &document)?;
        writeln!(out)?;
        Ok(())
    }

    fn csv(&self, out: &mut dyn Write) -> csv::Result<()> {
        let mut w = csv::Writer::from_writer(out);
        w.write_record([
            "deployment_id",
            "line",
            "kind",
            "type",
            "name",
            "sku",
            "period_start",
            "period_end",
            "hours",
            "instance_count",
            "price_per_hour",
            "quantity",
            "rate",
            "cost",
        ])?;
        for report in self.reports {
            let d = report.deployment.as_str();
            for r in &report.items.resources {
                let (start, end) = (r.period.start.to_string(), r.period.end.to_string());
                let (hours, count) = (r.hours.to_string(), r.instance_count.to_string());
                let (pph, cost) = (money(r.price_per_hour), money(r.cost));
                w.write_record([
                    d,
                    "resource",
                    r.kind.as_str(),
                    "",
                    &r.name,
                    &r.sku,
                    &start,
                    &end,
                    &hours,
                    &count,
                    &pph,
                    "",
                    "",
                    &cost,
                ])?;
            }
            for t in &report.items.data_transfer_and_storage {
                let (quantity, rate, cost) =
                    (money(t.quantity.value), money(t.rate.value), money(t.cost));
                w.write_record([
                    d,
                    "dts",
                    "",
                    &t.usage_type,
                    &t.name,
                    &t.sku,
                    "",
                    "",
                    "",
                    "",
                    "",
                    &quantity,
                    &rate,
                    &cost,
                ])?;
            }
        }
        w.flush()?;
        Ok(())
    }

    /// Per deployment, its total and dimensions, then its line items grouped by SKU
    /// (every line is in the JSON and CSV outputs).
    fn table(&self, out: &mut dyn Write) -> anyhow::Result<()> {
        writeln!(
            out,
            "Organization {}  {} .. {} (UTC, end exclusive)",
            escape(self.organization),
            self.range.from(),
            self.range.to()
        )?;
        for report in self.reports {
            let items = &report.items;
            writeln!(out)?;
            writeln!(
                out,
                "Deployment {}  ({}, {})",
                escape(&report.deployment),
                plural(report.windows.len(), "window"),
                plural(
                    items.resources.len() + items.data_transfer_and_storage.len(),
                    "line item"
                ),
            )?;
            let mut rows: Vec<[String; 2]> = vec![["Total".into(), money(items.costs.total)]];
            rows.extend(items.costs.dimensions.iter().map(|d| {
                [
                    format!("  {}", clip(&escape(d.dimension.as_str()).to_string(), 32)),
                    money(d.cost),
                ]
            }));
            let money = aligned(rows.iter().map(|r| r[1].as_str()));
            for (row, cost) in rows.iter().zip(money) {
                writeln!(out, "  {:<34} {cost} ECU", row[0])?;
            }
            print_groups(out, &report.deployment, items)?;
        }
        if self.reports.len() > 1 {
            writeln!(out)?;
            writeln!(out, "All deployments: {} ECU", money(self.total()?))?;
        }
        Ok(())
    }
}

/// `count` and its noun, in the plural unless it is 1.
fn plural(count: usize, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

/// Resource and DTS lines grouped by kind/name/SKU, with summed hours, quantity and cost.
fn print_groups(out: &mut dyn Write, deployment: &str, items: &Items) -> anyhow::Result<()> {
    // A group's lines come from every window: the error names the group instead.
    let overflow = |what: &str, group: &str| {
        format!(
            "the sum of {what} of \"{}\" in deployment \"{}\" overflows an exact decimal",
            clip(&escape(group).to_string(), 64),
            clip(&escape(deployment).to_string(), 64),
        )
    };
    let mut resources: BTreeMap<(String, String), (i128, Decimal, usize)> = BTreeMap::new();
    for r in &items.resources {
        let entry = resources
            .entry((r.kind.to_string(), r.name.clone()))
            .or_default();
        let hours = i128::from(r.hours) * i128::from(r.instance_count);
        entry.0 = entry
            .0
            .checked_add(hours)
            .with_context(|| overflow("instance hours", &r.name))?;
        entry.1 = entry
            .1
            .checked_add(r.cost)
            .with_context(|| overflow("resource costs", &r.name))?;
        entry.2 += 1;
    }
    let mut dts: BTreeMap<String, (Decimal, Decimal, usize)> = BTreeMap::new();
    for t in &items.data_transfer_and_storage {
        let entry = dts.entry(t.name.clone()).or_default();
        entry.0 = entry
            .0
            .checked_add(t.quantity.value)
            .with_context(|| overflow("quantities", &t.name))?;
        entry.1 = entry
            .1
            .checked_add(t.cost)
            .with_context(|| overflow("data transfer and storage costs", &t.name))?;
        entry.2 += 1;
    }
    let costs: Vec<String> = resources
        .values()
        .map(|v| money(v.1))
        .chain(dts.values().map(|v| money(v.1)))
        .collect();
    let mut costs = aligned(costs.iter().map(String::as_str)).into_iter();
    if !resources.is_empty() {
        writeln!(out)?;
        writeln!(
            out,
            "  {:<14} {:<66} {:>16} {:>6}  {:>14}",
            "Resource", "Name", "Instance hours", "Lines", "Cost (ECU)"
        )?;
        for ((kind, name), (hours, _, lines)) in &resources {
            let cost = costs.next().unwrap_or_default();
            writeln!(
                out,
                "  {:<14} {:<66} {hours:>16} {lines:>6}  {cost:>14}",
                clip(&escape(kind).to_string(), 14),
                clip(&escape(name).to_string(), 66)
            )?;
        }
    }
    if !dts.is_empty() {
        writeln!(out)?;
        writeln!(
            out,
            "  {:<81} {:>16} {:>6}  {:>14}",
            "Data transfer and storage", "Quantity", "Lines", "Cost (ECU)"
        )?;
        for (name, (quantity, _, lines)) in &dts {
            let cost = costs.next().unwrap_or_default();
            writeln!(
                out,
                "  {:<81} {quantity:>16} {lines:>6}  {cost:>14}",
                clip(&escape(name).to_string(), 81)
            )?;
        }
    }
    Ok(())
}

impl Render for ChartsOutput<'_> {
    fn json(&self, out: &mut dyn Write) -> anyhow::Result<()> {
        let document = ChartsDocument::new(
            self.organization,
            self.range,
            self.bucketing,
            self.reports,
            self.errors,
        );
        serde_json::to_writer_pretty(&mut *out, &document)?;
        writeln!(out)?;
        Ok(())
    }

    fn csv(&self, out: &mut dyn Write) -> csv::Result<()> {
        let mut w = csv::Writer::from_writer(out);
        w.write_record(["deployment_id", "timestamp", "id", "name", "value"])?;
        for report in self.reports {
            for bucket in &report.charts.buckets {
                let at = bucket.timestamp.to_string();
                for v in &bucket.values {
                    w.write_record([
                        report.deployment.as_str(),
                        &at,
                        &v.id,
                        &v.name,
                        &money(v.value),
                    ])?;
                }
            }
        }
        w.flush()?;
        Ok(())
    }

    /// One row per bucket, one column per series, per deployment.
    fn table(&self, out: &mut dyn Write) -> anyhow::Result<()> {
        writeln!(
            out,
            "Organization {}  {} .. {} (UTC, end exclusive), {} buckets",
            escape(self.organization),
            self.range.from(),
            self.range.to(),
            self.bucketing
        )?;
        for report in self.reports {
            // The series in the order first seen, and where each id is among them:
            // linear however many series the server names.
            let mut series: Vec<(&str, &str)> = Vec::new();
            let mut index: std::collections::HashMap<&str, usize> =
                std::collections::HashMap::new();
            for v in report.charts.buckets.iter().flat_map(|b| &b.values) {
                index.entry(&v.id).or_insert_with(|| {
                    series.push((&v.id, &v.name));
                    series.len() - 1
                });
            }
            writeln!(out)?;
            writeln!(
                out,
                "Deployment {}  ({})",
                escape(&report.deployment),
                plural(report.charts.buckets.len(), "bucket")
            )?;
            write!(out, "  {:<22}", "Timestamp")?;
            for (_, name) in &series {
                write!(out, " {:>16}", clip(&escape(name).to_string(), 16))?;
            }
            writeln!(out)?;
            let buckets = report.charts.buckets.len();
            let mut texts: Vec<Vec<String>> = vec![vec![String::new(); buckets]; series.len()];
            for (at, bucket) in report.charts.buckets.iter().enumerate() {
                for v in &bucket.values {
                    // Every id was indexed above; an id twice in a bucket was refused
                    // when the answer was decoded.
                    if let Some(column) = index.get(v.id.as_str()).and_then(|&s| texts.get_mut(s))
                        && column[at].is_empty()
                    {
                        column[at] = money(v.value);
                    }
                }
            }
            let columns: Vec<Vec<String>> = texts
                .iter()
                .map(|texts| aligned(texts.iter().map(String::as_str)))
                .collect();
            for (i, bucket) in report.charts.buckets.iter().enumerate() {
                write!(out, "  {:<22}", bucket.timestamp.to_string())?;
                for column in &columns {
                    write!(out, " {:>16}", column[i])?;
                }
                writeln!(out)?;
            }
        }
        Ok(())
    }
}

/// Decimal texts padded so that their decimal points line up (right-aligned by the
/// caller). Digits are only ever added as trailing zeros: nothing is rounded.
fn aligned<'a>(texts: impl Iterator<Item = &'a str> + Clone) -> Vec<String> {
    let scale = texts
        .clone()
        .map(|t| t.split_once('.').map_or(0, |(_, f)| f.len()))
        .max()
        .unwrap_or(0);
    let texts: Vec<String> = texts
        .map(|t| {
            if t.is_empty() {
                return String::new();
            }
            let fraction = t.split_once('.').map_or(0, |(_, f)| f.len());
            let mut s = t.to_string();
            if fraction == 0 && scale > 0 {
                s.push('.');
            }
            s.extend(std::iter::repeat_n('0', scale - fraction));
            s
        })
        .collect();
    let width = texts.iter().map(String::len).max().unwrap_or(0);
    texts.into_iter().map(|t| format!("{t:>width$}")).collect()
}

/// `text` cut to `width` characters, with an ellipsis when cut.
fn clip(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        text.to_string()
    } else {
        let mut cut: String = text.chars().take(width - 1).collect();
        cut.push('…');
        cut
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_hours_beyond_i64_are_summed_exactly_not_wrapped() {
        let mut items = Items::default();
        let period = ec_billing::Period {
            start: "2024-01-01T00:00:00Z".parse().unwrap(),
            end: "2024-02-01T00:00:00Z".parse().unwrap(),
        };
        let mut line = ec_billing::ResourceLine::new(
            ec_billing::ResourceKind::Elasticsearch,
            period,
            Decimal::ONE,
        );
        line.name = "ES".into();
        line.sku = "es".into();
        line.hours = i64::MAX;
        line.instance_count = 2;
        line.price_per_hour = Decimal::ONE;
        items.resources = vec![line.clone(), line];
        let mut out = Vec::new();
        print_groups(&mut out, "prod", &items).unwrap();
        let table = String::from_utf8(out).unwrap();
        assert!(
            table.contains(&(i128::from(i64::MAX) * 4).to_string()),
            "{table}"
        );
    }

    #[test]
    fn money_lines_up_on_the_decimal_point_without_rounding() {
        let texts = ["1101.0375", "40.917", "0", "0.000001"];
        assert_eq!(
            aligned(texts.iter().copied()),
            ["1101.037500", "  40.917000", "   0.000000", "   0.000001"]
        );
    }
}
