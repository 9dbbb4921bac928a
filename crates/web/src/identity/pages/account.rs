//! Login, registration, logout, password recovery and reset pages.

use super::{
    add_cookie, csrf_for, err_message, field_messages, lang_for, nav, notice, query, render,
    safe_next, see_other,
};
use crate::authn::{problem, Ctx, MaybeUser};
use crate::error::{ApiError, ApiForm};
use crate::i18n::{Lang, Tr};
use crate::layout::Nav;
use crate::routes::{Doc, Routes};
use crate::state::AppState;
use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use rampart_identity::accounts::Registered;
use rampart_identity::SecretString;
use rampart_identity::{AuthError, ClientCtx, RegisterInput};
use rampart_security::events::SecurityEvent;
use rampart_security::ratelimit::PolicyName;
use serde::Deserialize;

pub(super) fn mount(r: Routes) -> Routes {
    r.get("/login", login_page, Doc::new("web", "Login form").page())
        .post(
            "/login",
            login_submit,
            Doc::new("web", "Log in with a form; sets the session cookie")
                .page()
                .limit(PolicyName::Auth)
                .limit(PolicyName::Login)
                .limit(PolicyName::LoginCeiling),
        )
        .get(
            "/register",
            register_page,
            Doc::new("web", "Registration form").page(),
        )
        .post(
            "/register",
            register_submit,
            Doc::new("web", "Create an account with a form")
                .page()
                .limit(PolicyName::Auth),
        )
        .post(
            "/logout",
            logout,
            Doc::new("web", "End the session and clear the cookie").page(),
        )
        .get(
            "/recover",
            recover_page,
            Doc::new("web", "Password recovery form").page(),
        )
        .post(
            "/recover",
            recover_submit,
            Doc::new("web", "Request a password reset link")
                .page()
                .limit(PolicyName::PasswordReset),
        )
        .get(
            "/reset",
            reset_page,
            Doc::new("web", "New-password form of a reset link").page(),
        )
        .post(
            "/reset",
            reset_submit,
            Doc::new("web", "Set a new password with a reset token")
                .page()
                .limit(PolicyName::Auth),
        )
        .get(
            "/verify-email",
            verify_page,
            Doc::new(
                "web",
                "Confirm form of an e-mail verification link (changes nothing)",
            )
            .page(),
        )
        .post(
            "/verify-email",
            verify_submit,
            Doc::new("web", "Confirm an e-mail address with a verification token")
                .page()
                .limit(PolicyName::Auth),
        )
}

// ----- login ---------------------------------------------------------------------

#[derive(Template)]
#[template(path = "identity/login.html")]
struct LoginPage {
    tr: Tr,
    nav: Nav,
    csrf_token: String,
    login: String,
    next: String,
    show_totp: bool,
    error: Option<String>,
    notice: Option<String>,
}

#[derive(Deserialize, Default)]
struct LoginQuery {
    next: Option<String>,
    notice: Option<String>,
}

async fn login_page(
    State(s): State<AppState>,
    MaybeUser(p): MaybeUser,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let q: LoginQuery = query(raw);
    let lang = lang_for(p.as_ref(), &headers);
    let (token, cookie) = csrf_for(&s, &headers);
    let page = LoginPage {
        tr: Tr(lang),
        nav: nav(p.as_ref(), &token),
        csrf_token: token.clone(),
        login: String::new(),
        next: safe_next(q.next.as_deref()),
        show_totp: false,
        error: None,
        notice: notice(lang, q.notice.as_deref()),
    };
    render(&page, StatusCode::OK, cookie.as_deref())
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    login: String,
    password: Option<SecretString>,
    #[serde(default)]
    totp: String,
    next: Option<String>,
}

/// Ends the session of the cookie this browser still has, if any (a login always
/// starts a fresh session; the old one must not linger).
async fn end_cookie_session(
    s: &AppState,
    headers: &HeaderMap,
    ctx: &ClientCtx,
    reason: &str,
) -> Result<(), ApiError> {
    let names = s.config.cookie_names();
    if let Some(c) = crate::csrf::cookie(headers, names.session) {
        if let Ok(p) = s.auth.authenticate_cookie(c, ctx).await {
            if let Some(sid) = p.session_id() {
                s.auth.revoke_session(sid, s.auth.now(), reason).await?;
                s.auth.emit(
                    SecurityEvent::SessionRevoked,
                    ctx,
                    Some(p.user_id()),
                    &[("reason", reason)],
                );
            }
        }
    }
    Ok(())
}

