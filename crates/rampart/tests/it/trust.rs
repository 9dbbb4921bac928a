//! Support tickets and store warnings over HTTP (D6, D9, B2, C1), API and pages, on
//! both engines: only the author and support staff see a ticket (everyone else gets
//! 404 and nothing changes), the binding limits are exact with the injected clock,
//! every staff action leaves exactly one audit row, and every form needs its CSRF
//! token.

use crate::identity::{csrf_of, expect_problem, parts, user_with_role, PW};
use crate::market::{bearer, call, open_store};
use anyhow::{Context, Result};
use rampart_kernel::account::Role;
use rampart_test_support::{both_engines, count_rows, exec, text_value, TestApp};
use reqwest::{Client, Method};
use serde_json::{json, Value};

both_engines!(
    only_the_author_and_support_see_a_ticket,
    status_changes_and_assignment_are_audited_once,
    customers_get_404_from_staff_routes,
    warnings_are_audited_once,
    ticket_creation_is_limited_to_five_per_hour,
    replies_are_limited_to_twenty_per_hour_per_ticket,
    ticket_pages_work_without_javascript,
);

/// A staff member with TOTP enrolled (staff tools are behind it); returns a working
/// access token.
pub async fn staff_with_totp(app: &TestApp, name: &str) -> Result<String> {
    Ok(with_totp(app, name, Role::Staff).await?.1)
}

/// An account of `role` with TOTP enrolled; returns its ID, a working access token
/// and the TOTP secret.
pub async fn with_totp(app: &TestApp, name: &str, role: Role) -> Result<(String, String, Vec<u8>)> {
    let id = user_with_role(app, name, role).await?;
    let (token, secret) = enrol_existing(app, name).await?;
    Ok((id, token, secret))
}

/// Enrols TOTP for the existing account `name` and signs in with a code; returns a
/// working access token and the TOTP secret.
pub async fn enrol_existing(app: &TestApp, name: &str) -> Result<(String, Vec<u8>)> {
    use crate::identity::{enrol_totp, login, s, token_req, totp_now};
    let t = login(app, name, PW).await?;
    let (secret, _, _) = enrol_totp(app, &s(&t, "access_token")).await?;
    // The next step, so the enrolment code is not a replay.
    app.clock.advance_secs(30);
    let c = crate::identity::fresh_client(app);
    let r = token_req(
        app,
        &c,
        json!({"login": name, "password": PW, "client": "native", "totp": totp_now(app, &secret, 0)}),
    )
    .await?;
    let (st, v) = parts(r).await?;
    assert_eq!(st, 200, "staff login: {v}");
    Ok((s(&v, "access_token"), secret))
}

/// Opens a ticket as `token`; returns its ID.
async fn open_ticket(app: &TestApp, token: &str, subject: &str) -> Result<String> {
    let (st, v) = parts(
        call(
            app,
            Method::POST,
            "/v1/tickets",
            Some(token),
            Some(json!({"subject": subject, "body": "Where is my parcel?\nOrder 42."})),
        )
        .await?,
    )
    .await?;
    assert_eq!(st, 201, "{v}");
    assert_eq!(v["ticket"]["status"], "open");
    assert_eq!(v["viewer"], "author");
    Ok(v["ticket"]["id"].as_str().context("ticket id")?.to_owned())
}

/// Every row the ticket and warning routes could write, as text.
async fn fingerprint(app: &TestApp) -> Result<Vec<String>> {
    let queries = [
        "SELECT id || '|' || status || '|' || COALESCE(assignee_id, '-') || '|' || updated_at \
         FROM tickets ORDER BY id",
        "SELECT id || '|' || side || '|' || body FROM ticket_messages ORDER BY id",
        "SELECT id || '|' || status FROM store_warnings ORDER BY id",
        "SELECT CAST(COUNT(*) AS TEXT) FROM audit_log",
    ];
    let mut out = Vec::new();
    for q in queries {
        let rows: Vec<(String,)> = match &app.db().engine {
            rampart_db::Engine::Sqlite { read, .. } => sqlx::query_as(q).fetch_all(read).await,
            rampart_db::Engine::Postgres(p) => sqlx::query_as(q).fetch_all(p).await,
        }
        .with_context(|| q.to_owned())?;
        out.push(rows.into_iter().map(|r| r.0).collect::<Vec<_>>().join("\n"));
    }
    Ok(out)
}

