//! The `Trust` service: every write is one database transaction, and every staff
//! action writes its one audit row inside it. Before reading, a transaction says
//! whom it acts for (PostgreSQL row-level security): a customer's only their own
//! tickets, a store's warnings only that store.

use crate::policy::{self, Assignee, Caller, Capacity, Denied, TicketAction, TicketScope};
use crate::status::{self, Side, TicketEvent, TicketStatus, TicketTransitionError, WarningStatus};
use crate::store::{self, MessageRow, QueueFilter, TicketRow, WarningRow};
use crate::views::{
    AssigneeFilter, Replied, StatusChange, TicketMessageView, TicketPage, TicketThread, TicketView,
    WarningView,
};
use rampart_audit::{self as audit, ActionType, NewAuditEntry, Target, TargetKind};
use rampart_db::{Db, DbError, RlsContext, Tx};
use rampart_kernel::fields::{bounded_text, multiline_text};
use rampart_kernel::ids::{StoreId, TicketId, TicketMessageId, WarningId};
use rampart_kernel::{Clock, FieldError, FieldErrors, UserId};
use std::sync::Arc;

/// Longest ticket subject, in characters (one line).
pub const SUBJECT_MAX: usize = 200;
/// Longest ticket message, in characters (multi-line).
pub const BODY_MAX: usize = 5_000;
/// Longest warning reason, in characters (multi-line).
pub const REASON_MAX: usize = 1_000;
/// Most tickets on one page.
pub const PAGE_MAX: u32 = 100;

/// What callers branch on.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    /// No such ticket, warning, store or user — or the caller may not know it exists
    /// (the same answer).
    #[error("not found")]
    NotFound,
    /// The caller sees the ticket but may not do this to it.
    #[error("forbidden")]
    Forbidden,
    /// Input failed validation (subject, body, reason).
    #[error("validation failed: {0}")]
    Validation(FieldErrors),
    /// The ticket is closed: nobody replies until staff reopen it.
    #[error("the ticket is closed")]
    TicketClosed,
    /// The user to assign does not hold `manage_tickets`.
    #[error("the assignee is not support staff")]
    NotSupportStaff,
    /// Stored data does not parse (a bug or tampering).
    #[error("corrupt trust data: {0}")]
    Corrupt(String),
    /// The database failed.
    #[error(transparent)]
    Db(DbError),
}

impl From<DbError> for TrustError {
    fn from(e: DbError) -> Self {
        match e {
            // A store or user ID that does not exist fails its foreign key.
            DbError::Db(sqlx::Error::Database(d)) if d.is_foreign_key_violation() => {
                TrustError::NotFound
            }
            DbError::NotFound => TrustError::NotFound,
            e => TrustError::Db(e),
        }
    }
}

impl From<FieldError> for TrustError {
    fn from(e: FieldError) -> Self {
        TrustError::Validation(FieldErrors(vec![e]))
    }
}

impl From<Denied> for TrustError {
    fn from(d: Denied) -> Self {
        match d {
            Denied::NotFound => TrustError::NotFound,
            Denied::Forbidden => TrustError::Forbidden,
        }
    }
}

impl From<TicketTransitionError> for TrustError {
    fn from(e: TicketTransitionError) -> Self {
        match e {
            TicketTransitionError::Closed => TrustError::TicketClosed,
        }
    }
}

/// The trust-and-safety service.
#[derive(Debug, Clone)]
pub struct Trust {
    db: Db,
    clock: Arc<dyn Clock>,
}

fn ticket_view(r: &TicketRow) -> Result<TicketView, TrustError> {
    let status = r
        .status
        .parse::<TicketStatus>()
        .map_err(|_| TrustError::Corrupt(format!("status of ticket {}", r.id)))?;
    Ok(TicketView {
        id: TicketId::from_stored(r.id.clone()),
        author: UserId::from_stored(r.author_id.clone()),
        subject: r.subject.clone(),
        status,
        assignee: r.assignee_id.clone().map(UserId::from_stored),
        created_at: r.created_at,
        updated_at: r.updated_at,
    })
}

fn message_view(r: MessageRow) -> Result<TicketMessageView, TrustError> {
    let side = Side::parse(&r.side)
        .ok_or_else(|| TrustError::Corrupt(format!("side of ticket message {}", r.id)))?;
    Ok(TicketMessageView {
        id: TicketMessageId::from_stored(r.id),
        ticket: TicketId::from_stored(r.ticket_id),
        author: UserId::from_stored(r.author_id),
        side,
        body: r.body,
        created_at: r.created_at,
    })
}

