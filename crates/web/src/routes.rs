//! The route registry: the only way to mount a route. Each route is declared with its
//! documentation, its authentication and its rate-limit policies in one place, so the
//! router, the guards and the OpenAPI document cannot drift apart.

pub use crate::authn::Auth;
use crate::codes::Code;
pub use crate::error::ErrorFormat;
use crate::state::AppState;
use axum::handler::Handler;
use axum::http::Method;
use axum::routing::{on, MethodFilter};
use axum::Router;
use rampart_kernel::account::Role;
use rampart_kernel::Permission;
use rampart_security::ratelimit::PolicyName;

/// A route group: the body limit and the error format are properties of the group a
/// route is mounted in, declared here, never guessed from the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    /// Authentication and the caller's own account (`/v1/auth`, `/v1/oauth`, `/v1/me`):
    /// credentials and tokens are small, 16 KiB (B7). JSON problems.
    Auth,
    /// Sessions, tokens and administration: 8 KiB (B7). JSON problems.
    Manage,
    /// The rest of the machine API (documents, keys, metrics): the configured default
    /// body limit. JSON problems.
    Api,
    /// Server-rendered pages and the probes: the configured default body limit; HTML
    /// error pages unless the client asks for JSON.
    Web,
}

/// Roots whose unknown paths (no route matched) answer in a group's error format:
/// a client of the machine API gets a problem document for a mistyped path too.
pub const API_ROOTS: &[(&str, Group)] = &[
    ("/v1/{*rest}", Group::Api),
    ("/.well-known/{*rest}", Group::Api),
];

impl Group {
    /// Largest accepted body; `None` takes the configured default.
    pub const fn body_limit(self) -> Option<usize> {
        match self {
            Group::Auth => Some(16 * 1024),
            Group::Manage => Some(8 * 1024),
            Group::Api | Group::Web => None,
        }
    }
    /// The group serves browsers (HTML forms and pages): a signed-out GET redirects to
    /// the login page, and state changes always need the CSRF token.
    pub const fn browser(self) -> bool {
        matches!(self, Group::Web)
    }
    /// The error format of the group's routes.
    pub const fn errors(self) -> ErrorFormat {
        match self {
            Group::Auth | Group::Manage | Group::Api => ErrorFormat::Json,
            Group::Web => ErrorFormat::Negotiated,
        }
    }
}

/// A schema constructor: the JSON schema of a wire type, its definitions collected in
/// the generator (hoisted into `components/schemas`).
pub type SchemaFn = fn(&mut schemars::SchemaGenerator) -> schemars::Schema;

fn schema_of<T: schemars::JsonSchema>(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
    g.subschema_for::<T>()
}

fn inline_schema_of<T: schemars::JsonSchema>(
    g: &mut schemars::SchemaGenerator,
) -> schemars::Schema {
    T::json_schema(g)
}

/// The media type of a request body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// `application/json`.
    Json,
    /// `application/x-www-form-urlencoded`.
    Form,
}

/// What a route answers on success.
#[derive(Debug, Clone, Copy)]
pub enum Success {
    /// A JSON body of a wire type.
    Json {
        /// Status (200, 201, 202…).
        status: u16,
        /// Its schema.
        schema: SchemaFn,
    },
    /// `204 No Content`: no body.
    NoContent,
    /// `101 Switching Protocols`: a WebSocket (`GET /ws`).
    SwitchingProtocols,
    /// Not part of the API document (pages, probes, metrics).
    Undocumented,
}

/// The shape of a route's error bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorBody {
    /// RFC 9457 problem documents.
    Problem,
    /// RFC 6749 §5.2 `{error, error_description}` (the OAuth token endpoint).
    OAuth,
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
    /// The permission it needs (implies the role in [`Doc::auth`]).
    pub permission: Option<Permission>,
    /// Rate-limit policies applied before the handler (all charged, strictest wins).
    pub limits: Vec<PolicyName>,
    /// The request body's schema and media type.
    pub request: Option<(SchemaFn, BodyKind)>,
    /// Whether the body may be left out.
    pub request_optional: bool,
    /// The query parameters' schema (an object: each property is a parameter).
    pub query: Option<SchemaFn>,
    /// The success answer.
    pub success: Success,
    /// Other success answers of the same route (e.g. 201 beside 202), each with its body.
    pub also: Vec<(u16, SchemaFn)>,
    /// Problem codes the handler itself can answer (the guards' codes are added from
    /// the route's auth, limits, body and method).
    pub errors: Vec<Code>,
    /// The error body format.
    pub error_body: ErrorBody,
    /// Whether the route is part of the `/v1` API document.
    pub in_api: bool,
    /// Scope a PAT or client token needs.
    pub scope: Option<rampart_identity::Scope>,
    /// Reachable by admins who have not enrolled TOTP yet.
    pub enrolment: bool,
    /// Largest accepted body; `None` takes the route group's limit.
    pub body_limit: Option<usize>,
    /// The staff-power TOTP check is the handler's, after it checked the caller may
    /// see the target (so a caller without TOTP who cannot see it gets 404, not 403).
    pub totp_in_handler: bool,
}

