//! Findings of the outside review of the marketplace, each kept fixed by a test:
//! store members are added by username only (no e-mail probe) and never staff; member
//! and settings changes are audited with old and new values; a store member reads
//! its draft item with a bearer token; the release period is fixed on a purchase.

use super::{add_item, add_member, audit_count, bearer, call, open_store};
use anyhow::Result;
use rampart_kernel::account::Role;
use rampart_kernel::ids::{ItemId, StoreId};
use rampart_kernel::{Currency, Money, UserId};
use rampart_ledger::NewEscrow;
use rampart_test_support::{both_engines, count_rows, TestApp};
use reqwest::Method;
use serde_json::{json, Value};

both_engines!(
    members_by_username_only_and_never_staff,
    member_and_settings_changes_are_audited,
    members_read_their_drafts_with_a_bearer_token,
    the_release_period_is_fixed_at_purchase,
);

async fn members_by_username_only_and_never_staff(app: TestApp) -> Result<()> {
    let (_, owner) = bearer(&app, "rv_owner", Role::Seller).await?;
    bearer(&app, "rv_known", Role::Customer).await?;
    bearer(&app, "rv_support", Role::Support).await?;
    let store = open_store(&app, &owner, "Probe").await?;
    let before = count_rows(app.db(), "store_members").await?;
    // A registered e-mail answers exactly like an unknown one.
    for login in ["rv_known@example.com", "nobody@example.com", "rv_nobody"] {
        let r = call(
            &app,
            Method::POST,
            &format!("/v1/stores/{store}/members"),
            Some(&owner),
            Some(json!({"username": login, "role": "clerk"})),
        )
        .await?;
        assert_eq!(r.status(), 422, "{login}");
        let v: Value = r.json().await?;
        assert_eq!(v["errors"][0]["code"], "unknown_user", "{login}: {v}");
    }
    // Staff (support and above) cannot be made a party to the store.
    let r = call(
        &app,
        Method::POST,
        &format!("/v1/stores/{store}/members"),
        Some(&owner),
        Some(json!({"username": "rv_support", "role": "owner"})),
    )
    .await?;
    assert_eq!(r.status(), 422);
    let v: Value = r.json().await?;
    assert_eq!(v["errors"][0]["code"], "staff_account");
    assert_eq!(count_rows(app.db(), "store_members").await?, before);
    // By username, a customer joins.
    assert_eq!(
        add_member(&app, &owner, &store, "rv_known", "clerk").await?,
        200
    );
    Ok(())
}

async fn member_and_settings_changes_are_audited(app: TestApp) -> Result<()> {
    let (_, owner) = bearer(&app, "au_owner", Role::Seller).await?;
    let (clerk_id, _) = bearer(&app, "au_clerk", Role::Customer).await?;
    let store = open_store(&app, &owner, "Audited").await?;
    assert_eq!(
        add_member(&app, &owner, &store, "au_clerk", "clerk").await?,
        200
    );
    assert_eq!(audit_count(&app, "store_member_set", &store).await?, 1);
    // Promotion: one more row; the same role again: none.
    assert_eq!(
        add_member(&app, &owner, &store, "au_clerk", "manager").await?,
        200
    );
    assert_eq!(
        add_member(&app, &owner, &store, "au_clerk", "manager").await?,
        200
    );
    assert_eq!(audit_count(&app, "store_member_set", &store).await?, 2);
    let r = call(
        &app,
        Method::PATCH,
        &format!("/v1/stores/{store}"),
        Some(&owner),
        Some(json!({"auto_release_days": 1, "name": "Audited"})),
    )
    .await?;
    assert_eq!(r.status(), 200);
    assert_eq!(audit_count(&app, "store_settings_change", &store).await?, 1);
    let meta = rampart_test_support::text_value(
        app.db(),
        "SELECT metadata FROM audit_log WHERE action_type = 'store_settings_change' \
         AND target_id = $1",
        &store,
    )
    .await?
    .unwrap_or_default();
    let meta: Value = serde_json::from_str(&meta)?;
    assert_eq!(meta["auto_release_days"]["old"], 14);
    assert_eq!(meta["auto_release_days"]["new"], 1);
    assert!(
        meta.get("name").is_none(),
        "unchanged fields are not listed: {meta}"
    );
    let r = call(
        &app,
        Method::DELETE,
        &format!("/v1/stores/{store}/members/{clerk_id}"),
        Some(&owner),
        None,
    )
    .await?;
    assert_eq!(r.status(), 204);
    assert_eq!(audit_count(&app, "store_member_remove", &store).await?, 1);
    Ok(())
}