async fn audits(app: &TestApp, action: &str, target: &str) -> Result<i64> {
    count_rows(
        app.db(),
        &format!("audit_log WHERE action_type = '{action}' AND target_id = '{target}'"),
    )
    .await
}

async fn audit_meta(app: &TestApp, action: &str, target: &str) -> Result<Value> {
    let m = text_value(
        app.db(),
        &format!(
            "SELECT CAST(metadata AS TEXT) FROM audit_log \
             WHERE action_type = '{action}' AND target_id = $1"
        ),
        target,
    )
    .await?
    .context("an audit row")?;
    Ok(serde_json::from_str(&m)?)
}

/// D6: the author and support see the ticket; another customer, a seller and an
/// anonymous caller get 404 on every ticket route, and nothing changes.
async fn only_the_author_and_support_see_a_ticket(app: TestApp) -> Result<()> {
    let (_, author) = bearer(&app, "tk_author", Role::Customer).await?;
    let (_, other) = bearer(&app, "tk_other", Role::Customer).await?;
    let (_, seller) = bearer(&app, "tk_seller", Role::Seller).await?;
    // Support look at other people's tickets only with a second factor.
    let (_, plain_support) = bearer(&app, "tk_plain", Role::Support).await?;
    let (_, support, _) = with_totp(&app, "tk_support", Role::Support).await?;
    let id = open_ticket(&app, &author, "Parcel").await?;
    let r = call(
        &app,
        Method::GET,
        &format!("/v1/tickets/{id}"),
        Some(&plain_support),
        None,
    )
    .await?;
    assert_eq!(r.status(), 404);
    let path = format!("/v1/tickets/{id}");

    let (st, v) = parts(call(&app, Method::GET, &path, Some(&author), None).await?).await?;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["messages"][0]["body"], "Where is my parcel?\nOrder 42.");
    let (st, v) = parts(call(&app, Method::GET, &path, Some(&support), None).await?).await?;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["viewer"], "staff");
    // Another spelling of the same ID names nothing (one limiter bucket per ticket).
    let upper = format!("/v1/tickets/{}", id.to_uppercase());
    let r = call(&app, Method::GET, &upper, Some(&author), None).await?;
    expect_problem(r, 404, "not_found").await?;

    let before = fingerprint(&app).await?;
    for t in [&other, &seller] {
        let r = call(&app, Method::GET, &path, Some(t), None).await?;
        expect_problem(r, 404, "not_found").await?;
        let r = call(
            &app,
            Method::POST,
            &format!("{path}/messages"),
            Some(t),
            Some(json!({"body": "Planted"})),
        )
        .await?;
        expect_problem(r, 404, "not_found").await?;
        let (st, v) = parts(call(&app, Method::GET, "/v1/tickets", Some(t), None).await?).await?;
        assert_eq!(st, 200);
        assert_eq!(v["tickets"].as_array().map(Vec::len), Some(0));
    }
    let r = call(&app, Method::GET, &path, None, None).await?;
    assert_eq!(r.status(), 401);
    let r = call(
        &app,
        Method::POST,
        &format!("{path}/messages"),
        None,
        Some(json!({"body": "Planted"})),
    )
    .await?;
    assert_eq!(r.status(), 401);
    assert_eq!(fingerprint(&app).await?, before);

    // The author lists it; support replies on staff's side.
    let (_, v) = parts(call(&app, Method::GET, "/v1/tickets", Some(&author), None).await?).await?;
    assert_eq!(v["tickets"][0]["id"], id.as_str());
    let (st, v) = parts(
        call(
            &app,
            Method::POST,
            &format!("{path}/messages"),
            Some(&support),
            Some(json!({"body": "On its way"})),
        )
        .await?,
    )
    .await?;
    assert_eq!(st, 201, "{v}");
    assert_eq!(v["side"], "staff");
    assert_eq!(count_rows(app.db(), "ticket_messages").await?, 2);
    Ok(())
}

