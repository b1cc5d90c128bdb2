//! The document's records, each read as the csv crate reads it and placed where the
//! csv crate places it, in a buffer of their own.
//!
//! Most lines of an items CSV hold no quote. Such a line is one record, its cells
//! separated by commas: it is split where it lies in the buffer, found with one
//! vectorised search for the line end. Any other record (one with a quote, the header
//! row, which may start with a byte-order mark, and every record of a document whose
//! lines end with a bare CR) is read by the csv crate's own parser, `csv_core`, with
//! the configuration the csv crate would be given. So every record is the csv crate's
//! record, at the csv crate's position (a test reads arbitrary documents both ways).
//!
//! Memory stays bounded: the buffer holds one record and what was read past it, and a
//! record that grows past [`MAX_CSV_RECORD_BYTES`] is refused before more is read.

use std::io::{self, Read};

use csv_core::ReadRecordResult;

use super::source::{MAX_CSV_RECORD_BYTES, Source};

/// How many bytes the buffer holds at first, and reads at least at a time.
const CHUNK: usize = 64 * 1024;

/// Where a record is, as the csv crate counts it: the byte and line where the previous
/// record ended (so before any blank lines that precede the record), and the record's
/// number, the first record (the header row) being 0.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Position {
    pub(super) byte: u64,
    pub(super) line: u64,
    pub(super) record: u64,
}

impl Position {
    const START: Self = Self {
        byte: 0,
        line: 1,
        record: 0,
    };
}

/// One record: each cell is a range of `bytes`, in order.
#[derive(Clone, Copy, Debug)]
pub(super) struct Record<'a> {
    bytes: &'a [u8],
    cells: &'a [(usize, usize)],
    /// Where the record is, as the csv crate counts it.
    pub(super) position: Position,
    /// The line the record's first cell is on (not counted in a bare-CR document).
    pub(super) line: u64,
}

impl<'a> Record<'a> {
    /// How many cells the record has.
    #[inline]
    pub(super) fn len(&self) -> usize {
        self.cells.len()
    }

    /// The cell at `column`.
    #[inline]
    pub(super) fn get(&self, column: usize) -> Option<&'a [u8]> {
        let &(start, end) = self.cells.get(column)?;
        self.bytes.get(start..end)
    }

    /// The cells, in order.
    #[inline]
    pub(super) fn iter(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        let bytes = self.bytes;
        self.cells
            .iter()
            .map(move |&(start, end)| bytes.get(start..end).unwrap_or_default())
    }

    /// The bytes the cells lie in: every cell, and between them only ASCII
    /// separators (commas, quotes). So they are UTF-8 exactly when every cell is, and
    /// hold a line feed exactly when a cell does.
    #[inline]
    pub(super) fn as_slice(&self) -> &'a [u8] {
        self.bytes
    }
}

/// Why no record could be read.
#[derive(Debug)]
pub(super) enum ReadFailure {
    /// The source failed.
    Io(io::Error, Position),
    /// A record grew past [`MAX_CSV_RECORD_BYTES`]: where it is.
    TooLarge(Position),
}

/// Where the record just read lies.
#[derive(Clone, Copy, Debug)]
enum Held {
    /// In the buffer, from the first index to the second.
    Buffer(usize, usize),
    /// In `cells`, as read by `csv_core`.
    Cells,
}

/// The document's records, read one at a time.
pub(super) struct Records<R> {
    source: Source<R>,
    /// The bytes read; those from `start` to `end` are not yet taken.
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Whether the source has ended.
    eof: bool,
    /// Whether a read failed: then the document ends there, as it does for the csv
    /// crate, and nothing more is read (a caller that skips failures is not handed a
    /// record started in the middle of another, nor the same failure for ever).
    failed: bool,
    /// The csv crate's parser, configured as the csv crate would configure it.
    core: csv_core::Reader,
    /// Whether a line without a quote may be split in place: not in a bare-CR
    /// document, and not before the header row was read.
    split_in_place: bool,
    /// The record read: where it lies, and the range of each cell there.
    held: Held,
    bounds: Vec<(usize, usize)>,
    /// `csv_core`'s ends of cells.
    ends: Vec<usize>,
    /// A record read by `csv_core`: its cells, joined by commas.
    cells: Vec<u8>,
    /// `csv_core`'s output: the cells without separators.
    output: Vec<u8>,
    /// Where the last record ended: the next one's position.
    position: Position,
    /// The record read: its position and first line.
    current: Position,
    line: u64,
}

