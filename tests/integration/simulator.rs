//! The simulator answers like the API, and `ec-billing` gets its exact totals through
//! every fault it injects (retries wait on an injected clock, so nothing really sleeps
//! except where the server's own rate limit is the point).

use std::time::Duration;

use ec_billing::{DateRange, Error, Format, policy::RetryPolicy};
use ec_billing_sim::{Fault, Faults, RunningSimulator, Simulator};

use crate::support::{CANARY_KEY, TestClock, attempts, in_flight, wrapper_builder};

async fn start(faults: Faults) -> RunningSimulator {
    Simulator::new()
        .api_key(CANARY_KEY)
        .faults(faults)
        .start()
        .await
        .expect("the simulator starts")
}

fn expected(sim: &RunningSimulator, deployment: &str, range: DateRange) -> ec_billing::Decimal {
    sim.dataset()
        .items_total("acme", deployment, range.from(), range.to())
        .expect("known deployment")
}

/// A raw GET of the items endpoint, for what the wrapper would refuse to send.
async fn raw(sim: &RunningSimulator, path_and_query: &str, key: &str) -> (u16, String, String) {
    let response = reqwest::Client::new()
        .get(format!("{}{path_and_query}", sim.base_url()))
        .header("authorization", format!("ApiKey {key}"))
        .send()
        .await
        .expect("the simulator answers");
    let status = response.status().as_u16();
    let codes = response
        .headers()
        .get("x-cloud-error-codes")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, codes, response.text().await.unwrap())
}

#[tokio::test]
async fn the_simulator_refuses_bad_ranges_ids_and_keys_with_documented_codes() {
    let sim = start(Faults::default()).await;
    let items = "/billing/costs/acme/deployments/prod/items";
    for (path, key, status, code) in [
        (
            format!("{items}?from=2024-02-01&to=2024-01-01"),
            CANARY_KEY,
            400,
            "costs.invalid_date_range",
        ),
        (
            format!("{items}?from=2024-01-01&to=2024-05-01"),
            CANARY_KEY,
            400,
            "costs.invalid_date_range",
        ),
        (
            format!("{items}?from=2020-12-01&to=2021-01-02"),
            CANARY_KEY,
            400,
            "costs.invalid_date_range",
        ),
        (
            format!("{items}?from=soon&to=2024-01-01"),
            CANARY_KEY,
            400,
            "costs.invalid_date_range",
        ),
        (
            "/billing/costs/nobody/deployments/prod/items".to_string(),
            CANARY_KEY,
            404,
            "organization.not_found",
        ),
        (
            "/billing/costs/acme/deployments/ghost/items".to_string(),
            CANARY_KEY,
            404,
            "billing_service.es_cluster_id_not_found",
        ),
        (
            "/billing/costs/acme/deployments/ghost/charts".to_string(),
            CANARY_KEY,
            404,
            "organization.not_found",
        ),
        (items.to_string(), "wrong-key", 401, "root.unauthorized"),
    ] {
        let (got, codes, body) = raw(&sim, &path, key).await;
        assert_eq!((got, codes.as_str()), (status, code), "{path}: {body}");
        assert!(
            body.contains(code),
            "{path}: the body names the code too: {body}"
        );
    }
}

