//! Reading the SQLite ledger's rows into values: the columns of a window's record and
//! of a line, the condition a query's scope makes, instants and money as the ledger
//! writes them, and one scan of windows with their lines.

use std::path::Path;

use ec_billing::Decimal;
use jiff::Timestamp;
use rusqlite::{
    Connection, Row, params_from_iter,
    types::{Value, ValueRef},
};

use super::error::{corrupt, storage};
use crate::{
    error::Result,
    query::Query,
    record::{AnswerLine, LineKey, LineType},
    store::values::{Scanned, StoredWindow, WindowChunks},
};

/// The columns of a window's record, as [`stored_window_row`] reads them.
pub(super) const WINDOW_COLUMNS: &str =
    "w.organization, w.deployment, w.window_start, w.window_end,
    w.first_fetched_at, w.fetched_at, w.final, w.lines, w.total, w.digest";

/// The columns of a line, as [`answer_line`] reads them.
pub(super) const LINE_COLUMNS: &str =
    "l.line_type, l.kind, l.sku, l.name, l.period_start, l.period_end,
    l.ordinal, l.hours, l.instance_count, l.price_per_hour, l.quantity, l.quantity_formatted,
    l.rate, l.rate_formatted, l.cost";

/// A window's record from [`WINDOW_COLUMNS`].
pub(super) fn stored_window_row(row: &Row<'_>) -> rusqlite::Result<StoredWindow> {
    Ok(StoredWindow {
        organization: row.get(0)?,
        deployment: row.get(1)?,
        start: instant(row, 2)?,
        end: instant(row, 3)?,
        first_fetched_at: timestamp(row, 4)?,
        fetched_at: timestamp(row, 5)?,
        final_: row.get(6)?,
        lines: row.get(7)?,
        total: row.get(8)?,
        digest: row.get(9)?,
        unreadable: false,
    })
}

/// A window's record from [`WINDOW_COLUMNS`], or, when a value of it is not what the
/// ledger writes but its organization, deployment and start are, a record marked
/// unreadable (so that the window is named, and repaired, rather than the whole read
/// failing).
pub(super) fn tolerant_window_row(row: &Row<'_>) -> rusqlite::Result<StoredWindow> {
    stored_window_row(row).or_else(|_| {
        Ok(StoredWindow::unreadable(
            row.get(0)?,
            row.get(1)?,
            instant(row, 2)?,
        ))
    })
}

/// The condition on `organization`, `deployment` (and `window_start`, for the range,
/// when `by_window`) of the table aliased `table`, and its parameters.
pub(super) fn condition(scope: &Query, table: &str, by_window: bool) -> (String, Vec<Value>) {
    let mut clauses = vec!["1 = 1".to_string()];
    let mut values: Vec<Value> = Vec::new();
    if let Some(organization) = scope.organization_id() {
        values.push(Value::Text(organization.to_string()));
        clauses.push(format!("{table}.organization = ?{}", values.len()));
    }
    if !scope.deployment_ids().is_empty() {
        let mut marks = Vec::new();
        for deployment in scope.deployment_ids() {
            values.push(Value::Text(deployment.clone()));
            marks.push(format!("?{}", values.len()));
        }
        clauses.push(format!("{table}.deployment IN ({})", marks.join(", ")));
    }
    if by_window {
        let (from, to) = scope.range();
        if let Some(from) = from {
            values.push(Value::Integer(from.as_second()));
            clauses.push(format!("{table}.window_start >= ?{}", values.len()));
        }
        if let Some(to) = to {
            values.push(Value::Integer(to.as_second()));
            clauses.push(format!("{table}.window_start < ?{}", values.len()));
        }
    }
    (clauses.join(" AND "), values)
}

/// One pass over the windows of `scope` with their lines, a window at a time, in order;
/// `each` says whether to go on.
pub(super) fn scan_once(
    conn: &Connection,
    path: &Path,
    scope: &Query,
    recycled: &std::sync::mpsc::Receiver<Vec<AnswerLine>>,
    hashing: bool,
    mut emit: impl FnMut(Scanned) -> bool,
) -> Result<bool> {
    let (condition, values) = condition(scope, "w", false);
    let sql = format!(
        "SELECT {WINDOW_COLUMNS}, {LINE_COLUMNS}
         FROM windows w LEFT JOIN lines l
           ON l.organization = w.organization AND l.deployment = w.deployment
          AND l.window_start = w.window_start
         WHERE {condition}
         ORDER BY w.organization, w.deployment, w.window_start"
    );
    let mut statement = conn.prepare(&sql).map_err(|e| storage(path, e))?;
    let mut rows = statement
        .query(params_from_iter(values))
        .map_err(|e| storage(path, e))?;
    // A window's lines come in the order of the lines' primary key (the join reads
    // them through it); the reader checks that order, and sorts a window that is not
    // in it (asking SQLite to sort would hold each window in its sorter).
    let mut chunks = if hashing {
        WindowChunks::hashing()
    } else {
        WindowChunks::default()
    };
    while let Some(row) = rows.next().map_err(|e| storage(path, e))? {
        // A window's record is read from its first row only.
        let same = match (row.get_ref(0), row.get_ref(1), row.get_ref(2)) {
            (Ok(ValueRef::Text(o)), Ok(ValueRef::Text(d)), Ok(ValueRef::Integer(s))) => {
                match (
                    std::str::from_utf8(o),
                    std::str::from_utf8(d),
                    Timestamp::from_second(s),
                ) {
                    (Ok(o), Ok(d), Ok(s)) => chunks.is_current(o, d, s),
                    _ => false,
                }
            }
            _ => false,
        };
        if !same {
            let window = tolerant_window_row(row).map_err(|e| corrupt(path, e))?;
            if !chunks.start(window, &mut emit) {
                return Ok(false);
            }
        }
        // A window of no lines has one row, of nulls.
        let line = match row
            .get_ref(WINDOW_WIDTH)
            .map_err(|e| storage(path, e))?
            .data_type()
        {
            rusqlite::types::Type::Null => None,
            _ => {
                // A line the reader gave back, when there is one: its room is used
                // again.
                while let Ok(chunk) = recycled.try_recv() {
                    chunks.recycle(chunk);
                }
                match chunks.spare() {
                    Some(mut line) => Some(
                        answer_line_into(row, WINDOW_WIDTH, &mut line)
                            .ok()
                            .map(|()| line),
                    ),
                    None => Some(answer_line(row, WINDOW_WIDTH).ok()),
                }
            }
        };
        if !chunks.line(line, &mut emit) {
            return Ok(false);
        }
    }
    Ok(chunks.finish(&mut emit))
}

