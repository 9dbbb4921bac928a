//! Request counts and latency histograms by route and status (F5).

use crate::state::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;

/// Records each request under its route template (never the raw path, which would
/// let clients create unbounded series).
pub async fn track(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = req.method().as_str().to_owned();
    let started = std::time::Instant::now();
    let resp = next.run(req).await;
    s.metrics
        .observe_http(&method, &route, resp.status().as_u16(), started.elapsed().as_secs_f64());
    resp
}