/// D6/C1: a status change writes one `ticket_status_change` row with the old and new
/// status, the same status none; the author may not change it; assignment goes only
/// to active support staff, audited once.
async fn status_changes_and_assignment_are_audited_once(app: TestApp) -> Result<()> {
    let (_, author) = bearer(&app, "st_author", Role::Customer).await?;
    let (_, no_totp) = bearer(&app, "st_plain", Role::Support).await?;
    let (support_id, support, _) = with_totp(&app, "st_support", Role::Support).await?;
    let (customer_id, _) = bearer(&app, "st_cust", Role::Customer).await?;
    let (banned_id, _) = bearer(&app, "st_banned", Role::Support).await?;
    let id = open_ticket(&app, &author, "Refund").await?;
    let status = format!("/v1/tickets/{id}/status");

    // The author: the guard's 404 (no manage_tickets), nothing audited.
    let r = call(
        &app,
        Method::POST,
        &status,
        Some(&author),
        Some(json!({"status": "closed"})),
    )
    .await?;
    expect_problem(r, 404, "not_found").await?;
    // Support without TOTP: staff tools are behind it.
    for (path, body) in [
        (&status, json!({"status": "pending"})),
        (
            &format!("/v1/tickets/{id}/assign"),
            json!({"user_id": null}),
        ),
    ] {
        let r = call(&app, Method::POST, path, Some(&no_totp), Some(body)).await?;
        expect_problem(r, 403, "totp_enrolment_required").await?;
    }
    assert_eq!(audits(&app, "ticket_status_change", &id).await?, 0);

    let (st, v) = parts(
        call(
            &app,
            Method::POST,
            &status,
            Some(&support),
            Some(json!({"status": "pending"})),
        )
        .await?,
    )
    .await?;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["status"], "pending");
    assert_eq!(audits(&app, "ticket_status_change", &id).await?, 1);
    let meta = audit_meta(&app, "ticket_status_change", &id).await?;
    assert_eq!(meta["old_status"], "open");
    assert_eq!(meta["new_status"], "pending");
    // The same status again: no change, no row.
    let r = call(
        &app,
        Method::POST,
        &status,
        Some(&support),
        Some(json!({"status": "pending"})),
    )
    .await?;
    assert_eq!(r.status(), 200);
    assert_eq!(audits(&app, "ticket_status_change", &id).await?, 1);
    let r = call(
        &app,
        Method::POST,
        &status,
        Some(&support),
        Some(json!({"status": "reopened"})),
    )
    .await?;
    assert_eq!(r.status(), 422);

    // Assignment: a customer is not support staff (422), an unknown or banned
    // account cannot take tickets (404); support can, audited once.
    let assign = format!("/v1/tickets/{id}/assign");
    let r = call(
        &app,
        Method::POST,
        &assign,
        Some(&support),
        Some(json!({"user_id": customer_id})),
    )
    .await?;
    let v = expect_problem(r, 422, "validation_failed").await?;
    assert_eq!(v["errors"][0]["code"], "not_support_staff", "{v}");
    let r = call(
        &app,
        Method::POST,
        &assign,
        Some(&support),
        Some(json!({"user_id": "018f0000-0000-7000-8000-000000000000"})),
    )
    .await?;
    expect_problem(r, 404, "not_found").await?;
    exec(
        app.db(),
        &format!("UPDATE users SET status = 'banned' WHERE id = '{banned_id}'"),
    )
    .await?;
    let r = call(
        &app,
        Method::POST,
        &assign,
        Some(&support),
        Some(json!({"user_id": banned_id})),
    )
    .await?;
    expect_problem(r, 404, "not_found").await?;
    assert_eq!(audits(&app, "ticket_assign", &id).await?, 0);
    for _ in 0..2 {
        let (st, v) = parts(
            call(
                &app,
                Method::POST,
                &assign,
                Some(&support),
                Some(json!({"user_id": support_id})),
            )
            .await?,
        )
        .await?;
        assert_eq!(st, 200, "{v}");
        assert_eq!(v["assignee_id"], support_id.as_str());
    }
    assert_eq!(audits(&app, "ticket_assign", &id).await?, 1);
    // The queue filters by assignee and status.
    let (st, v) = parts(
        call(
            &app,
            Method::GET,
            &format!("/v1/staff/tickets?status=pending&assignee={support_id}"),
            Some(&support),
            None,
        )
        .await?,
    )
    .await?;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["tickets"][0]["id"], id.as_str());
    let (_, v) = parts(
        call(
            &app,
            Method::GET,
            "/v1/staff/tickets?assignee=none",
            Some(&support),
            None,
        )
        .await?,
    )
    .await?;
    assert_eq!(v["tickets"].as_array().map(Vec::len), Some(0));
    let r = call(
        &app,
        Method::GET,
        "/v1/staff/tickets?status=bogus",
        Some(&support),
        None,
    )
    .await?;
    assert_eq!(r.status(), 422);
    // Unassign.
    let (st, v) = parts(
        call(
            &app,
            Method::POST,
            &assign,
            Some(&support),
            Some(json!({"user_id": null})),
        )
        .await?,
    )
    .await?;
    assert_eq!(st, 200, "{v}");
    assert!(v.get("assignee_id").is_none(), "{v}");
    assert_eq!(audits(&app, "ticket_assign", &id).await?, 2);
    Ok(())
}

