//! The report's charts, drawn by plotters into SVG: stacked bars over time, horizontal
//! bars by name, and sparklines. Each chart carries a `<title>`, and each bar or point
//! an invisible area of the same place whose `<title>` is its exact amount (a tooltip
//! plotters has no element for, placed with plotters' own coordinate mapping).
//!
//! Geometry is in floating point and in whole units of 1/10,000 ECU (an `i64`), so
//! that every tick label is an integer turned into an exact decimal: no float is ever
//! formatted. The palette is viridis in steps of distinct lightness: its order holds in
//! grey-scale and for every common colour-vision deficiency.

use plotters::{
    coord::{Shift, types::RangedCoordi64},
    prelude::*,
    style::text_anchor::{HPos, Pos, VPos},
};
use rust_decimal::{Decimal, prelude::ToPrimitive};

use crate::{
    error::{Error, Result},
    text::{amount, xml},
};

/// Viridis in eight steps, from dark to light: each step is lighter than the one
/// before, so stacked segments stay apart in grey-scale and for colour-blind readers.
pub const PALETTE: [RGBColor; 8] = [
    RGBColor(0x44, 0x01, 0x54),
    RGBColor(0x46, 0x32, 0x7e),
    RGBColor(0x36, 0x5c, 0x8d),
    RGBColor(0x27, 0x7f, 0x8e),
    RGBColor(0x1f, 0xa1, 0x87),
    RGBColor(0x4a, 0xc1, 0x6d),
    RGBColor(0xa0, 0xda, 0x39),
    RGBColor(0xfd, 0xe7, 0x25),
];

/// The colour of the `index`th of `count` series: evenly spread over the palette, so
/// that two series are never neighbouring steps when fewer are drawn.
pub(crate) fn colour(index: usize, count: usize) -> RGBColor {
    let count = count.clamp(1, PALETTE.len());
    let step = if count == 1 {
        2
    } else {
        index.min(count - 1) * (PALETTE.len() - 1) / (count - 1)
    };
    PALETTE[step]
}

/// A bar's colour when it stands alone (top SKUs, deployments, revisions).
const BAR: RGBColor = PALETTE[2];
/// The band behind provisional days.
const BAND: RGBColor = RGBColor(0xe4, 0xe4, 0xe4);
const INK: RGBColor = RGBColor(0x22, 0x22, 0x22);
const GRID: RGBColor = RGBColor(0xdd, 0xdd, 0xdd);
const FONT: &str = "sans-serif";

/// Units of the charts' value axis per ECU.
const UNITS: i64 = 10_000;

/// The largest amount a chart's axis reaches, in its units (10^13 ECU): beyond it a
/// bar is drawn at this height (its tooltip and the tables still say the exact amount),
/// and the axis' arithmetic stays far from `i64`'s bounds.
const MAX_UNITS: i64 = 100_000_000_000_000_000;

/// An amount in the value axis' units (geometry only; saturating at [`MAX_UNITS`]).
fn units(value: Decimal) -> i64 {
    value
        .checked_mul(Decimal::from(UNITS))
        .and_then(|v| v.round().to_i64())
        .unwrap_or(if value.is_sign_negative() {
            -MAX_UNITS
        } else {
            MAX_UNITS
        })
        .clamp(-MAX_UNITS, MAX_UNITS)
}

/// A tick of the value axis as an exact decimal.
fn tick(value: &i64) -> String {
    Decimal::new(*value, 4).normalize().to_string()
}

/// A chart's error, naming it.
fn failed(chart: &str) -> impl Fn(DrawingAreaErrorKind<std::io::Error>) -> Error + '_ {
    move |err| Error::Chart(format!("{chart}: {err}"))
}

/// An area of the chart whose `<title>` is shown on hover: a bar's or a point's.
struct Tip {
    corners: ((i32, i32), (i32, i32)),
    text: String,
}

