//! B2–B4 and the rate-limit security event: every policy with a route refuses the
//! request after its quota with the full set of headers and the flow's generic answer;
//! the policies without routes yet have the configured values and behave the same
//! when the limiter is driven directly.

use super::counter;
use anyhow::Result;
use rampart::config::LimitOverride;
use rampart_kernel::Clock;
use rampart_test_support::{both_engines, Engine, TestApp};
use rampart_web::ratelimit::KeyKind;
use serde_json::{json, Value};

both_engines!(
    login_policy_ten_per_five_minutes,
    auth_policy_five_per_minute,
    login_ceiling_binds_when_lowest,
    stricter_policy_wins,
    password_reset_five_per_hour,
);

fn limits(c: &mut rampart::config::Config, set: &[(&str, u32, u64)]) {
    for (name, limit, window_secs) in set {
        c.rate_limits.insert(
            (*name).to_owned(),
            LimitOverride {
                limit: *limit,
                window_secs: *window_secs,
            },
        );
    }
}

async fn spawn_with(
    engine: Engine,
    set: &'static [(&'static str, u32, u64)],
) -> Result<Option<TestApp>> {
    TestApp::builder(engine)
        .config(move |c| limits(c, set))
        .spawn()
        .await
}

fn header<'a>(r: &'a reqwest::Response, name: &str) -> &'a str {
    r.headers()
        .get(name)
        .unwrap_or_else(|| panic!("missing {name}: {:?}", r.headers()))
        .to_str()
        .unwrap()
}

/// Checks a refusal by `policy` (`limit` per `window` seconds) and returns its body.
async fn assert_refused(
    r: reqwest::Response,
    policy: &str,
    limit: u32,
    window: u64,
) -> Result<Value> {
    assert_eq!(r.status(), 429, "expected a refusal by {policy}");
    let retry: u64 = header(&r, "retry-after").parse()?;
    assert!((1..=window).contains(&retry), "Retry-After {retry}");
    let pol = header(&r, "ratelimit-policy");
    assert!(
        pol.contains(&format!("\"{policy}\";q={limit};w={window}")),
        "RateLimit-Policy {pol}"
    );
    let rl = header(&r, "ratelimit");
    assert_eq!(rl, format!("\"{policy}\";r=0;t={retry}"), "RateLimit");
    assert_eq!(header(&r, "x-ratelimit-limit"), limit.to_string());
    assert_eq!(header(&r, "x-ratelimit-remaining"), "0");
    assert_eq!(header(&r, "x-ratelimit-reset"), retry.to_string());
    assert_eq!(header(&r, "cache-control"), "no-store");
    assert!(header(&r, "content-type").starts_with("application/problem+json"));
    let v: Value = r.json().await?;
    assert_eq!(v["code"], "rate_limited");
    assert_eq!(v["status"], 429);
    Ok(v)
}

/// Checks an accepted response names `policy` as binding with `remaining` left.
fn assert_allowed(r: &reqwest::Response, policy: &str, limit: u32, window: u64, remaining: u32) {
    assert_ne!(
        r.status(),
        429,
        "request under the limit of {policy} refused"
    );
    let pol = header(r, "ratelimit-policy");
    assert!(
        pol.contains(&format!("\"{policy}\";q={limit};w={window}")),
        "RateLimit-Policy {pol}"
    );
    let rl = header(r, "ratelimit");
    assert!(
        rl.starts_with(&format!("\"{policy}\";r={remaining};t=")),
        "RateLimit {rl}, expected r={remaining}"
    );
    assert!(r.headers().get("retry-after").is_none());
}

fn hits(app: &TestApp, policy: &str) -> (u64, u64) {
    (
        counter(app, "rampart_rate_limit_hits_total", &[("policy", policy)]),
        counter(
            app,
            "rampart_security_events_total",
            &[("event", "rate_limit_hit")],
        ),
    )
}

