//! The `ec-billing` binary end to end, against the simulator on loopback: its JSON
//! output, exact totals through faults, exit codes, and a key that is never printed.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a failure to set a test up is that test's report"
)]

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
        Self::serve(Simulator::new().faults(faults))
    }

    /// `simulator`, accepting [`KEY`].
    fn serve(simulator: Simulator) -> Self {
        let runtime = tokio::runtime::Runtime::new().expect("a runtime");
        let running = runtime
            .block_on(simulator.api_key(KEY).start())
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

/// Runs `future` to its end on a runtime of its own.
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(future)
}

fn ec_billing() -> assert_cmd::Command {
    let mut command = assert_cmd::Command::new(env!("CARGO_BIN_EXE_ec-billing"));
    command
        .env_remove("EC_API_KEY")
        .env_remove("EC_BASE_URL")
        .env_remove("EC_LEDGER_DB")
        .env_remove("RUST_LOG");
    command
}

fn json_document(output: &Output) -> Value {
    json(output)
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

/// A simulator whose every answer draws `fault`.
fn hostile(fault: Fault) -> Sim {
    Sim::start(Faults {
        share: 1.0,
        kinds: vec![fault],
        ..Faults::default()
    })
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn empty_blank_and_dot_ids_exit_2_before_any_request() {
    let sim = Sim::start(Faults::default());
    for (org, deployment) in [
        ("acme", ""),
        ("acme", "  "),
        ("acme", "."),
        ("acme", ".."),
        ("", "prod"),
        ("..", "prod"),
    ] {
        for command in ["items", "charts"] {
            let output = sim.run(&[
                command,
                "--org",
                org,
                "--deployment",
                "prod",
                "--deployment",
                deployment,
            ]);
            assert_eq!(
                output.status.code(),
                Some(2),
                "{org:?}/{deployment:?}: {}",
                stderr(&output)
            );
            assert_eq!(stderr(&output).lines().count(), 1, "{}", stderr(&output));
        }
    }
    assert_eq!(sim.running.stats().requests, 0, "no request was made");
}

#[test]
fn dates_past_the_end_of_the_time_scale_exit_2() {
    let sim = Sim::start(Faults::default());
    for args in [
        &[
            "items",
            "--org",
            "acme",
            "--deployment",
            "prod",
            "--to",
            "9999-12-31",
        ][..],
        &[
            "charts",
            "--org",
            "acme",
            "--deployment",
            "prod",
            "--bucketing",
            "monthly",
            "--to",
            "9999-12-31",
        ],
    ] {
        let output = sim.run(args);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            stderr(&output)
        );
        assert!(stderr(&output).contains("past the end of the time scale"));
    }
}

#[test]
fn server_text_is_escaped_in_the_table_and_kept_whole_in_json_and_csv() {
    let sim = hostile(Fault::EscapesInNames);
    let month = ["--from", "2024-01-01", "--to", "2024-02-01"];
    for command in ["items", "charts"] {
        let mut args = vec![command, "--org", "acme", "--deployment", "prod"];
        args.extend(month);
        let table = sim.run(&args);
        assert!(table.status.success(), "{}", stderr(&table));
        assert!(
            !table.stdout.contains(&0x1b),
            "an escape reached the terminal"
        );
        assert!(!table.stdout.contains(&0x07));
        let text = String::from_utf8_lossy(&table.stdout);
        assert!(text.contains(r"\u{1b}[2J"), "{text}");
        assert!(
            !text.contains("\nfake"),
            "a server newline broke a row:\n{text}"
        );

        args.extend(["--format", "json"]);
        let doc = json(&sim.run(&args));
        assert!(
            doc.to_string().contains("\\u001b[2J"),
            "JSON keeps the text, escaped"
        );

        *args.last_mut().unwrap() = "csv";
        let csv = sim.run(&args);
        let mut reader = csv::Reader::from_reader(&csv.stdout[..]);
        let names: Vec<String> = reader
            .records()
            .map(|r| {
                r.expect("CSV stays well quoted")[if command == "items" { 4 } else { 3 }]
                    .to_string()
            })
            .collect();
        assert!(
            names
                .iter()
                .any(|n| n.contains("\u{1b}[2J") && n.contains('\n')),
            "{names:?}"
        );
    }
}

#[test]
fn an_error_code_with_escape_sequences_prints_one_safe_line() {
    let sim = hostile(Fault::EscapesInError);
    let output = sim.run(&["items", "--org", "acme", "--deployment", "prod"]);

    assert_eq!(output.status.code(), Some(1));
    let line = stderr(&output);
    assert_eq!(line.lines().count(), 1, "{line}");
    assert!(
        !line.contains('\u{1b}') && !line.contains('\u{7}'),
        "{line:?}"
    );
}

#[test]
fn a_key_echoed_by_the_server_never_reaches_stderr() {
    let sim = hostile(Fault::EchoedKey);
    for extra in [&[][..], &["--csv"][..]] {
        let mut args = vec!["-vv", "items", "--org", "acme", "--deployment", "prod"];
        args.extend(extra);
        let output = sim.run(&args);

        assert_eq!(output.status.code(), Some(1));
        let printed = format!(
            "{}{}",
            stderr(&output),
            String::from_utf8_lossy(&output.stdout)
        );
        assert!(!printed.contains(KEY), "{printed}");
        assert!(printed.contains("[redacted]"), "{printed}");
    }
}

#[test]
fn sums_that_overflow_exit_1_with_nothing_printed() {
    let sim = hostile(Fault::OverflowingCosts);
    let two_months = ["--from", "2024-01-01", "--to", "2024-03-01"];
    for extra in [
        // Two windows' totals.
        &[
            "--format",
            "table",
            two_months[0],
            two_months[1],
            two_months[2],
            two_months[3],
        ][..],
        &[
            "--format",
            "json",
            two_months[0],
            two_months[1],
            two_months[2],
            two_months[3],
        ],
        // Two lines of one CSV answer.
        &[
            "--csv",
            two_months[0],
            two_months[1],
            two_months[2],
            two_months[3],
        ],
        // Two lines of one JSON answer, summed for the table only.
        &["--from", "2024-01-01", "--to", "2024-02-01"],
    ] {
        let mut args = vec!["items", "--org", "acme", "--deployment", "prod"];
        args.extend(extra);
        let output = sim.run(&args);

        assert_eq!(
            output.status.code(),
            Some(1),
            "{extra:?}: {}",
            stderr(&output)
        );
        assert!(output.stdout.is_empty(), "{extra:?}: nothing half-printed");
        assert!(stderr(&output).contains("overflows"), "{}", stderr(&output));
        assert_eq!(stderr(&output).lines().count(), 1);
    }
}

#[test]
fn the_pacing_flag_takes_adaptive_off_or_a_rate_and_refuses_the_rest() {
    let sim = Sim::start(Faults::default());
    for pacing in ["adaptive", "off", "5", "0.5"] {
        let output = sim.run(&[
            "--pacing",
            pacing,
            "items",
            "--org",
            "acme",
            "--deployment",
            "prod",
        ]);
        assert!(output.status.success(), "{pacing}: {}", stderr(&output));
    }
    for pacing in ["0", "-3", "fast", "NaN"] {
        let flag = format!("--pacing={pacing}");
        let output = sim.run(&[&flag, "items", "--org", "acme", "--deployment", "prod"]);
        assert_eq!(output.status.code(), Some(2), "{pacing}");
        assert!(
            stderr(&output).contains(&format!("\"{pacing}\"")),
            "{}",
            stderr(&output)
        );
    }
}

/// Organization `acme` with deployments `d1` to `d4`, and the five deployments a
/// `--keep-going` run asks for: those four and `ghost`, in the middle.
fn four_and_a_ghost() -> (Sim, [&'static str; 10]) {
    let data = (1..=4).fold(ec_billing_sim::Dataset::empty(), |data, i| {
        data.deployment("acme", format!("d{i}"), i)
    });
    let sim = Sim::serve(Simulator::new().dataset(data));
    let deployments = [
        "--deployment",
        "d1",
        "--deployment",
        "d2",
        "--deployment",
        "ghost",
        "--deployment",
        "d3",
        "--deployment",
        "d4",
    ];
    (sim, deployments)
}

const JANUARY: [&str; 4] = ["--from", "2024-01-01", "--to", "2024-02-01"];

#[test]
fn keep_going_prints_every_deployment_that_answered_in_every_format_and_exits_1() {
    let (sim, deployments) = four_and_a_ghost();
    for (command, format) in [
        ("items", "table"),
        ("items", "json"),
        ("items", "csv"),
        ("charts", "table"),
        ("charts", "json"),
        ("charts", "csv"),
    ] {
        let mut args = vec![command, "--org", "acme", "--keep-going", "--format", format];
        args.extend(deployments);
        args.extend(JANUARY);
        let output = sim.run(&args);

        let what = format!("{command} --format {format}");
        assert_eq!(output.status.code(), Some(1), "{what}");
        let stderr = stderr(&output);
        assert_eq!(stderr.lines().count(), 1, "{what}: {stderr}");
        assert!(stderr.contains("\"ghost\""), "{what}: {stderr}");
        assert!(stderr.contains("404"), "{what}: {stderr}");
        let stdout = String::from_utf8_lossy(&output.stdout);
        for good in ["d1", "d2", "d3", "d4"] {
            assert!(
                stdout.contains(good),
                "{what}: {good} missing from {stdout:.2000}"
            );
        }
        assert!(
            format == "json" || !stdout.contains("ghost"),
            "{what}: {stdout:.2000}"
        );
        if format == "json" {
            let document: Value = serde_json::from_slice(&output.stdout).unwrap();
            let ids: Vec<&str> = document["deployments"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d["deployment_id"].as_str().unwrap())
                .collect();
            assert_eq!(ids, ["d1", "d2", "d3", "d4"], "{what}");
            let errors = document["errors"].as_array().unwrap();
            assert_eq!(errors.len(), 1, "{what}");
            assert_eq!(
                keys(&errors[0]),
                ["deployment_id", "from", "to", "code", "message"],
                "{what}"
            );
            assert_eq!(errors[0]["deployment_id"], "ghost");
            assert_eq!(errors[0]["from"], "2024-01-01T00:00:00Z");
        }
    }
}

#[test]
fn without_keep_going_the_first_failure_ends_the_run_with_one_line() {
    let (sim, deployments) = four_and_a_ghost();
    let mut args = vec!["items", "--org", "acme", "--format", "json"];
    args.extend(deployments);
    args.extend(JANUARY);
    let output = sim.run(&args);

    assert_eq!(output.status.code(), Some(1));
    assert_eq!(stderr(&output).lines().count(), 1, "{}", stderr(&output));
    assert!(stderr(&output).contains("\"ghost\""));
    assert!(output.stdout.is_empty());
}

#[test]
fn verbose_prints_one_line_per_request_and_very_verbose_more() {
    let sim = Sim::start(Faults::default());
    let mut args = vec!["-v", "items", "--org", "acme", "--deployment", "prod"];
    args.extend(["--from", "2024-01-01", "--to", "2024-03-01"]);
    let output = sim.run(&args);

    assert!(output.status.success(), "{}", stderr(&output));
    let lines: Vec<String> = stderr(&output).lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), 2, "{lines:#?}");
    // Requests run concurrently: their lines come in either order.
    for window in [
        "2024-01-01T00:00:00Z..2024-02-01T00:00:00Z",
        "2024-02-01T00:00:00Z..2024-03-01T00:00:00Z",
    ] {
        let line = lines
            .iter()
            .find(|line| line.contains(window))
            .unwrap_or_else(|| panic!("no line for {window}: {lines:#?}"));
        for part in [
            "deployment=prod",
            "status=200",
            "attempts=1",
            "duration_ms=",
        ] {
            assert!(line.contains(part), "{part} missing from {line}");
        }
    }

    args[0] = "-vv";
    let output = sim.run(&args);
    assert!(stderr(&output).lines().count() > 2, "{}", stderr(&output));
}

