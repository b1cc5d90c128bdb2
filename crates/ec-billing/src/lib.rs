#![doc = include_str!("../README.md")]
//!
//! # Modules at a glance
//!
//! - [`Client`], [`ClientBuilder`]: configuration, and [`Client::items`] /
//!   [`Client::charts`], which return requests to [`send`](ItemsRequest::send) (one
//!   merged result) or [`stream`](ItemsRequest::stream) (per window, in order).
//! - [`DateRange`], [`WindowSize`], [`Window`], [`Bucketing`]: time, parsed once.
//! - [`Items`], [`Charts`] and their lines: exact [`Decimal`] money.
//! - [`Error`]: one error type; its context types and typed API codes
//!   ([`ErrorCode`](error::ErrorCode)) are in [`error`].
//! - [`Client::items_of`], [`Client::charts_of`]: many deployments through one client,
//!   every report kept and every failure said ([`FleetReport`]).
//! - [`csv`]: the items CSV ([`ItemsCsvReader`](csv::ItemsCsvReader)), read by header
//!   name, one line at a time.
//! - [`policy`]: retries ([`RetryPolicy`](policy::RetryPolicy)), client-side pacing
//!   under the API's rate limit ([`Pacing`](policy::Pacing)), and the
//!   [`Clock`](policy::Clock) they wait on.
//! - [`text`]: server text made safe to print on a terminal line
//!   ([`escape`](text::escape)), and a URL made safe to print
//!   ([`redact_url`](text::redact_url): no userinfo, query or fragment), as every
//!   error, log line and `Debug` of this crate prints one.
//!
//! # Features
//!
//! | feature | default | what it does |
//! |---|---|---|
//! | `serde` | yes | `Serialize`/`Deserialize` on every result type: money as decimal strings, instants as RFC 3339 UTC |
//! | `tls-ring` | yes | TLS with rustls and the `ring` crypto provider (installed as the process default unless one is) |
//! | `tls-aws-lc` | no | TLS with rustls and `aws-lc-rs` (post-quantum key exchange, FIPS builds); slower to build |

mod client;
pub mod csv;
pub mod error;
mod format;
mod http;
mod ids;
mod key;
mod model;
mod ops;
pub mod policy;
pub mod text;
mod time;

pub use client::{Client, ClientBuilder, DEFAULT_BASE_URL};
pub use ec_billing_api::ExactAdd;
pub use error::{Error, Result};
pub use format::Format;
pub use http::MAX_ERROR_BODY_BYTES;
pub use ids::{DeploymentId, MAX_ID_BYTES, OrganizationId, check_ids};
pub use key::ApiKey;
pub use model::{
    ChartBucket, ChartValue, Charts, Costs, Dimension, DimensionCost, DtsLine, Extra, Items,
    Period, Quantity, Rate, ResourceKind, ResourceLine, WindowResult,
};
pub use ops::{
    ChartsOf, ChartsReport, ChartsRequest, DeploymentFailure, DeploymentResult, FleetReport,
    ItemsOf, ItemsReport, ItemsRequest, ItemsTotals, WindowDone,
};
pub use rust_decimal::Decimal;
pub use time::{
    Bucketing, DateRange, DayCount, MAX_WINDOW_DAYS, MAX_WINDOWS, Window, WindowSize, Windows,
    parse_instant,
};

/// Installs this crate's TLS crypto provider as the process's default, unless one is:
/// call it before building a `reqwest::Client` of your own for
/// [`ClientBuilder::http_client`] (reqwest's builder panics without one).
/// [`ClientBuilder::build`] calls it too.
///
/// # Errors
///
/// When neither feature `tls-ring` nor `tls-aws-lc` is on and no provider was
/// installed.
pub use ec_billing_api::{NoCryptoProvider, ensure_crypto_provider};

/// The date-time crate of every instant in this API ([`jiff::Timestamp`]), re-exported
/// so that a caller names the same version.
pub use jiff;

/// What consuming a stream needs (`while let Some(x) = stream.next().await`), re-exported
/// so that a caller does not add `futures-util` for it.
pub use futures_util::stream::{Stream, StreamExt};

/// The workspace README's examples, compiled as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct WorkspaceReadme;
