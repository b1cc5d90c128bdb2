//! `ec-billing`: itemized costs and usage charts of Elastic Cloud deployments, and a
//! ledger that keeps them.
//!
//! Exit status: 0 on success; 2 for bad input, refused before any request; 1 for any
//! other failure, with one line on stderr naming the error code, the deployment and
//! the window.

/// `eprintln!` that does not panic when stderr is closed: a line that cannot be told is
/// dropped, and the exit status still says what happened.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

mod args;
mod json;
mod ledger;
mod output;

use std::{
    io::{IsTerminal, Write},
    process::ExitCode,
};

use anyhow::Context;
use ec_billing::{Client, Format};
use futures_util::{Stream, StreamExt};
use indicatif::{ProgressBar, ProgressStyle};

use crate::{
    args::{Cli, ClientSettings, Connection, Job, OutputFormat, Plan, Task},
    json::ErrorEntry,
    output::{ChartsOutput, ItemsOutput, Render},
};

fn main() -> ExitCode {
    let cli = Cli::from_command_line();
    let progress = progress_bar();
    init_tracing(cli.verbose, &progress);
    let task = match cli.task(jiff::Timestamp::now()) {
        Ok(task) => task,
        Err(message) => {
            say!("error: {}", one_line(&message, None));
            return ExitCode::from(2);
        }
    };
    let settings = match &task {
        Task::Fetch(plan) => Some(&plan.client),
        Task::Sync(sync) => Some(&sync.client),
        Task::Export(_) => None,
    };
    let key = match settings.map(|s| &s.connection) {
        Some(Connection::Api { key, .. }) => Some(key.clone()),
        _ => None,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            say!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = match task {
        Task::Fetch(plan) => runtime.block_on(run(plan, &progress)),
        Task::Sync(sync) => runtime.block_on(ledger::sync(sync, &progress)),
        Task::Export(export) => runtime.block_on(ledger::export(export)),
    };
    progress.finish_and_clear();
    match outcome {
        Ok(Outcome::Complete) => ExitCode::SUCCESS,
        Ok(Outcome::Partial) => ExitCode::FAILURE,
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            say!("error: {}", one_line(&describe(&err), key.as_ref()));
            // Bad input is refused before any request, wherever it is found.
            let invalid = matches!(
                err.downcast_ref::<ec_billing::Error>(),
                Some(ec_billing::Error::InvalidInput(_))
            ) || matches!(
                err.downcast_ref::<ec_billing_ledger::Error>(),
                Some(
                    ec_billing_ledger::Error::InvalidInput(_)
                        | ec_billing_ledger::Error::Api(ec_billing::Error::InvalidInput(_))
                )
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
            // Nor does `serde_json::Error`.
            || cause.downcast_ref::<serde_json::Error>().and_then(serde_json::Error::io_error_kind)
                == Some(std::io::ErrorKind::BrokenPipe)
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
    ec_billing::text::escape(&text)
        .truncate(MAX_LINE)
        .to_string()
}

/// A failure, described. An API error's `Display` already names its status, code,
/// deployment and window; other errors add their causes.
fn describe(err: &anyhow::Error) -> String {
    let deployment = err.downcast_ref::<Deployment>();
    let failure = err.downcast_ref::<ec_billing::Error>().or_else(|| match err
        .downcast_ref::<ec_billing_ledger::Error>(
    ) {
        Some(ec_billing_ledger::Error::Api(failure)) => Some(failure),
        _ => None,
    });
    let Some(failure) = failure else {
        return format!("{err:#}");
    };
    let mut line = failure.to_string();
    if let (None, Some(deployment)) = (failure.deployment(), deployment) {
        line.push_str(&format!(
            " for deployment \"{}\"",
            ec_billing::text::escape(&deployment.0)
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
    if failure.is_auth() {
        line.push_str(": check the API key and its access to the organization");
    } else if failure.is_not_found() {
        line.push_str(": check --org and --deployment");
    }
    line
}

/// The deployment an error belongs to, as context for errors that do not say.
#[derive(Debug)]
struct Deployment(String);

impl std::fmt::Display for Deployment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "deployment \"{}\"", ec_billing::text::escape(&self.0))
    }
}

/// `-v`: one line per request; `-vv`: also retries, pacing and waits. `RUST_LOG`
/// overrides. Log lines never tear the progress bar: it steps aside for each.
fn init_tracing(verbose: u8, progress: &ProgressBar) {
    let default = match verbose {
        0 => return,
        1 => "warn,ec_billing=info",
        _ => "warn,ec_billing=debug,ec_billing_sim=debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(LogWriter(progress.clone()))
        .with_ansi(false)
        .init();
}

/// Writes each log line to stderr whole, with the progress bar out of the way.
#[derive(Clone, Debug)]
struct LogWriter(ProgressBar);

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = LogLine;

    fn make_writer(&'a self) -> LogLine {
        LogLine {
            progress: self.0.clone(),
            line: Vec::with_capacity(256),
        }
    }
}

/// One log line, written when complete.
#[derive(Debug)]
struct LogLine {
    progress: ProgressBar,
    line: Vec<u8>,
}

impl Write for LogLine {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.line.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LogLine {
    fn drop(&mut self) {
        let line = std::mem::take(&mut self.line);
        self.progress.suspend(|| {
            // Nothing to do when stderr is gone.
            let _ = std::io::stderr().write_all(&line);
        });
    }
}

/// How a run that printed what it could ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    /// Every deployment answered.
    Complete,
    /// With `--keep-going`, some deployments failed; each said so on stderr.
    Partial,
}

async fn run(plan: Plan, progress: &ProgressBar) -> anyhow::Result<Outcome> {
    let (client, _simulator) = connect(&plan.client).await?;
    let organization = &plan.organization;
    let tick = {
        let progress = progress.clone();
        move |_: ec_billing::WindowDone<'_>| progress.inc(1)
    };
    // Stdout is line-buffered; JSON and CSV are written in large pieces instead.
    let mut stdout = std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout().lock());
    let (written, failures) = match plan.job {
        Job::Items { csv } => {
            let format = if csv { Format::Csv } else { Format::Json };
            let request = client
                .items_of(organization, &plan.deployments)
                .range(plan.range)
                .window(plan.window)
                .format(format)
                .on_window(tick);
            // Every id and the range are checked before any request.
            let windows = request.windows()?;
            progress.set_length((windows.len() * plan.deployments.len()) as u64);
            let (reports, failures) =
                collect(request.stream()?, &plan.deployments, plan.keep_going).await?;
            progress.finish_and_clear();
            let errors: Vec<ErrorEntry> = failures.iter().map(ErrorEntry::new).collect();
            let out = ItemsOutput {
                organization,
                range: plan.range,
                reports: &reports,
                errors: plan.keep_going.then_some(&errors[..]),
            };
            (render(&out, plan.format, &mut stdout), failures)
        }
        Job::Charts { bucketing } => {
            let request = client
                .charts_of(organization, &plan.deployments)
                .range(plan.range)
                .window(plan.window)
                .bucketing(bucketing)
                .on_window(tick);
            let windows = request.windows()?;
            progress.set_length((windows.len() * plan.deployments.len()) as u64);
            let (reports, failures) =
                collect(request.stream()?, &plan.deployments, plan.keep_going).await?;
            progress.finish_and_clear();
            let errors: Vec<ErrorEntry> = failures.iter().map(ErrorEntry::new).collect();
            let out = ChartsOutput {
                organization,
                range: plan.range,
                bucketing,
                reports: &reports,
                errors: plan.keep_going.then_some(&errors[..]),
            };
            (render(&out, plan.format, &mut stdout), failures)
        }
    };
    // A closed stdout (`| head`) is not a failure; the deployments that failed still
    // are, and still say so.
    match written.and_then(|()| Ok(stdout.flush()?)) {
        Err(err) if !is_broken_pipe(&err) => return Err(err),
        _ => {}
    }
    let key = match &plan.client.connection {
        Connection::Api { key, .. } => Some(key),
        Connection::Simulator => None,
    };
    let outcome = if failures.is_empty() {
        Outcome::Complete
    } else {
        Outcome::Partial
    };
    for failure in failures {
        let error = anyhow::Error::new(failure.error).context(Deployment(failure.deployment));
        say!("error: {}", one_line(&describe(&error), key));
    }
    Ok(outcome)
}

/// Every deployment's result, the reports in the order asked for. Without
/// `keep_going`, the first failure ends the fetch (the other deployments' requests are
/// dropped with the stream).
async fn collect<T>(
    results: impl Stream<Item = ec_billing::DeploymentResult<T>>,
    order: &[String],
    keep_going: bool,
) -> anyhow::Result<(Vec<T>, Vec<ec_billing::DeploymentFailure>)> {
    let mut results = std::pin::pin!(results);
    let mut reports = Vec::new();
    let mut failures = Vec::new();
    while let Some(done) = results.next().await {
        match done.result {
            Ok(report) => reports.push((done.deployment, report)),
            Err(error) if keep_going && !matches!(error, ec_billing::Error::InvalidInput(_)) => {
                failures.push(ec_billing::DeploymentFailure::new(done.deployment, error));
            }
            Err(error) => {
                return Err(anyhow::Error::new(error).context(Deployment(done.deployment)));
            }
        }
    }
    let ranks: std::collections::HashMap<&str, usize> = order
        .iter()
        .enumerate()
        .map(|(at, deployment)| (deployment.as_str(), at))
        .collect();
    let rank = |deployment: &str| ranks.get(deployment).copied();
    reports.sort_by_key(|(deployment, _)| rank(deployment));
    failures.sort_by_key(|failure| rank(&failure.deployment));
    Ok((
        reports.into_iter().map(|(_, report)| report).collect(),
        failures,
    ))
}

/// How long after a day ends the embedded simulator revises its costs.
const SIMULATED_REVISION_DELAY: jiff::SignedDuration = jiff::SignedDuration::from_hours(3 * 24);

/// The client, and the simulator it talks to when `--simulate` (kept alive until the
/// end of the run).
async fn connect(
    plan: &ClientSettings,
) -> anyhow::Result<(Client, Option<ec_billing_sim::RunningSimulator>)> {
    let builder = Client::builder()
        .concurrency(plan.concurrency)
        .retry_policy(plan.retry.clone())
        .pacing(plan.pacing);
    match &plan.connection {
        Connection::Simulator => {
            // The standard data, revised three days after each day ends, as Elastic
            // revises recent costs.
            let data = ec_billing_sim::Dataset::standard().with_revisions(SIMULATED_REVISION_DELAY);
            let mut sim = ec_billing_sim::Simulator::new().dataset(data);
            if let Some(now) = plan.simulate_at {
                sim = sim.now(now);
            }
            let sim = sim.start().await.context("cannot start the simulator")?;
            let key = ec_billing::ApiKey::new(sim.api_key())?;
            let client = builder.base_url(sim.base_url()).api_key(key).build()?;
            Ok((client, Some(sim)))
        }
        Connection::Api { base_url, key } => {
            if let Some(url) = base_url
                && !url.trim().trim_end_matches('/').ends_with("/api/v1")
            {
                say!(
                    "warning: the base URL {} does not end with /api/v1: requests go to \
                     <it>/billing/costs/...",
                    one_line(&ec_billing::text::redact_url(url).to_string(), Some(key))
                );
            }
            let builder = builder.api_key(key.clone());
            let builder = match base_url {
                Some(url) => builder.base_url(url),
                None => builder,
            };
            Ok((builder.build()?, None))
        }
    }
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

/// A bar over all windows on stderr, shown only when stderr is a terminal.
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
