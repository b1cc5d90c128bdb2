//! The command line: flags as clap parses them, then checked once into a [`Plan`].

use std::num::{NonZeroU32, NonZeroUsize};

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum, builder::TypedValueParser as _};
use ec_billing::{
    ApiKey, Bucketing, DateRange, Decimal, Format, WindowSize, policy::Pacing, policy::RetryPolicy,
};
use ec_billing_ledger::{Export, ExportFormat, Query, SyncPlan};
use jiff::{SignedDuration, Timestamp};

/// Itemized costs and usage charts of Elastic Cloud deployments.
///
/// Every instant is UTC and every range is half-open, [from, to). Dates are
/// `2024-01-01` (midnight UTC) or RFC 3339 timestamps with any offset.
#[derive(Parser)]
#[command(name = "ec-billing", version, propagate_version = true)]
pub(crate) struct Cli {
    /// The API's base URL, including /api/v1 (printed only without its userinfo, query
    /// and fragment).
    #[arg(
        long,
        env = "EC_BASE_URL",
        global = true,
        hide_env_values = true,
        value_name = "URL"
    )]
    base_url: Option<String>,

    /// The API key (prefer the environment variable: flags show up in process lists).
    #[arg(
        long,
        env = "EC_API_KEY",
        global = true,
        hide_env_values = true,
        value_name = "KEY"
    )]
    api_key: Option<String>,

    /// Start the embedded simulator on loopback and use it (no account, no key). It
    /// serves organization acme with deployments prod, staging and "we/ird id", and
    /// organization globex with search; EC_BASE_URL is ignored, --base-url refused.
    #[arg(long, global = true)]
    pub(crate) simulate: bool,

    /// With --simulate: the instant the simulator and `sync` take as now (what the
    /// simulator has published by then, which windows have settled). For demos and
    /// replays.
    #[arg(long, global = true, value_name = "T")]
    simulate_at: Option<String>,

    /// Whether --base-url was given on the command line (not from EC_BASE_URL).
    #[arg(skip)]
    base_url_on_command_line: bool,

    /// The most requests in flight at once, over all deployments.
    #[arg(long, global = true, default_value_t = NonZeroUsize::MIN.saturating_add(3), value_name = "N")]
    concurrency: NonZeroUsize,

    /// The most attempts per request, the first included.
    #[arg(long, global = true, default_value_t = NonZeroU32::MIN.saturating_add(4), value_name = "N")]
    max_attempts: NonZeroU32,

    /// Pacing under the API's rate limit: adaptive (learnt from the API's answers),
    /// off, or N requests per second.
    #[arg(
        long,
        global = true,
        default_value = "adaptive",
        value_name = "adaptive|off|N"
    )]
    pacing: String,

    /// Log to stderr: -v one line per request (deployment, window, status, attempts,
    /// duration), -vv also retries, pacing and waits.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,

    #[command(subcommand)]
    command: Command,
}

impl std::fmt::Debug for Cli {
    /// The base URL only as it may be printed, and never the key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cli")
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
            .field("command", &self.command)
            .finish()
    }
}

#[derive(Debug, Subcommand)]
enum Command {
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
}

#[derive(Debug, Args)]
struct SyncArgs {
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
    db: DbLocation,

    /// The organization id.
    #[arg(long = "org", value_name = "ORG")]
    organization: String,

    /// A deployment id; repeat for several (fetched concurrently).
    #[arg(long = "deployment", value_name = "DEP", required = true)]
    deployments: Vec<String>,

    /// Start of the range, taken back to the start of its window; default: where the
    /// ledger stands for each deployment (its first provisional window).
    #[arg(long, value_name = "T")]
    from: Option<String>,

    /// End of the range (exclusive); default: now.
    #[arg(long, value_name = "T")]
    to: Option<String>,

    /// The ledger's windows: month or day, fixed when it is created (default: the
    /// ledger's own, or month for a new one).
    #[arg(long, value_name = "month|day")]
    window: Option<String>,

