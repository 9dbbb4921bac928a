//! The checkout context's domain core (issue 10; requirements E1–E5): carts, the
//! business rules engine, payment provider adapters (the built-in sandbox and Stripe)
//! with the intent ownership check, and webhook signature verification.
//!
//! Architecture invariant: no card number ever enters this crate — only provider
//! references (intent and charge IDs, masked card details). Money is integer minor
//! units; time comes from the kernel [`Clock`](rampart_kernel::Clock). No tables and no
//! routes here yet: the store layer and the web edge wire this core later.

#![deny(missing_docs)]

pub mod cart;
pub mod payment;
pub mod rules;
pub mod webhook;
