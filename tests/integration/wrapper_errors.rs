//! `ec-billing` maps every error answer to a typed error, retries what may succeed on a
//! second try, honours `Retry-After`, and gives up within its bounds.

use std::time::Duration;

use ec_billing::{
    DateRange, Error, Format, error::ErrorCode, error::Operation, error::TransportKind,
    policy::Pacing, policy::RetryPolicy,
};
use httpmock::{Method::GET, MockServer};
use serde_json::json;

use crate::support::{
    Reply, ScriptedServer, TestClock, attempts, dec, fixture, http, truncated, wrapper_builder,
    wrapper_client,
};

const ITEMS_PATH: &str = "/billing/costs/acme/deployments/prod/items";

fn january() -> DateRange {
    DateRange::parse("2024-01-01", "2024-02-01").unwrap()
}

const ITEMS_OK: &str =
    r#"{"costs":{"total":0.1301,"dimensions":[]},"data_transfer_and_storage":[],"resources":[]}"#;

/// The six documented codes and the status each comes with.
const CODES: &[(u16, &str, ErrorCode)] = &[
    (400, "costs.invalid_date_range", ErrorCode::InvalidDateRange),
    (403, "organization.invalid_access", ErrorCode::InvalidAccess),
    (
        404,
        "organization.not_found",
        ErrorCode::OrganizationNotFound,
    ),
    (
        404,
        "billing_service.es_cluster_id_not_found",
        ErrorCode::EsClusterIdNotFound,
    ),
    (429, "billing_service.rate_limited", ErrorCode::RateLimited),
    (
        500,
        "billing_service.failed_request",
        ErrorCode::FailedRequest,
    ),
];

#[tokio::test]
async fn every_documented_code_is_typed_from_the_header_alone_and_from_the_body_alone() {
    for &(status, text, ref code) in CODES {
        for source in ["header", "body"] {
            let server = MockServer::start_async().await;
            server
                .mock_async(|when, then| {
                    when.method(GET).path(ITEMS_PATH);
                    let then = then.status(status);
                    if source == "header" {
                        then.header("x-cloud-error-codes", text)
                            .json_body(json!({}));
                    } else {
                        then.json_body(json!({"errors": [{"code": text, "message": "it failed"}]}));
                    }
                })
                .await;
            let client = wrapper_builder(&server.base_url(), TestClock::new())
                .retry_policy(RetryPolicy::never())
                .build()
                .unwrap();

            let err = client
                .items("acme", "prod")
                .range(january())
                .send()
                .await
                .unwrap_err();

            assert_eq!(err.code(), Some(code), "{text} from the {source}");
            assert_eq!(err.status(), Some(status));
            assert_eq!(err.operation(), Some(Operation::Items));
            assert_eq!(err.organization(), Some("acme"));
        }
    }
}

#[tokio::test]
async fn an_unknown_code_is_kept_as_its_text_with_messages_and_request_id() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(GET).path(ITEMS_PATH);
            then.status(400)
                .header("x-cloud-error-codes", "costs.brand_new")
                .header("x-request-id", "req-42")
                .json_body(json!({"errors": [
                    {"code": "costs.brand_new", "message": "first"},
                    {"code": "costs.invalid_date_range", "message": "second"}
                ]}));
        })
        .await;
    let client = wrapper_client(&server.base_url(), TestClock::new());

    let err = client
        .items("acme", "prod")
        .range(january())
        .send()
        .await
        .unwrap_err();

    let Error::Api(api) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(
        api.codes(),
        [
            ErrorCode::from("costs.brand_new"),
            ErrorCode::InvalidDateRange
        ]
    );
    assert_eq!(api.messages(), ["first", "second"]);
    assert_eq!(api.request_id(), Some("req-42"));
    assert!(!err.is_retryable());
    assert_eq!(err.attempts(), 1);
}

