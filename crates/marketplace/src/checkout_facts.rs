//! What the checkout context reads of the catalog (E1, E4): an item's sale facts
//! (price, currency, stock, whether it is for sale, and the attributes the checkout
//! rules look at) and a store's own minimum order. Reads only; stock moves through
//! [`crate::purchases::store::reserve`] inside the checkout's transaction.
//!
//! [`FactsCache`] keeps, in memory, what a cart shows of its items (title, type,
//! weight, subscription flag, the store's minimum order), checked against the
//! catalog's generation: one row that every change of those facts moves on, in the
//! change's own transaction (database triggers, migration 0019, so no writer can
//! forget it).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

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

/// When an item is for sale: it is active, and so is its store. One definition for
/// every read of the facts ([`COLUMNS`], [`item_json`]).
macro_rules! for_sale {
    () => {
        "i.status = 'active' AND s.status = 'active'"
    };
}

const COLUMNS: &str = concat!(
    "i.id, i.store_id, i.title, i.price_minor, i.currency, i.stock, (",
    for_sale!(),
    ") AS for_sale, i.item_type, i.weight_grams, \
     (i.subscription_only <> 0) AS subscription_only, s.min_order_minor AS store_min_order_minor"
);

/// The tables every read of the facts joins (`i` the item, `s` its store).
const FROM: &str = "items i JOIN stores s ON s.id = i.store_id";

/// The catalog's generation as a scalar subquery (`BIGINT`), for a reader to compose
/// into its own statement (the checkout reads it with the cart, in one statement).
/// It moves on with every committed change of the facts [`FactsCache`] keeps (by
/// triggers on `items` and `stores`, whoever writes them).
pub const GENERATION: &str = "(SELECT generation FROM catalog_generation WHERE id = 1)";

/// One item's facts (whatever its status) as a scalar subquery of one JSON text
/// (NULL when there is no such item), on the statement parameter `param` (`"$2"`),
/// for a reader to compose into its own statement: the checkout reads the item being
/// added with its cart, in one statement. Decode with [`item_from_json`].
pub fn item_json(engine: &Engine, param: &str) -> String {
    let array = match engine {
        Engine::Postgres(_) => "json_build_array",
        Engine::Sqlite { .. } => "json_array",
    };
    // Booleans as 0 or 1: SQLite has no other kind.
    format!(
        "(SELECT {array}(i.id, i.store_id, i.title, i.price_minor, i.currency, i.stock, \
         CASE WHEN {for_sale} THEN 1 ELSE 0 END, \
         i.item_type, i.weight_grams, i.subscription_only, s.min_order_minor){cast} \
         FROM {FROM} WHERE i.id = {param})",
        for_sale = for_sale!(),
        cast = if matches!(engine, Engine::Postgres(_)) {
            "::text"
        } else {
            ""
        },
    )
}

/// The facts written by [`item_json`]'s subquery.
pub fn item_from_json(json: &str) -> Result<ItemFacts> {
    type Raw = (
        String,
        String,
        String,
        i64,
        String,
        i64,
        i64,
        String,
        i64,
        i64,
        Option<i64>,
    );
    let r: Raw = serde_json::from_str(json)
        .map_err(|e| rampart_db::DbError::Corrupt(format!("item facts: {e}")))?;
    Ok(ItemFacts {
        id: r.0,
        store_id: r.1,
        title: r.2,
        price_minor: r.3,
        currency: r.4,
        stock: r.5,
        for_sale: r.6 != 0,
        item_type: r.7,
        weight_grams: r.8,
        subscription_only: r.9 != 0,
        store_min_order_minor: r.10,
    })
}

/// The most items a [`FactsCache`] keeps; past it, it starts again empty.
const CACHE_CAPACITY: usize = 50_000;

/// How long a [`FactsCache`] keeps what it read, whatever the generation (ms): the
/// bound on staleness for a write that fires no trigger (a PostgreSQL session with
/// `session_replication_role = replica`, a restore with triggers disabled).
pub const CACHE_MAX_AGE_MS: i64 = 60_000;

