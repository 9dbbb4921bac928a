//! Sessions (web and API logins) and known devices.

#![allow(unused_imports)]

use rampart_db::{on_conn, on_conn_write, on_read, on_tx, on_write, Conn, Db, DbError, Result, Tx};

/// A stored session.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionRow {
    /// Public session ID (also the refresh family and the JWT `sid`).
    pub id: String,
    /// Owner.
    pub user_id: String,
    /// `web` or `api`.
    pub kind: String,
    /// Hash of the cookie secret (web sessions).
    pub token_hash: Option<String>,
    /// Role when the session began (a role change ends it).
    pub role_at_login: String,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub last_seen_at: i64,
    /// Idle expiry, Unix ms.
    pub idle_expires_at: i64,
    /// Absolute expiry, Unix ms.
    pub expires_at: i64,
    /// Full user agent (shown to the owner only).
    pub user_agent: String,
    /// Browser family for the fingerprint.
    pub ua_family: String,
    /// IP prefix for the fingerprint.
    pub ip_prefix: String,
    /// Unused for now (TOTP step-up).
    pub totp_pending: bool,
    /// Unix ms when revoked.
    pub revoked_at: Option<i64>,
    /// Why.
    pub revoked_reason: Option<String>,
}

const COLS: &str = "id, user_id, kind, token_hash, role_at_login, created_at, last_seen_at, \
    idle_expires_at, expires_at, user_agent, ua_family, ip_prefix, totp_pending, revoked_at, revoked_reason";

/// A session to create.
#[derive(Debug, Clone)]
pub struct NewSession<'a> {
    /// Public ID.
    pub id: &'a str,
    /// Owner.
    pub user_id: &'a str,
    /// `web` / `api`.
    pub kind: &'a str,
    /// Cookie secret hash.
    pub token_hash: Option<&'a str>,
    /// Role at login.
    pub role: &'a str,
    /// Now.
    pub now: i64,
    /// Idle expiry.
    pub idle_expires_at: i64,
    /// Absolute expiry.
    pub expires_at: i64,
    /// User agent (truncated by the caller).
    pub user_agent: &'a str,
    /// UA family.
    pub ua_family: &'a str,
    /// IP prefix.
    pub ip_prefix: &'a str,
}

/// Inserts a session.
pub async fn create(tx: &mut Tx, s: NewSession<'_>) -> Result<()> {
    on_tx!(tx, |e| {
        sqlx::query(
        "INSERT INTO sessions (id, user_id, kind, token_hash, role_at_login, created_at, last_seen_at, \
         idle_expires_at, expires_at, user_agent, ua_family, ip_prefix) \
         VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $8, $9, $10, $11)"
    )
    .bind(s.id)
    .bind(s.user_id)
    .bind(s.kind)
    .bind(s.token_hash)
    .bind(s.role)
    .bind(s.now)
    .bind(s.idle_expires_at)
    .bind(s.expires_at)
    .bind(s.user_agent)
    .bind(s.ua_family)
    .bind(s.ip_prefix)
    .execute(e).await.map(|r| r.rows_affected())
    })?;
    Ok(())
}

/// By ID, on the pool or inside a transaction.
pub async fn get(conn: impl Into<Conn<'_>>, id: &str) -> Result<Option<SessionRow>> {
    let sql = format!("SELECT {COLS} FROM sessions WHERE id = $1");
    Ok(on_conn!(conn.into(), |e| sqlx::query_as::<_, SessionRow>(
        &sql
    )
    .bind(id)
    .fetch_optional(e)
    .await)?)
}

/// Live sessions of a user, newest first.
pub async fn list_active(db: &Db, user_id: &str, now: i64) -> Result<Vec<SessionRow>> {
    let sql = format!(
        "SELECT {COLS} FROM sessions WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 \
         AND idle_expires_at > $2 ORDER BY created_at DESC, id DESC"
    );
    Ok(on_read!(db, |e| sqlx::query_as::<_, SessionRow>(&sql)
        .bind(user_id)
        .bind(now)
        .fetch_all(e)
        .await)?)
}

