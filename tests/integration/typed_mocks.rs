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

// The typed mocks with the wrapper, configured as documented (base URL with `/api/v1`),
// through nothing but `ec-billing-httpmock`'s own re-exports.
mod with_the_wrapper {
    use ec_billing::{DateRange, Format, error::ErrorCode};
    use ec_billing_httpmock::{DocumentedError, MockServer, MockServerExt, types::ItemsCosts};

    use crate::support::{
        TestClock, client_with_attempts, fixture, retries, wrapper_builder, wrapper_client,
    };

    fn january() -> DateRange {
        DateRange::parse("2024-01-01", "2024-02-01").expect("a range")
    }

    /// A wrapper client of `server`, with the documented `/api/v1` in its base URL.
    fn client(server: &MockServer) -> ec_billing::Client {
        wrapper_client(&server.url("/api/v1"), TestClock::new())
    }

    #[tokio::test]
    async fn a_wrapper_client_with_the_documented_base_url_matches_the_typed_mock() {
        let items: ItemsCosts =
            serde_json::from_str(&fixture("items-2024-01.json")).expect("fixture");
        let server = MockServer::start_async().await;
        let from = jiff::Timestamp::from_second(1_704_067_200).unwrap();
        let to = jiff::Timestamp::from_second(1_706_745_600).unwrap();
        let mock = server.get_costs_items_by_deployment(|when, then| {
            when.organization_id("acme")
                .deployment_id("prod")
                .from(&from)
                .to(&to);
            then.ok(&items);
        });

        let report = client(&server)
            .items("acme", "prod")
            .range(january())
            .send()
            .await
            .expect("the typed mock answers");

        mock.assert_async().await;
        assert_eq!(report.items.costs.total.to_string(), "1234.5678");
    }

    #[tokio::test]
    async fn the_typed_mock_answers_items_as_csv() {
        let server = MockServer::start_async().await;
        let mock = server.get_costs_items_by_deployment(|when, then| {
            when.organization_id("acme").deployment_id("prod");
            then.csv(fixture("items-2024-01.csv"));
        });

        let report = client(&server)
            .items("acme", "prod")
            .range(january())
            .format(Format::Csv)
            .send()
            .await
            .expect("the CSV answer");

        mock.assert_async().await;
        assert_eq!(report.items.resources.len(), 3);
        assert_eq!(report.items.data_transfer_and_storage.len(), 4);
        assert_eq!(report.items.costs.total.to_string(), "1234.5678");
    }

    #[tokio::test]
    async fn each_documented_error_reaches_the_wrapper_with_its_code_and_class() {
        for error in DocumentedError::ALL {
            let server = MockServer::start_async().await;
            server.get_costs_items_by_deployment(|when, then| {
                when.organization_id("acme").deployment_id("prod");
                then.error(error, "as documented");
            });
            let client = client_with_attempts(&server.url("/api/v1"), 1);

            let err = client
                .items("acme", "prod")
                .range(january())
                .send()
                .await
                .expect_err("an error answer");

            assert_eq!(err.status(), Some(error.status()), "{error:?}");
            assert_eq!(
                err.code(),
                Some(&ErrorCode::from(error.code())),
                "{error:?}"
            );
            assert_eq!(err.messages(), ["as documented"], "{error:?}");
            assert_eq!(err.is_auth(), error.status() == 403, "{error:?}");
            assert_eq!(err.is_not_found(), error.status() == 404, "{error:?}");
            assert_eq!(
                err.is_retryable(),
                matches!(error.status(), 429 | 500),
                "{error:?}"
            );
        }
    }

    #[tokio::test]
    async fn the_typed_mock_answers_charts_errors_with_extra_headers() {
        let server = MockServer::start_async().await;
        let mock = server.get_costs_charts_by_deployment(|when, then| {
            when.deployment_id("prod");
            then.error(DocumentedError::RateLimited, "slow down")
                .header("retry-after", "7");
        });
        let clock = TestClock::new();
        let client = wrapper_builder(&server.url("/api/v1"), clock.clone())
            .retry_policy(retries(2))
            .build()
            .expect("a client");

        let err = client
            .charts("acme", "prod")
            .range(january())
            .send()
            .await
            .expect_err("throttled twice");

        assert_eq!(err.code(), Some(&ErrorCode::RateLimited));
        assert_eq!(mock.calls_async().await, 2);
        assert_eq!(clock.sleeps(), [std::time::Duration::from_secs(7)]);
    }

    #[tokio::test]
    async fn an_id_is_matched_literally_as_the_client_sends_it() {
        let items: ItemsCosts =
            serde_json::from_str(&fixture("items-2024-01.json")).expect("fixture");
        let server = MockServer::start_async().await;
        let weird = server.get_costs_items_by_deployment(|when, then| {
            when.organization_id("acme").deployment_id("we/ird id");
            then.ok(&items);
        });
        let dotted = server.get_costs_items_by_deployment(|when, then| {
            when.organization_id("acme").deployment_id("a.b");
            then.ok(&items);
        });
        let client = client(&server);

        client
            .items("acme", "we/ird id")
            .range(january())
            .send()
            .await
            .expect("an id with reserved characters is matched");
        let err = client
            .items("acme", "axb")
            .range(january())
            .send()
            .await
            .expect_err("`a.b` is not a pattern");

        weird.assert_async().await;
        assert_eq!(dotted.calls_async().await, 0);
        assert_eq!(err.status(), Some(404), "httpmock's own no-match answer");
    }
}
