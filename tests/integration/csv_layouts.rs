//! The items CSV in many layouts: a corpus of plausible layouts in files, each read
//! into the same `Items` as the JSON of the same lines; and the reported misreadings
//! (row classification, line numbers, headers, exact numbers), each pinned.

use std::{collections::BTreeMap, path::PathBuf};

use ec_billing::{
    Decimal, Dimension, DimensionCost, DtsLine, Error, Items, ItemsCsvReader, ResourceLine,
};

use crate::support::{dec, fixture};

fn read(csv: impl AsRef<[u8]>) -> Result<Items, Error> {
    ItemsCsvReader::new(csv.as_ref())?.read_all()
}

fn extra(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
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
        [DimensionCost {
            dimension: Dimension::DataOut,
            cost: dec("40.917")
        }]
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
            "invalid UTF-8 in field 1 at record 2 (line 3)",
            "{end:?}"
        );
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
    resources.iter_mut().for_each(|line| line.extra.clear());
    let mut dts = items.data_transfer_and_storage.clone();
    dts.iter_mut().for_each(|line| line.extra.clear());
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
