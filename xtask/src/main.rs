//! Project automation for the ec-billing workspace, run as `cargo xtask <task>`.
//!
//! Tasks:
//! - `codegen`: regenerate the low-level client and the typed mocks from the curated spec.
//! - `codegen --check`: regenerate in memory and fail, with a diff, when a committed file is stale.
//! - `bench [--quick]`: build the benchmarks optimized, run them, write `target/bench/results.json`.

mod bench;
mod codegen;

use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask <task>

tasks:
  codegen            regenerate crates/*/src/generated.rs from openapi/
    codegen --check    fail with a diff when a generated file is stale
  bench [--quick]    run the benchmarks; write target/bench/results.json
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        ["codegen"] => codegen::write_all(),
        ["codegen", "--check"] => codegen::check_all(),
        ["bench"] => bench::run(false),
        ["bench", "--quick"] => bench::run(true),
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
