//! A5: refresh tokens rotate on every use; a reused rotated token revokes the whole
//! family; within the grace window the same successor comes back; concurrent
//! refreshes never leave two live tokens.

use super::*;
use rampart_test_support::{both_engines, Engine};

both_engines!(
    rotation_and_reuse_revokes_the_family,
    grace_window_returns_the_same_successor,
    refresh_token_expires_after_seven_days,
    cookie_refresh_needs_the_csrf_header,
);

async fn live(app: &TestApp, sid: &str) -> Result<i64> {
    app.state
        .auth
        .live_refresh_count(sid)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))
}

async fn rotation_and_reuse_revokes_the_family(app: TestApp) -> Result<()> {
    user(&app, "hal").await?;
    let t0 = login(&app, "hal", PW).await?;
    let sid = s(&t0, "session_id");
    let r0 = s(&t0, "refresh_token");
    assert!(r0.starts_with("rrt_"));
    let (st, t1) = parts(refresh(&app, &r0).await?).await?;
    assert_eq!(st, 200, "{t1}");
    let r1 = s(&t1, "refresh_token");
    assert_ne!(r0, r1, "rotation returns a new token");
    assert_eq!(s(&t1, "session_id"), sid);
    assert_eq!(live(&app, &sid).await?, 1);
    let access = s(&t1, "access_token");
    assert_eq!(me_status(&app, &access).await?.0, 200);

    // Reuse outside the grace window.
    app.clock.advance_secs(11);
    expect_problem(refresh(&app, &r0).await?, 401, "refresh_reused").await?;
    // The whole family is dead: old, new, and the session's access tokens.
    expect_problem(refresh(&app, &r0).await?, 401, "token_revoked").await?;
    expect_problem(refresh(&app, &r1).await?, 401, "token_revoked").await?;
    assert_eq!(
        me_status(&app, &access).await?,
        (401, "token_revoked".into())
    );
    assert_eq!(
        me_status(&app, &s(&t0, "access_token")).await?,
        (401, "token_revoked".into())
    );
    assert_eq!(live(&app, &sid).await?, 0);
    // Another login of the same user is unaffected.
    let other = login(&app, "hal", PW).await?;
    assert_eq!(me_status(&app, &s(&other, "access_token")).await?.0, 200);
    Ok(())
}

async fn grace_window_returns_the_same_successor(app: TestApp) -> Result<()> {
    user(&app, "ida").await?;
    let t0 = login(&app, "ida", PW).await?;
    let sid = s(&t0, "session_id");
    let r0 = s(&t0, "refresh_token");
    let (_, t1) = parts(refresh(&app, &r0).await?).await?;
    let r1 = s(&t1, "refresh_token");
    app.clock.advance_secs(9);
    let (st, again) = parts(refresh(&app, &r0).await?).await?;
    assert_eq!(st, 200, "{again}");
    assert_eq!(
        s(&again, "refresh_token"),
        r1,
        "the same successor within the grace window"
    );
    assert_eq!(live(&app, &sid).await?, 1);
    // The successor rotates normally; after that the grace repeat is refused.
    let (st, t2) = parts(refresh(&app, &r1).await?).await?;
    assert_eq!(st, 200, "{t2}");
    assert_eq!(live(&app, &sid).await?, 1);
    expect_problem(refresh(&app, &r0).await?, 401, "refresh_reused").await?;
    assert_eq!(live(&app, &sid).await?, 0);
    Ok(())
}

async fn refresh_token_expires_after_seven_days(app: TestApp) -> Result<()> {
    user(&app, "jon").await?;
    let t0 = login(&app, "jon", PW).await?;
    let r0 = s(&t0, "refresh_token");
    app.clock.advance_secs(7 * 24 * 3600 + 1);
    expect_problem(refresh(&app, &r0).await?, 401, "refresh_token_expired").await?;
    // Expired access token too.
    assert_eq!(
        me_status(&app, &s(&t0, "access_token")).await?,
        (401, "token_expired".into())
    );
    Ok(())
}

async fn cookie_refresh_needs_the_csrf_header(app: TestApp) -> Result<()> {
    user(&app, "kim").await?;
    let c = fresh_client(&app);
    let (st, t) =
        parts(token_req(&app, &c, json!({"login": "kim", "password": PW})).await?).await?;
    assert_eq!(st, 200, "{t}");
    assert!(
        t.get("refresh_token").is_none(),
        "browser clients get the refresh token only as a cookie"
    );
    let csrf = s(&t, "csrf_token");
    let sid = s(&t, "session_id");
    let r = c.post(app.at("/v1/auth/refresh")).send().await?;
    expect_problem(r, 403, "csrf_token_missing").await?;
    assert_eq!(live(&app, &sid).await?, 1);
    let r = c
        .post(app.at("/v1/auth/refresh"))
        .header("x-csrf-token", &csrf)
        .send()
        .await?;
    let (st, v) = parts(r).await?;
    assert_eq!(st, 200, "{v}");
    assert!(v.get("refresh_token").is_none());
    assert_eq!(live(&app, &sid).await?, 1);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_refreshes_leave_one_live_token_sqlite() -> Result<()> {
    concurrent_refreshes(Engine::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_refreshes_leave_one_live_token_postgres() -> Result<()> {
    concurrent_refreshes(Engine::Postgres).await
}

async fn concurrent_refreshes(engine: Engine) -> Result<()> {
    let Some(app) = TestApp::builder(engine)
        .config(|c| {
            c.rate_limits.insert(
                "auth".into(),
                rampart::config::LimitOverride {
                    limit: 1000,
                    window_secs: 60,
                },
            );
        })
        .spawn()
        .await?
    else {
        return Ok(());
    };
    user(&app, "lee").await?;
    let t0 = login(&app, "lee", PW).await?;
    let sid = s(&t0, "session_id");
    let r0 = s(&t0, "refresh_token");
    let clients: Vec<reqwest::Client> = (0..10).map(|_| fresh_client(&app)).collect();
    let futs = (0..50).map(|i| refresh_from(&app, &clients[i % 10], &r0));
    let results = futures::future::join_all(futs).await;
    let mut successors = Vec::new();
    let mut errors = Vec::new();
    for r in results {
        let (st, v) = parts(r?).await?;
        if st == 200 {
            successors.push(s(&v, "refresh_token"));
        } else {
            errors.push((st, v));
        }
    }
    assert!(!successors.is_empty(), "no refresh succeeded: {errors:?}");
    assert!(errors.len() <= 5, "too many failures: {errors:?}");
    assert!(
        successors.windows(2).all(|w| w[0] == w[1]),
        "different successors handed out"
    );
    assert_eq!(live(&app, &sid).await?, 1, "exactly one live refresh token");
    // And that one works.
    let (st, v) = parts(refresh(&app, &successors[0]).await?).await?;
    assert_eq!(st, 200, "{v}");
    assert_eq!(live(&app, &sid).await?, 1);
    Ok(())
}
