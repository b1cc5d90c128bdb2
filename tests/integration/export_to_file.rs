//! `Ledger::export_to_file` and the one-pass reads that take their
//! lines' hashes from SQLite's thread. A tampered ledger (a line in a later chunk of a
//! large window, a window whose lines come out of order, the window's record) must end
//! every read with `Error::Inconsistent`, and an export to a file must leave its target
//! as it was with nothing beside it, on either store and in every format.

use ec_billing_ledger::{DatasetFormat, Error, Export, ExportFormat, Ledger, Query};
use jiff::SignedDuration;

use crate::{
    ledger::{at, month},
    ledger_streaming::many_lines,
    support::{TempDir, TestStore, connect_postgres, stores},
};

/// How many lines the large window has: three chunks of a scan (2048 each).
const MANY: usize = 5000;

/// Resource lines whose periods sort otherwise as text than in time: a window whose
/// lines a one-pass read gives out of the export's order (the file is then made again
/// in two passes).
fn unordered() -> ec_billing::Items {
    let periods = [
        ("2024-01-01T00:00:00.5Z", "2024-01-01T00:00:01Z"),
        ("2024-01-01T00:00:00Z", "2024-01-01T00:00:00.5Z"),
        ("2024-01-01T00:00:01Z", "2024-01-02T00:00:00Z"),
    ];
    let lines: Vec<String> = periods
        .iter()
        .map(|(start, end)| {
            format!(
                r#"{{"price":1,"hours":1,"instance_count":1,"kind":"elasticsearch","name":"n","period":{{"start":"{start}","end":"{end}"}},"price_per_hour":1,"sku":"s"}}"#
            )
        })
        .collect();
    let json = format!(
        r#"{{"costs":{{"total":{},"dimensions":[]}},"data_transfer_and_storage":[],"resources":[{}]}}"#,
        periods.len(),
        lines.join(",")
    );
    ec_billing::Items::from_json(json.as_bytes()).unwrap()
}

/// A ledger with, in scan order: `o`/`a`, a window out of order; `o`/`d`, a window of
/// [`MANY`] lines; `o`/`z`, a window out of order again.
async fn filled(store: &TestStore) -> Ledger {
    let ledger = Ledger::open(store.location()).await.unwrap();
    for (deployment, items) in [
        ("a", unordered()),
        ("d", many_lines(MANY)),
        ("z", unordered()),
    ] {
        ledger
            .record(
                "o",
                deployment,
                month("2024-01-01", "2024-02-01"),
                &items,
                at("2024-06-01T00:00:00Z"),
                SignedDuration::ZERO,
            )
            .await
            .unwrap();
    }
    ledger
}

/// Runs `sql` on the store (`{s}` is the tables' schema), as someone editing it by hand.
async fn edit(store: &TestStore, sql: &str) {
    match store {
        TestStore::Sqlite(_) => {
            let conn = rusqlite::Connection::open(store.location()).unwrap();
            conn.execute_batch(&sql.replace("{s}", "")).unwrap();
        }
        TestStore::Postgres(db) => {
            let client = connect_postgres(&db.url).await;
            client
                .batch_execute(&sql.replace("{s}", "ec_billing."))
                .await
                .unwrap();
        }
    }
}

/// The one text `sql` selects (`{s}` as in [`edit`]).
async fn one_text(store: &TestStore, sql: &str) -> String {
    match store {
        TestStore::Sqlite(_) => {
            let conn = rusqlite::Connection::open(store.location()).unwrap();
            conn.query_row(&sql.replace("{s}", ""), [], |row| row.get(0))
                .unwrap()
        }
        TestStore::Postgres(db) => {
            let client = connect_postgres(&db.url).await;
            client
                .query_one(&sql.replace("{s}", "ec_billing."), &[])
                .await
                .unwrap()
                .get(0)
        }
    }
}

