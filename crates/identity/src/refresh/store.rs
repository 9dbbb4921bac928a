//! Refresh tokens of rotating families; only hashes are stored.

#![allow(unused_imports)]

use rampart_db::{on_conn, on_read, on_tx, on_write, Conn, Db, DbError, Result, Tx};

/// A refresh token row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RefreshRow {
    /// ID.
    pub id: String,
    /// Family = session.
    pub session_id: String,
    /// Hash.
    pub token_hash: String,
    /// The one successor, once rotated.
    pub successor_id: Option<String>,
    /// Unix ms.
    pub expires_at: i64,
    /// When it was rotated away.
    pub rotated_at: Option<i64>,
    /// When revoked.
    pub revoked_at: Option<i64>,
}

const RCOLS: &str = "id, session_id, token_hash, parent_id, successor_id, created_at, expires_at, rotated_at, revoked_at";

/// Finds a refresh token by hash, locking it on PostgreSQL so concurrent rotations of
/// the same token queue (SQLite's single writer already serialises transactions).
pub async fn refresh_for_update(tx: &mut Tx, token_hash: &str) -> Result<Option<RefreshRow>> {
    let row = match tx {
        Tx::Sqlite(t) => {
            sqlx::query_as::<_, RefreshRow>(&format!(
                "SELECT {RCOLS} FROM refresh_tokens WHERE token_hash = $1"
            ))
            .bind(token_hash)
            .fetch_optional(&mut **t)
            .await?
        }
        Tx::Postgres(t) => {
            sqlx::query_as::<_, RefreshRow>(&format!(
                "SELECT {RCOLS} FROM refresh_tokens WHERE token_hash = $1 FOR UPDATE"
            ))
            .bind(token_hash)
            .fetch_optional(&mut **t)
            .await?
        }
    };
    Ok(row)
}

/// By ID inside a transaction.
pub async fn refresh_by_id(tx: &mut Tx, id: &str) -> Result<Option<RefreshRow>> {
    let sql = format!("SELECT {RCOLS} FROM refresh_tokens WHERE id = $1");
    Ok(on_tx!(tx, |e| sqlx::query_as::<_, RefreshRow>(&sql)
        .bind(id)
        .fetch_optional(e)
        .await)?)
}

/// Inserts a refresh token.
pub async fn insert_refresh(
    tx: &mut Tx,
    id: &str,
    session_id: &str,
    token_hash: &str,
    parent_id: Option<&str>,
    now: i64,
    expires_at: i64,
) -> Result<()> {
    on_tx!(tx, |e| {
        sqlx::query(
        "INSERT INTO refresh_tokens (id, session_id, token_hash, parent_id, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6)"
    )
    .bind(id)
    .bind(session_id)
    .bind(token_hash)
    .bind(parent_id)
    .bind(now)
    .bind(expires_at)
    .execute(e).await.map(|r| r.rows_affected())
    })?;
    Ok(())
}

/// Marks `id` rotated with its successor (only if not already rotated).
pub async fn mark_rotated(tx: &mut Tx, id: &str, successor_id: &str, now: i64) -> Result<bool> {
    let n = on_tx!(tx, |e| {
        sqlx::query(
        "UPDATE refresh_tokens SET rotated_at = $2, successor_id = $3 WHERE id = $1 AND rotated_at IS NULL"
    )
    .bind(id)
    .bind(now)
    .bind(successor_id)
    .execute(e).await.map(|r| r.rows_affected())
    })?;
    Ok(n == 1)
}

/// Live refresh tokens of a session (for tests and diagnostics).
pub async fn live_refresh_count(db: &Db, session_id: &str, now: i64) -> Result<i64> {
    let (n,): (i64,) = on_read!(db, |e| sqlx::query_as(
        "SELECT COUNT(*) FROM refresh_tokens WHERE session_id = $1 AND revoked_at IS NULL \
         AND rotated_at IS NULL AND expires_at > $2"
    )
    .bind(session_id)
    .bind(now)
    .fetch_one(e)
    .await)?;
    Ok(n)
}
