//! A period's Parquet file, written from its spool with the `parquet` crate's
//! low-level writer, a row group at a time: money as `DECIMAL` with the precision and
//! scale the period's amounts need (never a float), instants as UTC timestamps in
//! microseconds, text as UTF-8 strings.

use std::{fs::File, io::BufWriter, path::Path, sync::Arc};

use bytes::Bytes;
use parquet::{
    basic::Compression,
    data_type::{
        ByteArray, ByteArrayType, FixedLenByteArray, FixedLenByteArrayType, Int32Type, Int64Type,
    },
    file::{properties::WriterProperties, writer::SerializedFileWriter},
    schema::parser::parse_message_type,
};

use super::{Kind, ROW_GROUP, kind, spool::SpoolFile};
use crate::{
    error::{Error, FileError, Result},
    export::{Cell, FocusVersion},
};

/// The Parquet schema of `columns`, decimal columns with the precision and scale their
/// `digits` (most digits before and after the point, by column) need.
pub(super) fn schema(columns: &[&str], digits: &[(u32, u32)]) -> Result<String> {
    let mut message = String::from("message focus {\n");
    for (i, column) in columns.iter().enumerate() {
        let field = match kind(column) {
            Kind::String => format!("  OPTIONAL BYTE_ARRAY {column} (STRING);\n"),
            Kind::Timestamp => {
                format!("  OPTIONAL INT64 {column} (TIMESTAMP(MICROS,true));\n")
            }
            Kind::Decimal => {
                let (integer, scale) = digits.get(i).copied().unwrap_or((0, 0));
                let precision = (integer + scale).max(1);
                if precision > 38 {
                    return Err(Error::InvalidInput(format!(
                        "the column {column} would need {precision} digits, more than a \
                         Parquet DECIMAL holds exactly (38): export this period as CSV"
                    )));
                }
                // The physical type the format recommends for the precision: 32-bit
                // integers to 9 digits, 64-bit to 18, 16 bytes beyond.
                let physical = match Physical::of(precision) {
                    Physical::Int32 => "INT32",
                    Physical::Int64 => "INT64",
                    Physical::Bytes16 => "FIXED_LEN_BYTE_ARRAY (16)",
                };
                format!("  OPTIONAL {physical} {column} (DECIMAL({precision},{scale}));\n")
            }
        };
        message.push_str(&field);
    }
    message.push('}');
    Ok(message)
}

/// One column's values of a row group, with their definition levels (0: null). Text
/// and decimals are kept in one buffer per column, handed to the writer as slices of
/// it (no allocation per value).
enum Values {
    Text {
        data: Vec<u8>,
        ends: Vec<usize>,
        levels: Vec<i16>,
    },
    Micros {
        values: Vec<i64>,
        levels: Vec<i16>,
    },
    Decimal {
        scale: u32,
        /// The unscaled amounts, written as the column's physical type says.
        values: Vec<i128>,
        physical: Physical,
        levels: Vec<i16>,
    },
}

/// How a decimal column is stored, by its precision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Physical {
    Int32,
    Int64,
    Bytes16,
}

impl Physical {
    fn of(precision: u32) -> Self {
        if precision <= 9 {
            Self::Int32
        } else if precision <= 18 {
            Self::Int64
        } else {
            Self::Bytes16
        }
    }
}

impl Values {
    fn new(kind: Kind, (integer, scale): (u32, u32)) -> Self {
        match kind {
            Kind::String => Self::Text {
                data: Vec::new(),
                ends: Vec::new(),
                levels: Vec::new(),
            },
            Kind::Timestamp => Self::Micros {
                values: Vec::new(),
                levels: Vec::new(),
            },
            Kind::Decimal => Self::Decimal {
                scale,
                values: Vec::new(),
                physical: Physical::of((integer + scale).max(1)),
                levels: Vec::new(),
            },
        }
    }

    fn clear(&mut self) {
        match self {
            Self::Text { data, ends, levels } => {
                data.clear();
                ends.clear();
                levels.clear();
            }
            Self::Micros { values, levels } => {
                values.clear();
                levels.clear();
            }
            Self::Decimal { values, levels, .. } => {
                values.clear();
                levels.clear();
            }
        }
    }

    /// Takes one cell; `Err` names what does not fit the column (a cell of another
    /// type, an amount with more fraction digits than the column's scale).
    fn push(&mut self, cell: Cell<'_>) -> std::result::Result<(), String> {
        match (self, cell) {
            (
                Self::Text { levels, .. }
                | Self::Micros { levels, .. }
                | Self::Decimal { levels, .. },
                Cell::Null,
            ) => {
                levels.push(0);
            }
            (Self::Text { data, ends, levels }, cell) => {
                cell.push_text(data);
                ends.push(data.len());
                levels.push(1);
            }
            (Self::Micros { values, levels }, Cell::Instant(at)) => {
                values.push(at.as_microsecond());
                levels.push(1);
            }
            (
                Self::Decimal {
                    scale,
                    values,
                    levels,
                    ..
                },
                Cell::Decimal(amount),
            ) => {
                let unscaled = unscaled(amount, *scale).ok_or_else(|| {
                    format!("the amount {amount} cannot be held exactly at scale {scale}")
                })?;
                values.push(unscaled);
                levels.push(1);
            }
            (_, cell) => return Err(format!("a cell {cell:?} of another type than its column's")),
        }
        Ok(())
    }

