//! TOTP state and recovery codes.

#![allow(unused_imports)]

use rampart_db::{on_conn, on_read, on_tx, on_write, Conn, Db, DbError, Result, Tx};

/// Replaces a user's recovery codes.
pub async fn set_recovery_codes(tx: &mut Tx, user_id: &str, hashes: &[String]) -> Result<()> {
    on_tx!(tx, |e| sqlx::query(
        "DELETE FROM recovery_codes WHERE user_id = $1"
    )
    .bind(user_id)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))?;
    for h in hashes {
        on_tx!(tx, |e| sqlx::query(
            "INSERT INTO recovery_codes (id, user_id, code_hash) VALUES ($1, $2, $3)"
        )
        .bind(uuid::Uuid::now_v7().to_string())
        .bind(user_id)
        .bind(h)
        .execute(e)
        .await
        .map(|r| r.rows_affected()))?;
    }
    Ok(())
}

/// Uses a recovery code once; false when unknown or used.
pub async fn use_recovery_code(db: &Db, user_id: &str, code_hash: &str, now: i64) -> Result<bool> {
    let n = on_write!(db, |e| {
        sqlx::query(
        "UPDATE recovery_codes SET used_at = $3 WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL"
    )
    .bind(user_id)
    .bind(code_hash)
    .bind(now)
    .execute(e).await.map(|r| r.rows_affected())
    })?;
    Ok(n == 1)
}

/// Unused recovery codes left.
pub async fn recovery_codes_left(db: &Db, user_id: &str) -> Result<i64> {
    let (n,): (i64,) = on_read!(db, |e| sqlx::query_as(
        "SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL"
    )
    .bind(user_id)
    .fetch_one(e)
    .await)?;
    Ok(n)
}

/// Sets TOTP state.
pub async fn set_totp(
    db: &Db,
    user_id: &str,
    secret_enc: Option<&str>,
    enabled: bool,
    last_step: Option<i64>,
) -> Result<()> {
    on_write!(db, |e| sqlx::query(
        "UPDATE users SET totp_secret = $2, totp_enabled = $3, totp_last_step = $4 WHERE id = $1"
    )
    .bind(user_id)
    .bind(secret_enc)
    .bind(enabled)
    .bind(last_step)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Replaces the encrypted TOTP secret (re-encryption under a new key).
pub async fn set_totp_secret(db: &Db, user_id: &str, secret_enc: &str) -> Result<()> {
    on_write!(db, |e| sqlx::query(
        "UPDATE users SET totp_secret = $2 WHERE id = $1"
    )
    .bind(user_id)
    .bind(secret_enc)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Advances the last accepted TOTP step only forwards (replay guard); false when
/// `step` is not newer than the stored one.
pub async fn advance_totp_step(db: &Db, user_id: &str, step: i64) -> Result<bool> {
    let n = on_write!(db, |e| {
        sqlx::query(
        "UPDATE users SET totp_last_step = $2 WHERE id = $1 AND (totp_last_step IS NULL OR totp_last_step < $2)"
    )
    .bind(user_id)
    .bind(step)
    .execute(e).await.map(|r| r.rows_affected())
    })?;
    Ok(n == 1)
}
