//! Rate limiting as a per-route layer (B2–B5). Routes name their policies where they
//! are mounted ([`crate::routes::Doc::limit`]); this layer charges every named policy
//! (all are charged, the strictest decides) and sets the IETF `RateLimit-Policy` and
//! `RateLimit` headers on every limited response, plus `Retry-After` and
//! `X-RateLimit-*` on a refusal.

use crate::error::ApiError;
use crate::request_id::RequestId;
use crate::state::AppState;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use rampart_security::events::{EventContext, SecurityEvent};
use rampart_security::ratelimit::{Policy, Verdict};
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// What a policy counts by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// The client IP (IPv6 by /64, since one host owns a whole /64).
    Ip,
    /// The authenticated user (the route's auth layer runs first); the IP when the
    /// caller is anonymous.
    User,
    /// A path parameter (e.g. the ticket ID), combined with nothing else.
    PathParam(&'static str),
}

/// A named policy and its key.
#[derive(Debug, Clone)]
pub struct PolicyDef {
    /// Limit and window.
    pub policy: Policy,
    /// What it counts by.
    pub key: KeyKind,
    /// Catalog key of the refusal detail, when the flow must not reveal more than a
    /// generic answer (login, password reset).
    pub detail: Option<&'static str>,
}

/// Every policy by name; defaults from B2/B3, overridable by configuration.
#[derive(Debug, Clone)]
pub struct Policies(pub BTreeMap<&'static str, PolicyDef>);

impl Policies {
    /// The binding seed table (B2) and the storefront/API table (B3).
    pub fn defaults() -> Self {
        let min = 60_000u64;
        let hour = 3_600_000u64;
        let mut m = BTreeMap::new();
        let mut add = |name: &'static str,
                       limit: u32,
                       window_ms: u64,
                       key: KeyKind,
                       detail: Option<&'static str>| {
            m.insert(
                name,
                PolicyDef {
                    policy: Policy::new(name, limit, window_ms),
                    key,
                    detail,
                },
            );
        };
        add(
            "password_reset",
            5,
            hour,
            KeyKind::Ip,
            Some("reset.generic"),
        );
        add(
            "login",
            10,
            5 * min,
            KeyKind::Ip,
            Some("err.invalid_credentials"),
        );
        add(
            "login_ceiling",
            60,
            min,
            KeyKind::Ip,
            Some("err.invalid_credentials"),
        );
        add("auth", 5, min, KeyKind::Ip, None);
        add("message_send", 10, min, KeyKind::User, None);
        add("ticket_create", 5, hour, KeyKind::User, None);
        add("ticket_message", 20, hour, KeyKind::PathParam("id"), None);
        add("cart", 100, min, KeyKind::Ip, None);
        add("checkout", 10, min, KeyKind::User, None);
        add("payment", 3, min, KeyKind::User, None);
        add("ws_handshake", 120, min, KeyKind::Ip, None);
        // Second-factor attempts by a signed-in user (enrolment confirm, disable): a
        // stolen session cannot search the code space.
        add("totp", 5, 5 * min, KeyKind::User, None);
        Policies(m)
    }

    /// Overrides one policy's limit and window; `false` for an unknown name.
    pub fn set(&mut self, name: &str, limit: u32, window_ms: u64) -> bool {
        match self.0.iter_mut().find(|(k, _)| **k == name) {
            Some((k, def)) => {
                def.policy = Policy::new(*k, limit, window_ms);
                true
            }
            None => false,
        }
    }
}

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
    names: &[&'static str],
) -> MethodRouter<AppState> {
    let defs: Vec<PolicyDef> = names
        .iter()
        .map(|n| match state.policies.0.get(n) {
            Some(d) => d.clone(),
            None => {
                // A typo in a policy name must not silently leave a route unlimited:
                // such a route refuses everything (and a test mounts every route).
                tracing::error!(policy = n, "unknown rate-limit policy; route will refuse");
                PolicyDef {
                    policy: Policy::new(*n, 0, 60_000),
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
        .map(|(_, v)| v.to_owned())
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
