//! `ec-billing-sim`: the simulator as a stand-alone server on loopback.

use std::{net::SocketAddr, process::ExitCode, time::Duration};

use ec_billing_sim::{CsvLayout, Dataset, Fault, Faults, RateLimitDialect, Simulator};

const USAGE: &str = "\
usage: ec-billing-sim [--port P] [--key K] [--org ORG --deployment DEP...]...
                      [--fleet N] [--latency-ms N] [--seed N] [--rate-limit N] [--rate-limit-dialect D] [--throttle-first-answer]
                      [--fault-share F] [--fault KIND]... [--csv-layout L]

Serves the Elastic Cloud billing-costs API's two endpoints on 127.0.0.1 with
deterministic data, until interrupted. On start it says on stderr where it listens,
the key it accepts and the ids it serves: by default organization acme with
deployments prod, staging and 'we/ird id', and organization globex with search.

  --org ORG               serve organization ORG (and not the default ones); each
  --deployment DEP        that follows declares one of its deployments, its data
                          shaped by its position (repeat both as needed)
  --fleet N               also serve organization fleet with deployments d000, d001, ...
  --rate-limit N          a token bucket of N requests per second (429 beyond it)
  --rate-limit-dialect D  how the limit is announced: interval (x-ratelimit-*, 1s),
                          interval-seconds (60), interval-iso (PT1S), reset-epoch,
                          reset-seconds, ietf (ratelimit-policy), retry-after-only
  --throttle-first-answer the first answer to every request is a 429, Retry-After: 1
  --csv-layout L          the items CSV's layout: title-case (default), snake-case,
                          flattened-json, type-column, dense
  --fault-share F         answer that share of requests with a fault (0 to 1)
  --fault KIND            the faults to draw from (repeat; default: every transient
                          one). Transient: rate-limited, rate-limited-without-retry-after,
                          rate-limited-plain-text, server-error-json, server-error-html,
                          bad-gateway-html, unavailable-empty, truncated, reset,
                          slow-body. Hostile: huge-error-body, trickle, escapes-in-error,
                          escapes-in-names, echoed-key, overflowing-costs, excess-digits,
                          duplicate-bucket, bucket-outside-window, huge-cell,
                          redirect-loop, redirect-to-file, tiny-rate-limit,
                          hourly-rate-limit.
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
    // Organizations and deployments declared with --org/--deployment, if any.
    let mut declared: Option<(Dataset, Option<String>, u64)> = None;
    let mut faults = Faults::default();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "-h" || flag == "--help" {
            print!("{USAGE}");
            return Ok(());
        }
        if flag == "--throttle-first-answer" {
            faults.throttle_first_answer = true;
            continue;
        }
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let bad = |_| format!("invalid value \"{value}\" for {flag}");
        match flag.as_str() {
            "--port" => port = value.parse().map_err(bad)?,
            "--key" => sim = sim.api_key(value.clone()),
            "--latency-ms" => faults.latency = Duration::from_millis(value.parse().map_err(bad)?),
            "--rate-limit" => faults.rate_limit = Some(value.parse().map_err(bad)?),
            "--seed" => faults.seed = value.parse().map_err(bad)?,
            "--org" => {
                let (data, org, _) = declared.get_or_insert((Dataset::empty(), None, 0));
                *data = std::mem::take(data).organization(value.clone());
                *org = Some(value);
            }
            "--deployment" => {
                let Some((data, Some(org), seed)) = declared.as_mut() else {
                    return Err("--deployment needs an --org before it".to_string());
                };
                *seed += 1;
                *data = std::mem::take(data).deployment(org.clone(), value, *seed);
            }
            "--fleet" => {
                sim = sim.dataset(Dataset::standard().with_fleet(value.parse().map_err(bad)?))
            }
            "--csv-layout" => {
                let layout = CsvLayout::ALL
                    .into_iter()
                    .find(|layout| layout.name() == value)
                    .ok_or_else(|| format!("unknown CSV layout \"{value}\""))?;
                sim = sim.csv_layout(layout);
            }
            "--rate-limit-dialect" => {
                faults.rate_limit_dialect = RateLimitDialect::from_name(&value)
                    .ok_or_else(|| format!("unknown rate-limit dialect \"{value}\""))?;
            }
            "--fault" => faults.kinds.push(
                Fault::from_name(&value).ok_or_else(|| format!("unknown fault \"{value}\""))?,
            ),
            "--fault-share" => {
                faults.share = value
                    .parse()
                    .map_err(|_| format!("invalid value \"{value}\" for {flag}"))?
            }
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    if let Some((data, _, _)) = declared {
        sim = sim.dataset(data);
    }
    let running = sim
        .faults(faults)
        .start_on(SocketAddr::from(([127, 0, 0, 1], port)))
        .await
        .map_err(|e| format!("cannot listen on port {port}: {e}"))?;
    eprintln!(
        "ec-billing-sim serving {} (key: {})",
        running.base_url(),
        running.api_key()
    );
    for (organization, deployments) in running.dataset().organizations() {
        eprintln!("  organization {organization:?}: deployments {deployments:?}");
    }
    let _ = tokio::signal::ctrl_c().await;
    running.shutdown().await;
    Ok(())
}
