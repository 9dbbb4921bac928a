//! The ticket pages: the new-ticket form, "my tickets", a ticket's thread with the
//! reply form and, for support staff, the status and assignment forms; and the staff
//! queue with its filters and paging. Forms post through the registry (CSRF guard,
//! the binding limits); successful posts answer 303 back to the ticket. Refusals are
//! the service's (404 for whoever may not see the ticket, 403 for its author asking
//! for staff work) and render the error pages.

use super::api::{assignee, caller, mine_query, queue_query, require_totp, ticket_id, Queue};
use crate::authn::{Ctx, CurrentUser};
use crate::error::{ApiError, ApiForm};
use crate::i18n::Tr;
use crate::identity::pages::{
    csrf_for, csrf_for_session, field_messages, fmt_ms, lang_for, nav, notice, query, render,
    see_other,
};
use crate::layout::Nav;
use crate::routes::{Auth, Doc, Group, Routes};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use rampart_identity::{ClientCtx, Principal};
use rampart_kernel::Permission;
use rampart_security::ratelimit::PolicyName;
use rampart_trust::{
    AssigneeFilter, Capacity, Side, TicketStatus, TicketThread, TicketView, TrustError,
};
use serde::Deserialize;

/// Mounts the ticket pages.
pub fn mount(r: Routes) -> Routes {
    let page = |summary: &'static str| Doc::new("web", summary).page().auth(Auth::User);
    let staff = |summary: &'static str| {
        Doc::new("web", summary)
            .page()
            .permission(Permission::ManageTickets)
    };
    r.group(Group::Web)
        .get("/tickets/new", new_page, page("The new-ticket form"))
        .post(
            "/tickets",
            create,
            page("Open a ticket").limit(PolicyName::TicketCreate),
        )
        .get("/tickets", mine_page, page("My support tickets"))
        .get(
            "/tickets/{id}",
            ticket_page,
            page("A ticket: thread, reply; status and assignment (staff)"),
        )
        .post(
            "/tickets/{id}/messages",
            reply,
            page("Reply to a ticket").limit(PolicyName::TicketMessage),
        )
        .post(
            "/tickets/{id}/status",
            set_status,
            staff("Change a ticket's status"),
        )
        .post("/tickets/{id}/assign", assign, staff("Assign a ticket"))
        .get(
            "/staff/tickets",
            queue_page,
            staff("The support ticket queue"),
        )
}

/// The frame of a page: language, CSRF token and navigation.
struct Frame {
    tr: Tr,
    nav: Nav,
    token: String,
}

fn frame(s: &AppState, p: &Principal, headers: &HeaderMap) -> Frame {
    let token = match p.session_id() {
        Some(sid) => csrf_for_session(s, sid),
        None => csrf_for(s, headers).0,
    };
    Frame {
        tr: Tr(lang_for(Some(p), headers)),
        nav: nav(Some(p), &token),
        token,
    }
}

fn status_for(errors: &[String], status: StatusCode) -> StatusCode {
    if errors.is_empty() {
        StatusCode::OK
    } else {
        status
    }
}

/// A refused form: the messages to show and the status, or the error itself (404,
/// 403…) for the error page.
fn form_errors(tr: Tr, e: TrustError) -> Result<(Vec<String>, StatusCode), ApiError> {
    match e {
        TrustError::Validation(f) => {
            Ok((field_messages(tr.0, &f.0), StatusCode::UNPROCESSABLE_ENTITY))
        }
        TrustError::TicketClosed => Ok((
            vec![tr.t("ticket.closed_note").to_owned()],
            StatusCode::CONFLICT,
        )),
        TrustError::NotSupportStaff => Ok((
            field_messages(
                tr.0,
                &[rampart_kernel::FieldError::new(
                    "user_id",
                    "not_support_staff",
                )],
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
        )),
        other => Err(other.into()),
    }
}

fn status_key(s: TicketStatus) -> &'static str {
    match s {
        TicketStatus::Open => "ticket.status.open",
        TicketStatus::Pending => "ticket.status.pending",
        TicketStatus::Resolved => "ticket.status.resolved",
        TicketStatus::Closed => "ticket.status.closed",
    }
}

