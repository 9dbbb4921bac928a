//! SQL of purchases: the atomic stock reservation, and what a transaction page needs
//! from the marketplace tables (item title, store name, the caller's membership).

use rampart_db::{on_conn, on_tx, Conn, Result, Tx};

/// What a reservation read back from the item it reserved.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Reserved {
    /// The item's store.
    pub store_id: String,
    /// The item's current price (minor units).
    pub price_minor: i64,
    /// Its currency.
    pub currency: String,
}

/// Takes `quantity` units off an active item of an active store, if that many are
/// in stock; returns the item's current price and store, or `None` when refused. One
/// statement, so concurrent buyers never take stock below zero: PostgreSQL re-checks
/// `stock >= $2` on the row after a concurrent update commits, and SQLite runs one
/// writer at a time.
pub async fn reserve(
    tx: &mut Tx,
    item_id: &str,
    quantity: i64,
    now: i64,
) -> Result<Option<Reserved>> {
    Ok(on_tx!(tx, |e| sqlx::query_as::<_, Reserved>(
        "UPDATE items SET stock = stock - $2, updated_at = $3 \
         WHERE id = $1 AND status = 'active' AND stock >= $2 \
         AND EXISTS (SELECT 1 FROM stores s WHERE s.id = items.store_id AND s.status = 'active') \
         RETURNING store_id, price_minor, currency"
    )
    .bind(item_id)
    .bind(quantity)
    .bind(now)
    .fetch_optional(e)
    .await)?)
}

/// The marketplace side of one transaction.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Context {
    /// The store's name.
    pub store_name: String,
    /// The item's title (items are archived, never deleted, but stay tolerant).
    pub item_title: Option<String>,
    /// The caller's role in the store, if a member.
    pub member_role: Option<String>,
}

/// The store's name, the item's title and `user`'s role in the store (one query).
pub async fn context(
    conn: impl Into<Conn<'_>>,
    store_id: &str,
    item_id: &str,
    user_id: &str,
) -> Result<Option<Context>> {
    Ok(on_conn!(conn.into(), |e| sqlx::query_as::<_, Context>(
        "SELECT s.name AS store_name, i.title AS item_title, m.role AS member_role \
         FROM stores s LEFT JOIN items i ON i.id = $2 AND i.store_id = s.id \
         LEFT JOIN store_members m ON m.store_id = s.id AND m.user_id = $3 WHERE s.id = $1"
    )
    .bind(store_id)
    .bind(item_id)
    .bind(user_id)
    .fetch_optional(e)
    .await)?)
}

/// The titles of the items among `ids` (at most one page of transactions).
pub async fn item_titles(db: &rampart_db::Db, ids: &[&str]) -> Result<Vec<(String, String)>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let params: Vec<String> = (1..=ids.len()).map(|n| format!("${n}")).collect();
    let sql = format!(
        "SELECT id, title FROM items WHERE id IN ({})",
        params.join(", ")
    );
    Ok(rampart_db::on_read!(db, |e| {
        let mut q = sqlx::query_as::<_, (String, String)>(&sql);
        for id in ids {
            q = q.bind(*id);
        }
        q.fetch_all(e).await
    })?)
}

/// The store's auto-release period in days, read at purchase to be fixed on the
/// escrow transaction (a later change of the setting does not move it).
pub async fn release_days(tx: &mut Tx, store_id: &str) -> Result<i64> {
    Ok(on_tx!(tx, |e| sqlx::query_scalar::<_, i64>(
        "SELECT auto_release_days FROM stores WHERE id = $1"
    )
    .bind(store_id)
    .fetch_one(e)
    .await)?)
}
