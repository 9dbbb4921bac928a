//! The mail outbox: messages waiting for delivery (and the record of what was sent).

#![allow(unused_imports)]

use rampart_db::{on_conn, on_read, on_tx, on_write, Conn, Db, DbError, Result, Tx};

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
