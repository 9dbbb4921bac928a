//! A7: personal access tokens — shown once, stored hashed, scoped, last use recorded,
//! no minting of tokens with a token.

use super::*;
use rampart_kernel::Clock as _;
use rampart_test_support::{both_engines, count_rows, text_value};

both_engines!(
    pat_lifecycle_and_scopes,
    pat_cannot_manage_tokens,
    pat_expiry_and_ownership,
    pats_get_a_bounded_lifetime_and_expired_stays_expired,
    logout_with_a_pat_is_refused,
);

async fn create(app: &TestApp, bearer: &str, body: Value) -> Result<(u16, Value)> {
    parts(
        fresh_client(app)
            .post(app.at("/v1/tokens"))
            .bearer_auth(bearer)
            .json(&body)
            .send()
            .await?,
    )
    .await
}

async fn list(app: &TestApp, bearer: &str) -> Result<(u16, Value, String)> {
    let r = get_bearer(app, "/v1/tokens", bearer).await?;
    let st = r.status().as_u16();
    let text = r.text().await?;
    Ok((st, serde_json::from_str(&text).unwrap_or(Value::Null), text))
}

async fn pat_lifecycle_and_scopes(app: TestApp) -> Result<()> {
    user(&app, "quinn").await?;
    let bearer = s(&login(&app, "quinn", PW).await?, "access_token");
    let (st, v) = create(
        &app,
        &bearer,
        json!({"name": "laptop", "scopes": ["profile:read"]}),
    )
    .await?;
    assert_eq!(st, 201, "{v}");
    let pat = s(&v, "token");
    let id = s(&v, "id");
    assert!(pat.starts_with("rpat_"), "{pat}");
    assert!(v["last_used_at"].is_null());
    // Stored as a hash only.
    assert_eq!(
        count_where(
            &app,
            "personal_access_tokens",
            &format!("token_hash = '{pat}'")
        )
        .await?,
        0
    );

    // Listed without the secret.
    let (st, l, text) = list(&app, &bearer).await?;
    assert_eq!(st, 200);
    assert_eq!(l["tokens"].as_array().map(Vec::len), Some(1));
    assert!(l["tokens"][0].get("token").is_none());
    assert!(!text.contains(&pat[5..]), "the secret must not be listed");

    // Scope enforcement.
    assert_eq!(me_status(&app, &pat).await?.0, 200);
    expect_problem(
        get_bearer(&app, "/v1/sessions", &pat).await?,
        403,
        "insufficient_scope",
    )
    .await?;
    let r = fresh_client(&app)
        .delete(app.at("/v1/sessions"))
        .bearer_auth(&pat)
        .send()
        .await?;
    expect_problem(r, 403, "insufficient_scope").await?;
    assert_eq!(
        count_where(&app, "sessions", "revoked_at IS NULL").await?,
        1
    );

    // last_used_at recorded.
    let (_, l, _) = list(&app, &bearer).await?;
    assert!(l["tokens"][0]["last_used_at"].is_i64(), "{l}");

    // Rename and re-scope.
    let r = fresh_client(&app)
        .patch(app.at(&format!("/v1/tokens/{id}")))
        .bearer_auth(&bearer)
        .json(&json!({"name": "desktop", "scopes": ["profile:read", "sessions:read"]}))
        .send()
        .await?;
    let (st, v) = parts(r).await?;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["name"], "desktop");
    assert_eq!(v["scopes"], json!(["profile:read", "sessions:read"]));
    assert_eq!(get_bearer(&app, "/v1/sessions", &pat).await?.status(), 200);
    // Unknown scopes are refused and change nothing.
    let r = fresh_client(&app)
        .patch(app.at(&format!("/v1/tokens/{id}")))
        .bearer_auth(&bearer)
        .json(&json!({"scopes": ["root"]}))
        .send()
        .await?;
    assert_eq!(r.status(), 422);
    let (_, l, _) = list(&app, &bearer).await?;
    assert_eq!(
        l["tokens"][0]["scopes"],
        json!(["profile:read", "sessions:read"])
    );

    // Delete: the token stops working at once.
    let r = fresh_client(&app)
        .delete(app.at(&format!("/v1/tokens/{id}")))
        .bearer_auth(&bearer)
        .send()
        .await?;
    assert_eq!(r.status(), 204);
    assert_eq!(me_status(&app, &pat).await?, (401, "token_invalid".into()));
    let (_, l, _) = list(&app, &bearer).await?;
    assert_eq!(l["tokens"], json!([]));
    Ok(())
}

