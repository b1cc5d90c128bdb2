//! Many deployments through one client: every deployment that answered is kept, every
//! failure is said, and one deployment's failure never discards another's data.

use ec_billing::{DateRange, Format, StreamExt, error::ErrorCode};
use ec_billing_sim::{Dataset, Fault, Faults, RunningSimulator, Simulator};

use crate::support::{CANARY_KEY, client_with_attempts};

fn year() -> DateRange {
    DateRange::parse("2024-01-01", "2025-01-01").expect("a range")
}

/// Organization `org` with deployments `dep00` .. `dep{count-1}`; `broken` answers
/// every request with a 500.
async fn fleet(count: u64, broken: &str) -> RunningSimulator {
    let data = (0..count).fold(Dataset::empty(), |data, i| {
        data.deployment("org", format!("dep{i:02}"), i)
    });
    Simulator::new()
        .api_key(CANARY_KEY)
        .dataset(data)
        .deployment_faults(
            "org",
            broken,
            Faults {
                share: 1.0,
                kinds: vec![Fault::ServerErrorJson],
                ..Faults::default()
            },
        )
        .start()
        .await
        .expect("the simulator starts")
}

fn client(sim: &RunningSimulator) -> ec_billing::Client {
    client_with_attempts(&sim.base_url(), 2)
}

#[tokio::test]
async fn fifty_deployments_give_every_report_that_answered_and_every_failure() {
    let sim = fleet(50, "dep07").await;
    let mut asked: Vec<String> = (0..50).map(|i| format!("dep{i:02}")).collect();
    asked.insert(20, "ghost".to_string());

    for format in [Format::Json, Format::Csv] {
        let fleet = client(&sim)
            .items_of("org", &asked)
            .range(year())
            .format(format)
            .send()
            .await
            .expect("no bad input");

        assert!(!fleet.is_complete());
        let answered: Vec<&str> = fleet
            .reports
            .iter()
            .map(|r| r.deployment.as_str())
            .collect();
        let expected: Vec<&str> = asked
            .iter()
            .map(String::as_str)
            .filter(|d| !["dep07", "ghost"].contains(d))
            .collect();
        assert_eq!(answered, expected, "in the order asked, {format:?}");
        for report in &fleet.reports {
            let total = sim
                .dataset()
                .items_total("org", &report.deployment, year().from(), year().to())
                .unwrap();
            assert_eq!(report.items.costs.total, total, "{}", report.deployment);
            assert_eq!(report.windows.len(), 12);
        }
        let failed: Vec<(&str, Option<u16>)> = fleet
            .failures
            .iter()
            .map(|f| (f.deployment.as_str(), f.error.status()))
            .collect();
        assert_eq!(failed, [("dep07", Some(500)), ("ghost", Some(404))]);
        assert_eq!(
            fleet.failures[1].error.code(),
            Some(&ErrorCode::EsClusterIdNotFound)
        );
        assert!(fleet.failures[1].error.is_not_found());
        let sum = fleet
            .reports
            .iter()
            .map(|r| r.items.costs.total)
            .sum::<ec_billing::Decimal>();
        assert_eq!(fleet.total().unwrap(), sum);
    }
}

#[tokio::test]
async fn a_fleet_streams_each_deployment_as_it_completes() {
    let sim = fleet(6, "dep03").await;
    let mut seen = Vec::new();
    let mut results = client(&sim)
        .charts_of("org", (0..6).map(|i| format!("dep{i:02}")))
        .range(DateRange::parse("2024-01-01", "2024-03-01").unwrap())
        .stream()
        .unwrap();
    while let Some(done) = results.next().await {
        seen.push((done.deployment.clone(), done.result.is_ok()));
    }
    seen.sort();
    let expected: Vec<(String, bool)> = (0..6).map(|i| (format!("dep{i:02}"), i != 3)).collect();
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn totals_of_a_fleet_equal_the_simulators_and_repeated_ids_count_once() {
    let sim = fleet(3, "none").await;
    let fleet = client(&sim)
        .items_of("org", ["dep00", "dep01", "dep00", "dep02"])
        .range(year())
        .totals()
        .await
        .unwrap();
    assert!(fleet.is_complete());
    assert_eq!(fleet.reports.len(), 3);
    for totals in &fleet.reports {
        let expected = sim
            .dataset()
            .items_total("org", &totals.deployment, year().from(), year().to())
            .unwrap();
        assert_eq!(totals.costs.total, expected);
    }
}

#[tokio::test]
async fn a_bad_id_anywhere_in_a_fleet_is_refused_before_any_request() {
    let sim = fleet(3, "none").await;
    let err = client(&sim)
        .items_of("org", ["dep00", "..", "dep01"])
        .range(year())
        .send()
        .await
        .expect_err("`..` cannot be a deployment");
    assert!(matches!(err, ec_billing::Error::InvalidInput(_)), "{err:?}");
    assert_eq!(sim.stats().requests, 0);
}

#[tokio::test]
async fn a_fleet_stream_refuses_a_bad_id_before_any_request_as_a_result() {
    // Nothing listens here: a request would fail as a transport error, not as input.
    let client = client_with_attempts("http://127.0.0.1:9/api/v1", 1);
    let request = client.items_of("org", ["prod", ".."]).range(year());
    let Err(err) = request.stream() else {
        panic!("a dot segment id is refused")
    };
    assert!(matches!(err, ec_billing::Error::InvalidInput(_)), "{err:?}");
    let request = client.charts_of("org", ["prod", " "]).range(year());
    assert!(
        request.windows().is_err(),
        "windows takes &self and refuses too"
    );
    assert!(request.stream().is_err());
}
