//! A FOCUS dataset, laid out as the clouds deliver theirs: one folder per billing
//! period (`BILLING_PERIOD=YYYY-MM/`) holding that month's rows, as Parquet (money as
//! exact `DECIMAL`, instants as UTC timestamps, text as UTF-8) or as CSV, and a
//! manifest naming every file. A re-export rewrites only the periods whose rows
//! changed, each file written beside its place and renamed into it, so that a reader
//! never sees half a file and an unchanged period stays byte-identical; periods it
//! does not hold (another range) are left as they are.

use std::{
    collections::BTreeMap,
    fs::File,
    io::{BufWriter, Write},
    path::{Path, PathBuf},
    sync::Arc,
};

use ec_billing::Decimal;
use parquet::{
    basic::Compression,
    data_type::{ByteArray, ByteArrayType, FixedLenByteArray, FixedLenByteArrayType, Int64Type},
    file::{properties::WriterProperties, writer::SerializedFileWriter},
    schema::parser::parse_message_type,
};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::{
    Ledger,
    error::{Error, FileError, Result},
    export::{Export, FocusVersion, focus_amounts, focus_record},
    query::Query,
};

/// The file format of a dataset's periods.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DatasetFormat {
    /// Apache Parquet (snappy pages): money as exact `DECIMAL`, never a float.
    #[default]
    Parquet,
    /// FOCUS CSV, as [`ExportFormat::Focus`](crate::ExportFormat::Focus) writes it.
    Csv,
}

impl DatasetFormat {
    fn extension(self) -> &'static str {
        match self {
            Self::Parquet => "parquet",
            Self::Csv => "csv",
        }
    }
}

impl std::str::FromStr for DatasetFormat {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        match text {
            "parquet" => Ok(Self::Parquet),
            "csv" => Ok(Self::Csv),
            other => Err(Error::InvalidInput(format!(
                "unknown dataset file format \"{}\": parquet or csv",
                ec_billing::text::escape(other).truncate(16)
            ))),
        }
    }
}

/// What a dataset export did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DatasetSummary {
    /// Billing periods in the dataset.
    pub periods: u64,
    /// Of those, periods whose file was written (new or changed); the others were left
    /// as they were, byte for byte.
    pub rewritten: u64,
    /// Rows in all.
    pub rows: u64,
}

/// The manifest's name in a dataset's folder.
pub const MANIFEST: &str = "manifest.json";

/// Rows per Parquet row group: what a period's file holds in memory at once.
const ROW_GROUP: usize = 16_384;

/// The columns that hold exact decimals (money and quantities).
const DECIMALS: [&str; 12] = [
    "BilledCost",
    "CommitmentDiscountQuantity",
    "ConsumedQuantity",
    "ContractedCost",
    "ContractedUnitPrice",
    "EffectiveCost",
    "ListCost",
    "ListUnitPrice",
    "PricingCurrencyContractedUnitPrice",
    "PricingCurrencyEffectiveCost",
    "PricingCurrencyListUnitPrice",
    "PricingQuantity",
];

/// The columns that hold instants.
const INSTANTS: [&str; 6] = [
    "BillingPeriodEnd",
    "BillingPeriodStart",
    "ChargePeriodEnd",
    "ChargePeriodStart",
    "x_WindowEnd",
    "x_WindowStart",
];

/// A column's type in a dataset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
enum Kind {
    /// Exact decimal: `DECIMAL(precision, scale)` in Parquet.
    Decimal,
    /// An instant: a UTC timestamp in microseconds in Parquet.
    Timestamp,
    /// UTF-8 text.
    String,
}

fn kind(column: &str) -> Kind {
    if DECIMALS.contains(&column) {
        Kind::Decimal
    } else if INSTANTS.contains(&column) {
        Kind::Timestamp
    } else {
        Kind::String
    }
}

/// One period's rows while they are read: spooled to a CSV file, with what the
/// decimal columns need (the most digits before and after the point).
struct Spool {
    path: PathBuf,
    writer: csv::Writer<BufWriter<File>>,
    rows: u64,
    /// Per decimal column (by index): most integer digits, most fraction digits.
    digits: BTreeMap<usize, (u32, u32)>,
}

/// The manifest of a dataset (JSON).
#[derive(Serialize)]
struct Manifest<'a> {
    focus_version: &'static str,
    file_format: &'static str,
    /// The last change of the ledger's data it holds (not the time of the export).
    ledger_changed_at: Option<String>,
    columns: Vec<ManifestColumn<'a>>,
    files: Vec<ManifestFile>,
}

