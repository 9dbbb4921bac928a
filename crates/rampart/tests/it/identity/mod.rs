//! Identity abuse tests (A1, A3, A5–A11): each refusal is checked together with the
//! proof that nothing changed.

mod ban;
mod hardening;
mod invites;
mod issue8;
mod keys;
mod lockout;
mod oauth;
mod pat;
mod refresh;
mod reset;
mod sessions;
mod totp;
mod verify;

use anyhow::{bail, Context, Result};
use rampart_identity::ClientCtx;
use rampart_identity::SecretString;
use rampart_kernel::account::Role;
use rampart_test_support::TestApp;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// A strong password (zxcvbn accepts it).
pub const PW: &str = "correct horse battery staple 7";
/// Another strong password.
pub const PW2: &str = "purple elephant dances quietly 42";
/// A third one.
pub const PW3: &str = "seven lazy otters juggle marmalade 9";
/// A wrong password.
pub const WRONG: &str = "wrong horse battery staple 1";

pub const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0";
pub const CHROME: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36";

static NEXT_IP: AtomicU32 = AtomicU32::new(1);

/// A fresh loopback address `127.<subnet>.0.n` — a new per-IP rate-limit key on
/// every call, inside the stable /24 `127.<subnet>.0.0/24` (the session fingerprint).
pub fn fresh_ip(subnet: u8) -> String {
    let n = NEXT_IP.fetch_add(1, Ordering::SeqCst);
    format!("127.{subnet}.0.{}", n % 254 + 1)
}

/// A client from a fresh IP (fresh cookie jar).
pub fn fresh_client(app: &TestApp) -> reqwest::Client {
    app.client_from(&fresh_ip(10))
}

/// A service context.
pub fn ctx() -> ClientCtx {
    ClientCtx {
        ip: Some("127.0.0.1".parse().expect("ip")),
        user_agent: String::new(),
        request_id: None,
    }
}

/// Creates `name` (e-mail `name@example.com`, password [`PW`]) directly in the
/// store (no invite needed); returns the ID.
pub async fn user(app: &TestApp, name: &str) -> Result<String> {
    use rampart_kernel::Clock;
    let phc = app
        .state
        .auth
        .hasher()
        .hash(&SecretString::from(PW))
        .await?;
    let email = format!("{name}@example.com");
    let username = rampart_kernel::Username::parse("username", name)
        .map_err(|e| anyhow::anyhow!("username: {}", e.code))?;
    let email = rampart_kernel::Email::parse("email", &email)
        .map_err(|e| anyhow::anyhow!("email: {}", e.code))?;
    let id = rampart_identity::accounts::create_account(
        app.db(),
        rampart_identity::accounts::NewAccount {
            username: &username,
            email: Some(&email),
            email_verified: true,
            password_hash: &phc,
            role: Role::Customer,
            now: app.clock.now_ms(),
        },
        None,
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?
    .into_string();
    Ok(id)
}

/// Registers `name` with `role`.
pub async fn user_with_role(app: &TestApp, name: &str, role: Role) -> Result<String> {
    let id = user(app, name).await?;
    app.state
        .auth
        .set_role(None, &id, role, &ctx())
        .await
        .map_err(|e| anyhow::anyhow!("set_role: {e}"))?;
    Ok(id)
}

/// POST /v1/auth/token with `body` from `client`.
pub async fn token_req(
    app: &TestApp,
    client: &reqwest::Client,
    body: Value,
) -> Result<reqwest::Response> {
    Ok(client
        .post(app.at("/v1/auth/token"))
        .json(&body)
        .send()
        .await?)
}

/// Native login that must succeed; returns the token body.
pub async fn login(app: &TestApp, login: &str, password: &str) -> Result<Value> {
    login_from(app, &fresh_client(app), login, password).await
}

/// Native login from `client`.
pub async fn login_from(
    app: &TestApp,
    client: &reqwest::Client,
    login: &str,
    password: &str,
) -> Result<Value> {
    let r = token_req(
        app,
        client,
        json!({"login": login, "password": password, "client": "native"}),
    )
    .await?;
    let status = r.status();
    let v: Value = r.json().await?;
    if status != 200 {
        bail!("login {login} failed: {status} {v}");
    }
    Ok(v)
}

/// Native login with a user agent from `ip`.
pub async fn login_ua(
    app: &TestApp,
    ip: &str,
    ua: &str,
    name: &str,
    password: &str,
) -> Result<Value> {
    let c = app.client_from(ip);
    let r = c
        .post(app.at("/v1/auth/token"))
        .header("user-agent", ua)
        .json(&json!({"login": name, "password": password, "client": "native"}))
        .send()
        .await?;
    let status = r.status();
    let v: Value = r.json().await?;
    if status != 200 {
        bail!("login {name} failed: {status} {v}");
    }
    Ok(v)
}

/// `v[key]` as a string.
pub fn s(v: &Value, key: &str) -> String {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} missing in {v}"))
        .to_owned()
}

