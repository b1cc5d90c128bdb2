//! The layout rules of the items CSV: the one table of header aliases, the words a
//! kind-like or line-type cell may hold, loose comparison, and the map from a header
//! row to fields.

use std::collections::{BTreeMap, BTreeSet};

/// The fields this reader knows, each with the header names it answers to, in loose
/// form (lowercase, separators as `_`) and in rank order: the one table of aliases.
pub(super) const FIELDS: [(Field, &[&str]); FIELD_COUNT] = [
    (
        Field::LineType,
        &[
            "line_type",
            "item_type",
            "record_type",
            "row_type",
            "category",
        ],
    ),
    (Field::Type, &["type"]),
    (Field::Kind, &["kind", "resource_kind", "resource_type"]),
    (
        Field::UsageType,
        &["usage_type", "dts_type", "dimension", "usage_kind"],
    ),
    (Field::Name, &["name", "description", "item_name"]),
    (Field::Sku, &["sku", "sku_id", "item_sku"]),
    (
        Field::Hours,
        &["hours", "usage_hours", "hours_used", "total_hours"],
    ),
    (
        Field::InstanceCount,
        &["instance_count", "instances", "instances_count"],
    ),
    (
        Field::PeriodStart,
        &[
            "period_start",
            "start",
            "from",
            "start_time",
            "usage_start",
            "period_from",
            "start_date",
        ],
    ),
    (
        Field::PeriodEnd,
        &[
            "period_end",
            "end",
            "to",
            "end_time",
            "usage_end",
            "period_to",
            "end_date",
        ],
    ),
    (
        Field::PricePerHour,
        &[
            "price_per_hour",
            "hourly_price",
            "hourly_rate",
            "cost_per_hour",
        ],
    ),
    (
        Field::Cost,
        &[
            "cost",
            "price",
            "amount",
            "cost_ecu",
            "total_cost",
            "total_ecu",
            "ecu",
        ],
    ),
    (
        Field::Quantity,
        &["quantity", "quantity_value", "usage", "usage_quantity"],
    ),
    (
        Field::QuantityFormatted,
        &[
            "quantity_formatted",
            "formatted_quantity",
            "quantity_formatted_value",
        ],
    ),
    (Field::Rate, &["rate", "rate_value", "unit_rate"]),
    (
        Field::RateFormatted,
        &["rate_formatted", "formatted_rate", "rate_formatted_value"],
    ),
];

/// A field of a line, or a column that stands for one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Field {
    /// Resource or DTS.
    LineType,
    /// Upstream's ambiguous `type`: a line type, a kind or a usage type, by value.
    Type,
    Kind,
    UsageType,
    Name,
    Sku,
    Hours,
    InstanceCount,
    PeriodStart,
    PeriodEnd,
    PricePerHour,
    Cost,
    Quantity,
    QuantityFormatted,
    Rate,
    RateFormatted,
}

pub(super) const FIELD_COUNT: usize = 16;

impl Field {
    /// The field's name: its first alias.
    pub(super) fn name(self) -> &'static str {
        FIELDS[self as usize].1[0]
    }

    /// Whether every row reads the field's cell, before it is classified: all but the
    /// name and SKU, which only a line that is kept needs.
    #[inline]
    pub(super) fn read_by_every_row(self) -> bool {
        !matches!(self, Self::Name | Self::Sku)
    }
}

/// The values of a kind-like or line-type cell this reader knows, in loose form, and
/// what each means: the line-type words, the resource kinds and the DTS dimensions
/// upstream documents.
pub(super) const WORDS: [(&str, Word); 23] = [
    // The values most rows hold come first.
    ("elasticsearch", Word::ResourceKind("elasticsearch")),
    ("kibana", Word::ResourceKind("kibana")),
    ("data_out", Word::Dimension("data_out")),
    ("storage_bytes", Word::Dimension("storage_bytes")),
    ("apm", Word::ResourceKind("apm")),
    (
        "integrations_server",
        Word::ResourceKind("integrations_server"),
    ),
    ("appsearch", Word::ResourceKind("appsearch")),
    ("enterprise_search", Word::ResourceKind("enterprise_search")),
    ("data_in", Word::Dimension("data_in")),
    ("data_internode", Word::Dimension("data_internode")),
    ("storage_api", Word::Dimension("storage_api")),
    ("resource", Word::Line(LineKind::Resource)),
    ("resources", Word::Line(LineKind::Resource)),
    ("resource_line", Word::Line(LineKind::Resource)),
    ("instance", Word::Line(LineKind::Resource)),
    ("instances", Word::Line(LineKind::Resource)),
    ("capacity", Word::Line(LineKind::Resource)),
    ("data_transfer_and_storage", Word::Line(LineKind::Dts)),
    ("dts", Word::Line(LineKind::Dts)),
    ("dts_line", Word::Line(LineKind::Dts)),
    ("data_transfer", Word::Line(LineKind::Dts)),
    ("data_transfer_storage", Word::Line(LineKind::Dts)),
    ("storage", Word::Line(LineKind::Dts)),
];

