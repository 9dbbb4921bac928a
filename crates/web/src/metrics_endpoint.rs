//! The Prometheus endpoint, served on its own listener (`RAMPART_METRICS_BIND`), never
//! on the public router: counters by route and status, security events and lockouts
//! are operator data. With `RAMPART_METRICS_TOKEN` set it also needs
//! `Authorization: Bearer <token>` (compared in constant time).

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use rampart_security::metrics::Metrics;
use sha2::{Digest, Sha256};
use std::sync::Arc;

#[derive(Clone)]
struct MetricsState {
    metrics: Arc<Metrics>,
    /// SHA-256 of the bearer secret, when one is configured.
    token_hash: Option<[u8; 32]>,
}

/// The router of the metrics listener: `GET /metrics` and nothing else.
pub fn router(metrics: Arc<Metrics>, token: Option<&str>) -> Router {
    let token_hash = token.map(|t| Sha256::digest(t.as_bytes()).into());
    Router::new()
        .route("/metrics", get(serve))
        .with_state(MetricsState {
            metrics,
            token_hash,
        })
}

/// Equal digests, without an early exit on the first differing byte.
fn same(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn authorised(expected: &Option<[u8; 32]>, headers: &HeaderMap) -> bool {
    let Some(expected) = expected else {
        return true;
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let digest: [u8; 32] = Sha256::digest(presented.trim().as_bytes()).into();
    same(expected, &digest)
}

async fn serve(State(s): State<MetricsState>, headers: HeaderMap) -> Response {
    if !authorised(&s.token_hash, &headers) {
        let mut r = StatusCode::UNAUTHORIZED.into_response();
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"metrics\""),
        );
        return r;
    }
    let mut r = s.metrics.render().into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_check() {
        let h = Some(Sha256::digest(b"s3cret").into());
        let mut headers = HeaderMap::new();
        assert!(!authorised(&h, &headers));
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer nope"),
        );
        assert!(!authorised(&h, &headers));
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer s3cret"),
        );
        assert!(authorised(&h, &headers));
        assert!(authorised(&None, &HeaderMap::new()));
    }
}
