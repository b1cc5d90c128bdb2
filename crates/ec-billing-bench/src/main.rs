//! `ec-billing-bench`: whole-process benchmarks of ec-billing against the simulator,
//! each headline figure a ratio measured in the same run. Run it through
//! `cargo xtask bench [--quick]`, which builds it optimized and writes
//! `target/bench/results.json`.

use std::{
    collections::BTreeMap,
    path::PathBuf,
    process::Command,
    time::{Duration, Instant},
};

mod focus;
mod json_decode;
mod ledger;
mod pacing_matrix;
mod report;

use anyhow::{Context, Result, bail, ensure};
use ec_billing::{
    Client, DateRange, Decimal, Format, WindowSize, csv::ItemsCsvReader, policy::Pacing,
    policy::RetryPolicy,
};
use ec_billing_sim::{Dataset, RunningSimulator, Simulator};
use serde_json::{Value, json};

pub(crate) const KEY: &str = "bench-key";

/// One measured figure.
#[derive(Debug)]
struct Figure {
    name: String,
    value: f64,
    unit: &'static str,
    ratio: Option<f64>,
    target: &'static str,
    note: String,
}

/// How big the run is.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Size {
    quick: bool,
    pub(crate) deployments: usize,
    csv_rows: usize,
    json_bytes: usize,
    stream_bytes: u64,
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, bytes] = args.as_slice()
        && flag == "--child-stream"
    {
        // The peak-memory figure runs in a process of its own, so that the other
        // benchmarks' buffers do not count.
        return child_stream(bytes.parse().context("a byte count")?);
    }
    if let [flag, db, format, out] = args.as_slice()
        && flag == "--child-focus"
    {
        // Each export's peak memory in a process of its own.
        return focus::child_focus(db.as_ref(), format, out.as_ref());
    }
    let quick = args.iter().any(|a| a == "--quick");
    let out = match args.iter().position(|a| a == "--out") {
        Some(i) => PathBuf::from(args.get(i + 1).context("--out needs a path")?),
        None => PathBuf::from("target/bench/results.json"),
    };
    let size = if quick {
        Size {
            quick,
            deployments: 4,
            csv_rows: 1_000_000,
            json_bytes: 50 << 20,
            stream_bytes: 256 << 20,
        }
    } else {
        Size {
            quick,
            deployments: 16,
            csv_rows: 2_000_000,
            json_bytes: 100 << 20,
            stream_bytes: 1 << 30,
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "ec-billing benchmarks ({}), {cores} cores",
        if quick { "quick" } else { "full" }
    );

    // `--only NAME[,NAME...]` runs those benchmarks (prefixes of their figures' names),
    // in their usual order.
    let only: Option<Vec<&str>> = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1))
        .map(|names| names.split(',').collect());
    let wanted = |name: &str| {
        only.as_ref()
            .is_none_or(|only| only.iter().any(|o| name.starts_with(o)))
    };
    let mut figures = Vec::new();
    if wanted("pacing") {
        figures.extend(runtime.block_on(pacing_matrix::run(size))?);
    }
    if wanted("csv_parse") {
        figures.push(csv_parse(size)?);
    }
    if wanted("csv_stream") {
        figures.push(stream_rss(size)?);
    }
    if wanted("json") {
        figures.push(json_decode::run(size)?);
    }
    if wanted("merge") {
        figures.push(runtime.block_on(merge_scale())?);
    }
    if wanted("ledger") {
        figures.extend(runtime.block_on(ledger::run(size))?);
    }
    if wanted("focus") {
        figures.extend(runtime.block_on(focus::run(size))?);
    }
    if wanted("report") {
        figures.extend(runtime.block_on(report::run())?);
    }

    print_table(&figures);
    write_results(&out, &figures, size, cores)?;
    println!("\nwrote {}", out.display());
    Ok(())
}

/// A client of `sim` with `concurrency` and `pacing`, retrying generously so that a
/// run without pacing still completes.
fn client(sim: &RunningSimulator, concurrency: usize, pacing: Pacing) -> Result<Client> {
    Ok(Client::builder()
        .base_url(sim.base_url())
        .api_key(KEY.parse()?)
        .concurrency(std::num::NonZeroUsize::new(concurrency).context("concurrency above 0")?)
        .pacing(pacing)
        .retry_policy(
            RetryPolicy::default()
                .with_max_attempts(std::num::NonZeroU32::new(30).context("attempts")?)
                .with_max_retry_after(Duration::from_secs(30)),
        )
        .build()?)
}

