//! Signing keys (private halves encrypted by the caller) and their lifecycle states:
//! `active` → `retained` (validates until `validate_until`) → gone, or `revoked`.

#![allow(unused_imports)]

use rampart_db::{on_conn, on_read, on_tx, on_write, Conn, Db, DbError, Result, Tx};

/// A stored signing key.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct KeyRow {
    /// Key ID (`kid`).
    pub kid: String,
    /// `EdDSA`.
    pub algorithm: String,
    /// Encrypted private key.
    pub private_key_enc: String,
    /// Public key (base64url).
    pub public_key: String,
    /// `active`, `retained` or `revoked`.
    pub state: String,
    /// Unix ms.
    pub created_at: i64,
    /// Tokens it signed validate until then.
    pub validate_until: Option<i64>,
}

const COLS: &str = "kid, algorithm, private_key_enc, public_key, state, created_at, retired_at, validate_until, revoked_at";

/// All keys, newest first.
pub async fn list(db: &Db) -> Result<Vec<KeyRow>> {
    let sql = format!("SELECT {COLS} FROM signing_keys ORDER BY created_at DESC, kid DESC");
    Ok(on_read!(db, |e| sqlx::query_as::<_, KeyRow>(&sql)
        .fetch_all(e)
        .await)?)
}

/// Makes `new` the active key, retiring the current one until `validate_until`.
pub async fn rotate(
    tx: &mut Tx,
    new: &KeyRow,
    now: i64,
    validate_until: i64,
) -> Result<Vec<String>> {
    let retired: Vec<(String,)> = on_tx!(tx, |e| sqlx::query_as(
        "UPDATE signing_keys SET state = 'retained', retired_at = $1, validate_until = $2 \
         WHERE state = 'active' RETURNING kid"
    )
    .bind(now)
    .bind(validate_until)
    .fetch_all(e)
    .await)?;
    on_tx!(tx, |e| {
        sqlx::query(
        "INSERT INTO signing_keys (kid, algorithm, private_key_enc, public_key, state, created_at) \
         VALUES ($1, $2, $3, $4, 'active', $5)"
    )
    .bind(&new.kid)
    .bind(&new.algorithm)
    .bind(&new.private_key_enc)
    .bind(&new.public_key)
    .bind(now)
    .execute(e).await.map(|r| r.rows_affected())
    })?;
    Ok(retired.into_iter().map(|r| r.0).collect())
}

/// Revokes a key at once; returns whether it existed and was not yet revoked.
pub async fn revoke(tx: &mut Tx, kid: &str, now: i64) -> Result<bool> {
    let n = on_tx!(tx, |e| {
        sqlx::query(
        "UPDATE signing_keys SET state = 'revoked', revoked_at = $2 WHERE kid = $1 AND state <> 'revoked'"
    )
    .bind(kid)
    .bind(now)
    .execute(e).await.map(|r| r.rows_affected())
    })?;
    Ok(n == 1)
}

/// Re-encrypts a private key under the active encryption key.
pub async fn set_private(db: &Db, kid: &str, private_key_enc: &str) -> Result<()> {
    on_write!(db, |e| sqlx::query(
        "UPDATE signing_keys SET private_key_enc = $2 WHERE kid = $1"
    )
    .bind(kid)
    .bind(private_key_enc)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}
