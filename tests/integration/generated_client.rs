//! The generated client sends what the API expects and decodes what it answers.

use ec_billing_api::{Error, types::GetCostsChartsByDeploymentBucketingStrategy as Bucketing};
use httpmock::{Method::GET, MockServer};

use crate::support::{CANARY_KEY, fixture, fixture_json, generated_client, ts};

const ITEMS_PATH: &str = "/billing/costs/acme/deployments/prod/items";
const CHARTS_PATH: &str = "/billing/costs/acme/deployments/prod/charts";

#[tokio::test]
async fn items_request_percent_encodes_the_path_and_sends_range_and_key() {
    let server = MockServer::start_async().await;
    let mock = server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/billing/costs/acme/deployments/we%2Fird%20id/items")
                .query_param("from", "2024-01-01T00:00:00Z")
                .query_param("to", "2024-02-01T00:00:00Z")
                .header("authorization", format!("ApiKey {CANARY_KEY}"))
                .header("accept", "application/json");
            then.status(200)
                .json_body(fixture_json("items-2024-01.json"));
        })
        .await;
    let (client, _) = generated_client(&server.base_url());

    client
        .get_costs_items_by_deployment()
        .organization_id("acme")
        .deployment_id("we/ird id")
        .from(ts("2024-01-01T00:00:00Z"))
        .to(ts("2024-02-01T00:00:00Z"))
        .send()
        .await
        .expect("the mock answers 200");

    mock.assert_async().await;
}

#[tokio::test]
async fn charts_request_sends_bucketing_strategy_and_range() {
    let server = MockServer::start_async().await;
    let mock = server
        .mock_async(|when, then| {
            when.method(GET)
                .path(CHARTS_PATH)
                .query_param("bucketing_strategy", "monthly")
                .query_param("from", "2024-01-01T00:00:00Z")
                .query_param("to", "2025-01-01T00:00:00Z")
                .header("authorization", format!("ApiKey {CANARY_KEY}"));
            then.status(200)
                .json_body(fixture_json("charts-daily.json"));
        })
        .await;
    let (client, _) = generated_client(&server.base_url());

    client
        .get_costs_charts_by_deployment()
        .organization_id("acme")
        .deployment_id("prod")
        .bucketing_strategy(Bucketing::Monthly)
        .from(ts("2024-01-01T00:00:00Z"))
        .to(ts("2025-01-01T00:00:00Z"))
        .send()
        .await
        .expect("the mock answers 200");

    mock.assert_async().await;
}

#[tokio::test]
async fn items_response_decodes_resources_dts_lines_and_dimensions() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(GET).path(ITEMS_PATH);
            then.status(200)
                .json_body(fixture_json("items-2024-01.json"));
        })
        .await;
    let (client, _) = generated_client(&server.base_url());

    let items = client
        .get_costs_items_by_deployment()
        .organization_id("acme")
        .deployment_id("prod")
        .send()
        .await
        .expect("a 200")
        .into_inner();

    assert_eq!(items.costs.total.to_string(), "1234.5678");
    let dimensions: Vec<_> = items
        .costs
        .dimensions
        .iter()
        .map(|d| d.type_.as_str())
        .collect();
    assert_eq!(
        dimensions,
        [
            "capacity",
            "data_in",
            "data_internode",
            "data_out",
            "storage_api",
            "storage_bytes"
        ]
    );
    assert_eq!(items.resources.len(), 3);
    let es = &items.resources[0];
    assert_eq!(
        (es.kind.as_str(), es.hours, es.instance_count),
        ("elasticsearch", 744, 2)
    );
    assert_eq!(es.price_per_hour.to_string(), "0.68");
    // `+00:00`, `Z` and fractional seconds all decode to the same UTC instant.
    for resource in &items.resources {
        assert_eq!(resource.period.start, ts("2024-01-01T00:00:00Z"));
        assert_eq!(resource.period.end, ts("2024-02-01T00:00:00Z"));
    }
    assert_eq!(items.data_transfer_and_storage.len(), 4);
    let snapshots = &items.data_transfer_and_storage[3];
    assert_eq!(snapshots.sku, "gcp.snapshot-storage");
    assert_eq!(snapshots.quantity.value, 2_668_996_666);
    assert_eq!(snapshots.rate.formatted_value, "0.03 per GB-month");
}

#[tokio::test]
async fn a_resource_kind_or_dimension_unknown_to_the_spec_still_decodes() {
    let mut body = fixture_json("items-2024-01.json");
    body["resources"][0]["kind"] = "elastic_security".into();
    body["costs"]["dimensions"][0]["type"] = "ingest_bytes".into();
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(GET).path(ITEMS_PATH);
            then.status(200).json_body(body);
        })
        .await;
    let (client, _) = generated_client(&server.base_url());

    let items = client
        .get_costs_items_by_deployment()
        .organization_id("acme")
        .deployment_id("prod")
        .send()
        .await
        .expect("new enum values do not fail decoding")
        .into_inner();

    assert_eq!(items.resources[0].kind.as_str(), "elastic_security");
    assert_eq!(items.costs.dimensions[0].type_.as_str(), "ingest_bytes");
}

