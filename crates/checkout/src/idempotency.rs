//! `Idempotency-Key` on the order- and payment-creating calls (E3): a key is claimed
//! once per (scope, key) with the route and a hash of the request; the response is
//! stored when the call succeeds and replayed to every retry with the same body. A
//! different body answers `idempotency_key_reused`; a call still running answers
//! `idempotency_key_in_flight`. Keys are kept 24 hours ([`RETENTION_MS`]) and pruned
//! by the worker ([`prune`]).

use rampart_db::{on_conn_write, Conn, Db, DbError, Result};
use sha2::{Digest, Sha256};

/// How long a key is kept.
pub const RETENTION_MS: i64 = 24 * 3_600_000;

/// What claiming a key found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The key is new and now held by this request: run it, then [`finish`] or
    /// [`release`].
    Acquired,
    /// Done before with the same request: replay this status and body.
    Replay {
        /// HTTP status.
        status: u16,
        /// JSON body.
        body: String,
    },
    /// Used before with another route or body.
    Reused,
    /// The first request with this key is still running.
    InFlight,
}

/// The hash a request is compared by: method and route template, path and body.
pub fn request_hash(route: &str, path: &str, body: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(route.as_bytes());
    h.update([0]);
    h.update(path.as_bytes());
    h.update([0]);
    h.update(body);
    hex::encode(h.finalize())
}

#[derive(sqlx::FromRow)]
struct Row {
    route: String,
    request_hash: String,
    status: String,
    response_status: Option<i64>,
    response_body: Option<String>,
    created_at: i64,
}

/// Claims `key` in `scope` for a request, or says what an earlier one left. An
/// expired key (older than [`RETENTION_MS`], not yet pruned) is taken over.
pub async fn claim(
    db: &Db,
    scope: &str,
    key: &str,
    user_id: Option<&str>,
    route: &str,
    hash: &str,
    now: i64,
) -> Result<Claim> {
    for _ in 0..2 {
        let inserted = on_conn_write!(Conn::Pool(db), |e| {
            sqlx::query(
            "INSERT INTO idempotency_keys (scope, idem_key, user_id, route, request_hash, status, \
             created_at) VALUES ($1, $2, $3, $4, $5, 'in_flight', $6) \
             ON CONFLICT (scope, idem_key) DO NOTHING"
        )
        .bind(scope)
        .bind(key)
        .bind(user_id)
        .bind(route)
        .bind(hash)
        .bind(now)
        .execute(e)
        .await
        .map(|r| r.rows_affected())
        })?;
        if inserted == 1 {
            return Ok(Claim::Acquired);
        }
        let row: Option<Row> = on_conn_write!(Conn::Pool(db), |e| sqlx::query_as(
            "SELECT route, request_hash, status, response_status, response_body, created_at \
             FROM idempotency_keys WHERE scope = $1 AND idem_key = $2"
        )
        .bind(scope)
        .bind(key)
        .fetch_optional(e)
        .await)?;
        let Some(row) = row else { continue };
        if now.saturating_sub(row.created_at) > RETENTION_MS {
            // Expired: drop it (only if still that row) and claim afresh.
            on_conn_write!(Conn::Pool(db), |e| {
                sqlx::query(
                "DELETE FROM idempotency_keys WHERE scope = $1 AND idem_key = $2 AND created_at = $3"
            )
            .bind(scope)
            .bind(key)
            .bind(row.created_at)
            .execute(e)
        .await
        .map(|r| r.rows_affected())
            })?;
            continue;
        }
        // A request still running with this key is answered as such whatever it
        // carries (the caller retries; its body is checked once the first is done).
        if row.status != "done" {
            return Ok(Claim::InFlight);
        }
        if row.route != route || row.request_hash != hash {
            return Ok(Claim::Reused);
        }
        return Ok(match (row.response_status, row.response_body) {
            (Some(status), Some(body)) => Claim::Replay {
                status: u16::try_from(status)
                    .map_err(|_| DbError::Corrupt("idempotency status".into()))?,
                body,
            },
            _ => Claim::InFlight,
        });
    }
    Ok(Claim::InFlight)
}

/// Stores the response of a claimed key.
pub async fn finish(db: &Db, scope: &str, key: &str, status: u16, body: &str) -> Result<()> {
    on_conn_write!(Conn::Pool(db), |e| sqlx::query(
        "UPDATE idempotency_keys SET status = 'done', response_status = $1, response_body = $2 \
         WHERE scope = $3 AND idem_key = $4"
    )
    .bind(i64::from(status))
    .bind(body)
    .bind(scope)
    .bind(key)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Lets a claimed key go without a stored response (the call failed: a retry runs
/// it again).
pub async fn release(db: &Db, scope: &str, key: &str) -> Result<()> {
    on_conn_write!(Conn::Pool(db), |e| sqlx::query(
        "DELETE FROM idempotency_keys WHERE scope = $1 AND idem_key = $2 AND status = 'in_flight'"
    )
    .bind(scope)
    .bind(key)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Deletes keys older than [`RETENTION_MS`]; returns how many.
pub async fn prune(db: &Db, now: i64) -> Result<u64> {
    let n = on_conn_write!(Conn::Pool(db), |e| sqlx::query(
        "DELETE FROM idempotency_keys WHERE created_at < $1"
    )
    .bind(now.saturating_sub(RETENTION_MS))
    .execute(e)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n)
}
