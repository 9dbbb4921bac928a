//! The identity API under `/v1` (fixed endpoints in shared/spec/api.md).

use super::wire::*;
use crate::authn::{Ctx, CurrentUser};
use crate::codes::Code;
use crate::csrf;
use crate::error::{ApiError, ApiForm, ApiJson};
use crate::routes::{Auth, Doc, Group, Routes};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use rampart_identity::accounts::Registered;
use rampart_identity::{AuthError, Principal, RegisterInput, TokenPair, Via};
use rampart_kernel::account::{AccountStatus, Role};
use rampart_kernel::Permission;
use rampart_security::ratelimit::PolicyName;

/// Mounts the identity API.
pub fn mount(r: Routes) -> Routes {
    use Code::*;
    let user = || Doc::new("account", "").auth(Auth::User);
    r.group(Group::Auth)
        .post(
            "/v1/auth/register",
            register,
            Doc::new(
                "auth",
                "Create an account (invite code when required). With an e-mail: 202, the same answer whether or not the address is taken, and the account is created from the mailed link; without one: 201 with the account",
            )
            .limit(PolicyName::Auth)
            .request::<RegisterRequest>()
            .responds::<VerificationSentResponse>(202)
            .also_responds::<RegisterResponse>(201)
                .errors(&[
                    ValidationFailed,
                    Conflict,
                    InviteRequired,
                    InviteInvalid,
                    Busy,
                ]),
        )
        .post(
            "/v1/auth/verify-email",
            verify_email,
            Doc::new(
                "auth",
                "Confirm an e-mail address with the mailed token (creates a pending account or applies an address change)",
            )
            .limit(PolicyName::Auth)
            .request::<VerifyEmailRequest>()
            .responds::<VerifiedEmailResponse>(200)
            .errors(&[VerifyTokenInvalid, Conflict]),
        )
        .post(
            "/v1/auth/token",
            token,
            Doc::new(
                "auth",
                "Log in; returns an access token and sets the refresh cookie",
            )
            .limit(PolicyName::Auth)
            .limit(PolicyName::Login)
            .limit(PolicyName::LoginCeiling)
            .request::<TokenRequest>()
            .responds::<TokenResponse>(200)
            .errors(&[
                ValidationFailed,
                InvalidCredentials,
                TotpRequired,
                TotpInvalid,
                Busy,
            ]),
        )
        .post(
            "/v1/auth/refresh",
            refresh,
            Doc::new(
                "auth",
                "Rotate the refresh token (cookie + X-CSRF-Token, or body)",
            )
            .limit(PolicyName::Auth)
            .optional_request::<RefreshRequest>()
            .responds::<TokenResponse>(200)
            .errors(&[
                TokenInvalid,
                TokenRevoked,
                RefreshReused,
                RefreshTokenExpired,
            ]),
        )
        .post(
            "/v1/auth/logout",
            logout,
            Doc::new("auth", "Revoke the session and its refresh family")
                .optional_request::<RefreshRequest>()
                .no_content()
                .errors(&[
                    Unauthorized,
                    TokenInvalid,
                    TokenExpired,
                    TokenRevoked,
                    LogoutNotApplicable,
                ]),
        )
        .get(
            "/v1/auth/csrf",
            csrf_token,
            Doc::new("auth", "The CSRF token of the current cookie session")
                .responds::<CsrfResponse>(200),
        )
        .post(
            "/v1/auth/password-reset",
            reset_request,
            Doc::new("auth", "Request a password reset (always the same answer)")
                .limit(PolicyName::PasswordReset)
                .request::<ResetRequest>()
                .responds::<MessageResponse>(202),
        )
        .post(
            "/v1/auth/password-reset/confirm",
            reset_confirm,
            Doc::new("auth", "Set a new password with a reset token")
                .limit(PolicyName::Auth)
                .request::<ResetConfirmRequest>()
                .no_content()
                .errors(&[ValidationFailed, ResetTokenInvalid, Busy]),
        )
        .get(
            "/v1/me",
            me,
            Doc {
                summary: "The signed-in account",
                ..user()
            }
            .scope(rampart_identity::Scope::ProfileRead)
            .enrolment()
            .responds::<MeResponse>(200),
        )
        .post(
            "/v1/me/email",
            change_email,
            Doc {
                summary: "Change the e-mail address (needs the current password; applies once the new address is confirmed)",
                ..user()
            }
            .scope(rampart_identity::Scope::ProfileWrite)
            .limit(PolicyName::Auth)
            .request::<ChangeEmailRequest>()
            .responds::<VerificationSentResponse>(202)
            .errors(&[ValidationFailed, InvalidCredentials, Busy]),
        )
        .post(
            "/v1/me/password",
            change_password,
            Doc {
                summary: "Change the password (ends every other session)",
                ..user()
            }
            .scope(rampart_identity::Scope::ProfileWrite)
            .limit(PolicyName::Auth)
            .request::<ChangePasswordRequest>()
            .no_content()
            .errors(&[ValidationFailed, InvalidCredentials, Busy]),
        )
        .post(
            "/v1/me/totp",
            totp_begin,
            Doc {
                summary: "Begin TOTP enrolment",
                ..user()
            }
            .scope(rampart_identity::Scope::ProfileWrite)
            .enrolment()
            .responds::<TotpBeginResponse>(200)
            .errors(&[Conflict]),
        )
        .post(
            "/v1/me/totp/confirm",
            totp_confirm,
            Doc {
                summary: "Confirm TOTP enrolment; returns recovery codes once and, for a bearer caller, a new token pair (the old one ends)",
                ..user()
            }
            .limit(PolicyName::Totp)
            .scope(rampart_identity::Scope::ProfileWrite)
            .enrolment()
            .request::<CodeRequest>()
            .responds::<TotpConfirmResponse>(200)
            .errors(&[TotpInvalid, Conflict]),
        )
        .post(
            "/v1/me/totp/disable",
            totp_disable,
            Doc {
                summary: "Turn TOTP off (not for admins)",
                ..user()
            }
            .limit(PolicyName::Totp)
            .scope(rampart_identity::Scope::ProfileWrite)
            .request::<CodeRequest>()
            .no_content()
            .errors(&[TotpInvalid]),
        )
        .post(
            "/v1/oauth/token",
            oauth_token,
            Doc::new(
                "oauth",
                "OAuth 2.0 token endpoint (refresh_token, client_credentials)",
            )
            .auth(Auth::Client)
            .limit(PolicyName::Auth)
            .form::<OauthTokenRequest>()
            .responds::<OauthTokenResponse>(200)
            .oauth_errors(),
        )
        .group(Group::Manage)
        .get(
            "/v1/sessions",
            list_sessions,
            Doc::new("sessions", "List device sessions")
                .auth(Auth::User)
                .scope(rampart_identity::Scope::SessionsRead)
                .responds::<SessionList>(200),
        )
        .delete(
            "/v1/sessions",
            revoke_other_sessions,
            Doc::new("sessions", "Revoke every session but the current one")
                .auth(Auth::User)
                .scope(rampart_identity::Scope::SessionsWrite)
                .responds::<RevokedResponse>(200),
        )
        .delete(
            "/v1/sessions/{id}",
            revoke_session,
            Doc::new("sessions", "Revoke one session")
                .auth(Auth::User)
                .scope(rampart_identity::Scope::SessionsWrite)
                .no_content()
                .errors(&[NotFound]),
        )
        .get(
            "/v1/tokens",
            list_tokens,
            Doc::new("tokens", "List personal access tokens")
                .auth(Auth::User)
                .responds::<TokenList>(200),
        )
        .post(
            "/v1/tokens",
            create_token,
            Doc::new("tokens", "Create a personal access token (shown once)")
                .auth(Auth::User)
                .limit(PolicyName::Auth)
                .request::<CreateTokenRequest>()
                .responds::<CreatedToken>(201)
                .errors(&[ValidationFailed, Conflict]),
        )
        .patch(
            "/v1/tokens/{id}",
            update_token,
            Doc::new("tokens", "Rename, re-scope or change the expiry of a token")
                .auth(Auth::User)
                .request::<UpdateTokenRequest>()
                .responds::<TokenView>(200)
                .errors(&[ValidationFailed, NotFound, Conflict]),
        )
        .delete(
            "/v1/tokens/{id}",
            delete_token,
            Doc::new("tokens", "Delete a token")
                .auth(Auth::User)
                .no_content()
                .errors(&[NotFound]),
        )
        .post(
            "/v1/admin/users/{id}/ban",
            ban,
            Doc::new("admin", "Ban a user (ends every session and token)")
                .permission(Permission::BanUser)
                .no_content()
                .errors(&[NotFound]),
        )
        .post(
            "/v1/admin/users/{id}/unban",
            unban,
            Doc::new("admin", "Lift a ban")
                .permission(Permission::BanUser)
                .no_content()
                .errors(&[NotFound]),
        )
        .post(
            "/v1/admin/users/{id}/role",
            set_role,
            Doc::new("admin", "Change a user's role")
                .permission(Permission::GrantRole)
                .request::<RoleRequest>()
                .no_content()
                .errors(&[ValidationFailed, NotFound]),
        )
        .post(
            "/v1/admin/invites",
            create_invite,
            Doc::new("admin", "Create an invite code (shown once)")
                .permission(Permission::ManageInvites)
                .request::<InviteRequest>()
                .responds::<InviteCreated>(201)
                .errors(&[ValidationFailed]),
        )
        .delete(
            "/v1/admin/invites/{id}",
            revoke_invite,
            Doc::new("admin", "Revoke an invite code")
                .permission(Permission::ManageInvites)
                .no_content()
                .errors(&[NotFound]),
        )
        .post(
            "/v1/admin/oauth-clients",
            create_client,
            Doc::new("admin", "Register an OAuth client (secret shown once)")
                .permission(Permission::ManageOauthClients)
                .request::<ClientRequest>()
                .responds::<ClientCreated>(201)
                .errors(&[ValidationFailed]),
        )
        .group(Group::Api)
        .get(
            "/.well-known/jwks.json",
            jwks,
            Doc::new("auth", "Public signing keys (active and still validating)")
                .responds::<Jwks>(200),
        )
}