/// `csv_parse_ratio`: typed parsing through `ItemsCsvReader` against a raw
/// `csv::ByteRecord` pass over the same bytes.
fn csv_parse(size: Size) -> Result<Figure> {
    let copies = (size.csv_rows / (92 * 4)).max(1) as u32 + 1;
    let lines = quarter(&Dataset::standard().with_copies(copies))?;
    let expected: Decimal = lines.iter().map(|l| l.cost()).sum();
    let bytes = ec_billing_sim::csv_document(&lines);
    let rows = lines.len();
    drop(lines);

    let mut raw = || {
        let mut reader = csv::ReaderBuilder::new().from_reader(&bytes[..]);
        let mut record = csv::ByteRecord::new();
        let mut fields = 0usize;
        while reader.read_byte_record(&mut record)? {
            fields += record.len();
        }
        ensure!(fields == rows * 14, "raw pass saw {fields} fields");
        Ok(Box::new(()) as Box<dyn std::any::Any>)
    };
    let mut typed = || {
        let (costs, count) = ItemsCsvReader::new(&bytes[..])?.read_totals()?;
        ensure!(
            count as usize == rows && costs.total == expected,
            "typed pass: {count} rows, {}",
            costs.total
        );
        Ok(Box::new(()) as Box<dyn std::any::Any>)
    };
    let [raw, typed] = interleaved(1, 5, [&mut raw, &mut typed])?;
    let ratio = median_ratio(&raw, &typed);
    let (raw, typed) = (median(&raw), median(&typed));
    let mb = bytes.len() as f64 / 1e6;
    Ok(Figure {
        name: "csv_parse_ratio".into(),
        value: mb / typed,
        unit: "MB/s",
        ratio: Some(ratio),
        target: ">= 0.8",
        note: format!(
            "{rows} rows, {mb:.0} MB, medians of 5 interleaved rounds: typed {:.0} MB/s, raw ByteRecord {:.0} MB/s; total exact",
            mb / typed,
            mb / raw
        ),
    })
}

/// `csv_stream_peak_rss`: peak resident memory of a process that streams a large CSV
/// answer from the simulator through the reader and sums it.
fn stream_rss(size: Size) -> Result<Figure> {
    let exe = std::env::current_exe()?;
    let output = Command::new(exe)
        .args(["--child-stream", &size.stream_bytes.to_string()])
        .output()?;
    ensure!(
        output.status.success(),
        "the streaming child failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_slice(&output.stdout).context("the child prints JSON")?;
    let peak = report["peak_rss_bytes"].as_f64().context("peak")? / (1u64 << 20) as f64;
    let bytes = report["bytes"].as_f64().context("bytes")?;
    let seconds = report["seconds"].as_f64().context("seconds")?;
    Ok(Figure {
        name: "csv_stream_peak_rss".into(),
        value: peak,
        unit: "MiB",
        ratio: Some(64.0 / peak),
        target: "< 64 MiB",
        note: format!(
            "{:.2} GB of CSV ({} lines) streamed and summed at {:.0} MB/s, simulator in-process; total exact; ratio = 64 MiB / peak",
            bytes / 1e9,
            report["lines"],
            bytes / 1e6 / seconds
        ),
    })
}

/// The child of [`stream_rss`]: prints `{peak_rss_bytes, bytes, lines, seconds}`.
fn child_stream(target_bytes: u64) -> Result<()> {
    // A year of one deployment's CSV is about 210 KB per copy of its lines: aim a
    // little over the target.
    let copies = (target_bytes / 210_000).max(1) as u32;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let sim = Simulator::new()
            .api_key(KEY)
            .dataset(Dataset::standard().with_copies(copies))
            .start()
            .await?;
        let client = client(&sim, 4, Pacing::Adaptive)?;
        let year = DateRange::parse("2024-01-01", "2025-01-01")?;
        let started = Instant::now();
        let totals = client
            .items("acme", "prod")
            .range(year)
            .window(WindowSize::Month)
            .format(Format::Csv)
            .totals()
            .await?;
        let seconds = started.elapsed().as_secs_f64();
        let expected = sim
            .dataset()
            .items_total("acme", "prod", year.from(), year.to())
            .context("known")?;
        ensure!(
            totals.costs.total == expected,
            "streamed total {} != {expected}",
            totals.costs.total
        );
        let report = json!({
            "peak_rss_bytes": peak_rss_bytes()?,
            "bytes": sim.stats().body_bytes,
            "lines": totals.lines,
            "seconds": seconds,
        });
        println!("{report}");
        anyhow::Ok(())
    })
}

