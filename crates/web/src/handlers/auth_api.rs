//! The identity API under `/v1` (fixed endpoints in shared/spec/api.md).

use crate::authn::{Ctx, CurrentUser};
use crate::csrf;
use crate::error::{ApiError, ApiForm, ApiJson};
use crate::routes::{Auth, Doc, Routes};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use rampart_identity::accounts::Registered;
use rampart_identity::SecretString;
use rampart_identity::{AuthError, Principal, RegisterInput, TokenPair, Via};
use rampart_kernel::account::{AccountStatus, Role};
use serde::Deserialize;
use serde_json::{json, Value};

/// Mounts the identity API.
pub fn mount(r: Routes) -> Routes {
    r.post(
        "/v1/auth/register",
        register,
        Doc::new("auth", "Create an account (invite code when required)")
            .limit("auth")
            .body(json!({"type": "object", "required": ["username", "password"], "properties": {
                "username": {"type": "string", "minLength": 3, "maxLength": 32},
                "email": {"type": "string", "maxLength": 254},
                "password": {"type": "string", "minLength": 8, "maxLength": 128},
                "invite_code": {"type": "string"}, "referral_code": {"type": "string"}}}))
            // One status per route in the registry: 202 is the answer to every
            // registration with an e-mail; without one it is 201 with the account.
            .returns(202, json!({"type": "object", "description": "e-mail given: a link was mailed, the same answer whether or not the address is taken ({\"status\": \"verification_sent\"}); no e-mail given: 201 with {id, username, referral_code}", "properties": {"status": {"type": "string", "enum": ["verification_sent"]}, "id": {"type": "string"}, "username": {"type": "string"}, "referral_code": {"type": "string"}}})),
    )
    .post(
        "/v1/auth/verify-email",
        verify_email,
        Doc::new("auth", "Confirm an e-mail address with the mailed token (creates a pending account or applies an address change)")
            .limit("auth")
            .body(json!({"type": "object", "required": ["token"], "properties": {"token": {"type": "string"}}}))
            .returns(200, json!({"type": "object", "properties": {"id": {"type": "string"}, "username": {"type": "string"}, "email": {"type": "string"}}})),
    )
    .post(
        "/v1/auth/token",
        token,
        Doc::new("auth", "Log in; returns an access token and sets the refresh cookie")
            .limit("auth")
            .limit("login")
            .limit("login_ceiling")
            .body(json!({"type": "object", "required": ["login", "password"], "properties": {
                "login": {"type": "string", "description": "username or e-mail"},
                "password": {"type": "string"}, "totp": {"type": "string"},
                "client": {"type": "string", "enum": ["browser", "native"]}}}))
            .returns(200, token_schema()),
    )
    .post(
        "/v1/auth/refresh",
        refresh,
        Doc::new("auth", "Rotate the refresh token (cookie + X-CSRF-Token, or body)")
            .limit("auth")
            .body(json!({"type": "object", "properties": {"refresh_token": {"type": "string"}}}))
            .returns(200, token_schema()),
    )
    .post("/v1/auth/logout", logout, Doc::new("auth", "Revoke the session and its refresh family").returns(204, json!({})))
    .get("/v1/auth/csrf", csrf_token, Doc::new("auth", "The CSRF token of the current cookie session").returns(200, json!({"type": "object", "properties": {"csrf_token": {"type": "string"}}})))
    .post(
        "/v1/auth/password-reset",
        reset_request,
        Doc::new("auth", "Request a password reset (always the same answer)")
            .limit("password_reset")
            .body(json!({"type": "object", "required": ["login"], "properties": {"login": {"type": "string"}}}))
            .returns(202, json!({"type": "object"})),
    )
    .post(
        "/v1/auth/password-reset/confirm",
        reset_confirm,
        Doc::new("auth", "Set a new password with a reset token")
            .limit("auth")
            .body(json!({"type": "object", "required": ["token", "password"], "properties": {"token": {"type": "string"}, "password": {"type": "string"}}}))
            .returns(204, json!({})),
    )
    .get("/v1/me", me, Doc::new("account", "The signed-in account").auth(Auth::User).scope(rampart_identity::Scope::ProfileRead).enrolment())
    .post(
        "/v1/me/password",
        change_password,
        Doc::new("account", "Change the password (ends every other session)")
            .auth(Auth::User)
            .scope(rampart_identity::Scope::ProfileWrite)
            .limit("auth")
            .body(json!({"type": "object", "required": ["current_password", "new_password"], "properties": {"current_password": {"type": "string"}, "new_password": {"type": "string"}}}))
            .returns(204, json!({})),
    )
    .post(
        "/v1/me/email",
        change_email,
        Doc::new("account", "Change the e-mail address (needs the current password; applies once the new address is confirmed)")
            .auth(Auth::User)
            .scope(rampart_identity::Scope::ProfileWrite)
            .limit("auth")
            .body(json!({"type": "object", "required": ["current_password", "email"], "properties": {"current_password": {"type": "string"}, "email": {"type": "string", "maxLength": 254}}}))
            .returns(202, json!({"type": "object", "properties": {"status": {"type": "string", "enum": ["verification_sent"]}}})),
    )
    .post("/v1/me/totp", totp_begin, Doc::new("account", "Begin TOTP enrolment").auth(Auth::User).scope(rampart_identity::Scope::ProfileWrite).enrolment())
    .post(
        "/v1/me/totp/confirm",
        totp_confirm,
        Doc::new("account", "Confirm TOTP enrolment; returns recovery codes once")
            .auth(Auth::User)
            .limit("totp")
            .scope(rampart_identity::Scope::ProfileWrite)
            .enrolment()
            .body(json!({"type": "object", "required": ["code"], "properties": {"code": {"type": "string"}}})),
    )
    .post(
        "/v1/me/totp/disable",
        totp_disable,
        Doc::new("account", "Turn TOTP off (not for admins)")
            .auth(Auth::User)
            .limit("totp")
            .scope(rampart_identity::Scope::ProfileWrite)
            .body(json!({"type": "object", "required": ["code"], "properties": {"code": {"type": "string"}}})),
    )
    .get("/v1/sessions", list_sessions, Doc::new("sessions", "List device sessions").auth(Auth::User).scope(rampart_identity::Scope::SessionsRead))
    .delete("/v1/sessions", revoke_other_sessions, Doc::new("sessions", "Revoke every session but the current one").auth(Auth::User).scope(rampart_identity::Scope::SessionsWrite))
    .delete("/v1/sessions/{id}", revoke_session, Doc::new("sessions", "Revoke one session").auth(Auth::User).scope(rampart_identity::Scope::SessionsWrite))
    .get("/v1/tokens", list_tokens, Doc::new("tokens", "List personal access tokens").auth(Auth::User))
    .post(
        "/v1/tokens",
        create_token,
        Doc::new("tokens", "Create a personal access token (shown once)")
            .auth(Auth::User)
            .limit("auth")
            .body(json!({"type": "object", "required": ["name", "scopes"], "properties": {"name": {"type": "string", "maxLength": 100},
                "scopes": {"type": "array", "items": {"type": "string", "enum": rampart_identity::Scope::ALL.map(rampart_identity::Scope::as_str)}}, "expires_in_days": {"type": "integer", "minimum": 1, "description": "default and maximum are configured (pat_default_ttl_days, 90; pat_max_ttl_days, 366)"}}}))
            .returns(201, json!({"type": "object"})),
    )
    .patch(
        "/v1/tokens/{id}",
        update_token,
        Doc::new("tokens", "Rename, re-scope or change the expiry of a token")
            .auth(Auth::User)
            .body(json!({"type": "object", "properties": {"name": {"type": "string"}, "scopes": {"type": "array", "items": {"type": "string"}}, "expires_in_days": {"type": ["integer", "null"], "description": "null: the default lifetime from now; an expired token cannot be given a new expiry"}}})),
    )
    .delete("/v1/tokens/{id}", delete_token, Doc::new("tokens", "Delete a token").auth(Auth::User))
    .post(
        "/v1/oauth/token",
        oauth_token,
        Doc::new("oauth", "OAuth 2.0 token endpoint (refresh_token, client_credentials)")
            .auth(Auth::Client)
            .limit("auth")
            .form(json!({"type": "object", "required": ["grant_type"], "properties": {"grant_type": {"type": "string", "enum": ["refresh_token", "client_credentials"]},
                "refresh_token": {"type": "string"}, "client_id": {"type": "string"}, "client_secret": {"type": "string"}, "scope": {"type": "string"}}})),
    )
    .get("/.well-known/jwks.json", jwks, Doc::new("auth", "Public signing keys (active and still validating)"))
    .post("/v1/admin/users/{id}/ban", ban, Doc::new("admin", "Ban a user (ends every session and token)").auth(Auth::Staff))
    .post("/v1/admin/users/{id}/unban", unban, Doc::new("admin", "Lift a ban").auth(Auth::Staff))
    .post(
        "/v1/admin/users/{id}/role",
        set_role,
        Doc::new("admin", "Change a user's role").auth(Auth::Admin).body(json!({"type": "object", "required": ["role"], "properties": {"role": {"type": "string"}}})),
    )
    .post(
        "/v1/admin/invites",
        create_invite,
        Doc::new("admin", "Create an invite code (shown once)").auth(Auth::Admin).body(json!({"type": "object", "properties": {"max_uses": {"type": "integer"}, "expires_in_days": {"type": "integer"}}})),
    )
    .delete("/v1/admin/invites/{id}", revoke_invite, Doc::new("admin", "Revoke an invite code").auth(Auth::Admin))
    .post(
        "/v1/admin/oauth-clients",
        create_client,
        Doc::new("admin", "Register an OAuth client (secret shown once)").auth(Auth::Admin).body(json!({"type": "object", "required": ["name", "scopes"], "properties": {"name": {"type": "string"}, "scopes": {"type": "array", "items": {"type": "string"}}}})),
    )
}

