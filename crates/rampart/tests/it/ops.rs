//! The walking skeleton: operational endpoints, the error model, headers, request IDs.

use anyhow::Result;
use rampart_test_support::{both_engines, TestApp};
use serde_json::Value;

both_engines!(
    health_and_readiness,
    unknown_route_is_a_problem,
    wrong_method_is_405_problem,
    malformed_json_and_wrong_content_type,
    oversized_body_is_413,
    request_id_is_kept_or_replaced,
    security_headers_on_every_response,
    metrics_count_requests_by_route,
    metrics_listener_closes_slow_clients_and_caps_each_ip,
    openapi_lists_every_v1_route,
    errors_follow_accept_language,
    home_page_renders_escaped_html,
);

async fn health_and_readiness(app: TestApp) -> Result<()> {
    let r = app.get("/healthz").await?;
    assert_eq!(r.status(), 200);
    let r = app.get("/readyz").await?;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await?;
    assert_eq!(v["status"], "ready");
    Ok(())
}

async fn unknown_route_is_a_problem(app: TestApp) -> Result<()> {
    let r = app.get("/v1/definitely-not-here").await?;
    assert_eq!(r.status(), 404);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let rid = r.headers()["x-request-id"].to_str()?.to_owned();
    let v: Value = r.json().await?;
    assert_eq!(v["code"], "not_found");
    assert_eq!(v["status"], 404);
    assert_eq!(v["request_id"], rid);
    // Web paths get an HTML page instead.
    let r = app
        .client
        .get(app.at("/no-such-page"))
        .header("accept", "text/html")
        .send()
        .await?;
    assert_eq!(r.status(), 404);
    assert!(r.headers()["content-type"]
        .to_str()?
        .starts_with("text/html"));
    Ok(())
}

async fn wrong_method_is_405_problem(app: TestApp) -> Result<()> {
    let r = app.client.delete(app.at("/v1/openapi.json")).send().await?;
    assert_eq!(r.status(), 405);
    let v: Value = r.json().await?;
    assert_eq!(v["code"], "method_not_allowed");
    let r = app.client.post(app.at("/healthz")).send().await?;
    assert_eq!(r.status(), 405);
    Ok(())
}

