//! Rampart identity core: pure, I/O-free building blocks for authentication — password
//! hashing, opaque tokens, field encryption, JWT access tokens and TOTP.
//!
//! Nothing here touches a database or HTTP; services in other crates compose these pieces.
//! Secret-holding types redact themselves in `Debug`.

#![deny(missing_docs)]

pub mod crypto;
pub mod jwt;
pub mod keys;
pub mod password;
pub mod secret;
pub mod service;
pub mod tokens;
pub mod totp;

pub use secret::SecretString;
