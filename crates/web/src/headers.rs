//! Security response headers on every response (B8). `X-XSS-Protection: 0` on
//! purpose: the legacy filter could be abused to blank parts of pages, and the CSP
//! (no inline script) is the real protection.

use axum::extract::Request;
use axum::http::{header, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

/// The content security policy: no inline script or style, nothing from elsewhere.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

/// Whether HSTS is sent (served over TLS, or behind a TLS-terminating proxy).
#[derive(Debug, Clone, Copy)]
pub struct HeaderConfig {
    /// Send `Strict-Transport-Security`.
    pub hsts: bool,
}

/// Adds the headers; `Cache-Control: no-store` unless the handler chose a policy.
pub async fn security_headers(
    axum::extract::State(cfg): axum::extract::State<HeaderConfig>,
    req: Request,
    next: Next,
) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    let set = |h: &mut axum::http::HeaderMap, k: HeaderName, v: &'static str| {
        h.insert(k, HeaderValue::from_static(v));
    };
    set(h, header::CONTENT_SECURITY_POLICY, CSP);
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(h, header::X_FRAME_OPTIONS, "DENY");
    set(h, header::REFERRER_POLICY, "strict-origin-when-cross-origin");
    set(
        h,
        HeaderName::from_static("permissions-policy"),
        "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), microphone=(), payment=(), usb=(), interest-cohort=()",
    );
    set(h, HeaderName::from_static("cross-origin-opener-policy"), "same-origin");
    set(h, HeaderName::from_static("cross-origin-resource-policy"), "same-site");
    set(h, header::X_XSS_PROTECTION, "0");
    if cfg.hsts {
        set(h, header::STRICT_TRANSPORT_SECURITY, "max-age=63072000; includeSubDomains");
    }
    h.remove("x-powered-by");
    h.remove(header::SERVER);
    if !h.contains_key(header::CACHE_CONTROL) {
        set(h, header::CACHE_CONTROL, "no-store");
    }
    resp
}
