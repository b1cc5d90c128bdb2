//! The ledger against a careless caller and a corrupted disk: a path is a file, taken
//! literally; what the ledger reads from its file is checked as strictly as what it
//! writes (window sizes, lines against their window's record) and a sync repairs what
//! was tampered with; a window fetched before its end is fetched again; the same lines
//! in another order, or through another transport, are no revision; a line that cannot
//! be exported exactly is refused when it is fetched, and an export that fails writes
//! nothing.

use ec_billing::{Decimal, Format};
use ec_billing_ledger::{Error, Export, ExportFormat, Ledger, Query, SyncPlan};
use ec_billing_sim::{Dataset, Fault, Faults, Simulator};
use jiff::SignedDuration;

use crate::{
    ledger::{answer, at, client, client_of_nothing, month, revising_simulator},
    support::{CANARY_KEY, TempDir, stores},
};

/// A ledger holding January 2024 of `o`/`d` (three DTS lines), final.
async fn january(dir: &TempDir) -> (std::path::PathBuf, Ledger) {
    let path = dir.join("costs.db");
    let ledger = Ledger::open(&path).await.unwrap();
    ledger
        .record(
            "o",
            "d",
            month("2024-01-01", "2024-02-01"),
            &answer(&[
                ("data_out", "1.25"),
                ("data_in", "2.5"),
                ("storage_api", "4"),
            ]),
            at("2024-06-01T00:00:00Z"),
            SignedDuration::ZERO,
        )
        .await
        .unwrap();
    (path, ledger)
}

/// Runs `sql` on the ledger's file, as someone editing it by hand would.
fn tamper(path: &std::path::Path, sql: &str) {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch(sql).unwrap();
}

#[tokio::test]
async fn memory_and_empty_paths_are_refused_and_a_uri_is_a_file_name() {
    for path in [":memory:", ""] {
        let err = Ledger::open(path).await.unwrap_err();
        assert!(matches!(err, Error::InvalidInput(_)), "{path:?}: {err}");
    }
    let dir = TempDir::new("uri");
    let literal = dir.join("file:alias.db?mode=memory");
    let ledger = Ledger::open(&literal).await.unwrap();
    ledger
        .record(
            "o",
            "d",
            month("2024-01-01", "2024-02-01"),
            &answer(&[("data_out", "1")]),
            at("2024-06-01T00:00:00Z"),
            SignedDuration::ZERO,
        )
        .await
        .unwrap();
    drop(ledger);
    assert!(literal.is_file(), "the file is named as given");
    let again = Ledger::open_read_only(&literal).await.unwrap();
    assert_eq!(again.total(&Query::all()).await.unwrap(), Decimal::ONE);
}

#[tokio::test]
async fn one_file_reached_through_a_link_is_locked_as_one() {
    let dir = TempDir::new("link");
    let (path, ledger) = january(&dir).await;
    let link = dir.join("link.db");
    std::os::unix::fs::symlink(&path, &link).unwrap();
    let through_link = Ledger::open(&link).await.unwrap();
    let plan = SyncPlan::new("o", ["d"])
        .from(at("2024-01-01T00:00:00Z"))
        .to(at("2024-02-01T00:00:00Z"))
        .now(at("2024-06-01T00:00:00Z"))
        .lock_wait(std::time::Duration::ZERO);
    let client = client_of_nothing();

    let (first, second) = tokio::join!(
        ledger.sync(&client, &plan),
        through_link.sync(&client, &plan)
    );

    let busy = [&first, &second]
        .iter()
        .filter(|r| matches!(r, Err(Error::Busy { .. })))
        .count();
    let fine = [&first, &second].iter().filter(|r| r.is_ok()).count();
    // Both may finish in turn (nothing to fetch); never both at once without the lock.
    assert_eq!(busy + fine, 2, "{first:?} {second:?}");
    assert!(std::fs::exists(format!("{}.lock", path.display())).unwrap());
    assert!(
        !std::fs::exists(format!("{}.lock", link.display())).unwrap(),
        "the lock is beside the file itself, not beside the link"
    );
}

#[tokio::test]
async fn a_device_or_a_folder_is_not_a_ledger_and_nothing_is_created_beside_it() {
    let err = Ledger::open("/dev/null").await.unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)), "{err}");
    assert!(err.to_string().contains("not a file"), "{err}");
    assert!(!std::path::Path::new("/dev/null-journal").exists());
    assert!(!std::path::Path::new("/dev/null-wal").exists());
    let dir = TempDir::new("folder");
    let err = Ledger::open(dir.join("")).await.unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)), "{err}");
}

