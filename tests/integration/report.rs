//! The cost report, as a person sees it: the exact totals in the text, one chart per
//! section, every SVG valid XML, nothing outside the page, server text escaped, the
//! same bytes for the same ledger, an overflow refused.

use ec_billing::{Decimal, Items};
use ec_billing_ledger::{Ledger, Query};
use ec_billing_report::{Error, Report};
use jiff::SignedDuration;

use crate::{
    ledger::{answer, at, client, month, revising_simulator},
    support::{TempDir, stores},
};

/// January to March 2024 of `acme`'s `prod` and `staging`, synced on March 10, then
/// again on March 20 (February revised in between).
async fn synced(ledger: &Ledger) {
    let sim = revising_simulator().await;
    let client = client(&sim);
    let plan = |now: &str| {
        ec_billing_ledger::SyncPlan::new("acme", ["prod", "staging"])
            .from(at("2024-01-01T00:00:00Z"))
            .to(at("2024-03-20T00:00:00Z"))
            .now(at(now))
    };
    ledger
        .sync(&client, &plan("2024-03-10T00:00:00Z"))
        .await
        .unwrap();
    sim.set_now(at("2024-03-20T00:00:00Z"));
    ledger
        .sync(&client, &plan("2024-03-20T00:00:00Z"))
        .await
        .unwrap();
}

/// The `<section>`s of `page`, by id, each with its text.
fn sections(page: &str) -> Vec<(String, &str)> {
    page.split("<section id=\"")
        .skip(1)
        .map(|rest| {
            let id = rest.split('"').next().unwrap().to_string();
            let body = rest.split("</section>").next().unwrap();
            (id, body)
        })
        .collect()
}

/// Every `<svg>...</svg>` of `text`.
fn svgs(text: &str) -> Vec<&str> {
    text.match_indices("<svg")
        .map(|(start, _)| {
            let end = text[start..].find("</svg>").unwrap() + start + "</svg>".len();
            &text[start..end]
        })
        .collect()
}

/// What must never be in the page: a reference to anything outside it.
fn assert_self_contained(page: &str) {
    let lower = page.to_lowercase();
    for outside in [
        "http://", "https://", "<script", "src=", "href=", "url(", "@import", "<link",
    ] {
        assert!(!lower.contains(outside), "the page holds {outside}");
    }
}

#[tokio::test]
async fn a_report_shows_the_ledgers_exact_totals_with_one_chart_per_section() {
    for store in stores("report").await {
        let _store = store.named_if_failing();
        let ledger = Ledger::open(store.location()).await.unwrap();
        synced(&ledger).await;
        let report = Report::new()
            .organization("acme")
            .billing_currency("EUR", "0.92".parse().unwrap())
            .unwrap();
        let summary = report.summarize(&ledger).await.unwrap();
        let page = ec_billing_report::html(&summary).unwrap();

        // The headline: the exact totals the ledger gives.
        let query = Query::all().organization("acme");
        let total = ledger.total(&query).await.unwrap();
        assert_eq!(summary.total, total);
        let provisional = ledger
            .lines(&query)
            .await
            .unwrap()
            .iter()
            .filter(|l| l.provisional)
            .map(|l| l.cost)
            .sum::<Decimal>();
        assert!(provisional > Decimal::ZERO, "March is provisional");
        assert_eq!(summary.provisional, provisional);
        assert!(page.contains(&format!("id=\"total\">{}</span> ECU", total.normalize())));
        assert!(page.contains(&format!(
            "id=\"provisional\">{}</span> ECU",
            provisional.normalize()
        )));
        let billed = (total * Decimal::new(92, 2)).normalize();
        assert!(page.contains(&format!("id=\"billed\">{billed}</span> EUR")));
        assert!(page.contains("acme · 2024-01-01 to 2024-03-20"));

        // One chart per section but the headline, each valid XML with a title.
        let sections = sections(&page);
        let ids: Vec<&str> = sections.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "headline",
                "monthly",
                "daily",
                "deployments",
                "skus",
                "revisions"
            ]
        );
        for (id, body) in &sections {
            let charts = svgs(body)
                .into_iter()
                .filter(|svg| svg.starts_with("<svg class=\"chart\""))
                .count();
            assert_eq!(charts, usize::from(id != "headline"), "charts in {id}");
        }
        let all = svgs(&page);
        assert!(
            all.len() >= 5 + 2,
            "the charts and a sparkline per deployment"
        );
        for svg in &all {
            let doc = roxmltree::Document::parse(svg).unwrap_or_else(|e| panic!("{e}: {svg}"));
            let title = doc
                .root_element()
                .children()
                .find(|n| n.has_tag_name("title"));
            assert!(title.is_some_and(|t| !t.text().unwrap_or("").is_empty()));
        }
        assert_self_contained(&page);

        // Every month named; each month's exact total in its row and its tooltips.
        for (name, month) in ["January 2024", "February 2024", "March 2024"]
            .iter()
            .zip(&summary.months)
        {
            assert!(page.contains(&format!("<tr><td>{name}")), "{name}");
            assert!(page.contains(&format!("of {} ECU", month.total.normalize())));
        }
        assert_eq!(
            summary.months.iter().map(|m| m.total).sum::<Decimal>(),
            total
        );
        // The days of the last two months, the provisional ones marked.
        assert_eq!(summary.days.len(), 29 + 19);
        assert!(summary.days.iter().any(|d| d.provisional));
        assert!(page.contains("2024-03-19, capacity: elasticsearch:"));

        // Deployments: totals and shares that add up.
        let deployments: Decimal = summary.deployments.iter().map(|d| d.total).sum();
        assert_eq!(deployments, total);
        assert_eq!(summary.deployments[0].deployment, "prod");
        assert!(page.contains(&format!(
            "<td class=\"num\">{}</td>",
            summary.deployments[0].total.normalize()
        )));

        // Revisions: what the ledger recorded for February.
        let revisions = ledger.revisions(&query).await.unwrap();
        let net: Decimal = revisions.iter().map(|r| r.delta().unwrap()).sum();
        assert!(!revisions.is_empty());
        let february = &summary.revisions[1];
        assert_eq!(
            (february.count, february.net),
            (revisions.len() as u64, net)
        );
        assert!(page.contains(&format!("+{}", net.normalize())));

        // The same ledger, the same bytes.
        assert_eq!(report.render(&ledger).await.unwrap(), page);
    }
}

