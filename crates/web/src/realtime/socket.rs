//! `GET /ws`: the handshake checks, first-frame authentication and the socket loop.

use super::hub::{Close, Credential, Registration};
use crate::authn::{authenticate, problem, Ctx};
use crate::csrf::{exact_origin_key, origin_key};
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, StreamExt};
use rampart_identity::tokens::PAT_PREFIX;
use rampart_identity::{AuthError, ClientCtx, Principal, Scope, Via};
use rampart_security::events::SecurityEvent;
use std::time::Duration;
use tokio::time::{timeout, Instant};

/// Largest frame or message a client may send (an `auth` frame is well under).
const CLIENT_MESSAGE_MAX: usize = 4 * 1024;
/// The kernel send buffer of an upgraded socket (Linux doubles it): a stalled reader
/// holds at most this much in the kernel before its event queue starts to fill.
pub(crate) const SEND_BUFFER: usize = 32 * 1024;
/// A close frame gets this long to go out before the connection is dropped.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// Whether the handshake's origin may open a socket (exactly one `Origin` header,
/// exactly `scheme://host[:port]`): the site's own origin (the
/// configured public origin, else the request's host), or one in
/// `WS_ALLOWED_ORIGINS`; no `Origin` only when `WS_ALLOW_NO_ORIGIN` is on.
fn origin_allowed(state: &AppState, headers: &HeaderMap) -> bool {
    let cfg = &state.config;
    let mut all = headers.get_all(header::ORIGIN).iter();
    let Some(origin) = all.next() else {
        return cfg.ws_allow_no_origin;
    };
    if all.next().is_some() {
        // A browser sends one; two are a forgery whichever comes first.
        return false;
    }
    let Some(key) = origin.to_str().ok().and_then(exact_origin_key) else {
        // `null` (sandboxed frames, file: pages), anything with a path or more, and
        // anything unparsable.
        return false;
    };
    let same = |configured: &str| origin_key(configured).as_ref() == Some(&key);
    if let Some(site) = &cfg.public_origin {
        if same(site) {
            return true;
        }
    } else if let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) {
        let scheme = if cfg.hsts { "https" } else { "http" };
        if same(&format!("{scheme}://{host}")) {
            return true;
        }
    }
    cfg.ws_allowed_origins.iter().any(|o| same(o))
}

/// Whether the handshake carries a credential in a header (bearer or session cookie).
fn has_header_credential(state: &AppState, headers: &HeaderMap) -> bool {
    headers.contains_key(header::AUTHORIZATION)
        || crate::csrf::cookie(headers, state.config.cookie_names().session).is_some()
}

/// What a principal must be to hold a socket: a user (not an OAuth client), past
/// the TOTP enrolment gate, and for a PAT one carrying `messages:read`.
fn admissible(p: &Principal) -> Result<(), AuthError> {
    if p.is_client() {
        return Err(AuthError::Forbidden);
    }
    if p.must_enrol_totp() {
        return Err(AuthError::TotpEnrolmentRequired);
    }
    if matches!(p.via, Via::Pat { .. }) && !p.has_scope(Scope::MessagesRead) {
        return Err(AuthError::InsufficientScope);
    }
    Ok(())
}

fn reject(state: &AppState, ctx: &ClientCtx, code: &'static str, status: StatusCode) -> Response {
    // A foreign origin is a cross-site attempt (like a CSRF refusal); a query string
    // may carry a leaked token.
    let event = if code == "origin_not_allowed" {
        SecurityEvent::CsrfRejected
    } else {
        SecurityEvent::TokenRejected
    };
    state
        .auth
        .emit(event, ctx, None, &[("reason", code), ("path", "/ws")]);
    ApiError::new(status, code).into_response()
}

pub(super) async fn handshake(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    uri: Uri,
    headers: HeaderMap,
    hint: Option<axum::Extension<super::SendBufferHint>>,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    // Refused whatever it holds: a token in a URL ends up in proxy and server logs,
    // browser history and Referer headers. The query is never logged here.
    if uri.query().is_some() {
        return reject(&s, &ctx, "credentials_in_url", StatusCode::BAD_REQUEST);
    }
    if !origin_allowed(&s, &headers) {
        return reject(&s, &ctx, "origin_not_allowed", StatusCode::FORBIDDEN);
    }
    let ws = match ws {
        Ok(ws) => ws,
        Err(_) => {
            return ApiError::new(StatusCode::BAD_REQUEST, "bad_request")
                .detail("a WebSocket upgrade request is expected")
                .into_response()
        }
    };
    let principal = if has_header_credential(&s, &headers) {
        match authenticate(&s, &headers, &ctx).await.and_then(|p| {
            admissible(&p)?;
            Ok(p)
        }) {
            Ok(p) => Some(p),
            Err(e) => {
                if matches!(
                    e,
                    AuthError::TokenExpired | AuthError::TokenInvalid | AuthError::TokenRevoked
                ) {
                    s.auth.emit(
                        SecurityEvent::TokenRejected,
                        &ctx,
                        None,
                        &[("reason", &e.to_string()), ("path", "/ws")],
                    );
                }
                return problem(e)
                    .header(
                        header::WWW_AUTHENTICATE,
                        axum::http::HeaderValue::from_static("Bearer realm=\"rampart\""),
                    )
                    .into_response();
            }
        }
    } else {
        None
    };
    if let Some(axum::Extension(h)) = hint {
        h.request(SEND_BUFFER);
    }
    ws.read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .max_write_buffer_size(256 * 1024)
        .max_message_size(CLIENT_MESSAGE_MAX)
        .max_frame_size(CLIENT_MESSAGE_MAX)
        .on_upgrade(move |socket| run(s, socket, principal))
}

