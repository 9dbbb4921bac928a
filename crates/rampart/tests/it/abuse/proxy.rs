//! Client IP behind proxies: a forwarding header is believed only from a configured
//! trusted proxy, and then only its right-most untrusted entry.

use anyhow::Result;
use rampart_test_support::{both_engines, TestApp};
use serde_json::json;

both_engines!(
    forwarded_for_from_untrusted_peer_is_ignored,
    forwarded_for_from_trusted_proxy_is_used
);

async fn attempt(app: &TestApp, c: &reqwest::Client, xff: &str) -> Result<u16> {
    Ok(c.post(app.at("/v1/auth/register"))
        .header("x-forwarded-for", xff)
        .json(&json!({}))
        .send()
        .await?
        .status()
        .as_u16())
}

async fn forwarded_for_from_untrusted_peer_is_ignored(app: TestApp) -> Result<()> {
    let c = app.client_from("127.0.0.71");
    for i in 0..5 {
        assert_eq!(attempt(&app, &c, &format!("198.51.100.{i}")).await?, 422);
    }
    // Rotating the header does not escape the per-IP budget of the real peer.
    for i in 5..10 {
        assert_eq!(
            attempt(&app, &c, &format!("198.51.100.{i}")).await?,
            429,
            "XFF must not be believed"
        );
    }
    assert_eq!(attempt(&app, &c, "").await?, 429);
    Ok(())
}

async fn forwarded_for_from_trusted_proxy_is_used(app: TestApp) -> Result<()> {
    let engine = app.engine;
    app.stop().await;
    let Some(app) = TestApp::builder(engine)
        .config(|c| c.trusted_proxies = vec!["127.0.0.1".parse().expect("ip")])
        .spawn()
        .await?
    else {
        return Ok(());
    };
    let proxy = app.client_from("127.0.0.1");
    for _ in 0..5 {
        assert_eq!(attempt(&app, &proxy, "203.0.113.5").await?, 422);
    }
    assert_eq!(attempt(&app, &proxy, "203.0.113.5").await?, 429);
    // A different client behind the same proxy has its own budget.
    assert_eq!(attempt(&app, &proxy, "203.0.113.6").await?, 422);
    // The proxy appends the real peer; whatever the client put on the left is not trusted.
    for spoof in ["198.51.100.1", "203.0.113.99", "127.0.0.1"] {
        assert_eq!(
            attempt(&app, &proxy, &format!("{spoof}, 203.0.113.5")).await?,
            429,
            "spoofed left-most entry {spoof} escaped the limit"
        );
    }
    // A proxy that adds its own header line after the one the client sent: the lines
    // form one list (RFC 9110 §5.3), so the client's line is still on the left.
    for i in 0..3 {
        let status = proxy
            .post(app.at("/v1/auth/register"))
            .header("x-forwarded-for", format!("198.51.100.{i}"))
            .header("x-forwarded-for", "203.0.113.5")
            .json(&json!({}))
            .send()
            .await?
            .status();
        assert_eq!(
            status, 429,
            "a client-sent first header line escaped the limit"
        );
    }
    // A chain of trusted proxies is skipped from the right.
    assert_eq!(attempt(&app, &proxy, "203.0.113.5, 127.0.0.1").await?, 429);
    // A peer that is not a trusted proxy cannot borrow a fresh client's budget…
    let other = app.client_from("127.0.0.72");
    for i in 0..5 {
        assert_eq!(
            attempt(&app, &other, &format!("203.0.113.{}", 10 + i)).await?,
            422
        );
    }
    assert_eq!(attempt(&app, &other, "203.0.113.50").await?, 429);
    // …and did not spend 203.0.113.10's either.
    assert_eq!(attempt(&app, &proxy, "203.0.113.10").await?, 422);
    Ok(())
}
