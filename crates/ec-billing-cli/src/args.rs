//! The command line: flags as clap parses them, then checked once into a [`Plan`].

use std::num::{NonZeroU32, NonZeroUsize};

use clap::{Args, Parser, Subcommand, ValueEnum};
use ec_billing::{ApiKey, Bucketing, DateRange, Pacing, RetryPolicy, WindowSize};
use jiff::Timestamp;

/// Itemized costs and usage charts of Elastic Cloud deployments.
///
/// Every instant is UTC and every range is half-open, [from, to). Dates are
/// `2024-01-01` (midnight UTC) or RFC 3339 timestamps with any offset.
#[derive(Debug, Parser)]
#[command(name = "ec-billing", version, propagate_version = true)]
pub(crate) struct Cli {
    /// The API's base URL, including /api/v1.
    #[arg(long, env = "EC_BASE_URL", global = true, value_name = "URL")]
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

    /// Whether --base-url was given on the command line (not from EC_BASE_URL).
    #[arg(skip)]
    base_url_on_command_line: bool,

    /// The most requests in flight at once, over all deployments.
    #[arg(long, global = true, default_value_t = NonZeroUsize::new(4).expect("4 > 0"), value_name = "N")]
    concurrency: NonZeroUsize,

    /// The most attempts per request, the first included.
    #[arg(long, global = true, default_value_t = NonZeroU32::new(5).expect("5 > 0"), value_name = "N")]
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

#[derive(Debug, Subcommand)]
enum Command {
    /// Itemized costs: per deployment, the total, each dimension, and every line item.
    Items(ItemsArgs),
    /// Usage charts: per deployment, buckets of values in time order.
    Charts(ChartsArgs),
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

/// What to fetch, checked: bad input never gets this far.
#[derive(Debug)]
pub(crate) struct Plan {
    pub(crate) connection: Connection,
    pub(crate) concurrency: NonZeroUsize,
    pub(crate) retry: RetryPolicy,
    pub(crate) pacing: Pacing,
    pub(crate) organization: String,
    pub(crate) deployments: Vec<String>,
    pub(crate) range: DateRange,
    pub(crate) window: WindowSize,
    pub(crate) format: OutputFormat,
    pub(crate) keep_going: bool,
    pub(crate) job: Job,
}

/// Where requests go.
#[derive(Debug)]
pub(crate) enum Connection {
    /// The embedded simulator.
    Simulator,
    /// A real API (or anything that speaks it).
    Api {
        base_url: Option<String>,
        key: ApiKey,
    },
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
    pub(crate) fn plan(self, now: Timestamp) -> Result<Plan, String> {
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

    fn checked(self, now: Timestamp) -> Result<Plan, Box<dyn std::error::Error>> {
        let (target, window, job) = match self.command {
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
        let pacing: Pacing = self.pacing.parse()?;
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
                .ok_or("no API key: set EC_API_KEY, pass --api-key, or use --simulate")?;
            Connection::Api {
                base_url: self.base_url,
                key: ApiKey::new(key)?,
            }
        };
        let mut deployments = Vec::new();
        for deployment in target.deployments {
            if !deployments.contains(&deployment) {
                deployments.push(deployment);
            }
        }
        Ok(Plan {
            connection,
            concurrency: self.concurrency,
            retry: RetryPolicy::default().max_attempts(self.max_attempts),
            pacing,
            organization: target.organization,
            deployments,
            range,
            window,
            format: target.format,
            keep_going: target.keep_going,
            job,
        })
    }
}
