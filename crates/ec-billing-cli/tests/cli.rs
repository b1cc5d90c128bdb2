//! The `ec-billing` binary end to end, against the simulator on loopback: its JSON
//! output, exact totals through faults, exit codes, and a key that is never printed.

use std::{process::Output, time::Duration};

use ec_billing::Decimal;
use ec_billing_sim::{Fault, Faults, RunningSimulator, Simulator};
use serde_json::Value;

const KEY: &str = "canary-cli-5d1f0b";

/// A simulator with `faults`, kept running by its runtime while the binary runs.
struct Sim {
    running: RunningSimulator,
    _runtime: tokio::runtime::Runtime,
}

impl Sim {
    fn start(faults: Faults) -> Self {
        let runtime = tokio::runtime::Runtime::new().expect("a runtime");
        let running = runtime
            .block_on(Simulator::new().api_key(KEY).faults(faults).start())
            .expect("the simulator starts");
        Self {
            running,
            _runtime: runtime,
        }
    }

    /// `ec-billing --base-url <sim> <args>`, with the key in the environment.
    fn run(&self, args: &[&str]) -> Output {
        let mut command = ec_billing();
        command
            .env("EC_API_KEY", KEY)
            .arg("--base-url")
            .arg(self.running.base_url())
            .args(args);
        command.output().expect("the binary runs")
    }

    fn total(&self, deployment: &str, from: &str, to: &str) -> Decimal {
        let (from, to) = (format!("{from}T00:00:00Z"), format!("{to}T00:00:00Z"));
        self.running
            .dataset()
            .items_total(
                "acme",
                deployment,
                from.parse().unwrap(),
                to.parse().unwrap(),
            )
            .expect("a known deployment")
    }
}

fn ec_billing() -> assert_cmd::Command {
    let mut command = assert_cmd::Command::new(env!("CARGO_BIN_EXE_ec-billing"));
    command
        .env_remove("EC_API_KEY")
        .env_remove("EC_BASE_URL")
        .env_remove("RUST_LOG");
    command
}

fn json(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("stdout is one JSON document")
}

fn decimal(value: &Value) -> Decimal {
    value
        .as_str()
        .expect("decimals are strings")
        .parse()
        .expect("a decimal")
}

fn keys(value: &Value) -> Vec<&str> {
    value
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect()
}

const YEAR: [&str; 4] = ["--from", "2024-01-01", "--to", "2025-01-01"];

