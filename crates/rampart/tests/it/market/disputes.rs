//! Disputes over HTTP (D5, D9, C1): the buyer opens, the seller claims, staff resolve
//! with the right balances and one audit row; outsiders get 404 on every dispute route
//! and nothing changes; the queue and the resolution are refused to customers by the
//! permission guard; bad partial refunds are 422 and a second resolution 409; the
//! pages work without JavaScript and refuse forms without the CSRF token.
//!
//! The transactions are made through the ledger (create, fund): the purchase API is
//! not what is under test here.

use super::{add_item, bearer, call, open_store};
use crate::identity::{csrf_of, expect_problem, parts};
use anyhow::{bail, Context, Result};
use rampart_kernel::account::Role;
use rampart_kernel::ids::{ItemId, StoreId, TransactionId};
use rampart_kernel::{Currency, Money, UserId};
use rampart_ledger::{Account, AccountKind, EscrowEvent, NewEscrow};
use rampart_test_support::{both_engines, count_rows, text_value, TestApp};
use reqwest::{Client, Method};
use serde_json::{json, Value};

/// A funded escrow transaction of one item at `minor` EUR cents; its ID.
pub async fn funded(
    app: &TestApp,
    buyer: &str,
    store: &str,
    item: &str,
    minor: i64,
) -> Result<String> {
    let ledger = app.state.market.ledger();
    let eur = Currency::parse("EUR").map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let v = ledger
        .create(
            NewEscrow {
                buyer: UserId::from_stored(buyer),
                store: StoreId::from_stored(store),
                item: ItemId::from_stored(item),
                quantity: 1,
                unit_price: Money::new(minor, eur),
                release_after_ms: 14 * 86_400_000,
            },
            None,
            None,
        )
        .await
        .map_err(|e| anyhow::anyhow!("create: {e}"))?;
    ledger
        .apply(&v.id, EscrowEvent::Fund, None, None)
        .await
        .map_err(|e| anyhow::anyhow!("fund: {e}"))?;
    Ok(v.id.into_string())
}

/// A seller's store with an active item, a buyer, and a funded purchase of it.
struct Deal {
    owner: String,
    buyer_id: String,
    buyer: String,
    store: String,
    item: String,
    txn: String,
}

async fn deal(app: &TestApp, prefix: &str, minor: i64) -> Result<Deal> {
    let (_, owner) = bearer(app, &format!("{prefix}_owner"), Role::Seller).await?;
    let (buyer_id, buyer) = bearer(app, &format!("{prefix}_buyer"), Role::Customer).await?;
    let store = open_store(app, &owner, &format!("{prefix} shop")).await?;
    let item = add_item(
        app,
        &owner,
        &store,
        json!({"title": "Kettle", "price_minor": minor, "stock": 5, "status": "active"}),
    )
    .await?;
    let txn = funded(app, &buyer_id, &store, &item, minor).await?;
    Ok(Deal {
        owner,
        buyer_id,
        buyer,
        store,
        item,
        txn,
    })
}

/// Opens a dispute through the API as `token`; its ID.
async fn open(app: &TestApp, token: &str, txn: &str) -> Result<String> {
    let (st, v) = parts(
        call(
            app,
            Method::POST,
            &format!("/v1/transactions/{txn}/disputes"),
            Some(token),
            Some(json!({"reason": "It never arrived.\nTracking says nothing."})),
        )
        .await?,
    )
    .await?;
    if st != 201 {
        bail!("open dispute: {st} {v}");
    }
    Ok(v["id"].as_str().context("dispute id")?.to_owned())
}

/// Every row a dispute route could change, as text.
async fn fingerprint(app: &TestApp) -> Result<Vec<String>> {
    let queries = [
        "SELECT id || '|' || status || '|' || COALESCE(outcome, '-') || '|' || \
         COALESCE(CAST(refund_minor AS TEXT), '-') || '|' || updated_at FROM disputes ORDER BY id",
        "SELECT id || '|' || body FROM dispute_claims ORDER BY id",
        "SELECT id || '|' || state || '|' || version FROM escrow_transactions ORDER BY id",
        "SELECT CAST(COUNT(*) AS TEXT) FROM ledger_postings",
        "SELECT CAST(COUNT(*) AS TEXT) FROM audit_log",
    ];
    let mut out = Vec::new();
    for q in queries {
        let rows: Vec<(String,)> = match &app.db().engine {
            rampart_db::Engine::Sqlite { read, .. } => sqlx::query_as(q).fetch_all(read).await,
            rampart_db::Engine::Postgres(p) => sqlx::query_as(q).fetch_all(p).await,
        }
        .with_context(|| q.to_owned())?;
        out.push(format!(
            "{q}\n{}",
            rows.into_iter().map(|r| r.0).collect::<Vec<_>>().join("\n")
        ));
    }
    Ok(out)
}

