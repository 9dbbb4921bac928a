//! The messaging pages, working without JavaScript: the inbox (one line per
//! conversation with its unread count), a conversation (paged with an "older" link,
//! opening it marks it read, a send form, a report form per message of the other
//! participant, a block button), compose (`/messages/new?to=username`) and the
//! blocked-users settings page. Forms post through the registry (CSRF guard, the
//! `message_send` limit on sends, reports and blocks); successful posts answer 303.
//! Pages send `text/plain` only; encrypted messages show as a placeholder.

use super::api::{
    conversation_id, me, message_id, resolve_user, username_of, INBOX_LIMIT, MESSAGES_LIMIT,
};
use super::push;
use crate::authn::{Ctx, CurrentUser};
use crate::error::{ApiError, ApiForm};
use crate::i18n::Tr;
use crate::identity::pages::{
    csrf_for, csrf_for_session, err_message, field_messages, fmt_ms, lang_for, nav, notice, query,
    render, see_other,
};
use crate::layout::Nav;
use crate::routes::{Auth, Doc, Group, Routes};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use rampart_identity::Principal;
use rampart_kernel::UserId;
use rampart_messaging::{Body, ContentType, ConversationRef, MessagingError};
use rampart_security::ratelimit::PolicyName;
use serde::Deserialize;