#[tokio::test]
async fn an_edited_window_size_is_refused_not_read_as_months() {
    let dir = TempDir::new("window-size");
    let (path, ledger) = january(&dir).await;
    drop(ledger);
    tamper(&path, "UPDATE meta SET value = '7d' WHERE key = 'window'");

    for opened in [
        Ledger::open(&path).await,
        Ledger::open_read_only(&path).await,
    ] {
        let err = opened.unwrap_err();
        assert!(matches!(err, Error::NotALedger(_)), "{err}");
        assert!(err.to_string().contains("\"7d\""), "{err}");
    }
}

#[tokio::test]
async fn a_pipe_in_place_of_the_lock_file_is_refused_at_once() {
    let dir = TempDir::new("fifo");
    let (path, ledger) = january(&dir).await;
    let lock = format!("{}.lock", path.display());
    let _ = std::fs::remove_file(&lock);
    let made = std::process::Command::new("mkfifo")
        .arg(&lock)
        .status()
        .unwrap();
    assert!(made.success());
    let plan = SyncPlan::new("o", ["d"])
        .from(at("2024-01-01T00:00:00Z"))
        .to(at("2024-02-01T00:00:00Z"))
        .now(at("2024-06-01T00:00:00Z"));

    let err = ledger.sync(&client_of_nothing(), &plan).await.unwrap_err();

    assert!(matches!(err, Error::InvalidInput(_)), "{err}");
    assert!(err.to_string().contains("not a regular file"), "{err}");
}

#[tokio::test]
async fn a_read_only_export_leaves_nothing_beside_the_file() {
    let dir = TempDir::new("read-only");
    let (path, ledger) = january(&dir).await;
    drop(ledger);
    let listing = || {
        let mut names: Vec<String> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    let before = listing();
    let bytes = std::fs::read(&path).unwrap();

    let ledger = Ledger::open_read_only(&path).await.unwrap();
    let mut out = Vec::new();
    ledger
        .export(&Query::all(), &Export::new(ExportFormat::Focus), &mut out)
        .await
        .unwrap();
    let refused = ledger
        .record(
            "o",
            "d",
            month("2024-02-01", "2024-03-01"),
            &answer(&[("data_out", "1")]),
            at("2024-06-01T00:00:00Z"),
            SignedDuration::ZERO,
        )
        .await;
    drop(ledger);

    assert!(
        matches!(refused, Err(Error::InvalidInput(_))),
        "{refused:?}"
    );
    assert_eq!(listing(), before, "no -wal, -shm or journal left behind");
    assert_eq!(
        std::fs::read(&path).unwrap(),
        bytes,
        "the file is untouched"
    );
    assert_eq!(String::from_utf8(out).unwrap().lines().count(), 4);
}

#[tokio::test]
async fn a_refused_sync_creates_no_file() {
    let dir = TempDir::new("refused");
    let path = dir.join("costs.db");
    let plan = SyncPlan::new("o", ["d"])
        .from(at("0001-01-01T00:00:00Z"))
        .now(at("2024-06-01T00:00:00Z"));
    let err = plan
        .check(ec_billing::WindowSize::Day, at("2024-06-01T00:00:00Z"))
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)), "{err}");
    assert!(!path.exists());

    let bad_id = SyncPlan::new("o", [".."]).from(at("2024-01-01T00:00:00Z"));
    let ledger = Ledger::open(&path).await.unwrap();
    let err = ledger
        .sync(&client_of_nothing(), &bad_id)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::InvalidInput(_)),
        "a bad id is invalid input, as documented: {err:?}"
    );
}

#[tokio::test]
async fn a_window_fetched_before_its_end_is_fetched_again_by_a_later_shorter_sync() {
    for store in stores("early").await {
        let _store = store.named_if_failing();
        let sim = Simulator::new()
            .api_key(CANARY_KEY)
            .dataset(Dataset::standard().with_revisions(SignedDuration::from_hours(72)))
            .now(at("2024-03-10T00:00:00Z"))
            .faults(Faults::default())
            .start()
            .await
            .unwrap();
        let ledger = Ledger::open(store.location()).await.unwrap();
        let client = client(&sim);
        let ahead = SyncPlan::new("acme", ["prod"])
            .from(at("2024-03-01T00:00:00Z"))
            .to(at("2024-04-01T00:00:00Z"))
            .now(at("2024-03-10T00:00:00Z"));
        ledger.sync(&client, &ahead).await.unwrap();
        assert!(!ledger.windows(&Query::all()).await.unwrap()[0].is_final);

        sim.set_now(at("2024-03-20T00:00:00Z"));
        let later = SyncPlan::new("acme", ["prod"]).now(at("2024-03-20T00:00:00Z"));
        let report = ledger.sync(&client, &later).await.unwrap();

        assert_eq!(report.windows_fetched(), 1, "{report:?}");
        assert_eq!(
            report.deployments[0].total,
            sim.dataset()
                .items_total_as_of(
                    "acme",
                    "prod",
                    at("2024-03-01T00:00:00Z"),
                    at("2024-04-01T00:00:00Z"),
                    at("2024-03-20T00:00:00Z")
                )
                .unwrap()
        );
        // However short the settle period, a fetch that did not cover all of a window
        // leaves it provisional.
        let change = ledger
            .record(
                "acme",
                "other",
                month("2024-03-01", "2024-04-01"),
                &answer(&[("data_out", "1")]),
                at("2024-03-20T00:00:00Z"),
                SignedDuration::from_hours(-24 * 60),
            )
            .await
            .unwrap();
        assert!(change.new);
        let other = ledger
            .windows(&Query::all().deployments(["other"]))
            .await
            .unwrap();
        assert!(!other[0].is_final);
    }
}

