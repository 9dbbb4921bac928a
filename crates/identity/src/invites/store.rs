//! Invite codes (hashed).

#![allow(unused_imports)]

use rampart_db::{on_conn, on_read, on_tx, on_write, Conn, Db, DbError, Result, Tx};

/// Stores an invite (code hashed by the caller).
pub async fn create_invite(
    tx: &mut Tx,
    id: &str,
    code_hash: &str,
    max_uses: i64,
    expires_at: Option<i64>,
    created_by: Option<&str>,
    now: i64,
) -> Result<()> {
    on_tx!(tx, |e| {
        sqlx::query(
        "INSERT INTO invites (id, code_hash, max_uses, expires_at, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6)"
    )
    .bind(id)
    .bind(code_hash)
    .bind(max_uses)
    .bind(expires_at)
    .bind(created_by)
    .bind(now)
    .execute(e).await.map(|r| r.rows_affected())
    })?;
    Ok(())
}

/// Consumes one use of a valid invite in `tx`; false when unknown, used up, expired
/// or revoked. One conditional UPDATE, so concurrent registrations cannot overrun.
pub async fn consume_invite(tx: &mut Tx, code_hash: &str, now: i64) -> Result<bool> {
    let n = on_tx!(tx, |e| sqlx::query(
        "UPDATE invites SET uses = uses + 1 WHERE code_hash = $1 AND revoked_at IS NULL \
         AND (expires_at IS NULL OR expires_at > $2) AND uses < max_uses"
    )
    .bind(code_hash)
    .bind(now)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

/// Revokes an invite.
pub async fn revoke_invite(tx: &mut Tx, id: &str, now: i64) -> Result<bool> {
    let n = on_tx!(tx, |e| sqlx::query(
        "UPDATE invites SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL"
    )
    .bind(id)
    .bind(now)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n == 1)
}
