//! `ec-billing` splits ranges into windows, fetches each once, and merges them exactly.

use ec_billing::{Bucketing, DateRange, Error, WindowSize};
use futures_util::StreamExt;
use httpmock::{Method::GET, MockServer};
use serde_json::{Value, json};

use crate::support::{TestClock, dec, in_flight, wrapper_builder, wrapper_client};

const ITEMS_PATH: &str = "/billing/costs/acme/deployments/prod/items";
const CHARTS_PATH: &str = "/billing/costs/acme/deployments/prod/charts";

/// An items body with one resource line costing `cost`, written as the JSON number `cost`.
fn items_body(cost: &str) -> Value {
    let cost: Value = serde_json::from_str(cost).expect("a JSON number");
    json!({
        "costs": {"total": cost, "dimensions": [{"type": "capacity", "cost": cost}]},
        "data_transfer_and_storage": [],
        "resources": [{
            "hours": 24, "instance_count": 1, "kind": "elasticsearch",
            "period": {"start": "2024-01-01T00:00:00Z", "end": "2024-01-02T00:00:00Z"},
            "price": cost, "price_per_hour": 0.01, "name": "ES", "sku": "es"
        }]
    })
}

#[tokio::test]
async fn a_year_of_items_is_twelve_monthly_requests_with_exact_bounds_and_total() {
    let server = MockServer::start_async().await;
    let range = DateRange::parse("2024-01-01", "2025-01-01").unwrap();
    let mut mocks = Vec::new();
    for window in range.windows(WindowSize::Month) {
        let (from, to) = (window.from().to_string(), window.to().to_string());
        let mock = server
            .mock_async(|when, then| {
                when.method(GET)
                    .path(ITEMS_PATH)
                    .query_param("from", from)
                    .query_param("to", to);
                then.status(200).json_body(items_body("0.1301"));
            })
            .await;
        mocks.push(mock);
    }
    let client = wrapper_client(&server.base_url(), TestClock::new());

    let report = client
        .items("acme", "prod")
        .range(range)
        .send()
        .await
        .expect("all 12 answer");

    for mock in &mocks {
        mock.assert_calls_async(1).await;
    }
    assert_eq!(report.windows.len(), 12);
    assert_eq!(report.items.costs.total, dec("1.5612"));
    assert_eq!(report.items.costs.dimensions[0].cost, dec("1.5612"));
    assert_eq!(report.items.resources.len(), 12);
}

#[tokio::test]
async fn no_request_spans_more_than_ninety_two_days() {
    let server = MockServer::start_async().await;
    let all = server
        .mock_async(|when, then| {
            when.method(GET).path(ITEMS_PATH);
            then.status(200).json_body(items_body("1"));
        })
        .await;
    let client = wrapper_client(&server.base_url(), TestClock::new());
    let range = DateRange::parse("2024-01-01", "2025-01-01").unwrap();

    let report = client
        .items("acme", "prod")
        .range(range)
        .window(WindowSize::days(92).unwrap())
        .send()
        .await
        .unwrap();

    all.assert_calls_async(4).await;
    let spans: Vec<i64> = report
        .windows
        .iter()
        .map(|w| (w.to().as_second() - w.from().as_second()) / 86_400)
        .collect();
    assert_eq!(spans, [92, 92, 92, 90]);
}

#[tokio::test]
async fn daily_windows_over_a_year_sum_exactly_where_f64_drifts() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(GET).path(ITEMS_PATH);
            then.status(200).json_body(items_body("0.1"));
        })
        .await;
    let client = wrapper_builder(&server.base_url(), TestClock::new())
        .concurrency(in_flight(8))
        .build()
        .unwrap();
    let range = DateRange::parse("2023-01-01", "2024-01-01").unwrap();

    let report = client
        .items("acme", "prod")
        .range(range)
        .window(WindowSize::Day)
        .send()
        .await
        .unwrap();

    assert_eq!(report.windows.len(), 365);
    assert_eq!(report.items.costs.total, dec("36.5"));
    let drifted: f64 = std::iter::repeat_n(0.1f64, 365).sum();
    assert_ne!(drifted.to_string(), "36.5", "f64 would not have been exact");
}

#[tokio::test]
async fn the_stream_yields_each_window_once_in_order() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(GET).path(ITEMS_PATH);
            then.status(200).json_body(items_body("2.5"));
        })
        .await;
    let client = wrapper_client(&server.base_url(), TestClock::new());
    let range = DateRange::parse("2024-01-15", "2024-04-10").unwrap();

    let results: Vec<_> = client
        .items("acme", "prod")
        .range(range)
        .stream()
        .collect()
        .await;

    let windows: Vec<String> = results
        .iter()
        .map(|r| r.as_ref().unwrap().window.to_string())
        .collect();
    assert_eq!(
        windows,
        [
            "2024-01-15T00:00:00Z..2024-02-01T00:00:00Z",
            "2024-02-01T00:00:00Z..2024-03-01T00:00:00Z",
            "2024-03-01T00:00:00Z..2024-04-01T00:00:00Z",
            "2024-04-01T00:00:00Z..2024-04-10T00:00:00Z",
        ]
    );
}

