//! One record of an items CSV read into a line: its cells by field, its kind by its
//! own evidence, its numbers checked and exact, and an error that says where.
//!
//! A row works on the record's bytes: a cell is decoded as UTF-8 only when it is read
//! as text, and numbers are read straight from their digits.

use std::io::Read;

use jiff::Timestamp;
use rust_decimal::Decimal;

use ec_billing_api::{DecimalError, parse_decimal_bytes};

use super::{
    layout::{FIELD_COUNT, Field, LineKind, Word, trim, word},
    reader::ItemsCsvReader,
    records::Record,
};
use crate::{
    error::{CsvError, CsvErrorKind, Error},
    model::{DtsLine, Extra, Period, Quantity, Rate, ResourceKind, ResourceLine},
    text::quoted,
};

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

/// One field's cell in a row: the first non-empty cell of its columns, trimmed.
#[derive(Clone, Copy, Debug)]
pub(super) struct Cell<'a> {
    column: usize,
    bytes: &'a [u8],
}

/// The typed values of a row, every field checked; the text fields stay borrowed.
enum Values<'a> {
    Resource {
        cost: Decimal,
        kind: &'a str,
        hours: i64,
        instance_count: i32,
        period: Period,
        price_per_hour: Decimal,
    },
    Dts {
        cost: Decimal,
        usage_type: &'a str,
        quantity: Decimal,
        rate: Decimal,
    },
}

/// A row, read: its checked values, and the columns of its line type and of its kind
/// (resource) or usage type (DTS).
pub(super) struct Parsed<'a> {
    values: Values<'a>,
    line_type: Option<usize>,
    label: Option<usize>,
}

impl<'a> Parsed<'a> {
    /// The line's cost and the usage type that names its dimension: `None` for a
    /// resource line (`capacity`).
    #[inline]
    pub(super) fn cost_and_usage(&self) -> (Decimal, Option<&'a str>) {
        match self.values {
            Values::Resource { cost, .. } => (cost, None),
            Values::Dts {
                cost, usage_type, ..
            } => (cost, Some(usage_type)),
        }
    }
}

/// The numbers of a row that weigh as evidence, parsed, each with its column.
#[derive(Clone, Copy, Default)]
struct Numbers {
    hours: Option<(usize, i64)>,
    instance_count: Option<(usize, i32)>,
    price_per_hour: Option<(usize, Decimal)>,
    quantity: Option<(usize, Decimal)>,
    rate: Option<(usize, Decimal)>,
}

/// A kind-like cell and what it says.
type Labelled<'a> = Option<(Cell<'a>, Word)>;

/// One record being read, with the reader's column map and the record's cell of each
/// field.
pub(super) struct Row<'a, R> {
    reader: &'a ItemsCsvReader<R>,
    record: Record<'a>,
    cells: [Option<Cell<'a>>; FIELD_COUNT],
}

impl<'a, R: Read> Row<'a, R> {
    #[inline]
    pub(super) fn new(reader: &'a ItemsCsvReader<R>, record: Record<'a>) -> Self {
        // The first non-empty cell of each field's columns, best ranked first.
        let mut cells: [Option<Cell<'a>>; FIELD_COUNT] = [None; FIELD_COUNT];
        for &(field, column) in reader.walk() {
            let cell = &mut cells[field as usize];
            if cell.is_none() {
                let bytes = trim(record.get(column).unwrap_or_default());
                if !bytes.is_empty() {
                    *cell = Some(Cell { column, bytes });
                }
            }
        }
        Self {
            reader,
            record,
            cells,
        }
    }

    /// The cell of `field`: the first non-empty cell of its columns, best ranked first.
    #[inline]
    fn cell(&self, field: Field) -> Option<Cell<'a>> {
        if field.read_by_every_row() {
            return self.cells[field as usize];
        }
        let record = self.record;
        self.reader
            .columns_of(field)
            .iter()
            .find_map(|&(_, column)| {
                let bytes = trim(record.get(column).unwrap_or_default());
                (!bytes.is_empty()).then_some(Cell { column, bytes })
            })
    }

