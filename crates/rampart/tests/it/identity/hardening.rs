//! Abuse cases found by an independent review: each sends the bad request, checks the
//! refusal and that nothing changed.

use super::*;
use rampart_kernel::Clock;
use rampart_test_support::{both_engines, count_rows, TestApp};

both_engines!(
    a_pat_never_reaches_staff_or_admin_routes,
    wrong_current_passwords_count_toward_the_lockout,
    totp_disable_is_rate_limited_and_counts_failures,
    web_forms_need_the_token_even_with_an_authorization_header,
    invite_expiry_is_validated,
    bad_path_parameters_are_problems,
);

async fn a_pat_never_reaches_staff_or_admin_routes(app: TestApp) -> Result<()> {
    let staff = user_with_role(&app, "staffer", Role::Staff).await?;
    let victim = user(&app, "victim").await?;
    let _ = staff;
    let t = login(&app, "staffer", PW).await?;
    let r = fresh_client(&app)
        .post(app.at("/v1/tokens"))
        .bearer_auth(s(&t, "access_token"))
        .json(&json!({"name": "readonly", "scopes": ["profile:read"]}))
        .send()
        .await?;
    assert_eq!(r.status(), 201);
    let pat = s(&r.json::<Value>().await?, "token");
    let audit_before = count_rows(app.db(), "audit_log").await?;
    let r = fresh_client(&app)
        .post(app.at(&format!("/v1/admin/users/{victim}/ban")))
        .bearer_auth(&pat)
        .send()
        .await?;
    expect_problem(r, 403, "insufficient_scope").await?;
    let u = app
        .state
        .auth
        .account(&victim)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .expect("victim");
    assert_eq!(u.status, rampart_kernel::account::AccountStatus::Active);
    assert_eq!(count_rows(app.db(), "audit_log").await?, audit_before);
    // The same staff member's access token reaches the route, which asks for a
    // second factor first (staff powers need TOTP)…
    let r = fresh_client(&app)
        .post(app.at(&format!("/v1/admin/users/{victim}/ban")))
        .bearer_auth(s(&t, "access_token"))
        .send()
        .await?;
    expect_problem(r, 403, "totp_enrolment_required").await?;
    // …and, enrolled, may (the route itself works).
    let (secret, _, _) = crate::identity::enrol_totp(&app, &s(&t, "access_token")).await?;
    app.clock.advance_secs(30);
    let t = crate::identity::token_req(
        &app,
        &fresh_client(&app),
        json!({"login": "staffer", "password": PW, "client": "native",
               "totp": crate::identity::totp_now(&app, &secret, 0)}),
    )
    .await?
    .json::<Value>()
    .await?;
    let r = fresh_client(&app)
        .post(app.at(&format!("/v1/admin/users/{victim}/ban")))
        .bearer_auth(s(&t, "access_token"))
        .send()
        .await?;
    assert_eq!(r.status(), 204);
    // A promotion deletes the PATs minted under the old role.
    let admin_pats_before = count_rows(app.db(), "personal_access_tokens").await?;
    assert_eq!(admin_pats_before, 1);
    app.state
        .auth
        .set_role(
            None,
            app.state
                .auth
                .account_by_login("staffer")
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?
                .expect("u")
                .id
                .as_str(),
            Role::Admin,
            &ctx(),
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    assert_eq!(count_rows(app.db(), "personal_access_tokens").await?, 0);
    Ok(())
}

async fn wrong_current_passwords_count_toward_the_lockout(app: TestApp) -> Result<()> {
    user(&app, "guessed").await?;
    let t = login(&app, "guessed", PW).await?;
    let at = s(&t, "access_token");
    for i in 0..5 {
        app.clock.advance_secs(10);
        let r = fresh_client(&app)
            .post(app.at("/v1/me/password"))
            .bearer_auth(&at)
            .json(
                &json!({"current_password": format!("guess number {i} nope"), "new_password": PW2}),
            )
            .send()
            .await?;
        expect_problem(r, 422, "validation_failed").await?;
    }
    // The account is now locked: even the right password is refused, and so is a
    // password change with the right current password.
    let r = token_req(
        &app,
        &fresh_client(&app),
        json!({"login": "guessed", "password": PW}),
    )
    .await?;
    expect_problem(r, 401, "invalid_credentials").await?;
    let r = fresh_client(&app)
        .post(app.at("/v1/me/password"))
        .bearer_auth(&at)
        .json(&json!({"current_password": PW, "new_password": PW2}))
        .send()
        .await?;
    expect_problem(r, 422, "validation_failed").await?;
    app.clock.advance_secs(15 * 60 + 1);
    login(&app, "guessed", PW).await?;
    Ok(())
}

async fn totp_disable_is_rate_limited_and_counts_failures(app: TestApp) -> Result<()> {
    user(&app, "twofa").await?;
    let t = login(&app, "twofa", PW).await?;
    let at = s(&t, "access_token");
    let c = fresh_client(&app);
    let begin: Value = c
        .post(app.at("/v1/me/totp"))
        .bearer_auth(&at)
        .send()
        .await?
        .json()
        .await?;
    let secret = rampart_identity::totp::base32_decode(&s(&begin, "secret")).expect("secret");
    let step = rampart_identity::totp::step_at(app.clock.now_secs()).expect("step");
    let r = c
        .post(app.at("/v1/me/totp/confirm"))
        .bearer_auth(&at)
        .json(&json!({"code": rampart_identity::totp::code_at(&secret, step)}))
        .send()
        .await?;
    assert_eq!(r.status(), 200);
    // Enrolment replaces the token pair (a privilege change keeps no old credential).
    let at = s(&r.json::<Value>().await?, "access_token");
    let mut statuses = Vec::new();
    for k in 0..7 {
        let r = fresh_client(&app)
            .post(app.at("/v1/me/totp/disable"))
            .bearer_auth(&at)
            .json(&json!({"code": format!("{k:06}")}))
            .send()
            .await?;
        statuses.push(r.status().as_u16());
    }
    // Per user, whatever the IP: five second-factor attempts per 5 minutes, and the
    // enrolment confirmation was the first of them.
    assert_eq!(statuses, [401, 401, 401, 401, 429, 429, 429]);
    let u = app
        .state
        .auth
        .account_by_login("twofa")
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .expect("u");
    assert!(u.totp_enabled, "TOTP stays on");
    let locked = rampart_test_support::text_value(
        app.db(),
        "SELECT CAST(locked_until AS TEXT) FROM users WHERE username = $1",
        "twofa",
    )
    .await?;
    assert!(locked.is_none(), "four failures do not lock yet");
    // The fifth wrong code (after the window) starts the account lockout.
    app.clock.advance_secs(301);
    let r = fresh_client(&app)
        .post(app.at("/v1/me/totp/disable"))
        .bearer_auth(&at)
        .json(&json!({"code": "999999"}))
        .send()
        .await?;
    assert_eq!(r.status(), 401);
    let u = app
        .state
        .auth
        .account_by_login("twofa")
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .expect("u");
    assert!(u.totp_enabled);
    let locked = rampart_test_support::text_value(
        app.db(),
        "SELECT CAST(locked_until AS TEXT) FROM users WHERE username = $1",
        "twofa",
    )
    .await?;
    assert!(locked.is_some(), "five wrong codes lock the account");
    Ok(())
}

async fn web_forms_need_the_token_even_with_an_authorization_header(app: TestApp) -> Result<()> {
    user(&app, "formuser").await?;
    let before = count_rows(app.db(), "sessions").await?;
    let r = fresh_client(&app)
        .post(app.at("/login"))
        .header("authorization", "Basic dXNlcjpwYXNz")
        .header("accept", "application/json")
        .form(&[("login", "formuser"), ("password", PW)])
        .send()
        .await?;
    expect_problem(r, 403, "csrf_token_missing").await?;
    let users_before = count_rows(app.db(), "users").await?;
    let r = fresh_client(&app)
        .post(app.at("/register"))
        .header("authorization", "Bearer whatever")
        .header("accept", "application/json")
        .form(&[("username", "sneaky"), ("password", PW)])
        .send()
        .await?;
    expect_problem(r, 403, "csrf_token_missing").await?;
    assert_eq!(count_rows(app.db(), "sessions").await?, before);
    assert_eq!(count_rows(app.db(), "users").await?, users_before);
    Ok(())
}

async fn invite_expiry_is_validated(app: TestApp) -> Result<()> {
    for days in [i64::MAX, -5, 0, 367] {
        let r = app
            .state
            .auth
            .create_invite(None, 1, Some(days), &ctx())
            .await;
        assert!(
            matches!(r, Err(rampart_identity::AuthError::Validation(_))),
            "{days}: {r:?}"
        );
    }
    assert_eq!(count_rows(app.db(), "invites").await?, 0);
    assert!(app
        .state
        .auth
        .create_invite(None, 1, Some(7), &ctx())
        .await
        .is_ok());
    Ok(())
}

async fn bad_path_parameters_are_problems(app: TestApp) -> Result<()> {
    user(&app, "pathy").await?;
    let t = login(&app, "pathy", PW).await?;
    let r = fresh_client(&app)
        .delete(app.at("/v1/tokens/%FF"))
        .bearer_auth(s(&t, "access_token"))
        .send()
        .await?;
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    assert!(r.headers().contains_key("x-request-id"));
    let (st, v) = parts(r).await?;
    assert!(st == 400 || st == 404, "{st} {v}");
    assert!(v["code"].is_string());
    Ok(())
}
