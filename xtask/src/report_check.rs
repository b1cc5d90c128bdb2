//! `cargo xtask report-check [--screenshot FILE]`: the cost report as a person sees it.
//! Builds a ledger on the simulator (a sync, then a later one that finds revisions),
//! writes the report, and opens it in headless Chromium: the DOM
//! it renders must hold every section, its chart and the exact totals, and its
//! screenshot must not be blank. `--screenshot FILE` also keeps the screenshot (the
//! README's is made so).

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, Result, bail, ensure};

use crate::codegen::workspace_root;

/// The sections of the page, in order, and whether each has a chart.
const SECTIONS: [(&str, bool); 6] = [
    ("headline", false),
    ("monthly", true),
    ("daily", true),
    ("deployments", true),
    ("skus", true),
    ("revisions", true),
];

/// The simulator's deployments of `acme`.
const DEPLOYMENTS: [&str; 3] = ["prod", "staging", "we/ird id"];

/// The browser's window: the page's width, and tall enough for all of it.
const WINDOW: &str = "1040,2900";

pub(crate) fn run(keep: Option<&Path>) -> Result<()> {
    let root = workspace_root();
    // Cargo's target folder, wherever CARGO_TARGET_DIR puts it.
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(|dir| root.join(dir))
        .unwrap_or_else(|| root.join("target"));
    let work = target.join("report-check");
    std::fs::create_dir_all(&work)?;
    let chromium = chromium()?;
    let status = Command::new(env!("CARGO"))
        .current_dir(&root)
        .args(["build", "--quiet", "-p", "ec-billing-cli"])
        .status()?;
    ensure!(status.success(), "cannot build the command");
    let cli = target.join("debug/ec-billing");

    let db = work.join("costs.db");
    let _ = std::fs::remove_file(&db);
    let page = work.join("report.html");
    // The README's demo: a first sync on June 2 (May's last days not yet revised), a
    // second on June 20 (they are), then the report.
    sync(&cli, &db, "2024-06-02", Some("2023-07-01"))?;
    sync(&cli, &db, "2024-06-20", None)?;
    let mut report = Command::new(&cli);
    report
        .args([
            "report",
            "--org",
            "acme",
            "--rate-per-ecu",
            "0.92",
            "--currency",
            "EUR",
            "--db",
        ])
        .arg(&db)
        .arg("--out")
        .arg(&page);
    run_ok(&mut report, "ec-billing report")?;
    let html = std::fs::read_to_string(&page)?;
    let total = between(&html, "id=\"total\">", "<").context("the page's total")?;

    let url = format!("file://{}", page.display());
    let dom = run_ok(
        browser(&chromium)
            .args(browser_flags())
            .arg("--dump-dom")
            .arg(&url),
        "chromium --dump-dom",
    )?;
    check_dom(&dom, total)?;

    let shot = work.join("report.png");
    let _ = std::fs::remove_file(&shot);
    run_ok(
        browser(&chromium)
            .args(browser_flags())
            .arg(format!("--window-size={WINDOW}"))
            .arg(format!("--screenshot={}", shot.display()))
            .arg(&url),
        "chromium --screenshot",
    )?;
    let (width, height, colours, inked) = look(&shot)?;
    ensure!(
        colours >= 16 && inked > 0.03,
        "the screenshot looks blank: {colours} colours, {:.1}% of it not white",
        inked * 100.0
    );
    println!(
        "report-check: {} sections and their charts in the DOM, total {total} ECU; \
         screenshot {width}x{height}, {colours} colours, {:.0}% inked ({} bytes of HTML)",
        SECTIONS.len(),
        inked * 100.0,
        html.len()
    );
    if let Some(keep) = keep {
        // The README's: the whole page at three quarters of its size (a small file).
        run_ok(
            browser(&chromium)
                .args(&browser_flags()[..6])
                .args([
                    "--force-device-scale-factor=0.75",
                    "--window-size=1040,2560",
                ])
                .arg(format!("--screenshot={}", keep.display()))
                .arg(&url),
            "chromium --screenshot",
        )?;
        let (width, height, _, _) = look(keep)?;
        println!(
            "report-check: screenshot {width}x{height} kept as {}",
            keep.display()
        );
    }
    Ok(())
}

