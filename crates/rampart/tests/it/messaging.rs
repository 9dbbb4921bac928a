//! Private messages over HTTP (D7, B2, issue 11): the binding send limit exact with
//! the injected clock, blocks (nothing stored, an answer that names no one), 404 for
//! whoever is not in the conversation, E2EE payloads byte-exact through the API,
//! one-time prekeys handed out once under 50 concurrent claims, and the pages: CSRF
//! on every form, and two users talking through them.

use crate::identity::{csrf_of, expect_problem, fresh_ip, parts};
use crate::market::{bearer, call};
use anyhow::{Context, Result};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use rampart_kernel::account::Role;
use rampart_test_support::{both_engines, count_rows, TestApp};
use reqwest::{Client, Method};
use serde_json::{json, Value};
use std::collections::HashSet;

both_engines!(
    send_limit_is_ten_per_minute_exactly,
    send_limit_window_is_exact_to_the_millisecond,
    a_blocked_user_cannot_message_and_nothing_is_stored,
    a_non_participant_gets_404_everywhere,
    an_e2ee_payload_round_trips_byte_exact,
    fifty_concurrent_claims_hand_out_each_prekey_once,
    page_forms_need_csrf_and_two_users_talk,
);

async fn send(app: &TestApp, token: &str, to: &str, text: &str) -> Result<reqwest::Response> {
    call(
        app,
        Method::POST,
        "/v1/messages",
        Some(token),
        Some(json!({"to": to, "content_type": "text/plain", "payload": text})),
    )
    .await
}

fn header<'a>(r: &'a reqwest::Response, name: &str) -> &'a str {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("missing {name}: {:?}", r.headers()))
}

async fn messages(app: &TestApp) -> Result<i64> {
    count_rows(app.db(), "messages").await
}

async fn send_limit_is_ten_per_minute_exactly(app: TestApp) -> Result<()> {
    let (_, a) = bearer(&app, "ml_alice", Role::Customer).await?;
    bearer(&app, "ml_bob", Role::Customer).await?;
    for i in 0..10 {
        let r = send(&app, &a, "ml_bob", &format!("hello {i}")).await?;
        assert_eq!(r.status(), 201, "message {i}");
        assert!(
            header(&r, "ratelimit-policy").contains("\"message_send\";q=10;w=60"),
            "{:?}",
            r.headers()
        );
        assert!(header(&r, "ratelimit").starts_with(&format!("\"message_send\";r={};", 9 - i)));
    }
    let r = send(&app, &a, "ml_bob", "one too many").await?;
    assert_eq!(r.status(), 429);
    let retry: u64 = header(&r, "retry-after").parse()?;
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    assert_eq!(
        header(&r, "ratelimit"),
        format!("\"message_send\";r=0;t={retry}")
    );
    assert!(header(&r, "ratelimit-policy").contains("\"message_send\";q=10;w=60"));
    let v: Value = r.json().await?;
    assert_eq!(v["code"], "rate_limited");
    assert_eq!(
        messages(&app).await?,
        10,
        "the refused message is not stored"
    );
    // The window passes on the injected clock, not on the wall clock.
    app.clock.advance_secs(61);
    let r = send(&app, &a, "ml_bob", "later").await?;
    assert_eq!(r.status(), 201);
    assert_eq!(messages(&app).await?, 11);
    Ok(())
}

/// B2 "never more than 10 in any rolling minute": ten at one instant, then refused
/// for 59.999 s (also to another recipient: the key is the sender), accepted again
/// at exactly 60 s; another sender is never affected.
async fn send_limit_window_is_exact_to_the_millisecond(app: TestApp) -> Result<()> {
    let (_, a) = bearer(&app, "mw_alice", Role::Customer).await?;
    let (_, c) = bearer(&app, "mw_carol", Role::Customer).await?;
    bearer(&app, "mw_bob", Role::Customer).await?;
    bearer(&app, "mw_dave", Role::Customer).await?;
    for i in 0..10 {
        let r = send(&app, &a, "mw_bob", &format!("m{i}")).await?;
        assert_eq!(r.status(), 201, "message {i}");
    }
    app.clock.advance_ms(59_999);
    let r = send(&app, &a, "mw_dave", "to someone else").await?;
    assert_eq!(r.status(), 429);
    let retry: u64 = header(&r, "retry-after").parse()?;
    assert_eq!(retry, 1, "one millisecond left rounds up to a second");
    assert_eq!(send(&app, &c, "mw_bob", "carol").await?.status(), 201);
    assert_eq!(messages(&app).await?, 11);
    app.clock.advance_ms(1);
    assert_eq!(send(&app, &a, "mw_bob", "again").await?.status(), 201);
    assert_eq!(messages(&app).await?, 12);
    Ok(())
}

