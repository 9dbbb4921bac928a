//! The settings area: overview and language, password, two-factor authentication,
//! device sessions and personal access tokens. Only a browser session (the cookie)
//! reaches these pages: a bearer or personal access token gets 403, so a leaked PAT
//! cannot mint PATs, read recovery codes or end sessions through the web forms.

use super::{
    add_cookie, csrf_for, csrf_for_session, field_messages, fmt_ms, lang_for, nav, notice, query,
    render, see_other,
};
use crate::authn::{problem, Ctx, CurrentUser};
use crate::error::{ApiError, ApiForm};
use crate::i18n::{Lang, Tr};
use crate::layout::Nav;
use crate::routes::{Auth, Doc, Routes};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use base64::Engine as _;
use rampart_identity::SecretString;
use rampart_identity::{AuthError, Principal, Via};
use rampart_kernel::{FieldError, FieldErrors};
use rampart_security::ratelimit::PolicyName;
use serde::Deserialize;

pub(super) fn mount(r: Routes) -> Routes {
    let page = |summary: &'static str| Doc::new("web", summary).page().auth(Auth::User);
    r.get("/settings", overview, page("Account settings"))
        .post(
            "/settings/language",
            set_language,
            page("Set the preferred language"),
        )
        .get(
            "/settings/password",
            password_page,
            page("Password change form"),
        )
        .post(
            "/settings/password",
            password_submit,
            page("Change the password").limit(PolicyName::Auth),
        )
        .get(
            "/settings/2fa",
            totp_page,
            page("Two-factor status").enrolment(),
        )
        .post(
            "/settings/2fa/begin",
            totp_begin,
            page("Begin two-factor enrolment").enrolment(),
        )
        .post(
            "/settings/2fa/confirm",
            totp_confirm,
            page("Confirm two-factor enrolment")
                .enrolment()
                .limit(PolicyName::Totp),
        )
        .post(
            "/settings/2fa/disable",
            totp_disable,
            page("Turn two-factor off")
                .enrolment()
                .limit(PolicyName::Totp),
        )
        .get("/settings/sessions", sessions_page, page("Device sessions"))
        .post(
            "/settings/sessions/revoke-others",
            revoke_others,
            page("Sign out every other device"),
        )
        .post(
            "/settings/sessions/{id}/revoke",
            revoke_one,
            page("Sign out one device"),
        )
        .get(
            "/settings/tokens",
            tokens_page,
            page("Personal access tokens"),
        )
        .post(
            "/settings/tokens",
            token_create,
            page("Create a personal access token").limit(PolicyName::Auth),
        )
        .post(
            "/settings/tokens/{id}/delete",
            token_delete,
            page("Delete a personal access token"),
        )
}

/// Settings pages are for the browser session only.
fn browser(p: &Principal) -> Result<(), ApiError> {
    match p.via {
        Via::Session { .. } => Ok(()),
        _ => Err(ApiError::forbidden().detail("settings pages need a browser session")),
    }
}

/// Language, navigation and CSRF token of a signed-in page.
struct Frame {
    lang: Lang,
    token: String,
}

impl Frame {
    fn of(s: &AppState, p: &Principal, headers: &HeaderMap) -> Result<Self, ApiError> {
        browser(p)?;
        let token = match p.session_id() {
            Some(sid) => csrf_for_session(s, sid),
            None => csrf_for(s, headers).0,
        };
        Ok(Frame {
            lang: lang_for(Some(p), headers),
            token,
        })
    }
    fn tr(&self) -> Tr {
        Tr(self.lang)
    }
    fn nav(&self, p: &Principal) -> Nav {
        nav(Some(p), &self.token)
    }
}

#[derive(Deserialize, Default)]
struct NoticeQuery {
    notice: Option<String>,
}

// ----- overview and language ----------------------------------------------------

#[derive(Template)]
#[template(path = "identity/settings.html")]
struct OverviewPage {
    tr: Tr,
    nav: Nav,
    csrf_token: String,
    username: String,
    role: &'static str,
    language: &'static str,
    totp_enabled: bool,
    notice: Option<String>,
}

async fn overview(
    State(s): State<AppState>,
    CurrentUser(p): CurrentUser,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let f = Frame::of(&s, &p, &headers)?;
    let q: NoticeQuery = query(raw);
    let page = OverviewPage {
        tr: f.tr(),
        nav: f.nav(&p),
        csrf_token: f.token.clone(),
        username: p.username.clone(),
        role: p.role.as_str(),
        language: f.lang.tag(),
        totp_enabled: p.totp_enabled,
        notice: notice(f.lang, q.notice.as_deref()),
    };
    Ok(render(&page, StatusCode::OK, None))
}

