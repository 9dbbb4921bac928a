//! The identity context: accounts, credentials and the sessions they open.
//!
//! One service, [`Identity`], serves every flow for both the web pages and the `/v1`
//! API. Its code is split by flow — [`accounts`] (registration, profile), [`invites`],
//! [`login`] (with lockout), [`sessions`], [`refresh`] (access tokens and rotating
//! refresh families), [`recovery`] (reset and password change), [`pats`], [`oauth`]
//! (client credentials), [`twofactor`] (TOTP), [`moderation`] (bans, roles) — and each
//! flow owns the SQL of its tables in its `store` module. Building blocks with no I/O
//! sit beside them: [`password`] (argon2id, bounded), [`tokens`] (opaque prefixed
//! tokens stored as hashes), [`crypto`] (AEAD key ring), [`jwt`], [`totp`], and
//! [`keys`] (signing-key lifecycle).
//!
//! Architecture invariants: plaintext secrets (passwords, tokens, TOTP seeds) exist
//! only in requests and in the one response that hands a new token out; the database
//! holds hashes or ciphertext. Nothing outside this crate reads or writes its tables,
//! and what it returns are its own view types, not rows. Secret-holding types redact
//! themselves in `Debug`.

#![deny(missing_docs)]

pub mod crypto;
pub mod jwt;
pub mod keys;
pub mod password;
pub mod secret;
pub mod tokens;
pub mod totp;

pub mod accounts;
pub mod invites;
pub mod login;
pub mod moderation;
pub mod notifications;
pub mod oauth;
pub mod outbox;
pub mod pats;
pub mod recovery;
pub mod refresh;
pub mod sessions;
pub mod twofactor;
pub mod verification;

mod prelude;
mod principal;
mod service;

pub use principal::{Principal, Scope, Scopes, Subject, UnknownScope, Via};
pub use secret::SecretString;
pub use service::*;
