//! The items endpoint's CSV (`Accept: text/csv`), read by header name, one line at a
//! time, into the same types as the JSON.
//!
//! Upstream documents no layout, so nothing here depends on column positions. Header
//! names match loosely (case-insensitive; space, `-`, `_` and `.` equivalent), columns
//! come in any order, and columns this reader does not know are kept by name in each
//! line's `extra`.

use std::{cell::RefCell, io::Read, str::FromStr};

use jiff::Timestamp;
use rust_decimal::Decimal;

use ec_billing_api::parse_decimal;

use crate::{
    error::{CsvError, Error, OverflowError},
    model::{
        Costs, Dimension, DtsLine, Extra, Items, Period, Quantity, Rate, ResourceKind,
        ResourceLine, add_dimension,
    },
    text::quoted,
};

/// The fields this reader knows, each with the header names it answers to (already in
/// loose form: lowercase, separators as `_`).
const FIELDS: &[(Field, &[&str])] = &[
    (Field::Kind, &["kind", "resource_kind"]),
    (Field::UsageType, &["type", "usage_type", "dts_type"]),
    (Field::Name, &["name", "description"]),
    (Field::Sku, &["sku"]),
    (Field::Hours, &["hours"]),
    (Field::InstanceCount, &["instance_count", "instances"]),
    (Field::PeriodStart, &["period_start", "start", "from"]),
    (Field::PeriodEnd, &["period_end", "end", "to"]),
    (Field::PricePerHour, &["price_per_hour", "hourly_price"]),
    (Field::Cost, &["cost", "price"]),
    (Field::Quantity, &["quantity", "quantity_value"]),
    (
        Field::QuantityFormatted,
        &[
            "quantity_formatted",
            "formatted_quantity",
            "quantity_formatted_value",
        ],
    ),
    (Field::Rate, &["rate", "rate_value"]),
    (
        Field::RateFormatted,
        &["rate_formatted", "formatted_rate", "rate_formatted_value"],
    ),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Field {
    Kind,
    UsageType,
    Name,
    Sku,
    Hours,
    InstanceCount,
    PeriodStart,
    PeriodEnd,
    PricePerHour,
    Cost,
    Quantity,
    QuantityFormatted,
    Rate,
    RateFormatted,
}

const FIELD_COUNT: usize = 14;

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

/// Reads an items CSV one line at a time, driven by its header row.
///
/// Memory stays flat whatever the document's size: one record is held at a time.
/// A malformed record is an error naming its record, line and column.
///
/// ```
/// use ec_billing::{ItemLine, ItemsCsvReader};
///
/// let csv = "\
/// Kind,Name,SKU,Hours,Instance Count,Period Start,Period End,Price Per Hour,Cost,Region
/// elasticsearch,ES hot,gcp.es.hot,744,2,2024-01-01T00:00:00Z,2024-02-01T00:00:00Z,0.68,1011.84,us-central1
/// ";
/// let mut lines = ItemsCsvReader::new(csv.as_bytes())?;
/// let Some(Ok(ItemLine::Resource(es))) = lines.next() else { panic!() };
/// assert_eq!(es.cost.to_string(), "1011.84");
/// assert_eq!(es.extra.get("Region"), Some("us-central1"));
/// # Ok::<(), ec_billing::Error>(())
/// ```
#[derive(Debug)]
pub struct ItemsCsvReader<R> {
    reader: csv::Reader<R>,
    /// Column index of each known field, by `Field as usize`.
    columns: [Option<usize>; FIELD_COUNT],
    /// Header text of every column, as the document spells it.
    headers: Vec<String>,
    /// Columns no field claims, kept by name.
    unknown: Vec<usize>,
    record: csv::StringRecord,
    /// The last period start and end read, by their text: consecutive lines mostly
    /// share them, and a cached instant saves parsing it again.
    periods: RefCell<[(String, Option<Timestamp>); 2]>,
}

impl<R: Read> ItemsCsvReader<R> {
    /// Reads the header row of `reader`.
    ///
    /// # Errors
    ///
    /// [`Error::Csv`] when the header row cannot be read, names a field twice, or has no
    /// cost column (`cost` or `price`).
    pub fn new(reader: R) -> Result<Self, Error> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(false)
            .from_reader(reader);
        let header_record = reader.byte_headers().map_err(csv_failure)?.clone();
        let headers: Vec<String> = header_record
            .iter()
            .map(|h| String::from_utf8_lossy(h).trim().to_string())
            .collect();
        let mut columns = [None; FIELD_COUNT];
        let mut unknown = Vec::new();
        for (index, header) in headers.iter().enumerate() {
            let loose = loose_name(header);
            let field = FIELDS
                .iter()
                .find(|(_, names)| names.contains(&loose.as_str()))
                .map(|(f, _)| *f);
            let Some(field) = field else {
                unknown.push(index);
                continue;
            };
            match columns[field as usize] {
                None => columns[field as usize] = Some(index),
                // `cost` and `price` both present: `cost` wins, `price` is kept as extra.
                Some(previous)
                    if field == Field::Cost && loose_name(&headers[previous]) != loose =>
                {
                    if loose == "cost" {
                        unknown.push(previous);
                        columns[field as usize] = Some(index);
                    } else {
                        unknown.push(index);
                    }
                }
                Some(previous) => {
                    return Err(header_error(format!(
                        "columns \"{}\" and \"{header}\" name the same field",
                        headers[previous]
                    )));
                }
            }
        }
        if columns[Field::Cost as usize].is_none() {
            return Err(header_error(
                "no cost column (headed \"cost\" or \"price\")".to_string(),
            ));
        }
        unknown.sort_unstable();
        Ok(Self {
            reader,
            columns,
            headers,
            unknown,
            record: csv::StringRecord::new(),
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
        let mut lines = 0;
        while self
            .reader
            .read_record(&mut self.record)
            .map_err(csv_failure)?
        {
            lines += 1;
            let row = Row {
                reader: &self,
                record: &self.record,
            };
            let values = row.values()?;
            let (cost, dimension) = match &values {
                Values::Resource { cost, .. } => (*cost, Dimension::Capacity),
                Values::Dts {
                    cost, usage_type, ..
                } => (*cost, Dimension::from(*usage_type)),
            };
            add_dimension(&mut items.costs.dimensions, dimension, cost)?;
            if keep_lines {
                match row.line(values) {
                    ItemLine::Resource(line) => items.resources.push(line),
                    ItemLine::Dts(line) => items.data_transfer_and_storage.push(line),
                }
            }
        }
        // Every line counts toward exactly one dimension.
        items.costs.total = items
            .costs
            .dimensions
            .iter()
            .try_fold(Decimal::ZERO, |total, d| total.checked_add(d.cost))
            .ok_or_else(|| OverflowError::new("costs.total"))?;
        Ok((items, lines))
    }
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

impl<R: Read> Iterator for ItemsCsvReader<R> {
    type Item = Result<ItemLine, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.reader.read_record(&mut self.record) {
            Ok(false) => None,
            Ok(true) => {
                let row = Row {
                    reader: self,
                    record: &self.record,
                };
                Some(row.values().map(|values| row.line(values)))
            }
            Err(err) => Some(Err(csv_failure(err))),
        }
    }
}

/// One record being read, with the reader's column map.
struct Row<'a, R> {
    reader: &'a ItemsCsvReader<R>,
    record: &'a csv::StringRecord,
}

impl<'a, R> Row<'a, R> {
    /// Every typed field of the row, checked: the cost, and either the resource or the
    /// data-transfer-and-storage fields.
    fn values(&self) -> Result<Values<'a>, Error> {
        let cost = self
            .decimal(Field::Cost)?
            .ok_or_else(|| self.error("missing cost", Some(Field::Cost)))?;
        let is_resource = [
            Field::Kind,
            Field::Hours,
            Field::InstanceCount,
            Field::PricePerHour,
            Field::PeriodStart,
        ]
        .into_iter()
        .any(|f| self.text(f).is_some_and(|t| !t.is_empty()));
        if is_resource {
            return Ok(Values::Resource {
                cost,
                kind: self.text(Field::Kind).unwrap_or_default(),
                hours: self.number(Field::Hours)?.unwrap_or(0),
                instance_count: self.number(Field::InstanceCount)?.unwrap_or(0),
                period: Period {
                    start: self.instant(Field::PeriodStart)?,
                    end: self.instant(Field::PeriodEnd)?,
                },
                price_per_hour: self.decimal(Field::PricePerHour)?.unwrap_or_default(),
            });
        }
        let quantity = self.decimal(Field::Quantity)?;
        let rate = self.decimal(Field::Rate)?;
        if quantity.is_none() && rate.is_none() {
            return Err(self.error(
                "a line with neither resource columns (hours, period, price per hour) \
                 nor data-transfer-and-storage columns (quantity, rate)",
                None,
            ));
        }
        Ok(Values::Dts {
            cost,
            usage_type: self.text(Field::UsageType).unwrap_or_default(),
            quantity: quantity.unwrap_or_default(),
            rate: rate.unwrap_or_default(),
        })
    }

    /// The line, from the row's checked values and its text fields.
    fn line(&self, values: Values<'_>) -> ItemLine {
        let extra = self.extra();
        match values {
            Values::Resource {
                cost,
                kind,
                hours,
                instance_count,
                period,
                price_per_hour,
            } => ItemLine::Resource(ResourceLine {
                kind: ResourceKind::from(kind),
                name: self.string(Field::Name),
                sku: self.string(Field::Sku),
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
                name: self.string(Field::Name),
                sku: self.string(Field::Sku),
                usage_type: usage_type.to_string(),
                quantity: Quantity {
                    value: quantity,
                    formatted: self.string(Field::QuantityFormatted),
                },
                rate: Rate {
                    value: rate,
                    formatted: self.string(Field::RateFormatted),
                },
                cost,
                extra,
            }),
        }
    }

    /// The trimmed text of a field, `None` when its column is absent. The record was
    /// checked to be UTF-8 once, as a whole, when it was read.
    fn text(&self, field: Field) -> Option<&'a str> {
        let index = self.reader.columns[field as usize]?;
        self.record.get(index).map(str::trim)
    }

    fn string(&self, field: Field) -> String {
        self.text(field).unwrap_or_default().to_string()
    }

    /// A decimal field; `None` when absent or empty.
    fn decimal(&self, field: Field) -> Result<Option<Decimal>, Error> {
        match self.text(field) {
            None | Some("") => Ok(None),
            Some(text) => parse_decimal(text).map(Some).map_err(|err| {
                let problem = match err {
                    ec_billing_api::DecimalError::Syntax => "invalid decimal",
                    _ => "inexact decimal (more digits than an exact decimal holds)",
                };
                self.error(&format!("{problem} \"{}\"", quoted(text)), Some(field))
            }),
        }
    }

    /// An integer field; `None` when absent or empty.
    fn number<T: FromStr>(&self, field: Field) -> Result<Option<T>, Error> {
        match self.text(field) {
            None | Some("") => Ok(None),
            Some(text) => text
                .parse()
                .map(Some)
                .map_err(|_| self.error(&format!("invalid whole number \"{text}\""), Some(field))),
        }
    }

    /// A required instant: RFC 3339 with any offset, or a date (midnight UTC).
    fn instant(&self, field: Field) -> Result<Timestamp, Error> {
        let text = self.text(field).unwrap_or_default();
        if text.is_empty() {
            return Err(self.error("missing date-time", Some(field)));
        }
        let mut periods = self.reader.periods.borrow_mut();
        let (last_text, last) = &mut periods[usize::from(field == Field::PeriodEnd)];
        if let Some(instant) = last.filter(|_| last_text == text) {
            return Ok(instant);
        }
        let instant = text
            .parse::<Timestamp>()
            .ok()
            .or_else(|| {
                let date: jiff::civil::Date = text.parse().ok()?;
                date.to_zoned_datetime(jiff::tz::TimeZone::UTC)
                    .ok()
                    .map(|z| z.timestamp())
            })
            .ok_or_else(|| self.error(&format!("invalid date-time \"{text}\""), Some(field)))?;
        last_text.clear();
        last_text.push_str(text);
        *last = Some(instant);
        Ok(instant)
    }

    fn extra(&self) -> Extra {
        self.reader
            .unknown
            .iter()
            .filter_map(|&index| {
                let value = self.record.get(index)?.trim().to_string();
                Some((self.reader.headers[index].clone(), value))
            })
            .collect()
    }

    fn error(&self, problem: &str, field: Option<Field>) -> Error {
        let position = self
            .record
            .position()
            .cloned()
            .unwrap_or_else(csv::Position::new);
        let column = field
            .and_then(|f| self.reader.columns[f as usize])
            .map(|index| self.reader.headers[index].clone())
            .or_else(|| field.map(|f| format!("{f:?}")));
        CsvError {
            problem: problem.to_string(),
            column,
            record: position.record(),
            line: position.line(),
            source: None,
        }
        .into()
    }
}