#[tokio::test]
async fn lines_deleted_duplicated_or_edited_are_an_error_naming_the_window_and_a_sync_repairs_them()
{
    for (what, sql) in [
        ("a line deleted", "DELETE FROM lines WHERE kind = 'data_in'"),
        (
            "a line duplicated",
            "INSERT INTO lines SELECT organization, deployment, window_start, line_type, kind,
                 sku, name, period_start, period_end, 7, hours, instance_count, price_per_hour,
                 quantity, quantity_formatted, rate, rate_formatted, cost
             FROM lines WHERE kind = 'data_in'",
        ),
        (
            "a cost edited",
            "UPDATE lines SET cost = '2.6' WHERE kind = 'data_in'",
        ),
        ("a total edited", "UPDATE windows SET total = '8.75'"),
        (
            "a quantity edited",
            "UPDATE lines SET quantity = '2' WHERE kind = 'data_in'",
        ),
        ("every line deleted", "DELETE FROM lines"),
        ("the window's record deleted", "DELETE FROM windows"),
    ] {
        let dir = TempDir::new("tampered-lines");
        let (path, ledger) = january(&dir).await;
        drop(ledger);
        tamper(&path, sql);
        let ledger = Ledger::open(&path).await.unwrap();

        let err = ledger.total(&Query::all()).await.unwrap_err();
        assert!(matches!(err, Error::Inconsistent(_)), "{what}: {err}");
        assert!(err.to_string().contains("2024-01-01"), "{what}: {err}");
        let mut out = Vec::new();
        let export = ledger
            .export(&Query::all(), &Export::new(ExportFormat::Focus), &mut out)
            .await;
        assert!(export.is_err(), "{what}");
        assert!(out.is_empty(), "{what}: a failed export writes nothing");
        if what == "the window's record deleted" {
            continue;
        }

        // A sync over the window fetches it again and replaces its lines: a repair,
        // not revisions.
        let sim = Simulator::new()
            .api_key(CANARY_KEY)
            .dataset(Dataset::empty().deployment("o", "d", 7))
            .now(at("2024-06-01T00:00:00Z"))
            .start()
            .await
            .unwrap();
        let plan = SyncPlan::new("o", ["d"])
            .from(at("2024-01-01T00:00:00Z"))
            .to(at("2024-02-01T00:00:00Z"))
            .now(at("2024-06-01T00:00:00Z"));
        let report = ledger.sync(&client(&sim), &plan).await.unwrap();
        let summary = &report.deployments[0];
        assert_eq!(summary.windows_repaired, 1, "{what}: {summary:?}");
        assert_eq!(summary.revisions, 0, "{what}");
        assert_eq!(
            summary.total,
            sim.items_total(
                "o",
                "d",
                at("2024-01-01T00:00:00Z"),
                at("2024-02-01T00:00:00Z")
            )
            .unwrap(),
            "{what}"
        );
        assert!(ledger.revisions(&Query::all()).await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn the_same_lines_in_another_order_record_no_revision() {
    for store in stores("order").await {
        let _store = store.named_if_failing();
        let ledger = Ledger::open(store.location()).await.unwrap();
        let window = month("2024-01-01", "2024-02-01");
        let fetched = at("2024-01-20T00:00:00Z");
        // Two lines of one key (same usage type, SKU and name), in both orders.
        let one = answer(&[("data_out", "0.25"), ("data_out", "0.75"), ("data_in", "1")]);
        let other = answer(&[("data_in", "1"), ("data_out", "0.75"), ("data_out", "0.25")]);
        for items in [&one, &other, &one] {
            let change = ledger
                .record("o", "d", window, items, fetched, SignedDuration::ZERO)
                .await
                .unwrap();
            assert!(!change.revised, "{change:?}");
            assert_eq!(change.changed, 0);
        }
        assert!(ledger.revisions(&Query::all()).await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn csv_and_json_syncs_of_unchanged_data_record_no_revision_and_keep_the_units() {
    for store in stores("transports").await {
        let _store = store.named_if_failing();
        let sim = revising_simulator().await;
        let ledger = Ledger::open(store.location()).await.unwrap();
        let client = client(&sim);
        let plan = |format| {
            SyncPlan::new("acme", ["prod"])
                .from(at("2024-03-01T00:00:00Z"))
                .to(at("2024-03-10T00:00:00Z"))
                .now(at("2024-03-10T00:00:00Z"))
                .format(format)
        };
        ledger.sync(&client, &plan(Format::Json)).await.unwrap();
        let focus = async || {
            let mut out = Vec::new();
            ledger
                .export(&Query::all(), &Export::new(ExportFormat::Focus), &mut out)
                .await
                .unwrap();
            out
        };
        let first = focus().await;

        for format in [Format::Csv, Format::Json, Format::Csv] {
            let report = ledger.sync(&client, &plan(format)).await.unwrap();
            assert!(report.changed_nothing(), "{format:?}: {report:?}");
            assert_eq!(report.deployments[0].revisions, 0, "{format:?}");
        }

        assert!(ledger.revisions(&Query::all()).await.unwrap().is_empty());
        assert_eq!(focus().await, first, "the same export, units and all");
    }
}

/// An answer of one resource line, as JSON.
fn resource(
    price_per_hour: &str,
    hours: i64,
    instances: i64,
    period: (&str, &str),
) -> ec_billing::Items {
    let cost: Decimal = "1".parse().unwrap();
    let json = format!(
        r#"{{"costs":{{"total":{cost},"dimensions":[]}},"data_transfer_and_storage":[],"resources":[{{"price":{cost},"hours":{hours},"instance_count":{instances},"kind":"elasticsearch","name":"n","period":{{"start":"{}","end":"{}"}},"price_per_hour":{price_per_hour},"sku":"s"}}]}}"#,
        period.0, period.1
    );
    ec_billing::Items::from_json(json.as_bytes()).unwrap()
}

#[tokio::test]
async fn a_line_that_cannot_be_exported_exactly_is_refused_when_fetched_naming_it() {
    let dir = TempDir::new("unexportable");
    let ledger = Ledger::open(dir.join("costs.db")).await.unwrap();
    let fetched = at("2024-06-01T00:00:00Z");
    let cases = [
        (
            "a 28-digit price over 744 hours × 3",
            resource(
                "0.1234567890123456789012345678",
                744,
                3,
                ("2024-01-01T00:00:00Z", "2024-02-01T00:00:00Z"),
            ),
            month("2024-01-01", "2024-02-01"),
            "list cost",
        ),
        (
            "a period that runs backwards",
            resource(
                "0.5",
                2,
                1,
                ("2024-01-10T00:00:00Z", "2024-01-09T00:00:00Z"),
            ),
            month("2024-01-01", "2024-02-01"),
            "ends before it starts",
        ),
        (
            "a line in 9999-12",
            resource(
                "0.5",
                2,
                1,
                ("9999-12-02T00:00:00Z", "9999-12-03T00:00:00Z"),
            ),
            month("9999-11-01", "9999-12-01"),
            "time scale",
        ),
    ];
    for (what, items, window, says) in cases {
        let err = ledger
            .record("o", "d", window, &items, fetched, SignedDuration::ZERO)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Answer(_)), "{what}: {err}");
        let text = err.to_string();
        assert!(text.contains("line \"n\""), "{what}: {text}");
        assert!(text.contains(says), "{what}: {text}");
    }
    assert!(ledger.lines(&Query::all()).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_focus_export_that_fails_at_a_rate_writes_nothing_and_names_the_line() {
    let dir = TempDir::new("focus-fails");
    let (_path, ledger) = january(&dir).await;
    let export = Export::new(ExportFormat::Focus)
        .billing_currency("EUR", "0.1234567890123456789012345678".parse().unwrap())
        .unwrap();
    let mut out = Vec::new();

    let err = ledger
        .export(&Query::all(), &export, &mut out)
        .await
        .unwrap_err();

    assert!(out.is_empty(), "{}", String::from_utf8_lossy(&out));
    assert!(matches!(err, Error::InvalidInput(_)), "{err}");
    let text = err.to_string();
    assert!(text.contains("line \"n\""), "{text}");
    assert!(text.contains("EUR"), "{text}");
}

#[tokio::test]
async fn an_export_to_a_file_that_fails_leaves_the_file_as_it_was_and_nothing_beside_it() {
    let dir = TempDir::new("file-export-fails");
    let (path, ledger) = january(&dir).await;
    let out = dir.join("focus.csv");
    std::fs::write(&out, "keep me").unwrap();
    // The files beside the export, the ledger's own (its journal comes and goes) aside.
    let names = || {
        let mut names: Vec<String> = std::fs::read_dir(out.parent().unwrap())
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| !name.starts_with("costs.db"))
            .collect();
        names.sort();
        names
    };
    let before = names();

    // A line's FOCUS amount that cannot be exact at the rate asked.
    let export = Export::new(ExportFormat::Focus)
        .billing_currency("EUR", "0.1234567890123456789012345678".parse().unwrap())
        .unwrap();
    let err = ledger
        .export_to_file(&Query::all(), &export, &out)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)), "{err}");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "keep me");
    assert_eq!(names(), before);

    // A window whose lines are not those of its record: found only at the window's
    // end, after its lines were written to the file beside.
    drop(ledger);
    tamper(
        &path,
        "UPDATE lines SET cost = '9.25' WHERE kind = 'data_out'",
    );
    let ledger = Ledger::open_read_only(&path).await.unwrap();
    let err = ledger
        .export_to_file(&Query::all(), &Export::new(ExportFormat::Focus), &out)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Inconsistent(_)), "{err}");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "keep me");
    assert_eq!(names(), before);
}