#[test]
fn a_closed_stdout_is_not_a_failure_in_any_format() {
    let sim = Sim::start(Faults::default());
    for format in ["table", "json", "csv"] {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ec-billing"))
            .env_remove("EC_BASE_URL")
            .env("EC_API_KEY", KEY)
            .args(["--base-url", &sim.running.base_url()])
            .args(["items", "--org", "acme", "--deployment", "prod"])
            .args([
                "--from",
                "2024-01-01",
                "--to",
                "2025-01-01",
                "--window",
                "day",
            ])
            .args(["--format", format])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // As `| head -0` does: the reader is gone before anything is written.
        drop(child.stdout.take());
        let output = child.wait_with_output().unwrap();

        assert!(output.status.success(), "{format}: {}", stderr(&output));
        assert!(output.stderr.is_empty(), "{format}: {}", stderr(&output));
    }
}

#[test]
fn items_without_dates_on_the_simulator_at_an_instant_fetch_that_instants_month_to_date() {
    let output = ec_billing()
        .args([
            "--simulate",
            "--simulate-at",
            "2024-03-05",
            "items",
            "--org",
            "acme",
            "--deployment",
            "prod",
            "--format",
            "json",
        ])
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();

    assert!(output.status.success(), "{}", stderr(&output));
    let json = String::from_utf8_lossy(&output.stdout);
    assert!(json.contains("2024-03-01T00:00:00Z"), "{json}");
    assert!(!json.contains("2024-02-"), "{json}");
    assert!(!json.contains("2024-03-06"), "{json}");
}

