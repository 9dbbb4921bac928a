//! A3: password recovery. Generic answer in the same time; tokens single-use,
//! expiring, superseded by a newer one and voided by a password change; a reset ends
//! every session.

use super::*;
use rampart_test_support::{both_engines, count_rows};

both_engines!(
    reset_request_answers_the_same_for_every_account,
    reset_token_works_once_and_ends_every_session,
    reset_token_expires_after_30_minutes,
    newer_reset_and_password_change_void_older_tokens,
);

/// Status, body and headers (without the per-request ones) of a reset request.
async fn request_reset(
    app: &TestApp,
    client: &reqwest::Client,
    login: &str,
) -> Result<(u16, Value, Vec<(String, String)>)> {
    let r = client
        .post(app.at("/v1/auth/password-reset"))
        .json(&json!({"login": login}))
        .send()
        .await?;
    let headers = r
        .headers()
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "date" | "x-request-id"))
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    let (st, v) = parts(r).await?;
    Ok((st, v, headers))
}

async fn confirm(app: &TestApp, token: &str, password: &str) -> Result<reqwest::Response> {
    Ok(fresh_client(app)
        .post(app.at("/v1/auth/password-reset/confirm"))
        .json(&json!({"token": token, "password": password}))
        .send()
        .await?)
}

async fn reset_request_answers_the_same_for_every_account(app: TestApp) -> Result<()> {
    user(&app, "dora").await?;
    // One client per request: the reset limit is 5 per hour per IP. Whether the
    // answer takes the same time is measured by the reset_timing benchmark (a
    // Mann-Whitney test over interleaved samples, docs/benchmarks.md), not here.
    let clients: Vec<reqwest::Client> = (0..24).map(|_| fresh_client(&app)).collect();
    let mut answers = Vec::new();
    for (i, c) in clients.iter().enumerate() {
        let login = if i % 2 == 0 {
            "dora@example.com"
        } else {
            "ghost@example.com"
        };
        let (st, v, headers) = request_reset(&app, c, login).await?;
        assert_eq!(st, 202, "{v}");
        answers.push((v, headers));
    }
    assert!(
        answers.windows(2).all(|w| w[0] == w[1]),
        "answers differ: {answers:?}"
    );
    // The existing account got its mail; no one else did.
    wait_mail(&app, "dora@example.com", "password_reset", 12).await?;
    assert_eq!(
        mail_count(&app, "ghost@example.com", "password_reset").await?,
        0
    );
    assert_eq!(count_rows(app.db(), "outbox").await?, 12);
    Ok(())
}

async fn reset_token_works_once_and_ends_every_session(app: TestApp) -> Result<()> {
    let id = user(&app, "erin").await?;
    let t = login(&app, "erin", PW).await?;
    let (access, refresh_tok) = (s(&t, "access_token"), s(&t, "refresh_token"));
    let web = app
        .state
        .auth
        .start_web_session(&id, &ctx())
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    assert_eq!(me_status(&app, &access).await?.0, 200);
    let r = fresh_client(&app)
        .post(app.at("/v1/tokens"))
        .bearer_auth(&access)
        .json(&json!({"name": "cli", "scopes": ["profile:read"]}))
        .send()
        .await?;
    let (st, v) = parts(r).await?;
    assert_eq!(st, 201, "{v}");
    let pat = s(&v, "token");
    assert_eq!(me_status(&app, &pat).await?.0, 200);

    let (st, _, _) = request_reset(&app, &fresh_client(&app), "erin").await?;
    assert_eq!(st, 202);
    let mails = wait_mail(&app, "erin@example.com", "password_reset", 1).await?;
    let token = reset_token_of(&mails[0]);
    assert!(token.starts_with("rrs_"), "{token}");
    // Only a hash is stored.
    assert_eq!(
        count_where(&app, "password_resets", &format!("token_hash = '{token}'")).await?,
        0
    );

    let r = confirm(&app, &token, PW2).await?;
    assert_eq!(r.status(), 204, "{:?}", r.text().await);
    // Reused: refused, and the password stays the one just set.
    expect_problem(
        confirm(&app, &token, PW3).await?,
        400,
        "reset_token_invalid",
    )
    .await?;
    login(&app, "erin", PW2).await?;
    let (st, v) = parts(
        token_req(
            &app,
            &fresh_client(&app),
            json!({"login": "erin", "password": PW3}),
        )
        .await?,
    )
    .await?;
    assert_eq!((st, v["code"].as_str()), (401, Some("invalid_credentials")));
    let (st, _) = parts(
        token_req(
            &app,
            &fresh_client(&app),
            json!({"login": "erin", "password": PW}),
        )
        .await?,
    )
    .await?;
    assert_eq!(st, 401, "the old password must fail");

    // Every old credential is dead.
    assert_eq!(
        me_status(&app, &access).await?,
        (401, "token_revoked".into())
    );
    expect_problem(refresh(&app, &refresh_tok).await?, 401, "token_revoked").await?;
    let r = fresh_client(&app)
        .get(app.at("/v1/me"))
        .header("cookie", format!("rampart_session={}", web.cookie))
        .send()
        .await?;
    assert_eq!(r.status(), 401, "the web session must end");
    assert_eq!(
        me_status(&app, &pat).await?.0,
        401,
        "PATs end with a reset too"
    );
    // A garbage token is refused the same way.
    expect_problem(
        confirm(&app, "rrs_nonsense", PW3).await?,
        400,
        "reset_token_invalid",
    )
    .await?;
    Ok(())
}

async fn reset_token_expires_after_30_minutes(app: TestApp) -> Result<()> {
    user(&app, "fay").await?;
    request_reset(&app, &fresh_client(&app), "fay").await?;
    let token = reset_token_of(&wait_mail(&app, "fay@example.com", "password_reset", 1).await?[0]);
    app.clock.advance_secs(31 * 60);
    expect_problem(
        confirm(&app, &token, PW2).await?,
        400,
        "reset_token_invalid",
    )
    .await?;
    login(&app, "fay", PW).await?;
    Ok(())
}

async fn newer_reset_and_password_change_void_older_tokens(app: TestApp) -> Result<()> {
    user(&app, "gus").await?;
    request_reset(&app, &fresh_client(&app), "gus").await?;
    let first = reset_token_of(&wait_mail(&app, "gus@example.com", "password_reset", 1).await?[0]);
    app.clock.advance_secs(1);
    request_reset(&app, &fresh_client(&app), "gus").await?;
    let mails = wait_mail(&app, "gus@example.com", "password_reset", 2).await?;
    let second = reset_token_of(&mails[0]);
    assert_ne!(first, second);
    // Superseded.
    expect_problem(
        confirm(&app, &first, PW2).await?,
        400,
        "reset_token_invalid",
    )
    .await?;
    login(&app, "gus", PW).await?;

    // A password change voids the outstanding (newer) token too.
    let t = login(&app, "gus", PW).await?;
    let r = fresh_client(&app)
        .post(app.at("/v1/me/password"))
        .bearer_auth(s(&t, "access_token"))
        .json(&json!({"current_password": PW, "new_password": PW3}))
        .send()
        .await?;
    assert_eq!(r.status(), 204, "{:?}", r.text().await);
    expect_problem(
        confirm(&app, &second, PW2).await?,
        400,
        "reset_token_invalid",
    )
    .await?;
    login(&app, "gus", PW3).await?;
    Ok(())
}
