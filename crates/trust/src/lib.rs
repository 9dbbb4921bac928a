//! The trust-and-safety context (D6, D9): support tickets with their threads, and
//! staff warnings on stores.
//!
//! One service, [`Trust`] (private fields). Who may do what is decided by
//! [`policy`] alone: the author and support staff (`manage_tickets`) see a ticket,
//! everyone else gets `NotFound`; status changes and assignment are staff work;
//! warnings need `warn_store`. Callers get views ([`TicketView`], [`TicketThread`],
//! [`TicketPage`], [`WarningView`]), never rows; IDs are kernel newtypes. Status
//! moves through one transition function ([`transition`]).
//!
//! Binding limits (B2) are the web layer's, through the shared limiter:
//! `PolicyName::TicketCreate` (5 per hour, keyed by user) on ticket creation and
//! `PolicyName::TicketMessage` (20 per hour, keyed by the ticket ID path parameter)
//! on replies.
//!
//! Architecture invariant: every staff action (status change, assignment, warning
//! create and resolve) writes exactly one audit row, in the same database
//! transaction as its change, and a no-op writes none. Nothing outside this crate
//! reads or writes `tickets`, `ticket_messages` or `store_warnings`.

pub mod policy;
mod service;
mod status;
mod store;
mod views;

pub use policy::{Assignee, Caller, Capacity, Denied, TicketAction};
pub use service::{Trust, TrustError, BODY_MAX, PAGE_MAX, REASON_MAX, SUBJECT_MAX};
pub use status::{
    transition, Side, TicketEvent, TicketStatus, TicketTransitionError, WarningStatus,
};
pub use views::{
    AssigneeFilter, Replied, StatusChange, TicketMessageView, TicketPage, TicketThread, TicketView,
    WarningView,
};
