//! The command line: flags as clap parses them. Each command checks its own
//! (`crate::commands`) into what it runs.

use std::{
    num::{NonZeroU32, NonZeroUsize},
    path::PathBuf,
};

use clap::{Args, Parser, Subcommand, ValueEnum, builder::TypedValueParser as _};
use jiff::Timestamp;

use crate::render::OutputFormat;

/// Itemized costs and usage charts of Elastic Cloud deployments.
///
/// Every instant is UTC and every range is half-open, [from, to). Dates are
/// `2024-01-01` (midnight UTC) or RFC 3339 timestamps with any offset.
#[derive(Debug, Parser)]
#[command(name = "ec-billing", version, propagate_version = true)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) global: GlobalArgs,

    #[command(subcommand)]
    pub(crate) command: Command,
}

impl Cli {
    /// The command line of this process, parsed; clap's own errors (and `--help`) exit
    /// here.
    pub(crate) fn from_command_line() -> Self {
        use clap::{CommandFactory, FromArgMatches, parser::ValueSource};

        let matches = Self::command().get_matches();
        let mut cli = Self::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
        cli.global.base_url_on_command_line =
            matches.value_source("base_url") == Some(ValueSource::CommandLine);
        cli
    }
}

/// The flags every command takes.
#[derive(Args)]
pub(crate) struct GlobalArgs {
    /// The API's base URL, including /api/v1 (printed only without its userinfo, query
    /// and fragment).
    #[arg(
        long,
        env = "EC_BASE_URL",
        global = true,
        hide_env_values = true,
        value_name = "URL"
    )]
    pub(crate) base_url: Option<String>,

    /// The API key (prefer the environment variable: flags show up in process lists).
    #[arg(
        long,
        env = "EC_API_KEY",
        global = true,
        hide_env_values = true,
        value_name = "KEY"
    )]
    pub(crate) api_key: Option<String>,

    /// Start the embedded simulator on loopback and use it (no account, no key). It
    /// serves organization acme with deployments prod, staging and "we/ird id", and
    /// organization globex with search; EC_BASE_URL is ignored, --base-url refused.
    #[arg(long, global = true)]
    #[cfg_attr(not(feature = "simulate"), arg(hide = true))]
    pub(crate) simulate: bool,

    /// With --simulate: the instant the simulator and `sync` take as now (what the
    /// simulator has published by then, which windows have settled). For demos and
    /// replays.
    #[arg(long, global = true, value_name = "T")]
    #[cfg_attr(not(feature = "simulate"), arg(hide = true))]
    pub(crate) simulate_at: Option<String>,

    /// Whether --base-url was given on the command line (not from EC_BASE_URL).
    #[arg(skip)]
    pub(crate) base_url_on_command_line: bool,

    /// The most requests in flight at once, over all deployments.
    #[arg(long, global = true, default_value_t = NonZeroUsize::MIN.saturating_add(3), value_name = "N")]
    pub(crate) concurrency: NonZeroUsize,

    /// The most attempts per request, the first included.
    #[arg(long, global = true, default_value_t = NonZeroU32::MIN.saturating_add(4), value_name = "N")]
    pub(crate) max_attempts: NonZeroU32,

    /// Pacing under the API's rate limit: adaptive (learnt from the API's answers),
    /// off, or N requests per second.
    #[arg(
        long,
        global = true,
        default_value = "adaptive",
        value_name = "adaptive|off|N"
    )]
    pub(crate) pacing: String,

    /// Log to stderr: -v one line per request (deployment, window, status, attempts,
    /// duration), -vv also retries, pacing and waits.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,
}

impl std::fmt::Debug for GlobalArgs {
    /// The base URL only as it may be printed, and never the key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GlobalArgs")
            .field(
                "base_url",
                &self.base_url.as_deref().map(ec_billing::text::redact_url),
            )
            .field("api_key", &self.api_key.as_ref().map(|_| "[redacted]"))
            .field("simulate", &self.simulate)
            .field("simulate_at", &self.simulate_at)
            .field("base_url_on_command_line", &self.base_url_on_command_line)
            .field("concurrency", &self.concurrency)
            .field("max_attempts", &self.max_attempts)
            .field("pacing", &self.pacing)
            .field("verbose", &self.verbose)
            .finish()
    }
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Itemized costs: per deployment, the total, each dimension, and every line item.
    Items(ItemsArgs),
    /// Usage charts: per deployment, buckets of values in time order.
    Charts(ChartsArgs),
    /// Keeps costs in a ledger (one SQLite file): fetches the windows it lacks and the
    /// provisional ones again, records revisions, and says what changed.
    Sync(SyncArgs),
    /// Writes a ledger's lines to stdout: FOCUS 1.2 CSV, plain CSV, or JSON. Needs no
    /// key and no network.
    Export(ExportArgs),
    /// Writes one self-contained HTML page of charts from a ledger: months by
    /// dimension, recent days, deployments, top SKUs, revisions. Needs no key and no
    /// network.
    Report(crate::commands::report::ReportArgs),
}