    /// A window last fetched less than this many days after its end is provisional,
    /// and fetched again by every sync: Elastic revises recent costs.
    #[arg(long, default_value_t = 14, value_name = "N")]
    settle_days: u16,

    /// Fetch final windows again too.
    #[arg(long)]
    refetch_final: bool,

    /// Ask the API for CSV (the ledger stores the same lines).
    #[arg(long)]
    csv: bool,

    /// Store every window that can be fetched even when others fail (each failure is
    /// one line on stderr, and the exit status is 1); by default the first failure ends
    /// the sync (what was stored stays).
    #[arg(long)]
    keep_going: bool,
}

#[derive(Debug, Args)]
struct ExportArgs {
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

    /// Lines whose period starts at or after this instant.
    #[arg(long, value_name = "T")]
    from: Option<String>,

    /// Lines whose period starts before this instant.
    #[arg(long, value_name = "T")]
    to: Option<String>,

    /// FOCUS 1.2 CSV, the ledger's own columns as CSV, or JSON.
    #[arg(long, value_enum)]
    format: ExportFormatArg,

    /// FOCUS: the billing currency (ISO 4217).
    #[arg(long, default_value = "USD", value_name = "CODE")]
    currency: String,

    /// FOCUS: the billing currency's amount per ECU (Elastic's nominal rate is 1.00 USD;
    /// use your contract's).
    #[arg(long, default_value = "1", value_name = "DECIMAL")]
    rate_per_ecu: String,

    /// FOCUS: the version written, 1.2 or 1.3 (1.3 adds ServiceProviderName and
    /// HostProviderName).
    #[arg(long, default_value = "1.2", value_name = "1.2|1.3")]
    focus_version: String,

    /// FOCUS: write a dataset in this folder instead of stdout: one folder per billing
    /// period (BILLING_PERIOD=YYYY-MM) and a manifest.json; a period whose rows did not
    /// change is left as it was.
    #[arg(long, value_name = "DIR")]
    dataset: Option<PathBuf>,

    /// With --dataset: the files' format.
    #[arg(long, default_value = "parquet", value_name = "parquet|csv")]
    file_format: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum ExportFormatArg {
    Focus,
    Csv,
    Json,
}

#[derive(Debug, Args)]
struct Target {
    /// The organization id.
    #[arg(long = "org", value_name = "ORG")]
    organization: String,

    /// A deployment id; repeat for several (fetched concurrently).
    #[arg(long = "deployment", value_name = "DEP", required = true)]
    deployments: Vec<String>,

    /// Start of the range (inclusive); default: the start of the current UTC month.
    #[arg(long, value_name = "T")]
    from: Option<String>,

    /// End of the range (exclusive); default: now.
    #[arg(long, value_name = "T")]
    to: Option<String>,

    /// Output: a table for people, one JSON document, or CSV rows.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    format: OutputFormat,

    /// Print every deployment that answered even when others fail (each failure is one
    /// line on stderr, and the exit status is 1); by default the first failure ends
    /// the run.
    #[arg(long)]
    keep_going: bool,
}

#[derive(Debug, Args)]
struct ItemsArgs {
    #[command(flatten)]
    target: Target,

    /// One request per: month, day, or Nd (at most N days, N <= 92).
    #[arg(long, default_value = "month", value_name = "month|day|Nd")]
    window: String,

    /// Ask the API for CSV and parse it (the output is the same as for JSON).
    #[arg(long)]
    csv: bool,
}

#[derive(Debug, Args)]
struct ChartsArgs {
    #[command(flatten)]
    target: Target,

    /// One bucket per day or per month.
    #[arg(long, value_enum, default_value_t = BucketingArg::Daily)]
    bucketing: BucketingArg,

