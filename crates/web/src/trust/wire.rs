//! Wire types of the tickets and warnings API (`/v1`).

use rampart_trust::{
    Side, TicketMessageView, TicketStatus, TicketThread, TicketView, WarningStatus, WarningView,
    BODY_MAX, PAGE_MAX, REASON_MAX, SUBJECT_MAX,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `POST /v1/tickets`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTicketRequest {
    /// One line.
    #[schemars(length(min = 1, max = SUBJECT_MAX))]
    pub subject: String,
    /// The first message; line breaks are kept.
    #[schemars(length(min = 1, max = BODY_MAX))]
    pub body: String,
}

/// `POST /v1/tickets/{id}/messages`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplyRequest {
    /// The message; line breaks are kept.
    #[schemars(length(min = 1, max = BODY_MAX))]
    pub body: String,
}

/// Where a ticket stands.
#[derive(Deserialize, Serialize, JsonSchema, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum TicketStatusWire {
    /// Waiting for staff.
    Open,
    /// Waiting for the author.
    Pending,
    /// Answered; the author's reply reopens it.
    Resolved,
    /// Final for the author; staff may reopen it.
    Closed,
}

impl From<TicketStatus> for TicketStatusWire {
    fn from(s: TicketStatus) -> Self {
        match s {
            TicketStatus::Open => Self::Open,
            TicketStatus::Pending => Self::Pending,
            TicketStatus::Resolved => Self::Resolved,
            TicketStatus::Closed => Self::Closed,
        }
    }
}

impl From<TicketStatusWire> for TicketStatus {
    fn from(s: TicketStatusWire) -> Self {
        match s {
            TicketStatusWire::Open => Self::Open,
            TicketStatusWire::Pending => Self::Pending,
            TicketStatusWire::Resolved => Self::Resolved,
            TicketStatusWire::Closed => Self::Closed,
        }
    }
}

/// `POST /v1/tickets/{id}/status`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusRequest {
    /// The new status (the same status changes nothing and is not audited).
    pub status: TicketStatusWire,
}

/// `POST /v1/tickets/{id}/assign`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignRequest {
    /// The support staff member to assign; `null` unassigns.
    pub user_id: Option<String>,
}

/// `POST /v1/stores/{id}/warnings`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WarnRequest {
    /// Why; line breaks are kept.
    #[schemars(length(min = 1, max = REASON_MAX))]
    pub reason: String,
}

/// `GET /v1/tickets` query parameters.
#[derive(Deserialize, JsonSchema, Default)]
pub struct MineParams {
    /// Page size (default 20).
    #[serde(default)]
    #[schemars(range(min = 1, max = PAGE_MAX))]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[serde(default)]
    pub cursor: Option<String>,
}

/// `GET /v1/staff/tickets` query parameters.
#[derive(Deserialize, JsonSchema, Default)]
pub struct QueueParams {
    /// `open`, `pending`, `resolved`, `closed`, or `all` (the default).
    #[serde(default)]
    pub status: Option<String>,
    /// A staff member's user ID, `none` for unassigned tickets, or `any` (the
    /// default).
    #[serde(default)]
    pub assignee: Option<String>,
    /// Page size (default 20).
    #[serde(default)]
    #[schemars(range(min = 1, max = PAGE_MAX))]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[serde(default)]
    pub cursor: Option<String>,
}

/// A ticket without its thread.
#[derive(Serialize, JsonSchema)]
pub struct TicketResponse {
    /// Ticket ID.
    pub id: String,
    /// Who opened it.
    pub author_id: String,
    /// One line.
    pub subject: String,
    /// Where it stands.
    pub status: TicketStatusWire,
    /// The staff member it is assigned to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assignee_id: Option<String>,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Unix milliseconds (a reply, a status change or an assignment moves it).
    pub updated_at: i64,
}