/// The SVG plotters wrote, made a chart of the page: its class and accessible name,
/// its `<title>`, and the tooltips' areas on top. The namespace attribute is dropped:
/// inline SVG in HTML needs none, and the page names no address at all.
fn finish(svg: String, class: &str, title: &str, tips: &[Tip]) -> String {
    let svg = svg.replacen(" xmlns=\"http://www.w3.org/2000/svg\"", "", 1);
    let title = xml(title);
    let open_end = svg.find('>').map_or(0, |i| i + 1);
    let mut out = String::with_capacity(svg.len() + tips.len() * 96 + 128);
    out.push_str(&format!(
        "<svg class=\"{class}\" role=\"img\" aria-label=\"{title}\""
    ));
    out.push_str(&svg[4..open_end]);
    out.push_str(&format!("<title>{title}</title>\n"));
    let body = &svg[open_end..];
    let close = body.rfind("</svg>").unwrap_or(body.len());
    out.push_str(&body[..close]);
    out.push_str("<g class=\"tips\">\n");
    for tip in tips {
        let ((x0, y0), (x1, y1)) = tip.corners;
        let (left, top) = (x0.min(x1), y0.min(y1));
        let (width, height) = ((x1 - x0).abs().max(1), (y1 - y0).abs().max(1));
        out.push_str(&format!(
            "<rect x=\"{left}\" y=\"{top}\" width=\"{width}\" height=\"{height}\" fill=\"#000\" fill-opacity=\"0\"><title>{}</title></rect>\n",
            xml(&tip.text)
        ));
    }
    out.push_str("</g>\n</svg>\n");
    out
}

/// A legend on the right of a chart: a swatch and a name per series.
fn legend(area: &DrawingArea<SVGBackend<'_>, Shift>, names: &[String], chart: &str) -> Result<()> {
    let font = (FONT, 13).into_font().color(&INK);
    for (index, name) in names.iter().enumerate().rev() {
        // The legend reads top-down as the bars stack bottom-up: the last on top.
        let row = i32::try_from(names.len() - 1 - index).unwrap_or(0);
        let y = 20 + row * 20;
        let colour = colour(index, names.len());
        area.draw(&Rectangle::new([(8, y), (22, y + 14)], colour.filled()))
            .map_err(failed(chart))?;
        area.draw(&Rectangle::new([(8, y), (22, y + 14)], INK.stroke_width(1)))
            .map_err(failed(chart))?;
        area.draw(&Text::new(name.clone(), (30, y + 1), font.clone()))
            .map_err(failed(chart))?;
    }
    Ok(())
}

/// Bars over time, stacked by series.
pub(crate) struct Stacked<'a> {
    /// The chart's title.
    pub(crate) title: &'a str,
    /// The time axis' description.
    pub(crate) x_desc: &'a str,
    /// Each bar's label on the axis.
    pub(crate) labels: Vec<String>,
    /// Each bar's name in its tooltip.
    pub(crate) names: Vec<String>,
    /// The series, bottom first: a name and a value per bar.
    pub(crate) series: Vec<(String, Vec<Decimal>)>,
    /// Bars drawn on a grey band (provisional days), and the band's word.
    pub(crate) marked: Vec<bool>,
    /// Whether to draw the axis' labels upright (few bars) or turned.
    pub(crate) turn_labels: bool,
    /// The chart's height in pixels (its width is the page's).
    pub(crate) height: u32,
}

