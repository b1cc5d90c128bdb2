//! Keeps Elastic Cloud billing costs, not just fetches them: an incremental, exact,
//! revision-aware ledger in one SQLite file or a PostgreSQL database, and exports of it
//! as FOCUS 1.2, CSV or JSON.
//!
//! Every team that consumes the billing-costs API ends up writing the same program
//! around it: fetch the windows not yet fetched, fetch the recent ones again because
//! Elastic revises costs after first publishing them, store lines under stable keys so
//! that a re-run never counts twice, survive a crash half-way, and hand the result to
//! the FinOps stack in its standard shape. This crate is that program.
//!
//! ```no_run
//! use ec_billing_ledger::{ExportFormat, Export, Ledger, Query, SyncPlan};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let client = ec_billing::Client::from_env()?;
//! // A SQLite file; or a PostgreSQL URL, such as "postgres://ledger@db.internal/costs".
//! let ledger = Ledger::open("costs.db").await?;
//! let plan = SyncPlan::new("my-org", ["prod", "staging"]).from("2024-01-01T00:00:00Z".parse()?);
//! let report = ledger.sync(&client, &plan).await?;
//! println!("{} windows fetched", report.windows_fetched());
//! let export = Export::new(ExportFormat::Focus);
//! ledger.export(&Query::all().organization("my-org"), &export, std::io::stdout().lock()).await?;
//! # Ok(())
//! # }
//! ```
//!
//! # The stores
//!
//! A ledger lives in one of two stores, the same ledger in either (the same exports,
//! byte for byte):
//!
//! - **SQLite**, the embedded default: one file (SQLite is built into this crate:
//!   nothing to install), in WAL mode so that an export reads while a sync writes. One
//!   thread owns its connection and is fed through a bounded channel: no SQLite call
//!   ever runs on an async worker thread. Two syncs of one file are kept apart by an OS
//!   lock on `<file>.lock`.
//! - **PostgreSQL**, for services and teams that outgrow a file: `postgres://` or
//!   `postgresql://` URLs, or a service's own pool ([`Ledger::open_pool`]). The ledger
//!   lives in the schema `ec_billing` (created on first use, carrying its version), so it
//!   shares a database with a team's own tables and never touches them; a schema of that
//!   name holding anything else is refused, untouched. Money is `NUMERIC`, instants
//!   `timestamptz`, and lines reference their window. Several processes may sync into
//!   one database at once: different deployments in parallel, one deployment never by
//!   two at once (an advisory lock per deployment; the second waits a bounded time, then
//!   fails with [`Error::Busy`] naming it). A window is one transaction: a connection cut
//!   mid-window rolls it back, and the next sync completes it. TLS as the URL's
//!   `sslmode` asks, as libpq reads it: `disable`, `prefer` (the default) and `require`
//!   encrypt without checking the certificate, `verify-ca` and `verify-full` check it as
//!   the platform does. The password is never printed.
//!
//! # What a ledger holds
//!
//! Per organization and deployment:
//!
//! - **windows**: every window fetched, with when it was first and last fetched, a
//!   digest of the last answer's lines, their count, the answer's total, and whether the
//!   window is *final*;
//! - **lines**: every line under its natural key: deployment, line type (`resource` or
//!   `dts`), kind (a resource kind, or a DTS usage type), SKU, name, and the line's period
//!   (a resource line's own; a DTS line's window), plus an ordinal that keeps apart the
//!   lines of one answer sharing all of that (several DTS lines of one SKU in one
//!   window), numbered by their amounts, not by their place in the answer: lines are
//!   never dropped or overwritten, and a window's lines always add up to its answer's
//!   total (an answer whose lines do not is refused);
//! - **revisions**: each change found by fetching a window again;
//! - **repairs**: each window whose lines no longer matched its record, fetched again;
//! - a journal of syncs.
//!
//! Money is stored exactly (decimal text in SQLite, `NUMERIC` in PostgreSQL; never a
//! float), and every total is summed exactly in Rust. Instants are UTC.
//!
//! A path is a file, taken literally: never an SQLite URI (`file:x.db` is a file of that
//! name) and never `:memory:` (which would keep nothing); a device, a pipe or a folder is
//! refused before anything is created. What the ledger reads from its file is checked as
//! strictly as what it reads from the network: every read of a window checks its lines
//! against the window's record (their count, exact sum and digest), and a mismatch
//! (lines deleted, duplicated or edited by hand) is [`Error::Inconsistent`], naming the
//! window, never a wrong number; a sync over that window fetches it again and replaces
//! its lines, recorded as a repair, not as revisions. [`Ledger::open_read_only`] (what
//! an export uses) writes nothing in the file or beside it.
//!
//! The window size (monthly by default, or daily) is fixed when the ledger is created;
//! a sync asking for another is refused ([`Error::WindowSize`]). The schema carries its
//! version (`PRAGMA user_version`): an older file is migrated when opened, a newer one
//! is refused ([`Error::NewerSchema`]), and a file that is not a ledger (not SQLite, or
//! another application's database) is refused, never written to ([`Error::NotALedger`]).
//!
//! # Sync
//!
//! [`Ledger::sync`] takes a [`SyncPlan`]: an organization, deployments, a range (by
//! default from where the ledger stands to now). It fetches every window the ledger does
//! not have whole, and every *provisional* window again: one last fetched less than the
//! settle period (default 14 days, [`DEFAULT_SETTLE`]) after its end, because Elastic
//! revises recent costs. A window fetched before its end (the month to date, a range
//! that reaches into the future) is provisional whatever the settle period says. A window fetched at least that long after its end is *final*
//! and is not fetched again unless asked ([`SyncPlan::refetch_final`]). All requests go
//! through one `ec_billing::Client`: its concurrency, pacing and retries are shared.
//!
//! Each window is written in one transaction with its fetch record: a sync killed at
//! any moment (even `kill -9`) leaves a consistent ledger without the unfinished
//! windows, and the next sync carries on. A sync that finds nothing new changes
//! nothing and says so ([`SyncReport::changed_nothing`]). Two syncs of one file are
//! kept apart by an OS lock on `<file>.lock`: the second waits, a bounded time
//! ([`SyncPlan::lock_wait`]), then fails with [`Error::Busy`].
//!
//! # Revisions
//!
//! A revision is a change between two fetches of the same window: a line added, a line
//! removed, or a line whose cost (or other values) changed, with the old and the new
//! amount and when it was seen. Lines are matched under their natural key, and the
//! lines of one key by value before place: the same lines in another order are no
//! revision, and neither is a formatted text that one transport lacks (CSV carries
//! none; the one JSON gave is kept). They are facts: kept, never overwritten, listed by
//! [`Ledger::revisions`], and counted per deployment in the sync's report with what
//! they changed the total by. A window that grew (the month to date, fetched again
//! later in the month) is replaced, its changes counted as lines added, changed and
//! removed, not as revisions: it is a different question, not a correction.
//!
#![doc = include_str!("focus.md")]

mod dataset;
mod diff;
mod error;
mod export;
mod ledger;
mod plan;
mod query;
mod read;
mod record;
mod store;
mod sync;
mod text;

pub use dataset::{DatasetFormat, DatasetSummary, MANIFEST};
/// The pool [`Ledger::open_pool`] takes, re-exported so that a service builds it with
/// the same version.
pub use deadpool_postgres;
pub use error::{AnswerError, Error, FileError, Inconsistency, Result};
pub use export::{
    CSV_COLUMNS, Export, ExportFormat, ExportSummary, FOCUS_COLUMNS, FOCUS_TABLE, FocusVersion,
    check_output_file,
};
pub use ledger::{Ledger, is_database_url};
pub use query::{Change, Query, Revision, WindowRecord};
pub use record::{LedgerLine, LineKey, LineType};
pub use sync::{
    DEFAULT_LOCK_WAIT, DEFAULT_SETTLE, DeploymentSync, SyncFailure, SyncPlan, SyncProgress,
    SyncReport, WindowChange,
};
