//! Operational endpoints (health, readiness, the OpenAPI document), the stylesheet
//! and the home page. Metrics have their own listener (`metrics_endpoint`).

use crate::authn::MaybeUser;
use crate::error::ApiError;
use crate::i18n::Tr;
use crate::layout::{html, lang_for, nav, Nav};
use crate::routes::{Doc, Group, Routes};
use crate::state::AppState;
use askama::Template;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

const CSS: &str = include_str!("../../static/app.css");
const LIVE_JS: &str = include_str!("../../static/live.js");

/// The OpenAPI document (an object; its own schema is the OpenAPI 3.1 schema).
#[derive(schemars::JsonSchema)]
#[allow(dead_code)] // schema only: the document is served as generated
pub struct OpenApiDocument(serde_json::Map<String, serde_json::Value>);

/// Mounts the routes of this module.
pub fn mount(r: Routes) -> Routes {
    r.group(Group::Web)
        .get("/healthz", healthz, Doc::new("ops", "Liveness").page())
        .get(
            "/readyz",
            readyz,
            Doc::new("ops", "Readiness: the database answers").page(),
        )
        .group(Group::Api)
        .get(
            "/v1/openapi.json",
            openapi,
            Doc::new("meta", "This OpenAPI 3.1 document").responds::<OpenApiDocument>(200),
        )
        .group(Group::Web)
        .get(
            "/static/app.css",
            stylesheet,
            Doc::new("web", "Stylesheet").page(),
        )
        .get(
            "/static/live.js",
            live_script,
            Doc::new("web", "Live updates for the message pages").page(),
        )
        .get("/", home, Doc::new("web", "Home page").page())
}

async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

async fn readyz(State(s): State<AppState>) -> Response {
    match s.db.ping().await {
        Ok(()) => Json(json!({"status": "ready", "database": s.db.engine_name()})).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable")
                .detail("database unreachable")
                .into_response()
        }
    }
}

async fn openapi(State(s): State<AppState>) -> Response {
    let doc = s.openapi.get().cloned().unwrap_or_default();
    let mut r = doc.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

async fn stylesheet() -> Response {
    let mut r = CSS.into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/css; charset=utf-8"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    r
}

async fn live_script() -> Response {
    let mut r = LIVE_JS.into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/javascript; charset=utf-8"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    r
}

/// The home page.
#[derive(Template)]
#[template(path = "ops/home.html")]
struct HomePage {
    tr: Tr,
    nav: Nav,
}

async fn home(State(s): State<AppState>, MaybeUser(p): MaybeUser, headers: HeaderMap) -> Response {
    // Only a signed-in user gets a token (for the logout button); the anonymous home
    // page sets no cookie.
    let nav = match &p {
        Some(user) => {
            let names = s.config.cookie_names();
            let token = crate::csrf::binding(&headers, &names)
                .map(|b| s.csrf.token_for(&b))
                .unwrap_or_default();
            nav(Some(user), &token)
        }
        None => Nav::default(),
    };
    html(&HomePage {
        tr: Tr(lang_for(p.as_ref(), &headers)),
        nav,
    })
}