async fn a_blocked_user_cannot_message_and_nothing_is_stored(app: TestApp) -> Result<()> {
    let (alice_id, a) = bearer(&app, "mb_alice", Role::Customer).await?;
    let (bob_id, b) = bearer(&app, "mb_bob", Role::Customer).await?;
    // Bob blocks Alice by username.
    let (st, v) = parts(
        call(
            &app,
            Method::POST,
            "/v1/blocks",
            Some(&b),
            Some(json!({"user": "mb_alice"})),
        )
        .await?,
    )
    .await?;
    assert_eq!(st, 201, "{v}");
    assert_eq!(v["user_id"], alice_id.as_str());
    // Alice cannot write: the answer does not say who blocked whom.
    let v = expect_problem(
        send(&app, &a, "mb_bob", "hi").await?,
        403,
        "recipient_unavailable",
    )
    .await?;
    assert!(!v.to_string().contains("block"), "{v}");
    assert_eq!(messages(&app).await?, 0);
    assert_eq!(count_rows(app.db(), "conversations").await?, 0);
    // Nor can Bob write to the user he blocked, until he unblocks.
    expect_problem(
        send(&app, &b, &alice_id, "hi").await?,
        403,
        "blocked_by_you",
    )
    .await?;
    // Nor claim keys either way.
    expect_problem(
        call(
            &app,
            Method::POST,
            &format!("/v1/users/{bob_id}/prekey-bundle"),
            Some(&a),
            None,
        )
        .await?,
        403,
        "recipient_unavailable",
    )
    .await?;
    assert_eq!(messages(&app).await?, 0);
    let (st, v) = parts(call(&app, Method::GET, "/v1/blocks", Some(&b), None).await?).await?;
    assert_eq!(st, 200);
    assert_eq!(v["blocked"][0]["user_id"], alice_id.as_str());
    assert_eq!(v["blocked"][0]["username"], "mb_alice");
    // Alice sees no trace of the block in her own list.
    let (_, v) = parts(call(&app, Method::GET, "/v1/blocks", Some(&a), None).await?).await?;
    assert_eq!(v["blocked"], json!([]));
    // Unblock; a second unblock has nothing to remove.
    let path = format!("/v1/blocks/{alice_id}");
    assert_eq!(
        call(&app, Method::DELETE, &path, Some(&b), None)
            .await?
            .status(),
        204
    );
    expect_problem(
        call(&app, Method::DELETE, &path, Some(&b), None).await?,
        404,
        "not_found",
    )
    .await?;
    assert_eq!(send(&app, &a, "mb_bob", "hi again").await?.status(), 201);
    assert_eq!(messages(&app).await?, 1);
    // Oneself and strangers.
    expect_problem(
        send(&app, &a, "mb_alice", "me").await?,
        422,
        "validation_failed",
    )
    .await?;
    expect_problem(send(&app, &a, "mb_nobody", "x").await?, 404, "not_found").await?;
    expect_problem(
        send(&app, &a, "mb_bob@example.com", "x").await?,
        404,
        "not_found",
    )
    .await?;
    Ok(())
}

