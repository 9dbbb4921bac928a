//! OAuth clients (secrets hashed).

#![allow(unused_imports)]

use rampart_db::{on_conn, on_read, on_tx, on_write, Conn, Db, DbError, Result, Tx};

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
