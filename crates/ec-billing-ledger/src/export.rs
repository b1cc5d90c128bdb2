//! Exports of the ledger's lines: FOCUS 1.2 CSV, plain CSV, JSON. Each is written one
//! line at a time (memory stays flat), and every amount is exact.

use std::io::Write;

use ec_billing::Decimal;
use jiff::{Timestamp, tz::TimeZone};
use serde::Serialize;

use crate::{
    Ledger,
    error::{Error, FileError, Result},
    query::Query,
    record::{AnswerLine, LedgerLine, LineType},
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
    currency: String,
    rate: Decimal,
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

/// The FOCUS 1.2 columns, in the specification's (alphabetical) order, then the custom
/// ones (as [`FocusVersion::V1_2`]'s [`columns`](FocusVersion::columns)). See the crate
/// docs for how each is filled.
pub const FOCUS_COLUMNS: [&str; 69] = [
    "AvailabilityZone",
    "BilledCost",
    "BillingAccountId",
    "BillingAccountName",
    "BillingAccountType",
    "BillingCurrency",
    "BillingPeriodEnd",
    "BillingPeriodStart",
    "CapacityReservationId",
    "CapacityReservationStatus",
    "ChargeCategory",
    "ChargeClass",
    "ChargeDescription",
    "ChargeFrequency",
    "ChargePeriodEnd",
    "ChargePeriodStart",
    "CommitmentDiscountCategory",
    "CommitmentDiscountId",
    "CommitmentDiscountName",
    "CommitmentDiscountQuantity",
    "CommitmentDiscountStatus",
    "CommitmentDiscountType",
    "CommitmentDiscountUnit",
    "ConsumedQuantity",
    "ConsumedUnit",
    "ContractedCost",
    "ContractedUnitPrice",
    "EffectiveCost",
    "InvoiceId",
    "InvoiceIssuerName",
    "ListCost",
    "ListUnitPrice",
    "PricingCategory",
    "PricingCurrency",
    "PricingCurrencyContractedUnitPrice",
    "PricingCurrencyEffectiveCost",
    "PricingCurrencyListUnitPrice",
    "PricingQuantity",
    "PricingUnit",
    "ProviderName",
    "PublisherName",
    "RegionId",
    "RegionName",
    "ResourceId",
    "ResourceName",
    "ResourceType",
    "ServiceCategory",
    "ServiceName",
    "ServiceSubcategory",
    "SkuId",
    "SkuMeter",
    "SkuPriceDetails",
    "SkuPriceId",
    "SubAccountId",
    "SubAccountName",
    "SubAccountType",
    "Tags",
    // Custom columns: the ledger's own facts, with the `x_` prefix FOCUS reserves.
    "x_Provisional",
    "x_Organization",
    "x_Deployment",
    "x_LineType",
    "x_Kind",
    "x_WindowStart",
    "x_WindowEnd",
    "x_Ordinal",
    "x_Hours",
    "x_InstanceCount",
    "x_QuantityFormatted",
    "x_RateFormatted",
];

/// A version of FOCUS an export writes.
///
/// ```
/// use ec_billing_ledger::FocusVersion;
///
/// let v13: FocusVersion = "1.3".parse()?;
/// assert!(v13.columns().contains(&"ServiceProviderName"));
/// assert!(!FocusVersion::V1_2.columns().contains(&"ServiceProviderName"));
/// # Ok::<(), ec_billing_ledger::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum FocusVersion {
    /// FOCUS 1.2 (the default: the FinOps Foundation's validator covers it).
    #[default]
    V1_2,
    /// FOCUS 1.3: adds `ServiceProviderName` and `HostProviderName` (both Elastic),
    /// and keeps `ProviderName` and `PublisherName` (deprecated in 1.3).
    V1_3,
}

