//! Authentication as a route layer: the registry puts [`layer`] on every route whose
//! [`Auth`] is not public. It accepts, in order, an `Authorization:
//! Bearer` access token or personal access token (cookies are then ignored, which is
//! what makes such requests CSRF-exempt), else the session cookie. It enforces the
//! route's role, the permission the route declares (the role → permission table), scope, the TOTP enrolment gate for admins, and hands the
//! [`Principal`] to the rate limiter (per-user keys) and the handler ([`CurrentUser`]).

use crate::error::ApiError;
use crate::i18n::Lang;
use crate::ratelimit::RateKeyUser;
use crate::request_id::RequestId;
use crate::state::AppState;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::MethodRouter;
use rampart_identity::tokens::PAT_PREFIX;
use rampart_identity::{AuthError, ClientCtx, Principal};
use rampart_kernel::account::Role;
use rampart_kernel::Permission;
use rampart_security::events::SecurityEvent;
use std::sync::Arc;

/// How a route authenticates its caller (documentation and guard selection).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// Anyone.
    Public,
    /// A signed-in user (session cookie, bearer access token or PAT).
    User,
    /// Staff or above.
    Staff,
    /// Admin or above.
    Admin,
    /// OAuth client credentials or refresh token in the body.
    Client,
}

/// Maps identity errors to HTTP problems (one place).
pub fn problem(e: AuthError) -> ApiError {
    match e {
        AuthError::InvalidCredentials => {
            ApiError::new(StatusCode::UNAUTHORIZED, "invalid_credentials")
        }
        AuthError::TotpRequired => ApiError::new(StatusCode::UNAUTHORIZED, "totp_required"),
        AuthError::TotpInvalid => ApiError::new(StatusCode::UNAUTHORIZED, "totp_invalid"),
        AuthError::TokenExpired => ApiError::new(StatusCode::UNAUTHORIZED, "token_expired"),
        AuthError::RefreshExpired => {
            ApiError::new(StatusCode::UNAUTHORIZED, "refresh_token_expired")
        }
        AuthError::TokenInvalid => ApiError::new(StatusCode::UNAUTHORIZED, "token_invalid"),
        AuthError::TokenRevoked => ApiError::new(StatusCode::UNAUTHORIZED, "token_revoked"),
        AuthError::RefreshReused => ApiError::new(StatusCode::UNAUTHORIZED, "refresh_reused"),
        AuthError::Unauthorized => ApiError::unauthorized(),
        AuthError::Forbidden => ApiError::forbidden(),
        AuthError::InsufficientScope => ApiError::new(StatusCode::FORBIDDEN, "insufficient_scope"),
        AuthError::TotpEnrolmentRequired => {
            ApiError::new(StatusCode::FORBIDDEN, "totp_enrolment_required")
        }
        AuthError::InviteRequired => {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invite_required")
        }
        AuthError::InviteInvalid => {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invite_invalid")
        }
        AuthError::ResetTokenInvalid => {
            ApiError::new(StatusCode::BAD_REQUEST, "reset_token_invalid")
        }
        AuthError::VerifyTokenInvalid => {
            ApiError::new(StatusCode::BAD_REQUEST, "verify_token_invalid")
        }
        AuthError::Validation(f) => ApiError::validation(f),
        AuthError::Conflict(f) => {
            let mut e = ApiError::new(StatusCode::CONFLICT, "conflict");
            e.errors = f.0;
            e
        }
        AuthError::NotFound => ApiError::not_found(),
        AuthError::Busy => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "busy").header(
            HeaderName::from_static("retry-after"),
            HeaderValue::from_static("1"),
        ),
        AuthError::Internal(m) => ApiError::internal(m),
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        problem(e)
    }
}

/// The client context of a request.
pub fn client_ctx(state: &AppState, req: &Request) -> ClientCtx {
    ctx_of(state, req.headers(), req.extensions())
}

