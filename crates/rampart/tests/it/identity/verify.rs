//! A1 / issue 8: e-mail verification, as an attacker would probe it. Registration
//! with a taken address answers exactly like one with a new address and changes
//! nothing; unverified addresses get no reset links; verification tokens are single
//! use and expire; an address change applies only once the new address is verified.

use super::*;
use rampart_kernel::Clock;
use rampart_test_support::{both_engines, count_rows, text_value, TestApp};

both_engines!(
    registration_with_a_taken_email_looks_like_a_new_one,
    verification_creates_the_account_once,
    verification_tokens_wrong_expired_or_superseded_are_refused,
    an_unverified_address_gets_no_reset_link,
    changing_the_email_needs_the_password_and_reverifies,
);

/// POST /v1/auth/register from a fresh address; status, body and the headers that are
/// not per-request by nature.
async fn register_raw(app: &TestApp, body: Value) -> Result<(u16, String, Vec<(String, String)>)> {
    let r = fresh_client(app)
        .post(app.at("/v1/auth/register"))
        .json(&body)
        .send()
        .await?;
    let status = r.status().as_u16();
    let mut headers: Vec<(String, String)> = r
        .headers()
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "date" | "x-request-id"))
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    headers.sort();
    Ok((status, r.text().await?, headers))
}

/// The token of the newest `verify_email` mail to `email`.
async fn verify_token(app: &TestApp, email: &str) -> Result<String> {
    let mails = wait_mail(app, email, "verify_email", 1).await?;
    Ok(reset_token_of(&mails[0]))
}

async fn verify(app: &TestApp, token: &str) -> Result<(u16, Value)> {
    parts(
        fresh_client(app)
            .post(app.at("/v1/auth/verify-email"))
            .json(&json!({"token": token}))
            .send()
            .await?,
    )
    .await
}

async fn user_row(app: &TestApp, id: &str) -> Result<Option<String>> {
    text_value(
        app.db(),
        "SELECT username || '|' || COALESCE(email, '') || '|' || password_hash || '|' || status || '|' || \
         CAST(updated_at AS TEXT) || '|' || COALESCE(CAST(email_verified_at AS TEXT), '-') FROM users WHERE id = $1",
        id,
    )
    .await
}

async fn registration_with_a_taken_email_looks_like_a_new_one(app: TestApp) -> Result<()> {
    let owner = user(&app, "owner").await?;
    let before = user_row(&app, &owner).await?;
    let taken = register_raw(
        &app,
        json!({"username": "intruder", "email": "Owner@Example.com", "password": PW2}),
    )
    .await?;
    let fresh = register_raw(
        &app,
        json!({"username": "newcomer", "email": "newcomer@example.com", "password": PW2}),
    )
    .await?;
    assert_eq!(taken.0, 202, "{}", taken.1);
    assert_eq!(
        taken, fresh,
        "taken and new address must answer identically"
    );
    assert!(
        !taken.1.contains("owner") && !taken.1.contains("id"),
        "{}",
        taken.1
    );

    // Nothing about the existing account changed; no account was created yet.
    assert_eq!(user_row(&app, &owner).await?, before);
    assert_eq!(count_rows(app.db(), "users").await?, 1);
    // Neither new name can log in before its address is verified.
    for name in ["intruder", "newcomer"] {
        let r = token_req(
            &app,
            &fresh_client(&app),
            json!({"login": name, "password": PW2}),
        )
        .await?;
        expect_problem(r, 401, "invalid_credentials").await?;
    }
    // The owner gets exactly one notice, and no link; the new address gets a link.
    assert_eq!(
        mail_count(&app, "owner@example.com", "registration_attempt").await?,
        1
    );
    assert_eq!(
        mail_count(&app, "owner@example.com", "verify_email").await?,
        0
    );
    assert_eq!(
        mail_count(&app, "newcomer@example.com", "verify_email").await?,
        1
    );
    let notice = wait_mail(&app, "owner@example.com", "registration_attempt", 1).await?;
    assert!(
        !notice[0].contains("token="),
        "a notice carries no link: {}",
        notice[0]
    );

    // A taken username is still a 409 (usernames are public), whatever the address.
    let a = register_raw(
        &app,
        json!({"username": "owner", "email": "x1@example.com", "password": PW2}),
    )
    .await?;
    let b = register_raw(
        &app,
        json!({"username": "owner", "email": "owner@example.com", "password": PW2}),
    )
    .await?;
    assert_eq!((a.0, b.0), (409, 409));
    let strip = |t: &str| -> Result<Value> {
        let mut v: Value = serde_json::from_str(t)?;
        v["request_id"] = Value::Null;
        Ok(v)
    };
    assert_eq!(strip(&a.1)?, strip(&b.1)?);
    Ok(())
}