    /// One request per: month, day, or Nd (monthly bucketing always uses months).
    #[arg(long, default_value = "month", value_name = "month|day|Nd")]
    window: String,
}

/// How the result is printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum OutputFormat {
    /// Aligned, with totals first.
    Table,
    /// One JSON document on stdout.
    Json,
    /// One row per line item or bucket value, with a header row.
    Csv,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum BucketingArg {
    Daily,
    Monthly,
}

/// What the command line asks for, checked: bad input never gets this far.
#[derive(Debug)]
pub(crate) enum Task {
    /// `items` or `charts`.
    Fetch(Plan),
    /// `sync`.
    Sync(SyncTask),
    /// `export`.
    Export(ExportTask),
}

/// How to reach the API, for the commands that do.
#[derive(Debug)]
pub(crate) struct ClientSettings {
    pub(crate) connection: Connection,
    pub(crate) concurrency: NonZeroUsize,
    pub(crate) retry: RetryPolicy,
    pub(crate) pacing: Pacing,
    /// With `--simulate`: the simulator's clock (`--simulate-at`).
    pub(crate) simulate_at: Option<Timestamp>,
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

/// What `sync` does, checked.
#[derive(Debug)]
pub(crate) struct SyncTask {
    pub(crate) client: ClientSettings,
    pub(crate) db: DbLocation,
    /// The window size asked for; `None`: the ledger's own.
    pub(crate) window: Option<WindowSize>,
    pub(crate) plan: SyncPlan,
    pub(crate) settle_days: u16,
}

/// What `export` does, checked.
#[derive(Debug)]
pub(crate) struct ExportTask {
    pub(crate) db: DbLocation,
    pub(crate) query: Query,
    pub(crate) export: Export,
    /// `--dataset DIR` and its file format.
    pub(crate) dataset: Option<(PathBuf, ec_billing_ledger::DatasetFormat)>,
}

/// What to fetch, checked: bad input never gets this far.
#[derive(Debug)]
pub(crate) struct Plan {
    pub(crate) client: ClientSettings,
    pub(crate) organization: String,
    pub(crate) deployments: Vec<String>,
    pub(crate) range: DateRange,
    pub(crate) window: WindowSize,
    pub(crate) format: OutputFormat,
    pub(crate) keep_going: bool,
    pub(crate) job: Job,
}

/// Where requests go. `Debug` shows the base URL only as it may be printed, and no key.
pub(crate) enum Connection {
    /// The embedded simulator.
    Simulator,
    /// A real API (or anything that speaks it).
    Api {
        base_url: Option<String>,
        key: ApiKey,
    },
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Simulator => f.write_str("Simulator"),
            Self::Api { base_url, key } => f
                .debug_struct("Api")
                .field(
                    "base_url",
                    &base_url.as_deref().map(ec_billing::text::redact_url),
                )
                .field("key", key)
                .finish(),
        }
    }
}

/// Items or charts, with what is particular to each.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Job {
    Items { csv: bool },
    Charts { bucketing: Bucketing },
}

impl Cli {
    /// Checks every flag; an error here exits with status 2 before any request.
    ///
    /// # Errors
    ///
    /// The message for the user, quoting the bad input.
    pub(crate) fn task(self, now: Timestamp) -> Result<Task, String> {
        self.checked(now).map_err(|e| e.to_string())
    }

    /// The command line of this process, parsed; clap's own errors (and `--help`) exit
    /// here.
    pub(crate) fn from_command_line() -> Self {
        use clap::{CommandFactory, FromArgMatches, parser::ValueSource};

        let matches = Self::command().get_matches();
        let mut cli = Self::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
        cli.base_url_on_command_line =
            matches.value_source("base_url") == Some(ValueSource::CommandLine);
        cli
    }