/// D9: every staff route answers a customer (even the ticket's author) with the
/// guard's 404, and nothing changes.
async fn customers_get_404_from_staff_routes(app: TestApp) -> Result<()> {
    let (_, author) = bearer(&app, "g_author", Role::Customer).await?;
    let (_, owner) = bearer(&app, "g_owner", Role::Seller).await?;
    let staff = staff_with_totp(&app, "g_staff").await?;
    let (_, support) = bearer(&app, "g_support", Role::Support).await?;
    let store = open_store(&app, &owner, "Shop").await?;
    let id = open_ticket(&app, &author, "Help").await?;
    let (st, w) = parts(
        call(
            &app,
            Method::POST,
            &format!("/v1/stores/{store}/warnings"),
            Some(&staff),
            Some(json!({"reason": "Late shipping"})),
        )
        .await?,
    )
    .await?;
    assert_eq!(st, 201, "{w}");
    let warning = w["id"].as_str().context("warning id")?.to_owned();
    let before = fingerprint(&app).await?;
    let cases: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, "/v1/staff/tickets".into(), None),
        (
            Method::POST,
            format!("/v1/tickets/{id}/status"),
            Some(json!({"status": "closed"})),
        ),
        (
            Method::POST,
            format!("/v1/tickets/{id}/assign"),
            Some(json!({"user_id": null})),
        ),
        (
            Method::POST,
            format!("/v1/stores/{store}/warnings"),
            Some(json!({"reason": "Planted"})),
        ),
        (Method::GET, format!("/v1/stores/{store}/warnings"), None),
        (
            Method::POST,
            format!("/v1/warnings/{warning}/resolve"),
            None,
        ),
    ];
    for (m, path, body) in &cases {
        for t in [&author, &owner] {
            let r = call(&app, m.clone(), path, Some(t), body.clone()).await?;
            expect_problem(r, 404, "not_found").await?;
        }
    }
    // Support answers tickets but does not warn stores.
    for (m, path, body) in &cases[3..] {
        let r = call(&app, m.clone(), path, Some(&support), body.clone()).await?;
        expect_problem(r, 404, "not_found").await?;
    }
    assert_eq!(fingerprint(&app).await?, before);
    Ok(())
}