impl Doc {
    /// A public route with a summary.
    pub fn new(tag: &'static str, summary: &'static str) -> Self {
        Self {
            tag,
            summary,
            auth: Auth::Public,
            permission: None,
            limits: Vec::new(),
            request: None,
            request_optional: false,
            query: None,
            success: Success::Undocumented,
            also: Vec::new(),
            errors: Vec::new(),
            error_body: ErrorBody::Problem,
            in_api: true,
            scope: None,
            enrolment: false,
            body_limit: None,
            totp_in_handler: false,
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
    /// The handler checks the staff-power TOTP requirement itself, after visibility
    /// (it must answer `totp_enrolment_required` for a visible target).
    pub fn totp_in_handler(mut self) -> Self {
        self.totp_in_handler = true;
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
    /// Requires a permission: the authentication guard checks the caller's role
    /// against the role → permission table (`Role::permissions`) and answers 404
    /// without it. The route's authentication level follows the least role holding it.
    pub fn permission(mut self, p: Permission) -> Self {
        self.permission = Some(p);
        self.auth = match p.min_role() {
            Some(r) if r >= Role::Admin => Auth::Admin,
            Some(r) if r >= Role::Staff => Auth::Staff,
            Some(_) => Auth::User,
            // Nobody holds it: only the table check could pass, and it never does.
            None => Auth::Admin,
        };
        self
    }
    /// Adds a rate-limit policy.
    pub fn limit(mut self, policy: PolicyName) -> Self {
        self.limits.push(policy);
        self
    }
    /// A JSON request body of wire type `T`.
    pub fn request<T: schemars::JsonSchema>(mut self) -> Self {
        self.request = Some((schema_of::<T>, BodyKind::Json));
        self
    }
    /// Query parameters: the properties of wire type `T` (an object of scalars).
    pub fn query<T: schemars::JsonSchema>(mut self) -> Self {
        self.query = Some(inline_schema_of::<T>);
        self
    }
    /// A JSON request body that may be left out.
    pub fn optional_request<T: schemars::JsonSchema>(mut self) -> Self {
        self.request = Some((schema_of::<T>, BodyKind::Json));
        self.request_optional = true;
        self
    }
    /// A form-encoded request body of wire type `T`.
    pub fn form<T: schemars::JsonSchema>(mut self) -> Self {
        self.request = Some((schema_of::<T>, BodyKind::Form));
        self
    }
    /// The success status and its JSON body of wire type `T`.
    pub fn responds<T: schemars::JsonSchema>(mut self, status: u16) -> Self {
        self.success = Success::Json {
            status,
            schema: schema_of::<T>,
        };
        self
    }
    /// Another success status the route can answer, with its JSON body of wire type `T`.
    pub fn also_responds<T: schemars::JsonSchema>(mut self, status: u16) -> Self {
        self.also.push((status, schema_of::<T>));
        self
    }
    /// `101 Switching Protocols` (a WebSocket handshake).
    pub fn switching_protocols(mut self) -> Self {
        self.success = Success::SwitchingProtocols;
        self
    }
    /// `204 No Content`.
    pub fn no_content(mut self) -> Self {
        self.success = Success::NoContent;
        self
    }
    /// Problem codes the handler can answer.
    pub fn errors(mut self, codes: &[Code]) -> Self {
        self.errors.extend_from_slice(codes);
        self
    }
    /// Errors are RFC 6749 JSON, not problem documents.
    pub fn oauth_errors(mut self) -> Self {
        self.error_body = ErrorBody::OAuth;
        self
    }
    /// Marks a web page (not in the API document).
    pub fn page(mut self) -> Self {
        self.in_api = false;
        self
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
    /// The group it was mounted in.
    pub group: Group,
}

/// Collects routes; [`Routes::finish`] yields the router and the list.
pub struct Routes {
    state: AppState,
    router: Router<AppState>,
    mounted: Vec<RouteInfo>,
    group: Group,
}

impl Routes {
    /// An empty registry.
    pub fn new(state: AppState) -> Self {
        Self {
            state,
            router: Router::new(),
            mounted: Vec::new(),
            group: Group::Web,
        }
    }

    /// Mounts the following routes in `group` (until the next call).
    pub fn group(mut self, group: Group) -> Self {
        self.group = group;
        self
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
        if let Some(limit) = doc.body_limit.or(self.group.body_limit()) {
            mr = mr.layer(axum::extract::DefaultBodyLimit::max(limit.min(1024 * 1024)));
        }
        if !doc.limits.is_empty() {
            mr = crate::ratelimit::layer(mr, &self.state, &doc.limits);
        }
        if !matches!(doc.auth, Auth::Public | Auth::Client) {
            mr = crate::authn::layer(mr, &self.state, &doc, self.group.browser());
        }
        // Every state-changing route gets the CSRF guard, outermost, before any
        // other work; there is no way to mount one without it.
        if !matches!(method, Method::GET | Method::HEAD | Method::OPTIONS) {
            mr = mr.route_layer(axum::middleware::from_fn_with_state(
                crate::csrf::CsrfGuard {
                    state: self.state.clone(),
                    browser: self.group.browser(),
                },
                crate::csrf::csrf_guard,
            ));
        }
        self.router = self.router.route(path, mr);
        self.mounted.push(RouteInfo {
            method,
            path,
            doc,
            group: self.group,
        });
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
