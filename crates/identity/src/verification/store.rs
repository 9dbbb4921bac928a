//! E-mail verification links (registration and address change); only hashes are
//! stored, plus the pending account or address the link will apply.

#![allow(unused_imports)]

use rampart_db::{on_conn, on_read, on_tx, on_write, Conn, Db, DbError, Result, Tx};

/// A verification link row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct VerificationRow {
    /// ID.
    pub id: String,
    /// `register` or `change`.
    pub purpose: String,
    /// The account (address change only).
    pub user_id: Option<String>,
    /// The address being verified (normalised).
    pub email: String,
    /// The pending account's username (registration only).
    pub username: Option<String>,
    /// The pending account's PHC string (registration only).
    pub password_hash: Option<String>,
    /// The pending account's referrer.
    pub referred_by: Option<String>,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub expires_at: i64,
    /// Used.
    pub used_at: Option<i64>,
    /// Superseded.
    pub invalidated_at: Option<i64>,
}

/// A link to store.
#[derive(Debug, Clone)]
pub struct NewVerification<'a> {
    /// `register` or `change`.
    pub purpose: &'a str,
    /// The account (address change).
    pub user_id: Option<&'a str>,
    /// Normalised address.
    pub email: &'a str,
    /// Pending username (registration).
    pub username: Option<&'a str>,
    /// Pending PHC string (registration).
    pub password_hash: Option<&'a str>,
    /// Pending referrer (registration).
    pub referred_by: Option<&'a str>,
    /// SHA-256 hex of the token.
    pub token_hash: &'a str,
    /// Unix ms.
    pub now: i64,
    /// Unix ms.
    pub expires_at: i64,
}

/// Stores a link, superseding older open links for the same account (a change) or
/// the same address (a registration): only the newest link works.
pub async fn new_verification(tx: &mut Tx, v: NewVerification<'_>) -> Result<()> {
    on_tx!(tx, |e| {
        sqlx::query(
        "UPDATE email_verifications SET invalidated_at = $3 \
         WHERE used_at IS NULL AND invalidated_at IS NULL \
         AND ((purpose = 'change' AND user_id = $1) OR (purpose = 'register' AND email = $2 AND $1 IS NULL))"
    )
    .bind(v.user_id)
    .bind(v.email)
    .bind(v.now)
    .execute(e)
    .await
    .map(|r| r.rows_affected())
    })?;
    on_tx!(tx, |e| {
        sqlx::query(
        "INSERT INTO email_verifications (id, purpose, user_id, email, username, password_hash, \
         referred_by, token_hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(v.purpose)
    .bind(v.user_id)
    .bind(v.email)
    .bind(v.username)
    .bind(v.password_hash)
    .bind(v.referred_by)
    .bind(v.token_hash)
    .bind(v.now)
    .bind(v.expires_at)
    .execute(e)
    .await
    .map(|r| r.rows_affected())
    })?;
    Ok(())
}

/// Finds a link by token hash.
pub async fn by_hash(tx: &mut Tx, token_hash: &str) -> Result<Option<VerificationRow>> {
    Ok(on_tx!(tx, |e| sqlx::query_as::<_, VerificationRow>(
        "SELECT id, purpose, user_id, email, username, password_hash, referred_by, created_at, \
         expires_at, used_at, invalidated_at FROM email_verifications WHERE token_hash = $1"
    )
    .bind(token_hash)
    .fetch_optional(e)
    .await)?)
}

/// Marks a link used (only once).
pub async fn use_verification(tx: &mut Tx, id: &str, now: i64) -> Result<bool> {
    let n = on_tx!(tx, |e| {
        sqlx::query(
        "UPDATE email_verifications SET used_at = $2 WHERE id = $1 AND used_at IS NULL AND invalidated_at IS NULL"
    )
    .bind(id)
    .bind(now)
    .execute(e)
    .await
    .map(|r| r.rows_affected())
    })?;
    Ok(n == 1)
}
