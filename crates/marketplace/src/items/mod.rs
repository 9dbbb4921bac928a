//! Items (D2): create, edit, archive and stock, by store members with the right role
//! ([`crate::policy::item`]). Price changes and manual stock adjustments are audited
//! with the old and new values (C1) in the same transaction.

pub mod store;

use crate::policy::{self, Caller, ItemAction, StoreAction, StoreRole};
use crate::{currency, MarketError, Marketplace};
use rampart_audit::{self as audit, ActionType, NewAuditEntry, Target, TargetKind};
use rampart_kernel::fields::bounded_text;
use rampart_kernel::ids::{ItemId, StoreId};
use rampart_kernel::{FieldError, FieldErrors, Money};
use store::ItemRow;

/// Longest title (characters).
pub const TITLE_MAX: usize = 200;
/// Longest description (characters).
pub const DESCRIPTION_MAX: usize = 5000;
/// Largest price in minor units.
pub const PRICE_MAX: i64 = 1_000_000_000_000;
/// Largest stock.
pub const STOCK_MAX: i64 = 1_000_000_000;
/// Longest item type tag (characters of `[a-z0-9_-]`).
pub const ITEM_TYPE_MAX: usize = 32;
/// Heaviest unit weight in grams (one tonne).
pub const WEIGHT_MAX: i64 = 1_000_000;

/// An item's status: only active items of active stores are in the public catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemStatus {
    /// Being prepared; members only.
    Draft,
    /// For sale.
    Active,
    /// Withdrawn for good (kept for orders that name it).
    Archived,
}

impl ItemStatus {
    /// The stable stored name.
    pub const fn as_str(self) -> &'static str {
        match self {
            ItemStatus::Draft => "draft",
            ItemStatus::Active => "active",
            ItemStatus::Archived => "archived",
        }
    }
    /// Parses a stored or submitted name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "draft" => Some(ItemStatus::Draft),
            "active" => Some(ItemStatus::Active),
            "archived" => Some(ItemStatus::Archived),
            _ => None,
        }
    }
    /// The one transition function: draft ⇄ active, either → archived; archived is
    /// final.
    pub fn transition(self, to: ItemStatus) -> Result<ItemStatus, MarketError> {
        use ItemStatus::*;
        match (self, to) {
            (a, b) if a == b => Ok(b),
            (Draft, Active) | (Active, Draft) | (Draft, Archived) | (Active, Archived) => Ok(to),
            (Archived, _) => Err(MarketError::InvalidTransition),
            _ => Err(MarketError::InvalidTransition),
        }
    }
}

/// An item as callers see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemView {
    /// ID.
    pub id: ItemId,
    /// Its store.
    pub store_id: StoreId,
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// Price.
    pub price: Money,
    /// Units in stock.
    pub stock: i64,
    /// Status.
    pub status: ItemStatus,
    /// Item type tag the checkout's shipping rules look at (`""` for none).
    pub item_type: String,
    /// Weight of one unit in grams (0: nothing to ship).
    pub weight_grams: i64,
    /// Only subscription-eligible customers may buy it.
    pub subscription_only: bool,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub updated_at: i64,
}

