//! Adaptive pacing against the servers it meets: it learns a limit announced in any of
//! the common header shapes, treats a 429's `Retry-After` as a pause rather than proof
//! of a lower rate, and stays unpaced when 429s are transient or random. (Speed against
//! no pacing and against the physical bound is measured by `cargo xtask bench`.)

use std::time::Duration;

use ec_billing::{DateRange, WindowSize, policy::Pacing};
use ec_billing_sim::{Dataset, Fault, Faults, RateLimitDialect, Simulator};

use crate::support::{
    CANARY_KEY, ScriptedServer, TestClock, attempts, http, in_flight, simulator, wrapper_builder,
};

const ITEMS_OK: &str =
    r#"{"costs":{"total":0.1301,"dimensions":[]},"data_transfer_and_storage":[],"resources":[]}"#;

fn year() -> DateRange {
    DateRange::parse("2024-01-01", "2025-01-01").unwrap()
}

#[tokio::test]
async fn a_limit_announced_in_any_common_header_shape_is_learnt() {
    for (dialect, expected) in [
        (RateLimitDialect::Interval, Some(20.0 * 0.97)),
        (RateLimitDialect::IntervalSeconds, Some(20.0 * 0.97)),
        (RateLimitDialect::IntervalIso, Some(20.0 * 0.97)),
        (RateLimitDialect::Ietf, Some(20.0 * 0.97)),
        // A remaining budget and a reset only: spent as credit, then `Retry-After`.
        (RateLimitDialect::ResetEpoch, None),
        (RateLimitDialect::ResetSeconds, None),
    ] {
        let sim = simulator(Faults {
            rate_limit: Some(20),
            rate_limit_dialect: dialect,
            ..Faults::default()
        })
        .await;
        let client = wrapper_builder(&sim.base_url(), TestClock::new())
            .build()
            .unwrap();

        let report = client
            .items("acme", "prod")
            .range(year())
            .send()
            .await
            .unwrap();

        let rate = client.pacing_rate();
        match expected {
            Some(expected) => assert!(
                rate.is_some_and(|r| (r - expected).abs() < 1e-9),
                "{dialect:?}: {rate:?}"
            ),
            None => assert_eq!(rate, None, "{dialect:?}"),
        }
        let total = sim
            .dataset()
            .items_total("acme", "prod", year().from(), year().to());
        assert_eq!(Some(report.items.costs.total), total, "{dialect:?}");
    }
}

#[tokio::test]
async fn transient_429s_on_every_windows_first_answer_cost_one_pause_each_and_no_pacing() {
    // Sixteen deployments, twelve months, each window's first answer a 429 with
    // `Retry-After: 1`: once, this never finished under adaptive pacing.
    let sim = Simulator::new()
        .api_key(CANARY_KEY)
        .dataset(Dataset::standard().with_fleet(16))
        .faults(Faults {
            throttle_first_answer: true,
            ..Faults::default()
        })
        .start()
        .await
        .unwrap();
    let clock = TestClock::new();
    let client = wrapper_builder(&sim.base_url(), clock.clone())
        .pacing(Pacing::Adaptive)
        .build()
        .unwrap();
    let fleet: Vec<String> = (0..16).map(|i| format!("d{i:03}")).collect();

    let reports = futures_util::future::try_join_all(
        fleet
            .iter()
            .map(|dep| client.items("fleet", dep).range(year()).send()),
    )
    .await
    .unwrap();

    assert_eq!(reports.len(), 16);
    assert_eq!(
        client.pacing_rate(),
        None,
        "a Retry-After is a pause, not a rate"
    );
    let sleeps = clock.sleeps();
    assert_eq!(sleeps.len(), 192, "one pause per window, nothing else");
    assert!(sleeps.iter().all(|s| *s == Duration::from_secs(1)));
    assert_eq!(sim.stats().requests, 384);
}

#[tokio::test]
async fn random_429s_without_retry_after_leave_the_client_unpaced() {
    let sim = simulator(Faults {
        share: 0.1,
        kinds: vec![Fault::RateLimitedWithoutRetryAfter],
        seed: 3,
        ..Faults::default()
    })
    .await;
    let client = wrapper_builder(&sim.base_url(), TestClock::new())
        .retry_policy(ec_billing::policy::RetryPolicy::default().with_max_attempts(attempts(10)))
        .build()
        .unwrap();

    client
        .items("acme", "prod")
        .range(year())
        .window(WindowSize::days(7).unwrap())
        .send()
        .await
        .unwrap();

    assert!(sim.stats().faults > 0);
    assert_eq!(client.pacing_rate(), None);
}

#[tokio::test]
async fn one_request_throttled_four_times_pays_its_own_backoff_and_nothing_more() {
    let throttled = http(429, &[], "");
    let server = ScriptedServer::start(vec![
        throttled.clone(),
        throttled.clone(),
        throttled.clone(),
        throttled,
        http(200, &[], ITEMS_OK),
    ])
    .await;
    let clock = TestClock::new();
    let client = wrapper_builder(server.base_url(), clock.clone())
        .concurrency(in_flight(1))
        .build()
        .unwrap();

    client
        .items("acme", "prod")
        .range(DateRange::parse("2024-01-01", "2024-01-02").unwrap())
        .send()
        .await
        .unwrap();

    let backoff: Vec<_> = [500, 1000, 2000, 4000]
        .into_iter()
        .map(Duration::from_millis)
        .collect();
    assert_eq!(clock.sleeps(), backoff, "the backoff, then no pacing wait");
    assert_eq!(client.pacing_rate(), None);
}

#[tokio::test]
async fn repeated_throttling_after_waiting_as_asked_teaches_a_pace() {
    let ok = http(200, &[], ITEMS_OK);
    let throttled = http(429, &[("retry-after", "1")], "");
    let mut script = vec![ok.clone(); 8];
    script.extend([throttled.clone(), throttled, ok]);
    let server = ScriptedServer::start(script).await;
    let client = wrapper_builder(server.base_url(), TestClock::new())
        .concurrency(in_flight(1))
        .build()
        .unwrap();

    client
        .items("acme", "prod")
        .range(DateRange::parse("2024-01-01", "2024-01-10").unwrap())
        .window(WindowSize::Day)
        .send()
        .await
        .unwrap();

    assert!(client.pacing_rate().is_some());
}

#[tokio::test]
async fn pacing_off_and_fixed_are_kept_whatever_the_answers_say() {
    let server = ScriptedServer::start(vec![http(
        200,
        &[("x-ratelimit-limit", "1"), ("x-ratelimit-interval", "1s")],
        ITEMS_OK,
    )])
    .await;
    for (pacing, expected) in [
        (Pacing::Off, None),
        (Pacing::fixed(50.0).unwrap(), Some(50.0)),
    ] {
        let client = wrapper_builder(server.base_url(), TestClock::new())
            .pacing(pacing)
            .build()
            .unwrap();
        client
            .items("acme", "prod")
            .range(year())
            .send()
            .await
            .unwrap();
        assert_eq!(client.pacing_rate(), expected, "{pacing:?}");
    }
}