#[test]
fn simulate_with_a_base_url_flag_is_a_usage_error_and_ignores_the_variable() {
    let mut args = vec!["items", "--org", "acme", "--deployment", "prod"];
    args.extend(JANUARY);
    let output = ec_billing()
        .args(["--simulate", "--base-url", "http://127.0.0.1:9/api/v1"])
        .args(&args)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("--simulate"),
        "{}",
        stderr(&output)
    );

    let output = ec_billing()
        .env("EC_BASE_URL", "http://127.0.0.1:9/api/v1")
        .arg("--simulate")
        .args(&args)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
}

#[test]
fn simulate_says_which_ids_it_serves_in_its_help() {
    let output = ec_billing().arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&output.stdout);
    for id in ["acme", "prod", "staging", "globex", "search"] {
        assert!(help.contains(id), "{id} missing from {help}");
    }
}

#[test]
fn a_base_url_without_api_v1_is_warned_about() {
    let sim = Sim::start(Faults::default());
    let root = sim.running.base_url().replace("/api/v1", "");
    let output = ec_billing()
        .env("EC_API_KEY", KEY)
        .args([
            "--base-url",
            &root,
            "items",
            "--org",
            "acme",
            "--deployment",
            "prod",
        ])
        .args(JANUARY)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = stderr(&output);
    assert!(stderr.starts_with("warning: the base URL"), "{stderr}");
    assert!(stderr.contains("/api/v1"), "{stderr}");
}

/// What a base URL's userinfo, query and fragment hold in the tests below: never to be
/// printed.
const URL_SECRETS: [&str; 4] = ["hunter2", "sekrit", "fragile", "alice"];

fn assert_no_url_secret(printed: &str) {
    for secret in URL_SECRETS {
        assert!(!printed.contains(secret), "{secret} leaked:\n{printed}");
    }
}

#[test]
fn help_shows_neither_the_base_url_nor_the_key_from_the_environment() {
    for args in [
        &["--help"][..],
        &["items", "--help"],
        &["sync", "--help"],
        &["export", "--help"],
    ] {
        let output = ec_billing()
            .env(
                "EC_BASE_URL",
                "http://alice:hunter2@127.0.0.1:1/api/v1?token=sekrit#fragile",
            )
            .env("EC_API_KEY", KEY)
            .env(
                "EC_LEDGER_DB",
                "postgres://alice:hunter2@127.0.0.1:5432/costs",
            )
            .args(args)
            .output()
            .unwrap();
        assert!(output.status.success(), "{args:?}");
        let printed = String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr);
        assert!(printed.contains("EC_BASE_URL"), "{args:?}: {printed}");
        assert!(
            !printed.contains(KEY),
            "{args:?}: the key leaked:\n{printed}"
        );
        assert_no_url_secret(&printed);
    }
}

#[test]
fn a_password_or_token_in_the_base_url_is_never_printed() {
    let sim = Sim::start(Faults::default());
    let port = sim.running.addr().port();
    let with_userinfo = format!("http://alice:hunter2@127.0.0.1:{port}/api/v1");
    let unreachable = "http://alice:hunter2@127.0.0.1:1/api/v1".to_string();
    let without_prefix = format!("http://alice:hunter2@127.0.0.1:{port}");
    let with_query = format!("{with_userinfo}?token=sekrit");
    let with_fragment = format!("{with_userinfo}#fragile");
    let not_a_url = "htp://alice:hunter2@host?token=sekrit".to_string();
    // (base URL, exit status, what stderr must say).
    let cases = [
        (&with_userinfo, 0, ""),
        (&unreachable, 1, "could not connect"),
        (
            &without_prefix,
            1,
            "warning: the base URL http://127.0.0.1:",
        ),
        (&with_query, 2, "invalid base URL \"http://127.0.0.1:"),
        (&with_fragment, 2, "query or a fragment"),
        (&not_a_url, 2, "invalid base URL \"htp://host\""),
    ];
    let mut printed = String::new();
    for (url, status, said) in cases {
        for (how, args) in [
            ("flag", vec!["--base-url", url.as_str()]),
            ("env", Vec::new()),
        ] {
            let mut command = ec_billing();
            command.env("EC_API_KEY", KEY).args(&args);
            if how == "env" {
                command.env("EC_BASE_URL", url);
            }
            let output = command
                .args(["-vv", "items", "--org", "acme", "--deployment", "prod"])
                .args(JANUARY)
                .args(["--max-attempts", "1"])
                .output()
                .unwrap();
            let stderr = stderr(&output);
            assert_eq!(output.status.code(), Some(status), "{how} {url}: {stderr}");
            assert!(stderr.contains(said), "{how} {url}: {stderr}");
            printed += &stderr;
            printed += &String::from_utf8_lossy(&output.stdout);
        }
    }
    // The sync path connects the same way.
    let scratch = Scratch::new("url-secrets");
    let db = scratch.file("ledger.db");
    let output = ec_billing()
        .env("EC_API_KEY", KEY)
        .args(["-vv", "--base-url", &with_query, "sync", "--db", &db])
        .args(["--org", "acme", "--deployment", "prod"])
        .args(JANUARY)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    printed += &stderr(&output);

    assert!(
        printed.contains("ec_billing.request"),
        "-vv traces requests"
    );
    assert!(!printed.contains(KEY), "the key leaked:\n{printed}");
    assert_no_url_secret(&printed);
}

