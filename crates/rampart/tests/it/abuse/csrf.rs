//! B1: every mutating route of the real router refuses cookie-authenticated requests
//! without a CSRF token and cross-origin requests even with one; bearer requests are
//! exempt because of how they authenticate, not because of their path.

use super::{counter, login, register, Login};
use anyhow::Result;
use axum::http::Method;
use rampart_identity::ClientCtx;
use rampart_test_support::{both_engines, count_rows, TestApp};
use serde_json::{json, Value};

both_engines!(
    csrf_walk_every_mutating_route,
    csrf_exemption_follows_authentication
);

const TABLES: [&str; 6] = [
    "users",
    "sessions",
    "refresh_tokens",
    "personal_access_tokens",
    "audit_log",
    "invites",
];

async fn counts(app: &TestApp) -> Result<Vec<i64>> {
    let mut out = Vec::new();
    for t in TABLES {
        out.push(count_rows(app.db(), t).await?);
    }
    Ok(out)
}

fn concrete(path: &str) -> String {
    path.split('/')
        .map(|seg| {
            if seg.starts_with('{') && seg.ends_with('}') {
                uuid::Uuid::new_v4().to_string()
            } else {
                seg.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn is_web(path: &str) -> bool {
    !(path.starts_with("/v1/") || path.starts_with("/.well-known/"))
}

async fn problem_code(r: reqwest::Response) -> Result<(u16, String)> {
    let status = r.status().as_u16();
    let text = r.text().await?;
    let code = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| v["code"].as_str().map(str::to_owned))
        .unwrap_or(text);
    Ok((status, code))
}

/// A web session cookie for `username` (no web login route is mounted yet, so the
/// session is opened through the service the future route will call).
async fn web_session(app: &TestApp, username: &str) -> Result<String> {
    let ctx = ClientCtx {
        ip: Some("127.0.0.1".parse()?),
        user_agent: String::new(),
        request_id: None,
    };
    let w = app
        .state
        .auth
        .login_web(
            username,
            &rampart_identity::SecretString::new(super::PASSWORD.to_owned()),
            None,
            &ctx,
        )
        .await?;
    Ok(format!("rampart_session={}", w.cookie))
}

/// A pre-session cookie and its token from `GET /v1/auth/csrf`.
async fn pre_session(app: &TestApp) -> Result<(String, String)> {
    let r = app.new_client().get(app.at("/v1/auth/csrf")).send().await?;
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("rampart_csrf="))
        .and_then(|v| v.split(';').next())
        .map(str::to_owned)
        .expect("pre-session cookie");
    let v: Value = r.json().await?;
    Ok((cookie, v["csrf_token"].as_str().expect("token").to_owned()))
}

async fn csrf_walk_every_mutating_route(app: TestApp) -> Result<()> {
    let client = app.new_client();
    register(&app, &client, "walker").await?;
    let Login {
        csrf: token,
        refresh_cookie,
        ..
    } = login(&app, &client, "walker").await?;
    let session_cookie = web_session(&app, "walker").await?;
    let session_token = {
        let r = app
            .new_client()
            .get(app.at("/v1/auth/csrf"))
            .header("cookie", &session_cookie)
            .send()
            .await?;
        r.json::<Value>().await?["csrf_token"]
            .as_str()
            .expect("token")
            .to_owned()
    };
    let (pre_cookie, pre_token) = pre_session(&app).await?;

    let before = counts(&app).await?;
    let rejected_before = counter(
        &app,
        "rampart_security_events_total",
        &[("event", "csrf_rejected")],
    );
    let (_, routes) = rampart_web::build(app.state.clone());
    let mutating: Vec<_> = routes
        .iter()
        .filter(|r| !matches!(r.method, Method::GET | Method::HEAD | Method::OPTIONS))
        .collect();
    assert!(
        mutating.len() >= 15,
        "expected the identity API's mutating routes, got {}",
        mutating.len()
    );
    let http = app.new_client();
    let mut rejections = 0u64;
    for route in &mutating {
        let path = concrete(route.path);
        let method: reqwest::Method = route.method.as_str().parse()?;
        let web = is_web(route.path);
        let send = |cookie: Option<String>, token: Option<&str>, cross: bool, form: bool| {
            // Ask for JSON so web routes' refusals come back as problem documents.
            let mut rb = http
                .request(method.clone(), app.at(&path))
                .header("accept", "application/json");
            if let Some(c) = cookie {
                rb = rb.header("cookie", c);
            }
            if let Some(t) = token {
                rb = rb.header("x-csrf-token", t);
            }
            if cross {
                rb = rb
                    .header("origin", "https://evil.example")
                    .header("sec-fetch-site", "cross-site");
            }
            rb = if form {
                rb.header("content-type", "application/x-www-form-urlencoded")
                    .body("name=x&grant_type=refresh_token")
            } else {
                rb.header("content-type", "application/json").body("{}")
            };
            rb.send()
        };
        // (a) cookie-authenticated, no token: the refresh cookie, the session cookie,
        // and (web routes) the pre-session cookie.
        let mut cookies = vec![refresh_cookie.clone(), session_cookie.clone()];
        if web {
            cookies.push(pre_cookie.clone());
            cookies.push(format!("{session_cookie}; {pre_cookie}"));
        }
        for c in cookies {
            for form in [false, true] {
                let (status, code) =
                    problem_code(send(Some(c.clone()), None, false, form).await?).await?;
                assert_eq!(
                    status, 403,
                    "{} {} with cookie {c:?} and no token: {code}",
                    route.method, route.path
                );
                assert!(
                    code.starts_with("csrf_"),
                    "{} {}: {code}",
                    route.method,
                    route.path
                );
                rejections += 1;
            }
        }
        // A token of another session does not do either.
        let (status, code) = problem_code(
            send(
                Some(refresh_cookie.clone()),
                Some(&session_token),
                false,
                false,
            )
            .await?,
        )
        .await?;
        assert_eq!(
            (status, code.as_str()),
            (403, "csrf_token_invalid"),
            "{} {}",
            route.method,
            route.path
        );
        rejections += 1;
        // (b) a valid token, but from another site.
        for (c, t) in [
            (&refresh_cookie, &token),
            (&session_cookie, &session_token),
            (&pre_cookie, &pre_token),
        ] {
            let (status, code) =
                problem_code(send(Some(c.clone()), Some(t), true, false).await?).await?;
            assert_eq!(
                (status, code.as_str()),
                (403, "csrf_origin_mismatch"),
                "{} {}",
                route.method,
                route.path
            );
            rejections += 1;
        }
        // Cross-site is refused even without any cookie.
        let (status, code) = problem_code(send(None, None, true, true).await?).await?;
        assert_eq!(
            (status, code.as_str()),
            (403, "csrf_origin_mismatch"),
            "{} {}",
            route.method,
            route.path
        );
        rejections += 1;
        // (c) web forms need a token even with no cookie at all.
        if web {
            let (status, code) = problem_code(send(None, None, false, true).await?).await?;
            assert_eq!(
                status, 403,
                "{} {} form without cookie: {code}",
                route.method, route.path
            );
            rejections += 1;
        }
    }
    let after = counts(&app).await?;
    assert_eq!(
        before, after,
        "row counts of {TABLES:?} changed during the walk"
    );
    let rejected_after = counter(
        &app,
        "rampart_security_events_total",
        &[("event", "csrf_rejected")],
    );
    assert_eq!(
        rejected_after - rejected_before,
        rejections,
        "every rejection is a csrf_rejected event"
    );

    // Nothing was revoked either: both sessions still work.
    let r = http
        .get(app.at("/v1/me"))
        .header("cookie", &session_cookie)
        .send()
        .await?;
    assert_eq!(r.status(), 200);
    let r = http
        .post(app.at("/v1/auth/refresh"))
        .header("cookie", &refresh_cookie)
        .header("x-csrf-token", &token)
        .send()
        .await?;
    assert_eq!(r.status(), 200, "the refresh family survived the walk");

    // (c) on a web form route: none is mounted yet, so mount one through the registry
    // exactly as a future page would be, and check the guard is there.
    web_form_route_is_guarded(&app, &pre_cookie, &pre_token).await?;
    Ok(())
}

async fn web_form_route_is_guarded(app: &TestApp, pre_cookie: &str, pre_token: &str) -> Result<()> {
    use rampart_web::routes::{Doc, Routes};
    let state = app.state.clone();
    let (router, infos) = Routes::new(state.clone())
        .post(
            "/settings/example",
            || async { "changed" },
            Doc::new("web", "Example form").page(),
        )
        .finish();
    assert_eq!(infos.len(), 1);
    let router = router.with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await
    });
    let url = format!("http://{addr}/settings/example");
    let http = app.new_client();
    let form = |rb: reqwest::RequestBuilder| {
        rb.header("content-type", "application/x-www-form-urlencoded")
    };
    // No cookie, no token.
    let r = form(http.post(&url)).body("a=1").send().await?;
    assert_eq!(r.status(), 403);
    // No cookie, a token (of nothing).
    let r = form(http.post(&url))
        .body(format!("a=1&csrf_token={pre_token}"))
        .send()
        .await?;
    assert_eq!(r.status(), 403);
    // Pre-session cookie, no token.
    let r = form(http.post(&url))
        .header("cookie", pre_cookie)
        .body("a=1")
        .send()
        .await?;
    assert_eq!(r.status(), 403);
    // Pre-session cookie with its token in the form field: accepted.
    let r = form(http.post(&url))
        .header("cookie", pre_cookie)
        .body(format!("a=1&csrf_token={pre_token}"))
        .send()
        .await?;
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await?, "changed");
    // The same from another site: refused.
    let r = form(http.post(&url))
        .header("cookie", pre_cookie)
        .header("origin", "https://evil.example")
        .body(format!("a=1&csrf_token={pre_token}"))
        .send()
        .await?;
    assert_eq!(r.status(), 403);
    server.abort();
    Ok(())
}