/// D9/C1: creating and resolving a warning each write one audit row; resolving
/// twice writes nothing more; an unknown store is 404.
async fn warnings_are_audited_once(app: TestApp) -> Result<()> {
    let (_, owner) = bearer(&app, "w_owner", Role::Seller).await?;
    let (_, no_totp) = bearer(&app, "w_plain", Role::Staff).await?;
    let staff = staff_with_totp(&app, "w_staff").await?;
    let store = open_store(&app, &owner, "Shop").await?;
    let path = format!("/v1/stores/{store}/warnings");
    // Staff tools are behind TOTP: a staff account without it is refused.
    let r = call(
        &app,
        Method::POST,
        &path,
        Some(&no_totp),
        Some(json!({"reason": "Late shipping"})),
    )
    .await?;
    expect_problem(r, 403, "totp_enrolment_required").await?;
    let r = call(&app, Method::GET, &path, Some(&no_totp), None).await?;
    expect_problem(r, 403, "totp_enrolment_required").await?;
    let r = call(
        &app,
        Method::POST,
        &path,
        Some(&staff),
        Some(json!({"reason": " "})),
    )
    .await?;
    expect_problem(r, 422, "validation_failed").await?;
    let r = call(
        &app,
        Method::POST,
        "/v1/stores/018f0000-0000-7000-8000-000000000000/warnings",
        Some(&staff),
        Some(json!({"reason": "Ghost"})),
    )
    .await?;
    expect_problem(r, 404, "not_found").await?;
    assert_eq!(audits(&app, "warning_create", &store).await?, 0);
    let (st, w) = parts(
        call(
            &app,
            Method::POST,
            &path,
            Some(&staff),
            Some(json!({"reason": "Late shipping\nThree complaints"})),
        )
        .await?,
    )
    .await?;
    assert_eq!(st, 201, "{w}");
    assert_eq!(w["status"], "open");
    assert_eq!(audits(&app, "warning_create", &store).await?, 1);
    let id = w["id"].as_str().context("warning id")?.to_owned();
    for _ in 0..2 {
        let (st, v) = parts(
            call(
                &app,
                Method::POST,
                &format!("/v1/warnings/{id}/resolve"),
                Some(&staff),
                None,
            )
            .await?,
        )
        .await?;
        assert_eq!(st, 200, "{v}");
        assert_eq!(v["status"], "resolved");
    }
    assert_eq!(audits(&app, "warning_resolve", &store).await?, 1);
    let r = call(
        &app,
        Method::POST,
        &format!("/v1/warnings/{id}/resolve"),
        Some(&no_totp),
        None,
    )
    .await?;
    expect_problem(r, 403, "totp_enrolment_required").await?;
    let (st, v) = parts(call(&app, Method::GET, &path, Some(&staff), None).await?).await?;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["warnings"][0]["id"], id.as_str());
    assert_eq!(
        v["warnings"][0]["reason"],
        "Late shipping\nThree complaints"
    );
    Ok(())
}

fn header<'a>(r: &'a reqwest::Response, name: &str) -> &'a str {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("missing {name}: {:?}", r.headers()))
}

/// A refusal by `policy` (`limit` per hour) with its headers.
async fn assert_refused(r: reqwest::Response, policy: &str, limit: u32) -> Result<()> {
    assert_eq!(r.status(), 429, "expected a refusal by {policy}");
    let retry: u64 = header(&r, "retry-after").parse()?;
    assert!((1..=3600).contains(&retry), "Retry-After {retry}");
    let pol = header(&r, "ratelimit-policy");
    assert!(
        pol.contains(&format!("\"{policy}\";q={limit};w=3600")),
        "RateLimit-Policy {pol}"
    );
    assert_eq!(
        header(&r, "ratelimit"),
        format!("\"{policy}\";r=0;t={retry}")
    );
    assert_eq!(header(&r, "x-ratelimit-limit"), limit.to_string());
    assert_eq!(header(&r, "x-ratelimit-remaining"), "0");
    let v: Value = r.json().await?;
    assert_eq!(v["code"], "rate_limited");
    Ok(())
}