#[tokio::test]
async fn an_html_500_from_a_proxy_keeps_its_status_and_is_retried() {
    let html = fixture("proxy-502.html");
    let server = ScriptedServer::start(vec![
        http(500, &[("content-type", "text/html")], &html),
        http(200, &[("content-type", "application/json")], ITEMS_OK),
    ])
    .await;
    let clock = TestClock::new();
    let client = wrapper_client(server.base_url(), clock.clone());

    let report = client
        .items("acme", "prod")
        .range(january())
        .send()
        .await
        .unwrap();

    assert_eq!(report.items.costs.total, dec("0.1301"));
    assert_eq!(server.requests().len(), 2);
    assert_eq!(clock.sleeps(), [Duration::from_millis(500)]);
}

#[tokio::test]
async fn an_html_500_that_never_clears_ends_as_a_classified_500_error() {
    let server = ScriptedServer::start(vec![http(
        500,
        &[("content-type", "text/html")],
        "<html>oops</html>",
    )])
    .await;
    let clock = TestClock::new();
    let client = wrapper_client(server.base_url(), clock.clone());

    let err = client
        .items("acme", "prod")
        .range(january())
        .send()
        .await
        .unwrap_err();

    assert_eq!(err.status(), Some(500));
    assert_eq!(err.code(), None);
    assert!(err.is_retryable());
    assert_eq!(err.attempts(), 5);
    assert_eq!(server.requests().len(), 5);
    let waits: Vec<u64> = clock
        .sleeps()
        .iter()
        .map(|d| d.as_millis() as u64)
        .collect();
    assert_eq!(
        waits,
        [500, 1000, 2000, 4000],
        "exponential backoff, then give up"
    );
}

#[tokio::test]
async fn a_plain_text_429_is_rate_limited_and_its_retry_after_is_honoured() {
    let server = ScriptedServer::start(vec![
        http(
            429,
            &[("content-type", "text/plain"), ("retry-after", "3")],
            "Too Many Requests",
        ),
        http(200, &[("content-type", "application/json")], ITEMS_OK),
    ])
    .await;
    let clock = TestClock::new();
    let client = wrapper_client(server.base_url(), clock.clone());

    let report = client
        .items("acme", "prod")
        .range(january())
        .send()
        .await
        .unwrap();

    assert_eq!(report.items.costs.total, dec("0.1301"));
    assert_eq!(clock.sleeps(), [Duration::from_secs(3)]);
}

#[tokio::test]
async fn an_empty_429_stays_rate_limited_when_retries_run_out() {
    let server = ScriptedServer::start(vec![http(429, &[("retry-after", "1")], "")]).await;
    let clock = TestClock::new();
    // Retries alone: AIMD pacing would add waits of its own after repeated 429s.
    let client = wrapper_builder(server.base_url(), clock.clone())
        .retry_policy(RetryPolicy::default().with_max_attempts(attempts(3)))
        .pacing(Pacing::Off)
        .build()
        .unwrap();

    let err = client
        .charts("acme", "prod")
        .range(january())
        .send()
        .await
        .unwrap_err();

    assert!(err.is_rate_limited());
    assert_eq!(err.status(), Some(429));
    assert_eq!(err.attempts(), 3);
    assert_eq!(
        clock.sleeps(),
        [Duration::from_secs(1), Duration::from_secs(1)]
    );
}

#[tokio::test]
async fn retry_after_as_an_http_date_waits_until_then() {
    // The test clock reads 2024-06-01T00:00:00Z.
    let server = ScriptedServer::start(vec![
        http(503, &[("retry-after", "Sat, 01 Jun 2024 00:00:42 GMT")], ""),
        http(200, &[], ITEMS_OK),
    ])
    .await;
    let clock = TestClock::new();
    let client = wrapper_client(server.base_url(), clock.clone());

    client
        .items("acme", "prod")
        .range(january())
        .send()
        .await
        .unwrap();

    assert_eq!(clock.sleeps(), [Duration::from_secs(42)]);
}

