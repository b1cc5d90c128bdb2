//! Keys a server chooses (usage types, chart series ids), by the hundred thousand:
//! decoded, merged and totalled through an index, exactly, never by scanning a list
//! per key (which would take minutes, not milliseconds).

use ec_billing::{Bucketing, Costs, DateRange, Decimal, Format, WindowSize};
use ec_billing_sim::{Fault, MANY_KEYS};

use crate::support::{TestClock, dec, every_answer, simulator, wrapper_client};

/// The costs of January, as `format`, from a simulator answering with
/// [`Fault::ManyDimensions`]: with its lines kept ([`ItemsRequest::send`]: the
/// window's dimensions merged into the report), or only totalled
/// ([`ItemsRequest::totals`]: every row's dimension summed as it streams).
///
/// [`ItemsRequest::send`]: ec_billing::ItemsRequest::send
/// [`ItemsRequest::totals`]: ec_billing::ItemsRequest::totals
async fn costs_with_many_dimensions(format: Format, keep_lines: bool) -> Costs {
    let sim = simulator(every_answer(Fault::ManyDimensions)).await;
    let client = wrapper_client(&sim.base_url(), TestClock::new());
    let january = DateRange::parse("2024-01-01", "2024-02-01").unwrap();
    let request = client.items("acme", "prod").range(january).format(format);
    if keep_lines {
        request.send().await.unwrap().items.costs
    } else {
        request.totals().await.unwrap().costs
    }
}

fn assert_every_dimension_in_order(costs: &Costs) {
    assert_eq!(costs.total, dec("1000.00"));
    assert_eq!(costs.dimensions.len(), MANY_KEYS);
    assert!(costs.dimensions.iter().all(|d| d.cost == dec("0.01")));
    assert_eq!(costs.dimensions[0].dimension.as_str(), "usage_000000");
    assert_eq!(
        costs.dimensions[MANY_KEYS - 1].dimension.as_str(),
        "usage_099999",
        "in the order first seen"
    );
}

#[tokio::test]
async fn a_json_answer_with_a_hundred_thousand_dimensions_sums_exactly() {
    assert_every_dimension_in_order(&costs_with_many_dimensions(Format::Json, true).await);
}

#[tokio::test]
async fn a_csv_answer_with_a_hundred_thousand_usage_types_totals_exactly() {
    assert_every_dimension_in_order(&costs_with_many_dimensions(Format::Csv, false).await);
}

#[tokio::test]
async fn charts_with_a_hundred_thousand_series_sum_exactly() {
    let sim = simulator(every_answer(Fault::ManyChartSeries)).await;
    let client = wrapper_client(&sim.base_url(), TestClock::new());
    let one_day = DateRange::parse("2024-01-01", "2024-01-02").unwrap();

    let report = client
        .charts("acme", "prod")
        .range(one_day)
        .window(WindowSize::Day)
        .bucketing(Bucketing::Daily)
        .send()
        .await
        .unwrap();

    let buckets = &report.charts.buckets;
    assert_eq!(buckets.len(), 1);
    for bucket in buckets {
        assert_eq!(bucket.values.len(), MANY_KEYS);
        let sum = bucket
            .values
            .iter()
            .try_fold(Decimal::ZERO, |sum, v| sum.checked_add(v.value))
            .unwrap();
        assert_eq!(sum, dec("1000.00"));
        assert_eq!(bucket.values[MANY_KEYS - 1].id, "series_099999");
    }
}
