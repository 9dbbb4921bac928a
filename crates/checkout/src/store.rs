//! The SQL of the checkout tables (`carts`, `cart_lines`, `payment_intents`,
//! `orders`, `order_lines`, `order_refunds`; `webhook_inbox` is [`crate::inbox`]'s,
//! `idempotency_keys` [`crate::idempotency`]'s, `cart_notices` [`crate::notices`]'s).
//! Nothing else reads or writes them.

use rampart_db::{on_conn, on_conn_write, on_tx, Conn, Result, Tx};

/// A cart row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CartRow {
    pub id: String,
    pub owner_user_id: Option<String>,
    pub anon_token_hash: Option<String>,
    pub status: String,
    pub version: i64,
    pub customer_type: String,
    pub company_name: Option<String>,
    pub vat_id: Option<String>,
    pub billing_address: Option<String>,
    pub shipping_address: Option<String>,
    pub shipping_method: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

const CART_COLUMNS: &str = "id, owner_user_id, anon_token_hash, status, version, customer_type, \
     company_name, vat_id, billing_address, shipping_address, shipping_method, created_at, updated_at";

/// A cart line row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LineRow {
    pub item_id: String,
    pub store_id: String,
    pub quantity: i64,
    pub unit_price_minor: i64,
    pub currency: String,
}

