//! The PostgreSQL store: a ledger in the schema `ec_billing` of a database a team
//! already runs, through a small pool; money as `NUMERIC`, instants as `timestamptz`;
//! one sync per deployment at a time, kept apart by advisory locks. The only module
//! that names tokio-postgres.

use std::{collections::BTreeSet, fmt, time::Duration};

use deadpool_postgres::GenericClient;
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use ec_billing::{Decimal, WindowSize};
use futures_util::StreamExt;
use jiff::Timestamp;
use tokio_postgres::{Row, types::ToSql};

use super::{
    Access, JournalEnd, StoredLines, StoredWindow, WindowGroups, WindowUpdate, WindowWrite,
    parse_window, window_text,
};
use crate::{
    error::{Error, FileError, Result},
    query::{Change, Query, Revision, decimal},
    record::{AnswerLine, LineKey, LineType},
};

/// How messages name the database `config` connects to: its host, port and name, read
/// from the parsed URL (never its user or password, whatever characters they hold).
fn shown(config: &tokio_postgres::Config) -> String {
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
        Some(tokio_postgres::config::Host::Unix(path)) => format!("[{}]", path.display()),
        None => "localhost".to_string(),
    };
    let port = config
        .get_ports()
        .first()
        .map(|port| format!(":{port}"))
        .unwrap_or_default();
    let database = config.get_dbname().unwrap_or_default();
    format!(
        "postgres://{}{port}/{}",
        ec_billing::text::escape(&host).truncate(100),
        ec_billing::text::escape(database).truncate(100)
    )
}

/// Whether `text` names a PostgreSQL database rather than a file.
pub(crate) fn is_url(text: &str) -> bool {
    let lower = text.get(..13).unwrap_or(text).to_ascii_lowercase();
    lower.starts_with("postgres://") || lower.starts_with("postgresql://")
}

/// What `meta.application` says in every ledger.
const APPLICATION: &str = "ec-billing-ledger";

/// The tables of the ledger's schema: a schema `ec_billing` that holds any other is
/// not the ledger's, and is refused untouched.
const TABLES: [&str; 6] = ["lines", "meta", "repairs", "revisions", "syncs", "windows"];

/// Each schema version's script: `MIGRATIONS[i]` takes the schema from version `i` to
/// `i + 1` (version 0 is no schema). Never edit one that shipped; add one.
const MIGRATIONS: [&str; 1] = [
    // 1: the ledger, as the SQLite store's third version keeps it.
    "
    CREATE SCHEMA IF NOT EXISTS ec_billing;
    CREATE TABLE ec_billing.meta (
        key   text PRIMARY KEY,
        value text NOT NULL
    );
    CREATE TABLE ec_billing.windows (
        organization     text        NOT NULL,
        deployment       text        NOT NULL,
        window_start     timestamptz NOT NULL,
        window_end       timestamptz NOT NULL,
        first_fetched_at timestamptz NOT NULL,
        fetched_at       timestamptz NOT NULL,
        final            boolean     NOT NULL,
        digest           text        NOT NULL,
        lines            bigint      NOT NULL,
        total            numeric     NOT NULL,
        PRIMARY KEY (organization, deployment, window_start)
    );
    CREATE TABLE ec_billing.lines (
        organization       text        NOT NULL,
        deployment         text        NOT NULL,
        window_start       timestamptz NOT NULL,
        line_type          text        NOT NULL CHECK (line_type IN ('resource', 'dts')),
        kind               text        NOT NULL,
        sku                text        NOT NULL,
        name               text        NOT NULL,
        period_start       timestamptz NOT NULL,
        period_end         timestamptz NOT NULL,
        ordinal            integer     NOT NULL,
        hours              bigint,
        instance_count     integer,
        price_per_hour     numeric,
        quantity           numeric,
        quantity_formatted text,
        rate               numeric,
        rate_formatted     text,
        cost               numeric     NOT NULL,
        PRIMARY KEY (organization, deployment, window_start, line_type, kind, sku, name,
                     period_start, period_end, ordinal),
        FOREIGN KEY (organization, deployment, window_start)
            REFERENCES ec_billing.windows ON DELETE CASCADE
    );
    CREATE TABLE ec_billing.revisions (
        id           bigserial   PRIMARY KEY,
        organization text        NOT NULL,
        deployment   text        NOT NULL,
        window_start timestamptz NOT NULL,
        window_end   timestamptz NOT NULL,
        seen_at      timestamptz NOT NULL,
        change       text        NOT NULL CHECK (change IN ('added', 'removed', 'changed')),
        line_type    text        NOT NULL,
        kind         text        NOT NULL,
        sku          text        NOT NULL,
        name         text        NOT NULL,
        period_start timestamptz NOT NULL,
        period_end   timestamptz NOT NULL,
        ordinal      integer     NOT NULL,
        old_cost     numeric,
        new_cost     numeric
    );
    CREATE INDEX revisions_by_deployment
        ON ec_billing.revisions (organization, deployment, window_start);
    CREATE TABLE ec_billing.repairs (
        id           bigserial   PRIMARY KEY,
        organization text        NOT NULL,
        deployment   text        NOT NULL,
        window_start timestamptz NOT NULL,
        window_end   timestamptz NOT NULL,
        seen_at      timestamptz NOT NULL
    );
    CREATE TABLE ec_billing.syncs (
        id           bigserial   PRIMARY KEY,
        organization text        NOT NULL,
        started_at   timestamptz NOT NULL,
        finished_at  timestamptz,
        fetched      bigint      NOT NULL DEFAULT 0,
        revised      bigint      NOT NULL DEFAULT 0,
        failed       bigint      NOT NULL DEFAULT 0
    );
    ",
];

/// The schema version this crate writes.
const VERSION: i64 = MIGRATIONS.len() as i64;

