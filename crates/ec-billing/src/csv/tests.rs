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
    pub(super) struct Pieces<'a> {
        pub(super) document: &'a [u8],
        pub(super) pieces: Vec<usize>,
        pub(super) turn: usize,
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

    /// The csv crate configured as the reader used it: records end at a line feed, or
    /// at any CR or LF in a bare-CR document.
    pub(super) fn builder(bare_cr: bool) -> csv::ReaderBuilder {
        let mut builder = csv::ReaderBuilder::new();
        builder.has_headers(false).flexible(true);
        if !bare_cr {
            builder.terminator(csv::Terminator::Any(b'\n'));
        }
        builder
    }

    /// Every record's cells and position as the csv crate reads `document`; `bare_cr`
    /// as the source sniffed.
    fn as_the_csv_crate_reads(document: &[u8], bare_cr: bool) -> Vec<(Vec<Vec<u8>>, Position)> {
        let mut reader = builder(bare_cr).from_reader(document);
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
            let mut reader = builder(bare_cr).from_reader(&document[..]);
            for _ in reader.byte_records() {}
            let end = reader.position();
            prop_assert_eq!(
                records.position(),
                Position { byte: end.byte(), line: end.line(), record: end.record() }
            );
        }
    }
}

mod hostile_documents {
    //! Hostile documents: the records, positions, bounds and failures the csv crate
    //! (as the reader used it before) gives.

    use proptest::prelude::*;

    use super::{
        super::{
            records::{Position, Records},
            source::Source,
        },
        records::{Pieces, builder},
    };

    type Read1 = (Vec<Vec<u8>>, Position, u64);

    /// Records, positions, and each record's first line, both ways.
    fn both_ways(
        document: &[u8],
        pieces: Vec<usize>,
    ) -> (Vec<Read1>, Vec<Read1>, Position, Position) {
        let source = Source::new(Pieces {
            document,
            pieces,
            turn: 0,
        });
        let bare_cr = source.bare_cr;
        let mut reader = builder(bare_cr).from_reader(document);
        let mut record = csv::ByteRecord::new();
        let mut expected = Vec::new();
        while reader.read_byte_record(&mut record).unwrap() {
            let start = record.position().unwrap();
            let position = Position {
                byte: start.byte(),
                line: start.line(),
                record: start.record(),
            };
            // The first line: where the record starts, after blank lines (and a BOM).
            let mut rest = &document[start.byte() as usize..];
            if start.byte() == 0 {
                rest = rest.strip_prefix(b"\xef\xbb\xbf").unwrap_or(rest);
            }
            let blank = rest
                .iter()
                .take_while(|&&b| b == b'\n' || (bare_cr && b == b'\r'))
                .filter(|&&b| b == b'\n')
                .count();
            let line = if bare_cr {
                0
            } else {
                start.line() + blank as u64
            };
            expected.push((record.iter().map(<[u8]>::to_vec).collect(), position, line));
        }
        let end = reader.position();
        let end = Position {
            byte: end.byte(),
            line: end.line(),
            record: end.record(),
        };
        let mut records = Records::new(source);
        let mut read = Vec::new();
        while records.read().unwrap() {
            let record = records.record();
            let line = if bare_cr { 0 } else { record.line };
            read.push((
                record.iter().map(<[u8]>::to_vec).collect(),
                record.position,
                line,
            ));
        }
        (read, expected, records.position(), end)
    }

