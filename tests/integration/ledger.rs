//! The ledger: a first sync stores every line exactly; a second changes nothing and
//! asks only for provisional windows; a revision upstream is recorded as facts and
//! corrects the total; the file is refused when it is not a ledger, or newer; two syncs
//! of one file are kept apart; the FOCUS export is complete and exact.

use std::{collections::BTreeMap, time::Duration};

use ec_billing::{Decimal, Format, WindowSize};
use ec_billing_ledger::{
    Change, Error, Export, ExportFormat, FOCUS_COLUMNS, Ledger, Query, SyncPlan,
};
use ec_billing_sim::{Dataset, Faults, RunningSimulator, Simulator};
use jiff::{SignedDuration, Timestamp};

use crate::support::{
    CANARY_KEY, TempDir, TestClock, client_with_attempts, stores, wrapper_builder,
};

pub(crate) fn at(text: &str) -> Timestamp {
    text.parse().expect("a timestamp")
}

/// The simulator revises each day's costs 12 days after it ends; its clock stands at
/// 2024-03-10.
pub(crate) async fn revising_simulator() -> RunningSimulator {
    Simulator::new()
        .api_key(CANARY_KEY)
        .dataset(Dataset::standard().with_revisions(SignedDuration::from_hours(12 * 24)))
        .now(at("2024-03-10T00:00:00Z"))
        .faults(Faults::default())
        .start()
        .await
        .expect("the simulator starts")
}

pub(crate) fn client(sim: &RunningSimulator) -> ec_billing::Client {
    client_with_attempts(&sim.base_url(), 2)
}

/// January to March 2024 of `prod` and `staging`, synced at `now`.
fn plan(now: &str) -> SyncPlan {
    SyncPlan::new("acme", ["prod", "staging"])
        .from(at("2024-01-01T00:00:00Z"))
        .to(at("2024-03-01T00:00:00Z"))
        .now(at(now))
}

#[tokio::test]
async fn a_first_sync_stores_every_line_with_the_simulators_exact_totals() {
    for store in stores("first-sync").await {
        let _store = store.named_if_failing();
        let sim = revising_simulator().await;
        let ledger = Ledger::open(store.location()).await.unwrap();

        let report = ledger
            .sync(&client(&sim), &plan("2024-03-10T00:00:00Z"))
            .await
            .unwrap();

        assert_eq!(report.windows_fetched(), 4, "2 deployments × 2 months");
        for (summary, deployment) in report.deployments.iter().zip(["prod", "staging"]) {
            assert_eq!(summary.deployment, deployment);
            let expected = sim
                .items_total(
                    "acme",
                    deployment,
                    at("2024-01-01T00:00:00Z"),
                    at("2024-03-01T00:00:00Z"),
                )
                .unwrap();
            assert_eq!(summary.total, expected, "{deployment}");
            assert_eq!(summary.windows_new, 2);
            assert_eq!(summary.revisions, 0, "a first fetch is no revision");
            let query = Query::all().deployments([deployment]);
            assert_eq!(ledger.total(&query).await.unwrap(), expected);
            // Every line of the answers, none twice.
            let january = sim.items_total(
                "acme",
                deployment,
                at("2024-01-01T00:00:00Z"),
                at("2024-02-01T00:00:00Z"),
            );
            let query = query
                .from(at("2024-01-01T00:00:00Z"))
                .to(at("2024-02-01T00:00:00Z"));
            assert_eq!(Some(ledger.total(&query).await.unwrap()), january);
        }
        let windows = ledger.windows(&Query::all()).await.unwrap();
        assert_eq!(windows.len(), 4);
        // January settled long before March 10; February did not (it ended 9 days before).
        let settled: Vec<bool> = windows.iter().map(|w| w.is_final).collect();
        assert_eq!(settled, [true, false, true, false]);
    }
}

