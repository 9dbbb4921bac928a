//! Security mechanisms shared by the Rampart services: rate limiting today,
//! CSRF tokens, client IP resolution, security events and redaction to come.

pub mod ratelimit;
