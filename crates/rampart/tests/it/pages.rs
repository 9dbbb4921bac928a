//! The server-rendered account pages over HTTP: forms, CSRF, cookies, sessions, 2FA,
//! personal access tokens and escaping.
//!
//! Documented choice: a failed login (wrong password, unknown user, missing or wrong
//! two-factor code) answers **401** with the login form again and the generic message
//! "Invalid credentials"; the two cases are indistinguishable.

use anyhow::Result;
use rampart_kernel::Clock as _;
use rampart_test_support::{both_engines, count_rows, TestApp};
use reqwest::{Client, Response, StatusCode};

both_engines!(
    login_sets_a_fresh_hardened_session_cookie,
    login_form_without_token_is_refused,
    cross_site_form_is_refused,
    wrong_password_and_unknown_user_look_the_same,
    logout_clears_the_cookie_and_ends_the_session,
    password_change_ends_other_sessions,
    tokens_page_shows_a_new_token_once,
    two_factor_enrolment_and_login,
    hostile_input_is_refused_or_escaped,
    recovery_always_answers_the_same,
    settings_pages_need_a_browser_session,
    verification_link_page_confirms_only_on_post,
);

const PASSWORD: &str = "violet-Harbour-kettle-1987";
const NEW_PASSWORD: &str = "amber-Lantern-sparrow-2046";

/// The value of the first hidden `csrf_token` field of a page.
fn csrf_of(html: &str) -> String {
    let marker = "name=\"csrf_token\" value=\"";
    let start = html
        .find(marker)
        .unwrap_or_else(|| panic!("no csrf_token in {html}"))
        + marker.len();
    let end = html[start..].find('"').unwrap() + start;
    html[start..end].to_owned()
}

/// Text between `before` and the next `after`.
fn between<'a>(html: &'a str, before: &str, after: &str) -> Option<&'a str> {
    let start = html.find(before)? + before.len();
    let end = html[start..].find(after)? + start;
    Some(&html[start..end])
}

/// GETs a page and returns its form token.
async fn token(app: &TestApp, client: &Client, path: &str) -> Result<String> {
    let r = client.get(app.at(path)).send().await?;
    assert_eq!(r.status(), 200, "GET {path}");
    Ok(csrf_of(&r.text().await?))
}

async fn post_form(
    app: &TestApp,
    client: &Client,
    path: &str,
    form: &[(&str, &str)],
) -> Result<Response> {
    Ok(client.post(app.at(path)).form(form).send().await?)
}

async fn register(app: &TestApp, client: &Client, username: &str) -> Result<()> {
    let t = token(app, client, "/register").await?;
    let r = post_form(
        app,
        client,
        "/register",
        &[
            ("csrf_token", &t),
            ("username", username),
            ("password", PASSWORD),
        ],
    )
    .await?;
    assert_eq!(r.status(), 303, "{}", r.text().await?);
    assert_eq!(r.headers()["location"], "/login?notice=registered");
    Ok(())
}

async fn login_with(
    app: &TestApp,
    client: &Client,
    username: &str,
    password: &str,
    next: &str,
) -> Result<Response> {
    let t = token(app, client, "/login").await?;
    post_form(
        app,
        client,
        "/login",
        &[
            ("csrf_token", &t),
            ("login", username),
            ("password", password),
            ("next", next),
        ],
    )
    .await
}

async fn login(app: &TestApp, client: &Client, username: &str) -> Result<String> {
    let r = login_with(app, client, username, PASSWORD, "/settings").await?;
    assert_eq!(r.status(), 303);
    session_cookie(&r).ok_or_else(|| anyhow::anyhow!("no session cookie"))
}

/// The `Set-Cookie` lines of a response.
fn set_cookies(r: &Response) -> Vec<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

/// The new session cookie value set by a response.
fn session_cookie(r: &Response) -> Option<String> {
    set_cookies(r)
        .iter()
        .find_map(|c| {
            c.strip_prefix("rampart_session=")
                .map(|v| v.split(';').next().unwrap_or("").to_owned())
        })
        .filter(|v| !v.is_empty())
}

/// A client without a cookie jar, for replaying a cookie by hand.
fn bare_client() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn with_cookie(app: &TestApp, path: &str, cookie: &str) -> Result<Response> {
    Ok(bare_client()
        .get(app.at(path))
        .header("cookie", format!("rampart_session={cookie}"))
        .send()
        .await?)
}

