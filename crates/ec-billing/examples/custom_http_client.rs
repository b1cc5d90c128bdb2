//! Your own `reqwest::Client`: proxies, extra root certificates, timeouts, connection
//! pools are yours to set; the key is still added to every request (and only there),
//! and retries, pacing and bounds still apply.
//!
//! Run: `cargo run -p ec-billing --example custom_http_client`

use std::time::Duration;

use ec_billing::{ApiKey, Client, DateRange};
use ec_billing_sim::Simulator;

// `pub(crate)`: the workspace's tests run it too (tests/integration/examples.rs).
#[tokio::main]
pub(crate) async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sim = Simulator::new().start().await?;

    // E.g. `.proxy(reqwest::Proxy::https("http://proxy.internal:3128")?)` or
    // `.add_root_certificate(..)`; here, a pool and timeouts of our own. TLS needs its
    // crypto provider before reqwest's builder runs.
    ec_billing::ensure_crypto_provider()?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(2)
        .connect_timeout(Duration::from_secs(5))
        .build()?;
    let client = Client::builder()
        .http_client(http)
        .base_url(sim.base_url())
        .api_key(ApiKey::new(sim.api_key())?)
        .user_agent("my-finops-service/1.4")
        .build()?;

    let march = DateRange::parse("2024-03-01", "2024-04-01")?;
    let report = client.items("acme", "prod").range(march).send().await?;
    println!("acme/prod, March 2024: {} ECU", report.items.costs.total);
    Ok(())
}