fn set_cookie(resp: &mut Response, value: String) {
    if let Ok(v) = HeaderValue::from_str(&value) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
}

fn token_response(s: &AppState, pair: TokenPair, native: bool, status: StatusCode) -> Response {
    let (body, cookie) = token_body(s, pair, native);
    let mut resp = (status, Json(body)).into_response();
    if let Some(c) = cookie {
        set_cookie(&mut resp, c);
    }
    resp
}

/// The token body, and the refresh cookie for browser clients (native clients get the
/// refresh token in the body instead).
fn token_body(s: &AppState, pair: TokenPair, native: bool) -> (TokenResponse, Option<String>) {
    let names = s.config.cookie_names();
    let cookie_value = format!("{}.{}", pair.session_id, pair.refresh_token);
    let csrf_token = s.csrf.token_for(&format!("sid:{}", pair.session_id));
    let body = TokenResponse {
        access_token: pair.access_token,
        token_type: "Bearer",
        expires_in: pair.expires_in,
        session_id: pair.session_id,
        csrf_token,
        refresh_token: native.then_some(pair.refresh_token),
    };
    let cookie = (!native).then(|| {
        s.config.cookie(
            names.refresh,
            &cookie_value,
            Some(s.auth.config().refresh_ttl_secs),
        )
    });
    (body, cookie)
}

