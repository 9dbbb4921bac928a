//! Direct database edits, deletions and insertions are detected and name the row.

use crate::support::{append, exec, head, row, test_keys, verify, T0};
use anyhow::Result;
use rampart_audit::chain::{chain_hash, keyed_hash, parse_hash, AuditContent};
use rampart_audit::ChainBreak;
use rampart_db::Db;

crate::both_engines!(
    edited_metadata_names_the_row,
    edited_actor_names_the_row,
    edited_target_names_the_row,
    edited_action_type_names_the_row,
    edited_created_at_names_the_row,
    edited_request_id_names_the_row,
    edited_hash_names_the_row,
    edited_hash_case_only_is_detected,
    edited_prev_hash_is_a_broken_link,
    edited_last_row_names_it,
    deleted_middle_row_is_a_gap,
    deleted_first_row_is_a_gap,
    deleted_last_row_is_head_mismatch,
    inserted_row_with_made_up_hash,
    inserted_row_with_wrong_link,
    inserted_row_rechained_without_head,
    inserted_row_rechained_unkeyed,
    inserted_row_before_the_start,
    edited_head_is_detected,
);

const N: i64 = 10;

async fn seeded(db: &Db) -> Result<()> {
    append(db, N, T0).await?;
    assert_eq!(verify(db).await?.first_break, None);
    Ok(())
}

async fn expect_break(db: &Db, want: ChainBreak) -> Result<()> {
    let r = verify(db).await?;
    assert_eq!(r.first_break, Some(want), "{r:?}");
    Ok(())
}

async fn edited_metadata_names_the_row(db: &Db) -> Result<()> {
    seeded(db).await?;
    assert_eq!(
        exec(
            db,
            r#"UPDATE audit_log SET metadata = '{"i":999}' WHERE seq = 4"#
        )
        .await?,
        1
    );
    expect_break(db, ChainBreak::Tampered { seq: 4 }).await
}

async fn edited_actor_names_the_row(db: &Db) -> Result<()> {
    seeded(db).await?;
    // Row 3 had no actor (i = 2 → Some; i = 3 → None): set one, and clear another.
    exec(
        db,
        "UPDATE audit_log SET actor_user_uuid = 'someone-else' WHERE seq = 7",
    )
    .await?;
    expect_break(db, ChainBreak::Tampered { seq: 7 }).await?;
    exec(
        db,
        "UPDATE audit_log SET actor_user_uuid = NULL WHERE seq = 2",
    )
    .await?;
    expect_break(db, ChainBreak::Tampered { seq: 2 }).await
}

async fn edited_target_names_the_row(db: &Db) -> Result<()> {
    seeded(db).await?;
    exec(
        db,
        "UPDATE audit_log SET target_id = 'victim' WHERE seq = 5",
    )
    .await?;
    expect_break(db, ChainBreak::Tampered { seq: 5 }).await?;
    exec(
        db,
        "UPDATE audit_log SET target_type = 'store' WHERE seq = 3",
    )
    .await?;
    expect_break(db, ChainBreak::Tampered { seq: 3 }).await
}

async fn edited_action_type_names_the_row(db: &Db) -> Result<()> {
    seeded(db).await?;
    exec(
        db,
        "UPDATE audit_log SET action_type = 'user_unban' WHERE seq = 1",
    )
    .await?;
    expect_break(db, ChainBreak::Tampered { seq: 1 }).await
}

async fn edited_created_at_names_the_row(db: &Db) -> Result<()> {
    seeded(db).await?;
    exec(
        db,
        "UPDATE audit_log SET created_at = created_at - 86400000 WHERE seq = 6",
    )
    .await?;
    expect_break(db, ChainBreak::Tampered { seq: 6 }).await
}

async fn edited_request_id_names_the_row(db: &Db) -> Result<()> {
    seeded(db).await?;
    exec(
        db,
        "UPDATE audit_log SET request_id = 'forged' WHERE seq = 8",
    )
    .await?;
    expect_break(db, ChainBreak::Tampered { seq: 8 }).await
}

