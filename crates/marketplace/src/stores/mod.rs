//! Stores as workspaces (D2): settings, and members with store roles. Access is
//! decided by [`crate::policy::store`] on the caller's membership, read in the same
//! query as the store.

pub mod store;

use crate::policy::{self, Caller, StoreAction, StoreRole};
use crate::{currency, MarketError, Marketplace};
use rampart_audit::{self as audit, ActionType, NewAuditEntry, Target, TargetKind};
use rampart_kernel::fields::bounded_text;
use rampart_kernel::ids::StoreId;
use rampart_kernel::{Currency, FieldError, FieldErrors, UserId};
use store::{StoreRow, StoreWithRole};

/// Longest store name (characters).
pub const NAME_MAX: usize = 100;
/// Longest store description (characters).
pub const DESCRIPTION_MAX: usize = 2000;
/// Shortest auto-release period (days).
pub const AUTO_RELEASE_MIN: i64 = 1;
/// Longest auto-release period (days).
pub const AUTO_RELEASE_MAX: i64 = 90;
/// The default auto-release period (days).
pub const AUTO_RELEASE_DEFAULT: i64 = 14;
/// Largest minimum order a store may set (minor units).
pub const MIN_ORDER_MAX: i64 = 1_000_000_000_000;

/// A store's status: suspended stores leave the public catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreStatus {
    /// Trading.
    Active,
    /// Hidden from the catalog by staff.
    Suspended,
}

impl StoreStatus {
    /// The stable stored name.
    pub const fn as_str(self) -> &'static str {
        match self {
            StoreStatus::Active => "active",
            StoreStatus::Suspended => "suspended",
        }
    }
    fn parse(s: &str) -> Result<Self, MarketError> {
        match s {
            "active" => Ok(StoreStatus::Active),
            "suspended" => Ok(StoreStatus::Suspended),
            _ => Err(crate::corrupt("store status")),
        }
    }
}

/// A store as callers see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreView {
    /// ID.
    pub id: StoreId,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Currency of new items' prices.
    pub currency: Currency,
    /// Days after shipping before escrow is released to the seller by itself.
    pub auto_release_days: i64,
    /// The store's own minimum order (minor units of its currency), checked at
    /// checkout on the store's part of a cart.
    pub min_order_minor: Option<i64>,
    /// Status.
    pub status: StoreStatus,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub updated_at: i64,
}

