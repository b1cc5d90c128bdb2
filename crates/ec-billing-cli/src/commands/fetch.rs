//! `ec-billing items` and `ec-billing charts`: every deployment fetched through the
//! library's fleet API (one client, one concurrency limit), then printed. The two
//! differ only in how they ask and what they print; the rest is one generic path.

use std::io::Write;

use ec_billing::{Bucketing, DateRange, DeploymentFailure, DeploymentResult, Format, WindowSize};
use futures_util::{Stream, StreamExt};
use indicatif::ProgressBar;
use jiff::Timestamp;

use crate::{
    args::{BucketingArg, ChartsArgs, GlobalArgs, ItemsArgs, Target},
    connect::{ClientSettings, connect},
    exit::{Deployment, Outcome, describe, is_broken_pipe, one_line},
    render::{ChartsOutput, ErrorEntry, ItemsOutput, OutputFormat, Render, render},
};

/// What to fetch, checked: bad input never gets this far.
#[derive(Debug)]
pub(crate) struct Plan {
    pub(crate) client: ClientSettings,
    organization: String,
    /// In the order asked, each once.
    deployments: Vec<String>,
    range: DateRange,
    window: WindowSize,
    format: OutputFormat,
    keep_going: bool,
    job: Job,
}

/// Items or charts, with what is particular to each.
#[derive(Clone, Copy, Debug)]
enum Job {
    Items { csv: bool },
    Charts { bucketing: Bucketing },
}

/// `items`, checked.
pub(super) fn items(
    args: ItemsArgs,
    global: &mut GlobalArgs,
    now: Timestamp,
) -> Result<Plan, Box<dyn std::error::Error>> {
    let job = Job::Items { csv: args.csv };
    plan(args.target, &args.window, job, global, now)
}

/// `charts`, checked.
pub(super) fn charts(
    args: ChartsArgs,
    global: &mut GlobalArgs,
    now: Timestamp,
) -> Result<Plan, Box<dyn std::error::Error>> {
    let bucketing = match args.bucketing {
        BucketingArg::Daily => Bucketing::Daily,
        BucketingArg::Monthly => Bucketing::Monthly,
    };
    plan(
        args.target,
        &args.window,
        Job::Charts { bucketing },
        global,
        now,
    )
}

/// The plan of either command: the window size, the client, the range, the
/// deployments, checked in that order.
fn plan(
    target: Target,
    window: &str,
    job: Job,
    global: &mut GlobalArgs,
    now: Timestamp,
) -> Result<Plan, Box<dyn std::error::Error>> {
    let window: WindowSize = window.parse()?;
    let client = ClientSettings::from_flags(global)?;
    // On the simulator at `--simulate-at`, "now" is that instant.
    let now = client.simulate_at.unwrap_or(now);
    let range = range(target.from.as_deref(), target.to.as_deref(), now)?;
    let mut seen = std::collections::HashSet::new();
    let deployments = target
        .deployments
        .into_iter()
        .filter(|deployment| seen.insert(deployment.clone()))
        .collect();
    Ok(Plan {
        client,
        organization: target.organization,
        deployments,
        range,
        window,
        format: target.format,
        keep_going: target.keep_going,
        job,
    })
}

/// `--from` and `--to`, defaulting to the start of the current UTC month and `now`
/// (in whole seconds).
fn range(
    from: Option<&str>,
    to: Option<&str>,
    now: Timestamp,
) -> Result<DateRange, Box<dyn std::error::Error>> {
    if from.is_none() && to.is_none() {
        return Ok(DateRange::month_to_date(now)?);
    }
    let month_start = DateRange::month_to_date(now).map(|r| r.from().to_string());
    let from = match from {
        Some(from) => from.to_string(),
        None => month_start?,
    };
    let now = Timestamp::from_second(now.as_second())
        .unwrap_or(now)
        .to_string();
    Ok(DateRange::parse(&from, to.unwrap_or(&now))?)
}