async fn balance(app: &TestApp, kind: AccountKind, owner: &str) -> Result<i64> {
    let eur = Currency::parse("EUR").map_err(|e| anyhow::anyhow!("{e:?}"))?;
    Ok(app
        .state
        .market
        .ledger()
        .balance(
            &Account {
                kind,
                owner: owner.to_owned(),
            },
            eur,
        )
        .await
        .map_err(|e| anyhow::anyhow!("balance: {e}"))?
        .minor)
}

async fn audit_count(app: &TestApp, action: &str, target: &str) -> Result<i64> {
    count_rows(
        app.db(),
        &format!("audit_log WHERE action_type = '{action}' AND target_id = '{target}'"),
    )
    .await
}

async fn dispute_status(app: &TestApp, id: &str) -> Result<String> {
    Ok(
        text_value(app.db(), "SELECT status FROM disputes WHERE id = $1", id)
            .await?
            .unwrap_or_default(),
    )
}

/// D5/D9/C1: the buyer opens, the seller claims, staff see it in the queue and resolve
/// it with a partial refund: the balances are the design's, one audit row carries it,
/// and a second resolution is a conflict that changes nothing.
async fn buyer_opens_seller_claims_staff_resolves(app: TestApp) -> Result<()> {
    let d = deal(&app, "flow", 10_000).await?;
    let (_, staff, _) = crate::trust::with_totp(&app, "flow_staff", Role::Staff).await?;
    let id = open(&app, &d.buyer, &d.txn).await?;
    assert_eq!(
        text_value(
            app.db(),
            "SELECT state FROM escrow_transactions WHERE id = $1",
            &d.txn
        )
        .await?
        .as_deref(),
        Some("disputed")
    );
    assert_eq!(audit_count(&app, "dispute_open", &d.txn).await?, 1);
    // A second dispute on the same transaction: not a possible transition.
    let r = call(
        &app,
        Method::POST,
        &format!("/v1/transactions/{}/disputes", d.txn),
        Some(&d.owner),
        Some(json!({"reason": "me too"})),
    )
    .await?;
    expect_problem(r, 409, "invalid_transition").await?;

    // The seller finds it through the transaction and answers.
    let (st, v) = parts(
        call(
            &app,
            Method::GET,
            &format!("/v1/transactions/{}/dispute", d.txn),
            Some(&d.owner),
            None,
        )
        .await?,
    )
    .await?;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["viewer_side"], "seller");
    assert_eq!(v["dispute"]["id"], id.as_str());
    assert_eq!(v["dispute"]["opened_by_side"], "buyer");
    assert_eq!(v["transaction"]["state"], "disputed");
    let (st, v) = parts(
        call(
            &app,
            Method::POST,
            &format!("/v1/disputes/{id}/claims"),
            Some(&d.owner),
            Some(json!({"body": "Shipped on Monday, receipt attached."})),
        )
        .await?,
    )
    .await?;
    assert_eq!(st, 201, "{v}");
    assert_eq!(v["side"], "seller");
    // An empty claim is a field error.
    let r = call(
        &app,
        Method::POST,
        &format!("/v1/disputes/{id}/claims"),
        Some(&d.buyer),
        Some(json!({"body": "   "})),
    )
    .await?;
    expect_problem(r, 422, "validation_failed").await?;

    // Staff: the queue (oldest open first), the detail, the resolution.
    let (st, v) = parts(call(&app, Method::GET, "/v1/disputes", Some(&staff), None).await?).await?;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["disputes"][0]["id"], id.as_str());
    let (st, v) = parts(
        call(
            &app,
            Method::GET,
            "/v1/disputes?status=resolved",
            Some(&staff),
            None,
        )
        .await?,
    )
    .await?;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["disputes"].as_array().map(Vec::len), Some(0));
    let r = call(
        &app,
        Method::GET,
        "/v1/disputes?status=bogus",
        Some(&staff),
        None,
    )
    .await?;
    expect_problem(r, 422, "validation_failed").await?;
    let (st, v) = parts(
        call(
            &app,
            Method::GET,
            &format!("/v1/disputes/{id}"),
            Some(&staff),
            None,
        )
        .await?,
    )
    .await?;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["viewer_side"], "staff");
    assert_eq!(v["claims"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        v["claims"][0]["body"],
        "It never arrived.\nTracking says nothing."
    );

    let resolve_path = format!("/v1/disputes/{id}/resolve");
    let resolve = |body: Value| call(&app, Method::POST, &resolve_path, Some(&staff), Some(body));
    let (st, v) =
        parts(resolve(json!({"outcome": "partial", "refund_minor": 3000})).await?).await?;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["status"], "resolved");
    assert_eq!(v["outcome"], "partial");
    assert_eq!(v["refund"]["minor"], 3000);

    let fee_bps = i64::from(
        app.state
            .market
            .ledger()
            .get(&TransactionId::from_stored(d.txn.clone()))
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .context("the transaction")?
            .fee_bps,
    );
    let fee = 7000 * fee_bps / 10_000;
    assert_eq!(
        balance(&app, AccountKind::BuyerRefund, &d.buyer_id).await?,
        3000
    );
    assert_eq!(
        balance(&app, AccountKind::SellerPayable, &d.store).await?,
        7000 - fee
    );
    assert_eq!(
        balance(
            &app,
            AccountKind::PlatformFee,
            rampart_ledger::escrow::PLATFORM
        )
        .await?,
        fee
    );
    assert_eq!(balance(&app, AccountKind::Escrow, &d.txn).await?, 0);
    assert_eq!(
        audit_count(&app, "dispute_partial_refund", &d.txn).await?,
        1
    );

    // Twice: a conflict, nothing changes.
    let before = fingerprint(&app).await?;
    expect_problem(
        resolve(json!({"outcome": "release"})).await?,
        409,
        "conflict",
    )
    .await?;
    expect_problem(
        resolve(json!({"outcome": "partial", "refund_minor": 1000})).await?,
        409,
        "conflict",
    )
    .await?;
    // A resolved dispute takes no more claims.
    let r = call(
        &app,
        Method::POST,
        &format!("/v1/disputes/{id}/claims"),
        Some(&d.buyer),
        Some(json!({"body": "one more thing"})),
    )
    .await?;
    expect_problem(r, 409, "invalid_transition").await?;
    assert_eq!(fingerprint(&app).await?, before);
    assert_eq!(
        audit_count(&app, "dispute_partial_refund", &d.txn).await?,
        1
    );

    // A transaction without a dispute: 404 for its parties too.
    let other = funded(&app, &d.buyer_id, &d.store, &d.item, 500).await?;
    let r = call(
        &app,
        Method::GET,
        &format!("/v1/transactions/{other}/dispute"),
        Some(&d.buyer),
        None,
    )
    .await?;
    expect_problem(r, 404, "not_found").await?;
    Ok(())
}

