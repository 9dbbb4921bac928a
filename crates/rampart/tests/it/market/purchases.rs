//! Purchases and escrow transactions (D2/D3/D4) over HTTP: the happy path to a
//! release request, stock reserved atomically under a race of buyers, and every
//! hostile caller refused with the database re-read to prove nothing changed.

use super::{add_item, add_member, audit_count, bearer, call, item_field, open_store};
use crate::identity::{expect_problem, parts};
use anyhow::Result;
use rampart_kernel::account::Role;
use rampart_kernel::ids::TransactionId;
use rampart_ledger::{Applied, EscrowEvent, EscrowState};
use rampart_test_support::{both_engines, count_rows, text_value, TestApp};
use reqwest::Method;
use serde_json::{json, Value};

async fn state_of(app: &TestApp, txn: &str) -> Result<String> {
    Ok(text_value(
        app.db(),
        "SELECT state FROM escrow_transactions WHERE id = $1",
        txn,
    )
    .await?
    .unwrap_or_default())
}

async fn buy(app: &TestApp, token: &str, item: &str, body: Value) -> Result<(u16, Value)> {
    parts(
        call(
            app,
            Method::POST,
            &format!("/v1/items/{item}/purchases"),
            Some(token),
            Some(body),
        )
        .await?,
    )
    .await
}

async fn act(
    app: &TestApp,
    token: Option<&str>,
    txn: &str,
    action: &str,
) -> Result<reqwest::Response> {
    call(
        app,
        Method::POST,
        &format!("/v1/transactions/{txn}/{action}"),
        token,
        None,
    )
    .await
}

