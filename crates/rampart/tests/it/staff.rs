//! Staff tools and notification preferences over HTTP (D9, D10, C1, issue 11 §4–5),
//! API and pages, on both engines: every staff action leaves exactly one audit row
//! with its C1 name (a no-op none), a ban ends every credential at once, the staff
//! routes answer 404 to everyone without the permission and 403 to holders without
//! TOTP, every form needs its CSRF token (refused: nothing changed), no route
//! impersonates anyone, and a ticket reply or message mails only when the
//! recipient's preference is on, in their language.

use crate::identity::{csrf_of, expect_problem, fresh_client, login, parts, s, user, PW};
use crate::market::{bearer, call, open_store};
use crate::trust::with_totp;
use anyhow::{Context, Result};
use rampart_kernel::account::Role;
use rampart_test_support::{both_engines, count_rows, text_value, TestApp};
use reqwest::{Client, Method};
use serde_json::{json, Value};

both_engines!(
    staff_user_actions_are_audited_once_and_ban_ends_every_credential,
    staff_routes_refuse_everyone_else,
    staff_pages_need_csrf_and_change_nothing_when_refused,
    store_page_warnings_are_audited_once,
    no_route_impersonates_anyone,
    ticket_reply_mail_follows_the_preference_and_language,
    message_mail_is_opt_in_and_carries_no_payload,
    notification_settings_page_saves_with_csrf_only,
    ticket_staff_actions_write_exactly_one_row_in_all,
    purchase_and_dispute_mail_follow_the_preferences,
);

async fn audits(app: &TestApp, action: &str, target: &str) -> Result<i64> {
    count_rows(
        app.db(),
        &format!("audit_log WHERE action_type = '{action}' AND target_id = '{target}'"),
    )
    .await
}

async fn all_audits(app: &TestApp) -> Result<i64> {
    count_rows(app.db(), "audit_log").await
}

async fn account_row(app: &TestApp, id: &str) -> Result<String> {
    text_value(
        app.db(),
        "SELECT role || '|' || status FROM users WHERE id = $1",
        id,
    )
    .await?
    .context("user row")
}

async fn account_lang(app: &TestApp, id: &str) -> Result<Option<String>> {
    text_value(app.db(), "SELECT language FROM users WHERE id = $1", id).await
}

async fn post(app: &TestApp, token: &str, path: &str, body: Option<Value>) -> Result<(u16, Value)> {
    parts(call(app, Method::POST, path, Some(token), body).await?).await
}

