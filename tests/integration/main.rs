//! The workspace's integration tests, in one binary (`cargo test --workspace` runs it).
//!
//! Every test talks to a server on loopback (httpmock, or a scripted server for fault
//! sequences); nothing reaches the real API, and no test sleeps for retries.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a failure to set a test up is that test's report"
)]

// Shared fixtures and client set-up for the tests below.
mod support;

// The architecture invariants about source files: layers, import circles, file sizes.
mod architecture;

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

// Hostile ids: one encoded path segment each, on every path; the rest refused.
mod hostile_ids;

// Sums of money that overflow: typed errors naming the window, never panics.
mod overflow;

// Bounds on what is read and waited for: error bodies, trickles, pacing, plans.
mod bounds;

// Adaptive pacing against the servers it meets.
mod pacing_behaviours;

// Server text made safe to print: escapes, length, the echoed key.
mod output_escaping;

// No silent wrong number: excess digits, repeated or misplaced chart buckets.
mod wrong_numbers;

// Server-chosen keys by the hundred thousand: indexed, exact, linear.
mod hostile_keys;

// Results a service can keep: serde round trips, exact.
mod keeping_results;

// Many deployments through one client: nothing lost when some fail.
mod fleets;

// The runnable examples of `ec-billing`, run.
mod examples;

// The ledger: incremental, exact, revision-aware syncs, and its exports.
mod ledger;

// The ledger against a careless caller and a corrupted disk: paths taken literally,
// windows checked against their records and repaired, no false revision, nothing
// exported that cannot be exact.
mod ledger_integrity;

// The ledger read back a chunk at a time: big windows whole and in order, from either store.
mod ledger_streaming;

// The ledger on PostgreSQL: a shared database, several processes, cut connections.
mod ledger_postgres;

// The FOCUS dataset: Parquet read back exactly, periods rewritten only when changed.
mod focus_dataset;

// The cost report: exact totals in the text, one chart per section, valid SVG, nothing
// outside the page, server text escaped.
mod report;

// Red team: exports to a file, and one-pass reads hashed on SQLite's thread.
mod export_to_file;