/// D3/D4: buy → fund (staff) → ship (store) → confirm receipt (a release intent,
/// 202); the state stays `shipped` until the intent is carried out.
async fn buy_fund_ship_and_request_release(app: TestApp) -> Result<()> {
    let (_, owner) = bearer(&app, "shopkeeper", Role::Seller).await?;
    let (buyer_id, buyer) = bearer(&app, "buyer", Role::Customer).await?;
    let (_, staff, _) = crate::trust::with_totp(&app, "funder", Role::Staff).await?;
    let store = open_store(&app, &owner, "Lamps").await?;
    let item = add_item(
        &app,
        &owner,
        &store,
        json!({"title": "Lamp", "price_minor": 1250, "stock": 3, "status": "active"}),
    )
    .await?;
    let (st, t) = buy(&app, &buyer, &item, json!({"quantity": 2})).await?;
    assert_eq!(st, 201, "{t}");
    let txn = t["id"].as_str().unwrap_or_default().to_owned();
    assert_eq!(t["state"], "pending_payment");
    assert_eq!(t["amount"], json!({"minor": 2500, "currency": "EUR"}));
    assert_eq!(t["buyer_id"], buyer_id.as_str());
    assert_eq!(t["item_title"], "Lamp");
    assert_eq!(t["store_name"], "Lamps");
    assert_eq!(t["fee_bps"], 250);
    assert_eq!(t["actions"], json!([]));
    assert_eq!(item_field(&app, &item, "stock").await?, "1");
    assert_eq!(audit_count(&app, "escrow_create", &txn).await?, 1);

    // Lists: the buyer's purchases, the store's sales.
    let (st, v) = parts(
        call(
            &app,
            Method::GET,
            "/v1/transactions?as=buyer",
            Some(&buyer),
            None,
        )
        .await?,
    )
    .await?;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["transactions"][0]["id"], txn.as_str());
    assert_eq!(v["transactions"][0]["item_title"], "Lamp");
    let (st, v) = parts(
        call(
            &app,
            Method::GET,
            &format!("/v1/stores/{store}/transactions?limit=1"),
            Some(&owner),
            None,
        )
        .await?,
    )
    .await?;
    assert_eq!(
        (st, v["transactions"].as_array().map(Vec::len)),
        (200, Some(1)),
        "{v}"
    );
    assert!(v.get("next_cursor").is_none());
    let (_, v) =
        parts(call(&app, Method::GET, "/v1/transactions", Some(&owner), None).await?).await?;
    assert_eq!(v["transactions"], json!([]));

    // Shipping before funding is refused with the current state.
    let v = expect_problem(
        act(&app, Some(&owner), &txn, "ship").await?,
        409,
        "invalid_transition",
    )
    .await?;
    assert!(
        v["detail"]
            .as_str()
            .unwrap_or("")
            .contains("pending_payment"),
        "{v}"
    );
    assert_eq!(state_of(&app, &txn).await?, "pending_payment");

    // Staff mark it funded (audited by the ledger).
    let (st, v) = parts(act(&app, Some(&staff), &txn, "fund").await?).await?;
    assert_eq!((st, v["state"].as_str()), (200, Some("funded")), "{v}");
    assert_eq!(audit_count(&app, "escrow_fund", &txn).await?, 1);
    // A second click changes nothing and says why.
    let v = expect_problem(
        act(&app, Some(&staff), &txn, "fund").await?,
        409,
        "invalid_transition",
    )
    .await?;
    assert!(v["detail"].as_str().unwrap_or("").contains("funded"), "{v}");
    assert_eq!(audit_count(&app, "escrow_fund", &txn).await?, 1);
    let (st, v) = parts(act(&app, Some(&owner), &txn, "ship").await?).await?;
    assert_eq!((st, v["state"].as_str()), (200, Some("shipped")), "{v}");
    assert_eq!(audit_count(&app, "escrow_ship", &txn).await?, 1);

    // The buyer may now confirm receipt.
    let (_, v) = parts(
        call(
            &app,
            Method::GET,
            &format!("/v1/transactions/{txn}"),
            Some(&buyer),
            None,
        )
        .await?,
    )
    .await?;
    assert_eq!(v["actions"], json!(["release", "dispute"]), "{v}");
    let (st, intent) = parts(act(&app, Some(&buyer), &txn, "release").await?).await?;
    assert_eq!(st, 202, "{intent}");
    assert_eq!(
        (intent["kind"].as_str(), intent["status"].as_str()),
        (Some("release"), Some("pending"))
    );
    // Asking again answers the same pending intent; one audit row.
    let (st, again) = parts(act(&app, Some(&buyer), &txn, "release").await?).await?;
    assert_eq!((st, &again["id"]), (202, &intent["id"]));
    assert_eq!(audit_count(&app, "release_request", &txn).await?, 1);
    assert_eq!(state_of(&app, &txn).await?, "shipped");
    let (_, v) = parts(
        call(
            &app,
            Method::GET,
            &format!("/v1/transactions/{txn}"),
            Some(&buyer),
            None,
        )
        .await?,
    )
    .await?;
    assert_eq!(v["intents"].as_array().map(Vec::len), Some(1), "{v}");
    assert_eq!(v["actions"], json!(["dispute"]), "{v}");

    // What the worker will do (built elsewhere): apply the release.
    let id: TransactionId = txn.parse()?;
    let applied = app
        .state
        .market
        .ledger()
        .apply(&id, EscrowEvent::Release, None, None)
        .await?;
    assert_eq!(applied, Applied::Done(EscrowState::Completed));
    let (_, v) = parts(
        call(
            &app,
            Method::GET,
            &format!("/v1/transactions/{txn}"),
            Some(&owner),
            None,
        )
        .await?,
    )
    .await?;
    assert_eq!(v["state"], "completed");
    assert_eq!(v["actions"], json!([]));
    Ok(())
}