async fn pat_cannot_manage_tokens(app: TestApp) -> Result<()> {
    user(&app, "rita").await?;
    let bearer = s(&login(&app, "rita", PW).await?, "access_token");
    let all: Vec<&str> = rampart_identity::Scope::ALL
        .iter()
        .map(|s| s.as_str())
        .collect();
    let (_, v) = create(&app, &bearer, json!({"name": "all", "scopes": all})).await?;
    let pat = s(&v, "token");
    let id = s(&v, "id");
    let before = count_rows(app.db(), "personal_access_tokens").await?;
    let (st, v) = create(
        &app,
        &pat,
        json!({"name": "child", "scopes": ["profile:read"]}),
    )
    .await?;
    assert_eq!(
        (st, v["code"].as_str()),
        (403, Some("insufficient_scope")),
        "{v}"
    );
    assert_eq!(
        count_rows(app.db(), "personal_access_tokens").await?,
        before
    );
    let r = fresh_client(&app)
        .patch(app.at(&format!("/v1/tokens/{id}")))
        .bearer_auth(&pat)
        .json(&json!({"expires_in_days": null}))
        .send()
        .await?;
    expect_problem(r, 403, "insufficient_scope").await?;
    let r = fresh_client(&app)
        .delete(app.at(&format!("/v1/tokens/{id}")))
        .bearer_auth(&pat)
        .send()
        .await?;
    expect_problem(r, 403, "insufficient_scope").await?;
    assert_eq!(
        count_rows(app.db(), "personal_access_tokens").await?,
        before
    );
    Ok(())
}

async fn pat_expiry_and_ownership(app: TestApp) -> Result<()> {
    user(&app, "sam").await?;
    user(&app, "tess").await?;
    let sam = s(&login(&app, "sam", PW).await?, "access_token");
    let tess = s(&login(&app, "tess", PW).await?, "access_token");
    let (st, v) = create(
        &app,
        &sam,
        json!({"name": "short", "scopes": ["profile:read"], "expires_in_days": 1}),
    )
    .await?;
    assert_eq!(st, 201, "{v}");
    let pat = s(&v, "token");
    let id = s(&v, "id");
    // Someone else cannot see, rename or delete it.
    let r = fresh_client(&app)
        .patch(app.at(&format!("/v1/tokens/{id}")))
        .bearer_auth(&tess)
        .json(&json!({"name": "mine now"}))
        .send()
        .await?;
    expect_problem(r, 404, "not_found").await?;
    let r = fresh_client(&app)
        .delete(app.at(&format!("/v1/tokens/{id}")))
        .bearer_auth(&tess)
        .send()
        .await?;
    expect_problem(r, 404, "not_found").await?;
    assert_eq!(list(&app, &tess).await?.1["tokens"], json!([]));
    assert_eq!(me_status(&app, &pat).await?.0, 200);
    // Out-of-range expiry refused.
    let (st, _) = create(
        &app,
        &sam,
        json!({"name": "x", "scopes": ["profile:read"], "expires_in_days": 400}),
    )
    .await?;
    assert_eq!(st, 422);
    // Expired.
    app.clock.advance_secs(24 * 3600 + 1);
    assert_eq!(me_status(&app, &pat).await?, (401, "token_expired".into()));
    Ok(())
}

async fn patch(app: &TestApp, bearer: &str, id: &str, body: Value) -> Result<(u16, Value)> {
    parts(
        fresh_client(app)
            .patch(app.at(&format!("/v1/tokens/{id}")))
            .bearer_auth(bearer)
            .json(&body)
            .send()
            .await?,
    )
    .await
}