async fn a_non_participant_gets_404_everywhere(app: TestApp) -> Result<()> {
    let (_, a) = bearer(&app, "mn_alice", Role::Customer).await?;
    let (_, b) = bearer(&app, "mn_bob", Role::Customer).await?;
    let (_, c) = bearer(&app, "mn_carol", Role::Customer).await?;
    let (st, m) = parts(send(&app, &a, "mn_bob", "private").await?).await?;
    assert_eq!(st, 201, "{m}");
    let conv = m["conversation_id"].as_str().context("conversation")?;
    let msg = m["id"].as_str().context("message")?;
    let list = format!("/v1/conversations/{conv}/messages");
    let read = format!("/v1/conversations/{conv}/read");
    let report = format!("/v1/messages/{msg}/report");
    for (method, path, body) in [
        (Method::GET, list.as_str(), None),
        (Method::POST, read.as_str(), Some(json!({"up_to": msg}))),
        (
            Method::POST,
            report.as_str(),
            Some(json!({"reason": "spam"})),
        ),
    ] {
        expect_problem(
            call(&app, method, path, Some(&c), body).await?,
            404,
            "not_found",
        )
        .await?;
    }
    let (_, inbox) =
        parts(call(&app, Method::GET, "/v1/conversations", Some(&c), None).await?).await?;
    assert_eq!(inbox["conversations"], json!([]));
    assert_eq!(count_rows(app.db(), "message_reads").await?, 0);
    assert_eq!(count_rows(app.db(), "message_reports").await?, 0);
    // The participants can: Bob sees one unread, reads, reports.
    let (_, inbox) =
        parts(call(&app, Method::GET, "/v1/conversations", Some(&b), None).await?).await?;
    assert_eq!(inbox["conversations"][0]["unread"], 1);
    assert_eq!(inbox["conversations"][0]["other_username"], "mn_alice");
    let (st, v) = parts(call(&app, Method::GET, &list, Some(&b), None).await?).await?;
    assert_eq!(st, 200);
    assert_eq!(v["messages"][0]["payload"], "private");
    let (st, v) = parts(
        call(
            &app,
            Method::POST,
            &read,
            Some(&b),
            Some(json!({"up_to": msg})),
        )
        .await?,
    )
    .await?;
    assert_eq!((st, &v["moved"]), (200, &json!(true)), "{v}");
    let (_, inbox) =
        parts(call(&app, Method::GET, "/v1/conversations", Some(&b), None).await?).await?;
    assert_eq!(inbox["conversations"][0]["unread"], 0);
    let (st, v) = parts(
        call(
            &app,
            Method::POST,
            &report,
            Some(&b),
            Some(json!({"reason": "spam"})),
        )
        .await?,
    )
    .await?;
    assert_eq!(st, 201, "{v}");
    // Alice cannot report her own message.
    expect_problem(
        call(
            &app,
            Method::POST,
            &report,
            Some(&a),
            Some(json!({"reason": "x"})),
        )
        .await?,
        422,
        "validation_failed",
    )
    .await?;
    Ok(())
}

async fn an_e2ee_payload_round_trips_byte_exact(app: TestApp) -> Result<()> {
    let (_, a) = bearer(&app, "me_alice", Role::Customer).await?;
    let (_, b) = bearer(&app, "me_bob", Role::Customer).await?;
    // Every byte value, NULs, CR/LF and invalid UTF-8, up to the 8 KiB maximum.
    let bytes: Vec<u8> = (0..8 * 1024).map(|i| (i * 7 % 256) as u8).collect();
    let encoded = STANDARD.encode(&bytes);
    let ct = "application/vnd.rampart.e2ee+json";
    let (st, m) = parts(
        call(
            &app,
            Method::POST,
            "/v1/messages",
            Some(&a),
            Some(json!({"to": "me_bob", "content_type": ct, "payload": encoded})),
        )
        .await?,
    )
    .await?;
    assert_eq!(st, 201, "{m}");
    assert_eq!(m["content_type"], ct);
    assert_eq!(m["payload"], encoded.as_str());
    let conv = m["conversation_id"].as_str().context("conversation")?;
    let (_, page) = parts(
        call(
            &app,
            Method::GET,
            &format!("/v1/conversations/{conv}/messages"),
            Some(&b),
            None,
        )
        .await?,
    )
    .await?;
    let got = STANDARD.decode(page["messages"][0]["payload"].as_str().context("payload")?)?;
    assert_eq!(got, bytes);
    let (_, inbox) =
        parts(call(&app, Method::GET, "/v1/conversations", Some(&b), None).await?).await?;
    assert_eq!(
        inbox["conversations"][0]["last_message"]["payload"],
        encoded.as_str()
    );
    // Too large, not base64, unknown type: refused, nothing stored.
    let big = STANDARD.encode(vec![1u8; 8 * 1024 + 1]);
    for (ctype, payload, status) in [
        (ct, big.as_str(), 422),
        (ct, "not base64!", 422),
        ("text/html", "<b>x</b>", 422),
    ] {
        let r = call(
            &app,
            Method::POST,
            "/v1/messages",
            Some(&a),
            Some(json!({"to": "me_bob", "content_type": ctype, "payload": payload})),
        )
        .await?;
        assert_eq!(r.status(), status, "{ctype}");
    }
    assert_eq!(messages(&app).await?, 1);
    // Plain text is normalised like a form: CRLF → LF, trimmed.
    let (_, m) = parts(send(&app, &a, "me_bob", "  line one\r\nline two  ").await?).await?;
    assert_eq!(m["payload"], "line one\nline two");
    Ok(())
}

