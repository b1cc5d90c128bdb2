//! A period's rows while a dataset is written: spooled to a file of its own as typed
//! cells (a compact binary form, read back only by this module), with the digits each
//! decimal column needs, so that memory holds one row group whatever the period's size.

use std::{
    fs::File,
    io::{BufReader, BufWriter, Read, Write},
    path::{Path, PathBuf},
};

use ec_billing::Decimal;
use jiff::Timestamp;

use crate::{
    error::{Error, FileError, Result},
    export::Cell,
};

/// How a cell is tagged in a spool.
const NULL: u8 = 0;
const TEXT: u8 = 1;
const DECIMAL: u8 = 2;
const INSTANT: u8 = 3;
const INTEGER: u8 = 4;
const FALSE: u8 = 5;
const TRUE: u8 = 6;
/// The same text or amount as the cell above it (most are: a period's rows share
/// their organization, units, currency and prices).
const REPEAT: u8 = 7;

/// The most bytes a spooled row may have: far above any the ledger writes (its texts
/// are bounded when fetched); a longer one is a damaged spool.
const MAX_ROW: usize = 64 << 20;

/// One period's spool, being written.
#[derive(Debug)]
pub(crate) struct Spool {
    path: PathBuf,
    out: BufWriter<File>,
    row: Vec<u8>,
    rows: u64,
    /// Per column: the most digits before and after the point of its decimals.
    digits: Vec<(u32, u32)>,
    /// Per column: the last row's cell, when it was text or an amount.
    above: Vec<Above>,
    /// Where a cell's text is made when it is not text already.
    scratch: Vec<u8>,
}

/// Appends a text cell to `row`: a repeat of the text above it as one byte, or the text,
/// which is then kept as the one above.
fn push_text(row: &mut Vec<u8>, above: Option<&mut Above>, text: &[u8]) {
    match above {
        Some(Above::Text(kept)) if kept.as_slice() == text => row.push(REPEAT),
        above => {
            row.push(TEXT);
            let len = u32::try_from(text.len()).unwrap_or(u32::MAX);
            row.extend_from_slice(&len.to_le_bytes());
            row.extend_from_slice(text);
            match above {
                Some(Above::Text(kept)) => {
                    kept.clear();
                    kept.extend_from_slice(text);
                }
                Some(other) => *other = Above::Text(text.to_vec()),
                None => {}
            }
        }
    }
}

/// The cell above, kept to write (or read) a repeat of it as one byte.
#[derive(Debug, Clone, Default)]
enum Above {
    #[default]
    Nothing,
    /// Text being written.
    Text(Vec<u8>),
    /// Text read (checked once, when it was read).
    Read(String),
    Decimal(Decimal),
}

impl Spool {
    /// A new spool at `path`, for rows of `width` cells.
    ///
    /// # Errors
    ///
    /// [`Error::Storage`] when the file cannot be made.
    pub(crate) fn create(path: PathBuf, width: usize) -> Result<Self> {
        let file = File::create(&path).map_err(|e| failed(&path, e))?;
        Ok(Self {
            out: BufWriter::with_capacity(1 << 16, file),
            path,
            row: Vec::with_capacity(1024),
            rows: 0,
            digits: vec![(0, 0); width],
            above: vec![Above::Nothing; width],
            scratch: Vec::new(),
        })
    }