async fn edited_hash_names_the_row(db: &Db) -> Result<()> {
    seeded(db).await?;
    exec(
        db,
        &format!(
            "UPDATE audit_log SET hash = '{}' WHERE seq = 5",
            "ab".repeat(32)
        ),
    )
    .await?;
    expect_break(db, ChainBreak::Tampered { seq: 5 }).await
}

/// Hex is stored lowercase; an upper-cased hash decodes to the same bytes but is still
/// an edit of the stored row and must not pass.
async fn edited_hash_case_only_is_detected(db: &Db) -> Result<()> {
    seeded(db).await?;
    exec(db, "UPDATE audit_log SET hash = UPPER(hash) WHERE seq = 5").await?;
    expect_break(db, ChainBreak::Tampered { seq: 5 }).await?;
    exec(db, "UPDATE audit_log SET hash = LOWER(hash) WHERE seq = 5").await?;
    assert_eq!(verify(db).await?.first_break, None);
    exec(
        db,
        "UPDATE audit_log SET prev_hash = UPPER(prev_hash) WHERE seq = 6",
    )
    .await?;
    expect_break(db, ChainBreak::BrokenLink { seq: 6 }).await
}

async fn edited_prev_hash_is_a_broken_link(db: &Db) -> Result<()> {
    seeded(db).await?;
    exec(
        db,
        &format!(
            "UPDATE audit_log SET prev_hash = '{}' WHERE seq = 9",
            "00".repeat(32)
        ),
    )
    .await?;
    expect_break(db, ChainBreak::BrokenLink { seq: 9 }).await
}

async fn edited_last_row_names_it(db: &Db) -> Result<()> {
    seeded(db).await?;
    exec(
        db,
        &format!("UPDATE audit_log SET target_id = 'x' WHERE seq = {N}"),
    )
    .await?;
    expect_break(db, ChainBreak::Tampered { seq: N }).await
}

async fn deleted_middle_row_is_a_gap(db: &Db) -> Result<()> {
    seeded(db).await?;
    assert_eq!(exec(db, "DELETE FROM audit_log WHERE seq = 5").await?, 1);
    expect_break(
        db,
        ChainBreak::Gap {
            expected_seq: 5,
            found_seq: 6,
        },
    )
    .await
}

async fn deleted_first_row_is_a_gap(db: &Db) -> Result<()> {
    seeded(db).await?;
    exec(db, "DELETE FROM audit_log WHERE seq = 1").await?;
    expect_break(
        db,
        ChainBreak::Gap {
            expected_seq: 1,
            found_seq: 2,
        },
    )
    .await
}

async fn deleted_last_row_is_head_mismatch(db: &Db) -> Result<()> {
    seeded(db).await?;
    exec(db, &format!("DELETE FROM audit_log WHERE seq = {N}")).await?;
    expect_break(
        db,
        ChainBreak::HeadMismatch {
            last_seq_found: N - 1,
            head_seq: N,
        },
    )
    .await?;
    // Deleting every row is caught the same way.
    exec(db, "DELETE FROM audit_log").await?;
    expect_break(
        db,
        ChainBreak::HeadMismatch {
            last_seq_found: 0,
            head_seq: N,
        },
    )
    .await
}

fn insert_sql(seq: i64, prev: &str, hash: &str, created_at: i64) -> String {
    format!(
        "INSERT INTO audit_log (seq, id, actor_user_uuid, action_type, target_type, target_id, metadata, \
         created_at, request_id, prev_hash, hash, hash_kid) VALUES ({seq}, 'forged-{seq}', NULL, 'refund', 'order', 'o1', \
         '{{}}', {created_at}, NULL, '{prev}', '{hash}', 't1')"
    )
}

async fn inserted_row_with_made_up_hash(db: &Db) -> Result<()> {
    seeded(db).await?;
    let last = row(db, N).await?;
    exec(
        db,
        &insert_sql(N + 1, &last.hash, &"cd".repeat(32), T0 + 100),
    )
    .await?;
    expect_break(db, ChainBreak::Tampered { seq: N + 1 }).await
}

