//! Issue 8, hardening from an outside attack on the running server: each test sends
//! the attack, checks the refusal and that nothing changed.

use super::*;
use rampart_test_support::{both_engines, TestApp};

both_engines!(
    idle_staff_api_session_does_not_come_back,
    customer_refresh_within_idle_timeout_moves_it,
    web_password_change_ends_pats_and_rotates_the_session,
    web_password_change_may_keep_pats,
    api_password_change_ends_pats,
    api_totp_enrolment_replaces_the_token_pair,
    wrong_enrolment_codes_count_toward_the_lockout,
    metrics_are_not_on_the_public_port,
    metrics_listener_needs_the_bearer_secret,
    unknown_and_known_accounts_move_the_same_counters,
);

/// The session's idle expiry, straight from the database.
async fn idle_expiry(app: &TestApp, sid: &str) -> Result<i64> {
    let v = rampart_test_support::text_value(
        app.db(),
        "SELECT CAST(idle_expires_at AS TEXT) FROM sessions WHERE id = $1",
        sid,
    )
    .await?
    .context("session row")?;
    Ok(v.parse()?)
}

async fn idle_staff_api_session_does_not_come_back(app: TestApp) -> Result<()> {
    user_with_role(&app, "idlestaff", Role::Staff).await?;
    let t0 = login(&app, "idlestaff", PW).await?;
    let sid = s(&t0, "session_id");
    let r0 = s(&t0, "refresh_token");
    let idle_before = idle_expiry(&app, &sid).await?;
    // 31 minutes without a request: past the 30-minute staff idle timeout, well
    // inside the 8-hour absolute one.
    app.clock.advance_secs(31 * 60);
    expect_problem(refresh(&app, &r0).await?, 401, "refresh_token_expired").await?;
    // It stays dead: a second try fails the same way, nothing rotated or moved.
    expect_problem(refresh(&app, &r0).await?, 401, "refresh_token_expired").await?;
    assert_eq!(idle_expiry(&app, &sid).await?, idle_before);
    assert_eq!(
        count_where(&app, "refresh_tokens", &format!("session_id = '{sid}'")).await?,
        1,
        "no successor was minted"
    );
    assert_eq!(
        me_status(&app, &s(&t0, "access_token")).await?.0,
        401,
        "the old access token is dead too"
    );
    Ok(())
}

async fn customer_refresh_within_idle_timeout_moves_it(app: TestApp) -> Result<()> {
    user(&app, "idlecust").await?;
    let t0 = login(&app, "idlecust", PW).await?;
    let sid = s(&t0, "session_id");
    let idle0 = idle_expiry(&app, &sid).await?;
    // 11 h idle: inside the 12-hour customer idle timeout.
    app.clock.advance_secs(11 * 3600);
    let (st, t1) = parts(refresh(&app, &s(&t0, "refresh_token")).await?).await?;
    assert_eq!(st, 200, "{t1}");
    let idle1 = idle_expiry(&app, &sid).await?;
    assert_eq!(
        idle1 - idle0,
        11 * 3600 * 1000,
        "the idle expiry moved forward"
    );
    assert_eq!(me_status(&app, &s(&t1, "access_token")).await?.0, 200);
    // Another 11 h: still alive, because the refresh moved the idle expiry.
    app.clock.advance_secs(11 * 3600);
    let (st, t2) = parts(refresh(&app, &s(&t1, "refresh_token")).await?).await?;
    assert_eq!(st, 200, "{t2}");
    // 12 h 1 s without a refresh: over.
    app.clock.advance_secs(12 * 3600 + 1);
    expect_problem(
        refresh(&app, &s(&t2, "refresh_token")).await?,
        401,
        "refresh_token_expired",
    )
    .await?;
    Ok(())
}

/// The hidden `csrf_token` of a page.
async fn form_token(c: &reqwest::Client, url: String) -> Result<String> {
    let html = c.get(url).send().await?.text().await?;
    let marker = "name=\"csrf_token\" value=\"";
    let start = html.find(marker).context("csrf_token field")? + marker.len();
    let end = html[start..].find('"').context("end of token")? + start;
    Ok(html[start..end].to_owned())
}