async fn register(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    ApiJson(b): ApiJson<RegisterRequest>,
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
            Json(RegisterResponse {
                id: u.id.into_string(),
                username: u.username,
                referral_code: u.referral_code,
            }),
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
        Json(VerificationSentResponse {
            status: "verification_sent",
        }),
    )
        .into_response()
}

async fn verify_email(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    ApiJson(b): ApiJson<VerifyEmailRequest>,
) -> Result<Json<VerifiedEmailResponse>, ApiError> {
    let a = s.auth.verify_email(b.token.trim(), &ctx).await?;
    Ok(Json(VerifiedEmailResponse {
        id: a.id.into_string(),
        username: a.username,
        email: a.email,
    }))
}

async fn change_email(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    ApiJson(b): ApiJson<ChangeEmailRequest>,
) -> Result<Response, ApiError> {
    interactive(&p)?;
    s.auth
        .change_email(&p, &b.current_password, &b.email, &ctx)
        .await?;
    Ok(verification_sent())
}

async fn token(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    ApiJson(b): ApiJson<TokenRequest>,
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
    crate::checkout::api::merge_after_token_login(&s, &headers, &pair.access_token).await;
    Ok(token_response(&s, pair, native, StatusCode::OK))
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
    let b: RefreshRequest = optional_json(&headers, body).await?;
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
    let b: RefreshRequest = optional_json(&headers, body).await?;
    let names = s.config.cookie_names();
    let mut sid: Option<String> = None;
    if headers.contains_key(header::AUTHORIZATION) {
        let p = crate::authn::authenticate(&s, &headers, &ctx).await?;
        // A PAT or client credential has no session to end: answering 204 would let
        // the caller believe the credential is dead while it still works.
        if matches!(p.via, Via::Pat { .. } | Via::Client { .. }) {
            return Err(
                ApiError::new(StatusCode::BAD_REQUEST, "logout_not_applicable").detail(
                    "this credential has no session; delete a personal access token with DELETE /v1/tokens/{id}",
                ),
            );
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
    let mut resp = Json(CsrfResponse { csrf_token: token }).into_response();
    if let Some(c) = cookie {
        set_cookie(&mut resp, c);
    }
    resp
}

async fn reset_request(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    ApiJson(b): ApiJson<ResetRequest>,
) -> Response {
    s.auth.request_reset(&b.login, &ctx);
    let lang = crate::i18n::lang_of(&headers);
    (
        StatusCode::ACCEPTED,
        Json(MessageResponse {
            message: crate::i18n::t(lang, "reset.generic").to_owned(),
        }),
    )
        .into_response()
}

async fn reset_confirm(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    ApiJson(b): ApiJson<ResetConfirmRequest>,
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

async fn me(CurrentUser(p): CurrentUser) -> Json<MeResponse> {
    Json(MeResponse {
        authenticated_via: via_name(&p),
        totp_enrolment_required: p.must_enrol_totp(),
        role: p.role.as_str(),
        id: p.user_id().to_owned(),
        username: p.username,
        totp_enabled: p.totp_enabled,
        language: p.language,
    })
}

async fn change_password(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    ApiJson(b): ApiJson<ChangePasswordRequest>,
) -> Result<Response, ApiError> {
    interactive(&p)?;
    // PATs always end here; the web form may keep them.
    let rotated = s
        .auth
        .change_password(&p, &b.current_password, &b.new_password, false, &ctx)
        .await?;
    let mut resp = StatusCode::NO_CONTENT.into_response();
    if let Some(web) = rotated {
        let names = s.config.cookie_names();
        set_cookie(
            &mut resp,
            s.config
                .cookie(names.session, &web.cookie, Some(web.max_age_secs)),
        );
    }
    Ok(resp)
}

async fn totp_begin(
    State(s): State<AppState>,
    CurrentUser(p): CurrentUser,
) -> Result<Json<TotpBeginResponse>, ApiError> {
    interactive(&p)?;
    let (otpauth_uri, qr_svg, secret) = s.auth.totp_begin(&p).await?;
    Ok(Json(TotpBeginResponse {
        otpauth_uri,
        secret,
        qr_svg,
    }))
}

async fn totp_confirm(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    headers: HeaderMap,
    ApiJson(b): ApiJson<CodeRequest>,
) -> Result<Response, ApiError> {
    interactive(&p)?;
    match p.via {
        // A privilege change keeps no old credential: the access token and refresh
        // family the enrolment began with end; the new pair comes back (the refresh
        // token as a cookie for browser clients, in the body for native ones).
        Via::Bearer { .. } => {
            let (recovery_codes, pair) = s.auth.totp_confirm_api(&p, &b.code, &ctx).await?;
            let names = s.config.cookie_names();
            let browser = csrf::cookie(&headers, names.refresh).is_some();
            let (tokens, cookie) = token_body(&s, pair, !browser);
            let mut resp = Json(TotpConfirmResponse {
                recovery_codes,
                tokens: Some(tokens),
            })
            .into_response();
            if let Some(c) = cookie {
                set_cookie(&mut resp, c);
            }
            Ok(resp)
        }
        _ => {
            let recovery_codes = s.auth.totp_confirm(&p, &b.code, &ctx).await?;
            let mut resp = Json(TotpConfirmResponse {
                recovery_codes,
                tokens: None,
            })
            .into_response();
            // A cookie session is replaced, as on the web page.
            if let Some(old) = p.session_id() {
                let web = s.auth.start_web_session(p.user_id(), &ctx).await?;
                s.auth
                    .revoke_session(old, s.auth.now(), "totp_enabled")
                    .await?;
                let names = s.config.cookie_names();
                set_cookie(
                    &mut resp,
                    s.config
                        .cookie(names.session, &web.cookie, Some(web.max_age_secs)),
                );
            }
            Ok(resp)
        }
    }
}

async fn totp_disable(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    ApiJson(b): ApiJson<CodeRequest>,
) -> Result<StatusCode, ApiError> {
    interactive(&p)?;
    s.auth.totp_disable(&p, &b.code, &ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn session_view(
    row: rampart_identity::sessions::DeviceSession,
    current: Option<&str>,
) -> SessionView {
    SessionView {
        current: current == Some(row.id.as_str()),
        id: row.id,
        kind: row.kind,
        device: row.ua_family,
        user_agent: row.user_agent,
        ip_prefix: row.ip_prefix,
        created_at: row.created_at,
        last_seen_at: row.last_seen_at,
        expires_at: row.expires_at,
    }
}

async fn list_sessions(
    State(s): State<AppState>,
    CurrentUser(p): CurrentUser,
) -> Result<Json<SessionList>, ApiError> {
    let rows = s.auth.list_sessions(p.user_id()).await?;
    Ok(Json(SessionList {
        sessions: rows
            .into_iter()
            .map(|r| session_view(r, p.session_id()))
            .collect(),
    }))
}

async fn revoke_other_sessions(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
) -> Result<Json<RevokedResponse>, ApiError> {
    let n = s
        .auth
        .revoke_all(p.user_id(), p.session_id(), "user", &ctx)
        .await?;
    Ok(Json(RevokedResponse {
        revoked: u64::try_from(n).unwrap_or(u64::MAX),
    }))
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

fn token_view(r: rampart_identity::pats::PatInfo) -> TokenView {
    TokenView {
        scopes: r.scopes.iter().map(|s| s.as_str().to_owned()).collect(),
        id: r.id,
        name: r.name,
        prefix: r.display_prefix,
        created_at: r.created_at,
        expires_at: r.expires_at,
        last_used_at: r.last_used_at,
    }
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
) -> Result<Json<TokenList>, ApiError> {
    interactive(&p)?;
    let rows = s.auth.list_pats(p.user_id()).await?;
    Ok(Json(TokenList {
        tokens: rows.into_iter().map(token_view).collect(),
    }))
}

async fn create_token(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    ApiJson(b): ApiJson<CreateTokenRequest>,
) -> Result<Response, ApiError> {
    interactive(&p)?;
    let (row, token) = s
        .auth
        .create_pat(&p, &b.name, &b.scopes, b.expires_in_days, &ctx)
        .await?;
    let body = CreatedToken {
        view: token_view(row),
        token,
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

async fn update_token(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<UpdateTokenRequest>,
) -> Result<Json<TokenView>, ApiError> {
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
    Ok(Json(token_view(row)))
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

/// RFC 6749 §5.2 error body (not a problem document: OAuth clients expect this).
fn oauth_error(status: StatusCode, error: &'static str, description: &str) -> Response {
    let mut r = (
        status,
        Json(OauthError {
            error,
            error_description: description.to_owned(),
        }),
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
    // NUL never occurs in a client ID or secret (and PostgreSQL refuses it in text).
    if s.contains('\0') {
        return None;
    }
    let (id, secret) = s.split_once(':')?;
    Some((id.to_owned(), secret.to_owned()))
}

async fn oauth_token(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    form: Result<ApiForm<OauthTokenRequest>, ApiError>,
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
                Ok(pair) => Json(OauthTokenResponse {
                    access_token: pair.access_token,
                    token_type: "Bearer",
                    expires_in: pair.expires_in,
                    refresh_token: Some(pair.refresh_token),
                    scope: None,
                })
                .into_response(),
                Err(AuthError::Busy) => oauth_error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "temporarily_unavailable",
                    "try again",
                ),
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
            match s
                .auth
                .client_credentials(&id, &secret, f.scope.as_deref())
                .await
            {
                Ok((token, scope)) => Json(OauthTokenResponse {
                    access_token: token,
                    token_type: "Bearer",
                    expires_in: s.auth.config().access_ttl_secs,
                    refresh_token: None,
                    scope: Some(scope),
                })
                .into_response(),
                Err(AuthError::InsufficientScope) => oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_scope",
                    "scope not allowed for this client",
                ),
                Err(AuthError::Internal(m)) => problem_internal(m),
                Err(_) => oauth_error(
                    StatusCode::UNAUTHORIZED,
                    "invalid_client",
                    "client authentication failed",
                ),
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

async fn set_role(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<RoleRequest>,
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

async fn create_invite(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    ApiJson(b): ApiJson<InviteRequest>,
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
    Ok((StatusCode::CREATED, Json(InviteCreated { id, code })).into_response())
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

async fn create_client(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    ApiJson(b): ApiJson<ClientRequest>,
) -> Result<Response, ApiError> {
    let (id, secret) = s
        .auth
        .create_oauth_client(Some(p.user_id()), &b.name, &b.scopes, &ctx)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(ClientCreated {
            client_id: id,
            client_secret: secret,
        }),
    )
        .into_response())
}
