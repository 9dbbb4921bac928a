//! The audit row commits or rolls back with the action it records.

use crate::support::{append, entry, head, seqs, verify, T0};
use anyhow::Result;
use rampart_audit as audit;
use rampart_db::{on_tx, Db, DbError, Tx};

crate::both_engines!(
    rolled_back_record_leaves_nothing,
    dropped_tx_leaves_nothing,
    failing_action_after_record_leaves_nothing,
    committed_action_and_row_together,
);

/// Another context's write in the same transaction (a user row; a second one with
/// the same name violates the unique constraint).
async fn create_user(tx: &mut Tx, name: &str) -> Result<String, DbError> {
    let id = format!("user-{name}");
    on_tx!(tx, |e| sqlx::query(
        "INSERT INTO users (id, username, password_hash, role, status, created_at, updated_at, \
         password_changed_at) VALUES ($1, $2, 'x', 'customer', 'active', $3, $3, $3)"
    )
    .bind(&id)
    .bind(name)
    .bind(T0)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))
    .map_err(DbError::from)?;
    Ok(id)
}

async fn rolled_back_record_leaves_nothing(db: &Db) -> Result<()> {
    append(db, 3, T0).await?;
    let before = head(db).await?;
    let mut tx = db.begin().await?;
    let seq = audit::record(&mut tx, entry(100, T0 + 100)).await?;
    assert_eq!(seq, 4);
    tx.rollback().await?;
    assert_eq!(head(db).await?, before);
    assert_eq!(seqs(db).await?, vec![1, 2, 3]);
    // The next append reuses the sequence number: no gap.
    assert_eq!(audit::record_alone(db, entry(101, T0 + 101)).await?, 4);
    let r = verify(db).await?;
    assert_eq!((r.rows, r.first_break), (4, None));
    Ok(())
}

async fn dropped_tx_leaves_nothing(db: &Db) -> Result<()> {
    append(db, 2, T0).await?;
    let before = head(db).await?;
    {
        let mut tx = db.begin().await?;
        audit::record(&mut tx, entry(7, T0 + 7)).await?;
        audit::record(&mut tx, entry(8, T0 + 8)).await?;
        // Dropped without commit (an early `?` return in a handler).
    }
    assert_eq!(head(db).await?, before);
    assert_eq!(seqs(db).await?, vec![1, 2]);
    assert_eq!(verify(db).await?.first_break, None);
    Ok(())
}

/// The action's own statement fails after the audit row was written in the same
/// transaction: neither survives.
async fn failing_action_after_record_leaves_nothing(db: &Db) -> Result<()> {
    let mut tx = db.begin().await?;
    create_user(&mut tx, "alice").await?;
    audit::record(&mut tx, entry(0, T0)).await?;
    tx.commit().await?;
    let before = head(db).await?;

    let mut tx = db.begin().await?;
    audit::record(&mut tx, entry(1, T0 + 1)).await?;
    let dup = create_user(&mut tx, "alice").await;
    assert!(matches!(dup, Err(DbError::Conflict(_))), "{dup:?}");
    drop(tx);

    assert_eq!(head(db).await?, before);
    assert_eq!(seqs(db).await?, vec![1]);
    assert_eq!(
        crate::support::row(db, 1).await?.action_type,
        entry(0, 0).action.as_str()
    );
    let r = verify(db).await?;
    assert_eq!((r.rows, r.first_break), (1, None));
    Ok(())
}

async fn committed_action_and_row_together(db: &Db) -> Result<()> {
    let mut tx = db.begin().await?;
    let id = create_user(&mut tx, "bob").await?;
    let mut e = entry(1, T0);
    e.target = audit::Target::user("bob");
    let seq = audit::record(&mut tx, e).await?;
    tx.commit().await?;
    assert!(!id.is_empty());
    assert_eq!(seqs(db).await?, vec![seq]);
    assert_eq!(head(db).await?.0, seq);
    Ok(())
}