/// Another customer, another store's owner, a support agent and an anonymous caller
/// get nothing on any dispute route (404; 401 without credentials), a customer — even
/// the buyer — is refused the queue and the resolution by the permission guard, and
/// the database is unchanged.
async fn outsiders_are_refused_and_nothing_changes(app: TestApp) -> Result<()> {
    let d = deal(&app, "victim", 10_000).await?;
    let id = open(&app, &d.buyer, &d.txn).await?;
    // A second funded transaction without a dispute: opening it would change things.
    let fresh = funded(&app, &d.buyer_id, &d.store, &d.item, 10_000).await?;
    let (_, stranger) = bearer(&app, "nosy", Role::Customer).await?;
    let (_, rival) = bearer(&app, "rival", Role::Seller).await?;
    open_store(&app, &rival, "Rival shop").await?;
    let (_, support) = bearer(&app, "helpdesk", Role::Support).await?;

    let routes: Vec<(Method, String, Option<Value>)> = vec![
        (
            Method::POST,
            format!("/v1/transactions/{fresh}/disputes"),
            Some(json!({"reason": "planted"})),
        ),
        (
            Method::POST,
            format!("/v1/transactions/{}/disputes", d.txn),
            Some(json!({"reason": "planted"})),
        ),
        (
            Method::GET,
            format!("/v1/transactions/{}/dispute", d.txn),
            None,
        ),
        (Method::GET, format!("/v1/disputes/{id}"), None),
        (
            Method::POST,
            format!("/v1/disputes/{id}/claims"),
            Some(json!({"body": "planted"})),
        ),
        (
            Method::POST,
            format!("/v1/disputes/{id}/resolve"),
            Some(json!({"outcome": "refund"})),
        ),
        (Method::GET, "/v1/disputes".to_owned(), None),
    ];
    let before = fingerprint(&app).await?;
    for (method, path, body) in &routes {
        for token in [&stranger, &rival, &support] {
            let r = call(&app, method.clone(), path, Some(token), body.clone()).await?;
            expect_problem(r, 404, "not_found")
                .await
                .with_context(|| format!("{method} {path}"))?;
        }
        let r = call(&app, method.clone(), path, None, body.clone()).await?;
        assert_eq!(r.status(), 401, "anonymous {method} {path}");
    }
    // The parties hold no `resolve_dispute`: the guard refuses the staff routes.
    for token in [&d.buyer, &d.owner] {
        let r = call(
            &app,
            Method::POST,
            &format!("/v1/disputes/{id}/resolve"),
            Some(token),
            Some(json!({"outcome": "refund"})),
        )
        .await?;
        expect_problem(r, 404, "not_found").await?;
        let r = call(&app, Method::GET, "/v1/disputes", Some(token), None).await?;
        expect_problem(r, 404, "not_found").await?;
    }
    // An ID that does not parse, or names nothing: the same 404.
    for path in ["/v1/disputes/nope", "/v1/transactions/nope/dispute"] {
        let r = call(&app, Method::GET, path, Some(&d.buyer), None).await?;
        expect_problem(r, 404, "not_found").await?;
    }
    assert_eq!(fingerprint(&app).await?, before);
    assert_eq!(dispute_status(&app, &id).await?, "open");
    Ok(())
}