/// A header in loose form: lowercase, runs of space, `-`, `_` and `.` as one `_`.
fn loose_name(header: &str) -> String {
    let mut loose = String::with_capacity(header.len());
    for c in header.trim().trim_start_matches('\u{feff}').chars() {
        if matches!(c, ' ' | '-' | '_' | '.') {
            if !loose.is_empty() && !loose.ends_with('_') {
                loose.push('_');
            }
        } else {
            loose.extend(c.to_lowercase());
        }
    }
    loose.trim_end_matches('_').to_string()
}

fn header_error(problem: String) -> Error {
    CsvError {
        problem,
        column: None,
        record: 0,
        line: 1,
        source: None,
    }
    .into()
}

/// A failure of the csv crate itself: an I/O error is passed on as one (the caller
/// knows whether it came from the network), anything else becomes a [`CsvError`].
fn csv_failure(err: csv::Error) -> Error {
    let position = err.position().cloned().unwrap_or_else(csv::Position::new);
    let problem = match err.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => {
            format!("a record with {len} fields where the header has {expected_len}")
        }
        csv::ErrorKind::Io(_) => "the document could not be read".to_string(),
        csv::ErrorKind::Utf8 { err, .. } => format!("invalid UTF-8 in field {}", err.field() + 1),
        _ => "malformed CSV".to_string(),
    };
    CsvError {
        problem,
        column: None,
        record: position.record(),
        line: position.line(),
        source: Some(Box::new(err)),
    }
    .into()
}

/// Whether `err` is a [`CsvError`] caused by the underlying reader failing.
pub(crate) fn io_cause(err: &Error) -> Option<&std::io::Error> {
    let Error::Csv(csv_err) = err else {
        return None;
    };
    let source = csv_err.source.as_deref()?;
    match source.downcast_ref::<csv::Error>()?.kind() {
        csv::ErrorKind::Io(io) => Some(io),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loose_names_ignore_case_and_separator_style() {
        for header in [
            "Price Per Hour",
            "price_per_hour",
            "PRICE-PER-HOUR",
            "price.per.hour",
            " Price  Per_Hour ",
        ] {
            assert_eq!(loose_name(header), "price_per_hour", "{header}");
        }
    }

    #[test]
    fn a_document_without_a_cost_column_is_refused_at_the_header() {
        let err = ItemsCsvReader::new("name,sku\nx,y\n".as_bytes()).unwrap_err();
        assert!(err.to_string().contains("no cost column"), "{err}");
    }
}