/// D9/C1: ban, unban, grant and revoke through `/v1/staff`, each exactly one audit
/// row with its C1 name (`user_ban`, `user_unban`, `grant_seller`, `revoke_seller`,
/// `grant_staff`, `revoke_staff`, `grant_support`, `revoke_support`), a repeat none;
/// the ban ends the access token, refresh token, PAT and cookie session at once;
/// staff may not act upwards, on themselves, or grant support/staff (admins only).
async fn staff_user_actions_are_audited_once_and_ban_ends_every_credential(
    app: TestApp,
) -> Result<()> {
    let (staff_id, staff, _) = with_totp(&app, "sa_staff", Role::Staff).await?;
    let (admin_id, admin, _) = with_totp(&app, "sa_admin", Role::Admin).await?;
    let target = user(&app, "sa_target").await?;
    let t = login(&app, "sa_target", PW).await?;
    let access = s(&t, "access_token");
    let refresh_token = s(&t, "refresh_token");
    let web = app
        .state
        .auth
        .start_web_session(&target, &crate::identity::ctx())
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let (st, v) = parts(
        fresh_client(&app)
            .post(app.at("/v1/tokens"))
            .bearer_auth(&access)
            .json(&json!({"name": "ci", "scopes": ["profile:read"]}))
            .send()
            .await?,
    )
    .await?;
    assert_eq!(st, 201, "{v}");
    let pat = s(&v, "token");

    // Finding the account: by username, e-mail and ID; nothing for a stranger.
    for q in ["sa_target", "sa_target@example.com", target.as_str()] {
        let (st, v) = parts(
            call(
                &app,
                Method::GET,
                &format!("/v1/staff/users?q={}", urlencode(q)),
                Some(&staff),
                None,
            )
            .await?,
        )
        .await?;
        assert_eq!(st, 200, "{v}");
        assert_eq!(v["users"][0]["id"], target.as_str(), "{q}");
    }
    let (_, v) = parts(
        call(
            &app,
            Method::GET,
            "/v1/staff/users?q=nobody_here",
            Some(&staff),
            None,
        )
        .await?,
    )
    .await?;
    assert_eq!(v["users"].as_array().map(Vec::len), Some(0));

    let base = format!("/v1/staff/users/{target}");
    let (st, v) = parts(call(&app, Method::GET, &base, Some(&staff), None).await?).await?;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["user"]["status"], "active");
    assert_eq!(v["user"]["role"], "customer");
    assert!(!v["sessions"].as_array().context("sessions")?.is_empty());

    // Ban: one row; every credential ends at once.
    let before = all_audits(&app).await?;
    let (st, v) = post(&app, &staff, &format!("{base}/ban"), None).await?;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["status"], "banned");
    assert_eq!(all_audits(&app).await?, before + 1);
    assert_eq!(audits(&app, "user_ban", &target).await?, 1);
    let meta = text_value(
        app.db(),
        "SELECT CAST(metadata AS TEXT) FROM audit_log WHERE action_type = 'user_ban' AND target_id = $1",
        &target,
    )
    .await?
    .context("metadata")?;
    let meta: Value = serde_json::from_str(&meta)?;
    assert_eq!(meta["old_status"], "active");
    assert_eq!(meta["new_status"], "banned");
    assert_eq!(
        crate::identity::me_status(&app, &access).await?.0,
        401,
        "access token"
    );
    assert_eq!(crate::identity::me_status(&app, &pat).await?.0, 401, "PAT");
    let (st, _) = parts(crate::identity::refresh(&app, &refresh_token).await?).await?;
    assert_eq!(st, 401, "refresh token");
    let r = app
        .client_from("127.0.0.1")
        .get(app.at("/v1/me"))
        .header("cookie", format!("rampart_session={}", web.cookie))
        .send()
        .await?;
    assert_eq!(r.status(), 401, "cookie session");
    // A repeat changes nothing and writes nothing.
    let (st, _) = post(&app, &staff, &format!("{base}/ban"), None).await?;
    assert_eq!(st, 200);
    assert_eq!(all_audits(&app).await?, before + 1);

    // Unban: one row.
    let (st, v) = post(&app, &staff, &format!("{base}/unban"), None).await?;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["status"], "active");
    assert_eq!(audits(&app, "user_unban", &target).await?, 1);
    assert_eq!(all_audits(&app).await?, before + 2);

    // Staff grant and revoke the seller role, one row each.
    let role = |r: &str| Some(json!({ "role": r }));
    let (st, v) = post(&app, &staff, &format!("{base}/role"), role("seller")).await?;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["role"], "seller");
    assert_eq!(audits(&app, "grant_seller", &target).await?, 1);
    let (st, _) = post(&app, &staff, &format!("{base}/role"), role("seller")).await?;
    assert_eq!(st, 200);
    assert_eq!(audits(&app, "grant_seller", &target).await?, 1, "no-op");
    let (st, _) = post(&app, &staff, &format!("{base}/role"), role("customer")).await?;
    assert_eq!(st, 200);
    assert_eq!(audits(&app, "revoke_seller", &target).await?, 1);
    assert_eq!(all_audits(&app).await?, before + 4);

    // Staff may not grant support or staff, act upwards or on themselves.
    let snapshot = (account_row(&app, &target).await?, all_audits(&app).await?);
    for r in ["support", "staff"] {
        let (st, v) = post(&app, &staff, &format!("{base}/role"), role(r)).await?;
        assert_eq!((st, v["code"].as_str()), (403, Some("forbidden")), "{r}");
    }
    let (st, v) = post(&app, &staff, &format!("{base}/role"), role("admin")).await?;
    assert_eq!(st, 422, "not a staff-tool role: {v}");
    for path in [
        format!("/v1/staff/users/{admin_id}/ban"),
        format!("/v1/staff/users/{staff_id}/ban"),
    ] {
        let (st, _) = post(&app, &staff, &path, None).await?;
        assert_eq!(st, 403, "{path}");
    }
    assert_eq!(
        (account_row(&app, &target).await?, all_audits(&app).await?),
        snapshot
    );
    assert!(account_row(&app, &admin_id).await?.ends_with("|active"));

    // Admins grant and revoke support and staff, one row each with its name.
    for (r, action) in [
        ("support", "grant_support"),
        ("customer", "revoke_support"),
        ("staff", "grant_staff"),
        ("seller", "revoke_staff"),
    ] {
        let n = all_audits(&app).await?;
        let (st, v) = post(&app, &admin, &format!("{base}/role"), role(r)).await?;
        assert_eq!(st, 200, "{r}: {v}");
        assert_eq!(v["role"], r);
        assert_eq!(audits(&app, action, &target).await?, 1, "{action}");
        assert_eq!(all_audits(&app).await?, n + 1, "{action}");
    }

    // The staff page shows them all, newest first, with the actors.
    let (_, v) = parts(call(&app, Method::GET, &base, Some(&staff), None).await?).await?;
    let actions: Vec<&str> = v["audit"]
        .as_array()
        .context("audit")?
        .iter()
        .filter_map(|a| a["action"].as_str())
        .collect();
    assert_eq!(
        actions,
        [
            "revoke_staff",
            "grant_staff",
            "revoke_support",
            "grant_support",
            "revoke_seller",
            "grant_seller",
            "user_unban",
            "user_ban"
        ]
    );
    assert_eq!(v["audit"][0]["actor"], admin_id.as_str());
    assert_eq!(v["audit"][7]["actor"], staff_id.as_str());

    // Unknown and non-canonical IDs are 404.
    let unknown = rampart_kernel::UserId::generate();
    for path in [
        format!("/v1/staff/users/{unknown}"),
        format!("/v1/staff/users/{}", target.to_uppercase()),
    ] {
        let r = call(&app, Method::GET, &path, Some(&staff), None).await?;
        expect_problem(r, 404, "not_found").await?;
        let r = call(
            &app,
            Method::POST,
            &format!("{path}/ban"),
            Some(&staff),
            None,
        )
        .await?;
        expect_problem(r, 404, "not_found").await?;
    }
    Ok(())
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The guard: customers, sellers and support get 404 on every staff route; staff
/// without TOTP get 403 `totp_enrolment_required`; nothing changes.
async fn staff_routes_refuse_everyone_else(app: TestApp) -> Result<()> {
    let (target, _) = bearer(&app, "sr_target", Role::Customer).await?;
    let (_, customer) = bearer(&app, "sr_customer", Role::Customer).await?;
    let (_, seller) = bearer(&app, "sr_seller", Role::Seller).await?;
    let (_, support, _) = with_totp(&app, "sr_support", Role::Support).await?;
    let (_, plain_staff) = bearer(&app, "sr_plain", Role::Staff).await?;
    let store = open_store(&app, &seller, "Refusals").await?;
    let routes: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, "/v1/staff/users?q=sr_target".into(), None),
        (Method::GET, format!("/v1/staff/users/{target}"), None),
        (Method::POST, format!("/v1/staff/users/{target}/ban"), None),
        (
            Method::POST,
            format!("/v1/staff/users/{target}/unban"),
            None,
        ),
        (
            Method::POST,
            format!("/v1/staff/users/{target}/role"),
            Some(json!({"role": "seller"})),
        ),
        (Method::GET, format!("/v1/staff/stores/{store}"), None),
    ];
    let before = (account_row(&app, &target).await?, all_audits(&app).await?);
    for (m, path, body) in &routes {
        for t in [&customer, &seller, &support] {
            let r = call(&app, m.clone(), path, Some(t), body.clone()).await?;
            expect_problem(r, 404, "not_found").await?;
        }
        let r = call(&app, m.clone(), path, Some(&plain_staff), body.clone()).await?;
        expect_problem(r, 403, "totp_enrolment_required").await?;
        let r = call(&app, m.clone(), path, None, body.clone()).await?;
        assert_eq!(r.status(), 401, "{path}");
    }
    assert_eq!(
        (account_row(&app, &target).await?, all_audits(&app).await?),
        before
    );
    Ok(())
}