#[derive(Debug, Args)]
pub(crate) struct SyncArgs {
    /// The ledger: a SQLite file (created when there is none), or a postgres:// URL
    /// (the ledger lives in its schema ec_billing, created on first use); from
    /// EC_LEDGER_DB when not given, so that a password need not be on the command line.
    #[arg(
        long,
        env = "EC_LEDGER_DB",
        hide_env_values = true,
        value_name = "PATH|URL",
        value_parser = clap::builder::PathBufValueParser::new().map(DbLocation)
    )]
    pub(crate) db: DbLocation,

    /// The organization id.
    #[arg(long = "org", value_name = "ORG")]
    pub(crate) organization: String,

    /// A deployment id; repeat for several (fetched concurrently).
    #[arg(long = "deployment", value_name = "DEP", required = true)]
    pub(crate) deployments: Vec<String>,

    /// Start of the range, taken back to the start of its window; default: where the
    /// ledger stands for each deployment (its first provisional window).
    #[arg(long, value_name = "T")]
    pub(crate) from: Option<String>,

    /// End of the range (exclusive); default: now.
    #[arg(long, value_name = "T")]
    pub(crate) to: Option<String>,

    /// The ledger's windows: month or day, fixed when it is created (default: the
    /// ledger's own, or month for a new one).
    #[arg(long, value_name = "month|day")]
    pub(crate) window: Option<String>,

    /// A window last fetched less than this many days after its end is provisional,
    /// and fetched again by every sync: Elastic revises recent costs.
    #[arg(long, default_value_t = 14, value_name = "N")]
    pub(crate) settle_days: u16,

    /// Fetch final windows again too.
    #[arg(long)]
    pub(crate) refetch_final: bool,

    /// Ask the API for CSV (the ledger stores the same lines).
    #[arg(long)]
    pub(crate) csv: bool,

    /// Store every window that can be fetched even when others fail (each failure is
    /// one line on stderr, and the exit status is 1); by default the first failure ends
    /// the sync (what was stored stays).
    #[arg(long)]
    pub(crate) keep_going: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ExportArgs {
    /// The ledger: a SQLite file, or a postgres:// URL (or EC_LEDGER_DB).
    #[arg(
        long,
        env = "EC_LEDGER_DB",
        hide_env_values = true,
        value_name = "PATH|URL",
        value_parser = clap::builder::PathBufValueParser::new().map(DbLocation)
    )]
    pub(crate) db: DbLocation,

    /// Only this organization.
    #[arg(long = "org", value_name = "ORG")]
    pub(crate) organization: Option<String>,

    /// Only these deployments (repeat); default: all.
    #[arg(long = "deployment", value_name = "DEP")]
    pub(crate) deployments: Vec<String>,

    /// Lines whose period starts at or after this instant.
    #[arg(long, value_name = "T")]
    pub(crate) from: Option<String>,

    /// Lines whose period starts before this instant.
    #[arg(long, value_name = "T")]
    pub(crate) to: Option<String>,

    /// FOCUS 1.2 CSV, the ledger's own columns as CSV, or JSON.
    #[arg(long, value_enum)]
    pub(crate) format: ExportFormatArg,

    /// FOCUS: the billing currency (ISO 4217).
    #[arg(long, default_value = "USD", value_name = "CODE")]
    pub(crate) currency: String,

    /// FOCUS: the billing currency's amount per ECU (Elastic's nominal rate is 1.00 USD;
    /// use your contract's). Needed with any --currency but USD.
    #[arg(long, value_name = "DECIMAL")]
    pub(crate) rate_per_ecu: Option<String>,

    /// FOCUS: the version written, 1.2 or 1.3 (1.3 adds ServiceProviderName and
    /// HostProviderName).
    #[arg(long, default_value = "1.2", value_name = "1.2|1.3")]
    pub(crate) focus_version: String,

    /// FOCUS: write a dataset in this folder instead of stdout: one folder per billing
    /// period (BILLING_PERIOD=YYYY-MM) and a manifest.json; a period whose rows did not
    /// change is left as it was.
    #[arg(long, value_name = "DIR")]
    pub(crate) dataset: Option<PathBuf>,

    /// With --dataset: the files' format.
    #[arg(long, default_value = "parquet", value_name = "parquet|csv")]
    pub(crate) file_format: String,

    /// Write to this file instead of stdout: written beside it and renamed into place
    /// once whole (an export that fails leaves the file as it was), in one pass over the
    /// ledger where stdout takes two.
    #[arg(long, value_name = "FILE", conflicts_with = "dataset")]
    pub(crate) out: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum ExportFormatArg {
    Focus,
    Csv,
    Json,
}

