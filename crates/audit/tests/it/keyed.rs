//! The keyed chain: someone who can write the database but lacks the HMAC key cannot
//! recompute a chain that verifies; rotation keeps old rows verifiable; pre-upgrade
//! (unkeyed) rows still verify; external anchors catch truncation and rewrites made
//! even with the key.

use crate::support::{append, entry, exec, head, ring, row, test_keys, verify, T0};
use anyhow::{Context, Result};
use rampart_audit::anchor::{check_anchors, checkpoint, wanted, Checkpoint};
use rampart_audit::chain::{chain_hash, keyed_hash, parse_hash};
use rampart_audit::keys::ChainMac;
use rampart_audit::{self as audit, AnchorFinding, AuditKeys, ChainBreak, VerifyOptions};
use rampart_db::Db;

crate::both_engines!(
    rewrite_and_recompute_unkeyed_is_detected,
    rewrite_and_recompute_with_a_wrong_key_is_detected,
    legacy_rows_still_verify_and_cannot_be_extended,
    rotation_keeps_old_rows_verifiable,
    anchor_catches_truncation,
    anchor_catches_a_rewrite_made_with_the_key,
    anchor_older_than_a_prune_is_pruned_before_not_tampering,
    anchor_catches_raised_legacy_prefix,
);

/// How an attacker (or the upgrade simulation) recomputes rows.
enum Rehash<'a> {
    /// Plain SHA-256, `hash_kid` NULL (the pre-upgrade form).
    Plain,
    /// HMAC under `mac`, stored as `kid`.
    Keyed(&'a str, &'a ChainMac),
}

/// Recomputes every row from `from` onwards (and the head) the way someone with
/// write access to the database would.
async fn rechain(db: &Db, from: i64, how: Rehash<'_>) -> Result<()> {
    let mut rows = audit::latest(db, i64::MAX / 2).await?;
    rows.reverse();
    let (_, _, anchor_seq, anchor_hash) = head(db).await?;
    let mut prev = if from == anchor_seq + 1 {
        parse_hash(&anchor_hash).context("anchor")?
    } else {
        parse_hash(&row(db, from - 1).await?.hash).context("prev")?
    };
    let mut buf = Vec::new();
    for r in rows.iter().filter(|r| r.seq >= from) {
        let (h, kid) = match &how {
            Rehash::Plain => (chain_hash(&prev, &r.content(), &mut buf), "NULL".to_owned()),
            Rehash::Keyed(kid, mac) => (
                keyed_hash(mac, &prev, &r.content(), &mut buf),
                format!("'{kid}'"),
            ),
        };
        exec(
            db,
            &format!(
                "UPDATE audit_log SET prev_hash = '{}', hash = '{}', hash_kid = {kid} WHERE seq = {}",
                hex::encode(prev),
                hex::encode(h),
                r.seq
            ),
        )
        .await?;
        prev = h;
    }
    exec(
        db,
        &format!(
            "UPDATE audit_chain SET last_hash = '{}' WHERE id = 1",
            hex::encode(prev)
        ),
    )
    .await?;
    Ok(())
}

async fn edit_row_4(db: &Db) -> Result<()> {
    assert_eq!(
        exec(
            db,
            r#"UPDATE audit_log SET metadata = '{"i":"rewritten"}' WHERE seq = 4"#
        )
        .await?,
        1
    );
    Ok(())
}

async fn rewrite_and_recompute_unkeyed_is_detected(db: &Db) -> Result<()> {
    append(db, 10, T0).await?;
    edit_row_4(db).await?;
    rechain(db, 4, Rehash::Plain).await?;
    assert_eq!(
        verify(db).await?.first_break,
        Some(ChainBreak::Unkeyed { seq: 4 })
    );
    // Even rewriting the whole history in the unkeyed form.
    rechain(db, 1, Rehash::Plain).await?;
    assert_eq!(
        verify(db).await?.first_break,
        Some(ChainBreak::Unkeyed { seq: 1 })
    );
    Ok(())
}

async fn rewrite_and_recompute_with_a_wrong_key_is_detected(db: &Db) -> Result<()> {
    append(db, 10, T0).await?;
    edit_row_4(db).await?;
    let guess = ring(&[("t1", 0x11)]);
    let mac = guess.mac("t1").context("mac")?;
    rechain(db, 4, Rehash::Keyed("t1", mac)).await?;
    assert_eq!(
        verify(db).await?.first_break,
        Some(ChainBreak::Tampered { seq: 4 })
    );
    rechain(db, 4, Rehash::Keyed("evil", mac)).await?;
    assert_eq!(
        verify(db).await?.first_break,
        Some(ChainBreak::UnknownKey {
            seq: 4,
            kid: "evil".into()
        })
    );
    Ok(())
}