#[derive(Serialize)]
struct ManifestColumn<'a> {
    name: &'a str,
    #[serde(rename = "type")]
    kind: Kind,
}

#[derive(Serialize)]
struct ManifestFile {
    billing_period: String,
    path: String,
    rows: u64,
    bytes: u64,
    sha256: String,
}

impl Ledger {
    /// Writes the lines in `query` as a FOCUS dataset in `dir` (see the module docs):
    /// `dir/BILLING_PERIOD=YYYY-MM/part-0.parquet` (or `.csv`) per billing period, and
    /// `dir/manifest.json`. Billing currency, rate and FOCUS version come from
    /// `export` (its format is FOCUS whatever it says). Memory holds one row group of one
    /// period at a time, whatever the ledger's size.
    ///
    /// ```no_run
    /// use ec_billing_ledger::{DatasetFormat, Export, ExportFormat, Ledger, Query};
    ///
    /// # async fn run() -> Result<(), ec_billing_ledger::Error> {
    /// let ledger = Ledger::open_read_only("costs.db").await?;
    /// let export = Export::new(ExportFormat::Focus);
    /// let summary = ledger
    ///     .export_dataset(&Query::all(), &export, "focus".as_ref(), DatasetFormat::Parquet)
    ///     .await?;
    /// eprintln!("{} periods, {} rewritten", summary.periods, summary.rewritten);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`export`](Self::export); [`Error::Storage`] when the folder cannot be
    /// written; [`Error::InvalidInput`] when a decimal column of a period would need
    /// more than 38 digits in Parquet (nothing is rounded).
    pub async fn export_dataset(
        &self,
        query: &Query,
        export: &Export,
        dir: &Path,
        format: DatasetFormat,
    ) -> Result<DatasetSummary> {
        let failed = |what: &str, e: std::io::Error| {
            Error::Storage(FileError::new(dir, what.to_string(), Some(Box::new(e))))
        };
        std::fs::create_dir_all(dir).map_err(|e| failed("cannot make the dataset's folder", e))?;
        let spool_dir = dir.join(format!(".spool-{}", unique()));
        let _ = std::fs::remove_dir_all(&spool_dir);
        std::fs::create_dir_all(&spool_dir).map_err(|e| failed("cannot make a spool folder", e))?;
        let result = self
            .write_dataset(query, export, dir, &spool_dir, format)
            .await;
        let _ = std::fs::remove_dir_all(&spool_dir);
        result
    }

