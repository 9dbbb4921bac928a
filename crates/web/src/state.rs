//! Shared application state handed to every handler and guard.

use rampart_db::Db;
use rampart_kernel::Clock;
use rampart_security::client_ip::ProxyConfig;
use rampart_security::csrf::CsrfKey;
use rampart_security::events::SecurityEvents;
use rampart_security::metrics::Metrics;
use std::sync::Arc;
use std::time::Duration;

/// Web-facing configuration (the binary builds it from env and `rampart.toml`).
#[derive(Debug, Clone)]
pub struct WebConfig {
    /// The site's own origin, e.g. `https://shop.example` (CSRF origin check, links).
    pub public_origin: Option<String>,
    /// Other origins whose state-changing requests are accepted.
    pub trusted_origins: Vec<String>,
    /// CORS allowlist (also trusted by the origin check).
    pub cors_origins: Vec<String>,
    /// Served over TLS or behind a TLS proxy: HSTS on.
    pub hsts: bool,
    /// `__Host-` cookies with `Secure` (off only for local development over http).
    pub secure_cookies: bool,
    /// Client IP resolution.
    pub proxy: ProxyConfig,
    /// Largest accepted request body for JSON/form routes.
    pub body_limit_bytes: usize,
    /// Whole-request timeout.
    pub request_timeout: Duration,
    /// Production mode (stricter start-up checks; no development conveniences).
    pub production: bool,
    /// Origins besides the site's own whose pages may open `GET /ws`
    /// (`WS_ALLOWED_ORIGINS`).
    pub ws_allowed_origins: Vec<String>,
    /// Accept WebSocket handshakes without an `Origin` header (non-browser tools;
    /// `WS_ALLOW_NO_ORIGIN`, off by default).
    pub ws_allow_no_origin: bool,
    /// Real-time connection settings (queue bound, ping, deadlines).
    pub realtime: crate::realtime::RealtimeConfig,
}

impl Default for WebConfig {
    fn default() -> Self {
        Self {
            public_origin: None,
            trusted_origins: Vec::new(),
            cors_origins: Vec::new(),
            hsts: false,
            secure_cookies: false,
            proxy: ProxyConfig::default(),
            body_limit_bytes: 64 * 1024,
            request_timeout: Duration::from_secs(30),
            production: false,
            ws_allowed_origins: Vec::new(),
            ws_allow_no_origin: false,
            realtime: crate::realtime::RealtimeConfig::default(),
        }
    }
}

/// Everything a request may need.
pub struct AppInner {
    /// Database.
    pub db: Db,
    /// Web configuration.
    pub config: WebConfig,
    /// Injected clock.
    pub clock: Arc<dyn Clock>,
    /// Prometheus registry.
    pub metrics: Arc<Metrics>,
    /// Security events.
    pub events: SecurityEvents,
    /// CSRF token key.
    pub csrf: CsrfKey,
    /// Rate limiter (memory or Redis).
    pub limiter: rampart_security::ratelimit::Limiter,
    /// Named rate-limit policies.
    pub policies: crate::policies::Policies,
    /// The identity service.
    pub auth: Arc<rampart_identity::Identity>,
    /// The marketplace service (stores, items, catalog).
    pub market: Arc<rampart_marketplace::Marketplace>,
    /// The messaging service (conversations, blocks, reports, prekey bundles).
    pub messaging: Arc<rampart_messaging::Messaging>,
    /// The trust-and-safety service (tickets, store warnings).
    pub trust: Arc<rampart_trust::Trust>,
    /// The checkout service (carts, intents, orders, refunds, webhook events).
    pub checkout: Arc<rampart_checkout::service::Checkout>,
    /// Webhook signature verifiers, one per configured provider.
    pub webhooks: Vec<(
        rampart_checkout::payment::ProviderKind,
        rampart_checkout::webhook::SignatureVerifier,
    )>,
    /// The secret the sandbox signs its deliveries with (the newest configured).
    pub sandbox_secret: Option<rampart_checkout::webhook::WebhookSecret>,
    /// The sandbox's webhook sender, once the server is listening (sandbox only).
    pub sandbox_sender: std::sync::OnceLock<rampart_checkout::sender::SenderHandle>,
    /// The real-time hub: open WebSocket connections by user, and the bus to the
    /// other instances.
    pub realtime: Arc<crate::realtime::Hub>,
    /// The OpenAPI document, set when the router is built.
    pub openapi: std::sync::OnceLock<String>,
}

/// Cheap-to-clone handle.
#[derive(Clone)]
pub struct AppState(pub Arc<AppInner>);

impl std::ops::Deref for AppState {
    type Target = AppInner;
    fn deref(&self) -> &AppInner {
        &self.0
    }
}

/// The session cookie's name over TLS (production).
pub const COOKIE_SESSION_TLS: &str = "__Host-rampart_session";
/// The session cookie's name in development over plain http.
pub const COOKIE_SESSION_DEV: &str = "rampart_session";

/// Cookie names: `__Host-` prefixed when secure (A4), plain for local http development
/// (browsers refuse `__Host-` cookies without `Secure`, which needs https).
#[derive(Debug, Clone, Copy)]
pub struct CookieNames {
    /// Session cookie.
    pub session: &'static str,
    /// Pre-session CSRF binding cookie.
    pub csrf: &'static str,
    /// Refresh token cookie (API flow).
    pub refresh: &'static str,
    /// A visitor's cart cookie (an anonymous cart's bearer secret).
    pub cart: &'static str,
}

impl WebConfig {
    /// The cookie names in force.
    pub fn cookie_names(&self) -> CookieNames {
        if self.secure_cookies {
            CookieNames {
                session: COOKIE_SESSION_TLS,
                csrf: "__Host-rampart_csrf",
                refresh: "__Host-rampart_refresh",
                cart: "__Host-rampart_cart",
            }
        } else {
            CookieNames {
                session: COOKIE_SESSION_DEV,
                csrf: "rampart_csrf",
                refresh: "rampart_refresh",
                cart: "rampart_cart",
            }
        }
    }

    /// A `Set-Cookie` value with the security attributes (HttpOnly, SameSite=Lax,
    /// Path=/, Secure when configured).
    pub fn cookie(&self, name: &str, value: &str, max_age_secs: Option<i64>) -> String {
        let mut c = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax");
        if self.secure_cookies {
            c.push_str("; Secure");
        }
        if let Some(age) = max_age_secs {
            c.push_str(&format!("; Max-Age={age}"));
        }
        c
    }
}
