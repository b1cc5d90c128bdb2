//! Ids are path segments, nothing else: every organization and deployment id travels
//! as one percent-encoded segment on both transports, so that no character of it can
//! steer a request (and its key) elsewhere on the API's host; ids that cannot be one
//! segment are refused before any request.

use ec_billing::{DateRange, Error, Format};

use crate::support::{ScriptedServer, TestClock, generated_client, http, wrapper_client};

const ITEMS_OK: &str =
    r#"{"costs":{"total":0.1301,"dimensions":[]},"data_transfer_and_storage":[],"resources":[]}"#;
const CSV_OK: &str = "Name,Type,Quantity,Rate,Cost\r\nData out,data_out,1,0.1301,0.1301\r\n";
const CHARTS_OK: &str = r#"{"data":[]}"#;

/// Hostile ids and the one segment each must travel as.
const HOSTILE: &[(&str, &str)] = &[
    ("we/ird id", "we%2Fird%20id"),
    (r"..\..\..\..\..\steal", r"..%5C..%5C..%5C..%5C..%5Csteal"),
    ("a?b=c", "a%3Fb%3Dc"),
    ("a#frag", "a%23frag"),
    ("100%", "100%25"),
    ("%2e%2e", "%252e%252e"),
    (".%2e", ".%252e"),
    ("a\nb\r\u{1b}[2J\u{0}", "a%0Ab%0D%1B%5B2J%00"),
    ("...", "..."),
    ("a..b", "a..b"),
    ("é中", "%C3%A9%E4%B8%AD"),
    ("+&;=@:", "%2B%26%3B%3D%40%3A"),
];

fn january() -> DateRange {
    DateRange::parse("2024-01-01", "2024-02-01").unwrap()
}

/// The request target (path and query) of the first request a server received.
fn target(server: &ScriptedServer) -> String {
    let requests = server.requests();
    let line = requests[0].lines().next().unwrap_or_default().to_string();
    line.split(' ').nth(1).unwrap_or_default().to_string()
}

#[tokio::test]
async fn a_hostile_deployment_or_organization_id_travels_as_one_encoded_segment_on_every_path() {
    for &(id, encoded) in HOSTILE {
        for (operation, body, format) in [
            ("items", ITEMS_OK, Some(Format::Json)),
            ("items", CSV_OK, Some(Format::Csv)),
            ("charts", CHARTS_OK, None),
        ] {
            for as_organization in [false, true] {
                let server = ScriptedServer::start(vec![http(200, &[], body)]).await;
                let client = wrapper_client(server.base_url(), TestClock::new());
                let (organization, deployment) = if as_organization {
                    (id, "prod")
                } else {
                    ("acme", id)
                };
                let outcome = match format {
                    Some(format) => client
                        .items(organization, deployment)
                        .range(january())
                        .format(format)
                        .send()
                        .await
                        .map(|_| ()),
                    None => client
                        .charts(organization, deployment)
                        .range(january())
                        .send()
                        .await
                        .map(|_| ()),
                };
                outcome.unwrap_or_else(|err| panic!("{id:?} {operation}: {err}"));

                let (organization, deployment) = if as_organization {
                    (encoded, "prod")
                } else {
                    ("acme", encoded)
                };
                let expected = format!(
                    "/api/v1/billing/costs/{organization}/deployments/{deployment}/{operation}?"
                );
                let sent = target(&server);
                assert!(
                    sent.starts_with(&expected),
                    "{id:?} via {operation} {format:?}: sent {sent}, expected {expected}"
                );
                assert_eq!(server.requests().len(), 1);
            }
        }
    }
}

#[tokio::test]
async fn ids_that_cannot_be_one_segment_are_refused_before_any_request() {
    let server = ScriptedServer::start(vec![http(200, &[], ITEMS_OK)]).await;
    let client = wrapper_client(server.base_url(), TestClock::new());
    let long = "d".repeat(257);
    for id in ["", "   ", "\t", ".", "..", long.as_str()] {
        for as_organization in [false, true] {
            let (organization, deployment) = if as_organization {
                (id, "prod")
            } else {
                ("acme", id)
            };
            for format in [Format::Json, Format::Csv] {
                let err = client
                    .items(organization, deployment)
                    .range(january())
                    .format(format)
                    .send()
                    .await
                    .unwrap_err();
                assert!(matches!(err, Error::InvalidInput(_)), "{id:?}: {err:?}");
                let message = err.to_string();
                assert!(message.lines().count() == 1, "{message}");
            }
            let err = client
                .charts(organization, deployment)
                .range(january())
                .send()
                .await
                .unwrap_err();
            assert!(matches!(err, Error::InvalidInput(_)), "{id:?}: {err:?}");
            assert!(client.items(organization, deployment).windows().is_err());
        }
    }
    assert!(server.requests().is_empty(), "no request was made");
}

#[tokio::test]
async fn the_generated_client_refuses_a_dot_segment_id_and_encodes_a_backslash() {
    let server = ScriptedServer::start(vec![http(200, &[], ITEMS_OK)]).await;
    let (client, _) = generated_client(server.base_url());
    for id in ["..", ".", ""] {
        let err = client
            .get_costs_items_by_deployment()
            .organization_id("acme")
            .deployment_id(id)
            .send()
            .await
            .unwrap_err();
        assert!(
            matches!(err, ec_billing_api::Error::InvalidRequest(_)),
            "{id:?}: {err:?}"
        );
    }
    assert!(server.requests().is_empty(), "no request was made");

    client
        .get_costs_items_by_deployment()
        .organization_id("acme")
        .deployment_id(r"..\steal")
        .send()
        .await
        .unwrap();
    assert_eq!(
        target(&server),
        "/api/v1/billing/costs/acme/deployments/..%5Csteal/items"
    );
}
