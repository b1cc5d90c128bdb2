//! The workspace's integration tests, in one binary (`cargo test --workspace` runs it).
//!
//! Every test talks to a server on loopback (httpmock, or a scripted server for fault
//! sequences); nothing reaches the real API, and no test sleeps for retries.

// Shared fixtures and client set-up for the tests below.
mod support;

// The generated low-level client (`ec-billing-api`) against a plain httpmock server.
mod generated_client;

// The generated typed mocks (`ec-billing-httpmock`) driving the server.
mod typed_mocks;

// `ec-billing`: windows, order and exact merged totals.
mod wrapper_windows;

// `ec-billing`: error mapping, retries, `Retry-After`, transport faults.
mod wrapper_errors;

// `ec-billing`: the items CSV.
mod wrapper_csv;

// `ec-billing`: the items CSV in many layouts, and its reported misreadings, pinned.
mod csv_layouts;

// The API key never shows up in output.
mod redaction;

// The simulator's answers, and fault drills against it.
mod simulator;

// Arbitrary and mutated input: errors, never panics.
mod bad_input;
