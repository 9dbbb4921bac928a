//! The tickets and store-warnings API under `/v1` (D6, D9). Handlers parse, build the
//! [`Caller`] and call the service; who may do what is `rampart_trust::policy`'s (404
//! for whoever may not know a ticket exists). The staff routes also declare their
//! permission, so the guard refuses everyone else before the handler runs. The
//! binding limits (B2) are the registry's: `TicketCreate` on creation (per user) and
//! `TicketMessage` on replies (per ticket, keyed by the `id` path parameter).
//! Design: `docs/design/trust-and-safety.md`.

use super::wire::*;
use crate::authn::{Ctx, CurrentUser};
use crate::codes::Code;
use crate::error::{ApiError, ApiJson};
use crate::routes::{Auth, Doc, Group, Routes};
use crate::state::AppState;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use rampart_identity::{ClientCtx, Principal, Scope};
use rampart_kernel::account::AccountStatus;
use rampart_kernel::ids::{StoreId, TicketId, WarningId};
use rampart_kernel::{FieldError, FieldErrors, Permission, UserId};
use rampart_security::ratelimit::PolicyName;
use rampart_trust::{Assignee, AssigneeFilter, Caller, TicketStatus, TrustError};

/// Default page size of ticket lists.
pub const PAGE_DEFAULT: u32 = 20;

/// Maps trust errors to HTTP problems (one place).
pub fn problem(e: TrustError) -> ApiError {
    match e {
        TrustError::NotFound => ApiError::not_found(),
        TrustError::Forbidden => ApiError::forbidden(),
        TrustError::Validation(f) => ApiError::validation(f),
        // The state machine refuses the move: nobody writes to a closed ticket.
        TrustError::TicketClosed => ApiError::new(StatusCode::CONFLICT, "invalid_transition"),
        TrustError::NotSupportStaff => not_support_staff(),
        TrustError::Corrupt(m) => ApiError::internal(m),
        TrustError::Db(e) => ApiError::from(e),
    }
}

impl From<TrustError> for ApiError {
    fn from(e: TrustError) -> Self {
        problem(e)
    }
}

fn not_support_staff() -> ApiError {
    ApiError::validation(FieldErrors(vec![FieldError::new(
        "user_id",
        "not_support_staff",
    )]))
}

/// Staff tools (D9: ticket status and assignment, store warnings) are behind TOTP as
/// well as their permission: a staff account without a second factor is refused
/// (403) until it enrols.
pub fn require_totp(p: &Principal) -> Result<(), ApiError> {
    if p.totp_enabled {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "totp_enrolment_required",
        ))
    }
}

/// The trust context's view of the authenticated caller.
pub fn caller(p: &Principal, ctx: &ClientCtx) -> Caller {
    Caller {
        user: UserId::from_stored(p.user_id()),
        role: crate::authn::policy_role(p),
        request_id: ctx.request_id.clone(),
    }
}

/// A path ticket ID: only the canonical spelling names a ticket (the limiter's
/// per-ticket bucket is keyed on it); anything else is 404, like an unknown one.
pub fn ticket_id(raw: &str) -> Result<TicketId, ApiError> {
    match raw.parse::<TicketId>() {
        Ok(id) if id.as_str() == raw => Ok(id),
        _ => Err(ApiError::not_found()),
    }
}

/// See [`ticket_id`].
pub fn warning_id(raw: &str) -> Result<WarningId, ApiError> {
    match raw.parse::<WarningId>() {
        Ok(id) if id.as_str() == raw => Ok(id),
        _ => Err(ApiError::not_found()),
    }
}

/// See [`ticket_id`].
pub fn store_id(raw: &str) -> Result<StoreId, ApiError> {
    match raw.parse::<StoreId>() {
        Ok(id) if id.as_str() == raw => Ok(id),
        _ => Err(ApiError::not_found()),
    }
}

fn invalid_query(field: &str) -> ApiError {
    ApiError::validation(FieldErrors(vec![FieldError::new(field, "invalid_value")]))
}

fn cursor_of(raw: Option<&str>) -> Result<Option<TicketId>, ApiError> {
    match raw.filter(|c| !c.is_empty()) {
        None => Ok(None),
        Some(c) => c
            .parse::<TicketId>()
            .map(Some)
            .map_err(|_| invalid_query("cursor")),
    }
}

fn limit_of(limit: Option<u32>) -> Result<u32, ApiError> {
    match limit {
        None => Ok(PAGE_DEFAULT),
        Some(l) if (1..=rampart_trust::PAGE_MAX).contains(&l) => Ok(l),
        Some(_) => Err(invalid_query("limit")),
    }
}

/// A parsed staff queue query (shared with the queue page).
pub struct Queue {
    /// Status filter.
    pub status: Option<TicketStatus>,
    /// Assignee filter.
    pub assignee: AssigneeFilter,
    /// Cursor.
    pub cursor: Option<TicketId>,
    /// Page size.
    pub limit: u32,
}

