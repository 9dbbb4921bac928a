//! Issue 8, hardening from an outside attack on the running server: each test sends
//! the attack, checks the refusal and that nothing changed.

use super::*;
use rampart_test_support::{both_engines, TestApp};

both_engines!(
    idle_staff_api_session_does_not_come_back,
    customer_refresh_within_idle_timeout_moves_it,
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
    assert_eq!(idle1 - idle0, 11 * 3600 * 1000, "the idle expiry moved forward");
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