#[tokio::test]
async fn an_export_to_a_file_never_replaces_the_ledger_or_follows_a_link() {
    let dir = TempDir::new("file-export-targets");
    let (path, ledger) = january(&dir).await;
    let victim = dir.join("victim.txt");
    std::fs::write(&victim, "keep me").unwrap();
    let link = dir.join("link.csv");
    std::os::unix::fs::symlink(&victim, &link).unwrap();
    let mut wal = path.clone().into_os_string();
    wal.push("-wal");
    let export = Export::new(ExportFormat::Csv);
    for out in [path.clone(), wal.into(), link, dir.join("")] {
        let err = ledger
            .export_to_file(&Query::all(), &export, &out)
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::InvalidInput(_)),
            "{}: {err}",
            out.display()
        );
    }
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
    assert_eq!(ledger.lines(&Query::all()).await.unwrap().len(), 3);

    // A file there is replaced whole.
    let out = dir.join("lines.csv");
    std::fs::write(
        &out,
        "an older export, longer than the new one will be, by far: ".repeat(99),
    )
    .unwrap();
    let summary = ledger
        .export_to_file(&Query::all(), &export, &out)
        .await
        .unwrap();
    let mut streamed = Vec::new();
    ledger
        .export(&Query::all(), &export, &mut streamed)
        .await
        .unwrap();
    assert_eq!(summary.lines, 3);
    assert!(std::fs::read(&out).unwrap() == streamed);
}