/// Fetches every deployment, prints what answered, and says each failure on stderr.
pub(super) async fn run(plan: Plan, progress: &ProgressBar) -> anyhow::Result<Outcome> {
    let (client, _simulator) = connect(&plan.client).await?;
    let organization = plan.organization.as_str();
    let tick = {
        let progress = progress.clone();
        move |_: ec_billing::WindowDone<'_>| progress.inc(1)
    };
    let failures = match plan.job {
        Job::Items { csv } => {
            let format = if csv { Format::Csv } else { Format::Json };
            let request = client
                .items_of(organization, &plan.deployments)
                .range(plan.range)
                .window(plan.window)
                .format(format)
                .on_window(tick);
            // Every id and the range are checked before any request.
            let windows = request.windows()?.len();
            let fetched = fetch(&plan, progress, windows, request.stream()?).await?;
            print(
                &plan,
                &ItemsOutput {
                    organization,
                    range: plan.range,
                    reports: &fetched.reports,
                    errors: fetched.errors(&plan),
                },
            )?;
            fetched.failures
        }
        Job::Charts { bucketing } => {
            let request = client
                .charts_of(organization, &plan.deployments)
                .range(plan.range)
                .window(plan.window)
                .bucketing(bucketing)
                .on_window(tick);
            let windows = request.windows()?.len();
            let fetched = fetch(&plan, progress, windows, request.stream()?).await?;
            print(
                &plan,
                &ChartsOutput {
                    organization,
                    range: plan.range,
                    bucketing,
                    reports: &fetched.reports,
                    errors: fetched.errors(&plan),
                },
            )?;
            fetched.failures
        }
    };
    // The deployments that failed say so, whether stdout was read to its end or not.
    let outcome = if failures.is_empty() {
        Outcome::Complete
    } else {
        Outcome::Partial
    };
    for failure in failures {
        let error = anyhow::Error::new(failure.error).context(Deployment(failure.deployment));
        say!("error: {}", one_line(&describe(&error), plan.client.key()));
    }
    Ok(outcome)
}

/// What a fetch of either command got: the reports of the deployments that answered,
/// in the order asked, and (with `--keep-going`) the failures of the others.
#[derive(Debug)]
struct Fetched<T> {
    reports: Vec<T>,
    failures: Vec<DeploymentFailure>,
    /// The failures as a document lists them.
    entries: Vec<ErrorEntry>,
}

impl<T> Fetched<T> {
    /// The failures a document lists: with `--keep-going` only.
    fn errors(&self, plan: &Plan) -> Option<&[ErrorEntry]> {
        plan.keep_going.then_some(&self.entries[..])
    }
}

/// The fetch both commands share: `windows` per deployment on the progress bar, and
/// every result collected.
async fn fetch<T>(
    plan: &Plan,
    progress: &ProgressBar,
    windows: usize,
    results: impl Stream<Item = DeploymentResult<T>>,
) -> anyhow::Result<Fetched<T>> {
    progress.set_length((windows * plan.deployments.len()) as u64);
    let (reports, failures) = collect(results, &plan.deployments, plan.keep_going).await?;
    progress.finish_and_clear();
    let entries = failures.iter().map(ErrorEntry::new).collect();
    Ok(Fetched {
        reports,
        failures,
        entries,
    })
}

/// Writes `output` to stdout in the plan's format. A closed stdout (`| head`) is not
/// a failure.
fn print(plan: &Plan, output: &impl Render) -> anyhow::Result<()> {
    // Stdout is line-buffered; JSON and CSV are written in large pieces instead.
    let mut stdout = std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout().lock());
    let written = render(output, plan.format, &mut stdout);
    match written.and_then(|()| Ok(stdout.flush()?)) {
        Err(err) if !is_broken_pipe(&err) => Err(err),
        _ => Ok(()),
    }
}

/// Every deployment's result, the reports in the order asked for. Without
/// `keep_going`, the first failure ends the fetch (the other deployments' requests are
/// dropped with the stream).
async fn collect<T>(
    results: impl Stream<Item = DeploymentResult<T>>,
    order: &[String],
    keep_going: bool,
) -> anyhow::Result<(Vec<T>, Vec<DeploymentFailure>)> {
    let mut results = std::pin::pin!(results);
    let mut reports = Vec::new();
    let mut failures = Vec::new();
    while let Some(done) = results.next().await {
        match done.result {
            Ok(report) => reports.push((done.deployment, report)),
            Err(error) if keep_going && !matches!(error, ec_billing::Error::InvalidInput(_)) => {
                failures.push(DeploymentFailure::new(done.deployment, error));
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
