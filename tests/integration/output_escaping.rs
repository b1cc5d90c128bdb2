//! Text a server controls is safe to print: control characters are escaped in every
//! error's `Display`, server text in an error line is cut to a sensible length, and
//! the client's own key is redacted from anything a server sends back.

use ec_billing::{DateRange, Error, Format, policy::RetryPolicy};
use ec_billing_sim::Fault;

use crate::support::{
    CANARY_KEY, ScriptedServer, TestClock, every_answer, http, simulator, wrapper_builder,
};

fn january() -> DateRange {
    DateRange::parse("2024-01-01", "2024-02-01").unwrap()
}

/// `err`, its `Debug`, and every cause's `Display` and `Debug`.
fn everything_shown(err: &Error) -> String {
    let mut shown = format!("{err}\n{err:?}\n");
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        shown += &format!("{cause}\n{cause:?}\n");
        source = cause.source();
    }
    shown
}

async fn fetch_with(fault: Fault, format: Format) -> Error {
    let sim = simulator(every_answer(fault)).await;
    let client = wrapper_builder(&sim.base_url(), TestClock::new())
        .retry_policy(RetryPolicy::never())
        .build()
        .unwrap();
    client
        .items("acme", "prod")
        .range(january())
        .format(format)
        .send()
        .await
        .unwrap_err()
}

#[tokio::test]
async fn an_error_code_with_newlines_and_escape_sequences_prints_on_one_safe_line() {
    let err = fetch_with(Fault::EscapesInError, Format::Json).await;

    let line = err.to_string();
    assert_eq!(line.lines().count(), 1, "{line}");
    assert!(
        !line.contains('\u{1b}') && !line.contains('\u{7}'),
        "{line}"
    );
    assert!(line.contains(r"costs.invalid\n\u{1b}[2J"), "{line}");
    // The code itself stays as the server sent it, for matching.
    assert!(err.code().unwrap().as_str().contains('\n'));
}

#[tokio::test]
async fn a_key_the_server_echoes_back_is_redacted_from_codes_messages_and_request_ids() {
    for format in [Format::Json, Format::Csv] {
        let err = fetch_with(Fault::EchoedKey, format).await;

        let shown = everything_shown(&err);
        assert!(!shown.contains(CANARY_KEY), "{shown}");
        assert!(shown.contains("[redacted]"), "{shown}");
        let Error::Api(api) = &err else {
            panic!("{err:?}")
        };
        assert!(api.messages().iter().all(|m| !m.contains(CANARY_KEY)));
        assert!(!api.request_id().unwrap_or_default().contains(CANARY_KEY));
    }
}

#[tokio::test]
async fn a_key_quoted_in_a_body_that_does_not_decode_is_redacted_from_the_cause() {
    let body = format!(
        r#"{{"costs":{{"total":"{CANARY_KEY}","dimensions":[]}},"data_transfer_and_storage":[],"resources":[]}}"#
    );
    let server = ScriptedServer::start(vec![http(200, &[], &body)]).await;
    let client = wrapper_builder(server.base_url(), TestClock::new())
        .build()
        .unwrap();

    let err = client
        .items("acme", "prod")
        .range(january())
        .send()
        .await
        .unwrap_err();

    assert!(matches!(err, Error::Decode(_)), "{err:?}");
    let shown = everything_shown(&err);
    assert!(!shown.contains(CANARY_KEY), "{shown}");
    assert!(
        shown.contains("costs.total"),
        "the field is still named: {shown}"
    );
}

#[tokio::test]
async fn a_megabyte_csv_cell_makes_a_short_error_line() {
    let err = fetch_with(Fault::HugeCell, Format::Csv).await;

    let shown = everything_shown(&err);
    assert!(shown.len() < 4_000, "{} bytes", shown.len());
    assert!(shown.contains('…'), "{shown}");
    assert!(matches!(err, Error::Decode(_)), "{err:?}");
}

#[tokio::test]
async fn ids_with_control_characters_are_escaped_where_errors_name_them() {
    let server = ScriptedServer::start(vec![http(404, &[], "")]).await;
    let client = wrapper_builder(server.base_url(), TestClock::new())
        .build()
        .unwrap();

    let err = client
        .items("acme", "pro\nd\u{1b}[2J")
        .range(january())
        .send()
        .await
        .unwrap_err();

    let line = err.to_string();
    assert_eq!(line.lines().count(), 1, "{line}");
    assert!(line.contains(r#"deployment "pro\nd\u{1b}[2J""#), "{line}");
    assert_eq!(err.deployment(), Some("pro\nd\u{1b}[2J"), "kept as given");
}