#[tokio::test]
async fn the_journal_ends_a_sync_on_the_syncs_own_clock() {
    let sim = revising_simulator().await;
    let dir = TempDir::new("journal");
    let path = dir.join("costs.db");
    let ledger = Ledger::open(&path).await.unwrap();
    let plan = SyncPlan::new("acme", ["prod"])
        .from(at("2024-01-01T00:00:00Z"))
        .to(at("2024-02-01T00:00:00Z"))
        .now(at("2024-03-10T00:00:00Z"));
    ledger.sync(&client(&sim), &plan).await.unwrap();
    drop(ledger);

    let conn = rusqlite::Connection::open(&path).unwrap();
    let (started, finished): (String, String) = conn
        .query_row("SELECT started_at, finished_at FROM syncs", [], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .unwrap();
    assert_eq!(started, "2024-03-10T00:00:00Z");
    assert_eq!(finished, "2024-03-10T00:00:00Z");
}

#[tokio::test]
async fn a_server_that_shuffles_same_key_lines_on_every_answer_records_no_revision() {
    for store in stores("shuffled").await {
        let _store = store.named_if_failing();
        let sim = Simulator::new()
            .api_key(CANARY_KEY)
            .now(at("2024-03-10T00:00:00Z"))
            .faults(Faults {
                share: 1.0,
                kinds: vec![Fault::ShuffledLines],
                ..Faults::default()
            })
            .start()
            .await
            .unwrap();
        let ledger = Ledger::open(store.location()).await.unwrap();
        let client = client(&sim);
        let plan = |format| {
            SyncPlan::new("acme", ["prod", "staging"])
                .from(at("2024-02-01T00:00:00Z"))
                .to(at("2024-03-10T00:00:00Z"))
                .now(at("2024-03-10T00:00:00Z"))
                .format(format)
        };
        let first = ledger.sync(&client, &plan(Format::Json)).await.unwrap();
        assert!(first.deployments.iter().all(|d| d.lines_added > 0));

        for format in [Format::Json, Format::Csv, Format::Json, Format::Json] {
            let again = ledger.sync(&client, &plan(format)).await.unwrap();
            assert!(again.changed_nothing(), "{format:?}: {again:?}");
        }

        assert!(ledger.revisions(&Query::all()).await.unwrap().is_empty());
        for summary in &first.deployments {
            let served = sim
                .items_total(
                    "acme",
                    &summary.deployment,
                    at("2024-02-01T00:00:00Z"),
                    at("2024-03-10T00:00:00Z"),
                )
                .unwrap();
            assert_eq!(summary.total, served);
        }
    }
}

/// A simulator serving `o`/`d`, its clock at 2024-06-01.
async fn serving_o_d() -> ec_billing_sim::RunningSimulator {
    Simulator::new()
        .api_key(CANARY_KEY)
        .dataset(Dataset::empty().deployment("o", "d", 7))
        .now(at("2024-06-01T00:00:00Z"))
        .start()
        .await
        .unwrap()
}

/// January and February 2024 of `o`/`d` from `sim`, into a new ledger in `dir`.
async fn synced(
    dir: &TempDir,
    sim: &ec_billing_sim::RunningSimulator,
) -> (std::path::PathBuf, Ledger) {
    let path = dir.join("costs.db");
    let ledger = Ledger::open(&path).await.unwrap();
    ledger.sync(&client(sim), &two_months()).await.unwrap();
    (path, ledger)
}

fn two_months() -> SyncPlan {
    SyncPlan::new("o", ["d"])
        .from(at("2024-01-01T00:00:00Z"))
        .to(at("2024-03-01T00:00:00Z"))
        .now(at("2024-06-01T00:00:00Z"))
}

#[tokio::test]
async fn a_window_edited_by_hand_in_its_bounds_digest_or_values_is_named_then_repaired_without_revisions()
 {
    let sim = serving_o_d().await;
    let served = sim
        .items_total(
            "o",
            "d",
            at("2024-01-01T00:00:00Z"),
            at("2024-03-01T00:00:00Z"),
        )
        .unwrap();
    let january = at("2024-01-01T00:00:00Z").as_second();
    for (what, sql) in [
        (
            "its start moved",
            format!(
                "UPDATE windows SET window_start = window_start + 1 WHERE window_start = {january};
                 UPDATE lines SET window_start = window_start + 1 WHERE window_start = {january};"
            ),
        ),
        (
            "its end moved",
            format!(
                "UPDATE windows SET window_end = window_end + 86400 WHERE window_start = {january}"
            ),
        ),
        (
            "its end out of range",
            format!(
                "UPDATE windows SET window_end = 9223372036854775807 WHERE window_start = {january}"
            ),
        ),
        (
            "its digest replaced, two costs moved",
            format!(
                "UPDATE windows SET digest = 'legacy' WHERE window_start = {january};
                 UPDATE lines SET cost = '1000' WHERE window_start = {january} AND rowid IN
                     (SELECT rowid FROM lines WHERE window_start = {january} LIMIT 1);"
            ),
        ),
        (
            "a cost no decimal",
            format!("UPDATE lines SET cost = '1e5' WHERE window_start = {january}"),
        ),
        (
            "its final flag not a boolean",
            format!("UPDATE windows SET final = 'yes' WHERE window_start = {january}"),
        ),
        (
            "its record deleted",
            format!("DELETE FROM windows WHERE window_start = {january}"),
        ),
    ] {
        let dir = TempDir::new("edited-window");
        let (path, ledger) = synced(&dir, &sim).await;
        drop(ledger);
        let conn = rusqlite::Connection::open(&path).unwrap();
        // `lines` has no rowid: the digest case moves the first line's cost instead.
        let sql = sql.replace(
            &format!(
                " AND rowid IN\n                     (SELECT rowid FROM lines WHERE window_start = {january} LIMIT 1)"
            ),
            " AND ordinal = 0 AND line_type = 'resource'",
        );
        conn.execute_batch(&sql).unwrap();
        drop(conn);
        let ledger = Ledger::open(&path).await.unwrap();

        let mut out = Vec::new();
        let exported = ledger
            .export(&Query::all(), &Export::new(ExportFormat::Csv), &mut out)
            .await;
        let Err(err) = exported else {
            panic!("{what}: exported {exported:?}");
        };
        assert!(matches!(err, Error::Inconsistent(_)), "{what}: {err}");
        assert!(
            err.to_string().contains("2024-01-01T00:00:0"),
            "{what}: {err}"
        );
        assert!(out.is_empty(), "{what}");

        let report = ledger.sync(&client(&sim), &two_months()).await.unwrap();
        let summary = &report.deployments[0];
        assert_eq!(summary.revisions, 0, "{what}: {summary:?}");
        assert_eq!(summary.total, served, "{what}: {summary:?}");
        assert_eq!(ledger.total(&Query::all()).await.unwrap(), served, "{what}");
        assert!(ledger.revisions(&Query::all()).await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn a_ledger_whose_window_size_was_deleted_is_refused_not_taken_for_months() {
    let sim = serving_o_d().await;
    let dir = TempDir::new("no-size");
    let (path, ledger) = synced(&dir, &sim).await;
    drop(ledger);
    tamper(&path, "DELETE FROM meta WHERE key = 'window'");

    let err = Ledger::open(&path).await.unwrap_err();

    assert!(matches!(err, Error::NotALedger(_)), "{err}");
    assert!(err.to_string().contains("no window size"), "{err}");
}

#[tokio::test]
async fn a_window_cut_short_by_the_range_is_never_final_and_month_to_date_growth_is_no_revision() {
    for store in stores("cut-short").await {
        let _store = store.named_if_failing();
        let sim = Simulator::new()
            .api_key(CANARY_KEY)
            .dataset(Dataset::standard().with_revisions(SignedDuration::from_hours(72)))
            .now(at("2024-06-20T00:00:00Z"))
            .start()
            .await
            .unwrap();
        let ledger = Ledger::open(store.location()).await.unwrap();
        let client = client(&sim);
        // With no settle period at all, June to date is still provisional.
        let plan = SyncPlan::new("acme", ["prod"])
            .from(at("2024-05-01T00:00:00Z"))
            .now(at("2024-06-20T00:00:00Z"))
            .settle(SignedDuration::ZERO);
        ledger.sync(&client, &plan).await.unwrap();
        let windows = ledger.windows(&Query::all()).await.unwrap();
        assert!(windows[0].is_final, "May ended before the fetch");
        assert!(!windows[1].is_final, "June was cut short at the 20th");

        // A range reaching into the future: June fetched whole before its end.
        let ahead = SyncPlan::new("acme", ["prod"])
            .from(at("2024-06-01T00:00:00Z"))
            .to(at("2024-07-01T00:00:00Z"))
            .now(at("2024-06-20T00:00:00Z"));
        ledger.sync(&client, &ahead).await.unwrap();
        sim.set_now(at("2024-07-20T00:00:00Z"));
        let after = SyncPlan::new("acme", ["prod"])
            .from(at("2024-06-01T00:00:00Z"))
            .to(at("2024-07-01T00:00:00Z"))
            .now(at("2024-07-20T00:00:00Z"));
        let report = ledger.sync(&client, &after).await.unwrap();

        assert_eq!(
            report.deployments[0].revisions, 0,
            "the month grew: no revision"
        );
        assert!(report.deployments[0].lines_added > 0);
    }
}

#[tokio::test]
async fn an_export_whose_total_would_overflow_writes_nothing() {
    let dir = TempDir::new("export-overflow");
    let ledger = Ledger::open(dir.join("costs.db")).await.unwrap();
    let max = "79228162514264337593543950335";
    for (from, to) in [("2024-01-01", "2024-02-01"), ("2024-02-01", "2024-03-01")] {
        ledger
            .record(
                "o",
                "d",
                month(from, to),
                &answer(&[("data_out", max)]),
                at("2024-06-01T00:00:00Z"),
                SignedDuration::ZERO,
            )
            .await
            .unwrap();
    }
    for format in [ExportFormat::Json, ExportFormat::Csv, ExportFormat::Focus] {
        let mut out = Vec::new();
        let err = ledger
            .export(&Query::all(), &Export::new(format), &mut out)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Overflow(_)), "{format:?}: {err}");
        assert!(out.is_empty(), "{format:?}");
    }
}

#[tokio::test]
async fn a_dangling_link_or_a_path_ending_in_a_slash_is_refused() {
    let dir = TempDir::new("odd-paths");
    let link = dir.join("link.db");
    std::os::unix::fs::symlink(dir.join("nowhere.db"), &link).unwrap();
    let err = Ledger::open(&link).await.unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)), "{err}");
    assert!(!dir.join("nowhere.db").exists(), "nothing created");

    let slash = format!("{}/", dir.join("fresh.db").display());
    let err = Ledger::open(&slash).await.unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)), "{err}");
    assert!(!dir.join("fresh.db").exists(), "nothing created");
}

