//! The items endpoint's CSV (`Accept: text/csv`), read by header name, one line at a
//! time, into the same types as the JSON.
//!
//! The layout rules below live in `items_csv.md`: they are both this module's docs and
//! the "Layouts" section of [`ItemsCsvReader`]'s public docs.
//!
#![doc = include_str!("items_csv.md")]

use std::{
    cell::RefCell,
    collections::{BTreeMap, BTreeSet},
    fmt,
    io::{self, Read},
    str::FromStr,
};

use jiff::Timestamp;
use rust_decimal::Decimal;

use ec_billing_api::parse_decimal;

use crate::{
    error::{CsvError, CsvErrorKind, Error, OverflowError},
    model::{
        Costs, CostsSum, Dimension, DtsLine, Extra, Items, Period, Quantity, Rate, ResourceKind,
        ResourceLine,
    },
    text::quoted,
};

/// The fields this reader knows, each with the header names it answers to, in loose
/// form (lowercase, separators as `_`) and in rank order: the one table of aliases.
const FIELDS: [(Field, &[&str]); FIELD_COUNT] = [
    (
        Field::LineType,
        &[
            "line_type",
            "item_type",
            "record_type",
            "row_type",
            "category",
        ],
    ),
    (Field::Type, &["type"]),
    (Field::Kind, &["kind", "resource_kind", "resource_type"]),
    (
        Field::UsageType,
        &["usage_type", "dts_type", "dimension", "usage_kind"],
    ),
    (Field::Name, &["name", "description", "item_name"]),
    (Field::Sku, &["sku", "sku_id", "item_sku"]),
    (
        Field::Hours,
        &["hours", "usage_hours", "hours_used", "total_hours"],
    ),
    (
        Field::InstanceCount,
        &["instance_count", "instances", "instances_count"],
    ),
    (
        Field::PeriodStart,
        &[
            "period_start",
            "start",
            "from",
            "start_time",
            "usage_start",
            "period_from",
            "start_date",
        ],
    ),
    (
        Field::PeriodEnd,
        &[
            "period_end",
            "end",
            "to",
            "end_time",
            "usage_end",
            "period_to",
            "end_date",
        ],
    ),
    (
        Field::PricePerHour,
        &[
            "price_per_hour",
            "hourly_price",
            "hourly_rate",
            "cost_per_hour",
        ],
    ),
    (
        Field::Cost,
        &[
            "cost",
            "price",
            "amount",
            "cost_ecu",
            "total_cost",
            "total_ecu",
            "ecu",
        ],
    ),
    (
        Field::Quantity,
        &["quantity", "quantity_value", "usage", "usage_quantity"],
    ),
    (
        Field::QuantityFormatted,
        &[
            "quantity_formatted",
            "formatted_quantity",
            "quantity_formatted_value",
        ],
    ),
    (Field::Rate, &["rate", "rate_value", "unit_rate"]),
    (
        Field::RateFormatted,
        &["rate_formatted", "formatted_rate", "rate_formatted_value"],
    ),
];

/// A field of a line, or a column that stands for one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Field {
    /// Resource or DTS.
    LineType,
    /// Upstream's ambiguous `type`: a line type, a kind or a usage type, by value.
    Type,
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

const FIELD_COUNT: usize = 16;

impl Field {
    /// The field's name: its first alias.
    fn name(self) -> &'static str {
        FIELDS[self as usize].1[0]
    }

    /// Whether every row reads the field's cell, before it is classified: all but the
    /// name and SKU, which only a line needs.
    #[inline]
    fn eager(self) -> bool {
        !matches!(self, Self::Name | Self::Sku)
    }
}

/// The values of a kind-like or line-type cell this reader knows, in loose form, and
/// what each means: the line-type words, the resource kinds and the DTS dimensions
/// upstream documents.
const WORDS: [(&str, Word); 23] = [
    // The values most rows hold come first.
    ("elasticsearch", Word::ResourceKind("elasticsearch")),
    ("kibana", Word::ResourceKind("kibana")),
    ("data_out", Word::Dimension("data_out")),
    ("storage_bytes", Word::Dimension("storage_bytes")),
    ("apm", Word::ResourceKind("apm")),
    (
        "integrations_server",
        Word::ResourceKind("integrations_server"),
    ),
    ("appsearch", Word::ResourceKind("appsearch")),
    ("enterprise_search", Word::ResourceKind("enterprise_search")),
    ("data_in", Word::Dimension("data_in")),
    ("data_internode", Word::Dimension("data_internode")),
    ("storage_api", Word::Dimension("storage_api")),
    ("resource", Word::Line(LineKind::Resource)),
    ("resources", Word::Line(LineKind::Resource)),
    ("resource_line", Word::Line(LineKind::Resource)),
    ("instance", Word::Line(LineKind::Resource)),
    ("instances", Word::Line(LineKind::Resource)),
    ("capacity", Word::Line(LineKind::Resource)),
    ("data_transfer_and_storage", Word::Line(LineKind::Dts)),
    ("dts", Word::Line(LineKind::Dts)),
    ("dts_line", Word::Line(LineKind::Dts)),
    ("data_transfer", Word::Line(LineKind::Dts)),
    ("data_transfer_storage", Word::Line(LineKind::Dts)),
    ("storage", Word::Line(LineKind::Dts)),
];

