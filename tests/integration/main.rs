//! The workspace's integration tests, in one binary (`cargo test --workspace` runs it).
//!
//! Every test talks to a server on loopback (httpmock); nothing reaches the real API.

// Shared fixtures and client set-up for the tests below.
mod support;

// The generated low-level client (`ec-billing-api`) against a plain httpmock server.
mod generated_client;

// The generated typed mocks (`ec-billing-httpmock`) driving the server.
mod typed_mocks;
