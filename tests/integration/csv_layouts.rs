//! The items CSV in many layouts: a corpus of plausible layouts in files, random
//! layouts drawn from the reader's own alias table, and the simulator's layouts, each
//! read into the same `Items` as the JSON of the same lines; and the reported
//! misreadings (row classification, line numbers, headers, exact numbers), each pinned.

use std::{collections::BTreeMap, path::PathBuf};

use ec_billing::{
    Decimal, Dimension, DimensionCost, DtsLine, Error, Items, ResourceLine, csv::ItemsCsvReader,
    csv::csv_header_aliases,
};
use ec_billing_sim::{CsvLayout, Dataset, Line};
use proptest::{prelude::*, sample::Index};

use crate::support::{dec, fixture};

fn read(csv: impl AsRef<[u8]>) -> Result<Items, Error> {
    ItemsCsvReader::new(csv.as_ref())?.read_all()
}

fn extra(pairs: &[(&str, &str)]) -> ec_billing::Extra {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

// The reported misreadings.

#[test]
fn a_dts_row_with_period_cells_is_a_dts_line_of_its_own_dimension() {
    let csv = "Name,Type,Period Start,Period End,Quantity,Rate,Cost\n\
               Data out,data_out,2024-01-01,2024-02-01,1363900000000,0.03,40.917\n";

    let items = read(csv).unwrap();

    assert!(items.resources.is_empty());
    let line = &items.data_transfer_and_storage[0];
    assert_eq!(line.usage_type, "data_out");
    assert_eq!(
        line.extra,
        extra(&[("Period Start", "2024-01-01"), ("Period End", "2024-02-01")])
    );
    assert_eq!(
        items.costs.dimensions,
        [DimensionCost::new(Dimension::DataOut, dec("40.917"))]
    );
}

#[test]
fn a_dts_row_with_its_usage_type_under_kind_or_zero_hours_is_a_dts_line() {
    let csv = "Kind,Type,Name,Hours,Instance Count,Period Start,Period End,Quantity,Rate,Cost\n\
               data_out,,Data out,,,,,1363900000000,0.03,40.917\n\
               ,storage_bytes,Snapshot storage,0,0,,,2668996666,0.03,80.0699\n";

    let items = read(csv).unwrap();

    let usage: Vec<&str> = items
        .data_transfer_and_storage
        .iter()
        .map(|d| d.usage_type.as_str())
        .collect();
    assert_eq!(usage, ["data_out", "storage_bytes"]);
    assert!(items.resources.is_empty());
    assert_eq!(items.costs.total, dec("120.9869"));
}

#[test]
fn error_lines_are_the_lines_records_start_on_in_lf_and_crlf_documents() {
    for end in ["\n", "\r\n"] {
        for last_line_end in ["", end] {
            // Line 1 the header; 2-3 a record with a quoted line break; 4 blank; 5 a
            // record; 6 the bad one, with or without a line end.
            let rows = [
                "Name,Quantity,Cost",
                "\"two",
                "lines\",1,2",
                "",
                "ok,1,3",
                "bad,1,12x",
            ];
            let csv = rows.join(end) + last_line_end;
            let err = read(&csv).unwrap_err();
            assert_eq!(
                err.to_string(),
                "invalid decimal \"12x\" in column \"Cost\" at record 3 (line 6)",
                "{csv:?}"
            );
        }

        let ragged = ["Name,Quantity,Cost", "ok,1,2", "only-one"].join(end);
        let err = read(&ragged).unwrap_err();
        assert_eq!(
            err.to_string(),
            "a record with 1 fields where the header has 3 at record 2 (line 3)",
            "{ragged:?}"
        );

        let mut not_utf8 = ["Name,Quantity,Cost", "ok,1,2", "b"].join(end).into_bytes();
        not_utf8.extend_from_slice(b"\xffd,1,2");
        let err = read(&not_utf8).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid UTF-8 in column \"Name\" at record 2 (line 3)",
            "{end:?}"
        );
        // The csv crate's byte offset of the record, as well as its record and line.
        let Error::Csv(csv) = &err else {
            panic!("not a CSV error: {err:?}")
        };
        let start = ["Name,Quantity,Cost", "ok,1,2", ""].join(end).len() as u64;
        assert_eq!((csv.record(), csv.line(), csv.byte()), (2, 3, start));
    }
}

