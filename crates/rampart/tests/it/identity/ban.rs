//! A11 + C1: a ban ends every credential of the account at once and is audited.

use super::*;
use rampart_test_support::both_engines;

both_engines!(
    ban_ends_every_credential_at_once,
    only_staff_ban_and_never_upwards
);

struct Victim {
    id: String,
    access: String,
    refresh: String,
    cookie: String,
    pat: String,
}

async fn victim(app: &TestApp, name: &str) -> Result<Victim> {
    let id = user(app, name).await?;
    let t = login(app, name, PW).await?;
    let access = s(&t, "access_token");
    let web = app
        .state
        .auth
        .start_web_session(&id, &ctx())
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let r = fresh_client(app)
        .post(app.at("/v1/tokens"))
        .bearer_auth(&access)
        .json(&json!({"name": "ci", "scopes": ["profile:read"]}))
        .send()
        .await?;
    let (st, v) = parts(r).await?;
    assert_eq!(st, 201, "{v}");
    Ok(Victim {
        id,
        access,
        refresh: s(&t, "refresh_token"),
        cookie: web.cookie,
        pat: s(&v, "token"),
    })
}

async fn cookie_me(app: &TestApp, cookie: &str) -> Result<u16> {
    let r = app
        .client_from("127.0.0.1")
        .get(app.at("/v1/me"))
        .header("cookie", format!("rampart_session={cookie}"))
        .send()
        .await?;
    Ok(r.status().as_u16())
}

async fn ban_ends_every_credential_at_once(app: TestApp) -> Result<()> {
    // Staff powers need a second factor.
    let staff = crate::trust::staff_with_totp(&app, "mod").await?;
    let v = victim(&app, "mallory").await?;
    // Everything works before.
    assert_eq!(me_status(&app, &v.access).await?.0, 200);
    assert_eq!(me_status(&app, &v.pat).await?.0, 200);
    assert_eq!(cookie_me(&app, &v.cookie).await?, 200);

    let r = fresh_client(&app)
        .post(app.at(&format!("/v1/admin/users/{}/ban", v.id)))
        .bearer_auth(&staff)
        .send()
        .await?;
    assert_eq!(r.status(), 204, "{:?}", r.text().await);

    assert_eq!(
        me_status(&app, &v.access).await?,
        (401, "token_revoked".into())
    );
    let (st, _) = parts(refresh(&app, &v.refresh).await?).await?;
    assert_eq!(st, 401);
    assert_eq!(cookie_me(&app, &v.cookie).await?, 401);
    assert_eq!(me_status(&app, &v.pat).await?.0, 401);
    let (st, body) = parts(
        token_req(
            &app,
            &fresh_client(&app),
            json!({"login": "mallory", "password": PW}),
        )
        .await?,
    )
    .await?;
    assert_eq!(
        (st, body["code"].as_str()),
        (401, Some("invalid_credentials"))
    );
    let audit = count_where(
        &app,
        "audit_log",
        &format!("action_type = 'user_ban' AND target_id = '{}'", v.id),
    )
    .await?;
    assert_eq!(audit, 1, "one user_ban audit row");

    // Lifting the ban lets the user log in again, but revoked credentials stay dead.
    let r = fresh_client(&app)
        .post(app.at(&format!("/v1/admin/users/{}/unban", v.id)))
        .bearer_auth(&staff)
        .send()
        .await?;
    assert_eq!(r.status(), 204);
    assert_eq!(me_status(&app, &v.access).await?.0, 401);
    assert_eq!(cookie_me(&app, &v.cookie).await?, 401);
    let (st, _) = parts(refresh(&app, &v.refresh).await?).await?;
    assert_eq!(st, 401);
    assert_eq!(
        me_status(&app, &v.pat).await?.0,
        401,
        "a PAT revoked by a ban must not come back with an unban"
    );
    login(&app, "mallory", PW).await?;
    Ok(())
}

async fn only_staff_ban_and_never_upwards(app: TestApp) -> Result<()> {
    let admin = user_with_role(&app, "boss", rampart_kernel::account::Role::Admin).await?;
    let staff = crate::trust::staff_with_totp(&app, "mod2").await?;
    let target = user(&app, "nina").await?;
    user(&app, "oscar").await?;
    let customer = s(&login(&app, "oscar", PW).await?, "access_token");
    let nina = s(&login(&app, "nina", PW).await?, "access_token");
    let ban = |who: String, token: String| {
        let app = &app;
        async move {
            fresh_client(app)
                .post(app.at(&format!("/v1/admin/users/{who}/ban")))
                .bearer_auth(token)
                .send()
                .await
        }
    };
    // A customer does not even learn the route exists.
    expect_problem(
        ban(target.clone(), customer.clone()).await?,
        404,
        "not_found",
    )
    .await?;
    // Staff cannot ban an admin.
    expect_problem(ban(admin.clone(), staff.clone()).await?, 403, "forbidden").await?;
    // Nothing changed.
    assert_eq!(me_status(&app, &nina).await?.0, 200);
    assert_eq!(count_where(&app, "users", "status <> 'active'").await?, 0);
    assert_eq!(
        count_where(&app, "audit_log", "action_type = 'user_ban'").await?,
        0
    );
    Ok(())
}
