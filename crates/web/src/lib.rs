//! The HTTP edge of Rampart: the router, the guard layers, the API and HTML handlers,
//! the error model, i18n and the OpenAPI document.
//!
//! Request path (outermost first): edge (request ID, error rendering, security
//! headers, metrics) → panic catcher → timeout → CORS → body limit → route (CSRF guard
//! on every mutating route, auth, rate limit) → handler. See `docs/architecture.md`.

pub mod authn;
pub mod checkout;
pub mod codes;
pub mod csrf;
pub mod edge;
pub mod error;
pub mod headers;
pub mod i18n;
pub mod identity;
pub mod layout;
pub mod marketplace;
pub mod messaging;
pub mod metrics_endpoint;
pub mod notify;
pub mod openapi;
pub mod ops;
pub mod policies;
pub mod ratelimit;
pub mod realtime;
pub mod request_id;
pub mod routes;
pub mod staff;
pub mod state;
pub mod trust;

use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderName, HeaderValue, Method};
use routes::{RouteInfo, Routes};
use state::AppState;
use std::time::Duration;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowCredentials, AllowOrigin, CorsLayer};
use tower_http::timeout::TimeoutLayer;

pub use state::{AppInner, WebConfig};

/// Largest body any route may accept, whatever its group or configuration says.
const HARD_BODY_CAP: usize = 1024 * 1024;

/// Every message catalog: the shared one and each context's.
pub const CATALOGS: &[&[i18n::Entry]] = &[
    i18n::SHARED,
    identity::catalog::CATALOG,
    marketplace::catalog::CATALOG,
    marketplace::dispute_catalog::CATALOG,
    messaging::catalog::CATALOG,
    trust::catalog::CATALOG,
    checkout::catalog::CATALOG,
    checkout::page_catalog::CATALOG,
    staff::catalog::CATALOG,
];

/// Every route of the application, mounted through the registry.
pub fn routes(state: &AppState) -> Routes {
    let r = Routes::new(state.clone());
    let r = ops::mount(r);
    let r = identity::mount(r);
    let r = marketplace::mount(r);
    let r = staff::mount(r);
    let r = realtime::mount(r);
    checkout::mount(trust::mount(messaging::mount(r)))
}

/// Builds the complete application and the list of mounted routes.
pub fn build(state: AppState) -> (edge::App, Vec<RouteInfo>) {
    let (router, infos) = routes(&state).finish();
    // Generated once per process from the same list the router was built from.
    let _ = state.openapi.set(openapi::document(&infos).to_string());
    let cfg = &state.config;
    // The tower-http layers are composed and applied with one `Router::layer` (every
    // `Router::layer` boxes each route again: a clone and an allocation per request);
    // the edge wraps the whole router as one service.
    let stack = ServiceBuilder::new()
        .layer(CatchPanicLayer::custom(error::panic_response))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            cfg.request_timeout,
        ))
        .option_layer((!cfg.cors_origins.is_empty()).then(|| cors(cfg)))
        .layer(DefaultBodyLimit::max(
            cfg.body_limit_bytes.min(HARD_BODY_CAP),
        ));
    let router = router
        .fallback(error::fallback)
        .layer(stack)
        .with_state(state.clone());
    let mut templates = matchit::Router::new();
    for r in &infos {
        // Several methods share a path; the first insert wins, the rest are duplicates.
        let _ = templates.insert(r.path, (r.path, r.group.errors()));
    }
    // Unknown paths under the machine API's roots answer in its format too.
    for (root, group) in routes::API_ROOTS {
        let _ = templates.insert(*root, ("unmatched", group.errors()));
    }
    let hsts = cfg.hsts;
    let app = edge::App::new(
        router,
        edge::Edge {
            state,
            headers: headers::HeaderConfig { hsts },
            templates,
        },
    );
    (app, infos)
}

fn cors(cfg: &WebConfig) -> CorsLayer {
    let origins: Vec<HeaderValue> = cfg
        .cors_origins
        .iter()
        .filter_map(|o| o.parse().ok())
        .collect();
    let listed: Vec<HeaderValue> = origins.clone();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        // Only a listed origin hears that credentials are allowed; an unlisted one
        // gets no CORS header at all (a bare `true` would be sent to everyone).
        .allow_credentials(AllowCredentials::predicate(move |origin, _| {
            listed.iter().any(|o| o == origin)
        }))
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PATCH,
            Method::DELETE,
            Method::PUT,
        ])
        .allow_headers([
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
            header::ACCEPT_LANGUAGE,
            HeaderName::from_static("x-csrf-token"),
            HeaderName::from_static("x-request-id"),
            HeaderName::from_static("idempotency-key"),
        ])
        .expose_headers([
            HeaderName::from_static("x-request-id"),
            HeaderName::from_static("ratelimit"),
            HeaderName::from_static("ratelimit-policy"),
            HeaderName::from_static("retry-after"),
        ])
        .max_age(Duration::from_secs(600))
}