#[derive(Deserialize)]
struct LanguageForm {
    #[serde(default)]
    language: String,
}

async fn set_language(
    State(s): State<AppState>,
    CurrentUser(p): CurrentUser,
    ApiForm(f): ApiForm<LanguageForm>,
) -> Result<Response, ApiError> {
    browser(&p)?;
    let Some(lang) = Lang::from_tag(&f.language).filter(|l| l.tag() == f.language.trim()) else {
        return Err(ApiError::validation(FieldErrors(vec![FieldError::new(
            "language",
            "invalid_value",
        )])));
    };
    s.auth.set_language(&p, lang.tag()).await?;
    Ok(see_other("/settings?notice=saved"))
}

// ----- password ------------------------------------------------------------------

#[derive(Template)]
#[template(path = "identity/settings_password.html")]
struct PasswordPage {
    tr: Tr,
    nav: Nav,
    csrf_token: String,
    errors: Vec<String>,
    notice: Option<String>,
}

async fn password_page(
    State(s): State<AppState>,
    CurrentUser(p): CurrentUser,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let f = Frame::of(&s, &p, &headers)?;
    let q: NoticeQuery = query(raw);
    let page = PasswordPage {
        tr: f.tr(),
        nav: f.nav(&p),
        csrf_token: f.token.clone(),
        errors: Vec::new(),
        notice: notice(f.lang, q.notice.as_deref()),
    };
    Ok(render(&page, StatusCode::OK, None))
}

#[derive(Deserialize)]
struct PasswordForm {
    current_password: Option<SecretString>,
    new_password: Option<SecretString>,
    /// "Keep my access tokens" (unchecked by default: a change deletes them).
    keep_tokens: Option<String>,
}

/// Success ends every other session of the user (the service does that).
async fn password_submit(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    headers: HeaderMap,
    ApiForm(form): ApiForm<PasswordForm>,
) -> Result<Response, ApiError> {
    let f = Frame::of(&s, &p, &headers)?;
    let empty = || SecretString::from("");
    let current = form.current_password.unwrap_or_else(empty);
    let new_password = form.new_password.unwrap_or_else(empty);
    let keep_tokens = form.keep_tokens.is_some_and(|v| !v.is_empty());
    let errors = match s
        .auth
        .change_password(&p, &current, &new_password, keep_tokens, &ctx)
        .await
    {
        Ok(rotated) => {
            // The session was rotated: the old cookie value no longer works.
            let mut resp = see_other("/settings/password?notice=password_changed");
            if let Some(web) = rotated {
                let names = s.config.cookie_names();
                let cookie = s
                    .config
                    .cookie(names.session, &web.cookie, Some(web.max_age_secs));
                if let Ok(v) = axum::http::HeaderValue::from_str(&cookie) {
                    resp.headers_mut().append(axum::http::header::SET_COOKIE, v);
                }
            }
            return Ok(resp);
        }
        Err(AuthError::Validation(e)) => field_messages(f.lang, &e.0),
        Err(e) => return Err(problem(e)),
    };
    let page = PasswordPage {
        tr: f.tr(),
        nav: f.nav(&p),
        csrf_token: f.token.clone(),
        errors,
        notice: None,
    };
    Ok(render(&page, StatusCode::UNPROCESSABLE_ENTITY, None))
}

// ----- two-factor ----------------------------------------------------------------

/// The secret half of an enrolment in progress.
struct Enrolment {
    qr_src: String,
    secret: String,
}

#[derive(Template)]
#[template(path = "identity/settings_2fa.html")]
struct TotpPage {
    tr: Tr,
    nav: Nav,
    csrf_token: String,
    enabled: bool,
    can_disable: bool,
    must_enrol: bool,
    enrolment: Option<Enrolment>,
    recovery_codes: Vec<String>,
    error: Option<String>,
    notice: Option<String>,
}

impl TotpPage {
    fn new(f: &Frame, p: &Principal) -> Self {
        TotpPage {
            tr: f.tr(),
            nav: f.nav(p),
            csrf_token: f.token.clone(),
            enabled: p.totp_enabled,
            can_disable: !p.role.requires_totp(),
            must_enrol: p.must_enrol_totp(),
            enrolment: None,
            recovery_codes: Vec::new(),
            error: None,
            notice: None,
        }
    }
}

async fn totp_page(
    State(s): State<AppState>,
    CurrentUser(p): CurrentUser,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let f = Frame::of(&s, &p, &headers)?;
    let q: NoticeQuery = query(raw);
    let mut page = TotpPage::new(&f, &p);
    page.notice = notice(f.lang, q.notice.as_deref());
    Ok(render(&page, StatusCode::OK, None))
}