async fn bad_login(app: &TestApp, c: &reqwest::Client) -> Result<reqwest::Response> {
    Ok(c.post(app.at("/v1/auth/token"))
        .json(&json!({"login": "nobody", "password": "not-the-password"}))
        .send()
        .await?)
}

async fn login_policy_ten_per_five_minutes(app: TestApp) -> Result<()> {
    // Lift the other two policies of the route so that `login` binds.
    let engine = app.engine;
    app.stop().await;
    let Some(app) = spawn_with(engine, &[("auth", 1000, 60), ("login_ceiling", 1000, 60)]).await?
    else {
        return Ok(());
    };
    let c = app.client_from("127.0.0.21");
    for i in 0..10u32 {
        let r = bad_login(&app, &c).await?;
        assert_eq!(r.status(), 401);
        assert_allowed(&r, "login", 10, 300, 9 - i);
    }
    let before = hits(&app, "login");
    let r = bad_login(&app, &c).await?;
    let v = assert_refused(r, "login", 10, 300).await?;
    assert_eq!(
        v["detail"], "Invalid credentials",
        "no more than the generic login answer"
    );
    assert_eq!(
        hits(&app, "login"),
        (before.0 + 1, before.1 + 1),
        "rate_limit_hit counted"
    );
    // The Estonian caller gets the same generic answer in Estonian.
    let r = c
        .post(app.at("/v1/auth/token"))
        .header("accept-language", "et")
        .json(&json!({"login": "nobody", "password": "x"}))
        .send()
        .await?;
    let v = assert_refused(r, "login", 10, 300).await?;
    assert_eq!(v["detail"], "Vigased sisselogimisandmed");
    // Another client IP has its own budget.
    let r = bad_login(&app, &app.client_from("127.0.0.22")).await?;
    assert_eq!(r.status(), 401);
    // Almost five minutes later: still closed; past the window: open again.
    app.clock.advance_secs(299);
    assert_eq!(bad_login(&app, &c).await?.status(), 429);
    app.clock.advance_secs(1);
    let r = bad_login(&app, &c).await?;
    assert_eq!(r.status(), 401);
    assert_allowed(&r, "login", 10, 300, 9);
    Ok(())
}

async fn auth_policy_five_per_minute(app: TestApp) -> Result<()> {
    let c = app.client_from("127.0.0.31");
    let send = |c: &reqwest::Client| c.post(app.at("/v1/auth/register")).json(&json!({})).send();
    for i in 0..5u32 {
        let r = send(&c).await?;
        assert_eq!(r.status(), 422);
        assert_allowed(&r, "auth", 5, 60, 4 - i);
    }
    let before = hits(&app, "auth");
    let v = assert_refused(send(&c).await?, "auth", 5, 60).await?;
    assert_ne!(
        v["detail"], "Invalid credentials",
        "register has no login answer"
    );
    assert_eq!(hits(&app, "auth"), (before.0 + 1, before.1 + 1));
    // The same IP is refused on every route sharing the policy (it is per IP, not per route).
    let r = c
        .post(app.at("/v1/auth/refresh"))
        .json(&json!({"refresh_token": "rrt_nope"}))
        .send()
        .await?;
    assert_refused(r, "auth", 5, 60).await?;
    assert_eq!(send(&app.client_from("127.0.0.32")).await?.status(), 422);
    app.clock.advance_secs(60);
    assert_eq!(send(&c).await?.status(), 422);
    Ok(())
}

