//! Purchases and the escrow transactions they open (D2/D3): buying reserves stock and
//! opens the escrow in one database transaction, at the item's price read from the
//! database; afterwards the buyer, the store's members and staff act on the
//! transaction as [`crate::policy::transaction`] allows, and the ledger's state
//! machine says whether the transaction's state admits the action. Release and cancel
//! are requested as intents, carried out later by the worker (D4).

pub mod store;

use crate::items::ItemStatus;
use crate::policy::{self, Caller, Denied, StoreAction, TransactionAction, TransactionFacts};
use crate::{currency, MarketError, Marketplace};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rampart_kernel::ids::{ItemId, StoreId, TransactionId};
use rampart_kernel::{FieldError, FieldErrors, Money};
use rampart_ledger::{
    transition, After, Applied, EscrowEvent, EscrowLine, EscrowView, IntentKind, IntentStatus,
    IntentView, LedgerError, NewEscrow,
};

/// Most units of one item in one purchase.
pub const QUANTITY_MAX: i64 = 1000;
/// Largest page of transactions.
pub const LIMIT_MAX: i64 = 100;
/// Page size when none is asked for.
pub const LIMIT_DEFAULT: i64 = 20;

impl From<LedgerError> for MarketError {
    fn from(e: LedgerError) -> Self {
        match e {
            LedgerError::NotFound => MarketError::NotFound,
            LedgerError::Transition(t) => MarketError::InvalidState(t.from),
            LedgerError::Concurrent | LedgerError::EffectRace(_) => MarketError::Concurrent,
            LedgerError::BadTerms(_) | LedgerError::Money(_) | LedgerError::BadRefund => {
                MarketError::Validation(FieldErrors(vec![FieldError::new(
                    "quantity",
                    "out_of_range",
                )]))
            }
            LedgerError::IntentPending(_) => MarketError::InvalidTransition,
            LedgerError::Corrupt(m) => MarketError::Internal(m),
            LedgerError::Db(d) => d.into(),
        }
    }
}

/// Where a page of transactions ends: the last one's `(created_at, id)`. Opaque to
/// clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnCursor(pub After);

impl TxnCursor {
    /// The opaque text form (URL-safe base64).
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}.{}", self.0.created_at, self.0.id))
    }
    /// Parses a client's cursor; anything we did not write is refused.
    pub fn decode(s: &str) -> Option<TxnCursor> {
        let raw = URL_SAFE_NO_PAD.decode(s.as_bytes()).ok()?;
        let text = std::str::from_utf8(&raw).ok()?;
        let (t, id) = text.split_once('.')?;
        let created_at: i64 = t.parse().ok()?;
        let id: TransactionId = id.parse().ok()?;
        if created_at < 0 || id.as_str() != &text[t.len() + 1..] {
            return None;
        }
        Some(TxnCursor(After { created_at, id }))
    }
}

/// A page request, parsed.
#[derive(Debug, Clone)]
pub struct PageQuery {
    /// Page size, 1..=[`LIMIT_MAX`].
    pub limit: i64,
    /// Continue after this point.
    pub after: Option<TxnCursor>,
}

impl PageQuery {
    /// Parses untrusted `limit` and `cursor`, collecting both errors.
    pub fn parse(limit: Option<i64>, cursor: Option<&str>) -> Result<Self, MarketError> {
        let mut errs = FieldErrors::new();
        let limit = limit.unwrap_or(LIMIT_DEFAULT);
        if !(1..=LIMIT_MAX).contains(&limit) {
            errs.push(FieldError::new("limit", "out_of_range"));
        }
        let after = match cursor.filter(|c| !c.is_empty()) {
            Some(c) => {
                let parsed = TxnCursor::decode(c);
                if parsed.is_none() {
                    errs.push(FieldError::new("cursor", "invalid_value"));
                }
                parsed
            }
            None => None,
        };
        if !errs.is_empty() {
            return Err(MarketError::Validation(errs));
        }
        Ok(PageQuery { limit, after })
    }
}

impl Default for PageQuery {
    fn default() -> Self {
        PageQuery {
            limit: LIMIT_DEFAULT,
            after: None,
        }
    }
}

/// A transaction in a list, with its item's title.
#[derive(Debug, Clone)]
pub struct TransactionLine {
    /// The escrow transaction.
    pub escrow: EscrowView,
    /// The item's title (empty if the item is gone).
    pub item_title: String,
}

/// One page of transactions.
#[derive(Debug, Clone)]
pub struct TransactionPage {
    /// Newest first.
    pub transactions: Vec<TransactionLine>,
    /// The cursor of the next page, if there is one.
    pub next: Option<TxnCursor>,
}