#[tokio::test]
async fn a_second_sync_with_nothing_new_asks_only_for_provisional_windows_and_changes_nothing() {
    for store in stores("resync").await {
        let _store = store.named_if_failing();
        let sim = revising_simulator().await;
        let ledger = Ledger::open(store.location()).await.unwrap();
        let client = client(&sim);
        ledger
            .sync(&client, &plan("2024-03-10T00:00:00Z"))
            .await
            .unwrap();
        let before = ledger.lines(&Query::all()).await.unwrap();
        let requests = sim.stats().requests;

        let report = ledger
            .sync(&client, &plan("2024-03-10T06:00:00Z"))
            .await
            .unwrap();

        assert_eq!(
            sim.stats().requests - requests,
            2,
            "February of each deployment"
        );
        assert_eq!(report.windows_fetched(), 2);
        assert!(report.changed_nothing(), "{report:#?}");
        for summary in &report.deployments {
            assert_eq!(summary.windows_skipped, 1, "January is final");
            // February's 29 days of 4 lines, and the inter-node line the revision brought
            // to each of its first 26 (revised 12 days after they ended, by March 10).
            assert_eq!(
                summary.lines_unchanged,
                29 * 4 + 26,
                "February's lines, as they were"
            );
        }
        assert_eq!(ledger.lines(&Query::all()).await.unwrap(), before);
        assert!(ledger.revisions(&Query::all()).await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn a_revision_upstream_is_recorded_as_facts_and_corrects_the_total() {
    for store in stores("revision").await {
        let _store = store.named_if_failing();
        let sim = revising_simulator().await;
        let ledger = Ledger::open(store.location()).await.unwrap();
        let client = client(&sim);
        ledger
            .sync(&client, &plan("2024-03-10T00:00:00Z"))
            .await
            .unwrap();
        let first = ledger
            .total(&Query::all().deployments(["prod"]))
            .await
            .unwrap();

        // Ten days later, the last days of February have been revised upstream.
        sim.set_now(at("2024-03-20T00:00:00Z"));
        let report = ledger
            .sync(&client, &plan("2024-03-20T00:00:00Z"))
            .await
            .unwrap();

        let prod = &report.deployments[0];
        let expected = sim
            .items_total(
                "acme",
                "prod",
                at("2024-01-01T00:00:00Z"),
                at("2024-03-01T00:00:00Z"),
            )
            .unwrap();
        assert_eq!(prod.total, expected, "the corrected total");
        assert_ne!(prod.total, first);
        assert_eq!(prod.windows_revised, 1, "February");
        assert_eq!(prod.revised_by, expected - first, "exactly what changed");
        // Feb 27, 28 and 29 were revised after March 10: each day's data-out line changed
        // and a data inter-node line appeared.
        assert_eq!((prod.lines_changed, prod.lines_added), (3, 3));
        let revisions = ledger
            .revisions(&Query::all().deployments(["prod"]))
            .await
            .unwrap();
        assert_eq!(revisions.len(), 6);
        assert!(
            revisions
                .iter()
                .all(|r| r.seen_at == at("2024-03-20T00:00:00Z"))
        );
        let delta = revisions
            .iter()
            .map(|r| r.delta().unwrap())
            .sum::<Decimal>();
        assert_eq!(delta, expected - first);
        let changed: Vec<_> = revisions
            .iter()
            .filter(|r| r.change == Change::Changed)
            .collect();
        assert_eq!(changed.len(), 3);
        assert!(
            changed
                .iter()
                .all(|r| r.key.kind == "data_out" && r.new_cost > r.old_cost)
        );
        // February has now settled: a third sync asks for nothing.
        let requests = sim.stats().requests;
        let report = ledger
            .sync(&client, &plan("2024-03-21T00:00:00Z"))
            .await
            .unwrap();
        assert_eq!(sim.stats().requests, requests);
        assert!(report.changed_nothing());
    }
}

#[tokio::test]
async fn without_a_start_a_sync_carries_on_from_where_the_ledger_stands() {
    for store in stores("resume").await {
        let _store = store.named_if_failing();
        let sim = revising_simulator().await;
        let ledger = Ledger::open(store.location()).await.unwrap();
        let client = client(&sim);
        let err = ledger
            .sync(
                &client,
                &SyncPlan::new("acme", ["prod"]).now(at("2024-03-10T00:00:00Z")),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, Error::InvalidInput(_)), "{err}");

        ledger
            .sync(&client, &plan("2024-03-10T00:00:00Z"))
            .await
            .unwrap();
        // From February (provisional) to March 10, the month to date.
        let report = ledger
            .sync(
                &client,
                &SyncPlan::new("acme", ["prod"]).now(at("2024-03-10T00:00:00Z")),
            )
            .await
            .unwrap();
        let prod = &report.deployments[0];
        assert_eq!(
            prod.range,
            Some((at("2024-02-01T00:00:00Z"), at("2024-03-10T00:00:00Z")))
        );
        assert_eq!(prod.windows_fetched, 2);
        assert_eq!(prod.windows_new, 1, "March to date");
    }
}

#[tokio::test]
async fn a_ledger_keeps_the_window_size_it_was_created_with() {
    let dir = TempDir::new("window-size");
    let path = dir.join("costs.db");
    drop(Ledger::open_with(&path, WindowSize::Day).await.unwrap());
    let err = Ledger::open_with(&path, WindowSize::Month)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::WindowSize { .. }), "{err}");
    assert!(err.to_string().contains("daily"), "{err}");
    assert_eq!(
        Ledger::open(&path).await.unwrap().window_size(),
        WindowSize::Day
    );
    let days = WindowSize::days(7).unwrap();
    assert!(matches!(
        Ledger::open_with(dir.join("weekly.db"), days).await,
        Err(Error::InvalidInput(_))
    ));
}

