//! B7: one error format listing every bad field; body size limits; nothing created.

use anyhow::Result;
use rampart_test_support::{both_engines, count_rows, TestApp};
use serde_json::{json, Value};

both_engines!(
    overlong_fields_are_listed,
    oversized_body_is_refused,
    array_bodies_are_not_read_as_objects,
    invalid_body_details_name_json_kinds_not_rust_types,
    look_alike_and_hidden_character_names_are_refused,
    nul_characters_are_refused_before_the_database,
    login_folds_like_registration
);

/// Found by an outside review: registration folds identifiers (NFKC, case) but login
/// only lower-cased them, so "ｂｏｂｂｙ" was the taken "bobby" at registration and an
/// unknown account at login.
async fn login_folds_like_registration(app: TestApp) -> Result<()> {
    let c = app.new_client();
    let pw = "Correct-Horse-Battery-9";
    let r = c
        .post(app.at("/v1/auth/register"))
        .json(&json!({"username": "bobby", "password": pw}))
        .send()
        .await?;
    assert_eq!(r.status(), 201);
    for login in ["ｂｏｂｂｙ", "BOBBY", "Ｂｏｂｂｙ"] {
        let r = app
            .client_from("127.0.0.7")
            .post(app.at("/v1/auth/token"))
            .json(&json!({"login": login, "password": pw, "client": "native"}))
            .send()
            .await?;
        assert_eq!(r.status(), 200, "{login}");
    }
    Ok(())
}