/// A transaction as its page shows it to one caller.
#[derive(Debug, Clone)]
pub struct TransactionView {
    /// The escrow transaction.
    pub escrow: EscrowView,
    /// The platform fee on a full release (the amount × the fee fixed at purchase).
    pub fee: Money,
    /// The selling store's name.
    pub store_name: String,
    /// The item's title.
    pub item_title: String,
    /// Every line (item, quantity, unit price) with its item's title; one for a
    /// single-item purchase, several for a checkout's share of one store.
    pub lines: Vec<(EscrowLine, String)>,
    /// Release and cancel intents, oldest first.
    pub intents: Vec<IntentView>,
    /// What the caller may do now: allowed by the policy and by the state (and, for
    /// intents, not already pending).
    pub actions: Vec<TransactionAction>,
}

/// The escrow event an action applies (or requests).
fn event_of(a: TransactionAction) -> Option<EscrowEvent> {
    match a {
        TransactionAction::View => None,
        TransactionAction::MarkFunded => Some(EscrowEvent::Fund),
        TransactionAction::Ship => Some(EscrowEvent::Ship),
        TransactionAction::ConfirmReceipt => Some(EscrowEvent::Release),
        TransactionAction::Cancel => Some(EscrowEvent::Cancel),
        TransactionAction::OpenDispute => Some(EscrowEvent::OpenDispute),
    }
}

fn bad_quantity() -> MarketError {
    MarketError::Validation(FieldErrors(vec![FieldError::new(
        "quantity",
        "out_of_range",
    )]))
}

/// An item priced at zero cannot be bought into escrow (the ledger holds positive
/// amounts only).
fn not_for_sale() -> MarketError {
    MarketError::Validation(FieldErrors(vec![FieldError::new("item", "not_for_sale")]))
}

/// A transaction, read and authorised for one action.
struct Authorised {
    escrow: EscrowView,
    ctx: store::Context,
    facts: TransactionFacts,
    membership: Option<crate::StoreRole>,
}

impl Marketplace {
    /// Buys `quantity` units of an item into a new escrow transaction in
    /// `pending_payment`: in one database transaction the stock is reserved (never
    /// below zero, whatever runs beside it) and the escrow is opened at the item's
    /// current price in the database. Refusals ([`MarketError::OutOfStock`], a member
    /// buying from their own store, an item not for sale) change nothing.
    pub async fn purchase(
        &self,
        caller: &Caller,
        item_id: &ItemId,
        quantity: i64,
    ) -> Result<EscrowView, MarketError> {
        if !(1..=QUANTITY_MAX).contains(&quantity) {
            return Err(bad_quantity());
        }
        let mut tx = self.db.begin().await?;
        let a =
            crate::items::store::find_with_access(&mut tx, item_id.as_str(), caller.user.as_str())
                .await?
                .ok_or(MarketError::NotFound)?;
        crate::act_in(&mut tx, caller, &a.item.store_id).await?;
        let public = a.item.status == ItemStatus::Active.as_str() && a.store_status == "active";
        let membership = crate::items::role_of(a.member_role)?;
        policy::purchase(membership, public).map_err(|d| match d {
            Denied::Forbidden => MarketError::OwnStorePurchase,
            Denied::NotFound => MarketError::NotFound,
        })?;
        if a.item.price_minor <= 0 {
            return Err(not_for_sale());
        }
        let now = self.now();
        let Some(reserved) = store::reserve(&mut tx, item_id.as_str(), quantity, now).await? else {
            // Nothing reserved: out of stock, unless the item stopped being for sale
            // since the read above (archived, or its store suspended).
            let still = crate::items::store::find_with_access(&mut tx, item_id.as_str(), "")
                .await?
                .is_some_and(|a| {
                    a.item.status == ItemStatus::Active.as_str() && a.store_status == "active"
                });
            return Err(if still {
                MarketError::OutOfStock
            } else {
                MarketError::NotFound
            });
        };
        // The price is the one the reservation read back, never the client's.
        let unit_price = Money::new(reserved.price_minor, currency(&reserved.currency)?);
        if unit_price.minor <= 0 {
            return Err(not_for_sale());
        }
        // The store's release period now, fixed on the transaction.
        let days = store::release_days(&mut tx, &reserved.store_id).await?;
        let escrow = self
            .ledger
            .create_in(
                &mut tx,
                NewEscrow {
                    buyer: caller.user.clone(),
                    store: StoreId::from_stored(reserved.store_id),
                    item: item_id.clone(),
                    quantity,
                    unit_price,
                    release_after_ms: days.saturating_mul(86_400_000),
                },
                Some(&caller.user),
                caller.request_id.as_deref(),
            )
            .await?;
        tx.commit().await?;
        Ok(escrow)
    }