async fn login_sets_a_fresh_hardened_session_cookie(app: TestApp) -> Result<()> {
    let c = &app.client;
    // The first form page sets the pre-session cookie its token is bound to.
    let r = c.get(app.at("/login?next=/settings")).send().await?;
    let pre = set_cookies(&r);
    assert!(
        pre.iter().any(|s| s.starts_with("rampart_csrf=")
            && s.contains("HttpOnly")
            && s.contains("SameSite=Lax")),
        "{pre:?}"
    );
    let body = r.text().await?;
    assert!(body.contains("name=\"next\" value=\"/settings\""));
    register(&app, c, "alice").await?;

    let r = login_with(&app, c, "alice", PASSWORD, "/settings").await?;
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/settings");
    let cookies = set_cookies(&r);
    let sc = cookies
        .iter()
        .find(|s| s.starts_with("rampart_session="))
        .expect("session cookie");
    for attr in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age="] {
        assert!(sc.contains(attr), "{sc}");
    }
    assert!(
        cookies
            .iter()
            .any(|s| s.starts_with("rampart_csrf=;") && s.contains("Max-Age=0")),
        "pre-session cookie cleared: {cookies:?}"
    );
    let first = session_cookie(&r).unwrap();

    let r = c.get(app.at("/settings")).send().await?;
    assert_eq!(r.status(), 200);
    let html = r.text().await?;
    assert!(html.contains("alice") && html.contains("customer"));
    // The home page shows the signed-in user and a working logout form.
    let home = c.get(app.at("/")).send().await?.text().await?;
    assert!(home.contains("action=\"/logout\"") && home.contains("alice"));

    // Logging in again gives a new session ID and ends the old session.
    let r = login_with(&app, c, "alice", PASSWORD, "//evil.example/x").await?;
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/", "an off-site next is ignored");
    let second = session_cookie(&r).unwrap();
    assert_ne!(first, second);
    assert_ne!(
        first.split('.').next(),
        second.split('.').next(),
        "new session ID"
    );
    assert_eq!(with_cookie(&app, "/settings", &first).await?.status(), 303);
    assert_eq!(with_cookie(&app, "/settings", &second).await?.status(), 200);
    Ok(())
}

async fn login_form_without_token_is_refused(app: TestApp) -> Result<()> {
    let c = &app.client;
    register(&app, c, "bob").await?;
    let before = count_rows(app.db(), "sessions").await?;
    token(&app, c, "/login").await?; // has the pre-session cookie, sends no token
    let r = post_form(
        &app,
        c,
        "/login",
        &[("login", "bob"), ("password", PASSWORD)],
    )
    .await?;
    assert_eq!(r.status(), 403);
    assert!(r.text().await?.contains("csrf_token_missing"));
    // A token minted for another browser does not fit this one.
    let other = app.new_client();
    let foreign = token(&app, &other, "/login").await?;
    let r = post_form(
        &app,
        c,
        "/login",
        &[
            ("csrf_token", &foreign),
            ("login", "bob"),
            ("password", PASSWORD),
        ],
    )
    .await?;
    assert_eq!(r.status(), 403);
    assert!(r.text().await?.contains("csrf_token_invalid"));
    assert_eq!(count_rows(app.db(), "sessions").await?, before);
    assert_eq!(before, 0);
    Ok(())
}

async fn cross_site_form_is_refused(app: TestApp) -> Result<()> {
    let c = &app.client;
    register(&app, c, "carol").await?;
    let users = count_rows(app.db(), "users").await?;
    let t = token(&app, c, "/login").await?;
    let r = c
        .post(app.at("/login"))
        .header("origin", "https://evil.example")
        .form(&[
            ("csrf_token", t.as_str()),
            ("login", "carol"),
            ("password", PASSWORD),
        ])
        .send()
        .await?;
    assert_eq!(r.status(), 403);
    assert!(r.text().await?.contains("csrf_origin_mismatch"));
    assert_eq!(count_rows(app.db(), "sessions").await?, 0);
    let t = token(&app, c, "/register").await?;
    let r = c
        .post(app.at("/register"))
        .header("origin", "https://evil.example")
        .form(&[
            ("csrf_token", t.as_str()),
            ("username", "mallory"),
            ("password", PASSWORD),
        ])
        .send()
        .await?;
    assert_eq!(r.status(), 403);
    assert!(r.text().await?.contains("csrf_origin_mismatch"));
    assert_eq!(count_rows(app.db(), "users").await?, users);
    // Signed in, a cross-site password change changes nothing.
    login(&app, c, "carol").await?;
    let t = token(&app, c, "/settings/password").await?;
    let r = c
        .post(app.at("/settings/password"))
        .header("origin", "https://evil.example")
        .form(&[
            ("csrf_token", t.as_str()),
            ("current_password", PASSWORD),
            ("new_password", NEW_PASSWORD),
        ])
        .send()
        .await?;
    assert_eq!(r.status(), 403);
    let r = login_with(&app, &app.new_client(), "carol", PASSWORD, "/").await?;
    assert_eq!(r.status(), 303, "the old password still works");
    Ok(())
}