/// Shows the QR code and the secret (this response only; `no-store`).
async fn totp_begin(
    State(s): State<AppState>,
    CurrentUser(p): CurrentUser,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let f = Frame::of(&s, &p, &headers)?;
    if p.totp_enabled {
        return Ok(see_other("/settings/2fa"));
    }
    let (_uri, svg, secret) = s.auth.totp_begin(&p).await?;
    let mut page = TotpPage::new(&f, &p);
    page.enrolment = Some(Enrolment {
        qr_src: format!(
            "data:image/svg+xml;base64,{}",
            base64::engine::general_purpose::STANDARD.encode(svg.as_bytes())
        ),
        secret,
    });
    Ok(render(&page, StatusCode::OK, None))
}

#[derive(Deserialize)]
struct CodeForm {
    #[serde(default)]
    code: String,
}

/// Enables TOTP, shows the recovery codes once, and re-issues the session (a
/// privilege change gets a new session ID).
async fn totp_confirm(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    headers: HeaderMap,
    ApiForm(form): ApiForm<CodeForm>,
) -> Result<Response, ApiError> {
    let f = Frame::of(&s, &p, &headers)?;
    let codes = match s.auth.totp_confirm(&p, form.code.trim(), &ctx).await {
        Ok(c) => c,
        Err(AuthError::TotpInvalid) => {
            // The secret is not shown again; the user starts a fresh enrolment.
            let mut page = TotpPage::new(&f, &p);
            page.error = Some(super::err_message(f.lang, "totp_invalid"));
            return Ok(render(&page, StatusCode::UNPROCESSABLE_ENTITY, None));
        }
        Err(AuthError::Forbidden) => return Ok(see_other("/settings/2fa")),
        Err(e) => return Err(problem(e)),
    };
    let user = s
        .auth
        .account(p.user_id())
        .await?
        .ok_or_else(ApiError::not_found)?;
    let web = s.auth.start_web_session(user.id.as_str(), &ctx).await?;
    if let Some(old) = p.session_id() {
        s.auth
            .revoke_session(old, s.auth.now(), "totp_enabled")
            .await?;
    }
    let token = csrf_for_session(&s, &web.session_id);
    let mut page = TotpPage::new(
        &Frame {
            lang: f.lang,
            token,
        },
        &p,
    );
    page.enabled = true;
    page.must_enrol = false;
    page.recovery_codes = codes;
    let names = s.config.cookie_names();
    let cookie = s
        .config
        .cookie(names.session, &web.cookie, Some(web.max_age_secs));
    Ok(render(&page, StatusCode::OK, Some(&cookie)))
}

async fn totp_disable(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    headers: HeaderMap,
    ApiForm(form): ApiForm<CodeForm>,
) -> Result<Response, ApiError> {
    let f = Frame::of(&s, &p, &headers)?;
    match s.auth.totp_disable(&p, form.code.trim(), &ctx).await {
        Ok(()) => Ok(see_other("/settings/2fa?notice=totp_disabled")),
        Err(AuthError::TotpInvalid) => {
            let mut page = TotpPage::new(&f, &p);
            page.error = Some(super::err_message(f.lang, "totp_invalid"));
            Ok(render(&page, StatusCode::UNPROCESSABLE_ENTITY, None))
        }
        Err(e) => Err(problem(e)),
    }
}

// ----- device sessions -----------------------------------------------------------

struct SessionView {
    id: String,
    device: String,
    ip_prefix: String,
    created: String,
    last_seen: String,
    current: bool,
}

#[derive(Template)]
#[template(path = "identity/settings_sessions.html")]
struct SessionsPage {
    tr: Tr,
    nav: Nav,
    csrf_token: String,
    sessions: Vec<SessionView>,
    notice: Option<String>,
}

async fn sessions_page(
    State(s): State<AppState>,
    CurrentUser(p): CurrentUser,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let f = Frame::of(&s, &p, &headers)?;
    let q: NoticeQuery = query(raw);
    let rows = s.auth.list_sessions(p.user_id()).await?;
    let current = p.session_id();
    let sessions = rows
        .into_iter()
        .map(|r| SessionView {
            current: current == Some(r.id.as_str()),
            device: r.ua_family,
            ip_prefix: r.ip_prefix,
            created: fmt_ms(r.created_at),
            last_seen: fmt_ms(r.last_seen_at),
            id: r.id,
        })
        .collect();
    let page = SessionsPage {
        tr: f.tr(),
        nav: f.nav(&p),
        csrf_token: f.token.clone(),
        sessions,
        notice: notice(f.lang, q.notice.as_deref()),
    };
    Ok(render(&page, StatusCode::OK, None))
}

