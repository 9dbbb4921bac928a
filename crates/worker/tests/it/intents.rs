//! Claiming and executing intents: exactly once with two workers, lease takeover,
//! refusal after a dispute, restock on cancel.

use crate::both_engines;
use crate::support::{exec, ledger, new_item, new_store, scalar, txn, worker, T0};
use anyhow::Result;
use rampart_db::Db;
use rampart_kernel::ManualClock;
use rampart_ledger::{reconcile, EscrowEvent, EscrowState, Execution, IntentKind, IntentStatus};

both_engines!(
    concurrent_claims_are_disjoint_and_bounded,
    two_workers_apply_each_of_200_intents_once,
    an_expired_lease_is_taken_over_and_the_stale_worker_skips,
    a_disputed_transactions_release_fails,
    a_cancel_restocks_once,
);

async fn pending(db: &Db) -> Result<i64> {
    scalar(
        db,
        "SELECT COUNT(*) FROM escrow_intents WHERE status = 'pending'",
    )
    .await
}

/// Two workers drain 200 release intents concurrently: every transaction gets one
/// `release` entry, one `escrow_release` audit row and its three legs, every intent
/// is done, and the ledger reconciles.
async fn two_workers_apply_each_of_200_intents_once(db: &Db) -> Result<()> {
    const N: i64 = 200;
    let clock = ManualClock::new(T0);
    let l = ledger(db, &clock);
    let store = new_store(db, 14).await?;
    let item = new_item(db, &store, 1_000).await?;
    for _ in 0..N {
        let id = txn(&l, &store, &item, &[EscrowEvent::Fund, EscrowEvent::Ship]).await?;
        l.request_intent(&id, IntentKind::Release, None, None)
            .await?;
    }
    let audits_before = scalar(
        db,
        "SELECT COUNT(*) FROM audit_log WHERE action_type = 'escrow_release'",
    )
    .await?;
    assert_eq!(audits_before, 0);
    let (a, b) = (worker(db, &clock, "a"), worker(db, &clock, "b"));
    let run = |w: std::sync::Arc<rampart_worker::Worker>| {
        let db = db.clone();
        tokio::spawn(async move {
            let mut executed = 0;
            for _ in 0..500 {
                let r = w.tick().await;
                assert_eq!(r.errors, 0, "{r:?}");
                executed += r.executed;
                if pending(&db).await? == 0 {
                    break;
                }
            }
            anyhow::Ok(executed)
        })
    };
    let (ra, rb) = (run(a), run(b));
    let (ea, eb) = (ra.await??, rb.await??);
    assert_eq!(ea + eb, N as usize, "applied exactly N times in all");
    assert!(ea > 0 && eb > 0, "both workers took part: {ea} + {eb}");
    assert_eq!(pending(db).await?, 0);
    assert_eq!(
        scalar(
            db,
            "SELECT COUNT(*) FROM escrow_intents WHERE status = 'done'"
        )
        .await?,
        N
    );
    assert_eq!(
        scalar(
            db,
            "SELECT COUNT(*) FROM ledger_entries WHERE event = 'release'"
        )
        .await?,
        N
    );
    assert_eq!(
        scalar(
            db,
            "SELECT COUNT(DISTINCT transaction_id) FROM ledger_entries WHERE event = 'release'"
        )
        .await?,
        N
    );
    assert_eq!(
        scalar(
            db,
            "SELECT COUNT(*) FROM ledger_postings p JOIN ledger_entries e ON e.id = p.entry_id \
             WHERE e.event = 'release'"
        )
        .await?,
        3 * N,
        "three legs per release"
    );
    assert_eq!(
        scalar(
            db,
            "SELECT COUNT(*) FROM audit_log WHERE action_type = 'escrow_release'"
        )
        .await?,
        N
    );
    assert_eq!(
        scalar(
            db,
            "SELECT COUNT(*) FROM escrow_transactions WHERE state = 'completed'"
        )
        .await?,
        N
    );
    assert!(reconcile(db).await?.is_clean());
    assert!(rampart_audit::verify(db, |_| {})
        .await?
        .first_break
        .is_none());
    Ok(())
}

