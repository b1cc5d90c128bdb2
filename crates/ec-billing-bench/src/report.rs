//! The cost report's figures: `report_render`, the page of 16 deployments × 3 years of
//! daily lines read from a SQLite ledger and drawn (target: under 1 s), and
//! `report_size`, its bytes (target: under 3 MB).

use std::time::Instant;

use anyhow::{Context, Result, ensure};
use ec_billing::{DateRange, Items, WindowSize};
use ec_billing_ledger::Ledger;
use ec_billing_report::Report;
use ec_billing_sim::Dataset;
use jiff::{SignedDuration, Timestamp};

use crate::{Figure, median};

/// Deployments in the report's ledger.
const DEPLOYMENTS: usize = 16;

pub(crate) async fn run() -> Result<Vec<Figure>> {
    let dir = std::env::temp_dir().join(format!("ec-billing-bench-report-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let figures = figures(&dir.join("report.db")).await;
    let _ = std::fs::remove_dir_all(&dir);
    figures
}

async fn figures(db: &std::path::Path) -> Result<Vec<Figure>> {
    let (lines, revisions) = build(db).await?;
    let ledger = Ledger::open_read_only(db).await?;
    let report = Report::new().organization("fleet");
    let mut seconds = Vec::new();
    let mut page = String::new();
    for _ in 0..5 {
        let started = Instant::now();
        page = report.render(&ledger).await?;
        seconds.push(started.elapsed().as_secs_f64());
    }
    let render = median(&seconds);
    let megabytes = page.len() as f64 / 1e6;
    Ok(vec![
        Figure {
            name: "report_render".into(),
            value: render,
            unit: "s",
            ratio: Some(1.0 / render),
            target: "< 1 s",
            note: format!(
                "the report of {DEPLOYMENTS} deployments × 3 years of daily lines ({lines} lines, \
                 {revisions} revisions) read from SQLite, summed exactly and drawn; median of 5; \
                 ratio = 1 s / time"
            ),
        },
        Figure {
            name: "report_size".into(),
            value: megabytes,
            unit: "MB",
            ratio: Some(3.0 / megabytes),
            target: "< 3 MB",
            note: format!(
                "{} bytes of self-contained HTML (CSS and SVG inline); ratio = 3 MB / size",
                page.len()
            ),
        },
    ])
}

/// A ledger of `fleet`'s first 16 deployments, 2022 to 2024, a monthly window at a
/// time; December fetched on January 2 and again on January 5, after the simulator
/// revised its last days (so it holds revisions, and December stays provisional).
/// Returns the lines and the revisions recorded.
async fn build(db: &std::path::Path) -> Result<(usize, u64)> {
    let data = Dataset::standard()
        .with_fleet(DEPLOYMENTS)
        .with_revisions(SignedDuration::from_hours(72));
    let ledger = Ledger::open(db).await?;
    let settle = SignedDuration::from_hours(14 * 24);
    let (early, late): (Timestamp, Timestamp) = (
        "2025-01-02T00:00:00Z".parse()?,
        "2025-01-05T00:00:00Z".parse()?,
    );
    let mut lines = 0;
    let mut revisions = 0;
    for d in 0..DEPLOYMENTS {
        let deployment = format!("d{d:03}");
        for window in DateRange::parse("2022-01-01", "2025-01-01")?.windows(WindowSize::Month) {
            let fetches: &[Timestamp] = if window.to() == early - SignedDuration::from_hours(24) {
                &[early, late]
            } else {
                &[late]
            };
            for at in fetches {
                let days = data
                    .lines_as_of("fleet", &deployment, window.from(), window.to(), *at)
                    .context("a fleet deployment")?;
                let answer: Vec<_> = days.into_iter().flat_map(|(_, l)| l).collect();
                let items = Items::from_json(&ec_billing_sim::json_document(&answer))?;
                let change = ledger
                    .record("fleet", &deployment, window, &items, *at, settle)
                    .await?;
                if *at == late {
                    lines += answer.len();
                }
                revisions += change.revisions;
            }
        }
    }
    ensure!(revisions > 0, "the ledger holds revisions");
    Ok((lines, revisions))
}
