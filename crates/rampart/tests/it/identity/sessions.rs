//! A10: device sessions — list, revoke one or all others, concurrent-session limit,
//! new-device mail, password change ends the others, fingerprint changes.

use super::*;
use rampart_test_support::{both_engines, TestApp};

both_engines!(
    list_and_revoke_sessions,
    revoke_all_others_keeps_the_current,
    new_device_login_sends_mail,
    password_change_ends_every_other_session,
    staff_refresh_from_a_new_device_forces_relogin,
);

async fn list(app: &TestApp, bearer: &str) -> Result<Vec<Value>> {
    let (st, v) = parts(get_bearer(app, "/v1/sessions", bearer).await?).await?;
    assert_eq!(st, 200, "{v}");
    Ok(v["sessions"].as_array().expect("sessions").clone())
}

async fn delete(app: &TestApp, bearer: &str, path: &str) -> Result<reqwest::Response> {
    Ok(fresh_client(app)
        .delete(app.at(path))
        .bearer_auth(bearer)
        .send()
        .await?)
}

async fn list_and_revoke_sessions(app: TestApp) -> Result<()> {
    user(&app, "yuri").await?;
    user(&app, "zoe").await?;
    let a = login_ua(&app, &fresh_ip(31), FIREFOX, "yuri", PW).await?;
    app.clock.advance_secs(1);
    let b = login_ua(&app, &fresh_ip(32), CHROME, "yuri", PW).await?;
    let zoe = login(&app, "zoe", PW).await?;
    let (a_tok, b_tok) = (s(&a, "access_token"), s(&b, "access_token"));
    let sessions = list(&app, &a_tok).await?;
    assert_eq!(sessions.len(), 2, "{sessions:?}");
    let mine = sessions
        .iter()
        .find(|x| x["id"] == a["session_id"])
        .expect("current listed");
    assert_eq!(mine["current"], true);
    assert_eq!(mine["device"], "Firefox");
    assert_eq!(mine["ip_prefix"], "127.31.0.0/24");
    let other = sessions
        .iter()
        .find(|x| x["id"] == b["session_id"])
        .expect("other listed");
    assert_eq!(other["current"], false);
    assert_eq!(other["device"], "Chrome");
    assert_eq!(other["ip_prefix"], "127.32.0.0/24");
    assert!(other["last_seen_at"].is_i64());

    // Someone else's session: 404, and it keeps working.
    let r = delete(
        &app,
        &s(&zoe, "access_token"),
        &format!("/v1/sessions/{}", s(&b, "session_id")),
    )
    .await?;
    expect_problem(r, 404, "not_found").await?;
    assert_eq!(me_status(&app, &b_tok).await?.0, 200);

    // Revoke B from A.
    let r = delete(
        &app,
        &a_tok,
        &format!("/v1/sessions/{}", s(&b, "session_id")),
    )
    .await?;
    assert_eq!(r.status(), 204);
    assert_eq!(
        me_status(&app, &b_tok).await?,
        (401, "token_revoked".into())
    );
    expect_problem(
        refresh(&app, &s(&b, "refresh_token")).await?,
        401,
        "token_revoked",
    )
    .await?;
    assert_eq!(me_status(&app, &a_tok).await?.0, 200);
    assert_eq!(list(&app, &a_tok).await?.len(), 1);
    // Revoking it twice: 404.
    let r = delete(
        &app,
        &a_tok,
        &format!("/v1/sessions/{}", s(&b, "session_id")),
    )
    .await?;
    assert_eq!(r.status(), 404);
    Ok(())
}

