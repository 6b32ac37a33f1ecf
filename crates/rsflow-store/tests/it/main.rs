//! The integration tests of rsflow-store in one binary (one link instead of one per file): each
//! former `tests/<name>.rs` is the module `<name>`, so `cargo test -p rsflow-store --test it
//! postgres::` runs the PostgreSQL suite, `mysql::` the MySQL one, and so on.

mod common;
#[macro_use]
mod suite;

mod auth;
mod concurrency;
mod heads;
mod mysql;
mod postgres;
mod reference;
mod registry;
mod sqlite;
mod trace_interop;
