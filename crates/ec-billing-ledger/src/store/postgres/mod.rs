//! The PostgreSQL store: its type and its operations, the API the seam calls. A ledger
//! in the schema `ec_billing` of a database a team already runs, through a small pool;
//! money as `NUMERIC`, instants as `timestamptz`; one sync per deployment at a time,
//! kept apart by advisory locks. This directory is the only one that names
//! tokio-postgres.

mod connect;
mod error;
mod locks;
mod rows;
mod schema;
mod sql;
mod write;

use std::{fmt, time::Duration};

use deadpool_postgres::{Object, Pool};
use ec_billing::WindowSize;
use futures_util::StreamExt;
use jiff::Timestamp;
use tokio_postgres::types::ToSql;

pub(crate) use self::{connect::is_url, locks::DeploymentLocks};
use self::{
    error::{corrupt, failed},
    rows::{
        WINDOW_WIDTH, answer_line, instant, key, line_columns, optional_money, stored_window,
        window_columns,
    },
    sql::{Params, at, condition, micros},
    write::write_window,
};
use crate::{
    error::{Error, Result},
    query::{Change, Query, Revision},
    store::values::{
        Access, JournalEnd, Scanned, StoredLines, StoredWindow, WindowChunks, WindowUpdate,
    },
};

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

impl PostgresStore {
    /// Connects to the database `url` names and opens the ledger in its schema
    /// `ec_billing` (creating it, when `access` allows, or migrating it).
    pub(crate) async fn open(url: &str, access: Access) -> Result<Self> {
        let (pool, shown) = connect::pool(url)?;
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

    /// A database error, for this ledger (see [`failed`]).
    fn failed(&self, error: impl std::error::Error + Send + Sync + 'static) -> Error {
        failed(&self.shown, error)
    }

    /// A value of the database that this crate did not write as it reads it (see
    /// [`corrupt`]).
    fn corrupt(&self, what: impl Into<String>) -> Error {
        corrupt(&self.shown, what)
    }

    async fn connection(&self) -> Result<Object> {
        self.pool.get().await.map_err(|e| match e {
            deadpool_postgres::PoolError::Backend(e) => self.failed(e),
            other => self.failed(other),
        })
    }

    /// Refuses a schema `ec_billing` that is not a ledger of a version this crate
    /// reads, and creates or migrates it (see [`schema::recognize`]).
    async fn recognize(&self, access: Access) -> Result<WindowSize> {
        let mut client = self.connection().await?;
        schema::recognize(&mut client, &self.shown, access).await
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
        locks::take(connection, &self.shown, organization, deployments, wait).await
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
        rows.iter()
            .map(|row| stored_window(&self.shown, row, 0))
            .collect()
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
        let window = stored_window(&self.shown, &record, 0)?;
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
        mut each: impl FnMut(u8, &mut Scanned) -> Result<()>,
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
             ORDER BY w.organization COLLATE \"C\", w.deployment COLLATE \"C\", w.window_start,
                      l.line_type COLLATE \"C\", l.kind COLLATE \"C\", l.sku COLLATE \"C\",
                      l.name COLLATE \"C\", l.period_start, l.period_end, l.ordinal",
            window_columns(),
            line_columns()
        );
        let statement = tx.prepare(&sql).await.map_err(|e| self.failed(e))?;
        let mut failed = None;
        for pass in 0..passes {
            let rows = tx
                .query_raw(
                    &statement,
                    params.values.iter().map(|v| v.as_ref() as &dyn ToSql),
                )
                .await
                .map_err(|e| self.failed(e))?;
            let mut rows = std::pin::pin!(rows);
            let mut chunks = WindowChunks::default();
            let mut emit = |mut item| match each(pass, &mut item) {
                Ok(()) => true,
                Err(e) => {
                    failed = Some(e);
                    false
                }
            };
            let mut going = true;
            while let Some(row) = rows.next().await {
                let row = row.map_err(|e| self.failed(e))?;
                // A window's record is read from its first row only.
                let same = match (
                    row.try_get::<_, &str>(0),
                    row.try_get::<_, &str>(1),
                    row.try_get::<_, i64>(2).ok().and_then(instant),
                ) {
                    (Ok(o), Ok(d), Some(s)) => chunks.is_current(o, d, s),
                    _ => false,
                };
                if !same && !chunks.start(stored_window(&self.shown, &row, 0)?, &mut emit) {
                    going = false;
                    break;
                }
                // A window of no lines has one row, of nulls.
                let line = row
                    .try_get::<_, Option<&str>>(WINDOW_WIDTH)
                    .ok()
                    .flatten()
                    .map(|_| answer_line(&row, WINDOW_WIDTH));
                if !chunks.line(line, &mut emit) {
                    going = false;
                    break;
                }
            }
            if going {
                chunks.finish(&mut emit);
            }
            if let Some(e) = failed.take() {
                return Err(e);
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
}