async fn verification_creates_the_account_once(app: TestApp) -> Result<()> {
    let (st, _, _) = register_raw(
        &app,
        json!({"username": "dora", "email": "dora@example.com", "password": PW}),
    )
    .await?;
    assert_eq!(st, 202);
    let token = verify_token(&app, "dora@example.com").await?;
    assert!(token.starts_with("rve_"), "{token}");
    assert_eq!(
        count_where(
            &app,
            "email_verifications",
            &format!("token_hash = '{token}'")
        )
        .await?,
        0,
        "stored hashed"
    );
    let (st, v) = verify(&app, &token).await?;
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        (s(&v, "username"), s(&v, "email")),
        ("dora".into(), "dora@example.com".into())
    );
    login(&app, "dora", PW).await?;
    assert_eq!(
        count_where(
            &app,
            "users",
            "username = 'dora' AND email_verified_at IS NOT NULL"
        )
        .await?,
        1
    );

    // Single use.
    let (st, v) = verify(&app, &token).await?;
    assert_eq!(
        (st, v["code"].as_str()),
        (400, Some("verify_token_invalid")),
        "{v}"
    );
    assert_eq!(count_rows(app.db(), "users").await?, 1);
    Ok(())
}

async fn verification_tokens_wrong_expired_or_superseded_are_refused(app: TestApp) -> Result<()> {
    for bad in [
        "",
        "rve_nope",
        "rrs_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA000000",
    ] {
        let (st, v) = verify(&app, bad).await?;
        assert_eq!(
            (st, v["code"].as_str()),
            (400, Some("verify_token_invalid")),
            "{bad}: {v}"
        );
    }
    // Expired: the link lives 24 hours.
    register_raw(
        &app,
        json!({"username": "emil", "email": "emil@example.com", "password": PW}),
    )
    .await?;
    let old = verify_token(&app, "emil@example.com").await?;
    app.clock.advance_secs(24 * 3600 + 1);
    let (st, v) = verify(&app, &old).await?;
    assert_eq!(
        (st, v["code"].as_str()),
        (400, Some("verify_token_invalid")),
        "{v}"
    );
    // A forged token of the right shape.
    let mut forged = old.clone();
    forged.replace_range(10..11, if &old[10..11] == "A" { "B" } else { "A" });
    let (st, _) = verify(&app, &forged).await?;
    assert_eq!(st, 400);
    // Superseded by a newer registration of the same address.
    register_raw(
        &app,
        json!({"username": "emil", "email": "emil@example.com", "password": PW}),
    )
    .await?;
    let first = verify_token(&app, "emil@example.com").await?;
    register_raw(
        &app,
        json!({"username": "emil2", "email": "emil@example.com", "password": PW}),
    )
    .await?;
    let second = wait_mail(&app, "emil@example.com", "verify_email", 3).await?;
    let second = reset_token_of(&second[0]);
    assert_ne!(first, second);
    let (st, _) = verify(&app, &first).await?;
    assert_eq!(st, 400);
    assert_eq!(count_rows(app.db(), "users").await?, 0);
    let (st, v) = verify(&app, &second).await?;
    assert_eq!((st, s(&v, "username")), (200, "emil2".into()));
    Ok(())
}