fn warning_view(r: WarningRow) -> Result<WarningView, TrustError> {
    let status = WarningStatus::parse(&r.status)
        .ok_or_else(|| TrustError::Corrupt(format!("status of warning {}", r.id)))?;
    Ok(WarningView {
        id: WarningId::from_stored(r.id),
        store: StoreId::from_stored(r.store_id),
        issued_by: UserId::from_stored(r.issued_by),
        reason: r.reason,
        status,
        resolved_by: r.resolved_by.map(UserId::from_stored),
        created_at: r.created_at,
        resolved_at: r.resolved_at,
    })
}

/// Page size within 1..=PAGE_MAX, plus one row to learn whether another page exists.
fn fetch_limit(limit: u32) -> i64 {
    i64::from(limit.clamp(1, PAGE_MAX)) + 1
}

fn page(mut rows: Vec<TicketRow>, want: i64) -> Result<TicketPage, TrustError> {
    let more = rows.len() as i64 == want;
    if more {
        rows.pop();
    }
    let tickets = rows
        .iter()
        .map(ticket_view)
        .collect::<Result<Vec<_>, _>>()?;
    let next = if more {
        tickets.last().map(|t| t.id.clone())
    } else {
        None
    };
    Ok(TicketPage { tickets, next })
}

fn body_text(raw: &str) -> Result<String, FieldError> {
    multiline_text("body", raw, 1, BODY_MAX)
}

impl Trust {
    /// The service over `db`, reading time from `clock`.
    pub fn new(db: Db, clock: Arc<dyn Clock>) -> Trust {
        Trust { db, clock }
    }

    /// A transaction in the row-level-security context of `scope`.
    async fn begin_in(&self, scope: &TicketScope) -> Result<Tx, TrustError> {
        let mut tx = self.db.begin().await?;
        if let TicketScope::AuthorOnly(user) = scope {
            tx.set_context(RlsContext {
                user_id: Some(user.as_str()),
                workspace_id: None,
            })
            .await?;
        }
        Ok(tx)
    }

    /// A transaction acting in one store (warnings).
    async fn begin_in_store(&self, store: &StoreId) -> Result<Tx, TrustError> {
        let mut tx = self.db.begin().await?;
        tx.set_context(RlsContext {
            user_id: None,
            workspace_id: Some(store.as_str()),
        })
        .await?;
        Ok(tx)
    }

    /// Opens the transaction for `caller`, reads the ticket (locked when `lock`) in
    /// the caller's scope, and asks the policy whether they may do `action`.
    async fn load(
        &self,
        caller: Option<&Caller>,
        id: &TicketId,
        action: TicketAction,
        lock: bool,
    ) -> Result<(Tx, TicketRow, Capacity), TrustError> {
        let scope = policy::ticket_scope(caller)?;
        let mut tx = self.begin_in(&scope).await?;
        let row = store::ticket(&mut tx, id.as_str(), lock)
            .await?
            .ok_or(TrustError::NotFound)?;
        let capacity = policy::ticket(caller, &UserId::from_stored(row.author_id.clone()), action)?;
        Ok((tx, row, capacity))
    }

    async fn audit_status(
        tx: &mut Tx,
        caller: &Caller,
        ticket: &str,
        change: StatusChange,
        by: Capacity,
        now: i64,
    ) -> Result<(), TrustError> {
        audit::record(
            tx,
            NewAuditEntry {
                actor_user_uuid: Some(caller.user.as_str()),
                action: ActionType::TicketStatusChange,
                target: Target::new(TargetKind::Ticket, ticket),
                metadata: serde_json::json!({
                    "old_status": change.old.as_str(),
                    "new_status": change.new.as_str(),
                    "by": match by {
                        Capacity::Staff => "staff",
                        Capacity::Author => "author_reply",
                    },
                }),
                request_id: caller.request_id.as_deref(),
                created_at: now,
            },
        )
        .await?;
        Ok(())
    }

    // ----- tickets ------------------------------------------------------------------

