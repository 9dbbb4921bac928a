//! The checkout context's domain core (issue 10; requirements E1–E5): carts, the
//! business rules engine, payment provider adapters (the built-in sandbox and Stripe)
//! with the intent ownership check, and webhook signature verification.
//!
//! Architecture invariant: no card number ever enters this crate — only provider
//! references (intent and charge IDs, masked card details). Money is integer minor
//! units; time comes from the kernel [`Clock`](rampart_kernel::Clock). The tables are
//! this crate's (`store`, `idempotency`); [`service::Checkout`] is the one service the
//! web edge calls.

#![deny(missing_docs)]

pub mod cart;
pub mod idempotency;
mod inbox;
pub mod lookup;
pub mod notices;
pub mod payment;
pub mod rules;
pub mod sender;
pub mod service;
mod store;
pub mod webhook;
