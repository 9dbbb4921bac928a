//! The CSRF guard (B1). The route registry puts it on every route whose method is
//! not GET/HEAD/OPTIONS, so no mutating route can exist without it. Two checks on every request whose method is not GET/HEAD/OPTIONS:
//!
//! 1. Cross-origin: `Sec-Fetch-Site` when present (`same-origin`/`none` pass, others
//!    only for trusted origins), else `Origin`, else `Referer`, against the site origin,
//!    the `Host`, and the configured trusted and CORS origins.
//! 2. Token: required whenever a cookie could authenticate the request (a session,
//!    refresh or pre-session cookie is present and no `Authorization` header is), and
//!    on every web-form route. Bearer/PAT/Basic requests are exempt because the
//!    authenticators ignore cookies when an `Authorization` header is present — the
//!    exemption follows from how the request is authenticated, not from its path.
//!    The token comes from `X-CSRF-Token` or the form field `csrf_token`.

use crate::error::ApiError;
use crate::request_id::RequestId;
use crate::state::{AppState, CookieNames};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rampart_security::events::{EventContext, SecurityEvent};
use std::net::SocketAddr;

/// The header API clients send the token in.
pub const HEADER: &str = "x-csrf-token";
/// The hidden form field.
pub const FIELD: &str = "csrf_token";

/// Reads one cookie's value.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// What the CSRF token is bound to: the session ID of the session or refresh cookie
/// (`{sid}.{secret}`), else a visitor's cart cookie (it authenticates cart calls, so
/// it needs the token like a session does), else the pre-session cookie.
pub fn binding(headers: &HeaderMap, names: &CookieNames) -> Option<String> {
    for name in [names.session, names.refresh] {
        if let Some(v) = cookie(headers, name) {
            if let Some((sid, _)) = v.split_once('.') {
                if !sid.is_empty() {
                    return Some(format!("sid:{sid}"));
                }
            }
        }
    }
    if let Some(v) = cookie(headers, names.cart).filter(|v| v.len() >= 16 && v.len() <= 128) {
        return Some(format!("cart:{v}"));
    }
    cookie(headers, names.csrf)
        .filter(|v| v.len() >= 16 && v.len() <= 128)
        .map(|v| format!("pre:{v}"))
}

/// The CSRF token for the request's cookie session; when there is none yet, a new
/// pre-session binding and the `Set-Cookie` value that establishes it.
pub fn token_or_pre_session(state: &AppState, headers: &HeaderMap) -> (String, Option<String>) {
    let names = state.config.cookie_names();
    match binding(headers, &names) {
        Some(b) => (state.csrf.token_for(&b), None),
        None => {
            let pre = rampart_identity::tokens::random_token("").0;
            let token = state.csrf.token_for(&format!("pre:{pre}"));
            (token, Some(state.config.cookie(names.csrf, &pre, None)))
        }
    }
}

fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split(['/', '?', '#']).next()?;
    if host.is_empty() {
        return None;
    }
    Some(format!(
        "{}://{}",
        scheme.to_ascii_lowercase(),
        host.to_ascii_lowercase()
    ))
}

/// An origin as compared: lowercase scheme and host, and the port with the scheme's
/// default filled in, so `https://h` never equals `http://h` and `h:8080` never `h`.
/// The key of an origin written exactly as a browser sends one: `scheme://host[:port]`
/// (`http` or `https`), nothing before or after — no path (not even `/`), query,
/// fragment, user info, wildcard or spaces. `None` for anything else (`null`, `*`,
/// `a.test`, `https://a.test/x`).
pub fn exact_origin_key(v: &str) -> Option<(String, String, u16)> {
    let (_, rest) = v.split_once("://")?;
    let plain = !rest.is_empty()
        && rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'));
    if !plain {
        return None;
    }
    origin_key(v)
}

pub(crate) fn origin_key(url: &str) -> Option<(String, String, u16)> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let default = match scheme.as_str() {
        "http" => 80,
        "https" => 443,
        _ => return None,
    };
    let authority = rest.split(['/', '?', '#']).next()?;
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let end = v6.find(']')?;
        let after = &v6[end + 1..];
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':')?.parse::<u16>().ok()?),
        };
        (&authority[..end + 2], port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p.parse::<u16>().ok()?)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return None;
    }
    Some((scheme, host.to_ascii_lowercase(), port.unwrap_or(default)))
}

