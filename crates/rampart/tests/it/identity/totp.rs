//! A9: TOTP (RFC 6238) with replay protection, ±1 step, recovery codes; admins must
//! enrol before doing anything else.

use super::*;
use rampart_test_support::{both_engines, count_rows};

both_engines!(totp_login_flow, admin_without_totp_may_only_enrol);

async fn with_code(app: &TestApp, name: &str, code: Option<&str>) -> Result<(u16, Value)> {
    let mut body = json!({"login": name, "password": PW, "client": "native"});
    if let Some(c) = code {
        body["totp"] = json!(c);
    }
    parts(token_req(app, &fresh_client(app), body).await?).await
}

async fn totp_login_flow(app: TestApp) -> Result<()> {
    let id = user(&app, "wendy").await?;
    let bearer = s(&login(&app, "wendy", PW).await?, "access_token");
    // A wrong enrolment code does not turn TOTP on.
    let c = fresh_client(&app);
    let r = c
        .post(app.at("/v1/me/totp"))
        .bearer_auth(&bearer)
        .send()
        .await?;
    assert_eq!(r.status(), 200);
    let r = c
        .post(app.at("/v1/me/totp/confirm"))
        .bearer_auth(&bearer)
        .json(&json!({"code": "000000"}))
        .send()
        .await?;
    // (000000 could be right with probability 1e-6 × 3.)
    expect_problem(r, 401, "totp_invalid").await?;
    login(&app, "wendy", PW).await?;

    let (secret, recovery, _) = enrol_totp(&app, &bearer).await?;
    assert_eq!(recovery.len(), 10);
    // Encrypted at rest.
    let enc = rampart_test_support::text_value(
        app.db(),
        "SELECT totp_secret FROM users WHERE id = $1",
        &id,
    )
    .await?
    .expect("secret stored");
    assert!(!enc.contains(&rampart_identity::totp::base32_encode(&secret)));
    assert!(
        app.state
            .auth
            .account(&id)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .expect("user")
            .totp_enabled
    );

    app.clock.advance_secs(30);
    let sessions = count_rows(app.db(), "sessions").await?;
    let (st, v) = with_code(&app, "wendy", None).await?;
    assert_eq!(
        (st, v["code"].as_str()),
        (401, Some("totp_required")),
        "{v}"
    );
    let wrong = if totp_now(&app, &secret, 0) == "123456" {
        "654321"
    } else {
        "123456"
    };
    let (st, v) = with_code(&app, "wendy", Some(wrong)).await?;
    assert_eq!((st, v["code"].as_str()), (401, Some("totp_invalid")), "{v}");
    // Two steps away is too far.
    let (st, _) = with_code(&app, "wendy", Some(&totp_now(&app, &secret, 2))).await?;
    assert_eq!(st, 401);
    assert_eq!(
        count_rows(app.db(), "sessions").await?,
        sessions,
        "no session from refused logins"
    );

    let code = totp_now(&app, &secret, 0);
    let (st, v) = with_code(&app, "wendy", Some(&code)).await?;
    assert_eq!(st, 200, "{v}");
    // Replay of the same code.
    let (st, v) = with_code(&app, "wendy", Some(&code)).await?;
    assert_eq!(
        (st, v["code"].as_str()),
        (401, Some("totp_invalid")),
        "replay: {v}"
    );

    // One step behind (clock drift) is accepted, as long as it is newer than the last.
    app.clock.advance_secs(60);
    let (st, v) = with_code(&app, "wendy", Some(&totp_now(&app, &secret, -1))).await?;
    assert_eq!(st, 200, "-1 step: {v}");
    // One step ahead.
    let (st, v) = with_code(&app, "wendy", Some(&totp_now(&app, &secret, 1))).await?;
    assert_eq!(st, 200, "+1 step: {v}");
    // Now the current step is older than the last one used: refused.
    let (st, _) = with_code(&app, "wendy", Some(&totp_now(&app, &secret, 0))).await?;
    assert_eq!(st, 401);

    // Recovery codes work once each.
    app.clock.advance_secs(15 * 60);
    let (st, v) = with_code(&app, "wendy", Some(&recovery[0])).await?;
    assert_eq!(st, 200, "recovery code: {v}");
    let (st, v) = with_code(&app, "wendy", Some(&recovery[0])).await?;
    assert_eq!((st, v["code"].as_str()), (401, Some("totp_invalid")), "{v}");
    assert_eq!(
        app.state
            .auth
            .recovery_codes_left(&id)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?,
        9
    );
    // The password is still checked first: a right code with a wrong password fails.
    app.clock.advance_secs(60);
    let r = token_req(
        &app,
        &fresh_client(&app),
        json!({"login": "wendy", "password": WRONG, "totp": totp_now(&app, &secret, 0)}),
    )
    .await?;
    expect_problem(r, 401, "invalid_credentials").await?;
    Ok(())
}

async fn admin_without_totp_may_only_enrol(app: TestApp) -> Result<()> {
    user_with_role(&app, "xena", rampart_kernel::account::Role::Admin).await?;
    let bearer = s(&login(&app, "xena", PW).await?, "access_token");
    let (st, v) = parts(get_bearer(&app, "/v1/me", &bearer).await?).await?;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["totp_enrolment_required"], true);
    expect_problem(
        get_bearer(&app, "/v1/sessions", &bearer).await?,
        403,
        "totp_enrolment_required",
    )
    .await?;
    let r = fresh_client(&app)
        .post(app.at("/v1/admin/invites"))
        .bearer_auth(&bearer)
        .json(&json!({"max_uses": 1}))
        .send()
        .await?;
    expect_problem(r, 403, "totp_enrolment_required").await?;
    assert_eq!(count_rows(app.db(), "invites").await?, 0);

    let (secret, _, new_bearer) = enrol_totp(&app, &bearer).await?;
    // The pre-enrolment token ended with the enrolment (it must not reach admin
    // routes); the new one passes the gate.
    assert_eq!(
        get_bearer(&app, "/v1/sessions", &bearer).await?.status(),
        401
    );
    let bearer = new_bearer;
    assert_eq!(
        get_bearer(&app, "/v1/sessions", &bearer).await?.status(),
        200
    );
    // Admins cannot turn TOTP off.
    app.clock.advance_secs(30);
    let r = fresh_client(&app)
        .post(app.at("/v1/me/totp/disable"))
        .bearer_auth(&bearer)
        .json(&json!({"code": totp_now(&app, &secret, 0)}))
        .send()
        .await?;
    assert_eq!(r.status(), 403);
    let (st, v) = with_code(&app, "xena", None).await?;
    assert_eq!(
        (st, v["code"].as_str()),
        (401, Some("totp_required")),
        "{v}"
    );
    Ok(())
}
