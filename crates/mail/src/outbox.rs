//! The `outbox` table: the queue of mail to send and the record of what was sent.
//! This module owns every statement on it (enqueue, claim, mark sent/retry/failed).
//!
//! A row moves `queued → sending → sent`, or back to `queued` with a later
//! `next_attempt_at` after a transient failure, or to `failed` (the server refused it)
//! or `dead` (too many attempts, or too old to be worth sending). A `sending` row
//! carries a lease (`locked_until`) and a `claim_token`; only the holder of the token
//! can settle it, and anyone may claim it again once the lease has expired.

use rampart_db::{on_read, on_tx, on_write, Db, Engine, Result, Tx};

/// Queue states stored in `outbox.status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Waiting for `next_attempt_at`.
    Queued,
    /// Claimed by a deliverer until `locked_until`.
    Sending,
    /// Accepted by the SMTP server (`sent_at`).
    Sent,
    /// Refused permanently by the server.
    Failed,
    /// Given up: attempts exhausted or too old.
    Dead,
}

impl Status {
    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Queued => "queued",
            Status::Sending => "sending",
            Status::Sent => "sent",
            Status::Failed => "failed",
            Status::Dead => "dead",
        }
    }
    /// Parses the stored text.
    pub fn parse(s: &str) -> Option<Status> {
        Some(match s {
            "queued" => Status::Queued,
            "sending" => Status::Sending,
            "sent" => Status::Sent,
            "failed" => Status::Failed,
            "dead" => Status::Dead,
            _ => return None,
        })
    }
}

/// A message to put in the outbox.
#[derive(Debug, Clone, Copy)]
pub struct NewMail<'a> {
    /// Address.
    pub recipient: &'a str,
    /// [`crate::MailKind::code`].
    pub kind: &'a str,
    /// Subject.
    pub subject: &'a str,
    /// Plain-text body.
    pub body: &'a str,
}

impl<'a> NewMail<'a> {
    /// A rendered message for `recipient`.
    pub fn rendered(recipient: &'a str, r: &'a crate::Rendered) -> Self {
        NewMail {
            recipient,
            kind: r.kind,
            subject: &r.subject,
            body: &r.body,
        }
    }
}

const INSERT: &str = "INSERT INTO outbox (id, recipient, kind, subject, body, created_at, status, attempts, next_attempt_at) \
     VALUES ($1, $2, $3, $4, $5, $6, 'queued', 0, $6)";

