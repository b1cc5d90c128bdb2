//! Writing the PostgreSQL ledger: a window whole in one transaction (its record, its
//! lines in one `unnest` insert, its revisions, its repair).

use deadpool_postgres::GenericClient;

use super::sql::at;
use crate::{record::AnswerLine, store::values::WindowWrite};

/// Writes a window whole in `tx`: its record, its lines (replacing any), its
/// revisions, its repair.
pub(super) async fn write_window(
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