    /// Writes the values to `column`.
    fn write(
        &mut self,
        column: &mut parquet::file::writer::SerializedColumnWriter<'_>,
    ) -> parquet::errors::Result<()> {
        match self {
            Self::Text { data, ends, levels } => {
                let bytes = Bytes::from(std::mem::take(data));
                let mut start = 0;
                let values: Vec<ByteArray> = ends
                    .iter()
                    .map(|&end| {
                        let value = ByteArray::from(bytes.slice(start..end));
                        start = end;
                        value
                    })
                    .collect();
                column
                    .typed::<ByteArrayType>()
                    .write_batch(&values, Some(levels), None)?;
            }
            Self::Micros { values, levels } => {
                column
                    .typed::<Int64Type>()
                    .write_batch(values, Some(levels), None)?;
            }
            Self::Decimal {
                values,
                physical,
                levels,
                ..
            } => {
                // The schema's precision holds every amount: each fits its type.
                let narrow = |_| {
                    parquet::errors::ParquetError::General("an amount wider than its column".into())
                };
                match physical {
                    Physical::Int32 => {
                        let values: Vec<i32> = values
                            .iter()
                            .map(|&v| i32::try_from(v).map_err(narrow))
                            .collect::<parquet::errors::Result<_>>()?;
                        column
                            .typed::<Int32Type>()
                            .write_batch(&values, Some(levels), None)?;
                    }
                    Physical::Int64 => {
                        let values: Vec<i64> = values
                            .iter()
                            .map(|&v| i64::try_from(v).map_err(narrow))
                            .collect::<parquet::errors::Result<_>>()?;
                        column
                            .typed::<Int64Type>()
                            .write_batch(&values, Some(levels), None)?;
                    }
                    Physical::Bytes16 => {
                        // Each value its own bytes: statistics kept until the file
                        // closes hold a value, never a row group's buffer.
                        let values: Vec<FixedLenByteArray> = values
                            .iter()
                            .map(|v| FixedLenByteArray::from(v.to_be_bytes().to_vec()))
                            .collect();
                        column.typed::<FixedLenByteArrayType>().write_batch(
                            &values,
                            Some(levels),
                            None,
                        )?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// The period's Parquet file at `target`, from its spool, a row group at a time.
pub(super) fn parquet_file(
    spool: &SpoolFile,
    target: &Path,
    columns: &[&str],
    version: FocusVersion,
) -> Result<()> {
    let failed = |e: parquet::errors::ParquetError| {
        Error::Storage(FileError::new(target, "cannot write it", Some(Box::new(e))))
    };
    let message = schema(columns, &spool.digits)?;
    let schema = Arc::new(parse_message_type(&message).map_err(failed)?);
    let properties = Arc::new(
        WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            // The same rows, the same bytes: no version of this program inside.
            .set_created_by(format!("ec-billing FOCUS {version}"))
            .build(),
    );
    let file = File::create(target).map_err(|e| {
        Error::Storage(FileError::new(target, "cannot write it", Some(Box::new(e))))
    })?;
    let mut writer =
        SerializedFileWriter::new(BufWriter::with_capacity(1 << 16, file), schema, properties)
            .map_err(failed)?;
    let fresh = || -> Vec<Values> {
        columns
            .iter()
            .enumerate()
            .map(|(i, column)| {
                Values::new(kind(column), spool.digits.get(i).copied().unwrap_or((0, 0)))
            })
            .collect()
    };
    // Two row groups in flight: one read from the spool on a thread of its own while
    // the other is encoded and written here.
    let (filled_tx, filled) = std::sync::mpsc::sync_channel::<Result<Vec<Values>>>(1);
    let (empty, empty_rx) = std::sync::mpsc::channel::<Vec<Values>>();
    for _ in 0..2 {
        let _ = empty.send(fresh());
    }
    std::thread::scope(|scope| {
        // Owned here: when this returns early, the reader's `recv` ends, and so does it.
        let (empty, filled) = (empty, filled);
        scope.spawn(move || {
            let mut reader = match spool.reader() {
                Ok(reader) => reader,
                Err(e) => {
                    let _ = filled_tx.send(Err(e));
                    return;
                }
            };
            while let Ok(mut values) = empty_rx.recv() {
                match row_group(&mut reader, &mut values, columns) {
                    Ok(0) => return,
                    Ok(_) => {
                        if filled_tx.send(Ok(values)).is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        let _ = filled_tx.send(Err(e));
                        return;
                    }
                }
            }
        });
        for values in filled {
            let mut values = values?;
            let mut row_group = writer.next_row_group().map_err(failed)?;
            let mut index = 0;
            while let Some(mut column) = row_group.next_column().map_err(failed)? {
                if let Some(values) = values.get_mut(index) {
                    values.write(&mut column).map_err(failed)?;
                }
                column.close().map_err(failed)?;
                index += 1;
            }
            row_group.close().map_err(failed)?;
            let _ = empty.send(values);
        }
        Ok::<(), Error>(())
    })?;
    writer.close().map_err(failed)?;
    Ok(())
}

/// Reads the next row group's rows (at most [`ROW_GROUP`]) from `reader` into
/// `values` (cleared first); returns how many.
fn row_group(
    reader: &mut super::spool::SpoolReader,
    values: &mut [Values],
    columns: &[&str],
) -> Result<usize> {
    values.iter_mut().for_each(Values::clear);
    let mut rows = 0;
    let mut wrong: Option<String> = None;
    while rows < ROW_GROUP {
        let mut index = 0;
        let more = reader.next_row(|cell| {
            if let Some(column) = values.get_mut(index)
                && let Err(what) = column.push(cell)
            {
                wrong.get_or_insert(format!("column {}: {what}", columns[index]));
            }
            index += 1;
        })?;
        if !more {
            break;
        }
        if index != columns.len() {
            wrong.get_or_insert(format!("a row of {index} cells, not {}", columns.len()));
        }
        rows += 1;
    }
    match wrong {
        Some(what) => Err(Error::InvalidInput(format!(
            "the period's rows cannot be written as Parquet: {}",
            ec_billing::text::escape(&what).truncate(160)
        ))),
        None => Ok(rows),
    }
}

/// `amount` as an integer of `scale` digits after the point: its mantissa times a
/// power of ten (exact, in 128 bits); `None` when it has more fraction digits than
/// `scale` or does not fit.
pub(super) fn unscaled(amount: ec_billing::Decimal, scale: u32) -> Option<i128> {
    // The spool holds amounts normalized; another amount is normalized here. (Most
    // mantissas fit 64 bits, where a remainder is no 128-bit division.)
    let mantissa = amount.mantissa();
    let trailing_zero = match u64::try_from(mantissa.unsigned_abs()) {
        Ok(small) => small % 10 == 0,
        Err(_) => mantissa % 10 == 0,
    };
    let amount = if trailing_zero && amount.scale() > 0 {
        amount.normalize()
    } else {
        amount
    };
    let up = scale.checked_sub(amount.scale())?;
    let power = POWERS_OF_TEN.get(usize::try_from(up).ok()?)?;
    amount.mantissa().checked_mul(*power)
}

/// 10⁰ to 10³⁸, the powers of ten an `i128` holds.
const POWERS_OF_TEN: [i128; 39] = {
    let mut powers = [1i128; 39];
    let mut at = 1;
    while at < powers.len() {
        powers[at] = powers[at - 1] * 10;
        at += 1;
    }
    powers
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_decimal_column_gets_the_precision_and_scale_its_amounts_need() {
        let message = schema(&["BilledCost", "x_Kind"], &[(3, 6), (0, 0)]).unwrap();
        assert!(
            message.contains("INT32 BilledCost (DECIMAL(9,6))"),
            "{message}"
        );
        assert!(message.contains("BYTE_ARRAY x_Kind (STRING)"), "{message}");
        let message = schema(&["BilledCost"], &[(12, 6)]).unwrap();
        assert!(
            message.contains("INT64 BilledCost (DECIMAL(18,6))"),
            "{message}"
        );
        let message = schema(&["BilledCost"], &[(12, 7)]).unwrap();
        assert!(
            message.contains("FIXED_LEN_BYTE_ARRAY (16) BilledCost (DECIMAL(19,7))"),
            "{message}"
        );
        assert!(
            schema(&["BilledCost"], &[(20, 20)]).is_err(),
            "40 digits are refused"
        );
    }

    #[test]
    fn an_amount_is_scaled_exactly_or_refused() {
        let d = |text: &str| text.parse::<ec_billing::Decimal>().unwrap();
        assert_eq!(unscaled(d("1.25"), 4), Some(12_500));
        assert_eq!(unscaled(d("-0.5"), 1), Some(-5));
        assert_eq!(unscaled(d("1.25"), 1), None, "never rounded");
        assert_eq!(
            unscaled(d("79228162514264337593543950335"), 9),
            Some(79_228_162_514_264_337_593_543_950_335_000_000_000)
        );
    }
}
