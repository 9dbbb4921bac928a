//! Security mechanisms shared by every route: CSRF tokens, client IP resolution,
//! security events, metrics, log redaction and the rate-limiting engine.
//!
//! Nothing here knows about HTTP routing; the web crate turns these into layers.

pub mod client_ip;
pub mod csrf;
pub mod events;
pub mod metrics;
pub mod ratelimit;
pub mod redact;