impl FocusVersion {
    /// `1.2`, `1.3`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::V1_2 => "1.2",
            Self::V1_3 => "1.3",
        }
    }

    /// The columns of this version, in the specification's (alphabetical) order, then
    /// the custom ones (see [`FOCUS_TABLE`]).
    pub fn columns(self) -> &'static [&'static str] {
        static V1_2: std::sync::LazyLock<Vec<&'static str>> =
            std::sync::LazyLock::new(|| FocusVersion::V1_2.filter(FOCUS_TABLE.map(|(c, _)| c)));
        static V1_3: std::sync::LazyLock<Vec<&'static str>> =
            std::sync::LazyLock::new(|| FocusVersion::V1_3.filter(FOCUS_TABLE.map(|(c, _)| c)));
        match self {
            Self::V1_2 => &V1_2,
            Self::V1_3 => &V1_3,
        }
    }

    /// Of `values`, one per column of [`FOCUS_TABLE`], those of this version.
    fn filter<T>(self, values: impl IntoIterator<Item = T>) -> Vec<T> {
        values
            .into_iter()
            .zip(FOCUS_TABLE)
            .filter(|(_, (_, since))| *since <= self)
            .map(|(value, _)| value)
            .collect()
    }
}

impl std::fmt::Display for FocusVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for FocusVersion {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        match text {
            "1.2" => Ok(Self::V1_2),
            "1.3" => Ok(Self::V1_3),
            other => Err(Error::InvalidInput(format!(
                "FOCUS version \"{}\" is not one this export writes: 1.2 or 1.3",
                ec_billing::text::escape(other).truncate(16)
            ))),
        }
    }
}

/// Every column a FOCUS export writes, with the version that brought it: the
/// specification's columns in its (alphabetical) order, then the custom ones. One
/// table for every version ([`FocusVersion::columns`]).
pub const FOCUS_TABLE: [(&str, FocusVersion); 71] = {
    let mut table = [("", FocusVersion::V1_2); 71];
    let mut from = 0;
    let mut to = 0;
    while from < FOCUS_COLUMNS.len() {
        let column = FOCUS_COLUMNS[from];
        table[to] = (column, FocusVersion::V1_2);
        to += 1;
        // 1.3's two columns, in their alphabetical places.
        if const_eq(column, "EffectiveCost") {
            table[to] = ("HostProviderName", FocusVersion::V1_3);
            to += 1;
        } else if const_eq(column, "ServiceName") {
            table[to] = ("ServiceProviderName", FocusVersion::V1_3);
            to += 1;
        }
        from += 1;
    }
    table
};

/// `a == b`, in a constant.
const fn const_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
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
    /// checked and priced before the first is written.
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
        let mut summary = ExportSummary::default();
        let mut checked = Decimal::ZERO;
        let mut writer = Writer::new(export.format, export.version, out);
        // Two passes over one snapshot: first every line is read, checked against its
        // window's record, summed and, for FOCUS, priced; then written. An export that
        // fails writes nothing.
        self.each_line(query, 2, |pass, line| {
            if pass == 0 {
                checked = checked
                    .checked_add(line.cost)
                    .ok_or_else(|| overflow("the total of the lines asked for"))?;
                if export.format == ExportFormat::Focus {
                    focus_amounts(&line, export)?;
                }
                return Ok(());
            }
            summary.lines += 1;
            summary.total = summary
                .total
                .checked_add(line.cost)
                .ok_or_else(|| overflow("the total"))?;
            match export.format {
                ExportFormat::Focus => writer.record(&focus_record(&line, export)?),
                ExportFormat::Csv => writer.record(&csv_record(&line)),
                ExportFormat::Json => writer.json(&JsonLine::from(&line)),
            }
            .map_err(|e| self.written(e))
        })
        .await?;
        writer.finish(&summary).map_err(|e| self.written(e))?;
        Ok(summary)
    }

    fn written(&self, error: impl std::error::Error + Send + Sync + 'static) -> Error {
        Error::Storage(FileError::new(
            self.path(),
            "the export could not be written",
            Some(Box::new(error)),
        ))
    }
}

/// An export's output: its header (or the JSON document's start) written with the
/// first line, or at the end when there is none.
enum Writer<W: Write> {
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

impl std::fmt::Display for WriteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Csv(e) => e.fmt(f),
            Self::Io(e) => e.fmt(f),
            Self::Json(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for WriteError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Csv(e) => Some(e),
            Self::Io(e) => Some(e),
            Self::Json(e) => Some(e),
        }
    }
}

