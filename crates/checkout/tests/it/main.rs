//! Integration tests of rampart-checkout: one test binary.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod properties;
mod service;
mod stripe;