async fn fifty_concurrent_claims_hand_out_each_prekey_once(app: TestApp) -> Result<()> {
    let (bob_id, b) = bearer(&app, "mk_bob", Role::Customer).await?;
    let key = |n: u8| STANDARD.encode([n; 32]);
    let bundle = json!({
        "identity_key": key(200),
        "signed_prekey": {"id": 1, "public_key": key(201), "signature": STANDARD.encode([9u8; 64])},
        "one_time_prekeys": (1..=20u8).map(|i| json!({"id": i, "public_key": key(i)})).collect::<Vec<_>>(),
    });
    let (st, v) =
        parts(call(&app, Method::PUT, "/v1/me/prekeys", Some(&b), Some(bundle)).await?).await?;
    assert_eq!((st, &v["one_time_prekeys"]), (200, &json!(20)), "{v}");
    // Five requesters, ten claims each (within the 30 per minute `prekey_claim`
    // limit), all fifty in flight at once, each from its own loopback address.
    let mut tokens = Vec::new();
    for i in 0..5 {
        tokens.push(
            bearer(&app, &format!("mk_claimer{i}"), Role::Customer)
                .await?
                .1,
        );
    }
    let path = format!("/v1/users/{bob_id}/prekey-bundle");
    let claims = tokens.iter().flat_map(|t| {
        (0..10).map(|_| {
            let c = app.client_from(&fresh_ip(40));
            let url = app.at(&path);
            let t = t.clone();
            async move {
                let r = c.post(url).bearer_auth(t).send().await?;
                let st = r.status().as_u16();
                let v: Value = r.json().await?;
                anyhow::Ok((st, v))
            }
        })
    });
    let results = futures::future::join_all(claims).await;
    let mut handed = Vec::new();
    let mut without = 0;
    for r in results {
        let (st, v) = r?;
        assert_eq!(st, 200, "{v}");
        assert_eq!(v["identity_key"], key(200).as_str());
        match v.get("one_time_prekey") {
            Some(k) => handed.push(k["id"].as_u64().context("id")?),
            None => without += 1,
        }
    }
    let distinct: HashSet<_> = handed.iter().copied().collect();
    assert_eq!(handed.len(), 20, "{handed:?}");
    assert_eq!(
        distinct.len(),
        20,
        "a one-time prekey was handed out twice: {handed:?}"
    );
    assert_eq!(without, 30);
    let (_, v) =
        parts(call(&app, Method::GET, "/v1/me/prekeys/count", Some(&b), None).await?).await?;
    assert_eq!(v["one_time_prekeys"], 0);
    // The claim limit binds per user: the 31st claim of one requester in a minute.
    let mut last = 0;
    for _ in 0..21 {
        last = call(&app, Method::POST, &path, Some(&tokens[0]), None)
            .await?
            .status()
            .as_u16();
    }
    assert_eq!(last, 429);
    Ok(())
}

async fn browser(app: &TestApp, name: &str) -> Result<Client> {
    crate::identity::web_login(app, 41, name, None, "/messages").await
}

