//! [`ErrorCode`]: the API's error codes, the documented ones as variants and any other
//! as an opaque [`UnknownCode`].

use std::fmt;

use crate::text;

/// The error code of an API error, from the `x-cloud-error-codes` header or the body.
///
/// The six codes upstream documents are variants; any other is kept as its text, in
/// an [`UnknownCode`], which only [`ErrorCode::from`] makes: a documented code is never
/// `Unknown`.
///
/// ```
/// use ec_billing::error::ErrorCode;
///
/// assert_eq!(ErrorCode::from("billing_service.rate_limited"), ErrorCode::RateLimited);
/// let new = ErrorCode::from("costs.new_thing");
/// assert!(matches!(&new, ErrorCode::Unknown(code) if code.as_str() == "costs.new_thing"));
/// assert_eq!(new.as_str(), "costs.new_thing");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// `costs.invalid_date_range` (400).
    InvalidDateRange,
    /// `organization.invalid_access` (403).
    InvalidAccess,
    /// `organization.not_found` (404).
    OrganizationNotFound,
    /// `billing_service.es_cluster_id_not_found` (404).
    EsClusterIdNotFound,
    /// `billing_service.rate_limited` (429).
    RateLimited,
    /// `billing_service.failed_request` (500).
    FailedRequest,
    /// A code upstream does not document, kept as its text.
    Unknown(UnknownCode),
}

/// The text of an error code upstream does not document: never one of the documented
/// codes (those are [`ErrorCode`]'s other variants). Made by [`ErrorCode::from`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct UnknownCode(String);

impl UnknownCode {
    /// The code's text, as the server sent it (surrounding whitespace trimmed).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UnknownCode {
    /// The code's text, with control characters escaped and cut to a sensible length.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        text::escape(&self.0).truncate(text::QUOTED_CHARS).fmt(f)
    }
}

impl From<&str> for ErrorCode {
    /// Reads a code (surrounding whitespace ignored); never fails.
    fn from(code: &str) -> Self {
        match code.trim() {
            "costs.invalid_date_range" => Self::InvalidDateRange,
            "organization.invalid_access" => Self::InvalidAccess,
            "organization.not_found" => Self::OrganizationNotFound,
            "billing_service.es_cluster_id_not_found" => Self::EsClusterIdNotFound,
            "billing_service.rate_limited" => Self::RateLimited,
            "billing_service.failed_request" => Self::FailedRequest,
            other => Self::Unknown(UnknownCode(other.to_string())),
        }
    }
}

impl ErrorCode {
    /// The code's text, as the API spells it.
    pub fn as_str(&self) -> &str {
        match self {
            Self::InvalidDateRange => "costs.invalid_date_range",
            Self::InvalidAccess => "organization.invalid_access",
            Self::OrganizationNotFound => "organization.not_found",
            Self::EsClusterIdNotFound => "billing_service.es_cluster_id_not_found",
            Self::RateLimited => "billing_service.rate_limited",
            Self::FailedRequest => "billing_service.failed_request",
            Self::Unknown(code) => code.as_str(),
        }
    }
}

impl fmt::Display for ErrorCode {
    /// The code's text, with control characters escaped and cut to a sensible length:
    /// an unknown code is whatever the server sent.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        text::escape(self.as_str())
            .truncate(text::QUOTED_CHARS)
            .fmt(f)
    }
}