/// `merge_scale`: ten years of daily windows, 16 in flight, no latency.
async fn merge_scale() -> Result<Figure> {
    let sim = Simulator::new().api_key(KEY).start().await?;
    let client = client(&sim, 16, Pacing::Adaptive)?;
    let decade = DateRange::parse("2021-01-01", "2031-01-01")?;
    let started = Instant::now();
    let report = client
        .items("acme", "prod")
        .range(decade)
        .window(WindowSize::Day)
        .send()
        .await?;
    let seconds = started.elapsed().as_secs_f64();
    let expected = sim
        .dataset()
        .items_total("acme", "prod", decade.from(), decade.to())
        .context("known")?;
    ensure!(
        report.items.costs.total == expected,
        "total {} != {expected}",
        report.items.costs.total
    );
    let requests = report.windows.len();
    Ok(Figure {
        name: "merge_scale".into(),
        value: requests as f64 / seconds,
        unit: "req/s",
        ratio: None,
        target: "",
        note: format!(
            "{requests} daily windows, {} lines merged in {seconds:.2} s; total {} ECU exact",
            report.items.resources.len() + report.items.data_transfer_and_storage.len(),
            report.items.costs.total
        ),
    })
}

/// The lines of 92 days of one deployment: the most one request may span.
pub(crate) fn quarter(dataset: &Dataset) -> Result<Vec<ec_billing_sim::Line>> {
    let (from, to) = (
        "2024-01-01T00:00:00Z".parse()?,
        "2024-04-02T00:00:00Z".parse()?,
    );
    let days = dataset
        .lines("acme", "prod", from, to)
        .context("a known deployment")?;
    Ok(days.into_iter().flat_map(|(_, lines)| lines).collect())
}

/// One variant of a measurement: it does the work and returns what it made, which is
/// dropped after the clock stops (freeing a decoded document is not decoding it).
pub(crate) type Variant<'a> = &'a mut dyn FnMut() -> Result<Box<dyn std::any::Any>>;

/// Runs `variants` round after round, interleaved (A B C, A B C, ...), so that the
/// machine's drift and the heap's state weigh on every variant alike: `warm` rounds
/// first, uncounted, then `rounds` timed ones. Returns each variant's times, in round
/// order.
pub(crate) fn interleaved<const N: usize>(
    warm: usize,
    rounds: usize,
    mut variants: [Variant<'_>; N],
) -> Result<[Vec<f64>; N]> {
    let mut times: [Vec<f64>; N] = std::array::from_fn(|_| Vec::with_capacity(rounds));
    for round in 0..warm + rounds {
        for (variant, times) in variants.iter_mut().zip(times.iter_mut()) {
            let started = Instant::now();
            let made = variant()?;
            let elapsed = started.elapsed().as_secs_f64();
            drop(made);
            if round >= warm {
                times.push(elapsed);
            }
        }
    }
    Ok(times)
}

/// The median of `values` (at least one).
pub(crate) fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}

/// The median over rounds of `baseline[i] / measured[i]`: how fast the measured variant
/// is against its baseline, round by round (> 1: faster).
pub(crate) fn median_ratio(baseline: &[f64], measured: &[f64]) -> f64 {
    let ratios: Vec<f64> = baseline
        .iter()
        .zip(measured)
        .map(|(baseline, measured)| baseline / measured)
        .collect();
    median(&ratios)
}

/// The process's peak resident set size (Linux `VmHWM`).
pub(crate) fn peak_rss_bytes() -> Result<u64> {
    let status =
        std::fs::read_to_string("/proc/self/status").context("reading /proc/self/status")?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .context("no VmHWM")?;
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .context("VmHWM value")?
        .parse()?;
    Ok(kib * 1024)
}

fn print_table(figures: &[Figure]) {
    println!();
    println!(
        "{:<30} {:>12} {:<6} {:>7}  {:<9} note",
        "benchmark", "value", "unit", "ratio", "target"
    );
    for f in figures {
        let ratio = f.ratio.map_or(String::new(), |r| format!("{r:.2}"));
        println!(
            "{:<30} {:>12.2} {:<6} {:>7}  {:<9} {}",
            f.name, f.value, f.unit, ratio, f.target, f.note
        );
    }
}

fn write_results(out: &PathBuf, figures: &[Figure], size: Size, cores: usize) -> Result<()> {
    let mut results = BTreeMap::new();
    for f in figures {
        results.insert(f.name.clone(), json!({"value": f.value, "unit": f.unit, "ratio": f.ratio, "target": f.target, "note": f.note}));
    }
    results.insert(
        "_run".to_string(),
        json!({"quick": size.quick, "cores": cores}),
    );
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(out, serde_json::to_string_pretty(&results)?)?;
    if results.is_empty() {
        bail!("no figures");
    }
    Ok(())
}