    /// Appends one row.
    ///
    /// # Errors
    ///
    /// [`Error::Storage`] when the file cannot be written.
    pub(crate) fn push<'c>(&mut self, cells: impl IntoIterator<Item = Cell<'c>>) -> Result<()> {
        self.row.clear();
        for (column, cell) in cells.into_iter().enumerate() {
            match cell {
                Cell::Null => self.row.push(NULL),
                Cell::Text(text) => {
                    push_text(&mut self.row, self.above.get_mut(column), text.as_bytes())
                }
                Cell::SkuPrice(..) => {
                    self.scratch.clear();
                    cell.push_text(&mut self.scratch);
                    push_text(&mut self.row, self.above.get_mut(column), &self.scratch);
                }
                Cell::Decimal(amount) => match self.above.get_mut(column) {
                    // The same amount at the same scale: its digits are counted.
                    Some(Above::Decimal(above))
                        if above.mantissa() == amount.mantissa()
                            && above.scale() == amount.scale() =>
                    {
                        self.row.push(REPEAT);
                    }
                    above => {
                        if let Some(above) = above {
                            *above = Above::Decimal(amount);
                        }
                        let amount = amount.normalize();
                        if let Some(digits) = self.digits.get_mut(column) {
                            let (integer, scale) = decimal_digits(amount);
                            digits.0 = digits.0.max(integer);
                            digits.1 = digits.1.max(scale);
                        }
                        self.row.push(DECIMAL);
                        self.row.extend_from_slice(&amount.serialize());
                    }
                },
                Cell::Instant(at) => {
                    self.row.push(INSTANT);
                    self.row.extend_from_slice(&at.as_second().to_le_bytes());
                    self.row
                        .extend_from_slice(&at.subsec_nanosecond().to_le_bytes());
                }
                Cell::Integer(n) => {
                    self.row.push(INTEGER);
                    self.row.extend_from_slice(&n.to_le_bytes());
                }
                Cell::Bool(b) => self.row.push(if b { TRUE } else { FALSE }),
            }
        }
        let len = u32::try_from(self.row.len()).unwrap_or(u32::MAX);
        self.out
            .write_all(&len.to_le_bytes())
            .and_then(|()| self.out.write_all(&self.row))
            .map_err(|e| failed(&self.path, e))?;
        self.rows += 1;
        Ok(())
    }

    /// Ends the writing; the rows can then be read back.
    ///
    /// # Errors
    ///
    /// [`Error::Storage`] when the file cannot be written.
    pub(crate) fn finish(mut self) -> Result<SpoolFile> {
        self.out.flush().map_err(|e| failed(&self.path, e))?;
        Ok(SpoolFile {
            path: self.path,
            rows: self.rows,
            digits: self.digits,
        })
    }
}

/// A period's spool, written whole.
#[derive(Debug)]
pub(crate) struct SpoolFile {
    pub(crate) path: PathBuf,
    pub(crate) rows: u64,
    pub(crate) digits: Vec<(u32, u32)>,
}

impl SpoolFile {
    /// Reads the rows back, one at a time.
    ///
    /// # Errors
    ///
    /// [`Error::Storage`] when the file cannot be opened.
    pub(crate) fn reader(&self) -> Result<SpoolReader> {
        let file = File::open(&self.path).map_err(|e| failed(&self.path, e))?;
        Ok(SpoolReader {
            path: self.path.clone(),
            input: BufReader::with_capacity(1 << 16, file),
            row: Vec::new(),
            above: vec![Above::Nothing; self.digits.len()],
        })
    }
}

/// Reads a spool's rows back.
#[derive(Debug)]
pub(crate) struct SpoolReader {
    path: PathBuf,
    input: BufReader<File>,
    row: Vec<u8>,
    /// Per column: the last row's cell, when it was text or an amount.
    above: Vec<Above>,
}

impl SpoolReader {
    /// Calls `each` with the next row's cells, in order; `false` at the end.
    ///
    /// # Errors
    ///
    /// [`Error::Storage`] when the file cannot be read or is not a spool this module
    /// wrote.
    pub(crate) fn next_row(&mut self, mut each: impl FnMut(Cell<'_>)) -> Result<bool> {
        let mut len = [0u8; 4];
        match self.input.read_exact(&mut len) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(false),
            Err(e) => return Err(failed(&self.path, e)),
        }
        let len = u32::from_le_bytes(len) as usize;
        if len > MAX_ROW {
            return Err(self.damaged());
        }
        self.row.resize(len, 0);
        self.input
            .read_exact(&mut self.row)
            .map_err(|e| failed(&self.path, e))?;
        let path = &self.path;
        let damaged = || damaged(path);
        let mut rest: &[u8] = &self.row;
        let mut column = 0;
        while let Some((&tag, tail)) = rest.split_first() {
            rest = tail;
            let above = self.above.get_mut(column).ok_or_else(damaged)?;
            column += 1;
            let cell = match tag {
                NULL => Cell::Null,
                TEXT => {
                    let (len, tail) = take::<4>(rest).ok_or_else(damaged)?;
                    let len = u32::from_le_bytes(len) as usize;
                    if tail.len() < len {
                        return Err(damaged());
                    }
                    let (text, tail) = tail.split_at(len);
                    rest = tail;
                    let text = std::str::from_utf8(text).map_err(|_| damaged())?;
                    match above {
                        Above::Read(kept) => {
                            kept.clear();
                            kept.push_str(text);
                        }
                        other => *other = Above::Read(text.to_string()),
                    }
                    Cell::Text(text)
                }
                DECIMAL => {
                    let (bytes, tail) = take::<16>(rest).ok_or_else(damaged)?;
                    rest = tail;
                    let amount = Decimal::deserialize(bytes);
                    *above = Above::Decimal(amount);
                    Cell::Decimal(amount)
                }
                REPEAT => match above {
                    Above::Read(text) => Cell::Text(text),
                    Above::Decimal(amount) => Cell::Decimal(*amount),
                    Above::Nothing | Above::Text(_) => return Err(damaged()),
                },
                INSTANT => {
                    let (second, tail) = take::<8>(rest).ok_or_else(damaged)?;
                    let (nanos, tail) = take::<4>(tail).ok_or_else(damaged)?;
                    rest = tail;
                    Cell::Instant(
                        Timestamp::new(i64::from_le_bytes(second), i32::from_le_bytes(nanos))
                            .map_err(|_| damaged())?,
                    )
                }
                INTEGER => {
                    let (n, tail) = take::<8>(rest).ok_or_else(damaged)?;
                    rest = tail;
                    Cell::Integer(i64::from_le_bytes(n))
                }
                FALSE => Cell::Bool(false),
                TRUE => Cell::Bool(true),
                _ => return Err(damaged()),
            };
            each(cell);
        }
        Ok(true)
    }

