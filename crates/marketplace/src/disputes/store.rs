//! SQL of `disputes` and `dispute_claims`.

use rampart_db::{on_conn, on_tx, Conn, Result, Tx};

/// A stored dispute.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DisputeRow {
    pub id: String,
    pub transaction_id: String,
    pub store_id: String,
    pub buyer_id: String,
    pub opened_by: String,
    pub opened_by_side: String,
    pub reason: String,
    pub status: String,
    pub outcome: Option<String>,
    pub refund_minor: Option<i64>,
    pub currency: String,
    pub resolved_by: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub resolved_at: Option<i64>,
}

/// A dispute with the caller's role in the selling store (one query: the
/// membership decides access).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DisputeAccess {
    #[sqlx(flatten)]
    pub dispute: DisputeRow,
    pub member_role: Option<String>,
}

/// A stored claim.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClaimRow {
    pub id: String,
    pub dispute_id: String,
    pub author_id: String,
    pub side: String,
    pub body: String,
    pub created_at: i64,
}

/// The columns of [`DisputeRow`] on alias `d`.
const COLUMNS: &str = "d.id, d.transaction_id, d.store_id, d.buyer_id, d.opened_by, \
    d.opened_by_side, d.reason, d.status, d.outcome, d.refund_minor, d.currency, \
    d.resolved_by, d.created_at, d.updated_at, d.resolved_at";

/// Inserts a dispute; a second open dispute on one transaction is refused by the
/// partial unique index (`DbError::Conflict`).
pub async fn insert(tx: &mut Tx, d: &DisputeRow) -> Result<()> {
    on_tx!(tx, |e| sqlx::query(
        "INSERT INTO disputes (id, transaction_id, store_id, buyer_id, opened_by, \
         opened_by_side, reason, status, outcome, refund_minor, currency, resolved_by, \
         created_at, updated_at, resolved_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
    )
    .bind(&d.id)
    .bind(&d.transaction_id)
    .bind(&d.store_id)
    .bind(&d.buyer_id)
    .bind(&d.opened_by)
    .bind(&d.opened_by_side)
    .bind(&d.reason)
    .bind(&d.status)
    .bind(&d.outcome)
    .bind(d.refund_minor)
    .bind(&d.currency)
    .bind(&d.resolved_by)
    .bind(d.created_at)
    .bind(d.updated_at)
    .bind(d.resolved_at)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Inserts a claim.
pub async fn insert_claim(tx: &mut Tx, c: &ClaimRow) -> Result<()> {
    on_tx!(tx, |e| sqlx::query(
        "INSERT INTO dispute_claims (id, dispute_id, author_id, side, body, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)"
    )
    .bind(&c.id)
    .bind(&c.dispute_id)
    .bind(&c.author_id)
    .bind(&c.side)
    .bind(&c.body)
    .bind(c.created_at)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// A dispute and `user`'s role in its store.
pub async fn find_with_role(
    conn: impl Into<Conn<'_>>,
    id: &str,
    user_id: &str,
) -> Result<Option<DisputeAccess>> {
    let sql = format!(
        "SELECT {COLUMNS}, m.role AS member_role FROM disputes d \
         LEFT JOIN store_members m ON m.store_id = d.store_id AND m.user_id = $2 WHERE d.id = $1"
    );
    Ok(on_conn!(conn.into(), |e| {
        sqlx::query_as::<_, DisputeAccess>(&sql)
            .bind(id)
            .bind(user_id)
            .fetch_optional(e)
            .await
    })?)
}

/// The latest dispute of a transaction, if any.
pub async fn of_transaction(
    conn: impl Into<Conn<'_>>,
    transaction_id: &str,
) -> Result<Option<DisputeRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM disputes d WHERE d.transaction_id = $1 \
         ORDER BY d.created_at DESC, d.id DESC LIMIT 1"
    );
    Ok(on_conn!(conn.into(), |e| sqlx::query_as::<_, DisputeRow>(
        &sql
    )
    .bind(transaction_id)
    .fetch_optional(e)
    .await)?)
}

/// `user`'s role in a store, if a member.
pub async fn member_role(
    conn: impl Into<Conn<'_>>,
    store_id: &str,
    user_id: &str,
) -> Result<Option<String>> {
    Ok(on_conn!(conn.into(), |e| sqlx::query_scalar::<_, String>(
        "SELECT role FROM store_members WHERE store_id = $1 AND user_id = $2"
    )
    .bind(store_id)
    .bind(user_id)
    .fetch_optional(e)
    .await)?)
}

/// A dispute's claims, oldest first.
pub async fn claims(conn: impl Into<Conn<'_>>, dispute_id: &str) -> Result<Vec<ClaimRow>> {
    Ok(on_conn!(conn.into(), |e| sqlx::query_as::<_, ClaimRow>(
        "SELECT id, dispute_id, author_id, side, body, created_at FROM dispute_claims \
         WHERE dispute_id = $1 ORDER BY created_at, id"
    )
    .bind(dispute_id)
    .fetch_all(e)
    .await)?)
}

/// Marks an open dispute resolved; returns rows changed (0: not open any more, so a
/// second resolution changes nothing). On PostgreSQL the row lock serialises two
/// concurrent resolutions: the second re-reads `status` and matches nothing.
pub async fn resolve(
    tx: &mut Tx,
    id: &str,
    outcome: &str,
    refund_minor: Option<i64>,
    resolved_by: &str,
    now: i64,
) -> Result<u64> {
    Ok(on_tx!(tx, |e| sqlx::query(
        "UPDATE disputes SET status = 'resolved', outcome = $2, refund_minor = $3, \
         resolved_by = $4, resolved_at = $5, updated_at = $5 WHERE id = $1 AND status = 'open'"
    )
    .bind(id)
    .bind(outcome)
    .bind(refund_minor)
    .bind(resolved_by)
    .bind(now)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))?)
}

/// A store's latest disputes, newest first (at most `limit`).
pub async fn of_store(
    conn: impl Into<Conn<'_>>,
    store_id: &str,
    limit: i64,
) -> Result<Vec<DisputeRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM disputes d WHERE d.store_id = $1 \
         ORDER BY d.created_at DESC, d.id DESC LIMIT $2"
    );
    Ok(on_conn!(conn.into(), |e| sqlx::query_as::<_, DisputeRow>(
        &sql
    )
    .bind(store_id)
    .bind(limit)
    .fetch_all(e)
    .await)?)
}