/// What a cart shows of its items, kept in memory between requests (the add-line
/// path, issue 10): a cart's other lines need their items' titles and the facts the
/// shipping rules read, which change only through a seller's edit. Entries are valid
/// for one catalog generation ([`GENERATION`], read by the caller in the same
/// statement as its cart, before the facts are read): the first read of a newer
/// generation drops every entry, so an edit committed by any process is seen by the
/// next request that reads the generation after it. Nothing is kept longer than
/// [`CACHE_MAX_AGE_MS`], the bound for a write that fires no trigger. Stock, price and
/// whether an item is for sale move without a new generation: for those the caller
/// reads the item fresh ([`FactsCache::for_cart`]'s `fresh`), never the memory.
#[derive(Default)]
pub struct FactsCache {
    kept: Mutex<Kept>,
}

#[derive(Default)]
struct Kept {
    generation: i64,
    /// When the first of `items` was read (ms, the caller's clock).
    since: i64,
    items: HashMap<String, Arc<ItemFacts>>,
}

impl std::fmt::Debug for FactsCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        f.debug_struct("FactsCache")
            .field("generation", &kept.generation)
            .field("items", &kept.items.len())
            .finish()
    }
}

impl FactsCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// The facts of `fresh` (the item the caller read in full with `generation`, if
    /// it exists: `fresh_id`) and of `shown` (the items of a cart's other lines:
    /// their descriptive facts are current at `generation`; their stock, price and
    /// sale status are as of when they were kept, and must not be used). Items that
    /// do not exist are missing from the answer. No statement when every item of
    /// `shown` is kept, else one for those that are not.
    /// `now` is the caller's clock (ms), for [`CACHE_MAX_AGE_MS`].
    pub async fn for_cart(
        &self,
        conn: impl Into<Conn<'_>>,
        generation: i64,
        now: i64,
        fresh_id: &str,
        fresh: Option<ItemFacts>,
        shown: &[&str],
    ) -> Result<HashMap<String, ItemFacts>> {
        let mut out = HashMap::with_capacity(shown.len() + 1);
        let mut read: Vec<&str> = Vec::new();
        {
            let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
            let too_old = now.saturating_sub(kept.since) >= CACHE_MAX_AGE_MS;
            if generation > kept.generation || (generation == kept.generation && too_old) {
                kept.items.clear();
                kept.generation = generation;
                kept.since = now;
            }
            // An older generation than the one kept (a read that started before
            // another request's): its facts are read, not taken from memory.
            let usable = generation == kept.generation;
            for id in shown.iter().filter(|id| **id != fresh_id) {
                match kept.items.get(*id).filter(|_| usable) {
                    Some(f) => {
                        out.insert((*id).to_owned(), Arc::clone(f));
                    }
                    None => read.push(id),
                }
            }
        }
        let mut got = if read.is_empty() {
            Vec::new()
        } else {
            items(conn, &read).await?
        };
        got.extend(fresh);
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        let keep = generation == kept.generation;
        if keep && kept.items.len() + got.len() > CACHE_CAPACITY {
            kept.items.clear();
        }
        let mut facts: HashMap<String, ItemFacts> = HashMap::with_capacity(out.len() + got.len());
        for f in got {
            if keep {
                kept.items.insert(f.id.clone(), Arc::new(f.clone()));
            }
            facts.insert(f.id.clone(), f);
        }
        drop(kept);
        for (id, f) in out {
            facts.insert(id, ItemFacts::clone(&f));
        }
        Ok(facts)
    }
}

/// One item's facts, if it exists (whatever its status).
pub async fn item(conn: impl Into<Conn<'_>>, id: &str) -> Result<Option<ItemFacts>> {
    let sql = format!("SELECT {COLUMNS} FROM {FROM} WHERE i.id = $1");
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
    // PostgreSQL: one statement whatever the count (the IDs as one array), so it is
    // prepared once per connection, not once per cart size. Not `= ANY($1)`: its
    // generic plan is costed for ten elements, so for the usual one or two PostgreSQL
    // kept planning it again on every call (a custom plan each time, six times the
    // cost of running it). The array as a set (`unnest`) keeps one generic plan.
    let any = format!("SELECT {COLUMNS} FROM {FROM} WHERE i.id IN (SELECT unnest($1::text[]))");
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
        "SELECT {COLUMNS} FROM {FROM} WHERE i.id IN ({})",
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