/// Draws `chart`: one segment per series and bar, a legend, tooltips with each
/// segment's exact amount and the bar's total.
pub(crate) fn stacked(chart: &Stacked<'_>) -> Result<String> {
    let count = chart.labels.len();
    let n = u32::try_from(count.max(1)).unwrap_or(u32::MAX);
    let mut totals = vec![Decimal::ZERO; count];
    for (_, values) in &chart.series {
        for (total, value) in totals.iter_mut().zip(values) {
            *total = total.saturating_add(*value);
        }
    }
    let top = totals
        .iter()
        .map(|t| units(*t))
        .max()
        .unwrap_or(0)
        .max(UNITS);
    let bottom = chart
        .series
        .iter()
        .flat_map(|(_, v)| v.iter())
        .map(|v| units(*v))
        .min()
        .unwrap_or(0)
        .min(0);
    let mut svg = String::new();
    let mut tips = Vec::new();
    {
        let root =
            SVGBackend::with_string(&mut svg, (960, chart.height.max(160))).into_drawing_area();
        root.fill(&WHITE).map_err(failed(chart.title))?;
        let (plot, side) = root.split_horizontally(770);
        let mut ctx = ChartBuilder::on(&plot)
            .margin(12)
            .margin_right(4)
            .x_label_area_size(if chart.turn_labels { 66 } else { 40 })
            .y_label_area_size(78)
            .build_cartesian_2d(
                (0..n).into_segmented(),
                bottom..top.saturating_add(top / 12),
            )
            .map_err(failed(chart.title))?;
        let label = |v: &SegmentValue<u32>| match v {
            SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => {
                chart.labels.get(*i as usize).cloned().unwrap_or_default()
            }
            SegmentValue::Last => String::new(),
        };
        // Turned labels are drawn below (plotters' mesh centres a turned label on its
        // tick, half of it inside the plot); upright ones by the mesh.
        let upright = |v: &SegmentValue<u32>| {
            if chart.turn_labels {
                String::new()
            } else {
                label(v)
            }
        };
        ctx.configure_mesh()
            .disable_x_mesh()
            .x_labels(count.max(1))
            .x_label_formatter(&upright)
            .x_label_style((FONT, 12).into_font().color(&INK))
            .y_label_formatter(&tick)
            .y_labels(6)
            .y_label_style((FONT, 12).into_font().color(&INK))
            .y_desc("ECU")
            .x_desc(chart.x_desc)
            .axis_desc_style((FONT, 13).into_font().color(&INK))
            .light_line_style(WHITE)
            .bold_line_style(GRID)
            .axis_style(INK)
            .draw()
            .map_err(failed(chart.title))?;
        if chart.turn_labels {
            // Turned a quarter left, its end just below the axis: it reads upwards.
            let font = (FONT, 12)
                .into_font()
                .transform(FontTransform::Rotate270)
                .color(&INK)
                .pos(Pos::new(HPos::Right, VPos::Center));
            for i in 0..n {
                let (x, y) = ctx.backend_coord(&(SegmentValue::CenterOf(i), bottom));
                let text = label(&SegmentValue::CenterOf(i));
                plot.draw(&Text::new(text, (x, y + 6), font.clone()))
                    .map_err(failed(chart.title))?;
            }
        }
        let high = top.saturating_add(top / 12);
        ctx.draw_series(
            chart
                .marked
                .iter()
                .enumerate()
                .filter(|(_, marked)| **marked)
                .map(|(i, _)| {
                    let i = i as u32;
                    Rectangle::new(
                        [
                            (SegmentValue::Exact(i), high),
                            (SegmentValue::Exact(i + 1), bottom),
                        ],
                        BAND.filled(),
                    )
                }),
        )
        .map_err(failed(chart.title))?;
        let mut base = vec![0i64; count];
        let mut below = vec![0i64; count];
        for (s, (name, values)) in chart.series.iter().enumerate() {
            let colour = colour(s, chart.series.len());
            let mut bars = Vec::new();
            for (i, value) in values.iter().enumerate().take(count) {
                if value.is_zero() {
                    continue;
                }
                // An amount too small to see still has its tooltip.
                let height = units(*value);
                let slot = if height > 0 {
                    &mut base[i]
                } else {
                    &mut below[i]
                };
                let (from, to) = (*slot, slot.saturating_add(height));
                *slot = to;
                let x = i as u32;
                let corners = [
                    (SegmentValue::Exact(x), to),
                    (SegmentValue::Exact(x + 1), from),
                ];
                let mut rect = Rectangle::new(corners.clone(), colour.filled());
                rect.set_margin(0, 0, 3, 3);
                bars.push(rect);
                let (a, b) = (
                    ctx.backend_coord(&corners[0]),
                    ctx.backend_coord(&corners[1]),
                );
                tips.push(Tip {
                    corners: ((a.0.min(b.0) + 3, a.1), (a.0.max(b.0) - 3, b.1)),
                    text: format!(
                        "{}, {name}: {} ECU (of {} ECU){}",
                        chart.names.get(i).map_or("", String::as_str),
                        amount(*value),
                        amount(totals[i]),
                        if chart.marked.get(i) == Some(&true) {
                            ", provisional"
                        } else {
                            ""
                        }
                    ),
                });
            }
            ctx.draw_series(bars).map_err(failed(chart.title))?;
        }
        let names: Vec<String> = chart.series.iter().map(|(n, _)| n.clone()).collect();
        legend(&side, &names, chart.title)?;
        if chart.marked.iter().any(|m| *m) {
            let y = 20 + 20 * i32::try_from(names.len()).unwrap_or(0) + 8;
            side.draw(&Rectangle::new([(8, y), (22, y + 14)], BAND.filled()))
                .map_err(failed(chart.title))?;
            side.draw(&Text::new(
                "provisional (may be revised)",
                (30, y + 1),
                (FONT, 13).into_font().color(&INK),
            ))
            .map_err(failed(chart.title))?;
        }
        root.present().map_err(failed(chart.title))?;
    }
    Ok(finish(svg, "chart", chart.title, &tips))
}