async fn an_unverified_address_gets_no_reset_link(app: TestApp) -> Result<()> {
    use rampart_identity::accounts::{create_account, NewAccount};
    let phc = app
        .state
        .auth
        .hasher()
        .hash(&SecretString::from(PW))
        .await?;
    let name =
        rampart_kernel::Username::parse("u", "unverified").map_err(|e| anyhow::anyhow!(e.code))?;
    let email = rampart_kernel::Email::parse("e", "unverified@example.com")
        .map_err(|e| anyhow::anyhow!(e.code))?;
    create_account(
        app.db(),
        NewAccount {
            username: &name,
            email: Some(&email),
            email_verified: false,
            password_hash: &phc,
            role: Role::Customer,
            now: app.clock.now_ms(),
        },
        None,
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    user(&app, "verified").await?;
    for login in [
        "unverified@example.com",
        "unverified",
        "verified@example.com",
    ] {
        let r = fresh_client(&app)
            .post(app.at("/v1/auth/password-reset"))
            .json(&json!({"login": login}))
            .send()
            .await?;
        assert_eq!(r.status(), 202);
    }
    // The verified one's mail arrives; by then the others' background tasks ran too.
    wait_mail(&app, "verified@example.com", "password_reset", 1).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        mail_count(&app, "unverified@example.com", "password_reset").await?,
        0
    );
    assert_eq!(count_rows(app.db(), "password_resets").await?, 1);
    Ok(())
}

async fn change_email(
    app: &TestApp,
    bearer: &str,
    password: &str,
    email: &str,
) -> Result<(u16, String)> {
    let r = fresh_client(app)
        .post(app.at("/v1/me/email"))
        .bearer_auth(bearer)
        .json(&json!({"current_password": password, "email": email}))
        .send()
        .await?;
    Ok((r.status().as_u16(), r.text().await?))
}

async fn changing_the_email_needs_the_password_and_reverifies(app: TestApp) -> Result<()> {
    let carl = user(&app, "carl").await?;
    user(&app, "other").await?;
    let t = login(&app, "carl", PW).await?;
    let bearer = s(&t, "access_token");
    let email_of = || text_value(app.db(), "SELECT email FROM users WHERE id = $1", &carl);

    // Wrong password: refused, nothing queued.
    let (st, body) = change_email(&app, &bearer, WRONG, "carl.new@example.com").await?;
    assert_eq!(st, 422, "{body}");
    assert!(body.contains("current_password"), "{body}");
    assert_eq!(
        mail_count(&app, "carl.new@example.com", "verify_email").await?,
        0
    );

    // A taken address and a new one answer the same.
    let taken = change_email(&app, &bearer, PW, "other@example.com").await?;
    let fresh = change_email(&app, &bearer, PW, "carl.new@example.com").await?;
    assert_eq!(taken.0, 202, "{}", taken.1);
    assert_eq!(taken, fresh);
    assert_eq!(
        mail_count(&app, "other@example.com", "registration_attempt").await?,
        1
    );
    assert_eq!(
        mail_count(&app, "other@example.com", "verify_email").await?,
        0
    );
    assert_eq!(
        mail_count(&app, "carl@example.com", "email_change_requested").await?,
        2
    );

    // Unverified until verified: the account keeps its old address, and the new one
    // receives no reset link.
    assert_eq!(email_of().await?.as_deref(), Some("carl@example.com"));
    fresh_client(&app)
        .post(app.at("/v1/auth/password-reset"))
        .json(&json!({"login": "carl.new@example.com"}))
        .send()
        .await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        mail_count(&app, "carl.new@example.com", "password_reset").await?,
        0
    );

    let token = verify_token(&app, "carl.new@example.com").await?;
    let (st, v) = verify(&app, &token).await?;
    assert_eq!(st, 200, "{v}");
    assert_eq!(email_of().await?.as_deref(), Some("carl.new@example.com"));
    assert_eq!(
        count_where(
            &app,
            "users",
            &format!("id = '{carl}' AND email_verified_at IS NOT NULL")
        )
        .await?,
        1
    );
    assert_eq!(
        mail_count(&app, "carl@example.com", "email_changed").await?,
        1
    );
    // Now the new address receives reset links.
    fresh_client(&app)
        .post(app.at("/v1/auth/password-reset"))
        .json(&json!({"login": "carl.new@example.com"}))
        .send()
        .await?;
    wait_mail(&app, "carl.new@example.com", "password_reset", 1).await?;
    Ok(())
}
