//! Appending and verifying an intact chain.

use crate::support::{append, head, seqs, verify, T0};
use anyhow::Result;
use rampart_audit as audit;
use rampart_audit::chain::{chain_hash, keyed_hash, parse_hash, AuditContent, GENESIS_HASH};
use rampart_db::Db;

crate::both_engines!(
    empty_chain_verifies,
    append_n_then_verify_ok,
    rows_link_and_hash_as_documented
);

async fn empty_chain_verifies(db: &Db) -> Result<()> {
    let r = verify(db).await?;
    assert_eq!(r.rows, 0);
    assert_eq!(r.first_break, None);
    Ok(())
}

async fn append_n_then_verify_ok(db: &Db) -> Result<()> {
    append(db, 50, T0).await?;
    let r = verify(db).await?;
    assert_eq!(r.first_break, None, "{r:?}");
    assert_eq!(r.rows, 50);
    assert_eq!(seqs(db).await?, (1..=50).collect::<Vec<_>>());
    assert_eq!(audit::count(db).await?, 50);
    let (last_seq, _, anchor_seq, anchor_hash) = head(db).await?;
    assert_eq!((last_seq, anchor_seq), (50, 0));
    assert_eq!(anchor_hash, audit::genesis_hex());
    Ok(())
}

/// Each row's hash is HMAC-SHA256(key, prev || canonical content) under the key its
/// `hash_kid` names, and links to its predecessor, recomputed here independently of
/// `verify`.
async fn rows_link_and_hash_as_documented(db: &Db) -> Result<()> {
    append(db, 5, T0).await?;
    let mut rows = audit::latest(db, 10).await?;
    rows.reverse();
    let mut prev = GENESIS_HASH;
    let mut buf = Vec::new();
    for r in &rows {
        assert_eq!(parse_hash(&r.prev_hash), Some(prev));
        let c = AuditContent {
            seq: r.seq,
            id: &r.id,
            actor_user_uuid: r.actor_user_uuid.as_deref(),
            action_type: &r.action_type,
            target_type: &r.target_type,
            target_id: &r.target_id,
            metadata: &r.metadata,
            created_at: r.created_at,
            request_id: r.request_id.as_deref(),
        };
        assert_eq!(r.hash_kid.as_deref(), Some("t1"));
        let mac = crate::support::test_keys().mac("t1").unwrap();
        let h = keyed_hash(mac, &prev, &c, &mut buf);
        assert_eq!(r.hash, hex_lower(&h));
        // Not the unkeyed form.
        assert_ne!(h, chain_hash(&prev, &c, &mut buf));
        prev = h;
    }
    let (_, last_hash, _, _) = head(db).await?;
    assert_eq!(last_hash, hex_lower(&prev));
    Ok(())
}

fn hex_lower(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
