//! [`ItemsCsvReader`]: the header row read into a column map, then one record at a
//! time, each read into a line by [`Row`](super::row::Row) and totalled exactly.

use std::{cell::RefCell, io::Read};

use ec_billing_api::ExactAdd;
use jiff::Timestamp;
use rust_decimal::Decimal;

use super::{
    layout::{FIELD_COUNT, FIELDS, Field, extra_keys, field_columns},
    records::Records,
    row::{ItemLine, Row},
    source::{Source, header_error, is_blank, read_failure},
};
use crate::{
    error::{Error, OverflowError},
    model::{Costs, CostsSum, Dimension, Items},
};

/// How many usage types [`ItemsCsvReader::accumulate`] remembers the place of.
const USAGES_REMEMBERED: usize = 8;

/// Reads an items CSV one line at a time, driven by its header row.
///
/// Memory stays flat whatever the document's size: one record is held at a time, and
/// a record may take at most [`MAX_CSV_RECORD_BYTES`](super::MAX_CSV_RECORD_BYTES) (1 MiB).
/// A malformed record is an error naming its record, line and column.
///
/// # Example
///
/// ```
/// use ec_billing::{csv::ItemLine, csv::ItemsCsvReader};
///
/// let csv = "\
/// Kind,Name,SKU,Hours,Instance Count,Period Start,Period End,Price Per Hour,Cost,Region
/// elasticsearch,ES hot,gcp.es.hot,744,2,2024-01-01T00:00:00Z,2024-02-01T00:00:00Z,0.68,1011.84,us-central1
/// data_out,Data out,gcp.data-out,0,0,,,0,40.917,us-central1
/// ";
/// let mut lines = ItemsCsvReader::new(csv.as_bytes())?;
/// let Some(Ok(ItemLine::Resource(es))) = lines.next() else { panic!() };
/// assert_eq!(es.cost.to_string(), "1011.84");
/// assert_eq!(es.extra.get("Region"), Some("us-central1"));
/// // A DTS row may carry its usage type under `Kind`, and zeros under `Hours`.
/// let Some(Ok(ItemLine::Dts(out))) = lines.next() else { panic!() };
/// assert_eq!(out.usage_type, "data_out");
/// # Ok::<(), ec_billing::Error>(())
/// ```
///
/// # Layouts
///
#[doc = include_str!("layouts.md")]
#[derive(Debug)]
pub struct ItemsCsvReader<R> {
    pub(super) records: Records<R>,
    /// The known columns and their fields, by field, each field's best ranked first.
    columns: Vec<(Field, usize)>,
    /// Where each field's columns are in `columns`, by `Field as usize`.
    field_columns: [(usize, usize); FIELD_COUNT],
    /// The columns of the fields every row reads, as `columns` orders them.
    walk: Vec<(Field, usize)>,
    /// The header of every column, as the document spells it (trimmed).
    pub(super) headers: Vec<String>,
    /// The key of every column in a line's `extra`: its header, numbered when repeated.
    pub(super) keys: Vec<String>,
    /// Blank lines of a CRLF document, which the csv crate reads as records of one
    /// `\r` field: they are skipped and do not count as records.
    pub(super) skipped: u64,
    /// The last period start and end read, by their bytes: consecutive lines mostly
    /// share them, and a cached instant saves parsing it again.
    pub(super) periods: RefCell<[(Vec<u8>, Option<Timestamp>); 2]>,
}

impl<R: Read> ItemsCsvReader<R> {
    /// Reads the header row of `reader`.
    ///
    /// # Errors
    ///
    /// [`Error::Csv`] when the document is empty or its header row cannot be read, a
    /// header is not UTF-8, no column is a cost column (`cost`, `price`, ...), or the
    /// header row is longer than [`MAX_CSV_RECORD_BYTES`](super::MAX_CSV_RECORD_BYTES) ([`CsvErrorKind::TooLarge`](crate::error::CsvErrorKind::TooLarge)).
    pub fn new(reader: R) -> Result<Self, Error> {
        let mut records = Records::new(Source::new(reader));
        let mut skipped = 0;
        loop {
            match records.read() {
                Ok(true) => {}
                Ok(false) => {
                    return Err(header_error(
                        "no header row (the document is empty)".to_string(),
                        None,
                        1,
                    ));
                }
                Err(failure) => return Err(read_failure(failure)),
            }
            if !is_blank(records.record().iter()) {
                break;
            }
            skipped += 1;
        }
        let header = records.record();
        // A bare-CR document's lines are counted by record.
        let line = if records.bare_cr() { 1 } else { header.line };
        let mut headers = Vec::with_capacity(header.len());
        for cell in header.iter() {
            match std::str::from_utf8(cell) {
                Ok(text) => headers.push(text.trim().to_string()),
                Err(err) => {
                    let byte = cell.get(err.valid_up_to()).copied().unwrap_or_default();
                    return Err(header_error(
                        format!("header not valid UTF-8 (byte 0x{byte:02x})"),
                        Some(String::from_utf8_lossy(cell).trim().to_string()),
                        line,
                    ));
                }
            }
        }
        let columns = field_columns(&headers);
        if !columns.iter().any(|(field, _)| *field == Field::Cost) {
            let names = FIELDS[Field::Cost as usize].1.join("\", \"");
            return Err(header_error(
                format!("no cost column (headed \"{names}\")"),
                None,
                line,
            ));
        }
        let keys = extra_keys(&headers);
        let mut field_columns = [(0, 0); FIELD_COUNT];
        for (field, range) in field_columns.iter_mut().enumerate() {
            let start = columns.partition_point(|(f, _)| (*f as usize) < field);
            let end = columns.partition_point(|(f, _)| (*f as usize) <= field);
            *range = (start, end);
        }
        // The text-only fields are left out of the walk: a row reads them when its line
        // is kept (`Row::cell`).
        let walk = columns
            .iter()
            .copied()
            .filter(|(field, _)| field.read_by_every_row())
            .collect();
        Ok(Self {
            records,
            columns,
            field_columns,
            walk,
            headers,
            keys,
            skipped,
            periods: RefCell::default(),
        })
    }

