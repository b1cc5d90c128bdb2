//! The items endpoint's CSV (`Accept: text/csv`), read by header name, one line at a
//! time, into the same types as the JSON.
//!
//! Rooms: `layout` (the alias table, the words a cell may hold, the header row mapped
//! to fields), `source` (the bytes as the csv crate reads them, and where a record
//! is), `row` (one record read into a line, classified by its own evidence) and
//! `reader` ([`ItemsCsvReader`]). The layout rules below live in `layouts.md`: they
//! are both this module's docs and the "Layouts" section of [`ItemsCsvReader`]'s
//! public docs.
//!
#![doc = include_str!("layouts.md")]

mod layout;
mod reader;
mod row;
mod source;
#[cfg(test)]
mod tests;

use rust_decimal::Decimal;

pub use reader::ItemsCsvReader;

use crate::model::{DtsLine, ResourceLine};
use layout::FIELDS;

/// The most bytes one record of an items CSV may take, the header row included: 1 MiB.
///
/// A record that outgrows it (an unclosed quote, a line that never ends) fails the
/// read with [`CsvErrorKind::TooLarge`](crate::CsvErrorKind::TooLarge) as soon as it does, the rest left unread, so
/// that [`ItemsCsvReader`] never holds more than about this much of one record (the
/// csv crate's 64 KiB buffer aside). Through the client, such an answer fails with
/// [`TransportKind::TooLarge`](crate::TransportKind::TooLarge), never retried.
pub const MAX_CSV_RECORD_BYTES: usize = 1 << 20;

/// The header names the CSV reader knows, by field, in rank order (see
/// [`ItemsCsvReader`]'s layouts): `(field, aliases)`, each alias in
/// loose form (lowercase, `_` for any run of space, `-`, `_` or `.`).
///
/// The `type` entry is read by its value: a line type, a resource kind or a usage
/// type.
///
/// ```
/// let cost = ec_billing::csv_header_aliases()
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

/// One line of an items CSV.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ItemLine {
    /// A resource line: hours, instance count, period, price per hour.
    Resource(ResourceLine),
    /// A data-transfer-and-storage line: quantity and rate.
    Dts(DtsLine),
}

impl ItemLine {
    /// The line's cost in ECU.
    pub fn cost(&self) -> Decimal {
        match self {
            Self::Resource(line) => line.cost,
            Self::Dts(line) => line.cost,
        }
    }
}
