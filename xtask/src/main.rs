//! Project automation for the ec-billing workspace, run as `cargo xtask <task>`.
//!
//! Tasks:
//! - `codegen`: regenerate the low-level client and the typed mocks from the curated spec.
//! - `codegen --check`: regenerate in memory and fail, with a diff, when a committed file is stale.
//! - `bench [--quick] [--only NAMES]`: build the benchmarks optimized, run them, write `target/bench/results.json`.
//! - `focus-check`: run the FinOps Foundation's focus-validator over the FOCUS export of the simulator, in every dialect.
//! - `report-check [--screenshot FILE]`: the cost report of the simulator in headless Chromium: its DOM and a screenshot.

mod bench;
mod codegen;
mod focus_check;
mod report_check;

use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask <task>

tasks:
  codegen            regenerate crates/*/src/generated.rs from openapi/
    codegen --check    fail with a diff when a generated file is stale
  bench [--quick] [--only NAME[,NAME...]]
                     run the benchmarks (or those named); write target/bench/results.json
  focus-check        the FinOps Foundation's focus-validator over the FOCUS export of
                     the simulator, in every dialect (installs it in target/ once)
  report-check [--screenshot FILE]
                     the cost report of the simulator in headless Chromium: the DOM
                     has every chart and the totals, the screenshot is not blank
                     (and is kept as FILE)
";

/// `[--quick] [--only NAMES]`, in any order.
fn bench_args<'a>(mut args: &[&'a str]) -> Option<(bool, Option<&'a str>)> {
    let (mut quick, mut only) = (false, None);
    loop {
        match args {
            [] => return Some((quick, only)),
            ["--quick", rest @ ..] => (quick, args) = (true, rest),
            ["--only", names, rest @ ..] => (only, args) = (Some(*names), rest),
            _ => return None,
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        ["codegen"] => codegen::write_all(),
        ["codegen", "--check"] => codegen::check_all(),
        ["focus-check"] => focus_check::run(),
        ["report-check"] => report_check::run(None),
        ["report-check", "--screenshot", file] => {
            report_check::run(Some(std::path::Path::new(file)))
        }
        ["bench", rest @ ..] => match bench_args(rest) {
            Some((quick, only)) => bench::run(quick, only),
            None => {
                eprint!("{USAGE}");
                return ExitCode::from(2);
            }
        },
        _ => {
            eprint!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
