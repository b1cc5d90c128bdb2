//! The items endpoint's CSV (`Accept: text/csv`), read by header name, one line at a
//! time, into the same types as the JSON.
//!
//! Rooms: `layout` (the alias table, the words a cell may hold, the header row mapped
//! to fields), `source` (the bytes, how their lines end, the bound on a record),
//! `records` (the records as the csv crate reads them, at its positions: a plain line
//! split where it lies, any other record by `csv_core`), `row` (one record read into a
//! line, classified by its own evidence) and `reader` ([`ItemsCsvReader`]). The layout rules below live in `layouts.md`: they
//! are both this module's docs and the "Layouts" section of [`ItemsCsvReader`]'s
//! public docs.
//!
#![doc = include_str!("layouts.md")]

mod layout;
mod reader;
mod records;
mod row;
mod source;
#[cfg(test)]
mod tests;

pub use reader::ItemsCsvReader;
pub use row::ItemLine;
pub use source::MAX_CSV_RECORD_BYTES;

use layout::FIELDS;

/// The header names the CSV reader knows, by field, in rank order (see
/// [`ItemsCsvReader`]'s layouts): `(field, aliases)`, each alias in
/// loose form (lowercase, `_` for any run of space, `-`, `_` or `.`).
///
/// The `type` entry is read by its value: a line type, a resource kind or a usage
/// type.
///
/// ```
/// let cost = ec_billing::csv::csv_header_aliases()
///     .find(|(field, _)| *field == "cost")
///     .map(|(_, aliases)| aliases)
///     .unwrap_or_default();
/// assert!(cost.contains(&"price"));
/// ```
pub fn csv_header_aliases() -> impl Iterator<Item = (&'static str, &'static [&'static str])> {
    FIELDS
        .iter()
        .map(|(field, aliases)| (field.name(), *aliases))
}