/// D3: twenty buyers race for five units: exactly five transactions, stock zero,
/// never below.
async fn racing_buyers_never_oversell(app: TestApp) -> Result<()> {
    let (_, owner) = bearer(&app, "racer_shop", Role::Seller).await?;
    let store = open_store(&app, &owner, "Scarce").await?;
    let item = add_item(
        &app,
        &owner,
        &store,
        json!({"title": "Rare", "price_minor": 900, "stock": 5, "status": "active"}),
    )
    .await?;
    let mut tokens = Vec::new();
    for n in 0..20 {
        tokens.push(bearer(&app, &format!("racer{n}"), Role::Customer).await?.1);
    }
    let app = std::sync::Arc::new(app);
    let mut set = tokio::task::JoinSet::new();
    for t in tokens {
        let app = app.clone();
        let item = item.clone();
        set.spawn(async move { buy(&app, &t, &item, json!({"quantity": 1})).await });
    }
    let (mut ok, mut out) = (0, 0);
    while let Some(r) = set.join_next().await {
        let (st, v) = r??;
        match st {
            201 => ok += 1,
            409 if v["code"] == "out_of_stock" => out += 1,
            other => panic!("unexpected {other}: {v}"),
        }
    }
    assert_eq!((ok, out), (5, 15));
    assert_eq!(item_field(&app, &item, "stock").await?, "0");
    assert_eq!(count_rows(app.db(), "escrow_transactions").await?, 5);
    assert_eq!(
        count_rows(app.db(), "audit_log WHERE action_type = 'escrow_create'").await?,
        5
    );
    Ok(())
}

