//! How the ledger's SQL text is made: instants as exact epoch microseconds, query
//! parameters numbered as they are pushed, and the condition a query's scope makes.

use tokio_postgres::types::ToSql;

use crate::query::Query;

/// An instant stored as `timestamptz`, from epoch microseconds (exact).
const AT: &str = "('epoch'::timestamptz + $N::bigint * interval '1 microsecond')";

/// A `timestamptz` column read as epoch microseconds (exact).
pub(super) fn micros(column: &str) -> String {
    // An infinite instant (not one the ledger writes) reads as null: unreadable.
    format!(
        "(CASE WHEN isfinite({column}) THEN (extract(epoch from {column}) * 1000000)::bigint END)"
    )
}

/// The `timestamptz` of parameter `n`, from epoch microseconds.
pub(super) fn at(n: usize) -> String {
    AT.replace("$N", &format!("${n}"))
}

/// Query parameters, numbered as they are pushed.
#[derive(Default)]
pub(super) struct Params {
    pub(super) values: Vec<Box<dyn ToSql + Sync + Send>>,
}

impl Params {
    fn push(&mut self, value: impl ToSql + Sync + Send + 'static) -> usize {
        self.values.push(Box::new(value));
        self.values.len()
    }

    pub(super) fn refs(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.values
            .iter()
            .map(|v| v.as_ref() as &(dyn ToSql + Sync))
            .collect()
    }
}

/// The condition on `organization`, `deployment` (and `window_start`, for the range,
/// when `by_window`) of the table aliased `table`.
pub(super) fn condition(
    scope: &Query,
    table: &str,
    by_window: bool,
    params: &mut Params,
) -> String {
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