async fn revoke_one(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    browser(&p)?;
    s.auth.revoke_own_session(p.user_id(), &id, &ctx).await?;
    if p.session_id() == Some(id.as_str()) {
        let names = s.config.cookie_names();
        let mut r = see_other("/login");
        add_cookie(&mut r, &s.config.cookie(names.session, "", Some(0)));
        return Ok(r);
    }
    Ok(see_other("/settings/sessions?notice=session_revoked"))
}

async fn revoke_others(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
) -> Result<Response, ApiError> {
    browser(&p)?;
    s.auth
        .revoke_all(p.user_id(), p.session_id(), "user", &ctx)
        .await?;
    Ok(see_other("/settings/sessions?notice=others_revoked"))
}

// ----- personal access tokens ----------------------------------------------------

struct TokenView {
    id: String,
    name: String,
    prefix: String,
    scopes: String,
    created: String,
    expires: Option<String>,
    last_used: Option<String>,
}

#[derive(Template)]
#[template(path = "identity/settings_tokens.html")]
struct TokensPage {
    tr: Tr,
    nav: Nav,
    csrf_token: String,
    tokens: Vec<TokenView>,
    scopes: Vec<(&'static str, bool)>,
    name: String,
    expires_in_days: String,
    new_token: Option<String>,
    errors: Vec<String>,
    notice: Option<String>,
}

async fn token_views(s: &AppState, user_id: &str) -> Result<Vec<TokenView>, ApiError> {
    let rows = s.auth.list_pats(user_id).await?;
    Ok(rows
        .into_iter()
        .map(|r| TokenView {
            id: r.id,
            name: r.name,
            prefix: r.display_prefix,
            scopes: r
                .scopes
                .iter()
                .map(rampart_identity::Scope::as_str)
                .collect::<Vec<_>>()
                .join(", "),
            created: fmt_ms(r.created_at),
            expires: r.expires_at.map(fmt_ms),
            last_used: r.last_used_at.map(fmt_ms),
        })
        .collect())
}

async fn tokens_page(
    State(s): State<AppState>,
    CurrentUser(p): CurrentUser,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let f = Frame::of(&s, &p, &headers)?;
    let q: NoticeQuery = query(raw);
    let page = TokensPage {
        tr: f.tr(),
        nav: f.nav(&p),
        csrf_token: f.token.clone(),
        tokens: token_views(&s, p.user_id()).await?,
        scopes: rampart_identity::Scope::NAMES
            .iter()
            .map(|s| (*s, false))
            .collect(),
        name: String::new(),
        expires_in_days: String::new(),
        new_token: None,
        errors: Vec::new(),
        notice: notice(f.lang, q.notice.as_deref()),
    };
    Ok(render(&page, StatusCode::OK, None))
}

/// Creates a PAT and shows it once (this response only; `no-store`). The form sends
/// `scopes` once per ticked box, so the body is read as pairs.
async fn token_create(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    headers: HeaderMap,
    ApiForm(pairs): ApiForm<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let f = Frame::of(&s, &p, &headers)?;
    let value = |k: &str| {
        pairs
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.trim().to_owned())
            .unwrap_or_default()
    };
    let name = value("name");
    let days_raw = value("expires_in_days");
    let scopes: Vec<String> = pairs
        .iter()
        .filter(|(n, _)| n == "scopes")
        .map(|(_, v)| v.clone())
        .collect();
    let days = if days_raw.is_empty() {
        Ok(None)
    } else {
        days_raw
            .parse::<i64>()
            .map(Some)
            .map_err(|_| FieldError::new("expires_in_days", "invalid_value"))
    };
    let outcome = match days {
        Ok(d) => s.auth.create_pat(&p, &name, &scopes, d, &ctx).await,
        Err(e) => Err(AuthError::Validation(FieldErrors(vec![e]))),
    };
    let (status, new_token, errors) = match outcome {
        Ok((_, token)) => (StatusCode::OK, Some(token), Vec::new()),
        Err(AuthError::Validation(e)) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
            field_messages(f.lang, &e.0),
        ),
        Err(e) => return Err(problem(e)),
    };
    let created = new_token.is_some();
    let page = TokensPage {
        tr: f.tr(),
        nav: f.nav(&p),
        csrf_token: f.token.clone(),
        tokens: token_views(&s, p.user_id()).await?,
        scopes: rampart_identity::Scope::NAMES
            .iter()
            .map(|sc| (*sc, !created && scopes.iter().any(|x| x == sc)))
            .collect(),
        name: if created { String::new() } else { name },
        expires_in_days: if created { String::new() } else { days_raw },
        new_token,
        errors,
        notice: None,
    };
    Ok(render(&page, status, None))
}

async fn token_delete(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    browser(&p)?;
    s.auth.delete_pat(&p, &id, &ctx).await?;
    Ok(see_other("/settings/tokens?notice=token_deleted"))
}
