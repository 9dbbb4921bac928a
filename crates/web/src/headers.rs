//! Security response headers on every response (B8). `X-XSS-Protection: 0` on
//! purpose: the legacy filter could be abused to blank parts of pages, and the CSP
//! (no inline script) is the real protection.

use axum::http::{header, HeaderName, HeaderValue};

/// The content security policy: no inline script or style, nothing from elsewhere.
/// `script-src` and `style-src` fall back to `default-src 'self'`, so inline script
/// and style are refused without spelling them out (every byte here is sent on every
/// response).
pub const CSP: &str =
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

/// Whether HSTS is sent (served over TLS, or behind a TLS-terminating proxy).
#[derive(Debug, Clone, Copy)]
pub struct HeaderConfig {
    /// Send `Strict-Transport-Security`.
    pub hsts: bool,
}

// Built at compile time: the hot path only copies them into the map.
const PERMISSIONS_POLICY: HeaderName = HeaderName::from_static("permissions-policy");
const COOP: HeaderName = HeaderName::from_static("cross-origin-opener-policy");
const CORP: HeaderName = HeaderName::from_static("cross-origin-resource-policy");
const CSP_VALUE: HeaderValue = HeaderValue::from_static(CSP);
const NOSNIFF: HeaderValue = HeaderValue::from_static("nosniff");
const DENY: HeaderValue = HeaderValue::from_static("DENY");
const REFERRER: HeaderValue = HeaderValue::from_static("strict-origin-when-cross-origin");
const PERMISSIONS: HeaderValue = HeaderValue::from_static(
    "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()",
);
const SAME_ORIGIN: HeaderValue = HeaderValue::from_static("same-origin");
const SAME_SITE: HeaderValue = HeaderValue::from_static("same-site");
const ZERO: HeaderValue = HeaderValue::from_static("0");
const HSTS: HeaderValue = HeaderValue::from_static("max-age=63072000; includeSubDomains");
const NO_STORE: HeaderValue = HeaderValue::from_static("no-store");

/// Adds the headers; `Cache-Control: no-store` unless the handler chose a policy.
pub fn apply(h: &mut axum::http::HeaderMap, cfg: HeaderConfig) {
    h.reserve(12);
    h.insert(header::CONTENT_SECURITY_POLICY, CSP_VALUE);
    h.insert(header::X_CONTENT_TYPE_OPTIONS, NOSNIFF);
    h.insert(header::X_FRAME_OPTIONS, DENY);
    h.insert(header::REFERRER_POLICY, REFERRER);
    h.insert(PERMISSIONS_POLICY, PERMISSIONS);
    h.insert(COOP, SAME_ORIGIN);
    h.insert(CORP, SAME_SITE);
    h.insert(header::X_XSS_PROTECTION, ZERO);
    if cfg.hsts {
        h.insert(header::STRICT_TRANSPORT_SECURITY, HSTS);
    }
    h.remove("x-powered-by");
    h.remove(header::SERVER);
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, NO_STORE);
    }
}
