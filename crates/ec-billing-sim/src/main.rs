//! `ec-billing-sim`: the simulator as a stand-alone server on loopback.

use std::{net::SocketAddr, process::ExitCode, time::Duration};

use ec_billing_sim::{Faults, Simulator};

const USAGE: &str = "\
usage: ec-billing-sim [--port P] [--key K] [--latency-ms N] [--rate-limit N] [--fault-share F]

Serves the Elastic Cloud billing-costs API's two endpoints on 127.0.0.1 with
deterministic data, until interrupted. --fault-share answers that share of
requests with a random fault (429s, 5xx with JSON, HTML or empty bodies, broken
or slow bodies).
";

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}\n\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

async fn run() -> Result<(), String> {
    let mut port = 0u16;
    let mut sim = Simulator::new();
    let mut faults = Faults::default();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "-h" || flag == "--help" {
            print!("{USAGE}");
            return Ok(());
        }
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let bad = |_| format!("invalid value \"{value}\" for {flag}");
        match flag.as_str() {
            "--port" => port = value.parse().map_err(bad)?,
            "--key" => sim = sim.api_key(value.clone()),
            "--latency-ms" => faults.latency = Duration::from_millis(value.parse().map_err(bad)?),
            "--rate-limit" => faults.rate_limit = Some(value.parse().map_err(bad)?),
            "--fault-share" => {
                faults.share = value
                    .parse()
                    .map_err(|_| format!("invalid value \"{value}\" for {flag}"))?
            }
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    let running = sim
        .faults(faults)
        .start_on(SocketAddr::from(([127, 0, 0, 1], port)))
        .await
        .map_err(|e| format!("cannot listen on port {port}: {e}"))?;
    println!(
        "ec-billing-sim serving {} (key: {})",
        running.base_url(),
        running.api_key()
    );
    let _ = tokio::signal::ctrl_c().await;
    running.shutdown().await;
    Ok(())
}
