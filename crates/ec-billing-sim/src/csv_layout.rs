//! The layouts the simulator can write the items CSV in. Upstream documents none, so a
//! client is tested against several plausible ones, not only against its twin.

use crate::dataset::Line;

/// A layout of the items CSV: header names, column order, and what a row leaves in the
/// columns of the other kind of line. Every layout writes CRLF line ends and quotes a
/// cell only where it needs it.
///
/// ```
/// use ec_billing_sim::{CsvLayout, Dataset};
///
/// let from = "2024-01-01T00:00:00Z".parse()?;
/// let to = "2024-01-02T00:00:00Z".parse()?;
/// let days = Dataset::standard().lines("acme", "prod", from, to).unwrap_or_default();
/// let lines: Vec<_> = days.into_iter().flat_map(|(_, lines)| lines).collect();
/// let mut csv = format!("{}\r\n", CsvLayout::Dense.header()).into_bytes();
/// CsvLayout::Dense.write_rows(&lines, &mut csv);
/// assert!(String::from_utf8_lossy(&csv).contains("\r\ndata_out,"));
/// # Ok::<(), jiff::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CsvLayout {
    /// Title Case headers (`Name,Kind,Type,SKU,Period Start,...,Cost`), the layout the
    /// simulator serves; a cell a line has no value for is empty.
    #[default]
    TitleCase,
    /// snake_case headers in another order, the usage type under `usage_type`.
    SnakeCase,
    /// The JSON's field names, flattened: `period.start`, `quantity.value`,
    /// `rate.formatted_value`; a resource line's cost under `price` (as the JSON has
    /// it), a DTS line's under `cost`.
    FlattenedJson,
    /// An explicit `Line Type` column (`resource` or `data_transfer_and_storage`), the
    /// usage type under `Type`.
    TypeColumn,
    /// Every row fills every column: zeros, or empty text, where a line has no value,
    /// and a DTS line's usage type under `Kind`.
    Dense,
}

/// What a column holds.
#[derive(Clone, Copy, Debug)]
enum Column {
    LineType,
    Name,
    Kind,
    UsageType,
    Sku,
    PeriodStart,
    PeriodEnd,
    Hours,
    InstanceCount,
    PricePerHour,
    Quantity,
    QuantityFormatted,
    Rate,
    RateFormatted,
    /// Every line's cost.
    Cost,
    /// A resource line's cost only.
    ResourceCost,
    /// A DTS line's cost only.
    DtsCost,
}

impl CsvLayout {
    /// Every layout.
    pub const ALL: [CsvLayout; 5] = [
        CsvLayout::TitleCase,
        CsvLayout::SnakeCase,
        CsvLayout::FlattenedJson,
        CsvLayout::TypeColumn,
        CsvLayout::Dense,
    ];

