//! Writing the SQLite ledger: a window whole in one transaction (its record, its lines,
//! its revisions, its repair).

use rusqlite::{Transaction, params};

use crate::store::values::WindowWrite;

/// Writes a window whole in `tx`: its record, its lines (replacing any), its
/// revisions, its repair.
pub(super) fn write_window(tx: &Transaction<'_>, write: &WindowWrite) -> rusqlite::Result<()> {
    let start = write.start.as_second();
    let end = write.end.as_second();
    let now = write.now.to_string();
    let (organization, deployment) = (&write.organization, &write.deployment);
    // Its lines, and any window (with its lines) that starts inside it: a window whose
    // start was edited, or lines left without a record, are replaced too.
    tx.prepare_cached(
        "DELETE FROM lines WHERE organization = ?1 AND deployment = ?2
           AND window_start >= ?3 AND window_start < ?4",
    )?
    .execute(params![organization, deployment, start, end])?;
    tx.prepare_cached(
        "DELETE FROM windows WHERE organization = ?1 AND deployment = ?2
           AND window_start > ?3 AND window_start < ?4",
    )?
    .execute(params![organization, deployment, start, end])?;
    let mut insert = tx.prepare_cached(
        "INSERT INTO lines (organization, deployment, window_start, line_type, kind, sku,
             name, period_start, period_end, ordinal, hours, instance_count,
             price_per_hour, quantity, quantity_formatted, rate, rate_formatted, cost)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,
             ?17, ?18)",
    )?;
    for line in &write.lines {
        let key = &line.key;
        insert.execute(params![
            organization,
            deployment,
            start,
            key.line_type.as_str(),
            key.kind,
            key.sku,
            key.name,
            key.period_start.to_string(),
            key.period_end.to_string(),
            key.ordinal,
            line.hours,
            line.instance_count,
            line.price_per_hour.map(|d| d.to_string()),
            line.quantity.map(|d| d.to_string()),
            line.quantity_formatted,
            line.rate.map(|d| d.to_string()),
            line.rate_formatted,
            line.cost.to_string(),
        ])?;
    }
    let mut revision = tx.prepare_cached(
        "INSERT INTO revisions (organization, deployment, window_start, window_end,
             seen_at, change, line_type, kind, sku, name, period_start, period_end,
             ordinal, old_cost, new_cost)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
    )?;
    for change in &write.revisions {
        let key = &change.key;
        revision.execute(params![
            organization,
            deployment,
            start,
            end,
            now,
            change.change.as_str(),
            key.line_type.as_str(),
            key.kind,
            key.sku,
            key.name,
            key.period_start.to_string(),
            key.period_end.to_string(),
            key.ordinal,
            change.old_cost.map(|d| d.to_string()),
            change.new_cost.map(|d| d.to_string()),
        ])?;
    }
    if write.repaired {
        tx.prepare_cached(
            "INSERT INTO repairs (organization, deployment, window_start, window_end, seen_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute(params![organization, deployment, start, end, now])?;
    }
    tx.prepare_cached(
        "INSERT OR REPLACE INTO windows (organization, deployment, window_start, window_end,
             first_fetched_at, fetched_at, final, digest, lines, total)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?
    .execute(params![
        organization,
        deployment,
        start,
        end,
        write.first_fetched_at.to_string(),
        now,
        write.final_,
        write.digest,
        i64::try_from(write.lines.len()).unwrap_or(i64::MAX),
        write.total.to_string(),
    ])?;
    Ok(())
}