impl TryFrom<StoreRow> for StoreView {
    type Error = MarketError;
    fn try_from(r: StoreRow) -> Result<Self, MarketError> {
        Ok(StoreView {
            id: StoreId::from_stored(r.id),
            name: r.name,
            description: r.description,
            currency: currency(&r.currency)?,
            auto_release_days: r.auto_release_days,
            min_order_minor: r.min_order_minor,
            status: StoreStatus::parse(&r.status)?,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

/// A store of the caller's, with their role in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MyStore {
    /// The store.
    pub store: StoreView,
    /// The caller's role.
    pub role: StoreRole,
}

/// A member of a store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberView {
    /// The user.
    pub user_id: UserId,
    /// Their store role.
    pub role: StoreRole,
    /// When they joined (Unix ms).
    pub created_at: i64,
}

/// Settings of a new store (untrusted input; parsed by [`Marketplace::create_store`]).
#[derive(Debug, Clone, Default)]
pub struct NewStore {
    /// Name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// ISO 4217 code.
    pub currency: String,
    /// Auto-release period in days (default [`AUTO_RELEASE_DEFAULT`]).
    pub auto_release_days: Option<i64>,
}

/// Settings to change (absent fields stay).
#[derive(Debug, Clone, Default)]
pub struct StorePatch {
    /// Name.
    pub name: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// ISO 4217 code (applies to items created afterwards).
    pub currency: Option<String>,
    /// Auto-release period in days.
    pub auto_release_days: Option<i64>,
    /// Minimum order in minor units: `Some(None)` removes it.
    pub min_order_minor: Option<Option<i64>>,
}

fn parse_name(errs: &mut FieldErrors, raw: &str) -> Option<String> {
    errs.take(bounded_text("name", raw, 1, NAME_MAX))
}
fn parse_description(errs: &mut FieldErrors, raw: &str) -> Option<String> {
    errs.take(bounded_text("description", raw, 0, DESCRIPTION_MAX))
}
fn parse_currency(errs: &mut FieldErrors, raw: &str) -> Option<Currency> {
    errs.take(Currency::parse(raw).map_err(|_| FieldError::new("currency", "invalid_value")))
}
fn parse_days(errs: &mut FieldErrors, d: i64) -> Option<i64> {
    errs.take(if (AUTO_RELEASE_MIN..=AUTO_RELEASE_MAX).contains(&d) {
        Ok(d)
    } else {
        Err(FieldError::new("auto_release_days", "out_of_range"))
    })
}

fn parse_min_order(errs: &mut FieldErrors, m: Option<i64>) -> Option<Option<i64>> {
    match m {
        None => Some(None),
        Some(m) if (1..=MIN_ORDER_MAX).contains(&m) => Some(Some(m)),
        Some(_) => {
            errs.push(FieldError::new("min_order_minor", "out_of_range"));
            None
        }
    }
}

fn with_role(r: StoreWithRole) -> Result<(StoreView, Option<StoreRole>), MarketError> {
    let role = match r.member_role {
        Some(s) => Some(s.parse().map_err(|_| crate::corrupt("store role"))?),
        None => None,
    };
    Ok((StoreView::try_from(r.store)?, role))
}

impl Marketplace {
    /// Opens a store; the caller becomes its first owner (needs `CreateStore`).
    pub async fn create_store(
        &self,
        caller: &Caller,
        input: NewStore,
    ) -> Result<StoreView, MarketError> {
        policy::create_store(caller)?;
        let mut errs = FieldErrors::new();
        let name = parse_name(&mut errs, &input.name);
        let description = parse_description(&mut errs, input.description.as_deref().unwrap_or(""));
        let cur = parse_currency(&mut errs, &input.currency);
        let days = parse_days(
            &mut errs,
            input.auto_release_days.unwrap_or(AUTO_RELEASE_DEFAULT),
        );
        let (Some(name), Some(description), Some(cur), Some(days)) = (name, description, cur, days)
        else {
            return Err(MarketError::Validation(errs));
        };
        let now = self.now();
        let row = StoreRow {
            id: StoreId::generate().into_string(),
            name,
            description,
            currency: cur.as_str().to_owned(),
            auto_release_days: days,
            min_order_minor: None,
            status: StoreStatus::Active.as_str().to_owned(),
            created_at: now,
            updated_at: now,
        };
        let mut tx = self.db.begin().await?;
        crate::act_in(&mut tx, caller, &row.id).await?;
        store::insert(&mut tx, &row).await?;
        store::add_member(
            &mut tx,
            &row.id,
            caller.user.as_str(),
            StoreRole::Owner.as_str(),
            now,
        )
        .await?;
        tx.commit().await?;
        StoreView::try_from(row)
    }

    /// The stores the caller is a member of.
    pub async fn my_stores(&self, caller: &Caller) -> Result<Vec<MyStore>, MarketError> {
        store::of_member(&self.db, caller.user.as_str())
            .await?
            .into_iter()
            .map(|r| {
                let (store, role) = with_role(r)?;
                let role = role.ok_or_else(|| crate::corrupt("membership"))?;
                Ok(MyStore { store, role })
            })
            .collect()
    }

    /// Moderation: every store `user` is a member of, with their role (staff holding
    /// `warn_store`; [`MarketError::NotFound`] for everyone else).
    pub async fn stores_of(
        &self,
        caller: &Caller,
        user: &UserId,
    ) -> Result<Vec<MyStore>, MarketError> {
        policy::moderate(caller)?;
        self.my_stores(&Caller {
            user: user.clone(),
            role: caller.role,
            request_id: None,
        })
        .await
    }

    /// Moderation: any store with its members, whoever the caller is a member of
    /// (staff holding `warn_store`; [`MarketError::NotFound`] for everyone else and
    /// for a store that does not exist).
    pub async fn moderated_store(
        &self,
        caller: &Caller,
        id: &StoreId,
    ) -> Result<(StoreView, Vec<MemberView>), MarketError> {
        policy::moderate(caller)?;
        let row = store::find_with_role(&self.db, id.as_str(), caller.user.as_str())
            .await?
            .ok_or(MarketError::NotFound)?;
        let (view, _) = with_role(row)?;
        let members = store::members(&self.db, id.as_str())
            .await?
            .into_iter()
            .map(|m| {
                Ok(MemberView {
                    user_id: UserId::from_stored(m.user_id),
                    role: m.role.parse().map_err(|_| crate::corrupt("store role"))?,
                    created_at: m.created_at,
                })
            })
            .collect::<Result<Vec<_>, MarketError>>()?;
        Ok((view, members))
    }

    /// A store and the caller's role in it, if the policy lets them do `action`.
    pub(crate) async fn authorised(
        &self,
        conn: impl Into<rampart_db::Conn<'_>>,
        caller: &Caller,
        id: &StoreId,
        action: StoreAction,
    ) -> Result<(StoreView, Option<StoreRole>), MarketError> {
        let row = store::find_with_role(conn, id.as_str(), caller.user.as_str())
            .await?
            .ok_or(MarketError::NotFound)?;
        let (view, role) = with_role(row)?;
        policy::store(caller, role, action)?;
        Ok((view, role))
    }

    /// A store of the caller's (any member).
    pub async fn store(&self, caller: &Caller, id: &StoreId) -> Result<MyStore, MarketError> {
        let (store, role) = self
            .authorised(&self.db, caller, id, StoreAction::View)
            .await?;
        let role = role.ok_or(MarketError::NotFound)?;
        Ok(MyStore { store, role })
    }

    /// Changes a store's settings (owners).
    pub async fn update_store(
        &self,
        caller: &Caller,
        id: &StoreId,
        patch: StorePatch,
    ) -> Result<StoreView, MarketError> {
        let mut tx = self.db.begin().await?;
        crate::act_in(&mut tx, caller, id.as_str()).await?;
        let (view, _) = self
            .authorised(&mut tx, caller, id, StoreAction::EditSettings)
            .await?;
        let mut errs = FieldErrors::new();
        let name = match &patch.name {
            Some(n) => parse_name(&mut errs, n),
            None => Some(view.name.clone()),
        };
        let description = match &patch.description {
            Some(d) => parse_description(&mut errs, d),
            None => Some(view.description.clone()),
        };
        let cur = match &patch.currency {
            Some(c) => parse_currency(&mut errs, c),
            None => Some(view.currency),
        };
        let days = match patch.auto_release_days {
            Some(d) => parse_days(&mut errs, d),
            None => Some(view.auto_release_days),
        };
        let min_order = match patch.min_order_minor {
            Some(m) => parse_min_order(&mut errs, m),
            None => Some(view.min_order_minor),
        };
        let (Some(name), Some(description), Some(cur), Some(days), Some(min_order)) =
            (name, description, cur, days, min_order)
        else {
            return Err(MarketError::Validation(errs));
        };
        let row = StoreRow {
            id: view.id.as_str().to_owned(),
            name,
            description,
            currency: cur.as_str().to_owned(),
            auto_release_days: days,
            min_order_minor: min_order,
            status: view.status.as_str().to_owned(),
            created_at: view.created_at,
            updated_at: self.now(),
        };
        store::update(&mut tx, &row).await?;
        // C1: what changed, old and new (the release period matters to buyers: it
        // is fixed on each purchase, so a change only affects later ones).
        let mut changed = serde_json::Map::new();
        let mut diff = |k: &str, old: serde_json::Value, new: serde_json::Value| {
            if old != new {
                changed.insert(k.to_owned(), serde_json::json!({"old": old, "new": new}));
            }
        };
        diff("name", view.name.clone().into(), row.name.clone().into());
        diff(
            "description",
            view.description.clone().into(),
            row.description.clone().into(),
        );
        diff(
            "currency",
            view.currency.as_str().into(),
            row.currency.clone().into(),
        );
        diff(
            "auto_release_days",
            view.auto_release_days.into(),
            row.auto_release_days.into(),
        );
        diff(
            "min_order_minor",
            view.min_order_minor.into(),
            row.min_order_minor.into(),
        );
        if !changed.is_empty() {
            audit::record(
                &mut tx,
                NewAuditEntry {
                    actor_user_uuid: Some(caller.user.as_str()),
                    action: ActionType::StoreSettingsChange,
                    target: Target::new(TargetKind::Store, id.as_str()),
                    metadata: serde_json::Value::Object(changed),
                    request_id: caller.request_id.as_deref(),
                    created_at: row.updated_at,
                },
            )
            .await?;
        }
        tx.commit().await?;
        StoreView::try_from(row)
    }

    /// The members of a store (any member sees them).
    pub async fn members(
        &self,
        caller: &Caller,
        id: &StoreId,
    ) -> Result<Vec<MemberView>, MarketError> {
        self.authorised(&self.db, caller, id, StoreAction::View)
            .await?;
        store::members(&self.db, id.as_str())
            .await?
            .into_iter()
            .map(|m| {
                Ok(MemberView {
                    user_id: UserId::from_stored(m.user_id),
                    role: m.role.parse().map_err(|_| crate::corrupt("store role"))?,
                    created_at: m.created_at,
                })
            })
            .collect()
    }

    /// Adds a member with a role, or changes an existing member's role (owners). The
    /// last owner cannot be demoted.
    pub async fn set_member(
        &self,
        caller: &Caller,
        id: &StoreId,
        user: &UserId,
        role: StoreRole,
    ) -> Result<MemberView, MarketError> {
        let mut tx = self.db.begin().await?;
        crate::act_in(&mut tx, caller, id.as_str()).await?;
        self.authorised(&mut tx, caller, id, StoreAction::ManageMembers)
            .await?;
        store::lock(&mut tx, id.as_str()).await?;
        let now = self.now();
        let old = store::member_role(&mut tx, id.as_str(), user.as_str()).await?;
        match &old {
            Some(_) => {
                if store::set_member_role(&mut tx, id.as_str(), user.as_str(), role.as_str())
                    .await?
                    == 0
                {
                    return Err(MarketError::LastOwner);
                }
            }
            None => {
                store::add_member(&mut tx, id.as_str(), user.as_str(), role.as_str(), now).await?
            }
        }
        if old.as_deref() != Some(role.as_str()) {
            audit::record(
                &mut tx,
                NewAuditEntry {
                    actor_user_uuid: Some(caller.user.as_str()),
                    action: ActionType::StoreMemberSet,
                    target: Target::new(TargetKind::Store, id.as_str()),
                    metadata: serde_json::json!({
                        "user_id": user.as_str(),
                        "old_role": old,
                        "new_role": role.as_str(),
                    }),
                    request_id: caller.request_id.as_deref(),
                    created_at: now,
                },
            )
            .await?;
        }
        tx.commit().await?;
        Ok(MemberView {
            user_id: user.clone(),
            role,
            created_at: now,
        })
    }

    /// Removes a member (owners), or leaves (any member). The last owner cannot leave.
    pub async fn remove_member(
        &self,
        caller: &Caller,
        id: &StoreId,
        user: &UserId,
    ) -> Result<(), MarketError> {
        let mut tx = self.db.begin().await?;
        crate::act_in(&mut tx, caller, id.as_str()).await?;
        let row = store::find_with_role(&mut tx, id.as_str(), caller.user.as_str())
            .await?
            .ok_or(MarketError::NotFound)?;
        let (_, role) = with_role(row)?;
        policy::remove_member(caller, role, user)?;
        store::lock(&mut tx, id.as_str()).await?;
        let Some(old) = store::member_role(&mut tx, id.as_str(), user.as_str()).await? else {
            return Err(MarketError::NotFound);
        };
        if store::remove_member(&mut tx, id.as_str(), user.as_str()).await? == 0 {
            return Err(MarketError::LastOwner);
        }
        audit::record(
            &mut tx,
            NewAuditEntry {
                actor_user_uuid: Some(caller.user.as_str()),
                action: ActionType::StoreMemberRemove,
                target: Target::new(TargetKind::Store, id.as_str()),
                metadata: serde_json::json!({
                    "user_id": user.as_str(),
                    "old_role": old,
                    "left": user == &caller.user,
                }),
                request_id: caller.request_id.as_deref(),
                created_at: self.now(),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
