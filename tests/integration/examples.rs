//! The runnable examples of `ec-billing` (`crates/ec-billing/examples/`), run here so
//! that `cargo test --workspace`, and so CI, runs every one of them, not only builds it:
//! each starts its own simulator in-process and asserts what it prints.

#[path = "../../crates/ec-billing/examples/year_of_one_deployment.rs"]
mod year_of_one_deployment;

#[path = "../../crates/ec-billing/examples/many_deployments.rs"]
mod many_deployments;

#[path = "../../crates/ec-billing/examples/streaming_windows.rs"]
mod streaming_windows;

#[path = "../../crates/ec-billing/examples/charts.rs"]
mod charts;

#[path = "../../crates/ec-billing/examples/custom_http_client.rs"]
mod custom_http_client;

#[path = "../../crates/ec-billing/examples/errors_by_code.rs"]
mod errors_by_code;

#[test]
fn the_year_of_one_deployment_example_runs() {
    year_of_one_deployment::main().expect("the example runs");
}

#[test]
fn the_many_deployments_example_runs() {
    many_deployments::main().expect("the example runs");
}

#[test]
fn the_streaming_windows_example_runs() {
    streaming_windows::main().expect("the example runs");
}

#[test]
fn the_charts_example_runs() {
    charts::main().expect("the example runs");
}

#[test]
fn the_custom_http_client_example_runs() {
    custom_http_client::main().expect("the example runs");
}

#[test]
fn the_errors_by_code_example_runs() {
    errors_by_code::main().expect("the example runs");
}