#[test]
fn a_document_whose_lines_end_with_a_bare_cr_is_read_and_its_errors_count_records() {
    let items = read("Name,Quantity,Cost\rx,1,2\r\ry,1,3\r").unwrap();
    assert_eq!(items.costs.total, dec("5"));

    let err = read("Name,Quantity,Cost\rx,1,2\ry,1,bad\r").unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid decimal \"bad\" in column \"Cost\" at record 2 (line 3)"
    );
}

#[test]
fn duplicate_unknown_headers_are_both_kept_in_extra() {
    let csv = "Name,Region,Quantity,Cost,Region\n\
               Data out,us-central1,1,0.03,gcp-us-central1\n";

    let items = read(csv).unwrap();

    assert_eq!(
        items.data_transfer_and_storage[0].extra,
        extra(&[("Region", "us-central1"), ("Region (2)", "gcp-us-central1")])
    );
}

#[test]
fn a_header_that_is_not_utf8_is_an_error_naming_it() {
    let csv = b"Name,Kind,Price\xa0Per Hour,Hours,Period Start,Period End,Cost\n";
    let err = ItemsCsvReader::new(&csv[..]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "header not valid UTF-8 (byte 0xa0) in column \"Price\u{fffd}Per Hour\" at record 0 (line 1)"
    );
    let Error::Csv(csv) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(csv.column(), Some("Price\u{fffd}Per Hour"));

    // Server text is escaped in the message.
    let csv = b"Name,Co\x1b[2J\xffst\r\n";
    let err = ItemsCsvReader::new(&csv[..]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "header not valid UTF-8 (byte 0xff) in column \"Co\\u{1b}[2J\u{fffd}st\" at record 0 (line 1)"
    );
}

#[test]
fn costs_with_more_decimal_places_than_a_decimal_holds_are_refused_not_rounded() {
    let zeros = "0".repeat(27);
    for cost in [
        format!("0.{zeros}12"),
        format!("0.{zeros}123"),
        "1e-29".to_string(),
        "-1E-30".to_string(),
    ] {
        let err = read(format!("Name,Quantity,Cost\nx,1,{cost}\n")).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "inexact decimal (more digits than an exact decimal holds) \"{cost}\" in \
                 column \"Cost\" at record 1 (line 2)"
            )
        );
    }
    // Zeros past the 28th place hold no digit: the value is exact.
    let items = read(format!("Name,Quantity,Cost\nx,1,0.1{zeros}000\n")).unwrap();
    assert_eq!(items.costs.total, dec("0.1"));
}

// The rules around them.

#[test]
fn a_line_type_column_decides_and_keeps_cells_of_the_other_kind_in_extra() {
    let csv = "Line Type,Name,Type,Hours,Quantity,Cost\n\
               Data Transfer And Storage,Data out,data_out,744,5,1.5\n";

    let items = read(csv).unwrap();

    let line = &items.data_transfer_and_storage[0];
    assert_eq!(
        (line.usage_type.as_str(), line.quantity.value),
        ("data_out", dec("5"))
    );
    assert_eq!(line.extra, extra(&[("Hours", "744")]));
}

#[test]
fn an_unknown_line_type_is_an_error_naming_it() {
    let err = read("Line Type,Name,Quantity,Cost\nwid\x1bget,x,1,2\n").unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown line type \"wid\\u{1b}get\" in column \"Line Type\" at record 1 (line 2)"
    );
}

#[test]
fn a_row_with_evidence_of_both_kinds_is_an_error_not_a_guess() {
    let err = read("Name,Hours,Kind,Quantity,Cost\nx,744,elasticsearch,5,1\n").unwrap_err();
    assert_eq!(
        err.to_string(),
        "ambiguous: resource columns (Hours, Kind) and data-transfer-and-storage columns \
         (Quantity) at record 1 (line 2)"
    );
}

#[test]
fn of_several_cost_columns_a_row_takes_the_first_ranked_that_is_not_empty() {
    let csv = "Name,Quantity,Price,Cost\n\
               both,1,9,2\n\
               price only,1,3,\n";

    let items = read(csv).unwrap();

    let dts = &items.data_transfer_and_storage;
    assert_eq!((dts[0].cost, dts[1].cost), (dec("2"), dec("3")));
    assert_eq!(dts[0].extra, extra(&[("Price", "9")]));
    assert!(dts[1].extra.is_empty());
}