#[tokio::test]
async fn a_file_that_is_not_a_ledger_is_refused_and_left_as_it_was() {
    let dir = TempDir::new("not-a-ledger");
    let text = dir.join("notes.txt");
    let content = "not a database, just text long enough to be read as a header".repeat(4);
    std::fs::write(&text, &content).unwrap();
    let err = Ledger::open(&text).await.unwrap_err();
    assert!(matches!(err, Error::NotALedger(_)), "{err}");
    assert!(err.to_string().contains("is not a ledger"), "{err}");
    assert_eq!(std::fs::read_to_string(&text).unwrap(), content);

    // Another application's SQLite database.
    let foreign = dir.join("foreign.db");
    let conn = rusqlite::Connection::open(&foreign).unwrap();
    conn.execute_batch("CREATE TABLE invoices (id INTEGER PRIMARY KEY, amount TEXT);")
        .unwrap();
    drop(conn);
    let before = std::fs::read(&foreign).unwrap();
    let err = Ledger::open(&foreign).await.unwrap_err();
    assert!(matches!(err, Error::NotALedger(_)), "{err}");
    assert_eq!(std::fs::read(&foreign).unwrap(), before, "not written to");

    // An export never creates a file.
    let missing = Ledger::open_existing(dir.join("missing.db"))
        .await
        .unwrap_err();
    assert!(matches!(missing, Error::Storage(_)), "{missing}");
    assert!(!dir.join("missing.db").exists());
}