fn location(r: &reqwest::Response) -> String {
    r.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

async fn page_forms_need_csrf_and_two_users_talk(app: TestApp) -> Result<()> {
    bearer(&app, "mp_alice", Role::Customer).await?;
    bearer(&app, "mp_bob", Role::Customer).await?;
    bearer(&app, "mp_carol", Role::Customer).await?;
    let alice = browser(&app, "mp_alice").await?;
    let bob = browser(&app, "mp_bob").await?;
    let carol = browser(&app, "mp_carol").await?;
    let html = alice
        .get(app.at("/messages/new?to=mp_bob"))
        .send()
        .await?
        .text()
        .await?;
    assert!(html.contains("value=\"mp_bob\""), "{html}");
    let token = csrf_of(&html);
    // Without the CSRF token: 403, nothing stored.
    let r = alice
        .post(app.at("/messages/new"))
        .form(&[("to", "mp_bob"), ("body", "Forged")])
        .send()
        .await?;
    assert_eq!(r.status(), 403);
    assert_eq!(messages(&app).await?, 0);
    // With it: 303 to the conversation.
    let r = alice
        .post(app.at("/messages/new"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("to", "mp_bob"),
            ("body", "Is the lamp still for sale?"),
        ])
        .send()
        .await?;
    assert_eq!(r.status(), 303);
    let conv_path = location(&r);
    assert!(conv_path.starts_with("/messages/"), "{conv_path}");
    let conv_path = conv_path.split('?').next().unwrap_or_default().to_owned();
    // Bob reloads his inbox: one unread conversation with Alice.
    let inbox = bob.get(app.at("/messages")).send().await?.text().await?;
    assert!(inbox.contains("mp_alice"), "{inbox}");
    assert!(inbox.contains("Is the lamp still for sale?"), "{inbox}");
    assert!(inbox.contains("data-unread=\"1\""), "{inbox}");
    // In Estonian too.
    let et = bob
        .get(app.at("/messages"))
        .header("accept-language", "et")
        .send()
        .await?
        .text()
        .await?;
    assert!(
        et.contains("1 lugemata") && et.contains("Uus sõnum"),
        "{et}"
    );
    // Opening the conversation marks it read.
    let page = bob.get(app.at(&conv_path)).send().await?.text().await?;
    assert!(page.contains("Is the lamp still for sale?"));
    let inbox = bob.get(app.at("/messages")).send().await?.text().await?;
    assert!(!inbox.contains("data-unread"), "{inbox}");
    // Bob answers with the form on the conversation page.
    let r = bob
        .post(app.at(&conv_path))
        .form(&[
            ("csrf_token", csrf_of(&page).as_str()),
            ("body", "Yes, it is."),
        ])
        .send()
        .await?;
    assert_eq!(r.status(), 303);
    let inbox = alice.get(app.at("/messages")).send().await?.text().await?;
    assert!(inbox.contains("Yes, it is."), "{inbox}");
    assert!(inbox.contains("data-unread=\"1\""), "{inbox}");
    // The reply form without a token: 403, nothing stored.
    let r = bob
        .post(app.at(&conv_path))
        .form(&[("body", "Forged")])
        .send()
        .await?;
    assert_eq!(r.status(), 403);
    assert_eq!(messages(&app).await?, 2);
    // A stranger's browser: 404 on the page and on every form.
    assert_eq!(carol.get(app.at(&conv_path)).send().await?.status(), 404);
    let carol_token = csrf_of(&carol.get(app.at("/messages")).send().await?.text().await?);
    for (suffix, fields) in [
        ("", vec![("body", "Planted")]),
        ("/block", vec![]),
        ("/report", vec![("message_id", ""), ("reason", "x")]),
    ] {
        let mut form = fields;
        form.push(("csrf_token", carol_token.as_str()));
        let r = carol
            .post(app.at(&format!("{conv_path}{suffix}")))
            .form(&form)
            .send()
            .await?;
        assert_eq!(r.status(), 404, "{suffix}");
    }
    assert_eq!(messages(&app).await?, 2);
    // Bob blocks Alice from the conversation page; the settings page lists her and
    // unblocks her.
    let r = bob
        .post(app.at(&format!("{conv_path}/block")))
        .form(&[("csrf_token", csrf_of(&page).as_str())])
        .send()
        .await?;
    assert_eq!(r.status(), 303);
    let blocked = bob
        .get(app.at("/settings/blocked"))
        .send()
        .await?
        .text()
        .await?;
    assert!(blocked.contains("mp_alice"), "{blocked}");
    let alice_page = alice.get(app.at(&conv_path)).send().await?.text().await?;
    let r = alice
        .post(app.at(&conv_path))
        .form(&[
            ("csrf_token", csrf_of(&alice_page).as_str()),
            ("body", "Hello?"),
        ])
        .send()
        .await?;
    assert_eq!(r.status(), 403);
    assert_eq!(messages(&app).await?, 2);
    let user_id = blocked
        .split("name=\"user_id\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .context("user_id field")?
        .to_owned();
    let r = bob
        .post(app.at("/settings/blocked/unblock"))
        .form(&[
            ("csrf_token", csrf_of(&blocked).as_str()),
            ("user_id", user_id.as_str()),
        ])
        .send()
        .await?;
    assert_eq!(r.status(), 303);
    assert_eq!(count_rows(app.db(), "user_blocks").await?, 0);
    Ok(())
}