// A corpus of plausible layouts, in files.

/// The corpus in `tests/fixtures/csv-layouts/`: each file holds the lines of
/// `items-2024-01.json` in a layout of its own, described here.
const CORPUS: [(&str, &str); 8] = [
    ("title-case.csv", "the simulator's layout: Title Case, CRLF"),
    (
        "snake-case.csv",
        "snake_case after a UTF-8 byte-order mark, LF, DTS rows first",
    ),
    (
        "flattened-json.csv",
        "the JSON's names flattened; a resource's cost under `price`, a DTS line's under `cost`",
    ),
    (
        "line-type-column.csv",
        "an `Item Type` column, DTS rows carrying the window as a period, other aliases",
    ),
    (
        "type-as-line-type.csv",
        "`Type` holding line-type words, DTS usage types under `Kind`",
    ),
    (
        "merged-type.csv",
        "`Type` holding the resource kind or the usage type",
    ),
    (
        "dense.csv",
        "every row fills every column with zeros or empties, DTS usage types under `Kind`",
    ),
    (
        "reordered-extras.csv",
        "reordered columns, cost as `Amount`, unknown columns: a duplicate `Region`, a note on two lines",
    ),
];

/// What the CSV and the JSON of the same lines share: the lines without `extra` (JSON
/// has none), the total, and the non-zero dimensions by name (CSV totals come from its
/// lines, so a dimension without lines is absent where the JSON lists it at zero).
type Comparable = (
    Vec<ResourceLine>,
    Vec<DtsLine>,
    Decimal,
    Vec<(String, Decimal)>,
);

fn comparable(items: &Items) -> Comparable {
    let mut resources = items.resources.clone();
    resources
        .iter_mut()
        .for_each(|line| line.extra = ec_billing::Extra::default());
    let mut dts = items.data_transfer_and_storage.clone();
    dts.iter_mut()
        .for_each(|line| line.extra = ec_billing::Extra::default());
    let mut dimensions: Vec<(String, Decimal)> = items
        .costs
        .dimensions
        .iter()
        .filter(|d| !d.cost.is_zero())
        .map(|d| (d.dimension.to_string(), d.cost))
        .collect();
    dimensions.sort();
    (resources, dts, items.costs.total, dimensions)
}

fn json_items() -> Items {
    Items::from_json(fixture("items-2024-01.json").as_bytes()).unwrap()
}

fn corpus(file: &str) -> String {
    fixture(&format!("csv-layouts/{file}"))
}

#[test]
fn every_layout_of_the_corpus_gives_the_items_of_the_json() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/csv-layouts");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".csv"))
        .collect();
    files.sort();
    let mut listed: Vec<&str> = CORPUS.iter().map(|(file, _)| *file).collect();
    listed.sort();
    assert_eq!(
        files, listed,
        "every file of the corpus is described in CORPUS"
    );

    let want = comparable(&json_items());
    assert_eq!(want.0.len() + want.1.len(), 7);
    for (file, layout) in CORPUS {
        let items = read(corpus(file)).unwrap_or_else(|err| panic!("{file} ({layout}): {err}"));
        assert_eq!(comparable(&items), want, "{file} ({layout})");
    }
}

#[test]
fn the_corpus_keeps_every_cell_its_lines_do_not_use_in_extra() {
    let items = read(corpus("reordered-extras.csv")).unwrap();
    assert_eq!(
        items.resources[0].extra,
        extra(&[
            ("Region", "us-central1"),
            ("Region (2)", "gcp-us-central1"),
            ("Currency", "ECU"),
            ("Notes", "reviewed\nby finance"),
        ])
    );

    let items = read(corpus("line-type-column.csv")).unwrap();
    assert_eq!(
        items.data_transfer_and_storage[0].extra,
        extra(&[
            ("From", "2024-01-01T00:00:00Z"),
            ("To", "2024-02-01T00:00:00Z")
        ])
    );
    assert!(items.resources[0].extra.is_empty());

    let items = read(corpus("dense.csv")).unwrap();
    assert_eq!(
        items.resources[0].extra,
        extra(&[("Quantity", "0"), ("Rate", "0")])
    );
    assert_eq!(
        items.data_transfer_and_storage[0].extra,
        extra(&[
            ("Hours", "0"),
            ("Instance Count", "0"),
            ("Price Per Hour", "0")
        ])
    );
}

