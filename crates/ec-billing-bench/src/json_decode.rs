//! `json_decode_ratio`: a large items answer decoded into the public, exact types,
//! against `serde_json` into a plain `f64` struct of the same shape, with a bare parse
//! (`serde::de::IgnoredAny`) as the floor; and, in the same run, a check that 17- and
//! 28-digit values survive exactly while 30 digits are refused.

use anyhow::{Result, ensure};
use ec_billing::{Decimal, Items};
use ec_billing_sim::Dataset;
use serde::Deserialize;

use crate::{Figure, Size, interleaved, median, median_ratio, quarter};

// The items answer's shape, with `f64` money: what a client that does not care for
// exactness would decode into. Every field is decoded; not every one is read.

#[derive(Deserialize)]
#[allow(dead_code, reason = "decoded for the measurement, not read")]
struct PlainItems {
    costs: PlainCosts,
    data_transfer_and_storage: Vec<PlainDts>,
    resources: Vec<PlainResource>,
}

#[derive(Deserialize)]
#[allow(dead_code, reason = "decoded for the measurement, not read")]
struct PlainCosts {
    total: f64,
    dimensions: Vec<PlainDimension>,
}

#[derive(Deserialize)]
#[allow(dead_code, reason = "decoded for the measurement, not read")]
struct PlainDimension {
    #[serde(rename = "type")]
    kind: String,
    cost: f64,
}

#[derive(Deserialize)]
#[allow(dead_code, reason = "decoded for the measurement, not read")]
struct PlainDts {
    cost: f64,
    name: String,
    quantity: PlainQuantity,
    rate: PlainRate,
    sku: String,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Deserialize)]
#[allow(dead_code, reason = "decoded for the measurement, not read")]
struct PlainQuantity {
    value: i64,
    formatted_value: String,
}

#[derive(Deserialize)]
#[allow(dead_code, reason = "decoded for the measurement, not read")]
struct PlainRate {
    value: f64,
    formatted_value: String,
}

#[derive(Deserialize)]
#[allow(dead_code, reason = "decoded for the measurement, not read")]
struct PlainResource {
    hours: i64,
    instance_count: i32,
    kind: String,
    name: String,
    period: PlainPeriod,
    price: f64,
    price_per_hour: f64,
    sku: String,
}

#[derive(Deserialize)]
#[allow(dead_code, reason = "decoded for the measurement, not read")]
struct PlainPeriod {
    start: jiff::Timestamp,
    end: jiff::Timestamp,
}

pub(crate) fn run(size: Size) -> Result<Figure> {
    let one_copy = ec_billing_sim::json_document(&quarter(&Dataset::standard())?).len();
    let copies = (size.json_bytes / one_copy) as u32 + 1;
    let lines = quarter(&Dataset::standard().with_copies(copies))?;
    let expected: Decimal = lines.iter().map(|l| l.cost()).sum();
    let bytes = ec_billing_sim::json_document(&lines);
    drop(lines);

    // Each variant decodes the answer again and again, as a client decodes window after
    // window, the variants taking turns (so that the machine's drift and the heap's
    // state weigh on all alike): two rounds warm up, fifteen count. What a variant decoded
    // is freed after its time is taken.
    let mut floor = || {
        let _: serde::de::IgnoredAny = serde_json::from_slice(&bytes)?;
        Ok(Box::new(()) as Box<dyn std::any::Any>)
    };
    let mut plain = || {
        let items: PlainItems = serde_json::from_slice(&bytes)?;
        let sum: f64 = items.resources.iter().map(|r| r.price).sum::<f64>()
            + items
                .data_transfer_and_storage
                .iter()
                .map(|d| d.cost)
                .sum::<f64>();
        ensure!(sum > 0.0 && items.costs.total > 0.0 && !items.costs.dimensions.is_empty());
        ensure!(items.costs.dimensions.iter().all(|d| d.cost >= 0.0));
        Ok(Box::new(items) as Box<dyn std::any::Any>)
    };
    let mut generated = || {
        let items: ec_billing_api::types::ItemsCosts = serde_json::from_slice(&bytes)?;
        ensure!(!items.resources.is_empty());
        Ok(Box::new(items) as Box<dyn std::any::Any>)
    };
    let mut exact = || {
        let items = Items::from_json(&bytes)?;
        let sum = items
            .resources
            .iter()
            .map(|r| r.cost)
            .chain(items.data_transfer_and_storage.iter().map(|d| d.cost))
            .try_fold(Decimal::ZERO, Decimal::checked_add);
        ensure!(
            sum == Some(expected) && items.costs.total == expected,
            "exact total {sum:?} != {expected}"
        );
        Ok(Box::new(items) as Box<dyn std::any::Any>)
    };
    let [floor, plain, generated, exact] =
        interleaved(2, 15, [&mut floor, &mut plain, &mut generated, &mut exact])?;
    let ratio = median_ratio(&plain, &exact);
    let floor_ratio = median_ratio(&floor, &exact);
    let [floor, plain, generated, exact] = [floor, plain, generated, exact].map(|t| median(&t));
    let exactness = exactness_check()?;
    let mb = bytes.len() as f64 / 1e6;
    Ok(Figure {
        name: "json_decode_ratio".into(),
        value: mb / exact,
        unit: "MB/s",
        ratio: Some(ratio),
        target: ">= 0.9",
        note: format!(
            "{mb:.0} MB, medians of 15 interleaved rounds: public exact types {:.0} MB/s (generated exact types alone {:.0} MB/s), plain f64 struct {:.0} MB/s, bare parse (IgnoredAny) {:.0} MB/s = floor ratio {:.2}; totals exact; {exactness}",
            mb / exact,
            mb / generated,
            mb / plain,
            mb / floor,
            floor_ratio,
        ),
    })
}

/// 17- and 28-digit values survive exactly; 30 digits are refused.
fn exactness_check() -> Result<String> {
    let document = |value: &str| {
        format!(
            r#"{{"costs":{{"total":{value},"dimensions":[]}},"data_transfer_and_storage":[],"resources":[]}}"#
        )
    };
    for value in ["0.12345678901234567", "1234567890.123456789012345678"] {
        let items = Items::from_json(document(value).as_bytes())?;
        ensure!(
            items.costs.total.to_string() == value,
            "{value} became {}",
            items.costs.total
        );
    }
    let thirty = "123456789012345.123456789012345";
    ensure!(
        Items::from_json(document(thirty).as_bytes()).is_err(),
        "{thirty} was not refused"
    );
    Ok("17 and 28 digits exact, 30 refused".to_string())
}
