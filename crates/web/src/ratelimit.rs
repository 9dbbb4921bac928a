//! Rate limiting as a per-route layer (B2–B5). Routes name their policies where they
//! are mounted (`Doc::limit` in the registry, a [`PolicyName`]); this layer charges every named policy
//! (all are charged, the strictest decides) and sets the IETF `RateLimit-Policy` and
//! `RateLimit` headers on every limited response, plus `Retry-After` and
//! `X-RateLimit-*` on a refusal.

use crate::error::ApiError;
pub use crate::policies::{KeyKind, Policies, PolicyDef};
use crate::request_id::RequestId;
use crate::state::AppState;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use rampart_security::events::{EventContext, SecurityEvent};
use rampart_security::ratelimit::{Policy, PolicyName, Verdict};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// The identity the auth layer found, for per-user keys.
#[derive(Debug, Clone)]
pub struct RateKeyUser(pub String);

/// Key for an IP: IPv4 whole, IPv6 by /64.
pub fn ip_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => format!("ip:{v4}"),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => format!("ip:{v4}"),
            None => {
                let s = v6.segments();
                format!("ip6:{:x}:{:x}:{:x}:{:x}", s[0], s[1], s[2], s[3])
            }
        },
    }
}

/// The forwarding header as one list: every line of it joined in order, since a proxy
/// may add its own line after the ones the client sent (RFC 9110 §5.3), and reading
/// only the first line would hand the client the choice of its own IP. `None` when
/// absent, unnamed, or not all lines are text.
pub fn forwarded_header(headers: &axum::http::HeaderMap, name: &str) -> Option<String> {
    if name.is_empty() {
        return None;
    }
    let lines = headers
        .get_all(name)
        .iter()
        .map(|v| v.to_str().ok())
        .collect::<Option<Vec<&str>>>()?;
    (!lines.is_empty()).then(|| lines.join(","))
}

/// The client IP of a request (socket peer, or the trusted proxy's header).
pub fn client_ip(state: &AppState, req: &Request) -> Option<IpAddr> {
    client_ip_of(state, req.headers(), req.extensions())
}

/// [`client_ip`] from the request head's parts.
pub fn client_ip_of(
    state: &AppState,
    headers: &axum::http::HeaderMap,
    extensions: &axum::http::Extensions,
) -> Option<IpAddr> {
    let peer = extensions.get::<ConnectInfo<SocketAddr>>()?.0.ip();
    let hv = forwarded_header(headers, &state.config.proxy.header);
    Some(state.config.proxy.client_ip(peer, hv.as_deref()))
}

struct Guard {
    state: AppState,
    defs: Vec<PolicyDef>,
}

/// Wraps a route's handler with its policies.
pub fn layer(
    mr: MethodRouter<AppState>,
    state: &AppState,
    names: &[PolicyName],
) -> MethodRouter<AppState> {
    let defs: Vec<PolicyDef> = names
        .iter()
        .map(|n| match state.policies.0.get(n) {
            Some(d) => d.clone(),
            None => {
                // A table built without one of the names must not silently leave a
                // route unlimited: such a route refuses everything.
                tracing::error!(policy = %n, "rate-limit policy missing from the table; route will refuse");
                PolicyDef {
                    policy: Policy::new(n.as_str(), 0, 60_000),
                    key: KeyKind::Ip,
                    detail: None,
                }
            }
        })
        .collect();
    let guard = Arc::new(Guard {
        state: state.clone(),
        defs,
    });
    mr.route_layer(from_fn_with_state(guard, limit))
}

fn path_param(req: &Request, name: &str) -> Option<String> {
    // Matched path `/v1/tickets/{id}/messages` against the real path.
    let matched = req
        .extensions()
        .get::<axum::extract::MatchedPath>()?
        .as_str()
        .to_owned();
    let want = format!("{{{name}}}");
    matched
        .split('/')
        .zip(req.uri().path().split('/'))
        .find(|(m, _)| *m == want)
        .map(|(_, v)| percent_decoded(v))
}