/// The columns of each table of the schema, and their types, as `format_type` writes
/// them: what a schema must have to be the ledger's.
const COLUMNS: [(&str, &[(&str, &str)]); 6] = [
    ("meta", &[("key", "text"), ("value", "text")]),
    (
        "windows",
        &[
            ("organization", "text"),
            ("deployment", "text"),
            ("window_start", "timestamp with time zone"),
            ("window_end", "timestamp with time zone"),
            ("first_fetched_at", "timestamp with time zone"),
            ("fetched_at", "timestamp with time zone"),
            ("final", "boolean"),
            ("digest", "text"),
            ("lines", "bigint"),
            ("total", "numeric"),
        ],
    ),
    (
        "lines",
        &[
            ("organization", "text"),
            ("deployment", "text"),
            ("window_start", "timestamp with time zone"),
            ("line_type", "text"),
            ("kind", "text"),
            ("sku", "text"),
            ("name", "text"),
            ("period_start", "timestamp with time zone"),
            ("period_end", "timestamp with time zone"),
            ("ordinal", "integer"),
            ("hours", "bigint"),
            ("instance_count", "integer"),
            ("price_per_hour", "numeric"),
            ("quantity", "numeric"),
            ("quantity_formatted", "text"),
            ("rate", "numeric"),
            ("rate_formatted", "text"),
            ("cost", "numeric"),
        ],
    ),
    (
        "revisions",
        &[
            ("id", "bigint"),
            ("organization", "text"),
            ("deployment", "text"),
            ("window_start", "timestamp with time zone"),
            ("window_end", "timestamp with time zone"),
            ("seen_at", "timestamp with time zone"),
            ("change", "text"),
            ("line_type", "text"),
            ("kind", "text"),
            ("sku", "text"),
            ("name", "text"),
            ("period_start", "timestamp with time zone"),
            ("period_end", "timestamp with time zone"),
            ("ordinal", "integer"),
            ("old_cost", "numeric"),
            ("new_cost", "numeric"),
        ],
    ),
    (
        "repairs",
        &[
            ("id", "bigint"),
            ("organization", "text"),
            ("deployment", "text"),
            ("window_start", "timestamp with time zone"),
            ("window_end", "timestamp with time zone"),
            ("seen_at", "timestamp with time zone"),
        ],
    ),
    (
        "syncs",
        &[
            ("id", "bigint"),
            ("organization", "text"),
            ("started_at", "timestamp with time zone"),
            ("finished_at", "timestamp with time zone"),
            ("fetched", "bigint"),
            ("revised", "bigint"),
            ("failed", "bigint"),
        ],
    ),
];

/// The advisory lock (transaction-scoped) under which the schema is created or
/// migrated, so that two processes opening one database at once do not both do it.
const MIGRATION_LOCK: i64 = 0x0ec_b111_0001;

/// How many connections a ledger's pool holds.
const POOL_SIZE: usize = 4;

/// How long to wait for a connection (from the pool, or a new one).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// An instant stored as `timestamptz`, from epoch microseconds (exact).
const AT: &str = "('epoch'::timestamptz + $N::bigint * interval '1 microsecond')";

/// A `timestamptz` column read as epoch microseconds (exact).
fn micros(column: &str) -> String {
    // An infinite instant (not one the ledger writes) reads as null: unreadable.
    format!(
        "(CASE WHEN isfinite({column}) THEN (extract(epoch from {column}) * 1000000)::bigint END)"
    )
}

/// The `timestamptz` of parameter `n`, from epoch microseconds.
fn at(n: usize) -> String {
    AT.replace("$N", &format!("${n}"))
}

/// A ledger in a PostgreSQL database.
pub(crate) struct PostgresStore {
    pool: Pool,
    /// The URL without its password (or any userinfo, query or fragment).
    shown: String,
    window: WindowSize,
    read_only: bool,
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore")
            .field("database", &self.shown)
            .field("window", &self.window)
            .field("read_only", &self.read_only)
            .finish_non_exhaustive()
    }
}

/// Held by a sync: an advisory lock per deployment, on a connection of its own that is
/// closed (letting go of them) when this is dropped. The sync writes its windows
/// through that same connection, so that no window is written by a sync that has lost
/// its lock (its connection cut, say): that write fails instead.
pub(crate) struct DeploymentLocks {
    connection: tokio::sync::Mutex<deadpool_postgres::ClientWrapper>,
}

impl fmt::Debug for DeploymentLocks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DeploymentLocks")
    }
}

