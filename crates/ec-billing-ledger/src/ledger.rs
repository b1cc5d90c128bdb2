//! The ledger itself: where it is (a SQLite file or a PostgreSQL database), how it is
//! opened, and what every operation of it starts from.

use std::{
    ffi::OsStr,
    path::{Path, PathBuf},
};

use ec_billing::WindowSize;

use crate::{
    error::{Error, Result},
    store::{self, Access, Store},
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
    pub(crate) store: Store,
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
                    crate::error::window_name(other)
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
    pub(crate) fn writable(&self) -> Result<()> {
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