/// Horizontal bars, one per name, the largest on top.
pub(crate) struct Ranked<'a> {
    /// The chart's title.
    pub(crate) title: &'a str,
    /// What the bars are (`SKU`, `Deployment`).
    pub(crate) y_desc: &'a str,
    /// A label and a value per bar, the largest first.
    pub(crate) bars: Vec<(String, Decimal)>,
}

/// Draws `chart`, each bar's tooltip its exact amount.
pub(crate) fn ranked(chart: &Ranked<'_>) -> Result<String> {
    let count = chart.bars.len();
    let n = u32::try_from(count.max(1)).unwrap_or(u32::MAX);
    let right = chart
        .bars
        .iter()
        .map(|(_, v)| units(*v))
        .max()
        .unwrap_or(0)
        .max(UNITS);
    let left = chart
        .bars
        .iter()
        .map(|(_, v)| units(*v))
        .min()
        .unwrap_or(0)
        .min(0);
    let height = 70 + 26 * n.min(40);
    // Room for the longest label, at about 7 pixels a character.
    let longest = chart
        .bars
        .iter()
        .map(|(l, _)| l.chars().count())
        .max()
        .unwrap_or(0);
    let label_area = u32::try_from(longest).unwrap_or(40).min(40) * 7 + 24;
    let mut svg = String::new();
    let mut tips = Vec::new();
    {
        let root = SVGBackend::with_string(&mut svg, (960, height)).into_drawing_area();
        root.fill(&WHITE).map_err(failed(chart.title))?;
        let mut ctx = ChartBuilder::on(&root)
            .margin(12)
            .margin_right(28)
            .x_label_area_size(40)
            .y_label_area_size(label_area)
            .build_cartesian_2d(
                left..right.saturating_add(right / 20),
                (0..n).into_segmented(),
            )
            .map_err(failed(chart.title))?;
        // The largest on top: bar i is drawn in row n - 1 - i.
        let row = |i: usize| n - 1 - i as u32;
        let label = |v: &SegmentValue<u32>| match v {
            SegmentValue::CenterOf(r) | SegmentValue::Exact(r) => (n - 1)
                .checked_sub(*r)
                .and_then(|i| chart.bars.get(i as usize))
                .map(|(l, _)| l.clone())
                .unwrap_or_default(),
            SegmentValue::Last => String::new(),
        };
        ctx.configure_mesh()
            .disable_y_mesh()
            .y_labels(count.max(1))
            .y_label_formatter(&label)
            .y_label_style((FONT, 12).into_font().color(&INK))
            .x_label_formatter(&tick)
            .x_labels(6)
            .x_label_style((FONT, 12).into_font().color(&INK))
            .x_desc("ECU")
            .y_desc(chart.y_desc)
            .axis_desc_style((FONT, 13).into_font().color(&INK))
            .light_line_style(WHITE)
            .bold_line_style(GRID)
            .axis_style(INK)
            .draw()
            .map_err(failed(chart.title))?;
        let mut bars = Vec::with_capacity(count);
        for (i, (name, value)) in chart.bars.iter().enumerate() {
            let r = row(i);
            let corners = [
                (units(*value), SegmentValue::Exact(r)),
                (0, SegmentValue::Exact(r + 1)),
            ];
            let mut rect = Rectangle::new(corners.clone(), BAR.filled());
            rect.set_margin(4, 4, 0, 0);
            bars.push(rect);
            let (a, b) = (
                ctx.backend_coord(&corners[0]),
                ctx.backend_coord(&corners[1]),
            );
            tips.push(Tip {
                corners: ((a.0, a.1.min(b.1) + 4), (b.0, a.1.max(b.1) - 4)),
                text: format!("{name}: {} ECU", amount(*value)),
            });
        }
        ctx.draw_series(bars).map_err(failed(chart.title))?;
        root.present().map_err(failed(chart.title))?;
    }
    Ok(finish(svg, "chart", chart.title, &tips))
}