/// Queues a message, due at once; returns its ID.
pub async fn enqueue(db: &Db, mail: NewMail<'_>, now: i64) -> Result<String> {
    let id = uuid::Uuid::now_v7().to_string();
    on_write!(db, |e| sqlx::query(INSERT)
        .bind(&id)
        .bind(mail.recipient)
        .bind(mail.kind)
        .bind(mail.subject)
        .bind(mail.body)
        .bind(now)
        .execute(e)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(id)
}

/// Queues a message inside `tx`, so it is sent only if the change it reports commits.
pub async fn enqueue_tx(tx: &mut Tx, mail: NewMail<'_>, now: i64) -> Result<String> {
    let id = uuid::Uuid::now_v7().to_string();
    on_tx!(tx, |e| sqlx::query(INSERT)
        .bind(&id)
        .bind(mail.recipient)
        .bind(mail.kind)
        .bind(mail.subject)
        .bind(mail.body)
        .bind(now)
        .execute(e)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(id)
}

/// A row claimed for sending. Its `Debug` leaves out the address and the text.
#[derive(Clone, sqlx::FromRow)]
pub struct Claimed {
    /// ID (also the Message-ID's local part).
    pub id: String,
    /// Address.
    pub recipient: String,
    /// Kind code.
    pub kind: String,
    /// Subject.
    pub subject: String,
    /// Body (may hold a live token: never log it).
    pub body: String,
    /// Attempts including this one.
    pub attempts: i64,
    /// Queued at.
    pub created_at: i64,
}

impl std::fmt::Debug for Claimed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Claimed")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}

/// Claims up to `limit` due rows for `lease_ms`: queued rows whose `next_attempt_at`
/// has come, and `sending` rows whose lease expired (their worker died). Each claim
/// counts as an attempt. Returns the claim token and the rows, oldest due first.
///
/// PostgreSQL locks the candidates with `FOR UPDATE SKIP LOCKED` before updating them,
/// so concurrent deliverers take disjoint rows; a row committed by another claimer in
/// the meantime is re-checked against the `WHERE` and skipped (so a round may claim
/// fewer than `limit`, even none, while others work: the next round tries again). SQLite has a single
/// writer, so the one conditional `UPDATE … RETURNING` is atomic on its own.
pub async fn claim(
    db: &Db,
    now: i64,
    lease_ms: i64,
    limit: i64,
    max_attempts: i64,
) -> Result<(String, Vec<Claimed>)> {
    let token = uuid::Uuid::new_v4().simple().to_string();
    let due = "((status = 'queued' AND next_attempt_at <= $3) OR (status = 'sending' AND locked_until <= $3)) \
               AND attempts < $5";
    let returning = "RETURNING outbox.id, recipient, kind, subject, body, attempts, created_at";
    let set = "UPDATE outbox SET status = 'sending', attempts = attempts + 1, locked_until = $1, claim_token = $2";
    let mut rows: Vec<Claimed> = match &db.engine {
        Engine::Sqlite { write, .. } => {
            let sql = format!(
                "{set} WHERE id IN (SELECT id FROM outbox WHERE {due} ORDER BY next_attempt_at, id LIMIT $4) {returning}"
            );
            sqlx::query_as(&sql)
                .bind(now.saturating_add(lease_ms))
                .bind(&token)
                .bind(now)
                .bind(limit)
                .bind(max_attempts)
                .fetch_all(write)
                .await?
        }
        Engine::Postgres(pool) => {
            // The candidates are picked once, in a materialised CTE: as an `IN (…)`
            // subquery the planner may run the locking SELECT again per outer row,
            // each run skipping the rows the previous one locked, and claim far more
            // than `limit`.
            let sql = format!(
                "WITH picked AS MATERIALIZED (SELECT id FROM outbox WHERE {due} ORDER BY next_attempt_at, id \
                 LIMIT $4 FOR UPDATE SKIP LOCKED) \
                 {set} FROM picked WHERE outbox.id = picked.id {returning}"
            );
            sqlx::query_as(&sql)
                .bind(now.saturating_add(lease_ms))
                .bind(&token)
                .bind(now)
                .bind(limit)
                .bind(max_attempts)
                .fetch_all(pool)
                .await?
        }
    };
    rows.sort_by(|a, b| a.id.cmp(&b.id));
    Ok((token, rows))
}

/// Ends rows nobody should send any more: `sending` rows whose lease expired on their
/// last allowed attempt, and queued rows older than `too_old` (a reset link that could
/// not go out for a day is worse than none). Returns how many became `dead`.
pub async fn sweep(db: &Db, now: i64, max_attempts: i64, too_old: i64) -> Result<u64> {
    let a = on_write!(db, |e| sqlx::query(
        "UPDATE outbox SET status = 'dead', locked_until = NULL, claim_token = NULL, \
         last_error = 'lease expired on the last attempt' \
         WHERE status = 'sending' AND locked_until <= $1 AND attempts >= $2"
    )
    .bind(now)
    .bind(max_attempts)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))?;
    let b = on_write!(db, |e| sqlx::query(
        "UPDATE outbox SET status = 'dead', last_error = 'expired before delivery' \
         WHERE status = 'queued' AND created_at < $1"
    )
    .bind(too_old)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(a + b)
}

/// Marks a claimed row sent; false when the claim was lost (lease expired and taken).
pub async fn mark_sent(db: &Db, id: &str, token: &str, now: i64) -> Result<bool> {
    let n = on_write!(db, |e| {
        sqlx::query(
        "UPDATE outbox SET status = 'sent', sent_at = $3, locked_until = NULL, claim_token = NULL, last_error = NULL \
         WHERE id = $1 AND claim_token = $2 AND status = 'sending'"
    )
    .bind(id)
    .bind(token)
    .bind(now)
    .execute(e)
    .await
    .map(|r| r.rows_affected())
    })?;
    Ok(n == 1)
}

/// Puts a claimed row back in the queue until `next_attempt_at`, or ends it as `dead`
/// when `give_up`. `error` is stored for operators (it is not logged).
pub async fn mark_retry(
    db: &Db,
    id: &str,
    token: &str,
    next_attempt_at: i64,
    give_up: bool,
    error: &str,
) -> Result<bool> {
    let status = if give_up {
        Status::Dead
    } else {
        Status::Queued
    };
    let n = on_write!(db, |e| {
        sqlx::query(
        "UPDATE outbox SET status = $3, next_attempt_at = $4, last_error = $5, locked_until = NULL, claim_token = NULL \
         WHERE id = $1 AND claim_token = $2 AND status = 'sending'"
    )
    .bind(id)
    .bind(token)
    .bind(status.as_str())
    .bind(next_attempt_at)
    .bind(truncate(error))
    .execute(e)
    .await
    .map(|r| r.rows_affected())
    })?;
    Ok(n == 1)
}

/// Ends a claimed row as `failed`: the server refused it for good.
pub async fn mark_failed(db: &Db, id: &str, token: &str, error: &str) -> Result<bool> {
    let n = on_write!(db, |e| {
        sqlx::query(
        "UPDATE outbox SET status = 'failed', last_error = $3, locked_until = NULL, claim_token = NULL \
         WHERE id = $1 AND claim_token = $2 AND status = 'sending'"
    )
    .bind(id)
    .bind(token)
    .bind(truncate(error))
    .execute(e)
    .await
    .map(|r| r.rows_affected())
    })?;
    Ok(n == 1)
}

fn truncate(s: &str) -> String {
    s.chars().take(500).collect()
}

/// One outbox row as operators see it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OutboxEntry {
    /// ID.
    pub id: String,
    /// Address.
    pub recipient: String,
    /// Kind code.
    pub kind: String,
    /// Subject.
    pub subject: String,
    /// Body.
    pub body: String,
    /// `queued`, `sending`, `sent`, `failed` or `dead` ([`Status::parse`]).
    pub status: String,
    /// Attempts so far.
    pub attempts: i64,
    /// Next try (queued rows).
    pub next_attempt_at: i64,
    /// Lease end (sending rows).
    pub locked_until: Option<i64>,
    /// Last failure, as the server or transport put it.
    pub last_error: Option<String>,
    /// Queued at.
    pub created_at: i64,
    /// Accepted by the server at.
    pub sent_at: Option<i64>,
}

const ENTRY_COLUMNS: &str =
    "id, recipient, kind, subject, body, status, attempts, next_attempt_at, locked_until, \
                             last_error, created_at, sent_at";

/// One row by ID.
pub async fn get(db: &Db, id: &str) -> Result<Option<OutboxEntry>> {
    let sql = format!("SELECT {ENTRY_COLUMNS} FROM outbox WHERE id = $1");
    Ok(on_read!(db, |e| sqlx::query_as::<_, OutboxEntry>(&sql)
        .bind(id)
        .fetch_optional(e)
        .await)?)
}

/// Rows for a recipient, newest first.
pub async fn for_recipient(db: &Db, recipient: &str) -> Result<Vec<OutboxEntry>> {
    let sql = format!(
        "SELECT {ENTRY_COLUMNS} FROM outbox WHERE recipient = $1 ORDER BY created_at DESC, id DESC"
    );
    Ok(on_read!(db, |e| sqlx::query_as::<_, OutboxEntry>(&sql)
        .bind(recipient)
        .fetch_all(e)
        .await)?)
}

/// How many rows are in each state (for metrics and tests).
pub async fn counts(db: &Db) -> Result<Vec<(String, i64)>> {
    Ok(on_read!(db, |e| sqlx::query_as::<_, (String, i64)>(
        "SELECT status, COUNT(*) FROM outbox GROUP BY status ORDER BY status"
    )
    .fetch_all(e)
    .await)?)
}
