//! The outermost layer, in one pass so every request pays for one middleware, not
//! four: assign the request ID and open its span (C4), render any error in the one
//! format (F6), add the security headers (B8), and record metrics (F5).

use crate::error::{render, RenderHints};
use crate::headers::{self, HeaderConfig};
use crate::request_id::{assign, RequestId, X_REQUEST_ID};
use crate::state::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use std::sync::Arc;
use tracing::Instrument;

/// Configuration of the edge layer.
pub struct Edge {
    /// For metrics.
    pub state: AppState,
    /// Header options.
    pub headers: HeaderConfig,
}

/// The layer function.
pub async fn edge(State(e): State<Arc<Edge>>, mut req: Request, next: Next) -> Response {
    let started = std::time::Instant::now();
    let id = assign(&req);
    let hints = RenderHints::of(&req);
    let method = req.method().clone();
    let route = req.extensions().get::<MatchedPath>().cloned();
    let id_header = HeaderValue::from_str(&id).ok();
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %method,
        path = %req.uri().path(),
    );
    // The span holds its own copy; the request takes the ID itself.
    req.extensions_mut().insert(RequestId(id));
    let resp = next.run(req).instrument(span.clone()).await;
    let rid = id_header
        .as_ref()
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mut resp = render(resp, hints, rid);
    headers::apply(resp.headers_mut(), e.headers);
    if let Some(v) = id_header {
        resp.headers_mut().insert(X_REQUEST_ID.clone(), v);
    }
    let elapsed = started.elapsed();
    e.state.metrics.observe_http(
        method.as_str(),
        route.as_ref().map(|m| m.as_str()).unwrap_or("unmatched"),
        resp.status().as_u16(),
        elapsed.as_secs_f64(),
    );
    span.in_scope(|| {
        tracing::info!(
            status = resp.status().as_u16(),
            latency_ms = elapsed.as_secs_f64() * 1000.0,
            "request completed"
        );
    });
    resp
}
