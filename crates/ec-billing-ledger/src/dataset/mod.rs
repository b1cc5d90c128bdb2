//! A FOCUS dataset, laid out as the clouds deliver theirs: one folder per billing
//! period (`BILLING_PERIOD=YYYY-MM/`) holding that month's rows, as Parquet (money as
//! exact `DECIMAL`, instants as UTC timestamps, text as UTF-8) or as CSV, and a
//! manifest naming every file. A re-export rewrites only the periods whose rows
//! changed, each file written beside its place and renamed into it, so that a reader
//! never sees half a file and an unchanged period stays byte-identical; periods it
//! does not hold (another range) are left as they are.

mod parquet;
mod spool;

use std::{
    collections::BTreeMap,
    fs::File,
    io::{BufWriter, Write},
    path::Path,
};

use ec_billing::Decimal;
use ec_billing::ExactAdd;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::{
    error::{Error, FileError, Result},
    export::{Export, FocusCsv, FocusRow, FocusVersion},
    ledger::Ledger,
    query::Query,
};
use spool::{Spool, SpoolFile};

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

/// The lock file in a dataset's folder: held while an export writes it.
const LOCK: &str = ".ec-billing.lock";

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
        if std::fs::metadata(dir).is_ok_and(|m| !m.is_dir()) {
            return Err(Error::InvalidInput(format!(
                "{}: not a folder (a dataset is written into a folder of its own)",
                ec_billing::text::escape(&dir.display().to_string()).truncate(200)
            )));
        }
        std::fs::create_dir_all(dir).map_err(|e| failed("cannot make the dataset's folder", e))?;
        // One export into a folder at a time: a second one is refused, never left to
        // interleave its manifest with the first's. The lock is the OS's (a killed
        // export leaves none).
        let lock_path = dir.join(LOCK);
        if std::fs::symlink_metadata(&lock_path).is_ok_and(|m| !m.is_file()) {
            return Err(Error::Storage(FileError::new(
                &lock_path,
                "is not the dataset's lock file (a link or a device is never followed)",
                None,
            )));
        }
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| failed("cannot open the dataset's lock file", e))?;
        if let Err(e) = lock.try_lock() {
            return Err(match e {
                std::fs::TryLockError::WouldBlock => Error::Storage(FileError::new(
                    dir,
                    "another export is writing this dataset; try again when it is done",
                    None,
                )),
                std::fs::TryLockError::Error(e) => failed("cannot lock the dataset", e),
            });
        }
        let spool_dir = dir.join(format!(".spool-{}", unique()));
        let _ = std::fs::remove_dir_all(&spool_dir);
        std::fs::create_dir_all(&spool_dir).map_err(|e| failed("cannot make a spool folder", e))?;
        let result = self
            .write_dataset(query, export, dir, &spool_dir, format)
            .await;
        // A spool may be large: removed off the async executor.
        let _ = tokio::task::spawn_blocking(move || std::fs::remove_dir_all(spool_dir)).await;
        drop(lock);
        result
    }

    /// Spools the lines of `query`, each as its FOCUS cells, into `spools` by billing
    /// period, from the last of `passes` passes; says whether every window came in the
    /// export's order.
    async fn spool_lines(
        &self,
        query: &Query,
        export: &Export,
        spool_dir: &Path,
        passes: u8,
        spools: &mut BTreeMap<String, Spool>,
    ) -> Result<bool> {
        let columns = export.version().columns();
        let indices = export.version().indices();
        let mut checked = Decimal::ZERO;
        let mut last_period: Option<(jiff::Timestamp, String)> = None;
        self.each_line_in_order(query, passes, |pass, line| {
            if pass + 1 < passes {
                return Ok(());
            }
            checked = checked
                .exact_add(line.cost)
                .ok_or_else(|| Error::Overflow("the total of the lines asked for".into()))?;
            let row = FocusRow::new(line, export)?;
            let start = row.period_start();
            if last_period.as_ref().is_none_or(|(at, _)| *at != start) {
                last_period = Some((start, start.strftime("%Y-%m").to_string()));
            }
            let Some((_, period)) = &last_period else {
                return Ok(());
            };
            let spool = match spools.get_mut(period.as_str()) {
                Some(spool) => spool,
                None => {
                    let path = spool_dir.join(format!("{period}.{passes}.spool"));
                    spools
                        .entry(period.clone())
                        .or_insert(Spool::create(path, columns.len())?)
                }
            };
            let cells = row.cells();
            spool.push(indices.iter().filter_map(|&i| cells.get(i).copied()))
        })
        .await
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
        // Each line's FOCUS record, priced (an amount that cannot be exact fails the
        // export) and spooled by billing period; nothing is put in place before every
        // window is checked and every period spooled. One pass, when every window comes
        // in the export's order (a ledger as the ledger writes it); otherwise the spools
        // are made again in a second pass, which gives each window in that order.
        let mut spools = BTreeMap::new();
        let in_order = self
            .spool_lines(query, export, spool_dir, 1, &mut spools)
            .await?;
        if !in_order {
            spools.clear();
            self.spool_lines(query, export, spool_dir, 2, &mut spools)
                .await?;
        }
        let spools: Vec<(String, SpoolFile)> = spools
            .into_iter()
            .map(|(period, spool)| Ok((period, spool.finish()?)))
            .collect::<Result<_>>()?;

        // The ledger's last change, for the manifest (not the time of the export).
        let changed_at = self
            .windows(query)
            .await?
            .iter()
            .map(|w| w.fetched_at)
            .max()
            .map(|at| at.to_string());
        // Files are written and renamed off the async executor.
        let dir = dir.to_path_buf();
        tokio::task::spawn_blocking(move || {
            place_periods(spools, &dir, columns, version, format, changed_at)
        })
        .await
        .map_err(|e| {
            Error::Storage(FileError::new(
                spool_dir,
                "the dataset's writer stopped",
                Some(Box::new(e)),
            ))
        })?
    }
}