#[test]
fn a_year_of_items_as_json_has_the_contracts_fields_and_the_exact_total() {
    let sim = Sim::start(Faults::default());

    let doc = json(
        &sim.run(
            &[
                &[
                    "items",
                    "--org",
                    "acme",
                    "--deployment",
                    "prod",
                    "--format",
                    "json",
                ][..],
                &YEAR,
            ]
            .concat(),
        ),
    );

    assert_eq!(
        keys(&doc),
        ["organization", "from", "to", "total", "deployments"]
    );
    assert_eq!(
        (doc["organization"].as_str(), doc["from"].as_str()),
        (Some("acme"), Some("2024-01-01T00:00:00Z"))
    );
    assert_eq!(doc["to"], "2025-01-01T00:00:00Z");
    let expected = sim.total("prod", "2024-01-01", "2025-01-01");
    assert_eq!(decimal(&doc["total"]), expected);
    let deployment = &doc["deployments"][0];
    assert_eq!(
        keys(deployment),
        [
            "deployment_id",
            "windows",
            "total",
            "dimensions",
            "resources",
            "data_transfer_and_storage"
        ]
    );
    assert_eq!(deployment["deployment_id"], "prod");
    assert_eq!(decimal(&deployment["total"]), expected);
    let windows = deployment["windows"].as_array().unwrap();
    assert_eq!(windows.len(), 12);
    assert_eq!(
        windows[1],
        serde_json::json!({"from": "2024-02-01T00:00:00Z", "to": "2024-03-01T00:00:00Z"})
    );
    let dimension_sum: Decimal = deployment["dimensions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| decimal(&d["cost"]))
        .sum();
    assert_eq!(dimension_sum, expected);
    let line_sum: Decimal = deployment["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| decimal(&r["price"]))
        .sum::<Decimal>()
        + deployment["data_transfer_and_storage"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| decimal(&d["cost"]))
            .sum::<Decimal>();
    assert_eq!(line_sum, expected);
    let resource = &deployment["resources"][0];
    assert_eq!(
        keys(resource),
        [
            "kind",
            "name",
            "sku",
            "hours",
            "instance_count",
            "period",
            "price",
            "price_per_hour"
        ]
    );
}

#[test]
fn csv_from_the_api_gives_the_same_document_as_json() {
    let sim = Sim::start(Faults::default());
    let args = [
        &[
            "items",
            "--org",
            "acme",
            "--deployment",
            "we/ird id",
            "--format",
            "json",
        ][..],
        &YEAR,
    ]
    .concat();

    let from_json = json(&sim.run(&args));
    let from_csv = json(&sim.run(&[&args[..], &["--csv"]].concat()));

    assert_eq!(
        decimal(&from_csv["total"]),
        sim.total("we/ird id", "2024-01-01", "2025-01-01")
    );
    assert_eq!(from_csv["total"], from_json["total"]);
    assert_eq!(
        from_csv["deployments"][0]["resources"],
        from_json["deployments"][0]["resources"]
    );
    assert_eq!(
        from_csv["deployments"][0]["data_transfer_and_storage"],
        from_json["deployments"][0]["data_transfer_and_storage"]
    );
}

#[test]
fn daily_and_monthly_charts_add_up_to_the_items_total() {
    let sim = Sim::start(Faults::default());
    let range = ["--from", "2024-01-01", "--to", "2024-04-01"];
    let expected = sim.total("staging", "2024-01-01", "2024-04-01");

    for (bucketing, buckets) in [("daily", 91), ("monthly", 3)] {
        let doc = json(
            &sim.run(
                &[
                    &[
                        "charts",
                        "--org",
                        "acme",
                        "--deployment",
                        "staging",
                        "--format",
                        "json",
                        "--bucketing",
                        bucketing,
                    ][..],
                    &range,
                ]
                .concat(),
            ),
        );

        assert_eq!(
            keys(&doc),
            ["organization", "from", "to", "bucketing", "deployments"]
        );
        assert_eq!(doc["bucketing"], bucketing);
        let list = doc["deployments"][0]["buckets"].as_array().unwrap();
        assert_eq!(list.len(), buckets, "{bucketing}");
        assert_eq!(list[0]["timestamp"], "2024-01-01T00:00:00Z");
        let sum: Decimal = list
            .iter()
            .flat_map(|b| b["values"].as_array().unwrap())
            .map(|v| decimal(&v["value"]))
            .sum();
        assert_eq!(sum, expected, "{bucketing}");
    }
}

#[test]
fn several_deployments_are_fetched_and_totalled_separately() {
    let sim = Sim::start(Faults::default());

    let doc = json(
        &sim.run(
            &[
                &[
                    "items",
                    "--org",
                    "acme",
                    "--deployment",
                    "prod",
                    "--deployment",
                    "staging",
                    "--format",
                    "json",
                ][..],
                &YEAR,
            ]
            .concat(),
        ),
    );

    let (prod, staging) = (
        sim.total("prod", "2024-01-01", "2025-01-01"),
        sim.total("staging", "2024-01-01", "2025-01-01"),
    );
    assert_eq!(decimal(&doc["deployments"][0]["total"]), prod);
    assert_eq!(decimal(&doc["deployments"][1]["total"]), staging);
    assert_eq!(decimal(&doc["total"]), prod + staging);
}

#[test]
fn under_a_rate_limit_and_server_errors_the_total_is_exact_and_429s_are_avoided() {
    let sim = Sim::start(Faults {
        rate_limit: Some(8),
        share: 0.3,
        kinds: vec![
            Fault::ServerErrorJson,
            Fault::BadGatewayHtml,
            Fault::UnavailableEmpty,
            Fault::Truncated,
        ],
        seed: 7,
        ..Faults::default()
    });

    let doc = json(
        &sim.run(
            &[
                &[
                    "--max-attempts",
                    "12",
                    "items",
                    "--org",
                    "acme",
                    "--deployment",
                    "prod",
                    "--format",
                    "json",
                    "--window",
                    "14d",
                ][..],
                &YEAR,
            ]
            .concat(),
        ),
    );

    assert_eq!(
        decimal(&doc["total"]),
        sim.total("prod", "2024-01-01", "2025-01-01")
    );
    let stats = sim.running.stats();
    assert!(stats.faults > 0, "faults were exercised: {stats:?}");
    // The client learns the limit from `x-ratelimit-*` and paces itself under it.
    assert!(stats.throttled <= 2, "pacing kept 429s away: {stats:?}");
}

#[test]
fn bad_input_exits_2_before_any_request() {
    let sim = Sim::start(Faults::default());
    for args in [
        &[
            "items",
            "--org",
            "acme",
            "--deployment",
            "prod",
            "--from",
            "2024-02-01",
            "--to",
            "2024-01-01",
        ][..],
        &[
            "items",
            "--org",
            "acme",
            "--deployment",
            "prod",
            "--from",
            "last tuesday",
        ],
        &[
            "items",
            "--org",
            "acme",
            "--deployment",
            "prod",
            "--window",
            "0d",
        ],
        &[
            "items",
            "--org",
            "acme",
            "--deployment",
            "prod",
            "--format",
            "xml",
        ],
        &[
            "charts",
            "--org",
            "acme",
            "--deployment",
            "prod",
            "--bucketing",
            "weekly",
        ],
        &["items", "--org", "acme"],
        &[
            "--concurrency",
            "0",
            "items",
            "--org",
            "acme",
            "--deployment",
            "prod",
        ],
    ] {
        let output = sim.run(args);

        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(!output.stderr.is_empty());
    }
    let output = sim.run(&[
        "items",
        "--org",
        "acme",
        "--deployment",
        "prod",
        "--from",
        "last tuesday",
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("\"last tuesday\""), "{stderr}");
    assert_eq!(sim.running.stats().requests, 0, "no request was made");
}

#[test]
fn an_unknown_deployment_exits_1_with_one_line_naming_code_deployment_and_window() {
    let sim = Sim::start(Faults::default());

    let output = sim.run(&[
        "items",
        "--org",
        "acme",
        "--deployment",
        "ghost",
        "--from",
        "2024-01-01",
        "--to",
        "2024-02-01",
    ]);

    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    for part in [
        "billing_service.es_cluster_id_not_found",
        "\"ghost\"",
        "2024-01-01T00:00:00Z..2024-02-01T00:00:00Z",
    ] {
        assert!(stderr.contains(part), "{part} missing from {stderr}");
    }
    assert!(output.stdout.is_empty());
}

#[test]
fn the_key_is_never_printed_even_with_vv() {
    let sim = Sim::start(Faults {
        share: 0.3,
        kinds: vec![Fault::ServerErrorHtml, Fault::Truncated],
        seed: 3,
        ..Faults::default()
    });
    let mut printed = String::new();
    for args in [
        &[
            "-vv",
            "items",
            "--org",
            "acme",
            "--deployment",
            "prod",
            "--from",
            "2024-01-01",
            "--to",
            "2024-04-01",
        ][..],
        &[
            "-vv",
            "items",
            "--org",
            "acme",
            "--deployment",
            "prod",
            "--csv",
            "--format",
            "csv",
            "--from",
            "2024-01-01",
            "--to",
            "2024-02-01",
        ],
        &["-vv", "charts", "--org", "acme", "--deployment", "ghost"],
        &[
            "-vv",
            "--api-key",
            "not-it",
            "items",
            "--org",
            "acme",
            "--deployment",
            "prod",
        ],
        &["items", "--help"],
    ] {
        let output = sim.run(args);
        printed += &String::from_utf8_lossy(&output.stdout);
        printed += &String::from_utf8_lossy(&output.stderr);
    }

    assert!(
        printed.contains("ec_billing.request"),
        "-vv traces requests"
    );
    assert!(!printed.contains(KEY), "the key leaked:\n{printed}");
}

#[test]
fn simulate_needs_no_key_and_prints_a_table_with_totals() {
    let output = ec_billing()
        .args([
            "--simulate",
            "items",
            "--org",
            "acme",
            "--deployment",
            "prod",
            "--from",
            "2024-01-01",
            "--to",
            "2025-01-01",
        ])
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();

    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let table = String::from_utf8_lossy(&output.stdout);
    for part in [
        "Deployment prod",
        "Total",
        "capacity",
        "elasticsearch",
        "ECU",
    ] {
        assert!(table.contains(part), "{part} missing from:\n{table}");
    }
    assert!(
        output.stderr.is_empty(),
        "no progress bar when stderr is not a terminal"
    );
}
