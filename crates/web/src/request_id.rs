//! Correlation IDs (C4): a well-formed incoming `X-Request-ID` is kept, anything else
//! is replaced; the ID is echoed, carried by the request's tracing span (so it is in
//! every log line) and available to handlers and audit rows.

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

/// The header.
pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The request's correlation ID, in request extensions.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Well-formed: 1–128 characters of `A-Z a-z 0-9 - _ . :` (covers UUIDs, ULIDs and
/// proxy-generated IDs; excludes anything that could forge log lines or headers).
pub fn is_well_formed(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 128
        && v.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// Outermost layer: assigns the ID and opens the request span.
pub async fn request_id(mut req: Request, next: Next) -> Response {
    let incoming = req
        .headers()
        .get(&X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| is_well_formed(v))
        .map(str::to_owned);
    let id = incoming.unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    req.extensions_mut().insert(RequestId(id.clone()));
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %req.method(),
        path = %req.uri().path(),
    );
    let started = std::time::Instant::now();
    let mut resp = next.run(req).instrument(span.clone()).await;
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert(X_REQUEST_ID.clone(), v);
    }
    span.in_scope(|| {
        tracing::info!(
            status = resp.status().as_u16(),
            latency_ms = started.elapsed().as_secs_f64() * 1000.0,
            "request completed"
        );
    });
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_formed() {
        assert!(is_well_formed("0190b7c2-7a4e-7c4d-9b1e-0b5e3f2a1c9d"));
        assert!(!is_well_formed(""));
        assert!(!is_well_formed("a\nb"));
        assert!(!is_well_formed("a b"));
        assert!(!is_well_formed(&"a".repeat(129)));
        assert!(!is_well_formed("<script>"));
    }
}
