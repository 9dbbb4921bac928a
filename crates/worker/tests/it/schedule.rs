//! Scheduled jobs on the injected clock (no sleeping): auto-release after the
//! store's period, never for a disputed transaction; reconciliation and the anomaly
//! checks reported as security events and metrics.

use crate::both_engines;
use crate::support::{exec, ledger, new_item, new_store, scalar, txn, T0};
use anyhow::Result;
use rampart_db::Db;
use rampart_kernel::ManualClock;
use rampart_ledger::{EscrowEvent, EscrowState, IntentKind};
use rampart_security::metrics::Metrics;
use rampart_worker::{Worker, WorkerAnomaly, WorkerConfig, DAY_MS};
use std::sync::Arc;

both_engines!(
    unpaid_purchases_expire_and_give_their_stock_back,
    auto_release_after_the_stores_period_not_for_disputes,
    anomalies_become_events_and_metrics,
    pruning_removes_only_what_ended_before_the_retention,
);

/// Shipped at T0 in a store with a 3-day period: nothing at 3 days minus a
/// millisecond; at 3 days a system release intent (actor NULL, `release_request`),
/// carried out on the next tick. A disputed sibling is never released.
async fn auto_release_after_the_stores_period_not_for_disputes(db: &Db) -> Result<()> {
    let clock = ManualClock::new(T0);
    let l = ledger(db, &clock);
    let store = new_store(db, 3).await?;
    let item = new_item(db, &store, 10).await?;
    let shipped = txn(&l, &store, &item, &[EscrowEvent::Fund, EscrowEvent::Ship]).await?;
    let disputed = txn(
        &l,
        &store,
        &item,
        &[
            EscrowEvent::Fund,
            EscrowEvent::Ship,
            EscrowEvent::OpenDispute,
        ],
    )
    .await?;
    let w = crate::support::worker(db, &clock, "w");
    clock.advance_ms(3 * DAY_MS - 1);
    let r = w.tick().await;
    assert_eq!(r.auto_released, 0, "{r:?}");
    clock.advance_ms(60_000);
    let r = w.tick().await;
    assert_eq!(r.auto_released, 1, "{r:?}");
    let intents = l.intents_for(&shipped).await?;
    assert_eq!(intents.len(), 1);
    assert_eq!(intents[0].kind, IntentKind::Release);
    assert_eq!(intents[0].requested_by, None);
    assert_eq!(
        scalar(
            db,
            &format!(
                "SELECT COUNT(*) FROM audit_log WHERE action_type = 'release_request' \
                 AND target_id = '{shipped}' AND actor_user_uuid IS NULL"
            )
        )
        .await?,
        1
    );
    // The next tick carries it out; auto-release does not ask twice.
    clock.advance_ms(60_000);
    let r = w.tick().await;
    assert_eq!((r.executed, r.auto_released), (1, 0), "{r:?}");
    assert_eq!(
        l.get(&shipped).await?.map(|v| v.state),
        Some(EscrowState::Completed)
    );
    assert_eq!(
        l.get(&disputed).await?.map(|v| v.state),
        Some(EscrowState::Disputed)
    );
    assert!(l.intents_for(&disputed).await?.is_empty());
    Ok(())
}