#[derive(serde::Deserialize)]
struct AuthFrame {
    #[serde(rename = "type")]
    kind: String,
    token: String,
}

/// Reads the first frame: `{"type":"auth","token":…}` with an access token or PAT.
async fn first_frame_auth(s: &AppState, socket: &mut WebSocket) -> Option<Principal> {
    let deadline = s.realtime.config().auth_deadline;
    let msg = match timeout(deadline, socket.recv()).await {
        Ok(Some(Ok(Message::Text(t)))) => t,
        _ => return None,
    };
    let frame: AuthFrame = serde_json::from_str(msg.as_str()).ok()?;
    if frame.kind != "auth" || frame.token.is_empty() || frame.token.len() > 2048 {
        return None;
    }
    let token = frame.token.trim();
    let r = if token.starts_with(PAT_PREFIX) {
        s.auth.authenticate_pat(token).await
    } else {
        s.auth.verify_access(token).await
    };
    let p = r.ok()?;
    admissible(&p).ok()?;
    Some(p)
}

async fn close_with(socket: &mut WebSocket, why: Close) {
    let frame = CloseFrame {
        code: why.code(),
        reason: Utf8Bytes::from_static(why.reason()),
    };
    let _ = timeout(CLOSE_GRACE, socket.send(Message::Close(Some(frame)))).await;
}

async fn run(s: AppState, mut socket: WebSocket, principal: Option<Principal>) {
    let principal = match principal {
        Some(p) => p,
        None => match first_frame_auth(&s, &mut socket).await {
            Some(p) => p,
            None => {
                s.metrics.inc(
                    "rampart_ws_closed_total",
                    "WebSocket connections the server closed, by reason.",
                    &[("reason", Close::Unauthenticated.reason())],
                );
                close_with(&mut socket, Close::Unauthenticated).await;
                return;
            }
        },
    };
    let Some(cred) = Credential::of(&principal) else {
        return;
    };
    let user = principal.user_id().to_owned();
    // Registered first, then the credential re-read from the database: a revocation
    // committed before the read is seen by it, one after it finds the socket in the
    // hub. The socket lives as long as the credential (the sweeper ends it then).
    let reg = s.realtime.register(&principal, cred, i64::MAX);
    let id = reg.id;
    match s.auth.credential_live_until(&principal).await {
        Ok(Some(t)) => s.realtime.set_live_until(&user, id, t),
        _ => {
            s.realtime.unregister(&user, id);
            close_with(&mut socket, Close::Revoked).await;
            return;
        }
    }
    let ready = serde_json::json!({"type": "ready", "user_id": user}).to_string();
    let why = if socket.send(Message::Text(ready.into())).await.is_ok() {
        serve(&s, socket, reg).await
    } else {
        None
    };
    s.realtime.unregister(&user, id);
    let _ = why;
}

/// The socket loop: writes queued events, answers the client's frames, pings, and
/// ends on a close signal, the client leaving, or silence past the idle time.
async fn serve(s: &AppState, socket: WebSocket, reg: Registration) -> Option<Close> {
    let Registration {
        mut events,
        mut close,
        ..
    } = reg;
    let cfg = s.realtime.config().clone();
    let (mut sink, mut stream) = socket.split();
    let mut last_heard = Instant::now();
    let mut ping = tokio::time::interval_at(Instant::now() + cfg.ping_every, cfg.ping_every);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let why = loop {
        tokio::select! {
            biased;
            r = &mut close => break Some(r.unwrap_or(Close::Shutdown)),
            ev = events.recv() => {
                let Some(ev) = ev else { break Some(Close::Shutdown) };
                // A stalled reader blocks this write; the close signal still wins.
                tokio::select! {
                    biased;
                    r = &mut close => break Some(r.unwrap_or(Close::Shutdown)),
                    sent = sink.send(Message::Text(ev)) => if sent.is_err() { break None },
                }
            }
            msg = stream.next() => match msg {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break None,
                // Pongs, pings (answered by the library) and anything else the
                // client says count as life; nothing else is read from it.
                Some(Ok(_)) => last_heard = Instant::now(),
            },
            // Closed when the idle time has passed since the client last said
            // anything, not at the next ping after it.
            _ = tokio::time::sleep_until(last_heard + cfg.idle_after) => {
                s.metrics.inc(
                    "rampart_ws_closed_total",
                    "WebSocket connections the server closed, by reason.",
                    &[("reason", Close::Idle.reason())],
                );
                break Some(Close::Idle);
            }
            _ = ping.tick() => {
                let sent = timeout(cfg.ping_every, sink.send(Message::Ping(Default::default()))).await;
                if !matches!(sent, Ok(Ok(()))) {
                    break None;
                }
            }
        }
    };
    if let Some(w) = why {
        let frame = CloseFrame {
            code: w.code(),
            reason: Utf8Bytes::from_static(w.reason()),
        };
        let _ = timeout(CLOSE_GRACE, sink.send(Message::Close(Some(frame)))).await;
    }
    why
}
