//! Bad input drills: arbitrary bytes and mutated valid documents fed to the CSV reader
//! and the JSON decoders, arbitrary text to the range and window parsers. Each gives a
//! value or an error; none panics.

use ec_billing::{Charts, DateRange, Items, WindowSize, csv::ItemsCsvReader};
use proptest::prelude::*;

use crate::support::fixture;

/// A valid document with some of its bytes replaced, some removed, some inserted.
fn mutated(document: String) -> impl Strategy<Value = Vec<u8>> {
    let len = document.len();
    let edits = proptest::collection::vec((0..len, any::<u8>(), 0u8..3), 1..12);
    edits.prop_map(move |edits| {
        let mut bytes = document.clone().into_bytes();
        for (at, byte, kind) in edits {
            let at = at.min(bytes.len().saturating_sub(1));
            match kind {
                0 if !bytes.is_empty() => bytes[at] = byte,
                1 if !bytes.is_empty() => {
                    bytes.remove(at);
                }
                _ => bytes.insert(at, byte),
            }
        }
        bytes
    })
}

fn read_csv(bytes: &[u8]) {
    if let Ok(reader) = ItemsCsvReader::new(bytes) {
        for line in reader {
            let _ = line.map(|l| l.cost());
        }
    }
    if let Ok(reader) = ItemsCsvReader::new(bytes) {
        let _ = reader.read_totals();
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn the_csv_reader_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        read_csv(&bytes);
    }

    #[test]
    fn the_csv_reader_never_panics_on_a_mutated_document(bytes in mutated(fixture("items-2024-01.csv"))) {
        read_csv(&bytes);
    }

    #[test]
    fn the_json_decoders_never_panic_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..1024)) {
        let _ = Items::from_json(&bytes);
        let _ = Charts::from_json(&bytes);
    }

    #[test]
    fn the_items_decoder_never_panics_on_a_mutated_document(bytes in mutated(fixture("items-2024-01.json"))) {
        let _ = Items::from_json(&bytes);
    }

    #[test]
    fn the_charts_decoder_never_panics_on_a_mutated_document(bytes in mutated(fixture("charts-daily.json"))) {
        let _ = Charts::from_json(&bytes);
    }

    #[test]
    fn range_and_window_parsers_never_panic(from in "\\PC{0,32}", to in "[0-9T:Z+.-]{0,30}", window in "\\PC{0,6}") {
        let _ = DateRange::parse(&from, &to);
        let _ = DateRange::parse(&to, &from);
        let _ = window.parse::<WindowSize>();
    }
}

#[test]
fn out_of_range_numbers_and_timestamps_are_errors_not_panics() {
    for body in [
        r#"{"costs":{"total":1e300,"dimensions":[]},"resources":[],"data_transfer_and_storage":[]}"#,
        r#"{"costs":{"total":-1.7976931348623157e308,"dimensions":[]},"resources":[],"data_transfer_and_storage":[]}"#,
    ] {
        assert!(Items::from_json(body.as_bytes()).is_err(), "{body}");
    }
    for stamp in [i64::MAX, i64::MIN, 253_402_300_800_000_000] {
        let body = format!(r#"{{"data":[{{"timestamp":{stamp},"values":[]}}]}}"#);
        assert!(Charts::from_json(body.as_bytes()).is_err(), "{stamp}");
    }
}