    /// Reads every remaining line and totals them: the total is the sum of all costs;
    /// resource lines count as the `capacity` dimension and each DTS line as the
    /// dimension its usage type names.
    ///
    /// # Errors
    ///
    /// The first malformed record, as [`next`](Iterator::next) reports it.
    pub fn read_all(self) -> Result<Items, Error> {
        self.accumulate(true).map(|(items, _)| items)
    }

    /// Reads every remaining line and keeps only the totals, as
    /// [`read_all`](Self::read_all) computes them, and the number of lines: memory
    /// stays flat whatever the document's size.
    ///
    /// # Errors
    ///
    /// The first malformed record, as [`next`](Iterator::next) reports it.
    pub fn read_totals(self) -> Result<(Costs, u64), Error> {
        self.accumulate(false)
            .map(|(items, lines)| (items.costs, lines))
    }

    /// Totals every remaining line, keeping the lines themselves when `keep_lines`.
    pub(crate) fn accumulate(self, keep_lines: bool) -> Result<(Items, u64), Error> {
        // Two copies of the loop: the one that keeps no line drops what only a line needs.
        if keep_lines {
            self.accumulate_lines::<true>()
        } else {
            self.accumulate_lines::<false>()
        }
    }

    fn accumulate_lines<const KEEP_LINES: bool>(mut self) -> Result<(Items, u64), Error> {
        let keep_lines = KEEP_LINES;
        let mut items = Items::default();
        let mut costs = CostsSum::default();
        // Where `capacity` and the first few usage types are in `costs`: most lines
        // find their dimension here, without making or hashing one.
        let mut capacity: Option<usize> = None;
        let mut usages: Vec<(Box<str>, usize)> = Vec::new();
        let mut lines = 0;
        while self.read_record()? {
            lines += 1;
            let row = Row::new(&self, self.records.record());
            if keep_lines {
                row.check_utf8()?;
            }
            let parsed = row.parse()?;
            match parsed.cost_and_usage() {
                (cost, None) => match capacity {
                    Some(at) => costs.add_at(at, cost)?,
                    None => capacity = Some(costs.add_dimension(Dimension::Capacity, cost)?),
                },
                (cost, Some(usage)) => match usages.iter().find(|(known, _)| **known == *usage) {
                    Some(&(_, at)) => costs.add_at(at, cost)?,
                    None => {
                        let at = costs.add_dimension(Dimension::from(usage), cost)?;
                        if usages.len() < USAGES_REMEMBERED {
                            usages.push((usage.into(), at));
                        }
                    }
                },
            }
            if keep_lines {
                match row.line(parsed) {
                    ItemLine::Resource(line) => items.resources.push(line),
                    ItemLine::Dts(line) => items.data_transfer_and_storage.push(line),
                }
            }
        }
        // Every line counts toward exactly one dimension.
        let total = costs
            .costs()
            .dimensions
            .iter()
            .try_fold(Decimal::ZERO, |total, d| total.exact_add(d.cost))
            .ok_or_else(|| OverflowError::new("costs.total"))?;
        items.costs = costs.into_costs();
        items.costs.total = total;
        Ok((items, lines))
    }

    /// The known columns of the fields every row reads, by field, each field's best
    /// ranked first.
    #[inline]
    pub(super) fn walk(&self) -> &[(Field, usize)] {
        &self.walk
    }

    /// The known columns of `field`, best ranked first.
    #[inline]
    pub(super) fn columns_of(&self, field: Field) -> &[(Field, usize)] {
        let (start, end) = self.field_columns[field as usize];
        self.columns.get(start..end).unwrap_or_default()
    }

    /// Reads the next record that is not a blank line; `false` at the end of the
    /// document.
    fn read_record(&mut self) -> Result<bool, Error> {
        loop {
            match self.records.read() {
                Ok(false) => return Ok(false),
                Ok(true) => {}
                Err(failure) => {
                    let mut err = read_failure(failure);
                    if let Error::Csv(csv) = &mut err {
                        csv.record = csv.record.saturating_sub(self.skipped);
                        if self.records.bare_cr() {
                            csv.line = csv.record.saturating_add(1);
                        }
                    }
                    return Err(err);
                }
            }
            let record = self.records.record();
            if is_blank(record.iter()) {
                self.skipped += 1;
                continue;
            }
            if record.len() != self.headers.len() {
                let row = Row::new(self, record);
                return Err(row.error(
                    &format!(
                        "a record with {} fields where the header has {}",
                        record.len(),
                        self.headers.len()
                    ),
                    None,
                ));
            }
            return Ok(true);
        }
    }
}

impl<R: Read> Iterator for ItemsCsvReader<R> {
    type Item = Result<ItemLine, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.read_record() {
            Ok(false) => None,
            Ok(true) => {
                let row = Row::new(self, self.records.record());
                let line = row
                    .check_utf8()
                    .and_then(|()| row.parse())
                    .map(|parsed| row.line(parsed));
                Some(line)
            }
            Err(err) => Some(Err(err)),
        }
    }
}