/// A partial refund of zero, of the whole amount or more, negative, not a number or
/// missing is refused with 422, as is an amount beside `release`; nothing changes and
/// the dispute stays open. Staff who are a party (a member of the store) get 403.
async fn bad_resolutions_are_refused(app: TestApp) -> Result<()> {
    let d = deal(&app, "bad", 10_000).await?;
    let (_, staff, _) = crate::trust::with_totp(&app, "bad_staff", Role::Staff).await?;
    let id = open(&app, &d.buyer, &d.txn).await?;
    let before = fingerprint(&app).await?;
    let path = format!("/v1/disputes/{id}/resolve");
    for (body, code) in [
        (
            json!({"outcome": "partial", "refund_minor": 0}),
            "validation_failed",
        ),
        (
            json!({"outcome": "partial", "refund_minor": 10_000}),
            "validation_failed",
        ),
        (
            json!({"outcome": "partial", "refund_minor": 25_000}),
            "validation_failed",
        ),
        (
            json!({"outcome": "partial", "refund_minor": -5}),
            "validation_failed",
        ),
        (json!({"outcome": "partial"}), "validation_failed"),
        (
            json!({"outcome": "release", "refund_minor": 100}),
            "validation_failed",
        ),
        (
            json!({"outcome": "partial", "refund_minor": "abc"}),
            "invalid_body",
        ),
        (
            json!({"outcome": "partial", "refund_minor": 12.5}),
            "invalid_body",
        ),
        (json!({"outcome": "everything"}), "invalid_body"),
        (json!({"outcome": "refund", "extra": 1}), "invalid_body"),
    ] {
        let r = call(&app, Method::POST, &path, Some(&staff), Some(body.clone())).await?;
        expect_problem(r, 422, code)
            .await
            .with_context(|| body.to_string())?;
    }
    assert_eq!(fingerprint(&app).await?, before);
    assert_eq!(dispute_status(&app, &id).await?, "open");

    // Staff who joined the store may see the dispute but not judge it.
    // An owner cannot add staff to the store (that would make them a party and keep
    // them from resolving the store's disputes)…
    crate::trust::with_totp(&app, "bad_staff2", Role::Staff).await?;
    let st = super::add_member(&app, &d.owner, &d.store, "bad_staff2", "clerk").await?;
    assert_eq!(st, 422);
    // …but a member who later becomes staff is a party all the same.
    let (insider_id, _) = bearer(&app, "bad_insider", Role::Customer).await?;
    let st = super::add_member(&app, &d.owner, &d.store, "bad_insider", "clerk").await?;
    assert_eq!(st, 200);
    app.state
        .auth
        .set_role(None, &insider_id, Role::Staff, &crate::identity::ctx())
        .await
        .map_err(|e| anyhow::anyhow!("set_role: {e}"))?;
    let (insider, _) = crate::trust::enrol_existing(&app, "bad_insider").await?;
    let before = fingerprint(&app).await?;
    let r = call(
        &app,
        Method::POST,
        &path,
        Some(&insider),
        Some(json!({"outcome": "release"})),
    )
    .await?;
    expect_problem(r, 403, "forbidden").await?;
    assert_eq!(fingerprint(&app).await?, before);
    Ok(())
}

