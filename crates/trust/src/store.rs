//! The SQL of `tickets`, `ticket_messages` and `store_warnings`, written once with
//! `$n` placeholders for both engines. IDs are UUIDv7 text, so `ORDER BY id` is time
//! order and `id > $n` / `id < $n` is a keyset cursor.

use rampart_db::{on_tx, Result, Tx};

/// A stored ticket.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct TicketRow {
    pub id: String,
    pub author_id: String,
    pub subject: String,
    pub status: String,
    pub assignee_id: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A stored thread message.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct MessageRow {
    pub id: String,
    pub ticket_id: String,
    pub author_id: String,
    pub side: String,
    pub body: String,
    pub created_at: i64,
}

/// A stored warning.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct WarningRow {
    pub id: String,
    pub store_id: String,
    pub issued_by: String,
    pub reason: String,
    pub status: String,
    pub resolved_by: Option<String>,
    pub created_at: i64,
    pub resolved_at: Option<i64>,
}

const TICKET_COLUMNS: &str = "id, author_id, subject, status, assignee_id, created_at, updated_at";
const WARNING_COLUMNS: &str =
    "id, store_id, issued_by, reason, status, resolved_by, created_at, resolved_at";

/// `FOR UPDATE` on PostgreSQL when `lock`; SQLite transactions already run one at a
/// time on its single writer.
fn lock_clause(tx: &Tx, lock: bool) -> &'static str {
    match (tx, lock) {
        (Tx::Postgres(_), true) => " FOR UPDATE",
        _ => "",
    }
}

// ----- tickets ----------------------------------------------------------------------

