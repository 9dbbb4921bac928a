//! A1: registration with invite codes (server-validated, single/limited use,
//! expiring, revocable) and referral codes.

use super::*;
use rampart_test_support::{both_engines, count_rows, Engine};

both_engines!(referral_code_links_the_new_user, register_login_logout);

async fn register(app: &TestApp, body: Value) -> Result<(u16, Value)> {
    parts(
        fresh_client(app)
            .post(app.at("/v1/auth/register"))
            .json(&body)
            .send()
            .await?,
    )
    .await
}

fn reg(name: &str, invite: Option<&str>) -> Value {
    let mut v = json!({"username": name, "password": PW});
    if let Some(c) = invite {
        v["invite_code"] = json!(c);
    }
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invite_codes_sqlite() -> Result<()> {
    invite_codes(Engine::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invite_codes_postgres() -> Result<()> {
    invite_codes(Engine::Postgres).await
}

async fn invite_codes(engine: Engine) -> Result<()> {
    let Some(app) = TestApp::builder(engine)
        .config(|c| c.invite_required = true)
        .spawn()
        .await?
    else {
        return Ok(());
    };
    let auth = &app.state.auth;
    let users = || count_rows(app.db(), "users");

    let (st, v) = register(&app, reg("gina", None)).await?;
    assert_eq!(
        (st, v["code"].as_str()),
        (422, Some("invite_required")),
        "{v}"
    );
    let (st, v) = register(&app, reg("gina", Some("rinv_not-a-real-code"))).await?;
    assert_eq!(
        (st, v["code"].as_str()),
        (422, Some("invite_invalid")),
        "{v}"
    );
    assert_eq!(users().await?, 0);

    // Single use.
    let (_, code) = auth.create_invite(None, 1, Some(7), &ctx()).await?;
    assert_eq!(
        count_where(&app, "invites", &format!("code_hash = '{code}'")).await?,
        0,
        "stored hashed"
    );
    let (st, v) = register(&app, reg("gina", Some(&code))).await?;
    assert_eq!(st, 201, "{v}");
    let (st, v) = register(&app, reg("hank", Some(&code))).await?;
    assert_eq!(
        (st, v["code"].as_str()),
        (422, Some("invite_invalid")),
        "{v}"
    );
    assert_eq!(users().await?, 1);
    login(&app, "gina", PW).await?;
    let (st, _) = parts(
        token_req(
            &app,
            &fresh_client(&app),
            json!({"login": "hank", "password": PW}),
        )
        .await?,
    )
    .await?;
    assert_eq!(st, 401);

    // A taken username does not burn the invite.
    let (_, code2) = auth.create_invite(None, 1, None, &ctx()).await?;
    let (st, v) = register(&app, reg("gina", Some(&code2))).await?;
    assert_eq!(st, 409, "{v}");
    let (st, v) = register(&app, reg("hank", Some(&code2))).await?;
    assert_eq!(st, 201, "{v}");

    // Limited use.
    let (_, multi) = auth.create_invite(None, 2, None, &ctx()).await?;
    assert_eq!(register(&app, reg("ivy", Some(&multi))).await?.0, 201);
    assert_eq!(register(&app, reg("jack", Some(&multi))).await?.0, 201);
    let (st, v) = register(&app, reg("kate", Some(&multi))).await?;
    assert_eq!((st, v["code"].as_str()), (422, Some("invite_invalid")));

    // Revoked.
    let (rid, revoked) = auth.create_invite(None, 5, None, &ctx()).await?;
    auth.revoke_invite(None, &rid, &ctx()).await?;
    let (st, v) = register(&app, reg("kate", Some(&revoked))).await?;
    assert_eq!((st, v["code"].as_str()), (422, Some("invite_invalid")));

    // Expired.
    let (_, expiring) = auth.create_invite(None, 5, Some(1), &ctx()).await?;
    app.clock.advance_secs(24 * 3600 + 1);
    let (st, v) = register(&app, reg("kate", Some(&expiring))).await?;
    assert_eq!((st, v["code"].as_str()), (422, Some("invite_invalid")));
    assert_eq!(users().await?, 4);
    assert_eq!(count_where(&app, "users", "username = 'kate'").await?, 0);

    // Admins create invites through the API (and it is audited).
    let (admin_id, admin, _) = admin_with_totp(&app, "boss").await?;
    let r = fresh_client(&app)
        .post(app.at("/v1/admin/invites"))
        .bearer_auth(&admin)
        .json(&json!({"max_uses": 1, "expires_in_days": 3}))
        .send()
        .await?;
    let (st, v) = parts(r).await?;
    assert_eq!(st, 201, "{v}");
    assert_eq!(
        register(&app, reg("kate", Some(&s(&v, "code")))).await?.0,
        201
    );
    let by_admin = format!("action_type = 'invite_create' AND actor_user_uuid = '{admin_id}'");
    assert_eq!(count_where(&app, "audit_log", &by_admin).await?, 1);
    Ok(())
}

async fn referral_code_links_the_new_user(app: TestApp) -> Result<()> {
    let (st, a) = register(&app, reg("liam", None)).await?;
    assert_eq!(st, 201, "{a}");
    let referral = s(&a, "referral_code");
    let (st, b) = register(
        &app,
        json!({"username": "mia", "password": PW, "referral_code": referral}),
    )
    .await?;
    assert_eq!(st, 201, "{b}");
    let referred_by = rampart_test_support::text_value(
        app.db(),
        "SELECT referred_by FROM users WHERE id = $1",
        &s(&b, "id"),
    )
    .await?;
    assert_eq!(referred_by.as_deref(), Some(s(&a, "id").as_str()));
    // An unknown referral code is a field error and creates nobody.
    let (st, v) = register(
        &app,
        json!({"username": "noah", "password": PW, "referral_code": "nope"}),
    )
    .await?;
    assert_eq!(st, 422, "{v}");
    assert_eq!(v["errors"][0]["field"], "referral_code");
    assert_eq!(count_rows(app.db(), "users").await?, 2);
    Ok(())
}

async fn register_login_logout(app: TestApp) -> Result<()> {
    let (st, v) = register(&app, reg("olga", None)).await?;
    assert_eq!(st, 201, "{v}");
    let (st, v) = register(&app, reg("olga", None)).await?;
    assert_eq!(st, 409, "{v}");
    let (st, v) = register(&app, json!({"username": "pete", "password": "password"})).await?;
    assert_eq!(st, 422, "weak password: {v}");
    assert_eq!(count_rows(app.db(), "users").await?, 1);
    let t = login(&app, "olga", PW).await?;
    let r = fresh_client(&app)
        .post(app.at("/v1/auth/logout"))
        .bearer_auth(s(&t, "access_token"))
        .send()
        .await?;
    assert_eq!(r.status(), 204);
    assert_eq!(
        me_status(&app, &s(&t, "access_token")).await?,
        (401, "token_revoked".into())
    );
    expect_problem(
        refresh(&app, &s(&t, "refresh_token")).await?,
        401,
        "token_revoked",
    )
    .await?;
    Ok(())
}