/// Chromium: `CHROMIUM` if set, else Debian's `/usr/bin/chromium`, else `chromium` on
/// the path.
fn chromium() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("CHROMIUM") {
        return Ok(PathBuf::from(path));
    }
    let debian = PathBuf::from("/usr/bin/chromium");
    if debian.exists() {
        return Ok(debian);
    }
    let found = Command::new("sh")
        .args(["-c", "command -v chromium"])
        .output()?;
    let path = String::from_utf8_lossy(&found.stdout).trim().to_string();
    if !found.status.success() || path.is_empty() {
        bail!("no chromium: install it (apt-get install -y chromium) or set CHROMIUM");
    }
    Ok(PathBuf::from(path))
}

/// Chromium, ended if it runs past two minutes (coreutils' `timeout`): a browser that
/// hangs fails the check instead of holding CI.
fn browser(chromium: &Path) -> Command {
    let mut command = Command::new("timeout");
    command.args(["--kill-after=10", "120"]).arg(chromium);
    command
}

/// Headless, with no network of its own. (The page holds no script at all, which the
/// DOM check asserts: headless Chromium's own switch for JavaScript also stops
/// `--dump-dom`, so the page is not rendered with it.)
fn browser_flags() -> [&'static str; 7] {
    [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
    ]
}

fn sync(cli: &Path, db: &Path, at: &str, from: Option<&str>) -> Result<()> {
    let mut command = Command::new(cli);
    command
        .args([
            "--simulate",
            "--simulate-at",
            at,
            "sync",
            "--org",
            "acme",
            "--db",
        ])
        .arg(db);
    for deployment in DEPLOYMENTS {
        command.args(["--deployment", deployment]);
    }
    if let Some(from) = from {
        command.args(["--from", from]);
    }
    run_ok(&mut command, "ec-billing sync").map(drop)
}

/// Runs `command`; its stdout, or an error with its stderr.
fn run_ok(command: &mut Command, what: &str) -> Result<String> {
    let output = command
        .output()
        .with_context(|| format!("cannot run {what}"))?;
    ensure!(
        output.status.success(),
        "{what} failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The text between `start` and the next `end` in `text`.
fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = text.find(start)? + start.len();
    let to = text[from..].find(end)? + from;
    Some(&text[from..to])
}

/// What the browser built: every section in order, a chart with a title in each that
/// has one, the exact total, tooltips, no script.
fn check_dom(dom: &str, total: &str) -> Result<()> {
    let mut rest = dom;
    for (id, charted) in SECTIONS {
        let start = rest
            .find(&format!("<section id=\"{id}\""))
            .with_context(|| format!("the rendered page has no section {id} (in order)"))?;
        let body = &rest[start..];
        let end = body.find("</section>").context("an unclosed section")?;
        let section = &body[..end];
        let charts = section.matches("<svg class=\"chart\"").count();
        ensure!(
            charts == usize::from(charted),
            "section {id} has {charts} charts in the rendered page"
        );
        if charted {
            ensure!(
                section.contains("<title>") && section.contains(" ECU"),
                "the chart of {id} has no title or no tooltip"
            );
        }
        rest = &body[end..];
    }
    ensure!(
        dom.contains(&format!("id=\"total\">{total}</span> ECU")),
        "the rendered page does not show the total {total} ECU"
    );
    ensure!(!dom.contains("<script"), "the rendered page holds a script");
    Ok(())
}

/// The screenshot's size, how many colours it has (up to 4096, by 4-bit channels) and
/// the share of its pixels that are not white.
fn look(png_file: &Path) -> Result<(u32, u32, usize, f64)> {
    let file = std::io::BufReader::new(std::fs::File::open(png_file)?);
    let mut reader = png::Decoder::new(file).read_info()?;
    let mut pixels = vec![
        0;
        reader
            .output_buffer_size()
            .context("the screenshot's size")?
    ];
    let info = reader.next_frame(&mut pixels)?;
    let channels = info.color_type.samples();
    ensure!(
        info.bit_depth == png::BitDepth::Eight && channels >= 3,
        "an unexpected screenshot format: {:?} {:?}",
        info.color_type,
        info.bit_depth
    );
    let mut seen = vec![false; 4096];
    let (mut inked, mut count) = (0_u64, 0_u64);
    for pixel in pixels[..info.buffer_size()].chunks_exact(channels) {
        let (r, g, b) = (pixel[0], pixel[1], pixel[2]);
        seen[(usize::from(r >> 4) << 8) | (usize::from(g >> 4) << 4) | usize::from(b >> 4)] = true;
        if (r, g, b) != (255, 255, 255) {
            inked += 1;
        }
        count += 1;
    }
    let colours = seen.iter().filter(|s| **s).count();
    Ok((
        info.width,
        info.height,
        colours,
        inked as f64 / count.max(1) as f64,
    ))
}
