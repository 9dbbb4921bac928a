//! Integration tests of messaging on SQLite and PostgreSQL (one binary).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

mod blocks;
mod conversations;
mod prekeys;
mod reports;
mod rls;
