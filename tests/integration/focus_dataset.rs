//! The FOCUS dataset: one folder per billing period and a manifest; its Parquet read
//! back holds every row and every amount of the CSV export, exactly; a re-export
//! rewrites only the periods whose rows changed.

use std::collections::BTreeMap;

use ec_billing::Decimal;
use ec_billing_ledger::{DatasetFormat, Export, ExportFormat, Ledger, MANIFEST, Query, SyncPlan};
use parquet::{
    file::reader::{FileReader, SerializedFileReader},
    record::Field,
};

use crate::{
    ledger::{answer, at, client, month, revising_simulator},
    support::TempDir,
};

/// A FOCUS decimal as the CSV export writes it.
fn focus_text(amount: Decimal) -> String {
    let text = amount.normalize().to_string();
    if text.contains('.') {
        text
    } else {
        format!("{text}.0")
    }
}

/// The rows of a dataset's Parquet file, each cell as the CSV export writes it.
fn parquet_rows(path: &std::path::Path) -> Vec<Vec<String>> {
    let reader = SerializedFileReader::new(std::fs::File::open(path).unwrap()).unwrap();
    reader
        .get_row_iter(None)
        .unwrap()
        .map(|row| {
            row.unwrap()
                .get_column_iter()
                .map(|(_, field)| match field {
                    Field::Null => String::new(),
                    Field::Str(text) => text.clone(),
                    Field::TimestampMicros(micros) => jiff::Timestamp::from_microsecond(*micros)
                        .unwrap()
                        .to_string(),
                    Field::Decimal(decimal) => {
                        // Big-endian two's complement of 4, 8 or 16 bytes (INT32, INT64
                        // or FIXED_LEN_BYTE_ARRAY), sign-extended.
                        let data = decimal.data();
                        let fill = if data.first().is_some_and(|b| b & 0x80 != 0) {
                            0xff
                        } else {
                            0
                        };
                        let mut bytes = [fill; 16];
                        bytes[16 - data.len()..].copy_from_slice(data);
                        let unscaled = i128::from_be_bytes(bytes);
                        let scale = u32::try_from(decimal.scale()).unwrap();
                        focus_text(Decimal::try_from_i128_with_scale(unscaled, scale).unwrap())
                    }
                    other => panic!("an unexpected field {other:?}"),
                })
                .collect()
        })
        .collect()
}

fn csv_rows(bytes: &[u8]) -> (Vec<String>, Vec<Vec<String>>) {
    let mut reader = csv::Reader::from_reader(bytes);
    let header = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_string)
        .collect();
    let rows = reader
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect();
    (header, rows)
}

/// Every file of `dir`, by path, with its bytes.
fn files(dir: &std::path::Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(folder) = stack.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.file_name().is_some_and(|n| n == ".ec-billing.lock") {
                // The export's lock, held while it writes.
            } else {
                let name = path.strip_prefix(dir).unwrap().display().to_string();
                out.insert(name, std::fs::read(&path).unwrap());
            }
        }
    }
    out
}