#[tokio::test]
async fn a_write_ahead_log_without_its_index_is_refused_by_a_reader_not_given_one() {
    let dir = TempDir::new("wal-no-shm");
    let (path, ledger) = january(&dir).await;
    drop(ledger);
    // A writer that has not folded its log in (as a killed sync leaves it)...
    let writer = rusqlite::Connection::open(&path).unwrap();
    writer
        .execute_batch(
            "PRAGMA wal_autocheckpoint = 0; INSERT INTO meta (key, value) VALUES ('note', 'x');",
        )
        .unwrap();
    // ...copied without its index.
    let copy = TempDir::new("wal-no-shm-copy");
    std::fs::copy(&path, copy.join("costs.db")).unwrap();
    std::fs::copy(format!("{}-wal", path.display()), copy.join("costs.db-wal")).unwrap();
    drop(writer);
    assert!(
        std::fs::metadata(copy.join("costs.db-wal")).unwrap().len() > 0,
        "the copy has a log"
    );

    let err = Ledger::open_read_only(copy.join("costs.db"))
        .await
        .unwrap_err();

    assert!(err.to_string().contains("-shm"), "{err}");
    assert!(!copy.join("costs.db-shm").exists());
}

#[tokio::test]
async fn a_schema_version_set_back_by_hand_migrates_again_without_failing() {
    let dir = TempDir::new("version-back");
    let (path, ledger) = january(&dir).await;
    drop(ledger);
    tamper(&path, "PRAGMA user_version = 2");

    let ledger = Ledger::open(&path).await.unwrap();

    assert_eq!(
        ledger.total(&Query::all()).await.unwrap(),
        "7.75".parse::<Decimal>().unwrap()
    );
}