    /// How to reach the API, checked.
    fn client_settings(&mut self) -> Result<ClientSettings, Box<dyn std::error::Error>> {
        let pacing: Pacing = self.pacing.parse()?;
        let simulate_at = match (&self.simulate_at, self.simulate) {
            (None, _) => None,
            (Some(at), true) => Some(ec_billing::parse_instant(at)?),
            (Some(_), false) => return Err("--simulate-at goes with --simulate".into()),
        };
        let connection = if self.simulate {
            if self.base_url_on_command_line {
                return Err(
                    "--simulate serves its own base URL: drop --base-url, or --simulate".into(),
                );
            }
            Connection::Simulator
        } else {
            let key = self
                .api_key
                .take()
                .ok_or("no API key: set EC_API_KEY, pass --api-key, or use --simulate")?;
            Connection::Api {
                base_url: self.base_url.take(),
                key: ApiKey::new(key)?,
            }
        };
        Ok(ClientSettings {
            connection,
            concurrency: self.concurrency,
            retry: RetryPolicy::default().with_max_attempts(self.max_attempts),
            pacing,
            simulate_at,
        })
    }

    fn checked(mut self, now: Timestamp) -> Result<Task, Box<dyn std::error::Error>> {
        let command = std::mem::replace(
            &mut self.command,
            Command::Export(ExportArgs {
                db: DbLocation(PathBuf::new()),
                organization: None,
                deployments: Vec::new(),
                from: None,
                to: None,
                format: ExportFormatArg::Json,
                currency: String::new(),
                rate_per_ecu: String::new(),
                focus_version: String::new(),
                dataset: None,
                file_format: String::new(),
            }),
        );
        let (target, window, job) = match command {
            Command::Sync(args) => return self.sync(args).map(Task::Sync),
            Command::Export(args) => return export(args).map(Task::Export),
            Command::Items(a) => (a.target, a.window, Job::Items { csv: a.csv }),
            Command::Charts(a) => {
                let bucketing = match a.bucketing {
                    BucketingArg::Daily => Bucketing::Daily,
                    BucketingArg::Monthly => Bucketing::Monthly,
                };
                (a.target, a.window, Job::Charts { bucketing })
            }
        };
        let window: WindowSize = window.parse()?;
        let client = self.client_settings()?;
        let range = match (&target.from, &target.to) {
            (None, None) => DateRange::month_to_date(now)?,
            (from, to) => {
                let month_start = DateRange::month_to_date(now).map(|r| r.from().to_string());
                let from = match from {
                    Some(from) => from.clone(),
                    None => month_start?,
                };
                let now = Timestamp::from_second(now.as_second())
                    .unwrap_or(now)
                    .to_string();
                DateRange::parse(&from, to.as_deref().unwrap_or(&now))?
            }
        };
        let mut seen = std::collections::HashSet::new();
        let mut deployments = Vec::new();
        for deployment in target.deployments {
            if seen.insert(deployment.clone()) {
                deployments.push(deployment);
            }
        }
        Ok(Task::Fetch(Plan {
            client,
            organization: target.organization,
            deployments,
            range,
            window,
            format: target.format,
            keep_going: target.keep_going,
            job,
        }))
    }

    /// `sync`, checked.
    fn sync(mut self, args: SyncArgs) -> Result<SyncTask, Box<dyn std::error::Error>> {
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
        let client = self.client_settings()?;
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
}

/// `--from` and `--to`, each optional, read as instants; refused when both are given
/// and `from` is not before `to`.
fn bounds(
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

/// `export`, checked.
fn export(args: ExportArgs) -> Result<ExportTask, Box<dyn std::error::Error>> {
    let format = match args.format {
        ExportFormatArg::Focus => ExportFormat::Focus,
        ExportFormatArg::Csv => ExportFormat::Csv,
        ExportFormatArg::Json => ExportFormat::Json,
    };
    // Plain decimal text only (`0.92`), read without rounding.
    let text = args.rate_per_ecu.trim();
    let rate = text
        .bytes()
        .all(|b| b.is_ascii_digit() || b == b'.')
        .then(|| Decimal::from_str_exact(text).ok())
        .flatten()
        .ok_or_else(|| {
            format!(
                "invalid --rate-per-ecu \"{}\": expected a decimal like 0.92, of at most 28 \
                 decimal places",
                ec_billing::text::escape(&args.rate_per_ecu)
            )
        })?;
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
    Ok(ExportTask {
        db: args.db,
        query,
        export,
        dataset,
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