fn trusted(state: &AppState, origin: &str, host: Option<&str>) -> bool {
    let cfg = &state.config;
    let Some(key) = origin_key(origin) else {
        return false;
    };
    let same = |configured: &str| origin_key(configured).as_ref() == Some(&key);
    if cfg.public_origin.as_deref().map(same) == Some(true) {
        return true;
    }
    if cfg
        .trusted_origins
        .iter()
        .chain(cfg.cors_origins.iter())
        .any(|o| same(o))
    {
        return true;
    }
    // Without a configured site origin, the request's own Host is the site, over
    // https when behind TLS (the HSTS setting) and http otherwise: scheme, host and
    // port must all match.
    if cfg.public_origin.is_none() {
        if let Some(h) = host {
            let scheme = if cfg.hsts { "https" } else { "http" };
            return same(&format!("{scheme}://{h}"));
        }
    }
    false
}

/// The cross-origin check; `Err` carries the reason for the event log.
fn check_origin(state: &AppState, headers: &HeaderMap) -> Result<(), &'static str> {
    let get = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    let host = get("host");
    let origin = get("origin").filter(|o| *o != "null");
    match get("sec-fetch-site") {
        Some("same-origin") | Some("none") => return Ok(()),
        Some(_) => {
            return match origin {
                Some(o) if trusted(state, o, None) => Ok(()),
                _ => Err("sec_fetch_site"),
            }
        }
        None => {}
    }
    if get("origin") == Some("null") {
        return Err("null_origin");
    }
    if let Some(o) = origin {
        return if trusted(state, o, host) {
            Ok(())
        } else {
            Err("origin")
        };
    }
    if let Some(r) = get("referer") {
        return match origin_of(r) {
            Some(o) if trusted(state, &o, host) => Ok(()),
            _ => Err("referer"),
        };
    }
    // No browser provenance headers at all: not a browser, nothing ambient to abuse.
    Ok(())
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        })
        .unwrap_or(false)
}

/// The CSRF guard of one route, as the registry mounts it.
#[derive(Clone)]
pub struct CsrfGuard {
    /// Application state.
    pub state: AppState,
    /// The route serves browsers' HTML forms (its group says so): the token is always
    /// needed, even with an `Authorization` header.
    pub browser: bool,
}

fn reject(state: &AppState, req_parts: &RejectCtx, code: &'static str, reason: &str) -> Response {
    state.events.emit(
        SecurityEvent::CsrfRejected,
        &EventContext {
            request_id: req_parts.request_id.as_deref(),
            ip: req_parts.ip,
            user_agent: req_parts.ua.as_deref(),
            user_id: None,
        },
        &[
            ("code", code),
            ("reason", reason),
            ("path", &req_parts.path),
        ],
    );
    state.metrics.inc(
        "rampart_csrf_rejections_total",
        "CSRF rejections by code.",
        &[("code", code)],
    );
    ApiError::new(StatusCode::FORBIDDEN, code).into_response()
}

struct RejectCtx {
    request_id: Option<String>,
    ip: Option<std::net::IpAddr>,
    ua: Option<String>,
    path: String,
}

