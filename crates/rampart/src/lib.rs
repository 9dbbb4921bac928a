//! The `rampart` binary's library half: configuration, secrets, logging, wiring and
//! the command implementations, so integration tests can start the real server
//! in-process.

pub mod cli;
pub mod config;
pub mod listener;
pub mod logging;
pub mod secrets;
pub mod server;
pub mod tls;
