//! Concurrent appends queue on the chain head instead of forking the chain.

use crate::support::{append, entry, seqs, verify, T0};
use anyhow::Result;
use rampart_audit as audit;
use rampart_db::Db;
use std::time::Duration;

crate::both_engines!(
    concurrent_appends_form_one_chain,
    slow_transaction_blocks_later_appends_in_order,
    verify_during_appends_sees_a_consistent_snapshot,
);

const TASKS: i64 = 8;
const EACH: i64 = 25;

async fn concurrent_appends_form_one_chain(db: &Db) -> Result<()> {
    let start = std::sync::Arc::new(tokio::sync::Barrier::new(TASKS as usize));
    let mut handles = Vec::new();
    for t in 0..TASKS {
        let db = db.clone();
        let start = start.clone();
        handles.push(tokio::spawn(async move {
            start.wait().await;
            let mut got = Vec::new();
            for i in 0..EACH {
                let mut tx = db.begin().await?;
                got.push(audit::record(&mut tx, entry(t * 1000 + i, T0 + i)).await?);
                tokio::task::yield_now().await;
                tx.commit().await?;
            }
            anyhow::Ok(got)
        }));
    }
    let mut all = Vec::new();
    for h in handles {
        all.extend(h.await??);
    }
    all.sort_unstable();
    let n = TASKS * EACH;
    assert_eq!(
        all,
        (1..=n).collect::<Vec<_>>(),
        "each append got a distinct seq"
    );
    assert_eq!(seqs(db).await?, (1..=n).collect::<Vec<_>>());
    let r = verify(db).await?;
    assert_eq!(r.first_break, None, "{r:?}");
    assert_eq!(r.rows, n as u64);
    Ok(())
}

/// A transaction that recorded and then stalls holds the head: a second append waits
/// for it and chains after it (PostgreSQL row lock; SQLite single writer).
async fn slow_transaction_blocks_later_appends_in_order(db: &Db) -> Result<()> {
    append(db, 1, T0).await?;
    let mut tx = db.begin().await?;
    assert_eq!(audit::record(&mut tx, entry(1, T0 + 1)).await?, 2);
    let db2 = db.clone();
    let other = tokio::spawn(async move { audit::record_alone(&db2, entry(2, T0 + 2)).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !other.is_finished(),
        "the second append must wait for the first transaction"
    );
    tx.commit().await?;
    assert_eq!(other.await??, 3);
    let r = verify(db).await?;
    assert_eq!((r.rows, r.first_break), (3, None));
    Ok(())
}

/// `verify` while writers append must not report a false break (the head and the rows
/// are read from one snapshot).
async fn verify_during_appends_sees_a_consistent_snapshot(db: &Db) -> Result<()> {
    append(db, 20, T0).await?;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (db, stop) = (db.clone(), stop.clone());
        tokio::spawn(async move {
            let mut i = 100;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                audit::record_alone(&db, entry(i, T0 + i)).await?;
                i += 1;
            }
            anyhow::Ok(i - 100)
        })
    };
    let mut verified = 0;
    for _ in 0..40 {
        let r = verify(db).await?;
        assert_eq!(
            r.first_break, None,
            "false alarm during concurrent appends: {r:?}"
        );
        verified += 1;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let appended = writer.await??;
    assert!(appended > 0 && verified == 40);
    assert_eq!(verify(db).await?.first_break, None);
    Ok(())
}
