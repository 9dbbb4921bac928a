//! A7: the OAuth 2.0 token endpoint (client_credentials, refresh_token).

use super::*;
use base64::Engine as _;
use rampart_identity::Scope;
use rampart_test_support::{both_engines, count_rows};

both_engines!(
    client_credentials_grant,
    basic_and_body_credentials_conflict_is_refused,
    refresh_token_grant_rotates,
    admin_registers_oauth_client
);

async fn form(
    app: &TestApp,
    basic: Option<(&str, &str)>,
    body: &[(&str, &str)],
) -> Result<(u16, Value)> {
    let mut req = fresh_client(app).post(app.at("/v1/oauth/token")).form(body);
    if let Some((id, secret)) = basic {
        let b = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
        req = req.header("authorization", format!("Basic {b}"));
    }
    parts(req.send().await?).await
}

async fn client_credentials_grant(app: TestApp) -> Result<()> {
    let (id, secret) = app
        .state
        .auth
        .create_oauth_client(
            None,
            "reporting",
            &["orders:read".to_owned(), "stores:read".to_owned()],
            &ctx(),
        )
        .await?;
    assert!(!secret.is_empty());
    assert_eq!(
        count_where(&app, "oauth_clients", &format!("secret_hash = '{secret}'")).await?,
        0
    );

    let (st, v) = form(
        &app,
        Some((&id, &secret)),
        &[("grant_type", "client_credentials")],
    )
    .await?;
    assert_eq!(st, 200, "{v}");
    let token = s(&v, "access_token");
    assert_eq!(v["token_type"], "Bearer");
    let p = app.state.auth.verify_access(&token).await?;
    assert!(
        p.has_scope(Scope::OrdersRead)
            && p.has_scope(Scope::StoresRead)
            && !p.has_scope(Scope::ProfileRead)
    );

    let (st, v) = form(
        &app,
        None,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &id),
            ("client_secret", &secret),
            ("scope", "orders:read"),
        ],
    )
    .await?;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["scope"], "orders:read");

    // A client token is not a user credential.
    assert_eq!(me_status(&app, &s(&v, "access_token")).await?.0, 404);

    // Failures.
    let (st, v) = form(
        &app,
        Some((&id, "rcs_wrong")),
        &[("grant_type", "client_credentials")],
    )
    .await?;
    assert_eq!(
        (st, v["error"].as_str()),
        (401, Some("invalid_client")),
        "{v}"
    );
    let (st, v) = form(
        &app,
        Some(("rc_unknown", &secret)),
        &[("grant_type", "client_credentials")],
    )
    .await?;
    assert_eq!(
        (st, v["error"].as_str()),
        (401, Some("invalid_client")),
        "{v}"
    );
    let (st, v) = form(&app, None, &[("grant_type", "client_credentials")]).await?;
    assert_eq!(
        (st, v["error"].as_str()),
        (401, Some("invalid_client")),
        "{v}"
    );
    let (st, v) = form(
        &app,
        Some((&id, &secret)),
        &[
            ("grant_type", "client_credentials"),
            ("scope", "profile:write"),
        ],
    )
    .await?;
    assert_eq!(
        (st, v["error"].as_str()),
        (400, Some("invalid_scope")),
        "{v}"
    );
    let (st, v) = form(
        &app,
        Some((&id, &secret)),
        &[
            ("grant_type", "password"),
            ("username", "x"),
            ("password", "y"),
        ],
    )
    .await?;
    assert_eq!(
        (st, v["error"].as_str()),
        (400, Some("unsupported_grant_type")),
        "{v}"
    );
    let (st, v) = form(&app, None, &[]).await?;
    assert_eq!(
        (st, v["error"].as_str()),
        (400, Some("invalid_request")),
        "{v}"
    );

    // A revoked client is refused.
    app.state
        .auth
        .revoke_oauth_client(None, &id, &ctx())
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let (st, v) = form(
        &app,
        Some((&id, &secret)),
        &[("grant_type", "client_credentials")],
    )
    .await?;
    assert_eq!(
        (st, v["error"].as_str()),
        (401, Some("invalid_client")),
        "{v}"
    );
    Ok(())
}