// Random layouts drawn from the reader's alias table.

/// What a column of a random layout holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Column {
    LineType,
    Kind,
    UsageType,
    Name,
    Sku,
    Hours,
    InstanceCount,
    PeriodStart,
    PeriodEnd,
    PricePerHour,
    /// Every line's cost.
    Cost,
    /// A resource line's cost only (a layout with two cost columns).
    ResourceCost,
    /// A DTS line's cost only.
    DtsCost,
    Quantity,
    QuantityFormatted,
    Rate,
    RateFormatted,
    /// A column the reader does not know, keyed in `UNKNOWN_HEADERS`.
    Unknown(usize),
}

impl Column {
    /// The field of the alias table the column's header is drawn from.
    fn field(self) -> &'static str {
        match self {
            Self::LineType => "line_type",
            Self::Kind => "kind",
            Self::UsageType => "usage_type",
            Self::Name => "name",
            Self::Sku => "sku",
            Self::Hours => "hours",
            Self::InstanceCount => "instance_count",
            Self::PeriodStart => "period_start",
            Self::PeriodEnd => "period_end",
            Self::PricePerHour => "price_per_hour",
            Self::Cost | Self::ResourceCost | Self::DtsCost => "cost",
            Self::Quantity => "quantity",
            Self::QuantityFormatted => "quantity_formatted",
            Self::Rate => "rate",
            Self::RateFormatted => "rate_formatted",
            Self::Unknown(_) => "",
        }
    }
}

/// Headers the reader does not know (one twice, one differing only in case).
const UNKNOWN_HEADERS: [&str; 5] = ["Region", "Currency", "Notes", "Region", "region"];

/// Values of unknown columns: commas, quotes, line breaks, spaces, nothing.
const UNKNOWN_VALUES: [&str; 7] = [
    "us-central1",
    "a, b",
    "say \"hi\"",
    "two\nlines",
    "three\r\nlines",
    "  ",
    "",
];

/// Words for a line-type cell.
const RESOURCE_WORDS: [&str; 4] = ["resource", "Resource", "INSTANCES", "capacity"];
const DTS_WORDS: [&str; 4] = [
    "data_transfer_and_storage",
    "Data Transfer And Storage",
    "DTS",
    "storage",
];

/// A random layout: its columns in order with their headers, its line ends, and a
/// stream of choices for its cells.
#[derive(Clone, Debug)]
struct Layout {
    columns: Vec<(String, Column)>,
    crlf: bool,
    choices: Vec<u8>,
}

/// An alias of `field` from the reader's table, at random.
fn alias(field: &str, pick: Index) -> &'static str {
    let aliases = csv_header_aliases()
        .find(|(name, _)| *name == field)
        .map(|(_, aliases)| aliases)
        .unwrap_or_else(|| panic!("no field {field} in the alias table"));
    aliases[pick.index(aliases.len())]
}

/// `alias` written in one of several styles: snake, Title Case, UPPER-KEBAB,
/// dot.case, random case with random separators, padded.
fn styled(alias: &str, style: u8, case_bits: u32) -> String {
    let words: Vec<&str> = alias.split('_').collect();
    let title = |w: &str| {
        let mut chars = w.chars();
        chars.next().map_or(String::new(), |c| {
            c.to_uppercase().chain(chars).collect::<String>()
        })
    };
    match style % 6 {
        0 => alias.to_string(),
        1 => words.iter().map(|w| title(w)).collect::<Vec<_>>().join(" "),
        2 => alias.to_uppercase().replace('_', "-"),
        3 => alias.replace('_', "."),
        4 => {
            let mixed: String = alias
                .chars()
                .enumerate()
                .map(|(i, c)| {
                    if c == '_' {
                        [' ', '-', '_', '.'][(case_bits >> ((i % 16) * 2)) as usize & 3]
                    } else if case_bits >> (i % 32) & 1 == 1 {
                        c.to_ascii_uppercase()
                    } else {
                        c
                    }
                })
                .collect();
            mixed
        }
        _ => format!(
            " {} ",
            words
                .iter()
                .map(|w| title(w))
                .collect::<Vec<_>>()
                .join("  ")
        ),
    }
}