#[tokio::test]
async fn a_nul_character_from_the_server_is_refused_naming_the_line_on_either_store() {
    for store in stores("nul").await {
        let _store = store.named_if_failing();
        let ledger = Ledger::open(store.location()).await.unwrap();
        let err = ledger
            .record(
                "o",
                "d",
                month("2024-01-01", "2024-02-01"),
                &answer(&[("data\u{0}out", "1")]),
                at("2024-06-01T00:00:00Z"),
                SignedDuration::ZERO,
            )
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Answer(_)), "{err}");
        assert!(err.to_string().contains("NUL"), "{err}");
    }
}

#[tokio::test]
async fn a_focus_1_3_export_adds_its_provider_columns_and_keeps_the_rest() {
    let dir = TempDir::new("focus-1-3");
    let (_path, ledger) = january(&dir).await;
    let read = |bytes: Vec<u8>| {
        let mut reader = csv::Reader::from_reader(bytes.as_slice());
        let header: Vec<String> = reader
            .headers()
            .unwrap()
            .iter()
            .map(str::to_string)
            .collect();
        let rows: Vec<Vec<String>> = reader
            .records()
            .map(|r| r.unwrap().iter().map(str::to_string).collect())
            .collect();
        (header, rows)
    };
    let mut v12 = Vec::new();
    ledger
        .export(&Query::all(), &Export::new(ExportFormat::Focus), &mut v12)
        .await
        .unwrap();
    let mut v13 = Vec::new();
    let export =
        Export::new(ExportFormat::Focus).focus_version(ec_billing_ledger::FocusVersion::V1_3);
    ledger
        .export(&Query::all(), &export, &mut v13)
        .await
        .unwrap();
    let ((h12, r12), (h13, r13)) = (read(v12), read(v13));

    assert_eq!(h12, ec_billing_ledger::FOCUS_COLUMNS);
    assert_eq!(h13, ec_billing_ledger::FocusVersion::V1_3.columns());
    assert_eq!(h13.len(), h12.len() + 2);
    for (row12, row13) in r12.iter().zip(&r13) {
        for (column, value) in h13.iter().zip(row13) {
            match h12.iter().position(|c| c == column) {
                Some(at) => assert_eq!(&row12[at], value, "{column}"),
                None => assert_eq!(value, "Elastic", "{column}"),
            }
        }
        let sku_price = h13.iter().position(|c| c == "SkuPriceId").unwrap();
        assert!(
            !row13[sku_price].is_empty(),
            "every usage row has a SkuPriceId"
        );
    }
}