/// Inserts a new, empty cart in one statement outside any transaction. On PostgreSQL
/// its commit is asynchronous (`synchronous_commit` off for this statement's own
/// transaction only, set inside the statement so it costs no round trip): an empty
/// cart is re-creatable state, see `docs/design/checkout.md`.
pub async fn create_cart(db: &rampart_db::Db, row: &CartRow) -> Result<()> {
    let sql = if matches!(db.engine, rampart_db::Engine::Postgres(_)) {
        "INSERT INTO carts (id, owner_user_id, anon_token_hash, status, version, customer_type, \
         created_at, updated_at) SELECT $1, $2, $3, 'open', 0, 'consumer', $4, $4 \
         FROM (SELECT set_config('synchronous_commit', 'off', true)) AS async_commit"
    } else {
        "INSERT INTO carts (id, owner_user_id, anon_token_hash, status, version, customer_type, \
         created_at, updated_at) VALUES ($1, $2, $3, 'open', 0, 'consumer', $4, $4)"
    };
    on_conn_write!(Conn::Pool(db), |e| sqlx::query(sql)
        .bind(&row.id)
        .bind(&row.owner_user_id)
        .bind(&row.anon_token_hash)
        .bind(row.created_at)
        .execute(e)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn cart(conn: impl Into<Conn<'_>>, id: &str) -> Result<Option<CartRow>> {
    let sql = format!("SELECT {CART_COLUMNS} FROM carts WHERE id = $1");
    Ok(on_conn!(conn.into(), |e| sqlx::query_as(&sql)
        .bind(id)
        .fetch_optional(e)
        .await)?)
}

/// The cart, locked for this transaction (PostgreSQL `FOR UPDATE`; SQLite's single
/// writer already serialises transactions).
pub async fn lock_cart(tx: &mut Tx, id: &str) -> Result<Option<CartRow>> {
    let lock = if matches!(tx, Tx::Postgres(_)) {
        " FOR UPDATE"
    } else {
        ""
    };
    let sql = format!("SELECT {CART_COLUMNS} FROM carts WHERE id = $1{lock}");
    Ok(on_tx!(tx, |e| sqlx::query_as(&sql)
        .bind(id)
        .fetch_optional(e)
        .await)?)
}

/// The conflict clause of both line upserts ([`upsert_line`], [`upsert_line_at`]): a
/// line already in the cart keeps its place and takes the new values.
macro_rules! line_upsert {
    () => {
        "ON CONFLICT (cart_id, item_id) DO UPDATE SET store_id = excluded.store_id, \
         quantity = excluded.quantity, unit_price_minor = excluded.unit_price_minor, \
         currency = excluded.currency"
    };
}

/// The cart's newest intent that may still move money (a subquery's tail, on `carts`).
const LIVE_INTENT: &str = "FROM payment_intents p WHERE p.cart_id = carts.id \
     AND p.status NOT IN ('canceled', 'refunded') ORDER BY p.created_at DESC, p.id DESC LIMIT 1";

/// A cart read for a change (locked, or for an optimistic one not), with its newest
/// live payment intent (if any).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct BumpedCart {
    /// The cart ([`bump_cart`]: its version already moved on by one).
    #[sqlx(flatten)]
    pub cart: CartRow,
    /// The newest intent that may still move money (not canceled, not refunded).
    pub intent_status: Option<String>,
    /// Its provider.
    pub intent_provider: Option<String>,
}

/// Locks the cart for this transaction and moves its version on by one in a single
/// statement (the row lock is the UPDATE's own), returning the row as it now is and
/// its newest live intent. The caller checks ownership, state and the client's
/// expected version (the returned version minus one) and rolls back on any refusal,
/// which undoes the bump.
pub async fn bump_cart(tx: &mut Tx, id: &str, now: i64) -> Result<Option<BumpedCart>> {
    let sql = format!(
        "UPDATE carts SET version = version + 1, updated_at = $2 WHERE id = $1 \
         RETURNING {CART_COLUMNS}, (SELECT p.status {LIVE_INTENT}) AS intent_status, \
         (SELECT p.provider {LIVE_INTENT}) AS intent_provider"
    );
    Ok(on_tx!(tx, |e| sqlx::query_as(&sql)
        .bind(id)
        .bind(now)
        .fetch_optional(e)
        .await)?)
}

/// The cart as it is now, with its newest live intent and its lines (in order), read
/// in one statement without any lock or transaction: the first half of an optimistic
/// change, whose write ([`upsert_line_at`]) happens only if the cart is still at the
/// version read here. The lines come as one JSON array column (one row to decode,
/// whatever the cart's size); with them, the catalog's generation (for the facts kept
/// in memory) and the catalog facts of `item`, the item being added.
pub async fn cart_with_lines(
    db: &rampart_db::Db,
    id: &str,
    item: &str,
) -> Result<Option<CartWithLines>> {
    use rampart_marketplace::checkout_facts;
    #[derive(sqlx::FromRow)]
    struct Read {
        #[sqlx(flatten)]
        cart: BumpedCart,
        lines_json: String,
        catalog_generation: Option<i64>,
        item_json: Option<String>,
    }
    let lines = if matches!(db.engine, rampart_db::Engine::Postgres(_)) {
        "(SELECT COALESCE(json_agg(json_build_array(l.position, l.item_id, l.store_id, \
         l.quantity, l.unit_price_minor, l.currency)), '[]')::text \
         FROM cart_lines l WHERE l.cart_id = carts.id)"
    } else {
        "(SELECT json_group_array(json_array(l.position, l.item_id, l.store_id, \
         l.quantity, l.unit_price_minor, l.currency)) \
         FROM cart_lines l WHERE l.cart_id = carts.id)"
    };
    let generation = checkout_facts::GENERATION;
    let item_json = checkout_facts::item_json(&db.engine, "$2");
    let sql = format!(
        "SELECT {CART_COLUMNS}, (SELECT p.status {LIVE_INTENT}) AS intent_status, \
         (SELECT p.provider {LIVE_INTENT}) AS intent_provider, {lines} AS lines_json, \
         {generation} AS catalog_generation, {item_json} AS item_json FROM carts WHERE id = $1"
    );
    let Some(read) = on_conn!(Conn::Pool(db), |e| sqlx::query_as::<_, Read>(&sql)
        .bind(id)
        .bind(item)
        .fetch_optional(e)
        .await)?
    else {
        return Ok(None);
    };
    type Raw = (i64, String, String, i64, i64, String);
    let mut raw: Vec<Raw> = serde_json::from_str(&read.lines_json)
        .map_err(|e| rampart_db::DbError::Corrupt(format!("cart lines: {e}")))?;
    // The order of `lines`: position, then item.
    raw.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    let next_position = raw.iter().map(|r| r.0 + 1).max().unwrap_or(0);
    let lines = raw
        .into_iter()
        .map(
            |(_, item_id, store_id, quantity, unit_price_minor, currency)| LineRow {
                item_id,
                store_id,
                quantity,
                unit_price_minor,
                currency,
            },
        )
        .collect();
    let item = read
        .item_json
        .as_deref()
        .map(checkout_facts::item_from_json)
        .transpose()?;
    Ok(Some(CartWithLines {
        cart: read.cart,
        lines,
        next_position,
        catalog_generation: read.catalog_generation,
        item,
    }))
}

/// A cart read by [`cart_with_lines`].
pub struct CartWithLines {
    /// The cart and its newest live intent.
    pub cart: BumpedCart,
    /// Its lines, in order.
    pub lines: Vec<LineRow>,
    /// The position a new line gets (after every line read).
    pub next_position: i64,
    /// The catalog's generation when the cart was read
    /// ([`rampart_marketplace::checkout_facts::GENERATION`]).
    pub catalog_generation: Option<i64>,
    /// The catalog facts of the item asked for, read in the same statement
    /// ([`rampart_marketplace::checkout_facts::item_json`]); `None` if there is none.
    pub item: Option<rampart_marketplace::checkout_facts::ItemFacts>,
}

/// Writes one line (as [`upsert_line`]; a new line at `position`, the one after the
/// lines read at `version`) and moves the cart's version on by one, but only if the
/// cart is still open at `version`; `false` (nothing written) when it has moved on
/// since it was read. One statement on PostgreSQL (its commit asynchronous,
/// set inside the statement, as for [`create_cart`]: a cart line is re-creatable
/// state); on SQLite one short transaction on the single writer.
pub async fn upsert_line_at(
    db: &rampart_db::Db,
    cart: &str,
    version: i64,
    now: i64,
    l: &LineRow,
    position: i64,
) -> Result<bool> {
    if matches!(db.engine, rampart_db::Engine::Postgres(_)) {
        let n = on_conn_write!(Conn::Pool(db), |e| sqlx::query(concat!(
            "WITH bumped AS (UPDATE carts SET version = version + 1, updated_at = $8 \
             WHERE id = $1 AND version = $7 AND status = 'open' \
             AND set_config('synchronous_commit', 'off', true) = 'off' RETURNING id) \
             INSERT INTO cart_lines (cart_id, item_id, store_id, quantity, unit_price_minor, \
             currency, position) SELECT bumped.id, $2, $3, $4, $5, $6, $9 FROM bumped ",
            line_upsert!()
        ))
        .bind(cart)
        .bind(&l.item_id)
        .bind(&l.store_id)
        .bind(l.quantity)
        .bind(l.unit_price_minor)
        .bind(&l.currency)
        .bind(version)
        .bind(now)
        .bind(position)
        .execute(e)
        .await
        .map(|r| r.rows_affected()))?;
        return Ok(n == 1);
    }
    let mut tx = db.begin().await?;
    let n = on_tx!(&mut tx, |e| sqlx::query(
        "UPDATE carts SET version = version + 1, updated_at = $2 \
         WHERE id = $1 AND version = $3 AND status = 'open'"
    )
    .bind(cart)
    .bind(now)
    .bind(version)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))?;
    if n != 1 {
        return Ok(false);
    }
    upsert_line(&mut tx, cart, l).await?;
    tx.commit().await?;
    Ok(true)
}

