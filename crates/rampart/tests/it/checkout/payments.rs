//! Payment intents (E2), completion (E5), refunds (C1) and the business rules (E4).

use super::*;
use crate::identity::expect_problem;
use crate::market::audit_count;
use rampart_test_support::{both_engines, exec, text_value};

async fn stock(app: &TestApp, item: &str) -> Result<String> {
    Ok(text_value(
        app.db(),
        "SELECT CAST(stock AS TEXT) FROM items WHERE id = $1",
        item,
    )
    .await?
    .unwrap_or_default())
}

/// The whole path: cart → intent (reused on retry, metadata of cart and customer) →
/// sandbox confirmation → complete: one order, stock taken, one escrow transaction
/// per store and item funded on the ledger with balanced postings, audited. A second
/// completion answers the same order (200) and writes nothing.
async fn checkout_completes_once_and_funds_escrow(app: TestApp) -> Result<()> {
    let (_, _, lamp) = shop(&app, "lampshop", 1250, 5).await?;
    let (_, _, mug) = shop(&app, "mugshop", 300, 5).await?;
    let (buyer_id, buyer) = customer(&app, "alice").await?;
    let cart = new_cart(&app, &buyer).await?;
    add(&app, &buyer, &cart, &lamp, 2).await?;
    let (st, c) = add(&app, &buyer, &cart, &mug, 1).await?;
    assert_eq!(st, 200, "{c}");
    assert_eq!(c["total"], json!({"minor": 2800, "currency": "EUR"}));
    assert_eq!(c["version"], 2);
    let (st, i) = intent(&app, &buyer, &cart).await?;
    assert_eq!(st, 201, "{i}");
    let pi = i["id"].as_str().unwrap_or_default().to_owned();
    assert!(i["client_secret"]
        .as_str()
        .is_some_and(|s| s.contains("_secret_")));
    // A retry of the same checkout reuses the intent.
    let (_, again) = intent(&app, &buyer, &cart).await?;
    assert_eq!(again["id"], i["id"]);
    assert_eq!(rows(&app, "payment_intents").await?, 1);
    let record = {
        use rampart_checkout::payment::{IntentId, PaymentProvider};
        sandbox(&app)
            .retrieve_intent(&IntentId::parse(&pi)?)
            .await?
    };
    assert_eq!(record.metadata.cart_id.as_deref(), Some(cart.as_str()));
    assert_eq!(
        record.metadata.customer_id.as_deref(),
        Some(buyer_id.as_str())
    );

    let (st, _) = confirm(&app, &pi, "tok_visa").await?;
    assert_eq!(st, 200);
    let (st, o) = complete(&app, &buyer, &cart, None).await?;
    assert_eq!(st, 201, "{o}");
    assert_eq!(o["amount"], json!({"minor": 2800, "currency": "EUR"}));
    assert_eq!(o["status"], "paid");
    assert_eq!(o["card"], json!({"brand": "visa", "last4": "4242"}));
    let lines = o["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(lines.len(), 2, "{o}");
    assert!(lines.iter().all(|l| l["escrow_state"] == "funded"), "{o}");
    assert_eq!(stock(&app, &lamp).await?, "3");
    assert_eq!(stock(&app, &mug).await?, "4");
    let order = o["id"].as_str().unwrap_or_default().to_owned();
    assert_eq!(audit_count(&app, "order_create", &order).await?, 1);
    assert_eq!(
        rows(&app, "escrow_transactions WHERE state = 'funded'").await?,
        2
    );
    assert_eq!(rows(&app, "ledger_entries WHERE event = 'fund'").await?, 2);
    // Balanced: every posting sums to zero.
    let sum = text_value(
        app.db(),
        "SELECT CAST(COALESCE(SUM(amount_minor), 0) AS TEXT) FROM ledger_postings WHERE currency = $1",
        "EUR",
    )
    .await?;
    assert_eq!(sum.as_deref(), Some("0"));

    // Again: the same order, nothing new.
    let (st, o2) = complete(&app, &buyer, &cart, Some(&pi)).await?;
    assert_eq!((st, &o2["id"]), (200, &o["id"]));
    assert_eq!(rows(&app, "orders").await?, 1);
    assert_eq!(rows(&app, "ledger_entries WHERE event = 'fund'").await?, 2);
    assert_eq!(stock(&app, &lamp).await?, "3");
    // The cart is closed.
    let r = call(
        &app,
        Method::POST,
        &format!("/v1/carts/{cart}/line-items"),
        Some(&buyer),
        Some(json!({"item_id": lamp, "quantity": 1})),
    )
    .await?;
    expect_problem(r, 409, "cart_closed").await?;
    // Orders: the buyer's list and the order; nobody else's.
    let (st, list) = api(&app, Method::GET, "/v1/orders", Some(&buyer), None).await?;
    assert_eq!(
        (st, list["orders"][0]["id"].clone()),
        (200, o["id"].clone())
    );
    let (_, mallory) = customer(&app, "mallory").await?;
    let r = call(
        &app,
        Method::GET,
        &format!("/v1/orders/{order}"),
        Some(&mallory),
        None,
    )
    .await?;
    expect_problem(r, 404, "not_found").await?;
    let (_, list) = api(&app, Method::GET, "/v1/orders", Some(&mallory), None).await?;
    assert_eq!(list["orders"], json!([]));
    Ok(())
}

/// E2 as an attacker: another customer's intent, another cart's intent, an amount
/// changed after the intent, a currency swapped after it, completion before the
/// payment succeeded — each refused with its code; no order, no stock taken, no
/// escrow.
async fn hostile_completions_are_refused(app: TestApp) -> Result<()> {
    let (_, _, item) = shop(&app, "eurshop", 1000, 10).await?;
    let (usd_owner, _, _) = shop(&app, "usdseed", 1000, 10).await?;
    let usd_store = {
        let (st, v) = api(
            &app,
            Method::POST,
            "/v1/stores",
            Some(&usd_owner),
            Some(json!({"name": "Dollars", "currency": "USD"})),
        )
        .await?;
        assert_eq!(st, 201, "{v}");
        v["id"].as_str().unwrap_or_default().to_owned()
    };
    let usd_item = add_item(
        &app,
        &usd_owner,
        &usd_store,
        json!({"title": "Cap", "price_minor": 1000, "stock": 10, "status": "active"}),
    )
    .await?;
    let (_, alice) = customer(&app, "alice").await?;
    let (_, bob) = customer(&app, "bob").await?;

    // Bob's paid intent, presented by Alice for her cart.
    let (_bob_cart, bob_pi) = paid_cart(&app, &bob, &item, 1).await?;
    let alice_cart = new_cart(&app, &alice).await?;
    add(&app, &alice, &alice_cart, &item, 1).await?;
    let (st, _) = intent(&app, &alice, &alice_cart).await?;
    assert_eq!(st, 201);
    let (st, v) = complete(&app, &alice, &alice_cart, Some(&bob_pi)).await?;
    assert_eq!(
        (st, v["code"].as_str()),
        (422, Some("payment_intent_not_owned")),
        "{v}"
    );

    // Alice's intent of another cart of hers.
    let (other_cart, other_pi) = paid_cart(&app, &alice, &item, 1).await?;
    let (st, v) = complete(&app, &alice, &alice_cart, Some(&other_pi)).await?;
    assert_eq!(
        (st, v["code"].as_str()),
        (422, Some("payment_intent_not_owned")),
        "{v}"
    );

    // Completion before the payment succeeded.
    let (st, v) = complete(&app, &alice, &alice_cart, None).await?;
    assert_eq!(
        (st, v["code"].as_str()),
        (409, Some("payment_not_succeeded")),
        "{v}"
    );

    // Amount tampering: a paid cart no longer changes; one changed anyway (as a
    // change racing the payment would) does not complete, and the payment goes back.
    let (st, v) = add(&app, &alice, &other_cart, &item, 1).await?;
    assert_eq!(
        (st, v["code"].as_str()),
        (409, Some("cart_payment_in_progress")),
        "{v}"
    );
    exec(
        app.db(),
        &format!("UPDATE cart_lines SET quantity = 2 WHERE cart_id = '{other_cart}'"),
    )
    .await?;
    let (st, v) = complete(&app, &alice, &other_cart, Some(&other_pi)).await?;
    assert_eq!(
        (st, v["code"].as_str()),
        (422, Some("payment_amount_mismatch")),
        "{v}"
    );

    // Currency swap: same total, other currency.
    let (swap_cart, swap_pi) = paid_cart(&app, &alice, &item, 1).await?;
    let (st, v) = api(
        &app,
        Method::DELETE,
        &format!("/v1/carts/{swap_cart}/line-items/{item}"),
        Some(&alice),
        None,
    )
    .await?;
    assert_eq!(st, 409, "{v}");
    exec(
        app.db(),
        &format!(
            "UPDATE cart_lines SET item_id = '{usd_item}', currency = 'USD' WHERE cart_id = '{swap_cart}'"
        ),
    )
    .await?;
    let (st, v) = complete(&app, &alice, &swap_cart, Some(&swap_pi)).await?;
    assert_eq!(
        (st, v["code"].as_str()),
        (422, Some("payment_currency_mismatch")),
        "{v}"
    );

    // Another customer's cart: 404 whatever they try.
    let (st, _) = complete(&app, &bob, &alice_cart, None).await?;
    assert_eq!(st, 404);
    let (st, _) = intent(&app, &bob, &alice_cart).await?;
    assert_eq!(st, 404);
    let (st, _) = api(
        &app,
        Method::GET,
        &format!("/v1/carts/{alice_cart}"),
        Some(&bob),
        None,
    )
    .await?;
    assert_eq!(st, 404);
    let (st, _) = add(&app, &bob, &alice_cart, &item, 1).await?;
    assert_eq!(st, 404);
    // A completion without any intent.
    let empty = new_cart(&app, &alice).await?;
    add(&app, &alice, &empty, &item, 1).await?;
    let (st, v) = complete(&app, &alice, &empty, None).await?;
    assert_eq!(
        (st, v["code"].as_str()),
        (409, Some("payment_intent_missing")),
        "{v}"
    );

    // Nothing happened.
    assert_eq!(rows(&app, "orders").await?, 0);
    assert_eq!(rows(&app, "escrow_transactions").await?, 0);
    assert_eq!(stock(&app, &item).await?, "10");
    Ok(())
}

/// Declines and the 3-D Secure-like step: a declined card is 402 and the intent
/// waits for another method; `requires_action` does not complete until the
/// customer authenticates.
async fn declines_and_3ds(app: TestApp) -> Result<()> {
    let (_, _, item) = shop(&app, "secure", 500, 3).await?;
    let (_, alice) = customer(&app, "alice").await?;
    let cart = new_cart(&app, &alice).await?;
    add(&app, &alice, &cart, &item, 1).await?;
    let (_, i) = intent(&app, &alice, &cart).await?;
    let pi = i["id"].as_str().unwrap_or_default().to_owned();
    let (st, v) = confirm(&app, &pi, "tok_decline").await?;
    assert_eq!(
        (st, v["code"].as_str()),
        (402, Some("payment_declined")),
        "{v}"
    );
    let (st, v) = confirm(&app, &pi, "4242424242424242").await?;
    assert_eq!(
        (st, v["code"].as_str()),
        (422, Some("payment_provider_refused")),
        "{v}"
    );
    let (st, v) = confirm(&app, &pi, "tok_3ds").await?;
    assert_eq!(
        (st, v["status"].as_str()),
        (200, Some("requires_action")),
        "{v}"
    );
    let (st, v) = complete(&app, &alice, &cart, None).await?;
    assert_eq!(
        (st, v["code"].as_str()),
        (409, Some("payment_not_succeeded")),
        "{v}"
    );
    // Without the client secret the intent does not exist for the caller.
    let (st, _) = api(
        &app,
        Method::POST,
        &format!("/v1/sandbox/payment-intents/{pi}/authenticate"),
        None,
        Some(json!({"success": true, "client_secret": "guess"})),
    )
    .await?;
    assert_eq!(st, 404);
    let secret = client_secret(&app, &pi).await?;
    let (st, _) = api(
        &app,
        Method::POST,
        &format!("/v1/sandbox/payment-intents/{pi}/authenticate"),
        None,
        Some(json!({"success": true, "client_secret": secret})),
    )
    .await?;
    assert_eq!(st, 200);
    let (st, o) = complete(&app, &alice, &cart, None).await?;
    assert_eq!(st, 201, "{o}");
    assert_eq!(rows(&app, "orders").await?, 1);
    Ok(())
}

/// C1: staff holding refund (with TOTP) refund an order line in part and then in
/// full through the provider and the ledger (escrow cancelled, stock back, each
/// refund audited once); a customer cannot; over-refunds are refused unchanged.
async fn staff_refunds(app: TestApp) -> Result<()> {
    let (_, _, item) = shop(&app, "refundshop", 700, 4).await?;
    let (_, alice) = customer(&app, "alice").await?;
    let (_, staff, _) = crate::trust::with_totp(&app, "refunder", Role::Staff).await?;
    let (cart, _) = paid_cart(&app, &alice, &item, 2).await?;
    let (_, o) = complete(&app, &alice, &cart, None).await?;
    let order = o["id"].as_str().unwrap_or_default().to_owned();
    assert_eq!(stock(&app, &item).await?, "2");
    let path = format!("/v1/orders/{order}/refunds");
    let (st, _) = api(&app, Method::POST, &path, Some(&alice), Some(json!({}))).await?;
    assert_eq!(st, 404);
    // Staff without TOTP cannot read the order, so its refund is 404 too (not 403:
    // that would tell an existing order from a missing one); nothing refunded.
    let (_, no_totp) = crate::market::bearer(&app, "nototp", Role::Staff).await?;
    let (st, v) = api(
        &app,
        Method::GET,
        &format!("/v1/orders/{order}"),
        Some(&no_totp),
        None,
    )
    .await?;
    assert_eq!(st, 404, "{v}");
    let (st, v) = api(&app, Method::POST, &path, Some(&no_totp), Some(json!({}))).await?;
    assert_eq!(st, 404, "{v}");
    let missing = format!("/v1/orders/{}/refunds", uuid::Uuid::now_v7());
    let (st, v) = api(
        &app,
        Method::POST,
        &missing,
        Some(&no_totp),
        Some(json!({})),
    )
    .await?;
    assert_eq!(st, 404, "{v}");
    assert_eq!(rows(&app, "order_refunds").await?, 0);
    let (st, v) = api(
        &app,
        Method::POST,
        &path,
        Some(&staff),
        Some(json!({"amount_minor": 5000})),
    )
    .await?;
    assert_eq!(
        (st, v["code"].as_str()),
        (422, Some("refund_amount_invalid")),
        "{v}"
    );
    // A partial refund of a funded line: 100 of 1 400 goes back, the line stays
    // funded (nothing shipped), no stock moves.
    let (st, v) = api(
        &app,
        Method::POST,
        &path,
        Some(&staff),
        Some(json!({"amount_minor": 100})),
    )
    .await?;
    assert_eq!(st, 201, "{v}");
    assert_eq!(v["status"], "partially_refunded");
    assert_eq!(v["refunded"], json!({"minor": 100, "currency": "EUR"}));
    assert_eq!(v["items"][0]["escrow_state"], "funded");
    assert_eq!(stock(&app, &item).await?, "2");
    assert_eq!(rows(&app, "order_refunds").await?, 1);
    // The rest (1 300) in full: the line is cancelled and its stock returned.
    let (st, v) = api(&app, Method::POST, &path, Some(&staff), Some(json!({}))).await?;
    assert_eq!(st, 201, "{v}");
    assert_eq!(v["status"], "refunded");
    assert_eq!(v["refunded"], json!({"minor": 1400, "currency": "EUR"}));
    assert_eq!(v["items"][0]["escrow_state"], "cancelled");
    assert_eq!(stock(&app, &item).await?, "4");
    assert_eq!(audit_count(&app, "refund", &order).await?, 2);
    // Again: the transaction is cancelled; nothing more happens.
    let (st, v) = api(&app, Method::POST, &path, Some(&staff), Some(json!({}))).await?;
    assert_eq!(st, 409, "{v}");
    assert_eq!(rows(&app, "order_refunds").await?, 2);
    Ok(())
}

/// E4: the rules are configuration evaluated by one engine; each violation has its
/// code, checked when the intent is asked for (nothing is created at the provider).
async fn business_rules_refuse_with_their_codes(app: TestApp) -> Result<()> {
    let (owner, store, item) = shop(&app, "rulesshop", 300, 50).await?;
    // The seller sets the rule inputs as a seller does: through the API.
    let set = |path: String, body: Value| {
        let app = &app;
        let owner = owner.clone();
        async move {
            let (st, v) = api(app, Method::PATCH, &path, Some(&owner), Some(body)).await?;
            assert_eq!(st, 200, "{v}");
            anyhow::Ok(())
        }
    };
    let (_, alice) = customer(&app, "alice").await?;
    let cart = new_cart(&app, &alice).await?;
    add(&app, &alice, &cart, &item, 1).await?;
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
    // Below the configured minimum (EUR 5.00).
    expect("order_below_minimum").await?;
    add(&app, &alice, &cart, &item, 2).await?;
    // A business customer without a company name or a valid VAT ID.
    let (st, _) = api(
        &app,
        Method::POST,
        &format!("/v1/carts/{cart}/addresses"),
        Some(&alice),
        Some(json!({"customer_type": "business", "vat_id": "X1"})),
    )
    .await?;
    assert_eq!(st, 200);
    let v = expect("company_name_required").await?;
    let codes: Vec<&str> = v["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["code"].as_str())
        .collect();
    assert_eq!(
        codes,
        vec!["company_name_required", "vat_id_invalid"],
        "{v}"
    );
    api(
        &app,
        Method::POST,
        &format!("/v1/carts/{cart}/addresses"),
        Some(&alice),
        Some(json!({"company_name": "Acme OÜ", "vat_id": "EE123456789"})),
    )
    .await?;
    // A store's own minimum (store settings).
    set(
        format!("/v1/stores/{store}"),
        json!({"min_order_minor": 100000}),
    )
    .await?;
    expect("store_order_below_minimum").await?;
    set(
        format!("/v1/stores/{store}"),
        json!({"min_order_minor": null}),
    )
    .await?;
    // Physical goods: an address and a method that serves the country.
    set(format!("/v1/items/{item}"), json!({"weight_grams": 500})).await?;
    expect("shipping_address_required").await?;
    let addr = json!({"name": "Alice", "line1": "Pikk 1", "postal_code": "10123", "city": "Tallinn", "country": "US"});
    api(
        &app,
        Method::POST,
        &format!("/v1/carts/{cart}/addresses"),
        Some(&alice),
        Some(json!({"shipping_address": addr})),
    )
    .await?;
    expect("shipping_method_required").await?;
    let (st, v) = api(
        &app,
        Method::POST,
        &format!("/v1/carts/{cart}/shipping-method"),
        Some(&alice),
        Some(json!({"code": "teleport"})),
    )
    .await?;
    assert_eq!(
        (st, v["code"].as_str()),
        (422, Some("shipping_method_unknown")),
        "{v}"
    );
    // A method that does not serve the country is refused when chosen.
    let (st, v) = api(
        &app,
        Method::POST,
        &format!("/v1/carts/{cart}/shipping-method"),
        Some(&alice),
        Some(json!({"code": "parcel"})),
    )
    .await?;
    assert_eq!(
        (st, v["code"].as_str()),
        (422, Some("shipping_method_unavailable")),
        "{v}"
    );
    expect("shipping_method_required").await?;
    let addr = json!({"name": "Alice", "line1": "Pikk 1", "postal_code": "10123", "city": "Tallinn", "country": "EE"});
    api(
        &app,
        Method::POST,
        &format!("/v1/carts/{cart}/addresses"),
        Some(&alice),
        Some(json!({"shipping_address": addr})),
    )
    .await?;
    let (st, v) = api(
        &app,
        Method::POST,
        &format!("/v1/carts/{cart}/shipping-method"),
        Some(&alice),
        Some(json!({"code": "parcel"})),
    )
    .await?;
    assert_eq!(st, 200, "{v}");
    // Subscription-only items need an eligible customer (business is not, here).
    set(
        format!("/v1/items/{item}"),
        json!({"subscription_only": true}),
    )
    .await?;
    expect("subscription_not_eligible").await?;
    set(
        format!("/v1/items/{item}"),
        json!({"subscription_only": false}),
    )
    .await?;
    assert_eq!(rows(&app, "payment_intents").await?, 0);
    // All satisfied: the intent is made.
    app.clock.advance_secs(21);
    let (st, v) = intent(&app, &alice, &cart).await?;
    assert_eq!(st, 201, "{v}");
    Ok(())
}

async fn rules_app(engine: rampart_test_support::Engine) -> Result<Option<TestApp>> {
    TestApp::builder(engine)
        .config(|c| {
            c.checkout.rules = serde_json::from_value(json!({
                "order_limits": [{"currency": "EUR", "min_minor": 500, "max_minor": 1000000}],
                "shipping_methods": [{"code": "parcel", "countries": ["EE", "FI"], "max_weight_grams": 30000}],
                "subscription": {"customer_types": ["consumer"]}
            }))
            .expect("rules");
        })
        .spawn()
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn business_rules_sqlite() -> Result<()> {
    let app = rules_app(rampart_test_support::Engine::Sqlite)
        .await?
        .expect("sqlite");
    business_rules_refuse_with_their_codes(app).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn business_rules_postgres() -> Result<()> {
    match rules_app(rampart_test_support::Engine::Postgres).await? {
        Some(app) => business_rules_refuse_with_their_codes(app).await,
        None => Ok(()),
    }
}

both_engines!(
    checkout_completes_once_and_funds_escrow,
    hostile_completions_are_refused,
    declines_and_3ds,
    staff_refunds,
);
