//! Every sum of money is checked: one too large for an exact decimal is a typed error
//! naming its window, never a panic, never a wrong number, and never retried.

use ec_billing::{Bucketing, DateRange, Error, Format, Items, WindowSize};
use ec_billing_sim::Fault;

use crate::support::{
    ScriptedServer, TestClock, every_answer, http, simulator, wrapper_builder, wrapper_client,
};

fn two_months() -> DateRange {
    DateRange::parse("2024-01-01", "2024-03-01").unwrap()
}

/// An items answer whose total and capacity are `total`.
fn items_json(total: &str) -> String {
    format!(
        r#"{{"costs":{{"total":{total},"dimensions":[{{"type":"capacity","cost":{total}}}]}},"data_transfer_and_storage":[],"resources":[]}}"#
    )
}

fn assert_overflow(err: &Error, window: &str) {
    let Error::Overflow(overflow) = err else {
        panic!("not an overflow: {err:?}")
    };
    assert_eq!(
        overflow.window().map(|w| w.to_string()).as_deref(),
        Some(window),
        "{err}"
    );
    assert!(!err.is_retryable());
    assert!(
        err.to_string().contains("overflows an exact decimal"),
        "{err}"
    );
}

#[tokio::test]
async fn window_totals_that_overflow_together_are_an_error_naming_the_second_window() {
    let server = ScriptedServer::start(vec![http(200, &[], &items_json("7e28"))]).await;
    let client = wrapper_client(server.base_url(), TestClock::new());

    let err = client
        .items("acme", "prod")
        .range(two_months())
        .send()
        .await
        .unwrap_err();
    assert_overflow(&err, "2024-02-01T00:00:00Z..2024-03-01T00:00:00Z");
    assert_eq!(err.deployment(), Some("prod"));

    let err = client
        .items("acme", "prod")
        .range(two_months())
        .totals()
        .await
        .unwrap_err();
    assert_overflow(&err, "2024-02-01T00:00:00Z..2024-03-01T00:00:00Z");
    assert_eq!(
        server.requests().len(),
        4,
        "each window once per call: nothing retried"
    );
}

#[tokio::test]
async fn csv_costs_that_overflow_within_one_answer_are_an_error_not_a_worker_panic() {
    let row = "ES,elasticsearch,es,24,1,2024-01-01,2024-01-02,1,79228162514264337593543950335\r\n";
    let csv = format!("Name,Kind,SKU,Hours,Instances,Start,End,Price Per Hour,Cost\r\n{row}{row}");
    let server = ScriptedServer::start(vec![http(200, &[], &csv)]).await;
    let client = wrapper_client(server.base_url(), TestClock::new());

    let err = client
        .items("acme", "prod")
        .range(DateRange::parse("2024-01-01", "2024-02-01").unwrap())
        .format(Format::Csv)
        .send()
        .await
        .unwrap_err();

    assert_overflow(&err, "2024-01-01T00:00:00Z..2024-02-01T00:00:00Z");
    assert_eq!(err.attempts(), 1);
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn chart_values_of_one_id_that_overflow_when_merged_are_an_error() {
    // Each month's answer ends with a bucket at its end, which the next one starts with.
    let body = r#"{"data":[{"timestamp":1706745600,"values":[{"id":"capacity","name":"Capacity","value":7e28}]}]}"#;
    let server = ScriptedServer::start(vec![http(200, &[], body)]).await;
    let client = wrapper_client(server.base_url(), TestClock::new());

    let err = client
        .charts("acme", "prod")
        .range(two_months())
        .bucketing(Bucketing::Monthly)
        .send()
        .await
        .unwrap_err();

    assert_overflow(&err, "2024-02-01T00:00:00Z..2024-03-01T00:00:00Z");
}

#[tokio::test]
async fn the_simulators_overflowing_costs_end_in_typed_errors_on_every_path() {
    let sim = simulator(every_answer(Fault::OverflowingCosts)).await;
    let client = wrapper_builder(&sim.base_url(), TestClock::new())
        .build()
        .unwrap();
    for format in [Format::Json, Format::Csv] {
        let err = client
            .items("acme", "prod")
            .range(two_months())
            .format(format)
            .send()
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Overflow(_)), "{format:?}: {err:?}");
        assert!(!err.is_retryable());
    }
    let err = client
        .charts("acme", "prod")
        .range(two_months())
        .window(WindowSize::Month)
        .send()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Overflow(_)), "{err:?}");
}

#[tokio::test]
async fn two_capacity_dimensions_of_one_answer_that_overflow_together_are_an_error() {
    let body = r#"{"costs":{"total":1,"dimensions":[{"type":"capacity","cost":7e28},{"type":"capacity","cost":7e28}]},"data_transfer_and_storage":[],"resources":[]}"#;
    let server = ScriptedServer::start(vec![http(200, &[], body)]).await;
    let client = wrapper_client(server.base_url(), TestClock::new());

    let err = client
        .items("acme", "prod")
        .range(DateRange::parse("2024-01-01", "2024-02-01").unwrap())
        .send()
        .await
        .unwrap_err();

    assert_overflow(&err, "2024-01-01T00:00:00Z..2024-02-01T00:00:00Z");
    assert!(err.to_string().contains("dimension \"capacity\""), "{err}");
}

#[test]
fn merging_by_hand_checks_every_sum_too() {
    let huge = Items::from_json(items_json("7e28").as_bytes()).unwrap();
    let windows: Vec<_> = two_months().windows(WindowSize::Month).collect();
    let parts = windows.iter().map(|window| ec_billing::WindowResult {
        window: *window,
        value: huge.clone(),
    });
    let err = Items::merge(parts).unwrap_err();
    assert_overflow(&err, "2024-02-01T00:00:00Z..2024-03-01T00:00:00Z");
}
