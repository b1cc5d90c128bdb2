//! The ledger's figures: `ledger_sync` (a year of N deployments through the
//! rate-limited simulator with the ledger, against the same fetch without one),
//! `ledger_resync` (the second sync asks only for provisional windows) and
//! `ledger_write` (lines stored per second).

use std::{path::PathBuf, time::Instant};

use anyhow::{Context, Result, ensure};
use ec_billing::{DateRange, Items, Pacing, WindowSize};
use ec_billing_ledger::{Ledger, Query, SyncPlan};
use ec_billing_sim::{Dataset, Faults, RateLimitDialect, Simulator};
use jiff::{SignedDuration, Timestamp};

use crate::{Figure, KEY, Size, pacing_matrix, quarter};

/// The server of `ledger_sync`: the pacing matrix's behaviour (a), a token bucket of 20
/// requests a second announced by `x-ratelimit-*`, 50 ms of latency.
fn faults() -> Faults {
    Faults {
        latency: std::time::Duration::from_millis(50),
        rate_limit: Some(20),
        rate_limit_dialect: RateLimitDialect::Interval,
        ..Faults::default()
    }
}

/// A fresh directory for the benchmark's ledgers.
fn scratch() -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("ec-billing-bench-ledger-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).context("a scratch directory")?;
    Ok(dir)
}

pub(crate) async fn run(size: Size) -> Result<Vec<Figure>> {
    let dir = scratch()?;
    let figures = figures(size, &dir).await;
    let _ = std::fs::remove_dir_all(&dir);
    figures
}

async fn figures(size: Size, dir: &std::path::Path) -> Result<Vec<Figure>> {
    let year = DateRange::parse("2024-01-01", "2025-01-01")?;
    let fleet: Vec<String> = (0..size.deployments).map(|i| format!("d{i:03}")).collect();
    let requests = fleet.len() * 12;
    let start = |data: Dataset| {
        Simulator::new()
            .api_key(KEY)
            .dataset(data)
            .faults(faults())
            .start()
    };

    // Without a ledger: the fleet API, as a service would fetch.
    let sim = start(Dataset::standard().with_fleet(fleet.len())).await?;
    let client = pacing_matrix::client(&sim, 4, Pacing::Adaptive)?;
    let started = Instant::now();
    let fetched = client.items_of("fleet", &fleet).range(year).send().await?;
    let plain = started.elapsed().as_secs_f64();
    ensure!(fetched.is_complete(), "the fetch without a ledger failed");
    let expected = fetched.total()?;
    drop(sim);

    // With the ledger: the same windows, each stored as it arrives. Synced on January
    // 5th, so that December (ended four days before) is provisional.
    let sim = start(Dataset::standard().with_fleet(fleet.len())).await?;
    let client = pacing_matrix::client(&sim, 4, Pacing::Adaptive)?;
    let ledger = Ledger::open(dir.join("sync.db")).await?;
    let plan = SyncPlan::new("fleet", &fleet)
        .from(year.from())
        .to(year.to())
        .now("2025-01-05T00:00:00Z".parse()?);
    let started = Instant::now();
    let report = ledger.sync(&client, &plan).await?;
    let synced = started.elapsed().as_secs_f64();
    ensure!(report.failures.is_empty() && report.windows_fetched() == requests as u64);
    let stored = ledger.total(&Query::all()).await?;
    ensure!(stored == expected, "ledger total {stored} != {expected}");

    // Again, a minute later: only December of each deployment is provisional.
    let before = sim.stats().requests;
    let again = ledger
        .sync(&client, &plan.clone().now("2025-01-05T00:01:00Z".parse()?))
        .await?;
    let resync_requests = sim.stats().requests - before;
    ensure!(
        again.changed_nothing(),
        "a sync with nothing new changed the ledger"
    );
    let provisional = fleet.len() as u64;

    let write = write_rate(dir).await?;
    Ok(vec![
        Figure {
            name: "ledger_sync".into(),
            value: synced,
            unit: "s",
            ratio: Some(plain / synced),
            target: ">= 0.95",
            note: format!(
                "{} deployments x 12 months through a 20/s bucket with 50 ms latency: sync into the ledger {synced:.2} s, the same fetch without one {plain:.2} s; ratio = without / with; ledger total exact",
                fleet.len()
            ),
        },
        Figure {
            name: "ledger_resync".into(),
            value: resync_requests as f64,
            unit: "req",
            ratio: Some(provisional as f64 / resync_requests.max(1) as f64),
            target: "= 1",
            note: format!(
                "second sync: {resync_requests} requests for {provisional} provisional windows (of {requests}), nothing changed; ratio = provisional / requests"
            ),
        },
        write,
    ])
}

/// `ledger_write`: an answer of many lines (a quarter's, of 500 copies of a
/// deployment) recorded into a new window.
async fn write_rate(dir: &std::path::Path) -> Result<Figure> {
    let copies = 500;
    let lines = quarter(&Dataset::standard().with_copies(copies))?;
    let count = lines.len();
    let items = Items::from_json(&ec_billing_sim::json_document(&lines))?;
    drop(lines);
    let window = DateRange::parse("2024-01-01", "2024-02-01")?
        .windows(WindowSize::Month)
        .next()
        .context("a window")?;
    let ledger = Ledger::open(dir.join("write.db")).await?;
    let fetched_at: Timestamp = "2024-06-01T00:00:00Z".parse()?;
    let started = Instant::now();
    let change = ledger
        .record(
            "acme",
            "prod",
            window,
            &items,
            fetched_at,
            SignedDuration::ZERO,
        )
        .await?;
    let seconds = started.elapsed().as_secs_f64();
    ensure!(change.new && change.added == count as u64);
    let total = ledger.total(&Query::all()).await?;
    ensure!(
        total == items.costs.total,
        "stored {total} != {}",
        items.costs.total
    );
    let rate = count as f64 / seconds;
    Ok(Figure {
        name: "ledger_write".into(),
        value: rate,
        unit: "lines/s",
        ratio: Some(rate / 100_000.0),
        target: ">= 100k/s",
        note: format!(
            "{count} lines of one answer recorded in one transaction in {seconds:.2} s (natural keys, exact decimal text, WAL); total exact {}",
            total.normalize()
        ),
    })
}
