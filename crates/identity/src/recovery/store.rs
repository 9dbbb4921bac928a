//! Password-reset tokens; only hashes are stored.

#![allow(unused_imports)]

use rampart_db::{on_conn, on_read, on_tx, on_write, Conn, Db, DbError, Result, Tx};

/// A password-reset token row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ResetRow {
    /// ID.
    pub id: String,
    /// Whose.
    pub user_id: String,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub expires_at: i64,
    /// Used.
    pub used_at: Option<i64>,
    /// Superseded or voided.
    pub invalidated_at: Option<i64>,
}

/// Voids a user's outstanding reset tokens and stores a new one (superseding).
pub async fn new_reset(
    tx: &mut Tx,
    user_id: &str,
    token_hash: &str,
    now: i64,
    expires_at: i64,
) -> Result<()> {
    invalidate_resets(tx, user_id, now).await?;
    on_tx!(tx, |e| {
        sqlx::query(
        "INSERT INTO password_resets (id, user_id, token_hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)"
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(user_id)
    .bind(token_hash)
    .bind(now)
    .bind(expires_at)
    .execute(e).await.map(|r| r.rows_affected())
    })?;
    Ok(())
}

/// Voids every outstanding reset token of a user.
pub async fn invalidate_resets(tx: &mut Tx, user_id: &str, now: i64) -> Result<()> {
    on_tx!(tx, |e| {
        sqlx::query(
        "UPDATE password_resets SET invalidated_at = $2 WHERE user_id = $1 AND used_at IS NULL AND invalidated_at IS NULL"
    )
    .bind(user_id)
    .bind(now)
    .execute(e).await.map(|r| r.rows_affected())
    })?;
    Ok(())
}

/// Finds a reset token by hash.
pub async fn reset_by_hash(tx: &mut Tx, token_hash: &str) -> Result<Option<ResetRow>> {
    Ok(on_tx!(tx, |e| {
        sqlx::query_as::<_, ResetRow>(
        "SELECT id, user_id, created_at, expires_at, used_at, invalidated_at FROM password_resets WHERE token_hash = $1"
    )
    .bind(token_hash)
    .fetch_optional(e)
    .await
    })?)
}

/// Marks a reset token used (only once).
pub async fn use_reset(tx: &mut Tx, id: &str, now: i64) -> Result<bool> {
    let n = on_tx!(tx, |e| {
        sqlx::query(
        "UPDATE password_resets SET used_at = $2 WHERE id = $1 AND used_at IS NULL AND invalidated_at IS NULL"
    )
    .bind(id)
    .bind(now)
    .execute(e).await.map(|r| r.rows_affected())
    })?;
    Ok(n == 1)
}

/// Deletes password-reset tokens that expired before `before` (used or not: an
/// expired token is refused either way). Returns rows.
pub async fn prune_expired(db: &Db, before: i64) -> Result<u64> {
    Ok(on_write!(db, |e| sqlx::query(
        "DELETE FROM password_resets WHERE expires_at < $1"
    )
    .bind(before)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))?)
}