/// Credential failures answer 401 with the form again; the message never says
/// whether the account exists.
async fn login_submit(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    ApiForm(f): ApiForm<LoginForm>,
) -> Result<Response, ApiError> {
    let lang = lang_of_anon(&headers);
    let totp = Some(f.totp.trim()).filter(|t| !t.is_empty());
    let password = f.password.unwrap_or_else(|| SecretString::from(""));
    let next = safe_next(f.next.as_deref());
    let login = f.login.trim().to_owned();
    let failed = |code: &str, show_totp: bool| {
        let (token, cookie) = csrf_for(&s, &headers);
        let page = LoginPage {
            tr: Tr(lang),
            nav: Nav::default(),
            csrf_token: token,
            login: login.clone(),
            next: next.clone(),
            show_totp,
            error: Some(err_message(lang, code)),
            notice: None,
        };
        Ok(render(&page, StatusCode::UNAUTHORIZED, cookie.as_deref()))
    };
    match s.auth.login_web(&login, &password, totp, &ctx).await {
        Ok(web) => {
            end_cookie_session(&s, &headers, &ctx, "relogin").await?;
            crate::checkout::api::merge_at_login(&s, &headers, &web.user_id).await;
            let names = s.config.cookie_names();
            let mut r = see_other(&next);
            add_cookie(
                &mut r,
                &s.config
                    .cookie(names.session, &web.cookie, Some(web.max_age_secs)),
            );
            add_cookie(&mut r, &s.config.cookie(names.csrf, "", Some(0)));
            Ok(r)
        }
        Err(AuthError::InvalidCredentials) => failed("invalid_credentials", totp.is_some()),
        Err(AuthError::TotpRequired) => failed("totp_required", true),
        Err(AuthError::TotpInvalid) => failed("totp_invalid", true),
        Err(e) => Err(problem(e)),
    }
}

fn lang_of_anon(headers: &HeaderMap) -> Lang {
    lang_for(None, headers)
}

// ----- registration --------------------------------------------------------------

#[derive(Template)]
#[template(path = "identity/register.html")]
struct RegisterPage {
    tr: Tr,
    nav: Nav,
    csrf_token: String,
    username: String,
    email: String,
    invite_code: String,
    referral_code: String,
    errors: Vec<String>,
}

#[derive(Deserialize, Default)]
struct RegisterQuery {
    #[serde(rename = "ref")]
    referral: Option<String>,
    invite: Option<String>,
}

async fn register_page(
    State(s): State<AppState>,
    MaybeUser(p): MaybeUser,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let q: RegisterQuery = query(raw);
    let lang = lang_for(p.as_ref(), &headers);
    let (token, cookie) = csrf_for(&s, &headers);
    let clip = |v: Option<String>| v.map(|v| v.chars().take(128).collect()).unwrap_or_default();
    let page = RegisterPage {
        tr: Tr(lang),
        nav: nav(p.as_ref(), &token),
        csrf_token: token.clone(),
        username: String::new(),
        email: String::new(),
        invite_code: clip(q.invite),
        referral_code: clip(q.referral),
        errors: Vec::new(),
    };
    render(&page, StatusCode::OK, cookie.as_deref())
}

#[derive(Deserialize)]
struct RegisterForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    email: String,
    password: Option<SecretString>,
    #[serde(default)]
    invite_code: String,
    #[serde(default)]
    referral_code: String,
}

async fn register_submit(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    ApiForm(f): ApiForm<RegisterForm>,
) -> Result<Response, ApiError> {
    let lang = lang_of_anon(&headers);
    let opt = |v: &str| Some(v.trim().to_owned()).filter(|v| !v.is_empty());
    let input = RegisterInput {
        username: f.username.clone(),
        email: opt(&f.email),
        password: f.password.unwrap_or_else(|| SecretString::from("")),
        invite_code: opt(&f.invite_code),
        referral_code: opt(&f.referral_code),
    };
    let errors = match s.auth.register(input, &ctx).await {
        Ok(Registered::Created(_)) => return Ok(see_other("/login?notice=registered")),
        Ok(Registered::VerificationSent) => return Ok(see_other("/login?notice=verify_sent")),
        Err(AuthError::Validation(e)) | Err(AuthError::Conflict(e)) => field_messages(lang, &e.0),
        Err(e @ (AuthError::InviteRequired | AuthError::InviteInvalid)) => {
            vec![err_message(lang, problem(e).code)]
        }
        Err(e) => return Err(problem(e)),
    };
    let (token, cookie) = csrf_for(&s, &headers);
    let page = RegisterPage {
        tr: Tr(lang),
        nav: Nav::default(),
        csrf_token: token,
        username: f.username,
        email: f.email,
        invite_code: f.invite_code,
        referral_code: f.referral_code,
        errors,
    };
    Ok(render(
        &page,
        StatusCode::UNPROCESSABLE_ENTITY,
        cookie.as_deref(),
    ))
}

// ----- logout --------------------------------------------------------------------

/// Public (a stale or half-expired cookie must still be clearable) but CSRF-guarded.
async fn logout(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    end_cookie_session(&s, &headers, &ctx, "logout").await?;
    let names = s.config.cookie_names();
    let mut r = see_other("/");
    add_cookie(&mut r, &s.config.cookie(names.session, "", Some(0)));
    Ok(r)
}

// ----- recovery ------------------------------------------------------------------

#[derive(Template)]
#[template(path = "identity/recover.html")]
struct RecoverPage {
    tr: Tr,
    nav: Nav,
    csrf_token: String,
    sent: bool,
}

#[derive(Deserialize, Default)]
struct RecoverQuery {
    sent: Option<String>,
}

