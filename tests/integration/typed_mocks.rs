//! `ec-billing-httpmock`'s typed `when`/`then` helpers drive a mock server.

use ec_billing_api::types::{
    BasicFailedReply, BasicFailedReplyElement, ChartItems,
    GetCostsChartsByDeploymentBucketingStrategy as Bucketing, ItemsCosts,
};
use ec_billing_httpmock::MockServerExt;
use httpmock::MockServer;

use crate::support::{fixture, generated_client, ts};

#[tokio::test]
async fn typed_mock_serves_items_for_the_requested_range() {
    let items: ItemsCosts = serde_json::from_str(&fixture("items-2024-01.json")).expect("fixture");
    let server = MockServer::start_async().await;
    let from = ts("2024-01-01T00:00:00Z");
    let to = ts("2024-02-01T00:00:00Z");
    let mock = server.get_costs_items_by_deployment(|when, then| {
        when.organization_id("acme")
            .deployment_id("prod")
            .from(&from)
            .to(&to);
        then.ok(&items);
    });
    let (client, _) = generated_client(&server.base_url());

    let got = client
        .get_costs_items_by_deployment()
        .organization_id("acme")
        .deployment_id("prod")
        .from(from)
        .to(to)
        .send()
        .await
        .expect("the typed mock answers")
        .into_inner();

    mock.assert();
    assert_eq!(got, items);
}

#[tokio::test]
async fn typed_mock_answers_a_documented_error_with_its_typed_body() {
    let server = MockServer::start_async().await;
    let reply = BasicFailedReply {
        errors: vec![BasicFailedReplyElement {
            code: "organization.not_found".into(),
            message: "Organization not found".into(),
            fields: vec![],
        }],
    };
    server.get_costs_charts_by_deployment(|when, then| {
        when.organization_id("ghost")
            .bucketing_strategy(Bucketing::Daily);
        then.not_found(&reply);
    });
    let (client, _) = generated_client(&server.base_url());

    let err = client
        .get_costs_charts_by_deployment()
        .organization_id("ghost")
        .deployment_id("prod")
        .bucketing_strategy(Bucketing::Daily)
        .send()
        .await
        .expect_err("a 404");

    let ec_billing_api::Error::ErrorResponse(got) = err else {
        panic!("{err:?}")
    };
    assert_eq!(got.status().as_u16(), 404);
    assert_eq!(got.into_inner(), reply);
}

#[tokio::test]
async fn typed_mock_serves_empty_charts() {
    let server = MockServer::start_async().await;
    server.get_costs_charts_by_deployment(|when, then| {
        when.deployment_id("prod");
        then.ok(&ChartItems { data: vec![] });
    });
    let (client, _) = generated_client(&server.base_url());

    let charts = client
        .get_costs_charts_by_deployment()
        .organization_id("acme")
        .deployment_id("prod")
        .send()
        .await
        .expect("a 200");

    assert!(charts.data.is_empty());
}