/// A PAT without an expiry gets the default lifetime (90 days) instead of living
/// forever; more than the maximum (366 days) is refused; an expired token cannot be
/// revived with a PATCH.
async fn pats_get_a_bounded_lifetime_and_expired_stays_expired(app: TestApp) -> Result<()> {
    user(&app, "uma").await?;
    let now = app.clock.now_ms();
    let bearer = s(&login(&app, "uma", PW).await?, "access_token");
    let (st, v) = create(
        &app,
        &bearer,
        json!({"name": "ci", "scopes": ["profile:read"]}),
    )
    .await?;
    assert_eq!(st, 201, "{v}");
    let pat = s(&v, "token");
    let id = s(&v, "id");
    let exp = text_value(
        app.db(),
        "SELECT CAST(expires_at AS TEXT) FROM personal_access_tokens WHERE id = $1",
        &id,
    )
    .await?
    .context("expiry")?
    .parse::<i64>()?;
    assert_eq!(exp, now + 90 * 86_400_000, "default lifetime");
    let (st, v) = create(
        &app,
        &bearer,
        json!({"name": "long", "scopes": ["profile:read"], "expires_in_days": 367}),
    )
    .await?;
    assert_eq!(
        (st, v["errors"][0]["code"].as_str()),
        (422, Some("out_of_range")),
        "{v}"
    );
    // `null` no longer means "never".
    let (st, v) = patch(&app, &bearer, &id, json!({"expires_in_days": null})).await?;
    assert_eq!(st, 200, "{v}");
    let still = text_value(
        app.db(),
        "SELECT CAST(expires_at AS TEXT) FROM personal_access_tokens WHERE id = $1",
        &id,
    )
    .await?;
    assert!(
        still.is_some(),
        "a PATCH with null must not remove the expiry"
    );

    // Expired stays expired.
    app.clock.advance_secs(91 * 86_400);
    assert_eq!(me_status(&app, &pat).await?, (401, "token_expired".into()));
    let bearer = s(&login(&app, "uma", PW).await?, "access_token");
    for body in [
        json!({"expires_in_days": 30}),
        json!({"expires_in_days": null}),
    ] {
        let (st, v) = patch(&app, &bearer, &id, body).await?;
        assert_eq!(
            (st, v["errors"][0]["code"].as_str()),
            (422, Some("token_expired")),
            "{v}"
        );
    }
    assert_eq!(me_status(&app, &pat).await?, (401, "token_expired".into()));

    // A token stored without an expiry (before lifetimes) dies at the maximum.
    let (_, v) = create(
        &app,
        &bearer,
        json!({"name": "legacy", "scopes": ["profile:read"]}),
    )
    .await?;
    let legacy = s(&v, "token");
    rampart_test_support::exec(
        app.db(),
        &format!(
            "UPDATE personal_access_tokens SET expires_at = NULL WHERE id = '{}'",
            s(&v, "id")
        ),
    )
    .await?;
    assert_eq!(me_status(&app, &legacy).await?.0, 200);
    app.clock.advance_secs(367 * 86_400);
    assert_eq!(
        me_status(&app, &legacy).await?,
        (401, "token_expired".into())
    );
    Ok(())
}

/// Logging out with a PAT used to answer 204 and do nothing, so the caller believed
/// the credential dead; it is refused, and the PAT keeps working until deleted.
async fn logout_with_a_pat_is_refused(app: TestApp) -> Result<()> {
    user(&app, "vic").await?;
    let bearer = s(&login(&app, "vic", PW).await?, "access_token");
    let (_, v) = create(
        &app,
        &bearer,
        json!({"name": "ci", "scopes": ["profile:read"]}),
    )
    .await?;
    let pat = s(&v, "token");
    let r = fresh_client(&app)
        .post(app.at("/v1/auth/logout"))
        .bearer_auth(&pat)
        .send()
        .await?;
    expect_problem(r, 400, "logout_not_applicable").await?;
    assert_eq!(me_status(&app, &pat).await?.0, 200);
    assert_eq!(
        me_status(&app, &bearer).await?.0,
        200,
        "the user's session is untouched"
    );
    Ok(())
}
