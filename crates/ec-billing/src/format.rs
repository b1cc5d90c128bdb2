//! [`Format`]: which representation the items endpoint is asked for.

/// Whether the items endpoint is asked for JSON or CSV. Both give the same [`Items`](crate::Items).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// `Accept: application/json`, through the generated client: the default.
    #[default]
    Json,
    /// `Accept: text/csv`, parsed by header name as it streams in.
    Csv,
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Json => "JSON",
            Self::Csv => "CSV",
        })
    }
}