#[tokio::test]
async fn a_newer_ledger_is_refused_and_an_older_one_migrated() {
    let dir = TempDir::new("schema");
    let path = dir.join("costs.db");
    drop(Ledger::open(&path).await.unwrap());

    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    let err = Ledger::open(&path).await.unwrap_err();
    assert!(
        matches!(err, Error::NewerSchema { version: 99, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("newer"), "{err}");

    // Version 1 had no journal of syncs: opening it adds one, and keeps the rest.
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch("DROP TABLE syncs; DROP TABLE repairs; PRAGMA user_version = 1;")
        .unwrap();
    conn.execute("INSERT INTO meta (key, value) VALUES ('note', 'kept')", [])
        .unwrap();
    drop(conn);
    drop(Ledger::open(&path).await.unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .unwrap();
    let syncs: i64 = conn
        .query_row("SELECT count(*) FROM syncs", [], |row| row.get(0))
        .unwrap();
    let note: String = conn
        .query_row("SELECT value FROM meta WHERE key = 'note'", [], |row| {
            row.get(0)
        })
        .unwrap();
    assert_eq!((version, syncs, note.as_str()), (3, 0, "kept"));
}

#[tokio::test]
async fn a_second_sync_of_one_file_waits_a_bounded_time_then_fails_clearly() {
    for store in stores("busy").await {
        let _store = store.named_if_failing();
        let sim = Simulator::new()
            .api_key(CANARY_KEY)
            .faults(Faults {
                latency: Duration::from_millis(300),
                ..Faults::default()
            })
            .start()
            .await
            .unwrap();
        let path = store.location();
        let first = Ledger::open(&path).await.unwrap();
        let second = Ledger::open(&path).await.unwrap();
        let client = client(&sim);
        let slow = SyncPlan::new("acme", ["prod"])
            .from(at("2024-01-01T00:00:00Z"))
            .to(at("2024-03-01T00:00:00Z"))
            .now(at("2024-06-01T00:00:00Z"));
        let impatient = slow.clone().lock_wait(Duration::from_millis(100));

        let (a, b) = tokio::join!(first.sync(&client, &slow), async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            second.sync(&client, &impatient).await
        });

        let report = a.expect("the first sync finishes");
        assert_eq!(report.windows_fetched(), 2);
        let err = b.expect_err("the second one gives up");
        assert!(matches!(err, Error::Busy { .. }), "{err}");
        assert!(err.to_string().contains("another sync"), "{err}");
        // Nothing was corrupted: the first sync's lines are whole.
        let expected = sim.dataset().items_total(
            "acme",
            "prod",
            at("2024-01-01T00:00:00Z"),
            at("2024-03-01T00:00:00Z"),
        );
        assert_eq!(Some(second.total(&Query::all()).await.unwrap()), expected);
    }
}

#[tokio::test]
async fn the_focus_export_has_every_column_parses_back_and_list_cost_is_exact() {
    for store in stores("focus").await {
        let _store = store.named_if_failing();
        let sim = revising_simulator().await;
        let ledger = Ledger::open(store.location()).await.unwrap();
        ledger
            .sync(
                &client(&sim),
                &plan("2024-03-10T00:00:00Z").format(Format::Csv),
            )
            .await
            .unwrap();

        let mut out = Vec::new();
        let export = Export::new(ExportFormat::Focus)
            .billing_currency("EUR", "0.92".parse().unwrap())
            .unwrap();
        let summary = ledger
            .export(&Query::all(), &export, &mut out)
            .await
            .unwrap();

        let mut reader = csv::Reader::from_reader(&out[..]);
        let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
        assert_eq!(header, FOCUS_COLUMNS);
        for mandatory in [
            "BilledCost",
            "BillingAccountId",
            "BillingAccountName",
            "BillingCurrency",
            "BillingPeriodEnd",
            "BillingPeriodStart",
            "ChargeCategory",
            "ChargeClass",
            "ChargeDescription",
            "ChargePeriodEnd",
            "ChargePeriodStart",
            "ContractedCost",
            "EffectiveCost",
            "InvoiceIssuerName",
            "ListCost",
            "PricingQuantity",
            "PricingUnit",
            "ProviderName",
            "PublisherName",
            "ServiceCategory",
            "ServiceName",
        ] {
            assert!(header.iter().any(|h| h == mandatory), "{mandatory} missing");
        }
        assert!(
            header
                .iter()
                .filter(|h| !FOCUS_COLUMNS[..57].contains(&h.as_str()))
                .all(|h| h.starts_with("x_")),
            "custom columns are prefixed"
        );
        let column = |name: &str| header.iter().position(|h| h == name).unwrap();
        let mut rows = 0u64;
        let mut ecu = Decimal::ZERO;
        let mut by_deployment: BTreeMap<String, Decimal> = BTreeMap::new();
        for record in reader.records() {
            let record = record.unwrap();
            rows += 1;
            let dec = |name: &str| record[column(name)].parse::<Decimal>().unwrap();
            assert_eq!(
                dec("ListCost"),
                dec("ListUnitPrice") * dec("PricingQuantity"),
                "ListCost = ListUnitPrice × PricingQuantity exactly: {record:?}"
            );
            assert_eq!(
                dec("BilledCost"),
                dec("PricingCurrencyEffectiveCost") * "0.92".parse::<Decimal>().unwrap()
            );
            assert_eq!(&record[column("ChargeCategory")], "Usage");
            assert_eq!(&record[column("BillingCurrency")], "EUR");
            assert_eq!(&record[column("PricingCurrency")], "ECU");
            assert!(matches!(&record[column("x_Provisional")], "true" | "false"));
            for instant in [
                "ChargePeriodStart",
                "ChargePeriodEnd",
                "BillingPeriodStart",
                "BillingPeriodEnd",
            ] {
                record[column(instant)].parse::<Timestamp>().unwrap();
                assert!(record[column(instant)].ends_with('Z'));
            }
            // Upstream's costs in the simulator are exactly quantity × unit price.
            assert_eq!(dec("ListCost"), dec("BilledCost"), "{record:?}");
            ecu += dec("PricingCurrencyEffectiveCost");
            *by_deployment
                .entry(record[column("ResourceId")].to_string())
                .or_default() += dec("PricingCurrencyEffectiveCost");
        }
        assert_eq!(rows, summary.lines);
        assert_eq!(ecu, summary.total);
        assert_eq!(ecu, ledger.total(&Query::all()).await.unwrap());
        for (deployment, total) in by_deployment {
            let expected = sim.items_total(
                "acme",
                &deployment,
                at("2024-01-01T00:00:00Z"),
                at("2024-03-01T00:00:00Z"),
            );
            assert_eq!(Some(total), expected, "{deployment}");
        }
    }
}

#[tokio::test]
async fn csv_and_json_exports_hold_the_same_lines() {
    for store in stores("exports").await {
        let _store = store.named_if_failing();
        let sim = revising_simulator().await;
        let ledger = Ledger::open(store.location()).await.unwrap();
        ledger
            .sync(&client(&sim), &plan("2024-03-10T00:00:00Z"))
            .await
            .unwrap();
        let query = Query::all().deployments(["staging"]);

        let mut csv_out = Vec::new();
        let csv_summary = ledger
            .export(&query, &Export::new(ExportFormat::Csv), &mut csv_out)
            .await
            .unwrap();
        let mut json_out = Vec::new();
        let json_summary = ledger
            .export(&query, &Export::new(ExportFormat::Json), &mut json_out)
            .await
            .unwrap();

        assert_eq!(csv_summary, json_summary);
        let document: serde_json::Value = serde_json::from_slice(&json_out).unwrap();
        let lines = document["lines"].as_array().unwrap();
        assert_eq!(lines.len() as u64, json_summary.lines);
        assert_eq!(document["total"], json_summary.total.to_string());
        let mut reader = csv::Reader::from_reader(&csv_out[..]);
        let costs: Vec<String> = reader
            .records()
            .map(|r| r.unwrap()[19].to_string())
            .collect();
        let json_costs: Vec<String> = lines
            .iter()
            .map(|l| l["cost"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(costs, json_costs);
        assert!(lines.iter().all(|l| l["deployment"] == "staging"));
    }
}

/// An items answer of `lines`, each `(usage type, cost)` a DTS line, whose total is
/// their sum.
pub(crate) fn answer(lines: &[(&str, &str)]) -> ec_billing::Items {
    let dts: Vec<String> = lines
        .iter()
        .map(|(usage, cost)| {
            format!(
                r#"{{"cost":{cost},"name":"n","quantity":{{"value":1,"formatted_value":"1 GB"}},"rate":{{"value":1,"formatted_value":"1 per GB"}},"sku":"s","type":{}}}"#,
                serde_json::to_string(usage).unwrap()
            )
        })
        .collect();
    let total = lines
        .iter()
        .map(|(_, cost)| cost.parse::<Decimal>().unwrap())
        .fold(Decimal::ZERO, |sum, cost| sum + cost);
    let json = format!(
        r#"{{"costs":{{"total":{total},"dimensions":[]}},"data_transfer_and_storage":[{}],"resources":[]}}"#,
        dts.join(",")
    );
    ec_billing::Items::from_json(json.as_bytes()).unwrap()
}

pub(crate) fn month(from: &str, to: &str) -> ec_billing::Window {
    ec_billing::DateRange::parse(from, to)
        .unwrap()
        .windows(WindowSize::Month)
        .next()
        .unwrap()
}

/// A client of nothing: for syncs that must make no request.
pub(crate) fn client_of_nothing() -> ec_billing::Client {
    wrapper_builder("http://127.0.0.1:9/api/v1", TestClock::new())
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_range_that_ends_early_never_shrinks_a_window_the_ledger_holds_whole() {
    let sim = revising_simulator().await;
    let dir = TempDir::new("shrink");
    let ledger = Ledger::open(dir.join("costs.db")).await.unwrap();
    let client = client(&sim);
    ledger
        .sync(&client, &plan("2024-06-01T00:00:00Z"))
        .await
        .unwrap();
    let whole = ledger.total(&Query::all()).await.unwrap();

    let short = SyncPlan::new("acme", ["prod", "staging"])
        .from(at("2024-01-01T00:00:00Z"))
        .to(at("2024-01-15T00:00:00Z"))
        .now(at("2024-06-01T00:00:00Z"))
        .refetch_final(true);
    let report = ledger.sync(&client, &short).await.unwrap();

    assert_eq!(
        report.windows_fetched(),
        2,
        "January fetched again, over what the ledger holds of it"
    );
    assert_eq!(
        ledger.total(&Query::all()).await.unwrap(),
        whole,
        "January kept whole"
    );
    let shorter = ledger
        .record(
            "acme",
            "prod",
            month("2024-01-01", "2024-01-15"),
            &answer(&[("data_out", "1")]),
            at("2024-06-01T00:00:00Z"),
            SignedDuration::ZERO,
        )
        .await;
    assert!(
        matches!(shorter, Err(Error::InvalidInput(_))),
        "{shorter:?}"
    );
}

#[tokio::test]
async fn a_deployments_total_that_fits_is_given_whatever_the_order_of_its_lines() {
    let dir = TempDir::new("order");
    let ledger = Ledger::open(dir.join("costs.db")).await.unwrap();
    let max = "79228162514264337593543950335";
    let min = "-79228162514264337593543950335";
    for (from, to) in [("2024-01-01", "2024-02-01"), ("2024-02-01", "2024-03-01")] {
        ledger
            .record(
                "acme",
                "prod",
                month(from, to),
                &answer(&[("data_out", max), ("data_in", min), ("storage_api", "1")]),
                at("2024-06-01T00:00:00Z"),
                SignedDuration::ZERO,
            )
            .await
            .unwrap();
    }
    let plan = SyncPlan::new("acme", ["prod"])
        .from(at("2024-01-01T00:00:00Z"))
        .to(at("2024-03-01T00:00:00Z"))
        .now(at("2024-06-01T00:00:00Z"));

    let report = ledger.sync(&client_of_nothing(), &plan).await.unwrap();

    assert_eq!(report.windows_fetched(), 0, "both windows are final");
    assert_eq!(report.deployments[0].total, Decimal::TWO);
}

#[tokio::test]
async fn answers_that_differ_never_pass_for_the_same() {
    let dir = TempDir::new("digest");
    let ledger = Ledger::open(dir.join("costs.db")).await.unwrap();
    let window = month("2024-01-01", "2024-02-01");
    let fetched = at("2024-06-01T00:00:00Z");
    // One line whose usage type holds what would be a second line's fields, then two
    // real lines: the second answer must be seen as a change.
    let one = answer(&[("data_out\u{1f}s\u{1e}dts\u{1f}data_in", "2")]);
    let two = answer(&[("data_out", "1"), ("data_in", "1")]);
    ledger
        .record("o", "d", window, &one, fetched, SignedDuration::ZERO)
        .await
        .unwrap();
    let change = ledger
        .record("o", "d", window, &two, fetched, SignedDuration::ZERO)
        .await
        .unwrap();
    assert!(change.revised, "{change:?}");
    assert_eq!((change.added, change.removed), (2, 1));
}

#[test]
fn opening_one_new_file_from_several_threads_at_once_makes_one_ledger() {
    for round in 0..5 {
        let dir = TempDir::new(&format!("race-{round}"));
        let path = dir.join("costs.db");
        // Four processes would each have a runtime of their own: so do these threads.
        let opened: Vec<_> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..4)
                .map(|_| {
                    scope.spawn(|| {
                        tokio::runtime::Builder::new_current_thread()
                            .enable_all()
                            .build()
                            .unwrap()
                            .block_on(Ledger::open(&path))
                            .map(|l| l.window_size())
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for result in opened {
            assert_eq!(result.unwrap(), WindowSize::Month);
        }
    }
}

#[tokio::test]
async fn a_focus_amount_that_cannot_be_exact_at_the_rate_asked_is_refused_not_rounded() {
    let sim = revising_simulator().await;
    let dir = TempDir::new("focus-rate");
    let ledger = Ledger::open(dir.join("costs.db")).await.unwrap();
    ledger
        .sync(&client(&sim), &plan("2024-03-10T00:00:00Z"))
        .await
        .unwrap();
    let export = Export::new(ExportFormat::Focus)
        .billing_currency("EUR", "0.123456789012345678901234567".parse().unwrap())
        .unwrap();

    let err = ledger
        .export(&Query::all(), &export, std::io::sink())
        .await
        .unwrap_err();

    assert!(matches!(err, Error::InvalidInput(_)), "{err}");
    assert!(err.to_string().contains("more digits"), "{err}");
}

#[tokio::test]
async fn a_tampered_amount_or_a_negative_version_is_refused() {
    let dir = TempDir::new("tampered");
    let path = dir.join("costs.db");
    let ledger = Ledger::open(&path).await.unwrap();
    ledger
        .record(
            "o",
            "d",
            month("2024-01-01", "2024-02-01"),
            &answer(&[("data_out", "100000")]),
            at("2024-06-01T00:00:00Z"),
            SignedDuration::ZERO,
        )
        .await
        .unwrap();
    drop(ledger);
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute("UPDATE lines SET cost = '1e5'", []).unwrap();
    drop(conn);
    let err = Ledger::open(&path)
        .await
        .unwrap()
        .lines(&Query::all())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Inconsistent(_)), "{err}");
    assert!(err.to_string().contains("2024-01-01T00:00:00Z"), "{err}");

    let other = dir.join("other.db");
    let conn = rusqlite::Connection::open(&other).unwrap();
    conn.execute_batch("CREATE TABLE customers (id INTEGER); PRAGMA user_version = -1;")
        .unwrap();
    drop(conn);
    let before = std::fs::read(&other).unwrap();
    assert!(matches!(
        Ledger::open(&other).await,
        Err(Error::NotALedger(_))
    ));
    assert_eq!(std::fs::read(&other).unwrap(), before);
}