/// A deployment's months as a small line, each point's tooltip its month and amount.
pub(crate) fn sparkline(title: &str, points: &[(String, Decimal)]) -> Result<String> {
    let count = points.len().max(1);
    let values: Vec<i64> = points.iter().map(|(_, v)| units(*v)).collect();
    let high = values.iter().copied().max().unwrap_or(0).max(1);
    let low = values.iter().copied().min().unwrap_or(0).min(0);
    let last = i64::try_from(count).unwrap_or(i64::MAX) - 1;
    let mut svg = String::new();
    let mut tips = Vec::new();
    {
        let root = SVGBackend::with_string(&mut svg, (140, 30)).into_drawing_area();
        let mut ctx = ChartBuilder::on(&root)
            .margin(4)
            .build_cartesian_2d(
                RangedCoordi64::from(0..last.max(1)),
                RangedCoordi64::from(low..high),
            )
            .map_err(failed(title))?;
        ctx.draw_series(LineSeries::new(
            values.iter().enumerate().map(|(i, v)| (i as i64, *v)),
            BAR.stroke_width(2),
        ))
        .map_err(failed(title))?;
        let width = 132 / i32::try_from(count).unwrap_or(1).max(1);
        for (i, (name, value)) in points.iter().enumerate() {
            let (x, _) = ctx.backend_coord(&(i as i64, 0));
            tips.push(Tip {
                corners: ((x - width / 2, 0), (x + width / 2, 30)),
                text: format!("{name}: {} ECU", amount(*value)),
            });
        }
        root.present().map_err(failed(title))?;
    }
    Ok(finish(svg, "spark", title, &tips))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parses(svg: &str) {
        let doc = roxmltree::Document::parse(svg).unwrap_or_else(|e| panic!("{e}: {svg}"));
        assert!(
            doc.root_element()
                .children()
                .any(|n| n.has_tag_name("title"))
        );
    }

    #[test]
    fn charts_of_no_bar_or_of_extreme_amounts_are_drawn_not_panicked() {
        for values in [
            vec![],
            vec![Decimal::ZERO],
            vec![Decimal::MAX, Decimal::MIN, Decimal::new(1, 28)],
            vec![Decimal::new(-5, 0), Decimal::new(3, 0)],
        ] {
            let n = values.len();
            let chart = Stacked {
                title: "t",
                x_desc: "x",
                labels: vec!["a".to_string(); n],
                names: vec!["a".to_string(); n],
                series: vec![
                    ("s".to_string(), values.clone()),
                    ("u".to_string(), values.clone()),
                ],
                marked: vec![true; n],
                turn_labels: n > 1,
                height: 300,
            };
            parses(&stacked(&chart).unwrap());
            let bars = values.iter().map(|v| ("b".to_string(), *v)).collect();
            parses(
                &ranked(&Ranked {
                    title: "t",
                    y_desc: "y",
                    bars,
                })
                .unwrap(),
            );
            let points: Vec<_> = values.iter().map(|v| ("p".to_string(), *v)).collect();
            parses(&sparkline("t", &points).unwrap());
        }
    }

    #[test]
    fn each_bar_has_a_tooltip_with_its_exact_amount() {
        let chart = Stacked {
            title: "Costs <per> month",
            x_desc: "Month",
            labels: vec!["2024-01".to_string(), "2024-02".to_string()],
            names: vec!["January 2024".to_string(), "February 2024".to_string()],
            series: vec![(
                "capacity".to_string(),
                vec!["1.2345678".parse().unwrap(), "0.0000001".parse().unwrap()],
            )],
            marked: vec![false, true],
            turn_labels: false,
            height: 300,
        };
        let svg = stacked(&chart).unwrap();
        parses(&svg);
        assert!(svg.starts_with(
            "<svg class=\"chart\" role=\"img\" aria-label=\"Costs &lt;per&gt; month\""
        ));
        assert!(!svg.contains("http"));
        assert!(
            svg.contains("<title>January 2024, capacity: 1.2345678 ECU (of 1.2345678 ECU)</title>")
        );
        assert!(svg.contains(
            "<title>February 2024, capacity: 0.0000001 ECU (of 0.0000001 ECU), provisional</title>"
        ));
    }

    #[test]
    fn the_palette_darkens_step_by_step() {
        // Relative luminance, in integer thousandths (Rec. 709 weights): strictly
        // increasing, so the steps stay apart in grey-scale.
        let luminance =
            |c: &RGBColor| 2126 * u32::from(c.0) + 7152 * u32::from(c.1) + 722 * u32::from(c.2);
        assert!(
            PALETTE
                .windows(2)
                .all(|w| luminance(&w[0]) < luminance(&w[1]))
        );
    }
}