    /// Opens a ticket for `caller` with `subject` (1..=[`SUBJECT_MAX`] characters, one
    /// line) and a first message `body` (1..=[`BODY_MAX`], multi-line); status open,
    /// unassigned. Not audited (not a staff action). The binding limit (B2: 5 per
    /// hour per user) is the web layer's: `PolicyName::TicketCreate`.
    pub async fn create_ticket(
        &self,
        caller: &Caller,
        subject: &str,
        body: &str,
    ) -> Result<TicketThread, TrustError> {
        let mut errors = FieldErrors::new();
        let subject = errors.take(bounded_text("subject", subject, 1, SUBJECT_MAX));
        let body = errors.take(body_text(body));
        let (Some(subject), Some(body)) = (subject, body) else {
            return Err(TrustError::Validation(errors));
        };
        let mut tx = self
            .begin_in(&TicketScope::AuthorOnly(caller.user.clone()))
            .await?;
        let now = self.clock.now_ms();
        let row = TicketRow {
            id: TicketId::generate().into_string(),
            author_id: caller.user.as_str().to_owned(),
            subject,
            status: TicketStatus::Open.as_str().to_owned(),
            assignee_id: None,
            created_at: now,
            updated_at: now,
        };
        store::insert_ticket(&mut tx, &row).await?;
        let msg = MessageRow {
            id: TicketMessageId::generate().into_string(),
            ticket_id: row.id.clone(),
            author_id: row.author_id.clone(),
            side: Side::Author.as_str().to_owned(),
            body,
            created_at: now,
        };
        store::insert_message(&mut tx, &msg).await?;
        tx.commit().await?;
        Ok(TicketThread {
            ticket: ticket_view(&row)?,
            messages: vec![message_view(msg)?],
            viewer: Capacity::Author,
        })
    }

    /// Adds `body` to the ticket's thread, on the author's side when the caller wrote
    /// the ticket and on staff's side for support staff; anyone else gets
    /// [`TrustError::NotFound`]. A closed ticket takes no replies
    /// ([`TrustError::TicketClosed`]). The author's reply to a pending or resolved
    /// ticket reopens it, audited as `ticket_status_change` (`by: author_reply`) in
    /// the same transaction. The binding limit (B2: 20 per hour per ticket) is the
    /// web layer's: `PolicyName::TicketMessage`.
    pub async fn reply(
        &self,
        caller: &Caller,
        ticket: &TicketId,
        body: &str,
    ) -> Result<Replied, TrustError> {
        let body = body_text(body)?;
        let (mut tx, mut row, capacity) = self
            .load(Some(caller), ticket, TicketAction::Reply, true)
            .await?;
        let old = ticket_view(&row)?.status;
        let (side, event) = match capacity {
            Capacity::Author => (Side::Author, TicketEvent::AuthorReply),
            Capacity::Staff => (Side::Staff, TicketEvent::StaffReply),
        };
        let next = status::transition(old, event)?;
        let now = self.clock.now_ms();
        let msg = MessageRow {
            id: TicketMessageId::generate().into_string(),
            ticket_id: row.id.clone(),
            author_id: caller.user.as_str().to_owned(),
            side: side.as_str().to_owned(),
            body,
            created_at: now,
        };
        store::insert_message(&mut tx, &msg).await?;
        let status_change = next.map(|new| StatusChange { old, new });
        if let Some(change) = status_change {
            row.status = change.new.as_str().to_owned();
        }
        row.updated_at = now;
        store::update_ticket(
            &mut tx,
            &row.id,
            &row.status,
            row.assignee_id.as_deref(),
            now,
        )
        .await?;
        if let Some(change) = status_change {
            Self::audit_status(&mut tx, caller, &row.id, change, capacity, now).await?;
        }
        tx.commit().await?;
        let view = ticket_view(&row)?;
        let notify = match capacity {
            Capacity::Staff => vec![view.author.clone()],
            Capacity::Author => view.assignee.iter().cloned().collect(),
        };
        Ok(Replied {
            message: message_view(msg)?,
            ticket: view,
            status_change,
            notify,
        })
    }

    /// The ticket with its thread, for its author or support staff; anyone else —
    /// another customer, a seller, an anonymous caller (`None`) — gets
    /// [`TrustError::NotFound`].
    pub async fn ticket(
        &self,
        caller: Option<&Caller>,
        id: &TicketId,
    ) -> Result<TicketThread, TrustError> {
        let (mut tx, row, viewer) = self.load(caller, id, TicketAction::View, false).await?;
        let messages = store::messages(&mut tx, &row.id)
            .await?
            .into_iter()
            .map(message_view)
            .collect::<Result<Vec<_>, _>>()?;
        tx.commit().await?;
        Ok(TicketThread {
            ticket: ticket_view(&row)?,
            messages,
            viewer,
        })
    }

