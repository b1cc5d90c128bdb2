//! No silent wrong number: a value that cannot be held exactly, a chart bucket twice in
//! one answer or far outside its window, is an error that names it, never a rounded,
//! summed or misplaced value.

use ec_billing::{Bucketing, DateRange, Error, Format};
use ec_billing_sim::Fault;

use crate::support::{TestClock, every_answer, simulator, wrapper_builder};

fn january() -> DateRange {
    DateRange::parse("2024-01-01", "2024-02-01").unwrap()
}

/// A client of a simulator whose every answer draws `fault`, and the cause chain of
/// the error a January request meets.
async fn cause_of(fault: Fault, format: Option<Format>) -> (Error, String) {
    let sim = simulator(every_answer(fault)).await;
    let client = wrapper_builder(&sim.base_url(), TestClock::new())
        .build()
        .unwrap();
    let err = match format {
        Some(format) => client
            .items("acme", "prod")
            .range(january())
            .format(format)
            .send()
            .await
            .map(|_| ())
            .unwrap_err(),
        None => client
            .charts("acme", "prod")
            .range(january())
            .bucketing(Bucketing::Daily)
            .send()
            .await
            .map(|_| ())
            .unwrap_err(),
    };
    let mut chain = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        chain += &format!(": {cause}");
        source = cause.source();
    }
    assert_eq!(sim.stats().requests, 1, "{fault:?}: not retried");
    (err, chain)
}

#[tokio::test]
async fn a_json_number_with_more_digits_than_a_decimal_holds_is_an_error_naming_its_field() {
    let (err, chain) = cause_of(Fault::ExcessDigits, Some(Format::Json)).await;
    assert!(matches!(err, Error::Decode(_)), "{err:?}");
    assert!(
        chain.contains("costs.total: number 123456789012345.123456789012345"),
        "{chain}"
    );
}

#[tokio::test]
async fn a_csv_cost_with_thirty_decimal_places_is_an_error_not_zero() {
    let (err, chain) = cause_of(Fault::ExcessDigits, Some(Format::Csv)).await;
    assert!(matches!(err, Error::Decode(_)), "{err:?}");
    assert!(
        chain.contains("0.000000000000000000000000000015"),
        "{chain}"
    );
    assert!(chain.contains("\"Cost\""), "{chain}");
}

#[tokio::test]
async fn a_chart_timestamp_twice_in_one_answer_is_an_error_not_a_sum() {
    let (err, chain) = cause_of(Fault::DuplicateBucket, None).await;
    assert!(matches!(err, Error::Decode(_)), "{err:?}");
    assert!(chain.contains("two buckets of one answer"), "{chain}");
}

#[tokio::test]
async fn a_chart_bucket_far_outside_its_window_is_an_error_not_a_bucket_in_1972() {
    // 86,400,000 is below 10^11, so seconds by the contract's rule: 1972-09-27.
    let (err, chain) = cause_of(Fault::BucketOutsideWindow, None).await;
    assert!(matches!(err, Error::Decode(_)), "{err:?}");
    assert!(chain.contains("1972-09-27T00:00:00Z is outside"), "{chain}");
}

#[test]
fn one_id_twice_in_one_bucket_is_an_error_not_a_sum() {
    let answer = br#"{"data":[{"timestamp":1704067200,"values":[
        {"id":"capacity","name":"Capacity","value":1.5},
        {"id":"capacity","name":"Capacity","value":2.5}]}]}"#;
    let err = ec_billing::Charts::from_json(answer).unwrap_err();
    let mut chain = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        chain += &format!(": {cause}");
        source = cause.source();
    }
    assert!(matches!(err, Error::Decode(_)), "{err:?}");
    assert!(
        chain.contains("two values of the bucket at 2024-01-01T00:00:00Z have the id \"capacity\""),
        "{chain}"
    );
}