/// A path segment as the handler's `Path` extractor sees it (percent-decoded), so
/// `%61` and `a` share one bucket; a handler that accepts only the canonical
/// spelling of an ID then has exactly one bucket per resource.
fn percent_decoded(v: &str) -> String {
    let b = v.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match (
            b[i],
            b.get(i + 1).copied().and_then(hex),
            b.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn headers_for(verdict: &Verdict, refused: bool) -> Vec<(HeaderName, String)> {
    let mut out = Vec::new();
    let policies: Vec<String> = verdict
        .decisions
        .iter()
        .map(|d| {
            format!(
                "\"{}\";q={};w={}",
                d.policy.name,
                d.policy.limit,
                d.policy.window_secs()
            )
        })
        .collect();
    out.push((
        HeaderName::from_static("ratelimit-policy"),
        policies.join(", "),
    ));
    if let Some(b) = verdict.binding() {
        let t = b.reset_after_secs();
        out.push((
            HeaderName::from_static("ratelimit"),
            format!("\"{}\";r={};t={}", b.policy.name, b.remaining, t),
        ));
        if refused {
            let retry = verdict.retry_after_secs().unwrap_or(1);
            out.push((HeaderName::from_static("retry-after"), retry.to_string()));
            out.push((
                HeaderName::from_static("x-ratelimit-limit"),
                b.policy.limit.to_string(),
            ));
            out.push((
                HeaderName::from_static("x-ratelimit-remaining"),
                b.remaining.to_string(),
            ));
            out.push((HeaderName::from_static("x-ratelimit-reset"), t.to_string()));
        }
    }
    out
}

async fn limit(State(g): State<Arc<Guard>>, req: Request, next: Next) -> Response {
    let state = &g.state;
    let ip = client_ip(state, &req);
    let ip_k = ip.map(ip_key).unwrap_or_else(|| "ip:unknown".to_owned());
    let user = req
        .extensions()
        .get::<RateKeyUser>()
        .map(|u| format!("user:{}", u.0));
    let keys: Vec<String> = g
        .defs
        .iter()
        .map(|d| match d.key {
            KeyKind::Ip => ip_k.clone(),
            KeyKind::User => user.clone().unwrap_or_else(|| ip_k.clone()),
            KeyKind::PathParam(p) => path_param(&req, p)
                .map(|v| format!("{p}:{v}"))
                .unwrap_or_else(|| ip_k.clone()),
        })
        .collect();
    let checks: Vec<(&Policy, &str)> = g
        .defs
        .iter()
        .zip(keys.iter())
        .map(|(d, k)| (&d.policy, k.as_str()))
        .collect();
    let verdict = match state.limiter.check(&checks, state.clock.now_ms()).await {
        Ok(v) => v,
        Err(e) => {
            // Fail closed: an unlimited login endpoint is worse than a short outage.
            tracing::error!(error = %e, "rate-limit backend unavailable");
            return ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable")
                .header(
                    HeaderName::from_static("retry-after"),
                    HeaderValue::from_static("1"),
                )
                .into_response();
        }
    };
    if verdict.allowed() {
        let mut resp = next.run(req).await;
        for (k, v) in headers_for(&verdict, false) {
            if let Ok(v) = HeaderValue::from_str(&v) {
                resp.headers_mut().insert(k, v);
            }
        }
        return resp;
    }
    let binding_name = verdict
        .binding()
        .map(|b| b.policy.name.clone())
        .unwrap_or_default();
    let rid = req.extensions().get::<RequestId>().map(|r| r.0.clone());
    state.events.emit(
        SecurityEvent::RateLimitHit,
        &EventContext {
            request_id: rid.as_deref(),
            ip,
            user_agent: req
                .headers()
                .get("user-agent")
                .and_then(|v| v.to_str().ok()),
            user_id: req.extensions().get::<RateKeyUser>().map(|u| u.0.as_str()),
        },
        &[("policy", &binding_name), ("path", req.uri().path())],
    );
    state.metrics.inc(
        "rampart_rate_limit_hits_total",
        "Requests refused by a rate limit, by policy.",
        &[("policy", &binding_name)],
    );
    // A flow with a generic answer (login, password reset) gives it whichever of its
    // policies refused: a refusal by the shared `auth` policy on the login route must
    // not read differently from one by `login`.
    let detail_key = g
        .defs
        .iter()
        .find(|d| d.policy.name == binding_name)
        .and_then(|d| d.detail)
        .or_else(|| g.defs.iter().find_map(|d| d.detail));
    let mut err = ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    if let Some(k) = detail_key {
        let lang = crate::i18n::Lang::negotiate(
            req.headers()
                .get("accept-language")
                .and_then(|v| v.to_str().ok()),
        );
        err = err.detail(crate::i18n::lookup(lang, k).unwrap_or(k));
    }
    for (k, v) in headers_for(&verdict, true) {
        if let Ok(v) = HeaderValue::from_str(&v) {
            err = err.header(k, v);
        }
    }
    err.into_response()
}

#[cfg(test)]
mod tests {
    use super::percent_decoded;

    #[test]
    fn path_keys_are_percent_decoded() {
        assert_eq!(percent_decoded("%30%61bc"), "0abc");
        assert_eq!(percent_decoded("abc"), "abc");
        assert_eq!(percent_decoded("%zz%4"), "%zz%4");
    }
}
