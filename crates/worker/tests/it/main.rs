//! Integration tests of the worker on SQLite and PostgreSQL (one binary).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

mod intents;
mod schedule;
