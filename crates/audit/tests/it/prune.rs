//! Pruning removes a prefix, moves the anchor, audits itself, and keeps the rest
//! verifiable (and tampering still detectable).

use crate::support::{entry, exec, head, row, seqs, verify};
use anyhow::Result;
use rampart_audit::{self as audit, ChainBreak};
use rampart_db::Db;

crate::both_engines!(
    prune_removes_old_rows_and_moves_anchor,
    prune_of_nothing_removes_nothing,
    prune_everything_keeps_a_verifiable_chain,
    prune_only_removes_a_leading_run,
    tampering_after_prune_is_detected,
    pruning_twice_keeps_verifying,
    prune_refuses_a_broken_chain,
    a_prune_faked_by_hand_is_detected,
);

/// Found by an outside review: deleting the oldest rows and moving the anchor by hand
/// passed a plain `verify`. A prune point no intact `audit_prune` row vouches for is a
/// break.
async fn a_prune_faked_by_hand_is_detected(db: &Db) -> Result<()> {
    daily(db).await?;
    let row4 = row(db, 4).await?;
    exec(db, "DELETE FROM audit_log WHERE seq <= 4").await?;
    exec(
        db,
        &format!(
            "UPDATE audit_chain SET anchor_seq = 4, anchor_hash = '{}' WHERE id = 1",
            row4.hash
        ),
    )
    .await?;
    let r = verify(db).await?;
    assert_eq!(
        r.first_break,
        Some(ChainBreak::UnvouchedPrune { anchor_seq: 4 })
    );
    // A real prune stays verifiable (its own row vouches for the new point).
    Ok(())
}

const DAY: i64 = 86_400_000;
const T0: i64 = crate::support::T0;
const NOW: i64 = T0 + 100 * DAY;

/// 10 rows, one a day from T0.
async fn daily(db: &Db) -> Result<()> {
    for i in 0..10 {
        audit::record_alone(db, entry(i, T0 + i * DAY)).await?;
    }
    Ok(())
}

async fn prune_removes_old_rows_and_moves_anchor(db: &Db) -> Result<()> {
    daily(db).await?;
    let row5 = row(db, 5).await?;
    let removed = audit::prune(db, T0 + 5 * DAY, NOW, Some("req-prune")).await?;
    assert_eq!(removed, 5);
    assert_eq!(seqs(db).await?, (6..=11).collect::<Vec<_>>());
    let (last_seq, last_hash, anchor_seq, anchor_hash) = head(db).await?;
    assert_eq!((anchor_seq, anchor_hash), (5, row5.hash));
    assert_eq!(last_seq, 11);
    // The prune is itself the newest audit row.
    let p = row(db, 11).await?;
    assert_eq!(p.action_type, "audit_prune");
    assert_eq!(p.hash, last_hash);
    assert_eq!(p.created_at, NOW);
    assert_eq!(p.request_id.as_deref(), Some("req-prune"));
    let meta: serde_json::Value = serde_json::from_str(&p.metadata)?;
    assert_eq!(meta["rows"], 5);
    assert_eq!(meta["anchor_seq"], 5);
    assert_eq!(meta["before"], T0 + 5 * DAY);
    assert_eq!(audit::by_request_id(db, "req-prune").await?.len(), 1);
    let r = verify(db).await?;
    assert_eq!((r.rows, r.first_break), (6, None));
    Ok(())
}

async fn prune_of_nothing_removes_nothing(db: &Db) -> Result<()> {
    // On an empty log.
    assert_eq!(audit::prune(db, NOW, NOW, None).await?, 0);
    assert_eq!(seqs(db).await?, Vec::<i64>::new());
    daily(db).await?;
    let before = head(db).await?;
    // Nothing is older than T0.
    assert_eq!(audit::prune(db, T0, NOW, None).await?, 0);
    assert_eq!(head(db).await?, before);
    assert_eq!(seqs(db).await?, (1..=10).collect::<Vec<_>>());
    assert_eq!(verify(db).await?.first_break, None);
    Ok(())
}

async fn prune_everything_keeps_a_verifiable_chain(db: &Db) -> Result<()> {
    daily(db).await?;
    let row10 = row(db, 10).await?;
    assert_eq!(audit::prune(db, NOW + DAY, NOW, None).await?, 10);
    assert_eq!(seqs(db).await?, vec![11]);
    let (_, _, anchor_seq, anchor_hash) = head(db).await?;
    assert_eq!((anchor_seq, anchor_hash), (10, row10.hash.clone()));
    assert_eq!(row(db, 11).await?.prev_hash, row10.hash);
    let r = verify(db).await?;
    assert_eq!((r.rows, r.first_break), (1, None));
    // Appends continue the chain.
    audit::record_alone(db, entry(50, NOW + 1)).await?;
    let r = verify(db).await?;
    assert_eq!((r.rows, r.first_break), (2, None));
    Ok(())
}