/// Status and JSON body (problem or not).
pub async fn parts(r: reqwest::Response) -> Result<(u16, Value)> {
    let status = r.status().as_u16();
    let text = r.text().await?;
    let v = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).with_context(|| format!("body: {text}"))?
    };
    Ok((status, v))
}

/// Asserts a problem answer with `status` and `code`.
pub async fn expect_problem(r: reqwest::Response, status: u16, code: &str) -> Result<Value> {
    let (st, v) = parts(r).await?;
    assert_eq!(
        (st, v["code"].as_str().unwrap_or("")),
        (status, code),
        "body: {v}"
    );
    Ok(v)
}

/// GET `path` with a bearer token.
pub async fn get_bearer(app: &TestApp, path: &str, token: &str) -> Result<reqwest::Response> {
    Ok(fresh_client(app)
        .get(app.at(path))
        .bearer_auth(token)
        .send()
        .await?)
}

/// GET /v1/me with a bearer token: status and code.
pub async fn me_status(app: &TestApp, token: &str) -> Result<(u16, String)> {
    let (st, v) = parts(get_bearer(app, "/v1/me", token).await?).await?;
    Ok((st, v["code"].as_str().unwrap_or("").to_owned()))
}

/// Native refresh with a body token from a fresh IP.
pub async fn refresh(app: &TestApp, token: &str) -> Result<reqwest::Response> {
    refresh_from(app, &fresh_client(app), token).await
}

/// Native refresh from `client`.
pub async fn refresh_from(
    app: &TestApp,
    client: &reqwest::Client,
    token: &str,
) -> Result<reqwest::Response> {
    Ok(client
        .post(app.at("/v1/auth/refresh"))
        .json(&json!({"refresh_token": token}))
        .send()
        .await?)
}

/// The problem body without its per-request parts, for "looks the same" checks.
pub fn shape(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(o) = v.as_object_mut() {
        o.remove("request_id");
    }
    v
}

/// Rows of `table` matching `where_`.
pub async fn count_where(app: &TestApp, table: &str, where_: &str) -> Result<i64> {
    rampart_test_support::count_rows(app.db(), &format!("{table} WHERE {where_}")).await
}