impl PostgresStore {
    /// Connects to the database `url` names and opens the ledger in its schema
    /// `ec_billing` (creating it, when `access` allows, or migrating it).
    pub(crate) async fn open(url: &str, access: Access) -> Result<Self> {
        let (url, verify) = tls_mode(url);
        // The scheme in lower case, as the driver reads it (URL schemes are
        // case-insensitive).
        let url = match url.split_once("://") {
            Some((scheme, rest)) => format!("{}://{rest}", scheme.to_ascii_lowercase()),
            None => url,
        };
        let mut config: tokio_postgres::Config = url.parse().map_err(|_| {
            // Nothing of the URL is echoed, not even what the driver says of it: its
            // password may be anywhere in it.
            Error::InvalidInput(
                "a PostgreSQL URL cannot be read (check its form: \
                 postgres://user@host:port/database?sslmode=...)"
                    .to_string(),
            )
        })?;
        // A connection that went half-open (a dropped NAT entry) is found out in
        // minutes, not hours, so that its locks are let go.
        config.keepalives(true);
        config.keepalives_idle(Duration::from_secs(30));
        config.tcp_user_timeout(Duration::from_secs(120));
        // No statement of the ledger's runs for ever: ten minutes is far beyond the
        // largest window's insert.
        let options = match config.get_options() {
            Some(options) => format!("{options} -c statement_timeout=600000"),
            None => "-c statement_timeout=600000".to_string(),
        };
        config.options(&options);
        let shown = shown(&config);
        ec_billing::ensure_crypto_provider().map_err(|e| {
            Error::Storage(FileError::new(
                &shown,
                "no TLS crypto provider",
                Some(Box::new(e)),
            ))
        })?;
        let tls = tokio_postgres_rustls::MakeRustlsConnect::new(tls_config(&shown, verify)?);
        let manager = Manager::from_config(
            config,
            tls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(CONNECT_TIMEOUT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .build()
            .map_err(|e| {
                Error::Storage(FileError::new(
                    &shown,
                    "cannot make a connection pool",
                    Some(Box::new(e)),
                ))
            })?;
        Self::with_pool(pool, shown, access).await
    }

    /// Opens the ledger in the schema `ec_billing` of the database `pool` connects to
    /// (a service's own pool), named `shown` in messages.
    pub(crate) async fn with_pool(pool: Pool, shown: String, access: Access) -> Result<Self> {
        let mut store = Self {
            pool,
            shown,
            window: WindowSize::Month,
            read_only: access == Access::ReadOnly,
        };
        store.window = store.recognize(access).await?;
        Ok(store)
    }

    /// The URL without its password.
    pub(crate) fn shown(&self) -> &str {
        &self.shown
    }

    pub(crate) fn window_size(&self) -> WindowSize {
        self.window
    }

    pub(crate) fn read_only(&self) -> bool {
        self.read_only
    }

    /// A database error, for this ledger.
    fn failed(&self, error: impl std::error::Error + Send + Sync + 'static) -> Error {
        Error::Storage(FileError::new(
            &self.shown,
            "the database failed",
            Some(Box::new(error)),
        ))
    }

    /// A value of the database that this crate did not write as it reads it.
    fn corrupt(&self, what: impl Into<String>) -> Error {
        Error::Storage(FileError::new(
            &self.shown,
            format!(
                "a value in the database is not what the ledger writes: {}",
                what.into()
            ),
            None,
        ))
    }

    async fn connection(&self) -> Result<Object> {
        self.pool.get().await.map_err(|e| match e {
            deadpool_postgres::PoolError::Backend(e) => self.failed(e),
            other => self.failed(other),
        })
    }

    /// Refuses a schema `ec_billing` that is not a ledger of a version this crate
    /// reads, and creates or migrates it (in one transaction, under an advisory lock)
    /// when `access` allows. Returns the ledger's window size.
    async fn recognize(&self, access: Access) -> Result<WindowSize> {
        let mut client = self.connection().await?;
        let tx = client.transaction().await.map_err(|e| self.failed(e))?;
        if access != Access::ReadOnly {
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
                .await
                .map_err(|e| self.failed(e))?;
        }
        // Every relation of the schema, whoever may see into it (the catalog, not
        // information_schema, which shows only what this role has rights on): tables,
        // views, materialized views, foreign and partitioned tables.
        let tables: Vec<String> = tx
            .query(
                "SELECT c.relname::text FROM pg_catalog.pg_class c
                 JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                 WHERE n.nspname = 'ec_billing' AND c.relkind IN ('r', 'v', 'm', 'f', 'p')
                 ORDER BY 1",
                &[],
            )
            .await
            .map_err(|e| self.failed(e))?
            .iter()
            .map(|row| row.try_get(0))
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| self.failed(e))?;
        let foreign: Vec<&String> = tables
            .iter()
            .filter(|t| !TABLES.contains(&t.as_str()))
            .collect();
        if !foreign.is_empty() {
            return Err(Error::NotALedger(FileError::new(
                &self.shown,
                format!(
                    "its schema ec_billing holds tables that are not the ledger's ({}): left \
                     untouched",
                    ec_billing::text::escape(
                        &foreign
                            .iter()
                            .map(|t| t.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                    .truncate(200)
                ),
                None,
            )));
        }
        let version = if tables.iter().any(|t| t == "meta") {
            let application = meta(&tx, "application").await.map_err(|e| self.failed(e))?;
            if application.as_deref() != Some(APPLICATION) {
                return Err(Error::NotALedger(FileError::new(
                    &self.shown,
                    "its schema ec_billing is another application's",
                    None,
                )));
            }
            let version = meta(&tx, "version").await.map_err(|e| self.failed(e))?;
            version
                .as_deref()
                .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|v| v.parse::<i64>().ok())
                .filter(|v| *v >= 1)
                .ok_or_else(|| {
                    Error::NotALedger(FileError::new(
                        &self.shown,
                        "its schema ec_billing keeps no version of the ledger's",
                        None,
                    ))
                })?
        } else if tables.is_empty() {
            0
        } else {
            return Err(Error::NotALedger(FileError::new(
                &self.shown,
                "its schema ec_billing holds tables but no ledger",
                None,
            )));
        };
        if version > VERSION {
            return Err(Error::NewerSchema {
                path: self.shown.clone().into(),
                version,
                supported: VERSION,
            });
        }
        if version == 0 && !access.creates() {
            return Err(Error::Storage(FileError::new(
                &self.shown,
                "no such ledger (a sync creates it)",
                None,
            )));
        }
        if version < VERSION && access != Access::ReadOnly {
            for (index, script) in MIGRATIONS.iter().enumerate().skip(version as usize) {
                tx.batch_execute(script).await.map_err(|e| self.failed(e))?;
                if index == 0 {
                    tx.execute(
                        "INSERT INTO ec_billing.meta (key, value) VALUES ('application', $1)",
                        &[&APPLICATION],
                    )
                    .await
                    .map_err(|e| self.failed(e))?;
                }
            }
            tx.execute(
                "INSERT INTO ec_billing.meta (key, value) VALUES ('version', $1)
                 ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                &[&VERSION.to_string()],
            )
            .await
            .map_err(|e| self.failed(e))?;
        }
        if version > 0 || access != Access::ReadOnly {
            self.check_columns(&tx).await?;
        }
        let stored = meta(&tx, "window").await.map_err(|e| self.failed(e))?;
        let size = match stored {
            Some(text) => parse_window(&text).ok_or_else(|| {
                Error::NotALedger(FileError::new(
                    &self.shown,
                    format!(
                        "its window size \"{}\" is not one a ledger keeps (month or day)",
                        ec_billing::text::escape(&text).truncate(48)
                    ),
                    None,
                ))
            })?,
            None => {
                let windows: i64 = tx
                    .query_one("SELECT count(*) FROM ec_billing.windows", &[])
                    .await
                    .and_then(|row| row.try_get(0))
                    .map_err(|e| self.failed(e))?;
                if windows > 0 || access == Access::ReadOnly {
                    return Err(Error::NotALedger(FileError::new(
                        &self.shown,
                        "it keeps windows but no window size",
                        None,
                    )));
                }
                let size = access.window().unwrap_or(WindowSize::Month);
                tx.execute(
                    "INSERT INTO ec_billing.meta (key, value) VALUES ('window', $1)",
                    &[&window_text(size)],
                )
                .await
                .map_err(|e| self.failed(e))?;
                size
            }
        };
        tx.commit().await.map_err(|e| self.failed(e))?;
        Ok(size)
    }

    /// Refuses a schema whose tables do not have the ledger's columns and types (a
    /// money column made a float, a column dropped): checked as strictly as what the
    /// ledger writes.
    async fn check_columns(&self, tx: &impl GenericClient) -> Result<()> {
        let rows = tx
            .query(
                "SELECT c.relname::text, a.attname::text, format_type(a.atttypid, a.atttypmod)
                 FROM pg_catalog.pg_attribute a
                 JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
                 JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                 WHERE n.nspname = 'ec_billing' AND c.relkind = 'r'
                   AND a.attnum > 0 AND NOT a.attisdropped",
                &[],
            )
            .await
            .map_err(|e| self.failed(e))?;
        let mut found = std::collections::BTreeMap::new();
        for row in &rows {
            let (table, column, kind): (String, String, String) = (
                row.try_get(0).map_err(|e| self.failed(e))?,
                row.try_get(1).map_err(|e| self.failed(e))?,
                row.try_get(2).map_err(|e| self.failed(e))?,
            );
            found.insert((table, column), kind);
        }
        let mut expected = std::collections::BTreeMap::new();
        for (table, columns) in COLUMNS {
            for (column, kind) in columns {
                expected.insert((table.to_string(), column.to_string()), kind.to_string());
            }
        }
        if found != expected {
            let differs = expected
                .iter()
                .find(|(key, kind)| found.get(*key) != Some(kind))
                .map(|((table, column), kind)| format!("{table}.{column} is not {kind}"))
                .or_else(|| {
                    found
                        .keys()
                        .find(|key| !expected.contains_key(*key))
                        .map(|(table, column)| format!("{table}.{column} is not the ledger's"))
                })
                .unwrap_or_default();
            return Err(Error::NotALedger(FileError::new(
                &self.shown,
                format!(
                    "its schema ec_billing is not the ledger's: {}",
                    ec_billing::text::escape(&differs).truncate(200)
                ),
                None,
            )));
        }
        Ok(())
    }

    /// Takes an advisory lock per deployment of `organization` in `deployments`, on a
    /// connection of its own, waiting at most `wait` for other syncs to let go.
    pub(crate) async fn lock(
        &self,
        organization: &str,
        deployments: &[String],
        wait: Duration,
    ) -> Result<DeploymentLocks> {
        let connection = Object::take(self.connection().await?);
        let keys: BTreeSet<(i64, &str)> = deployments
            .iter()
            .map(|d| (lock_key(organization, d), d.as_str()))
            .collect();
        let started = std::time::Instant::now();
        loop {
            let mut busy = None;
            for (key, deployment) in &keys {
                let taken: bool = connection
                    .query_one("SELECT pg_try_advisory_lock($1)", &[key])
                    .await
                    .and_then(|row| row.try_get(0))
                    .map_err(|e| self.failed(e))?;
                if !taken {
                    busy = Some(*deployment);
                    break;
                }
            }
            let Some(deployment) = busy else {
                // An idle connection must not be closed under the lock by the server's
                // own timeouts (each setting is left as it is where the server has none).
                for setting in [
                    "idle_session_timeout",
                    "idle_in_transaction_session_timeout",
                ] {
                    let _ = connection
                        .batch_execute(&format!("SET {setting} = 0"))
                        .await;
                }
                return Ok(DeploymentLocks {
                    connection: tokio::sync::Mutex::new(connection),
                });
            };
            connection
                .execute("SELECT pg_advisory_unlock_all()", &[])
                .await
                .map_err(|e| self.failed(e))?;
            if started.elapsed() >= wait {
                return Err(Error::Busy {
                    path: format!(
                        "{} (deployment \"{}\")",
                        self.shown,
                        ec_billing::text::escape(deployment).truncate(80)
                    )
                    .into(),
                    waited: started.elapsed(),
                });
            }
            tokio::time::sleep(Duration::from_millis(50).min(wait)).await;
        }
    }

    pub(crate) async fn windows(&self, scope: &Query) -> Result<Vec<StoredWindow>> {
        let client = self.connection().await?;
        let mut params = Params::default();
        let condition = condition(scope, "w", true, &mut params);
        let rows = client
            .query(
                &format!(
                    "SELECT {} FROM ec_billing.windows w WHERE {condition}
                     ORDER BY w.organization COLLATE \"C\", w.deployment COLLATE \"C\",
                              w.window_start",
                    window_columns()
                ),
                &params.refs(),
            )
            .await
            .map_err(|e| self.failed(e))?;
        rows.iter().map(|row| self.stored_window(row, 0)).collect()
    }

    pub(crate) async fn window(
        &self,
        organization: &str,
        deployment: &str,
        start: Timestamp,
    ) -> Result<Option<StoredLines>> {
        let client = self.connection().await?;
        let start_micros = start.as_microsecond();
        let record = client
            .query_opt(
                &format!(
                    "SELECT {} FROM ec_billing.windows w
                     WHERE w.organization = $1 AND w.deployment = $2 AND w.window_start = {}",
                    window_columns(),
                    at(3)
                ),
                &[&organization, &deployment, &start_micros],
            )
            .await
            .map_err(|e| self.failed(e))?;
        let Some(record) = record else {
            return Ok(None);
        };
        let window = self.stored_window(&record, 0)?;
        let rows = client
            .query(
                &format!(
                    "SELECT {} FROM ec_billing.lines l
                     WHERE l.organization = $1 AND l.deployment = $2 AND l.window_start = {}",
                    line_columns(),
                    at(3)
                ),
                &[&organization, &deployment, &start_micros],
            )
            .await
            .map_err(|e| self.failed(e))?;
        let mut lines = Vec::with_capacity(rows.len());
        let mut unreadable = false;
        for row in &rows {
            match answer_line(row, 0) {
                Some(line) => lines.push(line),
                None => unreadable = true,
            }
        }
        Ok(Some(StoredLines {
            window,
            lines,
            unreadable,
        }))
    }

    pub(crate) async fn scan(
        &self,
        scope: &Query,
        passes: u8,
        mut each: impl FnMut(u8, StoredWindow, Vec<AnswerLine>) -> Result<()>,
    ) -> Result<()> {
        let mut client = self.connection().await?;
        // One snapshot for every pass.
        let tx = client
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .map_err(|e| self.failed(e))?;
        let mut params = Params::default();
        let condition = condition(scope, "w", false, &mut params);
        let sql = format!(
            "SELECT {}, {}
             FROM ec_billing.windows w LEFT JOIN ec_billing.lines l
               ON l.organization = w.organization AND l.deployment = w.deployment
              AND l.window_start = w.window_start
             WHERE {condition}
             ORDER BY w.organization COLLATE \"C\", w.deployment COLLATE \"C\", w.window_start",
            window_columns(),
            line_columns()
        );
        let statement = tx.prepare(&sql).await.map_err(|e| self.failed(e))?;
        for pass in 0..passes {
            let rows = tx
                .query_raw(
                    &statement,
                    params.values.iter().map(|v| v.as_ref() as &dyn ToSql),
                )
                .await
                .map_err(|e| self.failed(e))?;
            let mut rows = std::pin::pin!(rows);
            let mut groups = WindowGroups::default();
            while let Some(row) = rows.next().await {
                let row = row.map_err(|e| self.failed(e))?;
                let window = self.stored_window(&row, 0)?;
                // A window of no lines has one row, of nulls.
                let line = row
                    .try_get::<_, Option<String>>(WINDOW_WIDTH)
                    .ok()
                    .flatten()
                    .map(|_| answer_line(&row, WINDOW_WIDTH));
                if let Some((done, lines)) = groups.row(window, line) {
                    each(pass, done, lines)?;
                }
            }
            if let Some((done, lines)) = groups.finish() {
                each(pass, done, lines)?;
            }
        }
        tx.commit().await.map_err(|e| self.failed(e))
    }

    /// Writes `update` in one transaction, through the connection that holds `locks`.
    pub(crate) async fn write(&self, update: WindowUpdate, locks: &DeploymentLocks) -> Result<()> {
        let mut client = locks.connection.lock().await;
        let tx = client.transaction().await.map_err(|e| self.failed(e))?;
        match update {
            WindowUpdate::Nothing => return Ok(()),
            WindowUpdate::Settle {
                organization,
                deployment,
                start,
                final_,
                now,
            } => {
                tx.execute(
                    &format!(
                        "UPDATE ec_billing.windows SET final = $4, fetched_at = {}
                         WHERE organization = $1 AND deployment = $2 AND window_start = {}",
                        at(5),
                        at(3)
                    ),
                    &[
                        &organization,
                        &deployment,
                        &start.as_microsecond(),
                        &final_,
                        &now.as_microsecond(),
                    ],
                )
                .await
                .map_err(|e| self.failed(e))?;
            }
            WindowUpdate::Write(write) => {
                write_window(&tx, &write)
                    .await
                    .map_err(|e| self.failed(e))?;
            }
        }
        tx.commit().await.map_err(|e| self.failed(e))
    }

    pub(crate) async fn journal_start(&self, organization: &str, now: Timestamp) -> Result<i64> {
        let client = self.connection().await?;
        let row = client
            .query_one(
                &format!(
                    "INSERT INTO ec_billing.syncs (organization, started_at) VALUES ($1, {})
                     RETURNING id",
                    at(2)
                ),
                &[&organization, &now.as_microsecond()],
            )
            .await
            .map_err(|e| self.failed(e))?;
        row.try_get(0).map_err(|e| self.failed(e))
    }

    pub(crate) async fn journal_end(&self, end: JournalEnd) -> Result<()> {
        let client = self.connection().await?;
        let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        client
            .execute(
                &format!(
                    "UPDATE ec_billing.syncs SET finished_at = {}, fetched = $3, revised = $4,
                         failed = $5
                     WHERE id = $1",
                    at(2)
                ),
                &[
                    &end.id,
                    &end.now.as_microsecond(),
                    &count(end.fetched),
                    &count(end.revised),
                    &count(end.failed),
                ],
            )
            .await
            .map_err(|e| self.failed(e))?;
        Ok(())
    }

    pub(crate) async fn revisions(&self, scope: &Query) -> Result<Vec<Revision>> {
        let client = self.connection().await?;
        let mut params = Params::default();
        let condition = condition(scope, "r", true, &mut params);
        let rows = client
            .query(
                &format!(
                    "SELECT r.organization, r.deployment, {}, {}, {}, r.change, r.line_type,
                            r.kind, r.sku, r.name, {}, {}, r.ordinal, r.old_cost::text,
                            r.new_cost::text
                     FROM ec_billing.revisions r WHERE {condition} ORDER BY r.id",
                    micros("r.window_start"),
                    micros("r.window_end"),
                    micros("r.seen_at"),
                    micros("r.period_start"),
                    micros("r.period_end"),
                ),
                &params.refs(),
            )
            .await
            .map_err(|e| self.failed(e))?;
        rows.iter()
            .map(|row| {
                let change = match row.try_get::<_, String>(5).unwrap_or_default().as_str() {
                    "added" => Change::Added,
                    "removed" => Change::Removed,
                    "changed" => Change::Changed,
                    _ => return Err(self.corrupt("a revision's change")),
                };
                let instant = |i| {
                    row.try_get::<_, Option<i64>>(i)
                        .ok()
                        .flatten()
                        .and_then(instant)
                        .ok_or_else(|| self.corrupt("an instant"))
                };
                let text = |i| {
                    row.try_get::<_, String>(i)
                        .map_err(|_| self.corrupt("a revision's text"))
                };
                Ok(Revision {
                    organization: text(0)?,
                    deployment: text(1)?,
                    window: (instant(2)?, instant(3)?),
                    seen_at: instant(4)?,
                    change,
                    key: key(row, 6, 10).ok_or_else(|| self.corrupt("a revision's key"))?,
                    old_cost: optional_money(row, 13).ok_or_else(|| self.corrupt("a cost"))?,
                    new_cost: optional_money(row, 14).ok_or_else(|| self.corrupt("a cost"))?,
                })
            })
            .collect()
    }

    /// Lines cannot lose their window here (a foreign key holds them to it).
    pub(crate) async fn orphans(&self, _scope: &Query) -> Result<Vec<(String, String, Timestamp)>> {
        Ok(Vec::new())
    }

    /// A window's record from [`window_columns`], or, when a value of it is not what
    /// the ledger writes but its organization, deployment and start are, a record
    /// marked unreadable (named, and repaired, rather than failing the whole read).
    fn stored_window(&self, row: &Row, first: usize) -> Result<StoredWindow> {
        let text = |i| row.try_get::<_, String>(first + i).ok();
        let instant = |i| {
            row.try_get::<_, Option<i64>>(first + i)
                .ok()
                .flatten()
                .and_then(instant)
        };
        let (Some(organization), Some(deployment), Some(start)) = (text(0), text(1), instant(2))
        else {
            return Err(self.corrupt("a window's organization, deployment or start"));
        };
        let record = (|| {
            Some(StoredWindow {
                organization: organization.clone(),
                deployment: deployment.clone(),
                start,
                end: instant(3)?,
                first_fetched_at: instant(4)?,
                fetched_at: instant(5)?,
                final_: row.try_get(first + 6).ok()?,
                lines: row.try_get(first + 7).ok()?,
                total: text(8)?,
                digest: text(9)?,
                unreadable: false,
            })
        })();
        Ok(record.unwrap_or_else(|| StoredWindow::unreadable(organization, deployment, start)))
    }
}

/// The value of `key` in the ledger's `meta` table.
async fn meta(
    client: &impl GenericClient,
    key: &str,
) -> std::result::Result<Option<String>, tokio_postgres::Error> {
    Ok(client
        .query_opt("SELECT value FROM ec_billing.meta WHERE key = $1", &[&key])
        .await?
        .map(|row| row.try_get::<_, Option<String>>(0))
        .transpose()?
        .flatten())
}

/// `url` as tokio-postgres reads it, and whether the server's certificate is to be
/// checked. As libpq: `sslmode=disable` never uses TLS; `prefer` (the default) uses it
/// when the server offers it and `require` insists on it, both without checking the
/// certificate (encryption, as libpq gives it without a root certificate);
/// `verify-ca` and `verify-full` insist on TLS and check the certificate and the host
/// name as the platform does.
fn tls_mode(url: &str) -> (String, bool) {
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_string(), false);
    };
    let mut verify = false;
    let parameters: Vec<String> = query
        .split('&')
        .map(|parameter| match parameter {
            "sslmode=verify-ca" | "sslmode=verify-full" => {
                verify = true;
                "sslmode=require".to_string()
            }
            other => other.to_string(),
        })
        .collect();
    (format!("{base}?{}", parameters.join("&")), verify)
}

