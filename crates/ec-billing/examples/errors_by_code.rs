//! Handling errors by what they are: bad input before any request, a wrong key, an
//! unknown organization or deployment, each with its typed code, status, window and
//! whether a retry could help.
//!
//! Run: `cargo run -p ec-billing --example errors_by_code`

use ec_billing::{ApiKey, Client, DateRange, Error, error::ErrorCode};
use ec_billing_sim::Simulator;

// `pub(crate)`: the workspace's tests run it too (tests/integration/examples.rs).
#[tokio::main]
pub(crate) async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sim = Simulator::new().start().await?;
    let client = |key: &str| {
        Client::builder()
            .base_url(sim.base_url())
            .api_key(ApiKey::new(key)?)
            .build()
    };
    let january = DateRange::parse("2024-01-01", "2024-02-01")?;

    // Refused before any request: an id that is not one path segment, a bad range.
    let err = client(sim.api_key())?
        .items("acme", "..")
        .range(january)
        .send()
        .await;
    assert!(matches!(err, Err(Error::InvalidInput(_))));
    assert!(DateRange::parse("2024-02-01", "2024-01-01").is_err());

    for (what, key, organization, deployment) in [
        ("a wrong key", "not-the-key", "acme", "prod"),
        ("an unknown organization", sim.api_key(), "initech", "prod"),
        ("an unknown deployment", sim.api_key(), "acme", "ghost"),
    ] {
        let Err(err) = client(key)?
            .items(organization, deployment)
            .range(january)
            .send()
            .await
        else {
            return Err(format!("{what}: the simulator answered, where an error was due").into());
        };
        let advice = if err.is_auth() {
            "check the key and its access to the organization"
        } else if err.is_not_found() {
            "check the organization and deployment ids"
        } else if err.is_retryable() {
            "try again later"
        } else {
            "report it"
        };
        let code = err.code().map_or("-", ErrorCode::as_str);
        println!("{what}: HTTP {:?}, code {code}: {advice}", err.status());
        println!("  {err}");
        match err.code() {
            Some(ErrorCode::EsClusterIdNotFound) => assert_eq!(deployment, "ghost"),
            Some(ErrorCode::OrganizationNotFound) => assert_eq!(organization, "initech"),
            _ => assert!(err.is_auth()),
        }
    }
    Ok(())
}