async fn browser(app: &TestApp, name: &str, totp: Option<&str>) -> Result<Client> {
    crate::identity::web_login(app, 36, name, totp, "/").await
}

/// A staff member with TOTP signed in through the login form.
async fn staff_browser(app: &TestApp, name: &str, role: Role) -> Result<(String, Client)> {
    let (id, _, secret) = with_totp(app, name, role).await?;
    app.clock.advance_secs(30);
    let code = crate::identity::totp_now(app, &secret, 0);
    Ok((id, browser(app, name, Some(&code)).await?))
}

/// The staff user pages: a customer gets 404 pages, staff without TOTP are sent to
/// enrol (their forms 403); the
/// search finds the account; each form without its CSRF token is refused (403) and
/// changes nothing; with it, one audit row each and a 303 back with the notice; in
/// Estonian when the staff member's browser asks.
async fn staff_pages_need_csrf_and_change_nothing_when_refused(app: TestApp) -> Result<()> {
    let target = user(&app, "sp_target").await?;
    user(&app, "sp_customer").await?;
    crate::identity::user_with_role(&app, "sp_plain", Role::Staff).await?;
    let (_, staff) = staff_browser(&app, "sp_staff", Role::Staff).await?;
    let customer = browser(&app, "sp_customer", None).await?;
    let page = format!("/staff/users/{target}");

    // A customer: 404 pages, and the forms (with the customer's own token) 404 too.
    let html = customer
        .get(app.at("/settings"))
        .send()
        .await?
        .text()
        .await?;
    assert!(!html.contains("href=\"/staff/users\""), "no staff link");
    let ct = csrf_of(&html);
    for path in ["/staff/users", page.as_str()] {
        let r = customer.get(app.at(path)).send().await?;
        assert_eq!(r.status(), 404, "{path}");
    }
    let before = (account_row(&app, &target).await?, all_audits(&app).await?);
    let r = customer
        .post(app.at(&format!("{page}/ban")))
        .form(&[("csrf_token", ct.as_str())])
        .send()
        .await?;
    assert_eq!(r.status(), 404);
    // Staff without TOTP are sent to enrol, and their forms are refused.
    let plain = browser(&app, "sp_plain", None).await?;
    let r = plain.get(app.at(&page)).send().await?;
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"].to_str()?, "/settings/2fa");
    let pt = csrf_of(&plain.get(app.at("/settings")).send().await?.text().await?);
    assert!(!pt.is_empty());
    let r = plain
        .post(app.at(&format!("{page}/ban")))
        .form(&[("csrf_token", pt.as_str())])
        .send()
        .await?;
    assert_eq!(r.status(), 403);
    assert_eq!(
        (account_row(&app, &target).await?, all_audits(&app).await?),
        before
    );

    // The search, the page, the nav link.
    let html = staff
        .get(app.at("/staff/users?q=sp_target"))
        .send()
        .await?
        .text()
        .await?;
    assert!(html.contains(&format!("href=\"{page}\"")), "{html}");
    assert!(html.contains("href=\"/staff/users\""), "nav link");
    let html = staff.get(app.at(&page)).send().await?.text().await?;
    assert!(html.contains(&format!("action=\"{page}/ban\"")), "{html}");
    let t = csrf_of(&html);

    // Without the token: refused, nothing changed.
    for (path, form) in [
        (format!("{page}/ban"), vec![]),
        (format!("{page}/unban"), vec![]),
        (format!("{page}/role"), vec![("role", "seller")]),
    ] {
        let r = staff.post(app.at(&path)).form(&form).send().await?;
        assert_eq!(r.status(), 403, "{path}");
        let mut bad = form.clone();
        bad.push(("csrf_token", "forged"));
        let r = staff.post(app.at(&path)).form(&bad).send().await?;
        assert_eq!(r.status(), 403, "{path} forged");
    }
    assert_eq!(
        (account_row(&app, &target).await?, all_audits(&app).await?),
        before
    );

    // With it: one row each.
    let r = staff
        .post(app.at(&format!("{page}/ban")))
        .form(&[("csrf_token", t.as_str())])
        .send()
        .await?;
    assert_eq!(r.status(), 303);
    assert_eq!(
        r.headers()["location"].to_str()?,
        format!("{page}?notice=staff_banned")
    );
    assert_eq!(audits(&app, "user_ban", &target).await?, 1);
    let html = staff
        .get(app.at(&format!("{page}?notice=staff_banned")))
        .header("accept-language", "et")
        .send()
        .await?
        .text()
        .await?;
    assert!(html.contains("Konto blokeeriti."), "{html}");
    assert!(html.contains("Tühista blokeering"));
    assert!(html.contains("user_ban"));
    let r = staff
        .post(app.at(&format!("{page}/unban")))
        .form(&[("csrf_token", t.as_str())])
        .send()
        .await?;
    assert_eq!(r.status(), 303);
    let r = staff
        .post(app.at(&format!("{page}/role")))
        .form(&[("csrf_token", t.as_str()), ("role", "seller")])
        .send()
        .await?;
    assert_eq!(r.status(), 303);
    let r = staff
        .post(app.at(&format!("{page}/role")))
        .form(&[("csrf_token", t.as_str()), ("role", "nonsense")])
        .send()
        .await?;
    assert_eq!(r.status(), 422);
    assert_eq!(audits(&app, "user_unban", &target).await?, 1);
    assert_eq!(audits(&app, "grant_seller", &target).await?, 1);
    assert_eq!(all_audits(&app).await?, before.1 + 3);
    assert_eq!(account_row(&app, &target).await?, "seller|active");
    Ok(())
}