// ----- pages ------------------------------------------------------------------------

async fn browser(app: &TestApp, name: &str) -> Result<Client> {
    crate::identity::web_login(app, 33, name, None, "/").await
}

async fn browser_totp(app: &TestApp, name: &str, code: &str) -> Result<Client> {
    crate::identity::web_login(app, 33, name, Some(code), "/").await
}

/// The buyer opens a dispute through the form, the seller answers, staff find it in
/// the queue and resolve it through the form; every form without the CSRF token is
/// refused with 403 and changes nothing; outsiders get 404 pages.
async fn dispute_pages_work_without_javascript(app: TestApp) -> Result<()> {
    let d = deal(&app, "web", 10_000).await?;
    let (_, _, secret) = crate::trust::with_totp(&app, "web_staff", Role::Staff).await?;
    let buyer = browser(&app, "web_buyer").await?;
    let seller = browser(&app, "web_owner").await?;
    app.clock.advance_secs(30);
    let staff = browser_totp(
        &app,
        "web_staff",
        &crate::identity::totp_now(&app, &secret, 0),
    )
    .await?;
    let stranger_id = crate::identity::user(&app, "web_nosy").await?;
    assert!(!stranger_id.is_empty());
    let stranger = browser(&app, "web_nosy").await?;
    let tpath = format!("/transactions/{}/dispute", d.txn);

    // The open form, in Estonian when the browser asks for it.
    let r = buyer
        .get(app.at(&tpath))
        .header("accept-language", "et")
        .send()
        .await?;
    assert_eq!(r.status(), 200);
    let html = r.text().await?;
    assert!(html.contains("Ava vaidlus"), "{html}");
    let t = csrf_of(&html);
    assert!(!t.is_empty());

    // Without the token: 403, nothing opened.
    let before = fingerprint(&app).await?;
    let r = buyer
        .post(app.at(&tpath))
        .form(&[("reason", "Broken on arrival")])
        .send()
        .await?;
    assert_eq!(r.status(), 403);
    assert_eq!(fingerprint(&app).await?, before);
    // An outsider's post (with their own valid token) is a 404 page.
    let st_page = stranger.get(app.at("/stores")).send().await?.text().await?;
    let r = stranger
        .post(app.at(&tpath))
        .form(&[("csrf_token", csrf_of(&st_page).as_str()), ("reason", "x")])
        .send()
        .await?;
    assert_eq!(r.status(), 404);
    assert_eq!(stranger.get(app.at(&tpath)).send().await?.status(), 404);
    assert_eq!(fingerprint(&app).await?, before);
    // An empty reason re-renders the form with the field error.
    let r = buyer
        .post(app.at(&tpath))
        .form(&[("csrf_token", t.as_str()), ("reason", "  ")])
        .send()
        .await?;
    assert_eq!(r.status(), 422);
    assert_eq!(fingerprint(&app).await?, before);

    let r = buyer
        .post(app.at(&tpath))
        .form(&[("csrf_token", t.as_str()), ("reason", "Broken on arrival")])
        .send()
        .await?;
    assert_eq!(r.status(), 303);
    let location = r.headers()["location"].to_str()?.to_owned();
    assert!(location.starts_with("/disputes/"), "{location}");
    let dpath = location.split('?').next().unwrap_or_default().to_owned();
    let id = dpath.trim_start_matches("/disputes/").to_owned();
    assert_eq!(dispute_status(&app, &id).await?, "open");
    let html = buyer.get(app.at(&location)).send().await?.text().await?;
    assert!(html.contains("Broken on arrival"));
    assert!(html.contains("The dispute was opened."));
    assert!(
        !html.contains("/resolve\""),
        "no resolve form for the buyer"
    );
    // The transaction's page now shows the dispute.
    let html = buyer.get(app.at(&tpath)).send().await?.text().await?;
    assert!(html.contains("Broken on arrival"));

    // The seller answers; without the token, nothing.
    let html = seller.get(app.at(&dpath)).send().await?.text().await?;
    let t = csrf_of(&html);
    let before = fingerprint(&app).await?;
    let r = seller
        .post(app.at(&format!("{dpath}/claims")))
        .form(&[("body", "It was fine when shipped")])
        .send()
        .await?;
    assert_eq!(r.status(), 403);
    assert_eq!(fingerprint(&app).await?, before);
    let r = seller
        .post(app.at(&format!("{dpath}/claims")))
        .form(&[
            ("csrf_token", t.as_str()),
            ("body", "It was fine when shipped"),
        ])
        .send()
        .await?;
    assert_eq!(r.status(), 303);
    assert_eq!(count_rows(app.db(), "dispute_claims").await?, 2);

    // Outsiders: 404 pages; a customer has no queue.
    assert_eq!(stranger.get(app.at(&dpath)).send().await?.status(), 404);
    assert_eq!(
        buyer.get(app.at("/staff/disputes")).send().await?.status(),
        404
    );

    // Staff: the navigation link, the queue, the resolve form.
    let r = staff.get(app.at("/staff/disputes")).send().await?;
    assert_eq!(r.status(), 200);
    let html = r.text().await?;
    assert!(html.contains("href=\"/staff/disputes\""));
    assert!(html.contains(&format!("href=\"{dpath}\"")));
    let html = staff.get(app.at(&dpath)).send().await?.text().await?;
    assert!(html.contains(&format!("action=\"{dpath}/resolve\"")));
    assert!(html.contains("It was fine when shipped"));
    let t = csrf_of(&html);
    let before = fingerprint(&app).await?;
    let r = staff
        .post(app.at(&format!("{dpath}/resolve")))
        .form(&[("outcome", "refund")])
        .send()
        .await?;
    assert_eq!(r.status(), 403);
    let r = staff
        .post(app.at(&format!("{dpath}/resolve")))
        .form(&[
            ("csrf_token", t.as_str()),
            ("outcome", "partial"),
            ("refund_minor", "lots"),
        ])
        .send()
        .await?;
    assert_eq!(r.status(), 422);
    // A party's browser posting the resolve form: the guard's 404.
    let bt = csrf_of(&buyer.get(app.at(&dpath)).send().await?.text().await?);
    let r = buyer
        .post(app.at(&format!("{dpath}/resolve")))
        .form(&[("csrf_token", bt.as_str()), ("outcome", "refund")])
        .send()
        .await?;
    assert_eq!(r.status(), 404);
    assert_eq!(fingerprint(&app).await?, before);
    let r = staff
        .post(app.at(&format!("{dpath}/resolve")))
        .form(&[
            ("csrf_token", t.as_str()),
            ("outcome", "partial"),
            ("refund_minor", "2500"),
        ])
        .send()
        .await?;
    assert_eq!(r.status(), 303);
    assert_eq!(dispute_status(&app, &id).await?, "resolved");
    assert_eq!(
        audit_count(&app, "dispute_partial_refund", &d.txn).await?,
        1
    );
    assert_eq!(
        balance(&app, AccountKind::BuyerRefund, &d.buyer_id).await?,
        2500
    );
    // Twice through the form: 409, shown on the page.
    let r = staff
        .post(app.at(&format!("{dpath}/resolve")))
        .form(&[("csrf_token", t.as_str()), ("outcome", "release")])
        .send()
        .await?;
    assert_eq!(r.status(), 409);
    assert!(r.text().await?.contains("already been resolved"));
    assert_eq!(
        audit_count(&app, "dispute_partial_refund", &d.txn).await?,
        1
    );
    let html = buyer.get(app.at(&dpath)).send().await?.text().await?;
    assert!(html.contains("Partially refunded"));
    Ok(())
}

