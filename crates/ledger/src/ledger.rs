//! The `Ledger` service: creates escrow transactions and applies events, each as one
//! database transaction holding the state change, its postings and its audit row.

use crate::escrow::{postings_for, Account, EscrowEvent, EscrowState, PostingError, Terms};
use crate::store::{self, LineRow, NewPosting, TxnRow};
use crate::TransitionError;
use rampart_audit::{self as audit, ActionType, NewAuditEntry, Target, TargetKind};
use rampart_db::{Db, DbError, Tx};
use rampart_kernel::ids::{ItemId, StoreId, TransactionId};
use rampart_kernel::money::MoneyError;
use rampart_kernel::{Clock, Currency, Money, UserId};
use std::sync::Arc;

/// What callers branch on.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// No such transaction.
    #[error("transaction not found")]
    NotFound,
    /// The event does not apply in the transaction's state.
    #[error(transparent)]
    Transition(#[from] TransitionError),
    /// A partial refund outside (0, amount) or in another currency.
    #[error("partial refund out of range")]
    BadRefund,
    /// Quantity, price or fee out of range.
    #[error("bad terms: {0}")]
    BadTerms(&'static str),
    /// Overflow or a currency mismatch.
    #[error(transparent)]
    Money(#[from] MoneyError),
    /// Another writer changed the transaction first (optimistic version check); retry.
    #[error("concurrent update")]
    Concurrent,
    /// Stored data does not parse (a bug or tampering).
    #[error("corrupt ledger data: {0}")]
    Corrupt(String),
    /// Another writer committed the same effect between this one's check and its
    /// insert (only inside [`Ledger::apply_in`]): roll back; the effect is applied
    /// and the transaction is in this state.
    #[error("effect applied concurrently")]
    EffectRace(EscrowState),
    /// A release or cancel was requested and waits for the worker: until it runs,
    /// no other event applies (a confirmed receipt cannot be followed by a dispute,
    /// a requested cancel by a shipment).
    #[error("a {} intent is pending", .0.as_str())]
    IntentPending(crate::intents::IntentKind),
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<PostingError> for LedgerError {
    fn from(e: PostingError) -> Self {
        match e {
            PostingError::Transition(t) => LedgerError::Transition(t),
            PostingError::BadRefund => LedgerError::BadRefund,
            PostingError::BadTerms => LedgerError::BadTerms("amount or fee"),
            PostingError::Money(m) => LedgerError::Money(m),
        }
    }
}

/// A purchase into escrow.
#[derive(Debug, Clone)]
pub struct NewEscrow {
    /// The buyer.
    pub buyer: UserId,
    /// The selling store.
    pub store: StoreId,
    /// The item bought.
    pub item: ItemId,
    /// How many (≥ 1).
    pub quantity: i64,
    /// Price of one (> 0).
    pub unit_price: Money,
    /// How long after shipping the escrow is released without a dispute (ms, from the
    /// store's setting at purchase; fixed on the transaction so a later change of the
    /// setting cannot shorten a buyer's window).
    pub release_after_ms: i64,
}

/// One line of an escrow transaction: an item, how many, at what price each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EscrowLine {
    /// The item bought.
    pub item: ItemId,
    /// How many (≥ 1).
    pub quantity: i64,
    /// Price of one (> 0), in the transaction's currency.
    pub unit_price: Money,
}

/// A purchase of several items of one store into one escrow transaction (a
/// checkout's share of one store).
#[derive(Debug, Clone)]
pub struct NewMultiEscrow {
    /// The buyer.
    pub buyer: UserId,
    /// The selling store.
    pub store: StoreId,
    /// The items (at least one; each item at most once; one currency).
    pub lines: Vec<EscrowLine>,
    /// As [`NewEscrow::release_after_ms`].
    pub release_after_ms: i64,
}

/// The most lines one transaction may carry.
pub const MAX_LINES: usize = 100;

/// An escrow transaction as callers see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EscrowView {
    /// Its ID.
    pub id: TransactionId,
    /// The buyer.
    pub buyer: UserId,
    /// The store.
    pub store: StoreId,
    /// The item (of several lines, the first; [`Ledger::lines`] gives them all).
    pub item: ItemId,
    /// Quantity (of the first line).
    pub quantity: i64,
    /// How many lines the transaction has (1 for a single-item purchase).
    pub line_count: i64,
    /// The amount paid into escrow (the sum of unit price × quantity over the lines).
    pub amount: Money,
    /// Returned to the buyer so far, by any event (partial refunds, a cancel after
    /// payment, a refund, a dispute's outcome); the escrow holds
    /// `amount − refunded` while the transaction holds money, and after a release
    /// that is what the seller was paid from.
    pub refunded: Money,
    /// The platform fee fixed at purchase, in basis points.
    pub fee_bps: u32,
    /// The state.
    pub state: EscrowState,
    /// Grows by one per state change.
    pub version: i64,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub updated_at: i64,
    /// The release period fixed at purchase (ms after shipping).
    pub release_after_ms: i64,
}

/// The outcome of [`Ledger::apply`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// The event was applied; the transaction is now in this state.
    Done(EscrowState),
    /// The effect had already been applied (a replay): nothing was written.
    Replay(EscrowState),
}