async fn csrf_exemption_follows_authentication(app: TestApp) -> Result<()> {
    let client = app.new_client();
    register(&app, &client, "bearer").await?;
    let l = login(&app, &client, "bearer").await?;
    let rejected_before = counter(
        &app,
        "rampart_security_events_total",
        &[("event", "csrf_rejected")],
    );
    let http = app.new_client();
    let body = json!({"name": "ci", "scopes": ["profile:read"]});
    // Bearer, no cookie, no token: exempt.
    let r = http
        .post(app.at("/v1/tokens"))
        .bearer_auth(&l.access)
        .json(&body)
        .send()
        .await?;
    assert_eq!(r.status(), 201, "{:?}", r.text().await);
    // Bearer with an ambient cookie too: the cookie is ignored, still exempt.
    let r = http
        .post(app.at("/v1/tokens"))
        .bearer_auth(&l.access)
        .header("cookie", &l.refresh_cookie)
        .json(&body)
        .send()
        .await?;
    assert_eq!(r.status(), 201);
    // The same request authenticated by the session cookie instead: needs the token.
    let session_cookie = web_session(&app, "bearer").await?;
    let pats = count_rows(app.db(), "personal_access_tokens").await?;
    let r = http
        .post(app.at("/v1/tokens"))
        .header("cookie", &session_cookie)
        .json(&body)
        .send()
        .await?;
    assert_eq!(r.status(), 403);
    let v: Value = r.json().await?;
    assert_eq!(v["code"], "csrf_token_missing");
    assert_eq!(count_rows(app.db(), "personal_access_tokens").await?, pats);
    // …and with the session's token it goes through.
    let t: Value = http
        .get(app.at("/v1/auth/csrf"))
        .header("cookie", &session_cookie)
        .send()
        .await?
        .json()
        .await?;
    let r = http
        .post(app.at("/v1/tokens"))
        .header("cookie", &session_cookie)
        .header("x-csrf-token", t["csrf_token"].as_str().unwrap())
        .json(&body)
        .send()
        .await?;
    assert_eq!(r.status(), 201);
    let rejected_after = counter(
        &app,
        "rampart_security_events_total",
        &[("event", "csrf_rejected")],
    );
    assert_eq!(rejected_after, rejected_before + 1);
    Ok(())
}

/// The token exemption is granted for an `Authorization` header; a cookie sent along
/// must then not authenticate anything (`/v1/auth/refresh` reads the refresh cookie),
/// unless the request also carries the cookie session's valid token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorization_exemption_disarms_cookies() -> Result<()> {
    let app = TestApp::spawn(rampart_test_support::Engine::Sqlite)
        .await?
        .expect("sqlite");
    let client = app.new_client();
    register(&app, &client, "gap").await?;
    let l = login(&app, &client, "gap").await?;
    let refresh = |token: Option<&str>| {
        let mut rb = app
            .new_client()
            .post(app.at("/v1/auth/refresh"))
            .header("cookie", &l.refresh_cookie)
            .header("authorization", "Bearer not-a-token");
        if let Some(t) = token {
            rb = rb.header("x-csrf-token", t);
        }
        rb.send()
    };
    let r = refresh(None).await?;
    assert_eq!(
        r.status(),
        401,
        "cookie refresh without a CSRF token succeeded"
    );
    let r = refresh(Some(&l.csrf)).await?;
    assert_eq!(
        r.status(),
        200,
        "with the session's token the cookie still works"
    );
    Ok(())
}
