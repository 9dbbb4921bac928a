//! Operational endpoints (health, readiness, the OpenAPI document), the stylesheet
//! and the home page. Metrics have their own listener (`metrics_endpoint`).

use crate::authn::MaybeUser;
use crate::error::ApiError;
use crate::i18n::{Lang, Tr};
use crate::pages::{html, HomePage, Nav};
use crate::routes::{Doc, Routes};
use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

const CSS: &str = include_str!("../../static/app.css");

/// Mounts the routes of this module.
pub fn mount(r: Routes) -> Routes {
    r.get("/healthz", healthz, Doc::new("ops", "Liveness").page())
        .get(
            "/readyz",
            readyz,
            Doc::new("ops", "Readiness: the database answers").page(),
        )
        .get(
            "/v1/openapi.json",
            openapi,
            Doc::new("meta", "This OpenAPI 3.1 document").returns(200, json!({"type": "object"})),
        )
        .get(
            "/static/app.css",
            stylesheet,
            Doc::new("web", "Stylesheet").page(),
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

/// The caller's language from `Accept-Language`.
pub fn lang_of(headers: &HeaderMap) -> Lang {
    Lang::negotiate(
        headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok()),
    )
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
            crate::handlers::pages::nav(Some(user), &token)
        }
        None => Nav::default(),
    };
    html(&HomePage {
        tr: Tr(crate::handlers::pages::lang_for(p.as_ref(), &headers)),
        nav,
    })
}