/// The TLS configuration of [`tls_mode`]: the platform's verifier, or one that takes
/// any certificate (but still checks that the server holds its key).
fn tls_config(shown: &str, verify: bool) -> Result<rustls::ClientConfig> {
    use rustls_platform_verifier::ConfigVerifierExt;
    let failed = |e: rustls::Error| {
        Error::Storage(FileError::new(
            shown,
            "cannot set up TLS",
            Some(Box::new(e)),
        ))
    };
    if verify {
        return rustls::ClientConfig::with_platform_verifier().map_err(failed);
    }
    let provider = rustls::crypto::CryptoProvider::get_default()
        .cloned()
        .ok_or_else(|| failed(rustls::Error::General("no crypto provider".to_string())))?;
    Ok(
        rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(failed)?
            .dangerous()
            .with_custom_certificate_verifier(std::sync::Arc::new(EncryptOnly(provider)))
            .with_no_client_auth(),
    )
}

/// A verifier for `sslmode=prefer` and `require`: any certificate, as libpq takes it
/// without a root certificate; its signatures are still checked.
#[derive(Debug)]
struct EncryptOnly(std::sync::Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> std::result::Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The advisory lock of one deployment of one organization: 64 bits of FNV-1a over
/// both, apart.
fn lock_key(organization: &str, deployment: &str) -> i64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in organization.bytes().chain([0]).chain(deployment.bytes()) {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    i64::from_ne_bytes(hash.to_ne_bytes())
}

/// Query parameters, numbered as they are pushed.
#[derive(Default)]
struct Params {
    values: Vec<Box<dyn ToSql + Sync + Send>>,
}

impl Params {
    fn push(&mut self, value: impl ToSql + Sync + Send + 'static) -> usize {
        self.values.push(Box::new(value));
        self.values.len()
    }

    fn refs(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.values
            .iter()
            .map(|v| v.as_ref() as &(dyn ToSql + Sync))
            .collect()
    }
}

/// The condition on `organization`, `deployment` (and `window_start`, for the range,
/// when `by_window`) of the table aliased `table`.
fn condition(scope: &Query, table: &str, by_window: bool, params: &mut Params) -> String {
    let mut clauses = vec!["true".to_string()];
    if let Some(organization) = scope.organization_id() {
        let n = params.push(organization.to_string());
        clauses.push(format!("{table}.organization = ${n}"));
    }
    if !scope.deployment_ids().is_empty() {
        let n = params.push(scope.deployment_ids().to_vec());
        clauses.push(format!("{table}.deployment = ANY(${n}::text[])"));
    }
    if by_window {
        let (from, to) = scope.range();
        if let Some(from) = from {
            let n = params.push(from.as_microsecond());
            clauses.push(format!("{table}.window_start >= {}", at(n)));
        }
        if let Some(to) = to {
            let n = params.push(to.as_microsecond());
            clauses.push(format!("{table}.window_start < {}", at(n)));
        }
    }
    clauses.join(" AND ")
}

/// The columns of a window's record, as [`PostgresStore::stored_window`] reads them.
fn window_columns() -> String {
    format!(
        "w.organization, w.deployment, {}, {}, {}, {}, w.final, w.lines, w.total::text, w.digest",
        micros("w.window_start"),
        micros("w.window_end"),
        micros("w.first_fetched_at"),
        micros("w.fetched_at"),
    )
}

/// How many columns [`window_columns`] has.
const WINDOW_WIDTH: usize = 10;

/// The columns of a line, as [`answer_line`] reads them.
fn line_columns() -> String {
    format!(
        "l.line_type, l.kind, l.sku, l.name, {}, {}, l.ordinal, l.hours, l.instance_count,
         l.price_per_hour::text, l.quantity::text, l.quantity_formatted, l.rate::text,
         l.rate_formatted, l.cost::text",
        micros("l.period_start"),
        micros("l.period_end"),
    )
}

/// A line from the columns starting at `first` ([`line_columns`]); `None` for a value
/// the ledger does not write.
fn answer_line(row: &Row, first: usize) -> Option<AnswerLine> {
    Some(AnswerLine {
        key: key(row, first, first + 4)?,
        hours: row.try_get(first + 7).ok()?,
        instance_count: row.try_get(first + 8).ok()?,
        price_per_hour: optional_money(row, first + 9)?,
        quantity: optional_money(row, first + 10)?,
        quantity_formatted: row.try_get(first + 11).ok()?,
        rate: optional_money(row, first + 12)?,
        rate_formatted: row.try_get(first + 13).ok()?,
        cost: decimal(&row.try_get::<_, String>(first + 14).ok()?)?,
    })
}

/// A natural key: line type, kind, SKU, name from `first`, the period's instants from
/// `period` (start, end), the ordinal after them.
fn key(row: &Row, first: usize, period: usize) -> Option<LineKey> {
    Some(LineKey {
        line_type: LineType::parse(&row.try_get::<_, String>(first).ok()?)?,
        kind: row.try_get(first + 1).ok()?,
        sku: row.try_get(first + 2).ok()?,
        name: row.try_get(first + 3).ok()?,
        period_start: instant(row.try_get::<_, Option<i64>>(period).ok()??)?,
        period_end: instant(row.try_get::<_, Option<i64>>(period + 1).ok()??)?,
        ordinal: u32::try_from(row.try_get::<_, i32>(period + 2).ok()?).ok()?,
    })
}

/// An optional amount from exact decimal text; `None` when it is not the ledger's.
fn optional_money(row: &Row, index: usize) -> Option<Option<Decimal>> {
    match row.try_get::<_, Option<String>>(index).ok()? {
        None => Some(None),
        Some(text) => decimal(&text).map(Some),
    }
}

/// An instant from epoch microseconds.
fn instant(micros: i64) -> Option<Timestamp> {
    Timestamp::from_microsecond(micros).ok()
}

/// Writes a window whole in `tx`: its record, its lines (replacing any), its
/// revisions, its repair.
async fn write_window(
    tx: &impl GenericClient,
    write: &WindowWrite,
) -> std::result::Result<(), tokio_postgres::Error> {
    let start = write.start.as_microsecond();
    let end = write.end.as_microsecond();
    let now = write.now.as_microsecond();
    let (organization, deployment) = (&write.organization, &write.deployment);
    tx.execute(
        &format!(
            "INSERT INTO ec_billing.windows (organization, deployment, window_start,
                 window_end, first_fetched_at, fetched_at, final, digest, lines, total)
             VALUES ($1, $2, {}, {}, {}, {}, $7, $8, $9, $10::text::numeric)
             ON CONFLICT (organization, deployment, window_start) DO UPDATE SET
                 window_end = EXCLUDED.window_end,
                 first_fetched_at = EXCLUDED.first_fetched_at,
                 fetched_at = EXCLUDED.fetched_at, final = EXCLUDED.final,
                 digest = EXCLUDED.digest, lines = EXCLUDED.lines, total = EXCLUDED.total",
            at(3),
            at(4),
            at(5),
            at(6)
        ),
        &[
            organization,
            deployment,
            &start,
            &end,
            &write.first_fetched_at.as_microsecond(),
            &now,
            &write.final_,
            &write.digest,
            &i64::try_from(write.lines.len()).unwrap_or(i64::MAX),
            &write.total.to_string(),
        ],
    )
    .await?;
    // Its lines, and any window (with its lines) that starts inside it.
    tx.execute(
        &format!(
            "DELETE FROM ec_billing.lines
             WHERE organization = $1 AND deployment = $2 AND window_start = {}",
            at(3)
        ),
        &[organization, deployment, &start],
    )
    .await?;
    tx.execute(
        &format!(
            "DELETE FROM ec_billing.windows
             WHERE organization = $1 AND deployment = $2
               AND window_start > {} AND window_start < {}",
            at(3),
            at(4)
        ),
        &[organization, deployment, &start, &end],
    )
    .await?;
    // Every line in one statement: columns as arrays, unnested.
    let lines = &write.lines;
    let text = |f: &dyn Fn(&AnswerLine) -> String| lines.iter().map(f).collect::<Vec<String>>();
    let optional =
        |f: &dyn Fn(&AnswerLine) -> Option<String>| lines.iter().map(f).collect::<Vec<_>>();
    let line_types = text(&|l| l.key.line_type.as_str().to_string());
    let kinds = text(&|l| l.key.kind.clone());
    let skus = text(&|l| l.key.sku.clone());
    let names = text(&|l| l.key.name.clone());
    let period_starts: Vec<i64> = lines
        .iter()
        .map(|l| l.key.period_start.as_microsecond())
        .collect();
    let period_ends: Vec<i64> = lines
        .iter()
        .map(|l| l.key.period_end.as_microsecond())
        .collect();
    let ordinals: Vec<i64> = lines.iter().map(|l| i64::from(l.key.ordinal)).collect();
    let hours: Vec<Option<i64>> = lines.iter().map(|l| l.hours).collect();
    let instances: Vec<Option<i32>> = lines.iter().map(|l| l.instance_count).collect();
    let prices = optional(&|l| l.price_per_hour.map(|d| d.to_string()));
    let quantities = optional(&|l| l.quantity.map(|d| d.to_string()));
    let quantity_texts = optional(&|l| l.quantity_formatted.clone());
    let rates = optional(&|l| l.rate.map(|d| d.to_string()));
    let rate_texts = optional(&|l| l.rate_formatted.clone());
    let costs = text(&|l| l.cost.to_string());
    tx.execute(
        &format!(
            "INSERT INTO ec_billing.lines (organization, deployment, window_start, line_type,
                 kind, sku, name, period_start, period_end, ordinal, hours, instance_count,
                 price_per_hour, quantity, quantity_formatted, rate, rate_formatted, cost)
             SELECT $1, $2, {}, t, k, s, n,
                    'epoch'::timestamptz + ps * interval '1 microsecond',
                    'epoch'::timestamptz + pe * interval '1 microsecond',
                    o, h, i, pph::numeric, q::numeric, qf, r::numeric, rf, c::numeric
             FROM unnest($4::text[], $5::text[], $6::text[], $7::text[], $8::bigint[],
                         $9::bigint[], $10::bigint[], $11::bigint[], $12::integer[],
                         $13::text[], $14::text[], $15::text[], $16::text[], $17::text[],
                         $18::text[])
                  AS u(t, k, s, n, ps, pe, o, h, i, pph, q, qf, r, rf, c)",
            at(3)
        ),
        &[
            organization,
            deployment,
            &start,
            &line_types,
            &kinds,
            &skus,
            &names,
            &period_starts,
            &period_ends,
            &ordinals,
            &hours,
            &instances,
            &prices,
            &quantities,
            &quantity_texts,
            &rates,
            &rate_texts,
            &costs,
        ],
    )
    .await?;
    for change in &write.revisions {
        let key = &change.key;
        tx.execute(
            &format!(
                "INSERT INTO ec_billing.revisions (organization, deployment, window_start,
                     window_end, seen_at, change, line_type, kind, sku, name, period_start,
                     period_end, ordinal, old_cost, new_cost)
                 VALUES ($1, $2, {}, {}, {}, $6, $7, $8, $9, $10, {}, {}, $13,
                     $14::text::numeric, $15::text::numeric)",
                at(3),
                at(4),
                at(5),
                at(11),
                at(12)
            ),
            &[
                organization,
                deployment,
                &start,
                &end,
                &now,
                &change.change.as_str(),
                &key.line_type.as_str(),
                &key.kind,
                &key.sku,
                &key.name,
                &key.period_start.as_microsecond(),
                &key.period_end.as_microsecond(),
                &i32::try_from(key.ordinal).unwrap_or(i32::MAX),
                &change.old_cost.map(|d| d.to_string()),
                &change.new_cost.map(|d| d.to_string()),
            ],
        )
        .await?;
    }
    if write.repaired {
        tx.execute(
            &format!(
                "INSERT INTO ec_billing.repairs (organization, deployment, window_start,
                     window_end, seen_at)
                 VALUES ($1, $2, {}, {}, {})",
                at(3),
                at(4),
                at(5)
            ),
            &[organization, deployment, &start, &end, &now],
        )
        .await?;
    }
    Ok(())
}