#[test]
fn a_hundred_thousand_dimensions_or_chart_series_print_whole_and_exact() {
    let items = hostile(Fault::ManyDimensions).run(&[
        "items",
        "--org",
        "acme",
        "--deployment",
        "prod",
        "--format",
        "json",
        "--from",
        "2024-01-01",
        "--to",
        "2024-02-01",
    ]);
    let document = json(&items);
    let deployment = &document["deployments"][0];
    assert_eq!(decimal(&deployment["total"]), "1000.00".parse().unwrap());
    let dimensions = deployment["dimensions"].as_array().unwrap();
    assert_eq!(dimensions.len(), ec_billing_sim::MANY_KEYS);
    assert_eq!(dimensions[99_999]["type"], "usage_099999");

    let charts = hostile(Fault::ManyChartSeries).run(&[
        "charts",
        "--org",
        "acme",
        "--deployment",
        "prod",
        "--from",
        "2024-01-01",
        "--to",
        "2024-01-02",
    ]);
    assert!(charts.status.success(), "{}", stderr(&charts));
    let table = String::from_utf8_lossy(&charts.stdout);
    let row = table
        .lines()
        .find(|line| line.trim_start().starts_with("2024-01-01T00:00:00Z"))
        .expect("the bucket's row");
    assert_eq!(row.matches("0.01").count(), ec_billing_sim::MANY_KEYS);
}

#[test]
fn one_window_is_said_in_the_singular() {
    let sim = Sim::start(Faults::default());
    let mut args = vec!["items", "--org", "acme", "--deployment", "prod"];
    args.extend(JANUARY);
    let output = sim.run(&args);
    let table = String::from_utf8_lossy(&output.stdout);
    assert!(table.contains("(1 window, "), "{table}");
}