/// Mounts the messaging pages.
pub fn mount(r: Routes) -> Routes {
    let page = |summary: &'static str| Doc::new("web", summary).page().auth(Auth::User);
    let form = |summary: &'static str| page(summary).limit(PolicyName::MessageSend);
    r.group(Group::Web)
        .get(
            "/messages",
            inbox_page,
            page("The inbox: conversations with unread counts"),
        )
        .get(
            "/messages/new",
            compose_page,
            page("Write a new message (`?to=username`)"),
        )
        .post("/messages/new", compose, form("Send a new message"))
        .get(
            "/messages/{id}",
            conversation_page,
            page("A conversation: messages (paged), send, report, block; marks it read"),
        )
        .post(
            "/messages/{id}",
            reply,
            form("Send a message in a conversation"),
        )
        .post(
            "/messages/{id}/report",
            report,
            form("Report a message of the conversation to staff"),
        )
        .post(
            "/messages/{id}/block",
            block,
            form("Block the other participant of a conversation"),
        )
        .get(
            "/settings/blocked",
            blocked_page,
            page("The users the caller has blocked"),
        )
        .post("/settings/blocked/unblock", unblock, page("Unblock a user"))
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

/// A refused form: the messages to show and the status, or the error itself (404…)
/// for the error page.
fn form_errors(tr: Tr, e: MessagingError) -> Result<(Vec<String>, StatusCode), ApiError> {
    match e {
        MessagingError::Validation(f) => {
            Ok((field_messages(tr.0, &f.0), StatusCode::UNPROCESSABLE_ENTITY))
        }
        MessagingError::SelfTarget => Ok((
            field_messages(tr.0, &[rampart_kernel::FieldError::new("target", "self")]),
            StatusCode::UNPROCESSABLE_ENTITY,
        )),
        MessagingError::Blocked => Ok((
            vec![err_message(tr.0, "recipient_unavailable")],
            StatusCode::FORBIDDEN,
        )),
        MessagingError::BlockedByYou => Ok((
            vec![err_message(tr.0, "blocked_by_you")],
            StatusCode::FORBIDDEN,
        )),
        other => Err(other.into()),
    }
}

fn lines_of(content_type: ContentType, payload: &[u8]) -> Option<Vec<String>> {
    match content_type {
        ContentType::TextPlain => Some(
            String::from_utf8_lossy(payload)
                .lines()
                .map(str::to_owned)
                .collect(),
        ),
        ContentType::E2ee => None,
    }
}

#[derive(Deserialize, Default)]
struct PageQuery {
    notice: Option<String>,
    cursor: Option<String>,
    before: Option<String>,
    to: Option<String>,
}

// ----- inbox ------------------------------------------------------------------------

struct InboxLine {
    id: String,
    other: String,
    preview: Option<String>,
    from_me: bool,
    at: String,
    unread: i64,
}

#[derive(Template)]
#[template(path = "messaging/inbox.html")]
struct InboxPage {
    tr: Tr,
    nav: Nav,
    lines: Vec<InboxLine>,
    next: Option<String>,
    notice: Option<String>,
}

fn display_name(u: &UserId, name: Option<String>) -> String {
    name.unwrap_or_else(|| u.as_str().to_owned())
}

async fn inbox_page(
    State(s): State<AppState>,
    CurrentUser(p): CurrentUser,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let q: PageQuery = query(raw);
    let user = me(&p);
    // A cursor that does not parse starts from the top.
    let cursor = q.cursor.as_deref().and_then(|c| c.parse().ok());
    let page = s
        .messaging
        .inbox(&user, cursor.as_ref(), INBOX_LIMIT)
        .await?;
    let mut lines = Vec::with_capacity(page.conversations.len());
    for c in page.conversations {
        let name = username_of(&s, &c.other).await?;
        let m = &c.last_message;
        let preview = lines_of(m.content_type, &m.payload).map(|l| {
            let first = l.into_iter().next().unwrap_or_default();
            let mut cut: String = first.chars().take(80).collect();
            if cut.chars().count() < first.chars().count() {
                cut.push('…');
            }
            cut
        });
        lines.push(InboxLine {
            id: c.id.as_str().to_owned(),
            other: display_name(&c.other, name),
            preview,
            from_me: m.sender == user,
            at: fmt_ms(m.created_at),
            unread: c.unread,
        });
    }
    let f = frame(&s, &p, &headers);
    let page = InboxPage {
        notice: notice(f.tr.0, q.notice.as_deref()),
        tr: f.tr,
        nav: f.nav,
        lines,
        next: page.next.map(|m| m.into_string()),
    };
    Ok(render(&page, StatusCode::OK, None))
}

// ----- compose ----------------------------------------------------------------------

#[derive(Template)]
#[template(path = "messaging/compose.html")]
struct ComposePage {
    tr: Tr,
    nav: Nav,
    csrf_token: String,
    to: String,
    body: String,
    errors: Vec<String>,
}

fn compose_view(
    f: Frame,
    to: String,
    body: String,
    errors: Vec<String>,
    status: StatusCode,
) -> Response {
    let page = ComposePage {
        tr: f.tr,
        nav: f.nav,
        csrf_token: f.token,
        to,
        body,
        errors,
    };
    render(&page, status, None)
}

async fn compose_page(
    State(s): State<AppState>,
    CurrentUser(p): CurrentUser,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let q: PageQuery = query(raw);
    let to: String = q.to.unwrap_or_default().chars().take(64).collect();
    Ok(compose_view(
        frame(&s, &p, &headers),
        to,
        String::new(),
        Vec::new(),
        StatusCode::OK,
    ))
}

#[derive(Deserialize)]
struct ComposeForm {
    #[serde(default)]
    to: String,
    #[serde(default)]
    body: String,
}

/// Sends `text` from the caller to `to` as `text/plain`.
async fn send_text(
    s: &AppState,
    p: &Principal,
    to: &UserId,
    text: String,
) -> Result<String, MessagingError> {
    let body = Body::parse(ContentType::TextPlain.as_str(), text.into_bytes())?;
    let sent = s.messaging.send(&me(p), to, body).await?;
    let conversation = sent.message.conversation.as_str().to_owned();
    crate::notify::message(s, &sent.delivery).await;
    push(s, sent.delivery);
    Ok(conversation)
}

async fn compose(
    State(s): State<AppState>,
    CurrentUser(p): CurrentUser,
    headers: HeaderMap,
    ApiForm(b): ApiForm<ComposeForm>,
) -> Result<Response, ApiError> {
    let f = frame(&s, &p, &headers);
    let to = match resolve_user(&s, &b.to).await {
        Ok(u) => u,
        Err(_) => {
            let errors = vec![f.tr.t("msg.unknown_user").to_owned()];
            return Ok(compose_view(f, b.to, b.body, errors, StatusCode::NOT_FOUND));
        }
    };
    match send_text(&s, &p, &to, b.body.clone()).await {
        Ok(c) => Ok(see_other(&format!("/messages/{c}?notice=message_sent"))),
        Err(e) => {
            let (errors, status) = form_errors(f.tr, e)?;
            Ok(compose_view(f, b.to, b.body, errors, status))
        }
    }
}

// ----- a conversation ---------------------------------------------------------------

struct MessageLine {
    id: String,
    mine: bool,
    at: String,
    lines: Option<Vec<String>>,
}

#[derive(Template)]
#[template(path = "messaging/conversation.html")]
struct ConversationPageT {
    tr: Tr,
    nav: Nav,
    csrf_token: String,
    id: String,
    other: String,
    /// The other participant's ID (the live script tells their messages from mine).
    other_id: String,
    messages: Vec<MessageLine>,
    older: Option<String>,
    paged: bool,
    seen: bool,
    notice: Option<String>,
    errors: Vec<String>,
}

struct Shown<'a> {
    raw_id: &'a str,
    before: Option<&'a str>,
    notice_name: Option<&'a str>,
    errors: Vec<String>,
    status: StatusCode,
}