/// Ten claimers at once over 60 pending intents: each gets at most its limit, no
/// intent goes to two of them, and each claimed one carries its claimer's lease.
async fn concurrent_claims_are_disjoint_and_bounded(db: &Db) -> Result<()> {
    let clock = ManualClock::new(T0);
    let l = ledger(db, &clock);
    let store = new_store(db, 14).await?;
    let item = new_item(db, &store, 1_000).await?;
    for _ in 0..60 {
        let id = txn(&l, &store, &item, &[EscrowEvent::Fund, EscrowEvent::Ship]).await?;
        l.request_intent(&id, IntentKind::Release, None, None)
            .await?;
    }
    let tasks: Vec<_> = (0..10)
        .map(|i| {
            let l = l.clone();
            tokio::spawn(async move { l.claim_intents(&format!("w{i}"), 60_000, 7).await })
        })
        .collect();
    let mut seen = std::collections::HashSet::new();
    let mut total = 0;
    for (i, t) in futures::future::join_all(tasks)
        .await
        .into_iter()
        .enumerate()
    {
        let got = t??;
        assert!(got.len() <= 7, "claimer {i} got {}", got.len());
        for intent in got {
            assert!(
                seen.insert(intent.id.clone()),
                "{} claimed twice",
                intent.id
            );
            let owner = scalar(
                db,
                &format!(
                    "SELECT COUNT(*) FROM escrow_intents WHERE id = '{}' AND lease_owner = 'w{i}'",
                    intent.id
                ),
            )
            .await?;
            assert_eq!(owner, 1);
            total += 1;
        }
    }
    assert!(total > 0);
    assert_eq!(
        scalar(
            db,
            "SELECT COUNT(*) FROM escrow_intents WHERE lease_owner IS NOT NULL"
        )
        .await?,
        total
    );
    Ok(())
}

/// A worker that claimed and then stalled past its lease loses the intent: another
/// worker claims and runs it, and the stale one's late attempt writes nothing.
async fn an_expired_lease_is_taken_over_and_the_stale_worker_skips(db: &Db) -> Result<()> {
    let clock = ManualClock::new(T0);
    let l = ledger(db, &clock);
    let store = new_store(db, 14).await?;
    let item = new_item(db, &store, 10).await?;
    let id = txn(&l, &store, &item, &[EscrowEvent::Fund, EscrowEvent::Ship]).await?;
    l.request_intent(&id, IntentKind::Release, None, None)
        .await?;
    let stale = l.claim_intents("stale", 60_000, 10).await?;
    assert_eq!(stale.len(), 1);
    assert_eq!(stale[0].attempts, 1);
    // Leased: nobody else gets it.
    assert!(l.claim_intents("fresh", 60_000, 10).await?.is_empty());
    clock.advance_ms(60_001);
    let fresh = l.claim_intents("fresh", 60_000, 10).await?;
    assert_eq!(fresh.len(), 1);
    assert_eq!(fresh[0].attempts, 2);
    assert_eq!(
        l.execute_intent(&stale[0], "stale").await?,
        Execution::Skipped
    );
    assert!(matches!(
        l.execute_intent(&fresh[0], "fresh").await?,
        Execution::Done(v) if v.state == EscrowState::Completed
    ));
    // Done: a late rerun by either is a no-op.
    assert_eq!(
        l.execute_intent(&fresh[0], "fresh").await?,
        Execution::Skipped
    );
    assert_eq!(
        scalar(
            db,
            "SELECT COUNT(*) FROM ledger_entries WHERE event = 'release'"
        )
        .await?,
        1
    );
    let intents = l.intents_for(&id).await?;
    assert_eq!(intents[0].status, IntentStatus::Done);
    // An effect already applied by another path (the same key) settles as a replay.
    let id2 = txn(&l, &store, &item, &[EscrowEvent::Fund, EscrowEvent::Ship]).await?;
    l.request_intent(&id2, IntentKind::Release, None, None)
        .await?;
    let c = l.claim_intents("w", 60_000, 10).await?;
    l.apply(&id2, EscrowEvent::Release, None, None).await?;
    assert_eq!(l.execute_intent(&c[0], "w").await?, Execution::Replay);
    assert_eq!(l.intents_for(&id2).await?[0].status, IntentStatus::Done);
    assert!(reconcile(db).await?.is_clean());
    Ok(())
}

