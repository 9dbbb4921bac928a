//! The ledger context (D3): escrow transactions whose money moves only as balanced
//! postings in a double-entry ledger, and the reconciliation that proves it.
//!
//! Architecture invariant: money moves only as balanced postings (summing to zero per
//! currency), written in the same database transaction as the escrow state change and
//! its audit row, each under a unique effect key so it can never be applied twice.
//! Balances are sums of postings; no total is stored. Nothing outside this crate
//! reads or writes the `ledger_*` and `escrow_transactions` tables.

pub mod escrow;
pub mod intents;
mod ledger;
pub mod listing;
pub mod monitor;
pub mod reconcile;
mod store;

pub use escrow::{
    postings_for, transition, Account, AccountKind, EscrowEvent, EscrowState, Posting,
    PostingError, Terms, TransitionError,
};
pub use intents::{Execution, IntentKind, IntentStatus, IntentView};
pub use ledger::{
    effect_key, Applied, EscrowLine, EscrowView, Ledger, LedgerError, NewEscrow, NewMultiEscrow,
    RefundEffect, MAX_LINES,
};
pub use listing::After;
pub use monitor::RiskCounts;
pub use reconcile::{reconcile, Anomaly, Report};