/// One construction of [`ClientCtx`] for layers and extractors alike.
fn ctx_of(
    state: &AppState,
    headers: &axum::http::HeaderMap,
    extensions: &axum::http::Extensions,
) -> ClientCtx {
    ClientCtx {
        ip: crate::ratelimit::client_ip_of(state, headers, extensions),
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .chars()
            .take(512)
            .collect(),
        request_id: extensions.get::<RequestId>().map(|r| r.0.clone()),
    }
}

/// Extracts the [`ClientCtx`] in handlers.
#[derive(Debug, Clone)]
pub struct Ctx(pub ClientCtx);

impl FromRequestParts<AppState> for Ctx {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Ctx(ctx_of(state, &parts.headers, &parts.extensions)))
    }
}

/// The authenticated caller, put there by the route's auth layer.
#[derive(Debug, Clone)]
pub struct CurrentUser(pub Principal);

impl<S: Send + Sync> FromRequestParts<S> for CurrentUser {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .map(CurrentUser)
            .ok_or_else(ApiError::unauthorized)
    }
}

/// The caller if signed in, on public routes: the session cookie, or a bearer
/// access token (personal access tokens reach only routes naming a scope they carry,
/// so they are not read here). An invalid credential reads as signed out.
#[derive(Debug, Clone)]
pub struct MaybeUser(pub Option<Principal>);

impl FromRequestParts<AppState> for MaybeUser {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(p) = parts.extensions.get::<Principal>() {
            return Ok(MaybeUser(Some(p.clone())));
        }
        if let Some(h) = parts.headers.get(header::AUTHORIZATION) {
            let token = h
                .to_str()
                .ok()
                .and_then(|v| v.split_once(' '))
                .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
                .map(|(_, t)| t.trim())
                .filter(|t| !t.starts_with(PAT_PREFIX));
            return Ok(MaybeUser(match token {
                Some(t) => state.auth.verify_access(t).await.ok(),
                None => None,
            }));
        }
        let names = state.config.cookie_names();
        let Some(cookie) = crate::csrf::cookie(&parts.headers, names.session).map(str::to_owned)
        else {
            return Ok(MaybeUser(None));
        };
        let Ctx(ctx) = match Ctx::from_request_parts(parts, state).await {
            Ok(c) => c,
            Err(never) => match never {},
        };
        Ok(MaybeUser(
            state.auth.authenticate_cookie(&cookie, &ctx).await.ok(),
        ))
    }
}

/// What the layer needs to know about its route.
struct Requirement {
    state: AppState,
    auth: Auth,
    permission: Option<Permission>,
    scope: Option<rampart_identity::Scope>,
    enrolment: bool,
    /// The staff-power TOTP check is left to the handler (see `Doc::totp_in_handler`).
    totp_in_handler: bool,
    /// A browser route (its group says so): a signed-out GET redirects to the login.
    browser: bool,
}

/// Wraps a route with authentication.
/// The route's `doc` gives the authentication, permission, scope and the TOTP
/// exemptions.
pub fn layer(
    mr: MethodRouter<AppState>,
    state: &AppState,
    doc: &crate::routes::Doc,
    browser: bool,
) -> MethodRouter<AppState> {
    let req = Arc::new(Requirement {
        state: state.clone(),
        auth: doc.auth,
        permission: doc.permission,
        scope: doc.scope,
        enrolment: doc.enrolment,
        totp_in_handler: doc.totp_in_handler,
        browser,
    });
    mr.route_layer(from_fn_with_state(req, guard))
}

/// The role a context's policy sees for `p`: a user who holds staff powers but has
/// no TOTP enabled counts as a customer there (D9: staff powers are used only with
/// a second factor — the guard refuses the routes that declare one, this covers the
/// routes open to authors and parties where staff may also look or answer).
pub fn policy_role(p: &Principal) -> Role {
    let staff_powers = p
        .role
        .permissions()
        .iter()
        .any(|perm| perm.is_staff_power());
    if staff_powers && !p.totp_enabled && !p.is_client() {
        Role::Customer
    } else {
        p.role
    }
}

