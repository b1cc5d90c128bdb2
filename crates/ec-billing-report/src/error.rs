//! The report's one error type.

/// What can go wrong building a report.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The ledger could not be read, or what it holds is not consistent.
    #[error("cannot read the ledger")]
    Ledger(#[source] ec_billing_ledger::Error),
    /// A sum would overflow an exact decimal; names the sum.
    #[error("{0} overflows an exact decimal")]
    Overflow(String),
    /// Bad input from the caller (a currency code, a rate, a range), quoted.
    #[error("{0}")]
    InvalidInput(String),
    /// A chart could not be drawn; names the chart.
    #[error("cannot draw the chart {0}")]
    Chart(String),
    /// The page could not be written.
    #[error("cannot write the report")]
    Write(#[source] std::io::Error),
}

/// A result whose error is the report's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