/// The edits, each by hand, each one alone enough to fail every read.
async fn tamper(store: &TestStore, case: &str) {
    let line = |sku: &str| format!("deployment = 'd' AND sku = '{sku}'");
    match case {
        // The digest alone tells these: same count, same sum.
        "a name in the third chunk" => {
            edit(
                store,
                &format!(
                    "UPDATE {{s}}lines SET name = 'm' WHERE {}",
                    line("sku-04500")
                ),
            )
            .await;
        }
        "a name in the second chunk" => {
            edit(
                store,
                &format!(
                    "UPDATE {{s}}lines SET name = 'm' WHERE {}",
                    line("sku-02049")
                ),
            )
            .await;
        }
        "a formatted rate in the last line" => {
            edit(
                store,
                &format!(
                    "UPDATE {{s}}lines SET rate_formatted = 'free' WHERE {}",
                    line(&format!("sku-{:05}", MANY - 1))
                ),
            )
            .await;
        }
        "two costs swapped across chunks" => {
            let cost = |sku: String| async move {
                one_text(
                    store,
                    &format!("SELECT CAST(cost AS TEXT) FROM {{s}}lines WHERE {sku}"),
                )
                .await
            };
            let (first, last) = (cost(line("sku-00100")).await, cost(line("sku-04500")).await);
            assert_ne!(first, last);
            edit(
                store,
                &format!(
                    "UPDATE {{s}}lines SET cost = '{last}' WHERE {};
                     UPDATE {{s}}lines SET cost = '{first}' WHERE {};",
                    line("sku-00100"),
                    line("sku-04500")
                ),
            )
            .await;
        }
        "a line's period moved in the out-of-order window" => {
            edit(
                store,
                "UPDATE {s}lines SET hours = 2 WHERE deployment = 'z' AND period_start = \
                 (SELECT MIN(period_start) FROM {s}lines WHERE deployment = 'z')",
            )
            .await;
        }
        "the record's digest" => {
            let digest = one_text(
                store,
                "SELECT digest FROM {s}windows WHERE deployment = 'd'",
            )
            .await;
            let mut edited = digest.clone();
            let last = edited.pop().unwrap();
            edited.push(if last == '0' { '1' } else { '0' });
            edit(
                store,
                &format!("UPDATE {{s}}windows SET digest = '{edited}' WHERE deployment = 'd'"),
            )
            .await;
        }
        // The count tells these.
        "a line deleted in the third chunk" => {
            edit(
                store,
                &format!("DELETE FROM {{s}}lines WHERE {}", line("sku-04321")),
            )
            .await;
        }
        "the record's line count" => {
            edit(
                store,
                "UPDATE {s}windows SET lines = lines + 1 WHERE deployment = 'd'",
            )
            .await;
        }
        other => panic!("no such case: {other}"),
    }
}

const CASES: [&str; 8] = [
    "a name in the third chunk",
    "a name in the second chunk",
    "a formatted rate in the last line",
    "two costs swapped across chunks",
    "a line's period moved in the out-of-order window",
    "the record's digest",
    "a line deleted in the third chunk",
    "the record's line count",
];

/// The names in `dir`, sorted (the ledger's own files aside).
fn names(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| !name.starts_with("costs.db"))
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn every_tampered_ledger_fails_every_one_pass_read_and_leaves_the_file() {
    for case in CASES {
        for store in stores("tamper-one-pass").await {
            let _store = store.named_if_failing();
            let ledger = filled(&store).await;
            // Untampered, every read works (and the file needs the two-pass redo).
            let out_dir = TempDir::new("tamper-one-pass-out");
            let out = out_dir.join("export.csv");
            let whole = ledger
                .export_to_file(&Query::all(), &Export::new(ExportFormat::Focus), &out)
                .await
                .unwrap();
            assert_eq!(whole.lines, MANY as u64 + 6);
            std::fs::write(&out, "keep me").unwrap();
            let before = names(&out_dir.join(""));
            drop(ledger);

            tamper(&store, case).await;
            let ledger = Ledger::open_read_only(store.location()).await.unwrap();
            let what = |err: &Error| format!("{} / {case}: {err}", store.engine());
            for format in [ExportFormat::Focus, ExportFormat::Csv, ExportFormat::Json] {
                let err = ledger
                    .export_to_file(&Query::all(), &Export::new(format), &out)
                    .await
                    .unwrap_err();
                assert!(
                    matches!(err, Error::Inconsistent(_)),
                    "{format:?}: {}",
                    what(&err)
                );
                assert_eq!(std::fs::read_to_string(&out).unwrap(), "keep me", "{case}");
                assert_eq!(names(&out_dir.join("")), before, "{case}: nothing beside");

                let mut streamed = Vec::new();
                let err = ledger
                    .export(&Query::all(), &Export::new(format), &mut streamed)
                    .await
                    .unwrap_err();
                assert!(
                    matches!(err, Error::Inconsistent(_)),
                    "stream: {}",
                    what(&err)
                );
                assert!(
                    streamed.is_empty(),
                    "{case}: a stream that fails writes nothing"
                );
            }
            let err = ledger.total(&Query::all()).await.unwrap_err();
            assert!(
                matches!(err, Error::Inconsistent(_)),
                "total: {}",
                what(&err)
            );
            let err = ledger.lines(&Query::all()).await.unwrap_err();
            assert!(
                matches!(err, Error::Inconsistent(_)),
                "lines: {}",
                what(&err)
            );
            for format in [DatasetFormat::Csv, DatasetFormat::Parquet] {
                let err = ledger
                    .export_dataset(
                        &Query::all(),
                        &Export::new(ExportFormat::Focus),
                        &out_dir.join("dataset"),
                        format,
                    )
                    .await
                    .unwrap_err();
                assert!(
                    matches!(err, Error::Inconsistent(_)),
                    "dataset: {}",
                    what(&err)
                );
            }
        }
    }
}