async fn inserted_row_with_wrong_link(db: &Db) -> Result<()> {
    seeded(db).await?;
    exec(
        db,
        &insert_sql(N + 1, &"11".repeat(32), &"cd".repeat(32), T0 + 100),
    )
    .await?;
    expect_break(db, ChainBreak::BrokenLink { seq: N + 1 }).await
}

/// Someone who knows the algorithm *and the key* appends a correctly chained row but
/// cannot (or does not) rewrite the head: the chain runs past the head.
async fn inserted_row_rechained_without_head(db: &Db) -> Result<()> {
    seeded(db).await?;
    let last = row(db, N).await?;
    let prev = parse_hash(&last.hash).unwrap();
    let seq = N + 1;
    let id = format!("forged-{seq}");
    let c = AuditContent {
        seq,
        id: &id,
        actor_user_uuid: None,
        action_type: "refund",
        target_type: "order",
        target_id: "o1",
        metadata: "{}",
        created_at: T0 + 100,
        request_id: None,
    };
    let mac = test_keys().mac("t1").unwrap();
    let h = keyed_hash(mac, &prev, &c, &mut Vec::new());
    let hx: String = h.iter().map(|b| format!("{b:02x}")).collect();
    exec(db, &insert_sql(seq, &last.hash, &hx, T0 + 100)).await?;
    expect_break(
        db,
        ChainBreak::HeadMismatch {
            last_seq_found: N + 1,
            head_seq: N,
        },
    )
    .await
}

/// Without the key, a correctly chained row in the plain SHA-256 form (and the head
/// moved to it) is refused: only pre-upgrade rows may be unkeyed.
async fn inserted_row_rechained_unkeyed(db: &Db) -> Result<()> {
    seeded(db).await?;
    let last = row(db, N).await?;
    let prev = parse_hash(&last.hash).unwrap();
    let seq = N + 1;
    let id = format!("forged-{seq}");
    let c = AuditContent {
        seq,
        id: &id,
        actor_user_uuid: None,
        action_type: "refund",
        target_type: "order",
        target_id: "o1",
        metadata: "{}",
        created_at: T0 + 100,
        request_id: None,
    };
    let hx = hex::encode(chain_hash(&prev, &c, &mut Vec::new()));
    exec(
        db,
        &insert_sql(seq, &last.hash, &hx, T0 + 100).replace("'t1')", "NULL)"),
    )
    .await?;
    exec(
        db,
        &format!("UPDATE audit_chain SET last_seq = {seq}, last_hash = '{hx}' WHERE id = 1"),
    )
    .await?;
    expect_break(db, ChainBreak::Unkeyed { seq }).await
}

async fn inserted_row_before_the_start(db: &Db) -> Result<()> {
    seeded(db).await?;
    exec(
        db,
        &insert_sql(0, &"00".repeat(32), &"cd".repeat(32), T0 - 1),
    )
    .await?;
    expect_break(
        db,
        ChainBreak::Gap {
            expected_seq: 1,
            found_seq: 0,
        },
    )
    .await
}

async fn edited_head_is_detected(db: &Db) -> Result<()> {
    seeded(db).await?;
    let (_, last_hash, _, _) = head(db).await?;
    exec(
        db,
        &format!(
            "UPDATE audit_chain SET last_hash = '{}' WHERE id = 1",
            "ee".repeat(32)
        ),
    )
    .await?;
    expect_break(
        db,
        ChainBreak::HeadMismatch {
            last_seq_found: N,
            head_seq: N,
        },
    )
    .await?;
    exec(
        db,
        &format!(
            "UPDATE audit_chain SET last_hash = '{last_hash}', last_seq = {} WHERE id = 1",
            N + 3
        ),
    )
    .await?;
    expect_break(
        db,
        ChainBreak::HeadMismatch {
            last_seq_found: N,
            head_seq: N + 3,
        },
    )
    .await
}
