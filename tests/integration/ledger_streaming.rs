//! Reading the ledger back a chunk at a time: a window of many thousand lines is read
//! without holding it whole, and comes out whole and in order; lines whose periods
//! sort one way as text and another in time still export in time order, the same
//! bytes from either store, to a stream or to a file.

use ec_billing::Decimal;
use ec_billing_ledger::{DatasetFormat, Export, ExportFormat, Ledger, Query};
use jiff::SignedDuration;

use crate::{
    ledger::{at, month},
    support::stores,
};

/// An answer of `count` DTS lines of one usage type, each of its own SKU and cost.
pub(crate) fn many_lines(count: usize) -> ec_billing::Items {
    let dts: Vec<String> = (0..count)
        .map(|i| {
            format!(
                r#"{{"cost":0.{i:04},"name":"n","quantity":{{"value":1,"formatted_value":"1 GB"}},"rate":{{"value":0.{i:04},"formatted_value":"0.{i:04} per GB"}},"sku":"sku-{i:05}","type":"data_out"}}"#
            )
        })
        .collect();
    let total: Decimal = (0..count)
        .map(|i| format!("0.{i:04}").parse::<Decimal>().unwrap())
        .sum();
    let json = format!(
        r#"{{"costs":{{"total":{total},"dimensions":[]}},"data_transfer_and_storage":[{}],"resources":[]}}"#,
        dts.join(",")
    );
    ec_billing::Items::from_json(json.as_bytes()).unwrap()
}

/// An answer of resource lines of one kind, SKU and name, one per period.
fn periods(periods: &[(&str, &str)]) -> ec_billing::Items {
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

/// The export to a stream; the export to a file (one pass where the windows allow) is
/// checked to be the same bytes, with nothing left beside it.
async fn export(ledger: &Ledger, format: ExportFormat) -> Vec<u8> {
    let mut out = Vec::new();
    let streamed = ledger
        .export(&Query::all(), &Export::new(format), &mut out)
        .await
        .unwrap();
    let dir = crate::support::TempDir::new("export-to-file");
    let path = dir.join("export");
    let written = ledger
        .export_to_file(&Query::all(), &Export::new(format), &path)
        .await
        .unwrap();
    assert_eq!(written, streamed);
    assert!(
        std::fs::read(&path).unwrap() == out,
        "the file is the stream's bytes"
    );
    let beside = std::fs::read_dir(path.parent().unwrap()).unwrap().count();
    assert_eq!(beside, 1, "nothing left beside it");
    out
}

#[tokio::test]
async fn a_window_of_many_thousand_lines_exports_whole_and_in_order_from_either_store() {
    let mut exports = Vec::new();
    for store in stores("many-lines").await {
        let _store = store.named_if_failing();
        let ledger = Ledger::open(store.location()).await.unwrap();
        let items = many_lines(9_999);
        ledger
            .record(
                "o",
                "d",
                month("2024-01-01", "2024-02-01"),
                &items,
                at("2024-06-01T00:00:00Z"),
                SignedDuration::ZERO,
            )
            .await
            .unwrap();
        let lines = ledger.lines(&Query::all()).await.unwrap();
        assert_eq!(lines.len(), 9_999);
        let skus: Vec<&str> = lines.iter().map(|l| l.key.sku.as_str()).collect();
        let mut sorted = skus.clone();
        sorted.sort_unstable();
        assert_eq!(skus, sorted, "lines come in key order");
        assert_eq!(
            ledger.total(&Query::all()).await.unwrap(),
            items.costs.total
        );
        let csv = export(&ledger, ExportFormat::Csv).await;
        let mut reader = csv::Reader::from_reader(csv.as_slice());
        let exported: Vec<String> = reader
            .records()
            .map(|r| r.unwrap()[7].to_string())
            .collect();
        assert_eq!(exported, sorted, "the export has every line, in order");
        exports.push((export(&ledger, ExportFormat::Focus).await, csv));
    }
    assert!(
        exports.windows(2).all(|pair| pair[0] == pair[1]),
        "both stores export the same bytes"
    );
}

#[tokio::test]
async fn lines_whose_periods_sort_otherwise_as_text_export_in_time_order_on_either_store() {
    let mut exports = Vec::new();
    for store in stores("sub-second").await {
        let _store = store.named_if_failing();
        let ledger = Ledger::open(store.location()).await.unwrap();
        // As text, `…00:00.5Z` sorts before `…00:00Z` (`.` is below `Z`); in time it
        // is half a second after.
        let items = periods(&[
            ("2024-01-01T00:00:00.5Z", "2024-01-01T00:00:01Z"),
            ("2024-01-01T00:00:00Z", "2024-01-01T00:00:00.5Z"),
            ("2024-01-01T00:00:01Z", "2024-01-02T00:00:00Z"),
        ]);
        ledger
            .record(
                "o",
                "d",
                month("2024-01-01", "2024-02-01"),
                &items,
                at("2024-06-01T00:00:00Z"),
                SignedDuration::ZERO,
            )
            .await
            .unwrap();
        let starts: Vec<String> = ledger
            .lines(&Query::all())
            .await
            .unwrap()
            .iter()
            .map(|l| l.key.period_start.to_string())
            .collect();
        assert_eq!(
            starts,
            [
                "2024-01-01T00:00:00Z",
                "2024-01-01T00:00:00.5Z",
                "2024-01-01T00:00:01Z"
            ]
        );
        let csv = export(&ledger, ExportFormat::Csv).await;
        let mut reader = csv::Reader::from_reader(csv.as_slice());
        let exported: Vec<String> = reader
            .records()
            .map(|r| r.unwrap()[9].to_string())
            .collect();
        assert_eq!(exported, starts, "the export is in time order too");
        let focus = export(&ledger, ExportFormat::Focus).await;
        // The dataset's one period is the FOCUS export, byte for byte.
        let dir = crate::support::TempDir::new("sub-second-dataset");
        ledger
            .export_dataset(
                &Query::all(),
                &Export::new(ExportFormat::Focus),
                &dir.join("focus"),
                DatasetFormat::Csv,
            )
            .await
            .unwrap();
        let period = std::fs::read(dir.join("focus/BILLING_PERIOD=2024-01/part-0.csv")).unwrap();
        assert_eq!(
            period, focus,
            "the dataset's rows are in the export's order"
        );
        exports.push((csv, focus));
    }
    assert!(
        exports.windows(2).all(|pair| pair[0] == pair[1]),
        "both stores export the same bytes"
    );
}