/// Writes each spooled period beside its place in `dir` and renames it into place when
/// its bytes changed, then the manifest (naming `changed_at` as the ledger's last
/// change).
fn place_periods(
    spools: Vec<(String, SpoolFile)>,
    dir: &Path,
    columns: &'static [&'static str],
    version: FocusVersion,
    format: DatasetFormat,
    changed_at: Option<String>,
) -> Result<DatasetSummary> {
    // What a period's rows may refuse (a decimal column wider than Parquet holds) is
    // found before any period is put in place: the dataset is never left half-updated
    // by it.
    if format == DatasetFormat::Parquet {
        for (_, spool) in &spools {
            parquet::schema(columns, &spool.digits)?;
        }
    }
    let mut summary = DatasetSummary::default();
    let mut files = Vec::new();
    for (period, spool) in spools {
        let folder_name = format!("BILLING_PERIOD={period}");
        let folder = dir.join(&folder_name);
        let name = format!("part-0.{}", format.extension());
        let target = folder.join(&name);
        // Only a real folder and a regular file are written or replaced: a link or a
        // device planted in the dataset is never followed.
        for (path, is_right) in [
            (
                &folder,
                (|m: &std::fs::Metadata| m.is_dir()) as fn(&std::fs::Metadata) -> bool,
            ),
            (&target, |m: &std::fs::Metadata| m.is_file()),
        ] {
            if let Ok(meta) = std::fs::symlink_metadata(path)
                && !is_right(&meta)
            {
                return Err(Error::Storage(FileError::new(
                    path,
                    "is not what a dataset holds there (a link, a device or a folder is never \
                     followed or replaced)",
                    None,
                )));
            }
        }
        std::fs::create_dir_all(&folder).map_err(|e| {
            Error::Storage(FileError::new(
                &folder,
                "cannot make the period's folder",
                Some(Box::new(e)),
            ))
        })?;
        let temp = folder.join(format!(".{name}.{}.tmp", unique()));
        let written = match format {
            DatasetFormat::Csv => csv_file(&spool, &temp, columns),
            DatasetFormat::Parquet => parquet::parquet_file(&spool, &temp, columns, version),
        };
        if let Err(e) = written {
            let _ = std::fs::remove_file(&temp);
            return Err(e);
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
    if let Some(old) = read_bounded(&dir.join(MANIFEST), MAX_MANIFEST_BYTES)
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
            // Only a period's own file, in its own folder of this dataset, a regular
            // file there; its size and digest are taken again, not believed.
            let is_period = period.len() == 7
                && period.bytes().enumerate().all(|(i, b)| {
                    if i == 4 {
                        b == b'-'
                    } else {
                        b.is_ascii_digit()
                    }
                });
            let own = format!("BILLING_PERIOD={period}/part-0.{}", format.extension());
            if !is_period || path != own || written.contains(period) {
                continue;
            }
            let file_path = dir.join(&own);
            if !std::fs::symlink_metadata(&file_path).is_ok_and(|m| m.is_file()) {
                continue;
            }
            let (bytes, sha256) = digest_of(&file_path)?;
            files.push(ManifestFile {
                billing_period: period.to_string(),
                path: own,
                rows: file["rows"].as_u64().unwrap_or_default(),
                bytes,
                sha256,
            });
        }
        files.sort_by(|a, b| a.billing_period.cmp(&b.billing_period));
    }
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

/// The most bytes of an earlier manifest read back: far above any this export writes.
const MAX_MANIFEST_BYTES: u64 = 16 << 20;

/// A file's bytes, when it is a regular file of at most `limit` bytes.
fn read_bounded(path: &Path, limit: u64) -> Option<Vec<u8>> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    if !meta.is_file() || meta.len() > limit {
        return None;
    }
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(
        &mut std::io::Read::take(File::open(path).ok()?, limit),
        &mut bytes,
    )
    .ok()?;
    Some(bytes)
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

/// The period's CSV file: the header, then the spooled rows, as a FOCUS export writes
/// them.
fn csv_file(spool: &SpoolFile, target: &Path, columns: &[&str]) -> Result<()> {
    let failed = |e: std::io::Error| {
        Error::Storage(FileError::new(target, "cannot write it", Some(Box::new(e))))
    };
    let file = File::create(target).map_err(failed)?;
    let mut out = BufWriter::with_capacity(1 << 16, file);
    let mut csv = FocusCsv::default();
    csv.header(columns, &mut out).map_err(failed)?;
    let mut reader = spool.reader()?;
    while reader.next_row(|cell| csv.cell(cell))? {
        csv.end(&mut out).map_err(failed)?;
    }
    out.flush().map_err(failed)
}