/// Authenticates a request from its headers.
pub async fn authenticate(
    state: &AppState,
    headers: &axum::http::HeaderMap,
    ctx: &ClientCtx,
) -> Result<Principal, AuthError> {
    if let Some(h) = headers.get(header::AUTHORIZATION) {
        let v = h.to_str().map_err(|_| AuthError::TokenInvalid)?;
        let (scheme, token) = v.split_once(' ').ok_or(AuthError::TokenInvalid)?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(AuthError::TokenInvalid);
        }
        let token = token.trim();
        return if token.starts_with(PAT_PREFIX) {
            state.auth.authenticate_pat(token).await
        } else {
            state.auth.verify_access(token).await
        };
    }
    let names = state.config.cookie_names();
    match crate::csrf::cookie(headers, names.session) {
        Some(c) => state.auth.authenticate_cookie(c, ctx).await,
        None => Err(AuthError::Unauthorized),
    }
}

async fn guard(State(r): State<Arc<Requirement>>, mut req: Request, next: Next) -> Response {
    let page = r.browser;
    let ctx = client_ctx(&r.state, &req);
    let headers = req.headers().clone();
    let principal = match authenticate(&r.state, &headers, &ctx).await {
        Ok(p) => p,
        Err(e) => {
            if matches!(
                e,
                AuthError::TokenExpired | AuthError::TokenInvalid | AuthError::TokenRevoked
            ) {
                r.state.auth.emit(
                    SecurityEvent::TokenRejected,
                    &ctx,
                    None,
                    &[("reason", &e.to_string())],
                );
            }
            if page && req.method() == axum::http::Method::GET {
                return Redirect::to(&format!("/login?next={}", urlencode(req.uri().path())))
                    .into_response();
            }
            let mut err = problem(e);
            err = err.header(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"rampart\""),
            );
            return err.into_response();
        }
    };
    // F1: from here on the caller is known, so every answer — the guard's refusals
    // too — is in their language setting (else Accept-Language, at the edge).
    let lang = principal.language.as_deref().and_then(Lang::from_tag);
    let in_lang = |mut resp: Response| {
        if let Some(l) = lang {
            resp.extensions_mut().insert(l);
        }
        resp
    };
    if principal.must_enrol_totp() && !r.enrolment {
        if page && req.method() == axum::http::Method::GET {
            return in_lang(Redirect::to("/settings/2fa").into_response());
        }
        return in_lang(problem(AuthError::TotpEnrolmentRequired).into_response());
    }
    let role_ok = match r.auth {
        Auth::Public | Auth::User | Auth::Client => true,
        Auth::Staff => principal.role >= Role::Staff,
        Auth::Admin => principal.role >= Role::Admin,
    } && r.permission.is_none_or(|p| p.allowed_for(principal.role));
    if !role_ok
        || matches!(principal.via, rampart_identity::Via::Client { .. }) && r.auth != Auth::Client
    {
        // Staff routes answer 404 to those who may not know they exist (D1).
        return in_lang(ApiError::not_found().into_response());
    }
    // Fail closed: a personal access token reaches only routes that name a scope it
    // carries (no scope grants staff or admin power).
    let pat = matches!(principal.via, rampart_identity::Via::Pat { .. });
    match r.scope {
        Some(scope) if !principal.has_scope(scope) => {
            return in_lang(problem(AuthError::InsufficientScope).into_response());
        }
        None if pat => return in_lang(problem(AuthError::InsufficientScope).into_response()),
        _ => {}
    }
    // A staff power (ban, grant, refund, resolve a dispute, warn a store…) is used only
    // with a second factor: a user holding the permission but no TOTP enrols first
    // (D9). Admins are already held at the enrolment gate above.
    if r.permission.is_some_and(Permission::is_staff_power)
        && !r.totp_in_handler
        && !principal.is_client()
        && !principal.totp_enabled
    {
        if page && req.method() == axum::http::Method::GET {
            return in_lang(Redirect::to("/settings/2fa").into_response());
        }
        return in_lang(problem(AuthError::TotpEnrolmentRequired).into_response());
    }
    req.extensions_mut()
        .insert(RateKeyUser(principal.user_id().to_owned()));
    req.extensions_mut().insert(principal);
    in_lang(next.run(req).await)
}

/// Minimal percent-encoding for a `next=` path.
pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