async fn login_ceiling_binds_when_lowest(app: TestApp) -> Result<()> {
    let engine = app.engine;
    app.stop().await;
    let Some(app) = spawn_with(engine, &[("auth", 1000, 60), ("login_ceiling", 3, 60)]).await?
    else {
        return Ok(());
    };
    let c = app.client_from("127.0.0.41");
    for i in 0..3u32 {
        let r = bad_login(&app, &c).await?;
        assert_eq!(r.status(), 401);
        assert_allowed(&r, "login_ceiling", 3, 60, 2 - i);
    }
    let before = hits(&app, "login_ceiling");
    let v = assert_refused(bad_login(&app, &c).await?, "login_ceiling", 3, 60).await?;
    assert_eq!(v["detail"], "Invalid credentials");
    assert_eq!(hits(&app, "login_ceiling").0, before.0 + 1);
    assert_eq!(
        bad_login(&app, &app.client_from("127.0.0.42"))
            .await?
            .status(),
        401
    );
    app.clock.advance_secs(60);
    assert_eq!(bad_login(&app, &c).await?.status(), 401);
    Ok(())
}

async fn stricter_policy_wins(app: TestApp) -> Result<()> {
    // Defaults: the login route has auth (5/min), login (10/5 min) and the ceiling
    // (60/min); auth is the strictest and decides.
    let c = app.client_from("127.0.0.51");
    let r = bad_login(&app, &c).await?;
    let pol = header(&r, "ratelimit-policy").to_owned();
    for p in [
        "\"auth\";q=5;w=60",
        "\"login\";q=10;w=300",
        "\"login_ceiling\";q=60;w=60",
    ] {
        assert!(pol.contains(p), "{pol} lacks {p}");
    }
    assert_allowed(&r, "auth", 5, 60, 4);
    for _ in 0..4 {
        assert_eq!(bad_login(&app, &c).await?.status(), 401);
    }
    let v = assert_refused(bad_login(&app, &c).await?, "auth", 5, 60).await?;
    // Refused by auth, but the login route still gives exactly the generic login answer.
    assert_eq!(v["detail"], "Invalid credentials", "{v}");
    // A minute later auth has room again. login was charged 6 times (the refused
    // attempt too: every policy with room is charged), so it now has the least room
    // and is the one the headers show.
    app.clock.advance_secs(60);
    let r = bad_login(&app, &c).await?;
    assert_eq!(r.status(), 401);
    assert_allowed(&r, "login", 10, 300, 3);
    for _ in 0..3 {
        assert_eq!(bad_login(&app, &c).await?.status(), 401);
    }
    // login has now accepted 6 + 4 = 10 in its 5-minute window: it refuses although
    // auth still has room, and Retry-After is login's (longer) wait.
    let r = bad_login(&app, &c).await?;
    assert_eq!(r.status(), 429);
    let retry: u64 = header(&r, "retry-after").parse()?;
    assert!(
        retry > 60,
        "the 5-minute policy's wait ({retry}s) wins over the 1-minute one"
    );
    assert_refused(r, "login", 10, 300).await?;
    Ok(())
}

async fn password_reset_five_per_hour(app: TestApp) -> Result<()> {
    let c = app.client_from("127.0.0.61");
    let send = |c: &reqwest::Client| {
        c.post(app.at("/v1/auth/password-reset"))
            .json(&json!({"login": "nobody@example.com"}))
            .send()
    };
    for i in 0..5u32 {
        let r = send(&c).await?;
        assert_eq!(r.status(), 202);
        assert_allowed(&r, "password_reset", 5, 3600, 4 - i);
        let v: Value = r.json().await?;
        assert_eq!(v["message"], "If that account exists, a link was sent.");
    }
    let before = hits(&app, "password_reset");
    let v = assert_refused(send(&c).await?, "password_reset", 5, 3600).await?;
    assert_eq!(
        v["detail"], "If that account exists, a link was sent.",
        "refusal reveals nothing more"
    );
    assert_eq!(hits(&app, "password_reset"), (before.0 + 1, before.1 + 1));
    assert_eq!(send(&app.client_from("127.0.0.62")).await?.status(), 202);
    app.clock.advance_secs(3599);
    assert_eq!(send(&c).await?.status(), 429);
    app.clock.advance_secs(1);
    assert_eq!(send(&c).await?.status(), 202);
    Ok(())
}