    fn hostile() -> impl Strategy<Value = Vec<u8>> {
        let piece = prop_oneof![
            8 => "[a-z0-9 ]{0,11}".prop_map(String::into_bytes),
            5 => Just(b",".to_vec()),
            4 => Just(b"\n".to_vec()),
            2 => Just(b"\r\n".to_vec()),
            1 => Just(b"\r".to_vec()),
            3 => Just(b"\"".to_vec()),
            2 => Just(b"\"\"".to_vec()),
            2 => Just(b"\",".to_vec()),
            2 => Just(b",\"".to_vec()),
            2 => Just(b"\"\r\n".to_vec()),
            2 => Just(b"\"\n".to_vec()),
            3 => Just(b"\"q, r\"".to_vec()),
            1 => Just(b"\0".to_vec()),
            1 => Just(b"\xef\xbb\xbf".to_vec()),
            1 => Just(b"\xff\xc3\x80".to_vec()),
            1 => Just(vec![b'x'; 70_000]),
        ];
        prop::collection::vec(piece, 0..80).prop_map(|pieces| pieces.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        #[test]
        fn hostile_documents_in_any_pieces_read_as_the_csv_crate_reads_them(
            document in hostile(),
            pieces in prop::collection::vec(prop_oneof![1usize..20, 60_000usize..140_000], 1..4),
        ) {
            let (read, expected, end, expected_end) = both_ways(&document, pieces);
            prop_assert_eq!(read.len(), expected.len());
            for (read, expected) in read.iter().zip(&expected) {
                prop_assert_eq!(read, expected);
            }
            prop_assert_eq!(end, expected_end);
        }

        #[test]
        fn bare_cr_and_bom_documents_read_as_the_csv_crate_reads_them(
            head in prop_oneof![Just(b"".to_vec()), Just(b"\xef\xbb\xbf".to_vec()), Just(b"\xef\xbb\xbf\n\n".to_vec()), Just(b"\r".to_vec()), Just(b"\"a\r\"\r".to_vec())],
            body in prop::collection::vec(prop_oneof![
                4 => "[a-z ]{0,9}".prop_map(String::into_bytes),
                3 => Just(b",".to_vec()),
                4 => Just(b"\r".to_vec()),
                1 => Just(b"\n".to_vec()),
                1 => Just(b"\r\n".to_vec()),
                2 => Just(b"\"".to_vec()),
                1 => Just(b"\"\r".to_vec()),
                1 => Just(b"\xef\xbb\xbf".to_vec()),
            ], 0..60),
            pieces in prop::collection::vec(1usize..6, 1..4),
        ) {
            let document = [head, body.concat()].concat();
            let (read, expected, end, expected_end) = both_ways(&document, pieces);
            prop_assert_eq!(read, expected);
            prop_assert_eq!(end, expected_end);
        }
    }
}

mod after_a_failure {
    //! After a failure to read a record (over the bound, or the reader's error), the
    //! document ends there, as it does for the csv crate's reader
    //! (`ReaderEofState::IOError`): every later read finds the end, and nothing more is
    //! read.

    use std::io::{self, Read};

    use super::{
        super::{ItemsCsvReader, MAX_CSV_RECORD_BYTES},
        HEADER,
    };
    use crate::{
        csv::ItemLine,
        error::{CsvErrorKind, Error},
    };

    fn kind(item: &Option<Result<ItemLine, Error>>) -> String {
        match item {
            None => "end".to_string(),
            Some(Ok(ItemLine::Resource(line))) => format!("resource line costing {}", line.cost),
            Some(Ok(ItemLine::Dts(line))) => format!("DTS line costing {}", line.cost),
            Some(Err(Error::Csv(err))) => format!(
                "{:?} at record {} byte {}: {err}",
                err.kind(),
                err.record(),
                err.byte()
            ),
            Some(Err(err)) => format!("{err}"),
        }
    }

    #[test]
    fn the_csv_crate_itself_ends_after_a_failure() {
        struct Failing(u8);
        impl Read for Failing {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                self.0 += 1;
                match self.0 {
                    1 => {
                        buf[..3].copy_from_slice(b"a,b");
                        Ok(3)
                    }
                    2 => Err(io::Error::new(io::ErrorKind::TimedOut, "slow")),
                    3 => {
                        buf[..4].copy_from_slice(b"\nc,d");
                        Ok(4)
                    }
                    _ => Ok(0),
                }
            }
        }
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(Failing(0));
        let mut record = csv::ByteRecord::new();
        assert!(reader.read_byte_record(&mut record).is_err());
        assert!(!reader.read_byte_record(&mut record).unwrap());
    }

    /// The first line of `reader` fails as `failure`, and the next `later` find the end.
    fn ends_after_its_failure(
        mut reader: ItemsCsvReader<impl Read>,
        failure: CsvErrorKind,
        later: usize,
    ) {
        let first = reader.next();
        assert!(
            matches!(&first, Some(Err(Error::Csv(err))) if err.kind() == failure),
            "{}",
            kind(&first)
        );
        let found: Vec<String> = (0..later).map(|_| kind(&reader.next())).collect();
        assert_eq!(found, vec!["end"; later]);
    }

    /// A line over the bound without a quote: every later `next` finds the end, so
    /// `filter_map(Result::ok)` (skipping bad rows, as a malformed row can be skipped)
    /// returns rather than meeting the same failure for ever.
    #[test]
    fn after_a_line_over_the_bound_the_lines_end() {
        let document = format!(
            "Name,Cost\n{},1\nx,2\n",
            "y".repeat(MAX_CSV_RECORD_BYTES + 10)
        );
        let reader = ItemsCsvReader::new(document.as_bytes()).unwrap();
        ends_after_its_failure(reader, CsvErrorKind::TooLarge, 3);
    }

