//! Results a service can keep: every result type serializes (money as decimal strings
//! with every digit, instants as RFC 3339 UTC) and reads back equal.

use ec_billing::{
    Bucketing, ChartsReport, DateRange, Format, ItemsReport, ItemsTotals, WindowSize,
};

use crate::support::{TestClock, simulator, wrapper_client};

#[tokio::test]
async fn reports_and_totals_round_trip_through_json_exactly() {
    let sim = simulator(ec_billing_sim::Faults::default()).await;
    let client = wrapper_client(&sim.base_url(), TestClock::new());
    let quarter = DateRange::parse("2024-01-01", "2024-04-01").unwrap();

    for format in [Format::Json, Format::Csv] {
        let report = client
            .items("acme", "prod")
            .range(quarter)
            .format(format)
            .send()
            .await
            .unwrap();
        let text = serde_json::to_string(&report).unwrap();
        assert!(
            text.contains(r#""from":"2024-01-01T00:00:00Z""#),
            "{text:.300}"
        );
        let total = report.items.costs.total.to_string();
        assert!(
            text.contains(&format!(r#""total":"{total}""#)),
            "money is a string"
        );
        let back: ItemsReport = serde_json::from_str(&text).unwrap();
        assert_eq!(back, report, "{format:?}");
    }

    let totals = client
        .items("acme", "prod")
        .range(quarter)
        .totals()
        .await
        .unwrap();
    let back: ItemsTotals = serde_json::from_str(&serde_json::to_string(&totals).unwrap()).unwrap();
    assert_eq!(back, totals);

    let charts = client
        .charts("acme", "prod")
        .range(quarter)
        .bucketing(Bucketing::Monthly)
        .window(WindowSize::Month)
        .send()
        .await
        .unwrap();
    let text = serde_json::to_string(&charts).unwrap();
    assert!(text.contains(r#""bucketing":"monthly""#), "{text:.300}");
    let back: ChartsReport = serde_json::from_str(&text).unwrap();
    assert_eq!(back, charts);
}

#[test]
fn saved_results_that_break_an_invariant_are_refused_when_read_back() {
    let reversed = r#"{"from":"2024-02-01T00:00:00Z","to":"2024-01-01T00:00:00Z"}"#;
    assert!(serde_json::from_str::<DateRange>(reversed).is_err());
    let inexact = r#"{"total":"123456789012345.123456789012345","dimensions":[]}"#;
    assert!(serde_json::from_str::<ec_billing::Costs>(inexact).is_err());
    let exact = r#"{"total":"0.10","dimensions":[{"dimension":"data_out","cost":"0.10"}]}"#;
    let costs: ec_billing::Costs = serde_json::from_str(exact).unwrap();
    assert_eq!(costs.total.to_string(), "0.10");
}
