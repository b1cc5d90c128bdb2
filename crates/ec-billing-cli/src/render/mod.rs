//! Printing results: a table for people ([`table`]), JSON and CSV for programs
//! ([`json`], [`csv`]). Money is printed as exact decimal strings, never through a
//! float; every sum is checked before the first byte is printed; text from the server
//! is escaped in the table (JSON and CSV quote it their own way).

mod csv;
mod json;
mod table;

use std::io::Write;

use anyhow::Context;
use clap::ValueEnum;
use ec_billing::ExactAdd;
use ec_billing::{Bucketing, ChartsReport, DateRange, Decimal, ItemsReport};

pub(crate) use self::json::ErrorEntry;

/// How the result is printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum OutputFormat {
    /// Aligned, with totals first.
    Table,
    /// One JSON document on stdout.
    Json,
    /// One row per line item or bucket value, with a header row.
    Csv,
}

/// A result the command can print as a table, JSON or CSV.
pub(crate) trait Render {
    /// Aligned, for people.
    fn table(&self, out: &mut dyn Write) -> anyhow::Result<()>;
    /// The contract's JSON document, written as it is serialized.
    fn json(&self, out: &mut dyn Write) -> anyhow::Result<()>;
    /// One row per line item or bucket value, with a header row.
    fn csv(&self, out: &mut dyn Write) -> ::csv::Result<()>;
}

/// Prints `out` in the chosen format. Table and JSON are made whole first, so that a
/// failure (a sum that overflows) prints nothing.
pub(crate) fn render(
    out: &impl Render,
    format: OutputFormat,
    stdout: &mut impl Write,
) -> anyhow::Result<()> {
    match format {
        OutputFormat::Table => {
            let mut table = Vec::new();
            out.table(&mut table)?;
            stdout.write_all(&table)?;
        }
        OutputFormat::Json => out.json(stdout)?,
        OutputFormat::Csv => out.csv(stdout)?,
    }
    Ok(())
}

/// A decimal as every output prints it: exact, without trailing zeros, so that the
/// same amount reads the same whichever format the API answered in.
fn money(value: Decimal) -> String {
    value.normalize().to_string()
}

/// A sum of money for output, checked.
fn sum<'a>(what: &str, amounts: impl IntoIterator<Item = &'a Decimal>) -> anyhow::Result<Decimal> {
    amounts
        .into_iter()
        .try_fold(Decimal::ZERO, |total, amount| total.exact_add(*amount))
        .with_context(|| format!("the sum of {what} overflows an exact decimal"))
}

/// Everything printed for one run of `items`.
#[derive(Debug)]
pub(crate) struct ItemsOutput<'a> {
    pub(crate) organization: &'a str,
    pub(crate) range: DateRange,
    pub(crate) reports: &'a [ItemsReport],
    /// With `--keep-going`: the deployments that failed.
    pub(crate) errors: Option<&'a [ErrorEntry]>,
}

/// Everything printed for one run of `charts`.
#[derive(Debug)]
pub(crate) struct ChartsOutput<'a> {
    pub(crate) organization: &'a str,
    pub(crate) range: DateRange,
    pub(crate) bucketing: Bucketing,
    pub(crate) reports: &'a [ChartsReport],
    /// With `--keep-going`: the deployments that failed.
    pub(crate) errors: Option<&'a [ErrorEntry]>,
}

impl ItemsOutput<'_> {
    /// The sum of every deployment's total, checked.
    fn total(&self) -> anyhow::Result<Decimal> {
        sum(
            "all deployments' totals",
            self.reports.iter().map(|r| &r.items.costs.total),
        )
    }
}

impl Render for ItemsOutput<'_> {
    fn table(&self, out: &mut dyn Write) -> anyhow::Result<()> {
        table::items(self, out)
    }

    fn json(&self, out: &mut dyn Write) -> anyhow::Result<()> {
        json::items(self, out)
    }

    fn csv(&self, out: &mut dyn Write) -> ::csv::Result<()> {
        csv::items(self, out)
    }
}

impl Render for ChartsOutput<'_> {
    fn table(&self, out: &mut dyn Write) -> anyhow::Result<()> {
        table::charts(self, out)
    }

    fn json(&self, out: &mut dyn Write) -> anyhow::Result<()> {
        json::charts(self, out)
    }

    fn csv(&self, out: &mut dyn Write) -> ::csv::Result<()> {
        csv::charts(self, out)
    }
}
