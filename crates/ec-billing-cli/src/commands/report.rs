//! `ec-billing report`: one self-contained HTML page of charts from the ledger.

use std::{
    io::Write,
    path::{Path, PathBuf},
};

use anyhow::Context;
use clap::{Args, builder::TypedValueParser as _};
use ec_billing::text::escape;
use ec_billing_ledger::Ledger;
use ec_billing_report::Report;

use crate::{args::DbLocation, exit::Outcome};

/// The flags of `report`.
#[derive(Debug, Args)]
pub(crate) struct ReportArgs {
    /// The ledger: a SQLite file, or a postgres:// URL (or EC_LEDGER_DB).
    #[arg(
        long,
        env = "EC_LEDGER_DB",
        hide_env_values = true,
        value_name = "PATH|URL",
        value_parser = clap::builder::PathBufValueParser::new().map(DbLocation)
    )]
    db: DbLocation,

    /// Only this organization.
    #[arg(long = "org", value_name = "ORG")]
    organization: Option<String>,

    /// Only these deployments (repeat); default: all.
    #[arg(long = "deployment", value_name = "DEP")]
    deployments: Vec<String>,

    /// Lines whose period starts at or after this instant; default: the first month
    /// the ledger holds.
    #[arg(long, value_name = "T")]
    from: Option<String>,

    /// Lines whose period starts before this instant; default: the end of what the
    /// ledger holds.
    #[arg(long, value_name = "T")]
    to: Option<String>,

    /// The HTML file to write (replaced whole, never left half-written).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,

    /// With --rate-per-ecu: the billing currency (ISO 4217) the total is also given in.
    #[arg(long, default_value = "USD", value_name = "CODE")]
    currency: String,

    /// Also give the total in the billing currency, at this amount of it per ECU.
    #[arg(long, value_name = "DECIMAL")]
    rate_per_ecu: Option<String>,
}

/// What `report` does, checked.
#[derive(Debug)]
pub(crate) struct ReportTask {
    db: DbLocation,
    report: Report,
    out: PathBuf,
}

/// `report`, checked: a bad range, currency or rate is refused before the ledger is
/// opened.
pub(super) fn check(args: ReportArgs) -> Result<ReportTask, Box<dyn std::error::Error>> {
    let mut report = Report::new().deployments(args.deployments);
    if let Some(organization) = args.organization {
        report = report.organization(organization);
    }
    let from = args
        .from
        .as_deref()
        .map(ec_billing::parse_instant)
        .transpose()?;
    let to = args
        .to
        .as_deref()
        .map(ec_billing::parse_instant)
        .transpose()?;
    if let (Some(from), Some(to)) = (from, to)
        && from >= to
    {
        return Err(format!("invalid range: --from {from} is not before --to {to}").into());
    }
    if let Some(from) = from {
        report = report.from(from);
    }
    if let Some(to) = to {
        report = report.to(to);
    }
    if let Some(rate) = &args.rate_per_ecu {
        report = report.billing_currency(args.currency.trim(), crate::args::rate_per_ecu(rate)?)?;
    }
    check_out(&args.db, &args.out)?;
    Ok(ReportTask {
        db: args.db,
        report,
        out: args.out,
    })
}

/// Refuses an `--out` that is not a regular file (a folder, a link, a device), or that
/// is the ledger itself or one of its files: a mistyped `--out` must not replace the
/// costs it draws.
fn check_out(db: &DbLocation, out: &Path) -> Result<(), String> {
    ec_billing_ledger::check_output_file(db.as_os_str(), out).map_err(|err| format!("--out {err}"))
}

/// Writes the report's page to its file, through a file beside it renamed into place.
pub(crate) async fn run(task: ReportTask) -> anyhow::Result<Outcome> {
    let ledger = Ledger::open_read_only(&task.db).await?;
    let page = task.report.render(&ledger).await?;
    let shown = escape(&task.out.display().to_string())
        .truncate(200)
        .to_string();
    // A file of its own beside the target (created new: nothing planted there is
    // followed), renamed into place.
    let name = task
        .out
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let part = task
        .out
        .with_file_name(format!(".{name}.{}-{nanos}.part", std::process::id()));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&part)
        .and_then(|mut file| {
            file.write_all(page.as_bytes())?;
            file.sync_all()
        });
    if let Err(err) = written.and_then(|()| std::fs::rename(&part, &task.out)) {
        let _ = std::fs::remove_file(&part);
        return Err(err).with_context(|| format!("cannot write {shown}"));
    }
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "Report {shown}: {} bytes", page.len());
    Ok(Outcome::Complete)
}
