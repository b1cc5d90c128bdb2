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
mod plan;
mod query;
mod record;
mod store;
mod sync;

use std::{
    ffi::OsStr,
    path::{Path, PathBuf},
};

use ec_billing::WindowSize;
use store::{Access, Store};

pub use dataset::{DatasetFormat, DatasetSummary, MANIFEST};
/// The pool [`Ledger::open_pool`] takes, re-exported so that a service builds it with
/// the same version.
pub use deadpool_postgres;
pub use error::{AnswerError, Error, FileError, Inconsistency, Result};
pub use export::{
    CSV_COLUMNS, Export, ExportFormat, ExportSummary, FOCUS_COLUMNS, FOCUS_TABLE, FocusVersion,
};
pub use query::{Change, Query, Revision, WindowRecord};
pub use record::{LedgerLine, LineKey, LineType};
pub use sync::{
    DEFAULT_LOCK_WAIT, DEFAULT_SETTLE, DeploymentSync, SyncFailure, SyncPlan, SyncProgress,
    SyncReport, WindowChange,
};

/// Whether `db` names a PostgreSQL database (a `postgres://` or `postgresql://` URL)
/// rather than a SQLite file.
///
/// ```
/// use std::ffi::OsStr;
///
/// assert!(ec_billing_ledger::is_database_url(OsStr::new("postgres://db.internal/costs")));
/// assert!(!ec_billing_ledger::is_database_url(OsStr::new("costs.db")));
/// ```
pub fn is_database_url(db: &OsStr) -> bool {
    db.to_str().is_some_and(store::postgres::is_url)
}

/// A ledger, in one SQLite file or in a PostgreSQL database. See the
/// [crate docs](crate).
#[derive(Debug)]
pub struct Ledger {
    /// The file as given, or the database's URL without its password: what messages
    /// name.
    shown: PathBuf,
    store: Store,
}

impl Ledger {
    /// Opens the ledger at `db`, or creates one there with monthly windows. `db` is a
    /// SQLite file path, or a `postgres://` / `postgresql://` URL.
    ///
    /// A path is taken literally: never an SQLite URI (`file:x.db` is a file of that
    /// name), and never SQLite's `:memory:`, which would keep nothing. On PostgreSQL
    /// the ledger lives in the schema `ec_billing`, created on first use.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`], before anything is created, for an empty path,
    /// `:memory:`, a path that is not a regular file (a device, a pipe, a folder), or a
    /// URL that cannot be read; [`Error::NotALedger`] for a file or a schema that is not
    /// one, [`Error::NewerSchema`] for one of a newer version, [`Error::Storage`] when
    /// it cannot be opened or created.
    pub async fn open(db: impl AsRef<OsStr>) -> Result<Self> {
        Self::open_inner(db.as_ref(), Access::Create(None)).await
    }

    /// Opens the ledger at `db`, which must keep windows of `window`, or creates one
    /// there that does.
    ///
    /// # Errors
    ///
    /// As [`open`](Self::open), and [`Error::WindowSize`] when the ledger keeps windows
    /// of another size; [`Error::InvalidInput`] for a window size a ledger cannot keep
    /// (only months and days: windows must start on the same boundaries however the
    /// range is drawn).
    pub async fn open_with(db: impl AsRef<OsStr>, window: WindowSize) -> Result<Self> {
        let window = match window {
            WindowSize::Month | WindowSize::Day => window,
            WindowSize::Days(days) if days.get() == 1 => WindowSize::Day,
            other => {
                return Err(Error::InvalidInput(format!(
                    "a ledger keeps monthly or daily windows, not {}",
                    error::window_name(other)
                )));
            }
        };
        Self::open_inner(db.as_ref(), Access::Create(Some(window))).await
    }

    /// Opens the ledger at `db`, which must exist, to read and write it (a sync that
    /// must not create a ledger by mistake).
    ///
    /// # Errors
    ///
    /// As [`open`](Self::open), and [`Error::Storage`] when there is none.
    pub async fn open_existing(db: impl AsRef<OsStr>) -> Result<Self> {
        Self::open_inner(db.as_ref(), Access::Existing).await
    }

    /// Opens the ledger at `db`, which must exist, to read it only (an export, a
    /// report): nothing is written. A SQLite file is read without writing anything in
    /// its folder, so a ledger in a read-only folder, or another user's, can be read
    /// without locking its owner out; while it is open, a sync of the same file waits
    /// for it (a bounded time). A [`sync`](Self::sync) or [`record`](Self::record)
    /// through it is refused.
    ///
    /// # Errors
    ///
    /// As [`open_existing`](Self::open_existing); a ledger of an older schema than this
    /// crate writes is read as it is.
    pub async fn open_read_only(db: impl AsRef<OsStr>) -> Result<Self> {
        Self::open_inner(db.as_ref(), Access::ReadOnly).await
    }

    /// Opens the ledger (or creates it, with monthly windows) in the schema `ec_billing`
    /// of the PostgreSQL database a service's own pool connects to: the pool's size,
    /// TLS and credentials are the service's. `name` is how messages name the database
    /// (never a password).
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// use ec_billing_ledger::{Ledger, deadpool_postgres};
    ///
    /// let mut config = deadpool_postgres::Config::new();
    /// config.url = Some(std::env::var("DATABASE_URL")?);
    /// let pool = config.create_pool(
    ///     Some(deadpool_postgres::Runtime::Tokio1),
    ///     deadpool_postgres::tokio_postgres::NoTls,
    /// )?;
    /// let ledger = Ledger::open_pool(pool, "the service's database").await?;
    /// # let _ = ledger;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`open`](Self::open) for a PostgreSQL URL.
    pub async fn open_pool(pool: deadpool_postgres::Pool, name: &str) -> Result<Self> {
        let shown = ec_billing::text::redact_url(name).to_string();
        let store =
            store::postgres::PostgresStore::with_pool(pool, shown.clone(), Access::Create(None))
                .await?;
        Ok(Self {
            shown: PathBuf::from(shown),
            store: Store::Postgres(store),
        })
    }

    async fn open_inner(db: &OsStr, access: Access) -> Result<Self> {
        let ledger = Self::open_store(db, access).await?;
        match access.window() {
            Some(asked) if asked != ledger.window_size() => Err(Error::WindowSize {
                ledger: ledger.window_size(),
                asked,
            }),
            _ => Ok(ledger),
        }
    }

    async fn open_store(db: &OsStr, access: Access) -> Result<Self> {
        match db.to_str().filter(|text| store::postgres::is_url(text)) {
            Some(url) => {
                let store = store::postgres::PostgresStore::open(url, access).await?;
                Ok(Self {
                    shown: PathBuf::from(store.shown()),
                    store: Store::Postgres(store),
                })
            }
            None => {
                let path = Path::new(db);
                let store = store::sqlite::SqliteStore::open(path, access).await?;
                Ok(Self {
                    shown: path.to_path_buf(),
                    store: Store::Sqlite(store),
                })
            }
        }
    }

    /// Refuses a write through a ledger opened read-only.
    fn writable(&self) -> Result<()> {
        if self.store.read_only() {
            return Err(Error::InvalidInput(format!(
                "the ledger {} was opened read-only",
                ec_billing::text::escape(&self.shown.display().to_string()).truncate(200)
            )));
        }
        Ok(())
    }

    /// The ledger's file as given, or its database's URL without its password.
    pub fn path(&self) -> &Path {
        &self.shown
    }

    /// The window size, fixed when the ledger was created.
    pub fn window_size(&self) -> WindowSize {
        self.store.window_size()
    }
}
