//! The contract's JSON documents, as `Serialize` views over the reports: written to
//! stdout as they are serialized, never built as a tree in memory first. Money is a
//! decimal string, exact, without trailing zeros; instants are RFC 3339 UTC.

use std::io::Write;

use ec_billing::{
    ChartBucket, ChartValue, ChartsReport, Decimal, DimensionCost, DtsLine, Extra, ItemsReport,
    ResourceLine, Window,
};
use jiff::Timestamp;
use serde::{Serialize, Serializer};

use super::{ChartsOutput, ItemsOutput};

/// The `items` document, written as it is serialized.
pub(super) fn items(output: &ItemsOutput<'_>, out: &mut dyn Write) -> anyhow::Result<()> {
    let document = ItemsDocument::new(
        output.organization,
        output.range,
        output.total()?,
        output.reports,
        output.errors,
    );
    serde_json::to_writer_pretty(&mut *out, &document)?;
    writeln!(out)?;
    Ok(())
}

/// The `charts` document, written as it is serialized.
pub(super) fn charts(output: &ChartsOutput<'_>, out: &mut dyn Write) -> anyhow::Result<()> {
    let document = ChartsDocument::new(
        output.organization,
        output.range,
        output.bucketing,
        output.reports,
        output.errors,
    );
    serde_json::to_writer_pretty(&mut *out, &document)?;
    writeln!(out)?;
    Ok(())
}

/// A decimal written as [`money`](super::money), without an intermediate string.
#[derive(Clone, Copy, Debug)]
struct Money(Decimal);

impl Serialize for Money {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0.normalize())
    }
}

/// An instant, RFC 3339 UTC.
#[derive(Clone, Copy, Debug)]
struct Instant(Timestamp);

impl Serialize for Instant {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}

/// A sequence serialized element by element from a slice, through `view`.
struct Each<'a, T, V>(&'a [T], fn(&'a T) -> V);

impl<'a, T, V: Serialize> Serialize for Each<'a, T, V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(self.1))
    }
}

/// A deployment that failed, in a `--keep-going` document.
#[derive(Debug, Serialize)]
pub(crate) struct ErrorEntry {
    deployment_id: String,
    from: Option<Instant>,
    to: Option<Instant>,
    code: Option<String>,
    message: String,
}

impl ErrorEntry {
    pub(crate) fn new(failure: &ec_billing::DeploymentFailure) -> Self {
        let error = &failure.error;
        let window = error.window();
        Self {
            deployment_id: failure.deployment.clone(),
            from: window.map(|w| Instant(w.from())),
            to: window.map(|w| Instant(w.to())),
            code: error.code().map(|code| code.as_str().to_string()),
            message: error.to_string(),
        }
    }
}

/// The `items` document.
#[derive(Serialize)]
struct ItemsDocument<'a> {
    organization: &'a str,
    from: Instant,
    to: Instant,
    total: Money,
    deployments: Each<'a, ItemsReport, DeploymentItems<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<&'a [ErrorEntry]>,
}

impl<'a> ItemsDocument<'a> {
    fn new(
        organization: &'a str,
        range: ec_billing::DateRange,
        total: Decimal,
        reports: &'a [ItemsReport],
        errors: Option<&'a [ErrorEntry]>,
    ) -> Self {
        Self {
            organization,
            from: Instant(range.from()),
            to: Instant(range.to()),
            total: Money(total),
            deployments: Each(reports, DeploymentItems::new),
            errors,
        }
    }
}

#[derive(Serialize)]
struct DeploymentItems<'a> {
    deployment_id: &'a str,
    windows: Each<'a, Window, WindowView>,
    total: Money,
    dimensions: Each<'a, DimensionCost, DimensionView<'a>>,
    resources: Each<'a, ResourceLine, ResourceView<'a>>,
    data_transfer_and_storage: Each<'a, DtsLine, DtsView<'a>>,
}

impl<'a> DeploymentItems<'a> {
    fn new(report: &'a ItemsReport) -> Self {
        let items = &report.items;
        Self {
            deployment_id: &report.deployment,
            windows: Each(&report.windows, WindowView::new),
            total: Money(items.costs.total),
            dimensions: Each(&items.costs.dimensions, DimensionView::new),
            resources: Each(&items.resources, ResourceView::new),
            data_transfer_and_storage: Each(&items.data_transfer_and_storage, DtsView::new),
        }
    }
}

#[derive(Serialize)]
struct WindowView {
    from: Instant,
    to: Instant,
}

impl WindowView {
    fn new(window: &Window) -> Self {
        Self {
            from: Instant(window.from()),
            to: Instant(window.to()),
        }
    }
}