/// D1: strangers, members of other stores, clerks where a manager is needed, the
/// buyer where the store acts, and anonymous callers are refused, and nothing
/// changes; purchases with a forged price, a bad quantity, an item not for sale or
/// from one's own store are refused and reserve nothing.
async fn hostile_callers_are_refused(app: TestApp) -> Result<()> {
    let (_, owner) = bearer(&app, "victim_shop", Role::Seller).await?;
    let (_, clerk) = bearer(&app, "the_clerk", Role::Customer).await?;
    let (_, rival) = bearer(&app, "rival_shop", Role::Seller).await?;
    let (_, nosy) = bearer(&app, "nosy", Role::Customer).await?;
    let (_, buyer) = bearer(&app, "honest", Role::Customer).await?;
    let (_, support) = bearer(&app, "helpdesk", Role::Support).await?;
    let (_, staff, _) = crate::trust::with_totp(&app, "funds", Role::Staff).await?;
    let store = open_store(&app, &owner, "Target").await?;
    open_store(&app, &rival, "Rival").await?;
    assert_eq!(
        add_member(&app, &owner, &store, "the_clerk", "clerk").await?,
        200
    );
    let item = add_item(
        &app,
        &owner,
        &store,
        json!({"title": "Vase", "price_minor": 4000, "stock": 10, "status": "active"}),
    )
    .await?;
    let (st, t) = buy(&app, &buyer, &item, json!({"quantity": 1})).await?;
    assert_eq!(st, 201, "{t}");
    let txn = t["id"].as_str().unwrap_or_default().to_owned();
    assert_eq!(act(&app, Some(&staff), &txn, "fund").await?.status(), 200);
    let audit_before = count_rows(app.db(), "audit_log").await?;

    // Outsiders: 404 on every route of the transaction (they may not know it).
    for t in [&nosy, &rival, &support] {
        let r = call(
            &app,
            Method::GET,
            &format!("/v1/transactions/{txn}"),
            Some(t),
            None,
        )
        .await?;
        expect_problem(r, 404, "not_found").await?;
        for a in ["ship", "release", "cancel", "fund"] {
            expect_problem(act(&app, Some(t), &txn, a).await?, 404, "not_found")
                .await
                .map_err(|e| anyhow::anyhow!("{a}: {e}"))?;
        }
        let r = call(
            &app,
            Method::GET,
            &format!("/v1/stores/{store}/transactions"),
            Some(t),
            None,
        )
        .await?;
        expect_problem(r, 404, "not_found").await?;
    }
    // The clerk knows it: may not cancel (managers) or confirm receipt (the buyer).
    for a in ["cancel", "release"] {
        expect_problem(act(&app, Some(&clerk), &txn, a).await?, 403, "forbidden").await?;
    }
    // The buyer may not act for the store; funding is staff-only (the guard: 404).
    for a in ["ship", "cancel"] {
        expect_problem(act(&app, Some(&buyer), &txn, a).await?, 403, "forbidden").await?;
    }
    expect_problem(
        act(&app, Some(&buyer), &txn, "fund").await?,
        404,
        "not_found",
    )
    .await?;
    // Anonymous: 401.
    let r = call(
        &app,
        Method::GET,
        &format!("/v1/transactions/{txn}"),
        None,
        None,
    )
    .await?;
    assert_eq!(r.status().as_u16(), 401);
    for a in ["ship", "release", "cancel", "fund"] {
        assert_eq!(
            act(&app, None, &txn, a).await?.status().as_u16(),
            401,
            "{a}"
        );
    }
    // An unknown or malformed ID is a 404 too.
    let r = call(
        &app,
        Method::GET,
        &format!("/v1/transactions/{}", TransactionId::generate()),
        Some(&buyer),
        None,
    )
    .await?;
    expect_problem(r, 404, "not_found").await?;
    let r = call(
        &app,
        Method::GET,
        "/v1/transactions/not-an-id",
        Some(&buyer),
        None,
    )
    .await?;
    expect_problem(r, 404, "not_found").await?;
    // Nothing changed.
    assert_eq!(state_of(&app, &txn).await?, "funded");
    assert_eq!(count_rows(app.db(), "escrow_intents").await?, 0);
    assert_eq!(count_rows(app.db(), "audit_log").await?, audit_before);

    // Purchases that must reserve nothing.
    let draft = add_item(
        &app,
        &owner,
        &store,
        json!({"title": "Draft", "price_minor": 10, "stock": 5}),
    )
    .await?;
    let archived = add_item(
        &app,
        &owner,
        &store,
        json!({"title": "Old", "price_minor": 10, "stock": 5, "status": "active"}),
    )
    .await?;
    let r = call(
        &app,
        Method::POST,
        &format!("/v1/items/{archived}/archive"),
        Some(&owner),
        None,
    )
    .await?;
    assert_eq!(r.status().as_u16(), 200);
    let txns = count_rows(app.db(), "escrow_transactions").await?;
    let (st, v) = buy(&app, &nosy, &item, json!({"quantity": 1, "price": 1})).await?;
    assert_eq!((st, v["code"].as_str()), (422, Some("invalid_body")), "{v}");
    let (st, v) = buy(
        &app,
        &nosy,
        &item,
        json!({"quantity": 1, "unit_price": {"minor": 1}}),
    )
    .await?;
    assert_eq!((st, v["code"].as_str()), (422, Some("invalid_body")), "{v}");
    for q in [json!(0), json!(-1), json!(1001)] {
        let (st, v) = buy(&app, &nosy, &item, json!({"quantity": q})).await?;
        assert_eq!(
            (st, v["code"].as_str()),
            (422, Some("validation_failed")),
            "{q}: {v}"
        );
    }
    let (st, v) = buy(&app, &nosy, &item, json!({"quantity": 1e30})).await?;
    assert_eq!((st, v["code"].as_str()), (422, Some("invalid_body")), "{v}");
    let (st, v) = buy(&app, &nosy, &item, json!({"quantity": 11})).await?;
    assert_eq!((st, v["code"].as_str()), (409, Some("out_of_stock")), "{v}");
    for it in [&draft, &archived] {
        let (st, v) = buy(&app, &buyer, it, json!({"quantity": 1})).await?;
        assert_eq!((st, v["code"].as_str()), (404, Some("not_found")), "{v}");
    }
    for t in [&owner, &clerk] {
        let (st, v) = buy(&app, t, &item, json!({"quantity": 1})).await?;
        assert_eq!(
            (st, v["code"].as_str()),
            (403, Some("own_store_purchase")),
            "{v}"
        );
    }
    let r = call(
        &app,
        Method::POST,
        &format!("/v1/items/{item}/purchases"),
        None,
        Some(json!({"quantity": 1})),
    )
    .await?;
    assert_eq!(r.status().as_u16(), 401);
    assert_eq!(count_rows(app.db(), "escrow_transactions").await?, txns);
    assert_eq!(item_field(&app, &item, "stock").await?, "9");
    assert_eq!(item_field(&app, &draft, "stock").await?, "5");
    assert_eq!(item_field(&app, &archived, "stock").await?, "5");

    // What they may do: the clerk ships, the buyer confirms; cancelling after
    // shipping is refused with the state, and leaves no intent.
    assert_eq!(act(&app, Some(&clerk), &txn, "ship").await?.status(), 200);
    let v = expect_problem(
        act(&app, Some(&owner), &txn, "cancel").await?,
        409,
        "invalid_transition",
    )
    .await?;
    assert!(
        v["detail"].as_str().unwrap_or("").contains("shipped"),
        "{v}"
    );
    assert_eq!(count_rows(app.db(), "escrow_intents").await?, 0);
    assert_eq!(
        act(&app, Some(&buyer), &txn, "release").await?.status(),
        202
    );
    Ok(())
}

