//! SQL of `items`.

use rampart_db::{on_conn, on_tx, Conn, Result, Tx};

/// A stored item.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ItemRow {
    pub id: String,
    pub store_id: String,
    pub title: String,
    pub description: String,
    pub price_minor: i64,
    pub currency: String,
    pub stock: i64,
    pub status: String,
    pub item_type: String,
    pub weight_grams: i64,
    /// 0 or 1 (an integer on both engines).
    pub subscription_only: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// An item with its store's status and the caller's membership role.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ItemAccess {
    #[sqlx(flatten)]
    pub item: ItemRow,
    pub store_status: String,
    pub member_role: Option<String>,
}

/// The columns of [`ItemRow`] on alias `i`.
pub const COLUMNS: &str = "i.id, i.store_id, i.title, i.description, i.price_minor, i.currency, \
    i.stock, i.status, i.item_type, i.weight_grams, i.subscription_only, i.created_at, i.updated_at";

/// Inserts an item.
pub async fn insert(tx: &mut Tx, i: &ItemRow) -> Result<()> {
    on_tx!(tx, |e| {
        sqlx::query(
        "INSERT INTO items (id, store_id, title, description, price_minor, currency, stock, status, \
         item_type, weight_grams, subscription_only, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
    )
    .bind(&i.id)
    .bind(&i.store_id)
    .bind(&i.title)
    .bind(&i.description)
    .bind(i.price_minor)
    .bind(&i.currency)
    .bind(i.stock)
    .bind(&i.status)
    .bind(&i.item_type)
    .bind(i.weight_grams)
    .bind(i.subscription_only)
    .bind(i.created_at)
    .bind(i.updated_at)
    .execute(e)
    .await
    .map(|r| r.rows_affected())
    })?;
    Ok(())
}

/// An item, its store's status and `user`'s role in the store (one query).
pub async fn find_with_access(
    conn: impl Into<Conn<'_>>,
    item_id: &str,
    user_id: &str,
) -> Result<Option<ItemAccess>> {
    let sql = format!(
        "SELECT {COLUMNS}, s.status AS store_status, m.role AS member_role FROM items i \
         JOIN stores s ON s.id = i.store_id \
         LEFT JOIN store_members m ON m.store_id = i.store_id AND m.user_id = $2 WHERE i.id = $1"
    );
    Ok(on_conn!(conn.into(), |e| sqlx::query_as::<_, ItemAccess>(
        &sql
    )
    .bind(item_id)
    .bind(user_id)
    .fetch_optional(e)
    .await)?)
}

/// Every item of a store, newest first (members' view: all statuses).
pub async fn of_store(conn: impl Into<Conn<'_>>, store_id: &str) -> Result<Vec<ItemRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM items i WHERE i.store_id = $1 ORDER BY i.created_at DESC, i.id DESC"
    );
    Ok(on_conn!(conn.into(), |e| sqlx::query_as::<_, ItemRow>(
        &sql
    )
    .bind(store_id)
    .fetch_all(e)
    .await)?)
}

/// Writes title, description, price, status and the checkout attributes, if price,
/// status and attributes are still what the caller read (so the audited old values
/// are the real ones); returns rows changed.
pub async fn update(tx: &mut Tx, i: &ItemRow, old: &ItemRow) -> Result<u64> {
    Ok(on_tx!(tx, |e| {
        sqlx::query(
        "UPDATE items SET title = $2, description = $3, price_minor = $4, status = $5, updated_at = $6, \
         item_type = $9, weight_grams = $10, subscription_only = $11 \
         WHERE id = $1 AND price_minor = $7 AND status = $8 AND item_type = $12 \
         AND weight_grams = $13 AND subscription_only = $14"
    )
    .bind(&i.id)
    .bind(&i.title)
    .bind(&i.description)
    .bind(i.price_minor)
    .bind(&i.status)
    .bind(i.updated_at)
    .bind(old.price_minor)
    .bind(&old.status)
    .bind(&i.item_type)
    .bind(i.weight_grams)
    .bind(i.subscription_only)
    .bind(&old.item_type)
    .bind(old.weight_grams)
    .bind(old.subscription_only)
    .execute(e)
    .await
    .map(|r| r.rows_affected())
    })?)
}

/// Adds `delta` to the stock unless it would go below zero; the new stock, or `None`
/// when refused. One statement, so concurrent adjustments never lose one.
pub async fn adjust_stock(tx: &mut Tx, id: &str, delta: i64, now: i64) -> Result<Option<i64>> {
    Ok(on_tx!(tx, |e| sqlx::query_scalar::<_, i64>(
        "UPDATE items SET stock = stock + $2, updated_at = $3 WHERE id = $1 AND stock + $2 >= 0 \
         AND stock + $2 <= $4 RETURNING stock"
    )
    .bind(id)
    .bind(delta)
    .bind(now)
    .bind(super::STOCK_MAX)
    .fetch_optional(e)
    .await)?)
}

/// Puts `quantity` back on an item's stock (a cancelled purchase's reservation);
/// returns rows changed (0 when the item is gone). One statement, so it never loses a
/// concurrent adjustment; the cap keeps the stock within [`super::STOCK_MAX`].
pub async fn restock(tx: &mut Tx, id: &str, quantity: i64) -> Result<u64> {
    Ok(on_tx!(tx, |e| sqlx::query(
        "UPDATE items SET stock = CASE WHEN stock + $2 > $3 THEN $3 ELSE stock + $2 END \
         WHERE id = $1"
    )
    .bind(id)
    .bind(quantity)
    .bind(super::STOCK_MAX)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))?)
}
