//! Integration tests of trust and safety on SQLite and PostgreSQL (one binary).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

mod rls;
mod tickets;
mod warnings;
