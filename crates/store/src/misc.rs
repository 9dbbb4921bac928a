//! Invites, OAuth clients, TOTP recovery codes and the mail outbox.

use crate::{on_read, on_tx, on_write, Db, Result, Tx};

/// An invite code row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct InviteRow {
    /// ID.
    pub id: String,
    /// Uses allowed.
    pub max_uses: i64,
    /// Uses so far.
    pub uses: i64,
    /// Expiry.
    pub expires_at: Option<i64>,
    /// Revocation.
    pub revoked_at: Option<i64>,
    /// Unix ms.
    pub created_at: i64,
}

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

/// An OAuth client.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OauthClientRow {
    /// Public ID.
    pub client_id: String,
    /// Name.
    pub name: String,
    /// Hashed secret.
    pub secret_hash: String,
    /// Allowed scopes (space-separated).
    pub scopes: String,
    /// Revocation.
    pub revoked_at: Option<i64>,
}

/// Registers a client.
pub async fn create_oauth_client(
    tx: &mut Tx,
    c: &OauthClientRow,
    owner: Option<&str>,
    now: i64,
) -> Result<()> {
    on_tx!(tx, |e| {
        sqlx::query(
        "INSERT INTO oauth_clients (client_id, name, secret_hash, scopes, owner_user_id, created_at) VALUES ($1, $2, $3, $4, $5, $6)"
    )
    .bind(&c.client_id)
    .bind(&c.name)
    .bind(&c.secret_hash)
    .bind(&c.scopes)
    .bind(owner)
    .bind(now)
    .execute(e).await.map(|r| r.rows_affected())
    })?;
    Ok(())
}

/// Finds a client.
pub async fn oauth_client(db: &Db, client_id: &str) -> Result<Option<OauthClientRow>> {
    Ok(on_read!(db, |e| {
        sqlx::query_as::<_, OauthClientRow>(
        "SELECT client_id, name, secret_hash, scopes, revoked_at FROM oauth_clients WHERE client_id = $1"
    )
    .bind(client_id)
    .fetch_optional(e)
    .await
    })?)
}

/// Revokes a client.
pub async fn revoke_oauth_client(tx: &mut Tx, client_id: &str, now: i64) -> Result<bool> {
    let n = on_tx!(tx, |e| sqlx::query(
        "UPDATE oauth_clients SET revoked_at = $2 WHERE client_id = $1 AND revoked_at IS NULL"
    )
    .bind(client_id)
    .bind(now)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

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

/// A message waiting in the outbox.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OutboxRow {
    /// ID.
    pub id: String,
    /// To.
    pub recipient: String,
    /// `password_reset`, `new_device`…
    pub kind: String,
    /// Subject.
    pub subject: String,
    /// Body (may hold a link with a token: the outbox is operator-only).
    pub body: String,
    /// Unix ms.
    pub created_at: i64,
}

/// Queues a message.
pub async fn enqueue_mail(
    db: &Db,
    recipient: &str,
    kind: &str,
    subject: &str,
    body: &str,
    now: i64,
) -> Result<()> {
    on_write!(db, |e| {
        sqlx::query(
        "INSERT INTO outbox (id, recipient, kind, subject, body, created_at) VALUES ($1, $2, $3, $4, $5, $6)"
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(recipient)
    .bind(kind)
    .bind(subject)
    .bind(body)
    .bind(now)
    .execute(e).await.map(|r| r.rows_affected())
    })?;
    Ok(())
}

/// Messages for a recipient, newest first.
pub async fn mail_for(db: &Db, recipient: &str) -> Result<Vec<OutboxRow>> {
    Ok(on_read!(db, |e| {
        sqlx::query_as::<_, OutboxRow>(
        "SELECT id, recipient, kind, subject, body, created_at FROM outbox WHERE recipient = $1 ORDER BY created_at DESC, id DESC"
    )
    .bind(recipient)
    .fetch_all(e)
    .await
    })?)
}
