//! The user's preferences under `/v1/me` (D10, issue 11 §5): the language
//! (`PUT /v1/me/language`, the API twin of the form on `/settings`) and which events
//! mail you (`GET`/`PUT /v1/me/notification-preferences`, and the settings page
//! `/settings/notifications`, a form of checkboxes posting to itself). The decision
//! whether a mail goes out is identity's (`Identity::notify`, called from
//! [`crate::notify`]).

use crate::authn::CurrentUser;
use crate::error::{ApiError, ApiForm, ApiJson};
use crate::i18n::Tr;
use crate::identity::pages::{
    csrf_for, csrf_for_session, lang_for, nav, notice, query, render, see_other,
};
use crate::layout::Nav;
use crate::routes::{Auth, Doc, Group, Routes};
use crate::state::AppState;
use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use axum::Json;
use rampart_identity::notifications::{NotificationPrefs, NotifyEvent};
use rampart_identity::{Scope, Via};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `GET` and `PUT /v1/me/notification-preferences`: which events mail you.
#[derive(Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NotificationPrefsBody {
    /// Someone sent you a private message (default off).
    pub message: bool,
    /// Support replied to your ticket (default on).
    pub ticket_reply: bool,
    /// A purchase of yours changed state (default on).
    pub purchase: bool,
    /// A dispute you are party to changed (default on).
    pub dispute: bool,
}

impl From<NotificationPrefs> for NotificationPrefsBody {
    fn from(p: NotificationPrefs) -> Self {
        NotificationPrefsBody {
            message: p.message,
            ticket_reply: p.ticket_reply,
            purchase: p.purchase,
            dispute: p.dispute,
        }
    }
}

impl From<NotificationPrefsBody> for NotificationPrefs {
    fn from(p: NotificationPrefsBody) -> Self {
        NotificationPrefs {
            message: p.message,
            ticket_reply: p.ticket_reply,
            purchase: p.purchase,
            dispute: p.dispute,
        }
    }
}

/// `PUT /v1/me/language`.
#[derive(Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LanguageBody {
    /// The language of every page, error and mail for you.
    pub language: LanguageWire,
}

/// A supported language.
#[derive(Deserialize, Serialize, JsonSchema, Clone, Copy)]
pub enum LanguageWire {
    /// English.
    #[serde(rename = "en")]
    En,
    /// Estonian.
    #[serde(rename = "et")]
    Et,
}

/// Mounts the API and the page.
pub fn mount(r: Routes) -> Routes {
    let page = |summary: &'static str| Doc::new("web", summary).page().auth(Auth::User);
    r.group(Group::Auth)
        .route(
            Method::PUT,
            "/v1/me/language",
            put_language,
            Doc::new(
                "me",
                "Choose the language of every page, error and mail for you (en, et)",
            )
            .auth(Auth::User)
            .scope(Scope::ProfileWrite)
            .request::<LanguageBody>()
            .responds::<LanguageBody>(200),
        )
        .get(
            "/v1/me/notification-preferences",
            get_prefs,
            Doc::new("me", "Which events mail you")
                .auth(Auth::User)
                .scope(Scope::ProfileRead)
                .responds::<NotificationPrefsBody>(200),
        )
        .route(
            Method::PUT,
            "/v1/me/notification-preferences",
            put_prefs,
            Doc::new("me", "Choose which events mail you (every field required)")
                .auth(Auth::User)
                .scope(Scope::ProfileWrite)
                .request::<NotificationPrefsBody>()
                .responds::<NotificationPrefsBody>(200),
        )
        .group(Group::Web)
        .get(
            "/settings/notifications",
            page_get,
            page("Notification preferences"),
        )
        .post(
            "/settings/notifications",
            page_post,
            page("Save notification preferences"),
        )
}

async fn put_language(
    State(s): State<AppState>,
    CurrentUser(p): CurrentUser,
    ApiJson(b): ApiJson<LanguageBody>,
) -> Result<Json<LanguageBody>, ApiError> {
    let tag = match b.language {
        LanguageWire::En => "en",
        LanguageWire::Et => "et",
    };
    s.auth.set_language(&p, tag).await?;
    Ok(Json(b))
}

async fn get_prefs(
    State(s): State<AppState>,
    CurrentUser(p): CurrentUser,
) -> Result<Json<NotificationPrefsBody>, ApiError> {
    Ok(Json(s.auth.notification_prefs(p.user_id()).await?.into()))
}

async fn put_prefs(
    State(s): State<AppState>,
    CurrentUser(p): CurrentUser,
    ApiJson(b): ApiJson<NotificationPrefsBody>,
) -> Result<Json<NotificationPrefsBody>, ApiError> {
    Ok(Json(
        s.auth
            .set_notification_prefs(p.user_id(), b.into())
            .await?
            .into(),
    ))
}

/// One checkbox.
struct Choice {
    name: &'static str,
    label: String,
    on: bool,
}

#[derive(Template)]
#[template(path = "identity/settings_notifications.html")]
struct PrefsPage {
    tr: Tr,
    nav: Nav,
    csrf_token: String,
    choices: Vec<Choice>,
    notice: Option<String>,
}

#[derive(Deserialize, Default)]
struct NoticeQuery {
    notice: Option<String>,
}

async fn page_get(
    State(s): State<AppState>,
    CurrentUser(p): CurrentUser,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    // Settings pages are for the browser session only (as the other settings pages).
    if !matches!(p.via, Via::Session { .. }) {
        return Err(ApiError::forbidden().detail("settings pages need a browser session"));
    }
    let token = match p.session_id() {
        Some(sid) => csrf_for_session(&s, sid),
        None => csrf_for(&s, &headers).0,
    };
    let tr = Tr(lang_for(Some(&p), &headers));
    let prefs = s.auth.notification_prefs(p.user_id()).await?;
    let q: NoticeQuery = query(raw);
    let page = PrefsPage {
        notice: notice(tr.0, q.notice.as_deref()),
        choices: NotifyEvent::ALL
            .into_iter()
            .map(|e| Choice {
                name: e.as_str(),
                label: crate::i18n::lookup(tr.0, &format!("notify.{}", e.as_str()))
                    .unwrap_or(e.as_str())
                    .to_owned(),
                on: prefs.wants(e),
            })
            .collect(),
        nav: nav(Some(&p), &token),
        csrf_token: token,
        tr,
    };
    Ok(render(&page, StatusCode::OK, None))
}

/// The form: a checked box is present (`on`), an unchecked one absent.
#[derive(Deserialize)]
struct PrefsForm {
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    ticket_reply: Option<String>,
    #[serde(default)]
    purchase: Option<String>,
    #[serde(default)]
    dispute: Option<String>,
}

async fn page_post(
    State(s): State<AppState>,
    CurrentUser(p): CurrentUser,
    ApiForm(f): ApiForm<PrefsForm>,
) -> Result<Response, ApiError> {
    if !matches!(p.via, Via::Session { .. }) {
        return Err(ApiError::forbidden().detail("settings pages need a browser session"));
    }
    let prefs = NotificationPrefs {
        message: f.message.is_some(),
        ticket_reply: f.ticket_reply.is_some(),
        purchase: f.purchase.is_some(),
        dispute: f.dispute.is_some(),
    };
    s.auth.set_notification_prefs(p.user_id(), prefs).await?;
    Ok(see_other("/settings/notifications?notice=saved"))
}