async fn malformed_json_and_wrong_content_type(app: TestApp) -> Result<()> {
    // The echo endpoint parses JSON like every API handler does.
    let r = app
        .client
        .post(app.at("/v1/auth/register"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await?;
    assert_eq!(r.status(), 400, "{:?}", r.text().await);
    let r = app
        .client
        .post(app.at("/v1/auth/register"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await?;
    let v: Value = r.json().await?;
    assert_eq!(v["code"], "malformed_json");
    let r = app
        .client
        .post(app.at("/v1/auth/register"))
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await?;
    assert_eq!(r.status(), 415);
    let v: Value = r.json().await?;
    assert_eq!(v["code"], "unsupported_media_type");
    let r = app
        .client
        .post(app.at("/v1/auth/register"))
        .json(&serde_json::json!({"username": 5}))
        .send()
        .await?;
    assert_eq!(r.status(), 422);
    let v: Value = r.json().await?;
    assert_eq!(v["code"], "invalid_body");
    Ok(())
}

async fn oversized_body_is_413(app: TestApp) -> Result<()> {
    let big = format!("{{\"username\": \"{}\"}}", "a".repeat(2 * 1024 * 1024));
    // The server may close the connection while the client is still sending a very
    // large body; what it answers, if anything, is a 413 problem.
    let r = app
        .new_client()
        .post(app.at("/v1/auth/register"))
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await;
    if let Ok(r) = r {
        assert_eq!(r.status(), 413);
        let v: Value = r.json().await?;
        assert_eq!(v["code"], "payload_too_large");
    }
    // Over the per-route limit but under the hard cap.
    let mid = format!("{{\"username\": \"{}\"}}", "a".repeat(100 * 1024));
    // A fresh connection each time: the server answers 413 without reading the rest
    // of the body and closes the connection, so a pooled one may already be gone.
    let r = app
        .new_client()
        .post(app.at("/v1/auth/register"))
        .header("content-type", "application/json")
        .body(mid)
        .send()
        .await?;
    assert_eq!(r.status(), 413);
    // The authentication group accepts at most 16 KiB.
    let small = format!("{{\"username\": \"{}\"}}", "a".repeat(20 * 1024));
    // A fresh connection each time: the server answers 413 without reading the rest
    // of the body and closes the connection, so a pooled one may already be gone.
    let r = app
        .new_client()
        .post(app.at("/v1/auth/register"))
        .header("content-type", "application/json")
        .body(small)
        .send()
        .await?;
    assert_eq!(r.status(), 413);
    assert_eq!(
        rampart_test_support::count_rows(app.db(), "users").await?,
        0
    );
    Ok(())
}

async fn request_id_is_kept_or_replaced(app: TestApp) -> Result<()> {
    let r = app
        .client
        .get(app.at("/healthz"))
        .header("x-request-id", "abc-123_X.y:z")
        .send()
        .await?;
    assert_eq!(r.headers()["x-request-id"], "abc-123_X.y:z");
    for hostile in ["a b", "<script>", &"x".repeat(10 * 1024), "a\tb", "é"] {
        let r = app
            .client
            .get(app.at("/healthz"))
            .header("x-request-id", hostile)
            .send()
            .await;
        let Ok(r) = r else { continue }; // some values cannot even be sent
        let id = r.headers()["x-request-id"].to_str()?.to_owned();
        assert_ne!(id, hostile);
        assert!(
            id.len() <= 128 && uuid::Uuid::parse_str(&id).is_ok(),
            "{id}"
        );
    }
    let r = app.get("/healthz").await?;
    assert!(uuid::Uuid::parse_str(r.headers()["x-request-id"].to_str()?).is_ok());
    Ok(())
}

async fn security_headers_on_every_response(app: TestApp) -> Result<()> {
    for (method, path) in [
        ("GET", "/"),
        ("GET", "/healthz"),
        ("GET", "/nope"),
        ("POST", "/healthz"),
        ("GET", "/static/app.css"),
        ("GET", "/v1/openapi.json"),
    ] {
        let r = app
            .client
            .request(method.parse()?, app.at(path))
            .send()
            .await?;
        let h = r.headers();
        let csp = h["content-security-policy"].to_str()?;
        for d in [
            "default-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
            "form-action 'self'",
        ] {
            assert!(csp.contains(d), "{path}: {csp}");
        }
        assert!(!csp.contains("unsafe-inline"));
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["x-frame-options"], "DENY");
        assert_eq!(h["referrer-policy"], "strict-origin-when-cross-origin");
        assert!(h.contains_key("permissions-policy"));
        assert_eq!(h["cross-origin-opener-policy"], "same-origin");
        assert_eq!(h["cross-origin-resource-policy"], "same-site");
        assert_eq!(h["x-xss-protection"], "0");
        assert!(h.contains_key("x-request-id"));
        assert!(!h.contains_key("x-powered-by"));
        assert!(
            !h.contains_key("strict-transport-security"),
            "no HSTS over plain http"
        );
    }
    Ok(())
}

async fn metrics_count_requests_by_route(app: TestApp) -> Result<()> {
    app.get("/healthz").await?;
    app.get("/healthz").await?;
    app.get("/nope-nope").await?;
    let (addr, task) = rampart::server::start_metrics(
        &app.state,
        &rampart::listener::ListenerConfig::default(),
        "127.0.0.1:0".parse()?,
        None,
    )
    .await?;
    let text = reqwest::get(format!("http://{addr}/metrics"))
        .await?
        .text()
        .await?;
    task.abort();
    assert!(
        text.contains(
            "rampart_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"} 2"
        ),
        "{text}"
    );
    assert!(text.contains("route=\"unmatched\",status=\"404\""));
    assert!(text.contains("rampart_http_request_duration_seconds_bucket{method=\"GET\",route=\"/healthz\",status=\"200\",le=\"+Inf\"} 2"));
    assert!(
        !text.contains("nope-nope"),
        "raw paths must not become series"
    );
    Ok(())
}

/// The metrics listener has the public port's defences: a connection that never
/// finishes its head is closed within the header-read timeout, and one IP cannot hold
/// more than its cap (found by an outside review: it had none, and a flood there
/// could use up the process's file descriptors).
async fn metrics_listener_closes_slow_clients_and_caps_each_ip(app: TestApp) -> Result<()> {
    use std::time::{Duration, Instant};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let lc = rampart::listener::ListenerConfig {
        header_read_timeout: Duration::from_secs(1),
        idle_timeout: Duration::from_secs(2),
        max_connections_per_ip: 3,
        ..Default::default()
    };
    let (addr, task) =
        rampart::server::start_metrics(&app.state, &lc, "127.0.0.1:0".parse()?, None).await?;
    // A half-sent head is closed within the timeout (plus a margin).
    let mut slow = tokio::net::TcpStream::connect(addr).await?;
    slow.write_all(b"GET /metrics HTTP/1.1\r\n").await?;
    let started = Instant::now();
    let mut buf = [0u8; 256];
    let closed = tokio::time::timeout(Duration::from_secs(8), async {
        loop {
            match slow.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the half-open connection was never closed");
    assert!(started.elapsed() < Duration::from_secs(8));
    // Three open connections from one IP fill its cap; a fourth is closed unanswered.
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(tokio::net::TcpStream::connect(addr).await?);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut fourth = tokio::net::TcpStream::connect(addr).await?;
    let _ = fourth
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    let n = tokio::time::timeout(Duration::from_secs(5), fourth.read(&mut buf)).await;
    assert!(
        matches!(n, Ok(Ok(0)) | Ok(Err(_))),
        "the fourth connection from one IP is refused: {n:?}"
    );
    drop(held);
    task.abort();
    Ok(())
}

async fn openapi_lists_every_v1_route(app: TestApp) -> Result<()> {
    let doc: Value = app.get("/v1/openapi.json").await?.json().await?;
    assert_eq!(doc["openapi"], "3.1.0");
    let (_, routes) = rampart_web::build(app.state.clone());
    let mut n = 0;
    for r in routes.iter().filter(|r| r.path.starts_with("/v1")) {
        let op = &doc["paths"][r.path][r.method.as_str().to_ascii_lowercase()];
        assert!(
            op.is_object(),
            "{} {} missing from the OpenAPI document",
            r.method,
            r.path
        );
        n += 1;
    }
    assert!(n >= 1);
    // And nothing documented that is not mounted.
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for method in ops.as_object().unwrap().keys() {
            assert!(
                routes
                    .iter()
                    .any(|r| r.path == path && r.method.as_str().eq_ignore_ascii_case(method)),
                "{method} {path} documented but not mounted"
            );
        }
    }
    Ok(())
}

async fn errors_follow_accept_language(app: TestApp) -> Result<()> {
    let r = app
        .client
        .get(app.at("/v1/nothing"))
        .header("accept-language", "et-EE,et;q=0.9")
        .send()
        .await?;
    let v: Value = r.json().await?;
    assert_eq!(v["title"], "Ei leitud");
    let r = app
        .client
        .get(app.at("/v1/nothing"))
        .header("accept-language", "fr")
        .send()
        .await?;
    let v: Value = r.json().await?;
    assert_eq!(v["title"], "Not found");
    Ok(())
}

async fn home_page_renders_escaped_html(app: TestApp) -> Result<()> {
    let r = app
        .client
        .get(app.at("/"))
        .header("accept-language", "et")
        .send()
        .await?;
    assert_eq!(r.status(), 200);
    let body = r.text().await?;
    assert!(body.contains("<html lang=\"et\">"));
    assert!(body.contains("/static/app.css"));
    assert!(!body.contains("<script"), "pages need no JavaScript");
    let css = app.get("/static/app.css").await?;
    assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");
    Ok(())
}