/// The ledger service.
#[derive(Debug, Clone)]
pub struct Ledger {
    db: Db,
    clock: Arc<dyn Clock>,
    fee_bps: u32,
}

pub(crate) fn parse_view(r: TxnRow) -> Result<EscrowView, LedgerError> {
    let currency = Currency::parse(&r.currency)
        .map_err(|_| LedgerError::Corrupt(format!("currency of {}", r.id)))?;
    let state = EscrowState::parse(&r.state)
        .ok_or_else(|| LedgerError::Corrupt(format!("state of {}", r.id)))?;
    let fee_bps =
        u32::try_from(r.fee_bps).map_err(|_| LedgerError::Corrupt(format!("fee of {}", r.id)))?;
    Ok(EscrowView {
        id: TransactionId::from_stored(r.id),
        buyer: UserId::from_stored(r.buyer_id),
        store: StoreId::from_stored(r.store_id),
        item: ItemId::from_stored(r.item_id),
        quantity: r.quantity,
        line_count: r.line_count,
        amount: Money::new(r.amount_minor, currency),
        refunded: Money::new(r.refunded_minor, currency),
        fee_bps,
        state,
        version: r.version,
        created_at: r.created_at,
        updated_at: r.updated_at,
        release_after_ms: r.release_after_ms,
    })
}

/// The stored lines as [`EscrowLine`]s; a transaction from before lines were
/// stored has none and is its one item.
fn lines_of(view: &EscrowView, rows: Vec<LineRow>) -> Vec<EscrowLine> {
    if rows.is_empty() {
        let unit = view.amount.minor / view.quantity.max(1);
        return vec![EscrowLine {
            item: view.item.clone(),
            quantity: view.quantity,
            unit_price: Money::new(unit, view.amount.currency),
        }];
    }
    rows.into_iter()
        .map(|r| EscrowLine {
            item: ItemId::from_stored(r.item_id),
            quantity: r.quantity,
            unit_price: Money::new(r.unit_price_minor, view.amount.currency),
        })
        .collect()
}

/// The audit action recording an event.
fn action(event: EscrowEvent) -> ActionType {
    match event {
        EscrowEvent::Fund => ActionType::EscrowFund,
        EscrowEvent::Ship => ActionType::EscrowShip,
        EscrowEvent::Release => ActionType::EscrowRelease,
        EscrowEvent::Cancel => ActionType::EscrowCancel,
        EscrowEvent::OpenDispute => ActionType::DisputeOpen,
        EscrowEvent::ResolveRelease => ActionType::DisputeResolve,
        EscrowEvent::ResolveRefund => ActionType::Refund,
        EscrowEvent::ResolvePartial { .. } => ActionType::DisputePartialRefund,
        EscrowEvent::PartialRefund { .. } | EscrowEvent::Refund => ActionType::Refund,
    }
}