async fn revoke_all_others_keeps_the_current(app: TestApp) -> Result<()> {
    user(&app, "abe").await?;
    let a = login(&app, "abe", PW).await?;
    let b = login(&app, "abe", PW).await?;
    let c = login(&app, "abe", PW).await?;
    let r = delete(&app, &s(&a, "access_token"), "/v1/sessions").await?;
    let (st, v) = parts(r).await?;
    assert_eq!((st, v["revoked"].as_i64()), (200, Some(2)), "{v}");
    assert_eq!(me_status(&app, &s(&a, "access_token")).await?.0, 200);
    for t in [&b, &c] {
        assert_eq!(
            me_status(&app, &s(t, "access_token")).await?,
            (401, "token_revoked".into())
        );
        expect_problem(
            refresh(&app, &s(t, "refresh_token")).await?,
            401,
            "token_revoked",
        )
        .await?;
    }
    let (st, _) = parts(refresh(&app, &s(&a, "refresh_token")).await?).await?;
    assert_eq!(st, 200, "the current session's refresh token keeps working");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_limit_evicts_the_oldest_sqlite() -> Result<()> {
    session_limit(rampart_test_support::Engine::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_limit_evicts_the_oldest_postgres() -> Result<()> {
    session_limit(rampart_test_support::Engine::Postgres).await
}

async fn session_limit(engine: rampart_test_support::Engine) -> Result<()> {
    let Some(app) = TestApp::builder(engine)
        .config(|c| c.max_sessions = 2)
        .spawn()
        .await?
    else {
        return Ok(());
    };
    user(&app, "bea").await?;
    let a = login(&app, "bea", PW).await?;
    app.clock.advance_secs(1);
    let b = login(&app, "bea", PW).await?;
    app.clock.advance_secs(1);
    assert_eq!(me_status(&app, &s(&a, "access_token")).await?.0, 200);
    let c = login(&app, "bea", PW).await?;
    assert_eq!(
        me_status(&app, &s(&a, "access_token")).await?,
        (401, "token_revoked".into())
    );
    expect_problem(
        refresh(&app, &s(&a, "refresh_token")).await?,
        401,
        "token_revoked",
    )
    .await?;
    assert_eq!(me_status(&app, &s(&b, "access_token")).await?.0, 200);
    assert_eq!(me_status(&app, &s(&c, "access_token")).await?.0, 200);
    assert_eq!(list(&app, &s(&c, "access_token")).await?.len(), 2);
    Ok(())
}

async fn new_device_login_sends_mail(app: TestApp) -> Result<()> {
    user(&app, "cid").await?;
    let email = "cid@example.com";
    login_ua(&app, &fresh_ip(41), FIREFOX, "cid", PW).await?;
    let first = wait_mail(&app, email, "new_device", 1).await?.len();
    // The same device (browser family and IP prefix) again: no mail.
    login_ua(&app, &fresh_ip(41), FIREFOX, "cid", PW).await?;
    assert_eq!(mail_count(&app, email, "new_device").await?, first);
    // Another browser.
    login_ua(&app, &fresh_ip(41), CHROME, "cid", PW).await?;
    let mails = wait_mail(&app, email, "new_device", first + 1).await?;
    assert!(mails[0].contains("Chrome"), "{}", mails[0]);
    // Another network.
    login_ua(&app, &fresh_ip(42), CHROME, "cid", PW).await?;
    wait_mail(&app, email, "new_device", first + 2).await?;
    // Failed logins never mail.
    let r = app
        .client_from(&fresh_ip(43))
        .post(app.at("/v1/auth/token"))
        .header("user-agent", "curl/8.0")
        .json(&json!({"login": "cid", "password": WRONG}))
        .send()
        .await?;
    assert_eq!(r.status(), 401);
    assert_eq!(mail_count(&app, email, "new_device").await?, first + 2);
    Ok(())
}

async fn password_change_ends_every_other_session(app: TestApp) -> Result<()> {
    user(&app, "dan").await?;
    let a = login(&app, "dan", PW).await?;
    let b = login(&app, "dan", PW).await?;
    let a_tok = s(&a, "access_token");
    // A wrong current password changes nothing.
    let r = fresh_client(&app)
        .post(app.at("/v1/me/password"))
        .bearer_auth(&a_tok)
        .json(&json!({"current_password": WRONG, "new_password": PW2}))
        .send()
        .await?;
    assert_eq!(r.status(), 422);
    assert_eq!(me_status(&app, &s(&b, "access_token")).await?.0, 200);
    // A weak new password is refused.
    let r = fresh_client(&app)
        .post(app.at("/v1/me/password"))
        .bearer_auth(&a_tok)
        .json(&json!({"current_password": PW, "new_password": "password1"}))
        .send()
        .await?;
    assert_eq!(r.status(), 422);
    login(&app, "dan", PW).await?;

    let r = fresh_client(&app)
        .post(app.at("/v1/me/password"))
        .bearer_auth(&a_tok)
        .json(&json!({"current_password": PW, "new_password": PW2}))
        .send()
        .await?;
    assert_eq!(r.status(), 204, "{:?}", r.text().await);
    assert_eq!(
        me_status(&app, &a_tok).await?.0,
        200,
        "the current session stays"
    );
    assert_eq!(
        me_status(&app, &s(&b, "access_token")).await?,
        (401, "token_revoked".into())
    );
    expect_problem(
        refresh(&app, &s(&b, "refresh_token")).await?,
        401,
        "token_revoked",
    )
    .await?;
    let (st, _) = parts(refresh(&app, &s(&a, "refresh_token")).await?).await?;
    assert_eq!(st, 200);
    let (st, _) = parts(
        token_req(
            &app,
            &fresh_client(&app),
            json!({"login": "dan", "password": PW}),
        )
        .await?,
    )
    .await?;
    assert_eq!(st, 401);
    login(&app, "dan", PW2).await?;
    Ok(())
}

async fn staff_refresh_from_a_new_device_forces_relogin(app: TestApp) -> Result<()> {
    user_with_role(&app, "eve", rampart_kernel::account::Role::Staff).await?;
    user(&app, "fred").await?;
    let staff = login_ua(&app, &fresh_ip(51), FIREFOX, "eve", PW).await?;
    let cust = login_ua(&app, &fresh_ip(51), FIREFOX, "fred", PW).await?;
    // Same device: fine.
    let c = app.client_from(&fresh_ip(51));
    let r = c
        .post(app.at("/v1/auth/refresh"))
        .header("user-agent", FIREFOX)
        .json(&json!({"refresh_token": s(&staff, "refresh_token")}))
        .send()
        .await?;
    let (st, v) = parts(r).await?;
    assert_eq!(st, 200, "{v}");
    let staff_refresh = s(&v, "refresh_token");
    // From another network and browser: a customer continues (event only)...
    let c = app.client_from(&fresh_ip(52));
    let r = c
        .post(app.at("/v1/auth/refresh"))
        .header("user-agent", CHROME)
        .json(&json!({"refresh_token": s(&cust, "refresh_token")}))
        .send()
        .await?;
    assert_eq!(r.status(), 200);
    // ...staff must log in again.
    let r = c
        .post(app.at("/v1/auth/refresh"))
        .header("user-agent", CHROME)
        .json(&json!({"refresh_token": staff_refresh}))
        .send()
        .await?;
    expect_problem(r, 401, "token_revoked").await?;
    assert_eq!(
        me_status(&app, &s(&staff, "access_token")).await?,
        (401, "token_revoked".into())
    );
    Ok(())
}