/// What a kind-like or line-type cell says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Word {
    /// A line-type word.
    Line(LineKind),
    /// A documented resource kind, in its documented form.
    ResourceKind(&'static str),
    /// A documented DTS dimension, in its documented form.
    Dimension(&'static str),
    /// Anything else.
    Other,
}

/// What `text` says, compared loosely, without allocating.
fn word(text: &str) -> Word {
    // Most cells hold a word as upstream writes it: compared as it is first.
    let exact = WORDS.iter().find(|(word, _)| *word == text);
    let found = exact.or_else(|| {
        let mut buffer = [0u8; 32];
        match loose_ascii(text, &mut buffer) {
            Some(loose) => WORDS.iter().find(|(word, _)| word.as_bytes() == loose),
            // Non-ASCII text, rare: compared character by character.
            None => WORDS
                .iter()
                .find(|(word, _)| loose_chars(text).eq(word.chars())),
        }
    });
    found.map_or(Word::Other, |(_, word)| *word)
}

/// ASCII `text` in loose form, in `buffer`; empty when it does not fit (no word is that
/// long), `None` when `text` is not ASCII.
fn loose_ascii<'b>(text: &str, buffer: &'b mut [u8; 32]) -> Option<&'b [u8]> {
    if !text.is_ascii() {
        return None;
    }
    let mut len = 0;
    let mut gap = false;
    for byte in text.bytes() {
        if matches!(byte, b'-' | b'_' | b'.') || byte.is_ascii_whitespace() {
            gap = len > 0;
            continue;
        }
        let needed = len + 1 + usize::from(gap);
        if needed > buffer.len() {
            return Some(&[]);
        }
        if std::mem::take(&mut gap) {
            buffer[len] = b'_';
            len += 1;
        }
        buffer[len] = byte.to_ascii_lowercase();
        len += 1;
    }
    Some(&buffer[..len])
}

/// `text` without the spaces around it, as `str::trim` cuts them; quick for the usual
/// cell that starts and ends with a visible ASCII character.
#[inline]
fn trim(text: &str) -> &str {
    let visible = |byte: Option<&u8>| byte.is_none_or(u8::is_ascii_graphic);
    if visible(text.as_bytes().first()) && visible(text.as_bytes().last()) {
        text
    } else {
        text.trim()
    }
}

/// The most bytes read ahead to find how the document's lines end.
const SNIFF_LIMIT: usize = 64 * 1024;

/// The most bytes one record of an items CSV may take, the header row included: 1 MiB.
///
/// A record that outgrows it (an unclosed quote, a line that never ends) fails the
/// read with [`CsvErrorKind::TooLarge`] as soon as it does, the rest left unread, so
/// that [`ItemsCsvReader`] never holds more than about this much of one record (the
/// csv crate's 64 KiB buffer aside). Through the client, such an answer fails with
/// [`TransportKind::TooLarge`](crate::TransportKind::TooLarge), never retried.
pub const MAX_CSV_RECORD_BYTES: usize = 1 << 20;

/// The read error of a record over [`MAX_CSV_RECORD_BYTES`], inside an `io::Error`.
#[derive(Debug)]
struct RecordTooLarge;

impl fmt::Display for RecordTooLarge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a CSV record longer than {MAX_CSV_RECORD_BYTES} bytes")
    }
}

impl std::error::Error for RecordTooLarge {}

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

/// Reads an items CSV one line at a time, driven by its header row.
///
/// Memory stays flat whatever the document's size: one record is held at a time, and
/// a record may take at most [`MAX_CSV_RECORD_BYTES`] (1 MiB).
/// A malformed record is an error naming its record, line and column.
///
/// # Example
///
/// ```
/// use ec_billing::{ItemLine, ItemsCsvReader};
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
#[doc = include_str!("items_csv.md")]
#[derive(Debug)]
pub struct ItemsCsvReader<R> {
    reader: csv::Reader<Source<R>>,
    /// The known columns and their fields, by field, each field's best ranked first.
    columns: Vec<(Field, usize)>,
    /// Where each field's columns are in `columns`, by `Field as usize`.
    field_columns: [(usize, usize); FIELD_COUNT],
    /// The columns every row reads (see `Field::eager`), as `columns` orders them.
    eager_columns: Vec<(Field, usize)>,
    /// The header of every column, as the document spells it (trimmed).
    headers: Vec<String>,
    /// The key of every column in a line's `extra`: its header, numbered when repeated.
    keys: Vec<String>,
    record: csv::StringRecord,
    /// Blank lines of a CRLF document, which the csv crate reads as records of one
    /// `\r` field: they are skipped and do not count as records.
    skipped: u64,
    /// Whether lines end with a bare CR, which the csv crate does not count as lines.
    bare_cr: bool,
    /// The last period start and end read, by their text: consecutive lines mostly
    /// share them, and a cached instant saves parsing it again.
    periods: RefCell<[(String, Option<Timestamp>); 2]>,
}