async fn members_read_their_drafts_with_a_bearer_token(app: TestApp) -> Result<()> {
    let (_, owner) = bearer(&app, "dr_owner", Role::Seller).await?;
    let (_, stranger) = bearer(&app, "dr_stranger", Role::Customer).await?;
    let store = open_store(&app, &owner, "Drafts").await?;
    let item = add_item(
        &app,
        &owner,
        &store,
        json!({"title": "Unreleased", "price_minor": 100, "stock": 1}),
    )
    .await?;
    let path = format!("/v1/items/{item}");
    let r = call(&app, Method::GET, &path, Some(&owner), None).await?;
    assert_eq!(r.status(), 200);
    for who in [Some(stranger.as_str()), None, Some("not-a-token")] {
        let r = call(&app, Method::GET, &path, who, None).await?;
        assert_eq!(r.status(), 404);
    }
    Ok(())
}

async fn the_release_period_is_fixed_at_purchase(app: TestApp) -> Result<()> {
    let ledger = app.state.market.ledger();
    let eur = Currency::parse("EUR")?;
    let buyer = UserId::generate();
    let t = ledger
        .create(
            NewEscrow {
                buyer: buyer.clone(),
                store: StoreId::generate(),
                item: ItemId::generate(),
                quantity: 1,
                unit_price: Money::new(500, eur),
                release_after_ms: 14 * 86_400_000,
            },
            Some(&buyer),
            None,
        )
        .await?;
    assert_eq!(
        ledger.get(&t.id).await?.map(|v| v.release_after_ms),
        Some(14 * 86_400_000)
    );
    // A period outside 0..=365 days is refused.
    let bad = ledger
        .create(
            NewEscrow {
                buyer: buyer.clone(),
                store: StoreId::generate(),
                item: ItemId::generate(),
                quantity: 1,
                unit_price: Money::new(500, eur),
                release_after_ms: -1,
            },
            Some(&buyer),
            None,
        )
        .await;
    assert!(bad.is_err());
    Ok(())
}

/// A seller's store with one active item of `stock` units; returns (owner token,
/// store, item).
async fn shop(app: &TestApp, prefix: &str, stock: i64) -> Result<(String, String, String)> {
    let (_, owner) = bearer(app, &format!("{prefix}_owner"), Role::Seller).await?;
    let store = open_store(app, &owner, "Shop").await?;
    let item = add_item(
        app,
        &owner,
        &store,
        json!({"title": "Lamp", "price_minor": 2_000, "stock": stock, "status": "active"}),
    )
    .await?;
    Ok((owner, store, item))
}

async fn post(app: &TestApp, token: &str, path: &str, body: Option<Value>) -> Result<(u16, Value)> {
    let r = call(app, Method::POST, path, Some(token), body).await?;
    let st = r.status().as_u16();
    let v = r.json::<Value>().await.unwrap_or(Value::Null);
    Ok((st, v))
}

async fn state_of(app: &TestApp, txn: &str) -> Result<String> {
    Ok(rampart_test_support::text_value(
        app.db(),
        "SELECT state FROM escrow_transactions WHERE id = $1",
        txn,
    )
    .await?
    .unwrap_or_default())
}

async fn buy_one(app: &TestApp, buyer: &str, item: &str) -> Result<String> {
    let (st, v) = post(
        app,
        buyer,
        &format!("/v1/items/{item}/purchases"),
        Some(json!({"quantity": 1})),
    )
    .await?;
    assert_eq!(st, 201, "{v}");
    Ok(v["id"].as_str().unwrap_or_default().to_owned())
}

both_engines!(
    staff_never_fund_their_own_purchase,
    a_pending_intent_holds_the_transaction,
);

