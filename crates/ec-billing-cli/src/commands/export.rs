//! `ec-billing export`: a ledger's lines to stdout (FOCUS, plain CSV, JSON) or a FOCUS
//! dataset to a folder. Needs no key and no network.

use std::{io::Write, path::PathBuf};

use ec_billing::{Decimal, text::escape};
use ec_billing_ledger::{Export, ExportFormat, Ledger, Query};

use crate::{
    args::{DbLocation, ExportArgs, ExportFormatArg, bounds},
    exit::Outcome,
};

/// What `export` does, checked.
#[derive(Debug)]
pub(crate) struct ExportTask {
    db: DbLocation,
    query: Query,
    export: Export,
    /// `--dataset DIR` and its file format.
    dataset: Option<(PathBuf, ec_billing_ledger::DatasetFormat)>,
    /// `--out FILE`.
    out: Option<PathBuf>,
}

/// `export`, checked.
pub(super) fn check(args: ExportArgs) -> Result<ExportTask, Box<dyn std::error::Error>> {
    let format = match args.format {
        ExportFormatArg::Focus => ExportFormat::Focus,
        ExportFormatArg::Csv => ExportFormat::Csv,
        ExportFormatArg::Json => ExportFormat::Json,
    };
    // ECU are priced at 1.00 USD, Elastic's nominal rate: any other currency's rate is
    // the user's to give, never assumed.
    let rate = match &args.rate_per_ecu {
        Some(rate) => crate::args::rate_per_ecu(rate)?,
        None if args.currency.trim() == "USD" => Decimal::ONE,
        None => {
            return Err(format!(
                "--currency {} needs --rate-per-ecu: its amount per ECU (Elastic's nominal \
                 rate of 1.00 is in USD)",
                ec_billing::text::escape(&args.currency).truncate(40)
            )
            .into());
        }
    };
    let version: ec_billing_ledger::FocusVersion = args.focus_version.trim().parse()?;
    let export = Export::new(format)
        .billing_currency(&args.currency, rate)?
        .focus_version(version);
    let mut query = Query::all().deployments(args.deployments);
    if let Some(organization) = args.organization {
        query = query.organization(organization);
    }
    let (from, to) = bounds(args.from.as_deref(), args.to.as_deref())?;
    if let Some(from) = from {
        query = query.from(from);
    }
    if let Some(to) = to {
        query = query.to(to);
    }
    let dataset = match args.dataset {
        None => None,
        Some(_) if format != ExportFormat::Focus => {
            return Err("--dataset writes FOCUS: use it with --format focus".into());
        }
        Some(dir) => Some((dir, args.file_format.trim().parse()?)),
    };
    if let Some(out) = &args.out {
        ec_billing_ledger::check_output_file(args.db.as_os_str(), out)
            .map_err(|err| format!("--out {err}"))?;
    }
    Ok(ExportTask {
        db: args.db,
        query,
        export,
        dataset,
        out: args.out,
    })
}

/// Writes the ledger's lines to stdout, a file or a dataset.
pub(super) async fn run(task: ExportTask) -> anyhow::Result<Outcome> {
    let ledger = Ledger::open_read_only(&task.db).await?;
    if let Some((dir, format)) = &task.dataset {
        let summary = ledger
            .export_dataset(&task.query, &task.export, dir, *format)
            .await?;
        let mut stdout = std::io::stdout().lock();
        let line = format!(
            "Dataset {}: {} billing period(s), {} rewritten, {} rows\n",
            escape(&dir.display().to_string()).truncate(200),
            summary.periods,
            summary.rewritten,
            summary.rows
        );
        let _ = stdout.write_all(line.as_bytes());
        return Ok(Outcome::Complete);
    }
    if let Some(out) = &task.out {
        let summary = ledger
            .export_to_file(&task.query, &task.export, out)
            .await?;
        let line = format!(
            "Export {}: {} lines, {} ECU\n",
            escape(&out.display().to_string()).truncate(200),
            summary.lines,
            summary.total
        );
        let _ = std::io::stdout().lock().write_all(line.as_bytes());
        return Ok(Outcome::Complete);
    }
    let stdout = std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout().lock());
    ledger.export(&task.query, &task.export, stdout).await?;
    Ok(Outcome::Complete)
}
