//! `ec-billing sync`: keeps costs in a ledger, and prints what changed, a row per
//! deployment.

use std::io::Write;

use anyhow::Context;
use ec_billing::{Format, WindowSize, text::escape};
use ec_billing_ledger::{Ledger, SyncPlan, SyncReport};
use indicatif::ProgressBar;
use jiff::SignedDuration;

use crate::{
    args::{DbLocation, GlobalArgs, SyncArgs, bounds},
    connect::{ClientSettings, connect},
    exit::Outcome,
};

/// What `sync` does, checked.
#[derive(Debug)]
pub(crate) struct SyncTask {
    pub(crate) client: ClientSettings,
    db: DbLocation,
    /// The window size asked for; `None`: the ledger's own.
    window: Option<WindowSize>,
    plan: SyncPlan,
    settle_days: u16,
}

/// `sync`, checked.
pub(super) fn check(
    args: SyncArgs,
    global: &mut GlobalArgs,
) -> Result<SyncTask, Box<dyn std::error::Error>> {
    let window: Option<WindowSize> = match args.window.as_deref() {
        None => None,
        Some(text @ ("month" | "day")) => Some(text.parse()?),
        Some(other) => {
            return Err(format!(
                "invalid --window \"{}\": a ledger keeps month or day windows",
                ec_billing::text::escape(other)
            )
            .into());
        }
    };
    let client = ClientSettings::from_flags(global)?;
    let settle = SignedDuration::from_hours(i64::from(args.settle_days) * 24);
    let mut plan = SyncPlan::new(args.organization, args.deployments)
        .settle(settle)
        .refetch_final(args.refetch_final)
        .keep_going(args.keep_going)
        .format(if args.csv { Format::Csv } else { Format::Json });
    let (from, to) = bounds(args.from.as_deref(), args.to.as_deref())?;
    if let Some(from) = from {
        plan = plan.from(from);
    }
    if let Some(to) = to {
        plan = plan.to(to);
    }
    if let Some(now) = client.simulate_at {
        plan = plan.now(now);
    }
    Ok(SyncTask {
        client,
        db: args.db,
        window,
        plan,
        settle_days: args.settle_days,
    })
}
/// Syncs the ledger and prints a summary per deployment; with `--keep-going`, each
/// failure is one line on stderr and the run is `Partial`.
pub(super) async fn run(task: SyncTask, progress: &ProgressBar) -> anyhow::Result<Outcome> {
    // What the sync would refuse is refused before a new ledger's file is created.
    let now = task.client.simulate_at.unwrap_or_else(jiff::Timestamp::now);
    task.plan
        .check(task.window.unwrap_or(WindowSize::Month), now)?;
    if !ec_billing_ledger::is_database_url(task.db.as_os_str())
        && !task.db.exists()
        && task.plan.start().is_none()
    {
        return Err(ec_billing_ledger::Error::InvalidInput(format!(
            "there is no ledger at {} yet: give --from for its first sync",
            escape(&task.db.display().to_string()).truncate(200)
        ))
        .into());
    }
    // The client first: a refused setting (a bad base URL) leaves no file behind.
    let (client, _simulator) = connect(&task.client).await?;
    let ledger = match task.window {
        Some(window) => Ledger::open_with(&task.db, window).await?,
        None => Ledger::open(&task.db).await?,
    };
    let bar = progress.clone();
    let plan = task.plan.on_progress(move |p| {
        bar.set_length(p.planned);
        bar.set_position(p.done);
    });
    let now = plan_now(&task.client, &client);
    let report = ledger.sync(&client, &plan).await?;
    progress.finish_and_clear();
    let mut stdout = std::io::stdout().lock();
    let summary = summary(&ledger, &report, plan.organization(), now, task.settle_days);
    match stdout
        .write_all(summary.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(err) if err.kind() != std::io::ErrorKind::BrokenPipe => {
            return Err(err).context("cannot write to stdout");
        }
        _ => {}
    }
    for failure in &report.failures {
        say!("error: {}", escape(&failure.message).truncate(1000));
    }
    Ok(if report.failures.is_empty() {
        Outcome::Complete
    } else {
        Outcome::Partial
    })
}

/// The instant the sync takes as now.
fn plan_now(settings: &ClientSettings, client: &ec_billing::Client) -> jiff::Timestamp {
    settings.simulate_at.unwrap_or_else(|| client.now())
}

/// The summary `sync` prints: what the ledger is, then a row per deployment.
fn summary(
    ledger: &Ledger,
    report: &SyncReport,
    organization: &str,
    now: jiff::Timestamp,
    settle_days: u16,
) -> String {
    let window = match ledger.window_size() {
        WindowSize::Day => "daily".to_string(),
        WindowSize::Month => "monthly".to_string(),
        other => other.to_string(),
    };
    let now = jiff::Timestamp::from_second(now.as_second()).unwrap_or(now);
    let mut out = format!(
        "Ledger {}: {window} windows, settle {settle_days} days; organization {}, as of {now}\n\n",
        escape(&ledger.path().display().to_string()),
        escape(organization),
    );
    let header = [
        "Deployment",
        "Fetched",
        "Skipped",
        "Revised",
        "Added",
        "Changed",
        "Removed",
        "Unchanged",
        "Revisions",
        "Revised by (ECU)",
        "Total (ECU)",
    ];
    let rows: Vec<[String; 11]> = report
        .deployments
        .iter()
        .map(|d| {
            [
                escape(&d.deployment).truncate(40).to_string(),
                d.windows_fetched.to_string(),
                d.windows_skipped.to_string(),
                d.windows_revised.to_string(),
                d.lines_added.to_string(),
                d.lines_changed.to_string(),
                d.lines_removed.to_string(),
                d.lines_unchanged.to_string(),
                d.revisions.to_string(),
                signed(d.revised_by),
                d.total.normalize().to_string(),
            ]
        })
        .collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([header[i].len()])
                .max()
                .unwrap_or_default()
        })
        .collect();
    let line = |cells: &[&str]| {
        let mut text = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i == 0 {
                text.push_str(&format!("{cell:<width$}", width = widths[0]));
            } else {
                text.push_str(&format!("  {cell:>width$}", width = widths[i]));
            }
        }
        text.trim_end().to_string() + "\n"
    };
    out.push_str(&line(&header));
    for row in &rows {
        let cells: Vec<&str> = row.iter().map(String::as_str).collect();
        out.push_str(&line(&cells));
    }
    let repaired: u64 = report.deployments.iter().map(|d| d.windows_repaired).sum();
    if repaired > 0 {
        out.push_str(&format!(
            "\nRepaired {repaired} window(s) whose lines no longer matched their record: \
             fetched again and replaced (not revisions).\n"
        ));
    }
    if report.changed_nothing() && report.failures.is_empty() {
        out.push_str("\nNothing changed: every window fetched was as the ledger had it.\n");
    }
    out
}

/// An amount with its sign: `+1.5`, `-0.25`, `0`.
fn signed(amount: ec_billing::Decimal) -> String {
    let amount = amount.normalize();
    if amount > ec_billing::Decimal::ZERO {
        format!("+{amount}")
    } else {
        amount.to_string()
    }
}
