//! A year of one deployment's itemized costs, merged from twelve monthly requests and
//! exact to the last digit, against the simulator started in-process.
//!
//! Run: `cargo run -p ec-billing --example year_of_one_deployment`

use ec_billing::{ApiKey, Client, DateRange};
use ec_billing_sim::Simulator;

// `pub(crate)`: the workspace's tests run it too (tests/integration/examples.rs).
#[tokio::main]
pub(crate) async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Against the real API: `Client::from_env()?` (EC_API_KEY, and EC_BASE_URL if set).
    let sim = Simulator::new().start().await?;
    let client = Client::builder()
        .base_url(sim.base_url())
        .api_key(ApiKey::new(sim.api_key())?)
        .build()?;

    let year = DateRange::parse("2024-01-01", "2025-01-01")?;
    let report = client.items("acme", "prod").range(year).send().await?;

    let items = &report.items;
    println!(
        "acme/prod, {year}: {} windows, {} resource lines, {} data transfer and storage lines",
        report.windows.len(),
        items.resources.len(),
        items.data_transfer_and_storage.len()
    );
    for dimension in &items.costs.dimensions {
        println!(
            "  {:<16} {:>14} ECU",
            dimension.dimension,
            dimension.cost.to_string()
        );
    }
    println!(
        "  {:<16} {:>14} ECU",
        "total",
        items.costs.total.to_string()
    );

    // The simulator knows the exact total it served: the sum of 1,464 lines, to the digit.
    let expected = sim
        .dataset()
        .items_total("acme", "prod", year.from(), year.to());
    assert_eq!(Some(items.costs.total), expected);
    Ok(())
}
