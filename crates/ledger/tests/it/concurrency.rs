//! Exactly-once effects under concurrency: many appliers of the same event on one
//! transaction produce one posting set.

use crate::support::{ledger, new_txn};
use anyhow::Result;
use rampart_db::Db;
use rampart_ledger::{reconcile, Applied, EscrowEvent, EscrowState, LedgerError};

async fn twenty_concurrent_funds_post_once(db: &Db) -> Result<()> {
    let l = ledger(db);
    let id = new_txn(&l).await?;
    let audits = rampart_audit::count(db).await?;
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (l, id) = (l.clone(), id.clone());
            tokio::spawn(async move { l.apply(&id, EscrowEvent::Fund, None, None).await })
        })
        .collect();
    let mut done = 0;
    for t in futures::future::join_all(tasks).await {
        match t? {
            Ok(Applied::Done(EscrowState::Funded)) => done += 1,
            Ok(Applied::Replay(EscrowState::Funded)) => {}
            // The optimistic check may refuse a loser instead; it wrote nothing.
            Err(LedgerError::Concurrent) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(done, 1, "exactly one applier funds");
    assert_eq!(
        l.posting_count(&id).await?,
        2,
        "one posting set of two legs"
    );
    assert_eq!(rampart_audit::count(db).await? - audits, 1, "one audit row");
    assert_eq!(l.get(&id).await?.map(|v| v.version), Some(1));
    assert!(reconcile(db).await?.is_clean());
    Ok(())
}

/// Racing conflicting events: exactly one of Ship / Cancel wins per transaction
/// (each excludes the other), and the ledger still reconciles.
async fn conflicting_events_race(db: &Db) -> Result<()> {
    let l = ledger(db);
    let mut ids = Vec::new();
    for _ in 0..4 {
        let id = new_txn(&l).await?;
        l.apply(&id, EscrowEvent::Fund, None, None).await?;
        ids.push(id);
    }
    let mut tasks = Vec::new();
    for id in &ids {
        for ev in [
            EscrowEvent::Ship,
            EscrowEvent::Cancel,
            EscrowEvent::Ship,
            EscrowEvent::Cancel,
        ] {
            let (l, id) = (l.clone(), id.clone());
            tasks.push(tokio::spawn(
                async move { l.apply(&id, ev, None, None).await },
            ));
        }
    }
    let mut done = 0;
    for t in futures::future::join_all(tasks).await {
        match t? {
            Ok(Applied::Done(_)) => done += 1,
            Ok(Applied::Replay(_)) | Err(LedgerError::Transition(_) | LedgerError::Concurrent) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(done, ids.len());
    let report = reconcile(db).await?;
    assert!(report.is_clean(), "{:?}", report.anomalies);
    Ok(())
}

crate::both_engines!(twenty_concurrent_funds_post_once, conflicting_events_race);