    /// The caller's own tickets, newest first; `cursor` is the previous page's `next`.
    /// `limit` is clamped to 1..=[`PAGE_MAX`].
    pub async fn my_tickets(
        &self,
        caller: &Caller,
        cursor: Option<&TicketId>,
        limit: u32,
    ) -> Result<TicketPage, TrustError> {
        let want = fetch_limit(limit);
        let mut tx = self
            .begin_in(&TicketScope::AuthorOnly(caller.user.clone()))
            .await?;
        let rows = store::tickets_of(
            &mut tx,
            caller.user.as_str(),
            cursor.map(TicketId::as_str),
            want,
        )
        .await?;
        tx.commit().await?;
        page(rows, want)
    }

    /// The staff queue, oldest ticket first, optionally only one status and/or one
    /// assignee (or the unassigned); `cursor` is the previous page's `next`. Support
    /// staff only (others: [`TrustError::NotFound`], as a route with a permission).
    pub async fn ticket_queue(
        &self,
        caller: &Caller,
        status: Option<TicketStatus>,
        assignee: &AssigneeFilter,
        cursor: Option<&TicketId>,
        limit: u32,
    ) -> Result<TicketPage, TrustError> {
        policy::queue(caller)?;
        let want = fetch_limit(limit);
        let filter = QueueFilter {
            status: status.map(TicketStatus::as_str),
            assignee: match assignee {
                AssigneeFilter::Any => None,
                AssigneeFilter::Unassigned => Some(None),
                AssigneeFilter::User(u) => Some(Some(u.as_str())),
            },
            after: cursor.map(TicketId::as_str),
        };
        let mut tx = self.begin_in(&TicketScope::All).await?;
        let rows = store::queue(&mut tx, &filter, want).await?;
        tx.commit().await?;
        page(rows, want)
    }

    /// Support staff set the ticket's status. A change is audited as
    /// `ticket_status_change` (metadata `old_status`, `new_status`) in its
    /// transaction; setting the status it already has changes nothing and writes no
    /// audit row. The author gets [`TrustError::Forbidden`]; anyone else who is not
    /// support staff [`TrustError::NotFound`].
    pub async fn set_status(
        &self,
        caller: &Caller,
        ticket: &TicketId,
        status: TicketStatus,
    ) -> Result<TicketView, TrustError> {
        let (mut tx, mut row, capacity) = self
            .load(Some(caller), ticket, TicketAction::ChangeStatus, true)
            .await?;
        let old = ticket_view(&row)?.status;
        let Some(new) = status::transition(old, TicketEvent::StaffSets(status))? else {
            tx.rollback().await?;
            return ticket_view(&row);
        };
        let now = self.clock.now_ms();
        store::update_ticket(
            &mut tx,
            &row.id,
            new.as_str(),
            row.assignee_id.as_deref(),
            now,
        )
        .await?;
        Self::audit_status(
            &mut tx,
            caller,
            &row.id,
            StatusChange { old, new },
            capacity,
            now,
        )
        .await?;
        tx.commit().await?;
        row.status = new.as_str().to_owned();
        row.updated_at = now;
        ticket_view(&row)
    }

