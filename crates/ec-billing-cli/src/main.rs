//! `ec-billing`: itemized costs and usage charts of Elastic Cloud deployments.
//!
//! Exit status: 0 on success; 2 for bad input, refused before any request; 1 for any
//! other failure, with one line on stderr naming the error code, the deployment and
//! the window.

mod args;
mod json;
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
            eprintln!("error: {}", one_line(&message, None));
            return ExitCode::from(2);
        }
    };
    let key = match &plan.connection {
        Connection::Api { key, .. } => Some(key.clone()),
        Connection::Simulator => None,
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
            eprintln!("error: {}", one_line(&describe(&err), key.as_ref()));
            // Bad input is refused before any request, wherever it is found.
            let invalid = matches!(
                err.downcast_ref::<ec_billing::Error>(),
                Some(ec_billing::Error::InvalidInput(_))
            );
            if invalid {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// Whether stdout was closed by its reader (`ec-billing ... | head`): not a failure.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    let broken = |io: &std::io::Error| io.kind() == std::io::ErrorKind::BrokenPipe;
    err.chain().any(|cause| {
        cause.downcast_ref::<std::io::Error>().is_some_and(broken)
            // `csv::Error` does not give its I/O error as its source.
            || cause
                .downcast_ref::<csv::Error>()
                .is_some_and(|csv| matches!(csv.kind(), csv::ErrorKind::Io(io) if broken(io)))
    })
}

/// The most characters of an error line.
const MAX_LINE: usize = 1000;

/// `text` as one line of stderr: the key redacted, control characters escaped, cut to
/// [`MAX_LINE`] characters.
fn one_line(text: &str, key: Option<&ec_billing::ApiKey>) -> String {
    let text = match key {
        Some(key) => key.redact(text),
        None => text.into(),
    };
    ec_billing::escape(&text).truncate(MAX_LINE).to_string()
}

/// A failure, described. An API error's `Display` already names its status, code,
/// deployment and window; other errors add their causes.
fn describe(err: &anyhow::Error) -> String {
    let deployment = err.downcast_ref::<Deployment>();
    let Some(failure) = err.downcast_ref::<ec_billing::Error>() else {
        return format!("{err:#}");
    };
    let mut line = failure.to_string();
    if let (None, Some(deployment)) = (failure.deployment(), deployment) {
        line.push_str(&format!(
            " for deployment \"{}\"",
            ec_billing::escape(&deployment.0)
        ));
    }
    if failure.status().is_none() {
        let mut source = std::error::Error::source(failure);
        while let Some(cause) = source {
            let text = cause.to_string();
            if !line.ends_with(&text) {
                line.push_str(": ");
                line.push_str(&text);
            }
            source = cause.source();
        }
    }
    if failure.attempts() > 1 {
        line.push_str(&format!(" (after {} attempts)", failure.attempts()));
    }
    line
}

/// The deployment an error belongs to, as context for errors that do not say.
#[derive(Debug)]
struct Deployment(String);

impl std::fmt::Display for Deployment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "deployment \"{}\"", ec_billing::escape(&self.0))
    }
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
    // Stdout is line-buffered; JSON and CSV are written in large pieces instead.
    let mut stdout = std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout().lock());
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
                |deployment, windows, parts| {
                    Ok(ec_billing::ItemsReport {
                        organization: organization.clone(),
                        deployment: deployment.to_string(),
                        range: plan.range,
                        windows,
                        items: ec_billing::Items::merge(parts)?,
                    })
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
                |deployment, windows, parts| {
                    Ok(ec_billing::ChartsReport {
                        organization: organization.clone(),
                        deployment: deployment.to_string(),
                        range: plan.range,
                        bucketing,
                        windows,
                        charts: ec_billing::Charts::merge(parts)?,
                    })
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
        .retry_policy(plan.retry.clone())
        .pacing(plan.pacing);
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
/// window order, into a report. Every deployment is planned before any request, so
/// that bad input is refused before any is made. The first error, in deployment order,
/// wins.
async fn per_deployment<T, S, R>(
    deployments: &[String],
    progress: &ProgressBar,
    start: impl Fn(&str) -> Result<(Vec<Window>, S), ec_billing::Error>,
    finish: impl Fn(&str, Vec<Window>, Vec<WindowResult<T>>) -> Result<R, ec_billing::Error>,
) -> anyhow::Result<Vec<R>>
where
    S: Stream<Item = Result<WindowResult<T>, ec_billing::Error>>,
{
    let mut started = Vec::with_capacity(deployments.len());
    for deployment in deployments {
        started.push((deployment, start(deployment)?));
    }
    try_join_all(started.into_iter().map(|(deployment, (windows, stream))| {
        let finish = &finish;
        async move {
            progress.inc_length(windows.len() as u64);
            let parts = gather(stream, progress).await?;
            finish(deployment, windows, parts)
                .map_err(|err| anyhow::Error::new(err).context(Deployment(deployment.clone())))
        }
    }))
    .await
}

/// Prints `out` in the chosen format. Table and JSON are made whole first, so that a
/// failure (a sum that overflows) prints nothing.
fn render(out: &impl Render, format: OutputFormat, stdout: &mut impl Write) -> anyhow::Result<()> {
    match format {
        OutputFormat::Table => {
            let mut table = Vec::new();
            out.table(&mut table)?;
            stdout.write_all(&table)?;
        }
        OutputFormat::Json => out.json(stdout)?,
        OutputFormat::Csv => out.csv(stdout)?,
    }
    Ok(())
}

/// Collects a deployment's windows in order, ticking the progress bar for each.
async fn gather<T>(
    stream: impl Stream<Item = Result<WindowResult<T>, ec_billing::Error>>,
    progress: &ProgressBar,
) -> anyhow::Result<Vec<WindowResult<T>>> {
    let mut stream = std::pin::pin!(stream);
    let mut parts = Vec::new();
    while let Some(result) = stream.next().await {
        parts.push(result?);
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
