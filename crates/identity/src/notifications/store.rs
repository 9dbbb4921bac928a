//! Notification preferences (`notification_prefs`, migration 0015).

use rampart_db::{on_conn, on_tx, Conn, Result, Tx};

/// A stored row (no row: the defaults).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PrefsRow {
    /// New private message.
    pub message: bool,
    /// Support replied to a ticket.
    pub ticket_reply: bool,
    /// Purchase (order) updates.
    pub purchase: bool,
    /// Dispute updates.
    pub dispute: bool,
}

/// The user's row, if they ever saved one.
pub async fn get(conn: impl Into<Conn<'_>>, user_id: &str) -> Result<Option<PrefsRow>> {
    Ok(on_conn!(conn.into(), |e| {
        sqlx::query_as::<_, PrefsRow>(
        "SELECT message, ticket_reply, purchase, dispute FROM notification_prefs WHERE user_id = $1"
    )
    .bind(user_id)
    .fetch_optional(e)
    .await
    })?)
}

/// Inserts or replaces the user's row.
pub async fn put(tx: &mut Tx, user_id: &str, p: &PrefsRow, now: i64) -> Result<()> {
    on_tx!(tx, |e| {
        sqlx::query(
        "INSERT INTO notification_prefs (user_id, message, ticket_reply, purchase, dispute, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (user_id) DO UPDATE SET message = excluded.message, \
         ticket_reply = excluded.ticket_reply, purchase = excluded.purchase, \
         dispute = excluded.dispute, updated_at = excluded.updated_at"
    )
    .bind(user_id)
    .bind(p.message)
    .bind(p.ticket_reply)
    .bind(p.purchase)
    .bind(p.dispute)
    .bind(now)
    .execute(e)
    .await
    .map(|r| r.rows_affected())
    })?;
    Ok(())
}