/// A release requested while shipped, then a dispute opened before the worker ran:
/// the intent fails with the reason and no money moves.
async fn a_disputed_transactions_release_fails(db: &Db) -> Result<()> {
    let clock = ManualClock::new(T0);
    let l = ledger(db, &clock);
    let store = new_store(db, 14).await?;
    let item = new_item(db, &store, 10).await?;
    let id = txn(&l, &store, &item, &[EscrowEvent::Fund, EscrowEvent::Ship]).await?;
    l.request_intent(&id, IntentKind::Release, None, None)
        .await?;
    // The pending release holds the transaction: no dispute after a confirmed receipt.
    assert!(matches!(
        l.apply(&id, EscrowEvent::OpenDispute, None, None).await,
        Err(rampart_ledger::LedgerError::IntentPending(
            IntentKind::Release
        ))
    ));
    // A state moved behind the ledger's back (tampering, a restore) fails the intent
    // with its reason instead of applying it.
    exec(
        db,
        &format!("UPDATE escrow_transactions SET state = 'disputed' WHERE id = '{id}'"),
    )
    .await?;
    let r = worker(db, &clock, "w").tick().await;
    assert_eq!((r.executed, r.failed, r.errors), (0, 1, 0), "{r:?}");
    let intents = l.intents_for(&id).await?;
    assert_eq!(intents[0].status, IntentStatus::Failed);
    assert!(intents[0].last_error.is_some());
    assert_eq!(
        scalar(
            db,
            "SELECT COUNT(*) FROM ledger_entries WHERE event = 'release'"
        )
        .await?,
        0
    );
    Ok(())
}

/// A cancel puts the purchase's quantity back on the item's stock, in the same
/// commit, once.
async fn a_cancel_restocks_once(db: &Db) -> Result<()> {
    let clock = ManualClock::new(T0);
    let l = ledger(db, &clock);
    let store = new_store(db, 14).await?;
    let item = new_item(db, &store, 5).await?;
    let id = txn(&l, &store, &item, &[EscrowEvent::Fund]).await?;
    l.request_intent(&id, IntentKind::Cancel, None, None)
        .await?;
    let w = worker(db, &clock, "w");
    let r = w.tick().await;
    assert_eq!(r.executed, 1, "{r:?}");
    let stock = format!("SELECT stock FROM items WHERE id = '{item}'");
    assert_eq!(scalar(db, &stock).await?, 7);
    // Nothing pending: a second tick changes nothing.
    w.tick().await;
    assert_eq!(scalar(db, &stock).await?, 7);
    assert_eq!(
        l.get(&id).await?.map(|v| v.state),
        Some(EscrowState::Cancelled)
    );
    // A replayed cancel (applied by another path) does not restock again.
    let id2 = txn(&l, &store, &item, &[EscrowEvent::Fund]).await?;
    l.request_intent(&id2, IntentKind::Cancel, None, None)
        .await?;
    l.apply(&id2, EscrowEvent::Cancel, None, None).await?;
    let r = w.tick().await;
    assert_eq!(r.replayed, 1, "{r:?}");
    assert_eq!(scalar(db, &stock).await?, 7);
    exec(db, "SELECT 1").await?;
    assert!(reconcile(db).await?.is_clean());
    Ok(())
}