async fn wrong_password_and_unknown_user_look_the_same(app: TestApp) -> Result<()> {
    let c = &app.client;
    register(&app, c, "dave").await?;
    let r = login_with(&app, c, "dave", "not-the-password-at-all", "/").await?;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(session_cookie(&r).is_none());
    let wrong = r.text().await?;
    assert!(wrong.contains("Invalid credentials"));
    assert!(wrong.contains("value=\"dave\""), "the login is kept");
    assert!(
        !wrong.contains("not-the-password"),
        "the password is never echoed"
    );
    let r = login_with(&app, c, "nobody-here", "not-the-password-at-all", "/").await?;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let unknown = r.text().await?;
    assert!(unknown.contains("Invalid credentials"));
    let strip = |s: &str| s.replace(&csrf_of(s), "").replace("nobody-here", "dave");
    assert_eq!(strip(&wrong), strip(&unknown));
    assert_eq!(count_rows(app.db(), "sessions").await?, 0);
    Ok(())
}

async fn logout_clears_the_cookie_and_ends_the_session(app: TestApp) -> Result<()> {
    let c = &app.client;
    register(&app, c, "erin").await?;
    let cookie = login(&app, c, "erin").await?;
    let t = token(&app, c, "/settings").await?;
    // Logout is POST only.
    assert_eq!(c.get(app.at("/logout")).send().await?.status(), 405);
    let r = post_form(&app, c, "/logout", &[("csrf_token", &t)]).await?;
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/");
    let cleared = set_cookies(&r);
    assert!(
        cleared
            .iter()
            .any(|s| s.starts_with("rampart_session=;") && s.contains("Max-Age=0")),
        "{cleared:?}"
    );
    let r = with_cookie(&app, "/settings", &cookie).await?;
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/login?next=/settings");
    let r = c.get(app.at("/settings")).send().await?;
    assert_eq!(r.status(), 303, "the jar's cookie is gone too");
    Ok(())
}

async fn password_change_ends_other_sessions(app: TestApp) -> Result<()> {
    let a = &app.client;
    register(&app, a, "frank").await?;
    login(&app, a, "frank").await?;
    let b = app.client_from("127.0.0.2");
    let b_cookie = login(&app, &b, "frank").await?;
    assert_eq!(b.get(app.at("/settings")).send().await?.status(), 200);

    let t = token(&app, a, "/settings/password").await?;
    // A wrong current password re-renders the form with the field error.
    let r = post_form(
        &app,
        a,
        "/settings/password",
        &[
            ("csrf_token", &t),
            ("current_password", "nope-nope-nope"),
            ("new_password", NEW_PASSWORD),
        ],
    )
    .await?;
    assert_eq!(r.status(), 422);
    assert!(r.text().await?.contains("Current password: is incorrect"));
    let r = post_form(
        &app,
        a,
        "/settings/password",
        &[
            ("csrf_token", &t),
            ("current_password", PASSWORD),
            ("new_password", NEW_PASSWORD),
        ],
    )
    .await?;
    assert_eq!(r.status(), 303);
    assert_eq!(
        r.headers()["location"],
        "/settings/password?notice=password_changed"
    );
    assert_eq!(
        a.get(app.at("/settings")).send().await?.status(),
        200,
        "this session stays"
    );
    assert_eq!(
        b.get(app.at("/settings")).send().await?.status(),
        303,
        "the other one ended"
    );
    assert_eq!(
        with_cookie(&app, "/settings", &b_cookie).await?.status(),
        303
    );
    let page = a
        .get(app.at("/settings/password?notice=password_changed"))
        .send()
        .await?
        .text()
        .await?;
    assert!(page.contains("Other devices were signed out"));
    let r = login_with(
        &app,
        &app.client_from("127.0.0.3"),
        "frank",
        NEW_PASSWORD,
        "/",
    )
    .await?;
    assert_eq!(r.status(), 303);
    Ok(())
}

