//! Store-level tests of the audit chain (C1, C2) on SQLite and PostgreSQL (one binary).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

mod chain;
mod concurrency;
mod keyed;
mod props;
mod prune;
mod rollback;
mod tamper;
