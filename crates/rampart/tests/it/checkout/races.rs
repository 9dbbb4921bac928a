//! Completion exactly once under concurrency (E5): twenty completions of one cart,
//! fifty buyers for the last five units. Run on PostgreSQL too (`both_engines!`).

use super::*;
use rampart_test_support::{both_engines, text_value};

/// Twenty concurrent completions of one paid cart, mixed with the provider's
/// webhook: one order, one stock decrement, one funding per escrow transaction.
async fn twenty_completions_make_one_order(app: TestApp) -> Result<()> {
    let (_, _, item) = shop(&app, "racecart", 1500, 10).await?;
    let (_, alice) = customer(&app, "alice").await?;
    let (cart, pi) = paid_cart(&app, &alice, &item, 2).await?;
    let events = take_events(&app);
    let succeeded = events
        .iter()
        .find(|e| e.kind == "payment_intent.succeeded")
        .cloned()
        .expect("a succeeded event");
    let secret =
        rampart_checkout::webhook::WebhookSecret::parse(rampart::config::TEST_WEBHOOK_SECRET)?;
    let mut tasks = Vec::new();
    for n in 0..20 {
        let (url, token, cart, pi) = (app.url.clone(), alice.clone(), cart.clone(), pi.clone());
        tasks.push(tokio::spawn(async move {
            let r = reqwest::Client::new()
                .post(format!("{url}/v1/carts/{cart}/complete"))
                .bearer_auth(token)
                .json(&json!({"payment_intent_id": pi}))
                .send()
                .await?;
            let st = r.status().as_u16();
            let v: Value = r.json().await?;
            anyhow::Ok((n, st, v["id"].as_str().unwrap_or_default().to_owned()))
        }));
    }
    // The webhook races them, three times.
    use rampart_kernel::Clock;
    for _ in 0..3 {
        let d = succeeded.signed(&secret, app.clock.now_secs());
        let (st, v) = deliver(&app, d.body, &d.signature).await?;
        assert_eq!(st, 200, "{v}");
    }
    let mut created = 0;
    let mut ids = std::collections::BTreeSet::new();
    for t in tasks {
        let (n, st, id) = t.await??;
        assert!(st == 201 || st == 200, "completion {n}: {st}");
        if st == 201 {
            created += 1;
        }
        ids.insert(id);
    }
    assert!(
        created <= 1,
        "{created} completions claimed to create the order"
    );
    assert_eq!(ids.len(), 1, "every completion answers the same order");
    assert_eq!(rows(&app, "orders").await?, 1);
    assert_eq!(rows(&app, "escrow_transactions").await?, 1);
    assert_eq!(rows(&app, "ledger_entries WHERE event = 'fund'").await?, 1);
    let stock = text_value(
        app.db(),
        "SELECT CAST(stock AS TEXT) FROM items WHERE id = $1",
        &item,
    )
    .await?;
    assert_eq!(stock.as_deref(), Some("8"));
    assert_eq!(
        rows(&app, "audit_log WHERE action_type = 'order_create'").await?,
        1
    );
    assert_eq!(
        rows(&app, "webhook_inbox").await?,
        1,
        "the three deliveries are one event"
    );
    Ok(())
}

/// Fifty buyers, each with a paid cart for one unit, race for the last five: exactly
/// five orders, stock zero (never below), and the other forty-five are refused with
/// `out_of_stock` and refunded in full at the provider.
async fn fifty_buyers_five_units(app: TestApp) -> Result<()> {
    let (_, _, item) = shop(&app, "lastfive", 2000, 50).await?;
    let mut buyers = Vec::new();
    for n in 0..50 {
        let (_, token) = customer(&app, &format!("buyer{n}")).await?;
        let (cart, pi) = paid_cart(&app, &token, &item, 1).await?;
        buyers.push((token, cart, pi));
    }
    // Only five left by the time they check out.
    rampart_test_support::exec(
        app.db(),
        &format!("UPDATE items SET stock = 5 WHERE id = '{item}'"),
    )
    .await?;
    let mut tasks = Vec::new();
    for (token, cart, _) in buyers.clone() {
        let url = app.url.clone();
        tasks.push(tokio::spawn(async move {
            let r = reqwest::Client::new()
                .post(format!("{url}/v1/carts/{cart}/complete"))
                .bearer_auth(token)
                .send()
                .await?;
            let st = r.status().as_u16();
            let v: Value = r.json().await?;
            anyhow::Ok((st, v["code"].as_str().unwrap_or_default().to_owned()))
        }));
    }
    let (mut ok, mut sold_out) = (0, 0);
    for t in tasks {
        match t.await?? {
            (201, _) => ok += 1,
            (409, code) if code == "out_of_stock" => sold_out += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((ok, sold_out), (5, 45));
    assert_eq!(rows(&app, "orders").await?, 5);
    assert_eq!(
        rows(&app, "escrow_transactions WHERE state = 'funded'").await?,
        5
    );
    let stock = text_value(
        app.db(),
        "SELECT CAST(stock AS TEXT) FROM items WHERE id = $1",
        &item,
    )
    .await?;
    assert_eq!(stock.as_deref(), Some("0"));
    assert_eq!(
        rows(&app, "payment_intents WHERE status = 'refunded'").await?,
        45
    );
    // A refunded checkout never completes later, even with stock back: its intent
    // answers `payment_refunded`.
    rampart_test_support::exec(
        app.db(),
        &format!("UPDATE items SET stock = 5 WHERE id = '{item}'"),
    )
    .await?;
    let mut refused = 0;
    for (token, cart, _) in &buyers {
        let (st, v) = complete(&app, token, cart, None).await?;
        match st {
            200 => {}
            409 => {
                assert_eq!(v["code"], "payment_refunded", "{v}");
                refused += 1;
            }
            other => panic!("{other}: {v}"),
        }
    }
    assert_eq!(refused, 45);
    assert_eq!(rows(&app, "orders").await?, 5);
    Ok(())
}

/// The per-user checkout limit (10 a minute) would refuse most of one user's twenty
/// concurrent completions; this test is about exactly-once, so it is raised.
async fn race_app(engine: rampart_test_support::Engine) -> Result<Option<TestApp>> {
    TestApp::builder(engine)
        .config(|c| {
            c.rate_limits.insert(
                "checkout".into(),
                rampart::config::LimitOverride {
                    limit: 1000,
                    window_secs: 60,
                },
            );
        })
        .spawn()
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_completions_sqlite() -> Result<()> {
    let app = race_app(rampart_test_support::Engine::Sqlite)
        .await?
        .expect("sqlite");
    twenty_completions_make_one_order(app).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_completions_postgres() -> Result<()> {
    match race_app(rampart_test_support::Engine::Postgres).await? {
        Some(app) => twenty_completions_make_one_order(app).await,
        None => Ok(()),
    }
}

both_engines!(fifty_buyers_five_units);