#[tokio::test]
async fn a_parquet_dataset_holds_every_row_and_amount_of_the_csv_export_and_rewrites_only_what_changed()
 {
    let sim = revising_simulator().await;
    let dir = TempDir::new("dataset");
    let ledger = Ledger::open(dir.join("costs.db")).await.unwrap();
    let client = client(&sim);
    let plan = |now: &str| {
        SyncPlan::new("acme", ["prod", "staging"])
            .from(at("2024-01-01T00:00:00Z"))
            .to(at("2024-03-01T00:00:00Z"))
            .now(at(now))
    };
    ledger
        .sync(&client, &plan("2024-03-10T00:00:00Z"))
        .await
        .unwrap();
    let export = Export::new(ExportFormat::Focus);
    let mut csv_out = Vec::new();
    ledger
        .export(&Query::all(), &export, &mut csv_out)
        .await
        .unwrap();
    let (header, mut expected) = csv_rows(&csv_out);

    let out = dir.join("focus");
    let summary = ledger
        .export_dataset(&Query::all(), &export, &out, DatasetFormat::Parquet)
        .await
        .unwrap();

    assert_eq!((summary.periods, summary.rewritten), (2, 2));
    let before = files(&out);
    let names: Vec<&String> = before.keys().collect();
    assert_eq!(
        names,
        [
            "BILLING_PERIOD=2024-01/part-0.parquet",
            "BILLING_PERIOD=2024-02/part-0.parquet",
            "manifest.json"
        ]
    );
    let mut read = Vec::new();
    for name in names.iter().filter(|n| n.ends_with(".parquet")) {
        read.extend(parquet_rows(&out.join(name)));
    }
    expected.sort();
    read.sort();
    assert_eq!(read.len(), expected.len());
    assert!(
        read == expected,
        "the Parquet rows are the CSV export's, exactly"
    );
    let manifest: serde_json::Value = serde_json::from_slice(&before["manifest.json"]).unwrap();
    assert_eq!(manifest["focus_version"], "1.2");
    assert_eq!(manifest["columns"].as_array().unwrap().len(), header.len());
    assert_eq!(manifest["columns"][1]["type"], "decimal");
    assert_eq!(
        manifest["files"][0]["rows"].as_u64().unwrap()
            + manifest["files"][1]["rows"].as_u64().unwrap(),
        expected.len() as u64
    );

    // Nothing changed: nothing rewritten, every byte as it was.
    let again = ledger
        .export_dataset(&Query::all(), &export, &out, DatasetFormat::Parquet)
        .await
        .unwrap();
    assert_eq!(again.rewritten, 0);
    assert_eq!(files(&out), before);

    // February revised upstream: only its period is rewritten.
    sim.set_now(at("2024-03-20T00:00:00Z"));
    ledger
        .sync(&client, &plan("2024-03-20T00:00:00Z"))
        .await
        .unwrap();
    let revised = ledger
        .export_dataset(&Query::all(), &export, &out, DatasetFormat::Parquet)
        .await
        .unwrap();
    assert_eq!(revised.rewritten, 1);
    let after = files(&out);
    assert_eq!(
        after["BILLING_PERIOD=2024-01/part-0.parquet"],
        before["BILLING_PERIOD=2024-01/part-0.parquet"]
    );
    assert_ne!(
        after["BILLING_PERIOD=2024-02/part-0.parquet"],
        before["BILLING_PERIOD=2024-02/part-0.parquet"]
    );

    // An export of February alone into the same folder leaves January as it is, and
    // named in the manifest.
    let february = Query::all()
        .from(at("2024-02-01T00:00:00Z"))
        .to(at("2024-03-01T00:00:00Z"));
    ledger
        .export_dataset(&february, &export, &out, DatasetFormat::Parquet)
        .await
        .unwrap();
    let partial = files(&out);
    assert_eq!(
        partial["BILLING_PERIOD=2024-01/part-0.parquet"],
        before["BILLING_PERIOD=2024-01/part-0.parquet"]
    );
    let manifest: serde_json::Value = serde_json::from_slice(&partial["manifest.json"]).unwrap();
    assert_eq!(manifest["files"].as_array().unwrap().len(), 2);

    // The same dataset as CSV: the export's rows, split by period.
    let csv_dir = dir.join("focus-csv");
    ledger
        .export_dataset(&Query::all(), &export, &csv_dir, DatasetFormat::Csv)
        .await
        .unwrap();
    let mut split = Vec::new();
    for (name, bytes) in files(&csv_dir) {
        if name.ends_with(".csv") {
            let (file_header, rows) = csv_rows(&bytes);
            assert_eq!(file_header, header);
            split.extend(rows);
        }
    }
    let mut csv_now = Vec::new();
    ledger
        .export(&Query::all(), &export, &mut csv_now)
        .await
        .unwrap();
    let (_, mut whole) = csv_rows(&csv_now);
    whole.sort();
    split.sort();
    assert!(split == whole);
}