/// Found by an outside review: PostgreSQL refuses NUL in text, so a `\u0000` in a
/// login, a referral code, an OAuth client ID or a path reached the database as a 500.
/// Each is now a 4xx on both engines, and nothing is created.
async fn nul_characters_are_refused_before_the_database(app: TestApp) -> Result<()> {
    let users = count_rows(app.db(), "users").await?;
    let c = app.new_client();
    let r = c
        .post(app.at("/v1/auth/token"))
        .json(&json!({"login": "a\u{0}b", "password": "x"}))
        .send()
        .await?;
    assert_eq!(r.status(), 422);
    let r = c
        .post(app.at("/v1/auth/register"))
        .json(&json!({"username": "nulref", "password": "Correct-Horse-Battery-9", "referral_code": "a\u{0}b"}))
        .send()
        .await?;
    assert_eq!(r.status(), 422);
    let v: Value = r.json().await?;
    assert_eq!(v["code"], "invalid_body");
    let r = c
        .post(app.at("/v1/oauth/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials&client_id=rc_a%00b&client_secret=x")
        .send()
        .await?;
    assert!(r.status().is_client_error(), "{}", r.status());
    use base64::Engine as _;
    let basic = base64::engine::general_purpose::STANDARD.encode("rc_\u{0}ab:x");
    let r = c
        .post(app.at("/v1/oauth/token"))
        .header("authorization", format!("Basic {basic}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await?;
    assert!(r.status().is_client_error(), "{}", r.status());
    let v: Value = r.json().await?;
    assert!(v["error"].is_string(), "RFC 6749 body: {v}");
    let r = c.get(app.at("/v1/tokens/a%00b")).send().await?;
    assert_eq!(r.status(), 404);
    let r = c.get(app.at("/v1/items?q=a%00b")).send().await?;
    assert_eq!(r.status(), 422);
    assert_eq!(
        count_rows(app.db(), "users").await?,
        users,
        "nothing created"
    );
    Ok(())
}

fn long_email() -> String {
    // 64 + 1 + 190 = 255 characters, otherwise well-formed.
    let domain = format!(
        "{}.{}.{}.com",
        "b".repeat(63),
        "c".repeat(63),
        "d".repeat(58)
    );
    let e = format!("{}@{domain}", "a".repeat(64));
    assert_eq!(e.len(), 255);
    e
}

async fn fields(app: &TestApp, body: Value) -> Result<Vec<(String, String)>> {
    let r = app
        .new_client()
        .post(app.at("/v1/auth/register"))
        .json(&body)
        .send()
        .await?;
    assert_eq!(r.status(), 422);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let v: Value = r.json().await?;
    assert_eq!(v["code"], "validation_failed", "{v}");
    Ok(v["errors"]
        .as_array()
        .expect("errors list")
        .iter()
        .map(|e| {
            (
                e["field"].as_str().unwrap_or("").to_owned(),
                e["code"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect())
}

async fn overlong_fields_are_listed(app: TestApp) -> Result<()> {
    let engine = app.engine;
    app.stop().await;
    let Some(app) = TestApp::builder(engine)
        .config(|c| {
            c.rate_limits.insert(
                "auth".into(),
                rampart::config::LimitOverride {
                    limit: 100,
                    window_secs: 60,
                },
            );
        })
        .spawn()
        .await?
    else {
        return Ok(());
    };
    let users = count_rows(app.db(), "users").await?;
    let ok_password = super::PASSWORD;
    let e = fields(
        &app,
        json!({"username": "a".repeat(33), "password": ok_password}),
    )
    .await?;
    assert_eq!(e, vec![("username".to_owned(), "too_long".to_owned())]);
    let e = fields(
        &app,
        json!({"username": "fine_name", "email": long_email(), "password": ok_password}),
    )
    .await?;
    assert_eq!(e, vec![("email".to_owned(), "too_long".to_owned())]);
    let e = fields(
        &app,
        json!({"username": "fine_name", "password": "x".repeat(129)}),
    )
    .await?;
    assert!(
        e.contains(&("password".to_owned(), "too_long".to_owned())),
        "{e:?}"
    );
    assert!(e.iter().all(|(f, _)| f == "password"), "{e:?}");
    // All at once: every bad field is listed.
    let e = fields(
        &app,
        json!({"username": "a".repeat(33), "email": long_email(), "password": "x".repeat(129)}),
    )
    .await?;
    for f in ["username", "email", "password"] {
        assert!(
            e.iter().any(|(name, code)| name == f && code == "too_long"),
            "{f} missing from {e:?}"
        );
    }
    // Submitted values are never echoed back.
    let r = app
        .new_client()
        .post(app.at("/v1/auth/register"))
        .json(&json!({"username": "a".repeat(33), "password": "Secret-Echo-Check-1234"}))
        .send()
        .await?;
    assert!(!r.text().await?.contains("Secret-Echo-Check"));
    assert_eq!(
        count_rows(app.db(), "users").await?,
        users,
        "nothing created"
    );
    Ok(())
}

async fn oversized_body_is_refused(app: TestApp) -> Result<()> {
    let users = count_rows(app.db(), "users").await?;
    let limit = app.state.config.body_limit_bytes;
    for size in [limit + 1, 4 * 1024 * 1024] {
        let body = format!(
            "{{\"username\": \"bigbody\", \"password\": \"{}\", \"email\": \"{}\"}}",
            super::PASSWORD,
            "a".repeat(size)
        );
        let r = app
            .new_client()
            .post(app.at("/v1/auth/register"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await;
        // The server may close the connection while the client is still sending a
        // very large body; what it answers, if anything, is a 413.
        if let Ok(r) = r {
            assert_eq!(r.status(), 413, "{size} bytes");
            let v: Value = r.json().await?;
            assert_eq!(v["code"], "payload_too_large");
        }
    }
    // A form body over the limit on a CSRF-guarded route is refused the same way.
    let r = app
        .new_client()
        .post(app.at("/v1/oauth/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("cookie", "rampart_csrf=aaaaaaaaaaaaaaaaaaaaaaaa")
        .body(format!(
            "grant_type=refresh_token&x={}",
            "a".repeat(limit + 10)
        ))
        .send()
        .await?;
    assert_eq!(r.status(), 413);
    assert_eq!(
        count_rows(app.db(), "users").await?,
        users,
        "nothing created"
    );
    Ok(())
}

/// Found by schemathesis: serde's derived structs also accept an array of their fields
/// in order, so `PATCH /v1/tokens/{id}` took `[null, null]` as an empty update and
/// register would take `["alice", null, "password…"]`. Every body is an object.
async fn array_bodies_are_not_read_as_objects(app: TestApp) -> Result<()> {
    let before = count_rows(app.db(), "users").await?;
    let r = app
        .new_client()
        .post(app.at("/v1/auth/register"))
        .json(&json!([
            "arrayuser",
            null,
            "correct-horse-battery-staple",
            null,
            null
        ]))
        .send()
        .await?;
    assert_eq!(r.status(), 422);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let v: Value = r.json().await?;
    assert_eq!(v["code"], "invalid_body");
    assert_eq!(
        count_rows(app.db(), "users").await?,
        before,
        "nothing created"
    );
    Ok(())
}

/// The `invalid_body` detail says what was expected in JSON terms ("an object", "an
/// integer"), never Rust types ("struct RegisterBody", "i64").
async fn invalid_body_details_name_json_kinds_not_rust_types(app: TestApp) -> Result<()> {
    for (body, want) in [
        (json!([]), "expected an object"),
        (json!("x"), "expected an object"),
        (
            json!({"username": 5, "password": "x"}),
            "invalid type: integer, expected a string",
        ),
        (
            json!({"username": "a", "password": "x", "nick": 1}),
            "unknown field `nick`, expected one of `username`",
        ),
    ] {
        let r = app
            .new_client()
            .post(app.at("/v1/auth/register"))
            .json(&body)
            .send()
            .await?;
        assert_eq!(r.status(), 422);
        let v: Value = r.json().await?;
        assert_eq!(v["code"], "invalid_body");
        let detail = v["detail"].as_str().unwrap_or_default();
        assert!(detail.contains(want), "{body}: {detail}");
        for rust in ["struct", "RegisterBody", "String", "i64", "sequence", "map"] {
            assert!(!detail.contains(rust), "{body}: {detail}");
        }
    }
    assert_eq!(count_rows(app.db(), "users").await?, 0);
    Ok(())
}

/// Usernames are folded (NFKC, case) so a fullwidth copy of a name is the same name;
/// mixed-script look-alikes, punctuation-only names, names ending in a dot and
/// bidi/zero-width characters are refused; token names too.
async fn look_alike_and_hidden_character_names_are_refused(app: TestApp) -> Result<()> {
    let pw = "correct horse battery staple 7";
    let reg = |name: &str| json!({"username": name, "password": pw});
    let r = crate::identity::fresh_client(&app)
        .post(app.at("/v1/auth/register"))
        .json(&reg("alice"))
        .send()
        .await?;
    assert_eq!(r.status(), 201);
    let r = crate::identity::fresh_client(&app)
        .post(app.at("/v1/auth/register"))
        .json(&reg("ＡＬＩＣＥ"))
        .send()
        .await?;
    assert_eq!(r.status(), 409, "the fullwidth spelling is the same name");
    for (name, code) in [
        ("\u{0430}lice", "mixed_script"),
        ("p\u{0430}ypal", "mixed_script"),
        ("...", "invalid_format"),
        ("bob.", "invalid_format"),
        ("bob\u{202E}cba", "invalid_characters"),
        ("bo\u{200B}b", "invalid_characters"),
    ] {
        let r = crate::identity::fresh_client(&app)
            .post(app.at("/v1/auth/register"))
            .json(&reg(name))
            .send()
            .await?;
        assert_eq!(r.status(), 422, "{name:?}");
        let v: Value = r.json().await?;
        assert_eq!(v["errors"][0]["field"], "username", "{name:?}: {v}");
        assert_eq!(v["errors"][0]["code"], code, "{name:?}: {v}");
    }
    assert_eq!(count_rows(app.db(), "users").await?, 1);

    // Token names.
    let r = crate::identity::fresh_client(&app)
        .post(app.at("/v1/auth/token"))
        .json(&json!({"login": "alice", "password": pw, "client": "native"}))
        .send()
        .await?;
    let t: Value = r.json().await?;
    let bearer = t["access_token"].as_str().unwrap_or_default().to_owned();
    for (name, code) in [
        ("deploy\u{202E}gpj.exe", "invalid_characters"),
        ("p\u{0430}ypal", "mixed_script"),
    ] {
        let r = crate::identity::fresh_client(&app)
            .post(app.at("/v1/tokens"))
            .bearer_auth(&bearer)
            .json(&json!({"name": name, "scopes": ["profile:read"]}))
            .send()
            .await?;
        assert_eq!(r.status(), 422);
        let v: Value = r.json().await?;
        assert_eq!(v["errors"][0]["code"], code, "{name:?}: {v}");
    }
    assert_eq!(count_rows(app.db(), "personal_access_tokens").await?, 0);
    Ok(())
}
