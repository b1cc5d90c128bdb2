//! Usage charts of a deployment: a year in monthly buckets, values exact, timestamps
//! as UTC instants.
//!
//! Run: `cargo run -p ec-billing --example charts`

use ec_billing::{ApiKey, Bucketing, Client, DateRange};
use ec_billing_sim::Simulator;

// `pub(crate)`: the workspace's tests run it too (tests/integration/examples.rs).
#[tokio::main]
pub(crate) async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sim = Simulator::new().start().await?;
    let client = Client::builder()
        .base_url(sim.base_url())
        .api_key(ApiKey::new(sim.api_key())?)
        .build()?;

    let year = DateRange::parse("2024-01-01", "2025-01-01")?;
    let report = client
        .charts("globex", "search")
        .range(year)
        .bucketing(Bucketing::Monthly)
        .send()
        .await?;

    for bucket in &report.charts.buckets {
        let values: Vec<String> = bucket
            .values
            .iter()
            .map(|v| format!("{} {}", v.id, v.value))
            .collect();
        println!("{}  {}", bucket.timestamp, values.join(", "));
    }
    assert_eq!(report.charts.buckets.len(), 12);
    Ok(())
}
