//! The database: SQLite (default) or PostgreSQL behind one handle.
//!
//! This crate knows engines, pools, transactions, migrations and the row-level-security
//! context, and nothing about any table's meaning: each bounded-context crate owns the
//! SQL of its own tables and runs it through [`on_conn!`] (a pool or an open
//! transaction, one function either way), [`on_read!`], [`on_write!`] and [`on_tx!`].
//! SQL is written once with `$n` placeholders (SQLite accepts them) so no query exists
//! twice. Times are Unix milliseconds, identifiers UUID text.

mod db;
pub mod notify;

#[cfg(feature = "testing")]
pub mod testing;

pub use db::{Conn, Db, DbError, Engine, RlsContext, RolePosture, Tx};

/// Result of a database operation.
pub type Result<T, E = DbError> = std::result::Result<T, E>;
