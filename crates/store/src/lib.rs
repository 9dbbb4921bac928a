//! Persistence for Rampart: one repository layer over SQLite (default) and PostgreSQL.
//!
//! SQL is written once with `$n` placeholders (SQLite accepts them) and run on either
//! engine through the [`on_read!`], [`on_write!`] and [`on_tx!`] dispatch macros, so no query or
//! rule exists twice. Times are Unix milliseconds, identifiers UUID text.

pub mod audit;
mod db;
pub mod keys;
pub mod misc;
pub mod sessions;
pub mod tokens;
pub mod users;

pub use db::{Db, Engine, StoreError, Tx};

/// Result of a store operation.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