pub(crate) async fn insert_ticket(tx: &mut Tx, t: &TicketRow) -> Result<()> {
    on_tx!(tx, |e| sqlx::query(
        "INSERT INTO tickets (id, author_id, subject, status, assignee_id, created_at, \
         updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)"
    )
    .bind(&t.id)
    .bind(&t.author_id)
    .bind(&t.subject)
    .bind(&t.status)
    .bind(&t.assignee_id)
    .bind(t.created_at)
    .bind(t.updated_at)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// A ticket by ID; `lock` holds the row until the transaction ends (a status change,
/// assignment or reply decides on the state it read).
pub(crate) async fn ticket(tx: &mut Tx, id: &str, lock: bool) -> Result<Option<TicketRow>> {
    let sql = format!(
        "SELECT {TICKET_COLUMNS} FROM tickets WHERE id = $1{}",
        lock_clause(tx, lock)
    );
    Ok(on_tx!(tx, |e| sqlx::query_as(&sql)
        .bind(id)
        .fetch_optional(e)
        .await)?)
}

/// Sets status, assignee and `updated_at` of a ticket.
pub(crate) async fn update_ticket(
    tx: &mut Tx,
    id: &str,
    status: &str,
    assignee: Option<&str>,
    now: i64,
) -> Result<()> {
    on_tx!(tx, |e| sqlx::query(
        "UPDATE tickets SET status = $1, assignee_id = $2, updated_at = $3 WHERE id = $4"
    )
    .bind(status)
    .bind(assignee)
    .bind(now)
    .bind(id)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// The author's tickets, newest first, strictly older than `before` when given.
pub(crate) async fn tickets_of(
    tx: &mut Tx,
    author: &str,
    before: Option<&str>,
    limit: i64,
) -> Result<Vec<TicketRow>> {
    let cursor = if before.is_some() { " AND id < $3" } else { "" };
    let sql = format!(
        "SELECT {TICKET_COLUMNS} FROM tickets WHERE author_id = $1{cursor} \
         ORDER BY id DESC LIMIT $2"
    );
    Ok(on_tx!(tx, |e| {
        let q = sqlx::query_as(&sql).bind(author).bind(limit);
        let q = match before {
            Some(b) => q.bind(b),
            None => q,
        };
        q.fetch_all(e).await
    })?)
}

/// The queue filters, as SQL sees them.
pub(crate) struct QueueFilter<'a> {
    pub status: Option<&'a str>,
    /// `None`: any; `Some(None)`: unassigned; `Some(Some(u))`: assigned to `u`.
    pub assignee: Option<Option<&'a str>>,
    pub after: Option<&'a str>,
}

/// The staff queue: oldest first, filtered, strictly newer than `after` when given.
pub(crate) async fn queue(tx: &mut Tx, f: &QueueFilter<'_>, limit: i64) -> Result<Vec<TicketRow>> {
    // Placeholders are numbered in the order the values are bound below.
    let mut sql = format!("SELECT {TICKET_COLUMNS} FROM tickets WHERE 1 = 1");
    let mut binds: Vec<&str> = Vec::new();
    if let Some(s) = f.status {
        binds.push(s);
        sql.push_str(&format!(" AND status = ${}", binds.len()));
    }
    match f.assignee {
        None => {}
        Some(None) => sql.push_str(" AND assignee_id IS NULL"),
        Some(Some(u)) => {
            binds.push(u);
            sql.push_str(&format!(" AND assignee_id = ${}", binds.len()));
        }
    }
    if let Some(a) = f.after {
        binds.push(a);
        sql.push_str(&format!(" AND id > ${}", binds.len()));
    }
    sql.push_str(&format!(" ORDER BY id ASC LIMIT ${}", binds.len() + 1));
    Ok(on_tx!(tx, |e| {
        let mut q = sqlx::query_as(&sql);
        for b in &binds {
            q = q.bind(*b);
        }
        q.bind(limit).fetch_all(e).await
    })?)
}

// ----- thread -----------------------------------------------------------------------

pub(crate) async fn insert_message(tx: &mut Tx, m: &MessageRow) -> Result<()> {
    on_tx!(tx, |e| sqlx::query(
        "INSERT INTO ticket_messages (id, ticket_id, author_id, side, body, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)"
    )
    .bind(&m.id)
    .bind(&m.ticket_id)
    .bind(&m.author_id)
    .bind(&m.side)
    .bind(&m.body)
    .bind(m.created_at)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// A ticket's whole thread, oldest first.
pub(crate) async fn messages(tx: &mut Tx, ticket: &str) -> Result<Vec<MessageRow>> {
    Ok(on_tx!(tx, |e| sqlx::query_as(
        "SELECT id, ticket_id, author_id, side, body, created_at FROM ticket_messages \
         WHERE ticket_id = $1 ORDER BY id"
    )
    .bind(ticket)
    .fetch_all(e)
    .await)?)
}

// ----- warnings ---------------------------------------------------------------------

pub(crate) async fn insert_warning(tx: &mut Tx, w: &WarningRow) -> Result<()> {
    on_tx!(tx, |e| sqlx::query(
        "INSERT INTO store_warnings (id, store_id, issued_by, reason, status, resolved_by, \
         created_at, resolved_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
    )
    .bind(&w.id)
    .bind(&w.store_id)
    .bind(&w.issued_by)
    .bind(&w.reason)
    .bind(&w.status)
    .bind(&w.resolved_by)
    .bind(w.created_at)
    .bind(w.resolved_at)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

pub(crate) async fn warning(tx: &mut Tx, id: &str, lock: bool) -> Result<Option<WarningRow>> {
    let sql = format!(
        "SELECT {WARNING_COLUMNS} FROM store_warnings WHERE id = $1{}",
        lock_clause(tx, lock)
    );
    Ok(on_tx!(tx, |e| sqlx::query_as(&sql)
        .bind(id)
        .fetch_optional(e)
        .await)?)
}

/// Resolves an open warning. True when this call resolved it.
pub(crate) async fn resolve_warning(tx: &mut Tx, id: &str, by: &str, now: i64) -> Result<bool> {
    let n = on_tx!(tx, |e| sqlx::query(
        "UPDATE store_warnings SET status = 'resolved', resolved_by = $1, resolved_at = $2 \
         WHERE id = $3 AND status = 'open'"
    )
    .bind(by)
    .bind(now)
    .bind(id)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

/// A store's warnings, newest first.
pub(crate) async fn warnings_of(tx: &mut Tx, store: &str) -> Result<Vec<WarningRow>> {
    let sql = format!(
        "SELECT {WARNING_COLUMNS} FROM store_warnings WHERE store_id = $1 ORDER BY id DESC"
    );
    Ok(on_tx!(tx, |e| sqlx::query_as(&sql)
        .bind(store)
        .fetch_all(e)
        .await)?)
}