#[tokio::test]
async fn a_retry_after_beyond_the_policy_ends_retries_at_once() {
    let server = ScriptedServer::start(vec![http(429, &[("retry-after", "86400")], "")]).await;
    let clock = TestClock::new();
    let client = wrapper_client(server.base_url(), clock.clone());

    let err = client
        .items("acme", "prod")
        .range(january())
        .send()
        .await
        .unwrap_err();

    assert!(err.is_rate_limited());
    let Error::Api(api) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(api.retry_after(), Some(Duration::from_secs(86_400)));
    assert!(clock.sleeps().is_empty());
}

#[tokio::test]
async fn forbidden_and_not_found_are_never_retried() {
    for status in [400, 401, 403, 404] {
        let server = ScriptedServer::start(vec![http(status, &[], "{}")]).await;
        let clock = TestClock::new();
        let client = wrapper_client(server.base_url(), clock.clone());

        let err = client
            .items("acme", "prod")
            .range(january())
            .send()
            .await
            .unwrap_err();

        assert_eq!(err.status(), Some(status));
        assert_eq!(server.requests().len(), 1, "{status} was retried");
        assert!(clock.sleeps().is_empty());
    }
}

#[tokio::test]
async fn a_truncated_body_or_a_hangup_is_retried_to_the_exact_total() {
    for (format, first) in [
        (Format::Json, truncated(200, ITEMS_OK, 20)),
        (Format::Json, Reply::Hangup),
        (
            Format::Csv,
            truncated(200, &fixture("items-2024-01.csv"), 300),
        ),
        (Format::Csv, Reply::Hangup),
    ] {
        let body = if format == Format::Csv {
            fixture("items-2024-01.csv")
        } else {
            ITEMS_OK.to_string()
        };
        let server = ScriptedServer::start(vec![first, http(200, &[], &body)]).await;
        let client = wrapper_client(server.base_url(), TestClock::new());

        let report = client
            .items("acme", "prod")
            .range(january())
            .format(format)
            .send()
            .await
            .unwrap();

        let expected = if format == Format::Csv {
            "1234.5678"
        } else {
            "0.1301"
        };
        assert_eq!(report.items.costs.total, dec(expected), "{format:?}");
        assert_eq!(server.requests().len(), 2, "{format:?}");
    }
}

#[tokio::test]
async fn a_slow_answer_times_out_and_a_refused_connection_fails_as_transport_errors() {
    let server =
        ScriptedServer::start(vec![Reply::Stall(Duration::from_secs(5), Vec::new())]).await;
    let client = wrapper_builder(server.base_url(), TestClock::new())
        .attempt_timeout(Duration::from_millis(100))
        .retry_policy(RetryPolicy::default().with_max_attempts(attempts(2)))
        .build()
        .unwrap();

    let err = client
        .items("acme", "prod")
        .range(january())
        .send()
        .await
        .unwrap_err();

    let Error::Transport(transport) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(transport.kind(), TransportKind::Timeout);
    assert_eq!(err.attempts(), 2);

    // Nothing listens on a port that was just released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let client = wrapper_builder(&format!("http://127.0.0.1:{port}/api/v1"), TestClock::new())
        .retry_policy(RetryPolicy::never())
        .build()
        .unwrap();
    let err = client
        .items("acme", "prod")
        .range(january())
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Transport(t) if t.kind() == TransportKind::Connect),
        "{err:?}"
    );
    assert!(
        std::error::Error::source(&err).is_some(),
        "the cause is reachable"
    );
}

#[tokio::test]
async fn a_200_that_is_not_the_documented_json_is_a_decode_error() {
    let server = ScriptedServer::start(vec![http(200, &[], r#"{"costs": "free"}"#)]).await;
    let client = wrapper_client(server.base_url(), TestClock::new());

    let err = client
        .items("acme", "prod")
        .range(january())
        .send()
        .await
        .unwrap_err();

    assert!(matches!(err, Error::Decode(_)), "{err:?}");
    assert!(!err.is_retryable());
    assert!(
        err.to_string()
            .starts_with("could not decode the JSON response"),
        "{err}"
    );
}
