//! One escrow transaction per store holding that store's lines (issue 10 §1), and
//! staff refunds (C1) in full and in part anywhere after funding, through the
//! provider and the ledger — with the refusals a hostile or careless caller meets,
//! each followed by proof that nothing moved, and a clean reconciliation.

use super::*;
use crate::market::{add_item, audit_count};
use rampart_test_support::{both_engines, text_value};

async fn stock(app: &TestApp, item: &str) -> Result<i64> {
    let v = text_value(
        app.db(),
        "SELECT CAST(stock AS TEXT) FROM items WHERE id = $1",
        item,
    )
    .await?
    .unwrap_or_default();
    Ok(v.parse()?)
}

async fn reconciles(app: &TestApp) -> Result<()> {
    let r = rampart_ledger::reconcile(app.db()).await?;
    assert!(r.is_clean(), "{:?}", r.anomalies);
    Ok(())
}

/// The buyer's view of an escrow transaction.
async fn txn(app: &TestApp, token: &str, id: &str) -> Result<Value> {
    let (st, v) = api(
        app,
        Method::GET,
        &format!("/v1/transactions/{id}"),
        Some(token),
        None,
    )
    .await?;
    assert_eq!(st, 200, "{v}");
    Ok(v)
}

struct Bought {
    owner: String,
    buyer: String,
    order: String,
    /// Store A's transaction (two items), store B's (one item).
    a: String,
    b: String,
    lamp: String,
    shade: String,
    mug: String,
}

/// Store A sells a lamp (2 × 1 000) and a shade (1 × 500), store B a mug
/// (3 × 200): one order, two escrow transactions.
async fn bought(app: &TestApp) -> Result<Bought> {
    let (owner, store_a, lamp) = shop(app, "lampshop", 1_000, 5).await?;
    let shade = add_item(
        app,
        &owner,
        &store_a,
        json!({"title": "Shade", "price_minor": 500, "stock": 5, "status": "active"}),
    )
    .await?;
    let (_, _, mug) = shop(app, "mugshop", 200, 10).await?;
    let (_, buyer) = customer(app, "alice").await?;
    let cart = new_cart(app, &buyer).await?;
    for (item, q) in [(&lamp, 2), (&mug, 3), (&shade, 1)] {
        let (st, v) = add(app, &buyer, &cart, item, q).await?;
        assert_eq!(st, 200, "{v}");
    }
    let (st, i) = intent(app, &buyer, &cart).await?;
    assert_eq!(st, 201, "{i}");
    let pi = i["id"].as_str().unwrap_or_default().to_owned();
    let (st, _) = confirm(app, &pi, "tok_visa").await?;
    assert_eq!(st, 200);
    let (st, o) = complete(app, &buyer, &cart, None).await?;
    assert_eq!(st, 201, "{o}");
    let txn_of = |item: &str| {
        o["items"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|l| l["item_id"] == item)
            .and_then(|l| l["transaction_id"].as_str())
            .unwrap_or_default()
            .to_owned()
    };
    let (a, b) = (txn_of(&lamp), txn_of(&mug));
    assert_eq!(txn_of(&shade), a, "one store, one transaction: {o}");
    assert_ne!(a, b);
    Ok(Bought {
        owner,
        buyer,
        order: o["id"].as_str().unwrap_or_default().to_owned(),
        a,
        b,
        lamp,
        shade,
        mug,
    })
}

