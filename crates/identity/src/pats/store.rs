//! Personal access tokens; only hashes are stored.

#![allow(unused_imports)]

use rampart_db::{on_conn, on_read, on_tx, on_write, Conn, Db, DbError, Result, Tx};

/// A personal access token row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PatRow {
    /// ID.
    pub id: String,
    /// Owner.
    pub user_id: String,
    /// Name.
    pub name: String,
    /// First characters, for recognising it in lists.
    pub display_prefix: String,
    /// Space-separated scopes.
    pub scopes: String,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms or never.
    pub expires_at: Option<i64>,
    /// Unix ms.
    pub last_used_at: Option<i64>,
}

const PCOLS: &str =
    "id, user_id, name, display_prefix, scopes, created_at, expires_at, last_used_at";

/// Stores a PAT.
#[allow(clippy::too_many_arguments)]
pub async fn insert_pat(
    db: &Db,
    id: &str,
    user_id: &str,
    name: &str,
    token_hash: &str,
    display_prefix: &str,
    scopes: &str,
    now: i64,
    expires_at: Option<i64>,
) -> Result<()> {
    on_write!(db, |e| {
        sqlx::query(
        "INSERT INTO personal_access_tokens (id, user_id, name, token_hash, display_prefix, scopes, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
    )
    .bind(id)
    .bind(user_id)
    .bind(name)
    .bind(token_hash)
    .bind(display_prefix)
    .bind(scopes)
    .bind(now)
    .bind(expires_at)
    .execute(e).await.map(|r| r.rows_affected())
    })?;
    Ok(())
}

/// A user's PATs.
pub async fn list_pats(db: &Db, user_id: &str) -> Result<Vec<PatRow>> {
    let sql = format!("SELECT {PCOLS} FROM personal_access_tokens WHERE user_id = $1 ORDER BY created_at DESC, id DESC");
    Ok(on_read!(db, |e| sqlx::query_as::<_, PatRow>(&sql)
        .bind(user_id)
        .fetch_all(e)
        .await)?)
}

/// One PAT of a user (ownership is part of the lookup).
pub async fn get_pat(db: &Db, user_id: &str, id: &str) -> Result<Option<PatRow>> {
    let sql = format!("SELECT {PCOLS} FROM personal_access_tokens WHERE user_id = $1 AND id = $2");
    Ok(on_read!(db, |e| sqlx::query_as::<_, PatRow>(&sql)
        .bind(user_id)
        .bind(id)
        .fetch_optional(e)
        .await)?)
}

/// By hash (authentication).
pub async fn pat_by_hash(db: &Db, token_hash: &str) -> Result<Option<PatRow>> {
    let sql = format!("SELECT {PCOLS} FROM personal_access_tokens WHERE token_hash = $1");
    Ok(on_read!(db, |e| sqlx::query_as::<_, PatRow>(&sql)
        .bind(token_hash)
        .fetch_optional(e)
        .await)?)
}

/// Updates name, scopes and expiry of a user's PAT; false when not theirs.
pub async fn update_pat(
    db: &Db,
    user_id: &str,
    id: &str,
    name: &str,
    scopes: &str,
    expires_at: Option<i64>,
) -> Result<bool> {
    let n = on_write!(db, |e| {
        sqlx::query(
        "UPDATE personal_access_tokens SET name = $3, scopes = $4, expires_at = $5 WHERE user_id = $1 AND id = $2"
    )
    .bind(user_id)
    .bind(id)
    .bind(name)
    .bind(scopes)
    .bind(expires_at)
    .execute(e).await.map(|r| r.rows_affected())
    })?;
    Ok(n == 1)
}

/// Deletes a user's PAT; false when not theirs.
pub async fn delete_pat(db: &Db, user_id: &str, id: &str) -> Result<bool> {
    let n = on_write!(db, |e| sqlx::query(
        "DELETE FROM personal_access_tokens WHERE user_id = $1 AND id = $2"
    )
    .bind(user_id)
    .bind(id)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

/// Deletes every PAT of a user (ban, password reset).
pub async fn delete_all_pats(tx: &mut Tx, user_id: &str) -> Result<u64> {
    Ok(on_tx!(tx, |e| sqlx::query(
        "DELETE FROM personal_access_tokens WHERE user_id = $1"
    )
    .bind(user_id)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))?)
}

/// Records use (throttled by the caller).
pub async fn touch_pat(db: &Db, id: &str, now: i64) -> Result<()> {
    on_write!(db, |e| sqlx::query(
        "UPDATE personal_access_tokens SET last_used_at = $2 WHERE id = $1"
    )
    .bind(id)
    .bind(now)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}
