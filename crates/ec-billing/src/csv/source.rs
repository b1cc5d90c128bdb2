//! The document's bytes: the source that sniffs how lines end, the bound on one
//! record's size, and the failures to read a record, at their position.

use std::{
    fmt,
    io::{self, Read},
};

use super::records::ReadFailure;
use crate::error::{CsvError, CsvErrorKind, Error};

/// The most bytes read ahead to find how the document's lines end.
pub(super) const SNIFF_LIMIT: usize = 64 * 1024;

/// The most bytes one record of an items CSV may take, the header row included: 1 MiB.
///
/// A record that outgrows it (an unclosed quote, a line that never ends) fails the
/// read with [`CsvErrorKind::TooLarge`](crate::error::CsvErrorKind::TooLarge) as soon as it does, the rest left unread, so
/// that [`ItemsCsvReader`](super::ItemsCsvReader) never holds more than about this much of one record (a
/// 64 KiB read aside). Through the client, such an answer fails with
/// [`TransportKind::TooLarge`](crate::error::TransportKind::TooLarge), never retried.
pub const MAX_CSV_RECORD_BYTES: usize = 1 << 20;

/// Whether a record is a blank line: the csv crate skips empty lines itself, but reads
/// a CRLF blank line, when records end at a line feed, as one field holding `\r`.
pub(super) fn is_blank<'a>(mut cells: impl Iterator<Item = &'a [u8]>) -> bool {
    matches!((cells.next(), cells.next()), (Some(b"\r"), None))
}

/// The document: first the bytes read ahead to find how its lines end, then the rest
/// straight from the reader.
pub(super) struct Source<R> {
    inner: R,
    head: Vec<u8>,
    /// How much of `head` has been given.
    head_given: usize,
    /// An I/O error met while reading ahead, given once `head` has been.
    pending: Option<io::Error>,
    /// Whether the first line end is a bare CR.
    pub(super) bare_cr: bool,
}

impl<R: fmt::Debug> fmt::Debug for Source<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The bytes read ahead are the document's, not worth printing.
        f.debug_struct("Source")
            .field("inner", &self.inner)
            .field("bare_cr", &self.bare_cr)
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
        }
    }
}

impl<R: Read> Read for Source<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.head_given < self.head.len() {
            let ahead = &self.head[self.head_given..];
            let n = ahead.len().min(buf.len());
            buf[..n].copy_from_slice(&ahead[..n]);
            self.head_given += n;
            if self.head_given == self.head.len() {
                // Given in full: its memory goes back.
                self.head = Vec::new();
                self.head_given = 0;
            }
            Ok(n)
        } else if let Some(err) = self.pending.take() {
            Err(err)
        } else {
            self.inner.read(buf)
        }
    }
}

/// A failure to read a record: a record over the size bound is
/// [`CsvErrorKind::TooLarge`], at the record and line it started on; a failure of the
/// reader is [`CsvErrorKind::Io`], with the reader's own error as its cause.
pub(super) fn read_failure(failure: ReadFailure) -> Error {
    let (kind, problem, position, source) = match failure {
        ReadFailure::TooLarge(position) => (
            CsvErrorKind::TooLarge,
            format!(
                "a record longer than {MAX_CSV_RECORD_BYTES} bytes (an unclosed quote, or a \
                 line that never ends)"
            ),
            position,
            // The problem says it all: no cause to repeat it.
            None,
        ),
        ReadFailure::Io(err, position) => (
            CsvErrorKind::Io,
            "the document could not be read".to_string(),
            position,
            Some(Box::new(err) as Box<dyn std::error::Error + Send + Sync>),
        ),
    };
    CsvError {
        kind,
        problem,
        column: None,
        record: position.record,
        line: position.line,
        byte: position.byte,
        source,
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