/// The staff store page: members, warnings (create and resolve forms, one audit row
/// each, CSRF required, a bad reason re-renders with 422 and stores nothing), the
/// store's disputes; the JSON twin; 404 for everyone without `warn_store`.
async fn store_page_warnings_are_audited_once(app: TestApp) -> Result<()> {
    let (seller_id, seller) = bearer(&app, "ss_seller", Role::Seller).await?;
    let store = open_store(&app, &seller, "Lamp Shop").await?;
    let (_, staff_token, _) = with_totp(&app, "ss_api", Role::Staff).await?;
    let (_, staff) = staff_browser(&app, "ss_staff", Role::Staff).await?;
    user(&app, "ss_customer").await?;
    let customer = browser(&app, "ss_customer", None).await?;
    let page = format!("/staff/stores/{store}");

    let r = customer.get(app.at(&page)).send().await?;
    assert_eq!(r.status(), 404);
    let html = staff.get(app.at(&page)).send().await?.text().await?;
    assert!(html.contains("Lamp Shop"), "{html}");
    assert!(html.contains(&format!("href=\"/staff/users/{seller_id}\"")));
    let t = csrf_of(&html);

    let warnings = || count_rows(app.db(), "store_warnings");
    let before = all_audits(&app).await?;
    let r = staff
        .post(app.at(&format!("{page}/warnings")))
        .form(&[("reason", "Counterfeit lamps")])
        .send()
        .await?;
    assert_eq!(r.status(), 403);
    let r = staff
        .post(app.at(&format!("{page}/warnings")))
        .form(&[("csrf_token", t.as_str()), ("reason", "  ")])
        .send()
        .await?;
    assert_eq!(r.status(), 422);
    assert!(r.text().await?.contains("class=\"errors\""));
    assert_eq!((warnings().await?, all_audits(&app).await?), (0, before));

    let r = staff
        .post(app.at(&format!("{page}/warnings")))
        .form(&[("csrf_token", t.as_str()), ("reason", "Counterfeit lamps")])
        .send()
        .await?;
    assert_eq!(r.status(), 303);
    assert_eq!(audits(&app, "warning_create", &store).await?, 1);
    assert_eq!(all_audits(&app).await?, before + 1);
    let warning = text_value(
        app.db(),
        "SELECT id FROM store_warnings WHERE store_id = $1",
        &store,
    )
    .await?
    .context("warning")?;
    let resolve = format!("/staff/warnings/{warning}/resolve");
    let html = staff.get(app.at(&page)).send().await?.text().await?;
    assert!(html.contains("Counterfeit lamps"));
    assert!(html.contains(&format!("action=\"{resolve}\"")));
    let r = staff.post(app.at(&resolve)).send().await?;
    assert_eq!(r.status(), 403);
    assert_eq!(all_audits(&app).await?, before + 1);
    for _ in 0..2 {
        let r = staff
            .post(app.at(&resolve))
            .form(&[("csrf_token", t.as_str())])
            .send()
            .await?;
        assert_eq!(r.status(), 303);
        assert_eq!(
            r.headers()["location"].to_str()?,
            format!("{page}?notice=staff_warning_resolved")
        );
    }
    assert_eq!(audits(&app, "warning_resolve", &store).await?, 1);
    assert_eq!(all_audits(&app).await?, before + 2);

    // The JSON twin.
    let (st, v) = parts(
        call(
            &app,
            Method::GET,
            &format!("/v1/staff/stores/{store}"),
            Some(&staff_token),
            None,
        )
        .await?,
    )
    .await?;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["store"]["name"], "Lamp Shop");
    assert_eq!(v["members"][0]["user_id"], seller_id.as_str());
    assert_eq!(v["warnings"][0]["status"], "resolved");
    assert_eq!(v["disputes"].as_array().map(Vec::len), Some(0));
    assert_eq!(v["audit"][0]["action"], "warning_resolve");
    assert_eq!(v["audit"][1]["action"], "warning_create");
    let r = call(
        &app,
        Method::GET,
        &format!(
            "/v1/staff/stores/{}",
            rampart_kernel::ids::StoreId::generate()
        ),
        Some(&staff_token),
        None,
    )
    .await?;
    expect_problem(r, 404, "not_found").await?;
    Ok(())
}