impl EscrowView {
    /// What the escrow holds for this transaction while it holds money (or will
    /// hold once funded): the amount less what went back; after an outcome, what
    /// was released to the seller (0 when everything went back).
    pub fn held(&self) -> Money {
        Money::new(
            self.amount.minor.saturating_sub(self.refunded.minor),
            self.amount.currency,
        )
    }
}

/// The longest release period a transaction may carry (a year).
pub const MAX_RELEASE_AFTER_MS: i64 = 365 * 24 * 3_600_000;

/// The effect key of `event` on a transaction: unique in `ledger_entries`.
pub fn effect_key(transaction: &TransactionId, event: EscrowEvent) -> String {
    match event {
        EscrowEvent::PartialRefund { seq, .. } => {
            format!("{}:{}:{seq}", transaction.as_str(), event.name())
        }
        _ => format!("{}:{}", transaction.as_str(), event.name()),
    }
}

impl Ledger {
    /// A ledger charging `fee_bps` basis points (0..=10 000) on new transactions.
    pub fn new(db: Db, clock: Arc<dyn Clock>, fee_bps: u32) -> Result<Ledger, LedgerError> {
        if fee_bps > 10_000 {
            return Err(LedgerError::BadTerms("fee above 10 000 bps"));
        }
        Ok(Ledger { db, clock, fee_bps })
    }

    /// The fee charged on new transactions.
    pub fn fee_bps(&self) -> u32 {
        self.fee_bps
    }

    pub(crate) fn db(&self) -> &Db {
        &self.db
    }

    pub(crate) fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Creates an escrow transaction in `pending_payment`, audited in the same
    /// database transaction.
    pub async fn create(
        &self,
        new: NewEscrow,
        actor: Option<&UserId>,
        request_id: Option<&str>,
    ) -> Result<EscrowView, LedgerError> {
        let mut tx = self.db.begin().await?;
        let view = self.create_in(&mut tx, new, actor, request_id).await?;
        tx.commit().await?;
        Ok(view)
    }

    /// [`Ledger::create`] inside the caller's database transaction (so a purchase
    /// reserves stock and opens the escrow atomically). Does not commit.
    pub async fn create_in(
        &self,
        tx: &mut Tx,
        new: NewEscrow,
        actor: Option<&UserId>,
        request_id: Option<&str>,
    ) -> Result<EscrowView, LedgerError> {
        let multi = NewMultiEscrow {
            buyer: new.buyer,
            store: new.store,
            lines: vec![EscrowLine {
                item: new.item,
                quantity: new.quantity,
                unit_price: new.unit_price,
            }],
            release_after_ms: new.release_after_ms,
        };
        self.create_multi_in(tx, multi, actor, request_id).await
    }