fn side_key(s: Side) -> &'static str {
    match s {
        Side::Author => "ticket.side.author",
        Side::Staff => "ticket.side.staff",
    }
}

#[derive(Deserialize, Default)]
struct NoticeQuery {
    notice: Option<String>,
}

/// One ticket in a list.
struct TicketLine {
    id: String,
    subject: String,
    status: &'static str,
    assignee: Option<String>,
    updated_at: String,
}

fn line(t: TicketView) -> TicketLine {
    TicketLine {
        id: t.id.into_string(),
        subject: t.subject,
        status: status_key(t.status),
        assignee: t.assignee.map(|u| u.into_string()),
        updated_at: fmt_ms(t.updated_at),
    }
}

// ----- a new ticket -----------------------------------------------------------------

#[derive(Template)]
#[template(path = "trust/ticket_new.html")]
struct NewPage {
    tr: Tr,
    nav: Nav,
    csrf_token: String,
    subject: String,
    body: String,
    errors: Vec<String>,
}

async fn new_page(
    State(s): State<AppState>,
    CurrentUser(p): CurrentUser,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let f = frame(&s, &p, &headers);
    let page = NewPage {
        tr: f.tr,
        nav: f.nav,
        csrf_token: f.token,
        subject: String::new(),
        body: String::new(),
        errors: Vec::new(),
    };
    Ok(render(&page, StatusCode::OK, None))
}

#[derive(Deserialize)]
struct NewForm {
    #[serde(default)]
    subject: String,
    #[serde(default)]
    body: String,
}

async fn create(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    headers: HeaderMap,
    ApiForm(b): ApiForm<NewForm>,
) -> Result<Response, ApiError> {
    match s
        .trust
        .create_ticket(&caller(&p, &ctx), &b.subject, &b.body)
        .await
    {
        Ok(t) => Ok(see_other(&format!(
            "/tickets/{}?notice=ticket_opened",
            t.ticket.id
        ))),
        Err(e) => {
            let f = frame(&s, &p, &headers);
            let (errors, status) = form_errors(f.tr, e)?;
            let page = NewPage {
                tr: f.tr,
                nav: f.nav,
                csrf_token: f.token,
                subject: b.subject,
                body: b.body,
                errors,
            };
            Ok(render(&page, status_for(&page.errors, status), None))
        }
    }
}

// ----- my tickets -------------------------------------------------------------------

#[derive(Template)]
#[template(path = "trust/tickets.html")]
struct MinePage {
    tr: Tr,
    nav: Nav,
    tickets: Vec<TicketLine>,
    next: Option<String>,
    errors: Vec<String>,
}

async fn mine_page(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let f = frame(&s, &p, &headers);
    let (tickets, next, errors) = match mine_query(raw.as_deref()) {
        Ok((cursor, limit)) => {
            let page = s
                .trust
                .my_tickets(&caller(&p, &ctx), cursor.as_ref(), limit)
                .await?;
            let next = page
                .next
                .map(|c| format!("/tickets?cursor={c}&limit={limit}"));
            (
                page.tickets.into_iter().map(line).collect(),
                next,
                Vec::new(),
            )
        }
        Err(e) => (Vec::new(), None, field_messages(f.tr.0, &e.errors)),
    };
    let page = MinePage {
        tr: f.tr,
        nav: f.nav,
        tickets,
        next,
        errors,
    };
    Ok(render(
        &page,
        status_for(&page.errors, StatusCode::UNPROCESSABLE_ENTITY),
        None,
    ))
}

// ----- a ticket ---------------------------------------------------------------------

struct MessageLine {
    side: &'static str,
    author: String,
    at: String,
    lines: Vec<String>,
}

struct StatusOption {
    value: &'static str,
    label: &'static str,
    selected: bool,
}

#[derive(Template)]
#[template(path = "trust/ticket.html")]
struct TicketPage {
    tr: Tr,
    nav: Nav,
    csrf_token: String,
    id: String,
    subject: String,
    status: &'static str,
    assignee: Option<String>,
    author: String,
    created_at: String,
    updated_at: String,
    messages: Vec<MessageLine>,
    can_reply: bool,
    is_staff: bool,
    /// Staff with TOTP enrolled get the status and assignment forms.
    staff_tools: bool,
    statuses: Vec<StatusOption>,
    me: String,
    notice: Option<String>,
    errors: Vec<String>,
}

