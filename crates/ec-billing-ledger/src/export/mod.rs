//! Exports of the ledger's lines: FOCUS 1.2 CSV, plain CSV, JSON. Each is written one
//! line at a time (memory stays flat), and every amount is exact.

mod file;
mod focus;
mod pricing;

use std::io::Write;

use ec_billing::Decimal;
use ec_billing::ExactAdd;
use jiff::Timestamp;
use serde::Serialize;

pub use file::check_output_file;
pub(crate) use focus::{Cell, FocusCsv, FocusRow, focus_amounts};
pub use focus::{FOCUS_COLUMNS, FOCUS_TABLE, FocusVersion};
pub(crate) use pricing::check_line;

use crate::{
    error::{Error, FileError, Result},
    ledger::Ledger,
    query::Query,
    read::LineOf,
};

/// The format of an export.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ExportFormat {
    /// FOCUS 1.2 CSV: every column of the specification, then custom `x_` columns
    /// (the mapping is in the crate docs).
    Focus,
    /// The ledger's own columns, as CSV.
    Csv,
    /// The ledger's own columns, as one JSON document.
    Json,
}

impl std::str::FromStr for ExportFormat {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        match text {
            "focus" => Ok(Self::Focus),
            "csv" => Ok(Self::Csv),
            "json" => Ok(Self::Json),
            other => Err(Error::InvalidInput(format!(
                "unknown export format \"{}\": focus, csv or json",
                ec_billing::text::escape(other)
            ))),
        }
    }
}

/// How to export.
///
/// ```
/// use ec_billing_ledger::{Export, ExportFormat};
///
/// // FOCUS in euros, at 0.92 EUR per ECU.
/// let export = Export::new(ExportFormat::Focus).billing_currency("EUR", "0.92".parse()?)?;
/// # let _ = export;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Export {
    format: ExportFormat,
    pub(crate) currency: String,
    pub(crate) rate: Decimal,
    version: FocusVersion,
}

impl Export {
    /// An export in `format`, billed in USD at 1.00 per ECU (Elastic's nominal rate:
    /// an assumption to override with [`billing_currency`](Self::billing_currency)
    /// when your contract says otherwise).
    pub fn new(format: ExportFormat) -> Self {
        Self {
            format,
            currency: "USD".to_string(),
            rate: Decimal::ONE,
            version: FocusVersion::default(),
        }
    }

    /// The FOCUS version a FOCUS export writes (1.2 by default).
    pub fn focus_version(mut self, version: FocusVersion) -> Self {
        self.version = version;
        self
    }

    /// The FOCUS version.
    pub fn version(&self) -> FocusVersion {
        self.version
    }

    /// The billing currency (an ISO 4217 code: three capital letters) and its amount
    /// per ECU.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for a code that is not three capital letters or a rate
    /// that is not above zero.
    pub fn billing_currency(mut self, code: &str, per_ecu: Decimal) -> Result<Self> {
        if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(Error::InvalidInput(format!(
                "\"{}\" is not an ISO 4217 currency code (three capital letters)",
                ec_billing::text::escape(code)
            )));
        }
        if per_ecu <= Decimal::ZERO {
            return Err(Error::InvalidInput(format!(
                "the rate per ECU must be above zero, not {per_ecu}"
            )));
        }
        self.currency = code.to_string();
        self.rate = per_ecu;
        Ok(self)
    }

    /// The format.
    pub fn format(&self) -> ExportFormat {
        self.format
    }
}

/// What an export wrote.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExportSummary {
    /// Lines written.
    pub lines: u64,
    /// Their total in ECU, exact.
    pub total: Decimal,
}

/// The plain CSV export's columns.
pub const CSV_COLUMNS: [&str; 20] = [
    "organization",
    "deployment",
    "window_start",
    "window_end",
    "provisional",
    "line_type",
    "kind",
    "sku",
    "name",
    "period_start",
    "period_end",
    "ordinal",
    "hours",
    "instance_count",
    "price_per_hour",
    "quantity",
    "quantity_formatted",
    "rate",
    "rate_formatted",
    "cost",
];