/// D4: the store's manager (or staff who refund) cancels before shipping with an
/// intent; the state changes only when the intent is carried out.
async fn cancel_is_an_intent(app: TestApp) -> Result<()> {
    let (_, owner) = bearer(&app, "cancel_shop", Role::Seller).await?;
    let (_, manager) = bearer(&app, "cancel_mgr", Role::Customer).await?;
    let (_, buyer) = bearer(&app, "cancel_buyer", Role::Customer).await?;
    let (_, staff, _) = crate::trust::with_totp(&app, "cancel_staff", Role::Staff).await?;
    let store = open_store(&app, &owner, "Cancels").await?;
    assert_eq!(
        add_member(&app, &owner, &store, "cancel_mgr", "manager").await?,
        200
    );
    let item = add_item(
        &app,
        &owner,
        &store,
        json!({"title": "Cup", "price_minor": 300, "stock": 4, "status": "active"}),
    )
    .await?;
    let mut txns = Vec::new();
    for _ in 0..2 {
        let (st, t) = buy(&app, &buyer, &item, json!({"quantity": 1})).await?;
        assert_eq!(st, 201, "{t}");
        txns.push(t["id"].as_str().unwrap_or_default().to_owned());
    }
    // Keyset pages: one per page, newest first, then the end.
    let (st, v) = parts(
        call(
            &app,
            Method::GET,
            "/v1/transactions?as=buyer&limit=1",
            Some(&buyer),
            None,
        )
        .await?,
    )
    .await?;
    assert_eq!(
        (st, &v["transactions"][0]["id"]),
        (200, &json!(txns[1])),
        "{v}"
    );
    let cursor = v["next_cursor"].as_str().unwrap_or_default().to_owned();
    let (_, v) = parts(
        call(
            &app,
            Method::GET,
            &format!("/v1/transactions?limit=1&cursor={cursor}"),
            Some(&buyer),
            None,
        )
        .await?,
    )
    .await?;
    assert_eq!(v["transactions"][0]["id"], json!(txns[0]), "{v}");
    assert!(v.get("next_cursor").is_none(), "{v}");
    for q in [
        "as=seller",
        "limit=0",
        "limit=101",
        "cursor=bogus",
        "sort=amount",
    ] {
        let r = call(
            &app,
            Method::GET,
            &format!("/v1/transactions?{q}"),
            Some(&buyer),
            None,
        )
        .await?;
        expect_problem(r, 422, "validation_failed")
            .await
            .map_err(|e| anyhow::anyhow!("{q}: {e}"))?;
    }
    let (st, v) = parts(act(&app, Some(&manager), &txns[0], "cancel").await?).await?;
    assert_eq!(
        (st, v["kind"].as_str(), v["status"].as_str()),
        (202, Some("cancel"), Some("pending")),
        "{v}"
    );
    let (st, _) = parts(act(&app, Some(&staff), &txns[1], "cancel").await?).await?;
    assert_eq!(st, 202);
    for t in &txns {
        assert_eq!(state_of(&app, t).await?, "pending_payment");
        assert_eq!(audit_count(&app, "cancel_request", t).await?, 1);
    }
    let (_, v) = parts(
        call(
            &app,
            Method::GET,
            &format!("/v1/transactions/{}", txns[0]),
            Some(&staff),
            None,
        )
        .await?,
    )
    .await?;
    assert_eq!(v["actions"], json!(["fund"]), "{v}");
    Ok(())
}

both_engines!(
    buy_fund_ship_and_request_release,
    racing_buyers_never_oversell,
    hostile_callers_are_refused,
    cancel_is_an_intent,
);