async fn refresh_token_grant_rotates(app: TestApp) -> Result<()> {
    user(&app, "uma").await?;
    let t = login(&app, "uma", PW).await?;
    let r0 = s(&t, "refresh_token");
    let (st, v) = form(
        &app,
        None,
        &[("grant_type", "refresh_token"), ("refresh_token", &r0)],
    )
    .await?;
    assert_eq!(st, 200, "{v}");
    let r1 = s(&v, "refresh_token");
    assert_ne!(r0, r1);
    assert_eq!(me_status(&app, &s(&v, "access_token")).await?.0, 200);
    app.clock.advance_secs(11);
    let (st, v) = form(
        &app,
        None,
        &[("grant_type", "refresh_token"), ("refresh_token", &r0)],
    )
    .await?;
    assert_eq!(
        (st, v["error"].as_str()),
        (400, Some("invalid_grant")),
        "{v}"
    );
    // The family is gone.
    let (st, v) = form(
        &app,
        None,
        &[("grant_type", "refresh_token"), ("refresh_token", &r1)],
    )
    .await?;
    assert_eq!(
        (st, v["error"].as_str()),
        (400, Some("invalid_grant")),
        "{v}"
    );
    let (st, v) = form(&app, None, &[("grant_type", "refresh_token")]).await?;
    assert_eq!(
        (st, v["error"].as_str()),
        (400, Some("invalid_request")),
        "{v}"
    );
    Ok(())
}

async fn admin_registers_oauth_client(app: TestApp) -> Result<()> {
    let (_, admin, _) = admin_with_totp(&app, "root").await?;
    user(&app, "vic").await?;
    let customer = s(&login(&app, "vic", PW).await?, "access_token");
    let body = json!({"name": "svc", "scopes": ["orders:read"]});
    let r = fresh_client(&app)
        .post(app.at("/v1/admin/oauth-clients"))
        .bearer_auth(&customer)
        .json(&body)
        .send()
        .await?;
    assert_eq!(r.status(), 404);
    assert_eq!(count_rows(app.db(), "oauth_clients").await?, 0);
    let r = fresh_client(&app)
        .post(app.at("/v1/admin/oauth-clients"))
        .bearer_auth(&admin)
        .json(&body)
        .send()
        .await?;
    let (st, v) = parts(r).await?;
    assert_eq!(st, 201, "{v}");
    let (id, secret) = (s(&v, "client_id"), s(&v, "client_secret"));
    assert_eq!(
        count_where(&app, "audit_log", "action_type = 'oauth_client_create'").await?,
        1
    );
    let (st, v) = form(
        &app,
        Some((&id, &secret)),
        &[("grant_type", "client_credentials")],
    )
    .await?;
    assert_eq!(st, 200, "{v}");
    Ok(())
}

/// RFC 6749 §2.3: one client authentication method per request; a conflicting body
/// client_id or a second secret is not silently overridden by Basic.
async fn basic_and_body_credentials_conflict_is_refused(app: TestApp) -> Result<()> {
    let (id, secret) = app
        .state
        .auth
        .create_oauth_client(None, "one", &["orders:read".to_owned()], &ctx())
        .await?;
    let (other, other_secret) = app
        .state
        .auth
        .create_oauth_client(None, "two", &["stores:read".to_owned()], &ctx())
        .await?;
    for body in [
        vec![
            ("grant_type", "client_credentials"),
            ("client_id", other.as_str()),
        ],
        vec![
            ("grant_type", "client_credentials"),
            ("client_id", other.as_str()),
            ("client_secret", other_secret.as_str()),
        ],
        vec![
            ("grant_type", "client_credentials"),
            ("client_secret", secret.as_str()),
        ],
    ] {
        let (st, v) = form(&app, Some((&id, &secret)), &body).await?;
        assert_eq!(
            (st, v["error"].as_str()),
            (400, Some("invalid_request")),
            "{body:?}: {v}"
        );
        assert!(v.get("access_token").is_none());
    }
    // The same client_id in the body next to Basic is no conflict.
    let (st, v) = form(
        &app,
        Some((&id, &secret)),
        &[("grant_type", "client_credentials"), ("client_id", &id)],
    )
    .await?;
    assert_eq!(st, 200, "{v}");
    Ok(())
}