/// Reconciliation on schedule: clean at first; then a transaction funded past its
/// period plus the margin, a store with disputes at the threshold, and a tampered
/// state each come back as anomalies with their IDs, counted in the metrics.
async fn anomalies_become_events_and_metrics(db: &Db) -> Result<()> {
    let clock = ManualClock::new(T0);
    let l = ledger(db, &clock);
    let metrics = Arc::new(Metrics::new());
    let w = Worker::new(
        db.clone(),
        l.clone(),
        Arc::new(clock.clone()),
        metrics.clone(),
        WorkerConfig {
            held_margin_ms: DAY_MS,
            spike_threshold: 2,
            spike_window_ms: 3 * DAY_MS,
            reconcile_every_ms: 60_000,
            ..WorkerConfig::default()
        },
    );
    let r = w.tick().await;
    assert!(r.reconciled && r.anomalies.is_empty(), "{r:?}");
    let store = new_store(db, 1).await?;
    let item = new_item(db, &store, 10).await?;
    let funded = txn(&l, &store, &item, &[EscrowEvent::Fund]).await?;
    let noisy = new_store(db, 30).await?;
    for _ in 0..2 {
        txn(
            &l,
            &noisy,
            &item,
            &[EscrowEvent::Fund, EscrowEvent::OpenDispute],
        )
        .await?;
    }
    // Cancellations after payment are refunds; one before payment is not.
    let cancelling = new_store(db, 30).await?;
    for _ in 0..2 {
        txn(
            &l,
            &cancelling,
            &item,
            &[EscrowEvent::Fund, EscrowEvent::Cancel],
        )
        .await?;
    }
    let quiet = new_store(db, 30).await?;
    for _ in 0..2 {
        txn(&l, &quiet, &item, &[EscrowEvent::Cancel]).await?;
    }
    let tampered = txn(&l, &noisy, &item, &[EscrowEvent::Fund]).await?;
    exec(
        db,
        &format!("UPDATE escrow_transactions SET state = 'completed' WHERE id = '{tampered}'"),
    )
    .await?;
    // One day (period) + one day (margin) later, within the (3-day) spike window.
    clock.advance_ms(2 * DAY_MS);
    let r = w.tick().await;
    assert!(r.reconciled, "{r:?}");
    let held = r.anomalies.iter().any(|a| {
        matches!(a, WorkerAnomaly::HeldTooLong { transaction, state: EscrowState::Funded, .. }
            if *transaction == funded.as_str())
    });
    assert!(held, "{:?}", r.anomalies);
    let spike = r.anomalies.iter().any(|a| {
        matches!(a, WorkerAnomaly::Spike { store, disputes: 2, .. } if *store == noisy.as_str())
    });
    assert!(spike, "{:?}", r.anomalies);
    let refunds = r.anomalies.iter().any(|a| {
        matches!(a, WorkerAnomaly::Spike { store, refunds: 2, .. } if *store == cancelling.as_str())
    });
    assert!(refunds, "{:?}", r.anomalies);
    let quiet_flagged = r
        .anomalies
        .iter()
        .any(|a| matches!(a, WorkerAnomaly::Spike { store, .. } if *store == quiet.as_str()));
    assert!(!quiet_flagged, "{:?}", r.anomalies);
    let ledger_anomaly = r.anomalies.iter().any(|a| {
        matches!(a, WorkerAnomaly::Ledger(_)) && a.to_string().contains(tampered.as_str())
    });
    assert!(ledger_anomaly, "{:?}", r.anomalies);
    assert!(
        metrics.counter(
            "rampart_ledger_anomalies_total",
            &[("kind", "held_too_long")]
        ) >= 1
    );
    assert!(
        metrics.counter(
            "rampart_ledger_anomalies_total",
            &[("kind", "refund_dispute_spike")]
        ) >= 1
    );
    assert!(
        metrics.counter(
            "rampart_security_events_total",
            &[("event", "ledger_anomaly")]
        ) >= 3
    );
    // Not due again until the interval passes.
    let r = w.tick().await;
    assert!(!r.reconciled);
    Ok(())
}

