//! The route registry: the only way to mount a route. Each route is declared with its
//! documentation, its authentication and its rate-limit policies in one place, so the
//! router, the guards and the OpenAPI document cannot drift apart.

use crate::state::AppState;
use axum::handler::Handler;
use axum::http::Method;
use axum::routing::{on, MethodFilter};
use axum::Router;

/// How a route authenticates its caller (documentation and guard selection).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// Anyone.
    Public,
    /// A signed-in user (session cookie, bearer access token or PAT).
    User,
    /// Staff or above.
    Staff,
    /// Admin or above.
    Admin,
    /// OAuth client credentials or refresh token in the body.
    Client,
}

/// What a route says about itself.
#[derive(Debug, Clone)]
pub struct Doc {
    /// Group in the document.
    pub tag: &'static str,
    /// One line.
    pub summary: &'static str,
    /// Who may call it.
    pub auth: Auth,
    /// Rate-limit policy names applied before the handler (all charged, strictest wins).
    pub limits: Vec<&'static str>,
    /// JSON schema of the request body, if any.
    pub request: Option<serde_json::Value>,
    /// Request body media type.
    pub request_type: &'static str,
    /// JSON schema of the success body.
    pub response: Option<serde_json::Value>,
    /// Success status.
    pub status: u16,
    /// Whether the route is part of the `/v1` API document.
    pub in_api: bool,
    /// Scope a PAT or client token needs.
    pub scope: Option<rampart_identity::Scope>,
    /// Reachable by admins who have not enrolled TOTP yet.
    pub enrolment: bool,
    /// Largest accepted body; `None` takes the route group's limit.
    pub body_limit: Option<usize>,
}

impl Doc {
    /// A public route with a summary.
    pub fn new(tag: &'static str, summary: &'static str) -> Self {
        Self {
            tag,
            summary,
            auth: Auth::Public,
            limits: Vec::new(),
            request: None,
            request_type: "application/json",
            response: None,
            status: 200,
            in_api: true,
            scope: None,
            enrolment: false,
            body_limit: None,
        }
    }
    /// Overrides the route group's body limit.
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = Some(bytes);
        self
    }
    /// Requires a scope of PATs and client tokens.
    pub fn scope(mut self, s: rampart_identity::Scope) -> Self {
        self.scope = Some(s);
        self
    }
    /// Allowed before TOTP enrolment (the enrolment pages themselves, logout).
    pub fn enrolment(mut self) -> Self {
        self.enrolment = true;
        self
    }
    /// Sets the authentication.
    pub fn auth(mut self, a: Auth) -> Self {
        self.auth = a;
        self
    }
    /// Adds a rate-limit policy by name.
    pub fn limit(mut self, policy: &'static str) -> Self {
        self.limits.push(policy);
        self
    }
    /// A JSON request body schema.
    pub fn body(mut self, schema: serde_json::Value) -> Self {
        self.request = Some(schema);
        self
    }
    /// A form-encoded request body schema.
    pub fn form(mut self, schema: serde_json::Value) -> Self {
        self.request = Some(schema);
        self.request_type = "application/x-www-form-urlencoded";
        self
    }
    /// The success body schema.
    pub fn returns(mut self, status: u16, schema: serde_json::Value) -> Self {
        self.status = status;
        self.response = Some(schema);
        self
    }
    /// Marks a web page (not in the API document).
    pub fn page(mut self) -> Self {
        self.in_api = false;
        self
    }
}

/// Body limits by route group (B7): credentials and tokens are small, so the
/// authentication endpoints accept far less than the general default.
pub fn group_body_limit(path: &str) -> Option<usize> {
    if path.starts_with("/v1/auth/") || path.starts_with("/v1/oauth/") || path.starts_with("/v1/me")
    {
        Some(16 * 1024)
    } else if path.starts_with("/v1/admin/")
        || path.starts_with("/v1/tokens")
        || path.starts_with("/v1/sessions")
    {
        Some(8 * 1024)
    } else {
        None
    }
}

/// One mounted route.
#[derive(Debug, Clone)]
pub struct RouteInfo {
    /// HTTP method.
    pub method: Method,
    /// Path in axum syntax (`/v1/tokens/{id}`).
    pub path: &'static str,
    /// Its declaration.
    pub doc: Doc,
}

/// Collects routes; [`Routes::finish`] yields the router and the list.
pub struct Routes {
    state: AppState,
    router: Router<AppState>,
    mounted: Vec<RouteInfo>,
}

impl Routes {
    /// An empty registry.
    pub fn new(state: AppState) -> Self {
        Self {
            state,
            router: Router::new(),
            mounted: Vec::new(),
        }
    }

    /// The state guards are built with.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Mounts `handler` at `method path` with its guards.
    pub fn route<H, T>(mut self, method: Method, path: &'static str, handler: H, doc: Doc) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        let filter = MethodFilter::try_from(method.clone()).unwrap_or(MethodFilter::GET);
        let mut mr = on(filter, handler);
        if let Some(limit) = doc.body_limit.or_else(|| group_body_limit(path)) {
            mr = mr.layer(axum::extract::DefaultBodyLimit::max(limit.min(1024 * 1024)));
        }
        if !doc.limits.is_empty() {
            mr = crate::ratelimit::layer(mr, &self.state, &doc.limits);
        }
        if !matches!(doc.auth, Auth::Public | Auth::Client) {
            mr = crate::authn::layer(mr, &self.state, doc.auth, doc.scope, doc.enrolment);
        }
        // Every state-changing route gets the CSRF guard, outermost, before any
        // other work; there is no way to mount one without it.
        if !matches!(method, Method::GET | Method::HEAD | Method::OPTIONS) {
            mr = mr.route_layer(axum::middleware::from_fn_with_state(
                self.state.clone(),
                crate::csrf::csrf_guard,
            ));
        }
        self.router = self.router.route(path, mr);
        self.mounted.push(RouteInfo { method, path, doc });
        self
    }

    /// `GET`.
    pub fn get<H, T>(self, path: &'static str, handler: H, doc: Doc) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        self.route(Method::GET, path, handler, doc)
    }
    /// `POST`.
    pub fn post<H, T>(self, path: &'static str, handler: H, doc: Doc) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        self.route(Method::POST, path, handler, doc)
    }
    /// `PATCH`.
    pub fn patch<H, T>(self, path: &'static str, handler: H, doc: Doc) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        self.route(Method::PATCH, path, handler, doc)
    }
    /// `DELETE`.
    pub fn delete<H, T>(self, path: &'static str, handler: H, doc: Doc) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        self.route(Method::DELETE, path, handler, doc)
    }

    /// The router (still needing state) and every mounted route.
    pub fn finish(self) -> (Router<AppState>, Vec<RouteInfo>) {
        (self.router, self.mounted)
    }
}
