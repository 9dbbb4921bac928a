//! Route handlers, grouped by area; each module mounts its routes through the
//! registry.

pub mod auth_api;
pub mod ops;
pub mod pages;
