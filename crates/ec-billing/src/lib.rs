#![doc = include_str!("../README.md")]
//!
//! # Modules at a glance
//!
//! - [`Client`], [`ClientBuilder`]: configuration, and [`Client::items`] /
//!   [`Client::charts`], which return requests to [`send`](ItemsRequest::send) (one
//!   merged result) or [`stream`](ItemsRequest::stream) (per window, in order).
//! - [`DateRange`], [`WindowSize`], [`Window`], [`Bucketing`]: time, parsed once.
//! - [`Items`], [`Charts`] and their lines: exact [`Decimal`] money.
//! - [`ItemsCsvReader`]: the items CSV, read by header name, one line at a time.
//! - [`Error`], [`ErrorCode`]: one error type, with typed API codes.
//! - [`RetryPolicy`], [`Pacing`], [`Clock`]: retries, client-side pacing under the
//!   API's rate limit, and the clock they wait on.
//! - [`escape`]: server text made safe to print on a terminal line.

mod answers;
mod client;
mod error;
mod items_csv;
mod key;
mod model;
mod pacing;
mod request;
mod retry;
mod text;
mod time;
mod transport;

pub use client::{Client, ClientBuilder, DEFAULT_BASE_URL, MAX_ERROR_BODY_BYTES};
pub use error::{
    ApiError, CsvError, CsvErrorKind, DecodeError, Error, ErrorCode, InvalidInput, Operation,
    OverflowError, PacingError, RequestContext, Result, SetupError, TransportError, TransportKind,
};
pub use items_csv::{ItemLine, ItemsCsvReader, csv_header_aliases};
pub use key::ApiKey;
pub use model::{
    ChartBucket, ChartValue, Charts, Costs, Dimension, DimensionCost, DtsLine, Extra, Items,
    Period, Quantity, Rate, ResourceKind, ResourceLine, WindowResult,
};
pub use pacing::{Pacing, PerSecond};
pub use request::{
    ChartsReport, ChartsRequest, ItemsReport, ItemsRequest, ItemsTotals, MAX_ID_BYTES,
};
pub use retry::{Clock, Jitter, RetryPolicy, Sleep, SystemClock};
pub use rust_decimal::Decimal;
pub use text::{Escaped, escape};
pub use time::{
    Bucketing, DateRange, DayCount, MAX_WINDOW_DAYS, MAX_WINDOWS, Window, WindowSize, Windows,
};
pub use transport::Format;

/// The workspace README's examples, compiled as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct WorkspaceReadme;
