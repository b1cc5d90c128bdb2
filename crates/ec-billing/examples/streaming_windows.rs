//! Window by window, in order, as they arrive: for a long range, a caller can show
//! progress or store each month as soon as it is fetched (windows are still fetched
//! concurrently).
//!
//! Run: `cargo run -p ec-billing --example streaming_windows`

use ec_billing::{ApiKey, Client, DateRange, StreamExt, WindowSize};
use ec_billing_sim::Simulator;

// `pub(crate)`: the workspace's tests run it too (tests/integration/examples.rs).
#[tokio::main]
pub(crate) async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sim = Simulator::new().start().await?;
    let client = Client::builder()
        .base_url(sim.base_url())
        .api_key(ApiKey::new(sim.api_key())?)
        .build()?;

    let quarter = DateRange::parse("2024-01-01", "2024-04-01")?;
    let mut windows = client
        .items("acme", "staging")
        .range(quarter)
        .window(WindowSize::days(7)?)
        .stream();
    let mut weeks = 0;
    while let Some(window) = windows.next().await {
        let window = window?;
        weeks += 1;
        println!(
            "{}: {} lines, {} ECU",
            window.window,
            window.value.resources.len() + window.value.data_transfer_and_storage.len(),
            window.value.costs.total
        );
    }
    // 91 days in windows of at most 7 days: 13 windows, adjacent, none twice.
    assert_eq!(weeks, 13);
    Ok(())
}
