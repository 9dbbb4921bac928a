//! The ledger context (D3): escrow transactions whose money moves only as balanced
//! postings in a double-entry ledger, and the reconciliation that proves it.

pub mod escrow;

pub use escrow::{
    postings_for, transition, Account, AccountKind, EscrowEvent, EscrowState, Posting,
    PostingError, Terms, TransitionError,
};