#[tokio::test]
async fn charts_response_decodes_buckets_in_order() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(GET).path(CHARTS_PATH);
            then.status(200)
                .json_body(fixture_json("charts-daily.json"));
        })
        .await;
    let (client, _) = generated_client(&server.base_url());

    let charts = client
        .get_costs_charts_by_deployment()
        .organization_id("acme")
        .deployment_id("prod")
        .send()
        .await
        .expect("a 200")
        .into_inner();

    let stamps: Vec<_> = charts.data.iter().map(|b| b.timestamp).collect();
    assert_eq!(stamps, [1_704_067_200, 1_704_153_600, 1_704_240_000]);
    let first = &charts.data[0].values[0];
    assert_eq!(
        (
            first.id.as_str(),
            first.name.as_str(),
            first.value.to_string()
        ),
        ("capacity", "Capacity", "35.5173".to_string())
    );
}

/// Each documented (operation, status, code) of upstream, plus the 429 declared on items.
const DOCUMENTED_ERRORS: &[(&str, u16, &str)] = &[
    (CHARTS_PATH, 400, "costs.invalid_date_range"),
    (CHARTS_PATH, 403, "organization.invalid_access"),
    (CHARTS_PATH, 404, "organization.not_found"),
    (CHARTS_PATH, 429, "billing_service.rate_limited"),
    (CHARTS_PATH, 500, "billing_service.failed_request"),
    (ITEMS_PATH, 400, "costs.invalid_date_range"),
    (ITEMS_PATH, 403, "organization.invalid_access"),
    (ITEMS_PATH, 404, "organization.not_found"),
    (ITEMS_PATH, 404, "billing_service.es_cluster_id_not_found"),
    (ITEMS_PATH, 429, "billing_service.rate_limited"),
    (ITEMS_PATH, 500, "billing_service.failed_request"),
];

#[tokio::test]
async fn every_documented_error_status_keeps_its_status_code_header_and_body() {
    for &(path, status, code) in DOCUMENTED_ERRORS {
        let server = MockServer::start_async().await;
        server
            .mock_async(|when, then| {
                when.method(GET).path(path);
                then.status(status)
                    .header("x-cloud-error-codes", code)
                    .json_body(
                        serde_json::json!({"errors": [{"code": code, "message": "it failed"}]}),
                    );
            })
            .await;
        let (client, _) = generated_client(&server.base_url());

        let err = if path == ITEMS_PATH {
            let call = client.get_costs_items_by_deployment();
            call.organization_id("acme")
                .deployment_id("prod")
                .send()
                .await
                .map(drop)
        } else {
            let call = client.get_costs_charts_by_deployment();
            call.organization_id("acme")
                .deployment_id("prod")
                .send()
                .await
                .map(drop)
        }
        .expect_err("an error status");

        let Error::ErrorResponse(reply) = err else {
            panic!("{path} {status}: expected an error response, got {err:?}");
        };
        assert_eq!(reply.status().as_u16(), status, "{path}");
        assert_eq!(
            reply.headers()["x-cloud-error-codes"],
            code,
            "{path} {status}"
        );
        assert_eq!(reply.into_inner().errors[0].code, code, "{path} {status}");
    }
}

#[tokio::test]
async fn an_error_body_that_is_any_json_object_still_decodes() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(GET).path(ITEMS_PATH);
            then.status(400)
                .json_body(fixture_json("error-invalid-date-range.json"));
        })
        .await;
    server
        .mock_async(|when, then| {
            when.method(GET).path(CHARTS_PATH);
            then.status(429)
                .json_body(serde_json::json!({"message": "slow down"}));
        })
        .await;
    let (client, _) = generated_client(&server.base_url());

    let items = client
        .get_costs_items_by_deployment()
        .organization_id("acme")
        .deployment_id("prod");
    let Err(Error::ErrorResponse(reply)) = items.send().await else {
        panic!("expected a 400")
    };
    let element = &reply.errors[0];
    assert_eq!(element.fields, ["from", "to"]);
    assert!(element.message.contains("'from' must be before 'to'"));

    let charts = client
        .get_costs_charts_by_deployment()
        .organization_id("acme")
        .deployment_id("prod");
    let Err(Error::ErrorResponse(reply)) = charts.send().await else {
        panic!("expected a 429")
    };
    assert_eq!(reply.status().as_u16(), 429);
    assert!(reply.errors.is_empty());
}

#[tokio::test]
async fn an_error_status_with_an_html_body_keeps_status_and_headers_in_the_hooks() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(GET).path(ITEMS_PATH);
            then.status(500)
                .header("content-type", "text/html")
                .header("retry-after", "7")
                .body(fixture("proxy-502.html"));
        })
        .await;
    let (client, hooks) = generated_client(&server.base_url());

    let err = client
        .get_costs_items_by_deployment()
        .organization_id("acme")
        .deployment_id("prod")
        .send()
        .await
        .expect_err("a 500");

    // progenitor loses the status here ...
    assert!(matches!(err, Error::InvalidResponsePayload(..)), "{err:?}");
    assert_eq!(err.status(), None);
    // ... and the hooks still have it.
    let head = hooks.last_response().expect("a response was recorded");
    assert_eq!(head.status.as_u16(), 500);
    assert_eq!(head.headers["retry-after"], "7");
}

#[tokio::test]
async fn an_undocumented_status_is_an_unexpected_response_with_its_status() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(GET).path(CHARTS_PATH);
            then.status(502).body(fixture("proxy-502.html"));
        })
        .await;
    let (client, _) = generated_client(&server.base_url());

    let err = client
        .get_costs_charts_by_deployment()
        .organization_id("acme")
        .deployment_id("prod")
        .send()
        .await
        .expect_err("a 502");

    assert!(matches!(err, Error::UnexpectedResponse(_)), "{err:?}");
    assert_eq!(err.status().map(|s| s.as_u16()), Some(502));
}
