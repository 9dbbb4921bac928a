//! The kernel: pure types and rules shared by every context — identifiers, money, the
//! clock, field parsing and errors, roles and account status.
//!
//! Architecture invariant: no I/O and no wire formats (nothing here derives
//! `Serialize` or touches a database). Everything that crosses a trust boundary is
//! parsed into a type from here once (see [`fields`]) and trusted afterwards.

pub mod account;
pub mod clock;
pub mod fields;
pub mod ids;
pub mod money;
pub mod permission;

pub use clock::{Clock, ManualClock, SystemClock};
pub use fields::{Email, FieldError, FieldErrors, Username};
pub use ids::{ClientId, SessionId, TokenId, UserId};
pub use money::{Currency, Money};
pub use permission::Permission;
