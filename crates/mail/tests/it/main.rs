//! rampart-mail integration tests: the outbox queue on SQLite and PostgreSQL, and
//! delivery to a real SMTP server (aiosmtpd) in plain, STARTTLS and implicit-TLS modes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod delivery;
mod queue;
mod support;