/// `created_at` need not be monotonic: only the leading run of old rows goes, never a
/// hole in the middle.
async fn prune_only_removes_a_leading_run(db: &Db) -> Result<()> {
    let times = [T0, T0 + DAY, T0 + 20 * DAY, T0 + 2 * DAY, T0 + 3 * DAY];
    for (i, t) in times.iter().enumerate() {
        audit::record_alone(db, entry(i as i64, *t)).await?;
    }
    assert_eq!(audit::prune(db, T0 + 10 * DAY, NOW, None).await?, 2);
    assert_eq!(seqs(db).await?, vec![3, 4, 5, 6]);
    assert_eq!(verify(db).await?.first_break, None);
    Ok(())
}

async fn tampering_after_prune_is_detected(db: &Db) -> Result<()> {
    daily(db).await?;
    audit::prune(db, T0 + 5 * DAY, NOW, None).await?;
    assert_eq!(verify(db).await?.first_break, None);

    // A forged anchor no longer matches the first kept row's link.
    let (_, _, _, anchor_hash) = head(db).await?;
    exec(
        db,
        &format!(
            "UPDATE audit_chain SET anchor_hash = '{}' WHERE id = 1",
            "00".repeat(32)
        ),
    )
    .await?;
    assert_eq!(
        verify(db).await?.first_break,
        Some(ChainBreak::BrokenLink { seq: 6 })
    );
    exec(
        db,
        &format!("UPDATE audit_chain SET anchor_hash = '{anchor_hash}' WHERE id = 1"),
    )
    .await?;
    assert_eq!(verify(db).await?.first_break, None);

    // Editing the prune's own row.
    exec(
        db,
        "UPDATE audit_log SET metadata = '{\"rows\":0}' WHERE seq = 11",
    )
    .await?;
    assert_eq!(
        verify(db).await?.first_break,
        Some(ChainBreak::Tampered { seq: 11 })
    );

    // An earlier edit is reported first.
    exec(db, "UPDATE audit_log SET metadata = '{}' WHERE seq = 7").await?;
    assert_eq!(
        verify(db).await?.first_break,
        Some(ChainBreak::Tampered { seq: 7 })
    );
    Ok(())
}

async fn pruning_twice_keeps_verifying(db: &Db) -> Result<()> {
    daily(db).await?;
    assert_eq!(audit::prune(db, T0 + 3 * DAY, NOW, None).await?, 3);
    assert_eq!(audit::prune(db, T0 + 6 * DAY, NOW + 1, None).await?, 3);
    assert_eq!(seqs(db).await?, vec![7, 8, 9, 10, 11, 12]);
    let r = verify(db).await?;
    assert_eq!((r.rows, r.first_break), (6, None));

    // Deleting the first row after the anchor, or moving the anchor, is detected.
    exec(db, "DELETE FROM audit_log WHERE seq = 7").await?;
    assert_eq!(
        verify(db).await?.first_break,
        Some(ChainBreak::Gap {
            expected_seq: 7,
            found_seq: 8
        })
    );
    exec(db, "UPDATE audit_chain SET anchor_seq = 7 WHERE id = 1").await?;
    assert_eq!(
        verify(db).await?.first_break,
        Some(ChainBreak::BrokenLink { seq: 8 })
    );
    Ok(())
}

/// Pruning a tampered chain would erase the evidence and anchor on a forged hash.
async fn prune_refuses_a_broken_chain(db: &Db) -> Result<()> {
    daily(db).await?;
    exec(db, "UPDATE audit_log SET target_id = 'x' WHERE seq = 2").await?;
    let before = head(db).await?;
    let r = audit::prune(db, NOW + DAY, NOW, None).await;
    assert!(
        matches!(r, Err(rampart_db::DbError::Corrupt(ref m)) if m.contains("row 2")),
        "{r:?}"
    );
    assert_eq!(head(db).await?, before);
    assert_eq!(seqs(db).await?, (1..=10).collect::<Vec<_>>());
    assert_eq!(
        verify(db).await?.first_break,
        Some(ChainBreak::Tampered { seq: 2 })
    );
    Ok(())
}
