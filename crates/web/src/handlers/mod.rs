//! Route handlers, grouped by area; each module mounts its routes through the
//! registry.

pub mod ops;