/// The staff queue pages oldest first with an opaque cursor, API and page alike, and
/// filters by status.
async fn the_queue_pages_oldest_first(app: TestApp) -> Result<()> {
    let d = deal(&app, "q", 1_000).await?;
    let (_, staff, q_secret) = crate::trust::with_totp(&app, "q_staff", Role::Staff).await?;
    let mut opened = Vec::new();
    for _ in 0..3 {
        let txn = funded(&app, &d.buyer_id, &d.store, &d.item, 1_000).await?;
        opened.push(open(&app, &d.buyer, &txn).await?);
    }
    let (st, v) = parts(
        call(
            &app,
            Method::GET,
            "/v1/disputes?limit=2",
            Some(&staff),
            None,
        )
        .await?,
    )
    .await?;
    assert_eq!(st, 200, "{v}");
    let first: Vec<Value> = v["disputes"].as_array().cloned().unwrap_or_default();
    assert_eq!(first.len(), 2);
    let cursor = v["next_cursor"].as_str().context("a next page")?.to_owned();
    let (st, v) = parts(
        call(
            &app,
            Method::GET,
            &format!("/v1/disputes?limit=2&cursor={cursor}"),
            Some(&staff),
            None,
        )
        .await?,
    )
    .await?;
    assert_eq!(st, 200, "{v}");
    assert!(v.get("next_cursor").is_none(), "{v}");
    let all: Vec<Value> = first
        .into_iter()
        .chain(v["disputes"].as_array().cloned().unwrap_or_default())
        .collect();
    let ids: Vec<&str> = all.iter().filter_map(|d| d["id"].as_str()).collect();
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    let mut expected: Vec<&str> = opened.iter().map(String::as_str).collect();
    expected.sort_unstable();
    assert_eq!(sorted, expected, "every dispute exactly once");
    let times: Vec<i64> = all
        .iter()
        .filter_map(|d| d["created_at"].as_i64())
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "oldest first: {times:?}"
    );
    let r = call(
        &app,
        Method::GET,
        "/v1/disputes?limit=0",
        Some(&staff),
        None,
    )
    .await?;
    expect_problem(r, 422, "validation_failed").await?;
    let r = call(
        &app,
        Method::GET,
        "/v1/disputes?cursor=zz",
        Some(&staff),
        None,
    )
    .await?;
    expect_problem(r, 422, "validation_failed").await?;

    // The page: a next link on the first page, the rest behind it.
    app.clock.advance_secs(30);
    let web = browser_totp(
        &app,
        "q_staff",
        &crate::identity::totp_now(&app, &q_secret, 0),
    )
    .await?;
    let html = web
        .get(app.at("/staff/disputes?limit=2"))
        .send()
        .await?
        .text()
        .await?;
    assert_eq!(html.matches("href=\"/disputes/").count(), 2, "{html}");
    let marker = "href=\"/staff/disputes?status=open&amp;cursor=";
    let start = html.find(marker).context("a next-page link")? + "href=\"".len();
    let link = html[start..]
        .split('"')
        .next()
        .unwrap_or_default()
        .replace("&amp;", "&");
    let html = web.get(app.at(&link)).send().await?.text().await?;
    assert_eq!(html.matches("href=\"/disputes/").count(), 1, "{html}");
    let r = web
        .get(app.at("/staff/disputes?status=bogus"))
        .send()
        .await?;
    assert_eq!(r.status(), 422);
    Ok(())
}

both_engines!(
    buyer_opens_seller_claims_staff_resolves,
    the_queue_pages_oldest_first,
    outsiders_are_refused_and_nothing_changes,
    bad_resolutions_are_refused,
    dispute_pages_work_without_javascript,
);
