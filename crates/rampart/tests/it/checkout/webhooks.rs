//! Webhooks (E3): signatures on the raw body with the injected clock, rotation,
//! the inbox's dedupe, ordering, completion by webhook alone, and the sandbox's own
//! deliveries over real HTTP (late, duplicated, out of order).

use super::*;
use rampart_checkout::payment::sandbox::DeliveryPlan;
use rampart_checkout::webhook::{sign, WebhookSecret};
use rampart_kernel::Clock;
use rampart_test_support::{both_engines, exec, text_value, Engine};

fn primary() -> WebhookSecret {
    WebhookSecret::parse(rampart::config::TEST_WEBHOOK_SECRET).expect("secret")
}

async fn intent_status(app: &TestApp, pi: &str) -> Result<String> {
    Ok(text_value(
        app.db(),
        "SELECT status FROM payment_intents WHERE provider_intent_id = $1",
        pi,
    )
    .await?
    .unwrap_or_default())
}

fn failures(app: &TestApp, code: &str) -> bool {
    app.state.metrics.render().lines().any(|l| {
        l.starts_with("rampart_webhook_signature_failures_total")
            && l.contains(&format!("code=\"{code}\""))
    })
}

/// Forged, stale, future and malformed deliveries are 400 with their code, a
/// security event and a metric, and change nothing; a correctly signed
/// `payment_intent.succeeded` alone completes the order; its duplicates are
/// acknowledged and ignored; a late older event never moves the state back.
async fn webhook_signatures_dedupe_and_ordering(app: TestApp) -> Result<()> {
    let (_, _, item) = shop(&app, "hookshop", 800, 5).await?;
    let (_, alice) = customer(&app, "alice").await?;
    let (cart, pi) = paid_cart(&app, &alice, &item, 1).await?;
    let events = take_events(&app);
    let kinds: Vec<&str> = events.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        vec!["payment_intent.created", "payment_intent.succeeded"]
    );
    let created = events[0].clone();
    let succeeded = events[1].clone();
    let now = app.clock.now_secs();

    // Forged: signed with another secret.
    let forged = WebhookSecret::parse("whsec_attacker_guess_000")?;
    let d = succeeded.signed(&forged, now);
    let (st, v) = deliver(&app, d.body, &d.signature).await?;
    assert_eq!(
        (st, v["code"].as_str()),
        (400, Some("webhook_signature_invalid")),
        "{v}"
    );
    assert!(failures(&app, "webhook_signature_invalid"));
    // The body changed after signing.
    let d = succeeded.signed(&primary(), now);
    let mut body = d.body.clone();
    body.push(b' ');
    let (st, _) = deliver(&app, body, &d.signature).await?;
    assert_eq!(st, 400);
    // Stale (6 minutes old) and from the future.
    for t in [now - 360, now + 360] {
        let d = succeeded.signed(&primary(), t);
        let (st, v) = deliver(&app, d.body, &d.signature).await?;
        assert_eq!(
            (st, v["code"].as_str()),
            (400, Some("webhook_timestamp_out_of_tolerance")),
            "{v}"
        );
    }
    assert!(failures(&app, "webhook_timestamp_out_of_tolerance"));
    let (st, v) = deliver(&app, succeeded.body(), "garbage").await?;
    assert_eq!(
        (st, v["code"].as_str()),
        (400, Some("webhook_signature_malformed")),
        "{v}"
    );
    let body = b"{\"not\":\"an event\"}".to_vec();
    let sig = sign(&primary(), now, &body);
    let (st, v) = deliver(&app, body, &sig).await?;
    assert_eq!(
        (st, v["code"].as_str()),
        (400, Some("webhook_event_malformed")),
        "{v}"
    );
    assert_eq!(rows(&app, "webhook_inbox").await?, 0);
    assert_eq!(rows(&app, "orders").await?, 0);
    // Inside the tolerance (4 minutes late) it is accepted: the webhook alone
    // completes the order.
    let d = succeeded.signed(&primary(), now - 240);
    let (st, v) = deliver(&app, d.body, &d.signature).await?;
    assert_eq!((st, v["duplicate"].as_bool()), (200, Some(false)), "{v}");
    assert_eq!(rows(&app, "orders").await?, 1);
    assert_eq!(intent_status(&app, &pi).await?, "succeeded");
    // Duplicates: acknowledged, ignored.
    let d = succeeded.signed(&primary(), now);
    let (st, v) = deliver(&app, d.body, &d.signature).await?;
    assert_eq!((st, v["duplicate"].as_bool()), (200, Some(true)), "{v}");
    // The older `created` event arrives last: the state does not move back.
    let d = created.signed(&primary(), now);
    let (st, v) = deliver(&app, d.body, &d.signature).await?;
    assert_eq!((st, v["duplicate"].as_bool()), (200, Some(false)), "{v}");
    assert_eq!(intent_status(&app, &pi).await?, "succeeded");
    assert_eq!(rows(&app, "webhook_inbox").await?, 2);
    assert_eq!(rows(&app, "orders").await?, 1);
    // The client's own completion afterwards answers the same order.
    let (st, _) = complete(&app, &alice, &cart, None).await?;
    assert_eq!(st, 200);
    // Unknown provider.
    let r = crate::identity::fresh_client(&app)
        .post(app.at("/v1/webhooks/payments/paypal"))
        .body("{}")
        .send()
        .await?;
    assert_eq!(r.status(), 404);
    Ok(())
}