    async fn write_dataset(
        &self,
        query: &Query,
        export: &Export,
        dir: &Path,
        spool_dir: &Path,
        format: DatasetFormat,
    ) -> Result<DatasetSummary> {
        let version = export.version();
        let columns = version.columns();
        let period_at = columns
            .iter()
            .position(|c| *c == "BillingPeriodStart")
            .unwrap_or_default();
        let decimal_at: Vec<usize> = (0..columns.len())
            .filter(|&i| kind(columns[i]) == Kind::Decimal)
            .collect();
        let written = |e: csv::Error| {
            Error::Storage(FileError::new(
                spool_dir,
                "cannot spool the dataset's rows",
                Some(Box::new(e)),
            ))
        };
        // Each line's record, spooled by billing period (one pass; the export's own
        // first pass has checked and priced every line).
        let mut spools: BTreeMap<String, Spool> = BTreeMap::new();
        let focus = Export::clone(export);
        let mut checked = Decimal::ZERO;
        self.each_line(query, 2, |pass, line| {
            if pass == 0 {
                focus_amounts(&line, &focus)?;
                checked = checked
                    .checked_add(line.cost)
                    .ok_or_else(|| Error::Overflow("the total of the lines asked for".into()))?;
                return Ok(());
            }
            let record = focus_record(&line, &focus)?;
            let period: String = record[period_at].chars().take(7).collect();
            let spool = match spools.get_mut(&period) {
                Some(spool) => spool,
                None => {
                    let path = spool_dir.join(format!("{period}.csv"));
                    let file = File::create(&path).map_err(|e| {
                        Error::Storage(FileError::new(&path, "cannot spool", Some(Box::new(e))))
                    })?;
                    spools.entry(period.clone()).or_insert(Spool {
                        path,
                        writer: csv::Writer::from_writer(BufWriter::new(file)),
                        rows: 0,
                        digits: BTreeMap::new(),
                    })
                }
            };
            for &i in &decimal_at {
                if let Ok(amount) = record[i].parse::<Decimal>() {
                    let scale = amount.scale();
                    let integer = amount
                        .trunc()
                        .abs()
                        .to_string()
                        .trim_start_matches('0')
                        .len();
                    let entry = spool.digits.entry(i).or_insert((0, 0));
                    entry.0 = entry.0.max(u32::try_from(integer).unwrap_or(u32::MAX));
                    entry.1 = entry.1.max(scale);
                }
            }
            spool.writer.write_record(&record).map_err(written)?;
            spool.rows += 1;
            Ok(())
        })
        .await?;

        let mut summary = DatasetSummary::default();
        let mut files = Vec::new();
        let mut kept = std::collections::BTreeSet::new();
        for (period, mut spool) in spools {
            spool.writer.flush().map_err(|e| {
                Error::Storage(FileError::new(
                    &spool.path,
                    "cannot spool",
                    Some(Box::new(e)),
                ))
            })?;
            drop(spool.writer);
            let folder_name = format!("BILLING_PERIOD={period}");
            let folder = dir.join(&folder_name);
            std::fs::create_dir_all(&folder).map_err(|e| {
                Error::Storage(FileError::new(
                    &folder,
                    "cannot make the period's folder",
                    Some(Box::new(e)),
                ))
            })?;
            let name = format!("part-0.{}", format.extension());
            let target = folder.join(&name);
            let temp = folder.join(format!(".{name}.{}.tmp", unique()));
            match format {
                DatasetFormat::Csv => csv_file(&spool.path, &temp, columns)?,
                DatasetFormat::Parquet => {
                    parquet_file(&spool.path, &temp, columns, &spool.digits, version)?
                }
            }
            let (bytes, sha256) = digest_of(&temp)?;
            let unchanged = target.exists() && digest_of(&target)?.1 == sha256;
            if unchanged {
                let _ = std::fs::remove_file(&temp);
            } else {
                std::fs::rename(&temp, &target).map_err(|e| {
                    Error::Storage(FileError::new(
                        &target,
                        "cannot put the file in place",
                        Some(Box::new(e)),
                    ))
                })?;
                summary.rewritten += 1;
            }
            summary.periods += 1;
            summary.rows += spool.rows;
            kept.insert(folder_name.clone());
            files.push(ManifestFile {
                billing_period: period,
                path: format!("{folder_name}/{name}"),
                rows: spool.rows,
                bytes,
                sha256,
            });
        }
        // Periods of an earlier export into this folder that this one does not hold
        // (another range, other deployments) are left as they are, and stay named in
        // the manifest while their files are there.
        let written: std::collections::BTreeSet<String> =
            files.iter().map(|f| f.billing_period.clone()).collect();
        if let Ok(old) = std::fs::read(dir.join(MANIFEST))
            && let Ok(old) = serde_json::from_slice::<serde_json::Value>(&old)
            && old["focus_version"] == version.as_str()
            && old["file_format"] == format.extension()
        {
            for file in old["files"].as_array().into_iter().flatten() {
                let (Some(period), Some(path)) =
                    (file["billing_period"].as_str(), file["path"].as_str())
                else {
                    continue;
                };
                if written.contains(period) || !dir.join(path).is_file() {
                    continue;
                }
                files.push(ManifestFile {
                    billing_period: period.to_string(),
                    path: path.to_string(),
                    rows: file["rows"].as_u64().unwrap_or_default(),
                    bytes: file["bytes"].as_u64().unwrap_or_default(),
                    sha256: file["sha256"].as_str().unwrap_or_default().to_string(),
                });
            }
            files.sort_by(|a, b| a.billing_period.cmp(&b.billing_period));
        }
        drop(kept);
        let changed_at = self
            .windows(query)
            .await?
            .iter()
            .map(|w| w.fetched_at)
            .max()
            .map(|at| at.to_string());
        let manifest = Manifest {
            focus_version: version.as_str(),
            file_format: format.extension(),
            ledger_changed_at: changed_at,
            columns: columns
                .iter()
                .map(|name| ManifestColumn {
                    name,
                    kind: kind(name),
                })
                .collect(),
            files,
        };
        let text = serde_json::to_vec_pretty(&manifest).map_err(|e| {
            Error::Storage(FileError::new(
                dir,
                "cannot write the manifest",
                Some(Box::new(e)),
            ))
        })?;
        let target = dir.join(MANIFEST);
        let temp = dir.join(format!(".{MANIFEST}.{}.tmp", unique()));
        let same = std::fs::read(&target).is_ok_and(|old| old == text);
        if !same {
            std::fs::write(&temp, &text)
                .and_then(|()| std::fs::rename(&temp, &target))
                .map_err(|e| {
                    Error::Storage(FileError::new(
                        &target,
                        "cannot write the manifest",
                        Some(Box::new(e)),
                    ))
                })?;
        }
        Ok(summary)
    }
}

