//! [`ItemsCsvReader`]: the header row read into a column map, then one record at a
//! time, each read into a line by [`Row`](super::row::Row) and totalled exactly.

use std::{cell::RefCell, io::Read};

use ec_billing_api::ExactAdd;
use jiff::Timestamp;
use rust_decimal::Decimal;

use super::{
    layout::{FIELD_COUNT, FIELDS, Field, extra_keys, field_columns},
    row::{ItemLine, Row},
    source::{Source, header_error, is_blank, mark_record_end, read_failure, record_line},
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
    pub(super) reader: csv::Reader<Source<R>>,
    /// The known columns and their fields, by field, each field's best ranked first.
    columns: Vec<(Field, usize)>,
    /// Where each field's columns are in `columns`, by `Field as usize`.
    field_columns: [(usize, usize); FIELD_COUNT],
    /// Each column's field and its rank among the field's columns, by column.
    column_fields: Vec<Option<(Field, u8)>>,
    /// The header of every column, as the document spells it (trimmed).
    pub(super) headers: Vec<String>,
    /// The key of every column in a line's `extra`: its header, numbered when repeated.
    pub(super) keys: Vec<String>,
    /// The record being read, as bytes: a cell is decoded as UTF-8 when it is read as
    /// text, and every cell of a line that is kept.
    record: csv::ByteRecord,
    /// Blank lines of a CRLF document, which the csv crate reads as records of one
    /// `\r` field: they are skipped and do not count as records.
    pub(super) skipped: u64,
    /// Whether lines end with a bare CR, which the csv crate does not count as lines.
    pub(super) bare_cr: bool,
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
        let source = Source::new(reader);
        let bare_cr = source.bare_cr;
        let mut builder = csv::ReaderBuilder::new();
        builder
            .has_headers(false)
            .flexible(true)
            .buffer_capacity(64 * 1024);
        if !bare_cr {
            // Records end at a line feed, which the csv crate then counts in the same
            // read: line numbers come out right for CRLF too. The CR before it is cut
            // with the spaces of the last cell, and a CRLF blank line is skipped below.
            builder.terminator(csv::Terminator::Any(b'\n'));
        }
        let mut reader = builder.from_reader(source);
        let mut header = csv::ByteRecord::new();
        let mut skipped = 0;
        loop {
            match reader.read_byte_record(&mut header) {
                Ok(true) => mark_record_end(&mut reader),
                Ok(false) => {
                    return Err(header_error(
                        "no header row (the document is empty)".to_string(),
                        None,
                        1,
                    ));
                }
                Err(err) => return Err(read_failure(&reader, err)),
            }
            if !is_blank(header.iter()) {
                break;
            }
            skipped += 1;
        }
        let line = record_line(&reader, header.position(), header.as_slice(), bare_cr, 0);
        let mut headers = Vec::with_capacity(header.len());
        for cell in &header {
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
        let mut column_fields = vec![None; headers.len()];
        for &(start, end) in &field_columns {
            for (rank, &(field, column)) in columns[start..end].iter().enumerate() {
                if field.read_by_every_row() {
                    let rank = u8::try_from(rank).unwrap_or(u8::MAX - 1);
                    column_fields[column] = Some((field, rank));
                }
            }
        }
        Ok(Self {
            reader,
            columns,
            field_columns,
            column_fields,
            headers,
            keys,
            record: csv::ByteRecord::new(),
            skipped,
            bare_cr,
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
    pub(crate) fn accumulate(mut self, keep_lines: bool) -> Result<(Items, u64), Error> {
        let mut items = Items::default();
        let mut costs = CostsSum::default();
        // Where `capacity` and the first few usage types are in `costs`: most lines
        // find their dimension here, without making or hashing one.
        let mut capacity: Option<usize> = None;
        let mut usages: Vec<(Box<str>, usize)> = Vec::new();
        let mut lines = 0;
        while self.read_record()? {
            lines += 1;
            let row = Row::new(&self, &self.record);
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

    /// Each column's field and its rank among the field's columns (0 the best), if
    /// the column is known and every row reads it, by column.
    #[inline]
    pub(super) fn column_fields(&self) -> &[Option<(Field, u8)>] {
        &self.column_fields
    }

    /// The known columns of `field`, best ranked first.
    #[inline]
    pub(super) fn columns_of(&self, field: Field) -> &[(Field, usize)] {
        let (start, end) = self.field_columns[field as usize];
        self.columns.get(start..end).unwrap_or_default()
    }

    /// Reads the next record that is not a blank line into `self.record`; `false` at
    /// the end of the document.
    fn read_record(&mut self) -> Result<bool, Error> {
        loop {
            match self.reader.read_byte_record(&mut self.record) {
                Ok(false) => return Ok(false),
                Ok(true) => mark_record_end(&mut self.reader),
                Err(err) => {
                    let mut err = read_failure(&self.reader, err);
                    if let Error::Csv(csv) = &mut err {
                        csv.record = csv.record.saturating_sub(self.skipped);
                        if self.bare_cr {
                            csv.line = csv.record.saturating_add(1);
                        }
                    }
                    return Err(err);
                }
            }
            if is_blank(self.record.iter()) {
                self.skipped += 1;
                continue;
            }
            if self.record.len() != self.headers.len() {
                let row = Row::new(self, &self.record);
                return Err(row.error(
                    &format!(
                        "a record with {} fields where the header has {}",
                        self.record.len(),
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
                let row = Row::new(self, &self.record);
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
