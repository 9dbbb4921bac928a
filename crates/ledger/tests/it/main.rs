//! Integration tests of the ledger on SQLite and PostgreSQL (one binary).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

mod concurrency;
mod flow;
mod lines;
mod props;
mod reconcile;
