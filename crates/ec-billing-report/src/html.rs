//! The page: one self-contained HTML document (CSS and SVG inline, no script, no
//! reference outside the file) made of the summary's sections, each with one chart
//! and the exact figures beside it.

use std::fmt::Write;

use jiff::{Timestamp, civil::Date};
use rust_decimal::Decimal;

use crate::{
    charts::{self, Ranked, Stacked},
    error::Result,
    summary::{Summary, date_of, midnight},
    text::{amount, label, signed, xml},
};

/// How many deployments the deployments' chart ranks (the table lists them all).
const CHARTED_DEPLOYMENTS: usize = 20;

const STYLE: &str = include_str!("report.css");

/// `YYYY-MM`.
fn month_label(month: Date) -> String {
    month.strftime("%Y-%m").to_string()
}

/// `March 2024`.
fn month_name(month: Date) -> String {
    month.strftime("%B %Y").to_string()
}

/// An instant as a date when it is a midnight, else as RFC 3339.
fn instant(at: Timestamp) -> String {
    let day = date_of(at);
    if midnight(day) == Some(at) {
        day.to_string()
    } else {
        at.to_string()
    }
}

/// `part` in percent of `whole` for a caption, to one decimal place.
fn share(part: Option<Decimal>) -> String {
    part.map_or_else(|| "–".to_string(), |p| format!("{}%", amount(p)))
}

/// The page of `summary`.
pub(crate) fn page(summary: &Summary) -> Result<String> {
    let organizations = if summary.organizations.is_empty() {
        "no organization".to_string()
    } else {
        summary
            .organizations
            .iter()
            .map(|o| label(o, 80))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let range = summary.range.map_or_else(
        || "no cost recorded".to_string(),
        |(from, to)| format!("{} to {} (UTC, end excluded)", instant(from), instant(to)),
    );
    let fetched = summary.as_of.map_or_else(String::new, |at| {
        format!(
            " · as fetched up to {}",
            at.round(jiff::Unit::Second).unwrap_or(at)
        )
    });
    let mut out = String::with_capacity(256 * 1024);
    let _ = writeln!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>Elastic Cloud costs: {org}, {range}</title>\n<style>\n{STYLE}</style>\n</head>\n<body>\n\
         <header>\n<h1>Elastic Cloud costs</h1>\n<p class=\"subtitle\">{org} · {range}{fetched}</p>\n</header>\n<main>",
        org = xml(&organizations),
        range = xml(&range),
        fetched = xml(&fetched),
    );
    headline(&mut out, summary);
    monthly(&mut out, summary)?;
    daily(&mut out, summary)?;
    deployments(&mut out, summary)?;
    skus(&mut out, summary)?;
    revisions(&mut out, summary)?;
    out.push_str(
        "</main>\n<footer>\n<p>Made by <code>ec-billing report</code> from the ledger. Every \
         amount is the ledger's exact decimal, in ECU unless a currency is named; times are \
         UTC and ranges half-open, <code>[from, to)</code>. Hover a bar or a point for its \
         exact amount. Colours: viridis, in steps of distinct lightness (readable in \
         grey-scale and by colour-blind readers).</p>\n</footer>\n</body>\n</html>\n",
    );
    Ok(out)
}

fn headline(out: &mut String, s: &Summary) {
    let provisional_share = if s.total.is_zero() {
        None
    } else {
        s.provisional
            .checked_mul(Decimal::ONE_HUNDRED)
            .and_then(|p| p.checked_div(s.total))
            .map(|p| p.round_dp(1))
    };
    out.push_str("<section id=\"headline\">\n<h2>Total</h2>\n<dl class=\"figures\">\n");
    let _ = writeln!(
        out,
        "<div><dt>Total</dt><dd><span class=\"amount\" id=\"total\">{}</span> ECU</dd></div>",
        amount(s.total)
    );
    if let Some(billing) = &s.billing {
        let _ = writeln!(
            out,
            "<div><dt>In {code}, at {rate} per ECU</dt><dd><span class=\"amount\" id=\"billed\">{}</span> {code}</dd></div>",
            amount(billing.total),
            code = xml(&billing.currency),
            rate = amount(billing.per_ecu),
        );
    }
    let _ = writeln!(
        out,
        "<div><dt>Still provisional</dt><dd><span class=\"amount\" id=\"provisional\">{}</span> ECU \
         <small>({} of the total, may still be revised)</small></dd></div>",
        amount(s.provisional),
        share(provisional_share),
    );
    let _ = writeln!(
        out,
        "<div><dt>Deployments</dt><dd>{} <small>{} lines</small></dd></div>\n</dl>\n</section>",
        s.deployments.len(),
        s.lines
    );
}