/// The session cookie value a response sets.
fn session_cookie_of(r: &reqwest::Response) -> Option<String> {
    r.headers().get_all("set-cookie").iter().find_map(|v| {
        v.to_str()
            .ok()?
            .strip_prefix("rampart_session=")
            .map(|v| v.split(';').next().unwrap_or("").to_owned())
            .filter(|v| !v.is_empty())
    })
}

/// GET `path` with only `cookie` as the session (no jar).
async fn with_session(app: &TestApp, path: &str, cookie: &str) -> Result<u16> {
    let c = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    Ok(c.get(app.at(path))
        .header("cookie", format!("rampart_session={cookie}"))
        .send()
        .await?
        .status()
        .as_u16())
}

/// Signs in through the login form; returns the client (with its jar) and the cookie.
async fn web_login(app: &TestApp, name: &str) -> Result<(reqwest::Client, String)> {
    let c = fresh_client(app);
    let t = form_token(&c, app.at("/login")).await?;
    let r = c
        .post(app.at("/login"))
        .form(&[
            ("csrf_token", t.as_str()),
            ("login", name),
            ("password", PW),
            ("next", "/settings"),
        ])
        .send()
        .await?;
    assert_eq!(r.status(), 303);
    let cookie = session_cookie_of(&r).context("session cookie")?;
    Ok((c, cookie))
}

/// Creates a PAT through the API for `name`; returns it.
async fn make_pat(app: &TestApp, name: &str) -> Result<String> {
    let t = login(app, name, PW).await?;
    let r = fresh_client(app)
        .post(app.at("/v1/tokens"))
        .bearer_auth(s(&t, "access_token"))
        .json(&json!({"name": "ci", "scopes": ["profile:read"]}))
        .send()
        .await?;
    assert_eq!(r.status(), 201);
    let pat = s(&r.json::<Value>().await?, "token");
    assert_eq!(me_status(app, &pat).await?.0, 200);
    Ok(pat)
}

async fn web_change(app: &TestApp, c: &reqwest::Client, keep: bool) -> Result<reqwest::Response> {
    let t = form_token(c, app.at("/settings/password")).await?;
    let mut form = vec![
        ("csrf_token", t.as_str()),
        ("current_password", PW),
        ("new_password", PW2),
    ];
    if keep {
        form.push(("keep_tokens", "1"));
    }
    Ok(c.post(app.at("/settings/password"))
        .form(&form)
        .send()
        .await?)
}

async fn web_password_change_ends_pats_and_rotates_the_session(app: TestApp) -> Result<()> {
    let id = user(&app, "pwweb").await?;
    let pat = make_pat(&app, "pwweb").await?;
    let (c, old_cookie) = web_login(&app, "pwweb").await?;
    assert_eq!(with_session(&app, "/settings", &old_cookie).await?, 200);
    let r = web_change(&app, &c, false).await?;
    assert_eq!(r.status(), 303);
    let new_cookie = session_cookie_of(&r).context("a rotated session cookie")?;
    assert_ne!(new_cookie, old_cookie);
    // The old cookie value is dead (redirect to the login page); the new one works.
    assert_eq!(with_session(&app, "/settings", &old_cookie).await?, 303);
    assert_eq!(with_session(&app, "/settings", &new_cookie).await?, 200);
    assert_eq!(c.get(app.at("/settings")).send().await?.status(), 200);
    // The PAT is gone.
    assert_eq!(me_status(&app, &pat).await?.0, 401);
    assert_eq!(
        count_where(&app, "personal_access_tokens", &format!("user_id = '{id}'")).await?,
        0
    );
    Ok(())
}

async fn web_password_change_may_keep_pats(app: TestApp) -> Result<()> {
    user(&app, "pwkeep").await?;
    let pat = make_pat(&app, "pwkeep").await?;
    let (c, old_cookie) = web_login(&app, "pwkeep").await?;
    let r = web_change(&app, &c, true).await?;
    assert_eq!(r.status(), 303);
    assert_eq!(with_session(&app, "/settings", &old_cookie).await?, 303);
    assert_eq!(me_status(&app, &pat).await?.0, 200, "kept on request");
    Ok(())
}