    /// The column of `field`'s cell, if not empty.
    fn column(&self, field: Field) -> Option<usize> {
        self.cell(field).map(|cell| cell.column)
    }

    /// A cell's text; an error naming the column when it is not UTF-8.
    fn text(&self, cell: Cell<'a>) -> Result<&'a str, Error> {
        std::str::from_utf8(cell.bytes).map_err(|_| self.error("invalid UTF-8", Some(cell.column)))
    }

    /// Checks that every cell of the record is UTF-8, as a line keeps them as text.
    pub(super) fn check_utf8(&self) -> Result<(), Error> {
        if self.record.as_slice().is_ascii() || std::str::from_utf8(self.record.as_slice()).is_ok()
        {
            return Ok(());
        }
        let column = self
            .record
            .iter()
            .position(|cell| std::str::from_utf8(cell).is_err());
        Err(self.error("invalid UTF-8", column))
    }

    /// The row's kind of line and its checked values.
    #[inline(always)]
    pub(super) fn parse(&self) -> Result<Parsed<'a>, Error> {
        let cost = match self.cell(Field::Cost) {
            Some(cell) => self.decimal(cell)?,
            None => return Err(self.field_error("missing cost", Field::Cost)),
        };
        let mut line_type = match self.cell(Field::LineType) {
            None => None,
            Some(cell) => match word(cell.bytes) {
                Word::Line(line_kind) => Some((cell, line_kind)),
                _ => {
                    let text = String::from_utf8_lossy(cell.bytes);
                    return Err(self.error(
                        &format!("unknown line type \"{}\"", quoted(&text)),
                        Some(cell.column),
                    ));
                }
            },
        };
        let mut kind: Labelled<'a> = self.cell(Field::Kind).map(|cell| (cell, word(cell.bytes)));
        let mut usage: Labelled<'a> = self
            .cell(Field::UsageType)
            .map(|cell| (cell, word(cell.bytes)));
        // The `type` cell, read by its value, ranks below the fields' own columns.
        if let Some(cell) = self.cell(Field::Type) {
            match word(cell.bytes) {
                Word::Line(line_kind) => line_type = line_type.or(Some((cell, line_kind))),
                found @ Word::ResourceKind(_) => kind = kind.or(Some((cell, found))),
                found @ (Word::Dimension(_) | Word::Other) => {
                    usage = usage.or(Some((cell, found)));
                }
            }
        }
        let mut numbers = Numbers::default();
        let line_kind = match line_type {
            Some((_, LineKind::Resource)) => {
                self.resource_numbers(&mut numbers)?;
                LineKind::Resource
            }
            Some((_, LineKind::Dts)) => {
                self.dts_numbers(&mut numbers)?;
                LineKind::Dts
            }
            None => {
                self.resource_numbers(&mut numbers)?;
                self.dts_numbers(&mut numbers)?;
                self.weigh(kind, usage, &numbers)?
            }
        };
        let value = |n: Option<(usize, Decimal)>| n.map_or(Decimal::ZERO, |(_, v)| v);
        let (values, label) = match line_kind {
            LineKind::Resource => {
                let start = self.instant(Field::PeriodStart)?;
                let end = self.instant(Field::PeriodEnd)?;
                let kind_text = match kind {
                    None => "",
                    Some((_, Word::ResourceKind(documented))) => documented,
                    Some((cell, _)) => self.text(cell)?,
                };
                let values = Values::Resource {
                    cost,
                    kind: kind_text,
                    hours: numbers.hours.map_or(0, |(_, v)| v),
                    instance_count: numbers.instance_count.map_or(0, |(_, v)| v),
                    period: Period { start, end },
                    price_per_hour: value(numbers.price_per_hour),
                };
                (values, kind.map(|(cell, _)| cell))
            }
            LineKind::Dts => {
                // The usage type may stand in the kind column.
                let label = usage.or(kind);
                let usage_type = match label {
                    None => "",
                    Some((_, Word::Dimension(documented))) => documented,
                    Some((cell, _)) => self.text(cell)?,
                };
                let values = Values::Dts {
                    cost,
                    usage_type,
                    quantity: value(numbers.quantity),
                    rate: value(numbers.rate),
                };
                (values, label.map(|(cell, _)| cell))
            }
        };
        Ok(Parsed {
            values,
            line_type: line_type.map(|(cell, _)| cell.column),
            label: label.map(|cell| cell.column),
        })
    }