async fn recover_page(
    State(s): State<AppState>,
    MaybeUser(p): MaybeUser,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let q: RecoverQuery = query(raw);
    let lang = lang_for(p.as_ref(), &headers);
    let (token, cookie) = csrf_for(&s, &headers);
    let page = RecoverPage {
        tr: Tr(lang),
        nav: nav(p.as_ref(), &token),
        csrf_token: token.clone(),
        sent: q.sent.is_some(),
    };
    render(&page, StatusCode::OK, cookie.as_deref())
}

#[derive(Deserialize)]
struct RecoverForm {
    #[serde(default)]
    login: String,
}

/// Always the same answer, whether or not the account exists.
async fn recover_submit(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    ApiForm(f): ApiForm<RecoverForm>,
) -> Response {
    s.auth.request_reset(&f.login, &ctx);
    see_other("/recover?sent=1")
}

#[derive(Template)]
#[template(path = "identity/reset.html")]
struct ResetPage {
    tr: Tr,
    nav: Nav,
    csrf_token: String,
    token: String,
    errors: Vec<String>,
}

#[derive(Deserialize, Default)]
struct ResetQuery {
    token: Option<String>,
}

async fn reset_page(
    State(s): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let q: ResetQuery = query(raw);
    let lang = lang_of_anon(&headers);
    let (csrf_token, cookie) = csrf_for(&s, &headers);
    let token: String = q.token.unwrap_or_default().chars().take(256).collect();
    let errors = if token.is_empty() {
        vec![err_message(lang, "reset_token_invalid")]
    } else {
        Vec::new()
    };
    let page = ResetPage {
        tr: Tr(lang),
        nav: Nav::default(),
        csrf_token,
        token,
        errors,
    };
    render(&page, StatusCode::OK, cookie.as_deref())
}

#[derive(Deserialize)]
struct ResetForm {
    #[serde(default)]
    token: String,
    password: Option<SecretString>,
}

async fn reset_submit(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    ApiForm(f): ApiForm<ResetForm>,
) -> Result<Response, ApiError> {
    let lang = lang_of_anon(&headers);
    let password = f.password.unwrap_or_else(|| SecretString::from(""));
    let (status, errors) = match s.auth.confirm_reset(f.token.trim(), &password, &ctx).await {
        Ok(()) => return Ok(see_other("/login?notice=reset_done")),
        Err(AuthError::Validation(e)) => {
            (StatusCode::UNPROCESSABLE_ENTITY, field_messages(lang, &e.0))
        }
        Err(AuthError::ResetTokenInvalid) => (
            StatusCode::BAD_REQUEST,
            vec![err_message(lang, "reset_token_invalid")],
        ),
        Err(e) => return Err(problem(e)),
    };
    let (csrf_token, cookie) = csrf_for(&s, &headers);
    let page = ResetPage {
        tr: Tr(lang),
        nav: Nav::default(),
        csrf_token,
        token: f.token,
        errors,
    };
    Ok(render(&page, status, cookie.as_deref()))
}

// ----- e-mail verification -------------------------------------------------------

#[derive(Template)]
#[template(path = "identity/verify_email.html")]
struct VerifyPage {
    tr: Tr,
    nav: Nav,
    csrf_token: String,
    token: String,
    errors: Vec<String>,
}

/// GET only shows a form: mail scanners and link previews open links, and a GET must
/// never change state.
async fn verify_page(
    State(s): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let q: ResetQuery = query(raw);
    let lang = lang_of_anon(&headers);
    let (csrf_token, cookie) = csrf_for(&s, &headers);
    let token: String = q.token.unwrap_or_default().chars().take(256).collect();
    let errors = if token.is_empty() {
        vec![err_message(lang, "verify_token_invalid")]
    } else {
        Vec::new()
    };
    let page = VerifyPage {
        tr: Tr(lang),
        nav: Nav::default(),
        csrf_token,
        token,
        errors,
    };
    render(&page, StatusCode::OK, cookie.as_deref())
}

#[derive(Deserialize)]
struct VerifyForm {
    #[serde(default)]
    token: String,
}

async fn verify_submit(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    ApiForm(f): ApiForm<VerifyForm>,
) -> Result<Response, ApiError> {
    let lang = lang_of_anon(&headers);
    let (status, errors) = match s.auth.verify_email(f.token.trim(), &ctx).await {
        Ok(_) => return Ok(see_other("/login?notice=email_verified")),
        Err(AuthError::Conflict(e)) => (StatusCode::CONFLICT, field_messages(lang, &e.0)),
        Err(AuthError::VerifyTokenInvalid) => (
            StatusCode::BAD_REQUEST,
            vec![err_message(lang, "verify_token_invalid")],
        ),
        Err(e) => return Err(problem(e)),
    };
    let (csrf_token, cookie) = csrf_for(&s, &headers);
    let page = VerifyPage {
        tr: Tr(lang),
        nav: Nav::default(),
        csrf_token,
        token: String::new(),
        errors,
    };
    Ok(render(&page, status, cookie.as_deref()))
}
