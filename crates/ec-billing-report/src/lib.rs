//! A cost report people look at: one self-contained HTML page of charts from an
//! [`ec_billing_ledger::Ledger`].
//!
//! The page holds its CSS and its SVG charts inline and refers to nothing outside
//! itself (no script, font, image or address), so it opens offline, by mail, with
//! JavaScript off, and prints. It shows:
//!
//! - the range, the organization, the exact grand total in ECU (and in a billing
//!   currency when a rate is given, as the FOCUS export prices it), and how much of it
//!   is still provisional;
//! - costs per month, stacked by dimension (capacity by resource kind, data out, data
//!   inter-node, storage, ...), every month of the range named;
//! - costs per day in the range's last two months, provisional days on a grey band;
//! - per deployment: its exact total, share, month-over-month change and a sparkline;
//! - the top SKUs by cost;
//! - what revisions changed, per month, from the ledger's recorded revisions.
//!
//! Every amount printed is the ledger's exact decimal, summed with checked arithmetic
//! (an overflow is [`Error::Overflow`], never a wrong number): charts scale in floating
//! point, but no label is ever a formatted float (axis ticks are whole units of 1/10,000
//! ECU written as decimals). Each bar and point carries its exact amount in a `<title>`
//! tooltip. Text a server controls (names, SKUs, ids) is escaped for HTML and SVG, its
//! control characters written as `\u{..}`. The same ledger gives the same bytes: the
//! page holds no wall-clock time.
//!
//! The charts are drawn by [`plotters`] with only its SVG backend and its line series
//! (no bitmap, font-file or date-time features). It adds three crates to a build
//! (`plotters`, `plotters-svg`, `plotters-backend`; their one dependency, `num-traits`,
//! is already in it): measured with `cargo build --timings` after `cargo clean -p` of
//! the three, 1.3 s of compile time in a debug build and 6.4 s optimized (plotters
//! itself 5.3 s) on a shared 2-core machine; this crate's own optimized build, where
//! plotters' generic drawing code is instantiated, takes about 20 s there. Colours are
//! [viridis](PALETTE) in eight steps of distinct lightness: they stay apart in
//! grey-scale and for colour-blind readers.
//!
//! ```no_run
//! use ec_billing_report::Report;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let ledger = ec_billing_ledger::Ledger::open_read_only("costs.db").await?;
//! let report = Report::new()
//!     .organization("acme")
//!     .billing_currency("EUR", "0.92".parse()?)?;
//! let page = report.render(&ledger).await?;
//! std::fs::write("report.html", page)?;
//! # Ok(())
//! # }
//! ```

mod charts;
mod error;
mod html;
mod summary;
mod text;

use ec_billing_ledger::{Ledger, Query};
use jiff::Timestamp;
use rust_decimal::Decimal;

pub use charts::PALETTE;
pub use error::{Error, Result};
pub use summary::{
    Billing, DeploymentTotal, MAX_DIMENSIONS, Period, RevisionMonth, SkuTotal, Summary, TOP_SKUS,
};

/// What a report covers: an organization, some deployments, a range, and an optional
/// billing currency. The range is `[from, to)` over the lines' periods, as
/// [`Query`] reads them; without one, the months the lines cover.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    organization: Option<String>,
    deployments: Vec<String>,
    from: Option<Timestamp>,
    to: Option<Timestamp>,
    currency: Option<(String, Decimal)>,
}

impl Report {
    /// A report of the whole ledger, in ECU.
    pub fn new() -> Self {
        Self::default()
    }

    /// Only this organization.
    pub fn organization(mut self, organization: impl Into<String>) -> Self {
        self.organization = Some(organization.into());
        self
    }

    /// Only these deployments (all, when none is given).
    pub fn deployments(mut self, deployments: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.deployments = deployments.into_iter().map(Into::into).collect();
        self
    }

    /// Lines whose period starts at or after `from`.
    pub fn from(mut self, from: Timestamp) -> Self {
        self.from = Some(from);
        self
    }

    /// Lines whose period starts before `to`.
    pub fn to(mut self, to: Timestamp) -> Self {
        self.to = Some(to);
        self
    }