    /// The kind of a row without a line-type cell, from its evidence (see the module
    /// docs).
    fn weigh(
        &self,
        kind: Labelled<'a>,
        usage: Labelled<'a>,
        numbers: &Numbers,
    ) -> Result<LineKind, Error> {
        /// The column of a number that is not zero.
        fn non_zero<T: Default + PartialEq>(number: Option<(usize, T)>) -> Option<usize> {
            number
                .filter(|(_, value)| *value != T::default())
                .map(|(column, _)| column)
        }
        let kind_column = kind.map(|(cell, _)| cell.column);
        let (resource_kind, dts_kind) = match kind {
            Some((_, Word::ResourceKind(_))) => (kind_column, None),
            Some((_, Word::Dimension(_))) => (None, kind_column),
            _ => (None, None),
        };
        let resource_evidence = [
            non_zero(numbers.hours),
            non_zero(numbers.instance_count),
            non_zero(numbers.price_per_hour),
            resource_kind,
        ];
        let is_resource = resource_evidence.iter().any(Option::is_some);
        let dts_numbers = [non_zero(numbers.quantity), non_zero(numbers.rate)];
        let usage_column = usage.map(|(cell, _)| cell.column);
        // The formatted cells are looked at only when nothing else is DTS evidence.
        let quick_dts = dts_numbers.iter().any(Option::is_some) || usage_column.is_some();
        let dts_evidence = || {
            [
                dts_numbers[0],
                dts_numbers[1],
                self.column(Field::QuantityFormatted),
                self.column(Field::RateFormatted),
                usage_column,
                dts_kind,
            ]
        };
        let is_dts = quick_dts || dts_kind.is_some() || dts_evidence().iter().any(Option::is_some);
        match (is_resource, is_dts) {
            (true, false) => Ok(LineKind::Resource),
            (false, true) => Ok(LineKind::Dts),
            (true, true) => Err(self.error(
                &format!(
                    "ambiguous: resource columns ({}) and data-transfer-and-storage \
                     columns ({})",
                    self.header_list(&resource_evidence),
                    self.header_list(&dts_evidence())
                ),
                None,
            )),
            (false, false) => {
                let present = |field: Field| self.column(field).is_some();
                if [
                    Field::Hours,
                    Field::InstanceCount,
                    Field::PricePerHour,
                    Field::PeriodStart,
                    Field::PeriodEnd,
                ]
                .into_iter()
                .any(present)
                {
                    Ok(LineKind::Resource)
                } else if present(Field::Quantity) || present(Field::Rate) {
                    Ok(LineKind::Dts)
                } else {
                    Err(self.error(
                        "a line with neither resource columns (hours, period, price per \
                         hour) nor data-transfer-and-storage columns (quantity, rate)",
                        None,
                    ))
                }
            }
        }
    }