fn monthly(out: &mut String, s: &Summary) -> Result<()> {
    let svg = charts::stacked(&Stacked {
        title: "Costs per month, by dimension",
        x_desc: "Month (UTC)",
        labels: s.months.iter().map(|m| month_label(m.start)).collect(),
        names: s.months.iter().map(|m| month_name(m.start)).collect(),
        series: series(s, &s.months),
        marked: s.months.iter().map(|m| m.provisional).collect(),
        turn_labels: s.months.len() > 12,
        height: 360,
    })?;
    let _ = write!(
        out,
        "<section id=\"monthly\">\n<h2>Costs per month, by dimension</h2>\n<figure>\n{svg}</figure>\n\
         <details>\n<summary>Every month's total</summary>\n<table>\n<thead><tr><th>Month</th>"
    );
    for dimension in &s.dimensions {
        let _ = write!(out, "<th class=\"num\">{}</th>", xml(&label(dimension, 40)));
    }
    out.push_str("<th class=\"num\">Total (ECU)</th></tr></thead>\n<tbody>\n");
    for month in &s.months {
        let _ = write!(
            out,
            "<tr><td>{}{}</td>",
            month_name(month.start),
            if month.provisional {
                " <small>(provisional)</small>"
            } else {
                ""
            }
        );
        for cost in &month.costs {
            let _ = write!(out, "<td class=\"num\">{}</td>", amount(*cost));
        }
        let _ = writeln!(out, "<td class=\"num\">{}</td></tr>", amount(month.total));
    }
    out.push_str("</tbody>\n</table>\n</details>\n</section>\n");
    Ok(())
}

/// The summary's dimensions as chart series over `periods`.
fn series(s: &Summary, periods: &[crate::Period]) -> Vec<(String, Vec<Decimal>)> {
    s.dimensions
        .iter()
        .enumerate()
        .map(|(i, name)| {
            (
                label(name, 28),
                periods
                    .iter()
                    .map(|p| p.costs.get(i).copied().unwrap_or_default())
                    .collect(),
            )
        })
        .collect()
}

fn daily(out: &mut String, s: &Summary) -> Result<()> {
    let span = match (s.days.first(), s.days.last()) {
        (Some(first), Some(last)) => format!(
            "{} to {}",
            month_name(first.start.first_of_month()),
            month_name(last.start.first_of_month())
        ),
        _ => "no day".to_string(),
    };
    let svg = charts::stacked(&Stacked {
        title: "Costs per day in the most recent months",
        x_desc: "Day (UTC)",
        // A label a week, from the first of each month: every day's name is in its
        // tooltip.
        labels: s
            .days
            .iter()
            .map(|d| {
                if matches!(d.start.day(), 1 | 8 | 15 | 22) {
                    d.start.strftime("%b %-d").to_string()
                } else {
                    String::new()
                }
            })
            .collect(),
        names: s.days.iter().map(|d| d.start.to_string()).collect(),
        series: series(s, &s.days),
        marked: s.days.iter().map(|d| d.provisional).collect(),
        turn_labels: false,
        height: 320,
    })?;
    let provisional = s.days.iter().filter(|d| d.provisional).count();
    let _ = write!(
        out,
        "<section id=\"daily\">\n<h2>Costs per day, {}</h2>\n<figure>\n{svg}</figure>\n<p class=\"note\">\
         {provisional} of these {} days are provisional (on a grey band): their windows may still \
         be revised.",
        xml(&span),
        s.days.len()
    );
    if !s.days_unsplit.is_zero() {
        let _ = write!(
            out,
            " Lines billed over a whole window rather than a day (the data transfer and storage \
             of a monthly ledger), <span class=\"amount\">{}</span> ECU in these months, are not \
             split by day.",
            amount(s.days_unsplit)
        );
    }
    out.push_str("</p>\n</section>\n");
    Ok(())
}

