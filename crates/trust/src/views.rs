//! What the service returns: views, never rows.

use crate::policy::Capacity;
use crate::status::{Side, TicketStatus, WarningStatus};
use rampart_kernel::ids::{StoreId, TicketId, TicketMessageId, WarningId};
use rampart_kernel::UserId;

/// A ticket without its thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketView {
    /// Its ID (UUIDv7).
    pub id: TicketId,
    /// Who opened it.
    pub author: UserId,
    /// One line.
    pub subject: String,
    /// Where it stands.
    pub status: TicketStatus,
    /// The staff member it is assigned to.
    pub assignee: Option<UserId>,
    /// Unix ms.
    pub created_at: i64,
    /// Last reply, status change or assignment, Unix ms.
    pub updated_at: i64,
}

/// One message of a ticket's thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketMessageView {
    /// Its ID (UUIDv7).
    pub id: TicketMessageId,
    /// The ticket.
    pub ticket: TicketId,
    /// Who wrote it.
    pub author: UserId,
    /// The author's side or staff.
    pub side: Side,
    /// The text (multi-line).
    pub body: String,
    /// Unix ms.
    pub created_at: i64,
}

/// A ticket with its whole thread, oldest message first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketThread {
    /// The ticket.
    pub ticket: TicketView,
    /// Its messages, oldest first.
    pub messages: Vec<TicketMessageView>,
    /// In which capacity the caller sees it (what the page may offer them).
    pub viewer: Capacity,
}

/// A page of tickets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketPage {
    /// The tickets on this page.
    pub tickets: Vec<TicketView>,
    /// Pass as `cursor` for the next page; `None` on the last page.
    pub next: Option<TicketId>,
}

/// A status change: from, to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusChange {
    /// Before.
    pub old: TicketStatus,
    /// After.
    pub new: TicketStatus,
}

/// The outcome of a reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replied {
    /// The stored message.
    pub message: TicketMessageView,
    /// The ticket after the reply.
    pub ticket: TicketView,
    /// The status change the reply caused (an author's reply reopening the ticket).
    pub status_change: Option<StatusChange>,
    /// Whom the real-time layer should tell: the author for a staff reply, the
    /// assignee (if any) for the author's.
    pub notify: Vec<UserId>,
}

/// Which tickets the queue shows, by assignee.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssigneeFilter {
    /// Assigned or not.
    Any,
    /// Nobody's yet.
    Unassigned,
    /// This staff member's.
    User(UserId),
}

/// A staff warning on a store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WarningView {
    /// Its ID (UUIDv7).
    pub id: WarningId,
    /// The store warned.
    pub store: StoreId,
    /// The staff member who issued it.
    pub issued_by: UserId,
    /// Why (multi-line).
    pub reason: String,
    /// Open or resolved.
    pub status: WarningStatus,
    /// Who resolved it.
    pub resolved_by: Option<UserId>,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub resolved_at: Option<i64>,
}
