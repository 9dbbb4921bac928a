//! The OpenAPI 3.1 document, generated from the route registry at start-up.

use crate::routes::{Auth, RouteInfo};
use serde_json::{json, Map, Value};

fn path_params(path: &str) -> Vec<Value> {
    path.split('/')
        .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
        .collect()
}

/// Builds the document for every `/v1` and `/.well-known` route.
pub fn document(routes: &[RouteInfo]) -> Value {
    let mut paths: Map<String, Value> = Map::new();
    for r in routes.iter().filter(|r| r.doc.in_api) {
        let d = &r.doc;
        let mut op = json!({
            "summary": d.summary,
            "tags": [d.tag],
            "operationId": format!("{}_{}", r.method.as_str().to_ascii_lowercase(),
                r.path.trim_matches('/').replace(['/', '-', '.'], "_").replace(['{', '}'], "")),
            "responses": {
                d.status.to_string(): {
                    "description": "Success",
                    "content": {"application/json": {"schema": d.response.clone().unwrap_or(json!({"type": "object"}))}}
                },
                "4XX": {"$ref": "#/components/responses/Problem"},
                "5XX": {"$ref": "#/components/responses/Problem"}
            }
        });
        let params = path_params(r.path);
        if !params.is_empty() {
            op["parameters"] = Value::Array(params);
        }
        if let Some(schema) = &d.request {
            op["requestBody"] =
                json!({"required": true, "content": {d.request_type: {"schema": schema}}});
        }
        match d.auth {
            Auth::Public => op["security"] = json!([]),
            Auth::User | Auth::Staff | Auth::Admin => {
                op["security"] = json!([{"bearer": []}, {"pat": []}, {"session": [], "csrf": []}])
            }
            Auth::Client => op["security"] = json!([{"clientBasic": []}, {}]),
        }
        if let Some(scope) = d.scope {
            op["x-required-scope"] = json!(scope.as_str());
        }
        if !d.limits.is_empty() {
            op["x-rate-limit-policies"] = json!(d.limits);
            op["responses"]["429"] = json!({"$ref": "#/components/responses/Problem"});
        }
        let entry = paths.entry(r.path.to_owned()).or_insert_with(|| json!({}));
        entry[r.method.as_str().to_ascii_lowercase()] = op;
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Rampart API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Marketplace and storefront backend, secure by default. Errors are application/problem+json with a stable `code`."
        },
        "paths": paths,
        "components": {
            "schemas": {
                "Problem": {
                    "type": "object",
                    "required": ["type", "title", "status", "code", "request_id"],
                    "properties": {
                        "type": {"type": "string"},
                        "title": {"type": "string"},
                        "status": {"type": "integer"},
                        "code": {"type": "string"},
                        "detail": {"type": "string"},
                        "request_id": {"type": "string"},
                        "errors": {"type": "array", "items": {"type": "object", "properties": {
                            "field": {"type": "string"}, "code": {"type": "string"}}}}
                    }
                }
            },
            "responses": {
                "Problem": {
                    "description": "Error",
                    "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
                }
            },
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "pat": {"type": "http", "scheme": "bearer", "description": "Personal access token (rpat_…)"},
                "session": {"type": "apiKey", "in": "cookie", "name": "__Host-rampart_session"},
                "csrf": {"type": "apiKey", "in": "header", "name": "X-CSRF-Token"},
                "clientBasic": {"type": "http", "scheme": "basic"}
            }
        }
    })
}