async fn api_password_change_ends_pats(app: TestApp) -> Result<()> {
    let id = user(&app, "pwapi").await?;
    let pat = make_pat(&app, "pwapi").await?;
    let t = login(&app, "pwapi", PW).await?;
    // A PAT cannot change the password (interactive only): refused, nothing changed.
    let r = fresh_client(&app)
        .post(app.at("/v1/me/password"))
        .bearer_auth(&pat)
        .json(&json!({"current_password": PW, "new_password": PW2}))
        .send()
        .await?;
    assert!(r.status().is_client_error());
    assert_eq!(me_status(&app, &pat).await?.0, 200);
    let r = fresh_client(&app)
        .post(app.at("/v1/me/password"))
        .bearer_auth(s(&t, "access_token"))
        .json(&json!({"current_password": PW, "new_password": PW2}))
        .send()
        .await?;
    assert_eq!(r.status(), 204);
    assert_eq!(me_status(&app, &pat).await?.0, 401);
    assert_eq!(
        count_where(&app, "personal_access_tokens", &format!("user_id = '{id}'")).await?,
        0
    );
    Ok(())
}

async fn api_totp_enrolment_replaces_the_token_pair(app: TestApp) -> Result<()> {
    user(&app, "enrolapi").await?;
    let t0 = login(&app, "enrolapi", PW).await?;
    let at0 = s(&t0, "access_token");
    let rt0 = s(&t0, "refresh_token");
    let c = fresh_client(&app);
    let begin: Value = c
        .post(app.at("/v1/me/totp"))
        .bearer_auth(&at0)
        .send()
        .await?
        .json()
        .await?;
    let secret = rampart_identity::totp::base32_decode(&s(&begin, "secret")).context("secret")?;
    let r = c
        .post(app.at("/v1/me/totp/confirm"))
        .bearer_auth(&at0)
        .json(&json!({"code": totp_now(&app, &secret, 0)}))
        .send()
        .await?;
    let (st, v) = parts(r).await?;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["recovery_codes"].as_array().map(Vec::len), Some(10));
    let at1 = s(&v, "access_token");
    let rt1 = s(&v, "refresh_token");
    assert_ne!(s(&v, "session_id"), s(&t0, "session_id"));
    // The pre-enrolment credentials are dead.
    assert_eq!(me_status(&app, &at0).await?, (401, "token_revoked".into()));
    expect_problem(refresh(&app, &rt0).await?, 401, "token_revoked").await?;
    // The new pair works.
    assert_eq!(me_status(&app, &at1).await?.0, 200);
    let (st, v) = parts(refresh(&app, &rt1).await?).await?;
    assert_eq!(st, 200, "{v}");
    Ok(())
}

async fn wrong_enrolment_codes_count_toward_the_lockout(app: TestApp) -> Result<()> {
    user(&app, "enrolbad").await?;
    let t = login(&app, "enrolbad", PW).await?;
    let at = s(&t, "access_token");
    let c = fresh_client(&app);
    let begin: Value = c
        .post(app.at("/v1/me/totp"))
        .bearer_auth(&at)
        .send()
        .await?
        .json()
        .await?;
    let secret = rampart_identity::totp::base32_decode(&s(&begin, "secret")).context("secret")?;
    let valid: Vec<String> = (-1..=1).map(|o| totp_now(&app, &secret, o)).collect();
    let wrong: Vec<String> = (0..20)
        .map(|k| format!("{k:06}"))
        .filter(|c| !valid.contains(c))
        .take(5)
        .collect();
    for code in &wrong {
        let r = c
            .post(app.at("/v1/me/totp/confirm"))
            .bearer_auth(&at)
            .json(&json!({"code": code}))
            .send()
            .await?;
        assert_eq!(r.status(), 401);
    }
    let locked = rampart_test_support::text_value(
        app.db(),
        "SELECT CAST(locked_until AS TEXT) FROM users WHERE username = $1",
        "enrolbad",
    )
    .await?;
    assert!(
        locked.is_some(),
        "five wrong enrolment codes lock the account"
    );
    // Locked: even the right password gets the generic refusal; TOTP stays off.
    let r = token_req(
        &app,
        &fresh_client(&app),
        json!({"login": "enrolbad", "password": PW, "client": "native"}),
    )
    .await?;
    expect_problem(r, 401, "invalid_credentials").await?;
    let u = app
        .state
        .auth
        .account_by_login("enrolbad")
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .context("account")?;
    assert!(!u.totp_enabled);
    Ok(())
}

