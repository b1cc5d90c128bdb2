//! Fifty deployments through one client (one concurrency limit, one pacer, shared
//! retries): every deployment that answered, and what failed, without one failure
//! discarding the others' data.
//!
//! Run: `cargo run -p ec-billing --example many_deployments`

use ec_billing::{ApiKey, Client, DateRange};
use ec_billing_sim::{Dataset, Fault, Faults, Simulator};

// `pub(crate)`: the workspace's tests run it too (tests/integration/examples.rs).
#[tokio::main]
pub(crate) async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Fifty deployments of `my-org`; `dep-13` answers every request with a 500.
    let data = (0..50).fold(Dataset::empty(), |data, i| {
        data.deployment("my-org", format!("dep-{i:02}"), i)
    });
    let broken = Faults {
        share: 1.0,
        kinds: vec![Fault::ServerErrorJson],
        ..Faults::default()
    };
    let sim = Simulator::new()
        .dataset(data)
        .deployment_faults("my-org", "dep-13", broken)
        .start()
        .await?;
    let client = Client::builder()
        .base_url(sim.base_url())
        .api_key(ApiKey::new(sim.api_key())?)
        .retry_policy(ec_billing::policy::RetryPolicy::default().with_max_attempts(2.try_into()?))
        .build()?;

    // The user code: 2024's costs for these deployments (one unknown), all that answered.
    let mut deployments: Vec<String> = (0..50).map(|i| format!("dep-{i:02}")).collect();
    deployments.push("not-a-deployment".to_string());
    let year = DateRange::parse("2024-01-01", "2025-01-01")?;
    let fleet = client
        .items_of("my-org", &deployments)
        .range(year)
        .totals()
        .await?;

    for totals in &fleet.reports {
        println!(
            "{:<18} {:>14} ECU",
            totals.deployment,
            totals.costs.total.to_string()
        );
    }
    println!(
        "{:<18} {:>14} ECU",
        "all that answered",
        fleet.total()?.to_string()
    );
    for failure in &fleet.failures {
        println!("failed: {failure}");
    }

    assert_eq!(fleet.reports.len(), 49);
    assert_eq!(fleet.failures.len(), 2);
    Ok(())
}
