//! The SQL of the ledger tables: escrow transactions, accounts, entries, postings.
//! Written once with `$n` placeholders for both engines; balances are always `SUM`s.

use crate::intents::{IntentRow, INTENT_COLUMNS};
use rampart_db::{on_conn, on_read, on_tx, Conn, Db, Engine, Result, Tx};

/// A stored escrow transaction.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct TxnRow {
    pub id: String,
    pub buyer_id: String,
    pub store_id: String,
    pub item_id: String,
    pub quantity: i64,
    pub amount_minor: i64,
    pub currency: String,
    pub fee_bps: i64,
    pub state: String,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub release_after_ms: i64,
    pub refunded_minor: i64,
    pub line_count: i64,
}

pub(crate) const TXN_COLUMNS: &str =
    "id, buyer_id, store_id, item_id, quantity, amount_minor, currency, \
                           fee_bps, state, version, created_at, updated_at, release_after_ms, \
                           refunded_minor, line_count";

/// One stored line of a transaction (`escrow_lines`).
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct LineRow {
    pub line_no: i64,
    pub item_id: String,
    pub quantity: i64,
    pub unit_price_minor: i64,
}

pub(crate) async fn insert_transaction(tx: &mut Tx, r: &TxnRow) -> Result<()> {
    on_tx!(tx, |e| sqlx::query(
        "INSERT INTO escrow_transactions (id, buyer_id, store_id, item_id, quantity, \
         amount_minor, currency, fee_bps, state, version, created_at, updated_at, \
         release_after_ms, refunded_minor, line_count) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
    )
    .bind(&r.id)
    .bind(&r.buyer_id)
    .bind(&r.store_id)
    .bind(&r.item_id)
    .bind(r.quantity)
    .bind(r.amount_minor)
    .bind(&r.currency)
    .bind(r.fee_bps)
    .bind(&r.state)
    .bind(r.version)
    .bind(r.created_at)
    .bind(r.updated_at)
    .bind(r.release_after_ms)
    .bind(r.refunded_minor)
    .bind(r.line_count)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

pub(crate) async fn insert_line(tx: &mut Tx, transaction_id: &str, l: &LineRow) -> Result<()> {
    on_tx!(tx, |e| sqlx::query(
        "INSERT INTO escrow_lines (transaction_id, line_no, item_id, quantity, unit_price_minor) \
         VALUES ($1, $2, $3, $4, $5)"
    )
    .bind(transaction_id)
    .bind(l.line_no)
    .bind(&l.item_id)
    .bind(l.quantity)
    .bind(l.unit_price_minor)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// A transaction's lines, in line order.
pub(crate) async fn lines(conn: impl Into<Conn<'_>>, transaction_id: &str) -> Result<Vec<LineRow>> {
    Ok(on_conn!(conn.into(), |e| sqlx::query_as(
        "SELECT line_no, item_id, quantity, unit_price_minor FROM escrow_lines \
         WHERE transaction_id = $1 ORDER BY line_no"
    )
    .bind(transaction_id)
    .fetch_all(e)
    .await)?)
}

pub(crate) async fn transaction(conn: impl Into<Conn<'_>>, id: &str) -> Result<Option<TxnRow>> {
    let sql = format!("SELECT {TXN_COLUMNS} FROM escrow_transactions WHERE id = $1");
    Ok(on_conn!(conn.into(), |e| sqlx::query_as(&sql)
        .bind(id)
        .fetch_optional(e)
        .await)?)
}

/// Reads the row for update: `FOR UPDATE` on PostgreSQL, so concurrent appliers
/// queue on the row; SQLite transactions already run one at a time on its writer.
pub(crate) async fn lock_transaction(tx: &mut Tx, id: &str) -> Result<Option<TxnRow>> {
    let lock = if matches!(tx, Tx::Postgres(_)) {
        " FOR UPDATE"
    } else {
        ""
    };
    let sql = format!("SELECT {TXN_COLUMNS} FROM escrow_transactions WHERE id = $1{lock}");
    Ok(on_tx!(tx, |e| sqlx::query_as(&sql)
        .bind(id)
        .fetch_optional(e)
        .await)?)
}

/// Moves the state on (and adds `refunded` to the partial refunds) if the row is
/// still at `version`; false when it is not.
pub(crate) async fn update_state(
    tx: &mut Tx,
    id: &str,
    state: &str,
    version: i64,
    refunded: i64,
    now: i64,
) -> Result<bool> {
    let n = on_tx!(tx, |e| sqlx::query(
        "UPDATE escrow_transactions SET state = $1, version = version + 1, updated_at = $2, \
         refunded_minor = refunded_minor + $5 WHERE id = $3 AND version = $4"
    )
    .bind(state)
    .bind(now)
    .bind(id)
    .bind(version)
    .bind(refunded)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

pub(crate) async fn effect_exists(tx: &mut Tx, key: &str) -> Result<bool> {
    let n: Option<(String,)> = on_tx!(tx, |e| sqlx::query_as(
        "SELECT id FROM ledger_entries WHERE effect_key = $1"
    )
    .bind(key)
    .fetch_optional(e)
    .await)?;
    Ok(n.is_some())
}

/// Inserts an entry; a second entry with the same effect key is refused by the
/// UNIQUE constraint (`DbError::Conflict`).
pub(crate) async fn insert_entry(
    tx: &mut Tx,
    id: &str,
    effect_key: &str,
    transaction_id: &str,
    event: &str,
    now: i64,
) -> Result<()> {
    on_tx!(tx, |e| sqlx::query(
        "INSERT INTO ledger_entries (id, effect_key, transaction_id, event, created_at) \
         VALUES ($1, $2, $3, $4, $5)"
    )
    .bind(id)
    .bind(effect_key)
    .bind(transaction_id)
    .bind(event)
    .bind(now)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// The ID of the account (kind, owner, currency), created on first use.
pub(crate) async fn account_id(
    tx: &mut Tx,
    kind: &str,
    owner: &str,
    currency: &str,
    now: i64,
) -> Result<String> {
    let fresh = uuid::Uuid::now_v7().to_string();
    on_tx!(tx, |e| sqlx::query(
        "INSERT INTO ledger_accounts (id, kind, owner_ref, currency, created_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (kind, owner_ref, currency) DO NOTHING"
    )
    .bind(&fresh)
    .bind(kind)
    .bind(owner)
    .bind(currency)
    .bind(now)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))?;
    let (id,): (String,) = on_tx!(tx, |e| sqlx::query_as(
        "SELECT id FROM ledger_accounts WHERE kind = $1 AND owner_ref = $2 AND currency = $3"
    )
    .bind(kind)
    .bind(owner)
    .bind(currency)
    .fetch_one(e)
    .await)?;
    Ok(id)
}

pub(crate) async fn find_account(
    conn: impl Into<Conn<'_>>,
    kind: &str,
    owner: &str,
    currency: &str,
) -> Result<Option<String>> {
    let r: Option<(String,)> = on_conn!(conn.into(), |e| sqlx::query_as(
        "SELECT id FROM ledger_accounts WHERE kind = $1 AND owner_ref = $2 AND currency = $3"
    )
    .bind(kind)
    .bind(owner)
    .bind(currency)
    .fetch_optional(e)
    .await)?;
    Ok(r.map(|r| r.0))
}

/// One leg to write.
pub(crate) struct NewPosting<'a> {
    pub entry_id: &'a str,
    pub account_id: &'a str,
    pub transaction_id: &'a str,
    pub amount_minor: i64,
    pub currency: &'a str,
    pub created_at: i64,
}

pub(crate) async fn insert_posting(tx: &mut Tx, p: &NewPosting<'_>) -> Result<()> {
    on_tx!(tx, |e| sqlx::query(
        "INSERT INTO ledger_postings (id, entry_id, account_id, transaction_id, amount_minor, \
         currency, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)"
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(p.entry_id)
    .bind(p.account_id)
    .bind(p.transaction_id)
    .bind(p.amount_minor)
    .bind(p.currency)
    .bind(p.created_at)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// The balance of an account: the sum of its postings.
pub(crate) async fn balance(conn: impl Into<Conn<'_>>, account_id: &str) -> Result<i64> {
    let (b,): (i64,) = on_conn!(conn.into(), |e| sqlx::query_as(
        "SELECT CAST(COALESCE(SUM(amount_minor), 0) AS BIGINT) FROM ledger_postings \
         WHERE account_id = $1"
    )
    .bind(account_id)
    .fetch_one(e)
    .await)?;
    Ok(b)
}

/// Number of postings written for a transaction (tests and reconcile).
pub(crate) async fn posting_count(conn: impl Into<Conn<'_>>, transaction_id: &str) -> Result<i64> {
    let (n,): (i64,) = on_conn!(conn.into(), |e| sqlx::query_as(
        "SELECT COUNT(*) FROM ledger_postings WHERE transaction_id = $1"
    )
    .bind(transaction_id)
    .fetch_one(e)
    .await)?;
    Ok(n)
}

// Reconciliation reads. Each runs inside the one snapshot transaction of `reconcile`.

/// Entries whose legs do not sum to zero in some currency: (entry, currency, sum).
pub(crate) async fn unbalanced_entries(tx: &mut Tx) -> Result<Vec<(String, String, i64)>> {
    Ok(on_tx!(tx, |e| sqlx::query_as(
        "SELECT entry_id, currency, CAST(SUM(amount_minor) AS BIGINT) FROM ledger_postings \
         GROUP BY entry_id, currency HAVING SUM(amount_minor) <> 0 ORDER BY entry_id, currency"
    )
    .fetch_all(e)
    .await)?)
}

/// Currencies in which the whole ledger does not sum to zero: (currency, sum).
pub(crate) async fn unbalanced_currencies(tx: &mut Tx) -> Result<Vec<(String, i64)>> {
    Ok(on_tx!(tx, |e| sqlx::query_as(
        "SELECT currency, CAST(SUM(amount_minor) AS BIGINT) FROM ledger_postings \
         GROUP BY currency HAVING SUM(amount_minor) <> 0 ORDER BY currency"
    )
    .fetch_all(e)
    .await)?)
}

/// Every account with its balance: (id, kind, owner, currency, balance).
pub(crate) async fn account_balances(
    tx: &mut Tx,
) -> Result<Vec<(String, String, String, String, i64)>> {
    Ok(on_tx!(tx, |e| sqlx::query_as(
        "SELECT a.id, a.kind, a.owner_ref, a.currency, \
         CAST(COALESCE(SUM(p.amount_minor), 0) AS BIGINT) \
         FROM ledger_accounts a \
         LEFT JOIN ledger_postings p ON p.account_id = a.id AND p.currency = a.currency \
         GROUP BY a.id, a.kind, a.owner_ref, a.currency ORDER BY a.id"
    )
    .fetch_all(e)
    .await)?)
}

/// Postings whose currency differs from their account's: (posting, account).
pub(crate) async fn currency_mismatches(tx: &mut Tx) -> Result<Vec<(String, String)>> {
    Ok(on_tx!(tx, |e| sqlx::query_as(
        "SELECT p.id, p.account_id FROM ledger_postings p \
         JOIN ledger_accounts a ON a.id = p.account_id \
         WHERE p.currency <> a.currency ORDER BY p.id"
    )
    .fetch_all(e)
    .await)?)
}

/// Postings whose transaction differs from their entry's: (posting, entry).
pub(crate) async fn misfiled_postings(tx: &mut Tx) -> Result<Vec<(String, String)>> {
    Ok(on_tx!(tx, |e| sqlx::query_as(
        "SELECT p.id, p.entry_id FROM ledger_postings p \
         JOIN ledger_entries n ON n.id = p.entry_id \
         WHERE p.transaction_id <> n.transaction_id ORDER BY p.id"
    )
    .fetch_all(e)
    .await)?)
}

/// Every transaction: (id, state, amount, currency, partial refunds before an
/// outcome, the sum of its lines — `None` when it has none).
pub(crate) async fn all_transactions(
    tx: &mut Tx,
) -> Result<Vec<(String, String, i64, String, i64, Option<i64>)>> {
    Ok(on_tx!(tx, |e| sqlx::query_as(
        "SELECT t.id, t.state, t.amount_minor, t.currency, t.refunded_minor, \
         (SELECT CAST(SUM(l.quantity * l.unit_price_minor) AS BIGINT) FROM escrow_lines l \
          WHERE l.transaction_id = t.id) \
         FROM escrow_transactions t ORDER BY t.id"
    )
    .fetch_all(e)
    .await)?)
}

/// Per transaction, the sum of its postings to accounts of `kind`:
/// (transaction, currency, sum).
pub(crate) async fn kind_sums_by_transaction(
    tx: &mut Tx,
    kind: &str,
) -> Result<Vec<(String, String, i64)>> {
    Ok(on_tx!(tx, |e| sqlx::query_as(
        "SELECT p.transaction_id, p.currency, CAST(SUM(p.amount_minor) AS BIGINT) \
         FROM ledger_postings p JOIN ledger_accounts a ON a.id = p.account_id \
         WHERE a.kind = $1 GROUP BY p.transaction_id, p.currency"
    )
    .bind(kind)
    .fetch_all(e)
    .await)?)
}

/// Starts the reconciliation snapshot: on PostgreSQL one repeatable-read, read-only
/// snapshot for every query; on SQLite the writer's transaction already excludes
/// concurrent writes.
pub(crate) async fn snapshot(tx: &mut Tx) -> Result<()> {
    if let Tx::Postgres(t) = tx {
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .execute(&mut **t)
            .await?;
    }
    Ok(())
}

// Intents (crate::intents).

pub(crate) async fn pending_intent(
    tx: &mut Tx,
    transaction_id: &str,
    kind: &str,
) -> Result<Option<IntentRow>> {
    let sql = format!(
        "SELECT {INTENT_COLUMNS} FROM escrow_intents \
         WHERE transaction_id = $1 AND kind = $2 AND status = 'pending'"
    );
    Ok(on_tx!(tx, |e| sqlx::query_as(&sql)
        .bind(transaction_id)
        .bind(kind)
        .fetch_optional(e)
        .await)?)
}

pub(crate) async fn insert_intent(
    tx: &mut Tx,
    r: &IntentRow,
    request_id: Option<&str>,
) -> Result<()> {
    on_tx!(tx, |e| sqlx::query(
        "INSERT INTO escrow_intents (id, transaction_id, kind, status, requested_by, \
         request_id, attempts, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)"
    )
    .bind(&r.id)
    .bind(&r.transaction_id)
    .bind(&r.kind)
    .bind(&r.status)
    .bind(&r.requested_by)
    .bind(request_id)
    .bind(r.attempts)
    .bind(r.created_at)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

pub(crate) async fn intents_for(
    conn: impl Into<Conn<'_>>,
    transaction_id: &str,
) -> Result<Vec<IntentRow>> {
    let sql = format!(
        "SELECT {INTENT_COLUMNS} FROM escrow_intents WHERE transaction_id = $1 \
         ORDER BY created_at, id"
    );
    Ok(on_conn!(conn.into(), |e| sqlx::query_as(&sql)
        .bind(transaction_id)
        .fetch_all(e)
        .await)?)
}

// The worker's side of intents: claim, lock, settle.

const INTENT_RETURNING: &str = "RETURNING escrow_intents.id, transaction_id, kind, status, \
    requested_by, attempts, last_error, created_at, done_at";

/// Leases up to `limit` due intents (pending, lease never taken or expired) to
/// `worker_id` until `now + lease_ms`, counting an attempt on each; oldest first.
///
/// PostgreSQL locks the candidates with `FOR UPDATE SKIP LOCKED` in a materialised CTE
/// (as an `IN (…)` subquery the planner may run the locking SELECT again per outer
/// row and claim more than `limit`; see `rampart_mail::outbox::claim`), so concurrent
/// workers take disjoint rows; a row another claimer committed meanwhile is re-checked
/// against the `WHERE` and skipped. SQLite has one writer, so the single conditional
/// `UPDATE … RETURNING` is atomic on its own.
pub(crate) async fn claim_intents(
    db: &Db,
    worker_id: &str,
    now: i64,
    lease_ms: i64,
    limit: i64,
) -> Result<Vec<IntentRow>> {
    let due = "status = 'pending' AND (lease_until IS NULL OR lease_until < $3)";
    let set = "UPDATE escrow_intents SET lease_owner = $1, lease_until = $2, \
               attempts = attempts + 1, updated_at = $3";
    let mut rows: Vec<IntentRow> = match &db.engine {
        Engine::Sqlite { write, .. } => {
            let sql = format!(
                "{set} WHERE id IN (SELECT id FROM escrow_intents WHERE {due} \
                 ORDER BY created_at, id LIMIT $4) {INTENT_RETURNING}"
            );
            sqlx::query_as(&sql)
                .bind(worker_id)
                .bind(now.saturating_add(lease_ms))
                .bind(now)
                .bind(limit)
                .fetch_all(write)
                .await?
        }
        Engine::Postgres(pool) => {
            let sql = format!(
                "WITH picked AS MATERIALIZED (SELECT id FROM escrow_intents WHERE {due} \
                 ORDER BY created_at, id LIMIT $4 FOR UPDATE SKIP LOCKED) \
                 {set} FROM picked WHERE escrow_intents.id = picked.id AND {due} \
                 {INTENT_RETURNING}"
            );
            sqlx::query_as(&sql)
                .bind(worker_id)
                .bind(now.saturating_add(lease_ms))
                .bind(now)
                .bind(limit)
                .fetch_all(pool)
                .await?
        }
    };
    rows.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
    Ok(rows)
}

/// The intent's (status, lease owner), read for update: `FOR UPDATE` on PostgreSQL,
/// so a claimer's `SKIP LOCKED` passes it by while this transaction runs.
pub(crate) async fn lock_intent(tx: &mut Tx, id: &str) -> Result<Option<(String, Option<String>)>> {
    let lock = if matches!(tx, Tx::Postgres(_)) {
        " FOR UPDATE"
    } else {
        ""
    };
    let sql = format!("SELECT status, lease_owner FROM escrow_intents WHERE id = $1{lock}");
    Ok(on_tx!(tx, |e| sqlx::query_as(&sql)
        .bind(id)
        .fetch_optional(e)
        .await)?)
}

/// Settles an intent as done or failed and drops its lease.
pub(crate) async fn settle_intent(
    tx: &mut Tx,
    id: &str,
    status: &str,
    last_error: Option<&str>,
    now: i64,
) -> Result<()> {
    on_tx!(tx, |e| sqlx::query(
        "UPDATE escrow_intents SET status = $2, last_error = $3, done_at = $4, updated_at = $4, \
         lease_owner = NULL, lease_until = NULL WHERE id = $1"
    )
    .bind(id)
    .bind(status)
    .bind(last_error)
    .bind(now)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Transactions of a store in `state` whose last state change is at or before
/// `before`, oldest first; with `skip_pending`, only those without a pending intent.
pub(crate) async fn stale_transactions(
    db: &Db,
    state: &str,
    now: i64,
    margin_ms: i64,
    skip_pending: bool,
    limit: i64,
) -> Result<Vec<TxnRow>> {
    let pending = if skip_pending {
        " AND NOT EXISTS (SELECT 1 FROM escrow_intents i WHERE i.transaction_id = t.id \
         AND i.status = 'pending')"
    } else {
        ""
    };
    let cols = TXN_COLUMNS
        .split(", ")
        .map(|c| format!("t.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ");
    // Each transaction's own period, fixed at purchase.
    let sql = format!(
        "SELECT {cols} FROM escrow_transactions t WHERE t.state = $1 \
         AND t.updated_at + t.release_after_ms + $2 <= $3{pending} \
         ORDER BY t.updated_at, t.id LIMIT $4"
    );
    Ok(on_read!(db, |e| sqlx::query_as(&sql)
        .bind(state)
        .bind(margin_ms)
        .bind(now)
        .bind(limit)
        .fetch_all(e)
        .await)?)
}

/// Per store, how many entries of the refund and dispute events were written at or
/// after `since`: (store, event, count). A cancel counts only when it refunded
/// money (it has postings: cancelled after payment).
pub(crate) async fn risk_event_counts(db: &Db, since: i64) -> Result<Vec<(String, String, i64)>> {
    Ok(on_read!(db, |e| {
        sqlx::query_as(
        "SELECT t.store_id, n.event, COUNT(*) FROM ledger_entries n \
         JOIN escrow_transactions t ON t.id = n.transaction_id \
         WHERE n.created_at >= $1 AND (n.event IN ('open_dispute', 'resolve_refund', 'resolve_partial') \
         OR (n.event = 'cancel' AND EXISTS (SELECT 1 FROM ledger_postings p WHERE p.entry_id = n.id))) \
         GROUP BY t.store_id, n.event ORDER BY t.store_id, n.event"
    )
    .bind(since)
    .fetch_all(e)
    .await
    })?)
}

/// The kind of a pending intent on the transaction, if any (at most one pending per
/// kind; release and cancel never both apply in one state).
pub(crate) async fn pending_intent_kind(
    tx: &mut Tx,
    transaction_id: &str,
) -> Result<Option<String>> {
    Ok(on_tx!(tx, |e| sqlx::query_scalar::<_, String>(
        "SELECT kind FROM escrow_intents WHERE transaction_id = $1 AND status = 'pending' \
         ORDER BY created_at LIMIT 1"
    )
    .bind(transaction_id)
    .fetch_optional(e)
    .await)?)
}

pub(crate) async fn unpaid_before(db: &Db, before: i64, limit: i64) -> Result<Vec<TxnRow>> {
    let cols = TXN_COLUMNS
        .split(", ")
        .map(|c| format!("t.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "SELECT {cols} FROM escrow_transactions t WHERE t.state = 'pending_payment' \
         AND t.updated_at <= $1 AND NOT EXISTS (SELECT 1 FROM escrow_intents i \
         WHERE i.transaction_id = t.id AND i.status = 'pending') \
         ORDER BY t.updated_at, t.id LIMIT $2"
    );
    Ok(on_read!(db, |e| sqlx::query_as(&sql)
        .bind(before)
        .bind(limit)
        .fetch_all(e)
        .await)?)
}

/// One entry that returned money to a buyer, as stored: (entry, effect key,
/// transaction, amount to the buyer, currency, created at).
pub(crate) type RefundEffectRow = (String, String, String, i64, String, i64);

/// Entries created at or after `since` whose postings credit a buyer's refund
/// account, oldest first.
pub(crate) async fn refund_effects_since(
    db: &Db,
    since: i64,
    limit: i64,
) -> Result<Vec<RefundEffectRow>> {
    Ok(on_read!(db, |e| sqlx::query_as(
        "SELECT n.id, n.effect_key, n.transaction_id, CAST(SUM(p.amount_minor) AS BIGINT), \
         p.currency, n.created_at FROM ledger_entries n \
         JOIN ledger_postings p ON p.entry_id = n.id \
         JOIN ledger_accounts a ON a.id = p.account_id \
         WHERE n.created_at >= $1 AND a.kind = 'buyer_refund' \
         GROUP BY n.id, n.effect_key, n.transaction_id, p.currency, n.created_at \
         ORDER BY n.created_at, n.id LIMIT $2"
    )
    .bind(since)
    .bind(limit)
    .fetch_all(e)
    .await)?)
}