/// C1: impersonation is not offered — no route of the registry (API or page) acts
/// as another user, and no `impersonate` audit row exists after everything above.
async fn no_route_impersonates_anyone(app: TestApp) -> Result<()> {
    let (_, routes) = rampart_web::routes(&app.state).finish();
    for r in &routes {
        let p = r.path.to_ascii_lowercase();
        for word in [
            "impersonat",
            "sudo",
            "become",
            "act-as",
            "act_as",
            "login-as",
            "switch-user",
        ] {
            assert!(!p.contains(word), "{} {}", r.method, r.path);
        }
    }
    // The staff user routes are exactly the reads and the four actions.
    let mut staff: Vec<String> = routes
        .iter()
        .filter(|r| r.path.starts_with("/v1/staff/users") || r.path.starts_with("/staff/users"))
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    staff.sort();
    assert_eq!(
        staff,
        [
            "GET /staff/users",
            "GET /staff/users/{id}",
            "GET /v1/staff/users",
            "GET /v1/staff/users/{id}",
            "POST /staff/users/{id}/ban",
            "POST /staff/users/{id}/role",
            "POST /staff/users/{id}/unban",
            "POST /v1/staff/users/{id}/ban",
            "POST /v1/staff/users/{id}/role",
            "POST /v1/staff/users/{id}/unban",
        ]
    );
    assert_eq!(
        count_rows(app.db(), "audit_log WHERE action_type = 'impersonate'").await?,
        0
    );
    Ok(())
}

async fn mails(app: &TestApp, to: &str, kind: &str) -> Result<Vec<(String, String)>> {
    let rows = rampart_identity::outbox::mail_for(app.db(), to)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(rows
        .into_iter()
        .filter(|m| m.kind == kind)
        .map(|m| (m.subject, m.body))
        .collect())
}

async fn prefs(app: &TestApp, token: &str) -> Result<Value> {
    let (st, v) = parts(
        call(
            app,
            Method::GET,
            "/v1/me/notification-preferences",
            Some(token),
            None,
        )
        .await?,
    )
    .await?;
    assert_eq!(st, 200, "{v}");
    Ok(v)
}

async fn put_prefs(app: &TestApp, token: &str, body: Value) -> Result<(u16, Value)> {
    parts(
        call(
            app,
            Method::PUT,
            "/v1/me/notification-preferences",
            Some(token),
            Some(body),
        )
        .await?,
    )
    .await
}

/// D10: a staff reply mails the ticket's author (default on), the author's own reply
/// mails nobody; with the preference off no mail; the text is in the author's
/// language; the API refuses incomplete or unknown fields and changes nothing.
async fn ticket_reply_mail_follows_the_preference_and_language(app: TestApp) -> Result<()> {
    let (author_id, author) = bearer(&app, "nm_author", Role::Customer).await?;
    let (_, support, _) = with_totp(&app, "nm_support", Role::Support).await?;
    let to = "nm_author@example.com";
    assert_eq!(
        prefs(&app, &author).await?,
        json!({"message": false, "ticket_reply": true, "purchase": true, "dispute": true})
    );
    let (st, v) = post(
        &app,
        &author,
        "/v1/tickets",
        Some(json!({"subject": "Broken lamp", "body": "It flickers"})),
    )
    .await?;
    assert_eq!(st, 201, "{v}");
    let ticket = v["ticket"]["id"].as_str().context("id")?.to_owned();
    let reply = |token: String, body: &'static str| {
        let app = &app;
        let path = format!("/v1/tickets/{ticket}/messages");
        async move {
            let (st, v) = post(app, &token, &path, Some(json!({ "body": body }))).await?;
            assert_eq!(st, 201, "{v}");
            anyhow::Ok(())
        }
    };
    reply(support.clone(), "We are on it").await?;
    let m = mails(&app, to, "ticket_reply").await?;
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].0, "Support replied to your ticket");
    assert!(m[0].1.contains("Broken lamp"));
    assert!(m[0].1.contains(&format!("/tickets/{ticket}")));
    assert!(m[0].1.contains("/settings/notifications"));
    assert!(!m[0].1.contains("We are on it"), "no thread text in mail");
    reply(author.clone(), "Thanks").await?;
    assert_eq!(mails(&app, to, "ticket_reply").await?.len(), 1);

    // Refused bodies change nothing.
    for bad in [
        json!({"message": true}),
        json!({"message": true, "ticket_reply": false, "purchase": true, "dispute": true, "sms": true}),
        json!({"message": "yes", "ticket_reply": false, "purchase": true, "dispute": true}),
    ] {
        let (st, v) = put_prefs(&app, &author, bad).await?;
        assert_eq!(st, 422, "{v}");
    }
    assert_eq!(count_rows(app.db(), "notification_prefs").await?, 0);

    // Off: no mail.
    let off = json!({"message": false, "ticket_reply": false, "purchase": true, "dispute": true});
    let (st, v) = put_prefs(&app, &author, off.clone()).await?;
    assert_eq!((st, &v), (200, &off));
    assert_eq!(prefs(&app, &author).await?, off);
    reply(support.clone(), "Still on it").await?;
    assert_eq!(mails(&app, to, "ticket_reply").await?.len(), 1);

    // On again, in Estonian (chosen through the API; bad values change nothing).
    let lang = |body: Value| {
        let app = &app;
        let author = author.clone();
        async move {
            parts(
                call(
                    app,
                    Method::PUT,
                    "/v1/me/language",
                    Some(&author),
                    Some(body),
                )
                .await?,
            )
            .await
        }
    };
    for bad in [
        json!({"language": "fr"}),
        json!({"language": "et", "x": 1}),
        json!({}),
    ] {
        assert_eq!(lang(bad).await?.0, 422);
    }
    assert_eq!(account_lang(&app, &author_id).await?, None);
    let (st, v) = lang(json!({"language": "et"})).await?;
    assert_eq!((st, &v), (200, &json!({"language": "et"})));
    assert_eq!(account_lang(&app, &author_id).await?.as_deref(), Some("et"));
    let on = json!({"message": false, "ticket_reply": true, "purchase": true, "dispute": true});
    assert_eq!(put_prefs(&app, &author, on).await?.0, 200);
    reply(support.clone(), "Fixed").await?;
    let m = mails(&app, to, "ticket_reply").await?;
    assert_eq!(m.len(), 2);
    assert!(
        m.iter()
            .any(|(subject, _)| subject == "Tugi vastas sinu pöördumisele"),
        "{m:?}"
    );
    Ok(())
}