impl<R: Read> ItemsCsvReader<R> {
    /// Reads the header row of `reader`.
    ///
    /// # Errors
    ///
    /// [`Error::Csv`] when the document is empty or its header row cannot be read, a
    /// header is not UTF-8, no column is a cost column (`cost`, `price`, ...), or the
    /// header row is longer than [`MAX_CSV_RECORD_BYTES`] ([`CsvErrorKind::TooLarge`]).
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
        let eager_columns = columns.iter().copied().filter(|(f, _)| f.eager()).collect();
        let mut field_columns = [(0, 0); FIELD_COUNT];
        for (field, range) in field_columns.iter_mut().enumerate() {
            let start = columns.partition_point(|(f, _)| (*f as usize) < field);
            let end = columns.partition_point(|(f, _)| (*f as usize) <= field);
            *range = (start, end);
        }
        Ok(Self {
            reader,
            columns,
            field_columns,
            eager_columns,
            headers,
            keys,
            record: csv::StringRecord::new(),
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
        let mut lines = 0;
        while self.read_record()? {
            lines += 1;
            let row = Row::new(&self, &self.record);
            let parsed = row.parse()?;
            let (cost, dimension) = match &parsed.values {
                Values::Resource { cost, .. } => (*cost, Dimension::Capacity),
                Values::Dts {
                    cost, usage_type, ..
                } => (*cost, Dimension::from(*usage_type)),
            };
            costs.add_dimension(dimension, cost)?;
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
            .try_fold(Decimal::ZERO, |total, d| total.checked_add(d.cost))
            .ok_or_else(|| OverflowError::new("costs.total"))?;
        items.costs = costs.into_costs();
        items.costs.total = total;
        Ok((items, lines))
    }

    /// Reads the next record that is not a blank line into `self.record`; `false` at
    /// the end of the document.
    fn read_record(&mut self) -> Result<bool, Error> {
        loop {
            match self.reader.read_record(&mut self.record) {
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
            if is_blank(self.record.iter().map(str::as_bytes)) {
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
                Some(row.parse().map(|parsed| row.line(parsed)))
            }
            Err(err) => Some(Err(err)),
        }
    }
}

/// The known columns and their fields, by field, and for each field best ranked first:
/// by the rank of the alias they are headed with, then by position.
fn field_columns(headers: &[String]) -> Vec<(Field, usize)> {
    let mut ranked = Vec::new();
    for (index, header) in headers.iter().enumerate() {
        let loose = loose_name(header);
        let known = FIELDS.iter().find_map(|(field, aliases)| {
            let rank = aliases.iter().position(|alias| *alias == loose)?;
            Some((*field as usize, rank, index))
        });
        ranked.extend(known);
    }
    ranked.sort_unstable();
    ranked
        .into_iter()
        .map(|(field, _, index)| (FIELDS[field].0, index))
        .collect()
}

/// The key of each column in `extra`: its header, or for a header spelled exactly like
/// an earlier one, the header and ` (n)` with the smallest `n` from 2 not yet a key.
fn extra_keys(headers: &[String]) -> Vec<String> {
    let mut taken: BTreeSet<String> = BTreeSet::new();
    let mut next: BTreeMap<&str, u64> = BTreeMap::new();
    let mut keys = Vec::with_capacity(headers.len());
    for header in headers {
        let key = if taken.contains(header) {
            let n = next.entry(header).or_insert(1);
            loop {
                *n += 1;
                let key = format!("{header} ({n})");
                if !taken.contains(&key) {
                    break key;
                }
            }
        } else {
            header.clone()
        };
        taken.insert(key.clone());
        keys.push(key);
    }
    keys
}

/// Whether a record is a blank line: the csv crate skips empty lines itself, but reads
/// a CRLF blank line, when records end at a line feed, as one field holding `\r`.
fn is_blank<'a>(mut cells: impl Iterator<Item = &'a [u8]>) -> bool {
    matches!((cells.next(), cells.next()), (Some(b"\r"), None))
}

/// The line a record starts on, from 1.
///
/// The csv crate's position of a record is where the previous one ended, before any
/// blank lines (and, were CRLF records to end at the CR, before the LF). So the line is
/// counted back from where the record ended: less the line breaks quoted in its cells,
/// less its own line feed unless the record ended the document without one.
fn record_line<R: Read>(
    reader: &csv::Reader<Source<R>>,
    start: Option<&csv::Position>,
    cells: &[u8],
    bare_cr: bool,
    record: u64,
) -> u64 {
    if bare_cr {
        return record.saturating_add(1);
    }
    let end = reader.position();
    let quoted_breaks = cells.iter().filter(|&&b| b == b'\n').count() as u64;
    let source = reader.get_ref();
    let ended_unterminated =
        source.ended && end.byte() == source.given && source.last != Some(b'\n');
    let line_feed = u64::from(!ended_unterminated);
    end.line()
        .saturating_sub(quoted_breaks + line_feed)
        .max(start.map_or(1, csv::Position::line))
}

/// What a row is, as its line-type cell or its evidence says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LineKind {
    Resource,
    Dts,
}

/// One field's cell in a row: the first non-empty cell of its columns.
#[derive(Clone, Copy, Debug)]
struct Cell<'a> {
    column: usize,
    text: &'a str,
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
struct Parsed<'a> {
    values: Values<'a>,
    line_type: Option<usize>,
    label: Option<usize>,
}