    /// Creates one escrow transaction for several items of one store, in
    /// `pending_payment`, inside the caller's database transaction, audited with
    /// its lines. The amount is the sum of the lines. Does not commit.
    pub async fn create_multi_in(
        &self,
        tx: &mut Tx,
        new: NewMultiEscrow,
        actor: Option<&UserId>,
        request_id: Option<&str>,
    ) -> Result<EscrowView, LedgerError> {
        let first = new.lines.first().ok_or(LedgerError::BadTerms("no lines"))?;
        if new.lines.len() > MAX_LINES {
            return Err(LedgerError::BadTerms("too many lines"));
        }
        let currency = first.unit_price.currency;
        let mut amount = Money::zero(currency);
        for (i, l) in new.lines.iter().enumerate() {
            if l.quantity < 1 {
                return Err(LedgerError::BadTerms("quantity"));
            }
            if l.unit_price.minor <= 0 {
                return Err(LedgerError::BadTerms("price"));
            }
            if new.lines[..i].iter().any(|o| o.item == l.item) {
                return Err(LedgerError::BadTerms("an item twice"));
            }
            // A line in another currency fails here (MoneyError::CurrencyMismatch).
            amount = amount.checked_add(l.unit_price.checked_mul(l.quantity)?)?;
        }
        if !(0..=MAX_RELEASE_AFTER_MS).contains(&new.release_after_ms) {
            return Err(LedgerError::BadTerms("release period"));
        }
        let now = self.clock.now_ms();
        let id = TransactionId::generate();
        let row = TxnRow {
            id: id.as_str().to_owned(),
            buyer_id: new.buyer.as_str().to_owned(),
            store_id: new.store.as_str().to_owned(),
            item_id: first.item.as_str().to_owned(),
            quantity: first.quantity,
            amount_minor: amount.minor,
            currency: amount.currency.as_str().to_owned(),
            fee_bps: i64::from(self.fee_bps),
            state: EscrowState::PendingPayment.as_str().to_owned(),
            version: 0,
            created_at: now,
            updated_at: now,
            release_after_ms: new.release_after_ms,
            refunded_minor: 0,
            line_count: i64::try_from(new.lines.len()).unwrap_or(i64::MAX),
        };
        store::insert_transaction(tx, &row).await?;
        let mut lines = Vec::with_capacity(new.lines.len());
        for (n, l) in new.lines.iter().enumerate() {
            let line = LineRow {
                line_no: i64::try_from(n).unwrap_or(i64::MAX),
                item_id: l.item.as_str().to_owned(),
                quantity: l.quantity,
                unit_price_minor: l.unit_price.minor,
            };
            store::insert_line(tx, &row.id, &line).await?;
            lines.push(serde_json::json!({
                "item": line.item_id,
                "quantity": line.quantity,
                "unit_price_minor": line.unit_price_minor,
            }));
        }
        let mut metadata = serde_json::json!({
            "buyer": row.buyer_id,
            "store": row.store_id,
            "item": row.item_id,
            "quantity": row.quantity,
            "amount_minor": row.amount_minor,
            "currency": row.currency,
            "fee_bps": row.fee_bps,
            "release_after_ms": row.release_after_ms,
        });
        if lines.len() > 1 {
            metadata["lines"] = serde_json::Value::Array(lines);
        }
        audit::record(
            tx,
            NewAuditEntry {
                actor_user_uuid: actor.map(UserId::as_str),
                action: ActionType::EscrowCreate,
                target: Target::new(TargetKind::Transaction, id.as_str()),
                metadata,
                request_id,
                created_at: now,
            },
        )
        .await?;
        parse_view(row)
    }

    /// The transaction, its row locked for the rest of the caller's database
    /// transaction (PostgreSQL `FOR UPDATE`; SQLite's writer is already alone), so
    /// a caller that must lock other rows too (stock) takes this one first, in the
    /// order every other writer of the transaction does.
    pub async fn lock_in(
        &self,
        tx: &mut Tx,
        id: &TransactionId,
    ) -> Result<EscrowView, LedgerError> {
        let row = store::lock_transaction(tx, id.as_str())
            .await?
            .ok_or(LedgerError::NotFound)?;
        parse_view(row)
    }

    /// A transaction's lines, in the order they were bought.
    pub async fn lines(&self, id: &TransactionId) -> Result<Vec<EscrowLine>, LedgerError> {
        let view = self.get(id).await?.ok_or(LedgerError::NotFound)?;
        let rows = store::lines(&self.db, id.as_str()).await?;
        Ok(lines_of(&view, rows))
    }

    /// [`Ledger::lines`] inside the caller's database transaction.
    pub async fn lines_in(
        &self,
        tx: &mut Tx,
        view: &EscrowView,
    ) -> Result<Vec<EscrowLine>, LedgerError> {
        let rows = store::lines(&mut *tx, view.id.as_str()).await?;
        Ok(lines_of(view, rows))
    }

    /// The transaction, if it exists.
    pub async fn get(&self, id: &TransactionId) -> Result<Option<EscrowView>, LedgerError> {
        store::transaction(&self.db, id.as_str())
            .await?
            .map(parse_view)
            .transpose()
    }