/// How many columns [`WINDOW_COLUMNS`] has.
const WINDOW_WIDTH: usize = 10;

/// A line's key and values, from the columns starting at `first` ([`LINE_COLUMNS`]).
pub(super) fn answer_line(row: &Row<'_>, first: usize) -> rusqlite::Result<AnswerLine> {
    let mut line = AnswerLine {
        key: blank_key(),
        hours: None,
        instance_count: None,
        price_per_hour: None,
        quantity: None,
        quantity_formatted: None,
        rate: None,
        rate_formatted: None,
        cost: Decimal::ZERO,
    };
    answer_line_into(row, first, &mut line)?;
    Ok(line)
}

/// Reads a line as [`answer_line`] does into `line`, a line given back by the reader:
/// its texts are written into the room they already have (no allocation per row).
fn answer_line_into(row: &Row<'_>, first: usize, line: &mut AnswerLine) -> rusqlite::Result<()> {
    fn optional_text_into(target: &mut Option<String>, text: Option<&str>) {
        match (target.as_mut(), text) {
            (Some(room), Some(text)) => text_into(room, text),
            (_, text) => *target = text.map(str::to_string),
        }
    }
    key_into(row, first, &mut line.key)?;
    line.hours = row.get(first + 7)?;
    line.instance_count = row.get(first + 8)?;
    line.price_per_hour = optional_money(row, first + 9)?;
    line.quantity = optional_money(row, first + 10)?;
    optional_text_into(
        &mut line.quantity_formatted,
        row.get_ref(first + 11)?.as_str_or_null()?,
    );
    line.rate = optional_money(row, first + 12)?;
    optional_text_into(
        &mut line.rate_formatted,
        row.get_ref(first + 13)?.as_str_or_null()?,
    );
    line.cost = money(row, first + 14)?;
    Ok(())
}

/// A natural key from the columns starting at `first`.
pub(super) fn key(row: &Row<'_>, first: usize) -> rusqlite::Result<LineKey> {
    let mut key = blank_key();
    key_into(row, first, &mut key)?;
    Ok(key)
}

/// Reads a natural key as [`key`] does into `key`, its texts into the room they have.
fn key_into(row: &Row<'_>, first: usize, key: &mut LineKey) -> rusqlite::Result<()> {
    let line_type = row.get_ref(first)?.as_str()?;
    key.line_type = LineType::parse(line_type).ok_or_else(|| invalid(first, line_type))?;
    text_into(&mut key.kind, row.get_ref(first + 1)?.as_str()?);
    text_into(&mut key.sku, row.get_ref(first + 2)?.as_str()?);
    text_into(&mut key.name, row.get_ref(first + 3)?.as_str()?);
    key.period_start = timestamp(row, first + 4)?;
    key.period_end = timestamp(row, first + 5)?;
    key.ordinal = row.get(first + 6)?;
    Ok(())
}

/// A key to read a row into.
fn blank_key() -> LineKey {
    LineKey {
        line_type: LineType::Resource,
        kind: String::new(),
        sku: String::new(),
        name: String::new(),
        period_start: Timestamp::UNIX_EPOCH,
        period_end: Timestamp::UNIX_EPOCH,
        ordinal: 0,
    }
}

/// Writes `text` into `target`'s room.
fn text_into(target: &mut String, text: &str) {
    target.clear();
    target.push_str(text);
}

/// An instant stored as RFC 3339 text.
pub(super) fn timestamp(row: &Row<'_>, index: usize) -> rusqlite::Result<Timestamp> {
    let text = row.get_ref(index)?.as_str()?;
    crate::text::parse_instant(text).ok_or_else(|| invalid(index, text))
}

/// An instant stored as epoch seconds.
pub(super) fn instant(row: &Row<'_>, index: usize) -> rusqlite::Result<Timestamp> {
    let second: i64 = row.get(index)?;
    Timestamp::from_second(second).map_err(|_| invalid(index, &second.to_string()))
}

fn money(row: &Row<'_>, index: usize) -> rusqlite::Result<Decimal> {
    let text = row.get_ref(index)?.as_str()?;
    crate::text::parse_decimal_text(text).ok_or_else(|| invalid(index, text))
}

pub(super) fn optional_money(row: &Row<'_>, index: usize) -> rusqlite::Result<Option<Decimal>> {
    row.get_ref(index)?
        .as_str_or_null()?
        .map(|text| crate::text::parse_decimal_text(text).ok_or_else(|| invalid(index, text)))
        .transpose()
}

pub(super) fn invalid(index: usize, text: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        index,
        rusqlite::types::Type::Text,
        format!(
            "\"{}\" is not what the ledger writes there",
            ec_billing::text::escape(text).truncate(48)
        )
        .into(),
    )
}