    /// Reads a transaction and checks `action` against the policy.
    async fn authorise(
        &self,
        caller: &Caller,
        id: &TransactionId,
        action: TransactionAction,
    ) -> Result<Authorised, MarketError> {
        let escrow = self.ledger.get(id).await?.ok_or(MarketError::NotFound)?;
        let ctx = store::context(
            &self.db,
            escrow.store.as_str(),
            escrow.item.as_str(),
            caller.user.as_str(),
        )
        .await?
        .ok_or_else(|| crate::corrupt("transaction store"))?;
        let membership = crate::items::role_of(ctx.member_role.clone())?;
        let facts = TransactionFacts {
            is_buyer: escrow.buyer == caller.user,
        };
        policy::transaction(caller, facts, membership, action)?;
        Ok(Authorised {
            escrow,
            ctx,
            facts,
            membership,
        })
    }

    /// A transaction with its intents and what the caller may do now; 404 to anyone
    /// the policy does not let see it.
    pub async fn transaction(
        &self,
        caller: &Caller,
        id: &TransactionId,
    ) -> Result<TransactionView, MarketError> {
        let a = self.authorise(caller, id, TransactionAction::View).await?;
        let intents = self.ledger.intents_for(id).await?;
        let pending = |k: IntentKind| {
            intents
                .iter()
                .any(|i| i.kind == k && i.status == IntentStatus::Pending)
        };
        let state = a.escrow.state;
        let actions = TransactionAction::ALL
            .into_iter()
            .filter(|act| {
                let Some(event) = event_of(*act) else {
                    return false;
                };
                let intent_pending = match act {
                    TransactionAction::ConfirmReceipt => pending(IntentKind::Release),
                    TransactionAction::Cancel => pending(IntentKind::Cancel),
                    _ => false,
                };
                policy::transaction(caller, a.facts, a.membership, *act).is_ok()
                    && transition(state, event).is_ok()
                    && !intent_pending
            })
            .collect();
        // The fee on a release of what is held (partial refunds are not fee'd);
        // none once the money went back to the buyer.
        let fee = match a.escrow.state {
            rampart_ledger::EscrowState::Cancelled | rampart_ledger::EscrowState::Refunded => {
                Money::zero(a.escrow.amount.currency)
            }
            _ => a
                .escrow
                .held()
                .basis_points(a.escrow.fee_bps)
                .map_err(|_| crate::corrupt("transaction fee"))?,
        };
        let lines = self.ledger.lines(&a.escrow.id).await?;
        let titles = self
            .titles(lines.iter().map(|l| l.item.as_str()).collect())
            .await?;
        let lines = lines
            .into_iter()
            .map(|l| {
                let title = titles.get(l.item.as_str()).cloned().unwrap_or_default();
                (l, title)
            })
            .collect();
        Ok(TransactionView {
            fee,
            store_name: a.ctx.store_name,
            item_title: a.ctx.item_title.unwrap_or_default(),
            lines,
            intents,
            actions,
            escrow: a.escrow,
        })
    }

    /// The titles of `ids` by item ID (a gone item has none).
    async fn titles(
        &self,
        ids: Vec<&str>,
    ) -> Result<std::collections::HashMap<String, String>, MarketError> {
        Ok(store::item_titles(&self.db, &ids)
            .await?
            .into_iter()
            .collect())
    }

    /// The caller's purchases, newest first.
    pub async fn my_purchases(
        &self,
        caller: &Caller,
        q: &PageQuery,
    ) -> Result<TransactionPage, MarketError> {
        let limit = q.limit.clamp(1, LIMIT_MAX);
        let rows = self
            .ledger
            .by_buyer(&caller.user, q.after.as_ref().map(|c| &c.0), limit + 1)
            .await?;
        self.page_of(rows, limit).await
    }

    /// A store's sales, newest first (its members).
    pub async fn store_sales(
        &self,
        caller: &Caller,
        store_id: &StoreId,
        q: &PageQuery,
    ) -> Result<TransactionPage, MarketError> {
        let (_, role) = self
            .authorised(&self.db, caller, store_id, StoreAction::View)
            .await?;
        // Staff holding the stock override pass the store policy for stock only.
        role.ok_or(MarketError::NotFound)?;
        let limit = q.limit.clamp(1, LIMIT_MAX);
        let rows = self
            .ledger
            .by_store(store_id, q.after.as_ref().map(|c| &c.0), limit + 1)
            .await?;
        self.page_of(rows, limit).await
    }

