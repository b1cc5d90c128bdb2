//! A line as the ledger keeps it: its natural key and its values, made from an answer's
//! lines; how the lines of one key are numbered; and what a window's record says of its
//! lines (count, sum, digest).

use std::fmt;

use ec_billing::ExactAdd;
use ec_billing::{Decimal, Items, Window};
use jiff::Timestamp;

/// Which kind of line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LineType {
    /// A resource line: hours × instances × price per hour.
    Resource,
    /// A data-transfer-and-storage line: quantity × rate.
    Dts,
}

impl LineType {
    /// As stored and exported: `resource`, `dts`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Resource => "resource",
            Self::Dts => "dts",
        }
    }

    pub(crate) fn parse(text: &str) -> Option<Self> {
        match text {
            "resource" => Some(Self::Resource),
            "dts" => Some(Self::Dts),
            _ => None,
        }
    }
}

impl fmt::Display for LineType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A line's natural key: what it is a cost of. Lines of one answer that share all but
/// `ordinal` are kept apart by it: numbered in the order of their amounts (cost, price,
/// hours, instances, quantity, rate), so the same lines in another order keep their
/// keys.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LineKey {
    /// Resource or DTS.
    pub line_type: LineType,
    /// The resource kind (`elasticsearch`), or the DTS usage type (`data_out`).
    pub kind: String,
    /// The SKU.
    pub sku: String,
    /// The line's name.
    pub name: String,
    /// A resource line's own period start; a DTS line's window's start.
    pub period_start: Timestamp,
    /// A resource line's own period end; a DTS line's window's end.
    pub period_end: Timestamp,
    /// Its place among the answer's lines that share the rest of the key, by their
    /// amounts, from 0.
    pub ordinal: u32,
}

impl LineKey {
    /// The key, for a message: `the dts line "Data out" (kind "data_out", SKU "...",
    /// start..end)`.
    pub(crate) fn describe(&self) -> String {
        format!(
            "the {} line \"{}\" (kind \"{}\", SKU \"{}\", {}..{})",
            self.line_type,
            ec_billing::text::escape(&self.name).truncate(80),
            ec_billing::text::escape(&self.kind).truncate(40),
            ec_billing::text::escape(&self.sku).truncate(40),
            self.period_start,
            self.period_end
        )
    }
}

/// A line of the ledger.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LedgerLine {
    /// The organization.
    pub organization: String,
    /// The deployment.
    pub deployment: String,
    /// The window it was fetched in.
    pub window: (Timestamp, Timestamp),
    /// Whether that window may still be revised: it was last fetched less than the
    /// settle period after its end.
    pub provisional: bool,
    /// Its natural key.
    pub key: LineKey,
    /// Resource lines: hours of use.
    pub hours: Option<i64>,
    /// Resource lines: instances.
    pub instance_count: Option<i32>,
    /// Resource lines: ECU per hour (per instance-hour, as upstream reports it).
    pub price_per_hour: Option<Decimal>,
    /// DTS lines: the quantity, in the unit of `quantity_formatted`'s raw value.
    pub quantity: Option<Decimal>,
    /// DTS lines: the quantity as upstream formats it (`1,363.9 GB`).
    pub quantity_formatted: Option<String>,
    /// DTS lines: ECU per unit.
    pub rate: Option<Decimal>,
    /// DTS lines: the rate as upstream formats it (`0.03 per GB`).
    pub rate_formatted: Option<String>,
    /// The cost in ECU, exact.
    pub cost: Decimal,
}

/// A line of one answer, before it belongs to a deployment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct AnswerLine {
    pub(crate) key: LineKey,
    pub(crate) hours: Option<i64>,
    pub(crate) instance_count: Option<i32>,
    pub(crate) price_per_hour: Option<Decimal>,
    pub(crate) quantity: Option<Decimal>,
    pub(crate) quantity_formatted: Option<String>,
    pub(crate) rate: Option<Decimal>,
    pub(crate) rate_formatted: Option<String>,
    pub(crate) cost: Decimal,
}

/// The values of a line that every transport gives (JSON and CSV alike), compared as
/// numbers (`0.25` is `0.250`): what says whether two fetches of a line differ, and
/// what orders the lines of one key.
pub(crate) type Amounts = (
    Decimal,
    Option<Decimal>,
    Option<i64>,
    Option<i32>,
    Option<Decimal>,
    Option<Decimal>,
);

