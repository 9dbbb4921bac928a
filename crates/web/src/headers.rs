//! Security response headers on every response (B8). `X-XSS-Protection: 0` on
//! purpose: the legacy filter could be abused to blank parts of pages, and the CSP
//! (no inline script) is the real protection.

use axum::http::{header, HeaderName, HeaderValue};

/// The content security policy: no inline script or style, nothing from elsewhere.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

/// Whether HSTS is sent (served over TLS, or behind a TLS-terminating proxy).
#[derive(Debug, Clone, Copy)]
pub struct HeaderConfig {
    /// Send `Strict-Transport-Security`.
    pub hsts: bool,
}

static PERMISSIONS: &str = "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), microphone=(), payment=(), usb=(), interest-cohort=()";

/// Adds the headers; `Cache-Control: no-store` unless the handler chose a policy.
pub fn apply(h: &mut axum::http::HeaderMap, cfg: HeaderConfig) {
    h.reserve(12);
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("strict-origin-when-cross-origin"));
    h.insert(HeaderName::from_static("permissions-policy"), HeaderValue::from_static(PERMISSIONS));
    h.insert(HeaderName::from_static("cross-origin-opener-policy"), HeaderValue::from_static("same-origin"));
    h.insert(HeaderName::from_static("cross-origin-resource-policy"), HeaderValue::from_static("same-site"));
    h.insert(header::X_XSS_PROTECTION, HeaderValue::from_static("0"));
    if cfg.hsts {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=63072000; includeSubDomains"),
        );
    }
    h.remove("x-powered-by");
    h.remove(header::SERVER);
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
}