impl Ledger {
    /// Writes the lines in `query` to `out` as `export` says, one at a time.
    ///
    /// ```no_run
    /// use ec_billing_ledger::{Export, ExportFormat, Ledger, Query};
    ///
    /// # async fn run() -> Result<(), ec_billing_ledger::Error> {
    /// let ledger = Ledger::open_read_only("costs.db").await?;
    /// let summary = ledger
    ///     .export(&Query::all(), &Export::new(ExportFormat::Focus), std::io::stdout().lock())
    ///     .await?;
    /// eprintln!("{} lines, {} ECU", summary.lines, summary.total);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// Nothing is written when the export cannot be made whole: every line is read,
    /// checked and priced before the first is written. Only a failure of the store
    /// itself (a connection lost) or of `out` during the writing pass can leave part
    /// of an export written.
    ///
    /// [`Error::Inconsistent`] when a window's lines do not match its record;
    /// [`Error::Storage`] when the ledger cannot be read or `out` written;
    /// [`Error::Overflow`] when the total, or a line's FOCUS amount, overflows an
    /// exact decimal; [`Error::InvalidInput`] when a FOCUS amount in the billing
    /// currency would have more digits than an exact decimal holds at the rate asked
    /// (it is never rounded). Each names the line.
    pub async fn export(
        &self,
        query: &Query,
        export: &Export,
        out: impl Write,
    ) -> Result<ExportSummary> {
        self.export_in_passes(query, export, out, 2, self.path())
            .await
            .map(|(summary, _)| summary)
    }

    /// Writes the lines in `query` to `out` in `passes` passes over one snapshot: with
    /// two, every line is read, checked against its window's record, summed and, for
    /// FOCUS, priced, then written, so that an export that fails writes nothing; with
    /// one, each line is written as it is read (pass 0 gives a window's lines in the
    /// order the store holds them). Also says whether every window came in the
    /// export's order. A failure to write names `written_to`.
    pub(crate) async fn export_in_passes(
        &self,
        query: &Query,
        export: &Export,
        out: impl Write,
        passes: u8,
        written_to: &std::path::Path,
    ) -> Result<(ExportSummary, bool)> {
        let mut summary = ExportSummary::default();
        let mut checked = Decimal::ZERO;
        let mut writer = Writer::new(export.format, export.version, out);
        let indices = export.version.indices();
        let in_order = self
            .each_line_in_order(query, passes, |pass, line| {
                if pass + 1 < passes {
                    checked = checked
                        .exact_add(line.cost)
                        .ok_or_else(|| overflow("the total of the lines asked for"))?;
                    if export.format == ExportFormat::Focus {
                        focus_amounts(line, export)?;
                    }
                    return Ok(());
                }
                summary.lines += 1;
                summary.total = summary
                    .total
                    .exact_add(line.cost)
                    .ok_or_else(|| overflow("the total"))?;
                match export.format {
                    ExportFormat::Focus => {
                        let row = FocusRow::new(line, export)?;
                        writer.focus(&row, indices)
                    }
                    ExportFormat::Csv => writer.record(&csv_record(line)),
                    ExportFormat::Json => writer.json(&JsonLine::from(line)),
                }
                .map_err(|e| written(written_to, e))
            })
            .await?;
        writer
            .finish(&summary)
            .map_err(|e| written(written_to, e))?;
        Ok((summary, in_order))
    }
}

/// A failure to write an export to `path`: its cause is the writer's own error (once).
fn written(path: &std::path::Path, error: WriteError) -> Error {
    let cause: Box<dyn std::error::Error + Send + Sync> = match error {
        WriteError::Csv(e) => Box::new(e),
        WriteError::Io(e) => Box::new(e),
        WriteError::Json(e) => Box::new(e),
    };
    Error::Storage(FileError::new(
        path,
        "the export could not be written",
        Some(cause),
    ))
}

/// An export's output: its header (or the JSON document's start) written with the
/// first line, or at the end when there is none.
enum Writer<W: Write> {
    Focus {
        out: std::io::BufWriter<W>,
        csv: Box<FocusCsv>,
        header: &'static [&'static str],
        started: bool,
    },
    Csv {
        writer: Box<csv::Writer<W>>,
        header: &'static [&'static str],
        started: bool,
    },
    Json {
        out: std::io::BufWriter<W>,
        lines: u64,
    },
}

/// Why an export's output could not be written.
#[derive(Debug)]
enum WriteError {
    Csv(csv::Error),
    Io(std::io::Error),
    Json(serde_json::Error),
}

impl<W: Write> Writer<W> {
    fn new(format: ExportFormat, version: FocusVersion, out: W) -> Self {
        match format {
            ExportFormat::Focus => Self::Focus {
                out: std::io::BufWriter::with_capacity(1 << 16, out),
                csv: Box::default(),
                header: version.columns(),
                started: false,
            },
            ExportFormat::Csv => Self::Csv {
                writer: Box::new(csv::Writer::from_writer(out)),
                header: &CSV_COLUMNS,
                started: false,
            },
            ExportFormat::Json => Self::Json {
                out: std::io::BufWriter::new(out),
                lines: 0,
            },
        }
    }