/// Out of order across intents' life: `processing` then `succeeded` delivered in
/// reverse; the stored status ends at `succeeded`, a late `processing` is ignored.
async fn processing_events_out_of_order(app: TestApp) -> Result<()> {
    let (_, _, item) = shop(&app, "slowpay", 800, 5).await?;
    let (_, alice) = customer(&app, "alice").await?;
    let cart = new_cart(&app, &alice).await?;
    add(&app, &alice, &cart, &item, 1).await?;
    let (_, i) = intent(&app, &alice, &cart).await?;
    let pi = i["id"].as_str().unwrap_or_default().to_owned();
    let (st, _) = confirm(&app, &pi, "tok_processing").await?;
    assert_eq!(st, 200);
    let id = rampart_checkout::payment::IntentId::parse(&pi)?;
    sandbox(&app).settle(&id, true)?;
    let events = take_events(&app);
    let now = app.clock.now_secs();
    for e in events.iter().rev() {
        let d = e.signed(&primary(), now);
        let (st, v) = deliver(&app, d.body, &d.signature).await?;
        assert_eq!(st, 200, "{v}");
    }
    assert_eq!(intent_status(&app, &pi).await?, "succeeded");
    assert_eq!(rows(&app, "orders").await?, 1);
    Ok(())
}