    /// Also states the grand total in `code` (ISO 4217) at `per_ecu` of it per ECU, as
    /// the FOCUS export bills it.
    ///
    /// ```
    /// let report = ec_billing_report::Report::new().billing_currency("EUR", "0.92".parse()?)?;
    /// # let _ = report;
    /// assert!(ec_billing_report::Report::new().billing_currency("euro", "1".parse()?).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for a code that is not three capital letters or a rate
    /// that is not above zero.
    pub fn billing_currency(mut self, code: &str, per_ecu: Decimal) -> Result<Self> {
        if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(Error::InvalidInput(format!(
                "invalid currency \"{}\": expected an ISO 4217 code such as USD",
                text::label(code, 16)
            )));
        }
        if per_ecu <= Decimal::ZERO {
            return Err(Error::InvalidInput(format!(
                "the rate per ECU must be above zero, not {per_ecu}"
            )));
        }
        self.currency = Some((code.to_string(), per_ecu));
        Ok(self)
    }

    /// The ledger query the report reads.
    pub fn query(&self) -> Query {
        let mut query = Query::all().deployments(self.deployments.clone());
        if let Some(organization) = &self.organization {
            query = query.organization(organization.clone());
        }
        if let Some(from) = self.from {
            query = query.from(from);
        }
        if let Some(to) = self.to {
            query = query.to(to);
        }
        query
    }

    /// The report's figures, read from `ledger` in one pass over its lines (memory
    /// holds one window of lines, and the sums), its revisions and its windows' records.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] when `from` is not before `to`; [`Error::Ledger`] when
    /// the ledger cannot be read or a window does not match its record;
    /// [`Error::Overflow`] when a sum overflows an exact decimal.
    pub async fn summarize(&self, ledger: &Ledger) -> Result<Summary> {
        if let (Some(from), Some(to)) = (self.from, self.to)
            && from >= to
        {
            return Err(Error::InvalidInput(format!(
                "invalid range: {from} is not before {to}"
            )));
        }
        let query = self.query();
        let mut tally = summary::Tally::default();
        let mut failure = None;
        let read = ledger
            .for_each_line(&query, |line| {
                tally.add(line).map_err(|err| {
                    let stop = ec_billing_ledger::Error::Overflow(err.to_string());
                    failure = Some(err);
                    stop
                })
            })
            .await;
        if let Some(err) = failure {
            return Err(err);
        }
        read.map_err(Error::Ledger)?;
        let revisions = ledger.revisions(&query).await.map_err(Error::Ledger)?;
        let as_of = ledger
            .windows(&query)
            .await
            .map_err(Error::Ledger)?
            .iter()
            .map(|w| w.fetched_at)
            .max();
        let rate = self.currency.as_ref().map(|(c, r)| (c.as_str(), *r));
        tally.finish((self.from, self.to), &revisions, rate, as_of)
    }

    /// The report's page, from `ledger`.
    ///
    /// # Errors
    ///
    /// As [`summarize`](Self::summarize), and [`Error::Chart`] when a chart cannot be
    /// drawn.
    pub async fn render(&self, ledger: &Ledger) -> Result<String> {
        html(&self.summarize(ledger).await?)
    }
}

/// The page of `summary`: one self-contained HTML document.
///
/// # Errors
///
/// [`Error::Chart`] when a chart cannot be drawn.
pub fn html(summary: &Summary) -> Result<String> {
    html::page(summary)
}

#[cfg(test)]
mod tests {
    /// The crate's sources, by file.
    const SOURCES: [(&str, &str); 6] = [
        ("lib.rs", include_str!("lib.rs")),
        ("charts.rs", include_str!("charts.rs")),
        ("error.rs", include_str!("error.rs")),
        ("html.rs", include_str!("html.rs")),
        ("summary.rs", include_str!("summary.rs")),
        ("text.rs", include_str!("text.rs")),
    ];

    #[test]
    fn only_the_charts_name_plotters_and_no_file_holds_a_float() {
        for (file, text) in SOURCES {
            // Code, not comments, docs or this test's own words.
            let code: String = text
                .lines()
                .filter(|line| !line.trim_start().starts_with("//"))
                .filter(|line| !line.contains("SOURCES") && !line.contains("float_type"))
                .collect::<Vec<_>>()
                .join("\n");
            if file != "charts.rs" {
                let plotters = concat!("plotters", "::");
                assert!(!code.contains(plotters), "{file} names plotters");
            }
            for float_type in ["f32", "f64"] {
                assert!(!code.contains(float_type), "{file} holds an {float_type}");
            }
        }
    }
}