/// One page of every store's disputes, oldest first (keyset on `(created_at, id)`
/// over `disputes_queue`), up to `limit + 1` rows: the extra one says there is more.
pub async fn queue(
    conn: impl Into<Conn<'_>>,
    status: Option<&str>,
    after: Option<(i64, &str)>,
    limit: i64,
) -> Result<Vec<DisputeRow>> {
    let mut sql = format!("SELECT {COLUMNS} FROM disputes d WHERE 1 = 1");
    let mut n = 0;
    let mut next = || {
        n += 1;
        n
    };
    if status.is_some() {
        sql.push_str(&format!(" AND d.status = ${}", next()));
    }
    if after.is_some() {
        let (a, b) = (next(), next());
        sql.push_str(&format!(
            " AND (d.created_at > ${a} OR (d.created_at = ${a} AND d.id > ${b}))"
        ));
    }
    sql.push_str(&format!(" ORDER BY d.created_at, d.id LIMIT ${}", next()));
    macro_rules! bind_all {
        ($query:expr) => {{
            let mut x = $query;
            if let Some(s) = status {
                x = x.bind(s);
            }
            if let Some((t, id)) = after {
                x = x.bind(t).bind(id);
            }
            x.bind(limit + 1)
        }};
    }
    Ok(on_conn!(conn.into(), |e| bind_all!(sqlx::query_as::<
        _,
        DisputeRow,
    >(&sql))
    .fetch_all(e)
    .await)?)
}

/// Moves an open dispute's `updated_at` (a claim arrived); 0 when it is not open.
pub async fn touch_open(tx: &mut Tx, id: &str, now: i64) -> Result<u64> {
    Ok(on_tx!(tx, |e| sqlx::query(
        "UPDATE disputes SET updated_at = $2 WHERE id = $1 AND status = 'open'"
    )
    .bind(id)
    .bind(now)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))?)
}
