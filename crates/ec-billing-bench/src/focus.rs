//! The FOCUS export's figures: `focus_export_csv` and `focus_export_parquet`, rows per
//! second and peak resident memory (each in a process of its own) over a ledger of
//! millions of lines, and the Parquet dataset's size against the same CSV.

use std::{path::Path, process::Command, time::Instant};

use anyhow::{Context, Result, ensure};
use ec_billing::{DateRange, Items, WindowSize};
use ec_billing_ledger::{DatasetFormat, Export, ExportFormat, Ledger, Query};
use ec_billing_sim::Dataset;
use jiff::{SignedDuration, Timestamp};
use serde_json::Value;

use crate::{Figure, Size, peak_rss_bytes, quarter};

/// The figures, over a ledger of at least 5 million lines (1 million with `--quick`).
pub(crate) async fn run(size: Size) -> Result<Vec<Figure>> {
    let dir = std::env::temp_dir().join(format!("ec-billing-bench-focus-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let figures = figures(size, &dir).await;
    let _ = std::fs::remove_dir_all(&dir);
    figures
}

async fn figures(size: Size, dir: &Path) -> Result<Vec<Figure>> {
    let target: usize = if size.quick { 1_000_000 } else { 5_000_000 };
    let db = dir.join("focus.db");
    let lines = build(&db, target).await?;
    // The ledger at rest: its gigabyte written back to the disk before the exports run.
    std::fs::File::open(&db)?.sync_all()?;
    // Gigabytes of CSV still being written back to the disk would slow the next export
    // down: each output is removed (its size is taken), and the disk let settle, before
    // the next run.
    let settle = |path: &Path| {
        let _ = std::fs::remove_file(path).or_else(|_| std::fs::remove_dir_all(path));
        let _ = Command::new("sync").status();
    };
    let parquet = child(&db, "parquet", &dir.join("dataset"))?;
    settle(&dir.join("dataset"));
    let csv = child(&db, "csv", &dir.join("export.csv"))?;
    settle(&dir.join("export.csv"));
    let stream = child(&db, "csv-stream", &dir.join("stream.csv"))?;
    settle(&dir.join("stream.csv"));
    let rate = |report: &Value| -> Result<f64> {
        Ok(report["rows"].as_f64().context("rows")?
            / report["seconds"].as_f64().context("seconds")?)
    };
    let peak = |report: &Value| -> Result<f64> {
        Ok(report["peak_rss_bytes"].as_f64().context("peak")? / (1u64 << 20) as f64)
    };
    let (csv_rate, stream_rate, parquet_rate) = (rate(&csv)?, rate(&stream)?, rate(&parquet)?);
    let (csv_bytes, parquet_bytes) = (
        csv["bytes"].as_f64().context("bytes")?,
        parquet["bytes"].as_f64().context("bytes")?,
    );
    Ok(vec![
        Figure {
            name: "focus_export_csv".into(),
            value: csv_rate,
            unit: "rows/s",
            ratio: Some(csv_rate / 500_000.0),
            target: ">= 500k/s",
            note: format!(
                "{lines} lines exported as FOCUS CSV to a file (one pass: each line priced and written, each window checked against its record, the file renamed into place when whole) in {:.1} s; peak RSS {:.1} MiB (< 128 MiB); {:.0} MB",
                csv["seconds"].as_f64().unwrap_or_default(),
                peak(&csv)?,
                csv_bytes / 1e6
            ),
        },
        Figure {
            name: "focus_export_csv_stream".into(),
            value: stream_rate,
            unit: "rows/s",
            ratio: None,
            target: "",
            note: format!(
                "the same export to a stream (two passes: every line checked and priced before the first is written, so a failed export writes nothing) in {:.1} s; peak RSS {:.1} MiB",
                stream["seconds"].as_f64().unwrap_or_default(),
                peak(&stream)?,
            ),
        },
        Figure {
            name: "focus_export_parquet".into(),
            value: parquet_rate,
            unit: "rows/s",
            ratio: Some(parquet_rate / 300_000.0),
            target: ">= 300k/s",
            note: format!(
                "the same lines as a Parquet dataset (DECIMAL money, snappy) in {:.1} s; peak RSS {:.1} MiB (< 128 MiB); {:.0} MB = {:.2} of the CSV",
                parquet["seconds"].as_f64().unwrap_or_default(),
                peak(&parquet)?,
                parquet_bytes / 1e6,
                parquet_bytes / csv_bytes
            ),
        },
        Figure {
            name: "focus_export_peak_rss".into(),
            value: peak(&csv)?.max(peak(&stream)?).max(peak(&parquet)?),
            unit: "MiB",
            ratio: Some(128.0 / peak(&csv)?.max(peak(&stream)?).max(peak(&parquet)?)),
            target: "< 128 MiB",
            note: "the largest of the three exports' peaks, each in a process of its own; ratio = 128 MiB / peak".to_string(),
        },
    ])
}

/// A ledger of at least `target` lines at `db`: one answer of a quarter's lines of 500
/// copies of a deployment, recorded for as many deployments as it takes. Returns the
/// lines recorded.
async fn build(db: &Path, target: usize) -> Result<usize> {
    let lines = quarter(&Dataset::standard().with_copies(500))?;
    let items = Items::from_json(&ec_billing_sim::json_document(&lines))?;
    let per_answer = lines.len();
    drop(lines);
    let window = DateRange::parse("2024-01-01", "2024-02-01")?
        .windows(WindowSize::Month)
        .next()
        .context("a window")?;
    let ledger = Ledger::open(db).await?;
    let fetched_at: Timestamp = "2024-06-01T00:00:00Z".parse()?;
    let mut recorded = 0;
    let mut deployment = 0;
    while recorded < target {
        ledger
            .record(
                "acme",
                &format!("d{deployment:03}"),
                window,
                &items,
                fetched_at,
                SignedDuration::ZERO,
            )
            .await?;
        recorded += per_answer;
        deployment += 1;
    }
    Ok(recorded)
}

/// Runs the export of `db` as `format` (`csv` to a file, `csv-stream` to a stream,
/// or `parquet`) to `out` in a child process, and reads its report.
fn child(db: &Path, format: &str, out: &Path) -> Result<Value> {
    let exe = std::env::current_exe()?;
    let output = Command::new(exe)
        .arg("--child-focus")
        .arg(db)
        .arg(format)
        .arg(out)
        .output()?;
    ensure!(
        output.status.success(),
        "the export child failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).context("the child prints JSON")
}

/// The child of [`child`]: exports, and prints `{rows, seconds, bytes, peak_rss_bytes}`.
pub(crate) fn child_focus(db: &Path, format: &str, out: &Path) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (rows, seconds) = runtime.block_on(async {
        let ledger = Ledger::open_read_only(db).await?;
        let export = Export::new(ExportFormat::Focus);
        let started = Instant::now();
        let rows = if format == "csv" {
            ledger
                .export_to_file(&Query::all(), &export, out)
                .await?
                .lines
        } else if format == "csv-stream" {
            let file = std::io::BufWriter::with_capacity(1 << 16, std::fs::File::create(out)?);
            ledger.export(&Query::all(), &export, file).await?.lines
        } else {
            ledger
                .export_dataset(&Query::all(), &export, out, DatasetFormat::Parquet)
                .await?
                .rows
        };
        Ok::<_, anyhow::Error>((rows, started.elapsed().as_secs_f64()))
    })?;
    let bytes = size_of(out)?;
    println!(
        "{}",
        serde_json::json!({
            "rows": rows,
            "seconds": seconds,
            "bytes": bytes,
            "peak_rss_bytes": peak_rss_bytes()?,
        })
    );
    Ok(())
}

/// The bytes of a file, or of every file below a folder.
fn size_of(path: &Path) -> Result<u64> {
    let meta = std::fs::metadata(path)?;
    if meta.is_file() {
        return Ok(meta.len());
    }
    let mut total = 0;
    for entry in std::fs::read_dir(path)? {
        total += size_of(&entry?.path())?;
    }
    Ok(total)
}
