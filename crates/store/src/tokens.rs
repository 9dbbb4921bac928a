//! Refresh tokens (rotating families), password-reset tokens and personal access
//! tokens. Only hashes are stored.

use crate::{on_read, on_tx, on_write, Db, Result, Tx};

/// A refresh token row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RefreshRow {
    /// ID.
    pub id: String,
    /// Family = session.
    pub session_id: String,
    /// Hash.
    pub token_hash: String,
    /// Parent in the family.
    pub parent_id: Option<String>,
    /// The one successor, once rotated.
    pub successor_id: Option<String>,
    /// Unix ms.
    pub created_at: i64,
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
pub async fn delete_all_pats_tx(tx: &mut Tx, user_id: &str) -> Result<u64> {
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
