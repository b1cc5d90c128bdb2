//! The pacing matrix: the same fetch (N deployments × 12 monthly windows) through the
//! simulator behaving as different servers do, with adaptive pacing, with none, and one
//! request at a time, against the physical bound where one exists.

use std::{
    num::{NonZeroU32, NonZeroUsize},
    time::{Duration, Instant},
};

use anyhow::{Context, Result, ensure};
use ec_billing::{Client, DateRange, policy::Jitter, policy::Pacing, policy::RetryPolicy};
use ec_billing_sim::{
    Dataset, Fault, Faults, RateLimitDialect, RunningSimulator, Simulator, Stats,
};

use crate::{Figure, KEY, Size};

/// Every answer's latency.
const LATENCY: Duration = Duration::from_millis(50);
/// The token bucket's rate and burst, where there is one.
const RATE: u32 = 20;
/// Requests in flight.
const CONCURRENCY: usize = 4;

/// A server behaviour of the matrix.
struct Behaviour {
    name: &'static str,
    what: &'static str,
    faults: Faults,
}

fn behaviours() -> Vec<Behaviour> {
    let limited = |dialect| Faults {
        latency: LATENCY,
        rate_limit: Some(RATE),
        rate_limit_dialect: dialect,
        ..Faults::default()
    };
    vec![
        Behaviour {
            name: "a_interval",
            what: "(a) token bucket, x-ratelimit-* with interval 1s",
            faults: limited(RateLimitDialect::Interval),
        },
        Behaviour {
            name: "a_interval_60",
            what: "(a) token bucket, limit per interval 60",
            faults: limited(RateLimitDialect::IntervalSeconds),
        },
        Behaviour {
            name: "a_interval_iso",
            what: "(a) token bucket, interval PT1S",
            faults: limited(RateLimitDialect::IntervalIso),
        },
        Behaviour {
            name: "a_reset_epoch",
            what: "(a) token bucket, remaining + reset as epoch seconds",
            faults: limited(RateLimitDialect::ResetEpoch),
        },
        Behaviour {
            name: "a_reset_seconds",
            what: "(a) token bucket, remaining + reset in seconds",
            faults: limited(RateLimitDialect::ResetSeconds),
        },
        Behaviour {
            name: "a_ietf",
            what: "(a) token bucket, ratelimit-policy 20;w=1",
            faults: limited(RateLimitDialect::Ietf),
        },
        Behaviour {
            name: "b_retry_after_only",
            what: "(b) the same bucket, only Retry-After on its 429s",
            faults: limited(RateLimitDialect::RetryAfterOnly),
        },
        Behaviour {
            name: "c_transient_429",
            what: "(c) every window's first answer 429, Retry-After: 1",
            faults: Faults {
                latency: LATENCY,
                throttle_first_answer: true,
                ..Faults::default()
            },
        },
        Behaviour {
            name: "d_random_429",
            what: "(d) 10% random 429s without Retry-After",
            faults: Faults {
                latency: LATENCY,
                share: 0.1,
                kinds: vec![Fault::RateLimitedWithoutRetryAfter],
                seed: 7,
                ..Faults::default()
            },
        },
        Behaviour {
            name: "e_unlimited",
            what: "(e) no limit",
            faults: Faults {
                latency: LATENCY,
                ..Faults::default()
            },
        },
    ]
}

/// The physical bound of `requests` under a behaviour, in seconds, where one exists:
/// the bucket's rate after its initial burst, the latency at the concurrency, and for
/// transient 429s the two answers per window and the one-second wait.
fn bound(behaviour: &Behaviour, requests: usize) -> Option<f64> {
    let latency = LATENCY.as_secs_f64();
    let at_concurrency = |n: usize| n.div_ceil(CONCURRENCY) as f64 * latency;
    let faults = &behaviour.faults;
    if let Some(rate) = faults.rate_limit {
        let after_burst = requests.saturating_sub(rate as usize) as f64 / f64::from(rate);
        return Some(after_burst.max(at_concurrency(requests)));
    }
    if faults.throttle_first_answer {
        return Some(at_concurrency(2 * requests).max(1.0 + 2.0 * latency));
    }
    if faults.share > 0.0 {
        return None;
    }
    Some(at_concurrency(requests))
}

/// One row's three runs.
struct Row {
    paced: (f64, Stats),
    unpaced: (f64, Stats),
    sequential: f64,
}