/// Random layouts: for each field an alias from the table in a random style, random
/// column order, an optional usage-type column (else DTS usage types go under the kind
/// column), an optional line-type column, one or two cost columns, unknown columns,
/// LF or CRLF, and a stream of choices for the cells.
fn layouts() -> impl Strategy<Value = Layout> {
    let fields = [
        Column::Kind,
        Column::UsageType,
        Column::LineType,
        Column::Name,
        Column::Sku,
        Column::Hours,
        Column::InstanceCount,
        Column::PeriodStart,
        Column::PeriodEnd,
        Column::PricePerHour,
        Column::Cost,
        Column::DtsCost,
        Column::Quantity,
        Column::QuantityFormatted,
        Column::Rate,
        Column::RateFormatted,
    ];
    (
        proptest::collection::vec((any::<Index>(), any::<u8>(), any::<u32>()), fields.len()),
        (any::<bool>(), any::<bool>(), any::<bool>(), 0u8..3),
        proptest::collection::vec(0..UNKNOWN_HEADERS.len(), 0..4),
        any::<bool>(),
        proptest::collection::vec(any::<u8>(), 512),
    )
        .prop_flat_map(
            move |(
                headers,
                (usage_column, line_type_column, two_costs, type_for),
                unknown,
                crlf,
                choices,
            )| {
                // At most one column is headed `type`: the usage type's, the line
                // type's or the kind's, as upstream's `type` could be any of them.
                let wants_type =
                    [Column::UsageType, Column::LineType, Column::Kind][usize::from(type_for)];
                let mut columns = Vec::new();
                for (column, (pick, style, case_bits)) in fields.iter().zip(&headers) {
                    let column = match column {
                        Column::UsageType if !usage_column => continue,
                        Column::LineType if !line_type_column => continue,
                        Column::DtsCost if !two_costs => continue,
                        Column::Cost if two_costs => Column::ResourceCost,
                        other => *other,
                    };
                    let present = match wants_type {
                        Column::UsageType => usage_column,
                        Column::LineType => line_type_column,
                        _ => true,
                    };
                    let name = if column == wants_type && present && style % 3 == 0 {
                        "type"
                    } else {
                        alias(column.field(), *pick)
                    };
                    columns.push((styled(name, *style, *case_bits), column));
                }
                for index in unknown {
                    columns.push((UNKNOWN_HEADERS[index].to_string(), Column::Unknown(index)));
                }
                (Just(columns).prop_shuffle(), Just(crlf), Just(choices))
            },
        )
        .prop_map(|(columns, crlf, choices)| Layout {
            columns,
            crlf,
            choices,
        })
}

/// A cursor over a layout's choices.
struct Choices<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Choices<'_> {
    fn next(&mut self) -> u8 {
        let byte = self.bytes[self.at % self.bytes.len()];
        self.at += 1;
        byte
    }

    fn pick<'s>(&mut self, options: &[&'s str]) -> &'s str {
        options[usize::from(self.next()) % options.len()]
    }
}

