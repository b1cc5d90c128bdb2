//! `ec-billing`: itemized costs and usage charts of Elastic Cloud deployments.
//!
//! Exit status: 0 on success; 2 for bad input, refused before any request; 1 for any
//! other failure, with one line on stderr naming the error code, the deployment and
//! the window.

mod args;
mod output;

use std::{
    io::{IsTerminal, Write},
    process::ExitCode,
};

use anyhow::Context;
use clap::Parser;
use ec_billing::{Client, Format, Window, WindowResult};
use futures_util::{Stream, StreamExt, future::try_join_all};
use indicatif::{ProgressBar, ProgressStyle};

use crate::{
    args::{Cli, Connection, Job, OutputFormat, Plan},
    output::{ChartsOutput, ItemsOutput, Render},
};

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.verbose);
    let plan = match cli.plan(jiff::Timestamp::now()) {
        Ok(plan) => plan,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(plan)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {}", describe(&err));
            ExitCode::FAILURE
        }
    }
}

/// Whether stdout was closed by its reader (`ec-billing ... | head`): not a failure.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// One line for a failure. An API error's `Display` already names its status, code,
/// deployment and window; other errors add their innermost cause.
fn describe(err: &anyhow::Error) -> String {
    let Some(failure) = err.downcast_ref::<ec_billing::Error>() else {
        return format!("{err:#}");
    };
    let mut line = failure.to_string();
    let innermost = err.chain().last().filter(|c| c.to_string() != line);
    if let (None, Some(cause)) = (failure.status(), innermost) {
        line.push_str(&format!(": {cause}"));
    }
    if failure.attempts() > 1 {
        line.push_str(&format!(" (after {} attempts)", failure.attempts()));
    }
    line
}

/// `-v`: the client's requests and retries; `-vv`: every attempt. `RUST_LOG` overrides.
fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => return,
        1 => "warn,ec_billing=info",
        _ => "warn,ec_billing=debug,ec_billing_sim=debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
}

async fn run(plan: Plan) -> anyhow::Result<()> {
    let (client, _simulator) = connect(&plan).await?;
    // Each deployment adds its windows to the bar when it starts.
    let progress = progress_bar();
    let organization = &plan.organization;
    let mut stdout = std::io::stdout().lock();
    match plan.job {
        Job::Items { csv } => {
            let format = if csv { Format::Csv } else { Format::Json };
            let reports = per_deployment(
                &plan.deployments,
                &progress,
                |deployment| {
                    let request = client
                        .items(organization, deployment)
                        .range(plan.range)
                        .window(plan.window)
                        .format(format);
                    Ok((request.windows()?, request.stream()))
                },
                |deployment, windows, parts| ec_billing::ItemsReport {
                    organization: organization.clone(),
                    deployment: deployment.to_string(),
                    range: plan.range,
                    windows,
                    items: ec_billing::Items::merge(parts),
                },
            )
            .await?;
            progress.finish_and_clear();
            let out = ItemsOutput {
                organization,
                range: plan.range,
                reports: &reports,
            };
            render(&out, plan.format, &mut stdout)?;
        }
        Job::Charts { bucketing } => {
            let reports = per_deployment(
                &plan.deployments,
                &progress,
                |deployment| {
                    let request = client
                        .charts(organization, deployment)
                        .range(plan.range)
                        .window(plan.window)
                        .bucketing(bucketing);
                    Ok((request.windows()?, request.stream()))
                },
                |deployment, windows, parts| ec_billing::ChartsReport {
                    organization: organization.clone(),
                    deployment: deployment.to_string(),
                    range: plan.range,
                    bucketing,
                    windows,
                    charts: ec_billing::Charts::merge(parts),
                },
            )
            .await?;
            progress.finish_and_clear();
            let out = ChartsOutput {
                organization,
                range: plan.range,
                bucketing,
                reports: &reports,
            };
            render(&out, plan.format, &mut stdout)?;
        }
    }
    stdout.flush()?;
    Ok(())
}

/// The client, and the simulator it talks to when `--simulate` (kept alive until the
/// end of the run).
async fn connect(
    plan: &Plan,
) -> anyhow::Result<(Client, Option<ec_billing_sim::RunningSimulator>)> {
    let builder = Client::builder()
        .concurrency(plan.concurrency)
        .retry_policy(plan.retry.clone());
    match &plan.connection {
        Connection::Simulator => {
            let sim = ec_billing_sim::Simulator::new()
                .start()
                .await
                .context("cannot start the simulator")?;
            let key = ec_billing::ApiKey::new(sim.api_key())?;
            let client = builder.base_url(sim.base_url()).api_key(key).build()?;
            Ok((client, Some(sim)))
        }
        Connection::Api { base_url, key } => {
            let builder = builder.api_key(key.clone());
            let builder = match base_url {
                Some(url) => builder.base_url(url),
                None => builder,
            };
            Ok((builder.build()?, None))
        }
    }
}

/// Fetches every deployment concurrently (one client, one concurrency limit): `start`
/// gives a deployment's windows and their stream, `finish` turns its results, in
/// window order, into a report. The first error, in deployment order, wins.
async fn per_deployment<T, S, R>(
    deployments: &[String],
    progress: &ProgressBar,
    start: impl Fn(&str) -> Result<(Vec<Window>, S), ec_billing::Error>,
    finish: impl Fn(&str, Vec<Window>, Vec<T>) -> R,
) -> Result<Vec<R>, ec_billing::Error>
where
    S: Stream<Item = Result<WindowResult<T>, ec_billing::Error>>,
{
    try_join_all(deployments.iter().map(|deployment| {
        let started = start(deployment);
        let finish = &finish;
        async move {
            let (windows, stream) = started?;
            progress.inc_length(windows.len() as u64);
            let parts = gather(stream, progress).await?;
            Ok(finish(deployment, windows, parts))
        }
    }))
    .await
}

/// Prints `out` in the chosen format.
fn render(out: &impl Render, format: OutputFormat, stdout: &mut impl Write) -> anyhow::Result<()> {
    match format {
        OutputFormat::Table => out.table(stdout)?,
        OutputFormat::Json => writeln!(stdout, "{}", serde_json::to_string_pretty(&out.json())?)?,
        OutputFormat::Csv => out.csv(stdout)?,
    }
    Ok(())
}

/// Collects a deployment's windows in order, ticking the progress bar for each.
async fn gather<T>(
    stream: impl Stream<Item = Result<WindowResult<T>, ec_billing::Error>>,
    progress: &ProgressBar,
) -> Result<Vec<T>, ec_billing::Error> {
    let mut stream = std::pin::pin!(stream);
    let mut parts = Vec::new();
    while let Some(result) = stream.next().await {
        parts.push(result?.value);
        progress.inc(1);
    }
    Ok(parts)
}

/// A bar over all windows on stderr, shown only when stderr is a terminal; its length
/// grows as deployments start.
fn progress_bar() -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(0);
    if let Ok(style) =
        ProgressStyle::with_template("{spinner} {pos}/{len} windows [{bar:30}] {elapsed}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}