/// A database from before the upgrade: rows in the plain form, `legacy_until` set by
/// the migration. They verify; rows after them are keyed; the prefix cannot grow.
async fn legacy_rows_still_verify_and_cannot_be_extended(db: &Db) -> Result<()> {
    append(db, 5, T0).await?;
    rechain(db, 1, Rehash::Plain).await?;
    exec(db, "UPDATE audit_chain SET legacy_until = 5 WHERE id = 1").await?;
    let r = verify(db).await?;
    assert_eq!((r.rows, r.legacy_rows, r.first_break), (5, 5, None));
    assert_eq!(r.head_kid, None);
    append(db, 3, T0 + 10).await?;
    let r = verify(db).await?;
    assert_eq!((r.rows, r.legacy_rows, r.first_break), (8, 5, None));
    assert_eq!(r.head_kid.as_deref(), Some("t1"));
    assert_eq!(row(db, 6).await?.prev_hash, row(db, 5).await?.hash);
    // A legacy row is as tamper-evident as before (without recomputation).
    exec(db, "UPDATE audit_log SET created_at = 1 WHERE seq = 2").await?;
    assert_eq!(
        verify(db).await?.first_break,
        Some(ChainBreak::Tampered { seq: 2 })
    );
    // Row 2 is entry 1, created at T0 + 1.
    exec(
        db,
        &format!("UPDATE audit_log SET created_at = {} WHERE seq = 2", T0 + 1),
    )
    .await?;
    assert_eq!(verify(db).await?.first_break, None);
    // A keyed row rewritten in the unkeyed form is refused.
    rechain(db, 7, Rehash::Plain).await?;
    assert_eq!(
        verify(db).await?.first_break,
        Some(ChainBreak::Unkeyed { seq: 7 })
    );
    Ok(())
}

async fn rotation_keeps_old_rows_verifiable(db: &Db) -> Result<()> {
    let k1 = ring(&[("k1", 0x01)]);
    let k2k1 = ring(&[("k2", 0x02), ("k1", 0x01)]);
    let k2 = ring(&[("k2", 0x02)]);
    for i in 0..3 {
        audit::record_alone_with(db, &k1, entry(i, T0 + i)).await?;
    }
    for i in 3..6 {
        audit::record_alone_with(db, &k2k1, entry(i, T0 + i)).await?;
    }
    assert_eq!(row(db, 3).await?.hash_kid.as_deref(), Some("k1"));
    assert_eq!(row(db, 4).await?.hash_kid.as_deref(), Some("k2"));
    let opts = VerifyOptions::default();
    let r = audit::verify_with(db, &k2k1, &opts, |_| {}).await?;
    assert_eq!((r.rows, r.first_break), (6, None));
    assert_eq!(r.head_kid.as_deref(), Some("k2"));
    // The old key removed too early: its rows no longer verify.
    let r = audit::verify_with(db, &k2, &opts, |_| {}).await?;
    assert_eq!(
        r.first_break,
        Some(ChainBreak::UnknownKey {
            seq: 1,
            kid: "k1".into()
        })
    );
    let r = audit::verify_with(db, &k1, &opts, |_| {}).await?;
    assert_eq!(
        r.first_break,
        Some(ChainBreak::UnknownKey {
            seq: 4,
            kid: "k2".into()
        })
    );
    // Same ids, other bytes: tampered.
    let fake = ring(&[("k2", 0x22), ("k1", 0x01)]);
    let r = audit::verify_with(db, &fake, &opts, |_| {}).await?;
    assert_eq!(r.first_break, Some(ChainBreak::Tampered { seq: 4 }));
    Ok(())
}

/// Takes a checkpoint of the intact chain.
async fn anchor(db: &Db, keys: &AuditKeys) -> Result<Checkpoint> {
    checkpoint(db, keys, T0 + 1_000)
        .await?
        .map_err(|b| anyhow::anyhow!("chain broken: {b}"))
}

async fn findings(db: &Db, anchors: &[Checkpoint]) -> Result<Vec<AnchorFinding>> {
    let r = audit::verify_with(db, test_keys(), &wanted(anchors), |_| {}).await?;
    assert_eq!(r.first_break, None, "{r:?}");
    Ok(check_anchors(&r, anchors))
}

