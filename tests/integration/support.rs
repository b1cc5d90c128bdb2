//! Fixtures read from `tests/fixtures/` and a generated client pointed at a mock server.

use std::path::PathBuf;

use reqwest::header::{AUTHORIZATION, HeaderValue};

/// An API key that must never show up anywhere but the `Authorization` header.
pub(crate) const CANARY_KEY: &str = "canary-key-7c1e5a9f";

/// The text of a fixture file.
pub(crate) fn fixture(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

/// A fixture parsed as JSON.
pub(crate) fn fixture_json(name: &str) -> serde_json::Value {
    serde_json::from_str(&fixture(name)).expect("fixture is valid JSON")
}

/// A generated client for `base_url` that authenticates with [`CANARY_KEY`], and the
/// head of the last response it receives.
pub(crate) fn generated_client(
    base_url: &str,
) -> (ec_billing_api::Client, ec_billing_api::ResponseHead) {
    let mut auth = HeaderValue::from_str(&format!("ApiKey {CANARY_KEY}")).expect("valid header");
    auth.set_sensitive(true);
    let mut headers = HeaderMap::new();
    headers.insert(AUTHORIZATION, auth);
    let http = reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .expect("client");
    let head = ec_billing_api::ResponseHead::default();
    (
        ec_billing_api::Client::new_with_client(base_url, http, head.clone()),
        head,
    )
}

/// A UTC instant from an RFC 3339 literal.
pub(crate) fn ts(text: &str) -> jiff::Timestamp {
    text.parse().expect("valid RFC 3339 timestamp")
}
