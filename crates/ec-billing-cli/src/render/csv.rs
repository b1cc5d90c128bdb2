//! CSV for programs: one row per line item or bucket value, with a header row; money
//! as exact decimal text, server text kept whole (quoted by the CSV writer).

use std::io::Write;

use super::{ChartsOutput, ItemsOutput, money};

/// Every line item of every deployment.
pub(super) fn items(output: &ItemsOutput<'_>, out: &mut dyn Write) -> csv::Result<()> {
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
    for report in output.reports {
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

/// Every value of every bucket of every deployment.
pub(super) fn charts(output: &ChartsOutput<'_>, out: &mut dyn Write) -> csv::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(["deployment_id", "timestamp", "id", "name", "value"])?;
    for report in output.reports {
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