async fn metrics_are_not_on_the_public_port(app: TestApp) -> Result<()> {
    user(&app, "metricsvictim").await?;
    for path in ["/metrics", "/metrics/", "/v1/metrics"] {
        let r = fresh_client(&app).get(app.at(path)).send().await?;
        assert_eq!(r.status(), 404, "{path}");
        let body = r.text().await?;
        assert!(!body.contains("rampart_"), "{path}: {body}");
    }
    Ok(())
}

async fn metrics_listener_needs_the_bearer_secret(app: TestApp) -> Result<()> {
    let token = "a-metrics-bearer-secret-of-32-chars!";
    let (addr, task) = rampart::server::start_metrics(
        &app.state,
        &rampart::listener::ListenerConfig::default(),
        "127.0.0.1:0".parse()?,
        Some(token),
    )
    .await?;
    let url = format!("http://{addr}/metrics");
    let c = reqwest::Client::new();
    let r = c.get(&url).send().await?;
    assert_eq!(r.status(), 401);
    assert!(!r.text().await?.contains("rampart_"));
    let r = c
        .get(&url)
        .bearer_auth("a-metrics-bearer-secret-of-32-chars?")
        .send()
        .await?;
    assert_eq!(r.status(), 401);
    let r = c.get(&url).bearer_auth(token).send().await?;
    assert_eq!(r.status(), 200);
    assert!(r.text().await?.contains("rampart_"));
    // Only /metrics is served there.
    assert_eq!(
        c.get(format!("http://{addr}/healthz"))
            .send()
            .await?
            .status(),
        404
    );
    task.abort();
    Ok(())
}

/// Counter values by series (histograms of durations left out: they measure time).
fn counters(app: &TestApp) -> std::collections::BTreeMap<String, f64> {
    app.state
        .metrics
        .render()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.contains("_duration_"))
        .filter_map(|l| {
            let (k, v) = l.rsplit_once(' ')?;
            Some((k.to_owned(), v.parse().ok()?))
        })
        .collect()
}

fn delta(
    before: &std::collections::BTreeMap<String, f64>,
    after: &std::collections::BTreeMap<String, f64>,
) -> std::collections::BTreeMap<String, f64> {
    after
        .iter()
        .filter_map(|(k, v)| {
            let d = v - before.get(k).copied().unwrap_or(0.0);
            (d != 0.0).then(|| (k.clone(), d))
        })
        .collect()
}

/// Seven wrong logins for `name`, each from a fresh address; the answers without
/// their per-request parts.
async fn wrong_logins(
    app: &TestApp,
    name: &str,
) -> Result<Vec<(u16, Vec<(String, String)>, Value)>> {
    let mut out = Vec::new();
    for _ in 0..7 {
        let r = token_req(
            app,
            &fresh_client(app),
            json!({"login": name, "password": WRONG, "client": "native"}),
        )
        .await?;
        let headers: Vec<(String, String)> = r
            .headers()
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "date" | "x-request-id"))
            .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
            .collect();
        let (st, v) = parts(r).await?;
        out.push((st, headers, shape(&v)));
    }
    Ok(out)
}

async fn unknown_and_known_accounts_move_the_same_counters(app: TestApp) -> Result<()> {
    user(&app, "realperson").await?;
    let c0 = counters(&app);
    let known = wrong_logins(&app, "realperson").await?;
    let c1 = counters(&app);
    let unknown = wrong_logins(&app, "nosuchperson").await?;
    let c2 = counters(&app);
    let (d_known, d_unknown) = (delta(&c0, &c1), delta(&c1, &c2));
    assert_eq!(d_known, d_unknown, "metric deltas differ");
    assert!(
        d_known.keys().any(|k| k.contains("event=\"lockout\"")),
        "the lockout is counted: {d_known:?}"
    );
    assert_eq!(known, unknown, "answers differ");
    // The real account is locked (the right password is refused for now), nothing
    // else changed: no session was opened.
    let r = token_req(
        &app,
        &fresh_client(&app),
        json!({"login": "realperson", "password": PW, "client": "native"}),
    )
    .await?;
    expect_problem(r, 401, "invalid_credentials").await?;
    assert_eq!(count_where(&app, "sessions", "1 = 1").await?, 0);
    Ok(())
}
