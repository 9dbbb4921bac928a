//! The tamper-evident audit log (C1, C2): typed actions and targets, the hash chain,
//! appends inside the caller's transaction, verification and pruning.
//!
//! Architecture invariant: this crate owns the `audit_log` and `audit_chain` tables; no
//! other crate writes them. An audit row is written with [`record`] in the same
//! transaction as the change it records, so both commit or neither does.

pub mod anchor;
pub mod chain;
pub mod keys;
mod log;

pub use anchor::{AnchorFinding, AnchorKey, AnchorPublicKey, Checkpoint};
pub use chain::{ActionType, Target, TargetKind};
pub use keys::{install_keys, installed_keys, AuditKeys, KeyError};
pub use log::*;