/// A fresh access token for `name`.
async fn token(app: &TestApp, name: &str) -> Result<String> {
    let t = crate::identity::login(app, name, PW).await?;
    Ok(t["access_token"]
        .as_str()
        .context("access token")?
        .to_owned())
}

async fn create(app: &TestApp, token: &str, n: usize) -> Result<reqwest::Response> {
    call(
        app,
        Method::POST,
        "/v1/tickets",
        Some(token),
        Some(json!({"subject": format!("Question {n}"), "body": "Help"})),
    )
    .await
}

async fn send(app: &TestApp, token: &str, ticket: &str, n: usize) -> Result<reqwest::Response> {
    call(
        app,
        Method::POST,
        &format!("/v1/tickets/{ticket}/messages"),
        Some(token),
        Some(json!({"body": format!("Message {n}")})),
    )
    .await
}

/// B2: five tickets per hour per user — five accepted, the sixth refused with 429 and
/// the headers, nothing stored; another user is not affected; once the window has
/// passed (injected clock), accepted again.
async fn ticket_creation_is_limited_to_five_per_hour(app: TestApp) -> Result<()> {
    let (_, author) = bearer(&app, "rl_author", Role::Customer).await?;
    let (_, other) = bearer(&app, "rl_other", Role::Customer).await?;
    for n in 0..5 {
        let r = create(&app, &author, n).await?;
        assert_eq!(r.status(), 201, "ticket {n}");
        assert!(header(&r, "ratelimit").starts_with(&format!("\"ticket_create\";r={}", 4 - n)));
    }
    assert_refused(create(&app, &author, 5).await?, "ticket_create", 5).await?;
    assert_eq!(count_rows(app.db(), "tickets").await?, 5);
    assert_eq!(create(&app, &other, 0).await?.status(), 201);
    // Access tokens live shorter than the window: sign in again after moving the clock.
    app.clock.advance_secs(3599);
    let author = token(&app, "rl_author").await?;
    assert_eq!(create(&app, &author, 6).await?.status(), 429);
    app.clock.advance_secs(1);
    let author = token(&app, "rl_author").await?;
    assert_eq!(create(&app, &author, 7).await?.status(), 201);
    assert_eq!(count_rows(app.db(), "tickets").await?, 7);
    Ok(())
}

/// B2: twenty messages per hour per ticket, both sides counted — twenty accepted,
/// the 21st refused with 429 and the headers; another ticket is not affected; once
/// the window has passed, accepted again.
async fn replies_are_limited_to_twenty_per_hour_per_ticket(app: TestApp) -> Result<()> {
    let (_, author) = bearer(&app, "rm_author", Role::Customer).await?;
    let (_, support, _) = with_totp(&app, "rm_support", Role::Support).await?;
    let id = open_ticket(&app, &author, "Chatty").await?;
    let second = open_ticket(&app, &author, "Another").await?;
    for n in 0..20 {
        let who = if n % 2 == 0 { &author } else { &support };
        let r = send(&app, who, &id, n).await?;
        assert_eq!(r.status(), 201, "reply {n}");
    }
    assert_refused(send(&app, &author, &id, 20).await?, "ticket_message", 20).await?;
    assert_refused(send(&app, &support, &id, 20).await?, "ticket_message", 20).await?;
    // Another spelling of the ID: not a second bucket that accepts.
    let upper = id.to_uppercase();
    let r = send(&app, &author, &upper, 21).await?;
    assert_ne!(r.status(), 201);
    // A percent-encoded spelling is the same ticket to the handler: the same bucket.
    let encoded = format!("%{:02X}{}", id.as_bytes()[0], &id[1..]);
    assert_refused(
        send(&app, &author, &encoded, 21).await?,
        "ticket_message",
        20,
    )
    .await?;
    assert_eq!(count_rows(app.db(), "ticket_messages").await?, 22);
    assert_eq!(send(&app, &author, &second, 0).await?.status(), 201);
    app.clock.advance_secs(3600);
    let author = token(&app, "rm_author").await?;
    assert_eq!(send(&app, &author, &id, 22).await?.status(), 201);
    assert_eq!(count_rows(app.db(), "ticket_messages").await?, 24);
    Ok(())
}

