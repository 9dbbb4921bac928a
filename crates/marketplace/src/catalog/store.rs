//! SQL of the public catalog: one indexed query per page (keyset on
//! `(created_at, id)` over `items_catalog` / `items_store_catalog`), the store's
//! status checked in the same query, no per-item follow-up.

use super::{CatalogQuery, Cursor};
use crate::items::store::{ItemRow, COLUMNS};
use rampart_db::{on_read, Db, Result};

/// One page (up to `limit + 1` rows: the extra one says there is a next page). Only
/// the filters given become SQL, so each combination has its own plan.
pub async fn page(
    db: &Db,
    q: &CatalogQuery,
    after: Option<&Cursor>,
    limit: i64,
) -> Result<Vec<ItemRow>> {
    let mut sql = format!(
        "SELECT {COLUMNS} FROM items i JOIN stores s ON s.id = i.store_id \
         WHERE i.status = 'active' AND s.status = 'active'"
    );
    let mut n = 0;
    let mut next = || {
        n += 1;
        n
    };
    if q.store.is_some() {
        sql.push_str(&format!(" AND i.store_id = ${}", next()));
    }
    if q.min_price.is_some() {
        sql.push_str(&format!(" AND i.price_minor >= ${}", next()));
    }
    if q.max_price.is_some() {
        sql.push_str(&format!(" AND i.price_minor <= ${}", next()));
    }
    if q.currency.is_some() {
        sql.push_str(&format!(" AND i.currency = ${}", next()));
    }
    if q.text.is_some() {
        let p = next();
        sql.push_str(&format!(
            " AND (LOWER(i.title) LIKE ${p} ESCAPE '!' OR LOWER(i.description) LIKE ${p} ESCAPE '!')"
        ));
    }
    if after.is_some() {
        let (a, b) = (next(), next());
        sql.push_str(&format!(
            " AND (i.created_at < ${a} OR (i.created_at = ${a} AND i.id < ${b}))"
        ));
    }
    sql.push_str(&format!(
        " ORDER BY i.created_at DESC, i.id DESC LIMIT ${}",
        next()
    ));
    let pattern = q.text.as_deref().map(like_pattern);
    macro_rules! bind_all {
        ($query:expr) => {{
            let mut x = $query;
            if let Some(s) = &q.store {
                x = x.bind(s.as_str());
            }
            if let Some(p) = q.min_price {
                x = x.bind(p);
            }
            if let Some(p) = q.max_price {
                x = x.bind(p);
            }
            if let Some(c) = &q.currency {
                x = x.bind(c.as_str());
            }
            if let Some(p) = &pattern {
                x = x.bind(p.as_str());
            }
            if let Some(c) = after {
                x = x.bind(c.created_at).bind(c.id.as_str());
            }
            x.bind(limit + 1)
        }};
    }
    Ok(on_read!(db, |e| bind_all!(sqlx::query_as::<_, ItemRow>(
        &sql
    ))
    .fetch_all(e)
    .await)?)
}

/// `%text%`, lower-cased, with `!`, `%` and `_` escaped.
fn like_pattern(text: &str) -> String {
    let mut p = String::from("%");
    for c in text.to_lowercase().chars() {
        if matches!(c, '!' | '%' | '_') {
            p.push('!');
        }
        p.push(c);
    }
    p.push('%');
    p
}