impl From<TicketView> for TicketResponse {
    fn from(t: TicketView) -> Self {
        TicketResponse {
            id: t.id.into_string(),
            author_id: t.author.into_string(),
            subject: t.subject,
            status: t.status.into(),
            assignee_id: t.assignee.map(|u| u.into_string()),
            created_at: t.created_at,
            updated_at: t.updated_at,
        }
    }
}

/// Which side of a ticket wrote a message.
#[derive(Serialize, JsonSchema, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub enum SideWire {
    /// The ticket's author.
    Author,
    /// Support staff.
    Staff,
}

impl From<Side> for SideWire {
    fn from(s: Side) -> Self {
        match s {
            Side::Author => Self::Author,
            Side::Staff => Self::Staff,
        }
    }
}

/// One message of a ticket's thread.
#[derive(Serialize, JsonSchema)]
pub struct TicketMessageResponse {
    /// Message ID.
    pub id: String,
    /// The ticket.
    pub ticket_id: String,
    /// Who wrote it.
    pub author_id: String,
    /// The author's side or staff.
    pub side: SideWire,
    /// The text (may hold line breaks).
    pub body: String,
    /// Unix milliseconds.
    pub created_at: i64,
}

impl From<TicketMessageView> for TicketMessageResponse {
    fn from(m: TicketMessageView) -> Self {
        TicketMessageResponse {
            id: m.id.into_string(),
            ticket_id: m.ticket.into_string(),
            author_id: m.author.into_string(),
            side: m.side.into(),
            body: m.body,
            created_at: m.created_at,
        }
    }
}

/// A ticket with its thread.
#[derive(Serialize, JsonSchema)]
pub struct TicketThreadResponse {
    /// The ticket.
    pub ticket: TicketResponse,
    /// Its messages, oldest first.
    pub messages: Vec<TicketMessageResponse>,
    /// In which capacity the caller sees it.
    pub viewer: SideWire,
}

impl From<TicketThread> for TicketThreadResponse {
    fn from(t: TicketThread) -> Self {
        TicketThreadResponse {
            ticket: t.ticket.into(),
            messages: t.messages.into_iter().map(Into::into).collect(),
            viewer: match t.viewer {
                rampart_trust::Capacity::Author => SideWire::Author,
                rampart_trust::Capacity::Staff => SideWire::Staff,
            },
        }
    }
}

/// A page of tickets.
#[derive(Serialize, JsonSchema)]
pub struct TicketListResponse {
    /// Tickets on this page.
    pub tickets: Vec<TicketResponse>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// Where a store warning stands.
#[derive(Serialize, JsonSchema, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub enum WarningStatusWire {
    /// In force.
    Open,
    /// Resolved by staff (final).
    Resolved,
}

/// A staff warning on a store.
#[derive(Serialize, JsonSchema)]
pub struct WarningResponse {
    /// Warning ID.
    pub id: String,
    /// The store warned.
    pub store_id: String,
    /// The staff member who issued it.
    pub issued_by: String,
    /// Why.
    pub reason: String,
    /// Open or resolved.
    pub status: WarningStatusWire,
    /// Who resolved it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolved_by: Option<String>,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Unix milliseconds, once resolved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<i64>,
}

impl From<WarningView> for WarningResponse {
    fn from(w: WarningView) -> Self {
        WarningResponse {
            id: w.id.into_string(),
            store_id: w.store.into_string(),
            issued_by: w.issued_by.into_string(),
            reason: w.reason,
            status: match w.status {
                WarningStatus::Open => WarningStatusWire::Open,
                WarningStatus::Resolved => WarningStatusWire::Resolved,
            },
            resolved_by: w.resolved_by.map(|u| u.into_string()),
            created_at: w.created_at,
            resolved_at: w.resolved_at,
        }
    }
}

/// `GET /v1/stores/{id}/warnings`.
#[derive(Serialize, JsonSchema)]
pub struct WarningListResponse {
    /// The store's warnings.
    pub warnings: Vec<WarningResponse>,
}