impl AnswerLine {
    /// Its [`Amounts`], normalized (so that equal numbers hash alike).
    pub(crate) fn amounts(&self) -> Amounts {
        (
            self.cost.normalize(),
            self.price_per_hour.map(|d| d.normalize()),
            self.hours,
            self.instance_count,
            self.quantity.map(|d| d.normalize()),
            self.rate.map(|d| d.normalize()),
        )
    }

    /// Whether `other` has the same values (its key may differ). A formatted text that
    /// one of the two lacks (CSV carries none) is no difference: what a transport does
    /// not say is not a change.
    pub(crate) fn same_values(&self, other: &AnswerLine) -> bool {
        fn same_text(a: Option<&str>, b: Option<&str>) -> bool {
            match (a, b) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            }
        }
        self.amounts() == other.amounts()
            && same_text(
                self.quantity_formatted.as_deref(),
                other.quantity_formatted.as_deref(),
            )
            && same_text(
                self.rate_formatted.as_deref(),
                other.rate_formatted.as_deref(),
            )
    }

    /// Writes a zero amount as `0`, never `-0`: a database's exact numbers have no
    /// negative zero, and a line must read back as it was written.
    fn positive_zeros(&mut self) {
        for amount in [
            Some(&mut self.cost),
            self.price_per_hour.as_mut(),
            self.quantity.as_mut(),
            self.rate.as_mut(),
        ]
        .into_iter()
        .flatten()
        {
            if amount.is_zero() {
                amount.set_sign_positive(true);
            }
        }
    }

    /// Takes from `earlier` (the same line, fetched before) the formatted texts this
    /// fetch lacks: kept, not invented.
    pub(crate) fn keep_texts_of(&mut self, earlier: &AnswerLine) {
        if self.quantity_formatted.is_none() {
            self.quantity_formatted
                .clone_from(&earlier.quantity_formatted);
        }
        if self.rate_formatted.is_none() {
            self.rate_formatted.clone_from(&earlier.rate_formatted);
        }
    }

    /// The key without its ordinal: the lines it holds are told apart by their values.
    pub(crate) fn group(&self) -> (LineType, &str, &str, &str, Timestamp, Timestamp) {
        let key = &self.key;
        (
            key.line_type,
            &key.kind,
            &key.sku,
            &key.name,
            key.period_start,
            key.period_end,
        )
    }
}

/// An answer's lines under their keys, numbered by [`number`].
pub(crate) fn answer_lines(items: &Items, window: Window) -> Vec<AnswerLine> {
    let mut lines =
        Vec::with_capacity(items.resources.len() + items.data_transfer_and_storage.len());
    for r in &items.resources {
        lines.push(AnswerLine {
            key: LineKey {
                line_type: LineType::Resource,
                kind: r.kind.as_str().to_string(),
                sku: r.sku.clone(),
                name: r.name.clone(),
                period_start: r.period.start,
                period_end: r.period.end,
                ordinal: 0,
            },
            hours: Some(r.hours),
            instance_count: Some(r.instance_count),
            price_per_hour: Some(r.price_per_hour),
            quantity: None,
            quantity_formatted: None,
            rate: None,
            rate_formatted: None,
            cost: r.cost,
        });
    }
    let (start, end) = (window.from(), window.to());
    let text = |text: &str| (!text.is_empty()).then(|| text.to_string());
    for d in &items.data_transfer_and_storage {
        lines.push(AnswerLine {
            key: LineKey {
                line_type: LineType::Dts,
                kind: d.usage_type.clone(),
                sku: d.sku.clone(),
                name: d.name.clone(),
                period_start: start,
                period_end: end,
                ordinal: 0,
            },
            hours: None,
            instance_count: None,
            price_per_hour: None,
            quantity: Some(d.quantity.value),
            quantity_formatted: text(&d.quantity.formatted),
            rate: Some(d.rate.value),
            rate_formatted: text(&d.rate.formatted),
            cost: d.cost,
        });
    }
    for line in &mut lines {
        line.positive_zeros();
    }
    number(&mut lines);
    lines
}

