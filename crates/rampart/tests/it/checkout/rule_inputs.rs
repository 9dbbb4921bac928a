//! The checkout rules' inputs are data a seller sets through the API (E4, store
//! settings): an item's type, weight and subscription-only flag, a store's minimum
//! order. Bad input is refused per field, strangers and lesser roles are refused as
//! on every item and store route, every change is audited, and each rule then fires
//! through the checkout API with its own code — also at completion, where a customer
//! who lost subscription eligibility after the intent is refunded, and the refunded
//! intent answers `payment_refunded` from then on.

use super::*;
use crate::market::{add_member, audit_count};
use rampart_test_support::{text_value, Engine};

async fn rules_app(engine: Engine) -> Result<Option<TestApp>> {
    TestApp::builder(engine)
        .config(|c| {
            c.checkout.rules = serde_json::from_value(json!({
                "order_limits": [{"currency": "EUR", "min_minor": 500, "max_minor": 1000000}],
                "shipping_methods": [{"code": "parcel", "countries": ["EE", "FI"],
                                      "max_weight_grams": 30000,
                                      "excluded_item_types": ["battery"]}],
                "subscription": {"customer_types": ["consumer"]}
            }))
            .expect("rules");
        })
        .spawn()
        .await
}

async fn patch(app: &TestApp, tok: &str, path: &str, body: Value) -> Result<(u16, Value)> {
    api(app, Method::PATCH, path, Some(tok), Some(body)).await
}