/// The resource fields of a row, parsed.
#[derive(Clone, Copy, Default)]
struct ResourceNumbers {
    hours: Option<i64>,
    instance_count: Option<i32>,
    price_per_hour: Option<Decimal>,
}

/// The DTS fields of a row, parsed.
#[derive(Clone, Copy, Default)]
struct DtsNumbers {
    quantity: Option<Decimal>,
    rate: Option<Decimal>,
}

/// A kind-like cell and what it says.
type Labelled<'a> = Option<(Cell<'a>, Word)>;

/// One record being read, with the reader's column map and the record's cell of each
/// field.
struct Row<'a, R> {
    reader: &'a ItemsCsvReader<R>,
    record: &'a csv::StringRecord,
    cells: [Option<Cell<'a>>; FIELD_COUNT],
}

impl<'a, R: Read> Row<'a, R> {
    fn new(reader: &'a ItemsCsvReader<R>, record: &'a csv::StringRecord) -> Self {
        // The first non-empty cell of each field's columns, best ranked first. The
        // record was checked to be UTF-8 once, as a whole, when it was read.
        let mut cells: [Option<Cell<'a>>; FIELD_COUNT] = [None; FIELD_COUNT];
        for &(field, column) in &reader.eager_columns {
            let cell = &mut cells[field as usize];
            if cell.is_none() {
                let text = record.get(column).map_or("", trim);
                if !text.is_empty() {
                    *cell = Some(Cell { column, text });
                }
            }
        }
        Self {
            reader,
            record,
            cells,
        }
    }

    /// The cell of `field`, if not empty.
    #[inline]
    fn cell(&self, field: Field) -> Option<Cell<'a>> {
        if field.eager() {
            return self.cells[field as usize];
        }
        let (start, end) = self.reader.field_columns[field as usize];
        self.reader.columns[start..end]
            .iter()
            .find_map(|&(_, column)| {
                let text = self.record.get(column).map_or("", trim);
                (!text.is_empty()).then_some(Cell { column, text })
            })
    }

