//! The webhook inbox (E3): one row per (provider, event) — a duplicate delivery is
//! acknowledged and ignored — with the verified body, so a delivery whose processing
//! was cut off (the process died between the row and its outcome) is processed again
//! by the worker. A retry claims its row by moving `received_at` from the value it
//! read to now (compare-and-set), so of two workers one wins, and a claim that dies
//! with its worker is taken over once it is stale again.

use rampart_db::{on_conn, on_conn_write, Conn, Db, Result};

/// Records a webhook delivery with its verified body; false when this (provider,
/// event) was seen before.
pub(crate) async fn insert(
    db: &Db,
    provider: &str,
    event_id: &str,
    event_type: &str,
    payload: Option<&str>,
    now: i64,
) -> Result<bool> {
    let n = on_conn_write!(Conn::Pool(db), |e| sqlx::query(
        "INSERT INTO webhook_inbox (provider, event_id, event_type, received_at, payload) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (provider, event_id) DO NOTHING"
    )
    .bind(provider)
    .bind(event_id)
    .bind(event_type)
    .bind(now)
    .bind(payload)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

/// Records what processing a delivery did.
pub(crate) async fn done(
    db: &Db,
    provider: &str,
    event_id: &str,
    outcome: &str,
    now: i64,
) -> Result<()> {
    on_conn_write!(Conn::Pool(db), |e| sqlx::query(
        "UPDATE webhook_inbox SET processed_at = $1, outcome = $2 \
         WHERE provider = $3 AND event_id = $4"
    )
    .bind(now)
    .bind(outcome)
    .bind(provider)
    .bind(event_id)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// A delivery recorded but not finished.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct Unfinished {
    pub provider: String,
    pub event_id: String,
    pub received_at: i64,
    pub payload: Option<String>,
    pub attempts: i64,
}

/// Deliveries without an outcome received (or last claimed) before `before`,
/// oldest first.
pub(crate) async fn unfinished(
    conn: impl Into<Conn<'_>>,
    before: i64,
    limit: i64,
) -> Result<Vec<Unfinished>> {
    Ok(on_conn!(conn.into(), |e| sqlx::query_as::<_, Unfinished>(
        "SELECT provider, event_id, received_at, payload, attempts FROM webhook_inbox \
         WHERE processed_at IS NULL AND received_at < $1 ORDER BY received_at LIMIT $2"
    )
    .bind(before)
    .bind(limit)
    .fetch_all(e)
    .await)?)
}

/// Claims an unfinished delivery for one retry: true when this caller won it (the
/// row was still unfinished and still at `seen`).
pub(crate) async fn claim(db: &Db, row: &Unfinished, now: i64) -> Result<bool> {
    let n = on_conn_write!(Conn::Pool(db), |e| sqlx::query(
        "UPDATE webhook_inbox SET received_at = $1, attempts = attempts + 1 \
         WHERE provider = $2 AND event_id = $3 AND received_at = $4 AND processed_at IS NULL"
    )
    .bind(now)
    .bind(&row.provider)
    .bind(&row.event_id)
    .bind(row.received_at)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n == 1)
}
