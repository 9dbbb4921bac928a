//! Service-level tests of the identity core that need a real database but not HTTP.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod rotation;