async fn show_conversation(
    s: &AppState,
    p: &Principal,
    headers: &HeaderMap,
    w: Shown<'_>,
) -> Result<Response, ApiError> {
    let id = conversation_id(w.raw_id)?;
    let user = me(p);
    let before = w.before.and_then(|b| b.parse().ok());
    let page = s
        .messaging
        .conversation(
            &user,
            &ConversationRef::Id(id.clone()),
            before.as_ref(),
            MESSAGES_LIMIT,
        )
        .await?;
    // Opening the newest page marks the conversation read up to its newest message.
    if before.is_none() {
        if let Some(newest) = page.messages.first() {
            let m = s.messaging.mark_read(&user, &id, &newest.id).await?;
            if let Some(d) = m.delivery {
                push(s, d);
            }
        }
    }
    let other = display_name(&page.other, username_of(s, &page.other).await?);
    let seen = match (
        &page.their_last_read,
        page.messages.iter().find(|m| m.sender == user),
    ) {
        (Some(r), Some(mine)) => r.as_str() >= mine.id.as_str(),
        _ => false,
    };
    let messages = page
        .messages
        .iter()
        .rev()
        .map(|m| MessageLine {
            id: m.id.as_str().to_owned(),
            mine: m.sender == user,
            at: fmt_ms(m.created_at),
            lines: lines_of(m.content_type, &m.payload),
        })
        .collect();
    let f = frame(s, p, headers);
    let t = ConversationPageT {
        notice: notice(f.tr.0, w.notice_name),
        tr: f.tr,
        nav: f.nav,
        csrf_token: f.token,
        id: id.into_string(),
        other,
        other_id: page.other.as_str().to_owned(),
        messages,
        older: page.next_before.map(|m| m.into_string()),
        paged: before.is_some(),
        seen,
        errors: w.errors,
    };
    let status = if t.errors.is_empty() {
        StatusCode::OK
    } else {
        w.status
    };
    Ok(render(&t, status, None))
}

async fn conversation_page(
    State(s): State<AppState>,
    CurrentUser(p): CurrentUser,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let q: PageQuery = query(raw);
    show_conversation(
        &s,
        &p,
        &headers,
        Shown {
            raw_id: &id,
            before: q.before.as_deref(),
            notice_name: q.notice.as_deref(),
            errors: Vec::new(),
            status: StatusCode::OK,
        },
    )
    .await
}

/// The other participant of a conversation the caller takes part in (404 otherwise).
async fn other_in(s: &AppState, p: &Principal, raw_id: &str) -> Result<UserId, ApiError> {
    let id = conversation_id(raw_id)?;
    Ok(s.messaging
        .conversation(&me(p), &ConversationRef::Id(id), None, 1)
        .await?
        .other)
}