impl<R> std::fmt::Debug for Records<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The bytes are the document's, not worth printing.
        f.debug_struct("Records")
            .field("position", &self.position)
            .field("eof", &self.eof)
            .finish_non_exhaustive()
    }
}

impl<R: Read> Records<R> {
    /// The records of `source`; a bare-CR document's end at any CR or LF, the others'
    /// at a line feed (the CR before it stays in the last cell).
    pub(super) fn new(source: Source<R>) -> Self {
        let bare_cr = source.bare_cr;
        let mut builder = csv_core::ReaderBuilder::new();
        if !bare_cr {
            builder.terminator(csv_core::Terminator::Any(b'\n'));
        }
        Self {
            source,
            buf: vec![0; CHUNK],
            start: 0,
            end: 0,
            eof: false,
            failed: false,
            core: builder.build(),
            split_in_place: false,
            held: Held::Cells,
            bounds: Vec::new(),
            ends: Vec::new(),
            cells: Vec::new(),
            output: Vec::new(),
            position: Position::START,
            current: Position::START,
            line: 1,
        }
    }

    /// Whether lines end with a bare CR.
    pub(super) fn bare_cr(&self) -> bool {
        self.source.bare_cr
    }

    /// Where the last record ended.
    #[cfg(test)]
    pub(super) fn position(&self) -> Position {
        self.position
    }