    /// The row's kind of line and its checked values.
    fn parse(&self) -> Result<Parsed<'a>, Error> {
        let cost = match self.cell(Field::Cost) {
            Some(cell) => self.decimal(cell)?,
            None => return Err(self.field_error("missing cost", Field::Cost)),
        };
        let mut line_type = match self.cell(Field::LineType) {
            None => None,
            Some(cell) => match word(cell.text) {
                Word::Line(line_kind) => Some((cell, line_kind)),
                _ => {
                    return Err(self.error(
                        &format!("unknown line type \"{}\"", quoted(cell.text)),
                        Some(cell.column),
                    ));
                }
            },
        };
        let mut kind: Labelled<'a> = self.cell(Field::Kind).map(|cell| (cell, word(cell.text)));
        let mut usage: Labelled<'a> = self
            .cell(Field::UsageType)
            .map(|cell| (cell, word(cell.text)));
        // The `type` cell, read by its value, ranks below the fields' own columns.
        if let Some(cell) = self.cell(Field::Type) {
            match word(cell.text) {
                Word::Line(line_kind) => line_type = line_type.or(Some((cell, line_kind))),
                found @ Word::ResourceKind(_) => kind = kind.or(Some((cell, found))),
                found @ (Word::Dimension(_) | Word::Other) => {
                    usage = usage.or(Some((cell, found)));
                }
            }
        }
        let (line_kind, resource, dts) = match line_type {
            Some((_, LineKind::Resource)) => (
                LineKind::Resource,
                self.resource_numbers()?,
                DtsNumbers::default(),
            ),
            Some((_, LineKind::Dts)) => (
                LineKind::Dts,
                ResourceNumbers::default(),
                self.dts_numbers()?,
            ),
            None => {
                let resource = self.resource_numbers()?;
                let dts = self.dts_numbers()?;
                (self.weigh(kind, usage, resource, dts)?, resource, dts)
            }
        };
        let (values, label) = match line_kind {
            LineKind::Resource => {
                let start = self.instant(Field::PeriodStart)?;
                let end = self.instant(Field::PeriodEnd)?;
                let values = Values::Resource {
                    cost,
                    kind: kind.map_or("", |(cell, found)| match found {
                        Word::ResourceKind(documented) => documented,
                        _ => cell.text,
                    }),
                    hours: resource.hours.unwrap_or(0),
                    instance_count: resource.instance_count.unwrap_or(0),
                    period: Period { start, end },
                    price_per_hour: resource.price_per_hour.unwrap_or_default(),
                };
                (values, kind.map(|(cell, _)| cell))
            }
            LineKind::Dts => {
                // The usage type may stand in the kind column.
                let label = usage.or(kind);
                let values = Values::Dts {
                    cost,
                    usage_type: label.map_or("", |(cell, found)| match found {
                        Word::Dimension(documented) => documented,
                        _ => cell.text,
                    }),
                    quantity: dts.quantity.unwrap_or_default(),
                    rate: dts.rate.unwrap_or_default(),
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
        resource: ResourceNumbers,
        dts: DtsNumbers,
    ) -> Result<LineKind, Error> {
        let column = |field: Field| self.cell(field).map(|cell| cell.column);
        let non_zero = |field: Field, zero: bool| column(field).filter(|_| !zero);
        let kind_column = kind.map(|(cell, _)| cell.column);
        let (resource_kind, dts_kind) = match kind {
            Some((_, Word::ResourceKind(_))) => (kind_column, None),
            Some((_, Word::Dimension(_))) => (None, kind_column),
            _ => (None, None),
        };
        let resource_evidence = [
            non_zero(Field::Hours, resource.hours == Some(0)),
            non_zero(Field::InstanceCount, resource.instance_count == Some(0)),
            non_zero(
                Field::PricePerHour,
                resource.price_per_hour.is_some_and(|p| p.is_zero()),
            ),
            resource_kind,
        ];
        let dts_evidence = [
            non_zero(Field::Quantity, dts.quantity.is_some_and(|q| q.is_zero())),
            non_zero(Field::Rate, dts.rate.is_some_and(|r| r.is_zero())),
            column(Field::QuantityFormatted),
            column(Field::RateFormatted),
            usage.map(|(cell, _)| cell.column),
            dts_kind,
        ];
        let is_resource = resource_evidence.iter().any(Option::is_some);
        let is_dts = dts_evidence.iter().any(Option::is_some);
        match (is_resource, is_dts) {
            (true, false) => Ok(LineKind::Resource),
            (false, true) => Ok(LineKind::Dts),
            (true, true) => Err(self.error(
                &format!(
                    "ambiguous: resource columns ({}) and data-transfer-and-storage \
                     columns ({})",
                    self.header_list(&resource_evidence),
                    self.header_list(&dts_evidence)
                ),
                None,
            )),
            (false, false) => {
                let present = |field: Field| column(field).is_some();
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

    fn resource_numbers(&self) -> Result<ResourceNumbers, Error> {
        Ok(ResourceNumbers {
            hours: self
                .cell(Field::Hours)
                .map(|cell| self.number(cell))
                .transpose()?,
            instance_count: self
                .cell(Field::InstanceCount)
                .map(|cell| self.number(cell))
                .transpose()?,
            price_per_hour: self
                .cell(Field::PricePerHour)
                .map(|cell| self.decimal(cell))
                .transpose()?,
        })
    }

    fn dts_numbers(&self) -> Result<DtsNumbers, Error> {
        Ok(DtsNumbers {
            quantity: self
                .cell(Field::Quantity)
                .map(|cell| self.decimal(cell))
                .transpose()?,
            rate: self
                .cell(Field::Rate)
                .map(|cell| self.decimal(cell))
                .transpose()?,
        })
    }

    /// The line, from the row's checked values and its text fields.
    fn line(&self, parsed: Parsed<'_>) -> ItemLine {
        let extra = self.extra(&parsed);
        let text = |field: Field| {
            self.cell(field)
                .map(|cell| cell.text)
                .unwrap_or_default()
                .to_string()
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
                    .any(|&f| self.cell(f).is_some_and(|cell| cell.column == column))
        };
        self.record
            .iter()
            .enumerate()
            .filter_map(|(column, cell)| {
                let text = trim(cell);
                (!text.is_empty() && !used(column))
                    .then(|| (self.reader.keys[column].clone(), text.to_string()))
            })
            .collect()
    }

    /// A decimal cell, exact.
    fn decimal(&self, cell: Cell<'_>) -> Result<Decimal, Error> {
        parse_decimal(cell.text).map_err(|err| {
            let problem = match err {
                ec_billing_api::DecimalError::Syntax => "invalid decimal",
                _ => "inexact decimal (more digits than an exact decimal holds)",
            };
            self.error(
                &format!("{problem} \"{}\"", quoted(cell.text)),
                Some(cell.column),
            )
        })
    }

    /// A whole-number cell.
    fn number<T: FromStr>(&self, cell: Cell<'_>) -> Result<T, Error> {
        cell.text.parse().map_err(|_| {
            self.error(
                &format!("invalid whole number \"{}\"", quoted(cell.text)),
                Some(cell.column),
            )
        })
    }

    /// A required instant: RFC 3339 with any offset, or a date (midnight UTC).
    fn instant(&self, field: Field) -> Result<Timestamp, Error> {
        let Some(Cell { column, text }) = self.cell(field) else {
            return Err(self.field_error("missing date-time", field));
        };
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
            .ok_or_else(|| {
                self.error(
                    &format!("invalid date-time \"{}\"", quoted(text)),
                    Some(column),
                )
            })?;
        last_text.clear();
        last_text.push_str(text);
        *last = Some(instant);
        Ok(instant)
    }

    /// An error about a field with no cell in the row: it names the field's best
    /// column, or the field itself when the document has no column for it.
    fn field_error(&self, problem: &str, field: Field) -> Error {
        let best = self.reader.columns.iter().find(|(f, _)| *f == field);
        match best {
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
    fn error(&self, problem: &str, column: Option<usize>) -> Error {
        let start = self.record.position();
        let record = start
            .map_or(0, csv::Position::record)
            .saturating_sub(self.reader.skipped);
        let line = record_line(
            &self.reader.reader,
            start,
            self.record.as_byte_record().as_slice(),
            self.reader.bare_cr,
            record,
        );
        CsvError {
            kind: CsvErrorKind::Malformed,
            problem: problem.to_string(),
            column: column.map(|index| self.reader.headers[index].clone()),
            record,
            line,
            source: None,
        }
        .into()
    }
}

/// The document as the csv crate reads it: first the bytes read ahead to find how its
/// lines end, then the rest straight from the reader. It counts the bytes it gives and
/// keeps the last, so that a record that ends the document without a line end is known
/// (see [`record_line`]).
struct Source<R> {
    inner: R,
    head: Vec<u8>,
    /// How much of `head` has been given.
    head_given: usize,
    /// An I/O error met while reading ahead, given once `head` has been.
    pending: Option<io::Error>,
    /// Whether the first line end is a bare CR.
    bare_cr: bool,
    given: u64,
    last: Option<u8>,
    ended: bool,
    /// Where the record being read starts: its byte (of those given) and line.
    record_start: (u64, u64),
}

impl<R: fmt::Debug> fmt::Debug for Source<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The bytes read ahead are the document's, not worth printing.
        f.debug_struct("Source")
            .field("inner", &self.inner)
            .field("bare_cr", &self.bare_cr)
            .field("given", &self.given)
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}

impl<R: Read> Source<R> {
    /// Reads ahead to the first line end outside quotes (at most [`SNIFF_LIMIT`]
    /// bytes) to learn whether lines end with a bare CR.
    fn new(mut inner: R) -> Self {
        let mut head = Vec::new();
        let mut pending = None;
        let mut scanned = 0;
        let mut in_quotes = false;
        let mut bare_cr = None;
        while bare_cr.is_none() && head.len() < SNIFF_LIMIT {
            let filled = head.len();
            head.resize(filled + 8 * 1024, 0);
            let read = inner.read(&mut head[filled..]);
            head.truncate(filled + *read.as_ref().unwrap_or(&0));
            match read {
                Ok(0) => break,
                Ok(_) => {}
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => {
                    pending = Some(err);
                    break;
                }
            }
            while scanned < head.len() {
                match head[scanned] {
                    b'"' => in_quotes = !in_quotes,
                    b'\n' if !in_quotes => bare_cr = Some(false),
                    b'\r' if !in_quotes => match head.get(scanned + 1) {
                        Some(next) => bare_cr = Some(*next != b'\n'),
                        // The next byte decides; read on.
                        None => break,
                    },
                    _ => {}
                }
                if bare_cr.is_some() {
                    break;
                }
                scanned += 1;
            }
        }
        Self {
            inner,
            head,
            head_given: 0,
            pending,
            bare_cr: bare_cr.unwrap_or(false),
            given: 0,
            last: None,
            ended: false,
            record_start: (0, 1),
        }
    }
}

impl<R: Read> Read for Source<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // The csv crate asks for more only once it has taken in everything given: all
        // of it since the record's start is that record's.
        if self.given.saturating_sub(self.record_start.0) >= MAX_CSV_RECORD_BYTES as u64 {
            return Err(io::Error::new(io::ErrorKind::InvalidData, RecordTooLarge));
        }
        let read = if self.head_given < self.head.len() {
            let ahead = &self.head[self.head_given..];
            let n = ahead.len().min(buf.len());
            buf[..n].copy_from_slice(&ahead[..n]);
            self.head_given += n;
            if self.head_given == self.head.len() {
                // Given in full: its memory goes back.
                self.head = Vec::new();
                self.head_given = 0;
            }
            n
        } else if let Some(err) = self.pending.take() {
            return Err(err);
        } else {
            self.inner.read(buf)?
        };
        match read.checked_sub(1) {
            Some(last) => {
                self.given += read as u64;
                self.last = Some(buf[last]);
            }
            None => self.ended |= !buf.is_empty(),
        }
        Ok(read)
    }
}

/// Notes where the next record starts, after one was read: the bound on one record's
/// size counts from there.
fn mark_record_end<R: Read>(reader: &mut csv::Reader<Source<R>>) {
    let position = reader.position();
    let start = (position.byte(), position.line());
    reader.get_mut().record_start = start;
}

/// A failure of the csv crate while reading a record: a record over the size bound is
/// [`CsvErrorKind::TooLarge`], at the record and line it started on; anything else as
/// [`csv_failure`] says.
fn read_failure<R: Read>(reader: &csv::Reader<Source<R>>, err: csv::Error) -> Error {
    let too_large = matches!(
        err.kind(),
        csv::ErrorKind::Io(io) if io.get_ref().is_some_and(|inner| inner.is::<RecordTooLarge>())
    );
    if !too_large {
        return csv_failure(err);
    }
    CsvError {
        kind: CsvErrorKind::TooLarge,
        problem: format!(
            "a record longer than {MAX_CSV_RECORD_BYTES} bytes (an unclosed quote, or a line \
             that never ends)"
        ),
        column: None,
        record: reader.position().record(),
        line: reader.get_ref().record_start.1,
        // The problem says it all: no cause to repeat it.
        source: None,
    }
    .into()
}

/// A header in loose form: lowercase, runs of space, `-`, `_` and `.` as one `_`.
fn loose_name(header: &str) -> String {
    loose_chars(header).collect()
}

/// The characters of `text` in loose form (see [`loose_name`]), without allocating.
fn loose_chars(text: &str) -> impl Iterator<Item = char> + '_ {
    let mut started = false;
    let mut gap = false;
    text.trim_start_matches(|c: char| c == '\u{feff}' || c.is_whitespace())
        .chars()
        .flat_map(move |c| {
            if matches!(c, '-' | '_' | '.') || c.is_whitespace() {
                gap = started;
                None
            } else {
                let separator = std::mem::take(&mut gap).then_some('_');
                started = true;
                Some(separator.into_iter().chain(c.to_lowercase()))
            }
        })
        .flatten()
}

fn header_error(problem: String, column: Option<String>, line: u64) -> Error {
    CsvError {
        kind: CsvErrorKind::Malformed,
        problem,
        column,
        record: 0,
        line,
        source: None,
    }
    .into()
}

/// A failure of the csv crate itself: an I/O error is passed on as one (the caller
/// knows whether it came from the network), anything else becomes a [`CsvError`] at
/// the position the csv crate gives: where the record starts, as records end at a line
/// feed (for a record after blank lines, where the first of them starts, as the record
/// itself is not at hand).
fn csv_failure(err: csv::Error) -> Error {
    let position = err.position().cloned().unwrap_or_else(csv::Position::new);
    let (kind, problem) = match err.kind() {
        csv::ErrorKind::Io(_) => (
            CsvErrorKind::Io,
            "the document could not be read".to_string(),
        ),
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => (
            CsvErrorKind::Malformed,
            format!("a record with {len} fields where the header has {expected_len}"),
        ),
        csv::ErrorKind::Utf8 { err, .. } => (
            CsvErrorKind::Malformed,
            format!("invalid UTF-8 in field {}", err.field() + 1),
        ),
        _ => (CsvErrorKind::Malformed, "malformed CSV".to_string()),
    };
    // The reader's own error is the cause of an I/O failure, the csv crate's of the rest.
    let source: Box<dyn std::error::Error + Send + Sync> = match kind {
        CsvErrorKind::Io => match err.into_kind() {
            csv::ErrorKind::Io(io) => Box::new(io),
            other => Box::new(io::Error::other(format!("{other:?}"))),
        },
        CsvErrorKind::Malformed | CsvErrorKind::TooLarge => Box::new(err),
    };
    CsvError {
        kind,
        problem,
        column: None,
        record: position.record(),
        line: position.line(),
        source: Some(source),
    }
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str =
        "Kind,Name,SKU,Hours,Instance Count,Period Start,Period End,Price Per Hour,Cost,Region\n";

    /// `prefix`, then `filler` for ever, counting the bytes taken.
    struct Endless {
        prefix: Vec<u8>,
        filler: u8,
        taken: u64,
    }

    impl Read for Endless {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = if self.prefix.is_empty() {
                buf.fill(self.filler);
                buf.len()
            } else {
                let n = self.prefix.len().min(buf.len());
                buf[..n].copy_from_slice(&self.prefix[..n]);
                self.prefix.drain(..n);
                n
            };
            self.taken += n as u64;
            Ok(n)
        }
    }

    #[test]
    fn a_record_that_never_ends_is_refused_at_the_bound_and_the_rest_is_not_read() {
        for (prefix, filler, record, line) in [
            // An unclosed quote after a good line and a blank one: as for other
            // failures of the csv crate, a record after blank lines is placed where
            // the first of them starts.
            (
                format!("{HEADER}elasticsearch,ES,es,1,1,2024-01-01,2024-01-02,1,1,r\n\n\"x"),
                b'x',
                2,
                3,
            ),
            // A line that never ends.
            (HEADER.to_string(), b'y', 1, 2),
            // A header that never ends.
            (String::new(), b'z', 0, 1),
        ] {
            let mut source = Endless {
                prefix: prefix.into_bytes(),
                filler,
                taken: 0,
            };
            let outcome = ItemsCsvReader::new(&mut source).and_then(|r| r.read_totals());
            let Err(Error::Csv(err)) = outcome else {
                panic!("{outcome:?}")
            };
            assert_eq!(err.kind(), CsvErrorKind::TooLarge, "{err}");
            assert_eq!((err.record(), err.line()), (record, line), "{err}");
            assert!(
                err.to_string().contains("longer than 1048576 bytes"),
                "{err}"
            );
            let read_ahead = (SNIFF_LIMIT + 64 * 1024 + 8 * 1024) as u64;
            assert!(
                source.taken <= MAX_CSV_RECORD_BYTES as u64 + read_ahead,
                "{} bytes taken",
                source.taken
            );
        }
    }

    #[test]
    fn a_record_just_under_the_bound_is_read() {
        let region = "r".repeat(MAX_CSV_RECORD_BYTES - 100);
        let csv = format!(
            "{HEADER}elasticsearch,ES,es,1,1,2024-01-01T00:00:00Z,2024-01-02T00:00:00Z,1,1.5,\"{region}\"\n"
        );
        let items = ItemsCsvReader::new(csv.as_bytes())
            .unwrap()
            .read_all()
            .unwrap();
        assert_eq!(items.costs.total, Decimal::new(15, 1));
        assert_eq!(
            items.resources[0].extra.get("Region").map(str::len),
            Some(region.len())
        );
    }

    #[test]
    fn a_reader_that_fails_is_an_io_error_and_a_bad_cell_is_malformed() {
        struct Broken;
        impl Read for Broken {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::new(io::ErrorKind::ConnectionReset, "gone"))
            }
        }
        let Err(Error::Csv(err)) = ItemsCsvReader::new(Broken) else {
            panic!("a failing reader is an error")
        };
        assert_eq!(err.kind(), CsvErrorKind::Io);
        assert_eq!(
            err.io_error().map(io::Error::kind),
            Some(io::ErrorKind::ConnectionReset)
        );

        let bad = "Name,Cost\nx,12;5\n";
        let mut reader = ItemsCsvReader::new(bad.as_bytes()).unwrap();
        let Some(Err(Error::Csv(err))) = reader.next() else {
            panic!("a bad cell is an error")
        };
        assert_eq!(err.kind(), CsvErrorKind::Malformed);
        assert!(err.io_error().is_none());
    }

