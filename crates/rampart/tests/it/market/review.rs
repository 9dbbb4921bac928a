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
