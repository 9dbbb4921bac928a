//! The OpenAPI 3.1 document, generated at start-up from the route registry: each
//! route's wire types (their derived JSON schemas, definitions hoisted into
//! `components/schemas`), its real success status, and the problem codes it can
//! answer — the handler's own, declared on the route, plus those of the guards the
//! registry put on it (body parsing, authentication, CSRF, rate limits).

use crate::codes::Code;
use crate::routes::{Auth, BodyKind, ErrorBody, RouteInfo, Success};
use crate::state::{COOKIE_SESSION_DEV, COOKIE_SESSION_TLS};
use axum::http::Method;
use schemars::generate::{Contract, SchemaSettings};
use schemars::SchemaGenerator;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};

fn path_params(path: &str) -> Vec<Value> {
    path.split('/')
        .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(|name| {
            json!({"name": name, "in": "path", "required": true,
                "schema": {"type": "string", "minLength": 1}})
        })
        .collect()
}

/// Query parameters from an object schema: one parameter per property.
fn query_params(schema: crate::routes::SchemaFn, g: &mut SchemaGenerator) -> Vec<Value> {
    let v = schema(g).to_value();
    let required: BTreeSet<String> = v
        .get("required")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    v.get("properties")
        .and_then(Value::as_object)
        .map(|props| {
            props
                .iter()
                .map(|(name, s)| {
                    let mut s = s.clone();
                    // A query parameter is absent or a string: `null` is not a value.
                    if let Some(types) = s.get("type").and_then(Value::as_array).cloned() {
                        let kept: Vec<Value> = types.into_iter().filter(|t| t != "null").collect();
                        s["type"] = match kept.as_slice() {
                            [one] => one.clone(),
                            _ => Value::Array(kept),
                        };
                    }
                    let description = s
                        .as_object_mut()
                        .and_then(|o| {
                            o.remove("default");
                            o.remove("description")
                        })
                        .unwrap_or(Value::Null);
                    let mut p = json!({"name": name, "in": "query",
                        "required": required.contains(name), "schema": s});
                    if !description.is_null() {
                        p["description"] = description;
                    }
                    p
                })
                .collect()
        })
        .unwrap_or_default()
}

fn generator(contract: Contract) -> SchemaGenerator {
    SchemaSettings::draft2020_12()
        .with(|s| {
            s.definitions_path = "/components/schemas".into();
            s.meta_schema = None;
            s.contract = contract;
        })
        .into_generator()
}

/// The codes the guards of a route can answer, besides the handler's own.
fn guard_codes(r: &RouteInfo) -> BTreeSet<Code> {
    let d = &r.doc;
    let mut codes = BTreeSet::from([Code::Internal, Code::RequestTimeout]);
    if d.request.is_some() {
        codes.extend([
            Code::BadRequest,
            Code::UnsupportedMediaType,
            Code::InvalidBody,
            Code::PayloadTooLarge,
        ]);
        if matches!(d.request, Some((_, BodyKind::Json))) {
            codes.insert(Code::MalformedJson);
        }
    }
    if !matches!(d.auth, Auth::Public | Auth::Client) {
        codes.extend([
            Code::Unauthorized,
            Code::TokenInvalid,
            Code::TokenExpired,
            Code::TokenRevoked,
            Code::Forbidden,
        ]);
        if d.scope.is_some() {
            codes.insert(Code::InsufficientScope);
        }
        if !d.enrolment {
            codes.insert(Code::TotpEnrolmentRequired);
        }
        // A caller without the route's role gets 404: staff routes do not reveal
        // themselves (D1).
        if matches!(d.auth, Auth::Staff | Auth::Admin) || d.permission.is_some() {
            codes.insert(Code::NotFound);
        }
    }
    if !d.limits.is_empty() {
        codes.extend([Code::RateLimited, Code::Unavailable]);
    }
    if !matches!(r.method, Method::GET | Method::HEAD | Method::OPTIONS) {
        codes.extend([
            Code::CsrfOriginMismatch,
            Code::CsrfTokenMissing,
            Code::CsrfTokenInvalid,
        ]);
    }
    codes
}

/// The OAuth endpoint answers these statuses with RFC 6749 JSON, the rest (guards)
/// with problem documents.
const OAUTH_STATUSES: [u16; 3] = [400, 401, 503];

fn error_responses(r: &RouteInfo) -> (Map<String, Value>, Vec<&'static str>) {
    let mut codes = guard_codes(r);
    codes.extend(r.doc.errors.iter().copied());
    let mut by_status: BTreeMap<u16, Vec<Code>> = BTreeMap::new();
    for c in &codes {
        by_status.entry(c.status()).or_default().push(*c);
    }
    let oauth = r.doc.error_body == ErrorBody::OAuth;
    if oauth {
        for s in OAUTH_STATUSES {
            by_status.entry(s).or_default();
        }
    }
    let mut out = Map::new();
    for (status, codes) in by_status {
        let mut content = Map::new();
        let mut lines: Vec<String> = codes
            .iter()
            .map(|c| format!("`{}`: {}", c.as_str(), c.describe()))
            .collect();
        if !codes.is_empty() {
            let names: Vec<&str> = codes.iter().map(|c| c.as_str()).collect();
            content.insert(
                "application/problem+json".into(),
                json!({"schema": {"allOf": [{"$ref": "#/components/schemas/Problem"}],
                    "properties": {"code": {"enum": names}}}}),
            );
        }
        if oauth && OAUTH_STATUSES.contains(&status) {
            lines.push("RFC 6749 error (`error`, `error_description`)".into());
            content.insert(
                "application/json".into(),
                json!({"schema": {"$ref": "#/components/schemas/OauthError"}}),
            );
        }
        out.insert(
            status.to_string(),
            json!({"description": lines.join("; "), "content": content}),
        );
    }
    let names = codes.iter().map(|c| c.as_str()).collect();
    (out, names)
}

