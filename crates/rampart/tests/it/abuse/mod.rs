//! Abuse protection (B1–B7) and logging (C5): CSRF on every mutating route, rate
//! limits with their headers, shared limits across processes through Redis, trusted
//! proxies, CORS, input limits and log redaction.

mod cors;
mod csrf;
mod input;
mod process;
mod proxy;
mod ratelimit;

use anyhow::{ensure, Result};
use rampart_test_support::TestApp;
use serde_json::{json, Value};

/// A password the strength check accepts.
pub const PASSWORD: &str = "Plover-Quartz-Marigold-74!";

/// Registers `username` through the API (without an e-mail address: with one, the
/// account only exists once the mailed link is used).
pub async fn register(app: &TestApp, client: &reqwest::Client, username: &str) -> Result<()> {
    let r = client
        .post(app.at("/v1/auth/register"))
        .json(&json!({"username": username, "password": PASSWORD}))
        .send()
        .await?;
    let status = r.status();
    ensure!(
        status == 201,
        "register {username}: {status} {}",
        r.text().await?
    );
    Ok(())
}

/// What a browser-flow login hands out.
pub struct Login {
    /// Bearer access token.
    pub access: String,
    /// CSRF token bound to the session.
    pub csrf: String,
    /// `name=value` of the refresh cookie.
    pub refresh_cookie: String,
}

/// Logs `username` in through `POST /v1/auth/token` (browser flow: refresh cookie).
pub async fn login(app: &TestApp, client: &reqwest::Client, username: &str) -> Result<Login> {
    let r = client
        .post(app.at("/v1/auth/token"))
        .json(&json!({"login": username, "password": PASSWORD}))
        .send()
        .await?;
    ensure!(r.status() == 200, "login {username}: {}", r.status());
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("rampart_refresh="))
        .and_then(|v| v.split(';').next())
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("no refresh cookie"))?;
    let v: Value = r.json().await?;
    Ok(Login {
        access: v["access_token"].as_str().unwrap_or_default().to_owned(),
        csrf: v["csrf_token"].as_str().unwrap_or_default().to_owned(),
        refresh_cookie: cookie,
    })
}

/// A counter's current value.
pub fn counter(app: &TestApp, name: &str, labels: &[(&str, &str)]) -> u64 {
    app.state.metrics.counter(name, labels)
}