#[tokio::test]
async fn server_text_is_escaped_in_the_html_and_in_every_svg() {
    let dir = TempDir::new("report-hostile");
    let ledger = Ledger::open(dir.join("costs.db")).await.unwrap();
    let json = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/report-hostile-items.json"),
    )
    .unwrap();
    let items = Items::from_json(&json).unwrap();
    ledger
        .record(
            "<org>&\u{1b}",
            "dep\"<svg onload=x>",
            month("2024-01-01", "2024-02-01"),
            &items,
            at("2024-06-01T00:00:00Z"),
            SignedDuration::ZERO,
        )
        .await
        .unwrap();
    let page = Report::new().render(&ledger).await.unwrap();
    assert_self_contained(&page);
    for raw in [
        "<script",
        "<img",
        "<b>",
        "<org>",
        "<svg onload",
        "\u{1b}",
        "\u{7}",
    ] {
        assert!(!page.contains(raw), "{raw:?} reached the page raw");
    }
    assert!(page.contains("&lt;/svg&gt;&lt;script&gt;alert(&#39;sku&#39;)&lt;/script&gt;"));
    assert!(page.contains("dep&quot;&lt;svg onload=x&gt;"));
    assert!(page.contains("\\u{1b}"));
    assert!(page.contains("id=\"total\">12.5</span> ECU"));
    for svg in svgs(&page) {
        roxmltree::Document::parse(svg).unwrap_or_else(|e| panic!("{e}: {svg}"));
    }
}

#[tokio::test]
async fn a_grand_total_that_overflows_is_an_error_naming_it_not_a_wrong_number() {
    let dir = TempDir::new("report-overflow");
    let ledger = Ledger::open(dir.join("costs.db")).await.unwrap();
    let huge = answer(&[("data_out", "50000000000000000000000000000")]);
    for deployment in ["a", "b"] {
        ledger
            .record(
                "o",
                deployment,
                month("2024-01-01", "2024-02-01"),
                &huge,
                at("2024-06-01T00:00:00Z"),
                SignedDuration::ZERO,
            )
            .await
            .unwrap();
    }
    match Report::new().render(&ledger).await {
        Err(Error::Overflow(what)) => assert_eq!(what, "the grand total"),
        other => panic!("expected an overflow, got {other:?}"),
    }
}

#[tokio::test]
async fn an_empty_ledger_gives_a_page_that_says_so() {
    let dir = TempDir::new("report-empty");
    let ledger = Ledger::open(dir.join("costs.db")).await.unwrap();
    let page = Report::new().render(&ledger).await.unwrap();
    assert!(page.contains("no cost recorded"));
    assert!(page.contains("id=\"total\">0</span> ECU"));
    assert_self_contained(&page);
    for svg in svgs(&page) {
        roxmltree::Document::parse(svg).unwrap();
    }
    let refused = Report::new()
        .from(at("2024-02-01T00:00:00Z"))
        .to(at("2024-01-01T00:00:00Z"))
        .render(&ledger)
        .await;
    assert!(matches!(refused, Err(Error::InvalidInput(_))));
}
