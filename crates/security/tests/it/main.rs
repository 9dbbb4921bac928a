//! Integration tests of `rampart_security::ratelimit`: one binary, run against
//! the memory backend always and Redis when `RAMPART_TEST_REDIS_URL` is set.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod memory_bound;
mod model;
mod properties;
mod redis_shared;
mod semantics;
mod support;