fn security(r: &RouteInfo) -> Value {
    let mutating = !matches!(r.method, Method::GET | Method::HEAD | Method::OPTIONS);
    match r.doc.auth {
        Auth::Public => json!([]),
        Auth::User | Auth::Staff | Auth::Admin => {
            if mutating {
                json!([{"bearer": []}, {"pat": []},
                    {"session": [], "csrf": []}, {"sessionDev": [], "csrf": []}])
            } else {
                json!([{"bearer": []}, {"pat": []}, {"session": []}, {"sessionDev": []}])
            }
        }
        Auth::Client => json!([{"clientBasic": []}, {}]),
    }
}

fn operation_id(r: &RouteInfo) -> String {
    format!(
        "{}_{}",
        r.method.as_str().to_ascii_lowercase(),
        r.path
            .trim_matches('/')
            .replace(['/', '-', '.'], "_")
            .replace(['{', '}'], "")
    )
}

/// Builds the document for every route declared as part of the API.
pub fn document(routes: &[RouteInfo]) -> Value {
    let mut requests = generator(Contract::Deserialize);
    let mut responses = generator(Contract::Serialize);
    // The OAuth error body is referenced by name from the error responses.
    let _ = responses.subschema_for::<crate::identity::wire::OauthError>();
    let mut paths: Map<String, Value> = Map::new();
    for r in routes.iter().filter(|r| r.doc.in_api) {
        let d = &r.doc;
        let (mut resp, codes) = error_responses(r);
        match d.success {
            Success::Json { status, schema } => {
                resp.insert(
                    status.to_string(),
                    json!({"description": "Success",
                        "content": {"application/json": {"schema": schema(&mut responses)}}}),
                );
            }
            Success::NoContent => {
                resp.insert("204".into(), json!({"description": "No content"}));
            }
            Success::SwitchingProtocols => {
                resp.insert(
                    "101".into(),
                    json!({"description": "Switched to the WebSocket protocol: server events are JSON text frames (docs/design/realtime.md)"}),
                );
            }
            Success::Undocumented => {}
        }
        for (status, schema) in &d.also {
            resp.insert(
                status.to_string(),
                json!({"description": "Success",
                    "content": {"application/json": {"schema": schema(&mut responses)}}}),
            );
        }
        let mut op = json!({
            "summary": d.summary,
            "tags": [d.tag],
            "operationId": operation_id(r),
            "responses": resp,
            "security": security(r),
            "x-problem-codes": codes,
        });
        let mut params = path_params(r.path);
        if let Some(q) = d.query {
            params.extend(query_params(q, &mut requests));
        }
        if !params.is_empty() {
            op["parameters"] = Value::Array(params);
        }
        if let Some((schema, kind)) = d.request {
            let media = match kind {
                BodyKind::Json => "application/json",
                BodyKind::Form => "application/x-www-form-urlencoded",
            };
            op["requestBody"] = json!({"required": !d.request_optional,
                "content": {media: {"schema": schema(&mut requests)}}});
        }
        if let Some(scope) = d.scope {
            op["x-required-scope"] = json!(scope.as_str());
        }
        if let Some(p) = d.permission {
            op["x-permission"] = json!(p.as_str());
        }
        if !d.limits.is_empty() {
            let names: Vec<&str> = d.limits.iter().map(|p| p.as_str()).collect();
            op["x-rate-limit-policies"] = json!(names);
        }
        let entry = paths.entry(r.path.to_owned()).or_insert_with(|| json!({}));
        entry[r.method.as_str().to_ascii_lowercase()] = op;
    }
    let mut schemas = requests.take_definitions(true);
    schemas.extend(responses.take_definitions(true));
    schemas.insert("Problem".into(), problem_schema());
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Rampart API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Marketplace and storefront backend, secure by default. Errors are application/problem+json with a stable `code` (each operation lists its codes in `x-problem-codes`); the OAuth token endpoint answers RFC 6749 errors."
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "pat": {"type": "http", "scheme": "bearer", "description": "Personal access token (rpat_…)"},
                "session": {"type": "apiKey", "in": "cookie", "name": COOKIE_SESSION_TLS,
                    "description": "Session cookie when served over TLS (production)."},
                "sessionDev": {"type": "apiKey", "in": "cookie", "name": COOKIE_SESSION_DEV,
                    "description": "Session cookie in development over plain http."},
                "csrf": {"type": "apiKey", "in": "header", "name": "X-CSRF-Token",
                    "description": "Needed with a session cookie on state-changing requests."},
                "clientBasic": {"type": "http", "scheme": "basic"}
            }
        }
    })
}

fn problem_schema() -> Value {
    json!({
        "type": "object",
        "description": "RFC 9457 problem document.",
        "required": ["type", "title", "status", "code", "request_id"],
        "properties": {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "code": {"type": "string"},
            "detail": {"type": "string"},
            "request_id": {"type": "string"},
            "errors": {"type": "array", "items": {"type": "object",
                "required": ["field", "code"],
                "properties": {"field": {"type": "string"}, "code": {"type": "string"}}}}
        }
    })
}