/// D10: private-message mail is off by default; turned on, the recipient gets one
/// mail per message naming the sender and linking the conversation, never the text.
async fn message_mail_is_opt_in_and_carries_no_payload(app: TestApp) -> Result<()> {
    let (_, alice) = bearer(&app, "mm_alice", Role::Customer).await?;
    let (_, bob) = bearer(&app, "mm_bob", Role::Customer).await?;
    let to = "mm_bob@example.com";
    let send = |text: &'static str| {
        let app = &app;
        let alice = alice.clone();
        async move {
            let (st, v) = post(
                app,
                &alice,
                "/v1/messages",
                Some(json!({"to": "mm_bob", "content_type": "text/plain", "payload": text})),
            )
            .await?;
            assert_eq!(st, 201, "{v}");
            anyhow::Ok(v)
        }
    };
    send("secret plans").await?;
    assert_eq!(mails(&app, to, "new_message").await?.len(), 0);
    let on = json!({"message": true, "ticket_reply": true, "purchase": true, "dispute": true});
    assert_eq!(put_prefs(&app, &bob, on).await?.0, 200);
    let v = send("more secret plans").await?;
    let m = mails(&app, to, "new_message").await?;
    assert_eq!(m.len(), 1);
    assert!(m[0].1.contains("mm_alice"), "{m:?}");
    let conversation = v["conversation_id"].as_str().context("conversation")?;
    assert!(
        m[0].1.contains(&format!("/messages/{conversation}")),
        "{m:?}"
    );
    assert!(!m[0].1.contains("secret"), "no payload in mail");
    // The sender is not mailed about their own message.
    assert_eq!(
        mails(&app, "mm_alice@example.com", "new_message")
            .await?
            .len(),
        0
    );
    Ok(())
}

/// D10: the settings hub links every settings page; the notification page saves
/// through its form only with the CSRF token; a bearer token cannot use the page;
/// the language chosen on the hub is used by pages, error pages, API errors and mail.
async fn notification_settings_page_saves_with_csrf_only(app: TestApp) -> Result<()> {
    user(&app, "np_user").await?;
    let b = browser(&app, "np_user", None).await?;
    let html = b.get(app.at("/settings")).send().await?.text().await?;
    for link in [
        "/settings/password",
        "/settings/2fa",
        "/settings/sessions",
        "/settings/tokens",
        "/settings/notifications",
        "/settings/blocked",
    ] {
        assert!(html.contains(&format!("href=\"{link}\"")), "{link}");
    }
    assert!(html.contains("action=\"/settings/language\""));
    let html = b
        .get(app.at("/settings/notifications"))
        .send()
        .await?
        .text()
        .await?;
    assert!(
        html.contains("name=\"ticket_reply\" value=\"on\" checked"),
        "{html}"
    );
    assert!(!html.contains("name=\"message\" value=\"on\" checked"));
    let t = csrf_of(&html);
    let r = b
        .post(app.at("/settings/notifications"))
        .form(&[("message", "on")])
        .send()
        .await?;
    assert_eq!(r.status(), 403);
    assert_eq!(count_rows(app.db(), "notification_prefs").await?, 0);
    let r = b
        .post(app.at("/settings/notifications"))
        .form(&[("csrf_token", t.as_str()), ("message", "on")])
        .send()
        .await?;
    assert_eq!(r.status(), 303);
    let html = b
        .get(app.at("/settings/notifications?notice=saved"))
        .header("accept-language", "et")
        .send()
        .await?
        .text()
        .await?;
    assert!(html.contains("name=\"message\" value=\"on\" checked"));
    assert!(!html.contains("name=\"ticket_reply\" value=\"on\" checked"));
    assert!(html.contains("E-posti teavitused"), "{html}");
    let token = s(&login(&app, "np_user", PW).await?, "access_token");
    assert_eq!(
        prefs(&app, &token).await?,
        json!({"message": true, "ticket_reply": false, "purchase": false, "dispute": false})
    );

    // F1: the language chosen on the hub is used by every page, error and mail,
    // whatever the browser asks for.
    let r = b
        .post(app.at("/settings/language"))
        .form(&[("csrf_token", t.as_str()), ("language", "et")])
        .send()
        .await?;
    assert_eq!(r.status(), 303);
    let en = |path: &'static str| b.get(app.at(path)).header("accept-language", "en").send();
    let html = en("/settings/notifications").await?.text().await?;
    assert!(html.contains("E-posti teavitused"), "page: {html}");
    let r = en("/staff/users").await?;
    assert_eq!(r.status(), 404);
    let html = r.text().await?;
    assert!(html.contains("Ei leitud"), "error page: {html}");
    let (st, v) = parts(
        fresh_client(&app)
            .get(app.at("/v1/staff/users"))
            .bearer_auth(&token)
            .header("accept-language", "en")
            .send()
            .await?,
    )
    .await?;
    assert_eq!(st, 404);
    assert_eq!(v["title"], "Ei leitud", "API error: {v}");
    let (_, support, _) = with_totp(&app, "np_support", Role::Support).await?;
    let on = json!({"message": true, "ticket_reply": true, "purchase": false, "dispute": false});
    assert_eq!(put_prefs(&app, &token, on).await?.0, 200);
    let (_, v) = post(
        &app,
        &token,
        "/v1/tickets",
        Some(json!({"subject": "Lamp", "body": "Broken"})),
    )
    .await?;
    let ticket = v["ticket"]["id"].as_str().context("ticket")?.to_owned();
    let (st, _) = post(
        &app,
        &support,
        &format!("/v1/tickets/{ticket}/messages"),
        Some(json!({"body": "Fixed"})),
    )
    .await?;
    assert_eq!(st, 201);
    let m = mails(&app, "np_user@example.com", "ticket_reply").await?;
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].0, "Tugi vastas sinu pöördumisele", "mail: {m:?}");
    let r = call(
        &app,
        Method::GET,
        "/settings/notifications",
        Some(&token),
        None,
    )
    .await?;
    assert_eq!(r.status(), 403);
    Ok(())
}

