//! The API key appears nowhere but the `Authorization` header: not in `Debug`, `Display`,
//! errors, or traces.

use ec_billing::{ApiKey, DateRange, Format, policy::RetryPolicy};

use crate::support::{CANARY_KEY, Captured, ScriptedServer, TestClock, http, wrapper_builder};

#[tokio::test]
async fn the_key_is_absent_from_debug_display_errors_and_traces() {
    let captured = Captured::default();
    let _guard = captured.install(tracing::Level::TRACE);

    let server = ScriptedServer::start(vec![
        http(429, &[("retry-after", "0")], ""),
        http(500, &[], "<html>"),
        http(
            403,
            &[("x-cloud-error-codes", "organization.invalid_access")],
            "{}",
        ),
    ])
    .await;
    let builder = wrapper_builder(server.base_url(), TestClock::new());
    let mut shown = format!("{builder:?}");
    let client = builder.build().unwrap();
    let range = DateRange::parse("2024-01-01", "2024-02-01").unwrap();
    for format in [Format::Json, Format::Csv] {
        let request = client.items("acme", "prod").range(range).format(format);
        shown += &format!("{request:?}");
        let err = request.send().await.unwrap_err();
        shown += &format!("{err} {err:?}");
        let mut source = std::error::Error::source(&err);
        while let Some(cause) = source {
            shown += &format!("{cause} {cause:?}");
            source = cause.source();
        }
    }
    let key: ApiKey = CANARY_KEY.parse().unwrap();
    shown += &format!("{client:?} {key} {key:?}");
    let traces = captured.text();

    assert!(
        traces.contains("ec_billing.request"),
        "tracing was captured: {traces}"
    );
    assert!(traces.contains("retrying"), "{traces}");
    assert!(!shown.contains(CANARY_KEY), "{shown}");
    assert!(!traces.contains(CANARY_KEY), "{traces}");
    // The key did travel, in the header.
    assert!(
        server
            .requests()
            .iter()
            .all(|r| r.contains(&format!("ApiKey {CANARY_KEY}")))
    );
}

/// What a base URL's userinfo, query and fragment hold below: never to be shown.
const URL_SECRETS: [&str; 4] = ["alice", "hunter2", "sekrit", "fragile"];

/// `err`, its `Debug` and every cause of it, as one text.
fn shown_error(err: &ec_billing::Error) -> String {
    let mut shown = format!("{err} {err:?}");
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        shown += &format!(" {cause} {cause:?}");
        source = cause.source();
    }
    shown
}

#[tokio::test]
async fn a_password_or_token_in_the_base_url_is_absent_from_debug_errors_and_traces() {
    let captured = Captured::default();
    let _guard = captured.install(tracing::Level::TRACE);
    let redirect = "http://127.0.0.1:1/api/v1?token=sekrit#fragile";
    let server = ScriptedServer::start(vec![
        http(429, &[("retry-after", "0")], ""),
        http(500, &[], "<html>"),
        http(302, &[("location", redirect)], ""),
    ])
    .await;
    let with_userinfo = server
        .base_url()
        .replace("http://", "http://alice:hunter2@");
    let range = DateRange::parse("2024-01-01", "2024-02-01").unwrap();
    let mut shown = String::new();

    // Requests that go out, fail, retry and end in errors.
    let builder = wrapper_builder(&with_userinfo, TestClock::new());
    shown += &format!("{builder:?}");
    let client = builder.build().unwrap();
    shown += &format!("{client:?}");
    for format in [Format::Json, Format::Csv] {
        let request = client.items("acme", "prod").range(range).format(format);
        shown += &format!("{request:?}");
        shown += &shown_error(&request.send().await.unwrap_err());
    }
    let unreachable = wrapper_builder("http://alice:hunter2@127.0.0.1:1/api/v1", TestClock::new())
        .retry_policy(RetryPolicy::never())
        .build()
        .unwrap();
    shown += &shown_error(
        &unreachable
            .items("acme", "prod")
            .range(range)
            .send()
            .await
            .unwrap_err(),
    );

    // Base URLs refused at build time name the URL without its secrets.
    for (url, said) in [
        (
            format!("{with_userinfo}?token=sekrit"),
            "a query or a fragment",
        ),
        (format!("{with_userinfo}#fragile"), "a query or a fragment"),
        (
            "ftp://alice:hunter2@host/api/v1?token=sekrit".to_string(),
            "\"ftp://host/api/v1\"",
        ),
        (
            "alice:hunter2@host?token=sekrit".to_string(),
            "invalid base URL",
        ),
    ] {
        let builder = wrapper_builder(&url, TestClock::new());
        shown += &format!("{builder:?}");
        let err = builder.build().unwrap_err();
        assert!(matches!(err, ec_billing::Error::InvalidInput(_)), "{err:?}");
        assert!(err.to_string().contains("invalid base URL"), "{err}");
        assert!(err.to_string().contains(said), "{err}");
        shown += &shown_error(&err);
    }
    let traces = captured.text();

    // Something was captured (which events are depends on other tests' subscribers:
    // tracing's interest in a callsite is shared by every thread).
    assert!(traces.contains("ec_billing"), "{traces}");
    assert!(shown.contains("http://127.0.0.1:"), "{shown}");
    for secret in URL_SECRETS {
        assert!(!shown.contains(secret), "{secret} shown: {shown}");
        assert!(!traces.contains(secret), "{secret} traced: {traces}");
    }
    // The requests did go out, with the key.
    assert!(server.requests().len() >= 4, "{:?}", server.requests());
}

#[test]
fn a_base_url_with_a_query_is_refused_as_a_base_url_not_as_a_path_parameter() {
    for url in [
        "http://127.0.0.1:1/api/v1?token=sekrit",
        "http://127.0.0.1:1/api/v1?",
        "http://127.0.0.1:1/api/v1#fragile",
        "http://127.0.0.1:1/api/v1/#",
    ] {
        let err = wrapper_builder(url, TestClock::new()).build().unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, ec_billing::Error::InvalidInput(_)), "{err:?}");
        assert!(
            text.starts_with("invalid base URL \"http://127.0.0.1:1/api/v1")
                && !text.contains("sekrit")
                && !text.contains("fragile"),
            "{text}"
        );
        assert!(!text.contains("path parameter"), "{text}");
    }
}