/// Writes one line (new, or replacing the stored line of the same item); a new line
/// goes after the cart's others.
pub async fn upsert_line(tx: &mut Tx, cart: &str, l: &LineRow) -> Result<()> {
    on_tx!(tx, |e| sqlx::query(concat!(
        "INSERT INTO cart_lines (cart_id, item_id, store_id, quantity, unit_price_minor, \
         currency, position) VALUES ($1, $2, $3, $4, $5, $6, \
         (SELECT COALESCE(MAX(position), -1) + 1 FROM cart_lines WHERE cart_id = $1)) ",
        line_upsert!()
    ))
    .bind(cart)
    .bind(&l.item_id)
    .bind(&l.store_id)
    .bind(l.quantity)
    .bind(l.unit_price_minor)
    .bind(&l.currency)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// The customer's newest open cart.
pub async fn open_cart_of(conn: impl Into<Conn<'_>>, user: &str) -> Result<Option<CartRow>> {
    let sql = format!(
        "SELECT {CART_COLUMNS} FROM carts WHERE owner_user_id = $1 AND status = 'open' \
         ORDER BY updated_at DESC, id DESC LIMIT 1"
    );
    Ok(on_conn!(conn.into(), |e| sqlx::query_as(&sql)
        .bind(user)
        .fetch_optional(e)
        .await)?)
}

/// The visitor's open cart by its cookie hash.
pub async fn cart_by_token(conn: impl Into<Conn<'_>>, hash: &str) -> Result<Option<CartRow>> {
    let sql = format!("SELECT {CART_COLUMNS} FROM carts WHERE anon_token_hash = $1");
    Ok(on_conn!(conn.into(), |e| sqlx::query_as(&sql)
        .bind(hash)
        .fetch_optional(e)
        .await)?)
}

pub async fn lines(conn: impl Into<Conn<'_>>, cart: &str) -> Result<Vec<LineRow>> {
    Ok(on_conn!(conn.into(), |e| sqlx::query_as(
        "SELECT item_id, store_id, quantity, unit_price_minor, currency FROM cart_lines \
         WHERE cart_id = $1 ORDER BY position, item_id"
    )
    .bind(cart)
    .fetch_all(e)
    .await)?)
}

/// Replaces the cart's lines with `lines` (in order).
pub async fn replace_lines(tx: &mut Tx, cart: &str, lines: &[LineRow]) -> Result<()> {
    on_tx!(tx, |e| sqlx::query(
        "DELETE FROM cart_lines WHERE cart_id = $1"
    )
    .bind(cart)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))?;
    for (n, l) in lines.iter().enumerate() {
        on_tx!(tx, |e| sqlx::query(
            "INSERT INTO cart_lines (cart_id, item_id, store_id, quantity, unit_price_minor, \
             currency, position) VALUES ($1, $2, $3, $4, $5, $6, $7)"
        )
        .bind(cart)
        .bind(&l.item_id)
        .bind(&l.store_id)
        .bind(l.quantity)
        .bind(l.unit_price_minor)
        .bind(&l.currency)
        .bind(n as i64)
        .execute(e)
        .await
        .map(|r| r.rows_affected()))?;
    }
    Ok(())
}

/// Writes the cart's details and moves its version on, if it is still at `version`.
pub async fn update_cart(tx: &mut Tx, row: &CartRow, version: i64, now: i64) -> Result<bool> {
    let n = on_tx!(tx, |e| sqlx::query(
        "UPDATE carts SET status = $1, customer_type = $2, company_name = $3, vat_id = $4, \
         billing_address = $5, shipping_address = $6, shipping_method = $7, \
         owner_user_id = $8, anon_token_hash = $9, \
         version = version + 1, updated_at = $10 WHERE id = $11 AND version = $12"
    )
    .bind(&row.status)
    .bind(&row.customer_type)
    .bind(&row.company_name)
    .bind(&row.vat_id)
    .bind(&row.billing_address)
    .bind(&row.shipping_address)
    .bind(&row.shipping_method)
    .bind(&row.owner_user_id)
    .bind(&row.anon_token_hash)
    .bind(now)
    .bind(&row.id)
    .bind(version)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

/// A payment intent row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct IntentRow {
    pub id: String,
    pub provider: String,
    pub provider_intent_id: String,
    pub cart_id: String,
    pub customer_id: String,
    pub amount_minor: i64,
    pub currency: String,
    pub status: String,
    pub card_brand: Option<String>,
    pub card_last4: Option<String>,
    pub created_at: i64,
}

const INTENT_COLUMNS: &str =
    "id, provider, provider_intent_id, cart_id, customer_id, amount_minor, \
     currency, status, card_brand, card_last4, created_at";

/// Records an intent (a retry that got the same provider intent back finds it).
pub async fn insert_intent(conn: impl Into<Conn<'_>>, r: &IntentRow) -> Result<()> {
    on_conn_write!(conn.into(), |e| sqlx::query(
        "INSERT INTO payment_intents (id, provider, provider_intent_id, cart_id, customer_id, \
         amount_minor, currency, status, card_brand, card_last4, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11) \
         ON CONFLICT (provider, provider_intent_id) DO NOTHING"
    )
    .bind(&r.id)
    .bind(&r.provider)
    .bind(&r.provider_intent_id)
    .bind(&r.cart_id)
    .bind(&r.customer_id)
    .bind(r.amount_minor)
    .bind(&r.currency)
    .bind(&r.status)
    .bind(&r.card_brand)
    .bind(&r.card_last4)
    .bind(r.created_at)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn intent_by_provider_id(
    conn: impl Into<Conn<'_>>,
    provider: &str,
    provider_id: &str,
) -> Result<Option<IntentRow>> {
    let sql = format!(
        "SELECT {INTENT_COLUMNS} FROM payment_intents WHERE provider = $1 AND provider_intent_id = $2"
    );
    Ok(on_conn!(conn.into(), |e| sqlx::query_as(&sql)
        .bind(provider)
        .bind(provider_id)
        .fetch_optional(e)
        .await)?)
}

pub async fn latest_intent_of_cart(
    conn: impl Into<Conn<'_>>,
    cart: &str,
) -> Result<Option<IntentRow>> {
    let sql = format!(
        "SELECT {INTENT_COLUMNS} FROM payment_intents WHERE cart_id = $1 \
         ORDER BY created_at DESC, id DESC LIMIT 1"
    );
    Ok(on_conn!(conn.into(), |e| sqlx::query_as(&sql)
        .bind(cart)
        .fetch_optional(e)
        .await)?)
}

/// The cart's newest intent that may still move money (not canceled, not refunded).
pub async fn live_intent_of_cart(
    conn: impl Into<Conn<'_>>,
    cart: &str,
) -> Result<Option<IntentRow>> {
    let sql = format!(
        "SELECT {INTENT_COLUMNS} FROM payment_intents WHERE cart_id = $1 \
         AND status NOT IN ('canceled', 'refunded') ORDER BY created_at DESC, id DESC LIMIT 1"
    );
    Ok(on_conn!(conn.into(), |e| sqlx::query_as(&sql)
        .bind(cart)
        .fetch_optional(e)
        .await)?)
}

/// How many of the cart's intents were refunded unfulfilled (a new intent after one
/// gets a new provider key, so it is never the refunded one again).
pub async fn refunded_intents_of_cart(conn: impl Into<Conn<'_>>, cart: &str) -> Result<i64> {
    let n: i64 = on_conn!(conn.into(), |e| sqlx::query_scalar(
        "SELECT COUNT(*) FROM payment_intents WHERE cart_id = $1 AND status = 'refunded'"
    )
    .bind(cart)
    .fetch_one(e)
    .await)?;
    Ok(n)
}

pub async fn intent_by_id(conn: impl Into<Conn<'_>>, id: &str) -> Result<Option<IntentRow>> {
    let sql = format!("SELECT {INTENT_COLUMNS} FROM payment_intents WHERE id = $1");
    Ok(on_conn!(conn.into(), |e| sqlx::query_as(&sql)
        .bind(id)
        .fetch_optional(e)
        .await)?)
}

/// Stores a status (the caller decided it moves forward) and the masked card.
pub async fn set_intent_status(
    conn: impl Into<Conn<'_>>,
    id: &str,
    status: &str,
    card: Option<(&str, &str)>,
    now: i64,
) -> Result<()> {
    on_conn_write!(conn.into(), |e| sqlx::query(
        "UPDATE payment_intents SET status = $1, card_brand = COALESCE($2, card_brand), \
         card_last4 = COALESCE($3, card_last4), updated_at = $4 WHERE id = $5"
    )
    .bind(status)
    .bind(card.map(|c| c.0))
    .bind(card.map(|c| c.1))
    .bind(now)
    .bind(id)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// An order row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OrderRow {
    pub id: String,
    pub cart_id: String,
    pub buyer_id: String,
    pub payment_intent_id: String,
    pub amount_minor: i64,
    pub currency: String,
    pub refunded_minor: i64,
    pub status: String,
    pub created_at: i64,
}

const ORDER_COLUMNS: &str = "id, cart_id, buyer_id, payment_intent_id, amount_minor, currency, \
     refunded_minor, status, created_at";

/// An order line row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OrderLineRow {
    pub order_id: String,
    pub item_id: String,
    pub store_id: String,
    pub quantity: i64,
    pub unit_price_minor: i64,
    pub currency: String,
    pub transaction_id: String,
}

pub async fn insert_order(tx: &mut Tx, o: &OrderRow) -> Result<()> {
    on_tx!(tx, |e| sqlx::query(
        "INSERT INTO orders (id, cart_id, buyer_id, payment_intent_id, amount_minor, currency, \
         refunded_minor, status, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, 0, 'paid', $7, $7)"
    )
    .bind(&o.id)
    .bind(&o.cart_id)
    .bind(&o.buyer_id)
    .bind(&o.payment_intent_id)
    .bind(o.amount_minor)
    .bind(&o.currency)
    .bind(o.created_at)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn insert_order_line(tx: &mut Tx, l: &OrderLineRow) -> Result<()> {
    on_tx!(tx, |e| sqlx::query(
        "INSERT INTO order_lines (order_id, item_id, store_id, quantity, unit_price_minor, \
         currency, transaction_id) VALUES ($1, $2, $3, $4, $5, $6, $7)"
    )
    .bind(&l.order_id)
    .bind(&l.item_id)
    .bind(&l.store_id)
    .bind(l.quantity)
    .bind(l.unit_price_minor)
    .bind(&l.currency)
    .bind(&l.transaction_id)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn order(conn: impl Into<Conn<'_>>, id: &str) -> Result<Option<OrderRow>> {
    let sql = format!("SELECT {ORDER_COLUMNS} FROM orders WHERE id = $1");
    Ok(on_conn!(conn.into(), |e| sqlx::query_as(&sql)
        .bind(id)
        .fetch_optional(e)
        .await)?)
}

/// The order locked for this transaction.
pub async fn lock_order(tx: &mut Tx, id: &str) -> Result<Option<OrderRow>> {
    let lock = if matches!(tx, Tx::Postgres(_)) {
        " FOR UPDATE"
    } else {
        ""
    };
    let sql = format!("SELECT {ORDER_COLUMNS} FROM orders WHERE id = $1{lock}");
    Ok(on_tx!(tx, |e| sqlx::query_as(&sql)
        .bind(id)
        .fetch_optional(e)
        .await)?)
}

pub async fn order_of_cart(conn: impl Into<Conn<'_>>, cart: &str) -> Result<Option<OrderRow>> {
    let sql = format!("SELECT {ORDER_COLUMNS} FROM orders WHERE cart_id = $1");
    Ok(on_conn!(conn.into(), |e| sqlx::query_as(&sql)
        .bind(cart)
        .fetch_optional(e)
        .await)?)
}

pub async fn orders_of(
    conn: impl Into<Conn<'_>>,
    buyer: &str,
    limit: i64,
) -> Result<Vec<OrderRow>> {
    let sql = format!(
        "SELECT {ORDER_COLUMNS} FROM orders WHERE buyer_id = $1 \
         ORDER BY created_at DESC, id DESC LIMIT $2"
    );
    Ok(on_conn!(conn.into(), |e| sqlx::query_as(&sql)
        .bind(buyer)
        .bind(limit)
        .fetch_all(e)
        .await)?)
}

pub async fn order_lines(conn: impl Into<Conn<'_>>, order: &str) -> Result<Vec<OrderLineRow>> {
    Ok(on_conn!(conn.into(), |e| sqlx::query_as(
        "SELECT order_id, item_id, store_id, quantity, unit_price_minor, currency, transaction_id \
         FROM order_lines WHERE order_id = $1 ORDER BY store_id, item_id"
    )
    .bind(order)
    .fetch_all(e)
    .await)?)
}

/// Adds a refunded amount to an order and sets its status.
pub async fn add_refunded(
    tx: &mut Tx,
    order: &str,
    amount: i64,
    status: &str,
    now: i64,
) -> Result<()> {
    on_tx!(tx, |e| sqlx::query(
        "UPDATE orders SET refunded_minor = refunded_minor + $1, status = $2, updated_at = $3 \
         WHERE id = $4"
    )
    .bind(amount)
    .bind(status)
    .bind(now)
    .bind(order)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn refund_count(tx: &mut Tx, order: &str) -> Result<i64> {
    Ok(on_tx!(tx, |e| sqlx::query_scalar::<_, i64>(
        "SELECT COUNT(*) FROM order_refunds WHERE order_id = $1"
    )
    .bind(order)
    .fetch_one(e)
    .await)?)
}

#[allow(clippy::too_many_arguments)]
/// A refund decided (`pending`: not paid at the provider yet).
pub struct NewRefund<'a> {
    pub id: &'a str,
    pub order: &'a str,
    pub sequence: i64,
    pub amount: i64,
    pub currency: &'a str,
    pub actor: Option<&'a str>,
    pub effect_key: &'a str,
    pub now: i64,
}

pub async fn insert_refund(tx: &mut Tx, r: &NewRefund<'_>) -> Result<()> {
    on_tx!(tx, |e| sqlx::query(
        "INSERT INTO order_refunds (id, order_id, sequence, amount_minor, currency, \
         provider_refund_id, actor_id, created_at, effect_key, status, attempts, updated_at) \
         VALUES ($1, $2, $3, $4, $5, '', $6, $7, $8, 'pending', 0, $7)"
    )
    .bind(r.id)
    .bind(r.order)
    .bind(r.sequence)
    .bind(r.amount)
    .bind(r.currency)
    .bind(r.actor)
    .bind(r.now)
    .bind(r.effect_key)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// A stored refund of an order.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RefundRow {
    pub id: String,
    pub order_id: String,
    pub sequence: i64,
    pub amount_minor: i64,
    pub currency: String,
    pub provider_refund_id: String,
    pub status: String,
    pub last_error: Option<String>,
    pub created_at: i64,
}

const REFUND_COLUMNS: &str = "id, order_id, sequence, amount_minor, currency, \
     provider_refund_id, status, last_error, created_at";

/// An order's refunds, in order.
pub async fn refunds_of(conn: impl Into<Conn<'_>>, order: &str) -> Result<Vec<RefundRow>> {
    let sql =
        format!("SELECT {REFUND_COLUMNS} FROM order_refunds WHERE order_id = $1 ORDER BY sequence");
    Ok(on_conn!(conn.into(), |e| sqlx::query_as(&sql)
        .bind(order)
        .fetch_all(e)
        .await)?)
}

pub async fn refund_by_id(conn: impl Into<Conn<'_>>, id: &str) -> Result<Option<RefundRow>> {
    let sql = format!("SELECT {REFUND_COLUMNS} FROM order_refunds WHERE id = $1");
    Ok(on_conn!(conn.into(), |e| sqlx::query_as(&sql)
        .bind(id)
        .fetch_optional(e)
        .await)?)
}

/// Refunds still `pending` whose last attempt is older than `before`, oldest first.
pub async fn pending_refunds(
    db: &rampart_db::Db,
    before: i64,
    limit: i64,
) -> Result<Vec<RefundRow>> {
    let sql = format!(
        "SELECT {REFUND_COLUMNS} FROM order_refunds WHERE status = 'pending' \
         AND updated_at < $1 ORDER BY updated_at, id LIMIT $2"
    );
    Ok(on_conn!(Conn::Pool(db), |e| sqlx::query_as(&sql)
        .bind(before)
        .bind(limit)
        .fetch_all(e)
        .await)?)
}

/// The provider's answer to a pending refund: `succeeded` with its ID, `failed`
/// with the reason, or still `pending` (one more attempt, the reason). Only a
/// pending row changes.
pub async fn settle_refund_row(
    db: &rampart_db::Db,
    id: &str,
    status: &str,
    provider_refund: &str,
    error: Option<&str>,
    now: i64,
) -> Result<bool> {
    let n = on_conn_write!(Conn::Pool(db), |e| sqlx::query(
        "UPDATE order_refunds SET status = $1, provider_refund_id = $2, last_error = $3, \
         attempts = attempts + 1, updated_at = $4 WHERE id = $5 AND status = 'pending'"
    )
    .bind(status)
    .bind(provider_refund)
    .bind(error)
    .bind(now)
    .bind(id)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

/// The order an escrow transaction was paid for (None: not a checkout's).
pub async fn order_of_transaction(conn: impl Into<Conn<'_>>, txn: &str) -> Result<Option<String>> {
    let r: Option<(String,)> = on_conn!(conn.into(), |e| sqlx::query_as(
        "SELECT order_id FROM order_lines WHERE transaction_id = $1 LIMIT 1"
    )
    .bind(txn)
    .fetch_optional(e)
    .await)?;
    Ok(r.map(|r| r.0))
}

/// Whether a ledger effect was refunded at the provider already.
pub async fn refund_settled(conn: impl Into<Conn<'_>>, effect_key: &str) -> Result<bool> {
    let r: Option<(String,)> = on_conn!(conn.into(), |e| sqlx::query_as(
        "SELECT id FROM order_refunds WHERE effect_key = $1"
    )
    .bind(effect_key)
    .fetch_optional(e)
    .await)?;
    Ok(r.is_some())
}