fn field_codes(v: &Value) -> Vec<(String, String)> {
    v["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            (
                e["field"].as_str().unwrap_or_default().to_owned(),
                e["code"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// Every row of a one-text-column query.
async fn text_rows(app: &TestApp, q: &str) -> Result<Vec<String>> {
    let rows: Vec<(String,)> = match &app.db().engine {
        rampart_db::Engine::Sqlite { read, .. } => sqlx::query_as(q).fetch_all(read).await?,
        rampart_db::Engine::Postgres(p) => sqlx::query_as(q).fetch_all(p).await?,
    };
    Ok(rows.into_iter().map(|r| r.0).collect())
}

/// What the rule inputs of every item and store are now, and how many audit rows.
async fn rule_state(app: &TestApp) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for q in [
        "SELECT id || '|' || item_type || '|' || CAST(weight_grams AS TEXT) || '|' || \
         CAST(subscription_only AS TEXT) || '|' || CAST(updated_at AS TEXT) FROM items ORDER BY id",
        "SELECT id || '|' || COALESCE(CAST(min_order_minor AS TEXT), '-') || '|' || \
         CAST(updated_at AS TEXT) FROM stores ORDER BY id",
        "SELECT CAST(COUNT(*) AS TEXT) FROM audit_log",
        "SELECT CAST(COUNT(*) AS TEXT) FROM items",
    ] {
        out.push(text_rows(app, q).await?.join(";"));
    }
    Ok(out)
}

/// A seller sets the inputs through the API; they show in the item and store views;
/// bad values are 422 per field; another seller gets 404, a clerk 403 on the item and
/// a manager 403 on the store's settings; nothing changes on a refusal; each change
/// is audited with old and new values, a no-op is not.
async fn rule_inputs_through_the_api(app: TestApp) -> Result<()> {
    let (owner, store, _) = shop(&app, "rishop", 300, 50).await?;
    let (st, v) = api(
        &app,
        Method::POST,
        &format!("/v1/stores/{store}/items"),
        Some(&owner),
        Some(
            json!({"title": "Cell", "price_minor": 300, "stock": 5, "status": "active",
                    "item_type": "Battery", "weight_grams": 250, "subscription_only": true}),
        ),
    )
    .await?;
    assert_eq!(st, 201, "{v}");
    assert_eq!(
        (&v["item_type"], &v["weight_grams"], &v["subscription_only"]),
        (&json!("battery"), &json!(250), &json!(true)),
        "{v}"
    );
    let item = v["id"].as_str().unwrap_or_default().to_owned();
    // The public view shows them too.
    let (st, v) = api(&app, Method::GET, &format!("/v1/items/{item}"), None, None).await?;
    assert_eq!(st, 200);
    assert_eq!(
        (&v["item_type"], &v["weight_grams"], &v["subscription_only"]),
        (&json!("battery"), &json!(250), &json!(true)),
        "{v}"
    );
    // An item created without them has none.
    let (_, v) = api(
        &app,
        Method::GET,
        &format!("/v1/stores/{store}/items"),
        Some(&owner),
        None,
    )
    .await?;
    let plain = &v["items"][1];
    assert_eq!(
        (
            &plain["item_type"],
            &plain["weight_grams"],
            &plain["subscription_only"]
        ),
        (&json!(""), &json!(0), &json!(false)),
        "{v}"
    );

    // Bad input: 422 with the field's code, nothing changed.
    let before = rule_state(&app).await?;
    let path = format!("/v1/items/{item}");
    let long = "x".repeat(33);
    for (body, field, code) in [
        (
            json!({"item_type": "bad type!"}),
            "item_type",
            "invalid_format",
        ),
        (json!({"item_type": long}), "item_type", "too_long"),
        (json!({"weight_grams": -1}), "weight_grams", "out_of_range"),
        (
            json!({"weight_grams": 1_000_001}),
            "weight_grams",
            "out_of_range",
        ),
    ] {
        let (st, v) = patch(&app, &owner, &path, body.clone()).await?;
        assert_eq!(st, 422, "{body}: {v}");
        assert_eq!(
            field_codes(&v),
            vec![(field.to_owned(), code.to_owned())],
            "{body}: {v}"
        );
    }
    let (st, v) = patch(&app, &owner, &path, json!({"subscription_only": "yes"})).await?;
    assert_eq!(st, 422, "{v}");
    let (st, v) = api(
        &app,
        Method::POST,
        &format!("/v1/stores/{store}/items"),
        Some(&owner),
        Some(
            json!({"title": "Heavy", "price_minor": 1, "weight_grams": 2_000_000,
                    "item_type": "UPPER CASE"}),
        ),
    )
    .await?;
    assert_eq!(st, 422, "{v}");
    assert_eq!(
        field_codes(&v),
        vec![
            ("item_type".to_owned(), "invalid_format".to_owned()),
            ("weight_grams".to_owned(), "out_of_range".to_owned())
        ],
        "{v}"
    );
    let spath = format!("/v1/stores/{store}");
    for m in [json!(0), json!(-5), json!(1_000_000_000_001_i64)] {
        let (st, v) = patch(&app, &owner, &spath, json!({"min_order_minor": m})).await?;
        assert_eq!(st, 422, "{m}: {v}");
        assert_eq!(
            field_codes(&v),
            vec![("min_order_minor".to_owned(), "out_of_range".to_owned())],
            "{v}"
        );
    }
    assert_eq!(rule_state(&app).await?, before);

    // Other people: another seller gets 404 on both; a clerk may not edit items
    // (403) and a manager may not change the store's settings (403).
    let (_, stranger) = bearer(&app, "ristranger", Role::Seller).await?;
    let (st, _) = patch(&app, &stranger, &path, json!({"weight_grams": 1})).await?;
    assert_eq!(st, 404);
    let (st, _) = patch(&app, &stranger, &spath, json!({"min_order_minor": 1})).await?;
    assert_eq!(st, 404);
    let (_, clerk) = customer(&app, "riclerk").await?;
    let (_, manager) = customer(&app, "rimanager").await?;
    assert_eq!(
        add_member(&app, &owner, &store, "riclerk", "clerk").await?,
        200
    );
    assert_eq!(
        add_member(&app, &owner, &store, "rimanager", "manager").await?,
        200
    );
    let before = rule_state(&app).await?;
    let (st, _) = patch(&app, &clerk, &path, json!({"subscription_only": false})).await?;
    assert_eq!(st, 403);
    let (st, _) = patch(&app, &manager, &spath, json!({"min_order_minor": 1})).await?;
    assert_eq!(st, 403);
    assert_eq!(rule_state(&app).await?, before);

    // Changes: audited with old and new values of what changed.
    assert_eq!(audit_count(&app, "item_attributes_change", &item).await?, 0);
    let (st, v) = patch(
        &app,
        &manager,
        &path,
        json!({"weight_grams": 1200, "subscription_only": false, "title": "Cell 2"}),
    )
    .await?;
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        (&v["weight_grams"], &v["subscription_only"], &v["item_type"]),
        (&json!(1200), &json!(false), &json!("battery"))
    );
    assert_eq!(audit_count(&app, "item_attributes_change", &item).await?, 1);
    let meta = text_value(
        app.db(),
        "SELECT metadata FROM audit_log WHERE action_type = 'item_attributes_change' \
         AND target_id = $1",
        &item,
    )
    .await?
    .unwrap_or_default();
    let meta: Value = serde_json::from_str(&meta)?;
    assert_eq!(
        meta["weight_grams"],
        json!({"old": 250, "new": 1200}),
        "{meta}"
    );
    assert_eq!(
        meta["subscription_only"],
        json!({"old": true, "new": false}),
        "{meta}"
    );
    assert_eq!(meta["store_id"], json!(store), "{meta}");
    assert!(meta.get("item_type").is_none(), "{meta}");
    // The same values again: nothing to audit.
    let (st, _) = patch(&app, &owner, &path, json!({"weight_grams": 1200})).await?;
    assert_eq!(st, 200);
    assert_eq!(audit_count(&app, "item_attributes_change", &item).await?, 1);
    // Clearing the type.
    let (st, v) = patch(&app, &owner, &path, json!({"item_type": ""})).await?;
    assert_eq!((st, &v["item_type"]), (200, &json!("")), "{v}");
    assert_eq!(audit_count(&app, "item_attributes_change", &item).await?, 2);

    // The store's minimum: set, shown, audited; null removes it.
    let settings_before = audit_count(&app, "store_settings_change", &store).await?;
    let (st, v) = patch(&app, &owner, &spath, json!({"min_order_minor": 2500})).await?;
    assert_eq!((st, &v["min_order_minor"]), (200, &json!(2500)), "{v}");
    let (_, v) = api(&app, Method::GET, &spath, Some(&owner), None).await?;
    assert_eq!(v["store"]["min_order_minor"], json!(2500), "{v}");
    // Absent leaves it alone.
    let (st, v) = patch(&app, &owner, &spath, json!({"name": "Renamed"})).await?;
    assert_eq!((st, &v["min_order_minor"]), (200, &json!(2500)), "{v}");
    let (st, v) = patch(&app, &owner, &spath, json!({"min_order_minor": null})).await?;
    assert_eq!((st, &v["min_order_minor"]), (200, &Value::Null), "{v}");
    assert_eq!(
        audit_count(&app, "store_settings_change", &store).await?,
        settings_before + 3
    );
    let metas = text_rows(
        &app,
        &format!(
            "SELECT metadata FROM audit_log WHERE action_type = 'store_settings_change' \
             AND target_id = '{store}' ORDER BY seq"
        ),
    )
    .await?;
    let first: Value = serde_json::from_str(&metas[metas.len() - 3])?;
    assert_eq!(
        first["min_order_minor"],
        json!({"old": null, "new": 2500}),
        "{first}"
    );
    let last: Value = serde_json::from_str(&metas[metas.len() - 1])?;
    assert_eq!(
        last["min_order_minor"],
        json!({"old": 2500, "new": null}),
        "{last}"
    );
    Ok(())
}

/// Each rule, its input set by the seller through the API, fires through the
/// checkout API with its own code; nothing is made at the provider until all pass.
async fn seller_settings_fire_the_rules(app: TestApp) -> Result<()> {
    let (owner, store, item) = shop(&app, "rfshop", 300, 50).await?;
    let (_, alice) = customer(&app, "alice").await?;
    let cart = new_cart(&app, &alice).await?;
    add(&app, &alice, &cart, &item, 2).await?;
    let ipath = format!("/v1/items/{item}");
    let spath = format!("/v1/stores/{store}");
    let expect = |code: &'static str| {
        let app = &app;
        let alice = alice.clone();
        let cart = cart.clone();
        async move {
            // The payment limit is 3 a minute per user: space the attempts out.
            app.clock.advance_secs(21);
            let (st, v) = intent(app, &alice, &cart).await?;
            assert_eq!((st, v["code"].as_str()), (422, Some(code)), "{v}");
            anyhow::Ok(v)
        }
    };
    let methods = |v: &Value| -> Vec<String> {
        v["shipping_methods"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| m.as_str().map(str::to_owned))
            .collect()
    };
    let cart_path = format!("/v1/carts/{cart}");

    // The store's own minimum (6.00 in the cart, 10.00 asked).
    let (st, _) = patch(&app, &owner, &spath, json!({"min_order_minor": 1000})).await?;
    assert_eq!(st, 200);
    expect("store_order_below_minimum").await?;
    patch(&app, &owner, &spath, json!({"min_order_minor": 600})).await?;

    // Physical goods: an address and a method that can carry them.
    patch(&app, &owner, &ipath, json!({"weight_grams": 500})).await?;
    expect("shipping_address_required").await?;
    let addr = json!({"name": "Alice", "line1": "Pikk 1", "postal_code": "10123", "city": "Tallinn", "country": "EE"});
    let (st, _) = api(
        &app,
        Method::POST,
        &format!("{cart_path}/addresses"),
        Some(&alice),
        Some(json!({"shipping_address": addr})),
    )
    .await?;
    assert_eq!(st, 200);
    let (st, v) = api(
        &app,
        Method::POST,
        &format!("{cart_path}/shipping-method"),
        Some(&alice),
        Some(json!({"code": "parcel"})),
    )
    .await?;
    assert_eq!(st, 200, "{v}");
    assert_eq!(methods(&v), vec!["parcel"]);

    // Too heavy for the method (2 × 20 kg over its 30 kg).
    patch(&app, &owner, &ipath, json!({"weight_grams": 20000})).await?;
    let v = expect("shipping_method_unavailable").await?;
    assert_eq!(
        field_codes(&v),
        vec![(
            "checkout".to_owned(),
            "shipping_method_unavailable".to_owned()
        )],
        "{v}"
    );
    let (_, c) = api(&app, Method::GET, &cart_path, Some(&alice), None).await?;
    assert!(methods(&c).is_empty(), "{c}");
    patch(&app, &owner, &ipath, json!({"weight_grams": 500})).await?;
    // An item type the method refuses.
    patch(&app, &owner, &ipath, json!({"item_type": "battery"})).await?;
    expect("shipping_method_unavailable").await?;
    let (_, c) = api(&app, Method::GET, &cart_path, Some(&alice), None).await?;
    assert!(methods(&c).is_empty(), "{c}");
    patch(&app, &owner, &ipath, json!({"item_type": "book"})).await?;

    // Subscription-only: a business customer is not eligible here.
    patch(&app, &owner, &ipath, json!({"subscription_only": true})).await?;
    api(
        &app,
        Method::POST,
        &format!("{cart_path}/addresses"),
        Some(&alice),
        Some(json!({"customer_type": "business", "company_name": "Acme OÜ", "vat_id": "EE123456789"})),
    )
    .await?;
    expect("subscription_not_eligible").await?;
    assert_eq!(rows(&app, "payment_intents").await?, 0);

    // A consumer is: every rule passes, the intent is made.
    api(
        &app,
        Method::POST,
        &format!("{cart_path}/addresses"),
        Some(&alice),
        Some(json!({"customer_type": "consumer"})),
    )
    .await?;
    app.clock.advance_secs(21);
    let (st, v) = intent(&app, &alice, &cart).await?;
    assert_eq!(st, 201, "{v}");
    Ok(())
}