    #[test]
    fn loose_names_ignore_case_and_separator_style() {
        for header in [
            "Price Per Hour",
            "price_per_hour",
            "PRICE-PER-HOUR",
            "price.per.hour",
            " Price  Per_Hour ",
            "\u{feff}price per hour\r",
        ] {
            assert_eq!(loose_name(header), "price_per_hour", "{header:?}");
        }
        assert_eq!(loose_name("__Period..Start__"), "period_start");
    }

    #[test]
    fn every_alias_is_in_loose_form_and_names_one_field() {
        let mut seen = BTreeSet::new();
        for (index, (field, aliases)) in FIELDS.iter().enumerate() {
            assert_eq!(*field as usize, index, "{field:?} is out of place");
            for alias in *aliases {
                assert_eq!(loose_name(alias), *alias, "{alias} is not loose");
                assert!(seen.insert(*alias), "{alias} names two fields");
            }
        }
        // A `type` cell is read by its value: no word may mean two things.
        let mut words = BTreeSet::new();
        for (word, meaning) in WORDS {
            assert_eq!(loose_name(word), word, "{word} is not loose");
            assert!(words.insert(word), "{word} has two meanings");
            if let Word::ResourceKind(documented) | Word::Dimension(documented) = meaning {
                assert_eq!(documented, word);
            }
        }
    }