#[tokio::test]
async fn amounts_of_every_width_read_back_from_parquet_exactly_as_the_csv_export_writes_them() {
    let dir = TempDir::new("dataset-widths");
    let ledger = Ledger::open(dir.join("costs.db")).await.unwrap();
    // Small amounts (INT32), larger ones (INT64) and ones of more than 18 digits
    // (16 bytes), one per deployment so that each period's columns take a width.
    let months = [
        ("2024-01-01", "2024-02-01", "0.25"),
        ("2024-02-01", "2024-03-01", "123456789.123456"),
        ("2024-03-01", "2024-04-01", "-98765432109876.5432109876"),
    ];
    for (from, to, cost) in months {
        ledger
            .record(
                "o",
                "d",
                month(from, to),
                &answer(&[("data_out", cost), ("data_in", "0.5")]),
                at("2024-06-01T00:00:00Z"),
                jiff::SignedDuration::ZERO,
            )
            .await
            .unwrap();
    }
    let export = Export::new(ExportFormat::Focus);
    let mut csv_out = Vec::new();
    ledger
        .export(&Query::all(), &export, &mut csv_out)
        .await
        .unwrap();
    let (_, expected) = csv_rows(&csv_out);
    let out = dir.join("focus");
    ledger
        .export_dataset(&Query::all(), &export, &out, DatasetFormat::Parquet)
        .await
        .unwrap();
    let mut read = Vec::new();
    for period in ["2024-01", "2024-02", "2024-03"] {
        read.extend(parquet_rows(
            &out.join(format!("BILLING_PERIOD={period}/part-0.parquet")),
        ));
    }
    assert_eq!(read, expected);
    assert!(
        expected
            .iter()
            .flatten()
            .any(|cell| cell == "-98765432109876.5432109876"),
        "the widest amount is there"
    );
}

#[tokio::test]
async fn a_dataset_never_follows_a_planted_link_nor_believes_an_old_manifest() {
    let dir = TempDir::new("dataset-hostile");
    let ledger = Ledger::open(dir.join("costs.db")).await.unwrap();
    ledger
        .record(
            "o",
            "d",
            month("2024-01-01", "2024-02-01"),
            &answer(&[("data_out", "0.25")]),
            at("2024-06-01T00:00:00Z"),
            jiff::SignedDuration::ZERO,
        )
        .await
        .unwrap();
    let export = Export::new(ExportFormat::Focus);
    let out = dir.join("focus");
    std::fs::create_dir_all(&out).unwrap();
    // An old manifest that names files outside the dataset, with made-up digests.
    std::fs::write(
        out.join(MANIFEST),
        r#"{"focus_version":"1.2","file_format":"parquet","files":[
            {"billing_period":"1999-01","path":"../../../etc/passwd","rows":1,"bytes":1,"sha256":"x"},
            {"billing_period":"1999-02","path":"/etc/hostname","rows":1,"bytes":1,"sha256":"x"}]}"#,
    )
    .unwrap();
    ledger
        .export_dataset(&Query::all(), &export, &out, DatasetFormat::Parquet)
        .await
        .unwrap();
    let manifest = std::fs::read_to_string(out.join(MANIFEST)).unwrap();
    assert!(!manifest.contains("etc/"), "{manifest}");
    assert!(manifest.contains("BILLING_PERIOD=2024-01/part-0.parquet"));

    // A period's folder replaced by a link to a folder outside: refused, nothing
    // written there.
    let outside = dir.join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::remove_dir_all(out.join("BILLING_PERIOD=2024-01")).unwrap();
    std::os::unix::fs::symlink(&outside, out.join("BILLING_PERIOD=2024-01")).unwrap();
    let err = ledger
        .export_dataset(&Query::all(), &export, &out, DatasetFormat::Parquet)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("not what a dataset holds"),
        "{err}"
    );
    assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
}

#[tokio::test]
async fn a_second_export_into_a_dataset_being_written_is_refused() {
    let dir = TempDir::new("dataset-locked");
    let ledger = Ledger::open(dir.join("costs.db")).await.unwrap();
    ledger
        .record(
            "o",
            "d",
            month("2024-01-01", "2024-02-01"),
            &answer(&[("data_out", "0.25")]),
            at("2024-06-01T00:00:00Z"),
            jiff::SignedDuration::ZERO,
        )
        .await
        .unwrap();
    let out = dir.join("focus");
    let export = Export::new(ExportFormat::Focus);
    ledger
        .export_dataset(&Query::all(), &export, &out, DatasetFormat::Parquet)
        .await
        .unwrap();
    // Another export holds the folder's lock.
    let held = std::fs::File::open(out.join(".ec-billing.lock")).unwrap();
    held.lock().unwrap();
    let err = ledger
        .export_dataset(&Query::all(), &export, &out, DatasetFormat::Parquet)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("another export"), "{err}");
    drop(held);
    ledger
        .export_dataset(&Query::all(), &export, &out, DatasetFormat::Parquet)
        .await
        .unwrap();
}