/// The size and SHA-256 (hex) of a file, read a block at a time.
fn digest_of(path: &Path) -> Result<(u64, String)> {
    let failed = |e: std::io::Error| {
        Error::Storage(FileError::new(
            path,
            "cannot read it back",
            Some(Box::new(e)),
        ))
    };
    let mut file = File::open(path).map_err(failed)?;
    let mut hash = Sha256::new();
    let bytes = std::io::copy(&mut file, &mut HashWriter(&mut hash)).map_err(failed)?;
    let hex: String = hash.finalize().iter().map(|b| format!("{b:02x}")).collect();
    Ok((bytes, hex))
}

/// A writer that hashes what it is given.
struct HashWriter<'a>(&'a mut Sha256);

impl Write for HashWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.update(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A name part no other export into the same folder uses at the same time.
fn unique() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{}-{nanos}-{n}", std::process::id())
}

/// The period's CSV file: the header, then the spooled rows.
fn csv_file(spool: &Path, target: &Path, columns: &[&str]) -> Result<()> {
    let failed = |e: std::io::Error| {
        Error::Storage(FileError::new(target, "cannot write it", Some(Box::new(e))))
    };
    let mut out = BufWriter::new(File::create(target).map_err(failed)?);
    let mut header = csv::Writer::from_writer(Vec::new());
    header.write_record(columns).map_err(|e| {
        Error::Storage(FileError::new(target, "cannot write it", Some(Box::new(e))))
    })?;
    let header = header.into_inner().map_err(|e| failed(e.into_error()))?;
    out.write_all(&header).map_err(failed)?;
    let mut input = File::open(spool).map_err(failed)?;
    std::io::copy(&mut input, &mut out).map_err(failed)?;
    out.flush().map_err(failed)
}

/// The Parquet schema of `columns`, decimal columns with the precision and scale their
/// `digits` need.
fn schema(columns: &[&str], digits: &BTreeMap<usize, (u32, u32)>) -> Result<String> {
    let mut message = String::from("message focus {\n");
    for (i, column) in columns.iter().enumerate() {
        let field = match kind(column) {
            Kind::String => format!("  OPTIONAL BYTE_ARRAY {column} (STRING);\n"),
            Kind::Timestamp => {
                format!("  OPTIONAL INT64 {column} (TIMESTAMP(MICROS,true));\n")
            }
            Kind::Decimal => {
                let (integer, scale) = digits.get(&i).copied().unwrap_or((0, 0));
                let precision = (integer + scale).max(1);
                if precision > 38 {
                    return Err(Error::InvalidInput(format!(
                        "the column {column} would need {precision} digits, more than a \
                         Parquet DECIMAL holds exactly (38): export this period as CSV"
                    )));
                }
                format!(
                    "  OPTIONAL FIXED_LEN_BYTE_ARRAY (16) {column} (DECIMAL({precision},{scale}));\n"
                )
            }
        };
        message.push_str(&field);
    }
    message.push('}');
    Ok(message)
}

/// One column's values of a row group, with their definition levels (0: null).
enum Values {
    Text(Vec<ByteArray>, Vec<i16>),
    Micros(Vec<i64>, Vec<i16>),
    Decimal(Vec<FixedLenByteArray>, Vec<i16>),
}