    /// The record last read by [`read`](Self::read).
    #[inline]
    pub(super) fn record(&self) -> Record<'_> {
        let bytes = match self.held {
            Held::Buffer(start, end) => self.buf.get(start..end).unwrap_or_default(),
            Held::Cells => &self.cells,
        };
        Record {
            bytes,
            cells: &self.bounds,
            position: self.current,
            line: self.line,
        }
    }

    /// Reads the next record; `false` at the end of the document.
    ///
    /// # Errors
    ///
    /// The source's failure, or a record longer than [`MAX_CSV_RECORD_BYTES`]; every
    /// read after a failure finds the end.
    pub(super) fn read(&mut self) -> Result<bool, ReadFailure> {
        if self.failed {
            return Ok(false);
        }
        let read = self.read_record();
        self.failed = read.is_err();
        read
    }

    fn read_record(&mut self) -> Result<bool, ReadFailure> {
        self.current = self.position;
        if !self.split_in_place {
            let read = self.read_parsed();
            self.split_in_place = !self.source.bare_cr;
            return read;
        }
        // Bytes searched for a line end (or a quote, until one is found), from `start`.
        let mut searched = 0;
        let mut quoted = false;
        loop {
            let unread = self.buf.get(self.start..self.end).unwrap_or_default();
            let rest = unread.get(searched..).unwrap_or_default();
            let found = if quoted {
                memchr::memchr(b'\n', rest)
            } else {
                memchr::memchr2(b'\n', b'"', rest)
            };
            let split = match found.map(|at| searched + at) {
                Some(at) if unread.get(at) == Some(&b'"') => {
                    quoted = true;
                    searched = at + 1;
                    continue;
                }
                Some(0) => {
                    // A blank line, which the csv crate skips.
                    self.take(1, 1);
                    continue;
                }
                Some(at) => self.split(at, true, quoted),
                None if self.eof => {
                    if unread.is_empty() {
                        return Ok(false);
                    }
                    // The last line, without a line end.
                    self.split(unread.len(), false, quoted)
                }
                None => {
                    searched = unread.len();
                    self.fill()?;
                    continue;
                }
            };
            return if split { Ok(true) } else { self.read_parsed() };
        }
    }

    /// Takes the line of `length` bytes at `start` as the record, and the line feed
    /// after it when `ended`; `false`, nothing taken, when the line holds a quote
    /// (`quoted`) that only the csv crate's parser may read: one that is doubled,
    /// followed by anything but a comma or the line's end, or not closed on the line.
    #[inline]
    fn split(&mut self, length: usize, ended: bool, quoted: bool) -> bool {
        let line = self
            .buf
            .get(self.start..self.start + length)
            .unwrap_or_default();
        self.bounds.clear();
        if !split_line(line, quoted, &mut self.bounds) {
            return false;
        }
        self.held = Held::Buffer(self.start, self.start + length);
        self.line = self.position.line;
        self.take(length + usize::from(ended), u64::from(ended));
        self.position.record += 1;
        true
    }

    /// Takes `bytes` bytes, holding `lines` line feeds, off the front of the unread ones.
    #[inline]
    fn take(&mut self, bytes: usize, lines: u64) {
        self.start += bytes;
        self.position.byte += bytes as u64;
        self.position.line += lines;
    }

    /// Reads the next record with `csv_core`, as the csv crate does.
    fn read_parsed(&mut self) -> Result<bool, ReadFailure> {
        if self.output.is_empty() {
            self.output.resize(1024, 0);
        }
        if self.ends.len() < 64 {
            self.ends.resize(64, 0);
        }
        let (mut written, mut ended) = (0, 0);
        loop {
            // `csv_core` takes empty input for the end of the document.
            if self.start == self.end && !self.eof {
                self.fill()?;
                continue;
            }
            let input = self.buf.get(self.start..self.end).unwrap_or_default();
            let (result, read, wrote, ends) = self.core.read_record(
                input,
                self.output.get_mut(written..).unwrap_or_default(),
                self.ends.get_mut(ended..).unwrap_or_default(),
            );
            let lines = memchr::memchr_iter(b'\n', input.get(..read).unwrap_or_default()).count();
            let terminated = read > 0 && input.get(read - 1) == Some(&b'\n');
            self.take(read, lines as u64);
            written += wrote;
            ended += ends;
            match result {
                ReadRecordResult::InputEmpty => {}
                ReadRecordResult::OutputFull => {
                    let grown = self.output.len() * 2;
                    self.output.resize(grown, 0);
                }
                ReadRecordResult::OutputEndsFull => {
                    let grown = self.ends.len() * 2;
                    self.ends.resize(grown, 0);
                }
                ReadRecordResult::Record => {
                    self.ends.truncate(ended);
                    self.join(written);
                    // The record's first line: where it ended, less the line breaks
                    // quoted in its cells and the line feed that ended it.
                    let quoted = memchr::memchr_iter(b'\n', &self.cells).count() as u64;
                    self.line = (self.position.line)
                        .saturating_sub(quoted + u64::from(terminated && !self.source.bare_cr))
                        .max(self.current.line);
                    self.position.record += 1;
                    return Ok(true);
                }
                ReadRecordResult::End => {
                    self.bounds.clear();
                    return Ok(false);
                }
            }
        }
    }

    /// Joins the `written` bytes of `csv_core`'s cells with commas, into `cells`, so
    /// that no two cells' bytes run together.
    fn join(&mut self, written: usize) {
        self.cells.clear();
        self.bounds.clear();
        let output = self.output.get(..written).unwrap_or_default();
        let mut start = 0;
        for &end in &self.ends {
            if !self.bounds.is_empty() {
                self.cells.push(b',');
            }
            let at = self.cells.len();
            self.cells
                .extend_from_slice(output.get(start..end).unwrap_or_default());
            self.bounds.push((at, self.cells.len()));
            start = end;
        }
        self.held = Held::Cells;
    }

    /// Reads more of the source into the buffer, keeping the unread bytes; refuses a
    /// record that has outgrown [`MAX_CSV_RECORD_BYTES`] first.
    fn fill(&mut self) -> Result<(), ReadFailure> {
        let record_bytes = self.position.byte - self.current.byte + (self.end - self.start) as u64;
        if record_bytes >= MAX_CSV_RECORD_BYTES as u64 {
            return Err(ReadFailure::TooLarge(self.current));
        }
        if self.start > 0 && (self.end == self.buf.len() || self.start >= self.buf.len() / 2) {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.buf.len() - self.end < CHUNK / 2 {
            let grown = (self.buf.len() * 2).min(MAX_CSV_RECORD_BYTES + CHUNK);
            self.buf.resize(grown.max(self.end + CHUNK / 2), 0);
        }
        loop {
            match self
                .source
                .read(self.buf.get_mut(self.end..).unwrap_or_default())
            {
                Ok(0) => {
                    self.eof = true;
                    return Ok(());
                }
                Ok(read) => {
                    self.end += read;
                    return Ok(());
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(ReadFailure::Io(err, self.current)),
            }
        }
    }
}

/// Splits a line into cells as `csv_core` would: at its commas, except that a cell
/// that starts with a quote (only looked for when the line is `quoted`) ends at the
/// next quote, which must be followed by a comma or the line's end; a quote inside any
/// other cell is kept. `false` for any other line (a doubled quote, text after a
/// closing quote, a quote not closed on the line), which only `csv_core` may read.
#[inline]
fn split_line(line: &[u8], quoted: bool, bounds: &mut Vec<(usize, usize)>) -> bool {
    let (start, from) = if quoted {
        match split_quoted(line, bounds) {
            Quoted::Open { start, from } => (start, from),
            Quoted::Done => return true,
            Quoted::Refused => return false,
        }
    } else {
        (0, 0)
    };
    split_commas(line, start, from, bounds);
    true
}

/// Where [`split_quoted`] left a line.
enum Quoted {
    /// Split to its end.
    Done,
    /// The cell from `start` is open, unquoted, and the bytes from `from` hold no quote.
    Open { start: usize, from: usize },
    /// Only `csv_core` may read it.
    Refused,
}

/// Splits a line up to its last quote, at the commas and quotes found eight bytes at a
/// time.
#[inline]
fn split_quoted(line: &[u8], bounds: &mut Vec<(usize, usize)>) -> Quoted {
    let end = memchr::memrchr(b'"', line).map_or(0, |at| at + 1);
    let mut cell = Cell::at(line, 0);
    let mut event = |at: usize| -> Option<Quoted> {
        if at < cell.skip_until {
            return None;
        }
        let byte = line.get(at).copied().unwrap_or_default();
        if cell.quoted {
            if byte == b'"' {
                bounds.push((cell.start + 1, at));
                match line.get(at + 1) {
                    None => return Some(Quoted::Done),
                    Some(b',') => cell = Cell::at(line, at + 2),
                    Some(_) => return Some(Quoted::Refused),
                }
            }
        } else if byte == b',' {
            bounds.push((cell.start, at));
            cell = Cell::at(line, at + 1);
        }
        None
    };
    let (commas, quotes) = (repeat(b','), repeat(b'"'));
    let prefix = line.get(..end).unwrap_or_default();
    let mut words = prefix.chunks_exact(8);
    let mut base = 0;
    for word in &mut words {
        let word = word_of(word);
        let mut found = zero_bytes(word ^ commas) | zero_bytes(word ^ quotes);
        while found != 0 {
            if let Some(split) = event(base + (found.trailing_zeros() / 8) as usize) {
                return split;
            }
            found &= found - 1;
        }
        base += 8;
    }
    for (offset, &byte) in words.remainder().iter().enumerate() {
        if (byte == b',' || byte == b'"')
            && let Some(split) = event(base + offset)
        {
            return split;
        }
    }
    if cell.quoted {
        return Quoted::Refused;
    }
    Quoted::Open {
        start: cell.start,
        from: end.max(cell.skip_until),
    }
}

/// Splits the rest of a line from `from`, where no quote is, at its commas, eight bytes
/// at a time: the open cell starts at `start`.
#[inline]
fn split_commas(line: &[u8], mut start: usize, from: usize, bounds: &mut Vec<(usize, usize)>) {
    let commas = repeat(b',');
    let mut words = line.get(from..).unwrap_or_default().chunks_exact(8);
    let mut base = from;
    for word in &mut words {
        let mut found = zero_bytes(word_of(word) ^ commas);
        while found != 0 {
            let at = base + (found.trailing_zeros() / 8) as usize;
            bounds.push((start, at));
            start = at + 1;
            found &= found - 1;
        }
        base += 8;
    }
    for (offset, &byte) in words.remainder().iter().enumerate() {
        if byte == b',' {
            bounds.push((start, base + offset));
            start = base + offset + 1;
        }
    }
    bounds.push((start, line.len()));
}

/// `byte` in every byte of a word.
#[inline]
fn repeat(byte: u8) -> u64 {
    u64::from_ne_bytes([byte; 8])
}

/// Eight bytes as a word, the first the lowest.
#[inline]
fn word_of(bytes: &[u8]) -> u64 {
    // Always eight bytes (`chunks_exact(8)`); fewer would read as zeros, never panic.
    let mut word = [0; 8];
    for (to, from) in word.iter_mut().zip(bytes) {
        *to = *from;
    }
    u64::from_le_bytes(word)
}

/// The cell being split: where it starts, whether it is quoted, and before where the
/// separators found are its own opening quote or the comma before it.
#[derive(Clone, Copy)]
struct Cell {
    start: usize,
    quoted: bool,
    skip_until: usize,
}

impl Cell {
    #[inline]
    fn at(line: &[u8], start: usize) -> Self {
        let quoted = line.get(start) == Some(&b'"');
        Self {
            start,
            quoted,
            skip_until: start + usize::from(quoted),
        }
    }
}

/// The high bit of each byte of `x` that is zero, and no other bit: no carry crosses
/// a byte, so no byte is found wrongly.
#[inline]
fn zero_bytes(x: u64) -> u64 {
    let low = u64::from_ne_bytes([0x7f; 8]);
    !(((x & low) + low) | x | low)
}
