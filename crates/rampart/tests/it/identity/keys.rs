//! A6: signing-key rotation keeps old tokens valid until they expire; an emergency
//! revocation ends them at once; JWKS shows only public material of live keys.

use super::*;
use base64::Engine as _;
use rampart_kernel::Clock;
use rampart_test_support::both_engines;

both_engines!(
    rotation_keeps_old_tokens_and_revocation_ends_them,
    jwks_is_public_and_cacheable
);

async fn jwks(app: &TestApp) -> Result<(reqwest::header::HeaderMap, Value)> {
    let r = app.get("/.well-known/jwks.json").await?;
    assert_eq!(r.status(), 200);
    let h = r.headers().clone();
    Ok((h, r.json().await?))
}

fn kids(v: &Value) -> Vec<String> {
    v["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| s(k, "kid"))
        .collect()
}

fn kid_of(jwt: &str) -> String {
    let header = jwt.split('.').next().expect("header");
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .expect("b64");
    let v: Value = serde_json::from_slice(&raw).expect("json");
    s(&v, "kid")
}

fn assert_public_only(v: &Value) {
    for k in v["keys"].as_array().expect("keys") {
        let obj = k.as_object().expect("object");
        for private in ["d", "p", "q", "dp", "dq", "qi", "k", "oth"] {
            assert!(
                !obj.contains_key(private),
                "private member {private} in JWKS: {k}"
            );
        }
        for name in obj.keys() {
            assert!(
                ["kty", "crv", "x", "y", "kid", "alg", "use", "key_ops"].contains(&name.as_str()),
                "unexpected member {name}: {k}"
            );
        }
    }
}

async fn rotation_keeps_old_tokens_and_revocation_ends_them(app: TestApp) -> Result<()> {
    user(&app, "pia").await?;
    let keys = &app.state.auth.keys();
    let ttl = app.state.auth.access_ttl_ms();
    let (_, before) = jwks(&app).await?;
    assert_eq!(kids(&before).len(), 1);
    let old_kid = kids(&before)[0].clone();
    let old_token = s(&login(&app, "pia", PW).await?, "access_token");
    assert_eq!(kid_of(&old_token), old_kid);

    let new_kid = keys.rotate(app.clock.now_ms(), ttl).await?;
    keys.reload(app.clock.now_ms(), ttl).await?;
    let (_, after) = jwks(&app).await?;
    assert_eq!(
        kids(&after),
        vec![new_kid.clone(), old_kid.clone()],
        "active first, then the retained key"
    );
    assert_public_only(&after);
    // The old token still validates; new tokens are signed by the new key.
    assert_eq!(me_status(&app, &old_token).await?.0, 200);
    let new_token = s(&login(&app, "pia", PW).await?, "access_token");
    assert_eq!(kid_of(&new_token), new_kid);

    // Emergency: revoke the old key. Its tokens fail at once, JWKS drops it.
    keys.revoke(&old_kid, app.clock.now_ms(), ttl).await?;
    let (st, code) = me_status(&app, &old_token).await?;
    assert_eq!(st, 401, "{code}");
    let (_, revoked) = jwks(&app).await?;
    assert_eq!(kids(&revoked), vec![new_kid.clone()]);
    assert_eq!(me_status(&app, &new_token).await?.0, 200);
    // A reload (what every server does every few seconds) does not bring it back.
    keys.reload(app.clock.now_ms(), ttl).await?;
    assert_eq!(kids(&jwks(&app).await?.1), vec![new_kid.clone()]);
    assert_eq!(me_status(&app, &old_token).await?.0, 401);

    // Revoking the active key: a fresh one takes over and the revoked one's tokens die.
    keys.revoke(&new_kid, app.clock.now_ms(), ttl).await?;
    assert_eq!(me_status(&app, &new_token).await?.0, 401);
    let (_, now) = jwks(&app).await?;
    assert_eq!(kids(&now).len(), 1);
    assert_ne!(kids(&now)[0], new_kid);
    let third = s(&login(&app, "pia", PW).await?, "access_token");
    assert_eq!(kid_of(&third), kids(&now)[0]);
    assert_eq!(me_status(&app, &third).await?.0, 200);
    Ok(())
}

async fn jwks_is_public_and_cacheable(app: TestApp) -> Result<()> {
    let keys = &app.state.auth.keys();
    let ttl = app.state.auth.access_ttl_ms();
    keys.rotate(app.clock.now_ms(), ttl).await?;
    keys.reload(app.clock.now_ms(), ttl).await?;
    let (h, v) = jwks(&app).await?;
    assert_public_only(&v);
    assert_eq!(kids(&v).len(), 2);
    let cc = h
        .get("cache-control")
        .expect("cache-control")
        .to_str()?
        .to_owned();
    assert!(cc.contains("public") && cc.contains("max-age="), "{cc}");
    assert!(!cc.contains("no-store"), "{cc}");
    for k in v["keys"].as_array().expect("keys") {
        assert_eq!(k["kty"], "OKP");
        assert_eq!(k["crv"], "Ed25519");
    }
    // Once the retained key can no longer have live tokens, it leaves the set.
    app.clock.advance_ms(ttl + 61_000);
    keys.reload(app.clock.now_ms(), ttl).await?;
    assert_eq!(kids(&jwks(&app).await?.1).len(), 1);
    Ok(())
}