/// Exports to one target at once: each succeeds, the file is one whole export, and
/// nothing is left beside it.
#[tokio::test]
async fn exports_to_one_file_at_once_leave_one_whole_export() {
    let dir = TempDir::new("export-at-once");
    let path = dir.join("costs.db");
    let ledger = Ledger::open(&path).await.unwrap();
    ledger
        .record(
            "o",
            "d",
            month("2024-01-01", "2024-02-01"),
            &many_lines(MANY),
            at("2024-06-01T00:00:00Z"),
            SignedDuration::ZERO,
        )
        .await
        .unwrap();
    let out = dir.join("out.csv");
    let mut streams = Vec::new();
    for format in [ExportFormat::Csv, ExportFormat::Json] {
        let mut bytes = Vec::new();
        ledger
            .export(&Query::all(), &Export::new(format), &mut bytes)
            .await
            .unwrap();
        streams.push(bytes);
    }
    let ledger = std::sync::Arc::new(ledger);
    let mut tasks = Vec::new();
    for i in 0..8 {
        let (ledger, out) = (ledger.clone(), out.clone());
        let format = if i % 2 == 0 {
            ExportFormat::Csv
        } else {
            ExportFormat::Json
        };
        tasks.push(tokio::spawn(async move {
            ledger
                .export_to_file(&Query::all(), &Export::new(format), &out)
                .await
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let written = std::fs::read(&out).unwrap();
    assert!(streams.contains(&written), "one whole export");
    assert_eq!(names(&dir.join("")), ["out.csv"]);
}

/// Odd targets: each refused or failed with an error, never a panic, nothing left
/// beside, the ledger whole.
#[tokio::test]
async fn odd_targets_are_refused_or_fail_cleanly() {
    let dir = TempDir::new("export-odd-targets");
    let path = dir.join("costs.db");
    let ledger = Ledger::open(&path).await.unwrap();
    ledger
        .record(
            "o",
            "d",
            month("2024-01-01", "2024-02-01"),
            &many_lines(10),
            at("2024-06-01T00:00:00Z"),
            SignedDuration::ZERO,
        )
        .await
        .unwrap();
    let export = Export::new(ExportFormat::Csv);
    // A hard link to the ledger: replaced as a name, the ledger kept.
    let hard = dir.join("hard.csv");
    std::fs::hard_link(&path, &hard).unwrap();
    ledger
        .export_to_file(&Query::all(), &export, &hard)
        .await
        .unwrap();
    assert_eq!(ledger.lines(&Query::all()).await.unwrap().len(), 10);
    // Planted links at every part name this process could pick are never followed:
    // the part file is created new.
    let victim = dir.join("victim");
    std::fs::write(&victim, "keep me").unwrap();
    for target in [
        dir.join("missing/out.csv"),
        dir.join(""),
        dir.join("x/.."),
        dir.join("hard.csv/"),
        std::path::PathBuf::from(""),
        std::path::PathBuf::from("/"),
    ] {
        let result = ledger.export_to_file(&Query::all(), &export, &target).await;
        assert!(result.is_err(), "{}: {result:?}", target.display());
    }
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
    let mut left = names(&dir.join(""));
    left.retain(|n| n.ends_with(".part"));
    assert!(left.is_empty(), "{left:?}");
    assert_eq!(ledger.lines(&Query::all()).await.unwrap().len(), 10);
}
