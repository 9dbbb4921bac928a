//! The OpenAPI document: a snapshot of the whole document, reviewed like code, and the
//! properties an outside scan checked (typed success bodies with `required`, real
//! success statuses, 204 without a body, closed request objects, the route's problem
//! codes all documented in docs/errors.md, both session cookies).

use anyhow::Result;
use rampart_test_support::{Engine, TestApp};
use serde_json::Value;

async fn document() -> Result<Value> {
    let app = TestApp::spawn(Engine::Sqlite).await?.expect("sqlite");
    let doc: Value = app.get("/v1/openapi.json").await?.json().await?;
    app.stop().await;
    Ok(doc)
}

fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            out.push((method.clone(), path.clone(), op.clone()));
        }
    }
    out
}

/// Follows a `$ref` into `components/schemas`.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(r) => {
            let name = r.trim_start_matches("#/components/schemas/");
            &doc["components"]["schemas"][name]
        }
        None => schema,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_document_snapshot() -> Result<()> {
    let doc = document().await?;
    insta::assert_json_snapshot!("openapi", doc);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_success_and_request_bodies_are_typed() -> Result<()> {
    let doc = document().await?;
    for (method, path, op) in operations(&doc) {
        let responses = op["responses"].as_object().unwrap();
        let success: Vec<(&String, &Value)> = responses
            .iter()
            // 101: the WebSocket handshake (`GET /ws`).
            .filter(|(s, _)| s.starts_with('2') || *s == "101")
            .collect();
        assert!(!success.is_empty(), "{method} {path}: a success status");
        // Only register (202 with an e-mail, 201 without), checkout completion (201
        // made the order, 200 it existed) and a refund (201 paid, 202 decided and
        // not paid yet) have two.
        assert!(
            success.len() == 1
                || path == "/v1/auth/register"
                || path == "/v1/carts/{id}/complete"
                || path == "/v1/orders/{id}/refunds",
            "{method} {path}: one success status"
        );
        for (status, resp) in success {
            if status == "204" || status == "101" {
                assert!(
                    resp.get("content").is_none(),
                    "{method} {path}: {status} has no body"
                );
            } else {
                let schema = resolve(&doc, &resp["content"]["application/json"]["schema"]);
                assert!(
                    schema["properties"].is_object() || path == "/v1/openapi.json",
                    "{method} {path}: success body is a bare object: {schema}"
                );
                if path != "/v1/openapi.json" {
                    assert!(
                        schema["required"].is_array(),
                        "{method} {path}: success body lists required members"
                    );
                }
            }
        }
        if let Some(body) = op.get("requestBody") {
            if let Some(json) = body["content"].get("application/json") {
                let schema = resolve(&doc, &json["schema"]);
                assert_eq!(
                    schema["additionalProperties"],
                    Value::Bool(false),
                    "{method} {path}: unknown fields are refused"
                );
            }
        }
        assert!(
            op["x-problem-codes"].is_array(),
            "{method} {path}: problem codes"
        );
    }
    // The two DELETEs the scan named answer 204.
    for path in ["/v1/tokens/{id}", "/v1/sessions/{id}"] {
        assert!(doc["paths"][path]["delete"]["responses"]["204"].is_object());
    }
    // OAuth errors are RFC 6749 JSON.
    let oauth = &doc["paths"]["/v1/oauth/token"]["post"]["responses"]["400"]["content"];
    assert!(oauth["application/json"].is_object());
    // Register returns the referral code; token login documents its aliases.
    let reg = resolve(
        &doc,
        &doc["paths"]["/v1/auth/register"]["post"]["responses"]["201"]["content"]
            ["application/json"]["schema"],
    );
    assert!(reg["properties"]["referral_code"].is_object());
    let login = resolve(
        &doc,
        &doc["paths"]["/v1/auth/token"]["post"]["requestBody"]["content"]["application/json"]
            ["schema"],
    );
    assert!(login["properties"]["username"].is_object());
    assert!(login["properties"]["email"].is_object());
    // Both session cookie names.
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["session"]["name"], "__Host-rampart_session");
    assert_eq!(schemes["sessionDev"]["name"], "rampart_session");
    Ok(())
}

#[test]
fn every_problem_code_is_in_docs_errors_md() {
    let errors_md = include_str!("../../../../docs/errors.md");
    for code in rampart_web::codes::Code::ALL {
        let row = format!("| `{}` | {} |", code.as_str(), code.status());
        assert!(
            errors_md.contains(&row),
            "docs/errors.md lacks the row {row}"
        );
    }
}