/// Pruning on schedule: sessions that ended (expired, idle-expired or revoked) and
/// reset tokens that expired more than the retention ago are deleted, with the
/// refresh tokens of those sessions; live ones and recent ones stay.
async fn pruning_removes_only_what_ended_before_the_retention(db: &Db) -> Result<()> {
    let clock = ManualClock::new(T0 + 30 * DAY_MS);
    let now = T0 + 30 * DAY_MS;
    let old = now - 8 * DAY_MS;
    let recent = now - DAY_MS;
    exec(
        db,
        &format!(
            "INSERT INTO users (id, username, password_hash, created_at, updated_at, \
             password_changed_at) VALUES ('u1', 'u1', 'x', {T0}, {T0}, {T0})"
        ),
    )
    .await?;
    // (id, idle expiry, absolute expiry, revoked at)
    for (id, idle, abs, revoked) in [
        ("expired", old + DAY_MS, old, "NULL".to_owned()),
        ("idle", old, now + DAY_MS, "NULL".to_owned()),
        ("revoked", now + DAY_MS, now + DAY_MS, old.to_string()),
        ("recently_ended", recent, recent, "NULL".to_owned()),
        ("live", now + DAY_MS, now + DAY_MS, "NULL".to_owned()),
    ] {
        exec(
            db,
            &format!(
                "INSERT INTO sessions (id, user_id, kind, role_at_login, created_at, \
                 last_seen_at, idle_expires_at, expires_at, revoked_at) \
                 VALUES ('{id}', 'u1', 'api', 'customer', {T0}, {T0}, {idle}, {abs}, {revoked})"
            ),
        )
        .await?;
        exec(
            db,
            &format!(
                "INSERT INTO refresh_tokens (id, session_id, token_hash, created_at, expires_at) \
                 VALUES ('r-{id}', '{id}', 'h-{id}', {T0}, {abs})"
            ),
        )
        .await?;
    }
    for (id, exp) in [
        ("reset_old", old),
        ("reset_recent", recent),
        ("reset_live", now + 1),
    ] {
        exec(
            db,
            &format!(
                "INSERT INTO password_resets (id, user_id, token_hash, created_at, expires_at) \
                 VALUES ('{id}', 'u1', 'h-{id}', {T0}, {exp})"
            ),
        )
        .await?;
    }
    // Idempotency keys (checkout, E3) live 24 hours, whatever the retention above.
    for (key, at) in [
        ("idem_old", now - 25 * 3_600_000),
        ("idem_live", now - 3_600_000),
    ] {
        exec(
            db,
            &format!(
                "INSERT INTO idempotency_keys (scope, idem_key, route, request_hash, status, created_at) \
                 VALUES ('user:u1', '{key}', 'r', 'h', 'done', {at})"
            ),
        )
        .await?;
    }
    let r = crate::support::worker(db, &clock, "w").tick().await;
    assert_eq!((r.pruned_sessions, r.pruned_resets), (3, 1), "{r:?}");
    assert_eq!(r.pruned_idempotency_keys, 1, "{r:?}");
    assert_eq!(
        scalar(db, "SELECT COUNT(*) FROM idempotency_keys").await?,
        1
    );
    assert_eq!(scalar(db, "SELECT COUNT(*) FROM sessions").await?, 2);
    assert_eq!(scalar(db, "SELECT COUNT(*) FROM refresh_tokens").await?, 2);
    assert_eq!(scalar(db, "SELECT COUNT(*) FROM password_resets").await?, 2);
    Ok(())
}

/// An unpaid purchase holds stock: after the expiry (an hour by default) the system
/// requests its cancel (actor NULL, `cancel_request`), the next tick carries it out.
/// A funded sibling is left alone.
async fn unpaid_purchases_expire_and_give_their_stock_back(db: &Db) -> Result<()> {
    let clock = ManualClock::new(T0);
    let l = ledger(db, &clock);
    let store = new_store(db, 3).await?;
    let item = new_item(db, &store, 10).await?;
    let unpaid = txn(&l, &store, &item, &[]).await?;
    let paid = txn(&l, &store, &item, &[EscrowEvent::Fund]).await?;
    let w = crate::support::worker(db, &clock, "w");
    clock.advance_ms(3_600_000 - 1);
    let r = w.tick().await;
    assert_eq!(r.expired_unpaid, 0, "{r:?}");
    clock.advance_ms(60_000);
    let r = w.tick().await;
    assert_eq!(r.expired_unpaid, 1, "{r:?}");
    assert_eq!(
        scalar(
            db,
            &format!(
                "SELECT COUNT(*) FROM audit_log WHERE action_type = 'cancel_request' \
                 AND target_id = '{unpaid}' AND actor_user_uuid IS NULL"
            )
        )
        .await?,
        1
    );
    clock.advance_ms(60_000);
    let r = w.tick().await;
    assert_eq!(r.executed, 1, "{r:?}");
    assert_eq!(
        l.get(&unpaid).await?.map(|v| v.state),
        Some(EscrowState::Cancelled)
    );
    assert_eq!(
        l.get(&paid).await?.map(|v| v.state),
        Some(EscrowState::Funded)
    );
    // The 2 units came back (the test's purchases reserved none, so 10 + 2).
    assert_eq!(
        scalar(db, &format!("SELECT stock FROM items WHERE id = '{item}'")).await?,
        12
    );
    Ok(())
}