/// Parses the queue's query string (shared with the queue page).
pub fn queue_query(raw: Option<&str>) -> Result<Queue, ApiError> {
    let p: QueueParams = match raw {
        Some(q) => serde_urlencoded::from_str(q).map_err(|_| invalid_query("query"))?,
        None => QueueParams::default(),
    };
    let status = match p.status.as_deref().filter(|s| !s.is_empty() && *s != "all") {
        None => None,
        Some(s) => Some(s.parse().map_err(|_| invalid_query("status"))?),
    };
    let assignee = match p
        .assignee
        .as_deref()
        .filter(|s| !s.is_empty() && *s != "any")
    {
        None => AssigneeFilter::Any,
        Some("none") => AssigneeFilter::Unassigned,
        Some(u) => AssigneeFilter::User(u.parse().map_err(|_| invalid_query("assignee"))?),
    };
    Ok(Queue {
        status,
        assignee,
        cursor: cursor_of(p.cursor.as_deref())?,
        limit: limit_of(p.limit)?,
    })
}

/// Parses the "my tickets" query string (shared with the page).
pub fn mine_query(raw: Option<&str>) -> Result<(Option<TicketId>, u32), ApiError> {
    let p: MineParams = match raw {
        Some(q) => serde_urlencoded::from_str(q).map_err(|_| invalid_query("query"))?,
        None => MineParams::default(),
    };
    Ok((cursor_of(p.cursor.as_deref())?, limit_of(p.limit)?))
}

/// The assignee for `user_id` as Identity reports it: an unknown, banned or deleted
/// account is 404 (it cannot take tickets); a role without `manage_tickets` is the
/// service's 422.
pub async fn assignee(s: &AppState, user_id: Option<&str>) -> Result<Option<Assignee>, ApiError> {
    let Some(raw) = user_id else { return Ok(None) };
    let id: UserId = raw.parse().map_err(|_| ApiError::not_found())?;
    let account = s
        .auth
        .account(id.as_str())
        .await
        .map_err(ApiError::internal)?
        .filter(|a| a.status == AccountStatus::Active)
        .ok_or_else(ApiError::not_found)?;
    Ok(Some(Assignee {
        user: account.id,
        role: account.role,
    }))
}

/// Mounts the tickets and warnings API.
pub fn mount(r: Routes) -> Routes {
    use Code::*;
    let read = |summary| {
        Doc::new("tickets", summary)
            .auth(Auth::User)
            .scope(Scope::MessagesRead)
    };
    let write = |summary| {
        Doc::new("tickets", summary)
            .auth(Auth::User)
            .scope(Scope::MessagesWrite)
    };
    let staff = |summary, scope| {
        Doc::new("tickets", summary)
            .permission(Permission::ManageTickets)
            .scope(scope)
    };
    let warnings = |summary, scope| {
        Doc::new("warnings", summary)
            .permission(Permission::WarnStore)
            .scope(scope)
    };
    r.group(Group::Api)
        .post(
            "/v1/tickets",
            create,
            write("Open a support ticket with its first message (5 per hour per user)")
                .limit(PolicyName::TicketCreate)
                .request::<NewTicketRequest>()
                .responds::<TicketThreadResponse>(201)
                .errors(&[ValidationFailed]),
        )
        .get(
            "/v1/tickets",
            mine,
            read("The caller's own tickets, newest first, cursor-paginated")
                .query::<MineParams>()
                .responds::<TicketListResponse>(200)
                .errors(&[ValidationFailed]),
        )
        .get(
            "/v1/tickets/{id}",
            get_ticket,
            read("A ticket with its thread (its author and support staff; 404 for everyone else)")
                .responds::<TicketThreadResponse>(200)
                .errors(&[NotFound]),
        )
        .post(
            "/v1/tickets/{id}/messages",
            reply,
            write("Reply to a ticket (its author or support staff; 20 messages per hour per ticket); the author's reply reopens a pending or resolved ticket")
                .limit(PolicyName::TicketMessage)
                .request::<ReplyRequest>()
                .responds::<TicketMessageResponse>(201)
                .errors(&[ValidationFailed, NotFound, InvalidTransition]),
        )
        .get(
            "/v1/staff/tickets",
            queue,
            staff(
                "The support queue: every ticket, filtered by status and assignee, newest first, cursor-paginated",
                Scope::MessagesRead,
            )
            .query::<QueueParams>()
            .responds::<TicketListResponse>(200)
            .errors(&[ValidationFailed]),
        )
        .post(
            "/v1/tickets/{id}/status",
            set_status,
            staff(
                "Change a ticket's status (support staff with TOTP enrolled, not on their own ticket); audited as ticket_status_change with the old and new status",
                Scope::MessagesWrite,
            )
            .request::<StatusRequest>()
            .responds::<TicketResponse>(200)
            .errors(&[NotFound, Forbidden]),
        )
        .post(
            "/v1/tickets/{id}/assign",
            assign,
            staff(
                "Assign a ticket to a support staff member, or unassign it (null; support staff with TOTP enrolled); audited as ticket_assign",
                Scope::MessagesWrite,
            )
            .request::<AssignRequest>()
            .responds::<TicketResponse>(200)
            .errors(&[ValidationFailed, NotFound, Forbidden]),
        )
        .post(
            "/v1/stores/{id}/warnings",
            warn,
            warnings(
                "Warn a store (staff holding warn_store, with TOTP enrolled); audited as warning_create",
                Scope::StoresWrite,
            )
            .request::<WarnRequest>()
            .responds::<WarningResponse>(201)
            .errors(&[ValidationFailed, NotFound]),
        )
        .get(
            "/v1/stores/{id}/warnings",
            store_warnings,
            warnings(
                "A store's warnings, newest first (staff holding warn_store, with TOTP enrolled)",
                Scope::StoresRead,
            )
            .responds::<WarningListResponse>(200)
            .errors(&[NotFound]),
        )
        .post(
            "/v1/warnings/{id}/resolve",
            resolve_warning,
            warnings(
                "Resolve a store warning (staff holding warn_store, with TOTP enrolled); audited as warning_resolve; resolving a resolved warning changes nothing",
                Scope::StoresWrite,
            )
            .responds::<WarningResponse>(200)
            .errors(&[NotFound]),
        )
}