    /// The headers of some columns, for a message: `Hours, Instance Count`.
    fn header_list(&self, columns: &[Option<usize>]) -> String {
        let mut seen = Vec::new();
        for column in columns.iter().flatten() {
            if !seen.contains(column) {
                seen.push(*column);
            }
        }
        seen.iter()
            .map(|&column| quoted(&self.reader.headers[column]))
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn resource_numbers(&self, numbers: &mut Numbers) -> Result<(), Error> {
        numbers.hours = self.number_of(Field::Hours)?;
        numbers.instance_count = self.number_of(Field::InstanceCount)?;
        numbers.price_per_hour = self.decimal_of(Field::PricePerHour)?;
        Ok(())
    }

    fn dts_numbers(&self, numbers: &mut Numbers) -> Result<(), Error> {
        numbers.quantity = self.decimal_of(Field::Quantity)?;
        numbers.rate = self.decimal_of(Field::Rate)?;
        Ok(())
    }

    /// The line, from the row's checked values and its text fields; the record was
    /// checked to be UTF-8 ([`check_utf8`](Self::check_utf8)).
    pub(super) fn line(&self, parsed: Parsed<'_>) -> ItemLine {
        let extra = self.extra(&parsed);
        let text = |field: Field| {
            self.cell(field)
                .map(|cell| String::from_utf8_lossy(cell.bytes).into_owned())
                .unwrap_or_default()
        };
        match parsed.values {
            Values::Resource {
                cost,
                kind,
                hours,
                instance_count,
                period,
                price_per_hour,
            } => ItemLine::Resource(ResourceLine {
                kind: ResourceKind::from(kind),
                name: text(Field::Name),
                sku: text(Field::Sku),
                hours,
                instance_count,
                period,
                cost,
                price_per_hour,
                extra,
            }),
            Values::Dts {
                cost,
                usage_type,
                quantity,
                rate,
            } => ItemLine::Dts(DtsLine {
                name: text(Field::Name),
                sku: text(Field::Sku),
                usage_type: usage_type.to_string(),
                quantity: Quantity {
                    value: quantity,
                    formatted: text(Field::QuantityFormatted),
                },
                rate: Rate {
                    value: rate,
                    formatted: text(Field::RateFormatted),
                },
                cost,
                extra,
            }),
        }
    }

    /// Every non-empty cell the line does not use, by its column's key.
    fn extra(&self, parsed: &Parsed<'_>) -> Extra {
        let fields: &[Field] = match parsed.values {
            Values::Resource { .. } => &[
                Field::Name,
                Field::Sku,
                Field::Cost,
                Field::Hours,
                Field::InstanceCount,
                Field::PeriodStart,
                Field::PeriodEnd,
                Field::PricePerHour,
            ],
            Values::Dts { .. } => &[
                Field::Name,
                Field::Sku,
                Field::Cost,
                Field::Quantity,
                Field::QuantityFormatted,
                Field::Rate,
                Field::RateFormatted,
            ],
        };
        let used = |column: usize| {
            parsed.line_type == Some(column)
                || parsed.label == Some(column)
                || fields
                    .iter()
                    .any(|&f| self.column(f).is_some_and(|c| c == column))
        };
        self.record
            .iter()
            .enumerate()
            .filter_map(|(column, cell)| {
                let bytes = trim(cell);
                (!bytes.is_empty() && !used(column)).then(|| {
                    (
                        self.reader.keys[column].clone(),
                        String::from_utf8_lossy(bytes).into_owned(),
                    )
                })
            })
            .collect()
    }

    /// The decimal cell of `field`, exact, with its column; `None` when empty.
    #[inline]
    fn decimal_of(&self, field: Field) -> Result<Option<(usize, Decimal)>, Error> {
        match self.cell(field) {
            None => Ok(None),
            Some(cell) => Ok(Some((cell.column, self.decimal(cell)?))),
        }
    }

    /// The whole-number cell of `field`, with its column; `None` when empty.
    #[inline]
    fn number_of<T: Whole>(&self, field: Field) -> Result<Option<(usize, T)>, Error> {
        match self.cell(field) {
            None => Ok(None),
            Some(cell) => Ok(Some((cell.column, self.number(cell)?))),
        }
    }

    /// A decimal cell, exact.
    #[inline]
    fn decimal(&self, cell: Cell<'_>) -> Result<Decimal, Error> {
        match parse_decimal_bytes(cell.bytes) {
            Ok(value) => Ok(value),
            Err(err) => Err(self.decimal_error(cell, err)),
        }
    }

    #[cold]
    fn decimal_error(&self, cell: Cell<'_>, err: DecimalError) -> Error {
        let problem = match err {
            DecimalError::Syntax => "invalid decimal",
            _ => "inexact decimal (more digits than an exact decimal holds)",
        };
        let text = String::from_utf8_lossy(cell.bytes);
        self.error(
            &format!("{problem} \"{}\"", quoted(&text)),
            Some(cell.column),
        )
    }

    /// A whole-number cell.
    #[inline]
    fn number<T: Whole>(&self, cell: Cell<'_>) -> Result<T, Error> {
        match T::from_digits(cell.bytes) {
            Some(value) => Ok(value),
            None => Err(self.number_error(cell)),
        }
    }

    #[cold]
    fn number_error(&self, cell: Cell<'_>) -> Error {
        let text = String::from_utf8_lossy(cell.bytes);
        self.error(
            &format!("invalid whole number \"{}\"", quoted(&text)),
            Some(cell.column),
        )
    }

    /// A required instant: RFC 3339 with any offset, or a date (midnight UTC).
    fn instant(&self, field: Field) -> Result<Timestamp, Error> {
        let Some(cell) = self.cell(field) else {
            return Err(self.field_error("missing date-time", field));
        };
        let mut periods = self.reader.periods.borrow_mut();
        let (last_text, last) = &mut periods[usize::from(field == Field::PeriodEnd)];
        if let Some(instant) = last.filter(|_| last_text.as_slice() == cell.bytes) {
            return Ok(instant);
        }
        let instant = std::str::from_utf8(cell.bytes)
            .ok()
            .and_then(|text| {
                text.parse::<Timestamp>().ok().or_else(|| {
                    let date: jiff::civil::Date = text.parse().ok()?;
                    date.to_zoned_datetime(jiff::tz::TimeZone::UTC)
                        .ok()
                        .map(|z| z.timestamp())
                })
            })
            .ok_or_else(|| {
                let text = String::from_utf8_lossy(cell.bytes);
                self.error(
                    &format!("invalid date-time \"{}\"", quoted(&text)),
                    Some(cell.column),
                )
            })?;
        last_text.clear();
        last_text.extend_from_slice(cell.bytes);
        *last = Some(instant);
        Ok(instant)
    }

    /// An error about a field with no cell in the row: it names the field's best
    /// column, or the field itself when the document has no column for it.
    fn field_error(&self, problem: &str, field: Field) -> Error {
        match self.reader.columns_of(field).first() {
            Some(&(_, column)) => self.error(problem, Some(column)),
            None => {
                let mut err = self.error(problem, None);
                if let Error::Csv(csv) = &mut err {
                    csv.column = Some(field.name().to_string());
                }
                err
            }
        }
    }

    /// An error about this record, naming `column` when one is to blame.
    pub(super) fn error(&self, problem: &str, column: Option<usize>) -> Error {
        let position = self.record.position;
        let record = position.record.saturating_sub(self.reader.skipped);
        // A bare-CR document's lines are counted by record.
        let line = if self.reader.records.bare_cr() {
            record.saturating_add(1)
        } else {
            self.record.line
        };
        CsvError {
            kind: CsvErrorKind::Malformed,
            problem: problem.to_string(),
            column: column.map(|index| self.reader.headers[index].clone()),
            record,
            line,
            byte: position.byte,
            source: None,
        }
        .into()
    }
}

/// A whole number read straight from a cell's digits: an optional sign, then ASCII
/// digits, as `str::parse` reads them; `None` for anything else or on overflow.
trait Whole: Sized + Copy {
    fn from_digits(bytes: &[u8]) -> Option<Self>;
}

macro_rules! whole {
    ($($t:ty),*) => {$(
        impl Whole for $t {
            #[inline]
            fn from_digits(bytes: &[u8]) -> Option<Self> {
                let (negative, digits) = match bytes.split_first()? {
                    (b'-', rest) => (true, rest),
                    (b'+', rest) => (false, rest),
                    _ => (false, bytes),
                };
                if digits.is_empty() {
                    return None;
                }
                let mut value: $t = 0;
                for &byte in digits {
                    let digit = byte.wrapping_sub(b'0');
                    if digit > 9 {
                        return None;
                    }
                    value = value.checked_mul(10)?;
                    value = if negative {
                        value.checked_sub(<$t>::from(digit))?
                    } else {
                        value.checked_add(<$t>::from(digit))?
                    };
                }
                Some(value)
            }
        }
    )*};
}

whole!(i32, i64);
