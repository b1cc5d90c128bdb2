//! Tests of the exports' pricing and FOCUS mapping.

use ec_billing::Decimal;
use jiff::Timestamp;

use super::{
    focus::focus_decimal,
    pricing::{LineValues, Pricing, SQRT_10, billing_period, dts_unit, exact_mul, pricing},
    *,
};
use crate::record::{LedgerLine, LineKey, LineType};

fn dts(raw: &str, formatted: &str, rate: &str, rate_formatted: &str, cost: &str) -> LedgerLine {
    let at: Timestamp = "2024-01-01T00:00:00Z".parse().unwrap();
    LedgerLine {
        organization: "o".into(),
        deployment: "d".into(),
        window: (at, at),
        provisional: false,
        key: LineKey {
            line_type: LineType::Dts,
            kind: "data_out".into(),
            sku: "s".into(),
            name: "n".into(),
            period_start: at,
            period_end: at,
            ordinal: 0,
        },
        hours: None,
        instance_count: None,
        price_per_hour: None,
        quantity: Some(raw.parse().unwrap()),
        quantity_formatted: Some(formatted.into()),
        rate: Some(rate.parse().unwrap()),
        rate_formatted: Some(rate_formatted.into()),
        cost: cost.parse().unwrap(),
    }
}

fn priced(line: &LedgerLine) -> std::result::Result<Pricing, String> {
    pricing(LineValues::from(line))
}

#[test]
fn a_dts_quantity_is_priced_in_the_unit_of_its_rate() {
    let bytes = priced(&dts(
        "1363900000000",
        "1,363.9 GB",
        "0.03",
        "0.03 per GB",
        "40.917",
    ))
    .unwrap();
    assert_eq!(bytes.quantity.to_string(), "1363.9");
    assert_eq!(bytes.unit, Ok("GB"));
    // A formatted quantity rounded for display still finds the unit's scale.
    let rounded = priced(&dts(
        "2668996666",
        "2,669 GB-month",
        "0.03",
        "0.03 per GB-month",
        "80.0699",
    ))
    .unwrap();
    assert_eq!(rounded.quantity.to_string(), "2668.996666");
    assert_eq!(rounded.unit, Ok("GB-Months"), "as FOCUS spells it");
    let requests = priced(&dts(
        "2602",
        "2,602 requests",
        "0.00005",
        "0.00005 per request",
        "0.1301",
    ))
    .unwrap();
    assert_eq!(requests.quantity.to_string(), "2602");
    assert_eq!(requests.unit, Ok("Requests"));
    // No rate text (a CSV answer): the usage type's unit.
    let bare = priced(&dts("5", "", "0", "", "0")).unwrap();
    assert_eq!(
        (bare.quantity.to_string(), bare.unit),
        ("5".to_string(), Ok("GB"))
    );
    // A unit the mapping cannot place is refused, not guessed.
    let widget = priced(&dts("5", "", "1", "1 per widget", "5"))
        .unwrap()
        .unit;
    assert!(widget.unwrap_err().contains("widget"));
    let mut unknown = dts("5", "", "0", "", "0");
    unknown.key.kind = "gpu_seconds".into();
    assert!(
        priced(&unknown)
            .unwrap()
            .unit
            .unwrap_err()
            .contains("gpu_seconds")
    );
    // A formatted quantity in another unit than the rate's: the cost decides.
    let terabytes = priced(&dts("1500000000000", "1.5 TB", "0.03", "0.03 per GB", "45")).unwrap();
    assert_eq!(terabytes.quantity.to_string(), "1500");
    let slash = priced(&dts(
        "1363900000000",
        "1,363.9 GB",
        "0.03",
        "0.03/GB",
        "40.917",
    ))
    .unwrap();
    assert_eq!(slash.unit, Ok("GB"));
    // Hostile figures: no panic, whatever the ratio.
    for (raw, formatted, rate, cost) in [
        ("1", "1000000000000000000000 GB", "1", "1"),
        (
            "79228162514264337593543950335",
            "0.0000000000000000000000000001 GB",
            "1",
            "0",
        ),
        (
            "1",
            "",
            "0.0000000000000000000000000001",
            "79228162514264337593543950335",
        ),
    ] {
        let _ = priced(&dts(raw, formatted, rate, "1 per GB", cost));
    }
}