    #[test]
    fn a_document_without_a_cost_column_is_refused_at_the_header() {
        let err = ItemsCsvReader::new("name,sku\nx,y\n".as_bytes()).unwrap_err();
        assert!(err.to_string().contains("no cost column"), "{err}");
        let err = ItemsCsvReader::new("".as_bytes()).unwrap_err();
        assert!(err.to_string().contains("no header row"), "{err}");
    }

    #[test]
    fn repeated_headers_get_numbered_keys_that_never_collide() {
        let headers = ["Region", "Region (2)", "Region", "Region", "region"].map(String::from);
        assert_eq!(
            extra_keys(&headers),
            ["Region", "Region (2)", "Region (3)", "Region (4)", "region"]
        );
    }

    #[test]
    fn words_are_compared_loosely_without_allocating() {
        for (text, meaning) in [
            ("Data Transfer And Storage", Word::Line(LineKind::Dts)),
            ("RESOURCE", Word::Line(LineKind::Resource)),
            (" dts ", Word::Line(LineKind::Dts)),
            (
                "Integrations-Server",
                Word::ResourceKind("integrations_server"),
            ),
            ("data.out", Word::Dimension("data_out")),
            ("\u{feff}Data Out", Word::Dimension("data_out")),
            ("data_outs", Word::Other),
            ("a very long value that is no word at all", Word::Other),
            ("données", Word::Other),
            ("", Word::Other),
        ] {
            assert_eq!(word(text), meaning, "{text:?}");
        }
    }
}
