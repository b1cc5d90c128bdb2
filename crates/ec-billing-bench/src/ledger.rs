//! The ledger's figures: `ledger_sync` (a year of N deployments through the
//! rate-limited simulator with the ledger, against the same fetch without one),
//! `ledger_resync` (the second sync asks only for provisional windows) and
//! `ledger_write` (lines stored per second), on SQLite and, when
//! `EC_BILLING_TEST_POSTGRES` names a server, on PostgreSQL (`_postgres`), with
//! `ledger_workers` there: four workers syncing different deployments into one database
//! at once, against the same four one after another.

use std::{path::PathBuf, time::Instant};

use anyhow::{Context, Result, ensure};
use ec_billing::{DateRange, Items, WindowSize, policy::Pacing};
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
    let sqlite = [
        dir.join("sync.db").display().to_string(),
        dir.join("write.db").display().to_string(),
    ];
    let mut figures = figures(size, &sqlite, "").await;
    let _ = std::fs::remove_dir_all(&dir);
    match std::env::var("EC_BILLING_TEST_POSTGRES") {
        Ok(server) if !server.is_empty() => {
            let databases = [
                database(&server, "sync").await?,
                database(&server, "write").await?,
            ];
            let urls = [databases[0].url.clone(), databases[1].url.clone()];
            let mut more = figures_of(size, &urls, "_postgres").await;
            if let Ok(more) = &mut more {
                more.push(workers(&database(&server, "workers").await?.url).await?);
            }
            figures = figures.and_then(|mut f| {
                f.extend(more?);
                Ok(f)
            });
        }
        _ => println!(
            "ledger figures on PostgreSQL skipped: set EC_BILLING_TEST_POSTGRES to a server's URL"
        ),
    }
    figures
}

/// A database of the benchmark's own on `server`, dropped with it.
struct Database {
    server: String,
    name: String,
    url: String,
}

async fn database(server: &str, name: &str) -> Result<Database> {
    let name = format!("ec_billing_bench_{name}_{}", std::process::id());
    let admin = admin(server).await?;
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .await?;
    admin
        .batch_execute(&format!("CREATE DATABASE \"{name}\""))
        .await?;
    let base = server.split('?').next().unwrap_or(server);
    let host_end = base
        .find("://")
        .map(|i| i + 3)
        .and_then(|start| base[start..].find('/').map(|slash| start + slash))
        .unwrap_or(base.len());
    Ok(Database {
        server: server.to_string(),
        url: format!("{}/{name}", &base[..host_end]),
        name,
    })
}

impl Drop for Database {
    fn drop(&mut self) {
        let (server, name) = (self.server.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                admin(&server)
                    .await?
                    .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .await?;
                Ok::<(), anyhow::Error>(())
            })
        })
        .join();
    }
}

async fn admin(server: &str) -> Result<tokio_postgres::Client> {
    let (client, connection) = tokio_postgres::connect(server, tokio_postgres::NoTls)
        .await
        .context("cannot reach EC_BILLING_TEST_POSTGRES")?;
    tokio::spawn(connection);
    Ok(client)
}

async fn figures(size: Size, locations: &[String; 2], suffix: &str) -> Result<Vec<Figure>> {
    figures_of(size, locations, suffix).await
}

/// `ledger_workers`: four workers (each with its own pool and client, as four processes
/// would have) syncing a year of a deployment each into one database at once, against
/// the same four one after another; the server's rate limit off, 200 ms of latency (an
/// API's, across a continent).
async fn workers(url: &str) -> Result<Figure> {
    let deployments: Vec<String> = (0..4).map(|i| format!("d{i:03}")).collect();
    let sim = Simulator::new()
        .api_key(KEY)
        .dataset(
            Dataset::standard()
                .with_fleet(deployments.len())
                .with_copies(4),
        )
        .faults(Faults {
            latency: std::time::Duration::from_millis(200),
            ..Faults::default()
        })
        .start()
        .await?;
    let year = DateRange::parse("2024-01-01", "2025-01-01")?;
    let now: jiff::Timestamp = "2025-06-01T00:00:00Z".parse()?;
    let plan = |deployment: &str| {
        SyncPlan::new("fleet", [deployment])
            .from(year.from())
            .to(year.to())
            .now(now)
            .refetch_final(true)
    };
    let mut workers = Vec::new();
    for _ in &deployments {
        workers.push((
            Ledger::open(url).await?,
            pacing_matrix::client(&sim, 4, Pacing::Off)?,
        ));
    }
    // Once to create every window, so that both timed runs do the same work.
    for ((ledger, client), deployment) in workers.iter().zip(&deployments) {
        ledger.sync(client, &plan(deployment)).await?;
    }
    let started = Instant::now();
    for ((ledger, client), deployment) in workers.iter().zip(&deployments) {
        ledger.sync(client, &plan(deployment)).await?;
    }
    let sequential = started.elapsed().as_secs_f64();
    let plans: Vec<SyncPlan> = deployments.iter().map(|d| plan(d)).collect();
    let started = Instant::now();
    let runs = workers
        .iter()
        .zip(&plans)
        .map(|((ledger, client), plan)| ledger.sync(client, plan));
    for report in futures_util::future::join_all(runs).await {
        report?;
    }
    let parallel = started.elapsed().as_secs_f64();
    Ok(Figure {
        name: "ledger_workers".into(),
        value: parallel,
        unit: "s",
        ratio: Some(parallel / sequential),
        target: "<= 0.4",
        note: format!(
            "4 workers (own pool and client each) syncing a year of a deployment each into one PostgreSQL at once {parallel:.2} s, one after another {sequential:.2} s; ratio = at once / one after another"
        ),
    })
}

async fn figures_of(size: Size, locations: &[String; 2], suffix: &str) -> Result<Vec<Figure>> {
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
    let ledger = Ledger::open(&locations[0]).await?;
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

    let write = write_rate(&locations[1], suffix).await?;
    Ok(vec![
        Figure {
            name: format!("ledger_sync{suffix}"),
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
            name: format!("ledger_resync{suffix}"),
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
async fn write_rate(location: &str, suffix: &str) -> Result<Figure> {
    let copies = 500;
    let lines = quarter(&Dataset::standard().with_copies(copies))?;
    let count = lines.len();
    let items = Items::from_json(&ec_billing_sim::json_document(&lines))?;
    drop(lines);
    let window = DateRange::parse("2024-01-01", "2024-02-01")?
        .windows(WindowSize::Month)
        .next()
        .context("a window")?;
    let ledger = Ledger::open(location).await?;
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
    let goal = if suffix.is_empty() {
        100_000.0
    } else {
        50_000.0
    };
    Ok(Figure {
        name: format!("ledger_write{suffix}"),
        value: rate,
        unit: "lines/s",
        ratio: Some(rate / goal),
        target: if suffix.is_empty() {
            ">= 100k/s"
        } else {
            ">= 50k/s"
        },
        note: format!(
            "{count} lines of one answer recorded in one transaction in {seconds:.2} s (natural keys, exact amounts); total exact {}",
            total.normalize()
        ),
    })
}