#[tokio::test]
async fn a_failing_window_is_named_by_its_error_and_later_windows_still_arrive() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(GET)
                .path(ITEMS_PATH)
                .query_param("from", "2024-02-01T00:00:00Z");
            then.status(403)
                .header("x-cloud-error-codes", "organization.invalid_access")
                .json_body(
                    json!({"errors": [{"code": "organization.invalid_access", "message": "no"}]}),
                );
        })
        .await;
    server
        .mock_async(|when, then| {
            when.method(GET).path(ITEMS_PATH);
            then.status(200).json_body(items_body("1"));
        })
        .await;
    let client = wrapper_client(&server.base_url(), TestClock::new());
    let range = DateRange::parse("2024-01-01", "2024-04-01").unwrap();

    let results: Vec<_> = client
        .items("acme", "prod")
        .range(range)
        .stream()
        .collect()
        .await;

    assert_eq!(results.len(), 3);
    assert!(results[0].is_ok() && results[2].is_ok());
    let err = results[1].as_ref().unwrap_err();
    assert_eq!(
        err.window().unwrap().to_string(),
        "2024-02-01T00:00:00Z..2024-03-01T00:00:00Z"
    );
    assert_eq!(err.deployment(), Some("prod"));

    let merged = client
        .items("acme", "prod")
        .range(range)
        .send()
        .await
        .unwrap_err();
    assert_eq!(merged.window(), err.window());
}

#[tokio::test]
async fn bad_input_is_refused_before_any_request() {
    let server = MockServer::start_async().await;
    let any = server
        .mock_async(|when, then| {
            when.any_request();
            then.status(200).json_body(items_body("1"));
        })
        .await;
    let client = wrapper_client(&server.base_url(), TestClock::new());
    let range = DateRange::parse("2024-01-01", "2024-02-01").unwrap();

    let empty_deployment = client
        .items("acme", " ")
        .range(range)
        .send()
        .await
        .unwrap_err();
    let empty_org = client
        .charts("", "prod")
        .range(range)
        .send()
        .await
        .unwrap_err();

    assert!(
        matches!(empty_deployment, Error::InvalidInput(_)),
        "{empty_deployment}"
    );
    assert!(matches!(empty_org, Error::InvalidInput(_)), "{empty_org}");
    any.assert_calls_async(0).await;
}

#[tokio::test]
async fn monthly_charts_use_month_windows_and_merge_shared_timestamps_by_id() {
    let server = MockServer::start_async().await;
    // January's answer ends with a bucket at 2024-02-01 (in milliseconds), which
    // February's answer starts with (in seconds): one bucket, values summed by id.
    let january = server
        .mock_async(|when, then| {
            when.method(GET)
                .path(CHARTS_PATH)
                .query_param("bucketing_strategy", "monthly")
                .query_param("from", "2024-01-01T00:00:00Z")
                .query_param("to", "2024-02-01T00:00:00Z");
            then.status(200).json_body(json!({"data": [
                {"timestamp": 1_704_067_200, "values": [{"id": "capacity", "name": "Capacity", "value": 10.1}]},
                {"timestamp": 1_706_745_600_000_i64, "values": [{"id": "capacity", "name": "Capacity", "value": 0.2}]}
            ]}));
        })
        .await;
    let february = server
        .mock_async(|when, then| {
            when.method(GET)
                .path(CHARTS_PATH)
                .query_param("bucketing_strategy", "monthly")
                .query_param("from", "2024-02-01T00:00:00Z")
                .query_param("to", "2024-03-01T00:00:00Z");
            then.status(200).json_body(json!({"data": [
                {"timestamp": 1_706_745_600, "values": [
                    {"id": "capacity", "name": "Capacity", "value": 0.1},
                    {"id": "data_out", "name": "Data out", "value": 3}
                ]}
            ]}));
        })
        .await;
    let client = wrapper_client(&server.base_url(), TestClock::new());
    let range = DateRange::parse("2024-01-01", "2024-03-01").unwrap();

    let report = client
        .charts("acme", "prod")
        .range(range)
        .bucketing(Bucketing::Monthly)
        .window(WindowSize::Day)
        .send()
        .await
        .unwrap();

    january.assert_calls_async(1).await;
    february.assert_calls_async(1).await;
    let buckets = &report.charts.buckets;
    assert_eq!(buckets.len(), 2);
    assert_eq!(buckets[0].timestamp.to_string(), "2024-01-01T00:00:00Z");
    assert_eq!(buckets[1].timestamp.to_string(), "2024-02-01T00:00:00Z");
    let values: Vec<_> = buckets[1]
        .values
        .iter()
        .map(|v| (v.id.as_str(), v.value))
        .collect();
    assert_eq!(values, [("capacity", dec("0.3")), ("data_out", dec("3"))]);
}

#[tokio::test]
async fn a_callers_own_http_client_still_sends_the_key_and_the_user_agent() {
    let server = MockServer::start_async().await;
    let mock = server
        .mock_async(|when, then| {
            when.method(GET)
                .path(ITEMS_PATH)
                .header(
                    "authorization",
                    format!("ApiKey {}", crate::support::CANARY_KEY),
                )
                .header(
                    "user-agent",
                    format!("ec-billing/{}", env!("CARGO_PKG_VERSION")),
                )
                .header("x-proxy-tag", "finops");
            then.status(200).json_body(items_body("1"));
        })
        .await;
    let own = reqwest::Client::builder()
        .default_headers(reqwest::header::HeaderMap::from_iter([(
            reqwest::header::HeaderName::from_static("x-proxy-tag"),
            reqwest::header::HeaderValue::from_static("finops"),
        )]))
        .build()
        .unwrap();
    let client = wrapper_builder(&server.base_url(), TestClock::new())
        .http_client(own)
        .build()
        .unwrap();
    let range = DateRange::parse("2024-01-01", "2024-02-01").unwrap();

    for format in [ec_billing::Format::Json, ec_billing::Format::Csv] {
        // The CSV answer here is JSON, which the CSV reader refuses: only the request matters.
        let _ = client
            .items("acme", "prod")
            .range(range)
            .format(format)
            .send()
            .await;
    }

    mock.assert_calls_async(2).await;
}