/// Staff hold the mark-funded power, but never over their own purchase (or their
/// own store's sale): 403, nothing moves.
async fn staff_never_fund_their_own_purchase(app: TestApp) -> Result<()> {
    let (_, _, item) = shop(&app, "sf", 3).await?;
    let (_, insider, _) = crate::trust::with_totp(&app, "sf_staff", Role::Staff).await?;
    let (st, v) = post(
        &app,
        &insider,
        &format!("/v1/items/{item}/purchases"),
        Some(json!({"quantity": 1})),
    )
    .await?;
    assert_eq!(st, 201, "{v}");
    let txn = v["id"].as_str().unwrap_or_default().to_owned();
    let postings = count_rows(app.db(), "ledger_postings").await?;
    let (st, v) = post(
        &app,
        &insider,
        &format!("/v1/transactions/{txn}/fund"),
        None,
    )
    .await?;
    assert_eq!(st, 403, "{v}");
    assert_eq!(state_of(&app, &txn).await?, "pending_payment");
    assert_eq!(count_rows(app.db(), "ledger_postings").await?, postings);
    // Another staff member may.
    let (_, other, _) = crate::trust::with_totp(&app, "sf_other", Role::Staff).await?;
    let (st, v) = post(&app, &other, &format!("/v1/transactions/{txn}/fund"), None).await?;
    assert_eq!(st, 200, "{v}");
    Ok(())
}

/// A confirmed receipt cannot be followed by a dispute, nor a requested cancel by a
/// shipment: the pending intent holds the transaction for the worker (409, nothing
/// changes).
async fn a_pending_intent_holds_the_transaction(app: TestApp) -> Result<()> {
    let (owner, _, item) = shop(&app, "pi", 5).await?;
    let (_, buyer) = bearer(&app, "pi_buyer", Role::Customer).await?;
    let (_, staff, _) = crate::trust::with_totp(&app, "pi_staff", Role::Staff).await?;
    // Release requested, then a dispute: refused.
    let t1 = buy_one(&app, &buyer, &item).await?;
    assert_eq!(
        post(&app, &staff, &format!("/v1/transactions/{t1}/fund"), None)
            .await?
            .0,
        200
    );
    assert_eq!(
        post(&app, &owner, &format!("/v1/transactions/{t1}/ship"), None)
            .await?
            .0,
        200
    );
    assert_eq!(
        post(
            &app,
            &buyer,
            &format!("/v1/transactions/{t1}/release"),
            None
        )
        .await?
        .0,
        202
    );
    let (st, v) = post(
        &app,
        &buyer,
        &format!("/v1/transactions/{t1}/disputes"),
        Some(json!({"reason": "Changed my mind"})),
    )
    .await?;
    assert_eq!(st, 409, "{v}");
    assert_eq!(state_of(&app, &t1).await?, "shipped");
    assert_eq!(count_rows(app.db(), "disputes").await?, 0);
    // Cancel requested, then a shipment: refused.
    let t2 = buy_one(&app, &buyer, &item).await?;
    assert_eq!(
        post(&app, &staff, &format!("/v1/transactions/{t2}/fund"), None)
            .await?
            .0,
        200
    );
    assert_eq!(
        post(&app, &owner, &format!("/v1/transactions/{t2}/cancel"), None)
            .await?
            .0,
        202
    );
    let (st, v) = post(&app, &owner, &format!("/v1/transactions/{t2}/ship"), None).await?;
    assert_eq!(st, 409, "{v}");
    assert_eq!(state_of(&app, &t2).await?, "funded");
    Ok(())
}

both_engines!(page_sizes_outside_the_documented_range_are_refused);

/// Found by schemathesis: `limit=0` was accepted where the schema says 1..=100.
async fn page_sizes_outside_the_documented_range_are_refused(app: TestApp) -> Result<()> {
    let (_, t) = bearer(&app, "ps_user", Role::Customer).await?;
    for (q, want) in [("0", 422), ("101", 422), ("1", 200)] {
        let r = call(
            &app,
            Method::GET,
            &format!("/v1/conversations?limit={q}"),
            Some(&t),
            None,
        )
        .await?;
        assert_eq!(r.status(), want, "limit={q}");
    }
    Ok(())
}