    fn start(&mut self) -> std::result::Result<(), WriteError> {
        if let Self::Focus {
            out,
            csv,
            header,
            started,
        } = self
            && !*started
        {
            csv.header(header, out).map_err(WriteError::Io)?;
            *started = true;
        }
        if let Self::Csv {
            writer,
            header,
            started,
        } = self
            && !*started
        {
            writer.write_record(*header).map_err(WriteError::Csv)?;
            *started = true;
        }
        Ok(())
    }

    fn focus(
        &mut self,
        row: &FocusRow<'_>,
        indices: &[usize],
    ) -> std::result::Result<(), WriteError> {
        self.start()?;
        if let Self::Focus { out, csv, .. } = self {
            csv.row(row, indices, out).map_err(WriteError::Io)?;
        }
        Ok(())
    }

    fn record(&mut self, record: &[String]) -> std::result::Result<(), WriteError> {
        self.start()?;
        if let Self::Csv { writer, .. } = self {
            writer.write_record(record).map_err(WriteError::Csv)?;
        }
        Ok(())
    }

    fn json(&mut self, line: &JsonLine<'_>) -> std::result::Result<(), WriteError> {
        if let Self::Json { out, lines } = self {
            out.write_all(if *lines == 0 { b"{\"lines\":[" } else { b"," })
                .map_err(WriteError::Io)?;
            *lines += 1;
            serde_json::to_writer(&mut *out, line).map_err(WriteError::Json)?;
        }
        Ok(())
    }

    fn finish(mut self, summary: &ExportSummary) -> std::result::Result<(), WriteError> {
        self.start()?;
        match self {
            Self::Focus { mut out, .. } => out.flush().map_err(WriteError::Io),
            Self::Csv { mut writer, .. } => writer.flush().map_err(WriteError::Io),
            Self::Json { mut out, lines } => {
                if lines == 0 {
                    out.write_all(b"{\"lines\":[").map_err(WriteError::Io)?;
                }
                writeln!(
                    out,
                    "],\"count\":{},\"total\":\"{}\"}}",
                    summary.lines, summary.total
                )
                .map_err(WriteError::Io)?;
                out.flush().map_err(WriteError::Io)
            }
        }
    }
}

fn overflow(what: &str) -> Error {
    Error::Overflow(what.to_string())
}

/// A line's plain CSV record.
fn csv_record(line: LineOf<'_>) -> Vec<String> {
    let key = &line.key;
    vec![
        line.window.organization.clone(),
        line.window.deployment.clone(),
        line.window.start.to_string(),
        line.window.end.to_string(),
        line.provisional().to_string(),
        key.line_type.as_str().to_string(),
        key.kind.clone(),
        key.sku.clone(),
        key.name.clone(),
        key.period_start.to_string(),
        key.period_end.to_string(),
        key.ordinal.to_string(),
        text(line.hours),
        text(line.instance_count),
        text(line.price_per_hour),
        text(line.quantity),
        line.quantity_formatted.clone().unwrap_or_default(),
        text(line.rate),
        line.rate_formatted.clone().unwrap_or_default(),
        line.cost.to_string(),
    ]
}

fn text<T: ToString>(value: Option<T>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

/// A line as the JSON export writes it: money as decimal strings.
#[derive(Serialize)]
struct JsonLine<'a> {
    organization: &'a str,
    deployment: &'a str,
    window_start: Timestamp,
    window_end: Timestamp,
    provisional: bool,
    line_type: &'static str,
    kind: &'a str,
    sku: &'a str,
    name: &'a str,
    period_start: Timestamp,
    period_end: Timestamp,
    ordinal: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    hours: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    instance_count: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    price_per_hour: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    quantity: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    quantity_formatted: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rate: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rate_formatted: Option<&'a str>,
    cost: String,
}

impl<'a> From<LineOf<'a>> for JsonLine<'a> {
    fn from(line: LineOf<'a>) -> Self {
        let (window, line) = (line.window, line.line);
        let key = &line.key;
        Self {
            organization: &window.organization,
            deployment: &window.deployment,
            window_start: window.start,
            window_end: window.end,
            provisional: !window.final_,
            line_type: key.line_type.as_str(),
            kind: &key.kind,
            sku: &key.sku,
            name: &key.name,
            period_start: key.period_start,
            period_end: key.period_end,
            ordinal: key.ordinal,
            hours: line.hours,
            instance_count: line.instance_count,
            price_per_hour: line.price_per_hour.map(|d| d.to_string()),
            quantity: line.quantity.map(|d| d.to_string()),
            quantity_formatted: line.quantity_formatted.as_deref(),
            rate: line.rate.map(|d| d.to_string()),
            rate_formatted: line.rate_formatted.as_deref(),
            cost: line.cost.to_string(),
        }
    }
}

#[cfg(test)]
mod tests;
