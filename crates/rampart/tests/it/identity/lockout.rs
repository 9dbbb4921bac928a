//! A8: five failed logins for one account within 15 minutes lock it for 15 minutes;
//! the refusal looks exactly like a wrong password or an unknown account.

use super::*;
use rampart_test_support::{both_engines, count_rows};

both_engines!(
    five_failures_lock_even_the_right_password,
    failures_spread_over_more_than_the_window_do_not_lock,
    unknown_account_looks_like_a_wrong_password,
);

async fn attempt(app: &TestApp, name: &str, password: &str) -> Result<(u16, Value)> {
    let c = fresh_client(app);
    parts(
        token_req(
            app,
            &c,
            json!({"login": name, "password": password, "client": "native"}),
        )
        .await?,
    )
    .await
}

async fn five_failures_lock_even_the_right_password(app: TestApp) -> Result<()> {
    user(&app, "alice").await?;
    let mut wrong_bodies = Vec::new();
    for _ in 0..5 {
        let (st, v) = attempt(&app, "alice", WRONG).await?;
        assert_eq!(
            (st, v["code"].as_str()),
            (401, Some("invalid_credentials")),
            "{v}"
        );
        wrong_bodies.push(shape(&v));
        app.clock.advance_secs(30);
    }
    let sessions_before = count_rows(app.db(), "sessions").await?;
    // The sixth attempt, with the right password, is refused and looks the same.
    let (st, v) = attempt(&app, "alice", PW).await?;
    assert_eq!(st, 401);
    assert_eq!(
        shape(&v),
        wrong_bodies[0],
        "a locked account must look like a wrong password"
    );
    assert_eq!(
        count_rows(app.db(), "sessions").await?,
        sessions_before,
        "no session while locked"
    );
    // Still locked just before the end of the cool-down (it started at the 5th failure).
    app.clock.advance_secs(15 * 60 - 5 * 30);
    let (st, v) = attempt(&app, "alice", PW).await?;
    assert_eq!(
        (st, v["code"].as_str()),
        (401, Some("invalid_credentials")),
        "{v}"
    );
    app.clock.advance_secs(15 * 60 + 1);
    let (st, v) = attempt(&app, "alice", PW).await?;
    assert_eq!(st, 200, "after the cool-down the right password works: {v}");
    assert_eq!(count_rows(app.db(), "sessions").await?, sessions_before + 1);
    Ok(())
}

async fn failures_spread_over_more_than_the_window_do_not_lock(app: TestApp) -> Result<()> {
    user(&app, "bob").await?;
    // 5 failures 4 minutes apart: at most 4 fall inside any 15-minute window.
    for i in 0..5 {
        if i > 0 {
            app.clock.advance_secs(4 * 60);
        }
        let (st, v) = attempt(&app, "bob", WRONG).await?;
        assert_eq!(
            (st, v["code"].as_str()),
            (401, Some("invalid_credentials")),
            "{v}"
        );
    }
    let (st, v) = attempt(&app, "bob", PW).await?;
    assert_eq!(st, 200, "spread-out failures must not lock: {v}");
    Ok(())
}

async fn unknown_account_looks_like_a_wrong_password(app: TestApp) -> Result<()> {
    user(&app, "carol").await?;
    let (st1, wrong) = attempt(&app, "carol", WRONG).await?;
    let (st2, unknown) = attempt(&app, "nobody-here", WRONG).await?;
    let (st3, unknown_mail) = attempt(&app, "nobody@example.com", PW).await?;
    assert_eq!((st1, st2, st3), (401, 401, 401));
    assert_eq!(shape(&wrong), shape(&unknown));
    assert_eq!(shape(&wrong), shape(&unknown_mail));
    assert_eq!(wrong["code"], "invalid_credentials");
    assert_eq!(count_rows(app.db(), "sessions").await?, 0);
    Ok(())
}