impl<W: Write> Writer<W> {
    fn new(format: ExportFormat, version: FocusVersion, out: W) -> Self {
        match format {
            ExportFormat::Focus => Self::Csv {
                writer: Box::new(csv::Writer::from_writer(out)),
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
fn csv_record(line: &LedgerLine) -> Vec<String> {
    let key = &line.key;
    vec![
        line.organization.clone(),
        line.deployment.clone(),
        line.window.0.to_string(),
        line.window.1.to_string(),
        line.provisional.to_string(),
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

impl<'a> From<&'a LedgerLine> for JsonLine<'a> {
    fn from(line: &'a LedgerLine) -> Self {
        let key = &line.key;
        Self {
            organization: &line.organization,
            deployment: &line.deployment,
            window_start: line.window.0,
            window_end: line.window.1,
            provisional: line.provisional,
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

/// What a line is priced in: its quantity in pricing units, the unit, and the unit
/// price in ECU.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Pricing {
    pub(crate) quantity: Decimal,
    /// `Err` says why the FOCUS mapping cannot place it (an export refuses the line; a
    /// sync stores it all the same).
    pub(crate) unit: std::result::Result<&'static str, String>,
    pub(crate) unit_price: Decimal,
}

/// What pricing a line takes, from a line of the ledger or of an answer.
pub(crate) struct LineValues<'a> {
    line_type: LineType,
    kind: &'a str,
    hours: Option<i64>,
    instance_count: Option<i32>,
    price_per_hour: Option<Decimal>,
    quantity: Option<Decimal>,
    quantity_formatted: Option<&'a str>,
    rate: Option<Decimal>,
    rate_formatted: Option<&'a str>,
    cost: Decimal,
}

/// A [`LineValues`] of a line of the ledger or of an answer: they name their values
/// alike.
macro_rules! line_values {
    ($line:ty) => {
        impl<'a> From<&'a $line> for LineValues<'a> {
            fn from(line: &'a $line) -> Self {
                Self {
                    line_type: line.key.line_type,
                    kind: &line.key.kind,
                    hours: line.hours,
                    instance_count: line.instance_count,
                    price_per_hour: line.price_per_hour,
                    quantity: line.quantity,
                    quantity_formatted: line.quantity_formatted.as_deref(),
                    rate: line.rate,
                    rate_formatted: line.rate_formatted.as_deref(),
                    cost: line.cost,
                }
            }
        }
    };
}

line_values!(LedgerLine);
line_values!(AnswerLine);

/// A line's pricing: instance hours at the price per hour for a resource line; for a
/// DTS line, its quantity in the unit of its rate (see the crate docs), at its rate.
/// `Err` says what cannot be exact.
pub(crate) fn pricing(line: LineValues<'_>) -> std::result::Result<Pricing, String> {
    match line.line_type {
        LineType::Resource => {
            let hours = line.hours.unwrap_or_default();
            let instances = line.instance_count.unwrap_or_default();
            let instance_hours = i128::from(hours)
                .checked_mul(i128::from(instances))
                .and_then(|h| Decimal::try_from_i128_with_scale(h, 0).ok())
                .ok_or("its instance hours overflow an exact decimal")?;
            Ok(Pricing {
                quantity: instance_hours,
                unit: Ok("Hours"),
                unit_price: line.price_per_hour.unwrap_or_default(),
            })
        }
        LineType::Dts => {
            let raw = line.quantity.unwrap_or_default();
            let rate = line.rate.unwrap_or_default();
            let unit = dts_unit(line.kind, line.rate_formatted);
            let digits = dts_scale(raw, line.quantity_formatted, rate, line.cost);
            // Dividing by a power of ten is exact while the scale stays within 28.
            let mut quantity = raw;
            quantity
                .set_scale(raw.scale() + digits)
                .map_err(|_| "its quantity in the unit of its rate has more digits than an exact decimal holds")?;
            Ok(Pricing {
                quantity: quantity.normalize(),
                unit,
                unit_price: rate,
            })
        }
    }
}

/// Refuses, when it is fetched, a line the ledger could not export exactly in ECU: its
/// period runs backwards, its billing month ends past the time scale, or its list cost
/// (unit price × pricing quantity) has more digits than an exact decimal holds.
pub(crate) fn check_line(line: &AnswerLine) -> std::result::Result<(), String> {
    let key = &line.key;
    let texts = [
        ("kind", Some(key.kind.as_str())),
        ("SKU", Some(key.sku.as_str())),
        ("name", Some(key.name.as_str())),
        ("formatted quantity", line.quantity_formatted.as_deref()),
        ("formatted rate", line.rate_formatted.as_deref()),
    ];
    if let Some((field, _)) = texts
        .iter()
        .find(|(_, text)| text.is_some_and(|t| t.contains('\0')))
    {
        return Err(format!(
            "its {field} holds a NUL character, which no database text keeps"
        ));
    }
    if key.period_end < key.period_start {
        return Err("its period ends before it starts".to_string());
    }
    if [key.period_start, key.period_end]
        .iter()
        .any(|at| at.subsec_nanosecond() % 1000 != 0)
    {
        return Err("its period is finer than a microsecond".to_string());
    }
    if billing_period(key.period_start).is_none() {
        return Err("its billing month ends past the end of the time scale".to_string());
    }
    let pricing = pricing(LineValues::from(line))?;
    exact_mul(pricing.unit_price, pricing.quantity).ok_or(
        "its list cost (unit price × quantity) has more digits than an exact decimal holds",
    )?;
    Ok(())
}

/// √10, the geometric midpoint between two powers of ten.
const SQRT_10: Decimal = Decimal::from_parts(1_245_693_416, 1_966_436_728, 171_427_415, false, 27);

/// The power of ten (its exponent, 0 to 18) between a DTS line's raw quantity and its
/// quantity in the unit of its rate (bytes to GB: 9): the one nearest to raw ÷
/// (cost ÷ rate), the quantity its cost prices; or else to raw ÷ the number its
/// formatted quantity shows (`1,363.9 GB`); 0 when neither says.
fn dts_scale(raw: Decimal, formatted: Option<&str>, rate: Decimal, cost: Decimal) -> u32 {
    let priced = (rate > Decimal::ZERO && cost > Decimal::ZERO)
        .then(|| cost.checked_div(rate))
        .flatten()
        .or_else(|| {
            let text = formatted?;
            let number: String = text
                .split_whitespace()
                .next()?
                .chars()
                .filter(|c| *c != ',')
                .collect();
            number.parse::<Decimal>().ok()
        })
        .filter(|q| *q > Decimal::ZERO);
    let Some(ratio) = priced
        .and_then(|priced| raw.checked_div(priced))
        .filter(|r| *r > Decimal::ZERO)
    else {
        return 0;
    };
    // The nearest power of ten: the first whose upper midpoint (10^k × √10) is above
    // the ratio.
    let mut power = Decimal::ONE;
    for exponent in 0..18 {
        match power.checked_mul(SQRT_10) {
            Some(midpoint) if ratio < midpoint => return exponent,
            Some(_) => power = power.checked_mul(Decimal::TEN).unwrap_or(Decimal::MAX),
            None => return exponent,
        }
    }
    18
}

/// `a × b` exactly, or `None` when the product has more digits than a `Decimal` holds
/// (where `Decimal`'s own multiplication would round).
pub(crate) fn exact_mul(a: Decimal, b: Decimal) -> Option<Decimal> {
    let mut mantissa = a.mantissa().checked_mul(b.mantissa())?;
    let mut scale = a.scale() + b.scale();
    // Trailing zeros of the fraction are not digits: drop them while the scale is over.
    while scale > 28 && mantissa % 10 == 0 {
        mantissa /= 10;
        scale -= 1;
    }
    Decimal::try_from_i128_with_scale(mantissa, scale).ok()
}

/// The calendar month (UTC) an instant falls in: Elastic bills monthly. `None` past
/// the end of the time scale.
fn billing_period(at: Timestamp) -> Option<(Timestamp, Timestamp)> {
    let date = at.to_zoned_datetime(TimeZone::UTC).date().first_of_month();
    let start = date.to_zoned_datetime(TimeZone::UTC).ok()?.timestamp();
    let end = date
        .last_of_month()
        .tomorrow()
        .ok()?
        .to_zoned_datetime(TimeZone::UTC)
        .ok()?
        .timestamp();
    Some((start, end))
}

/// The FOCUS service of a line: its name, category and subcategory, one category and
/// one subcategory per name (as FOCUS asks). The deployment's resources are search
/// (Elasticsearch and what runs beside it), data transfer is networking, snapshots are
/// backup storage.
fn service(line: &LedgerLine) -> (&'static str, &'static str, &'static str) {
    match (line.key.line_type, line.key.kind.as_str()) {
        (LineType::Resource, _) => ("Elastic Cloud", "Analytics", "Search"),
        (LineType::Dts, "storage_api" | "storage_bytes") => (
            "Elastic Cloud Snapshot Storage",
            "Storage",
            "Backup Storage",
        ),
        (LineType::Dts, kind) if kind.starts_with("data_") => (
            "Elastic Cloud Data Transfer",
            "Networking",
            "Network Connectivity",
        ),
        (LineType::Dts, _) => ("Elastic Cloud Other Usage", "Other", "Other (Other)"),
    }
}

/// A DTS line's unit as FOCUS spells units (its UnitFormat: `GB`, `GB-Months`,
/// `Requests`): the unit its rate is written per (`0.03 per GB-day`), or, when the rate
/// names none (a CSV answer), the unit its usage type is priced in. `Err` when neither
/// places it: a unit is never guessed.
fn dts_unit(kind: &str, rate_formatted: Option<&str>) -> std::result::Result<&'static str, String> {
    let written = rate_formatted
        .and_then(|text| text.split_once(" per ").or_else(|| text.split_once('/')))
        .map(|(_, unit)| unit.trim().to_ascii_lowercase())
        .filter(|unit| !unit.is_empty());
    if let Some(unit) = &written {
        let unit = unit.replace([' ', '_'], "-");
        let (size, time) = match unit.split_once('-') {
            Some((size, time)) => (size, Some(time.trim_end_matches('s'))),
            None => (unit.as_str(), None),
        };
        let size = match size {
            "b" | "byte" | "bytes" => Some("B"),
            "kb" => Some("KB"),
            "mb" => Some("MB"),
            "gb" => Some("GB"),
            "tb" => Some("TB"),
            "pb" => Some("PB"),
            "kib" => Some("KiB"),
            "mib" => Some("MiB"),
            "gib" => Some("GiB"),
            "tib" => Some("TiB"),
            _ => None,
        };
        let placed = match (size, time) {
            (Some(size), None) => Some(size),
            (Some("GB"), Some("hour")) => Some("GB-Hours"),
            (Some("GB"), Some("day")) => Some("GB-Days"),
            (Some("GB"), Some("month")) => Some("GB-Months"),
            (Some("TB"), Some("month")) => Some("TB-Months"),
            (None, _)
                if matches!(
                    unit.trim_end_matches('s'),
                    "request" | "api-request" | "api-call" | "call" | "operation"
                ) =>
            {
                Some("Requests")
            }
            _ => None,
        };
        return placed.ok_or_else(|| {
            format!(
                "its rate's unit \"{}\" is not one the FOCUS mapping places",
                ec_billing::text::escape(rate_formatted.unwrap_or_default()).truncate(48)
            )
        });
    }
    match kind {
        kind if kind.starts_with("data_") => Ok("GB"),
        "storage_bytes" => Ok("GB-Months"),
        "storage_api" => Ok("Requests"),
        other => Err(format!(
            "its rate names no unit, and its usage type \"{}\" is not one the FOCUS mapping \
             places",
            ec_billing::text::escape(other).truncate(48)
        )),
    }
}

/// A decimal as a FOCUS column writes it: every digit, no trailing zero, and at least
/// one digit after the point (`72.0`, not `72`), so that a reader inferring types from
/// the text sees a decimal column even when every value of it is whole.
fn focus_decimal(amount: Decimal) -> String {
    let text = amount.normalize().to_string();
    if text.contains('.') {
        text
    } else {
        format!("{text}.0")
    }
}

/// What a line's FOCUS record computes, and can fail on.
pub(crate) struct FocusAmounts {
    pricing: Pricing,
    billed: Decimal,
    list_unit_price: Decimal,
    list_cost: Decimal,
    period: (jiff::Timestamp, jiff::Timestamp),
    unit: &'static str,
}

/// A line's FOCUS amounts, exact, at the export's rate: what an export checks of every
/// line before it writes any (an amount that cannot be exact is an error naming the
/// line).
pub(crate) fn focus_amounts(line: &LedgerLine, export: &Export) -> Result<FocusAmounts> {
    let rate = export.rate;
    let at_rate = rate != Decimal::ONE;
    let refused = |what: &str| {
        let message = format!(
            "cannot export {} of deployment \"{}\", window {}..{}: {what}",
            line.key.describe(),
            ec_billing::text::escape(&line.deployment).truncate(80),
            line.window.0,
            line.window.1
        );
        if at_rate {
            Error::InvalidInput(format!(
                "{message} at {rate} {} per ECU; nothing is rounded (a rate per ECU with \
                 fewer digits may help)",
                export.currency
            ))
        } else {
            Error::Overflow(message)
        }
    };
    let pricing = pricing(LineValues::from(line)).map_err(|what| refused(&what))?;
    // Amounts keep every digit but no trailing zero (`0.0231`, not `0.023100`), and
    // are never rounded: a product with more digits than a decimal holds is an error.
    let in_billing = |ecu: Decimal, what: &str| {
        exact_mul(ecu, rate)
            .map(|amount| amount.normalize())
            .ok_or_else(|| {
                refused(&format!(
                    "{what} has more digits than an exact decimal holds"
                ))
            })
    };
    let billed = in_billing(line.cost, "its billed cost")?;
    let list_unit_price = in_billing(pricing.unit_price, "its unit price")?;
    let list_cost = exact_mul(list_unit_price, pricing.quantity)
        .map(|amount| amount.normalize())
        .ok_or_else(|| refused("its list cost has more digits than an exact decimal holds"))?;
    let period = billing_period(line.key.period_start)
        .ok_or_else(|| refused("its billing month ends past the end of the time scale"))?;
    let unit = pricing.unit.clone().map_err(|what| refused(&what))?;
    Ok(FocusAmounts {
        pricing,
        billed,
        list_unit_price,
        list_cost,
        period,
        unit,
    })
}

/// A line's FOCUS record, in the order of its version's
/// [`columns`](FocusVersion::columns). An amount that cannot be exact is an error
/// naming the line.
pub(crate) fn focus_record(line: &LedgerLine, export: &Export) -> Result<Vec<String>> {
    let FocusAmounts {
        pricing,
        billed,
        list_unit_price,
        list_cost,
        period: (period_start, period_end),
        unit,
    } = focus_amounts(line, export)?;
    let (period_start, period_end) = (period_start.to_string(), period_end.to_string());
    let key = &line.key;
    let sku_price_id = format!("{}@{}", key.sku, pricing.unit_price.normalize());
    let (service_name, category, subcategory) = service(line);
    let empty = String::new;
    let record = vec![
        empty(),                                             // AvailabilityZone
        focus_decimal(billed),                               // BilledCost
        line.organization.clone(),                           // BillingAccountId
        line.organization.clone(),                           // BillingAccountName
        "Organization".to_string(),                          // BillingAccountType
        export.currency.clone(),                             // BillingCurrency
        period_end,                                          // BillingPeriodEnd
        period_start,                                        // BillingPeriodStart
        empty(),                                             // CapacityReservationId
        empty(),                                             // CapacityReservationStatus
        "Usage".to_string(),                                 // ChargeCategory
        empty(),                                             // ChargeClass
        key.name.clone(),                                    // ChargeDescription
        "Usage-Based".to_string(),                           // ChargeFrequency
        key.period_end.to_string(),                          // ChargePeriodEnd
        key.period_start.to_string(),                        // ChargePeriodStart
        empty(),                                             // CommitmentDiscountCategory
        empty(),                                             // CommitmentDiscountId
        empty(),                                             // CommitmentDiscountName
        empty(),                                             // CommitmentDiscountQuantity
        empty(),                                             // CommitmentDiscountStatus
        empty(),                                             // CommitmentDiscountType
        empty(),                                             // CommitmentDiscountUnit
        focus_decimal(pricing.quantity),                     // ConsumedQuantity
        unit.to_string(),                                    // ConsumedUnit
        focus_decimal(billed),                               // ContractedCost
        empty(),                                             // ContractedUnitPrice
        focus_decimal(billed),                               // EffectiveCost
        "Elastic".to_string(),                               // HostProviderName (1.3)
        empty(),                                             // InvoiceId
        "Elastic".to_string(),                               // InvoiceIssuerName
        focus_decimal(list_cost),                            // ListCost
        focus_decimal(list_unit_price),                      // ListUnitPrice
        "Standard".to_string(),                              // PricingCategory
        "ECU".to_string(),                                   // PricingCurrency
        empty(),                                             // PricingCurrencyContractedUnitPrice
        focus_decimal(line.cost),                            // PricingCurrencyEffectiveCost
        focus_decimal(pricing.unit_price),                   // PricingCurrencyListUnitPrice
        focus_decimal(pricing.quantity),                     // PricingQuantity
        unit.to_string(),                                    // PricingUnit
        "Elastic".to_string(),                               // ProviderName
        "Elastic".to_string(),                               // PublisherName
        empty(),                                             // RegionId
        empty(),                                             // RegionName
        line.deployment.clone(),                             // ResourceId
        line.deployment.clone(),                             // ResourceName
        "Deployment".to_string(),                            // ResourceType
        category.to_string(),                                // ServiceCategory
        service_name.to_string(),                            // ServiceName
        "Elastic".to_string(),                               // ServiceProviderName (1.3)
        subcategory.to_string(),                             // ServiceSubcategory
        key.sku.clone(),                                     // SkuId
        key.kind.clone(),                                    // SkuMeter
        empty(),                                             // SkuPriceDetails
        sku_price_id,                                        // SkuPriceId
        empty(),                                             // SubAccountId
        empty(),                                             // SubAccountName
        empty(),                                             // SubAccountType
        empty(),                                             // Tags
        line.provisional.to_string(),                        // x_Provisional
        line.organization.clone(),                           // x_Organization
        line.deployment.clone(),                             // x_Deployment
        key.line_type.as_str().to_string(),                  // x_LineType
        key.kind.clone(),                                    // x_Kind
        line.window.0.to_string(),                           // x_WindowStart
        line.window.1.to_string(),                           // x_WindowEnd
        key.ordinal.to_string(),                             // x_Ordinal
        text(line.hours),                                    // x_Hours
        text(line.instance_count),                           // x_InstanceCount
        line.quantity_formatted.clone().unwrap_or_default(), // x_QuantityFormatted
        line.rate_formatted.clone().unwrap_or_default(),     // x_RateFormatted
    ];
    Ok(export.version.filter(record))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::LineKey;

    fn dts(raw: &str, formatted: &str, rate: &str, rate_formatted: &str, cost: &str) -> LedgerLine {
        let at: Timestamp = "2024-01-01T00:00:00Z".parse().unwrap();
        LedgerLine {
            organization: "o".into(),
            deployment: "d".into(),
            window: (at, at),
            provisional: false,
            key: LineKey {
                line_type: LineType::Dts,
                kind: "data_out".into(),
                sku: "s".into(),
                name: "n".into(),
                period_start: at,
                period_end: at,
                ordinal: 0,
            },
            hours: None,
            instance_count: None,
            price_per_hour: None,
            quantity: Some(raw.parse().unwrap()),
            quantity_formatted: Some(formatted.into()),
            rate: Some(rate.parse().unwrap()),
            rate_formatted: Some(rate_formatted.into()),
            cost: cost.parse().unwrap(),
        }
    }

    fn priced(line: &LedgerLine) -> std::result::Result<Pricing, String> {
        pricing(LineValues::from(line))
    }

    #[test]
    fn a_dts_quantity_is_priced_in_the_unit_of_its_rate() {
        let bytes = priced(&dts(
            "1363900000000",
            "1,363.9 GB",
            "0.03",
            "0.03 per GB",
            "40.917",
        ))
        .unwrap();
        assert_eq!(bytes.quantity.to_string(), "1363.9");
        assert_eq!(bytes.unit, Ok("GB"));
        // A formatted quantity rounded for display still finds the unit's scale.
        let rounded = priced(&dts(
            "2668996666",
            "2,669 GB-month",
            "0.03",
            "0.03 per GB-month",
            "80.0699",
        ))
        .unwrap();
        assert_eq!(rounded.quantity.to_string(), "2668.996666");
        assert_eq!(rounded.unit, Ok("GB-Months"), "as FOCUS spells it");
        let requests = priced(&dts(
            "2602",
            "2,602 requests",
            "0.00005",
            "0.00005 per request",
            "0.1301",
        ))
        .unwrap();
        assert_eq!(requests.quantity.to_string(), "2602");
        assert_eq!(requests.unit, Ok("Requests"));
        // No rate text (a CSV answer): the usage type's unit.
        let bare = priced(&dts("5", "", "0", "", "0")).unwrap();
        assert_eq!(
            (bare.quantity.to_string(), bare.unit),
            ("5".to_string(), Ok("GB"))
        );
        // A unit the mapping cannot place is refused, not guessed.
        let widget = priced(&dts("5", "", "1", "1 per widget", "5"))
            .unwrap()
            .unit;
        assert!(widget.unwrap_err().contains("widget"));
        let mut unknown = dts("5", "", "0", "", "0");
        unknown.key.kind = "gpu_seconds".into();
        assert!(
            priced(&unknown)
                .unwrap()
                .unit
                .unwrap_err()
                .contains("gpu_seconds")
        );
        // A formatted quantity in another unit than the rate's: the cost decides.
        let terabytes =
            priced(&dts("1500000000000", "1.5 TB", "0.03", "0.03 per GB", "45")).unwrap();
        assert_eq!(terabytes.quantity.to_string(), "1500");
        let slash = priced(&dts(
            "1363900000000",
            "1,363.9 GB",
            "0.03",
            "0.03/GB",
            "40.917",
        ))
        .unwrap();
        assert_eq!(slash.unit, Ok("GB"));
        // Hostile figures: no panic, whatever the ratio.
        for (raw, formatted, rate, cost) in [
            ("1", "1000000000000000000000 GB", "1", "1"),
            (
                "79228162514264337593543950335",
                "0.0000000000000000000000000001 GB",
                "1",
                "0",
            ),
            (
                "1",
                "",
                "0.0000000000000000000000000001",
                "79228162514264337593543950335",
            ),
        ] {
            let _ = priced(&dts(raw, formatted, rate, "1 per GB", cost));
        }
    }

    #[test]
    fn a_focus_decimal_keeps_every_digit_and_always_a_point() {
        let d = |t: &str| t.parse::<Decimal>().unwrap();
        assert_eq!(focus_decimal(d("72")), "72.0");
        assert_eq!(focus_decimal(d("0.023100")), "0.0231");
        assert_eq!(focus_decimal(d("-5.00")), "-5.0");
        assert_eq!(
            focus_decimal(d("0.0000000000000000000000000001")),
            "0.0000000000000000000000000001"
        );
    }

    #[test]
    fn every_dts_unit_is_spelled_as_focus_spells_units() {
        for (rate, kind, unit) in [
            (Some("0.03 per GB"), "data_out", "GB"),
            (Some("0.03 per GB-day"), "storage_bytes", "GB-Days"),
            (Some("0.03 per GB-months"), "storage_bytes", "GB-Months"),
            (Some("0.03 per GB hour"), "storage_bytes", "GB-Hours"),
            (Some("0.0001 per API request"), "storage_api", "Requests"),
            (None, "data_internode", "GB"),
            (None, "storage_bytes", "GB-Months"),
            (None, "storage_api", "Requests"),
        ] {
            assert_eq!(dts_unit(kind, rate).unwrap(), unit, "{rate:?} {kind}");
        }
    }

    #[test]
    fn a_product_is_exact_or_refused_never_rounded() {
        let d = |t: &str| t.parse::<Decimal>().unwrap();
        assert_eq!(
            exact_mul(d("0.1234567890123456789012345678"), d("744")),
            None
        );
        assert_eq!(exact_mul(d("0.68"), d("744")), Some(d("505.92")));
        assert_eq!(exact_mul(d("0.50"), d("0.20")), Some(d("0.1")));
        assert_eq!(
            exact_mul(d("79228162514264337593543950335"), d("2")),
            None,
            "an overflow is refused"
        );
        assert!(SQRT_10 > d("3.1622776601683793319") && SQRT_10 < d("3.1622776601683793320"));
    }

    #[test]
    fn the_billing_period_is_the_calendar_month() {
        let (start, end) = billing_period("2024-02-17T05:00:00Z".parse().unwrap()).unwrap();
        assert_eq!(start.to_string(), "2024-02-01T00:00:00Z");
        assert_eq!(end.to_string(), "2024-03-01T00:00:00Z");
        assert_eq!(
            billing_period("9999-12-02T00:00:00Z".parse().unwrap()),
            None,
            "a month that ends past the time scale has no billing period"
        );
    }

    #[test]
    fn an_export_format_reads_from_its_name() {
        for format in [ExportFormat::Focus, ExportFormat::Csv, ExportFormat::Json] {
            let name = match format {
                ExportFormat::Focus => "focus",
                ExportFormat::Csv => "csv",
                ExportFormat::Json => "json",
            };
            assert_eq!(name.parse::<ExportFormat>().unwrap(), format);
        }
        assert!("xlsx".parse::<ExportFormat>().is_err());
    }
}
