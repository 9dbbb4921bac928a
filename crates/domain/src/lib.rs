//! Pure domain types and rules of Rampart: no I/O, no wire formats.
//!
//! Everything that crosses a trust boundary is parsed into a type from here once
//! (see [`fields`]) and trusted afterwards.

pub mod account;
pub mod audit;
pub mod clock;
pub mod fields;
pub mod permission;

pub use clock::{Clock, ManualClock, SystemClock};
pub use fields::{Email, FieldError, FieldErrors, Username};
pub use permission::Permission;