    /// Support staff assign the ticket to `assignee`, who must hold `manage_tickets`
    /// ([`TrustError::NotSupportStaff`]; an unknown user is
    /// [`TrustError::NotFound`]), or unassign it (`None`). A change is audited as
    /// `ticket_assign` (metadata `old_assignee`, `new_assignee`); assigning to the
    /// current assignee changes nothing and writes no audit row. Who may call is as
    /// for [`Trust::set_status`].
    pub async fn assign(
        &self,
        caller: &Caller,
        ticket: &TicketId,
        assignee: Option<&Assignee>,
    ) -> Result<TicketView, TrustError> {
        let (mut tx, mut row, _) = self
            .load(Some(caller), ticket, TicketAction::Assign, true)
            .await?;
        if let Some(a) = assignee {
            if !policy::may_be_assigned(a.role) {
                return Err(TrustError::NotSupportStaff);
            }
        }
        let new = assignee.map(|a| a.user.as_str().to_owned());
        if new == row.assignee_id {
            tx.rollback().await?;
            return ticket_view(&row);
        }
        let now = self.clock.now_ms();
        store::update_ticket(&mut tx, &row.id, &row.status, new.as_deref(), now).await?;
        audit::record(
            &mut tx,
            NewAuditEntry {
                actor_user_uuid: Some(caller.user.as_str()),
                action: ActionType::TicketAssign,
                target: Target::new(TargetKind::Ticket, &row.id),
                metadata: serde_json::json!({
                    "old_assignee": row.assignee_id,
                    "new_assignee": new,
                }),
                request_id: caller.request_id.as_deref(),
                created_at: now,
            },
        )
        .await?;
        tx.commit().await?;
        row.assignee_id = new;
        row.updated_at = now;
        ticket_view(&row)
    }

    // ----- store warnings -------------------------------------------------------------

    /// Staff with `warn_store` warn `store` for `reason` (1..=[`REASON_MAX`]
    /// characters, multi-line); audited as `warning_create` (target the store,
    /// metadata the warning) in the same transaction. An unknown store is
    /// [`TrustError::NotFound`], as is a caller without the permission.
    pub async fn warn_store(
        &self,
        caller: &Caller,
        store: &StoreId,
        reason: &str,
    ) -> Result<WarningView, TrustError> {
        policy::warnings(caller)?;
        let reason = multiline_text("reason", reason, 1, REASON_MAX)?;
        let mut tx = self.begin_in_store(store).await?;
        let now = self.clock.now_ms();
        let row = WarningRow {
            id: WarningId::generate().into_string(),
            store_id: store.as_str().to_owned(),
            issued_by: caller.user.as_str().to_owned(),
            reason,
            status: WarningStatus::Open.as_str().to_owned(),
            resolved_by: None,
            created_at: now,
            resolved_at: None,
        };
        store::insert_warning(&mut tx, &row).await?;
        audit::record(
            &mut tx,
            NewAuditEntry {
                actor_user_uuid: Some(caller.user.as_str()),
                action: ActionType::WarningCreate,
                target: Target::new(TargetKind::Store, store.as_str()),
                metadata: serde_json::json!({ "warning": row.id }),
                request_id: caller.request_id.as_deref(),
                created_at: now,
            },
        )
        .await?;
        tx.commit().await?;
        warning_view(row)
    }

    /// Staff with `warn_store` resolve an open warning; audited as `warning_resolve`
    /// (target the store, metadata the warning) in the same transaction. Resolving a
    /// resolved warning answers it as it is and writes nothing.
    pub async fn resolve_warning(
        &self,
        caller: &Caller,
        warning: &WarningId,
    ) -> Result<WarningView, TrustError> {
        policy::warnings(caller)?;
        let mut tx = self.db.begin().await?;
        let row = store::warning(&mut tx, warning.as_str(), true)
            .await?
            .ok_or(TrustError::NotFound)?;
        let now = self.clock.now_ms();
        if !store::resolve_warning(&mut tx, &row.id, caller.user.as_str(), now).await? {
            tx.rollback().await?;
            return warning_view(row);
        }
        audit::record(
            &mut tx,
            NewAuditEntry {
                actor_user_uuid: Some(caller.user.as_str()),
                action: ActionType::WarningResolve,
                target: Target::new(TargetKind::Store, &row.store_id),
                metadata: serde_json::json!({ "warning": row.id }),
                request_id: caller.request_id.as_deref(),
                created_at: now,
            },
        )
        .await?;
        tx.commit().await?;
        warning_view(WarningRow {
            status: WarningStatus::Resolved.as_str().to_owned(),
            resolved_by: Some(caller.user.as_str().to_owned()),
            resolved_at: Some(now),
            ..row
        })
    }

    /// A store's warnings, newest first, for staff with `warn_store` (an unknown
    /// store has none).
    pub async fn store_warnings(
        &self,
        caller: &Caller,
        store: &StoreId,
    ) -> Result<Vec<WarningView>, TrustError> {
        policy::warnings(caller)?;
        let mut tx = self.begin_in_store(store).await?;
        let rows = store::warnings_of(&mut tx, store.as_str()).await?;
        tx.commit().await?;
        rows.into_iter().map(warning_view).collect()
    }
}