#[test]
fn a_focus_decimal_keeps_every_digit_and_always_a_point() {
    let d = |t: &str| t.parse::<Decimal>().unwrap();
    assert_eq!(focus_decimal(d("72")), "72.0");
    assert_eq!(focus_decimal(d("0.023100")), "0.0231");
    assert_eq!(focus_decimal(d("-5.00")), "-5.0");
    assert_eq!(
        focus_decimal(d("0.0000000000000000000000000001")),
        "0.0000000000000000000000000001"
    );
}

#[test]
fn every_dts_unit_is_spelled_as_focus_spells_units() {
    for (rate, kind, unit) in [
        (Some("0.03 per GB"), "data_out", "GB"),
        (Some("0.03 per GB-day"), "storage_bytes", "GB-Days"),
        (Some("0.03 per GB-months"), "storage_bytes", "GB-Months"),
        (Some("0.03 per GB hour"), "storage_bytes", "GB-Hours"),
        (Some("0.0001 per API request"), "storage_api", "Requests"),
        (None, "data_internode", "GB"),
        (None, "storage_bytes", "GB-Months"),
        (None, "storage_api", "Requests"),
    ] {
        assert_eq!(dts_unit(kind, rate).unwrap(), unit, "{rate:?} {kind}");
    }
}

#[test]
fn a_product_is_exact_or_refused_never_rounded() {
    let d = |t: &str| t.parse::<Decimal>().unwrap();
    assert_eq!(
        exact_mul(d("0.1234567890123456789012345678"), d("744")),
        None
    );
    assert_eq!(exact_mul(d("0.68"), d("744")), Some(d("505.92")));
    assert_eq!(exact_mul(d("0.50"), d("0.20")), Some(d("0.1")));
    assert_eq!(
        exact_mul(d("79228162514264337593543950335"), d("2")),
        None,
        "an overflow is refused"
    );
    assert!(SQRT_10 > d("3.1622776601683793319") && SQRT_10 < d("3.1622776601683793320"));
}

#[test]
fn the_billing_period_is_the_calendar_month() {
    let (start, end) = billing_period("2024-02-17T05:00:00Z".parse().unwrap()).unwrap();
    assert_eq!(start.to_string(), "2024-02-01T00:00:00Z");
    assert_eq!(end.to_string(), "2024-03-01T00:00:00Z");
    assert_eq!(
        billing_period("9999-12-02T00:00:00Z".parse().unwrap()),
        None,
        "a month that ends past the time scale has no billing period"
    );
}

#[test]
fn an_export_format_reads_from_its_name() {
    for format in [ExportFormat::Focus, ExportFormat::Csv, ExportFormat::Json] {
        let name = match format {
            ExportFormat::Focus => "focus",
            ExportFormat::Csv => "csv",
            ExportFormat::Json => "json",
        };
        assert_eq!(name.parse::<ExportFormat>().unwrap(), format);
    }
    assert!("xlsx".parse::<ExportFormat>().is_err());
}

#[test]
fn a_focus_record_is_written_as_the_csv_crate_writes_it() {
    let fields = [
        "",
        "plain",
        "a,b",
        "say \"hi\"",
        "two\nlines",
        "carriage\rreturn",
        "",
        "é ü",
        " pad ",
    ];
    let mut ours = Vec::new();
    let mut csv = focus::FocusCsv::default();
    csv.header(&fields, &mut ours).unwrap();
    for field in fields {
        csv.cell(Cell::Text(field));
    }
    csv.end(&mut ours).unwrap();
    let mut theirs = ::csv::Writer::from_writer(Vec::new());
    theirs.write_record(fields).unwrap();
    theirs.write_record(fields).unwrap();
    assert_eq!(
        String::from_utf8(ours).unwrap(),
        String::from_utf8(theirs.into_inner().unwrap()).unwrap()
    );
}
