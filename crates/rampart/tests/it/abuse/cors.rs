//! B6: CORS only for listed origins, with credentials, and a correct preflight.

use anyhow::Result;
use rampart_test_support::{both_engines, TestApp};

both_engines!(cors_allowlist_and_preflight, no_cors_without_configuration);

async fn preflight(app: &TestApp, origin: &str) -> Result<reqwest::Response> {
    Ok(app
        .new_client()
        .request(reqwest::Method::OPTIONS, app.at("/v1/auth/token"))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "x-csrf-token, authorization, content-type",
        )
        .send()
        .await?)
}

fn h<'a>(r: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    r.headers().get(name).and_then(|v| v.to_str().ok())
}

async fn cors_allowlist_and_preflight(app: TestApp) -> Result<()> {
    let engine = app.engine;
    app.stop().await;
    let Some(app) = TestApp::builder(engine)
        .config(|c| c.cors_origins = vec!["https://app.example".into()])
        .spawn()
        .await?
    else {
        return Ok(());
    };
    let r = preflight(&app, "https://app.example").await?;
    assert!(r.status().is_success(), "{}", r.status());
    assert_eq!(
        h(&r, "access-control-allow-origin"),
        Some("https://app.example")
    );
    assert_eq!(h(&r, "access-control-allow-credentials"), Some("true"));
    let methods = h(&r, "access-control-allow-methods")
        .unwrap_or_default()
        .to_ascii_uppercase();
    assert!(methods.contains("POST"), "{methods}");
    let allowed = h(&r, "access-control-allow-headers")
        .unwrap_or_default()
        .to_ascii_lowercase();
    for want in ["x-csrf-token", "authorization", "content-type"] {
        assert!(allowed.contains(want), "{want} not in {allowed}");
    }
    let vary: Vec<String> = r
        .headers()
        .get_all("vary")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|v| v.trim().to_ascii_lowercase())
        .collect();
    assert!(vary.iter().any(|v| v == "origin"), "Vary {vary:?}");
    assert!(h(&r, "access-control-allow-origin") != Some("*"));

    // An actual request from the listed origin gets the headers too.
    let r = app
        .new_client()
        .get(app.at("/v1/openapi.json"))
        .header("origin", "https://app.example")
        .send()
        .await?;
    assert_eq!(
        h(&r, "access-control-allow-origin"),
        Some("https://app.example")
    );
    assert_eq!(h(&r, "access-control-allow-credentials"), Some("true"));

    // Unlisted origins (including look-alikes) get nothing to read with.
    for origin in [
        "https://evil.example",
        "https://app.example.evil.example",
        "http://app.example",
        "null",
    ] {
        let r = preflight(&app, origin).await?;
        assert!(
            h(&r, "access-control-allow-origin").is_none(),
            "{origin} allowed"
        );
        assert!(
            h(&r, "access-control-allow-credentials").is_none(),
            "{origin} told credentials are allowed (preflight)"
        );
        let r = app
            .new_client()
            .get(app.at("/v1/openapi.json"))
            .header("origin", origin)
            .send()
            .await?;
        assert!(
            h(&r, "access-control-allow-origin").is_none(),
            "{origin} allowed"
        );
        assert!(
            h(&r, "access-control-allow-credentials").is_none(),
            "{origin} told credentials are allowed"
        );
    }
    Ok(())
}

async fn no_cors_without_configuration(app: TestApp) -> Result<()> {
    let r = preflight(&app, "https://app.example").await?;
    let cors: Vec<_> = r
        .headers()
        .keys()
        .filter(|k| k.as_str().starts_with("access-control-"))
        .collect();
    assert!(cors.is_empty(), "{cors:?}");
    let r = app
        .new_client()
        .get(app.at("/v1/openapi.json"))
        .header("origin", "https://app.example")
        .send()
        .await?;
    assert!(r
        .headers()
        .keys()
        .all(|k| !k.as_str().starts_with("access-control-")));
    Ok(())
}