async fn tokens_page_shows_a_new_token_once(app: TestApp) -> Result<()> {
    let c = &app.client;
    register(&app, c, "grace").await?;
    login(&app, c, "grace").await?;
    let r = c.get(app.at("/settings/tokens")).send().await?;
    let html = r.text().await?;
    assert!(html.contains("value=\"profile:read\"") && html.contains("value=\"messages:write\""));
    let t = csrf_of(&html);
    let r = post_form(
        &app,
        c,
        "/settings/tokens",
        &[
            ("csrf_token", &t),
            ("name", "ci deploy"),
            ("scopes", "profile:read"),
            ("scopes", "stores:read"),
            ("expires_in_days", "30"),
        ],
    )
    .await?;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let html = r.text().await?;
    let pat = between(&html, "<code id=\"new-token\">", "</code>")
        .expect("token shown")
        .to_owned();
    assert!(pat.starts_with("rpat_"));
    // It works as a bearer token with its scopes.
    let me = bare_client()
        .get(app.at("/v1/me"))
        .bearer_auth(&pat)
        .send()
        .await?;
    assert_eq!(me.status(), 200);
    // Listed afterwards, without the secret.
    let list = c
        .get(app.at("/settings/tokens"))
        .send()
        .await?
        .text()
        .await?;
    assert!(list.contains("ci deploy") && list.contains("profile:read, stores:read"));
    assert!(!list.contains(&pat));
    // Bad input re-renders with field errors and keeps the ticked boxes.
    let r = post_form(
        &app,
        c,
        "/settings/tokens",
        &[
            ("csrf_token", &t),
            ("name", "x"),
            ("expires_in_days", "999"),
        ],
    )
    .await?;
    assert_eq!(r.status(), 422);
    let html = r.text().await?;
    assert!(
        html.contains("Scopes: is required") || html.contains("Expiry: is out of range"),
        "{html}"
    );
    // Delete.
    let id = between(&list, "action=\"/settings/tokens/", "/delete\"")
        .unwrap()
        .to_owned();
    let r = post_form(
        &app,
        c,
        &format!("/settings/tokens/{id}/delete"),
        &[("csrf_token", &t)],
    )
    .await?;
    assert_eq!(r.status(), 303);
    let list = c
        .get(app.at("/settings/tokens"))
        .send()
        .await?
        .text()
        .await?;
    assert!(!list.contains("ci deploy"));
    assert_eq!(
        bare_client()
            .get(app.at("/v1/me"))
            .bearer_auth(&pat)
            .send()
            .await?
            .status(),
        401
    );
    Ok(())
}

async fn two_factor_enrolment_and_login(app: TestApp) -> Result<()> {
    let c = &app.client;
    register(&app, c, "heidi").await?;
    let old_cookie = login(&app, c, "heidi").await?;
    let html = c.get(app.at("/settings/2fa")).send().await?.text().await?;
    assert!(html.contains("action=\"/settings/2fa/begin\""));
    let t = csrf_of(&html);
    let r = post_form(&app, c, "/settings/2fa/begin", &[("csrf_token", &t)]).await?;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let html = r.text().await?;
    assert!(
        html.contains("<img src=\"data:image/svg+xml;base64,"),
        "{html}"
    );
    let secret = between(&html, "<code class=\"secret\">", "</code>").unwrap();
    let key = rampart_identity::totp::base32_decode(secret).unwrap();
    let now = app.clock.now_ms() / 1000;
    let code = rampart_identity::totp::code_at(&key, rampart_identity::totp::step_at(now).unwrap());

    let r = post_form(
        &app,
        c,
        "/settings/2fa/confirm",
        &[("csrf_token", &t), ("code", &code)],
    )
    .await?;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let new_cookie = session_cookie(&r).expect("the session is re-issued");
    assert_ne!(new_cookie, old_cookie);
    let html = r.text().await?;
    assert_eq!(html.matches("<li><code>").count(), 10, "ten recovery codes");
    assert_eq!(
        with_cookie(&app, "/settings", &old_cookie).await?.status(),
        303
    );
    let html = c.get(app.at("/settings/2fa")).send().await?.text().await?;
    assert!(
        html.contains("Two-factor authentication is on.") && !html.contains("<li><code>"),
        "codes shown once"
    );

    // A login now asks for the code.
    let other = app.client_from("127.0.0.2");
    let r = login_with(&app, &other, "heidi", PASSWORD, "/").await?;
    assert_eq!(r.status(), 401);
    assert!(r.text().await?.contains("name=\"totp\""));
    app.clock.advance_secs(30);
    let code = rampart_identity::totp::code_at(
        &key,
        rampart_identity::totp::step_at(app.clock.now_ms() / 1000).unwrap(),
    );
    let t = token(&app, &other, "/login").await?;
    let r = post_form(
        &app,
        &other,
        "/login",
        &[
            ("csrf_token", &t),
            ("login", "heidi"),
            ("password", PASSWORD),
            ("totp", &code),
        ],
    )
    .await?;
    assert_eq!(r.status(), 303);
    assert!(session_cookie(&r).is_some());
    Ok(())
}