    /// A quoted cell over the bound, read by `csv_core`: nothing past it is read, so
    /// text inside the quoted cell (a line costing 9) never comes out as a line.
    #[test]
    fn after_a_quoted_cell_over_the_bound_nothing_more_is_read() {
        let line = "elasticsearch,ES,es,1,1,2024-01-01T00:00:00Z,2024-01-02T00:00:00Z,1";
        let document = format!(
            "{HEADER}{line},1,\"a\n{}\n{line},9,r\n\"\n",
            "x".repeat(MAX_CSV_RECORD_BYTES + 200_000)
        );
        let reader = ItemsCsvReader::new(document.as_bytes()).unwrap();
        ends_after_its_failure(reader, CsvErrorKind::TooLarge, 3);
    }

    /// The reader fails in the middle of a quoted record, then gives more: the document
    /// ends at the failure, as the csv crate's does; nothing is read from inside the
    /// quote as if it started a record.
    #[test]
    fn after_the_readers_failure_the_lines_end() {
        struct Failing(u8);
        impl Read for Failing {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                self.0 += 1;
                let piece: &[u8] = match self.0 {
                    1 => b"Name,Cost,Quantity,Rate\n\"a\"\"b",
                    2 => return Err(io::Error::new(io::ErrorKind::TimedOut, "slow")),
                    3 => b"\",5,1,5\nc,6,1,6\n\"d\"\"e\",7,1,7\n",
                    _ => b"",
                };
                buf[..piece.len()].copy_from_slice(piece);
                Ok(piece.len())
            }
        }
        let reader = ItemsCsvReader::new(Failing(0)).unwrap();
        ends_after_its_failure(reader, CsvErrorKind::Io, 4);
    }
}

mod reader_failures {
    //! The reader's failures in the middle of a record: their kind and position.

    use std::io::{self, Read};

    use super::super::ItemsCsvReader;
    use crate::error::{CsvErrorKind, Error};

    /// `pieces` in turn, each an error of its kind when `Err`.
    struct Script(Vec<Result<&'static [u8], io::ErrorKind>>);

    impl Read for Script {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.0.is_empty() {
                return Ok(0);
            }
            match self.0.remove(0) {
                Ok(piece) => {
                    let n = piece.len().min(buf.len());
                    buf[..n].copy_from_slice(&piece[..n]);
                    if n < piece.len() {
                        self.0.insert(0, Ok(&piece[n..]));
                    }
                    Ok(n)
                }
                Err(kind) => Err(io::Error::new(kind, "scripted")),
            }
        }
    }

    #[test]
    fn a_failure_mid_record_is_an_io_error_where_the_record_starts() {
        for (second, record_byte) in [
            // Fast path, a blank line before the record: placed before it.
            (&b"\nab"[..], 10),
            // A quoted record read by csv_core.
            (&b"\"a\"\"b"[..], 10),
        ] {
            let reader = Script(vec![
                Ok(b"Name,Cost\n"),
                Ok(second),
                Err(io::ErrorKind::ConnectionReset),
            ]);
            let mut lines = ItemsCsvReader::new(reader).unwrap();
            let Some(Err(Error::Csv(err))) = lines.next() else {
                panic!()
            };
            assert_eq!(err.kind(), CsvErrorKind::Io);
            assert_eq!(
                err.io_error().map(io::Error::kind),
                Some(io::ErrorKind::ConnectionReset)
            );
            assert_eq!(
                (err.record(), err.line(), err.byte()),
                (1, 2, record_byte),
                "{err}"
            );
        }
    }

    #[test]
    fn an_interrupted_read_is_retried_anywhere() {
        let reader = Script(vec![
            Err(io::ErrorKind::Interrupted),
            Ok(b"Name,Cost,Quantity,Rate\n\"a"),
            Err(io::ErrorKind::Interrupted),
            Ok(b"\",1,1,1\nb,2,1,2"),
            Err(io::ErrorKind::Interrupted),
            Ok(b"\n\"c\"\"\",3,1,3"),
        ]);
        let totals = ItemsCsvReader::new(reader).unwrap().read_totals().unwrap();
        assert_eq!((totals.0.total.to_string(), totals.1), ("6".to_string(), 3));
    }
}
