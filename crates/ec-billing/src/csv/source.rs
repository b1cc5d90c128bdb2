//! The document's bytes as the csv crate reads them, and where a record is: the
//! source that sniffs how lines end and bounds one record's size, the line a record
//! starts on, and the csv crate's failures at their position.

use std::{
    fmt,
    io::{self, Read},
};

use crate::error::{CsvError, CsvErrorKind, Error};

/// The most bytes read ahead to find how the document's lines end.
pub(super) const SNIFF_LIMIT: usize = 64 * 1024;

/// The most bytes one record of an items CSV may take, the header row included: 1 MiB.
///
/// A record that outgrows it (an unclosed quote, a line that never ends) fails the
/// read with [`CsvErrorKind::TooLarge`](crate::error::CsvErrorKind::TooLarge) as soon as it does, the rest left unread, so
/// that [`ItemsCsvReader`](super::ItemsCsvReader) never holds more than about this much of one record (the
/// csv crate's 64 KiB buffer aside). Through the client, such an answer fails with
/// [`TransportKind::TooLarge`](crate::error::TransportKind::TooLarge), never retried.
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

/// Whether a record is a blank line: the csv crate skips empty lines itself, but reads
/// a CRLF blank line, when records end at a line feed, as one field holding `\r`.
pub(super) fn is_blank<'a>(mut cells: impl Iterator<Item = &'a [u8]>) -> bool {
    matches!((cells.next(), cells.next()), (Some(b"\r"), None))
}

/// The line a record starts on, from 1.
///
/// The csv crate's position of a record is where the previous one ended, before any
/// blank lines (and, were CRLF records to end at the CR, before the LF). So the line is
/// counted back from where the record ended: less the line breaks quoted in its cells,
/// less its own line feed unless the record ended the document without one.
pub(super) fn record_line<R: Read>(
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

/// The document as the csv crate reads it: first the bytes read ahead to find how its
/// lines end, then the rest straight from the reader. It counts the bytes it gives and
/// keeps the last, so that a record that ends the document without a line end is known
/// (see [`record_line`]).
pub(super) struct Source<R> {
    inner: R,
    head: Vec<u8>,
    /// How much of `head` has been given.
    head_given: usize,
    /// An I/O error met while reading ahead, given once `head` has been.
    pending: Option<io::Error>,
    /// Whether the first line end is a bare CR.
    pub(super) bare_cr: bool,
    pub(super) given: u64,
    pub(super) last: Option<u8>,
    pub(super) ended: bool,
    /// Where the record being read starts: its byte (of those given) and line.
    pub(super) record_start: (u64, u64),
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
    pub(super) fn new(mut inner: R) -> Self {
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
pub(super) fn mark_record_end<R: Read>(reader: &mut csv::Reader<Source<R>>) {
    let position = reader.position();
    let start = (position.byte(), position.line());
    reader.get_mut().record_start = start;
}

/// A failure of the csv crate while reading a record: a record over the size bound is
/// [`CsvErrorKind::TooLarge`], at the record and line it started on; anything else as
/// [`csv_failure`] says.
pub(super) fn read_failure<R: Read>(reader: &csv::Reader<Source<R>>, err: csv::Error) -> Error {
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
        byte: reader.get_ref().record_start.0,
        // The problem says it all: no cause to repeat it.
        source: None,
    }
    .into()
}

/// An error about the header row, at `line`.
pub(super) fn header_error(problem: String, column: Option<String>, line: u64) -> Error {
    CsvError {
        kind: CsvErrorKind::Malformed,
        problem,
        column,
        record: 0,
        line,
        byte: 0,
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
        byte: position.byte(),
        source: Some(source),
    }
    .into()
}