    /// Applies `event` after `action` is authorised, in one database transaction
    /// acting in the transaction's store (the ledger writes the postings and the
    /// audit row). Applying an effect already applied changes nothing and is refused
    /// with the current state.
    async fn apply(
        &self,
        caller: &Caller,
        id: &TransactionId,
        action: TransactionAction,
        event: EscrowEvent,
    ) -> Result<TransactionView, MarketError> {
        let a = self.authorise(caller, id, action).await?;
        let mut tx = self.db.begin().await?;
        crate::act_in(&mut tx, caller, a.escrow.store.as_str()).await?;
        match self
            .ledger
            .apply_in(
                &mut tx,
                id,
                event,
                Some(&caller.user),
                caller.request_id.as_deref(),
            )
            .await
        {
            Ok(Applied::Done(_)) => tx.commit().await?,
            // Already applied (a second click, or another member first): the state
            // no longer admits it, and nothing was written.
            Ok(Applied::Replay(state)) | Err(LedgerError::EffectRace(state)) => {
                tx.rollback().await?;
                return Err(MarketError::InvalidState(state));
            }
            Err(e) => return Err(e.into()),
        }
        self.transaction(caller, id).await
    }

    /// Marks a transaction funded by hand (staff holding `MarkFunded`, until checkout
    /// lands); the ledger audits it as `escrow_fund`.
    pub async fn mark_funded(
        &self,
        caller: &Caller,
        id: &TransactionId,
    ) -> Result<TransactionView, MarketError> {
        self.apply(caller, id, TransactionAction::MarkFunded, EscrowEvent::Fund)
            .await
    }

    /// Marks a funded transaction shipped (the store's clerks and up).
    pub async fn mark_shipped(
        &self,
        caller: &Caller,
        id: &TransactionId,
    ) -> Result<TransactionView, MarketError> {
        self.apply(caller, id, TransactionAction::Ship, EscrowEvent::Ship)
            .await
    }

    /// Requests `kind` after `action` is authorised; the worker carries it out.
    async fn request(
        &self,
        caller: &Caller,
        id: &TransactionId,
        action: TransactionAction,
        kind: IntentKind,
    ) -> Result<IntentView, MarketError> {
        let a = self.authorise(caller, id, action).await?;
        let mut tx = self.db.begin().await?;
        crate::act_in(&mut tx, caller, a.escrow.store.as_str()).await?;
        let intent = self
            .ledger
            .request_intent_in(
                &mut tx,
                id,
                kind,
                Some(&caller.user),
                caller.request_id.as_deref(),
            )
            .await?;
        tx.commit().await?;
        Ok(intent)
    }

    /// The buyer confirms receipt of a shipped transaction: a release intent
    /// (audited `release_request`), carried out by the worker.
    pub async fn confirm_receipt(
        &self,
        caller: &Caller,
        id: &TransactionId,
    ) -> Result<IntentView, MarketError> {
        self.request(
            caller,
            id,
            TransactionAction::ConfirmReceipt,
            IntentKind::Release,
        )
        .await
    }

    /// The store (managers and up) or staff cancel before shipping: a cancel intent
    /// (audited `cancel_request`), carried out by the worker, which also returns the
    /// stock.
    pub async fn request_cancel(
        &self,
        caller: &Caller,
        id: &TransactionId,
    ) -> Result<IntentView, MarketError> {
        self.request(caller, id, TransactionAction::Cancel, IntentKind::Cancel)
            .await
    }
}

impl Marketplace {
    /// The page of `limit` rows (one more was read to know whether another page
    /// follows), each with its item's title.
    async fn page_of(
        &self,
        mut rows: Vec<EscrowView>,
        limit: i64,
    ) -> Result<TransactionPage, MarketError> {
        let more = rows.len() as i64 > limit;
        rows.truncate(limit as usize);
        let next = if more {
            rows.last().map(|t| {
                TxnCursor(After {
                    created_at: t.created_at,
                    id: t.id.clone(),
                })
            })
        } else {
            None
        };
        let titles = self
            .titles(rows.iter().map(|t| t.item.as_str()).collect())
            .await?;
        let transactions = rows
            .into_iter()
            .map(|escrow| TransactionLine {
                item_title: titles
                    .get(escrow.item.as_str())
                    .cloned()
                    .unwrap_or_default(),
                escrow,
            })
            .collect();
        Ok(TransactionPage { transactions, next })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn cursors_round_trip_and_pages_are_bounded() {
        let c = TxnCursor(After {
            created_at: 1_700_000_000_000,
            id: TransactionId::generate(),
        });
        assert_eq!(TxnCursor::decode(&c.encode()), Some(c));
        assert_eq!(TxnCursor::decode("x"), None);
        assert!(PageQuery::parse(Some(0), None).is_err());
        assert!(PageQuery::parse(Some(101), None).is_err());
        assert!(PageQuery::parse(None, Some("nope")).is_err());
        assert_eq!(PageQuery::parse(None, None).unwrap().limit, LIMIT_DEFAULT);
    }
}