/// The period's Parquet file, from its spooled rows, a row group at a time.
fn parquet_file(
    spool: &Path,
    target: &Path,
    columns: &[&str],
    digits: &BTreeMap<usize, (u32, u32)>,
    version: FocusVersion,
) -> Result<()> {
    let failed = |e: parquet::errors::ParquetError| {
        Error::Storage(FileError::new(target, "cannot write it", Some(Box::new(e))))
    };
    let message = schema(columns, digits)?;
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
        SerializedFileWriter::new(BufWriter::new(file), schema, properties).map_err(failed)?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_path(spool)
        .map_err(|e| {
            Error::Storage(FileError::new(
                spool,
                "cannot read the spool",
                Some(Box::new(e)),
            ))
        })?;
    let mut group: Vec<csv::StringRecord> = Vec::with_capacity(ROW_GROUP);
    let mut records = reader.records();
    loop {
        group.clear();
        for record in records.by_ref().take(ROW_GROUP) {
            group.push(record.map_err(|e| {
                Error::Storage(FileError::new(
                    spool,
                    "cannot read the spool",
                    Some(Box::new(e)),
                ))
            })?);
        }
        if group.is_empty() {
            break;
        }
        let mut row_group = writer.next_row_group().map_err(failed)?;
        let mut index = 0;
        while let Some(mut column) = row_group.next_column().map_err(failed)? {
            let name = columns.get(index).copied().unwrap_or_default();
            let cells = group.iter().map(|r| r.get(index).unwrap_or_default());
            let values = match kind(name) {
                Kind::String => {
                    let (mut values, mut levels) = (Vec::new(), Vec::new());
                    for cell in cells {
                        levels.push(i16::from(!cell.is_empty()));
                        if !cell.is_empty() {
                            values.push(ByteArray::from(cell.as_bytes().to_vec()));
                        }
                    }
                    Values::Text(values, levels)
                }
                Kind::Timestamp => {
                    let (mut values, mut levels) = (Vec::new(), Vec::new());
                    for cell in cells {
                        match cell.parse::<jiff::Timestamp>() {
                            Ok(at) => {
                                values.push(at.as_microsecond());
                                levels.push(1);
                            }
                            Err(_) => levels.push(0),
                        }
                    }
                    Values::Micros(values, levels)
                }
                Kind::Decimal => {
                    let scale = digits.get(&index).map_or(0, |d| d.1);
                    let (mut values, mut levels) = (Vec::new(), Vec::new());
                    for cell in cells {
                        if cell.is_empty() {
                            levels.push(0);
                            continue;
                        }
                        let unscaled = unscaled(cell, scale).ok_or_else(|| {
                            Error::InvalidInput(format!(
                                "the amount {} of column {name} cannot be held exactly at \
                                 scale {scale}",
                                ec_billing::text::escape(cell).truncate(48)
                            ))
                        })?;
                        values.push(FixedLenByteArray::from(unscaled.to_be_bytes().to_vec()));
                        levels.push(1);
                    }
                    Values::Decimal(values, levels)
                }
            };
            match values {
                Values::Text(values, levels) => {
                    column
                        .typed::<ByteArrayType>()
                        .write_batch(&values, Some(&levels), None)
                        .map_err(failed)?;
                }
                Values::Micros(values, levels) => {
                    column
                        .typed::<Int64Type>()
                        .write_batch(&values, Some(&levels), None)
                        .map_err(failed)?;
                }
                Values::Decimal(values, levels) => {
                    column
                        .typed::<FixedLenByteArrayType>()
                        .write_batch(&values, Some(&levels), None)
                        .map_err(failed)?;
                }
            }
            column.close().map_err(failed)?;
            index += 1;
        }
        row_group.close().map_err(failed)?;
    }
    writer.close().map_err(failed)?;
    Ok(())
}

/// `cell`, an exact decimal, as an integer of `scale` digits after the point: its
/// mantissa times a power of ten (exact, in 128 bits); `None` when it has more
/// fraction digits than `scale` or does not fit.
fn unscaled(cell: &str, scale: u32) -> Option<i128> {
    let amount: Decimal = cell.parse().ok()?;
    let up = scale.checked_sub(amount.scale())?;
    amount.mantissa().checked_mul(10i128.checked_pow(up)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_decimal_column_gets_the_precision_and_scale_its_amounts_need() {
        let mut digits = BTreeMap::new();
        digits.insert(0, (3, 6));
        let message = schema(&["BilledCost", "x_Kind"], &digits).unwrap();
        assert!(message.contains("BilledCost (DECIMAL(9,6))"), "{message}");
        assert!(message.contains("BYTE_ARRAY x_Kind (STRING)"), "{message}");
        digits.insert(0, (20, 20));
        assert!(
            schema(&["BilledCost"], &digits).is_err(),
            "40 digits are refused"
        );
    }

    #[test]
    fn an_amount_is_scaled_exactly_or_refused() {
        assert_eq!(unscaled("1.25", 4), Some(12_500));
        assert_eq!(unscaled("-0.5", 1), Some(-5));
        assert_eq!(unscaled("1.25", 1), None, "never rounded");
        assert_eq!(
            unscaled("79228162514264337593543950335", 9),
            Some(79_228_162_514_264_337_593_543_950_335_000_000_000)
        );
    }
}
