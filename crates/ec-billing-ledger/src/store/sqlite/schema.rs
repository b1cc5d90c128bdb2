//! The SQLite ledger's schema: its numbered migrations, how a file is recognized as a
//! ledger of a version this crate reads (or refused), the window size it keeps, and the
//! rehash of earlier ledgers' digests.

use std::path::Path;

use ec_billing::WindowSize;
use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::{
    error::{not_a_ledger, storage},
    rows::{LINE_COLUMNS, answer_line},
};
use crate::{
    error::{Error, FileError, Result},
    record::Tally,
    store::values::{parse_window, window_text},
};

/// What `meta.application` says in every ledger.
const APPLICATION: &str = "ec-billing-ledger";

/// Each schema version's script: `MIGRATIONS[i]` takes a file from version `i` to
/// `i + 1` (version 0 is an empty database). Never edit one that shipped; add one.
const MIGRATIONS: [&str; 3] = [
    // 1: the ledger.
    "
    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) WITHOUT ROWID;

    -- Every window fetched, per organization and deployment; a window is known by
    -- its start (its end grows while it is the range's last, the month to date).
    CREATE TABLE windows (
        organization     TEXT    NOT NULL,
        deployment       TEXT    NOT NULL,
        window_start     INTEGER NOT NULL, -- epoch seconds, UTC
        window_end       INTEGER NOT NULL, -- epoch seconds, UTC, exclusive
        first_fetched_at TEXT    NOT NULL, -- RFC 3339 UTC
        fetched_at       TEXT    NOT NULL, -- RFC 3339 UTC, the last fetch
        final            INTEGER NOT NULL, -- 1: last fetched at least the settle period after its end
        digest           TEXT    NOT NULL, -- of the lines of the last answer
        lines            INTEGER NOT NULL,
        total            TEXT    NOT NULL, -- exact decimal, ECU
        PRIMARY KEY (organization, deployment, window_start)
    ) WITHOUT ROWID;

    -- Every line of every window, under its natural key; `ordinal` keeps apart lines
    -- of one answer that share the rest of it. Money is exact decimal text.
    CREATE TABLE lines (
        organization       TEXT    NOT NULL,
        deployment         TEXT    NOT NULL,
        window_start       INTEGER NOT NULL,
        line_type          TEXT    NOT NULL CHECK (line_type IN ('resource', 'dts')),
        kind               TEXT    NOT NULL, -- resource kind, or DTS usage type
        sku                TEXT    NOT NULL,
        name               TEXT    NOT NULL,
        period_start       TEXT    NOT NULL, -- a resource line's own; a DTS line's window's
        period_end         TEXT    NOT NULL,
        ordinal            INTEGER NOT NULL,
        hours              INTEGER,
        instance_count     INTEGER,
        price_per_hour     TEXT,
        quantity           TEXT,
        quantity_formatted TEXT,
        rate               TEXT,
        rate_formatted     TEXT,
        cost               TEXT    NOT NULL,
        PRIMARY KEY (organization, deployment, window_start, line_type, kind, sku, name,
                     period_start, period_end, ordinal)
    ) WITHOUT ROWID;

    -- What a re-fetch of the same window found changed: facts, never overwritten.
    CREATE TABLE revisions (
        id           INTEGER PRIMARY KEY,
        organization TEXT    NOT NULL,
        deployment   TEXT    NOT NULL,
        window_start INTEGER NOT NULL,
        window_end   INTEGER NOT NULL,
        seen_at      TEXT    NOT NULL,
        change       TEXT    NOT NULL CHECK (change IN ('added', 'removed', 'changed')),
        line_type    TEXT    NOT NULL,
        kind         TEXT    NOT NULL,
        sku          TEXT    NOT NULL,
        name         TEXT    NOT NULL,
        period_start TEXT    NOT NULL,
        period_end   TEXT    NOT NULL,
        ordinal      INTEGER NOT NULL,
        old_cost     TEXT,
        new_cost     TEXT
    );
    CREATE INDEX revisions_by_deployment ON revisions (organization, deployment, window_start);
    ",
    // 2: a journal of syncs (when each ran, and whether it finished).
    "
    CREATE TABLE syncs (
        id           INTEGER PRIMARY KEY,
        organization TEXT NOT NULL,
        started_at   TEXT NOT NULL,
        finished_at  TEXT,
        fetched      INTEGER NOT NULL DEFAULT 0,
        revised      INTEGER NOT NULL DEFAULT 0,
        failed       INTEGER NOT NULL DEFAULT 0
    );
    ",
    // 3: repairs (a window whose lines no longer matched its record, fetched again and
    // replaced: not revisions).
    "
    CREATE TABLE IF NOT EXISTS repairs (
        id           INTEGER PRIMARY KEY,
        organization TEXT    NOT NULL,
        deployment   TEXT    NOT NULL,
        window_start INTEGER NOT NULL,
        window_end   INTEGER NOT NULL,
        seen_at      TEXT    NOT NULL
    );
    ",
];

/// The schema version this crate writes.
const VERSION: i64 = MIGRATIONS.len() as i64;

pub(super) fn user_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.pragma_query_value(None, "user_version", |row| row.get(0))
}

/// Refuses a file that is not a ledger of a version this crate reads: another
/// application's database (tables but no version of ours, or a version below 1), a
/// newer ledger, and, unless `create`, an empty database.
pub(super) fn check(conn: &Connection, path: &Path, version: i64, create: bool) -> Result<()> {
    if version > VERSION {
        return Err(Error::NewerSchema {
            path: path.to_path_buf(),
            version,
            supported: VERSION,
        });
    }
    let tables: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_master", [], |row| row.get(0))
        .map_err(|e| not_a_ledger(path, "not an SQLite database", e))?;
    let foreign = || {
        Error::NotALedger(FileError::new(
            path,
            "an SQLite database of another application",
            None,
        ))
    };
    match (version, tables) {
        (..0, _) => Err(foreign()),
        (0, 0) if create => Ok(()),
        (0, 0) => Err(Error::NotALedger(FileError::new(
            path,
            "an empty database (a sync makes a ledger of it)",
            None,
        ))),
        (0, _) => Err(foreign()),
        _ => check_application(conn, path),
    }
}

