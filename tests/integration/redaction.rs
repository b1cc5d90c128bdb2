//! The API key appears nowhere but the `Authorization` header: not in `Debug`, `Display`,
//! errors, or traces.

use ec_billing::{ApiKey, DateRange, Format};

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