/// A temporary directory for ledgers, removed when dropped.
struct Scratch(std::path::PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let path =
            std::env::temp_dir().join(format!("ec-billing-cli-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }

    fn file(&self, name: &str) -> String {
        self.0.join(name).display().to_string()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `sync` of `prod` and `staging` over the first quarter of 2024 into `db`.
fn sync_args<'a>(db: &'a str, window: &'a str) -> Vec<&'a str> {
    vec![
        "sync",
        "--db",
        db,
        "--org",
        "acme",
        "--deployment",
        "prod",
        "--deployment",
        "staging",
        "--from",
        "2024-01-01",
        "--to",
        "2024-04-01",
        "--window",
        window,
    ]
}

#[test]
fn sync_stores_every_line_and_a_second_sync_changes_nothing() {
    let sim = Sim::start(Faults::default());
    let scratch = Scratch::new("sync");
    let db = scratch.file("costs.db");

    let first = sim.run(&sync_args(&db, "month"));
    assert!(first.status.success(), "{}", stderr(&first));
    let summary = String::from_utf8_lossy(&first.stdout);
    let total = sim.total("prod", "2024-01-01", "2024-04-01");
    assert!(
        summary.contains(&total.normalize().to_string()),
        "{summary}"
    );
    let requests = sim.running.stats().requests;

    let second = sim.run(&sync_args(&db, "month"));
    assert!(second.status.success(), "{}", stderr(&second));
    let summary = String::from_utf8_lossy(&second.stdout);
    assert!(summary.contains("Nothing changed"), "{summary}");
    assert_eq!(
        sim.running.stats().requests,
        requests,
        "every window is final"
    );

    let other = sim.run(&sync_args(&db, "day"));
    assert_eq!(other.status.code(), Some(1));
    assert!(
        stderr(&other).contains("monthly windows"),
        "{}",
        stderr(&other)
    );
}

#[test]
fn sync_keep_going_stores_what_answered_and_names_what_did_not() {
    let sim = Sim::start(Faults::default());
    let scratch = Scratch::new("sync-keep-going");
    let db = scratch.file("costs.db");
    let mut args = sync_args(&db, "month");
    args.extend(["--deployment", "ghost", "--keep-going"]);

    let output = sim.run(&args);

    assert_eq!(output.status.code(), Some(1));
    let stderr = stderr(&output);
    assert_eq!(
        stderr.lines().count(),
        3,
        "one line per window of ghost: {stderr}"
    );
    assert!(stderr.lines().all(|l| l.contains("\"ghost\"")), "{stderr}");
    let total = block_on(async {
        let ledger = ec_billing_ledger::Ledger::open_read_only(&db).await?;
        ledger
            .total(&ec_billing_ledger::Query::all().deployments(["prod"]))
            .await
    })
    .unwrap();
    assert_eq!(total, sim.total("prod", "2024-01-01", "2024-04-01"));
}

#[test]
fn a_sync_killed_mid_way_resumes_to_the_same_ledger_as_an_uninterrupted_one() {
    let scratch = Scratch::new("killed");
    resumes_after_kill(&scratch.file("killed.db"), &scratch.file("whole.db"));
    // On PostgreSQL too, compared with an uninterrupted SQLite ledger.
    if let Some(db) = PostgresDb::create("killed") {
        resumes_after_kill(&db.url, &scratch.file("whole-for-postgres.db"));
    }
}

/// Kills a sync into `killed` mid-way, resumes it, and compares its export with that of
/// an uninterrupted sync into `whole`.
fn resumes_after_kill(killed: &str, whole: &str) {
    let sim = Sim::start(Faults {
        latency: Duration::from_millis(20),
        ..Faults::default()
    });

    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ec-billing"))
        .env_remove("EC_BASE_URL")
        .env("EC_API_KEY", KEY)
        .args(["--base-url", &sim.running.base_url(), "--concurrency", "2"])
        .args(sync_args(killed, "day"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Kill it (SIGKILL: no clean-up of any kind) once some days are stored.
    let started = std::time::Instant::now();
    let stored = loop {
        let windows = block_on(async {
            let ledger = ec_billing_ledger::Ledger::open_read_only(killed).await?;
            ledger.windows(&ec_billing_ledger::Query::all()).await
        })
        .map(|w| w.len())
        .unwrap_or(0);
        if windows >= 20 || started.elapsed() > Duration::from_secs(60) {
            break windows;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        (20..182).contains(&stored),
        "killed mid-way, after {stored} of 182 days"
    );

    // The file it left is consistent: an export reads it as it stands.
    let partial = ec_billing()
        .args(["export", "--db", killed, "--format", "csv"])
        .output()
        .unwrap();
    assert!(partial.status.success(), "{}", stderr(&partial));

    let resumed = sim.run(&sync_args(killed, "day"));
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    let uninterrupted = sim.run(&sync_args(whole, "day"));
    assert!(uninterrupted.status.success(), "{}", stderr(&uninterrupted));

    let export = |db: &str| {
        let output = ec_billing()
            .args(["export", "--db", db, "--format", "csv"])
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", stderr(&output));
        output.stdout
    };
    let (resumed, whole) = (export(killed), export(whole));
    assert!(resumed.len() > partial.stdout.len());
    assert!(
        resumed == whole,
        "the resumed ledger holds exactly the uninterrupted one's lines"
    );
    let lines = whole.iter().filter(|b| **b == b'\n').count() - 1;
    assert_eq!(lines, 2 * 91 * 4, "every line once");
}

#[test]
fn export_needs_no_key_and_refuses_a_missing_or_foreign_file() {
    let sim = Sim::start(Faults::default());
    let scratch = Scratch::new("export");
    let db = scratch.file("costs.db");
    assert!(sim.run(&sync_args(&db, "month")).status.success());

    let json = ec_billing()
        .args([
            "export",
            "--db",
            &db,
            "--format",
            "json",
            "--deployment",
            "staging",
        ])
        .output()
        .unwrap();
    let document = json_document(&json);
    assert_eq!(
        decimal(&document["total"]),
        sim.total("staging", "2024-01-01", "2024-04-01")
    );

    let focus = ec_billing()
        .args([
            "export",
            "--db",
            &db,
            "--format",
            "focus",
            "--currency",
            "EUR",
            "--rate-per-ecu",
            "0.5",
        ])
        .output()
        .unwrap();
    assert!(focus.status.success(), "{}", stderr(&focus));
    let text = String::from_utf8_lossy(&focus.stdout);
    assert!(
        text.starts_with("AvailabilityZone,BilledCost,"),
        "{text:.200}"
    );
    assert!(text.contains(",EUR,"), "{text:.400}");

    let missing = ec_billing()
        .args([
            "export",
            "--db",
            &scratch.file("missing.db"),
            "--format",
            "csv",
        ])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        stderr(&missing).contains("no such ledger"),
        "{}",
        stderr(&missing)
    );
    let notes = scratch.file("notes.txt");
    std::fs::write(
        &notes,
        "not a ledger at all, only some text to be read as a header".repeat(3),
    )
    .unwrap();
    let foreign = ec_billing()
        .args(["export", "--db", &notes, "--format", "csv"])
        .output()
        .unwrap();
    assert_eq!(foreign.status.code(), Some(1));
    assert!(
        stderr(&foreign).contains("is not a ledger"),
        "{}",
        stderr(&foreign)
    );
    let bad_rate = ec_billing()
        .args([
            "export",
            "--db",
            &db,
            "--format",
            "focus",
            "--rate-per-ecu",
            "-1",
        ])
        .output()
        .unwrap();
    assert_eq!(bad_rate.status.code(), Some(2));
}

/// `ec-billing sync` of `prod` over January 2024 into `db`, run in `folder`.
fn sync_in(sim: &Sim, folder: &std::path::Path, db: &str) -> Output {
    let mut command = ec_billing();
    command
        .current_dir(folder)
        .env("EC_API_KEY", KEY)
        .arg("--base-url")
        .arg(sim.running.base_url())
        .args(["sync", "--db", db, "--org", "acme", "--deployment", "prod"])
        .args(["--from", "2024-01-01", "--to", "2024-02-01"]);
    command.output().unwrap()
}

/// The names in `folder`, sorted.
fn listing(folder: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(folder)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn a_db_path_is_a_file_taken_literally_never_memory_or_an_sqlite_uri() {
    let sim = Sim::start(Faults::default());
    let scratch = Scratch::new("literal-db");

    let memory = sync_in(&sim, &scratch.0, ":memory:");
    assert_eq!(memory.status.code(), Some(2), "{}", stderr(&memory));
    assert!(stderr(&memory).contains(":memory:"), "{}", stderr(&memory));
    assert!(listing(&scratch.0).is_empty(), "nothing created");

    let uri = sync_in(&sim, &scratch.0, "file:alias.db?mode=memory");
    assert!(uri.status.success(), "{}", stderr(&uri));
    assert!(
        scratch.0.join("file:alias.db?mode=memory").is_file(),
        "{:?}",
        listing(&scratch.0)
    );
    let export = ec_billing()
        .current_dir(&scratch.0)
        .args([
            "export",
            "--db",
            "file:alias.db?mode=memory",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    assert_eq!(
        decimal(&json_document(&export)["total"]),
        sim.total("prod", "2024-01-01", "2024-02-01")
    );
}

#[test]
fn a_device_as_db_or_a_refused_sync_leaves_no_file_behind() {
    let sim = Sim::start(Faults::default());
    let scratch = Scratch::new("refusals");

    let null = sync_in(&sim, &scratch.0, "/dev/null");
    assert_eq!(null.status.code(), Some(2), "{}", stderr(&null));
    assert!(stderr(&null).contains("not a file"), "{}", stderr(&null));
    assert!(!std::path::Path::new("/dev/null-journal").exists());
    assert!(!std::path::Path::new("/dev/null-wal").exists());

    let db = scratch.file("costs.db");
    let huge = sim.run(&[
        "sync",
        "--db",
        &db,
        "--org",
        "acme",
        "--deployment",
        "prod",
        "--deployment",
        "staging",
        "--window",
        "day",
        "--from",
        "1800-01-01",
        "--to",
        "2024-01-01",
    ]);
    assert_eq!(huge.status.code(), Some(2), "{}", stderr(&huge));
    assert!(stderr(&huge).contains("100000"), "{}", stderr(&huge));
    assert!(listing(&scratch.0).is_empty(), "{:?}", listing(&scratch.0));
}

#[test]
fn an_export_writes_nothing_beside_the_ledger_and_a_tampered_window_is_named_then_repaired() {
    let sim = Sim::start(Faults::default());
    let scratch = Scratch::new("tampered");
    let synced = sync_in(&sim, &scratch.0, "costs.db");
    assert!(synced.status.success(), "{}", stderr(&synced));
    let before = listing(&scratch.0);

    let export = ec_billing()
        .args([
            "export",
            "--db",
            &scratch.file("costs.db"),
            "--format",
            "focus",
        ])
        .output()
        .unwrap();
    assert!(export.status.success(), "{}", stderr(&export));
    assert_eq!(
        listing(&scratch.0),
        before,
        "no -wal or -shm left by a reader"
    );

    let conn = rusqlite::Connection::open(scratch.file("costs.db")).unwrap();
    conn.execute("DELETE FROM lines WHERE line_type = 'dts'", [])
        .unwrap();
    drop(conn);
    let tampered = ec_billing()
        .args([
            "export",
            "--db",
            &scratch.file("costs.db"),
            "--format",
            "csv",
        ])
        .output()
        .unwrap();
    assert_eq!(tampered.status.code(), Some(1));
    assert!(tampered.stdout.is_empty(), "a failed export writes nothing");
    assert!(
        stderr(&tampered).contains("2024-01-01T00:00:00Z..2024-02-01T00:00:00Z"),
        "{}",
        stderr(&tampered)
    );

    let repaired = sync_in(&sim, &scratch.0, "costs.db");
    assert!(repaired.status.success(), "{}", stderr(&repaired));
    let summary = String::from_utf8_lossy(&repaired.stdout);
    assert!(summary.contains("Repaired 1 window"), "{summary}");
    let json = ec_billing()
        .args([
            "export",
            "--db",
            &scratch.file("costs.db"),
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    assert_eq!(
        decimal(&json_document(&json)["total"]),
        sim.total("prod", "2024-01-01", "2024-02-01")
    );
}

#[test]
fn a_sync_refused_for_its_base_url_leaves_no_file_behind() {
    let scratch = Scratch::new("bad-base-url");
    let db = scratch.file("costs.db");
    let output = ec_billing()
        .args(["--base-url", "ftp://x/api/v1", "--api-key", "k"])
        .args(["sync", "--db", &db, "--org", "o", "--deployment", "d"])
        .args(["--from", "2024-01-01", "--to", "2024-02-01"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(listing(&scratch.0).is_empty(), "{:?}", listing(&scratch.0));
}

#[test]
fn a_closed_stderr_is_no_panic() {
    let scratch = Scratch::new("closed-stderr");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ec-billing"))
        .args([
            "export",
            "--db",
            &scratch.file("missing.db"),
            "--format",
            "csv",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Its reader gone before it says anything: writing the error fails.
    drop(child.stderr.take());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(1), "{status:?}");
}

/// A database of a test's own on the server `EC_BILLING_TEST_POSTGRES` names (made and
/// dropped with `psql`); `None` when no server is named.
struct PostgresDb {
    server: String,
    name: String,
    /// Its URL.
    url: String,
    /// `host:port` of the server.
    host: String,
}

impl PostgresDb {
    fn create(name: &str) -> Option<Self> {
        let server = std::env::var("EC_BILLING_TEST_POSTGRES").ok()?;
        if server.is_empty() {
            return None;
        }
        let name = format!("ec_billing_test_cli_{name}_{}", std::process::id());
        let host = server
            .split("://")
            .nth(1)
            .and_then(|rest| rest.rsplit('@').next())
            .and_then(|rest| rest.split('/').next())
            .unwrap_or("127.0.0.1:5432")
            .to_string();
        let db = Self {
            url: format!("postgres://postgres@{host}/{name}"),
            server,
            name,
            host,
        };
        db.admin(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", db.name));
        db.admin(&format!("CREATE DATABASE {}", db.name));
        Some(db)
    }

    fn admin(&self, sql: &str) {
        let output = std::process::Command::new("psql")
            .args([self.server.as_str(), "-v", "ON_ERROR_STOP=1", "-qc", sql])
            .output()
            .expect("psql runs");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

impl Drop for PostgresDb {
    fn drop(&mut self) {
        let _ = std::process::Command::new("psql")
            .args([
                self.server.as_str(),
                "-qc",
                &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            ])
            .output();
    }
}

#[test]
fn sync_and_export_take_a_postgres_url_and_never_print_its_password() {
    let Some(db) = PostgresDb::create("password") else {
        return;
    };
    let sim = Sim::start(Faults::default());
    let (host, name) = (db.host.clone(), db.name.clone());
    let url = format!("postgres://postgres:hunter2-secret@{host}/{name}");

    let sync = sim.run(&[
        "-vv",
        "sync",
        "--db",
        &url,
        "--org",
        "acme",
        "--deployment",
        "prod",
        "--from",
        "2024-01-01",
        "--to",
        "2024-03-01",
    ]);
    let export = ec_billing()
        .args(["export", "--db", &url, "--format", "json"])
        .output()
        .unwrap();
    drop(db);

    assert!(sync.status.success(), "{}", stderr(&sync));
    for output in [&sync, &export] {
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            stderr(output)
        );
        assert!(!all.contains("hunter2"), "{all}");
    }
    assert!(
        String::from_utf8_lossy(&sync.stdout).contains(&format!("postgres://{host}/{name}")),
        "{}",
        String::from_utf8_lossy(&sync.stdout)
    );
    assert_eq!(
        decimal(&json_document(&export)["total"]),
        sim.total("prod", "2024-01-01", "2024-03-01")
    );
}

#[test]
fn export_writes_a_focus_dataset_folder_per_billing_period_with_a_manifest() {
    let sim = Sim::start(Faults::default());
    let scratch = Scratch::new("dataset");
    let db = scratch.file("costs.db");
    assert!(sim.run(&sync_args(&db, "month")).status.success());
    let dir = scratch.file("focus");

    let first = ec_billing()
        .args([
            "export",
            "--db",
            &db,
            "--format",
            "focus",
            "--dataset",
            &dir,
        ])
        .output()
        .unwrap();
    let again = ec_billing()
        .args([
            "export",
            "--db",
            &db,
            "--format",
            "focus",
            "--dataset",
            &dir,
        ])
        .output()
        .unwrap();
    let refused = ec_billing()
        .args(["export", "--db", &db, "--format", "csv", "--dataset", &dir])
        .output()
        .unwrap();

    assert!(first.status.success(), "{}", stderr(&first));
    let said = String::from_utf8_lossy(&first.stdout);
    assert!(said.contains("3 billing period(s), 3 rewritten"), "{said}");
    let said = String::from_utf8_lossy(&again.stdout);
    assert!(said.contains("3 billing period(s), 0 rewritten"), "{said}");
    for month in ["2024-01", "2024-02", "2024-03"] {
        let file =
            std::path::Path::new(&dir).join(format!("BILLING_PERIOD={month}/part-0.parquet"));
        assert!(file.is_file(), "{}", file.display());
    }
    assert!(std::path::Path::new(&dir).join("manifest.json").is_file());
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
}

#[test]
fn export_to_a_file_writes_what_stdout_gets_and_says_so_in_one_line() {
    let sim = Sim::start(Faults::default());
    let scratch = Scratch::new("export-out");
    let db = scratch.file("costs.db");
    assert!(sim.run(&sync_args(&db, "month")).status.success());
    let out = scratch.file("focus.csv");

    let streamed = ec_billing()
        .args(["export", "--db", &db, "--format", "focus"])
        .output()
        .unwrap();
    let written = ec_billing()
        .args(["export", "--db", &db, "--format", "focus", "--out", &out])
        .output()
        .unwrap();
    let over_the_ledger = ec_billing()
        .args(["export", "--db", &db, "--format", "csv", "--out", &db])
        .output()
        .unwrap();
    let both = ec_billing()
        .args([
            "export",
            "--db",
            &db,
            "--format",
            "focus",
            "--out",
            &out,
            "--dataset",
            &out,
        ])
        .output()
        .unwrap();

    assert!(written.status.success(), "{}", stderr(&written));
    assert_eq!(std::fs::read(&out).unwrap(), streamed.stdout);
    let said = String::from_utf8_lossy(&written.stdout);
    assert_eq!(said.lines().count(), 1, "{said}");
    assert!(
        said.starts_with("Export ") && said.contains(" lines, "),
        "{said}"
    );
    assert_eq!(
        over_the_ledger.status.code(),
        Some(2),
        "{}",
        stderr(&over_the_ledger)
    );
    assert!(stderr(&over_the_ledger).contains("ledger's own file"));
    assert_eq!(both.status.code(), Some(2), "{}", stderr(&both));
    // The ledger is still a ledger.
    let again = ec_billing()
        .args(["export", "--db", &db, "--format", "focus"])
        .output()
        .unwrap();
    assert_eq!(again.stdout, streamed.stdout);
}

#[test]
fn export_never_assumes_a_currencys_rate_and_names_a_dataset_path_that_is_a_file() {
    let sim = Sim::start(Faults::default());
    let scratch = Scratch::new("export-refusals");
    let db = scratch.file("costs.db");
    assert!(sim.run(&sync_args(&db, "month")).status.success());
    let file = scratch.file("not-a-folder");
    std::fs::write(&file, "keep me").unwrap();

    let euros = ec_billing()
        .args([
            "export",
            "--db",
            &db,
            "--format",
            "focus",
            "--currency",
            "EUR",
        ])
        .output()
        .unwrap();
    let dataset = ec_billing()
        .args([
            "export",
            "--db",
            &db,
            "--format",
            "focus",
            "--dataset",
            &file,
        ])
        .output()
        .unwrap();

    assert_eq!(euros.status.code(), Some(2), "{}", stderr(&euros));
    assert!(euros.stdout.is_empty());
    assert_eq!(stderr(&euros).lines().count(), 1, "{}", stderr(&euros));
    assert!(stderr(&euros).contains("--currency EUR needs --rate-per-ecu"));
    assert!(!dataset.status.success());
    assert!(
        stderr(&dataset).contains("not a folder"),
        "{}",
        stderr(&dataset)
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep me");
}

#[test]
fn report_writes_one_self_contained_page_with_the_exact_total_and_refuses_bad_input() {
    let sim = Sim::start(Faults::default());
    let scratch = Scratch::new("report");
    let db = scratch.file("costs.db");
    let out = scratch.file("report.html");
    assert!(sim.run(&sync_args(&db, "month")).status.success());

    let report = ec_billing()
        .args([
            "report",
            "--db",
            &db,
            "--org",
            "acme",
            "--deployment",
            "staging",
            "--rate-per-ecu",
            "0.5",
            "--currency",
            "EUR",
            "--out",
            &out,
        ])
        .output()
        .unwrap();
    assert!(report.status.success(), "{}", stderr(&report));
    let page = std::fs::read_to_string(&out).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>"), "{page:.200}");
    let total = sim.total("staging", "2024-01-01", "2024-04-01");
    assert!(page.contains(&format!("id=\"total\">{}</span> ECU", total.normalize())));
    let billed = (total * Decimal::new(5, 1)).normalize();
    assert!(page.contains(&format!("id=\"billed\">{billed}</span> EUR")));
    for outside in ["http://", "https://", "<script", "src="] {
        assert!(!page.contains(outside), "{outside}");
    }
    assert!(!std::path::Path::new(&format!("{out}.part")).exists());

    // Bad input: exit 2, before the ledger is opened, and no page.
    let refused = scratch.file("refused.html");
    for bad in [
        &["--from", "2024-02-01", "--to", "2024-01-01"][..],
        &["--rate-per-ecu", "1e3"],
        &["--rate-per-ecu", "1", "--currency", "euro"],
    ] {
        let output = ec_billing()
            .args([
                "report",
                "--db",
                &scratch.file("missing.db"),
                "--out",
                &refused,
            ])
            .args(bad)
            .output()
            .unwrap();
        assert_eq!(
            output.status.code(),
            Some(2),
            "{bad:?}: {}",
            stderr(&output)
        );
        assert_eq!(stderr(&output).lines().count(), 1, "{bad:?}");
    }
    let missing = ec_billing()
        .args([
            "report",
            "--db",
            &scratch.file("missing.db"),
            "--out",
            &refused,
        ])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(1), "{}", stderr(&missing));
    assert!(!std::path::Path::new(&refused).exists());
}

#[test]
fn report_never_writes_over_its_ledger_or_through_a_link() {
    let sim = Sim::start(Faults::default());
    let scratch = Scratch::new("report-out");
    let db = scratch.file("costs.db");
    assert!(sim.run(&sync_args(&db, "month")).status.success());
    let before = std::fs::read(&db).unwrap();
    let victim = scratch.file("victim.txt");
    std::fs::write(&victim, "keep me").unwrap();
    let link = scratch.file("link.html");
    std::os::unix::fs::symlink(&victim, &link).unwrap();
    // The ledger itself, named directly or through `./` and `..`, its lock, and a link.
    let roundabout = format!("{}/../{}/costs.db", scratch.file(""), {
        let dir = std::path::Path::new(&db).parent().unwrap();
        dir.file_name().unwrap().to_string_lossy().into_owned()
    });
    for out in [db.clone(), roundabout, format!("{db}.lock"), link.clone()] {
        let output = ec_billing()
            .args(["report", "--db", &db, "--out", &out])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{out}: {}", stderr(&output));
        assert_eq!(stderr(&output).lines().count(), 1, "{out}");
    }
    assert_eq!(
        std::fs::read(&db).unwrap(),
        before,
        "the ledger is untouched"
    );
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
}

// `export --out FILE` when the file cannot be written whole, and odd names.

/// A ledger of `prod` and `staging` by day from 2021 to the first quarter of 2024: a
/// FOCUS export of more than two of the export's 1 MiB write buffers (the writer's
/// error is then found mid-export, not at its end).
fn large_ledger(sim: &Sim, scratch: &Scratch) -> String {
    let db = scratch.file("costs.db");
    let mut args = sync_args(&db, "day");
    args[10] = "2021-01-01";
    let synced = sim.run(&args);
    assert!(synced.status.success(), "{}", stderr(&synced));
    let whole = ec_billing()
        .args(["export", "--db", &db, "--format", "focus"])
        .output()
        .unwrap();
    assert!(whole.stdout.len() > 2 << 20, "{} bytes", whole.stdout.len());
    db
}

/// `ec-billing export --db DB --format focus --out OUT` under `ulimit -f 64` (64 KiB),
/// with `shell` run first (to set the disposition of SIGXFSZ).
fn export_under_a_size_limit(shell: &str, db: &str, out: &str) -> Output {
    std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "{shell} ulimit -f 64; exec \"$0\" export --db \"$1\" --format focus --out \"$2\""
        ))
        .arg(env!("CARGO_BIN_EXE_ec-billing"))
        .arg(db)
        .arg(out)
        .env_remove("EC_API_KEY")
        .env_remove("EC_BASE_URL")
        .env_remove("EC_LEDGER_DB")
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

/// The names beside `out` that are parts of an export.
fn parts_beside(out: &str) -> Vec<String> {
    let dir = std::path::Path::new(out).parent().unwrap();
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".part"))
        .collect()
}

/// A write that fails mid-export (here EFBIG, as ENOSPC on a full disk) is one line
/// naming the file that could not be written, not the ledger, with its cause once; the
/// target is as it was and nothing is left beside it.
#[test]
fn a_write_that_fails_mid_export_names_the_file_written_not_the_ledger() {
    let sim = Sim::start(Faults::default());
    let scratch = Scratch::new("export-efbig");
    let db = large_ledger(&sim, &scratch);
    let out = scratch.file("focus.csv");
    std::fs::write(&out, "keep me").unwrap();

    let run = export_under_a_size_limit("trap '' XFSZ;", &db, &out);

    let said = stderr(&run);
    assert_eq!(run.status.code(), Some(1), "{:?}: {said}", run.status);
    assert_eq!(said.lines().count(), 1, "{said}");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "keep me");
    assert!(parts_beside(&out).is_empty(), "{:?}", parts_beside(&out));
    assert!(said.contains("focus.csv"), "the file is named: {said}");
    assert!(
        !said.contains("costs.db"),
        "the ledger is not blamed: {said}"
    );
}

/// Under a file-size limit the export is not killed by SIGXFSZ: its write fails (EFBIG),
/// it says so in one line, exits 1 and leaves nothing beside the target.
#[test]
fn an_export_over_a_file_size_limit_fails_with_a_line_and_leaves_no_part() {
    let sim = Sim::start(Faults::default());
    let scratch = Scratch::new("export-xfsz");
    let db = large_ledger(&sim, &scratch);
    let out = scratch.file("focus.csv");
    std::fs::write(&out, "keep me").unwrap();

    let run = export_under_a_size_limit("", &db, &out);

    assert_eq!(std::fs::read_to_string(&out).unwrap(), "keep me");
    assert!(parts_beside(&out).is_empty(), "{:?}", parts_beside(&out));
    assert_eq!(
        run.status.code(),
        Some(1),
        "{:?}: {}",
        run.status,
        stderr(&run)
    );
}

/// A target whose name is legal but long (here 244 bytes, under NAME_MAX 255) is
/// written: the part file beside it keeps its name short enough.
#[test]
fn a_target_with_a_long_legal_name_is_written() {
    let sim = Sim::start(Faults::default());
    let scratch = Scratch::new("export-long-name");
    let db = scratch.file("costs.db");
    assert!(sim.run(&sync_args(&db, "month")).status.success());
    let out = scratch.file(&format!("{}.csv", "a".repeat(240)));
    std::fs::write(&out, "keep me").unwrap();

    let run = ec_billing()
        .args(["export", "--db", &db, "--format", "csv", "--out", &out])
        .output()
        .unwrap();

    assert!(run.status.success(), "{}", stderr(&run));
    assert_ne!(std::fs::read_to_string(&out).unwrap(), "keep me");
}

/// A refused or failed `--out` says one line, exits 2 when refused before the
/// ledger is read (a folder, the ledger) and 1 when the file cannot be made (a folder
/// that does not exist); the ledger is untouched, nothing is left beside.
#[test]
fn odd_out_targets_say_one_line_and_leave_nothing() {
    let sim = Sim::start(Faults::default());
    let scratch = Scratch::new("export-odd");
    let db = scratch.file("costs.db");
    assert!(sim.run(&sync_args(&db, "month")).status.success());
    let before = std::fs::read(&db).unwrap();
    for (out, code) in [
        (scratch.file(""), 2),
        (scratch.file("costs.db-journal"), 2),
        (scratch.file("missing/focus.csv"), 1),
        (scratch.file("x/../costs.db"), 1),
    ] {
        let run = ec_billing()
            .args(["export", "--db", &db, "--format", "focus", "--out", &out])
            .output()
            .unwrap();
        let said = stderr(&run);
        assert_eq!(run.status.code(), Some(code), "{out}: {said}");
        assert_eq!(said.lines().count(), 1, "{said}");
        assert!(run.stdout.is_empty());
    }
    assert_eq!(std::fs::read(&db).unwrap(), before);
    assert!(parts_beside(&db).is_empty());
}