/// The window size a ledger's file keeps, read as strictly as it is written (see
/// [`parse_window`]); `None` when the file keeps none yet.
pub(super) fn stored_window(conn: &Connection, path: &Path) -> Result<Option<WindowSize>> {
    let stored = conn
        .query_row("SELECT value FROM meta WHERE key = 'window'", [], |row| {
            row.get::<_, String>(0)
        })
        .optional()
        .map_err(|e| storage(path, e))?;
    match stored.as_deref() {
        None => Ok(None),
        Some(text) if parse_window(text).is_some() => Ok(parse_window(text)),
        Some(other) => Err(Error::NotALedger(FileError::new(
            path,
            format!(
                "its window size \"{}\" is not one a ledger keeps (month or day)",
                ec_billing::text::escape(other).truncate(48)
            ),
            None,
        ))),
    }
}

/// Refuses a versioned database that is not ours.
fn check_application(conn: &Connection, path: &Path) -> Result<()> {
    let application: Option<String> = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'application'",
            [],
            |row| row.get(0),
        )
        .optional()
        .unwrap_or(None);
    if application.as_deref() == Some(APPLICATION) {
        Ok(())
    } else {
        Err(Error::NotALedger(FileError::new(
            path,
            "an SQLite database of another application",
            None,
        )))
    }
}

/// Brings the file to this crate's version, in one transaction that holds SQLite's
/// write lock from its start (so that two processes creating one file do not both run
/// a migration), and returns the ledger's window size, fixing it (to `window`, else
/// months) when none is stored yet.
pub(super) fn migrate(
    conn: &mut Connection,
    path: &Path,
    window: Option<WindowSize>,
    create: bool,
) -> Result<WindowSize> {
    let run = || -> Result<WindowSize> {
        let tx =
            rusqlite::Transaction::new_unchecked(conn, rusqlite::TransactionBehavior::Immediate)
                .map_err(|e| storage(path, e))?;
        // Read again under the lock: another process may have migrated meanwhile.
        let from = user_version(&tx).map_err(|e| storage(path, e))?;
        check(&tx, path, from, create)?;
        for (index, script) in MIGRATIONS.iter().enumerate().skip(from.max(0) as usize) {
            tx.execute_batch(script).map_err(|e| storage(path, e))?;
            if index == 0 {
                tx.execute(
                    "INSERT INTO meta (key, value) VALUES ('application', ?1)",
                    params![APPLICATION],
                )
                .map_err(|e| storage(path, e))?;
            }
            if index == 2 && from > 0 {
                rehash(&tx).map_err(|e| storage(path, e))?;
            }
            if from > 0 {
                tracing::info!(path = %path.display(), from = index, to = index + 1, "ledger schema migrated");
            }
        }
        if from < VERSION {
            tx.pragma_update(None, "user_version", VERSION)
                .map_err(|e| storage(path, e))?;
        }
        let size = match stored_window(&tx, path)? {
            Some(size) => size,
            None => {
                let windows: i64 = tx
                    .query_row("SELECT count(*) FROM windows", [], |row| row.get(0))
                    .map_err(|e| storage(path, e))?;
                if windows > 0 {
                    return Err(Error::NotALedger(FileError::new(
                        path,
                        "it keeps windows but no window size",
                        None,
                    )));
                }
                let size = window.unwrap_or(WindowSize::Month);
                tx.execute(
                    "INSERT INTO meta (key, value) VALUES ('window', ?1)",
                    params![window_text(size)],
                )
                .map_err(|e| storage(path, e))?;
                size
            }
        };
        tx.commit().map_err(|e| storage(path, e))?;
        Ok(size)
    };
    run()
}

/// Gives every window of a ledger of an earlier version the digest this one checks (the
/// sum of its lines' hashes, in any order), in place of one over the answer's order,
/// which the file does not keep. A window whose lines do not add up to its record
/// keeps its old digest: it reads as inconsistent, and a sync repairs it.
fn rehash(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    let windows: Vec<(String, String, i64, i64, String)> = {
        let mut statement =
            tx.prepare("SELECT organization, deployment, window_start, lines, total FROM windows")?;
        let rows = statement.query_map([], |row| {
            Ok((
                row.get(0)?,
                row.get(1)?,
                row.get(2)?,
                row.get(3)?,
                row.get(4)?,
            ))
        })?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    let mut lines = tx.prepare(&format!(
        "SELECT {LINE_COLUMNS} FROM lines l
         WHERE l.organization = ?1 AND l.deployment = ?2 AND l.window_start = ?3"
    ))?;
    let mut update = tx.prepare(
        "UPDATE windows SET digest = ?4
         WHERE organization = ?1 AND deployment = ?2 AND window_start = ?3",
    )?;
    for (organization, deployment, start, count, total) in windows {
        let mut tally = Tally::new();
        let mut rows = lines.query(params![organization, deployment, start])?;
        let mut readable = true;
        while let Some(row) = rows.next()? {
            match answer_line(row, 0) {
                Ok(line) => tally.add(&line),
                Err(_) => readable = false,
            }
        }
        let matches = tally.lines_and_total_match(count, &total);
        if readable && matches {
            update.execute(params![organization, deployment, start, tally.digest()])?;
        }
    }
    Ok(())
}