/// F4 on PostgreSQL: a transaction acting for one user (the server's own role,
/// bound by RLS) sees and changes only that user's notification preferences, and
/// cannot write a row for another user; with no user set (mail for another user's
/// event) every row is visible.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notification_prefs_stay_with_their_user_on_postgres() -> Result<()> {
    use rampart_db::{on_tx, RlsContext};
    let Some(app) = TestApp::spawn(rampart_test_support::Engine::Postgres).await? else {
        return Ok(());
    };
    let (a, ta) = bearer(&app, "rl_a", Role::Customer).await?;
    let (b, tb) = bearer(&app, "rl_b", Role::Customer).await?;
    let all_on = json!({"message": true, "ticket_reply": true, "purchase": true, "dispute": true});
    assert_eq!(put_prefs(&app, &ta, all_on.clone()).await?.0, 200);
    assert_eq!(put_prefs(&app, &tb, all_on).await?.0, 200);
    let db = app.db();
    let posture = db.role_posture().await?.context("postgres")?;
    assert!(!posture.bypasses_rls(), "{posture:?}");

    let mut tx = db.begin().await?;
    tx.set_context(RlsContext {
        user_id: Some(&a),
        workspace_id: None,
    })
    .await?;
    let seen: Vec<String> = on_tx!(&mut tx, |e| sqlx::query_scalar(
        "SELECT user_id FROM notification_prefs"
    )
    .fetch_all(e)
    .await)?;
    assert_eq!(seen, std::slice::from_ref(&a));
    let changed = on_tx!(&mut tx, |e| sqlx::query(
        "UPDATE notification_prefs SET message = FALSE"
    )
    .execute(e)
    .await
    .map(|r| r.rows_affected()))?;
    assert_eq!(changed, 1);
    let planted = on_tx!(&mut tx, |e| {
        sqlx::query(
        "INSERT INTO notification_prefs (user_id, message, ticket_reply, purchase, dispute, updated_at) \
         VALUES ($1, TRUE, TRUE, TRUE, TRUE, 0) ON CONFLICT (user_id) DO UPDATE SET message = TRUE"
    )
    .bind(&b)
    .execute(e)
    .await
    .map(|r| r.rows_affected())
    .map_err(|e| e.to_string())
    });
    assert!(planted.is_err(), "a row for another user is refused");
    drop(tx);

    let mut tx = db.begin().await?;
    let seen: Vec<String> = on_tx!(&mut tx, |e| sqlx::query_scalar(
        "SELECT user_id FROM notification_prefs ORDER BY user_id"
    )
    .fetch_all(e)
    .await)?;
    let mut both = vec![a, b];
    both.sort();
    assert_eq!(seen, both);
    Ok(())
}

