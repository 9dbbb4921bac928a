//! The outermost layer, wrapped around the whole router as one service (not a
//! per-route layer), so every request pays for one middleware: assign the request ID
//! and open its span (C4), render any error in the one format (F6), add the security
//! headers (B8), and record metrics (F5) under the route template.

use crate::error::ErrorFormat;
use crate::error::{render, RenderHints};
use crate::headers::{self, HeaderConfig};
use crate::request_id::{assign, RequestId, X_REQUEST_ID};
use crate::state::AppState;
use axum::extract::Request;
use axum::http::HeaderValue;
use axum::response::Response;
use axum::Router;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tower::ServiceExt;
use tracing::Instrument;

/// Configuration of the edge.
pub struct Edge {
    /// For metrics.
    pub state: AppState,
    /// Header options.
    pub headers: HeaderConfig,
    /// Route templates and their group's error format, to label metrics and render
    /// errors without a per-route layer.
    pub templates: matchit::Router<(&'static str, ErrorFormat)>,
}

/// The application: the edge around the router.
#[derive(Clone)]
pub struct App {
    router: Router,
    edge: Arc<Edge>,
}

impl App {
    /// Wraps `router`.
    pub fn new(router: Router, edge: Edge) -> Self {
        Self {
            router,
            edge: Arc::new(edge),
        }
    }
}

impl tower::Service<Request> for App {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let router = self.router.clone();
        let edge = self.edge.clone();
        Box::pin(async move { Ok(handle(&edge, router, req).await) })
    }
}

async fn handle(e: &Edge, router: Router, mut req: Request) -> Response {
    use axum::response::IntoResponse as _;
    let started = std::time::Instant::now();
    let id = assign(&req);
    let method = req.method().clone();
    let (route, format) = e
        .templates
        .at(req.uri().path())
        .map(|m| *m.value)
        .unwrap_or(("unmatched", ErrorFormat::Negotiated));
    let hints = RenderHints::of(&req, format);
    let id_header = HeaderValue::from_str(&id).ok();
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %method,
        path = %req.uri().path(),
    );
    req.extensions_mut().insert(RequestId(id));
    // A NUL character is never valid in a path or query value, and PostgreSQL refuses
    // it in text: no resource has one in its path (404); a query value with one is a
    // bad field (422 validation_failed). Never a database error.
    let resp = if has_nul_escape(req.uri().path().as_bytes()) {
        crate::error::ApiError::not_found().into_response()
    } else if req
        .uri()
        .query()
        .is_some_and(|q| has_nul_escape(q.as_bytes()))
    {
        crate::error::ApiError::new(
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        )
        .detail("NUL characters (%00) are not allowed in query values")
        .into_response()
    } else {
        match router.oneshot(req).instrument(span.clone()).await {
            Ok(r) => r,
            Err(never) => match never {},
        }
    };
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
        route,
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

/// Whether percent-encoded text holds an encoded NUL (`%00`).
pub(crate) fn has_nul_escape(bytes: &[u8]) -> bool {
    bytes.windows(3).any(|w| w == b"%00")
}
