//! The FOCUS mapping: its columns per version, and each line's FOCUS record as cells
//! that the CSV and the Parquet writers both take.

use ec_billing::Decimal;
use jiff::Timestamp;

use super::{
    Export,
    pricing::{LineValues, Pricing, billing_period, exact_mul, pricing},
};
use crate::{
    error::{Error, Result},
    read::LineOf,
    record::{LineKey, LineType},
};

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

    /// The places in [`FOCUS_TABLE`] (and in a [`FocusRow`]'s cells) of this version's
    /// columns.
    pub(crate) fn indices(self) -> &'static [usize] {
        static V1_2: std::sync::LazyLock<Vec<usize>> =
            std::sync::LazyLock::new(|| FocusVersion::V1_2.filter(0..FOCUS_TABLE.len()));
        static V1_3: std::sync::LazyLock<Vec<usize>> =
            std::sync::LazyLock::new(|| FocusVersion::V1_3.filter(0..FOCUS_TABLE.len()));
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

/// The FOCUS service of a line: its name, category and subcategory, one category and
/// one subcategory per name (as FOCUS asks). The deployment's resources are search
/// (Elasticsearch and what runs beside it), data transfer is networking, snapshots are
/// backup storage.
pub(crate) fn service(key: &LineKey) -> (&'static str, &'static str, &'static str) {
    match (key.line_type, key.kind.as_str()) {
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

/// A decimal as a FOCUS column writes it: every digit, no trailing zero, and at least
/// one digit after the point (`72.0`, not `72`), so that a reader inferring types from
/// the text sees a decimal column even when every value of it is whole.
#[cfg(test)]
pub(crate) fn focus_decimal(amount: Decimal) -> String {
    let mut text = Vec::new();
    push_decimal(amount, &mut text);
    String::from_utf8_lossy(&text).into_owned()
}

/// Appends `amount` as [`focus_decimal`] writes it, without an allocation.
pub(crate) fn push_decimal(amount: Decimal, out: &mut Vec<u8>) {
    let (mantissa, mut scale) = (amount.mantissa(), amount.scale());
    if mantissa < 0 {
        out.push(b'-');
    }
    let mut buffer = itoa::Buffer::new();
    // No trailing zero after the point (in 64 bits when the amount fits: most do, and
    // a 128-bit division is slow).
    let digits = match u64::try_from(mantissa.unsigned_abs()) {
        Ok(mut small) => {
            while scale > 0 && small % 10 == 0 {
                small /= 10;
                scale -= 1;
            }
            buffer.format(small)
        }
        Err(_) => {
            let mut large = mantissa.unsigned_abs();
            while scale > 0 && large % 10 == 0 {
                large /= 10;
                scale -= 1;
            }
            buffer.format(large)
        }
    }
    .as_bytes();
    let scale = scale as usize;
    if scale == 0 {
        out.extend_from_slice(digits);
        out.extend_from_slice(b".0");
    } else if digits.len() <= scale {
        out.extend_from_slice(b"0.");
        out.extend(std::iter::repeat_n(b'0', scale - digits.len()));
        out.extend_from_slice(digits);
    } else {
        let (integer, fraction) = digits.split_at(digits.len() - scale);
        out.extend_from_slice(integer);
        out.push(b'.');
        out.extend_from_slice(fraction);
    }
}

/// What a line's FOCUS record computes, and can fail on.
#[derive(Debug)]
pub(crate) struct FocusAmounts {
    pub(crate) pricing: Pricing,
    pub(crate) billed: Decimal,
    pub(crate) list_unit_price: Decimal,
    pub(crate) list_cost: Decimal,
    pub(crate) period: (Timestamp, Timestamp),
    pub(crate) unit: &'static str,
}

/// A line's FOCUS amounts, exact, at the export's rate: what an export checks of every
/// line before it writes any (an amount that cannot be exact is an error naming the
/// line).
pub(crate) fn focus_amounts(line: LineOf<'_>, export: &Export) -> Result<FocusAmounts> {
    let rate = export.rate;
    let at_rate = rate != Decimal::ONE;
    let refused = |what: &str| {
        let (start, end) = line.window_bounds();
        let message = format!(
            "cannot export {} of deployment \"{}\", window {start}..{end}: {what}",
            line.key.describe(),
            ec_billing::text::escape(&line.window.deployment).truncate(80),
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
    let pricing = pricing(LineValues::from(line.line)).map_err(|what| refused(&what))?;
    // Amounts keep every digit but no trailing zero (`0.0231`, not `0.023100`), and
    // are never rounded: a product with more digits than a decimal holds is an error.
    let in_billing = |ecu: Decimal, what: &str| {
        if at_rate {
            exact_mul(ecu, rate).ok_or_else(|| {
                refused(&format!(
                    "{what} has more digits than an exact decimal holds"
                ))
            })
        } else {
            Ok(ecu)
        }
    };
    let billed = in_billing(line.cost, "its billed cost")?;
    let list_unit_price = in_billing(pricing.unit_price, "its unit price")?;
    let list_cost = exact_mul(list_unit_price, pricing.quantity)
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

/// A value of a FOCUS record, as the CSV and the Parquet writers both take it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Cell<'a> {
    /// No value.
    Null,
    Text(&'a str),
    /// An exact amount, written as [`focus_decimal`] writes it.
    Decimal(Decimal),
    Instant(Timestamp),
    Integer(i64),
    Bool(bool),
    /// A SKU's price: `SKU@unit price` (the price with every digit and no trailing
    /// zero, as `Decimal` displays it normalized).
    SkuPrice(&'a str, Decimal),
}

impl Cell<'_> {
    /// Appends the cell's text as a FOCUS CSV writes it (nothing for a null).
    pub(crate) fn push_text(&self, out: &mut Vec<u8>) {
        match *self {
            Cell::Null => {}
            Cell::Text(text) => out.extend_from_slice(text.as_bytes()),
            Cell::Decimal(amount) => push_decimal(amount, out),
            Cell::Instant(at) => crate::text::push_instant(at, out),
            Cell::Integer(n) => out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes()),
            Cell::Bool(true) => out.extend_from_slice(b"true"),
            Cell::Bool(false) => out.extend_from_slice(b"false"),
            Cell::SkuPrice(sku, price) => {
                out.extend_from_slice(sku.as_bytes());
                out.push(b'@');
                push_plain_decimal(price, out);
            }
        }
    }
}

/// How many columns [`FOCUS_TABLE`] has: the cells of a [`FocusRow`].
pub(crate) const FOCUS_WIDTH: usize = FOCUS_TABLE.len();

/// A line's FOCUS record: its amounts, priced once, and its cells, borrowed from the
/// line. An amount that cannot be exact is an error naming the line.
#[derive(Debug)]
pub(crate) struct FocusRow<'a> {
    line: LineOf<'a>,
    export: &'a Export,
    amounts: FocusAmounts,
}

impl<'a> FocusRow<'a> {
    /// Prices `line` as `export` says.
    ///
    /// # Errors
    ///
    /// As [`focus_amounts`].
    pub(crate) fn new(line: LineOf<'a>, export: &'a Export) -> Result<Self> {
        let amounts = focus_amounts(line, export)?;
        Ok(Self {
            line,
            export,
            amounts,
        })
    }

    /// Its billing period's start.
    pub(crate) fn period_start(&self) -> Timestamp {
        self.amounts.period.0
    }

    /// Its cells, one per column of [`FOCUS_TABLE`] (of every version: pick a
    /// version's with [`FocusVersion::indices`]).
    pub(crate) fn cells(&self) -> [Cell<'_>; FOCUS_WIDTH] {
        use Cell::{Bool, Decimal as Amount, Instant, Integer, Null, SkuPrice, Text};
        let (window, line) = (self.line.window, self.line.line);
        let key = &line.key;
        let FocusAmounts {
            pricing,
            billed,
            list_unit_price,
            list_cost,
            period: (period_start, period_end),
            unit,
        } = &self.amounts;
        let (service_name, category, subcategory) = service(key);
        let text = |value: Option<&'a str>| value.map_or(Null, Text);
        [
            Null,                                                        // AvailabilityZone
            Amount(*billed),                                             // BilledCost
            Text(&window.organization),                                  // BillingAccountId
            Text(&window.organization),                                  // BillingAccountName
            Text("Organization"),                                        // BillingAccountType
            Text(&self.export.currency),                                 // BillingCurrency
            Instant(*period_end),                                        // BillingPeriodEnd
            Instant(*period_start),                                      // BillingPeriodStart
            Null,                                                        // CapacityReservationId
            Null,                                   // CapacityReservationStatus
            Text("Usage"),                          // ChargeCategory
            Null,                                   // ChargeClass
            Text(&key.name),                        // ChargeDescription
            Text("Usage-Based"),                    // ChargeFrequency
            Instant(key.period_end),                // ChargePeriodEnd
            Instant(key.period_start),              // ChargePeriodStart
            Null,                                   // CommitmentDiscountCategory
            Null,                                   // CommitmentDiscountId
            Null,                                   // CommitmentDiscountName
            Null,                                   // CommitmentDiscountQuantity
            Null,                                   // CommitmentDiscountStatus
            Null,                                   // CommitmentDiscountType
            Null,                                   // CommitmentDiscountUnit
            Amount(pricing.quantity),               // ConsumedQuantity
            Text(unit),                             // ConsumedUnit
            Amount(*billed),                        // ContractedCost
            Null,                                   // ContractedUnitPrice
            Amount(*billed),                        // EffectiveCost
            Text("Elastic"),                        // HostProviderName (1.3)
            Null,                                   // InvoiceId
            Text("Elastic"),                        // InvoiceIssuerName
            Amount(*list_cost),                     // ListCost
            Amount(*list_unit_price),               // ListUnitPrice
            Text("Standard"),                       // PricingCategory
            Text("ECU"),                            // PricingCurrency
            Null,                                   // PricingCurrencyContractedUnitPrice
            Amount(line.cost),                      // PricingCurrencyEffectiveCost
            Amount(pricing.unit_price),             // PricingCurrencyListUnitPrice
            Amount(pricing.quantity),               // PricingQuantity
            Text(unit),                             // PricingUnit
            Text("Elastic"),                        // ProviderName
            Text("Elastic"),                        // PublisherName
            Null,                                   // RegionId
            Null,                                   // RegionName
            Text(&window.deployment),               // ResourceId
            Text(&window.deployment),               // ResourceName
            Text("Deployment"),                     // ResourceType
            Text(category),                         // ServiceCategory
            Text(service_name),                     // ServiceName
            Text("Elastic"),                        // ServiceProviderName (1.3)
            Text(subcategory),                      // ServiceSubcategory
            Text(&key.sku),                         // SkuId
            Text(&key.kind),                        // SkuMeter
            Null,                                   // SkuPriceDetails
            SkuPrice(&key.sku, pricing.unit_price), // SkuPriceId
            Null,                                   // SubAccountId
            Null,                                   // SubAccountName
            Null,                                   // SubAccountType
            Null,                                   // Tags
            Bool(!window.final_),                   // x_Provisional
            Text(&window.organization),             // x_Organization
            Text(&window.deployment),               // x_Deployment
            Text(key.line_type.as_str()),           // x_LineType
            Text(&key.kind),                        // x_Kind
            Instant(window.start),                  // x_WindowStart
            Instant(window.end),                    // x_WindowEnd
            Integer(i64::from(key.ordinal)),        // x_Ordinal
            line.hours.map_or(Null, Integer),       // x_Hours
            line.instance_count.map_or(Null, |n| Integer(i64::from(n))), // x_InstanceCount
            text(line.quantity_formatted.as_deref()), // x_QuantityFormatted
            text(line.rate_formatted.as_deref()),   // x_RateFormatted
        ]
    }
}

/// Appends `amount` with every digit and no trailing zero, as `Decimal` displays a
/// normalized amount (`72`, `0.0231`): the unit price in a `SkuPriceId`.
fn push_plain_decimal(amount: Decimal, out: &mut Vec<u8>) {
    let start = out.len();
    push_decimal(amount, out);
    if out.ends_with(b".0") && out.len() >= start + 2 {
        out.truncate(out.len() - 2);
    }
}

/// Writes FOCUS records as CSV, as the `csv` crate writes them (a field is quoted only
/// when it holds a comma, a quote or a line break, its quotes doubled; each record ends
/// with `\n`), each record made in one reused buffer and written whole.
#[derive(Debug)]
pub(crate) struct FocusCsv {
    record: Vec<u8>,
    /// Cells in the record being made.
    cells: usize,
    /// The texts of the instants written last: a record's instants are mostly those
    /// of the records before it (its window, its billing period).
    instants: [(Option<Timestamp>, [u8; 40], usize); 8],
    next: usize,
}

impl Default for FocusCsv {
    fn default() -> Self {
        Self {
            record: Vec::new(),
            cells: 0,
            instants: [(None, [0; 40], 0); 8],
            next: 0,
        }
    }
}

impl FocusCsv {
    /// Writes the header: the column names.
    pub(crate) fn header(
        &mut self,
        columns: &[&str],
        out: &mut impl std::io::Write,
    ) -> std::io::Result<()> {
        for column in columns {
            self.cell(Cell::Text(column));
        }
        self.end(out)
    }

    /// Writes `row`'s cells at `indices` (a version's, [`FocusVersion::indices`]) as one
    /// record.
    pub(crate) fn row(
        &mut self,
        row: &FocusRow<'_>,
        indices: &[usize],
        out: &mut impl std::io::Write,
    ) -> std::io::Result<()> {
        let cells = row.cells();
        for &index in indices {
            self.cell(cells.get(index).copied().unwrap_or(Cell::Null));
        }
        self.end(out)
    }

    /// Adds a cell to the record being made.
    pub(crate) fn cell(&mut self, cell: Cell<'_>) {
        if self.cells > 0 {
            self.record.push(b',');
        }
        self.cells += 1;
        let start = self.record.len();
        if let Cell::Instant(at) = cell {
            self.push_instant(at);
            return;
        }
        cell.push_text(&mut self.record);
        // Only text can hold a comma, a quote or a line break: numbers, instants and
        // booleans never do.
        if matches!(cell, Cell::Text(_) | Cell::SkuPrice(..))
            && self.record[start..]
                .iter()
                .any(|&b| SPECIAL[usize::from(b)])
        {
            let field = self.record.split_off(start);
            self.record.push(b'"');
            for &byte in &field {
                if byte == b'"' {
                    self.record.push(b'"');
                }
                self.record.push(byte);
            }
            self.record.push(b'"');
        }
    }

    /// Appends `at`'s text, made once for the last few instants.
    fn push_instant(&mut self, at: Timestamp) {
        if let Some((_, text, len)) = self.instants.iter().find(|(t, ..)| *t == Some(at)) {
            self.record.extend_from_slice(&text[..*len]);
            return;
        }
        let start = self.record.len();
        crate::text::push_instant(at, &mut self.record);
        let written = &self.record[start..];
        let slots = self.instants.len();
        let slot = &mut self.instants[self.next];
        self.next = (self.next + 1) % slots;
        if written.len() <= slot.1.len() {
            slot.1[..written.len()].copy_from_slice(written);
            *slot = (Some(at), slot.1, written.len());
        }
    }

    /// Ends the record being made and writes it.
    pub(crate) fn end(&mut self, out: &mut impl std::io::Write) -> std::io::Result<()> {
        self.record.push(b'\n');
        let written = out.write_all(&self.record);
        self.record.clear();
        self.cells = 0;
        written
    }
}

/// The bytes that make a CSV field quoted: comma, quote, line feed, carriage return.
static SPECIAL: [bool; 256] = {
    let mut special = [false; 256];
    special[b',' as usize] = true;
    special[b'"' as usize] = true;
    special[b'\n' as usize] = true;
    special[b'\r' as usize] = true;
    special
};
