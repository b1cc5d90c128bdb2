//! What the simulator writes: items as JSON or CSV, chart buckets, the documented error
//! answer, and a body as the chunks it is sent in.

use std::str::FromStr;

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use ec_billing_api::{self as api, types as wire};
use futures_util::stream::{self, BoxStream};
use jiff::Timestamp;
use rust_decimal::Decimal;

use crate::{
    csv_layout::CsvLayout,
    dataset::{Line, midnight},
};

/// The size of the chunks a JSON body is sent in.
const CHUNK: usize = 8 * 1024;

/// A body as a stream of chunks.
pub(crate) type Chunks = BoxStream<'static, Bytes>;

/// One chart value being summed: series id, series name, value.
type SeriesValue = (&'static str, &'static str, Decimal);

/// A successful answer's body, before the faults of the body and the headers.
pub(crate) struct Body {
    pub(crate) content_type: &'static str,
    pub(crate) chunks: Chunks,
    /// How many chunks `chunks` yields.
    pub(crate) count: usize,
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Body")
            .field("content_type", &self.content_type)
            .field("count", &self.count)
            .finish_non_exhaustive()
    }
}

impl Body {
    /// `bytes`, sent in 8 KiB chunks.
    pub(crate) fn whole(content_type: &'static str, bytes: Vec<u8>) -> Self {
        let bytes = Bytes::from(bytes);
        let chunks: Vec<Bytes> = (0..bytes.len().div_ceil(CHUNK).max(1))
            .map(|i| bytes.slice(i * CHUNK..((i + 1) * CHUNK).min(bytes.len())))
            .collect();
        Self {
            content_type,
            count: chunks.len(),
            chunks: Box::pin(stream::iter(chunks)),
        }
    }
}

/// Sets a header; a name or value that is not valid in HTTP (a key with odd bytes, say)
/// is left out.
pub(crate) fn set(response: &mut Response, name: &str, value: &str) {
    if let (Ok(name), Ok(value)) = (
        header::HeaderName::from_str(name),
        HeaderValue::from_str(value),
    ) {
        response.headers_mut().insert(name, value);
    }
}

/// A documented error answer: the status, its `x-cloud-error-codes` and body.
pub(crate) fn error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = wire::BasicFailedReply {
        errors: vec![wire::BasicFailedReplyElement {
            code: code.into(),
            message: message.into(),
            fields: vec![],
        }],
    };
    let body = serde_json::to_vec(&body).unwrap_or_default();
    let mut response = (status, [(header::CONTENT_TYPE, "application/json")], body).into_response();
    set(&mut response, "x-cloud-error-codes", code);
    response
}

/// A decimal as the API's JSON number, with its own digits.
pub(crate) fn number(value: Decimal) -> api::ExactNumber {
    value.into()
}

/// The items JSON the simulator serves for `lines`.
pub fn json_document(lines: &[Line]) -> Vec<u8> {
    // Plain data with exact numbers serializes without fail.
    serde_json::to_vec(&items_json(lines)).unwrap_or_default()
}

pub(crate) fn items_json(lines: &[Line]) -> wire::ItemsCosts {
    let mut dimensions: Vec<(&str, Decimal)> = [
        "capacity",
        "data_in",
        "data_internode",
        "data_out",
        "storage_api",
        "storage_bytes",
    ]
    .into_iter()
    .map(|d| (d, Decimal::ZERO))
    .collect();
    let mut resources = Vec::new();
    let mut dts = Vec::new();
    for line in lines {
        if let Some(slot) = dimensions.iter_mut().find(|(d, _)| *d == line.dimension()) {
            slot.1 += line.cost();
        }
        match line {
            Line::Resource {
                kind,
                name,
                sku,
                hours,
                instance_count,
                start,
                end,
                price_per_hour,
                cost,
            } => {
                resources.push(wire::ItemCosts {
                    hours: *hours,
                    instance_count: *instance_count,
                    kind: api::ResourceKind::from(*kind),
                    name: name.clone(),
                    period: wire::Period {
                        start: *start,
                        end: *end,
                    },
                    price: number(*cost),
                    price_per_hour: number(*price_per_hour),
                    sku: (*sku).to_string(),
                });
            }
            Line::Dts {
                name,
                sku,
                usage_type,
                quantity,
                quantity_formatted,
                rate,
                rate_formatted,
                cost,
            } => {
                dts.push(wire::DtsDimensionCosts {
                    cost: number(*cost),
                    name: name.clone(),
                    quantity: wire::DtsQuantity {
                        value: *quantity,
                        formatted_value: quantity_formatted.clone(),
                    },
                    rate: wire::DtsRate {
                        value: number(*rate),
                        formatted_value: rate_formatted.clone(),
                    },
                    sku: (*sku).to_string(),
                    type_: (*usage_type).to_string(),
                });
            }
        }
    }
    let total: Decimal = dimensions.iter().map(|(_, cost)| *cost).sum();
    wire::ItemsCosts {
        costs: wire::Costs {
            total: number(total),
            dimensions: dimensions
                .into_iter()
                .map(|(d, cost)| wire::Dimension {
                    type_: api::Dimension::from(d),
                    cost: number(cost),
                })
                .collect(),
        },
        data_transfer_and_storage: dts,
        resources,
    }
}

/// The header of the Title Case layout, for the hostile CSV answers.
pub(crate) fn csv_header() -> String {
    CsvLayout::TitleCase.header()
}

/// The items CSV the simulator serves by default for `lines`: a header row, then one
/// row per line ([`CsvLayout::TitleCase`]).
pub fn csv_document(lines: &[Line]) -> Vec<u8> {
    CsvLayout::TitleCase.document(lines)
}

/// The chart buckets of `days` (each day's lines), one per day or, `monthly`, one per
/// month, timestamped in epoch milliseconds.
pub(crate) fn chart_items(
    days: Vec<(jiff::civil::Date, Vec<Line>)>,
    monthly: bool,
) -> Vec<wire::ChartItem> {
    let mut buckets: Vec<(Timestamp, Vec<SeriesValue>)> = Vec::new();
    for (day, lines) in days {
        let at = if monthly {
            midnight(day.first_of_month())
        } else {
            midnight(day)
        };
        if buckets.last().is_none_or(|(t, _)| *t != at) {
            buckets.push((at, Vec::new()));
        }
        let Some((_, values)) = buckets.last_mut() else {
            continue;
        };
        for line in &lines {
            let (id, name) = match line.dimension() {
                "capacity" => ("capacity", "Capacity"),
                "data_out" => ("data_out", "Data out"),
                "data_internode" => ("data_internode", "Data inter-node"),
                _ => ("storage_bytes", "Storage"),
            };
            match values.iter_mut().find(|(i, _, _)| *i == id) {
                Some(value) => value.2 += line.cost(),
                None => values.push((id, name, line.cost())),
            }
        }
    }
    buckets
        .into_iter()
        .map(|(at, values)| wire::ChartItem {
            // Epoch milliseconds, which clients must tell from seconds by magnitude.
            timestamp: at.as_millisecond(),
            values: values
                .into_iter()
                .map(|(id, name, value)| wire::ChartItemValue {
                    id: id.into(),
                    name: name.into(),
                    value: number(value),
                })
                .collect(),
        })
        .collect()
}