// ----- pages ------------------------------------------------------------------------

async fn browser(app: &TestApp, name: &str, totp: Option<&str>) -> Result<Client> {
    crate::identity::web_login(app, 34, name, totp, "/").await
}

/// The author opens a ticket through the form and finds it under "my tickets";
/// support finds it in the queue, replies, changes the status and assigns it through
/// the forms; every form without its CSRF token is refused with 403 and changes
/// nothing; another customer gets 404 pages.
async fn ticket_pages_work_without_javascript(app: TestApp) -> Result<()> {
    crate::identity::user(&app, "pg_author").await?;
    crate::identity::user(&app, "pg_nosy").await?;
    let (support_id, _, secret) = with_totp(&app, "pg_support", Role::Support).await?;
    let author = browser(&app, "pg_author", None).await?;
    let nosy = browser(&app, "pg_nosy", None).await?;
    app.clock.advance_secs(30);
    let code = crate::identity::totp_now(&app, &secret, 0);
    let support = browser(&app, "pg_support", Some(&code)).await?;

    // The form, in Estonian when asked; the Support link, no staff link.
    let r = author
        .get(app.at("/tickets/new"))
        .header("accept-language", "et")
        .send()
        .await?;
    assert_eq!(r.status(), 200);
    let html = r.text().await?;
    assert!(html.contains("Ava pöördumine"), "{html}");
    assert!(html.contains("href=\"/tickets\""));
    assert!(!html.contains("href=\"/staff/tickets\""));
    let t = csrf_of(&html);
    assert!(!t.is_empty());

    let before = fingerprint(&app).await?;
    let r = author
        .post(app.at("/tickets"))
        .form(&[("subject", "Broken lamp"), ("body", "It flickers")])
        .send()
        .await?;
    assert_eq!(r.status(), 403);
    let r = author
        .post(app.at("/tickets"))
        .form(&[("csrf_token", t.as_str()), ("subject", ""), ("body", "x")])
        .send()
        .await?;
    assert_eq!(r.status(), 422);
    assert_eq!(fingerprint(&app).await?, before);
    let r = author
        .post(app.at("/tickets"))
        .form(&[
            ("csrf_token", t.as_str()),
            ("subject", "Broken lamp"),
            ("body", "It flickers\nsince Monday"),
        ])
        .send()
        .await?;
    assert_eq!(r.status(), 303);
    let location = r.headers()["location"].to_str()?.to_owned();
    assert!(location.starts_with("/tickets/"), "{location}");
    let tpath = location.split('?').next().unwrap_or_default().to_owned();
    let id = tpath.trim_start_matches("/tickets/").to_owned();
    let html = author.get(app.at(&location)).send().await?.text().await?;
    assert!(html.contains("Your ticket was opened."));
    assert!(html.contains("since Monday"));
    assert!(!html.contains("/status\""), "no status form for the author");
    let html = author.get(app.at("/tickets")).send().await?.text().await?;
    assert!(html.contains(&format!("href=\"{tpath}\"")));

    // Another customer: 404 pages, no queue, nothing changes.
    let nt = csrf_of(
        &nosy
            .get(app.at("/tickets/new"))
            .send()
            .await?
            .text()
            .await?,
    );
    assert_eq!(nosy.get(app.at(&tpath)).send().await?.status(), 404);
    assert_eq!(
        nosy.get(app.at("/staff/tickets")).send().await?.status(),
        404
    );
    let before = fingerprint(&app).await?;
    let r = nosy
        .post(app.at(&format!("{tpath}/messages")))
        .form(&[("csrf_token", nt.as_str()), ("body", "Planted")])
        .send()
        .await?;
    assert_eq!(r.status(), 404);
    assert_eq!(fingerprint(&app).await?, before);

    // Support: the nav link, the queue, the thread with the staff forms.
    let r = support
        .get(app.at("/staff/tickets?status=open"))
        .send()
        .await?;
    assert_eq!(r.status(), 200);
    let html = r.text().await?;
    assert!(html.contains("href=\"/staff/tickets\""));
    assert!(html.contains(&format!("href=\"{tpath}\"")));
    assert!(html.contains("Broken lamp"));
    let r = support
        .get(app.at("/staff/tickets?status=bogus"))
        .send()
        .await?;
    assert_eq!(r.status(), 422);
    let html = support.get(app.at(&tpath)).send().await?.text().await?;
    assert!(html.contains(&format!("action=\"{tpath}/status\"")));
    assert!(html.contains(&format!("action=\"{tpath}/assign\"")));
    let st = csrf_of(&html);

    // Every form without its token: 403, nothing changes.
    let before = fingerprint(&app).await?;
    for (path, form) in [
        (format!("{tpath}/messages"), vec![("body", "On it")]),
        (format!("{tpath}/status"), vec![("status", "pending")]),
        (
            format!("{tpath}/assign"),
            vec![("user_id", support_id.as_str())],
        ),
    ] {
        let r = support.post(app.at(&path)).form(&form).send().await?;
        assert_eq!(r.status(), 403, "{path}");
    }
    let r = author
        .post(app.at(&format!("{tpath}/messages")))
        .form(&[("body", "Hello?")])
        .send()
        .await?;
    assert_eq!(r.status(), 403);
    assert_eq!(fingerprint(&app).await?, before);

    // Support replies, sets pending, assigns to themselves.
    let r = support
        .post(app.at(&format!("{tpath}/messages")))
        .form(&[("csrf_token", st.as_str()), ("body", "Please send a photo")])
        .send()
        .await?;
    assert_eq!(r.status(), 303);
    let r = support
        .post(app.at(&format!("{tpath}/status")))
        .form(&[("csrf_token", st.as_str()), ("status", "pending")])
        .send()
        .await?;
    assert_eq!(r.status(), 303);
    assert_eq!(audits(&app, "ticket_status_change", &id).await?, 1);
    let r = support
        .post(app.at(&format!("{tpath}/assign")))
        .form(&[
            ("csrf_token", st.as_str()),
            ("user_id", support_id.as_str()),
        ])
        .send()
        .await?;
    assert_eq!(r.status(), 303);
    assert_eq!(audits(&app, "ticket_assign", &id).await?, 1);
    // The author's browser posting a staff form: the guard's 404.
    let at = csrf_of(&author.get(app.at(&tpath)).send().await?.text().await?);
    let r = author
        .post(app.at(&format!("{tpath}/status")))
        .form(&[("csrf_token", at.as_str()), ("status", "closed")])
        .send()
        .await?;
    assert_eq!(r.status(), 404);
    assert_eq!(audits(&app, "ticket_status_change", &id).await?, 1);

    // The author sees the reply and answers; the reply reopens the ticket.
    let html = author.get(app.at(&tpath)).send().await?.text().await?;
    assert!(html.contains("Please send a photo"));
    assert!(html.contains("Waiting for you"));
    let r = author
        .post(app.at(&format!("{tpath}/messages")))
        .form(&[("csrf_token", at.as_str()), ("body", "Photo attached")])
        .send()
        .await?;
    assert_eq!(r.status(), 303);
    let status = text_value(app.db(), "SELECT status FROM tickets WHERE id = $1", &id).await?;
    assert_eq!(status.as_deref(), Some("open"));
    assert_eq!(count_rows(app.db(), "ticket_messages").await?, 3);
    Ok(())
}
