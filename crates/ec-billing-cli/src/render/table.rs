//! The table for people: per deployment, totals first, then line items grouped or
//! chart buckets in columns. Server text is escaped and clipped; amounts line up on
//! their decimal points and are never rounded.

use std::{collections::BTreeMap, io::Write};

use anyhow::Context;
use ec_billing::ExactAdd;
use ec_billing::{Decimal, Items, text::escape};

use super::{ChartsOutput, ItemsOutput, money};

/// Per deployment, its total and dimensions, then its line items grouped by SKU
/// (every line is in the JSON and CSV outputs).
pub(super) fn items(output: &ItemsOutput<'_>, out: &mut dyn Write) -> anyhow::Result<()> {
    writeln!(
        out,
        "Organization {}  {} .. {} (UTC, end exclusive)",
        escape(output.organization),
        output.range.from(),
        output.range.to()
    )?;
    for report in output.reports {
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
    if output.reports.len() > 1 {
        writeln!(out)?;
        writeln!(out, "All deployments: {} ECU", money(output.total()?))?;
    }
    Ok(())
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
            .exact_add(r.cost)
            .with_context(|| overflow("resource costs", &r.name))?;
        entry.2 += 1;
    }
    let mut dts: BTreeMap<String, (Decimal, Decimal, usize)> = BTreeMap::new();
    for t in &items.data_transfer_and_storage {
        let entry = dts.entry(t.name.clone()).or_default();
        entry.0 = entry
            .0
            .exact_add(t.quantity.value)
            .with_context(|| overflow("quantities", &t.name))?;
        entry.1 = entry
            .1
            .exact_add(t.cost)
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

/// One row per bucket, one column per series, per deployment.
pub(super) fn charts(output: &ChartsOutput<'_>, out: &mut dyn Write) -> anyhow::Result<()> {
    writeln!(
        out,
        "Organization {}  {} .. {} (UTC, end exclusive), {} buckets",
        escape(output.organization),
        output.range.from(),
        output.range.to(),
        output.bucketing
    )?;
    for report in output.reports {
        // The series in the order first seen, and where each id is among them:
        // linear however many series the server names.
        let mut series: Vec<(&str, &str)> = Vec::new();
        let mut index: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
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