#[derive(Debug, Args)]
pub(crate) struct Target {
    /// The organization id.
    #[arg(long = "org", value_name = "ORG")]
    pub(crate) organization: String,

    /// A deployment id; repeat for several (fetched concurrently).
    #[arg(long = "deployment", value_name = "DEP", required = true)]
    pub(crate) deployments: Vec<String>,

    /// Start of the range (inclusive); default: the start of the current UTC month.
    #[arg(long, value_name = "T")]
    pub(crate) from: Option<String>,

    /// End of the range (exclusive); default: now.
    #[arg(long, value_name = "T")]
    pub(crate) to: Option<String>,

    /// Output: a table for people, one JSON document, or CSV rows.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub(crate) format: OutputFormat,

    /// Print every deployment that answered even when others fail (each failure is one
    /// line on stderr, and the exit status is 1); by default the first failure ends
    /// the run.
    #[arg(long)]
    pub(crate) keep_going: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ItemsArgs {
    #[command(flatten)]
    pub(crate) target: Target,

    /// One request per: month, day, or Nd (at most N days, N <= 92).
    #[arg(long, default_value = "month", value_name = "month|day|Nd")]
    pub(crate) window: String,

    /// Ask the API for CSV and parse it (the output is the same as for JSON).
    #[arg(long)]
    pub(crate) csv: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ChartsArgs {
    #[command(flatten)]
    pub(crate) target: Target,

    /// One bucket per day or per month.
    #[arg(long, value_enum, default_value_t = BucketingArg::Daily)]
    pub(crate) bucketing: BucketingArg,

    /// One request per: month, day, or Nd (monthly bucketing always uses months).
    #[arg(long, default_value = "month", value_name = "month|day|Nd")]
    pub(crate) window: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum BucketingArg {
    Daily,
    Monthly,
}

/// A ledger's `--db`: a file path or a PostgreSQL URL, whose `Debug` never shows a
/// password (a URL is shown without its userinfo and query).
#[derive(Clone)]
pub(crate) struct DbLocation(pub(crate) PathBuf);

impl std::fmt::Debug for DbLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = self.0.to_string_lossy();
        write!(f, "{:?}", ec_billing::text::redact_url(&text).to_string())
    }
}

impl std::ops::Deref for DbLocation {
    type Target = std::path::Path;

    fn deref(&self) -> &std::path::Path {
        &self.0
    }
}

impl AsRef<std::ffi::OsStr> for DbLocation {
    fn as_ref(&self) -> &std::ffi::OsStr {
        self.0.as_os_str()
    }
}

/// `--from` and `--to`, each optional, read as instants; refused when both are given
/// and `from` is not before `to`.
pub(crate) fn bounds(
    from: Option<&str>,
    to: Option<&str>,
) -> Result<(Option<Timestamp>, Option<Timestamp>), Box<dyn std::error::Error>> {
    let from = from.map(ec_billing::parse_instant).transpose()?;
    let to = to.map(ec_billing::parse_instant).transpose()?;
    if let (Some(from), Some(to)) = (from, to)
        && from >= to
    {
        return Err(format!("invalid range: --from {from} is not before --to {to}").into());
    }
    Ok((from, to))
}

/// A `--rate-per-ecu`: plain decimal text only (`0.92`), read without rounding.
///
/// # Errors
///
/// The message for the user, quoting the bad input.
pub(crate) fn rate_per_ecu(given: &str) -> Result<ec_billing::Decimal, String> {
    let text = given.trim();
    text.bytes()
        .all(|b| b.is_ascii_digit() || b == b'.')
        .then(|| ec_billing::Decimal::from_str_exact(text).ok())
        .flatten()
        .ok_or_else(|| {
            format!(
                "invalid --rate-per-ecu \"{}\": expected a decimal like 0.92, of at most 28 \
                 decimal places",
                ec_billing::text::escape(given).truncate(40)
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_db_url_shows_no_password_in_debug() {
        let parsed = Cli::try_parse_from([
            "ec-billing",
            "export",
            "--db",
            "postgres://alice:hunter2@db.internal:5432/costs",
            "--format",
            "csv",
        ])
        .unwrap();
        let shown = format!("{parsed:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(
            shown.contains("postgres://db.internal:5432/costs"),
            "{shown}"
        );
    }
}