#[tokio::test]
async fn the_simulator_serves_a_half_open_range_from_bare_dates_or_timestamps() {
    let sim = start(Faults::default()).await;
    let items = "/billing/costs/acme/deployments/we%2Fird%20id/items";

    let (status, _, dates) = raw(
        &sim,
        &format!("{items}?from=2024-01-01&to=2024-01-03"),
        CANARY_KEY,
    )
    .await;
    let (_, _, stamps) = raw(
        &sim,
        &format!("{items}?from=2024-01-01T00:00:00Z&to=2024-01-03T00:00:00%2B00:00"),
        CANARY_KEY,
    )
    .await;

    assert_eq!(status, 200);
    assert_eq!(dates, stamps);
    let doc: serde_json::Value = serde_json::from_str(&dates).unwrap();
    let starts: Vec<&str> = doc["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["period"]["start"].as_str().unwrap())
        .collect();
    assert!(
        starts
            .iter()
            .all(|s| s.starts_with("2024-01-01") || s.starts_with("2024-01-02")),
        "{starts:?}"
    );
}

/// A year of items, JSON and CSV, against a simulator answering `share` of requests
/// with `fault`: the exact total, or (if the fault outlasts the retries) a typed error
/// naming its window. Never a panic, never a wrong total.
async fn drill(fault: Fault, share: f64, tries: u32) -> Vec<Result<(), Error>> {
    let sim = start(Faults {
        share,
        kinds: vec![fault],
        slow_pause: Duration::from_millis(300),
        seed: 42,
        ..Faults::default()
    })
    .await;
    let range = DateRange::parse("2024-01-01", "2025-01-01").unwrap();
    let client = wrapper_builder(&sim.base_url(), TestClock::new())
        .attempt_timeout(Duration::from_millis(200))
        .concurrency(in_flight(6))
        .retry_policy(RetryPolicy::default().with_max_attempts(attempts(tries)))
        .build()
        .unwrap();
    let mut outcomes = Vec::new();
    for format in [Format::Json, Format::Csv] {
        outcomes.push(
            match client
                .items("acme", "staging")
                .range(range)
                .format(format)
                .send()
                .await
            {
                Ok(report) => {
                    assert_eq!(
                        report.items.costs.total,
                        expected(&sim, "staging", range),
                        "{fault:?} {format:?}"
                    );
                    Ok(())
                }
                Err(err) => {
                    let window = err
                        .window()
                        .unwrap_or_else(|| panic!("{fault:?} {format:?}: no window in {err:?}"));
                    assert!(range.from() <= window.from() && window.to() <= range.to());
                    Err(err)
                }
            },
        );
    }
    assert!(sim.stats().faults > 0, "{fault:?} was injected");
    outcomes
}

#[tokio::test]
async fn every_fault_at_a_third_of_requests_still_gives_the_exact_total_of_a_year() {
    for fault in Fault::ALL {
        for outcome in drill(fault, 0.33, 12).await {
            if let Err(err) = outcome {
                panic!("{fault:?} outlasted 12 attempts: {err}");
            }
        }
    }
}

#[tokio::test]
async fn every_fault_on_every_request_ends_in_a_typed_error_naming_the_window() {
    for fault in Fault::ALL {
        for outcome in drill(fault, 1.0, 2).await {
            let err = outcome.expect_err("nothing gets through");
            assert!(err.is_retryable(), "{fault:?}: {err}");
            assert_eq!(err.attempts(), 2, "{fault:?}: {err}");
            if matches!(
                fault,
                Fault::RateLimited
                    | Fault::RateLimitedWithoutRetryAfter
                    | Fault::RateLimitedPlainText
            ) {
                assert!(err.is_rate_limited(), "{fault:?}: {err}");
            }
        }
    }
}

#[tokio::test]
async fn a_chaos_drill_over_eight_deployments_and_twelve_windows_keeps_every_total_exact() {
    let sim = start(Faults {
        share: 0.3,
        kinds: Fault::ALL
            .into_iter()
            .filter(|f| *f != Fault::SlowBody)
            .collect(),
        seed: 2024,
        ..Faults::default()
    })
    .await;
    let range = DateRange::parse("2024-01-01", "2025-01-01").unwrap();
    let client = wrapper_builder(&sim.base_url(), TestClock::new())
        .concurrency(in_flight(8))
        .retry_policy(RetryPolicy::default().with_max_attempts(attempts(25)))
        .build()
        .unwrap();
    let deployments = [
        "prod",
        "staging",
        "we/ird id",
        "prod",
        "staging",
        "we/ird id",
        "prod",
        "staging",
    ];

    let reports = futures_util::future::join_all(deployments.iter().enumerate().map(|(i, d)| {
        let format = if i % 2 == 0 {
            Format::Json
        } else {
            Format::Csv
        };
        client.items("acme", *d).range(range).format(format).send()
    }))
    .await;

    for (deployment, report) in deployments.iter().zip(reports) {
        let report = report.unwrap_or_else(|e| panic!("{deployment}: {e}"));
        assert_eq!(report.windows.len(), 12);
        assert_eq!(
            report.items.costs.total,
            expected(&sim, deployment, range),
            "{deployment}"
        );
    }
    assert!(sim.stats().faults >= 20, "{:?}", sim.stats());
}

#[tokio::test]
async fn a_client_learns_the_published_limit_and_stays_under_it() {
    // Real time: the simulator's rate limit is a real token bucket. 60 requests at a
    // limit of 40 a second take about a second.
    let sim = start(Faults {
        rate_limit: Some(40),
        ..Faults::default()
    })
    .await;
    let client = ec_billing::Client::builder()
        .base_url(sim.base_url())
        .api_key(CANARY_KEY.parse().unwrap())
        .concurrency(in_flight(8))
        .build()
        .unwrap();
    let range = DateRange::parse("2024-01-01", "2024-03-01").unwrap();

    let report = client
        .items("acme", "prod")
        .range(range)
        .window(ec_billing::WindowSize::Day)
        .send()
        .await
        .unwrap();

    assert_eq!(report.items.costs.total, expected(&sim, "prod", range));
    assert_eq!(sim.stats().requests, 60);
    assert_eq!(sim.stats().throttled, 0, "no request went over the limit");
    let pace = client.pacing_rate().expect("the limit was learnt");
    assert!((38.0..40.0).contains(&pace), "{pace}");
}

#[tokio::test]
async fn totals_equal_the_merged_report_and_count_every_line_without_keeping_them() {
    let sim = Simulator::new()
        .api_key(CANARY_KEY)
        .dataset(ec_billing_sim::Dataset::standard().with_copies(3))
        .start()
        .await
        .unwrap();
    let client = wrapper_builder(&sim.base_url(), TestClock::new())
        .build()
        .unwrap();
    let range = DateRange::parse("2024-01-01", "2025-01-01").unwrap();

    for format in [Format::Json, Format::Csv] {
        let totals = client
            .items("acme", "prod")
            .range(range)
            .format(format)
            .totals()
            .await
            .unwrap();
        let report = client
            .items("acme", "prod")
            .range(range)
            .format(format)
            .send()
            .await
            .unwrap();

        assert_eq!(
            totals.costs.total,
            expected(&sim, "prod", range),
            "{format:?}"
        );
        assert_eq!(totals.costs.total, report.items.costs.total, "{format:?}");
        let kept = report.items.resources.len() + report.items.data_transfer_and_storage.len();
        assert_eq!(totals.lines, kept as u64, "{format:?}");
        assert_eq!(totals.lines, 366 * 4 * 3, "{format:?}");
        assert_eq!(totals.windows.len(), 12);
    }
}