/// C1 "exactly one": a ticket status change and an assignment, through the API and
/// through the page forms, each add exactly one row to the whole audit log (not just
/// one of their own kind), with old and new values; repeats add none.
async fn ticket_staff_actions_write_exactly_one_row_in_all(app: TestApp) -> Result<()> {
    let (_, author) = bearer(&app, "ta_author", Role::Customer).await?;
    let (support_id, support) = {
        let (id, t, _) = with_totp(&app, "ta_support", Role::Support).await?;
        (id, t)
    };
    let (_, page) = staff_browser(&app, "ta_staff", Role::Staff).await?;
    let (st, v) = post(
        &app,
        &author,
        "/v1/tickets",
        Some(json!({"subject": "Lamp", "body": "Broken"})),
    )
    .await?;
    assert_eq!(st, 201, "{v}");
    let id = v["ticket"]["id"].as_str().context("id")?.to_owned();
    let meta = |action: &'static str| {
        let app = &app;
        let id = id.clone();
        async move {
            let m = text_value(
                app.db(),
                &format!(
                    "SELECT CAST(metadata AS TEXT) FROM audit_log WHERE action_type = '{action}' \
                     AND target_id = $1 ORDER BY seq DESC LIMIT 1"
                ),
                &id,
            )
            .await?
            .context("audit row")?;
            anyhow::Ok(serde_json::from_str::<Value>(&m)?)
        }
    };

    // API: status, then the same status again; assignment, then the same again.
    let n = all_audits(&app).await?;
    let status = format!("/v1/tickets/{id}/status");
    let assign = format!("/v1/tickets/{id}/assign");
    assert_eq!(
        post(&app, &support, &status, Some(json!({"status": "pending"})))
            .await?
            .0,
        200
    );
    assert_eq!(all_audits(&app).await?, n + 1);
    let m = meta("ticket_status_change").await?;
    assert_eq!(
        (m["old_status"].as_str(), m["new_status"].as_str()),
        (Some("open"), Some("pending"))
    );
    assert_eq!(
        post(&app, &support, &status, Some(json!({"status": "pending"})))
            .await?
            .0,
        200
    );
    assert_eq!(all_audits(&app).await?, n + 1);
    let body = Some(json!({ "user_id": support_id }));
    assert_eq!(post(&app, &support, &assign, body.clone()).await?.0, 200);
    assert_eq!(all_audits(&app).await?, n + 2);
    let m = meta("ticket_assign").await?;
    assert_eq!(m["old_assignee"], Value::Null);
    assert_eq!(m["new_assignee"], support_id.as_str());
    assert_eq!(post(&app, &support, &assign, body).await?.0, 200);
    assert_eq!(all_audits(&app).await?, n + 2);

    // Pages: the same through the forms (staff), one row each.
    let html = page
        .get(app.at(&format!("/tickets/{id}")))
        .send()
        .await?
        .text()
        .await?;
    let t = csrf_of(&html);
    let r = page
        .post(app.at(&format!("/tickets/{id}/status")))
        .form(&[("csrf_token", t.as_str()), ("status", "resolved")])
        .send()
        .await?;
    assert_eq!(r.status(), 303);
    assert_eq!(all_audits(&app).await?, n + 3);
    let m = meta("ticket_status_change").await?;
    assert_eq!(
        (m["old_status"].as_str(), m["new_status"].as_str()),
        (Some("pending"), Some("resolved"))
    );
    let r = page
        .post(app.at(&format!("/tickets/{id}/assign")))
        .form(&[("csrf_token", t.as_str()), ("user_id", "")])
        .send()
        .await?;
    assert_eq!(r.status(), 303);
    assert_eq!(all_audits(&app).await?, n + 4);
    let m = meta("ticket_assign").await?;
    assert_eq!(m["old_assignee"], support_id.as_str());
    assert_eq!(m["new_assignee"], Value::Null);
    Ok(())
}

/// D10: a shipped purchase mails the buyer (`purchase`, default on); a resolved
/// dispute mails the buyer and the store member who opened it (`dispute`), not other
/// members; with the preference off, nothing.
async fn purchase_and_dispute_mail_follow_the_preferences(app: TestApp) -> Result<()> {
    let (_, owner) = bearer(&app, "pd_owner", Role::Seller).await?;
    let (buyer_id, buyer) = bearer(&app, "pd_buyer", Role::Customer).await?;
    let (_, staff, _) = with_totp(&app, "pd_staff", Role::Staff).await?;
    let store = open_store(&app, &owner, "Kettles").await?;
    let item = crate::market::add_item(
        &app,
        &owner,
        &store,
        json!({"title": "Blue kettle", "price_minor": 1500, "stock": 5, "status": "active"}),
    )
    .await?;
    let to = "pd_buyer@example.com";
    let txn = crate::market::disputes::funded(&app, &buyer_id, &store, &item, 1500).await?;
    let (st, v) = post(&app, &owner, &format!("/v1/transactions/{txn}/ship"), None).await?;
    assert_eq!(st, 200, "{v}");
    let m = mails(&app, to, "purchase_shipped").await?;
    assert_eq!(m.len(), 1);
    assert!(m[0].1.contains("Blue kettle"));
    assert!(m[0].1.contains(&format!("/transactions/{txn}")));
    assert!(mails(&app, "pd_owner@example.com", "purchase_shipped")
        .await?
        .is_empty());

    let (st, v) = post(
        &app,
        &buyer,
        &format!("/v1/transactions/{txn}/disputes"),
        Some(json!({"reason": "Dented"})),
    )
    .await?;
    assert_eq!(st, 201, "{v}");
    let dispute = v["id"].as_str().context("dispute")?.to_owned();
    let (st, v) = post(
        &app,
        &staff,
        &format!("/v1/disputes/{dispute}/resolve"),
        Some(json!({"outcome": "refund"})),
    )
    .await?;
    assert_eq!(st, 200, "{v}");
    let m = mails(&app, to, "dispute_resolved").await?;
    assert_eq!(m.len(), 1);
    assert!(m[0].1.contains(&format!("/disputes/{dispute}")));
    assert!(mails(&app, "pd_owner@example.com", "dispute_resolved")
        .await?
        .is_empty());

    // Off: nothing for the next shipment.
    let off = json!({"message": false, "ticket_reply": true, "purchase": false, "dispute": false});
    assert_eq!(put_prefs(&app, &buyer, off).await?.0, 200);
    let txn = crate::market::disputes::funded(&app, &buyer_id, &store, &item, 1500).await?;
    let (st, _) = post(&app, &owner, &format!("/v1/transactions/{txn}/ship"), None).await?;
    assert_eq!(st, 200);
    assert_eq!(mails(&app, to, "purchase_shipped").await?.len(), 1);
    Ok(())
}