/// B2/B3 rows whose routes do not exist yet: the configured policy values, and the
/// limiter enforcing them (N accepted, then refused, per key, until the window passes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policies_without_routes_have_the_required_values() -> Result<()> {
    let app = TestApp::spawn(Engine::Sqlite).await?.expect("sqlite");
    let expect: [(&str, u32, u64, KeyKind); 16] = [
        ("password_reset", 5, 3_600_000, KeyKind::Ip),
        ("login", 10, 300_000, KeyKind::Ip),
        ("login_ceiling", 60, 60_000, KeyKind::Ip),
        ("auth", 5, 60_000, KeyKind::Ip),
        ("message_send", 10, 60_000, KeyKind::User),
        ("ticket_create", 5, 3_600_000, KeyKind::User),
        ("ticket_message", 20, 3_600_000, KeyKind::PathParam("id")),
        ("cart", 100, 60_000, KeyKind::Ip),
        ("checkout", 10, 60_000, KeyKind::User),
        ("payment", 3, 60_000, KeyKind::User),
        // Not in B2/B3: the sandbox's confirm/authenticate per payment intent.
        ("sandbox_payment", 5, 60_000, KeyKind::PathParam("id")),
        ("ws_handshake", 120, 60_000, KeyKind::Ip),
        // Not in B2/B3: second-factor attempts of a signed-in user.
        ("totp", 5, 300_000, KeyKind::User),
        // Not in B2/B3: marketplace writes (stores, members, items, stock) per user.
        ("store_write", 60, 60_000, KeyKind::User),
        // Not in B2/B3: dispute opening, claims and resolutions per user.
        ("dispute_write", 20, 60_000, KeyKind::User),
        // Not in B2/B3: prekey-bundle claims per user (each may take a one-time prekey).
        ("prekey_claim", 30, 60_000, KeyKind::User),
    ];
    assert_eq!(
        app.state.policies.0.len(),
        expect.len(),
        "every policy is in the table"
    );
    for (name, limit, window_ms, key) in expect {
        let def = &app.state.policies.0[name];
        assert_eq!(
            (def.policy.limit, def.policy.window_ms, def.key),
            (limit, window_ms, key),
            "{name}"
        );
        assert_eq!(def.policy.name, name);
        let key_a = format!("{name}-key-a");
        let key_b = format!("{name}-key-b");
        let t0 = app.clock.now_ms();
        for i in 0..limit {
            let v = app
                .state
                .limiter
                .check(&[(&def.policy, &key_a)], t0)
                .await?;
            assert!(v.allowed(), "{name}: request {} refused", i + 1);
        }
        let v = app
            .state
            .limiter
            .check(&[(&def.policy, &key_a)], t0)
            .await?;
        assert!(!v.allowed(), "{name}: request {} accepted", limit + 1);
        assert_eq!(v.retry_after_secs(), Some(window_ms / 1000));
        assert!(
            app.state
                .limiter
                .check(&[(&def.policy, &key_b)], t0)
                .await?
                .allowed(),
            "{name}: other key"
        );
        let later = t0 + i64::try_from(window_ms)?;
        assert!(
            app.state
                .limiter
                .check(&[(&def.policy, &key_a)], later)
                .await?
                .allowed(),
            "{name}: after the window"
        );
    }
    app.stop().await;

    // Overrides from configuration reach the policies.
    let app = spawn_with(Engine::Sqlite, &[("ws_handshake", 7, 60), ("cart", 50, 30)])
        .await?
        .expect("sqlite");
    assert_eq!(app.state.policies.0["ws_handshake"].policy.limit, 7);
    assert_eq!(app.state.policies.0["cart"].policy.window_ms, 30_000);
    app.stop().await;
    // An unknown policy name stops the server from starting.
    let err = spawn_with(Engine::Sqlite, &[("logn", 1, 60)]).await;
    assert!(err.is_err(), "a typo in [rate_limits] must not be ignored");
    Ok(())
}