#[derive(Serialize)]
struct DimensionView<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    cost: Money,
}

impl<'a> DimensionView<'a> {
    fn new(dimension: &'a DimensionCost) -> Self {
        Self {
            kind: dimension.dimension.as_str(),
            cost: Money(dimension.cost),
        }
    }
}

/// Columns of a CSV line its type does not name, as a JSON object.
struct ExtraView<'a>(&'a Extra);

impl Serialize for ExtraView<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter())
    }
}

fn no_extra(extra: &ExtraView<'_>) -> bool {
    extra.0.is_empty()
}

#[derive(Serialize)]
struct ResourceView<'a> {
    kind: &'a str,
    name: &'a str,
    sku: &'a str,
    hours: i64,
    instance_count: i32,
    period: PeriodView,
    price: Money,
    price_per_hour: Money,
    #[serde(skip_serializing_if = "no_extra")]
    extra: ExtraView<'a>,
}

#[derive(Serialize)]
struct PeriodView {
    start: Instant,
    end: Instant,
}

impl<'a> ResourceView<'a> {
    fn new(line: &'a ResourceLine) -> Self {
        Self {
            kind: line.kind.as_str(),
            name: &line.name,
            sku: &line.sku,
            hours: line.hours,
            instance_count: line.instance_count,
            period: PeriodView {
                start: Instant(line.period.start),
                end: Instant(line.period.end),
            },
            price: Money(line.cost),
            price_per_hour: Money(line.price_per_hour),
            extra: ExtraView(&line.extra),
        }
    }
}

#[derive(Serialize)]
struct Measure<'a> {
    value: Money,
    formatted_value: &'a str,
}

#[derive(Serialize)]
struct DtsView<'a> {
    name: &'a str,
    sku: &'a str,
    #[serde(rename = "type")]
    usage_type: &'a str,
    quantity: Measure<'a>,
    rate: Measure<'a>,
    cost: Money,
    #[serde(skip_serializing_if = "no_extra")]
    extra: ExtraView<'a>,
}

impl<'a> DtsView<'a> {
    fn new(line: &'a DtsLine) -> Self {
        Self {
            name: &line.name,
            sku: &line.sku,
            usage_type: &line.usage_type,
            quantity: Measure {
                value: Money(line.quantity.value),
                formatted_value: &line.quantity.formatted,
            },
            rate: Measure {
                value: Money(line.rate.value),
                formatted_value: &line.rate.formatted,
            },
            cost: Money(line.cost),
            extra: ExtraView(&line.extra),
        }
    }
}

/// The `charts` document.
#[derive(Serialize)]
struct ChartsDocument<'a> {
    organization: &'a str,
    from: Instant,
    to: Instant,
    bucketing: &'static str,
    deployments: Each<'a, ChartsReport, DeploymentCharts<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<&'a [ErrorEntry]>,
}

impl<'a> ChartsDocument<'a> {
    fn new(
        organization: &'a str,
        range: ec_billing::DateRange,
        bucketing: ec_billing::Bucketing,
        reports: &'a [ChartsReport],
        errors: Option<&'a [ErrorEntry]>,
    ) -> Self {
        Self {
            organization,
            from: Instant(range.from()),
            to: Instant(range.to()),
            bucketing: bucketing.as_str(),
            deployments: Each(reports, DeploymentCharts::new),
            errors,
        }
    }
}

#[derive(Serialize)]
struct DeploymentCharts<'a> {
    deployment_id: &'a str,
    buckets: Each<'a, ChartBucket, BucketView<'a>>,
}

impl<'a> DeploymentCharts<'a> {
    fn new(report: &'a ChartsReport) -> Self {
        Self {
            deployment_id: &report.deployment,
            buckets: Each(&report.charts.buckets, BucketView::new),
        }
    }
}

#[derive(Serialize)]
struct BucketView<'a> {
    timestamp: Instant,
    values: Each<'a, ChartValue, ValueView<'a>>,
}

impl<'a> BucketView<'a> {
    fn new(bucket: &'a ChartBucket) -> Self {
        Self {
            timestamp: Instant(bucket.timestamp),
            values: Each(&bucket.values, ValueView::new),
        }
    }
}

#[derive(Serialize)]
struct ValueView<'a> {
    id: &'a str,
    name: &'a str,
    value: Money,
}

impl<'a> ValueView<'a> {
    fn new(value: &'a ChartValue) -> Self {
        Self {
            id: &value.id,
            name: &value.name,
            value: Money(value.value),
        }
    }
}