/// A cell for the CSV: quoted when it holds a comma, a quote, a line break or edge
/// spaces.
fn csv_cell(text: &str) -> String {
    if text.contains([',', '"', '\r', '\n']) || text.trim() != text {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// One line of the items, to write.
enum Written<'a> {
    Resource(&'a ResourceLine),
    Dts(&'a DtsLine),
}

/// The document of `items`' lines in `layout`, and the line each record starts on.
/// Resource and DTS rows are interleaved at random (each kind in its order), blank
/// lines may come between rows, cells a line has no value for are empty or zero, a DTS
/// row may carry the month as its period, and the cost of row `corrupt` is `12,x`.
fn write(layout: &Layout, items: &Items, corrupt: Option<usize>) -> (String, Vec<u64>) {
    let mut choices = Choices {
        bytes: &layout.choices,
        at: 0,
    };
    let end = if layout.crlf { "\r\n" } else { "\n" };
    let mut out: String = layout
        .columns
        .iter()
        .map(|(header, _)| csv_cell(header))
        .collect::<Vec<_>>()
        .join(",");
    out.push_str(end);

    let (mut resources, mut dts) = (
        items.resources.iter(),
        items.data_transfer_and_storage.iter(),
    );
    let mut rows = Vec::new();
    loop {
        let line = if choices.next().is_multiple_of(2) {
            resources
                .next()
                .map(Written::Resource)
                .or_else(|| dts.next().map(Written::Dts))
        } else {
            dts.next()
                .map(Written::Dts)
                .or_else(|| resources.next().map(Written::Resource))
        };
        let Some(line) = line else { break };
        rows.push(line);
    }
    let has_usage_column = layout.columns.iter().any(|(_, c)| *c == Column::UsageType);

    let mut starts = Vec::new();
    for (index, line) in rows.iter().enumerate() {
        if choices.next().is_multiple_of(8) {
            out.push_str(end);
        }
        starts.push(1 + out.matches('\n').count() as u64);
        let cells: Vec<String> = layout
            .columns
            .iter()
            .map(|(_, column)| {
                let text = match (line, column) {
                    (_, Column::Unknown(_)) => choices.pick(&UNKNOWN_VALUES).to_string(),
                    (Written::Resource(_), Column::LineType) => choices
                        .pick(&[
                            "",
                            RESOURCE_WORDS[0],
                            RESOURCE_WORDS[1],
                            RESOURCE_WORDS[2],
                            RESOURCE_WORDS[3],
                        ])
                        .to_string(),
                    (Written::Dts(_), Column::LineType) => choices
                        .pick(&["", DTS_WORDS[0], DTS_WORDS[1], DTS_WORDS[2], DTS_WORDS[3]])
                        .to_string(),
                    (Written::Resource(r), Column::Kind) => r.kind.to_string(),
                    (Written::Resource(r), Column::Name) => r.name.clone(),
                    (Written::Resource(r), Column::Sku) => r.sku.clone(),
                    (Written::Resource(r), Column::Hours) => r.hours.to_string(),
                    (Written::Resource(r), Column::InstanceCount) => r.instance_count.to_string(),
                    (Written::Resource(r), Column::PeriodStart) => r.period.start.to_string(),
                    (Written::Resource(r), Column::PeriodEnd) => r.period.end.to_string(),
                    (Written::Resource(r), Column::PricePerHour) => r.price_per_hour.to_string(),
                    (Written::Resource(r), Column::Cost | Column::ResourceCost) => {
                        r.cost.to_string()
                    }
                    (Written::Resource(_), Column::Quantity | Column::Rate) => {
                        choices.pick(&["", "0", " 0 ", "0.0"]).to_string()
                    }
                    (
                        Written::Resource(_),
                        Column::UsageType
                        | Column::QuantityFormatted
                        | Column::RateFormatted
                        | Column::DtsCost,
                    ) => String::new(),
                    (Written::Dts(d), Column::Kind) if !has_usage_column => d.usage_type.clone(),
                    (Written::Dts(d), Column::Kind) => {
                        choices.pick(&["", d.usage_type.as_str()]).to_string()
                    }
                    (Written::Dts(d), Column::UsageType) => d.usage_type.clone(),
                    (Written::Dts(d), Column::Name) => d.name.clone(),
                    (Written::Dts(d), Column::Sku) => d.sku.clone(),
                    (Written::Dts(d), Column::Quantity) => d.quantity.value.to_string(),
                    (Written::Dts(d), Column::QuantityFormatted) => d.quantity.formatted.clone(),
                    (Written::Dts(d), Column::Rate) => d.rate.value.to_string(),
                    (Written::Dts(d), Column::RateFormatted) => d.rate.formatted.clone(),
                    (Written::Dts(d), Column::Cost | Column::DtsCost) => d.cost.to_string(),
                    (Written::Dts(_), Column::Hours | Column::InstanceCount) => {
                        choices.pick(&["", "0", " 0 "]).to_string()
                    }
                    (Written::Dts(_), Column::PricePerHour) => {
                        choices.pick(&["", "0", "0.0000"]).to_string()
                    }
                    (Written::Dts(_), Column::PeriodStart) => {
                        choices.pick(&["", "2024-01-01T00:00:00Z"]).to_string()
                    }
                    (Written::Dts(_), Column::PeriodEnd) => {
                        choices.pick(&["", "2024-02-01"]).to_string()
                    }
                    (Written::Dts(_), Column::ResourceCost) => String::new(),
                };
                let is_cost = matches!(
                    (line, column),
                    (Written::Resource(_), Column::Cost | Column::ResourceCost)
                        | (Written::Dts(_), Column::Cost | Column::DtsCost)
                );
                if is_cost && corrupt == Some(index) {
                    "12,x".to_string()
                } else {
                    text
                }
            })
            .collect();
        out.push_str(
            &cells
                .iter()
                .map(|c| csv_cell(c))
                .collect::<Vec<_>>()
                .join(","),
        );
        // The last row may end the document without a line end.
        if index + 1 < rows.len() || !choices.next().is_multiple_of(4) {
            out.push_str(end);
        }
    }
    (out, starts)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn random_layouts_of_the_same_lines_give_the_same_items(layout in layouts()) {
        let json = json_items();
        let (document, _) = write(&layout, &json, None);
        let items = read(&document).map_err(|err| TestCaseError::fail(format!("{err}\n{document}")))?;
        prop_assert_eq!(comparable(&items), comparable(&json), "{}", document);
    }

    #[test]
    fn an_error_names_the_record_and_line_a_row_starts_on_in_any_layout(
        layout in layouts(),
        row in 0usize..7,
    ) {
        let (document, starts) = write(&layout, &json_items(), Some(row));
        let err = read(&document).unwrap_err();
        let Error::Csv(csv) = &err else {
            return Err(TestCaseError::fail(format!("{err:?}")));
        };
        prop_assert_eq!(csv.problem(), "invalid decimal \"12,x\"");
        prop_assert_eq!((csv.record(), csv.line()), (row as u64 + 1, starts[row]), "{}", document);
    }
}

// The simulator's layouts, read back.

#[test]
fn every_simulator_layout_reads_back_with_the_exact_total() {
    let (from, to) = (
        "2024-01-01T00:00:00Z".parse().unwrap(),
        "2024-04-02T00:00:00Z".parse().unwrap(),
    );
    let lines: Vec<Line> = Dataset::standard()
        .lines("acme", "prod", from, to)
        .unwrap()
        .into_iter()
        .flat_map(|(_, lines)| lines)
        .collect();
    let total: Decimal = lines.iter().map(Line::cost).sum();
    let mut by_dimension: BTreeMap<&str, Decimal> = BTreeMap::new();
    for line in &lines {
        *by_dimension.entry(line.dimension()).or_default() += line.cost();
    }

    for layout in CsvLayout::ALL {
        let mut document = format!("{}\r\n", layout.header()).into_bytes();
        layout.write_rows(&lines, &mut document);
        let items = read(&document).unwrap_or_else(|err| panic!("{layout:?}: {err}"));
        assert_eq!(items.costs.total, total, "{layout:?}");
        assert_eq!(
            items.resources.len() + items.data_transfer_and_storage.len(),
            lines.len(),
            "{layout:?}"
        );
        let dimensions: BTreeMap<&str, Decimal> = items
            .costs
            .dimensions
            .iter()
            .map(|d| (d.dimension.as_str(), d.cost))
            .collect();
        assert_eq!(dimensions, by_dimension, "{layout:?}");
    }
}

#[tokio::test]
async fn the_client_reads_a_year_served_in_every_csv_layout_to_the_exact_total() {
    let year = ec_billing::DateRange::parse("2024-01-01", "2025-01-01").unwrap();
    for layout in ec_billing_sim::CsvLayout::ALL {
        let sim = ec_billing_sim::Simulator::new()
            .api_key(crate::support::CANARY_KEY)
            .csv_layout(layout)
            .start()
            .await
            .unwrap();
        let client =
            crate::support::wrapper_client(&sim.base_url(), crate::support::TestClock::new());
        let report = client
            .items("acme", "prod")
            .range(year)
            .format(ec_billing::Format::Csv)
            .send()
            .await
            .unwrap_or_else(|err| panic!("{layout:?}: {err}"));
        let expected = sim
            .dataset()
            .items_total("acme", "prod", year.from(), year.to());
        assert_eq!(Some(report.items.costs.total), expected, "{layout:?}");
        assert_eq!(report.items.resources.len(), 732, "{layout:?}");
        assert_eq!(
            report.items.data_transfer_and_storage.len(),
            732,
            "{layout:?}"
        );
    }
}