fn ticket_view(
    f: Frame,
    p: &Principal,
    t: TicketThread,
    notice_name: Option<&str>,
    errors: Vec<String>,
    status: StatusCode,
) -> Response {
    let current = t.ticket.status;
    // Staff do not move their own ticket through the queue (the service's 403).
    let is_staff = t.viewer == Capacity::Staff;
    let page = TicketPage {
        notice: notice(f.tr.0, notice_name),
        tr: f.tr,
        nav: f.nav,
        csrf_token: f.token,
        id: t.ticket.id.into_string(),
        subject: t.ticket.subject,
        status: status_key(current),
        assignee: t.ticket.assignee.map(|u| u.into_string()),
        author: t.ticket.author.into_string(),
        created_at: fmt_ms(t.ticket.created_at),
        updated_at: fmt_ms(t.ticket.updated_at),
        messages: t
            .messages
            .into_iter()
            .map(|m| MessageLine {
                side: side_key(m.side),
                author: m.author.into_string(),
                at: fmt_ms(m.created_at),
                lines: m.body.lines().map(str::to_owned).collect(),
            })
            .collect(),
        can_reply: current != TicketStatus::Closed,
        is_staff,
        staff_tools: is_staff && p.totp_enabled,
        statuses: TicketStatus::ALL
            .into_iter()
            .map(|s| StatusOption {
                value: s.as_str(),
                label: status_key(s),
                selected: s == current,
            })
            .collect(),
        me: p.user_id().to_owned(),
        errors,
    };
    render(&page, status_for(&page.errors, status), None)
}

/// Who asks, and how.
struct Req<'a> {
    s: &'a AppState,
    p: &'a Principal,
    ctx: &'a ClientCtx,
    headers: &'a HeaderMap,
}

async fn show_ticket(
    r: Req<'_>,
    raw_id: &str,
    notice_name: Option<&str>,
    errors: Vec<String>,
    status: StatusCode,
) -> Result<Response, ApiError> {
    let id = ticket_id(raw_id)?;
    let c = caller(r.p, r.ctx);
    let t = r.s.trust.ticket(Some(&c), &id).await?;
    Ok(ticket_view(
        frame(r.s, r.p, r.headers),
        r.p,
        t,
        notice_name,
        errors,
        status,
    ))
}

async fn ticket_page(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let q: NoticeQuery = query(raw);
    let r = Req {
        s: &s,
        p: &p,
        ctx: &ctx,
        headers: &headers,
    };
    show_ticket(r, &id, q.notice.as_deref(), Vec::new(), StatusCode::OK).await
}

/// After a form: 303 to the ticket with `notice`, or the ticket with the errors.
async fn after(
    r: Req<'_>,
    raw_id: &str,
    result: Result<(), TrustError>,
    notice_name: &str,
) -> Result<Response, ApiError> {
    match result {
        Ok(()) => Ok(see_other(&format!(
            "/tickets/{raw_id}?notice={notice_name}"
        ))),
        Err(e) => {
            let (errors, status) = form_errors(Tr(lang_for(Some(r.p), r.headers)), e)?;
            show_ticket(r, raw_id, None, errors, status).await
        }
    }
}

#[derive(Deserialize)]
struct ReplyForm {
    #[serde(default)]
    body: String,
}

async fn reply(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    headers: HeaderMap,
    Path(id): Path<String>,
    ApiForm(b): ApiForm<ReplyForm>,
) -> Result<Response, ApiError> {
    let tid = ticket_id(&id)?;
    let result = match s.trust.reply(&caller(&p, &ctx), &tid, &b.body).await {
        Ok(r) => {
            crate::realtime::events::push_ticket_reply(&s, &r);
            crate::notify::ticket_reply(&s, &r).await;
            Ok(())
        }
        Err(e) => Err(e),
    };
    let r = Req {
        s: &s,
        p: &p,
        ctx: &ctx,
        headers: &headers,
    };
    after(r, &id, result, "ticket_replied").await
}

