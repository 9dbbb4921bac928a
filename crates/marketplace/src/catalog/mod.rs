//! The public catalog (the hottest read path): active items of active stores, newest
//! first, keyset-paginated with an opaque cursor, filtered by store, price range,
//! currency and a text query.

pub mod store;

use crate::items::ItemView;
use crate::{MarketError, Marketplace};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rampart_kernel::fields::bounded_text;
use rampart_kernel::ids::{ItemId, StoreId};
use rampart_kernel::{Currency, FieldError, FieldErrors};

/// Largest page.
pub const LIMIT_MAX: i64 = 100;
/// Page size when none is asked for.
pub const LIMIT_DEFAULT: i64 = 20;
/// Longest text query (characters).
pub const TEXT_MAX: usize = 100;

/// Where a page ends: the last item's `(created_at, id)`. Opaque to clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// The last item's creation time.
    pub created_at: i64,
    /// The last item's ID.
    pub id: ItemId,
}

impl Cursor {
    /// The opaque text form (URL-safe base64).
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}.{}", self.created_at, self.id))
    }
    /// Parses a client's cursor; anything we did not write is refused.
    pub fn decode(s: &str) -> Option<Cursor> {
        let raw = URL_SAFE_NO_PAD.decode(s.as_bytes()).ok()?;
        let text = std::str::from_utf8(&raw).ok()?;
        let (t, id) = text.split_once('.')?;
        let created_at: i64 = t.parse().ok()?;
        let id: ItemId = id.parse().ok()?;
        if created_at < 0 || id.as_str() != &text[t.len() + 1..] {
            return None;
        }
        Some(Cursor { created_at, id })
    }
}

/// A catalog request, parsed.
#[derive(Debug, Clone, Default)]
pub struct CatalogQuery {
    /// Only this store's items.
    pub store: Option<StoreId>,
    /// Lowest price in minor units.
    pub min_price: Option<i64>,
    /// Highest price in minor units.
    pub max_price: Option<i64>,
    /// Only prices in this currency.
    pub currency: Option<Currency>,
    /// Words in the title or description (case-insensitive substring).
    pub text: Option<String>,
    /// Page size, 1..=[`LIMIT_MAX`].
    pub limit: i64,
    /// Continue after this point.
    pub after: Option<Cursor>,
}

impl CatalogQuery {
    /// Parses untrusted query parameters, collecting every field error.
    #[allow(clippy::too_many_arguments)]
    pub fn parse(
        store: Option<&str>,
        min_price: Option<i64>,
        max_price: Option<i64>,
        currency: Option<&str>,
        text: Option<&str>,
        limit: Option<i64>,
        cursor: Option<&str>,
    ) -> Result<Self, MarketError> {
        let mut errs = FieldErrors::new();
        let store = match store.filter(|s| !s.is_empty()) {
            Some(s) => errs.take(
                s.parse::<StoreId>()
                    .map_err(|_| FieldError::new("store", "invalid_value")),
            ),
            None => None,
        };
        let mut range = |field: &str, v: Option<i64>| match v {
            Some(p) if p < 0 => {
                errs.push(FieldError::new(field, "out_of_range"));
                None
            }
            other => other,
        };
        let min_price = range("min_price", min_price);
        let max_price = range("max_price", max_price);
        if let (Some(a), Some(b)) = (min_price, max_price) {
            if a > b {
                errs.push(FieldError::new("max_price", "out_of_range"));
            }
        }
        let currency = match currency.filter(|s| !s.is_empty()) {
            Some(c) => errs
                .take(Currency::parse(c).map_err(|_| FieldError::new("currency", "invalid_value"))),
            None => None,
        };
        let text = match text.map(str::trim).filter(|s| !s.is_empty()) {
            Some(t) => errs.take(bounded_text("q", t, 1, TEXT_MAX)),
            None => None,
        };
        let limit = limit.unwrap_or(LIMIT_DEFAULT);
        if !(1..=LIMIT_MAX).contains(&limit) {
            errs.push(FieldError::new("limit", "out_of_range"));
        }
        let after = match cursor.filter(|s| !s.is_empty()) {
            Some(c) => match Cursor::decode(c) {
                Some(c) => Some(c),
                None => {
                    errs.push(FieldError::new("cursor", "invalid_value"));
                    None
                }
            },
            None => None,
        };
        if !errs.is_empty() {
            return Err(MarketError::Validation(errs));
        }
        Ok(CatalogQuery {
            store,
            min_price,
            max_price,
            currency,
            text,
            limit,
            after,
        })
    }
}

/// One page of the catalog.
#[derive(Debug, Clone)]
pub struct CatalogPage {
    /// Items, newest first.
    pub items: Vec<ItemView>,
    /// The cursor of the next page, if there is one.
    pub next: Option<Cursor>,
}

impl Marketplace {
    /// A page of the public catalog.
    pub async fn catalog(&self, q: &CatalogQuery) -> Result<CatalogPage, MarketError> {
        let limit = q.limit.clamp(1, LIMIT_MAX);
        let mut rows = store::page(&self.db, q, q.after.as_ref(), limit).await?;
        let more = rows.len() as i64 > limit;
        rows.truncate(limit as usize);
        let items = rows
            .into_iter()
            .map(ItemView::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        let next = if more {
            items.last().map(|i| Cursor {
                created_at: i.created_at,
                id: i.id.clone(),
            })
        } else {
            None
        };
        Ok(CatalogPage { items, next })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_anything_else() {
        let c = Cursor {
            created_at: 1_700_000_000_000,
            id: ItemId::generate(),
        };
        assert_eq!(Cursor::decode(&c.encode()), Some(c));
        assert_eq!(Cursor::decode("x"), None);
        assert_eq!(
            Cursor::decode(&URL_SAFE_NO_PAD.encode("1.not-a-uuid")),
            None
        );
        assert_eq!(
            Cursor::decode(&URL_SAFE_NO_PAD.encode("-1.0190d1b4-5b1b-7000-8000-000000000000")),
            None
        );
    }

    #[test]
    fn limits_are_bounded() {
        assert!(CatalogQuery::parse(None, None, None, None, None, Some(0), None).is_err());
        assert!(CatalogQuery::parse(None, None, None, None, None, Some(101), None).is_err());
        assert_eq!(
            CatalogQuery::parse(None, None, None, None, None, Some(100), None)
                .unwrap()
                .limit,
            100
        );
        assert!(CatalogQuery::parse(None, Some(10), Some(5), None, None, None, None).is_err());
    }
}
