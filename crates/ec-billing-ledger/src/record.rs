//! A line as the ledger keeps it: its natural key and its values, made from an answer's
//! lines, and the digest of an answer.

use std::{collections::HashMap, fmt};

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
/// `ordinal` are kept apart by it (their order among themselves in the answer).
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
    /// Its place among the answer's lines that share the rest of the key, from 0.
    pub ordinal: u32,
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

impl AnswerLine {
    /// Whether `other` has the same values (its key may differ).
    pub(crate) fn same_values(&self, other: &AnswerLine) -> bool {
        self.hours == other.hours
            && self.instance_count == other.instance_count
            && self.price_per_hour == other.price_per_hour
            && self.quantity == other.quantity
            && self.quantity_formatted == other.quantity_formatted
            && self.rate == other.rate
            && self.rate_formatted == other.rate_formatted
            && self.cost == other.cost
    }
}

/// An answer's lines under their keys, in the answer's order, and their digest.
pub(crate) fn answer_lines(items: &Items, window: Window) -> (Vec<AnswerLine>, String) {
    let mut seen: HashMap<(LineType, &str, &str, &str, Timestamp, Timestamp), u32> = HashMap::new();
    let mut ordinal = |line_type, kind, sku, name, start, end| {
        let count = seen
            .entry((line_type, kind, sku, name, start, end))
            .or_insert(0);
        let ordinal = *count;
        *count += 1;
        ordinal
    };
    let mut lines =
        Vec::with_capacity(items.resources.len() + items.data_transfer_and_storage.len());
    for r in &items.resources {
        let (start, end) = (r.period.start, r.period.end);
        let kind = r.kind.as_str();
        lines.push(AnswerLine {
            key: LineKey {
                line_type: LineType::Resource,
                kind: kind.to_string(),
                sku: r.sku.clone(),
                name: r.name.clone(),
                period_start: start,
                period_end: end,
                ordinal: ordinal(LineType::Resource, kind, &r.sku, &r.name, start, end),
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
    for d in &items.data_transfer_and_storage {
        lines.push(AnswerLine {
            key: LineKey {
                line_type: LineType::Dts,
                kind: d.usage_type.clone(),
                sku: d.sku.clone(),
                name: d.name.clone(),
                period_start: start,
                period_end: end,
                ordinal: ordinal(LineType::Dts, &d.usage_type, &d.sku, &d.name, start, end),
            },
            hours: None,
            instance_count: None,
            price_per_hour: None,
            quantity: Some(d.quantity.value),
            quantity_formatted: Some(d.quantity.formatted.clone()),
            rate: Some(d.rate.value),
            rate_formatted: Some(d.rate.formatted.clone()),
            cost: d.cost,
        });
    }
    let digest = digest(&lines);
    (lines, digest)
}

/// A digest of lines, in order: 128-bit FNV-1a over each field's length and text. It
/// tells whether an answer changed; it is not a security digest.
pub(crate) fn digest(lines: &[AnswerLine]) -> String {
    let mut hash = Fnv128::new();
    for line in lines {
        let key = &line.key;
        for field in [
            key.line_type.as_str(),
            &key.kind,
            &key.sku,
            &key.name,
            &key.period_start.to_string(),
            &key.period_end.to_string(),
            &key.ordinal.to_string(),
            &optional(line.hours),
            &optional(line.instance_count),
            &optional(line.price_per_hour),
            &optional(line.quantity),
            line.quantity_formatted.as_deref().unwrap_or("\u{0}"),
            &optional(line.rate),
            line.rate_formatted.as_deref().unwrap_or("\u{0}"),
            &line.cost.to_string(),
        ] {
            // Each field with its length first: no text of a field can pass for a
            // boundary between fields or lines.
            hash.write(&(field.len() as u64).to_le_bytes());
            hash.write(field.as_bytes());
        }
    }
    format!("fnv1a128:{:032x}", hash.finish())
}

fn optional<T: ToString>(value: Option<T>) -> String {
    value.map_or_else(|| "\u{0}".to_string(), |v| v.to_string())
}

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