async fn create(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    ApiJson(b): ApiJson<NewTicketRequest>,
) -> Result<Response, ApiError> {
    let t = s
        .trust
        .create_ticket(&caller(&p, &ctx), &b.subject, &b.body)
        .await?;
    Ok((StatusCode::CREATED, Json(TicketThreadResponse::from(t))).into_response())
}

async fn mine(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    RawQuery(raw): RawQuery,
) -> Result<Json<TicketListResponse>, ApiError> {
    let (cursor, limit) = mine_query(raw.as_deref())?;
    let page = s
        .trust
        .my_tickets(&caller(&p, &ctx), cursor.as_ref(), limit)
        .await?;
    Ok(Json(TicketListResponse {
        tickets: page.tickets.into_iter().map(Into::into).collect(),
        next_cursor: page.next.map(TicketId::into_string),
    }))
}

async fn get_ticket(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<TicketThreadResponse>, ApiError> {
    let id = ticket_id(&id)?;
    let c = caller(&p, &ctx);
    Ok(Json(s.trust.ticket(Some(&c), &id).await?.into()))
}

async fn reply(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<ReplyRequest>,
) -> Result<Response, ApiError> {
    let id = ticket_id(&id)?;
    let r = s.trust.reply(&caller(&p, &ctx), &id, &b.body).await?;
    crate::notify::ticket_reply(&s, &r).await;
    crate::realtime::events::push_ticket_reply(&s, &r);
    Ok((
        StatusCode::CREATED,
        Json(TicketMessageResponse::from(r.message)),
    )
        .into_response())
}

async fn queue(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    RawQuery(raw): RawQuery,
) -> Result<Json<TicketListResponse>, ApiError> {
    let q = queue_query(raw.as_deref())?;
    let page = s
        .trust
        .ticket_queue(
            &caller(&p, &ctx),
            q.status,
            &q.assignee,
            q.cursor.as_ref(),
            q.limit,
        )
        .await?;
    Ok(Json(TicketListResponse {
        tickets: page.tickets.into_iter().map(Into::into).collect(),
        next_cursor: page.next.map(TicketId::into_string),
    }))
}

async fn set_status(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<StatusRequest>,
) -> Result<Json<TicketResponse>, ApiError> {
    require_totp(&p)?;
    let id = ticket_id(&id)?;
    let t = s
        .trust
        .set_status(&caller(&p, &ctx), &id, b.status.into())
        .await?;
    Ok(Json(t.into()))
}

async fn assign(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<AssignRequest>,
) -> Result<Json<TicketResponse>, ApiError> {
    require_totp(&p)?;
    let id = ticket_id(&id)?;
    let c = caller(&p, &ctx);
    // The ticket's policy first (404 for whoever may not see it), then the assignee.
    s.trust.ticket(Some(&c), &id).await?;
    let a = assignee(&s, b.user_id.as_deref()).await?;
    Ok(Json(s.trust.assign(&c, &id, a.as_ref()).await?.into()))
}

async fn warn(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<WarnRequest>,
) -> Result<Response, ApiError> {
    require_totp(&p)?;
    let id = store_id(&id)?;
    let w = s
        .trust
        .warn_store(&caller(&p, &ctx), &id, &b.reason)
        .await?;
    Ok((StatusCode::CREATED, Json(WarningResponse::from(w))).into_response())
}

async fn store_warnings(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<WarningListResponse>, ApiError> {
    require_totp(&p)?;
    let id = store_id(&id)?;
    let list = s.trust.store_warnings(&caller(&p, &ctx), &id).await?;
    Ok(Json(WarningListResponse {
        warnings: list.into_iter().map(Into::into).collect(),
    }))
}

async fn resolve_warning(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<WarningResponse>, ApiError> {
    require_totp(&p)?;
    let id = warning_id(&id)?;
    let w = s.trust.resolve_warning(&caller(&p, &ctx), &id).await?;
    Ok(Json(w.into()))
}