/// Runs the matrix and returns its figures, printing a table of its own.
pub(crate) async fn run(size: Size) -> Result<Vec<Figure>> {
    let year = DateRange::parse("2024-01-01", "2025-01-01")?;
    let fleet: Vec<String> = (0..size.deployments).map(|i| format!("d{i:03}")).collect();
    let targets: Vec<(&str, &str)> = fleet.iter().map(|d| ("fleet", d.as_str())).collect();
    let requests = targets.len() * 12;
    let mut figures = Vec::new();
    println!(
        "\npacing matrix: {} deployments x 12 months = {requests} requests, {} ms latency, concurrency {CONCURRENCY}, bucket {RATE}/s with a burst of {RATE}",
        targets.len(),
        LATENCY.as_millis()
    );
    println!(
        "{:<20} {:>9} {:>9} {:>11} {:>8} {:>14} {:>12} {:>10}  what",
        "behaviour",
        "paced s",
        "unpaced s",
        "sequential s",
        "bound s",
        "paced/unpaced",
        "paced/bound",
        "429s p/u"
    );
    for behaviour in behaviours() {
        let row = Row {
            paced: fetch(
                &behaviour.faults,
                &targets,
                year,
                CONCURRENCY,
                Pacing::Adaptive,
            )
            .await?,
            unpaced: fetch(&behaviour.faults, &targets, year, CONCURRENCY, Pacing::Off).await?,
            sequential: fetch(&behaviour.faults, &targets, year, 1, Pacing::Off)
                .await?
                .0,
        };
        let bound = bound(&behaviour, requests);
        let versus_unpaced = row.unpaced.0 / row.paced.0;
        let efficiency = bound.map(|b| b / row.paced.0);
        println!(
            "{:<20} {:>9.2} {:>9.2} {:>11.2} {:>8} {:>14.2} {:>12} {:>10}  {}",
            behaviour.name,
            row.paced.0,
            row.unpaced.0,
            row.sequential,
            bound.map_or("-".into(), |b| format!("{b:.2}")),
            versus_unpaced,
            efficiency.map_or("-".into(), |e| format!("{e:.2}")),
            format!(
                "{}/{}",
                row.paced.1.throttled + row.paced.1.faults,
                row.unpaced.1.throttled + row.unpaced.1.faults
            ),
            behaviour.what,
        );
        figures.push(Figure {
            name: format!("pacing_{}", behaviour.name),
            value: row.paced.0,
            unit: "s",
            ratio: Some(versus_unpaced),
            target: ">= 0.9",
            note: format!(
                "{}: paced {:.2} s, unpaced {:.2} s, sequential {:.2} s, bound {}, paced/bound {}; 429s paced {} unpaced {}; ratio = unpaced / paced; totals exact",
                behaviour.what,
                row.paced.0,
                row.unpaced.0,
                row.sequential,
                bound.map_or("none".into(), |b| format!("{b:.2} s")),
                efficiency.map_or("-".into(), |e| format!("{e:.2} (target >= 0.85)")),
                row.paced.1.throttled + row.paced.1.faults,
                row.unpaced.1.throttled + row.unpaced.1.faults,
            ),
        });
    }
    Ok(figures)
}

/// Fetches a year of every target through a fresh simulator with `faults`; the time
/// and what the simulator saw. Every total is checked to be exact.
async fn fetch(
    faults: &Faults,
    targets: &[(&str, &str)],
    year: DateRange,
    concurrency: usize,
    pacing: Pacing,
) -> Result<(f64, Stats)> {
    let sim = Simulator::new()
        .api_key(KEY)
        .dataset(Dataset::standard().with_fleet(targets.len()))
        .faults(faults.clone())
        .start()
        .await?;
    let client = client(&sim, concurrency, pacing)?;
    let started = Instant::now();
    let reports = futures_util::future::try_join_all(
        targets
            .iter()
            .map(|(org, dep)| client.items(*org, *dep).range(year).send()),
    )
    .await?;
    let elapsed = started.elapsed().as_secs_f64();
    for (report, (org, dep)) in reports.iter().zip(targets) {
        let expected = sim.dataset().items_total(org, dep, year.from(), year.to());
        ensure!(
            Some(report.items.costs.total) == expected,
            "{org}/{dep}: total {} != {expected:?}",
            report.items.costs.total
        );
    }
    Ok((elapsed, sim.stats()))
}

/// A client that retries generously (so that every run completes), without jitter
/// (so that paced and unpaced runs wait alike).
pub(crate) fn client(sim: &RunningSimulator, concurrency: usize, pacing: Pacing) -> Result<Client> {
    Ok(Client::builder()
        .base_url(sim.base_url())
        .api_key(KEY.parse()?)
        .concurrency(NonZeroUsize::new(concurrency).context("concurrency above 0")?)
        .pacing(pacing)
        .retry_policy(
            RetryPolicy::default()
                .with_max_attempts(NonZeroU32::new(30).context("attempts")?)
                .with_max_retry_after(Duration::from_secs(30))
                .with_jitter(Jitter::None),
        )
        .build()?)
}