impl TryFrom<ItemRow> for ItemView {
    type Error = MarketError;
    fn try_from(r: ItemRow) -> Result<Self, MarketError> {
        Ok(ItemView {
            id: ItemId::from_stored(r.id),
            store_id: StoreId::from_stored(r.store_id),
            title: r.title,
            description: r.description,
            price: Money::new(r.price_minor, currency(&r.currency)?),
            stock: r.stock,
            status: ItemStatus::parse(&r.status).ok_or_else(|| crate::corrupt("item status"))?,
            item_type: r.item_type,
            weight_grams: r.weight_grams,
            subscription_only: r.subscription_only != 0,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

/// A new item (untrusted input). Its currency is the store's.
#[derive(Debug, Clone, Default)]
pub struct NewItem {
    /// Title.
    pub title: String,
    /// Description.
    pub description: Option<String>,
    /// Price in minor units of the store's currency.
    pub price_minor: i64,
    /// Initial stock.
    pub stock: Option<i64>,
    /// `draft` (default) or `active`.
    pub status: Option<String>,
    /// Item type tag (default none).
    pub item_type: Option<String>,
    /// Unit weight in grams (default 0).
    pub weight_grams: Option<i64>,
    /// Subscription-only (default no).
    pub subscription_only: Option<bool>,
}

/// Changes to an item (absent fields stay).
#[derive(Debug, Clone, Default)]
pub struct ItemPatch {
    /// Title.
    pub title: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Price in minor units (audited when it changes).
    pub price_minor: Option<i64>,
    /// Status.
    pub status: Option<String>,
    /// Item type tag (`""` clears it; audited when it changes).
    pub item_type: Option<String>,
    /// Unit weight in grams (audited when it changes).
    pub weight_grams: Option<i64>,
    /// Subscription-only (audited when it changes).
    pub subscription_only: Option<bool>,
}

fn parse_title(errs: &mut FieldErrors, raw: &str) -> Option<String> {
    errs.take(bounded_text("title", raw, 1, TITLE_MAX))
}
fn parse_description(errs: &mut FieldErrors, raw: &str) -> Option<String> {
    errs.take(bounded_text("description", raw, 0, DESCRIPTION_MAX))
}
fn parse_price(errs: &mut FieldErrors, p: i64) -> Option<i64> {
    errs.take(if (0..=PRICE_MAX).contains(&p) {
        Ok(p)
    } else {
        Err(FieldError::new("price_minor", "out_of_range"))
    })
}
fn parse_stock(errs: &mut FieldErrors, s: i64) -> Option<i64> {
    errs.take(if (0..=STOCK_MAX).contains(&s) {
        Ok(s)
    } else {
        Err(FieldError::new("stock", "out_of_range"))
    })
}
/// An item type tag: up to [`ITEM_TYPE_MAX`] of `a-z 0-9 _ -` (trimmed, lower-cased);
/// empty is none. The checkout's shipping rules compare it with configured tags.
fn parse_item_type(errs: &mut FieldErrors, raw: &str) -> Option<String> {
    let t = raw.trim().to_ascii_lowercase();
    errs.take(if t.len() > ITEM_TYPE_MAX {
        Err(FieldError::new("item_type", "too_long"))
    } else if !t
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
    {
        Err(FieldError::new("item_type", "invalid_format"))
    } else {
        Ok(t)
    })
}
fn parse_weight(errs: &mut FieldErrors, w: i64) -> Option<i64> {
    errs.take(if (0..=WEIGHT_MAX).contains(&w) {
        Ok(w)
    } else {
        Err(FieldError::new("weight_grams", "out_of_range"))
    })
}
fn parse_status(errs: &mut FieldErrors, s: &str) -> Option<ItemStatus> {
    errs.take(ItemStatus::parse(s).ok_or_else(|| FieldError::new("status", "invalid_value")))
}

pub(crate) fn role_of(r: Option<String>) -> Result<Option<StoreRole>, MarketError> {
    match r {
        Some(s) => Ok(Some(s.parse().map_err(|_| crate::corrupt("store role"))?)),
        None => Ok(None),
    }
}

impl Marketplace {
    /// Creates an item in a store (managers and owners); priced in the store's
    /// currency.
    pub async fn create_item(
        &self,
        caller: &Caller,
        store_id: &StoreId,
        input: NewItem,
    ) -> Result<ItemView, MarketError> {
        let mut tx = self.db.begin().await?;
        crate::act_in(&mut tx, caller, store_id.as_str()).await?;
        let (store, _) = self
            .authorised(&mut tx, caller, store_id, StoreAction::EditItems)
            .await?;
        let mut errs = FieldErrors::new();
        let title = parse_title(&mut errs, &input.title);
        let description = parse_description(&mut errs, input.description.as_deref().unwrap_or(""));
        let price = parse_price(&mut errs, input.price_minor);
        let stock = parse_stock(&mut errs, input.stock.unwrap_or(0));
        let status = match input.status.as_deref() {
            Some(s) => parse_status(&mut errs, s).and_then(|s| {
                ItemStatus::Draft
                    .transition(s)
                    .map_err(|_| errs.push(FieldError::new("status", "invalid_value")))
                    .ok()
            }),
            None => Some(ItemStatus::Draft),
        };
        let item_type = parse_item_type(&mut errs, input.item_type.as_deref().unwrap_or(""));
        let weight = parse_weight(&mut errs, input.weight_grams.unwrap_or(0));
        let (
            Some(title),
            Some(description),
            Some(price),
            Some(stock),
            Some(status),
            Some(item_type),
            Some(weight),
        ) = (title, description, price, stock, status, item_type, weight)
        else {
            return Err(MarketError::Validation(errs));
        };
        let now = self.now();
        let row = ItemRow {
            id: ItemId::generate().into_string(),
            store_id: store.id.as_str().to_owned(),
            title,
            description,
            price_minor: price,
            currency: store.currency.as_str().to_owned(),
            stock,
            status: status.as_str().to_owned(),
            item_type,
            weight_grams: weight,
            subscription_only: i64::from(input.subscription_only.unwrap_or(false)),
            created_at: now,
            updated_at: now,
        };
        store::insert(&mut tx, &row).await?;
        tx.commit().await?;
        ItemView::try_from(row)
    }

    /// An item: anyone sees active items of active stores; members of its store see
    /// it in any status; everyone else gets [`MarketError::NotFound`].
    pub async fn item(
        &self,
        caller: Option<&Caller>,
        id: &ItemId,
    ) -> Result<ItemView, MarketError> {
        let user = caller.map(|c| c.user.as_str()).unwrap_or("");
        let a = store::find_with_access(&self.db, id.as_str(), user)
            .await?
            .ok_or(MarketError::NotFound)?;
        let public = a.item.status == ItemStatus::Active.as_str() && a.store_status == "active";
        policy::item(caller, role_of(a.member_role)?, public, ItemAction::View)?;
        ItemView::try_from(a.item)
    }

    /// Every item of a store in any status (members).
    pub async fn store_items(
        &self,
        caller: &Caller,
        store_id: &StoreId,
    ) -> Result<Vec<ItemView>, MarketError> {
        self.authorised(&self.db, caller, store_id, StoreAction::View)
            .await?;
        store::of_store(&self.db, store_id.as_str())
            .await?
            .into_iter()
            .map(ItemView::try_from)
            .collect()
    }

    /// Edits an item (managers and owners). A price change is audited with the old
    /// and new price; archiving is `status: archived`.
    pub async fn update_item(
        &self,
        caller: &Caller,
        id: &ItemId,
        patch: ItemPatch,
    ) -> Result<ItemView, MarketError> {
        let mut tx = self.db.begin().await?;
        let a = store::find_with_access(&mut tx, id.as_str(), caller.user.as_str())
            .await?
            .ok_or(MarketError::NotFound)?;
        // The item names its store: what follows acts in it alone.
        crate::act_in(&mut tx, caller, &a.item.store_id).await?;
        policy::item(
            Some(caller),
            role_of(a.member_role)?,
            false,
            ItemAction::Edit,
        )?;
        let old_row = a.item.clone();
        let old = ItemView::try_from(a.item.clone())?;
        let mut errs = FieldErrors::new();
        let title = match &patch.title {
            Some(t) => parse_title(&mut errs, t),
            None => Some(old.title.clone()),
        };
        let description = match &patch.description {
            Some(d) => parse_description(&mut errs, d),
            None => Some(old.description.clone()),
        };
        let price = match patch.price_minor {
            Some(p) => parse_price(&mut errs, p),
            None => Some(old.price.minor),
        };
        let status = match &patch.status {
            Some(s) => parse_status(&mut errs, s),
            None => Some(old.status),
        };
        let item_type = match &patch.item_type {
            Some(t) => parse_item_type(&mut errs, t),
            None => Some(old.item_type.clone()),
        };
        let weight = match patch.weight_grams {
            Some(w) => parse_weight(&mut errs, w),
            None => Some(old.weight_grams),
        };
        let subscription_only = patch.subscription_only.unwrap_or(old.subscription_only);
        let (
            Some(title),
            Some(description),
            Some(price),
            Some(status),
            Some(item_type),
            Some(weight),
        ) = (title, description, price, status, item_type, weight)
        else {
            return Err(MarketError::Validation(errs));
        };
        let status = old.status.transition(status)?;
        let row = ItemRow {
            title,
            description,
            price_minor: price,
            status: status.as_str().to_owned(),
            item_type,
            weight_grams: weight,
            subscription_only: i64::from(subscription_only),
            updated_at: self.now(),
            ..a.item
        };
        if store::update(&mut tx, &row, &old_row).await? == 0 {
            return Err(MarketError::Concurrent);
        }
        if price != old.price.minor {
            audit::record(
                &mut tx,
                NewAuditEntry {
                    actor_user_uuid: Some(caller.user.as_str()),
                    action: ActionType::PriceChange,
                    target: Target::new(TargetKind::Item, id.as_str()),
                    metadata: serde_json::json!({
                        "store_id": row.store_id,
                        "currency": row.currency,
                        "old_price_minor": old.price.minor,
                        "new_price_minor": price,
                    }),
                    request_id: caller.request_id.as_deref(),
                    created_at: row.updated_at,
                },
            )
            .await?;
        }
        // C1: the attributes the checkout rules read (shipping restrictions,
        // subscription eligibility), old and new of what changed.
        let mut changed = serde_json::Map::new();
        let mut diff = |k: &str, old: serde_json::Value, new: serde_json::Value| {
            if old != new {
                changed.insert(k.to_owned(), serde_json::json!({"old": old, "new": new}));
            }
        };
        diff(
            "item_type",
            old.item_type.clone().into(),
            row.item_type.clone().into(),
        );
        diff(
            "weight_grams",
            old.weight_grams.into(),
            row.weight_grams.into(),
        );
        diff(
            "subscription_only",
            old.subscription_only.into(),
            subscription_only.into(),
        );
        if !changed.is_empty() {
            changed.insert("store_id".to_owned(), row.store_id.clone().into());
            audit::record(
                &mut tx,
                NewAuditEntry {
                    actor_user_uuid: Some(caller.user.as_str()),
                    action: ActionType::ItemAttributesChange,
                    target: Target::new(TargetKind::Item, id.as_str()),
                    metadata: serde_json::Value::Object(changed),
                    request_id: caller.request_id.as_deref(),
                    created_at: row.updated_at,
                },
            )
            .await?;
        }
        tx.commit().await?;
        ItemView::try_from(row)
    }

    /// Adjusts stock by `delta` (clerks, managers, owners; staff holding
    /// `ManualStockEdit`), audited with the old and new stock. Stock never goes below
    /// zero.
    pub async fn adjust_stock(
        &self,
        caller: &Caller,
        id: &ItemId,
        delta: i64,
    ) -> Result<ItemView, MarketError> {
        let mut tx = self.db.begin().await?;
        let a = store::find_with_access(&mut tx, id.as_str(), caller.user.as_str())
            .await?
            .ok_or(MarketError::NotFound)?;
        // The item names its store: what follows acts in it alone.
        crate::act_in(&mut tx, caller, &a.item.store_id).await?;
        policy::item(
            Some(caller),
            role_of(a.member_role)?,
            false,
            ItemAction::AdjustStock,
        )?;
        if delta == 0 || delta.unsigned_abs() > STOCK_MAX.unsigned_abs() {
            return Err(MarketError::Validation(FieldErrors(vec![FieldError::new(
                "delta",
                "out_of_range",
            )])));
        }
        let now = self.now();
        let new = store::adjust_stock(&mut tx, id.as_str(), delta, now)
            .await?
            .ok_or_else(|| {
                MarketError::Validation(FieldErrors(vec![FieldError::new("delta", "out_of_range")]))
            })?;
        let old = new - delta;
        audit::record(
            &mut tx,
            NewAuditEntry {
                actor_user_uuid: Some(caller.user.as_str()),
                action: ActionType::StockAdjustment,
                target: Target::new(TargetKind::Item, id.as_str()),
                metadata: serde_json::json!({
                    "store_id": a.item.store_id,
                    "old_stock": old,
                    "new_stock": new,
                    "delta": delta,
                }),
                request_id: caller.request_id.as_deref(),
                created_at: now,
            },
        )
        .await?;
        tx.commit().await?;
        ItemView::try_from(ItemRow {
            stock: new,
            updated_at: now,
            ..a.item
        })
    }
}

/// Restores `quantity` units of an item's stock inside the caller's transaction: the
/// worker calls it in the same commit as a cancel intent's ledger effect, so the
/// reservation made at purchase comes back exactly once. Not audited on its own: the
/// `escrow_cancel` row of that commit records why. `false` when the item no longer
/// exists (nothing to restock).
pub async fn restock_in(
    tx: &mut rampart_db::Tx,
    item: &ItemId,
    quantity: i64,
) -> Result<bool, MarketError> {
    if quantity <= 0 {
        return Ok(false);
    }
    Ok(store::restock(tx, item.as_str(), quantity).await? > 0)
}
