//! The integration tests of rsflow-api in one binary (one link instead of one per file): each
//! former `tests/<name>.rs` is the module `<name>`, so `cargo test -p rsflow-api --test it
//! <name>::` runs one of them.

mod common;

mod artifacts_proxy;
mod artifacts_runs;
mod artifacts_streaming;
mod fuzz_smoke;
mod registry_api;
mod tracking_api;
mod web_ui;