/// What a kind-like or line-type cell says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Word {
    /// A line-type word.
    Line(LineKind),
    /// A documented resource kind, in its documented form.
    ResourceKind(&'static str),
    /// A documented DTS dimension, in its documented form.
    Dimension(&'static str),
    /// Anything else.
    Other,
}

/// What `text` says, compared loosely, without allocating.
pub(super) fn word(text: &[u8]) -> Word {
    // Most cells hold a word as upstream writes it: compared as it is first.
    let exact = WORDS.iter().find(|(word, _)| word.as_bytes() == text);
    let found = exact.or_else(|| {
        let mut buffer = [0u8; 32];
        match loose_ascii(text, &mut buffer) {
            Some(loose) => WORDS.iter().find(|(word, _)| word.as_bytes() == loose),
            // Non-ASCII text, rare: compared character by character (text that is not
            // UTF-8 is no word).
            None => {
                let text = std::str::from_utf8(text).ok()?;
                WORDS
                    .iter()
                    .find(|(word, _)| loose_chars(text).eq(word.chars()))
            }
        }
    });
    found.map_or(Word::Other, |(_, word)| *word)
}

/// ASCII `text` in loose form, in `buffer`; empty when it does not fit (no word is that
/// long), `None` when `text` is not ASCII.
fn loose_ascii<'b>(text: &[u8], buffer: &'b mut [u8; 32]) -> Option<&'b [u8]> {
    if !text.is_ascii() {
        return None;
    }
    let mut len = 0;
    let mut gap = false;
    for &byte in text {
        if matches!(byte, b'-' | b'_' | b'.') || byte.is_ascii_whitespace() {
            gap = len > 0;
            continue;
        }
        let needed = len + 1 + usize::from(gap);
        if needed > buffer.len() {
            return Some(&[]);
        }
        if std::mem::take(&mut gap) {
            buffer[len] = b'_';
            len += 1;
        }
        buffer[len] = byte.to_ascii_lowercase();
        len += 1;
    }
    Some(&buffer[..len])
}

/// `text` without the spaces around it, as `str::trim` cuts them (ASCII spaces only
/// when it is not UTF-8): ASCII spaces first, then, when an end is left that may be
/// a space of another kind, the rest as `str::trim` does.
#[inline]
pub(super) fn trim(text: &[u8]) -> &[u8] {
    // Most cells start and end with a visible ASCII byte, which no trim cuts.
    let visible = |byte: Option<&u8>| byte.is_none_or(|b| (0x21..0x80).contains(b));
    if visible(text.first()) && visible(text.last()) {
        return text;
    }
    let trimmed = text.trim_ascii();
    // `str::trim` also cuts the vertical tab, which `trim_ascii` keeps, and spaces
    // beyond ASCII.
    let other = |byte: Option<&u8>| byte.is_some_and(|&b| b == 0x0b || b >= 0x80);
    if !other(trimmed.first()) && !other(trimmed.last()) {
        return trimmed;
    }
    match std::str::from_utf8(trimmed) {
        Ok(text) => text.trim().as_bytes(),
        Err(_) => trimmed,
    }
}

/// The known columns and their fields, by field, and for each field best ranked first:
/// by the rank of the alias they are headed with, then by position.
pub(super) fn field_columns(headers: &[String]) -> Vec<(Field, usize)> {
    let mut ranked = Vec::new();
    for (index, header) in headers.iter().enumerate() {
        let loose = loose_name(header);
        let known = FIELDS.iter().find_map(|(field, aliases)| {
            let rank = aliases.iter().position(|alias| *alias == loose)?;
            Some((*field as usize, rank, index))
        });
        ranked.extend(known);
    }
    ranked.sort_unstable();
    ranked
        .into_iter()
        .map(|(field, _, index)| (FIELDS[field].0, index))
        .collect()
}

/// The key of each column in `extra`: its header, or for a header spelled exactly like
/// an earlier one, the header and ` (n)` with the smallest `n` from 2 not yet a key.
pub(super) fn extra_keys(headers: &[String]) -> Vec<String> {
    let mut taken: BTreeSet<String> = BTreeSet::new();
    let mut next: BTreeMap<&str, u64> = BTreeMap::new();
    let mut keys = Vec::with_capacity(headers.len());
    for header in headers {
        let key = if taken.contains(header) {
            let n = next.entry(header).or_insert(1);
            loop {
                *n += 1;
                let key = format!("{header} ({n})");
                if !taken.contains(&key) {
                    break key;
                }
            }
        } else {
            header.clone()
        };
        taken.insert(key.clone());
        keys.push(key);
    }
    keys
}

/// What a row is, as its line-type cell or its evidence says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum LineKind {
    Resource,
    Dts,
}

/// A header in loose form: lowercase, runs of space, `-`, `_` and `.` as one `_`.
pub(super) fn loose_name(header: &str) -> String {
    loose_chars(header).collect()
}

/// The characters of `text` in loose form (see [`loose_name`]), without allocating.
fn loose_chars(text: &str) -> impl Iterator<Item = char> + '_ {
    let mut started = false;
    let mut gap = false;
    text.trim_start_matches(|c: char| c == '\u{feff}' || c.is_whitespace())
        .chars()
        .flat_map(move |c| {
            if matches!(c, '-' | '_' | '.') || c.is_whitespace() {
                gap = started;
                None
            } else {
                let separator = std::mem::take(&mut gap).then_some('_');
                started = true;
                Some(separator.into_iter().chain(c.to_lowercase()))
            }
        })
        .flatten()
}