    fn damaged(&self) -> Error {
        damaged(&self.path)
    }
}

/// The first `N` bytes of `bytes`, and the rest.
fn take<const N: usize>(bytes: &[u8]) -> Option<([u8; N], &[u8])> {
    let (head, tail) = bytes.split_first_chunk::<N>()?;
    Some((*head, tail))
}

/// The digits of a normalized amount before the point (none for `0.5`) and after it.
pub(crate) fn decimal_digits(amount: Decimal) -> (u32, u32) {
    let scale = amount.scale();
    let digits = amount
        .mantissa()
        .unsigned_abs()
        .checked_ilog10()
        .map_or(0, |log| log + 1);
    (digits.saturating_sub(scale), scale)
}

fn failed(path: &Path, e: std::io::Error) -> Error {
    Error::Storage(FileError::new(
        path,
        "cannot spool the dataset's rows",
        Some(Box::new(e)),
    ))
}

fn damaged(path: &Path) -> Error {
    Error::Storage(FileError::new(
        path,
        "the dataset's spool is damaged: it holds what this export did not write",
        None,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spooled_row_reads_back_cell_for_cell() {
        let dir = std::env::temp_dir().join(format!("ec-ledger-spool-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let at: Timestamp = "2024-01-01T00:00:00.5Z".parse().unwrap();
        let cells = [
            Cell::Null,
            Cell::Text("Elastic \u{e9}"),
            Cell::Decimal("-0.023100".parse().unwrap()),
            Cell::Instant(at),
            Cell::Integer(-7),
            Cell::Bool(true),
            Cell::Bool(false),
            Cell::Text(""),
        ];
        let mut spool = Spool::create(dir.join("p.spool"), cells.len()).unwrap();
        spool.push(cells).unwrap();
        spool.push([Cell::Null; 8]).unwrap();
        // The same texts and amounts again: each a repeat of the last one above it.
        spool.push(cells).unwrap();
        let file = spool.finish().unwrap();
        assert_eq!(file.rows, 3);
        assert_eq!(file.digits[2], (0, 4), "normalized: 0.0231");
        let mut reader = file.reader().unwrap();
        let mut read = Vec::new();
        assert!(
            reader
                .next_row(|cell| read.push(format!("{cell:?}")))
                .unwrap()
        );
        let mut expected = cells.to_vec();
        expected[2] = Cell::Decimal("-0.0231".parse().unwrap());
        let expected: Vec<String> = expected.iter().map(|c| format!("{c:?}")).collect();
        assert_eq!(read, expected);
        let mut read = Vec::new();
        assert!(
            reader
                .next_row(|cell| read.push(cell == Cell::Null))
                .unwrap()
        );
        assert_eq!(read, vec![true; 8]);
        let mut again = Vec::new();
        assert!(
            reader
                .next_row(|cell| again.push(format!("{cell:?}")))
                .unwrap()
        );
        assert_eq!(again, expected, "repeats read back as what they repeat");
        assert!(!reader.next_row(|_| ()).unwrap());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_decimal_counts_its_digits_on_each_side_of_the_point() {
        let digits = |text: &str| decimal_digits(text.parse::<Decimal>().unwrap().normalize());
        assert_eq!(digits("0.5"), (0, 1));
        assert_eq!(digits("12.5"), (2, 1));
        assert_eq!(digits("-100"), (3, 0));
        assert_eq!(digits("0"), (0, 0));
    }
}