/// E4 at completion: the customer was eligible for a subscription-only item when the
/// intent was made, became a business customer (not eligible) before paying: the
/// completion refuses with `subscription_not_eligible` and refunds; nothing is
/// ordered or reserved. Eligible again, the same (refunded) intent never completes:
/// 409 `payment_refunded`. A new intent completes.
async fn eligibility_lost_before_completion(app: TestApp) -> Result<()> {
    let (owner, _, item) = shop(&app, "elshop", 300, 10).await?;
    let (st, _) = patch(
        &app,
        &owner,
        &format!("/v1/items/{item}"),
        json!({"subscription_only": true}),
    )
    .await?;
    assert_eq!(st, 200);
    let (_, bob) = customer(&app, "bob").await?;
    let cart = new_cart(&app, &bob).await?;
    add(&app, &bob, &cart, &item, 2).await?;
    let (st, i) = intent(&app, &bob, &cart).await?;
    assert_eq!(st, 201, "{i}");
    let pi = i["id"].as_str().unwrap_or_default().to_owned();
    let addresses = format!("/v1/carts/{cart}/addresses");
    let (st, v) = api(
        &app,
        Method::POST,
        &addresses,
        Some(&bob),
        Some(
            json!({"customer_type": "business", "company_name": "Bob AS", "vat_id": "EE123456789"}),
        ),
    )
    .await?;
    assert_eq!(st, 200, "{v}");
    let (st, c) = confirm(&app, &pi, "tok_visa").await?;
    assert_eq!((st, c["status"].as_str()), (200, Some("succeeded")), "{c}");
    let (st, v) = complete(&app, &bob, &cart, None).await?;
    assert_eq!(
        (st, v["code"].as_str()),
        (422, Some("subscription_not_eligible")),
        "{v}"
    );
    assert_eq!(rows(&app, "orders").await?, 0);
    assert_eq!(rows(&app, "escrow_transactions").await?, 0);
    let stock = text_value(
        app.db(),
        "SELECT CAST(stock AS TEXT) FROM items WHERE id = $1",
        &item,
    )
    .await?;
    assert_eq!(stock.as_deref(), Some("10"));
    let status = app
        .state
        .checkout
        .stored_intent_status(&rampart_checkout::payment::IntentId::parse(&pi)?)
        .await?;
    assert_eq!(status.as_deref(), Some("refunded"));

    // Eligible again: the refunded intent still never completes, with its own code.
    let (st, _) = api(
        &app,
        Method::POST,
        &addresses,
        Some(&bob),
        Some(json!({"customer_type": "consumer"})),
    )
    .await?;
    assert_eq!(st, 200);
    for _ in 0..2 {
        let (st, v) = complete(&app, &bob, &cart, Some(&pi)).await?;
        assert_eq!(
            (st, v["code"].as_str()),
            (409, Some("payment_refunded")),
            "{v}"
        );
    }
    assert_eq!(rows(&app, "orders").await?, 0);

    // A new intent pays and completes.
    app.clock.advance_secs(21);
    let (st, i2) = intent(&app, &bob, &cart).await?;
    assert_eq!(st, 201, "{i2}");
    let pi2 = i2["id"].as_str().unwrap_or_default().to_owned();
    assert_ne!(pi2, pi);
    confirm(&app, &pi2, "tok_visa").await?;
    let (st, o) = complete(&app, &bob, &cart, None).await?;
    assert_eq!(st, 201, "{o}");
    assert_eq!(rows(&app, "orders").await?, 1);
    Ok(())
}