async fn hostile_input_is_refused_or_escaped(app: TestApp) -> Result<()> {
    let c = &app.client;
    let t = token(&app, c, "/register").await?;
    let users = count_rows(app.db(), "users").await?;
    let r = post_form(
        &app,
        c,
        "/register",
        &[
            ("csrf_token", &t),
            ("username", "<script>alert(1)</script>"),
            ("password", PASSWORD),
        ],
    )
    .await?;
    assert_eq!(r.status(), 422);
    let html = r.text().await?;
    assert!(!html.contains("<script"), "{html}");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(html.contains("Username: has an invalid format"));
    assert_eq!(count_rows(app.db(), "users").await?, users);

    // A referral link pre-fills the field, escaped.
    let html = c
        .get(app.at("/register?ref=%22%3E%3Cscript%3E"))
        .send()
        .await?
        .text()
        .await?;
    assert!(
        html.contains("name=\"referral_code\" value=\"&quot;&gt;&lt;script&gt;\""),
        "{html}"
    );

    register(&app, c, "ivan").await?;
    login(&app, c, "ivan").await?;
    let t = token(&app, c, "/settings/tokens").await?;
    let r = post_form(
        &app,
        c,
        "/settings/tokens",
        &[
            ("csrf_token", &t),
            ("name", "<script>alert(1)</script>"),
            ("scopes", "profile:read"),
        ],
    )
    .await?;
    assert_eq!(r.status(), 200);
    let html = c
        .get(app.at("/settings/tokens"))
        .send()
        .await?
        .text()
        .await?;
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!html.contains("<script"));
    Ok(())
}

async fn recovery_always_answers_the_same(app: TestApp) -> Result<()> {
    let c = &app.client;
    register(&app, c, "judy").await?;
    let mut locations = Vec::new();
    for login in ["judy", "no-such-user"] {
        let t = token(&app, c, "/recover").await?;
        let r = post_form(&app, c, "/recover", &[("csrf_token", &t), ("login", login)]).await?;
        assert_eq!(r.status(), 303);
        locations.push(r.headers()["location"].to_str()?.to_owned());
    }
    assert_eq!(locations[0], locations[1]);
    let html = c.get(app.at(&locations[0])).send().await?.text().await?;
    assert!(html.contains("If that account exists, a link was sent."));
    let et = c
        .get(app.at(&locations[0]))
        .header("accept-language", "et")
        .send()
        .await?
        .text()
        .await?;
    assert!(et.contains("Kui selline konto on olemas"));
    // A made-up reset token is refused on the form.
    let html = c
        .get(app.at("/reset?token=rrst_madeup"))
        .send()
        .await?
        .text()
        .await?;
    assert!(html.contains("name=\"token\" value=\"rrst_madeup\""));
    let t = csrf_of(&html);
    let r = post_form(
        &app,
        c,
        "/reset",
        &[
            ("csrf_token", &t),
            ("token", "rrst_madeup"),
            ("password", NEW_PASSWORD),
        ],
    )
    .await?;
    assert_eq!(r.status(), 400);
    assert!(r.text().await?.contains("Reset link invalid or expired"));
    Ok(())
}