/// Waits for the `n`-th mail of `kind` to `email`; returns all of that kind, newest first.
pub async fn wait_mail(app: &TestApp, email: &str, kind: &str, n: usize) -> Result<Vec<String>> {
    for _ in 0..200 {
        let mails: Vec<String> = rampart_identity::outbox::mail_for(app.db(), email)
            .await?
            .into_iter()
            .filter(|m| m.kind == kind)
            .map(|m| m.body)
            .collect();
        if mails.len() >= n {
            return Ok(mails);
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    bail!("no {kind} mail #{n} for {email}")
}

/// Mails of `kind` to `email` right now.
pub async fn mail_count(app: &TestApp, email: &str, kind: &str) -> Result<usize> {
    Ok(rampart_identity::outbox::mail_for(app.db(), email)
        .await?
        .iter()
        .filter(|m| m.kind == kind)
        .count())
}

/// The reset token in a reset mail.
pub fn reset_token_of(body: &str) -> String {
    let rest = body.split("token=").nth(1).expect("token in mail");
    rest.split_whitespace().next().expect("token").to_owned()
}

/// The current TOTP code of `secret`.
pub fn totp_now(app: &TestApp, secret: &[u8], offset_steps: i64) -> String {
    let step =
        rampart_identity::totp::step_at(app.clock_secs()).expect("step") as i64 + offset_steps;
    rampart_identity::totp::code_at(secret, step as u64)
}

/// Seconds on the test clock.
pub trait ClockSecs {
    /// Now in whole seconds.
    fn clock_secs(&self) -> i64;
}

impl ClockSecs for TestApp {
    fn clock_secs(&self) -> i64 {
        use rampart_kernel::Clock;
        self.clock.now_ms() / 1000
    }
}

/// Enrols TOTP through the API for the bearer's account; returns the secret, the
/// recovery codes and the new access token (enrolment ends the old one).
pub async fn enrol_totp(app: &TestApp, bearer: &str) -> Result<(Vec<u8>, Vec<String>, String)> {
    let c = fresh_client(app);
    let r = c
        .post(app.at("/v1/me/totp"))
        .bearer_auth(bearer)
        .send()
        .await?;
    let (st, v) = parts(r).await?;
    assert_eq!(st, 200, "{v}");
    let secret = rampart_identity::totp::base32_decode(&s(&v, "secret")).expect("base32 secret");
    let code = totp_now(app, &secret, 0);
    let r = c
        .post(app.at("/v1/me/totp/confirm"))
        .bearer_auth(bearer)
        .json(&json!({"code": code}))
        .send()
        .await?;
    let (st, v) = parts(r).await?;
    assert_eq!(st, 200, "{v}");
    let codes: Vec<String> = v["recovery_codes"]
        .as_array()
        .expect("codes")
        .iter()
        .map(|c| c.as_str().expect("code").to_owned())
        .collect();
    Ok((secret, codes, s(&v, "access_token")))
}

/// An admin with TOTP enrolled; returns the ID, a working access token and the secret.
pub async fn admin_with_totp(app: &TestApp, name: &str) -> Result<(String, String, Vec<u8>)> {
    let id = user_with_role(app, name, Role::Admin).await?;
    let t = login(app, name, PW).await?;
    let bearer = s(&t, "access_token");
    let (secret, _, _) = enrol_totp(app, &bearer).await?;
    // The next step so the enrolment code is not a replay.
    app.clock.advance_secs(30);
    let c = fresh_client(app);
    let r = token_req(
        app,
        &c,
        json!({"login": name, "password": PW, "client": "native", "totp": totp_now(app, &secret, 0)}),
    )
    .await?;
    let (st, v) = parts(r).await?;
    assert_eq!(st, 200, "admin login: {v}");
    Ok((id, s(&v, "access_token"), secret))
}

/// The first hidden `csrf_token` value of a page (empty if none).
pub fn csrf_of(html: &str) -> String {
    let marker = "name=\"csrf_token\" value=\"";
    html.find(marker)
        .map(|i| i + marker.len())
        .and_then(|s| html[s..].find('"').map(|e| html[s..s + e].to_owned()))
        .unwrap_or_default()
}

/// Logs `name` in through the login form (with a TOTP code when enrolled) from a
/// fresh address in `127.{subnet}.0.0/24`, going to `next`; the returned client
/// keeps the session cookie.
pub async fn web_login(
    app: &TestApp,
    subnet: u8,
    name: &str,
    totp: Option<&str>,
    next: &str,
) -> Result<reqwest::Client> {
    let c = app.client_from(&fresh_ip(subnet));
    let t = csrf_of(&c.get(app.at("/login")).send().await?.text().await?);
    let r = c
        .post(app.at("/login"))
        .form(&[
            ("csrf_token", t.as_str()),
            ("login", name),
            ("password", PW),
            ("totp", totp.unwrap_or_default()),
            ("next", next),
        ])
        .send()
        .await?;
    if r.status() != 303 {
        bail!("browser login for {name}: {}", r.status());
    }
    Ok(c)
}