/// E1: a merge at login that caps a quantity or leaves a line behind says so on the
/// merged cart (`notices`), until the cart next changes.
async fn merge_notices(app: TestApp) -> Result<()> {
    let (_, _, item) = shop(&app, "mneur", 100, 500).await?;
    let (_, usd_owner) = bearer(&app, "mnusd", Role::Seller).await?;
    let (st, s) = api(
        &app,
        Method::POST,
        "/v1/stores",
        Some(&usd_owner),
        Some(json!({"name": "Dollar shop", "currency": "USD"})),
    )
    .await?;
    assert_eq!(st, 201, "{s}");
    let usd_store = s["id"].as_str().unwrap_or_default().to_owned();
    let usd_item = add_item(
        &app,
        &usd_owner,
        &usd_store,
        json!({"title": "Dollar thing", "price_minor": 100, "stock": 10, "status": "active"}),
    )
    .await?;
    let (_, alice) = customer(&app, "alice").await?;
    let mine = new_cart(&app, &alice).await?;
    add(&app, &alice, &mine, &item, 60).await?;

    let cart_path = format!("/v1/carts/{mine}");
    let (_, c) = api(&app, Method::GET, &cart_path, Some(&alice), None).await?;
    assert_eq!(c["notices"], json!([]), "{c}");

    // 60 + 60 of one item: capped at the line limit of 99.
    visit_and_login(&app, "alice", vec![(item.clone(), 60)]).await?;
    let (_, c) = api(&app, Method::GET, &cart_path, Some(&alice), None).await?;
    assert_eq!(c["items"][0]["quantity"], json!(99), "{c}");
    assert_eq!(
        c["notices"],
        json!([{"code": "quantity_capped", "item_id": item, "quantity": 99}]),
        "{c}"
    );
    // Read again: still there (reading changes nothing).
    let (_, again) = api(&app, Method::GET, &cart_path, Some(&alice), None).await?;
    assert_eq!(again["notices"], c["notices"]);
    // The next change retires them.
    let (st, v) = api(
        &app,
        Method::PATCH,
        &format!("{cart_path}/line-items/{item}"),
        Some(&alice),
        Some(json!({"quantity": 50})),
    )
    .await?;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["notices"], json!([]), "{v}");
    let (_, c) = api(&app, Method::GET, &cart_path, Some(&alice), None).await?;
    assert_eq!(c["notices"], json!([]), "{c}");

    // A line in another currency stays behind, and the cart says so.
    visit_and_login(&app, "alice", vec![(usd_item.clone(), 1)]).await?;
    let (_, c) = api(&app, Method::GET, &cart_path, Some(&alice), None).await?;
    assert_eq!(c["items"].as_array().map(Vec::len), Some(1), "{c}");
    assert_eq!(
        c["notices"],
        json!([{"code": "line_dropped_currency", "item_id": usd_item}]),
        "{c}"
    );
    Ok(())
}

macro_rules! rules_tests {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                use super::*;
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() -> Result<()> {
                    let app = rules_app(Engine::Sqlite).await?.expect("sqlite");
                    super::$name(app).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() -> Result<()> {
                    match rules_app(Engine::Postgres).await? {
                        Some(app) => super::$name(app).await,
                        None => Ok(()),
                    }
                }
            }
        )*
    };
}

rules_tests!(
    rule_inputs_through_the_api,
    seller_settings_fire_the_rules,
    eligibility_lost_before_completion,
    merge_notices,
);