    /// Applies `event` to a transaction: in one database transaction, locks the row,
    /// moves the state (version-checked), writes the balanced posting set under the
    /// effect key `{transaction}:{event}`, and writes the audit row. Applying an
    /// effect that was already applied writes nothing and answers [`Applied::Replay`].
    pub async fn apply(
        &self,
        id: &TransactionId,
        event: EscrowEvent,
        actor: Option<&UserId>,
        request_id: Option<&str>,
    ) -> Result<Applied, LedgerError> {
        let mut tx = self.db.begin().await?;
        match self.apply_in(&mut tx, id, event, actor, request_id).await {
            Ok(Applied::Done(s)) => {
                tx.commit().await?;
                Ok(Applied::Done(s))
            }
            Ok(Applied::Replay(s)) => {
                tx.rollback().await?;
                Ok(Applied::Replay(s))
            }
            // The same effect committed by another writer between our check and
            // insert: a replay.
            Err(LedgerError::EffectRace(s)) => {
                tx.rollback().await?;
                Ok(Applied::Replay(s))
            }
            Err(e) => Err(e),
        }
    }

    /// [`Ledger::apply`] inside the caller's database transaction (so the worker
    /// marks an intent done, or a dispute is resolved, in the same commit as the
    /// postings). Does not commit. On [`Applied::Replay`] nothing was written; on
    /// [`LedgerError::EffectRace`] the caller must roll back (PostgreSQL has
    /// aborted the transaction) and treat the effect as applied.
    pub async fn apply_in(
        &self,
        tx: &mut Tx,
        id: &TransactionId,
        event: EscrowEvent,
        actor: Option<&UserId>,
        request_id: Option<&str>,
    ) -> Result<Applied, LedgerError> {
        let key = effect_key(id, event);
        let row = store::lock_transaction(tx, id.as_str())
            .await?
            .ok_or(LedgerError::NotFound)?;
        let view = parse_view(row)?;
        if store::effect_exists(tx, &key).await? {
            return Ok(Applied::Replay(view.state));
        }
        // A pending intent holds the transaction for the worker: only its own event
        // (the worker carrying it out) applies.
        if let Some(kind) = store::pending_intent_kind(tx, id.as_str()).await? {
            match crate::intents::IntentKind::parse(&kind) {
                Some(k) if k.event() == event => {}
                Some(k) => return Err(LedgerError::IntentPending(k)),
                None => return Err(LedgerError::Corrupt(format!("intent kind on {id}"))),
            }
        }
        // Every event acts on what is held: the amount less earlier partial refunds
        // (before funding nothing was refunded, so the whole amount is funded).
        let terms = Terms {
            transaction: view.id.as_str().to_owned(),
            buyer: view.buyer.as_str().to_owned(),
            store: view.store.as_str().to_owned(),
            amount: view.held(),
            fee_bps: view.fee_bps,
        };
        let (next, legs) = postings_for(&terms, view.state, event)?;
        // Everything the buyer gets back, by any event, adds to the row's total.
        let refunded: i64 = legs
            .iter()
            .filter(|l| l.account.kind == crate::escrow::AccountKind::BuyerRefund)
            .map(|l| l.amount.minor)
            .sum();
        let now = self.clock.now_ms();
        if !store::update_state(tx, id.as_str(), next.as_str(), view.version, refunded, now).await?
        {
            return Err(LedgerError::Concurrent);
        }
        let entry_id = uuid::Uuid::now_v7().to_string();
        match store::insert_entry(tx, &entry_id, &key, id.as_str(), event.name(), now).await {
            Ok(()) => {}
            // Another writer applied the same effect between our check and insert.
            Err(DbError::Conflict(_)) => return Err(LedgerError::EffectRace(next)),
            Err(e) => return Err(e.into()),
        }
        let mut written = Vec::with_capacity(legs.len());
        for leg in &legs {
            let currency = leg.amount.currency.as_str();
            let account_id = store::account_id(
                tx,
                leg.account.kind.as_str(),
                &leg.account.owner,
                currency,
                now,
            )
            .await?;
            store::insert_posting(
                tx,
                &NewPosting {
                    entry_id: &entry_id,
                    account_id: &account_id,
                    transaction_id: id.as_str(),
                    amount_minor: leg.amount.minor,
                    currency,
                    created_at: now,
                },
            )
            .await?;
            written.push(serde_json::json!({
                "account": leg.account.kind.as_str(),
                "owner": leg.account.owner,
                "amount_minor": leg.amount.minor,
                "currency": currency,
            }));
        }
        let mut metadata = serde_json::json!({
            "old_state": view.state.as_str(),
            "new_state": next.as_str(),
            "event": event.name(),
            "effect_key": key,
            "entry_id": entry_id,
            "postings": written,
        });
        match event {
            EscrowEvent::ResolvePartial { refund } => {
                metadata["refund_minor"] = serde_json::json!(refund.minor);
            }
            EscrowEvent::PartialRefund { refund, seq } => {
                metadata["refund_minor"] = serde_json::json!(refund.minor);
                metadata["refund_seq"] = serde_json::json!(seq);
                metadata["old_refunded_minor"] = serde_json::json!(view.refunded.minor);
                metadata["new_refunded_minor"] =
                    serde_json::json!(view.refunded.minor + refund.minor);
            }
            _ => {}
        }
        audit::record(
            tx,
            NewAuditEntry {
                actor_user_uuid: actor.map(UserId::as_str),
                action: action(event),
                target: Target::new(TargetKind::Transaction, id.as_str()),
                metadata,
                request_id,
                created_at: now,
            },
        )
        .await?;
        Ok(Applied::Done(next))
    }

