//! `ec-billing` reads the items CSV by header name into the same types as the JSON.

use ec_billing::{DateRange, Error, Format, csv::ItemsCsvReader};
use httpmock::{Method::GET, MockServer};

use crate::support::{CANARY_KEY, TestClock, dec, fixture, fixture_json, wrapper_client};

fn january() -> DateRange {
    DateRange::parse("2024-01-01", "2024-02-01").unwrap()
}

#[tokio::test]
async fn csv_and_json_give_the_same_lines_and_the_same_total() {
    let server = MockServer::start_async().await;
    let csv = server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/billing/costs/acme/deployments/we%2Fird%20id/items")
                .query_param("from", "2024-01-01T00:00:00Z")
                .query_param("to", "2024-02-01T00:00:00Z")
                .header("accept", "text/csv")
                .header("authorization", format!("ApiKey {CANARY_KEY}"));
            then.status(200)
                .header("content-type", "text/csv")
                .body(fixture("items-2024-01.csv"));
        })
        .await;
    server
        .mock_async(|when, then| {
            when.method(GET).header("accept", "application/json");
            then.status(200)
                .json_body(fixture_json("items-2024-01.json"));
        })
        .await;
    let client = wrapper_client(&server.base_url(), TestClock::new());

    let from_csv = client
        .items("acme", "we/ird id")
        .range(january())
        .format(Format::Csv)
        .send()
        .await
        .unwrap();
    let from_json = client
        .items("acme", "we/ird id")
        .range(january())
        .send()
        .await
        .unwrap();

    csv.assert_async().await;
    let (mut csv_items, json_items) = (from_csv.items, from_json.items);
    assert_eq!(csv_items.costs.total, dec("1234.5678"));
    assert_eq!(csv_items.costs.total, json_items.costs.total);
    for line in &mut csv_items.resources {
        assert_eq!(line.extra.remove("Region").as_deref(), Some("us-central1"));
    }
    for line in &mut csv_items.data_transfer_and_storage {
        assert_eq!(line.extra.remove("Region").as_deref(), Some("us-central1"));
    }
    assert_eq!(csv_items.resources, json_items.resources);
    assert_eq!(
        csv_items.data_transfer_and_storage,
        json_items.data_transfer_and_storage
    );
    // CSV carries no dimension totals: they are derived, and agree with the JSON's.
    for dimension in &csv_items.costs.dimensions {
        let json = json_items
            .costs
            .dimensions
            .iter()
            .find(|d| d.dimension == dimension.dimension)
            .unwrap();
        assert_eq!(dimension.cost, json.cost, "{}", dimension.dimension);
    }
}

#[test]
fn reordered_snake_and_kebab_case_columns_with_price_as_cost_are_read_by_name() {
    let text = fixture("items-malformed.csv");
    let first_line_only = text.lines().take(2).collect::<Vec<_>>().join("\n");

    let items = ItemsCsvReader::new(first_line_only.as_bytes())
        .unwrap()
        .read_all()
        .unwrap();

    let dts = &items.data_transfer_and_storage[0];
    assert_eq!(dts.name, "Data inter-node (GCP us-central1)");
    assert_eq!(dts.quantity.value, dec("1241330000000"));
    assert_eq!(dts.quantity.formatted, "1,241.33 GB");
    assert_eq!(dts.rate.value, dec("0.01"));
    assert_eq!(dts.cost, dec("12.4133"));
    assert_eq!(items.costs.total, dec("12.4133"));
}

#[test]
fn a_malformed_row_names_its_value_column_record_and_line() {
    let err = ItemsCsvReader::new(fixture("items-malformed.csv").as_bytes())
        .unwrap()
        .read_all()
        .unwrap_err();

    assert_eq!(
        err.to_string(),
        "invalid decimal \"1,011.84\" in column \"cost\" at record 2 (line 3)"
    );
    let Error::Csv(csv) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(
        (csv.record(), csv.line(), csv.column()),
        (2, 3, Some("cost"))
    );
}

#[test]
fn a_row_with_a_missing_field_or_neither_kind_of_column_is_an_error() {
    let ragged = "Name,Cost\nonly-one-field\n";
    let err = ItemsCsvReader::new(ragged.as_bytes())
        .unwrap()
        .read_all()
        .unwrap_err();
    assert!(err.to_string().contains("at record 1 (line 2)"), "{err}");

    let neither = "Name,Cost\nmystery,1.5\n";
    let err = ItemsCsvReader::new(neither.as_bytes())
        .unwrap()
        .read_all()
        .unwrap_err();
    assert!(
        err.to_string().contains("neither resource columns"),
        "{err}"
    );
}

#[tokio::test]
async fn a_malformed_csv_response_is_a_decode_error_naming_window_and_record() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(GET).header("accept", "text/csv");
            then.status(200).body(fixture("items-malformed.csv"));
        })
        .await;
    let client = wrapper_client(&server.base_url(), TestClock::new());

    let err = client
        .items("acme", "prod")
        .range(january())
        .format(Format::Csv)
        .send()
        .await
        .unwrap_err();

    let Error::Decode(decode) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(decode.format(), Format::Csv);
    assert_eq!(decode.csv().map(|c| c.record()), Some(2));
    assert!(err.window().is_some());
    assert_eq!(err.attempts(), 1, "a malformed document is not retried");
}

#[tokio::test]
async fn a_csv_error_status_is_mapped_like_a_json_one() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(GET).header("accept", "text/csv");
            then.status(404)
                .header(
                    "x-cloud-error-codes",
                    "billing_service.es_cluster_id_not_found",
                )
                .body("not found");
        })
        .await;
    let client = wrapper_client(&server.base_url(), TestClock::new());

    let err = client
        .items("acme", "prod")
        .range(january())
        .format(Format::Csv)
        .send()
        .await
        .unwrap_err();

    assert_eq!(
        err.code(),
        Some(&ec_billing::error::ErrorCode::EsClusterIdNotFound)
    );
    assert_eq!(err.status(), Some(404));
}
