//! Unit tests of the CSV reader: bounds, failures, loose names and words.

use std::{
    collections::BTreeSet,
    io::{self, Read},
};

use rust_decimal::Decimal;

use super::{
    ItemsCsvReader, MAX_CSV_RECORD_BYTES,
    layout::{FIELDS, LineKind, WORDS, Word, extra_keys, loose_name, trim, word},
    source::SNIFF_LIMIT,
};
use crate::error::{CsvErrorKind, Error};

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
        assert_eq!(word(text.as_bytes()), meaning, "{text:?}");
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

    #[test]
    fn a_cell_is_trimmed_as_str_trim_trims_it(
        cell in proptest::collection::vec(
            proptest::prop_oneof![
                proptest::sample::select(b" \t\r\n\x0b\x0ca,.\"-".to_vec()),
                proptest::prelude::any::<u8>(),
            ],
            0..12,
        ),
        unicode in "[ \u{a0}\u{3000}\u{feff}a\u{2028}]{0,4}",
    ) {
        for cell in [cell.clone(), [unicode.as_bytes(), &cell, unicode.as_bytes()].concat()] {
            let expected = match std::str::from_utf8(&cell) {
                Ok(text) => text.trim().as_bytes(),
                Err(_) => cell.trim_ascii(),
            };
            proptest::prop_assert_eq!(trim(&cell), expected);
        }
    }
}

mod records {
    //! The records as the csv crate reads them: any document, read in any pieces,
    //! gives the same records at the same positions.

    use std::io::{self, Read};

    use proptest::prelude::*;

    use super::super::{
        records::{Position, Records},
        source::Source,
    };

    /// A document given in pieces of the sizes in `pieces`, in turn.
    struct Pieces<'a> {
        document: &'a [u8],
        pieces: Vec<usize>,
        turn: usize,
    }

    impl Read for Pieces<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let piece = self.pieces[self.turn % self.pieces.len()];
            self.turn += 1;
            let n = piece.min(buf.len()).min(self.document.len());
            buf[..n].copy_from_slice(&self.document[..n]);
            self.document = &self.document[n..];
            Ok(n)
        }
    }

    /// Every record's cells, position and first line, and where the last ended, as
    /// the csv crate reads `document`; `bare_cr` as the source sniffed.
    fn as_the_csv_crate_reads(document: &[u8], bare_cr: bool) -> Vec<(Vec<Vec<u8>>, Position)> {
        let mut builder = csv::ReaderBuilder::new();
        builder.has_headers(false).flexible(true);
        if !bare_cr {
            builder.terminator(csv::Terminator::Any(b'\n'));
        }
        let mut reader = builder.from_reader(document);
        let mut record = csv::ByteRecord::new();
        let mut records = Vec::new();
        while reader.read_byte_record(&mut record).unwrap() {
            let start = record.position().unwrap();
            records.push((
                record.iter().map(<[u8]>::to_vec).collect(),
                Position {
                    byte: start.byte(),
                    line: start.line(),
                    record: start.record(),
                },
            ));
        }
        records
    }

    fn documents() -> impl Strategy<Value = Vec<u8>> {
        // Mostly plain cells, with quotes, line ends of every kind, a byte-order mark
        // and bytes that are not UTF-8 among them.
        let piece = prop_oneof![
            8 => "[a-z0-9 .]{0,6}".prop_map(String::into_bytes),
            4 => Just(b",".to_vec()),
            3 => Just(b"\n".to_vec()),
            2 => Just(b"\r\n".to_vec()),
            1 => Just(b"\r".to_vec()),
            2 => Just(b"\"".to_vec()),
            1 => Just(b"\"a,\nb\"\"c\"".to_vec()),
            3 => Just(b"\"q, r\"".to_vec()),
            1 => Just(b"\xef\xbb\xbf".to_vec()),
            1 => Just(b"\xff\xc3".to_vec()),
        ];
        prop::collection::vec(piece, 0..60).prop_map(|pieces| pieces.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn any_document_in_any_pieces_gives_the_csv_crates_records_and_positions(
            document in documents(),
            pieces in prop::collection::vec(1usize..40, 1..4),
        ) {
            let source = Source::new(Pieces { document: &document, pieces, turn: 0 });
            let bare_cr = source.bare_cr;
            let expected = as_the_csv_crate_reads(&document, bare_cr);
            let mut records = Records::new(source);
            let mut read = Vec::new();
            while records.read().unwrap() {
                let record = records.record();
                read.push((record.iter().map(<[u8]>::to_vec).collect::<Vec<_>>(), record.position));
                // The bytes the cells lie in: UTF-8 and line feeds only where cells have them.
                let cells = record.iter().collect::<Vec<_>>();
                prop_assert_eq!(
                    std::str::from_utf8(record.as_slice()).is_ok(),
                    cells.iter().all(|cell| std::str::from_utf8(cell).is_ok())
                );
                prop_assert_eq!(
                    record.as_slice().contains(&b'\n'),
                    cells.iter().any(|cell| cell.contains(&b'\n'))
                );
                for (column, cell) in record.iter().enumerate() {
                    prop_assert_eq!(record.get(column), Some(cell));
                }
                prop_assert_eq!(record.get(record.len()), None);
                if !bare_cr {
                    // Its first line: where the last record ended, and the blank lines
                    // before it.
                    let mut rest = &document[record.position.byte as usize..];
                    if record.position.byte == 0 {
                        rest = rest.strip_prefix(b"\xef\xbb\xbf").unwrap_or(rest);
                    }
                    let blank = rest
                        .iter()
                        .take_while(|&&b| b == b'\n')
                        .count();
                    prop_assert_eq!(record.line, record.position.line + blank as u64);
                }
            }
            prop_assert_eq!(&read, &expected, "{:?}", String::from_utf8_lossy(&document));
            // The end, where the csv crate places it.
            let mut reader = csv::ReaderBuilder::new();
            reader.has_headers(false).flexible(true);
            if !bare_cr {
                reader.terminator(csv::Terminator::Any(b'\n'));
            }
            let mut reader = reader.from_reader(&document[..]);
            for _ in reader.byte_records() {}
            let end = reader.position();
            prop_assert_eq!(
                records.position(),
                Position { byte: end.byte(), line: end.line(), record: end.record() }
            );
        }
    }
}