/// Puts `lines` in key order and numbers the lines that share all of their key but the
/// ordinal by their [`Amounts`] (then their texts), from 0: the same lines in another
/// order, or fetched through another transport, get the same keys.
pub(crate) fn number(lines: &mut [AnswerLine]) {
    lines.sort_by(canonical);
    renumber(lines, |line| line);
}

/// The order an export gives a window's lines in (and both stores hold them in): line
/// type (as its text: `dts` before `resource`), kind, SKU, name, period, ordinal,
/// compared as bytes and instants (never by a database's collation).
pub(crate) fn export_order(a: &AnswerLine, b: &AnswerLine) -> std::cmp::Ordering {
    key_order(&a.key, &b.key)
}

/// [`export_order`] of two keys.
pub(crate) fn key_order(a: &LineKey, b: &LineKey) -> std::cmp::Ordering {
    (
        a.line_type.as_str().as_bytes(),
        a.kind.as_bytes(),
        a.sku.as_bytes(),
        a.name.as_bytes(),
        a.period_start,
        a.period_end,
        a.ordinal,
    )
        .cmp(&(
            b.line_type.as_str().as_bytes(),
            b.kind.as_bytes(),
            b.sku.as_bytes(),
            b.name.as_bytes(),
            b.period_start,
            b.period_end,
            b.ordinal,
        ))
}

/// The order [`number`] puts lines in.
pub(crate) fn canonical(a: &AnswerLine, b: &AnswerLine) -> std::cmp::Ordering {
    a.group()
        .cmp(&b.group())
        .then_with(|| a.amounts().cmp(&b.amounts()))
        .then_with(|| {
            (&a.quantity_formatted, &a.rate_formatted)
                .cmp(&(&b.quantity_formatted, &b.rate_formatted))
        })
}

/// Numbers `items`, in [`canonical`] order, by their place among those of one key.
pub(crate) fn renumber<T>(items: &mut [T], line: impl Fn(&mut T) -> &mut AnswerLine) {
    let mut ordinal = 0u32;
    for index in 0..items.len() {
        let (before, rest) = items.split_at_mut(index);
        let current = line(&mut rest[0]);
        ordinal = match before.last_mut().map(&line) {
            Some(previous) if previous.group() == current.group() => ordinal.saturating_add(1),
            _ => 0,
        };
        current.key.ordinal = ordinal;
    }
}

/// What a window's record says of its lines: how many, their exact sum, their digest.
/// Kept as lines are read, in any order, and compared with the record.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Tally {
    pub(crate) lines: u64,
    /// `None` once the sum overflowed (no answer the ledger stored can).
    pub(crate) sum: Option<Decimal>,
    digest: u128,
}

impl Tally {
    pub(crate) fn new() -> Self {
        Self {
            lines: 0,
            sum: Some(Decimal::ZERO),
            digest: 0,
        }
    }

    pub(crate) fn add(&mut self, line: &AnswerLine) {
        self.count(line);
        self.add_digest(line_hash(line));
    }

    /// Counts and sums a line, whose hash is added apart ([`add_digest`](Self::add_digest)).
    pub(crate) fn count(&mut self, line: &AnswerLine) {
        self.lines += 1;
        self.sum = self.sum.and_then(|sum| sum.exact_add(line.cost));
    }

    /// Adds the hashes of lines counted, or their sum ([`line_hash`]).
    pub(crate) fn add_digest(&mut self, hashes: u128) {
        self.digest = self.digest.wrapping_add(hashes);
    }

    /// Whether the count and the sum agree with a record's (not the digest).
    pub(crate) fn lines_and_total_match(&self, lines: i64, total: &str) -> bool {
        i64::try_from(self.lines).ok() == Some(lines)
            && matches!((&self.sum, crate::text::parse_decimal_text(total)), (Some(sum), Some(total)) if *sum == total)
    }

    /// The digest as the record stores it.
    pub(crate) fn digest(&self) -> String {
        format!("{DIGEST_PREFIX}{:032x}", self.digest)
    }

