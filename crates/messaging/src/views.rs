//! What the service returns: views and the real-time events, never rows.

use crate::content::ContentType;
use rampart_kernel::ids::{ConversationId, MessageId, MessageReportId};
use rampart_kernel::UserId;

/// One message as a participant sees it. The payload is exactly what was stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageView {
    /// Its ID (UUIDv7: ordering by ID is ordering by time).
    pub id: MessageId,
    /// The conversation it belongs to.
    pub conversation: ConversationId,
    /// Who sent it.
    pub sender: UserId,
    /// The other participant.
    pub recipient: UserId,
    /// What the payload is.
    pub content_type: ContentType,
    /// The opaque payload.
    pub payload: Vec<u8>,
    /// Unix ms.
    pub created_at: i64,
}

/// A read receipt: `reader` has read `conversation` up to and including `up_to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadReceipt {
    /// The conversation.
    pub conversation: ConversationId,
    /// Who read.
    pub reader: UserId,
    /// The last message read (never moves backwards).
    pub up_to: MessageId,
    /// When the pointer last moved, Unix ms.
    pub read_at: i64,
}

/// An event for the real-time layer to push to every open connection of each user
/// in `to` (the other participant, and the actor's own other devices and tabs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// A new message.
    Message {
        /// Who should receive the event: the recipient, then the sender.
        to: Vec<UserId>,
        /// The message.
        message: MessageView,
    },
    /// A read receipt.
    Read {
        /// Who should receive the event: the other participant, then the reader.
        to: Vec<UserId>,
        /// The receipt.
        receipt: ReadReceipt,
    },
}

impl Delivery {
    /// The users whose connections get this event.
    pub fn recipients(&self) -> &[UserId] {
        match self {
            Delivery::Message { to, .. } | Delivery::Read { to, .. } => to,
        }
    }
}

/// The outcome of a send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// The stored message.
    pub message: MessageView,
    /// The event to push.
    pub delivery: Delivery,
}

/// The outcome of marking a conversation read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarkedRead {
    /// The reader's read state after the call (unchanged when `moved` is false).
    pub receipt: ReadReceipt,
    /// Whether the pointer moved forward.
    pub moved: bool,
    /// The receipt to push, only when the pointer moved.
    pub delivery: Option<Delivery>,
}

/// Which conversation: by ID, or the one with another user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConversationRef {
    /// By its ID.
    Id(ConversationId),
    /// The conversation between the caller and this user.
    With(UserId),
}

/// One inbox line: a conversation, its last message and how many of the other's
/// messages the caller has not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationSummary {
    /// The conversation.
    pub id: ConversationId,
    /// The other participant.
    pub other: UserId,
    /// The newest message.
    pub last_message: MessageView,
    /// Messages from the other participant after the caller's read pointer.
    pub unread: i64,
}

/// A page of the inbox, newest conversation first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxPage {
    /// The conversations on this page.
    pub conversations: Vec<ConversationSummary>,
    /// Pass as `cursor` for the next (older) page; `None` on the last page.
    pub next: Option<MessageId>,
}

/// A page of one conversation, newest message first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationPage {
    /// The conversation.
    pub id: ConversationId,
    /// The other participant.
    pub other: UserId,
    /// The messages on this page, newest first.
    pub messages: Vec<MessageView>,
    /// Pass as `before` for the next (older) page; `None` on the last page.
    pub next_before: Option<MessageId>,
    /// The caller's read pointer.
    pub my_last_read: Option<MessageId>,
    /// The other participant's read pointer ("seen").
    pub their_last_read: Option<MessageId>,
}

/// A user the caller has blocked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockedUser {
    /// The blocked user.
    pub user: UserId,
    /// When, Unix ms.
    pub since: i64,
}

/// Where a report stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportStatus {
    /// Waiting for staff.
    Open,
    /// Handled.
    Closed,
}

impl ReportStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            ReportStatus::Open => "open",
            ReportStatus::Closed => "closed",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<ReportStatus> {
        match s {
            "open" => Some(ReportStatus::Open),
            "closed" => Some(ReportStatus::Closed),
            _ => None,
        }
    }
}

/// A message reported to staff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportView {
    /// The report.
    pub id: MessageReportId,
    /// The reported message.
    pub message: MessageId,
    /// Who reported it.
    pub reporter: UserId,
    /// Why, in the reporter's words.
    pub reason: String,
    /// Open or closed.
    pub status: ReportStatus,
    /// Unix ms.
    pub created_at: i64,
}