    /// The layout's name, as `ec-billing-sim --csv-layout` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Self::TitleCase => "title-case",
            Self::SnakeCase => "snake-case",
            Self::FlattenedJson => "flattened-json",
            Self::TypeColumn => "type-column",
            Self::Dense => "dense",
        }
    }

    /// The header row, without its line end.
    pub fn header(self) -> String {
        let names: Vec<&str> = self.columns().iter().map(|(name, _)| *name).collect();
        names.join(",")
    }

    /// Appends one row per line to `out`, each ending with CRLF.
    pub fn write_rows(self, lines: &[Line], out: &mut Vec<u8>) {
        let columns = self.columns();
        let mut writer = csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            .from_writer(out);
        for line in lines {
            let cells = columns.iter().map(|(_, column)| self.cell(line, *column));
            // Writing to a `Vec` cannot fail: the csv writer's only errors are I/O
            // errors and rows of unequal lengths, and every row has one cell per column.
            if writer.write_record(cells).is_err() {
                break;
            }
        }
        let _ = writer.flush();
    }

    /// The whole document: the header row and one row per line, CRLF line ends.
    pub fn document(self, lines: &[Line]) -> Vec<u8> {
        let mut out = format!("{}\r\n", self.header()).into_bytes();
        self.write_rows(lines, &mut out);
        out
    }

    /// The layout's columns, in order, with their headers.
    fn columns(self) -> &'static [(&'static str, Column)] {
        use Column::*;
        match self {
            Self::TitleCase => &[
                ("Name", Name),
                ("Kind", Kind),
                ("Type", UsageType),
                ("SKU", Sku),
                ("Period Start", PeriodStart),
                ("Period End", PeriodEnd),
                ("Hours", Hours),
                ("Instance Count", InstanceCount),
                ("Price Per Hour", PricePerHour),
                ("Quantity", Quantity),
                ("Quantity Formatted", QuantityFormatted),
                ("Rate", Rate),
                ("Rate Formatted", RateFormatted),
                ("Cost", Cost),
            ],
            Self::SnakeCase => &[
                ("sku", Sku),
                ("name", Name),
                ("kind", Kind),
                ("usage_type", UsageType),
                ("cost", Cost),
                ("period_start", PeriodStart),
                ("period_end", PeriodEnd),
                ("hours", Hours),
                ("instance_count", InstanceCount),
                ("price_per_hour", PricePerHour),
                ("quantity", Quantity),
                ("quantity_formatted", QuantityFormatted),
                ("rate", Rate),
                ("rate_formatted", RateFormatted),
            ],
            Self::FlattenedJson => &[
                ("kind", Kind),
                ("name", Name),
                ("sku", Sku),
                ("period.start", PeriodStart),
                ("period.end", PeriodEnd),
                ("hours", Hours),
                ("instance_count", InstanceCount),
                ("price_per_hour", PricePerHour),
                ("price", ResourceCost),
                ("type", UsageType),
                ("quantity.value", Quantity),
                ("quantity.formatted_value", QuantityFormatted),
                ("rate.value", Rate),
                ("rate.formatted_value", RateFormatted),
                ("cost", DtsCost),
            ],
            Self::TypeColumn => &[
                ("Line Type", LineType),
                ("Name", Name),
                ("SKU", Sku),
                ("Kind", Kind),
                ("Type", UsageType),
                ("Period Start", PeriodStart),
                ("Period End", PeriodEnd),
                ("Hours", Hours),
                ("Instance Count", InstanceCount),
                ("Price Per Hour", PricePerHour),
                ("Quantity", Quantity),
                ("Quantity Formatted", QuantityFormatted),
                ("Rate", Rate),
                ("Rate Formatted", RateFormatted),
                ("Cost", Cost),
            ],
            Self::Dense => &[
                ("Kind", Kind),
                ("Name", Name),
                ("SKU", Sku),
                ("Period Start", PeriodStart),
                ("Period End", PeriodEnd),
                ("Hours", Hours),
                ("Instance Count", InstanceCount),
                ("Price Per Hour", PricePerHour),
                ("Quantity", Quantity),
                ("Quantity Formatted", QuantityFormatted),
                ("Rate", Rate),
                ("Rate Formatted", RateFormatted),
                ("Cost", Cost),
            ],
        }
    }

    /// The cell of `line` in `column`.
    fn cell(self, line: &Line, column: Column) -> String {
        let dense = self == Self::Dense;
        // A number the line does not have: zero in the dense layout, else empty.
        let absent = || if dense { "0" } else { "" }.to_string();
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
            } => match column {
                Column::LineType => "resource".to_string(),
                Column::Name => name.clone(),
                Column::Kind => (*kind).to_string(),
                Column::Sku => (*sku).to_string(),
                Column::PeriodStart => start.to_string(),
                Column::PeriodEnd => end.to_string(),
                Column::Hours => hours.to_string(),
                Column::InstanceCount => instance_count.to_string(),
                Column::PricePerHour => price_per_hour.to_string(),
                Column::Cost | Column::ResourceCost => cost.to_string(),
                Column::Quantity | Column::Rate => absent(),
                Column::UsageType
                | Column::QuantityFormatted
                | Column::RateFormatted
                | Column::DtsCost => String::new(),
            },
            Line::Dts {
                name,
                sku,
                usage_type,
                quantity,
                quantity_formatted,
                rate,
                rate_formatted,
                cost,
            } => match column {
                Column::LineType => "data_transfer_and_storage".to_string(),
                Column::Name => name.clone(),
                Column::Kind if dense => (*usage_type).to_string(),
                Column::UsageType => (*usage_type).to_string(),
                Column::Sku => (*sku).to_string(),
                Column::Quantity => quantity.to_string(),
                Column::QuantityFormatted => quantity_formatted.clone(),
                Column::Rate => rate.to_string(),
                Column::RateFormatted => rate_formatted.clone(),
                Column::Cost | Column::DtsCost => cost.to_string(),
                Column::Hours | Column::InstanceCount | Column::PricePerHour => absent(),
                Column::Kind | Column::PeriodStart | Column::PeriodEnd | Column::ResourceCost => {
                    String::new()
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_day() -> Vec<Line> {
        let (from, to) = (
            "2024-03-01T00:00:00Z".parse().unwrap(),
            "2024-03-02T00:00:00Z".parse().unwrap(),
        );
        let days = crate::Dataset::standard()
            .lines("acme", "prod", from, to)
            .unwrap();
        days.into_iter().flat_map(|(_, lines)| lines).collect()
    }

    #[test]
    fn every_layout_writes_one_cell_per_column_in_every_row() {
        let lines = one_day();
        for layout in CsvLayout::ALL {
            let document = String::from_utf8(layout.document(&lines)).unwrap();
            let columns = layout.header().split(',').count();
            let rows: Vec<&str> = document.split_terminator("\r\n").collect();
            assert_eq!(rows.len(), lines.len() + 1, "{layout:?}");
            for row in &rows[1..] {
                // The simulator's names and formatted values hold no quotes, so a
                // quoted cell is one with a comma: count those commas out.
                let quoted_commas: usize = row
                    .split('"')
                    .skip(1)
                    .step_by(2)
                    .map(|cell| cell.matches(',').count())
                    .sum();
                let cells = row.matches(',').count() + 1 - quoted_commas;
                assert_eq!(cells, columns, "{layout:?}: {row}");
            }
        }
    }

    #[test]
    fn the_title_case_layout_is_the_one_the_server_writes() {
        let lines = one_day();
        assert_eq!(
            CsvLayout::TitleCase.document(&lines),
            crate::csv_document(&lines)
        );
    }
}