#[derive(Deserialize)]
struct ReplyForm {
    #[serde(default)]
    body: String,
}

async fn reply(
    State(s): State<AppState>,
    CurrentUser(p): CurrentUser,
    headers: HeaderMap,
    Path(id): Path<String>,
    ApiForm(b): ApiForm<ReplyForm>,
) -> Result<Response, ApiError> {
    let other = other_in(&s, &p, &id).await?;
    match send_text(&s, &p, &other, b.body).await {
        Ok(c) => Ok(see_other(&format!("/messages/{c}?notice=message_sent"))),
        Err(e) => {
            let (errors, status) = form_errors(Tr(lang_for(Some(&p), &headers)), e)?;
            let w = Shown {
                raw_id: &id,
                before: None,
                notice_name: None,
                errors,
                status,
            };
            show_conversation(&s, &p, &headers, w).await
        }
    }
}

#[derive(Deserialize)]
struct ReportForm {
    #[serde(default)]
    message_id: String,
    #[serde(default)]
    reason: String,
}

async fn report(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    headers: HeaderMap,
    Path(id): Path<String>,
    ApiForm(b): ApiForm<ReportForm>,
) -> Result<Response, ApiError> {
    // The conversation first: a non-participant learns nothing about the message.
    other_in(&s, &p, &id).await?;
    let mid = message_id(b.message_id.trim())?;
    match s
        .messaging
        .report(&me(&p), &mid, &b.reason, ctx.request_id.as_deref())
        .await
    {
        Ok(_) => Ok(see_other(&format!(
            "/messages/{id}?notice=message_reported"
        ))),
        Err(e) => {
            let (errors, status) = form_errors(Tr(lang_for(Some(&p), &headers)), e)?;
            let w = Shown {
                raw_id: &id,
                before: None,
                notice_name: None,
                errors,
                status,
            };
            show_conversation(&s, &p, &headers, w).await
        }
    }
}

async fn block(
    State(s): State<AppState>,
    CurrentUser(p): CurrentUser,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let other = other_in(&s, &p, &id).await?;
    s.messaging.block(&me(&p), &other).await?;
    Ok(see_other("/settings/blocked?notice=user_blocked"))
}

// ----- blocked users ----------------------------------------------------------------

struct BlockedLine {
    user_id: String,
    name: String,
    since: String,
}

#[derive(Template)]
#[template(path = "messaging/blocked.html")]
struct BlockedPage {
    tr: Tr,
    nav: Nav,
    csrf_token: String,
    blocked: Vec<BlockedLine>,
    notice: Option<String>,
}

async fn blocked_page(
    State(s): State<AppState>,
    CurrentUser(p): CurrentUser,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let q: PageQuery = query(raw);
    let list = s.messaging.blocked_users(&me(&p)).await?;
    let mut blocked = Vec::with_capacity(list.len());
    for b in list {
        let name = display_name(&b.user, username_of(&s, &b.user).await?);
        blocked.push(BlockedLine {
            user_id: b.user.into_string(),
            name,
            since: fmt_ms(b.since),
        });
    }
    let f = frame(&s, &p, &headers);
    let page = BlockedPage {
        notice: notice(f.tr.0, q.notice.as_deref()),
        tr: f.tr,
        nav: f.nav,
        csrf_token: f.token,
        blocked,
    };
    Ok(render(&page, StatusCode::OK, None))
}

#[derive(Deserialize)]
struct UnblockForm {
    #[serde(default)]
    user_id: String,
}

async fn unblock(
    State(s): State<AppState>,
    CurrentUser(p): CurrentUser,
    ApiForm(b): ApiForm<UnblockForm>,
) -> Result<Response, ApiError> {
    let other: UserId = b
        .user_id
        .trim()
        .parse()
        .map_err(|_| ApiError::not_found())?;
    if s.messaging.unblock(&me(&p), &other).await? {
        Ok(see_other("/settings/blocked?notice=user_unblocked"))
    } else {
        Err(ApiError::not_found())
    }
}
