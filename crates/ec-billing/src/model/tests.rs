//! Unit tests of the model: exact merges, overflow named by window, chart buckets.

use super::*;
use crate::error::Error;
use crate::time::{DateRange, WindowSize};

fn dec(text: &str) -> Decimal {
    text.parse().unwrap()
}

/// `parts` as the results of consecutive daily windows of January 2024.
fn in_windows<T>(parts: impl IntoIterator<Item = T>) -> Vec<WindowResult<T>> {
    let days = DateRange::parse("2024-01-01", "2024-02-01")
        .unwrap()
        .windows(WindowSize::Day);
    parts
        .into_iter()
        .zip(days.cycle())
        .map(|(value, window)| WindowResult { window, value })
        .collect()
}

fn costs(total: &str) -> Items {
    Items {
        costs: Costs {
            total: dec(total),
            dimensions: vec![DimensionCost {
                dimension: Dimension::Capacity,
                cost: dec(total),
            }],
        },
        ..Items::default()
    }
}

#[test]
fn summing_many_windows_is_exact_where_f64_drifts() {
    let merged = Items::merge(in_windows(std::iter::repeat_n(costs("0.1"), 1000))).unwrap();
    assert_eq!(merged.costs.total, dec("100"));
    assert_eq!(merged.costs.dimensions[0].cost, dec("100"));
    let drifting: f64 = std::iter::repeat_n(0.1f64, 1000).sum();
    assert_ne!(drifting, 100.0, "f64 would have drifted");
}

#[test]
fn a_total_that_overflows_over_two_windows_is_an_error_naming_the_second() {
    let err = Items::merge(in_windows([costs("7e28"), costs("7e28")])).unwrap_err();
    let Error::Overflow(overflow) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(overflow.what(), "costs.total");
    assert_eq!(
        overflow.window().unwrap().to_string(),
        "2024-01-02T00:00:00Z..2024-01-03T00:00:00Z"
    );
    assert!(!err.is_retryable());
}

#[test]
fn same_timestamp_buckets_from_adjacent_windows_sum_by_id() {
    let at: Timestamp = "2024-02-01T00:00:00Z".parse().unwrap();
    let value = |id: &str, v: &str| ChartValue {
        id: id.into(),
        name: id.into(),
        value: dec(v),
    };
    let bucket = |values| Charts {
        buckets: vec![ChartBucket {
            timestamp: at,
            values,
        }],
    };
    let first = bucket(vec![value("a", "1.1"), value("b", "2")]);
    let second = bucket(vec![value("a", "0.2"), value("c", "3")]);
    let merged = Charts::merge(in_windows([first, second])).unwrap();
    assert_eq!(merged.buckets.len(), 1);
    assert_eq!(
        merged.buckets[0].values,
        [value("a", "1.3"), value("b", "2"), value("c", "3")]
    );

    let huge = || bucket(vec![value("a", "7e28")]);
    let err = Charts::merge(in_windows([huge(), huge()])).unwrap_err();
    assert!(matches!(err, Error::Overflow(_)), "{err:?}");
    assert!(err.to_string().contains("chart value \"a\""), "{err}");
}

#[test]
fn a_timestamp_twice_in_one_charts_answer_is_refused() {
    let json = br#"{"data":[{"timestamp":1704067200,"values":[]},{"timestamp":1704067200000,"values":[]}]}"#;
    let err = Charts::from_json(json).unwrap_err();
    let cause = std::error::Error::source(&err).unwrap().to_string();
    assert!(cause.contains("two buckets"), "{cause}");
}

#[test]
fn a_number_with_too_many_digits_names_its_field() {
    let json = br#"{"costs":{"total":1,"dimensions":[]},"data_transfer_and_storage":[],"resources":[{"hours":1,"instance_count":1,"kind":"kibana","name":"k","sku":"s","period":{"start":"2024-01-01T00:00:00Z","end":"2024-01-02T00:00:00Z"},"price":123456789012345.123456789012345,"price_per_hour":1}]}"#;
    let err = Items::from_json(json).unwrap_err();
    let cause = std::error::Error::source(&err).unwrap().to_string();
    assert!(
        cause.starts_with("resources[0].price: number 123456789012345.123456789012345"),
        "{cause}"
    );
}
