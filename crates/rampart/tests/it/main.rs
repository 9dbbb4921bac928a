//! Integration tests of the real server over HTTP (one test binary).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod abuse;
mod audit;
mod checkout;
mod checkout_pages;
mod cli;
mod identity;
mod listener;
mod market;
mod messaging;
mod openapi;
mod ops;
mod origin;
mod pages;
mod staff;
mod tls;
mod trust;
mod worker;
mod ws;
mod ws_process;