#[derive(Deserialize)]
struct StatusForm {
    #[serde(default)]
    status: String,
}

async fn set_status(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    headers: HeaderMap,
    Path(id): Path<String>,
    ApiForm(b): ApiForm<StatusForm>,
) -> Result<Response, ApiError> {
    require_totp(&p)?;
    let tid = ticket_id(&id)?;
    let c = caller(&p, &ctx);
    let result = match b.status.trim().parse::<TicketStatus>() {
        Ok(to) => s.trust.set_status(&c, &tid, to).await.map(|_| ()),
        Err(_) => {
            // The ticket's policy first: 404 for whoever may not see it.
            s.trust.ticket(Some(&c), &tid).await?;
            Err(TrustError::Validation(rampart_kernel::FieldErrors(vec![
                rampart_kernel::FieldError::new("status", "invalid_value"),
            ])))
        }
    };
    let r = Req {
        s: &s,
        p: &p,
        ctx: &ctx,
        headers: &headers,
    };
    after(r, &id, result, "ticket_status").await
}

#[derive(Deserialize)]
struct AssignForm {
    #[serde(default)]
    user_id: String,
}

async fn assign(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    headers: HeaderMap,
    Path(id): Path<String>,
    ApiForm(b): ApiForm<AssignForm>,
) -> Result<Response, ApiError> {
    require_totp(&p)?;
    let tid = ticket_id(&id)?;
    let c = caller(&p, &ctx);
    // The ticket's policy first (404 for whoever may not see it), then the assignee.
    s.trust.ticket(Some(&c), &tid).await?;
    let raw = b.user_id.trim();
    let a = assignee(&s, (!raw.is_empty()).then_some(raw)).await?;
    let result = s.trust.assign(&c, &tid, a.as_ref()).await.map(|_| ());
    let r = Req {
        s: &s,
        p: &p,
        ctx: &ctx,
        headers: &headers,
    };
    after(r, &id, result, "ticket_assigned").await
}

// ----- the staff queue --------------------------------------------------------------

#[derive(Template)]
#[template(path = "trust/queue.html")]
struct QueuePage {
    tr: Tr,
    nav: Nav,
    status: String,
    assignee: String,
    me: String,
    tickets: Vec<TicketLine>,
    next: Option<String>,
    errors: Vec<String>,
}

async fn queue_page(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let f = frame(&s, &p, &headers);
    let parsed: Result<Queue, ApiError> = queue_query(raw.as_deref());
    let (tickets, next, errors, status, assignee) = match parsed {
        Ok(q) => {
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
            // Echo only what parsed (the values go back into links).
            let status = q.status.map(|s| s.as_str()).unwrap_or("all").to_owned();
            let assignee = match &q.assignee {
                AssigneeFilter::Any => "any".to_owned(),
                AssigneeFilter::Unassigned => "none".to_owned(),
                AssigneeFilter::User(u) => u.as_str().to_owned(),
            };
            let next = page.next.map(|c| {
                format!(
                    "/staff/tickets?status={status}&assignee={assignee}&cursor={c}&limit={}",
                    q.limit
                )
            });
            (
                page.tickets.into_iter().map(line).collect(),
                next,
                Vec::new(),
                status,
                assignee,
            )
        }
        Err(e) => (
            Vec::new(),
            None,
            field_messages(f.tr.0, &e.errors),
            "all".to_owned(),
            "any".to_owned(),
        ),
    };
    let page = QueuePage {
        tr: f.tr,
        nav: f.nav,
        status,
        assignee,
        me: p.user_id().to_owned(),
        tickets,
        next,
        errors,
    };
    Ok(render(
        &page,
        status_for(&page.errors, StatusCode::UNPROCESSABLE_ENTITY),
        None,
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_status_has_a_label() {
        for s in rampart_trust::TicketStatus::ALL {
            let key = super::status_key(s);
            assert!(
                crate::i18n::lookup(crate::i18n::Lang::Et, key).is_some(),
                "{key}"
            );
        }
    }
}