    /// What differs between these lines and a window's record of `lines`, `total` and
    /// `digest`; `None` when they agree.
    pub(crate) fn mismatch(&self, lines: i64, total: &str, digest: &str) -> Option<String> {
        if i64::try_from(self.lines).ok() != Some(lines) {
            return Some(format!(
                "it has {} lines, its record says {lines}",
                self.lines
            ));
        }
        let sum = self.sum.map(|s| s.to_string());
        let same_total = match (&self.sum, crate::text::parse_decimal_text(total)) {
            (Some(sum), Some(total)) => *sum == total,
            _ => false,
        };
        if !same_total {
            return Some(format!(
                "its lines add up to {}, its record says {}",
                sum.as_deref().unwrap_or("more than an exact decimal holds"),
                ec_billing::text::escape(total).truncate(48)
            ));
        }
        if digest != self.digest() {
            return Some("its lines are not those its record was written with".to_string());
        }
        None
    }
}

/// How a digest of this crate starts: the sum (mod 2¹²⁸) of each line's hash, so that
/// it does not depend on the order lines are read in.
const DIGEST_PREFIX: &str = "fnv1a128-sum:";

/// The digest of `lines` (see [`Tally`]).
pub(crate) fn digest(lines: &[AnswerLine]) -> String {
    let mut tally = Tally::new();
    for line in lines {
        tally.add(line);
    }
    tally.digest()
}

/// One line's hash: 128-bit FNV-1a over each field's length and text. It tells whether
/// lines changed; it is not a security digest.
pub(crate) fn line_hash(line: &AnswerLine) -> u128 {
    use crate::text::{push_decimal_text, push_instant};
    // Each field's text is made in one buffer, as `to_string` would make it.
    let mut text: Vec<u8> = Vec::with_capacity(64);
    let mut hash = Fnv128::new();
    let mut field = |text: &[u8]| {
        // Each field with its length first: no text of a field can pass for a boundary
        // between fields.
        hash.write(&(text.len() as u64).to_le_bytes());
        hash.write(text);
    };
    let key = &line.key;
    field(key.line_type.as_str().as_bytes());
    field(key.kind.as_bytes());
    field(key.sku.as_bytes());
    field(key.name.as_bytes());
    for at in [key.period_start, key.period_end] {
        text.clear();
        push_instant(at, &mut text);
        field(&text);
    }
    field(itoa::Buffer::new().format(key.ordinal).as_bytes());
    match line.hours {
        Some(hours) => field(itoa::Buffer::new().format(hours).as_bytes()),
        None => field(NONE),
    }
    match line.instance_count {
        Some(count) => field(itoa::Buffer::new().format(count).as_bytes()),
        None => field(NONE),
    }
    let mut amount = |value: Option<Decimal>, field: &mut dyn FnMut(&[u8])| match value {
        Some(value) => {
            text.clear();
            push_decimal_text(value, &mut text);
            field(&text);
        }
        None => field(NONE),
    };
    amount(line.price_per_hour, &mut field);
    amount(line.quantity, &mut field);
    field(
        line.quantity_formatted
            .as_deref()
            .map_or(NONE, str::as_bytes),
    );
    amount(line.rate, &mut field);
    field(line.rate_formatted.as_deref().map_or(NONE, str::as_bytes));
    amount(Some(line.cost), &mut field);
    hash.finish()
}

/// What a field that has no value hashes as.
const NONE: &[u8] = b"\0";

/// 128-bit FNV-1a.
struct Fnv128(u128);

impl Fnv128 {
    const OFFSET: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    const PRIME: u128 = 0x0000_0000_0100_0000_0000_0000_0000_013b;

    fn new() -> Self {
        Self(Self::OFFSET)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0 ^ u128::from(byte)).wrapping_mul(Self::PRIME);
        }
    }

    fn finish(&self) -> u128 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_type_reads_back_from_its_text() {
        for line_type in [LineType::Resource, LineType::Dts] {
            assert_eq!(LineType::parse(line_type.as_str()), Some(line_type));
        }
    }

    #[test]
    fn fnv128_has_its_published_test_vectors() {
        let mut empty = Fnv128::new();
        empty.write(b"");
        assert_eq!(empty.finish(), 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d);
        let mut a = Fnv128::new();
        a.write(b"a");
        assert_eq!(a.finish(), 0xd228_cb69_6f1a_8caf_7891_2b70_4e4a_8964);
    }
}