#[tokio::test]
async fn a_sum_that_would_be_rounded_is_refused_not_printed_rounded() {
    let dir = TempDir::new("rounded-sum");
    let ledger = Ledger::open(dir.join("costs.db")).await.unwrap();
    // Each window exact on its own; their sum, 40000000000000000000000000001.5, has more
    // digits than a decimal holds (a plain addition would give ...0002).
    for ((from, to), cost) in [
        (
            ("2024-01-01", "2024-02-01"),
            "40000000000000000000000000000",
        ),
        (("2024-02-01", "2024-03-01"), "1.5"),
    ] {
        ledger
            .record(
                "o",
                "d",
                month(from, to),
                &answer(&[("data_out", cost)]),
                at("2024-06-01T00:00:00Z"),
                SignedDuration::ZERO,
            )
            .await
            .unwrap();
    }
    let err = ledger.total(&Query::all()).await.unwrap_err();
    assert!(matches!(err, Error::Overflow(_)), "{err}");
    for format in [ExportFormat::Json, ExportFormat::Csv, ExportFormat::Focus] {
        let mut out = Vec::new();
        let err = ledger
            .export(&Query::all(), &Export::new(format), &mut out)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Overflow(_)), "{format:?}: {err}");
        assert!(out.is_empty(), "{format:?}: nothing written");
    }
    // One answer whose lines add up only when rounded is refused when it is fetched.
    let rounded = ledger
        .record(
            "o",
            "e",
            month("2024-01-01", "2024-02-01"),
            &answer(&[
                ("data_out", "40000000000000000000000000000"),
                ("data_in", "1.5"),
            ]),
            at("2024-06-01T00:00:00Z"),
            SignedDuration::ZERO,
        )
        .await;
    assert!(rounded.is_err(), "{rounded:?}");
}
