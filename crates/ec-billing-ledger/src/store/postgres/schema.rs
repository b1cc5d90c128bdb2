//! The PostgreSQL ledger's schema `ec_billing`: its tables and columns, its numbered
//! migrations, and how a schema is recognized as the ledger's (or refused, untouched)
//! and created or migrated under an advisory lock.

use deadpool_postgres::{GenericClient, Object};
use ec_billing::WindowSize;

use super::error::failed;
use crate::{
    error::{Error, FileError, Result},
    store::values::{Access, parse_window, window_text},
};

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

/// Refuses a schema `ec_billing` that is not a ledger of a version this crate
/// reads, and creates or migrates it (in one transaction, under an advisory lock)
/// when `access` allows. Returns the ledger's window size.
pub(super) async fn recognize(
    client: &mut Object,
    shown: &str,
    access: Access,
) -> Result<WindowSize> {
    let tx = client.transaction().await.map_err(|e| failed(shown, e))?;
    if access != Access::ReadOnly {
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await
            .map_err(|e| failed(shown, e))?;
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
        .map_err(|e| failed(shown, e))?
        .iter()
        .map(|row| row.try_get(0))
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| failed(shown, e))?;
    let foreign: Vec<&String> = tables
        .iter()
        .filter(|t| !TABLES.contains(&t.as_str()))
        .collect();
    if !foreign.is_empty() {
        return Err(Error::NotALedger(FileError::new(
            shown,
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
        let application = meta(&tx, "application")
            .await
            .map_err(|e| failed(shown, e))?;
        if application.as_deref() != Some(APPLICATION) {
            return Err(Error::NotALedger(FileError::new(
                shown,
                "its schema ec_billing is another application's",
                None,
            )));
        }
        let version = meta(&tx, "version").await.map_err(|e| failed(shown, e))?;
        version
            .as_deref()
            .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|v| v.parse::<i64>().ok())
            .filter(|v| *v >= 1)
            .ok_or_else(|| {
                Error::NotALedger(FileError::new(
                    shown,
                    "its schema ec_billing keeps no version of the ledger's",
                    None,
                ))
            })?
    } else if tables.is_empty() {
        0
    } else {
        return Err(Error::NotALedger(FileError::new(
            shown,
            "its schema ec_billing holds tables but no ledger",
            None,
        )));
    };
    if version > VERSION {
        return Err(Error::NewerSchema {
            path: shown.into(),
            version,
            supported: VERSION,
        });
    }
    if version == 0 && !access.creates() {
        return Err(Error::Storage(FileError::new(
            shown,
            "no such ledger (a sync creates it)",
            None,
        )));
    }
    if version < VERSION && access != Access::ReadOnly {
        for (index, script) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            tx.batch_execute(script)
                .await
                .map_err(|e| failed(shown, e))?;
            if index == 0 {
                tx.execute(
                    "INSERT INTO ec_billing.meta (key, value) VALUES ('application', $1)",
                    &[&APPLICATION],
                )
                .await
                .map_err(|e| failed(shown, e))?;
            }
        }
        tx.execute(
            "INSERT INTO ec_billing.meta (key, value) VALUES ('version', $1)
             ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            &[&VERSION.to_string()],
        )
        .await
        .map_err(|e| failed(shown, e))?;
    }
    if version > 0 || access != Access::ReadOnly {
        check_columns(&tx, shown).await?;
    }
    let stored = meta(&tx, "window").await.map_err(|e| failed(shown, e))?;
    let size = match stored {
        Some(text) => parse_window(&text).ok_or_else(|| {
            Error::NotALedger(FileError::new(
                shown,
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
                .map_err(|e| failed(shown, e))?;
            if windows > 0 || access == Access::ReadOnly {
                return Err(Error::NotALedger(FileError::new(
                    shown,
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
            .map_err(|e| failed(shown, e))?;
            size
        }
    };
    tx.commit().await.map_err(|e| failed(shown, e))?;
    Ok(size)
}

/// Refuses a schema whose tables do not have the ledger's columns and types (a
/// money column made a float, a column dropped): checked as strictly as what the
/// ledger writes.
async fn check_columns(tx: &impl GenericClient, shown: &str) -> Result<()> {
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
        .map_err(|e| failed(shown, e))?;
    let mut found = std::collections::BTreeMap::new();
    for row in &rows {
        let (table, column, kind): (String, String, String) = (
            row.try_get(0).map_err(|e| failed(shown, e))?,
            row.try_get(1).map_err(|e| failed(shown, e))?,
            row.try_get(2).map_err(|e| failed(shown, e))?,
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
            shown,
            format!(
                "its schema ec_billing is not the ledger's: {}",
                ec_billing::text::escape(&differs).truncate(200)
            ),
            None,
        )));
    }
    Ok(())
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