/// A cart of three items from two stores: two escrow transactions, each funded
/// with its store's lines; the amounts add up to the order; the ledger reconciles.
async fn one_escrow_transaction_per_store(app: TestApp) -> Result<()> {
    let b = bought(&app).await?;
    assert_eq!(rows(&app, "escrow_transactions").await?, 2);
    assert_eq!(
        rows(&app, "escrow_transactions WHERE state = 'funded'").await?,
        2
    );
    assert_eq!(rows(&app, "ledger_entries WHERE event = 'fund'").await?, 2);
    let a = txn(&app, &b.buyer, &b.a).await?;
    assert_eq!(a["amount"], json!({"minor": 2500, "currency": "EUR"}));
    let lines: Vec<(String, i64, i64)> = a["lines"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|l| {
            (
                l["item_id"].as_str().unwrap_or_default().to_owned(),
                l["quantity"].as_i64().unwrap_or_default(),
                l["unit_price"]["minor"].as_i64().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        lines,
        vec![(b.lamp.clone(), 2, 1_000), (b.shade.clone(), 1, 500)]
    );
    let m = txn(&app, &b.buyer, &b.b).await?;
    assert_eq!(m["amount"], json!({"minor": 600, "currency": "EUR"}));
    assert_eq!(m["lines"].as_array().map(Vec::len), Some(1));
    // The buyer's purchases list the two transactions with their line counts.
    let (_, list) = api(&app, Method::GET, "/v1/transactions", Some(&b.buyer), None).await?;
    let mut counts: Vec<i64> = list["transactions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["line_count"].as_i64())
        .collect();
    counts.sort_unstable();
    assert_eq!(counts, vec![1, 2], "{list}");
    // The seller's view lists both items too.
    let seller = txn(&app, &b.owner, &b.a).await?;
    assert_eq!(seller["lines"].as_array().map(Vec::len), Some(2));
    reconciles(&app).await
}

/// Partial refunds of a funded and then a shipped transaction, then the rest in
/// full: the provider refunds each once, the escrow holds less each time, the
/// seller is never paid what went back; over-refunds, a disputed and a settled
/// transaction are refused with nothing changed.
async fn partial_refunds_anywhere_after_funding(app: TestApp) -> Result<()> {
    let b = bought(&app).await?;
    let (_, staff, _) = crate::trust::with_totp(&app, "refunder", Role::Staff).await?;
    let path = format!("/v1/orders/{}/refunds", b.order);
    let refund = |body: Value| {
        let (app, staff, path) = (&app, staff.clone(), path.clone());
        async move { api(app, Method::POST, &path, Some(&staff), Some(body)).await }
    };
    // Two transactions: which one must be said.
    let (st, v) = refund(json!({"amount_minor": 100})).await?;
    assert_eq!(st, 422, "{v}");
    // 300 of store A's 2 500 while funded.
    let (st, v) = refund(json!({"transaction_id": b.a, "amount_minor": 300})).await?;
    assert_eq!(st, 201, "{v}");
    assert_eq!(v["status"], "partially_refunded");
    assert_eq!(v["refunded"]["minor"], 300);
    let a = txn(&app, &b.buyer, &b.a).await?;
    assert_eq!(
        (a["state"].as_str(), a["refunded"]["minor"].as_i64()),
        (Some("funded"), Some(300))
    );
    assert_eq!(
        stock(&app, &b.lamp).await?,
        3,
        "a partial refund moves no stock"
    );
    // The seller ships; 200 more after shipping.
    let (st, v) = api(
        &app,
        Method::POST,
        &format!("/v1/transactions/{}/ship", b.a),
        Some(&b.owner),
        None,
    )
    .await?;
    assert_eq!(st, 200, "{v}");
    let (st, v) = refund(json!({"transaction_id": b.a, "amount_minor": 200})).await?;
    assert_eq!(st, 201, "{v}");
    assert_eq!(v["refunded"]["minor"], 500);
    // More than is held (2 000 left), zero, negative: refused, nothing moves.
    let postings = rows(&app, "ledger_postings").await?;
    for amount in [2_001, 0, -1] {
        let (st, v) = refund(json!({"transaction_id": b.a, "amount_minor": amount})).await?;
        assert_eq!(
            (st, v["code"].as_str()),
            (422, Some("refund_amount_invalid")),
            "{amount}: {v}"
        );
    }
    assert_eq!(rows(&app, "ledger_postings").await?, postings);
    assert_eq!(rows(&app, "order_refunds").await?, 2);
    // The rest of A in full after shipping: refunded, no stock back (goods are out).
    let (st, v) = refund(json!({"transaction_id": b.a})).await?;
    assert_eq!(st, 201, "{v}");
    assert_eq!(v["refunded"]["minor"], 2_500);
    let a = txn(&app, &b.buyer, &b.a).await?;
    assert_eq!(a["state"], "refunded");
    assert_eq!(stock(&app, &b.lamp).await?, 3);
    // A settled transaction: nothing left to refund.
    let (st, v) = refund(json!({"transaction_id": b.a, "amount_minor": 1})).await?;
    assert_eq!(
        (st, v["code"].as_str()),
        (409, Some("invalid_transition")),
        "{v}"
    );
    // Store B's transaction, disputed by the buyer: its dispute decides.
    let (st, v) = api(
        &app,
        Method::POST,
        &format!("/v1/transactions/{}/disputes", b.b),
        Some(&b.buyer),
        Some(json!({"reason": "Arrived broken"})),
    )
    .await?;
    assert_eq!(st, 201, "{v}");
    let (st, v) = refund(json!({"transaction_id": b.b, "amount_minor": 100})).await?;
    assert_eq!(
        (st, v["code"].as_str()),
        (409, Some("invalid_transition")),
        "{v}"
    );
    assert_eq!(rows(&app, "order_refunds").await?, 3);
    // Each refund: one provider refund row, one audit row on the order.
    assert_eq!(audit_count(&app, "refund", &b.order).await?, 3);
    let provider_refunds: i64 = rows(&app, "order_refunds WHERE provider_refund_id <> ''").await?;
    assert_eq!(provider_refunds, 3);
    // Nothing was paid out to store A; the buyer got 2 500 back.
    let (_, o) = api(
        &app,
        Method::GET,
        &format!("/v1/orders/{}", b.order),
        Some(&b.buyer),
        None,
    )
    .await?;
    assert_eq!(o["refunded"]["minor"], 2_500);
    assert_eq!(o["status"], "partially_refunded");
    reconciles(&app).await
}

/// A full refund of a funded multi-line transaction cancels it and returns every
/// line's stock; a partial then full refund never returns more than was paid.
async fn full_refund_returns_every_lines_stock(app: TestApp) -> Result<()> {
    let b = bought(&app).await?;
    let (_, staff, _) = crate::trust::with_totp(&app, "refunder", Role::Staff).await?;
    let path = format!("/v1/orders/{}/refunds", b.order);
    assert_eq!(
        (stock(&app, &b.lamp).await?, stock(&app, &b.shade).await?),
        (3, 4)
    );
    let (st, v) = api(
        &app,
        Method::POST,
        &path,
        Some(&staff),
        Some(json!({"transaction_id": b.a, "amount_minor": 2_499})),
    )
    .await?;
    assert_eq!(st, 201, "{v}");
    let (st, v) = api(
        &app,
        Method::POST,
        &path,
        Some(&staff),
        Some(json!({"transaction_id": b.a})),
    )
    .await?;
    assert_eq!(st, 201, "{v}");
    assert_eq!(v["refunded"]["minor"], 2_500);
    let a = txn(&app, &b.buyer, &b.a).await?;
    assert_eq!(a["state"], "cancelled");
    assert_eq!(
        (stock(&app, &b.lamp).await?, stock(&app, &b.shade).await?),
        (5, 5)
    );
    assert_eq!(
        stock(&app, &b.mug).await?,
        7,
        "the other store's line is untouched"
    );
    let (st, v) = api(
        &app,
        Method::POST,
        &path,
        Some(&staff),
        Some(json!({"transaction_id": b.b})),
    )
    .await?;
    assert_eq!(st, 201, "{v}");
    assert_eq!(v["status"], "refunded");
    assert_eq!(v["refunded"]["minor"], 3_100);
    assert_eq!(stock(&app, &b.mug).await?, 10);
    reconciles(&app).await
}

/// The intent refunds `minor` more at the provider only if that much is left.
async fn provider_refundable(app: &TestApp, order: &Value, minor: i64) -> Result<bool> {
    use rampart_checkout::payment::{IdempotencyKey, IntentId, PaymentProvider, ProviderError};
    let pi = order["payment_intent_id"].as_str().unwrap_or_default();
    let id = IntentId::parse(pi)?;
    let probe = IdempotencyKey::for_refund(&id, 9_999);
    let eur = rampart_kernel::Currency::parse("EUR")?;
    match sandbox(app)
        .refund(&id, rampart_kernel::Money::new(minor, eur), &probe)
        .await
    {
        Ok(_) => Ok(true),
        Err(ProviderError::NotRefundable) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

fn worker(app: &TestApp) -> rampart_worker::Worker {
    rampart_worker::Worker::new(
        app.db().clone(),
        app.state.market.ledger().clone(),
        std::sync::Arc::new(app.clock.clone()),
        std::sync::Arc::new(rampart_security::metrics::Metrics::new()),
        rampart_worker::WorkerConfig::default(),
    )
    .with_checkout(app.state.checkout.clone())
}

/// Money the ledger returns to a checkout buyer outside the order's refund route —
/// a dispute decided for the buyer, in full or in part — is refunded at the provider
/// by the worker exactly once (a second run, a second worker: nothing more), audited
/// on the order; a refund made by the route is not refunded twice.
async fn ledger_refunds_are_settled_at_the_provider(app: TestApp) -> Result<()> {
    let b = bought(&app).await?;
    let (_, staff, _) = crate::trust::with_totp(&app, "decider", Role::Staff).await?;
    // Staff refund 500 of store A's transaction through the order (provider at once).
    let (st, v) = api(
        &app,
        Method::POST,
        &format!("/v1/orders/{}/refunds", b.order),
        Some(&staff),
        Some(json!({"transaction_id": b.a, "amount_minor": 500})),
    )
    .await?;
    assert_eq!(st, 201, "{v}");
    // Store B's transaction: disputed by the buyer, decided for the buyer in part.
    let (st, d) = api(
        &app,
        Method::POST,
        &format!("/v1/transactions/{}/disputes", b.b),
        Some(&b.buyer),
        Some(json!({"reason": "Two of three arrived broken"})),
    )
    .await?;
    assert_eq!(st, 201, "{d}");
    let dispute = d["id"].as_str().unwrap_or_default().to_owned();
    let (st, v) = api(
        &app,
        Method::POST,
        &format!("/v1/disputes/{dispute}/resolve"),
        Some(&staff),
        Some(json!({"outcome": "partial", "refund_minor": 400})),
    )
    .await?;
    assert_eq!(st, 200, "{v}");
    let order_path = format!("/v1/orders/{}", b.order);
    let (_, o) = api(&app, Method::GET, &order_path, Some(&b.buyer), None).await?;
    assert_eq!(
        o["refunded"]["minor"], 500,
        "the dispute's refund is not settled yet"
    );
    let w = worker(&app);
    assert_eq!(w.tick().await.settled_refunds, 1);
    let (_, o) = api(&app, Method::GET, &order_path, Some(&b.buyer), None).await?;
    assert_eq!(o["refunded"]["minor"], 900, "{o}");
    // Store B's transaction: 400 back, the fee (2.5 %) only on the 200 released.
    let m = txn(&app, &b.buyer, &b.b).await?;
    assert_eq!(
        (m["refunded"]["minor"].as_i64(), m["fee"]["minor"].as_i64()),
        (Some(400), Some(5)),
        "{m}"
    );
    assert_eq!(o["status"], "partially_refunded");
    assert_eq!(rows(&app, "order_refunds").await?, 2);
    assert_eq!(
        rows(
            &app,
            "order_refunds WHERE actor_id IS NULL AND effect_key IS NOT NULL"
        )
        .await?,
        1
    );
    assert_eq!(audit_count(&app, "refund", &b.order).await?, 2);
    // Again, and from a second worker: nothing more.
    app.clock.advance_secs(60);
    assert_eq!(w.tick().await.settled_refunds, 0);
    assert_eq!(worker(&app).tick().await.settled_refunds, 0);
    assert_eq!(rows(&app, "order_refunds").await?, 2);
    // At the provider, exactly 900 of 3 100 went back: 2 201 more is refused.
    assert!(!provider_refundable(&app, &o, 2_201).await?);
    reconciles(&app).await
}

/// The seller cancels a paid store share before shipping: while the worker has
/// not carried it out, a staff refund is refused (409, nothing written); the worker
/// cancels it (every line's stock back) and refunds the buyer at the provider once.
async fn a_cancel_request_is_carried_out_and_settled(app: TestApp) -> Result<()> {
    let b = bought(&app).await?;
    let (_, staff, _) = crate::trust::with_totp(&app, "refunder", Role::Staff).await?;
    let (st, v) = api(
        &app,
        Method::POST,
        &format!("/v1/transactions/{}/cancel", b.a),
        Some(&b.owner),
        None,
    )
    .await?;
    assert!(st == 200 || st == 202, "{st} {v}");
    let (st, v) = api(
        &app,
        Method::POST,
        &format!("/v1/orders/{}/refunds", b.order),
        Some(&staff),
        Some(json!({"transaction_id": b.a, "amount_minor": 100})),
    )
    .await?;
    assert_eq!(
        (st, v["code"].as_str()),
        (409, Some("invalid_transition")),
        "{v}"
    );
    assert_eq!(rows(&app, "order_refunds").await?, 0);
    let r = worker(&app).tick().await;
    assert_eq!((r.executed, r.settled_refunds), (1, 1), "{r:?}");
    assert_eq!(
        (stock(&app, &b.lamp).await?, stock(&app, &b.shade).await?),
        (5, 5)
    );
    let (_, o) = api(
        &app,
        Method::GET,
        &format!("/v1/orders/{}", b.order),
        Some(&b.buyer),
        None,
    )
    .await?;
    assert_eq!(o["refunded"]["minor"], 2_500, "{o}");
    let a = txn(&app, &b.buyer, &b.a).await?;
    assert_eq!(a["state"], "cancelled");
    // The transaction tells the same: all of it back, no fee.
    assert_eq!(
        (a["refunded"]["minor"].as_i64(), a["fee"]["minor"].as_i64()),
        (Some(2_500), Some(0)),
        "{a}"
    );
    reconciles(&app).await
}

/// A refund is decided before it is paid: when the provider makes it but its answer
/// is lost (a timeout after the fact), or the provider is down, the route answers
/// 202 with the refund `pending` — the order already counts it, the ledger moved — and
/// the worker pays it later under the same key and amount: at the provider exactly
/// what was decided, once; a later refund of the same order gets its own number.
async fn a_refund_whose_provider_call_fails_is_paid_once_later(app: TestApp) -> Result<()> {
    let b = bought(&app).await?;
    let (_, staff, _) = crate::trust::with_totp(&app, "refunder", Role::Staff).await?;
    let path = format!("/v1/orders/{}/refunds", b.order);
    let order_path = format!("/v1/orders/{}", b.order);
    // 1. Made at the provider, answer lost.
    sandbox(&app).lose_refund_answers(1);
    let (st, v) = api(
        &app,
        Method::POST,
        &path,
        Some(&staff),
        Some(json!({"transaction_id": b.a, "amount_minor": 500})),
    )
    .await?;
    assert_eq!(st, 202, "{v}");
    assert_eq!(v["refunded"]["minor"], 500);
    assert_eq!(v["refunds"][0]["status"], "pending", "{v}");
    assert_eq!(
        v["refunds"][0]["last_error"],
        "payment_provider_unavailable"
    );
    // 2. Provider down: the next refund is decided, not paid.
    sandbox(&app).set_refund_outage(true);
    let (st, v) = api(
        &app,
        Method::POST,
        &path,
        Some(&staff),
        Some(json!({"transaction_id": b.b, "amount_minor": 100})),
    )
    .await?;
    assert_eq!(st, 202, "{v}");
    assert_eq!(v["refunded"]["minor"], 600);
    // The worker cannot pay while the outage lasts; nothing is lost or doubled.
    app.clock.advance_secs(120);
    let w = worker(&app);
    w.tick().await;
    let (_, o) = api(&app, Method::GET, &order_path, Some(&b.buyer), None).await?;
    let statuses: Vec<&str> = o["refunds"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["status"].as_str())
        .collect();
    assert_eq!(statuses, vec!["pending", "pending"], "{o}");
    // 3. Back up: the worker pays both, the first under its original key (the
    // provider answers the refund it already made).
    sandbox(&app).set_refund_outage(false);
    app.clock.advance_secs(120);
    w.tick().await;
    let (_, o) = api(&app, Method::GET, &order_path, Some(&b.buyer), None).await?;
    let statuses: Vec<&str> = o["refunds"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["status"].as_str())
        .collect();
    assert_eq!(statuses, vec!["succeeded", "succeeded"], "{o}");
    assert_eq!(o["refunded"]["minor"], 600);
    // At the provider exactly 600 of 3 100 went back: 2 501 more is refused, 2 500 is not.
    assert!(!provider_refundable(&app, &o, 2_501).await?);
    // Another run pays nothing more.
    app.clock.advance_secs(120);
    w.tick().await;
    assert!(!provider_refundable(&app, &o, 2_501).await?);
    reconciles(&app).await
}

both_engines!(
    a_refund_whose_provider_call_fails_is_paid_once_later,
    a_cancel_request_is_carried_out_and_settled,
    ledger_refunds_are_settled_at_the_provider,
    one_escrow_transaction_per_store,
    partial_refunds_anywhere_after_funding,
    full_refund_returns_every_lines_stock,
);
