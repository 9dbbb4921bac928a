//! The messaging API under `/v1` (D7): send (the B2 `message_send` limit, 10 per
//! minute per user), the inbox, a conversation's messages, read state, blocks,
//! reports to staff and the X3DH prekey bundles. Handlers parse, resolve the other
//! user, call the service and hand each returned [`Delivery`] to [`super::push`].
//! Who may see what is the service's rule (404 for non-participants).

use super::push;
use super::wire::*;
use crate::authn::{Ctx, CurrentUser};
use crate::codes::Code;
use crate::error::{ApiError, ApiJson};
use crate::routes::{Auth, Doc, Group, Routes};
use crate::state::AppState;
use axum::extract::{Path, RawQuery, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use rampart_identity::{Principal, Scope};
use rampart_kernel::ids::{ConversationId, MessageId};
use rampart_kernel::{FieldError, FieldErrors, UserId};
use rampart_messaging::{Body, ConversationRef, MessagingError};
use rampart_security::ratelimit::PolicyName;

/// Default inbox page size.
pub const INBOX_LIMIT: u32 = 20;
/// Default conversation page size.
pub const MESSAGES_LIMIT: u32 = 50;

/// Maps messaging errors to HTTP problems (one place). A refusal because the other
/// user blocked the caller says only `recipient_unavailable`.
pub fn problem(e: MessagingError) -> ApiError {
    match e {
        MessagingError::NotFound | MessagingError::NoBundle => ApiError::not_found(),
        MessagingError::Blocked => {
            ApiError::new(StatusCode::FORBIDDEN, Code::RecipientUnavailable.as_str())
        }
        MessagingError::BlockedByYou => {
            ApiError::new(StatusCode::FORBIDDEN, Code::BlockedByYou.as_str())
        }
        MessagingError::SelfTarget => {
            ApiError::validation(FieldErrors(vec![FieldError::new("target", "self")]))
        }
        MessagingError::Validation(f) => ApiError::validation(f),
        MessagingError::TooManyPrekeys => ApiError::validation(FieldErrors(vec![FieldError::new(
            "one_time_prekeys",
            "too_many",
        )])),
        MessagingError::DuplicatePrekey => {
            let mut e = ApiError::new(StatusCode::CONFLICT, Code::Conflict.as_str());
            e.errors = vec![FieldError::new("one_time_prekeys", "duplicate_id")];
            e
        }
        MessagingError::Corrupt(m) => ApiError::internal(m),
        MessagingError::Db(e) => e.into(),
    }
}

impl From<MessagingError> for ApiError {
    fn from(e: MessagingError) -> Self {
        problem(e)
    }
}

/// The caller's user ID.
pub fn me(p: &Principal) -> UserId {
    UserId::from_stored(p.user_id())
}

/// A path ID that does not parse names nothing: 404, like an unknown one.
pub fn conversation_id(raw: &str) -> Result<ConversationId, ApiError> {
    raw.parse().map_err(|_| ApiError::not_found())
}

/// See [`conversation_id`].
pub fn message_id(raw: &str) -> Result<MessageId, ApiError> {
    raw.parse().map_err(|_| ApiError::not_found())
}

/// A user named by ID or by username (never by e-mail: that would let anyone test
/// which addresses have accounts). Unknown → 404.
pub async fn resolve_user(s: &AppState, raw: &str) -> Result<UserId, ApiError> {
    let raw = raw.trim();
    if let Ok(id) = raw.parse::<UserId>() {
        return Ok(id);
    }
    let name = raw.to_lowercase();
    if name.is_empty() || name.contains('@') {
        return Err(ApiError::not_found());
    }
    match s
        .auth
        .account_by_login(&name)
        .await
        .map_err(ApiError::internal)?
    {
        Some(a) if a.username == name => Ok(a.id),
        _ => Err(ApiError::not_found()),
    }
}

/// The username of a user, when the account exists.
pub async fn username_of(s: &AppState, u: &UserId) -> Result<Option<String>, ApiError> {
    Ok(s.auth
        .account(u.as_str())
        .await
        .map_err(ApiError::internal)?
        .map(|a| a.username))
}

/// Parses a query string strictly (422 on a malformed one).
pub fn params<T: serde::de::DeserializeOwned + Default>(raw: Option<&str>) -> Result<T, ApiError> {
    match raw {
        Some(q) => serde_urlencoded::from_str(q).map_err(|_| {
            ApiError::validation(FieldErrors(vec![FieldError::new("query", "invalid_value")]))
        }),
        None => Ok(T::default()),
    }
}

/// An optional message-ID query value: unparsable is a validation error.
pub fn opt_message(field: &str, raw: Option<&str>) -> Result<Option<MessageId>, ApiError> {
    raw.map(|r| {
        r.parse().map_err(|_| {
            ApiError::validation(FieldErrors(vec![FieldError::new(field, "invalid_value")]))
        })
    })
    .transpose()
}

/// Mounts the messaging API.
pub fn mount(r: Routes) -> Routes {
    use Code::*;
    let read = |summary| {
        Doc::new("messaging", summary)
            .auth(Auth::User)
            .scope(Scope::MessagesRead)
    };
    let write = |summary| {
        Doc::new("messaging", summary)
            .auth(Auth::User)
            .scope(Scope::MessagesWrite)
    };
    r.group(Group::Api)
        .post(
            "/v1/messages",
            send,
            write("Send a message to a user (by ID or username), opening the conversation on the first one; 10 per minute per user")
                .limit(PolicyName::MessageSend)
                .request::<SendMessageRequest>()
                .responds::<PrivateMessageResponse>(201)
                .errors(&[ValidationFailed, NotFound, RecipientUnavailable, BlockedByYou]),
        )
        .get(
            "/v1/conversations",
            inbox,
            read("The caller's conversations, newest message first, with unread counts; cursor-paginated")
                .query::<InboxParams>()
                .responds::<InboxResponse>(200)
                .errors(&[ValidationFailed]),
        )
        .get(
            "/v1/conversations/{id}/messages",
            messages,
            read("A conversation's messages, newest first, older than `before`; participants only")
                .query::<MessagesParams>()
                .responds::<ConversationResponse>(200)
                .errors(&[ValidationFailed, NotFound]),
        )
        .post(
            "/v1/conversations/{id}/read",
            mark_read,
            write("Mark a conversation read up to a message (the pointer only moves forward)")
                .request::<MarkReadRequest>()
                .responds::<ReadResponse>(200)
                .errors(&[NotFound]),
        )
        .post(
            "/v1/messages/{id}/report",
            report,
            write("Report a message of the other participant to staff; a repeat answers the first report")
                .limit(PolicyName::MessageSend)
                .request::<ReportRequest>()
                .responds::<ReportResponse>(201)
                .errors(&[ValidationFailed, NotFound]),
        )
        .get(
            "/v1/blocks",
            blocks,
            read("Everyone the caller has blocked, oldest first")
                .responds::<BlocksResponse>(200),
        )
        .post(
            "/v1/blocks",
            block,
            write("Block a user (by ID or username): no messages and no prekey claims either way; idempotent")
                .limit(PolicyName::MessageSend)
                .request::<BlockRequest>()
                .responds::<BlockedResponse>(201)
                .errors(&[ValidationFailed, NotFound]),
        )
        .delete(
            "/v1/blocks/{user_id}",
            unblock,
            write("Lift the caller's block of a user; 404 when there is none")
                .no_content()
                .errors(&[NotFound]),
        )
        .route(
            Method::PUT,
            "/v1/me/prekeys",
            publish,
            write("Publish the caller's X3DH prekey bundle (keys base64): replaces the identity and signed prekey, adds one-time prekeys (at most 100 stored)")
                .request::<PublishBundleRequest>()
                .responds::<PrekeyCountResponse>(200)
                .errors(&[ValidationFailed, Conflict]),
        )
        .get(
            "/v1/me/prekeys/count",
            prekey_count,
            read("How many one-time prekeys the caller has left")
                .responds::<PrekeyCountResponse>(200),
        )
        // POST, not GET: a claim spends a one-time prekey, so it is a state change
        // under CSRF protection (a cross-site link cannot drain someone's keys).
        .post(
            "/v1/users/{id}/prekey-bundle",
            claim,
            write("Claim a user's prekey bundle for X3DH; each one-time prekey is handed out once (removed by this call)")
                .limit(PolicyName::PrekeyClaim)
                .responds::<PrekeyBundleResponse>(200)
                .errors(&[ValidationFailed, NotFound, RecipientUnavailable, BlockedByYou]),
        )
}

async fn send(
    State(s): State<AppState>,
    CurrentUser(p): CurrentUser,
    ApiJson(b): ApiJson<SendMessageRequest>,
) -> Result<Response, ApiError> {
    let to = resolve_user(&s, &b.to).await?;
    let ct = rampart_messaging::ContentType::from(b.content_type);
    let body = Body::parse(ct.as_str(), payload_bytes(b.content_type, b.payload)?)
        .map_err(MessagingError::from)?;
    let sent = s.messaging.send(&me(&p), &to, body).await?;
    crate::notify::message(&s, &sent.delivery).await;
    push(&s, sent.delivery);
    Ok((
        StatusCode::CREATED,
        Json(PrivateMessageResponse::from(sent.message)),
    )
        .into_response())
}

/// A page size as documented (1..=PAGE_MAX), else 422 `out_of_range` on `limit`.
fn page_limit(asked: Option<u32>, default: u32) -> Result<u32, ApiError> {
    match asked {
        None => Ok(default),
        Some(l) if (1..=rampart_messaging::PAGE_MAX).contains(&l) => Ok(l),
        Some(_) => Err(ApiError::validation(rampart_kernel::FieldErrors(vec![
            rampart_kernel::FieldError::new("limit", "out_of_range"),
        ]))),
    }
}

async fn inbox(
    State(s): State<AppState>,
    CurrentUser(p): CurrentUser,
    RawQuery(raw): RawQuery,
) -> Result<Json<InboxResponse>, ApiError> {
    let q: InboxParams = params(raw.as_deref())?;
    let cursor = opt_message("cursor", q.cursor.as_deref())?;
    let page = s
        .messaging
        .inbox(&me(&p), cursor.as_ref(), page_limit(q.limit, INBOX_LIMIT)?)
        .await?;
    let mut conversations = Vec::with_capacity(page.conversations.len());
    for c in page.conversations {
        conversations.push(ConversationSummaryResponse {
            id: c.id.into_string(),
            other_username: username_of(&s, &c.other).await?,
            other_user_id: c.other.into_string(),
            last_message: c.last_message.into(),
            unread: c.unread,
        });
    }
    Ok(Json(InboxResponse {
        conversations,
        next_cursor: page.next.map(|m| m.into_string()),
    }))
}

async fn messages(
    State(s): State<AppState>,
    CurrentUser(p): CurrentUser,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<ConversationResponse>, ApiError> {
    let id = conversation_id(&id)?;
    let q: MessagesParams = params(raw.as_deref())?;
    let before = opt_message("before", q.before.as_deref())?;
    let page = s
        .messaging
        .conversation(
            &me(&p),
            &ConversationRef::Id(id),
            before.as_ref(),
            page_limit(q.limit, MESSAGES_LIMIT)?,
        )
        .await?;
    Ok(Json(page.into()))
}

async fn mark_read(
    State(s): State<AppState>,
    CurrentUser(p): CurrentUser,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<MarkReadRequest>,
) -> Result<Json<ReadResponse>, ApiError> {
    let id = conversation_id(&id)?;
    // An unparsable message ID names no message of the conversation: 404 as well.
    let up_to = message_id(&b.up_to)?;
    let m = s.messaging.mark_read(&me(&p), &id, &up_to).await?;
    if let Some(d) = m.delivery.clone() {
        push(&s, d);
    }
    Ok(Json(m.into()))
}

async fn report(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<ReportRequest>,
) -> Result<Response, ApiError> {
    let id = message_id(&id)?;
    let r = s
        .messaging
        .report(&me(&p), &id, &b.reason, ctx.request_id.as_deref())
        .await?;
    Ok((StatusCode::CREATED, Json(ReportResponse::from(r))).into_response())
}

async fn blocks(
    State(s): State<AppState>,
    CurrentUser(p): CurrentUser,
) -> Result<Json<BlocksResponse>, ApiError> {
    let list = s.messaging.blocked_users(&me(&p)).await?;
    let mut blocked = Vec::with_capacity(list.len());
    for b in list {
        let name = username_of(&s, &b.user).await?;
        blocked.push(BlockedResponse::of(b, name));
    }
    Ok(Json(BlocksResponse { blocked }))
}

async fn block(
    State(s): State<AppState>,
    CurrentUser(p): CurrentUser,
    ApiJson(b): ApiJson<BlockRequest>,
) -> Result<Response, ApiError> {
    let other = resolve_user(&s, &b.user).await?;
    s.messaging.block(&me(&p), &other).await?;
    let username = username_of(&s, &other).await?;
    Ok((
        StatusCode::CREATED,
        Json(BlockedResponse {
            user_id: other.into_string(),
            username,
            since: None,
        }),
    )
        .into_response())
}

async fn unblock(
    State(s): State<AppState>,
    CurrentUser(p): CurrentUser,
    Path(user_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let other: UserId = user_id.parse().map_err(|_| ApiError::not_found())?;
    if s.messaging.unblock(&me(&p), &other).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found())
    }
}

async fn publish(
    State(s): State<AppState>,
    CurrentUser(p): CurrentUser,
    ApiJson(b): ApiJson<PublishBundleRequest>,
) -> Result<Json<PrekeyCountResponse>, ApiError> {
    let n = s
        .messaging
        .publish_bundle(&me(&p), b.into_bundle()?)
        .await?;
    Ok(Json(PrekeyCountResponse {
        one_time_prekeys: n,
    }))
}

async fn prekey_count(
    State(s): State<AppState>,
    CurrentUser(p): CurrentUser,
) -> Result<Json<PrekeyCountResponse>, ApiError> {
    Ok(Json(PrekeyCountResponse {
        one_time_prekeys: s.messaging.prekey_count(&me(&p)).await?,
    }))
}

async fn claim(
    State(s): State<AppState>,
    CurrentUser(p): CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<PrekeyBundleResponse>, ApiError> {
    let target: UserId = id.parse().map_err(|_| ApiError::not_found())?;
    Ok(Json(
        s.messaging.claim_bundle(&me(&p), &target).await?.into(),
    ))
}