/// Live sessions of a user inside a transaction, oldest first (for eviction under the
/// concurrent-session limit).
pub async fn list_active_oldest_first(
    tx: &mut Tx,
    user_id: &str,
    now: i64,
) -> Result<Vec<SessionRow>> {
    let sql = format!(
        "SELECT {COLS} FROM sessions WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 \
         AND idle_expires_at > $2 ORDER BY created_at ASC, id ASC"
    );
    Ok(on_tx!(tx, |e| sqlx::query_as::<_, SessionRow>(&sql)
        .bind(user_id)
        .bind(now)
        .fetch_all(e)
        .await)?)
}

/// Moves the idle expiry and last-seen time forward.
pub async fn touch(
    conn: impl Into<Conn<'_>>,
    id: &str,
    now: i64,
    idle_expires_at: i64,
) -> Result<()> {
    on_conn_write!(conn.into(), |e| {
        sqlx::query(
        "UPDATE sessions SET last_seen_at = $2, idle_expires_at = $3 WHERE id = $1 AND revoked_at IS NULL"
    )
    .bind(id)
    .bind(now)
    .bind(idle_expires_at)
    .execute(e).await.map(|r| r.rows_affected())
    })?;
    Ok(())
}

/// Revokes one session and its refresh family; returns whether it was live.
pub async fn revoke(tx: &mut Tx, id: &str, now: i64, reason: &str) -> Result<bool> {
    let n = on_tx!(tx, |e| {
        sqlx::query(
        "UPDATE sessions SET revoked_at = $2, revoked_reason = $3 WHERE id = $1 AND revoked_at IS NULL"
    )
    .bind(id)
    .bind(now)
    .bind(reason)
    .execute(e).await.map(|r| r.rows_affected())
    })?;
    on_tx!(tx, |e| sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = $2 WHERE session_id = $1 AND revoked_at IS NULL"
    )
    .bind(id)
    .bind(now)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n > 0)
}

/// Revokes every live session of a user except `keep`; returns the revoked IDs.
pub async fn revoke_all(
    tx: &mut Tx,
    user_id: &str,
    keep: Option<&str>,
    now: i64,
    reason: &str,
) -> Result<Vec<String>> {
    let ids: Vec<(String,)> = on_tx!(tx, |e| sqlx::query_as(
        "SELECT id FROM sessions WHERE user_id = $1 AND revoked_at IS NULL AND id <> $2"
    )
    .bind(user_id)
    .bind(keep.unwrap_or(""))
    .fetch_all(e)
    .await)?;
    let mut out = Vec::with_capacity(ids.len());
    for (id,) in ids {
        revoke(tx, &id, now, reason).await?;
        out.push(id);
    }
    Ok(out)
}

/// Remembers a device; `true` when it was never seen for this user.
pub async fn remember_device(
    tx: &mut Tx,
    user_id: &str,
    fingerprint: &str,
    now: i64,
) -> Result<bool> {
    let n = on_tx!(tx, |e| sqlx::query(
        "INSERT INTO known_devices (user_id, fingerprint, first_seen_at) VALUES ($1, $2, $3) \
         ON CONFLICT (user_id, fingerprint) DO NOTHING"
    )
    .bind(user_id)
    .bind(fingerprint)
    .bind(now)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n > 0)
}

/// Deletes sessions that ended (absolute or idle expiry, or revocation) before
/// `before`; their refresh tokens go with them (ON DELETE CASCADE). Returns rows.
pub async fn prune_ended(db: &Db, before: i64) -> Result<u64> {
    Ok(on_write!(db, |e| sqlx::query(
        "DELETE FROM sessions WHERE expires_at < $1 OR idle_expires_at < $1 \
         OR (revoked_at IS NOT NULL AND revoked_at < $1)"
    )
    .bind(before)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))?)
}