async fn anchor_catches_truncation(db: &Db) -> Result<()> {
    append(db, 10, T0).await?;
    let a5 = {
        let mut a = anchor(db, test_keys()).await?;
        // An earlier checkpoint, at row 5.
        a.seq = 5;
        a.head = row(db, 5).await?.hash;
        a
    };
    let a10 = anchor(db, test_keys()).await?;
    assert_eq!((a10.seq, a10.kid.as_deref()), (10, Some("t1")));
    assert_eq!(
        findings(db, &[a5.clone(), a10.clone()]).await?,
        [AnchorFinding::Ok { seq: 5 }, AnchorFinding::Ok { seq: 10 }]
    );
    // Delete the tail and move the head back: the chain alone is consistent…
    let h6 = row(db, 6).await?.hash;
    exec(db, "DELETE FROM audit_log WHERE seq > 6").await?;
    exec(
        db,
        &format!("UPDATE audit_chain SET last_seq = 6, last_hash = '{h6}' WHERE id = 1"),
    )
    .await?;
    assert_eq!(verify(db).await?.first_break, None);
    // …but not with the anchor.
    let f = findings(db, &[a5, a10]).await?;
    assert_eq!(
        f,
        [
            AnchorFinding::Ok { seq: 5 },
            AnchorFinding::Truncated {
                seq: 10,
                head_seq: 6
            }
        ]
    );
    assert!(f[1].is_failure() && !f[0].is_failure());
    Ok(())
}

async fn anchor_catches_a_rewrite_made_with_the_key(db: &Db) -> Result<()> {
    append(db, 10, T0).await?;
    let a = anchor(db, test_keys()).await?;
    edit_row_4(db).await?;
    rechain(
        db,
        4,
        Rehash::Keyed("t1", test_keys().mac("t1").context("t1")?),
    )
    .await?;
    // Someone with the HMAC key passes the chain check…
    assert_eq!(verify(db).await?.first_break, None);
    // …but not the anchor.
    assert_eq!(
        findings(db, &[a]).await?,
        [AnchorFinding::Rewritten { seq: 10 }]
    );
    Ok(())
}

async fn anchor_older_than_a_prune_is_pruned_before_not_tampering(db: &Db) -> Result<()> {
    const DAY: i64 = 86_400_000;
    for i in 0..10 {
        audit::record_alone(db, entry(i, T0 + i * DAY)).await?;
    }
    let a10 = anchor(db, test_keys()).await?;
    for i in 10..15 {
        audit::record_alone(db, entry(i, T0 + i * DAY)).await?;
    }
    assert_eq!(
        audit::prune(db, T0 + 12 * DAY, T0 + 100 * DAY, None).await?,
        12
    );
    let a16 = anchor(db, test_keys()).await?;
    assert_eq!(a16.seq, 16);
    let f = findings(db, &[a10.clone(), a16.clone()]).await?;
    assert_eq!(
        f,
        [
            AnchorFinding::PrunedBefore {
                seq: 10,
                prune_seq: 12,
                by_seq: 16
            },
            AnchorFinding::Ok { seq: 16 }
        ]
    );
    assert!(!f[0].is_failure());
    // A "prune" done by deleting rows and moving the anchor by hand is not vouched for.
    let h13 = row(db, 13).await?.hash;
    exec(db, "DELETE FROM audit_log WHERE seq <= 13").await?;
    exec(
        db,
        &format!("UPDATE audit_chain SET anchor_seq = 13, anchor_hash = '{h13}' WHERE id = 1"),
    )
    .await?;
    // Plain verify catches it too (an outside review found it did not).
    assert_eq!(
        verify(db).await?.first_break,
        Some(rampart_audit::ChainBreak::UnvouchedPrune { anchor_seq: 13 })
    );
    let anchors = [a10, a16];
    let r = audit::verify_with(db, test_keys(), &wanted(&anchors), |_| {}).await?;
    let f = check_anchors(&r, &anchors);
    assert_eq!(
        f[0],
        AnchorFinding::UnvouchedPrune {
            seq: 10,
            prune_seq: 13
        }
    );
    assert!(f[0].is_failure());
    Ok(())
}

async fn anchor_catches_raised_legacy_prefix(db: &Db) -> Result<()> {
    append(db, 6, T0).await?;
    let a = anchor(db, test_keys()).await?;
    assert_eq!(a.legacy_until, 0);
    // Rewrite everything in the unkeyed form and declare it legacy: the chain alone
    // cannot tell (the boundary lives in the database)…
    edit_row_4(db).await?;
    rechain(db, 1, Rehash::Plain).await?;
    exec(db, "UPDATE audit_chain SET legacy_until = 6 WHERE id = 1").await?;
    assert_eq!(verify(db).await?.first_break, None);
    // …the anchor can.
    let f = findings(db, &[a]).await?;
    assert_eq!(
        f,
        [AnchorFinding::LegacyRaised {
            seq: 6,
            anchored: 0,
            now: 6
        }]
    );
    Ok(())
}