fn deployments(out: &mut String, s: &Summary) -> Result<()> {
    let svg = charts::ranked(&Ranked {
        title: "Total per deployment",
        y_desc: "Deployment",
        bars: s
            .deployments
            .iter()
            .take(CHARTED_DEPLOYMENTS)
            .map(|d| (label(&d.deployment, 36), d.total))
            .collect(),
    })?;
    let last_two = match s.months.as_slice() {
        [.., before, last] => Some((month_label(before.start), month_label(last.start))),
        _ => None,
    };
    let _ = write!(
        out,
        "<section id=\"deployments\">\n<h2>Per deployment</h2>\n<figure>\n{svg}</figure>\n<table>\n\
         <thead><tr><th>Deployment</th><th class=\"num\">Total (ECU)</th><th class=\"num\">Share</th>"
    );
    if let Some((before, last)) = &last_two {
        let _ = write!(
            out,
            "<th class=\"num\">{before}</th><th class=\"num\">{last}</th><th class=\"num\">Change</th>"
        );
    }
    out.push_str("<th>Months</th></tr></thead>\n<tbody>\n");
    let several = s.organizations.len() > 1;
    for d in &s.deployments {
        let name = if several {
            format!(
                "{} / {}",
                label(&d.organization, 40),
                label(&d.deployment, 60)
            )
        } else {
            label(&d.deployment, 80)
        };
        let _ = write!(
            out,
            "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>",
            xml(&name),
            amount(d.total),
            share(d.share)
        );
        if let ([.., before, last], Some(change)) = (d.monthly.as_slice(), d.change) {
            let _ = write!(
                out,
                "<td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}{}</td>",
                amount(*before),
                amount(*last),
                signed(change),
                d.change_percent
                    .map(|p| format!(" <small>({}%)</small>", signed(p)))
                    .unwrap_or_default()
            );
        }
        let points: Vec<(String, Decimal)> = s
            .months
            .iter()
            .zip(&d.monthly)
            .map(|(m, v)| (month_name(m.start), *v))
            .collect();
        let spark = charts::sparkline(&format!("{name}, per month"), &points)?;
        let _ = writeln!(out, "<td>{spark}</td></tr>");
    }
    out.push_str("</tbody>\n</table>\n");
    if last_two.is_some() {
        out.push_str(
            "<p class=\"note\">Change: the last month of the range less the one before \
             (the last may be a month to date).</p>\n",
        );
    }
    out.push_str("</section>\n");
    Ok(())
}

fn skus(out: &mut String, s: &Summary) -> Result<()> {
    let svg = charts::ranked(&Ranked {
        title: "Top SKUs by cost",
        y_desc: "SKU",
        bars: s
            .skus
            .iter()
            .map(|k| (label(&k.sku, 36), k.total))
            .collect(),
    })?;
    let _ = writeln!(
        out,
        "<section id=\"skus\">\n<h2>Top SKUs by cost</h2>\n<figure>\n{svg}</figure>\n<table>\n\
         <thead><tr><th>SKU</th><th>Dimension</th><th class=\"num\">Total (ECU)</th>\
         <th class=\"num\">Share</th></tr></thead>\n<tbody>"
    );
    for k in &s.skus {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            xml(&label(&k.sku, 80)),
            xml(&label(&k.dimension, 40)),
            amount(k.total),
            share(k.share)
        );
    }
    out.push_str("</tbody>\n</table>\n</section>\n");
    Ok(())
}

fn revisions(out: &mut String, s: &Summary) -> Result<()> {
    let svg = charts::stacked(&Stacked {
        title: "Revisions: what they changed, per month",
        x_desc: "Month of the window revised (UTC)",
        labels: s
            .revisions
            .iter()
            .map(|r| r.month.map(month_label).unwrap_or_default())
            .collect(),
        names: s
            .revisions
            .iter()
            .map(|r| r.month.map(month_name).unwrap_or_default())
            .collect(),
        series: vec![(
            "net change".to_string(),
            s.revisions.iter().map(|r| r.net).collect(),
        )],
        marked: vec![false; s.revisions.len()],
        turn_labels: s.revisions.len() > 12,
        height: 240,
    })?;
    let _ = writeln!(
        out,
        "<section id=\"revisions\">\n<h2>Revisions of provisional costs</h2>\n<figure>\n{svg}</figure>"
    );
    let revised: Vec<_> = s.revisions.iter().filter(|r| r.count > 0).collect();
    if revised.is_empty() {
        out.push_str("<p class=\"note\">No revision recorded in this range.</p>\n</section>\n");
        return Ok(());
    }
    out.push_str(
        "<table>\n<thead><tr><th>Month</th><th class=\"num\">Revisions</th>\
         <th class=\"num\">Net change (ECU)</th><th class=\"num\">Moved (ECU)</th></tr></thead>\n<tbody>\n",
    );
    for r in revised {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            r.month.map(month_name).unwrap_or_default(),
            r.count,
            signed(r.net),
            amount(r.moved)
        );
    }
    out.push_str(
        "</tbody>\n</table>\n<p class=\"note\">Net change: the new costs less the old, as each \
         sync found them; moved: the size of every change, either way.</p>\n</section>\n",
    );
    Ok(())
}
