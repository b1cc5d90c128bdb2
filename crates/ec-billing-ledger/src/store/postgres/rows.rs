//! Reading the PostgreSQL ledger's rows into values: the columns of a window's record
//! and of a line, instants from epoch microseconds, money from exact decimal text.

use ec_billing::Decimal;
use jiff::Timestamp;
use tokio_postgres::Row;

use super::{error::corrupt, sql::micros};
use crate::{
    error::Result,
    record::{AnswerLine, LineKey, LineType},
    store::values::StoredWindow,
    text::parse_decimal_text as decimal,
};

/// The columns of a window's record, as [`PostgresStore::stored_window`] reads them.
pub(super) fn window_columns() -> String {
    format!(
        "w.organization, w.deployment, {}, {}, {}, {}, w.final, w.lines, w.total::text, w.digest",
        micros("w.window_start"),
        micros("w.window_end"),
        micros("w.first_fetched_at"),
        micros("w.fetched_at"),
    )
}

/// How many columns [`window_columns`] has.
pub(super) const WINDOW_WIDTH: usize = 10;

/// The columns of a line, as [`answer_line`] reads them.
pub(super) fn line_columns() -> String {
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
pub(super) fn answer_line(row: &Row, first: usize) -> Option<AnswerLine> {
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
pub(super) fn key(row: &Row, first: usize, period: usize) -> Option<LineKey> {
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
pub(super) fn optional_money(row: &Row, index: usize) -> Option<Option<Decimal>> {
    match row.try_get::<_, Option<String>>(index).ok()? {
        None => Some(None),
        Some(text) => decimal(&text).map(Some),
    }
}

/// An instant from epoch microseconds.
pub(super) fn instant(micros: i64) -> Option<Timestamp> {
    Timestamp::from_microsecond(micros).ok()
}

/// A window's record from [`window_columns`], or, when a value of it is not what
/// the ledger writes but its organization, deployment and start are, a record
/// marked unreadable (named, and repaired, rather than failing the whole read).
pub(super) fn stored_window(shown: &str, row: &Row, first: usize) -> Result<StoredWindow> {
    let text = |i| row.try_get::<_, String>(first + i).ok();
    let instant = |i| {
        row.try_get::<_, Option<i64>>(first + i)
            .ok()
            .flatten()
            .and_then(instant)
    };
    let (Some(organization), Some(deployment), Some(start)) = (text(0), text(1), instant(2)) else {
        return Err(corrupt(
            shown,
            "a window's organization, deployment or start",
        ));
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