    /// The balance of an account: the sum of its postings (zero if it has none).
    pub async fn balance(
        &self,
        account: &Account,
        currency: Currency,
    ) -> Result<Money, LedgerError> {
        let Some(id) = store::find_account(
            &self.db,
            account.kind.as_str(),
            &account.owner,
            currency.as_str(),
        )
        .await?
        else {
            return Ok(Money::zero(currency));
        };
        Ok(Money::new(store::balance(&self.db, &id).await?, currency))
    }

    /// How many postings a transaction has (for tests of exactly-once effects).
    pub async fn posting_count(&self, id: &TransactionId) -> Result<i64, LedgerError> {
        Ok(store::posting_count(&self.db, id.as_str()).await?)
    }
}

/// An applied effect that returned money to a buyer: a cancel after payment, a
/// dispute resolved (wholly or partly) for the buyer, a partial refund, a refund
/// after shipping. What the ledger moved must also move at the payment provider
/// when the transaction was paid there (the checkout context settles it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundEffect {
    /// The entry.
    pub entry_id: String,
    /// Its effect key (unique per applied effect).
    pub effect_key: String,
    /// The transaction.
    pub transaction: TransactionId,
    /// What went to the buyer.
    pub amount: Money,
    /// Unix ms (the ledger clock).
    pub created_at: i64,
}

impl Ledger {
    /// Effects that returned money to buyers, applied at or after `since` (ms),
    /// oldest first, at most `limit`.
    pub async fn refund_effects_since(
        &self,
        since: i64,
        limit: i64,
    ) -> Result<Vec<RefundEffect>, LedgerError> {
        store::refund_effects_since(&self.db, since, limit.clamp(1, 1_000))
            .await?
            .into_iter()
            .map(
                |(entry_id, effect_key, txn, amount, currency, created_at)| {
                    let currency = Currency::parse(&currency).map_err(|_| {
                        LedgerError::Corrupt(format!("currency of entry {entry_id}"))
                    })?;
                    Ok(RefundEffect {
                        entry_id,
                        effect_key,
                        transaction: TransactionId::from_stored(txn),
                        amount: Money::new(amount, currency),
                        created_at,
                    })
                },
            )
            .collect()
    }
}