/// Rotation: the server accepts the new and the old secret while both are
/// configured, and nothing else.
async fn rotated_secrets(engine: Engine) -> Result<()> {
    let Some(app) = TestApp::builder(engine)
        .config(|c| {
            c.checkout.webhook_secrets = vec![
                "whsec_new_secret_0002".into(),
                rampart::config::TEST_WEBHOOK_SECRET.into(),
            ]
        })
        .spawn()
        .await?
    else {
        return Ok(());
    };
    let (_, _, item) = shop(&app, "rotate", 800, 5).await?;
    let (_, alice) = customer(&app, "alice").await?;
    let _ = paid_cart(&app, &alice, &item, 1).await?;
    let events = take_events(&app);
    let now = app.clock.now_secs();
    let new = WebhookSecret::parse("whsec_new_secret_0002")?;
    let d = events[0].signed(&new, now);
    assert_eq!(deliver(&app, d.body, &d.signature).await?.0, 200);
    let d = events[1].signed(&primary(), now);
    assert_eq!(deliver(&app, d.body, &d.signature).await?.0, 200);
    assert_eq!(rows(&app, "orders").await?, 1);
    let d = events[1].signed(&WebhookSecret::parse("whsec_retired_0000")?, now);
    assert_eq!(deliver(&app, d.body, &d.signature).await?.0, 400);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotated_secrets_sqlite() -> Result<()> {
    rotated_secrets(Engine::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotated_secrets_postgres() -> Result<()> {
    rotated_secrets(Engine::Postgres).await
}

async fn wait_for<F: Fn() -> Fut, Fut: std::future::Future<Output = Result<bool>>>(
    f: F,
) -> Result<bool> {
    for _ in 0..200 {
        if f().await? {
            return Ok(true);
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    Ok(false)
}

/// The sandbox delivers its own signed webhooks to the server over real HTTP:
/// duplicated and reversed they still make one order; a late plan waits for the
/// injected clock.
async fn sandbox_delivers_over_http(engine: Engine) -> Result<()> {
    let Some(app) = TestApp::builder(engine)
        .config(|c| c.checkout.sandbox_webhooks = true)
        .spawn()
        .await?
    else {
        return Ok(());
    };
    let sender = app
        .state
        .sandbox_sender
        .get()
        .cloned()
        .expect("sender running");
    sender.set_plan(DeliveryPlan {
        delay_secs: 0,
        duplicates: 2,
        reverse: true,
    });
    let (_, _, item) = shop(&app, "httphooks", 800, 5).await?;
    let (_, alice) = customer(&app, "alice").await?;
    let (_cart, pi) = paid_cart(&app, &alice, &item, 1).await?;
    assert!(
        wait_for(|| async { Ok(rows(&app, "orders").await? == 1) }).await?,
        "the webhook completed the order"
    );
    assert!(wait_for(|| async { Ok(sender.sent() >= 6) }).await?);
    assert!(
        wait_for(|| async {
            Ok(rows(&app, "webhook_inbox WHERE processed_at IS NOT NULL").await? == 2)
        })
        .await?
    );
    assert_eq!(intent_status(&app, &pi).await?, "succeeded");
    assert_eq!(rows(&app, "orders").await?, 1);

    // Late: nothing goes out until the clock passes the delay.
    sender.set_plan(DeliveryPlan {
        delay_secs: 120,
        duplicates: 0,
        reverse: false,
    });
    let (_, bob) = customer(&app, "bob").await?;
    let _ = paid_cart(&app, &bob, &item, 1).await?;
    assert!(wait_for(|| async { Ok(sender.pending() == 2) }).await?);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(rows(&app, "orders").await?, 1);
    app.clock.advance_secs(125);
    assert!(wait_for(|| async { Ok(rows(&app, "orders").await? == 2) }).await?);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_http_sqlite() -> Result<()> {
    sandbox_delivers_over_http(Engine::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_http_postgres() -> Result<()> {
    sandbox_delivers_over_http(Engine::Postgres).await
}

/// E3: a delivery recorded in the inbox whose processing was cut off (the process
/// died after writing the row) is never redelivered usefully — the provider's retry
/// is a duplicate — so the worker processes it again once it is two minutes old
/// (injected clock), through the same path: of two workers ticking together one
/// takes it, the order is made once and the row finished once; a row recorded
/// before bodies were kept is finished as not retryable; nothing is touched again.
async fn unfinished_deliveries_are_retried_by_the_worker(app: TestApp) -> Result<()> {
    use std::sync::Arc;
    let (_, _, item) = shop(&app, "retryshop", 800, 5).await?;
    let (_, alice) = customer(&app, "alice").await?;
    let (cart, pi) = paid_cart(&app, &alice, &item, 1).await?;
    let succeeded = take_events(&app)
        .into_iter()
        .find(|e| e.kind == "payment_intent.succeeded")
        .expect("a succeeded event");
    // The crash: the inbox row with the verified body, and no outcome.
    let body = String::from_utf8(succeeded.signed(&primary(), app.clock.now_secs()).body)?;
    exec(
        app.db(),
        &format!(
            "INSERT INTO webhook_inbox (provider, event_id, event_type, received_at, payload) \
             VALUES ('sandbox', '{}', 'payment_intent.succeeded', {}, '{}')",
            succeeded.id,
            app.clock.now_ms(),
            body.replace('\'', "''")
        ),
    )
    .await?;
    exec(
        app.db(),
        &format!(
            "INSERT INTO webhook_inbox (provider, event_id, event_type, received_at) \
             VALUES ('sandbox', 'evt_from_before_bodies', 'payment_intent.succeeded', {})",
            app.clock.now_ms()
        ),
    )
    .await?;
    // The provider's redelivery is a duplicate: acknowledged, nothing done.
    let d = succeeded.signed(&primary(), app.clock.now_secs());
    let (st, v) = deliver(&app, d.body, &d.signature).await?;
    assert_eq!((st, v["duplicate"].as_bool()), (200, Some(true)), "{v}");
    assert_eq!(rows(&app, "orders").await?, 0);

    let worker = || {
        Arc::new(
            rampart_worker::Worker::new(
                app.db().clone(),
                app.state.market.ledger().clone(),
                Arc::new(app.clock.clone()),
                app.state.metrics.clone(),
                rampart_worker::WorkerConfig::default(),
            )
            .with_checkout(app.state.checkout.clone()),
        )
    };
    // Younger than two minutes: perhaps still being processed; left alone.
    let r = worker().tick().await;
    assert_eq!(r.retried_webhooks, 0);
    assert_eq!(
        rows(&app, "webhook_inbox WHERE processed_at IS NULL").await?,
        2
    );
    app.clock.advance_secs(121);
    let (w1, w2) = (worker(), worker());
    let (a, b) = tokio::join!(w1.tick(), w2.tick());
    assert_eq!(a.retried_webhooks + b.retried_webhooks, 2, "{a:?} {b:?}");
    assert_eq!(rows(&app, "orders").await?, 1);
    assert_eq!(
        rows(&app, "webhook_inbox WHERE processed_at IS NULL").await?,
        0
    );
    let outcome = |id: String| {
        let app = &app;
        async move {
            text_value(
                app.db(),
                "SELECT outcome FROM webhook_inbox WHERE event_id = $1",
                &id,
            )
            .await
        }
    };
    assert_eq!(
        outcome(succeeded.id.clone()).await?.as_deref(),
        Some("completed")
    );
    assert_eq!(
        outcome("evt_from_before_bodies".into()).await?.as_deref(),
        Some("not_retryable")
    );
    assert_eq!(
        rows(&app, "webhook_inbox WHERE attempts = 1").await?,
        2,
        "each row was claimed once"
    );
    // The client's completion answers the same order.
    let (st, o) = complete(&app, &alice, &cart, None).await?;
    assert_eq!(
        (st, o["payment_intent_id"].as_str()),
        (200, Some(pi.as_str())),
        "{o}"
    );
    // Nothing is left to retry.
    app.clock.advance_secs(600);
    let r = worker().tick().await;
    assert_eq!(r.retried_webhooks, 0);
    assert_eq!(rows(&app, "orders").await?, 1);
    Ok(())
}

both_engines!(
    webhook_signatures_dedupe_and_ordering,
    processing_events_out_of_order,
    unfinished_deliveries_are_retried_by_the_worker,
);
