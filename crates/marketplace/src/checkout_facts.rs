//! What the checkout context reads of the catalog (E1, E4): an item's sale facts
//! (price, currency, stock, whether it is for sale, and the attributes the checkout
//! rules look at) and a store's own minimum order. Reads only; stock moves through
//! [`crate::purchases::store::reserve`] inside the checkout's transaction.

use rampart_db::{on_conn, Conn, Engine, Result, Tx};

/// An item as the checkout sees it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ItemFacts {
    /// The item.
    pub id: String,
    /// Its store.
    pub store_id: String,
    /// Its title.
    pub title: String,
    /// Current price, minor units.
    pub price_minor: i64,
    /// Currency.
    pub currency: String,
    /// Units in stock.
    pub stock: i64,
    /// Active item of an active store.
    pub for_sale: bool,
    /// Item type tag (shipping restrictions).
    pub item_type: String,
    /// Weight of one unit, grams.
    pub weight_grams: i64,
    /// Subscription-only item.
    pub subscription_only: bool,
    /// The store's minimum order (minor units of the store's currency), if set.
    pub store_min_order_minor: Option<i64>,
}

const COLUMNS: &str = "i.id, i.store_id, i.title, i.price_minor, i.currency, i.stock, \
     (i.status = 'active' AND s.status = 'active') AS for_sale, i.item_type, i.weight_grams, \
     (i.subscription_only <> 0) AS subscription_only, s.min_order_minor AS store_min_order_minor";

/// One item's facts, if it exists (whatever its status).
pub async fn item(conn: impl Into<Conn<'_>>, id: &str) -> Result<Option<ItemFacts>> {
    let sql =
        format!("SELECT {COLUMNS} FROM items i JOIN stores s ON s.id = i.store_id WHERE i.id = $1");
    Ok(on_conn!(conn.into(), |e| sqlx::query_as::<_, ItemFacts>(
        &sql
    )
    .bind(id)
    .fetch_optional(e)
    .await)?)
}

/// The facts of the items among `ids` that exist (one cart's worth, at most 100).
pub async fn items(conn: impl Into<Conn<'_>>, ids: &[&str]) -> Result<Vec<ItemFacts>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    // PostgreSQL: one statement whatever the count (`= ANY` of an array), so it is
    // prepared and planned once per connection, not once per cart size.
    let any = format!(
        "SELECT {COLUMNS} FROM items i JOIN stores s ON s.id = i.store_id WHERE i.id = ANY($1)"
    );
    let conn = match conn.into() {
        Conn::Tx(Tx::Postgres(t)) => {
            return Ok(sqlx::query_as::<_, ItemFacts>(&any)
                .bind(ids)
                .fetch_all(&mut **t)
                .await?)
        }
        Conn::Pool(db) => match &db.engine {
            Engine::Postgres(pool) => {
                return Ok(sqlx::query_as::<_, ItemFacts>(&any)
                    .bind(ids)
                    .fetch_all(pool)
                    .await?)
            }
            Engine::Sqlite { .. } => Conn::Pool(db),
        },
        other => other,
    };
    let params: Vec<String> = (1..=ids.len()).map(|n| format!("${n}")).collect();
    let sql = format!(
        "SELECT {COLUMNS} FROM items i JOIN stores s ON s.id = i.store_id WHERE i.id IN ({})",
        params.join(", ")
    );
    Ok(on_conn!(conn, |e| {
        let mut q = sqlx::query_as::<_, ItemFacts>(&sql);
        for id in ids {
            q = q.bind(*id);
        }
        q.fetch_all(e).await
    })?)
}

/// Whether `user` is a member of `store` (a store's members cannot buy from it).
pub async fn is_member(conn: impl Into<Conn<'_>>, store: &str, user: &str) -> Result<bool> {
    Ok(on_conn!(conn.into(), |e| sqlx::query_scalar::<_, i64>(
        "SELECT COUNT(*) FROM store_members WHERE store_id = $1 AND user_id = $2"
    )
    .bind(store)
    .bind(user)
    .fetch_one(e)
    .await)?
        > 0)
}