fn token_schema() -> Value {
    json!({"type": "object", "properties": {"access_token": {"type": "string"}, "token_type": {"type": "string"},
        "expires_in": {"type": "integer"}, "refresh_token": {"type": "string"}, "session_id": {"type": "string"}, "csrf_token": {"type": "string"}}})
}

fn set_cookie(resp: &mut Response, value: String) {
    if let Ok(v) = HeaderValue::from_str(&value) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
}

fn token_response(s: &AppState, pair: TokenPair, native: bool, status: StatusCode) -> Response {
    let names = s.config.cookie_names();
    let cookie_value = format!("{}.{}", pair.session_id, pair.refresh_token);
    let csrf_token = s.csrf.token_for(&format!("sid:{}", pair.session_id));
    let mut body = json!({
        "access_token": pair.access_token,
        "token_type": "Bearer",
        "expires_in": pair.expires_in,
        "session_id": pair.session_id,
        "csrf_token": csrf_token,
    });
    if native {
        body["refresh_token"] = Value::String(pair.refresh_token);
    }
    let mut resp = (status, Json(body)).into_response();
    if !native {
        set_cookie(
            &mut resp,
            s.config.cookie(
                names.refresh,
                &cookie_value,
                Some(s.auth.config().refresh_ttl_secs),
            ),
        );
    }
    resp
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegisterBody {
    username: String,
    email: Option<String>,
    password: SecretString,
    invite_code: Option<String>,
    referral_code: Option<String>,
}

async fn register(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    ApiJson(b): ApiJson<RegisterBody>,
) -> Result<Response, ApiError> {
    let u = s
        .auth
        .register(
            RegisterInput {
                username: b.username,
                email: b.email,
                password: b.password,
                invite_code: b.invite_code,
                referral_code: b.referral_code,
            },
            &ctx,
        )
        .await?;
    Ok(match u {
        Registered::Created(u) => (
            StatusCode::CREATED,
            Json(
                json!({"id": u.id.as_str(), "username": u.username, "referral_code": u.referral_code}),
            ),
        )
            .into_response(),
        Registered::VerificationSent => verification_sent(),
    })
}

/// The one answer of a request whose mail went either to the address or to its
/// owner: nothing in it may depend on which.
fn verification_sent() -> Response {
    (
        StatusCode::ACCEPTED,
        Json(json!({"status": "verification_sent"})),
    )
        .into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VerifyEmailBody {
    token: String,
}

async fn verify_email(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    ApiJson(b): ApiJson<VerifyEmailBody>,
) -> Result<Json<Value>, ApiError> {
    let a = s.auth.verify_email(b.token.trim(), &ctx).await?;
    Ok(Json(
        json!({"id": a.id.as_str(), "username": a.username, "email": a.email}),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChangeEmailBody {
    current_password: SecretString,
    email: String,
}

async fn change_email(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    ApiJson(b): ApiJson<ChangeEmailBody>,
) -> Result<Response, ApiError> {
    interactive(&p)?;
    s.auth
        .change_email(&p, &b.current_password, &b.email, &ctx)
        .await?;
    Ok(verification_sent())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenBody {
    #[serde(alias = "username", alias = "email")]
    login: String,
    password: SecretString,
    totp: Option<String>,
    client: Option<String>,
}

async fn token(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    ApiJson(b): ApiJson<TokenBody>,
) -> Result<Response, ApiError> {
    let native = match b.client.as_deref() {
        None | Some("browser") => false,
        Some("native") => true,
        Some(_) => {
            return Err(ApiError::validation(rampart_kernel::FieldErrors(vec![
                rampart_kernel::FieldError::new("client", "invalid_value"),
            ])))
        }
    };
    let pair = s
        .auth
        .login_api(&b.login, &b.password, b.totp.as_deref(), &ctx)
        .await?;
    Ok(token_response(&s, pair, native, StatusCode::OK))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RefreshBody {
    refresh_token: Option<String>,
}

/// The refresh token of a request: the body (native clients) or the cookie.
fn presented_refresh(
    s: &AppState,
    headers: &HeaderMap,
    body: Option<String>,
) -> Option<(String, bool)> {
    if let Some(t) = body.filter(|t| !t.is_empty()) {
        return Some((t, true));
    }
    let names = s.config.cookie_names();
    let c = csrf::cookie(headers, names.refresh)?;
    let (_, token) = c.split_once('.')?;
    Some((token.to_owned(), false))
}

async fn optional_json<T: serde::de::DeserializeOwned + Default>(
    headers: &HeaderMap,
    body: axum::body::Bytes,
) -> Result<T, ApiError> {
    if body.is_empty() {
        return Ok(T::default());
    }
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !is_json {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ));
    }
    crate::error::parse_json(&body)
}

async fn refresh(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let b: RefreshBody = optional_json(&headers, body).await?;
    let Some((token, native)) = presented_refresh(&s, &headers, b.refresh_token) else {
        return Err(ApiError::new(StatusCode::UNAUTHORIZED, "token_invalid"));
    };
    let pair = s.auth.refresh(&token, &ctx).await?;
    Ok(token_response(&s, pair, native, StatusCode::OK))
}

async fn logout(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let b: RefreshBody = optional_json(&headers, body).await?;
    let names = s.config.cookie_names();
    let mut sid: Option<String> = None;
    if headers.contains_key(header::AUTHORIZATION) {
        let p = crate::authn::authenticate(&s, &headers, &ctx).await?;
        // A PAT or client credential has no session to end: answering 204 would let
        // the caller believe the credential is dead while it still works.
        if matches!(p.via, Via::Pat { .. } | Via::Client { .. }) {
            return Err(ApiError::new(StatusCode::BAD_REQUEST, "logout_not_applicable")
                .detail("this credential has no session; delete a personal access token with DELETE /v1/tokens/{id}"));
        }
        sid = p.session_id().map(str::to_owned);
    } else if let Some(tok) = b.refresh_token.filter(|t| !t.is_empty()) {
        sid = s.auth.session_of_refresh(&tok).await?;
    } else {
        for name in [names.refresh, names.session] {
            if let Some(c) = csrf::cookie(&headers, name) {
                if let Some((id, _)) = c.split_once('.') {
                    // The cookie's secret must match before anything is revoked.
                    let ok = if name == names.session {
                        s.auth.authenticate_cookie(c, &ctx).await.is_ok()
                    } else {
                        s.auth
                            .session_of_refresh(c.split_once('.').map(|x| x.1).unwrap_or(""))
                            .await?
                            .as_deref()
                            == Some(id)
                    };
                    if ok {
                        sid = Some(id.to_owned());
                        break;
                    }
                }
            }
        }
    }
    if let Some(id) = &sid {
        s.auth.revoke_session(id, s.auth.now(), "logout").await?;
        s.auth.emit(
            rampart_security::events::SecurityEvent::SessionRevoked,
            &ctx,
            None,
            &[("reason", "logout")],
        );
    }
    let mut resp = StatusCode::NO_CONTENT.into_response();
    for name in [names.refresh, names.session] {
        set_cookie(&mut resp, s.config.cookie(name, "", Some(0)));
    }
    Ok(resp)
}

async fn csrf_token(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let (token, cookie) = csrf::token_or_pre_session(&s, &headers);
    let mut resp = Json(json!({"csrf_token": token})).into_response();
    if let Some(c) = cookie {
        set_cookie(&mut resp, c);
    }
    resp
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResetRequestBody {
    #[serde(alias = "email", alias = "username")]
    login: String,
}

async fn reset_request(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    ApiJson(b): ApiJson<ResetRequestBody>,
) -> Response {
    s.auth.request_reset(&b.login, &ctx);
    let lang = crate::handlers::ops::lang_of(&headers);
    (
        StatusCode::ACCEPTED,
        Json(json!({"message": crate::i18n::t(lang, "reset.generic")})),
    )
        .into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResetConfirmBody {
    token: String,
    password: SecretString,
}

async fn reset_confirm(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    ApiJson(b): ApiJson<ResetConfirmBody>,
) -> Result<StatusCode, ApiError> {
    s.auth.confirm_reset(&b.token, &b.password, &ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn via_name(p: &Principal) -> &'static str {
    match p.via {
        Via::Session { .. } => "session",
        Via::Bearer { .. } => "access_token",
        Via::Pat { .. } => "personal_access_token",
        Via::Client { .. } => "client",
    }
}

async fn me(CurrentUser(p): CurrentUser) -> Json<Value> {
    Json(json!({
        "id": p.user_id(), "username": p.username, "role": p.role.as_str(),
        "totp_enabled": p.totp_enabled, "language": p.language, "authenticated_via": via_name(&p),
        "totp_enrolment_required": p.must_enrol_totp(),
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChangePasswordBody {
    current_password: SecretString,
    new_password: SecretString,
}

async fn change_password(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    ApiJson(b): ApiJson<ChangePasswordBody>,
) -> Result<StatusCode, ApiError> {
    interactive(&p)?;
    s.auth
        .change_password(&p, &b.current_password, &b.new_password, &ctx)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn totp_begin(
    State(s): State<AppState>,
    CurrentUser(p): CurrentUser,
) -> Result<Json<Value>, ApiError> {
    interactive(&p)?;
    let (uri, svg, secret) = s.auth.totp_begin(&p).await?;
    Ok(Json(
        json!({"otpauth_uri": uri, "secret": secret, "qr_svg": svg}),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CodeBody {
    code: String,
}

async fn totp_confirm(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    ApiJson(b): ApiJson<CodeBody>,
) -> Result<Json<Value>, ApiError> {
    interactive(&p)?;
    let codes = s.auth.totp_confirm(&p, &b.code, &ctx).await?;
    Ok(Json(json!({"recovery_codes": codes})))
}

async fn totp_disable(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    ApiJson(b): ApiJson<CodeBody>,
) -> Result<StatusCode, ApiError> {
    interactive(&p)?;
    s.auth.totp_disable(&p, &b.code, &ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn session_json(row: &rampart_identity::sessions::DeviceSession, current: Option<&str>) -> Value {
    json!({
        "id": row.id, "kind": row.kind, "device": row.ua_family, "user_agent": row.user_agent,
        "ip_prefix": row.ip_prefix, "created_at": row.created_at, "last_seen_at": row.last_seen_at,
        "expires_at": row.expires_at, "current": current == Some(row.id.as_str()),
    })
}

async fn list_sessions(
    State(s): State<AppState>,
    CurrentUser(p): CurrentUser,
) -> Result<Json<Value>, ApiError> {
    let rows = s.auth.list_sessions(p.user_id()).await?;
    Ok(Json(
        json!({"sessions": rows.iter().map(|r| session_json(r, p.session_id())).collect::<Vec<_>>()}),
    ))
}

async fn revoke_other_sessions(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
) -> Result<Json<Value>, ApiError> {
    let n = s
        .auth
        .revoke_all(p.user_id(), p.session_id(), "user", &ctx)
        .await?;
    Ok(Json(json!({"revoked": n})))
}

async fn revoke_session(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    s.auth.revoke_own_session(p.user_id(), &id, &ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn pat_json(r: &rampart_identity::pats::PatInfo) -> Value {
    json!({"id": r.id, "name": r.name, "prefix": r.display_prefix, "scopes": r.scopes.iter().map(rampart_identity::Scope::as_str).collect::<Vec<_>>(),
        "created_at": r.created_at, "expires_at": r.expires_at, "last_used_at": r.last_used_at})
}

/// Credential management (PATs, password, TOTP) needs an interactive credential: a
/// leaked PAT cannot mint tokens, change the password or lock the owner out.
fn interactive(p: &Principal) -> Result<(), ApiError> {
    match p.via {
        Via::Session { .. } | Via::Bearer { .. } => Ok(()),
        _ => Err(ApiError::new(StatusCode::FORBIDDEN, "insufficient_scope")
            .detail("token management needs a session or access token")),
    }
}

async fn list_tokens(
    State(s): State<AppState>,
    CurrentUser(p): CurrentUser,
) -> Result<Json<Value>, ApiError> {
    interactive(&p)?;
    let rows = s.auth.list_pats(p.user_id()).await?;
    Ok(Json(
        json!({"tokens": rows.iter().map(pat_json).collect::<Vec<_>>()}),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateTokenBody {
    name: String,
    scopes: Vec<String>,
    expires_in_days: Option<i64>,
}

async fn create_token(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    ApiJson(b): ApiJson<CreateTokenBody>,
) -> Result<Response, ApiError> {
    interactive(&p)?;
    let (row, token) = s
        .auth
        .create_pat(&p, &b.name, &b.scopes, b.expires_in_days, &ctx)
        .await?;
    let mut v = pat_json(&row);
    v["token"] = Value::String(token);
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateTokenBody {
    name: Option<String>,
    scopes: Option<Vec<String>>,
    #[serde(default, with = "double_option")]
    expires_in_days: Option<Option<i64>>,
}

mod double_option {
    use serde::{Deserialize, Deserializer};
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<i64>>, D::Error> {
        Option::<i64>::deserialize(d).map(Some)
    }
}

async fn update_token(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<UpdateTokenBody>,
) -> Result<Json<Value>, ApiError> {
    interactive(&p)?;
    let row = s
        .auth
        .update_pat(
            &p,
            &id,
            b.name.as_deref(),
            b.scopes.as_deref(),
            b.expires_in_days,
            &ctx,
        )
        .await?;
    Ok(Json(pat_json(&row)))
}

async fn delete_token(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    interactive(&p)?;
    s.auth.delete_pat(&p, &id, &ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct OauthForm {
    grant_type: Option<String>,
    refresh_token: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    scope: Option<String>,
}

/// RFC 6749 §5.2 error body (not a problem document: OAuth clients expect this).
fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    let mut r = (
        status,
        Json(json!({"error": error, "error_description": description})),
    )
        .into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r.headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    r
}

fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    use base64::Engine as _;
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, b64) = v.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()?;
    let s = String::from_utf8(raw).ok()?;
    let (id, secret) = s.split_once(':')?;
    Some((id.to_owned(), secret.to_owned()))
}

async fn oauth_token(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    form: Result<ApiForm<OauthForm>, ApiError>,
) -> Response {
    let Ok(ApiForm(f)) = form else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the body must be application/x-www-form-urlencoded",
        );
    };
    match f.grant_type.as_deref() {
        Some("refresh_token") => {
            let Some(t) = f.refresh_token.filter(|t| !t.is_empty()) else {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "refresh_token is required",
                );
            };
            match s.auth.refresh(&t, &ctx).await {
                Ok(pair) => Json(json!({"access_token": pair.access_token, "token_type": "Bearer", "expires_in": pair.expires_in, "refresh_token": pair.refresh_token})).into_response(),
                Err(AuthError::Busy) => oauth_error(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable", "try again"),
                Err(AuthError::Internal(m)) => problem_internal(m),
                Err(e) => oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", &e.to_string()),
            }
        }
        Some("client_credentials") => {
            let basic = basic_credentials(&headers);
            // RFC 6749 §2.3: one authentication method per request. A body secret
            // next to Basic, or a body client_id naming another client, is refused
            // rather than silently resolved in favour of one of them.
            if let Some((basic_id, _)) = &basic {
                let other_id = f.client_id.as_deref().is_some_and(|id| id != basic_id);
                if other_id || f.client_secret.is_some() {
                    return oauth_error(
                        StatusCode::BAD_REQUEST,
                        "invalid_request",
                        "use one client authentication method: HTTP Basic or client_id/client_secret in the body, not both",
                    );
                }
            }
            let creds = basic.or_else(|| Some((f.client_id.clone()?, f.client_secret.clone()?)));
            let Some((id, secret)) = creds else {
                return oauth_error(
                    StatusCode::UNAUTHORIZED,
                    "invalid_client",
                    "client authentication failed",
                );
            };
            match s.auth.client_credentials(&id, &secret, f.scope.as_deref()).await {
                Ok((token, scope)) => Json(json!({"access_token": token, "token_type": "Bearer", "expires_in": s.auth.config().access_ttl_secs, "scope": scope})).into_response(),
                Err(AuthError::InsufficientScope) => oauth_error(StatusCode::BAD_REQUEST, "invalid_scope", "scope not allowed for this client"),
                Err(AuthError::Internal(m)) => problem_internal(m),
                Err(_) => oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "client authentication failed"),
            }
        }
        Some(_) => oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "supported: refresh_token, client_credentials",
        ),
        None => oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "grant_type is required",
        ),
    }
}

fn problem_internal(m: String) -> Response {
    ApiError::internal(m).into_response()
}

async fn jwks(State(s): State<AppState>) -> Response {
    let set = s.auth.keys().current();
    let mut r = Json(set.jwks.clone()).into_response();
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    r
}

async fn ban(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    guard_target(&s, &p, &id).await?;
    s.auth
        .set_status(Some(p.user_id()), &id, AccountStatus::Banned, &ctx)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn unban(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    guard_target(&s, &p, &id).await?;
    s.auth
        .set_status(Some(p.user_id()), &id, AccountStatus::Active, &ctx)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Staff act only on accounts below their own role, and never on themselves.
async fn guard_target(s: &AppState, p: &Principal, id: &str) -> Result<Role, ApiError> {
    let target = s.auth.account(id).await?.ok_or_else(ApiError::not_found)?;
    let role = target.role;
    if id == p.user_id() || role >= p.role {
        return Err(ApiError::forbidden());
    }
    Ok(role)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleBody {
    role: String,
}

async fn set_role(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<RoleBody>,
) -> Result<StatusCode, ApiError> {
    let role: Role = b.role.parse().map_err(|_| {
        ApiError::validation(rampart_kernel::FieldErrors(vec![
            rampart_kernel::FieldError::new("role", "invalid_value"),
        ]))
    })?;
    guard_target(&s, &p, &id).await?;
    if role >= p.role {
        return Err(ApiError::forbidden());
    }
    s.auth.set_role(Some(p.user_id()), &id, role, &ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InviteBody {
    max_uses: Option<i64>,
    expires_in_days: Option<i64>,
}

async fn create_invite(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    ApiJson(b): ApiJson<InviteBody>,
) -> Result<Response, ApiError> {
    let (id, code) = s
        .auth
        .create_invite(
            Some(p.user_id()),
            b.max_uses.unwrap_or(1),
            b.expires_in_days,
            &ctx,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(json!({"id": id, "code": code}))).into_response())
}

async fn revoke_invite(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    s.auth.revoke_invite(Some(p.user_id()), &id, &ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientBody {
    name: String,
    scopes: Vec<String>,
}

async fn create_client(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    ApiJson(b): ApiJson<ClientBody>,
) -> Result<Response, ApiError> {
    let (id, secret) = s
        .auth
        .create_oauth_client(Some(p.user_id()), &b.name, &b.scopes, &ctx)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"client_id": id, "client_secret": secret})),
    )
        .into_response())
}
