//! `cargo xtask bench [--quick]`: builds `ec-billing-bench` with the `bench-run` profile
//! (optimized) and runs it. Benchmarks never run inside `cargo test`.

use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::codegen::workspace_root;

/// Runs the benchmarks; `quick` sizes them for under two minutes on two cores, `only`
/// names the ones to run (prefixes of their figures' names, comma-separated).
pub(crate) fn run(quick: bool, only: Option<&str>) -> Result<()> {
    let root = workspace_root();
    let out = root.join("target/bench/results.json");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let mut command = Command::new(cargo);
    command
        .current_dir(&root)
        .args([
            "run",
            "--quiet",
            "--profile",
            "bench-run",
            "--package",
            "ec-billing-bench",
            "--",
        ])
        .arg("--out")
        .arg(&out);
    if quick {
        command.arg("--quick");
    }
    if let Some(only) = only {
        command.args(["--only", only]);
    }
    let status = command.status().context("running cargo")?;
    if !status.success() {
        bail!("the benchmarks failed ({status})");
    }
    Ok(())
}