/// The guard layer.
pub async fn csrf_guard(State(g): State<CsrfGuard>, req: Request, next: Next) -> Response {
    let state = g.state;
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(req).await;
    }
    let ctx = RejectCtx {
        request_id: req.extensions().get::<RequestId>().map(|r| r.0.clone()),
        ip: req
            .extensions()
            .get::<axum::extract::ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip()),
        ua: req
            .headers()
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        path: req.uri().path().to_owned(),
    };
    if let Err(reason) = check_origin(&state, req.headers()) {
        return reject(&state, &ctx, "csrf_origin_mismatch", reason);
    }
    let names = state.config.cookie_names();
    let bound = binding(req.headers(), &names);
    let has_authorization = req.headers().contains_key(header::AUTHORIZATION);
    // Web forms create or use cookie sessions whatever else the request carries
    // (browsers attach cached Basic/Negotiate credentials on their own), so they
    // always need the token; API requests with an Authorization header are exempt.
    let needs_token = g.browser || (!has_authorization && bound.is_some());
    if !needs_token {
        if has_authorization && bound.is_some() {
            // The exemption holds only while no cookie can authenticate the request:
            // without a valid token, the session and refresh cookies are removed so no
            // handler (e.g. a cookie refresh) can act on them.
            let valid = req
                .headers()
                .get(HEADER)
                .and_then(|v| v.to_str().ok())
                .zip(bound.as_deref())
                .is_some_and(|(t, b)| state.csrf.verify(b, t));
            if !valid {
                let mut req = req;
                strip_cookies(req.headers_mut(), &[names.session, names.refresh]);
                return next.run(req).await;
            }
        }
        return next.run(req).await;
    }
    let mut presented = req
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut req = req;
    if presented.is_none() && is_form(req.headers()) {
        let (parts, body) = req.into_parts();
        let bytes = match axum::body::to_bytes(body, state.config.body_limit_bytes).await {
            Ok(b) => b,
            Err(_) => {
                return ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
                    .into_response()
            }
        };
        presented = form_urlencoded_field(&bytes, FIELD);
        req = Request::from_parts(parts, Body::from(bytes));
    }
    let Some(token) = presented.filter(|t| !t.is_empty()) else {
        return reject(&state, &ctx, "csrf_token_missing", "missing");
    };
    match bound {
        Some(b) if state.csrf.verify(&b, &token) => next.run(req).await,
        _ => reject(&state, &ctx, "csrf_token_invalid", "mismatch"),
    }
}

/// Removes the named cookies from every `Cookie` header, keeping the others.
fn strip_cookies(headers: &mut HeaderMap, names: &[&str]) {
    let kept: Vec<String> = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .map(str::trim)
        .filter(|kv| !kv.is_empty())
        .filter(|kv| {
            let name = kv.split_once('=').map(|(k, _)| k.trim()).unwrap_or(kv);
            !names.contains(&name)
        })
        .map(str::to_owned)
        .collect();
    headers.remove(header::COOKIE);
    if !kept.is_empty() {
        if let Ok(v) = axum::http::HeaderValue::from_str(&kept.join("; ")) {
            headers.insert(header::COOKIE, v);
        }
    }
}

fn form_urlencoded_field(body: &[u8], name: &str) -> Option<String> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).ok()?;
    pairs.into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    #[test]
    fn exact_origins_only() {
        use super::exact_origin_key as k;
        assert_eq!(
            k("https://A.test:8443"),
            Some(("https".into(), "a.test".into(), 8443))
        );
        assert_eq!(
            k("http://a.test"),
            Some(("http".into(), "a.test".into(), 80))
        );
        assert!(k("http://[::1]:3000").is_some());
        for bad in [
            "*",
            "null",
            "a.test",
            "https://a.test/",
            "https://a.test/x",
            "https://a.test?x",
            "https://a.test#x",
            "https://u@a.test",
            "https://*.a.test",
            "https://a.test:",
            "https://a.test:99999",
            "https://",
            "ftp://a.test",
            "https://a.test, https://b.test",
            " https://a.test",
        ] {
            assert_eq!(k(bad), None, "{bad}");
        }
    }

    use super::*;

    #[test]
    fn origin_parsing() {
        assert_eq!(
            origin_of("https://A.example:8443/x?y").as_deref(),
            Some("https://a.example:8443")
        );
        assert_eq!(origin_of("nonsense"), None);
        let k = |s: &str| origin_key(s);
        assert_eq!(k("HTTPS://A.example"), k("https://a.example:443/x"));
        assert_ne!(k("https://a.example"), k("http://a.example"));
        assert_ne!(k("http://a.example:8080"), k("http://a.example"));
        assert_eq!(k("http://[::1]:80"), k("http://[::1]"));
        assert_eq!(k("http://user@a.example"), None);
        assert_eq!(k("ftp://a.example"), None);
        assert_eq!(k("http://a.example:x"), None);
    }
}