async fn settings_pages_need_a_browser_session(app: TestApp) -> Result<()> {
    let c = &app.client;
    for path in [
        "/settings",
        "/settings/password",
        "/settings/2fa",
        "/settings/sessions",
        "/settings/tokens",
    ] {
        let r = c.get(app.at(path)).send().await?;
        assert_eq!(r.status(), 303, "{path}");
        assert!(
            r.headers()["location"]
                .to_str()?
                .starts_with("/login?next="),
            "{path}"
        );
    }
    register(&app, c, "kim").await?;
    login(&app, c, "kim").await?;
    // The sessions page lists this device as current, and language can be switched.
    let b = app.client_from("127.0.0.2");
    login(&app, &b, "kim").await?;
    let html = c
        .get(app.at("/settings/sessions"))
        .send()
        .await?
        .text()
        .await?;
    assert_eq!(html.matches("/revoke\"").count(), 2, "{html}");
    assert!(html.contains("(this device)"));
    let t = csrf_of(&html);
    let r = post_form(
        &app,
        c,
        "/settings/sessions/revoke-others",
        &[("csrf_token", &t)],
    )
    .await?;
    assert_eq!(r.status(), 303);
    assert_eq!(b.get(app.at("/settings")).send().await?.status(), 303);
    let r = post_form(
        &app,
        c,
        "/settings/language",
        &[("csrf_token", &t), ("language", "et")],
    )
    .await?;
    assert_eq!(r.status(), 303);
    let html = c
        .get(app.at("/settings?notice=saved"))
        .send()
        .await?
        .text()
        .await?;
    assert!(html.contains("<html lang=\"et\">") && html.contains("Salvestatud."));
    // A PAT reaches the API, not the settings pages.
    let t = token(&app, c, "/settings/tokens").await?;
    let html = post_form(
        &app,
        c,
        "/settings/tokens",
        &[
            ("csrf_token", &t),
            ("name", "bot"),
            ("scopes", "profile:read"),
        ],
    )
    .await?
    .text()
    .await?;
    let pat = between(&html, "<code id=\"new-token\">", "</code>")
        .unwrap()
        .to_owned();
    let r = bare_client()
        .get(app.at("/settings/tokens"))
        .bearer_auth(&pat)
        .send()
        .await?;
    assert_eq!(r.status(), 403);
    let r = bare_client()
        .post(app.at("/settings/tokens"))
        .bearer_auth(&pat)
        .form(&[("name", "escalate"), ("scopes", "profile:write")])
        .send()
        .await?;
    assert_eq!(r.status(), 403);
    Ok(())
}

/// The mailed link opens a confirm form: a GET (mail scanners, link previews) changes
/// nothing; the POST creates the account.
async fn verification_link_page_confirms_only_on_post(app: TestApp) -> Result<()> {
    let c = &app.client;
    let t = token(&app, c, "/register").await?;
    let r = post_form(
        &app,
        c,
        "/register",
        &[
            ("csrf_token", &t),
            ("username", "vera"),
            ("email", "vera@example.com"),
            ("password", PASSWORD),
        ],
    )
    .await?;
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/login?notice=verify_sent");
    let mails = rampart_identity::outbox::mail_for(app.db(), "vera@example.com").await?;
    let body = &mails.first().expect("verification mail").body;
    let link = body
        .split_whitespace()
        .find(|w| w.contains("/verify-email?token="))
        .expect("link");
    let path = &link[link.find("/verify-email").expect("path")..];
    for _ in 0..2 {
        let r = c.get(app.at(path)).send().await?;
        assert_eq!(r.status(), 200);
        assert!(r.text().await?.contains("Confirm address"));
    }
    let et = c
        .get(app.at(path))
        .header("accept-language", "et")
        .send()
        .await?
        .text()
        .await?;
    assert!(et.contains("Kinnita aadress"));
    assert_eq!(count_rows(app.db(), "users").await?, 0, "GET changed state");
    let html = c.get(app.at(path)).send().await?.text().await?;
    let csrf = csrf_of(&html);
    let tok = between(&html, "name=\"token\" value=\"", "\"").expect("token field");
    let r = post_form(
        &app,
        c,
        "/verify-email",
        &[("csrf_token", &csrf), ("token", tok)],
    )
    .await?;
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/login?notice=email_verified");
    assert_eq!(count_rows(app.db(), "users").await?, 1);
    // Used: the second POST is refused on the page.
    let r = post_form(
        &app,
        c,
        "/verify-email",
        &[("csrf_token", &csrf), ("token", tok)],
    )
    .await?;
    assert_eq!(r.status(), 400);
    assert!(r.text().await?.contains("Confirmation link invalid"));
    Ok(())
}
