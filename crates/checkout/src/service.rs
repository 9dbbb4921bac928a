//! The `Checkout` service: carts (E1), the rules at payment time (E4), payment
//! intents owned by one cart and customer (E2), completion exactly once — from the
//! client's call or a webhook alike — into an order whose money is held in escrow
//! and funded on the ledger (E5), refunds by staff, and the webhook inbox (E3).
//! Design: `docs/design/checkout.md`.

use std::collections::HashMap;
use std::sync::Arc;

use rampart_audit::{self as audit, ActionType, NewAuditEntry, Target, TargetKind};
use rampart_db::{Db, DbError, Tx};
use rampart_kernel::ids::{CartId, ItemId, OrderId, StoreId, TransactionId};
use rampart_kernel::{Clock, Currency, FieldError, FieldErrors, Money, UserId};
use rampart_ledger::{
    effect_key, Applied, EscrowEvent, EscrowLine, EscrowState, Ledger, LedgerError, NewMultiEscrow,
};
use rampart_marketplace::checkout_facts::{self, ItemFacts};
use serde::{Deserialize, Serialize};

use crate::cart::{Cart, CartError, CartLimits, CartLine, CartOwner, Quantity};
use crate::inbox;
use crate::notices::{self, CartNotice, NoticeKind};
use crate::payment::{
    verify_completion, AnyProvider, CompletionError, IdempotencyKey, IntentId, IntentOwner,
    IntentStatus, PaymentProvider, ProviderError, ProviderIntent, ProviderKind,
};
use crate::rules::{
    self, Address, CheckoutDraft, Country, CustomerProfile, CustomerType, DraftLine, RuleViolation,
    Rules, StoreOrder,
};
use crate::store::{self, CartRow, IntentRow, LineRow, OrderLineRow, OrderRow};
use crate::webhook::{EventKind, PaymentEvent};

/// What callers branch on; each has a stable code for the web edge.
#[derive(Debug, thiserror::Error)]
pub enum CheckoutError {
    /// No such cart or order — or not the caller's (never says which).
    #[error("not found")]
    NotFound,
    /// The client's version is not the cart's.
    #[error("cart version conflict (now {current})")]
    VersionConflict {
        /// The cart's version now.
        current: i64,
    },
    /// A cart rule (quantity, lines, currency).
    #[error(transparent)]
    Cart(#[from] CartError),
    /// The item is not for sale (draft, archived, store suspended) or unknown.
    #[error("item not available")]
    ItemUnavailable,
    /// Not enough stock.
    #[error("out of stock")]
    OutOfStock,
    /// The cart was completed (or merged) and no longer changes.
    #[error("cart closed")]
    CartClosed,
    /// A payment for the cart has gone through (or is under way): the cart no longer
    /// changes and no second intent is made; complete the cart with it.
    #[error("cart payment in progress")]
    PaymentInProgress,
    /// Catalog prices changed since the lines were set; the cart now has the current
    /// prices (re-read it).
    #[error("cart prices changed")]
    PricesChanged,
    /// Business rules refused the checkout (every violation).
    #[error("checkout rules violated")]
    Rules(Vec<RuleViolation>),
    /// Malformed input.
    #[error("validation failed")]
    Validation(FieldErrors),
    /// The intent does not complete this checkout.
    #[error(transparent)]
    Completion(#[from] CompletionError),
    /// The provider refused or failed.
    #[error(transparent)]
    Provider(#[from] ProviderError),
    /// The intent was refunded (it could not complete the cart: stock, prices, rules,
    /// amount) and never completes; a new intent pays for the cart.
    #[error("payment refunded")]
    PaymentRefunded,
    /// Completion without any payment intent for the cart.
    #[error("no payment intent")]
    NoIntent,
    /// Paying needs a signed-in customer.
    #[error("sign in required")]
    SignInRequired,
    /// A member of the selling store putting its item in their cart.
    #[error("own store purchase")]
    OwnStorePurchase,
    /// A refund of nothing, or of more than is left.
    #[error("refund amount invalid")]
    RefundAmount,
    /// The escrow transaction's state does not admit the refund.
    #[error("invalid transition from {0}")]
    InvalidState(&'static str),
    /// Stored data does not parse.
    #[error("corrupt: {0}")]
    Corrupt(String),
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

impl CheckoutError {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound => "not_found",
            Self::VersionConflict { .. } => "cart_version_conflict",
            Self::Cart(e) => e.code(),
            Self::ItemUnavailable => "item_unavailable",
            Self::OutOfStock => "out_of_stock",
            Self::CartClosed => "cart_closed",
            Self::PaymentInProgress => "cart_payment_in_progress",
            Self::PricesChanged => "cart_prices_changed",
            Self::Rules(v) => v
                .first()
                .map(RuleViolation::code)
                .unwrap_or("checkout_rules"),
            Self::Validation(_) => "validation_failed",
            Self::Completion(c) => c.code(),
            Self::Provider(p) => p.code(),
            Self::PaymentRefunded => "payment_refunded",
            Self::NoIntent => "payment_intent_missing",
            Self::SignInRequired => "sign_in_required",
            Self::OwnStorePurchase => "own_store_purchase",
            Self::RefundAmount => "refund_amount_invalid",
            Self::InvalidState(_) => "invalid_transition",
            Self::Corrupt(_) | Self::Db(_) => "internal",
        }
    }
}

impl From<LedgerError> for CheckoutError {
    fn from(e: LedgerError) -> Self {
        match e {
            LedgerError::NotFound => CheckoutError::NotFound,
            LedgerError::Transition(t) => CheckoutError::InvalidState(t.from.as_str()),
            // A release or cancel waits for the worker: nothing else applies until then.
            LedgerError::IntentPending(k) => CheckoutError::InvalidState(match k {
                rampart_ledger::IntentKind::Release => "release_requested",
                rampart_ledger::IntentKind::Cancel => "cancel_requested",
            }),
            LedgerError::BadRefund => CheckoutError::RefundAmount,
            LedgerError::Db(d) => CheckoutError::Db(d),
            other => CheckoutError::Corrupt(other.to_string()),
        }
    }
}

type Res<T> = Result<T, CheckoutError>;

/// How often the worker tries an unfinished webhook delivery before giving up on it.
pub const INBOX_MAX_ATTEMPTS: i64 = 10;

fn corrupt(what: &str) -> CheckoutError {
    CheckoutError::Corrupt(what.to_owned())
}

fn currency(s: &str) -> Res<Currency> {
    Currency::parse(s).map_err(|_| corrupt("currency"))
}

/// Who is calling: a signed-in customer, a visitor holding a cart cookie (by the
/// cookie's hash), or both (a customer who shopped before signing in).
#[derive(Debug, Clone, Default)]
pub struct Shopper {
    /// The signed-in customer.
    pub user: Option<UserId>,
    /// SHA-256 hex of the visitor's cart cookie.
    pub visitor: Option<String>,
    /// For audit rows.
    pub request_id: Option<String>,
}

/// What the rules need to know of the customer's account (from identity).
#[derive(Debug, Clone, Copy, Default)]
pub struct AccountFacts {
    /// The e-mail address is verified.
    pub email_verified: bool,
    /// Whole days since the account was created.
    pub account_age_days: u32,
}

/// Where the completion reads the buyer's account facts now (identity's; wired by the
/// binary, since this context does not depend on identity). A payment can succeed
/// long after the intent was made, so eligibility is decided again at completion.
pub trait AccountSource: Send + Sync + std::fmt::Debug {
    /// The facts of `user`'s account; `None` when there is no such account.
    fn facts<'a>(
        &'a self,
        user: &'a UserId,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Option<AccountFacts>, String>> + Send + 'a>,
    >;
}

/// A postal address as stored with a cart.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressData {
    /// Recipient or company.
    pub name: String,
    /// Street.
    pub line1: String,
    /// Further line.
    #[serde(default)]
    pub line2: String,
    /// Postal code.
    pub postal_code: String,
    /// City.
    pub city: String,
    /// ISO 3166-1 alpha-2.
    pub country: String,
}

impl AddressData {
    fn to_rules(&self) -> Address {
        Address {
            name: self.name.clone(),
            line1: self.line1.clone(),
            line2: self.line2.clone(),
            postal_code: self.postal_code.clone(),
            city: self.city.clone(),
            country: Country::parse(&self.country).ok(),
        }
    }

    /// Checks lengths and the country code; `prefix` names the fields.
    pub fn validate(&self, prefix: &str, errs: &mut FieldErrors) {
        let fields = [
            ("name", &self.name, 200),
            ("line1", &self.line1, 200),
            ("line2", &self.line2, 200),
            ("postal_code", &self.postal_code, 20),
            ("city", &self.city, 100),
        ];
        for (name, v, max) in fields {
            if v.chars().count() > max || v.chars().any(char::is_control) {
                errs.push(FieldError::new(format!("{prefix}.{name}"), "invalid_value"));
            }
        }
        if !self.country.is_empty() && Country::parse(&self.country).is_err() {
            errs.push(FieldError::new(
                format!("{prefix}.country"),
                "invalid_value",
            ));
        }
    }
}

/// The buyer's details and addresses for a cart.
#[derive(Debug, Clone, Default)]
pub struct CartDetails {
    /// Consumer or business.
    pub customer_type: Option<CustomerType>,
    /// Company name (business).
    pub company_name: Option<String>,
    /// VAT ID (business).
    pub vat_id: Option<String>,
    /// Billing address.
    pub billing_address: Option<AddressData>,
    /// Shipping address.
    pub shipping_address: Option<AddressData>,
}

/// One line as callers see it.
#[derive(Debug, Clone)]
pub struct LineView {
    /// The item.
    pub item: ItemId,
    /// Its store.
    pub store: StoreId,
    /// Its title.
    pub title: String,
    /// Units.
    pub quantity: u32,
    /// Price of one.
    pub unit_price: Money,
    /// Price × quantity.
    pub total: Money,
}

/// A cart as callers see it.
#[derive(Debug, Clone)]
pub struct CartView {
    /// The cart.
    pub id: CartId,
    /// The customer, when it belongs to one.
    pub customer: Option<UserId>,
    /// `open`, `completed` or `merged`.
    pub status: String,
    /// Grows with every change; send it back to update.
    pub version: i64,
    /// The lines.
    pub lines: Vec<LineView>,
    /// Sum of the lines (none while empty).
    pub total: Option<Money>,
    /// Consumer or business.
    pub customer_type: CustomerType,
    /// Company name.
    pub company_name: Option<String>,
    /// VAT ID.
    pub vat_id: Option<String>,
    /// Billing address.
    pub billing_address: Option<AddressData>,
    /// Shipping address.
    pub shipping_address: Option<AddressData>,
    /// The chosen shipping method.
    pub shipping_method: Option<String>,
    /// The methods that can carry this cart now.
    pub shipping_methods: Vec<String>,
    /// What the merge at login did to the cart's lines (dropped, capped), shown
    /// until the cart next changes.
    pub notices: Vec<CartNotice>,
}

/// A payment intent as the paying client needs it.
#[derive(Debug, Clone)]
pub struct IntentView {
    /// The provider.
    pub provider: ProviderKind,
    /// The provider's intent ID.
    pub id: IntentId,
    /// Its state.
    pub status: IntentStatus,
    /// Amount and currency.
    pub amount: Money,
    /// For the client's confirmation step (only to the paying customer).
    pub client_secret: Option<String>,
}

/// One order line with its escrow transaction.
#[derive(Debug, Clone)]
pub struct OrderLineView {
    /// The item.
    pub item: ItemId,
    /// The store.
    pub store: StoreId,
    /// Units.
    pub quantity: i64,
    /// Price of one.
    pub unit_price: Money,
    /// The escrow transaction holding this line's money.
    pub transaction: TransactionId,
    /// Its state now.
    pub escrow_state: Option<EscrowState>,
}

/// An order as callers see it.
#[derive(Debug, Clone)]
pub struct OrderView {
    /// The order.
    pub id: OrderId,
    /// The cart it came from.
    pub cart: CartId,
    /// The buyer.
    pub buyer: UserId,
    /// Amount paid.
    pub amount: Money,
    /// Refunded so far.
    pub refunded: Money,
    /// `paid`, `partially_refunded`, `refunded`.
    pub status: String,
    /// The provider's intent.
    pub payment_intent: String,
    /// The masked card, `brand ••••last4`.
    pub card: Option<(String, String)>,
    /// Lines.
    pub lines: Vec<OrderLineView>,
    /// Refunds, in order.
    pub refunds: Vec<RefundView>,
    /// Unix ms.
    pub created_at: i64,
}

/// One refund of an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundView {
    /// Its number in the order (1, 2, …).
    pub sequence: i64,
    /// How much.
    pub amount: Money,
    /// `pending` (decided, not paid at the provider yet), `succeeded`, `failed`.
    pub status: String,
    /// The provider's refund ID once paid.
    pub provider_refund: Option<String>,
    /// Why the provider has not paid it (its error code), while pending or failed.
    pub last_error: Option<String>,
    /// Unix ms.
    pub created_at: i64,
}

/// How a completion ended.
#[derive(Debug, Clone)]
pub enum Completed {
    /// This call created the order.
    Created(OrderView),
    /// The order existed already (a replay, or the other path was first).
    Existing(OrderView),
}

impl Completed {
    /// The order either way.
    pub fn order(self) -> OrderView {
        match self {
            Completed::Created(o) | Completed::Existing(o) => o,
        }
    }
}

/// How long the refund route waits for the provider before answering that the
/// refund is pending.
const INLINE_REFUND_PAYMENT: std::time::Duration = std::time::Duration::from_secs(10);

/// What one [`Checkout::settle_refunds`] run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settlement {
    /// Refund effects looked at.
    pub seen: usize,
    /// Refunded at the provider now.
    pub settled: usize,
    /// The newest effect looked at (ms), if any.
    pub latest: Option<i64>,
    /// The oldest effect that failed (ms): the next run must look from there.
    pub failed_since: Option<i64>,
}

/// What a webhook delivery did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookOutcome {
    /// Seen before: acknowledged, nothing done.
    Duplicate,
    /// Recorded; `outcome` says what happened (`completed`, `already_completed`,
    /// `status_updated`, `ignored`, an error code…).
    Processed(String),
}

/// The checkout service.
#[derive(Debug)]
pub struct Checkout {
    db: Db,
    clock: Arc<dyn Clock>,
    ledger: Ledger,
    provider: Arc<AnyProvider>,
    rules: Arc<Rules>,
    limits: CartLimits,
    accounts: Option<Arc<dyn AccountSource>>,
    /// What carts show of their items, between requests (the add-line path).
    shown: checkout_facts::FactsCache,
}

fn permissive() -> CartLimits {
    CartLimits {
        max_quantity: u32::MAX,
        max_lines: usize::MAX,
    }
}

fn may_access(row: &CartRow, who: &Shopper) -> bool {
    let by_user = row.owner_user_id.is_some()
        && row.owner_user_id.as_deref() == who.user.as_ref().map(UserId::as_str);
    let by_visitor =
        row.anon_token_hash.is_some() && row.anon_token_hash.as_deref() == who.visitor.as_deref();
    by_user || by_visitor
}

fn cart_of(row: &CartRow, lines: &[LineRow]) -> Res<Cart> {
    let owner = match (&row.owner_user_id, &row.anon_token_hash) {
        (Some(u), _) => CartOwner::Customer(UserId::from_stored(u.clone())),
        (None, Some(h)) => CartOwner::Visitor(h.clone()),
        _ => return Err(corrupt("cart owner")),
    };
    let lines = lines
        .iter()
        .map(|l| {
            Ok(CartLine {
                item: ItemId::from_stored(l.item_id.clone()),
                store: StoreId::from_stored(l.store_id.clone()),
                unit_price: Money::new(l.unit_price_minor, currency(&l.currency)?),
                quantity: Quantity::parse(l.quantity, &permissive())
                    .map_err(|_| corrupt("quantity"))?,
            })
        })
        .collect::<Res<Vec<_>>>()?;
    Ok(Cart::from_parts(
        CartId::from_stored(row.id.clone()),
        owner,
        lines,
    ))
}

fn rows_of(cart: &Cart) -> Vec<LineRow> {
    cart.lines()
        .iter()
        .map(|l| LineRow {
            item_id: l.item.as_str().to_owned(),
            store_id: l.store.as_str().to_owned(),
            quantity: i64::from(l.quantity.get()),
            unit_price_minor: l.unit_price.minor,
            currency: l.unit_price.currency.as_str().to_owned(),
        })
        .collect()
}

fn address(s: &Option<String>) -> Option<AddressData> {
    s.as_deref().and_then(|s| serde_json::from_str(s).ok())
}

fn customer_type(s: &str) -> CustomerType {
    if s == "business" {
        CustomerType::Business
    } else {
        CustomerType::Consumer
    }
}

/// How often [`Checkout::add_line`] tries without a lock before it takes the cart's
/// row lock: a cart changed between the read and the write is read again.
const OPTIMISTIC_TRIES: usize = 3;

/// One optimistic try of adding a line.
enum Added {
    /// Written; the cart as it now is.
    Done(Box<CartView>),
    /// The cart moved on between the read and the write: nothing written.
    Raced,
    /// The cart's live intent needs the provider's word first: nothing written.
    AskProvider,
}

/// What adding a line decides on.
struct AddRead {
    /// The cart (at its version before the change) and its newest live intent.
    cart: store::BumpedCart,
    lines: Vec<LineRow>,
    facts: HashMap<String, ItemFacts>,
    /// The shopper is a member of the new item's store.
    own_store: bool,
}

/// An intent in one of these states has been (or is being) paid: its cart is frozen.
fn paying(s: IntentStatus) -> bool {
    matches!(
        s,
        IntentStatus::Succeeded | IntentStatus::Processing | IntentStatus::RequiresCapture
    )
}

/// An item can go into a cart: for sale and priced above zero (escrow holds positive
/// amounts only).
fn sellable(f: &ItemFacts) -> bool {
    f.for_sale && f.price_minor > 0
}

impl Checkout {
    /// The service.
    pub fn new(
        db: Db,
        clock: Arc<dyn Clock>,
        ledger: Ledger,
        provider: Arc<AnyProvider>,
        rules: Arc<Rules>,
        limits: CartLimits,
    ) -> Self {
        Self {
            db,
            clock,
            ledger,
            provider,
            rules,
            limits,
            accounts: None,
            shown: checkout_facts::FactsCache::new(),
        }
    }

    /// Reads the buyer's account facts at completion from `source`, so the rules
    /// that depend on them (subscription eligibility) are checked again there.
    /// Without a source those rules are checked only when the intent is made.
    pub fn with_accounts(mut self, source: Arc<dyn AccountSource>) -> Self {
        self.accounts = Some(source);
        self
    }

    /// The payment provider (the sandbox's test hooks reach it through here).
    pub fn provider(&self) -> &AnyProvider {
        &self.provider
    }

    /// The cart limits.
    pub fn limits(&self) -> CartLimits {
        self.limits
    }

    fn now(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Creates an empty cart for the customer, or for the visitor whose cookie hashes
    /// to `visitor_hash` (exactly one of them).
    pub async fn create_cart(
        &self,
        user: Option<&UserId>,
        visitor_hash: Option<&str>,
    ) -> Res<CartView> {
        let now = self.now();
        let row = CartRow {
            id: CartId::generate().into_string(),
            owner_user_id: user.map(|u| u.as_str().to_owned()),
            anon_token_hash: if user.is_some() {
                None
            } else {
                visitor_hash.map(str::to_owned)
            },
            status: "open".into(),
            version: 0,
            customer_type: "consumer".into(),
            company_name: None,
            vat_id: None,
            billing_address: None,
            shipping_address: None,
            shipping_method: None,
            created_at: now,
            updated_at: now,
        };
        if row.owner_user_id.is_none() && row.anon_token_hash.is_none() {
            return Err(CheckoutError::SignInRequired);
        }
        store::create_cart(&self.db, &row).await?;
        self.view_with(&row, &[], &HashMap::new())
    }

    /// A cart the caller may see.
    pub async fn cart(&self, who: &Shopper, id: &CartId) -> Res<CartView> {
        let row = store::cart(&self.db, id.as_str())
            .await?
            .filter(|r| may_access(r, who))
            .ok_or(CheckoutError::NotFound)?;
        let lines = store::lines(&self.db, id.as_str()).await?;
        let mut view = self.view(&row, &lines).await?;
        view.notices = notices::current(&self.db, id.as_str(), row.version).await?;
        Ok(view)
    }

    async fn view(&self, row: &CartRow, lines: &[LineRow]) -> Res<CartView> {
        let ids: Vec<&str> = lines.iter().map(|l| l.item_id.as_str()).collect();
        let facts: HashMap<String, ItemFacts> = checkout_facts::items(&self.db, &ids)
            .await?
            .into_iter()
            .map(|f| (f.id.clone(), f))
            .collect();
        self.view_with(row, lines, &facts)
    }

    /// The view of a cart from its row, lines and the catalog facts of (at least) its
    /// lines' items, without reading anything.
    fn view_with(
        &self,
        row: &CartRow,
        lines: &[LineRow],
        facts: &HashMap<String, ItemFacts>,
    ) -> Res<CartView> {
        let cart = cart_of(row, lines)?;
        let total = if cart.lines().is_empty() {
            None
        } else {
            Some(cart.total()?)
        };
        let line_views = cart
            .lines()
            .iter()
            .map(|l| {
                Ok(LineView {
                    title: facts
                        .get(l.item.as_str())
                        .map(|f| f.title.clone())
                        .unwrap_or_default(),
                    total: l.total()?,
                    item: l.item.clone(),
                    store: l.store.clone(),
                    quantity: l.quantity.get(),
                    unit_price: l.unit_price,
                })
            })
            .collect::<Res<Vec<_>>>()?;
        let shipping_methods = match total {
            Some(t) => {
                let draft = self.draft(row, &cart, t, facts, AccountFacts::default());
                rules::available_shipping_methods(&self.rules, &draft)
                    .into_iter()
                    .map(str::to_owned)
                    .collect()
            }
            None => self
                .rules
                .shipping_method_codes()
                .map(str::to_owned)
                .collect(),
        };
        Ok(CartView {
            id: CartId::from_stored(row.id.clone()),
            customer: row.owner_user_id.clone().map(UserId::from_stored),
            status: row.status.clone(),
            version: row.version,
            lines: line_views,
            total,
            customer_type: customer_type(&row.customer_type),
            company_name: row.company_name.clone(),
            vat_id: row.vat_id.clone(),
            billing_address: address(&row.billing_address),
            shipping_address: address(&row.shipping_address),
            shipping_method: row.shipping_method.clone(),
            shipping_methods,
            notices: Vec::new(),
        })
    }

    /// Changes a cart under its row lock: `change` edits the row and the lines; the
    /// version moves on by one. A client's `expected` version that is not the cart's
    /// is refused, so two clients never overwrite each other's change unseen.
    async fn mutate<F>(
        &self,
        who: &Shopper,
        id: &CartId,
        expected: Option<i64>,
        change: F,
    ) -> Res<CartView>
    where
        F: FnOnce(&mut CartRow, &mut Cart) -> Res<()>,
    {
        self.ensure_not_paying(who, id).await?;
        let mut tx = self.db.begin().await?;
        let mut row = store::lock_cart(&mut tx, id.as_str())
            .await?
            .filter(|r| may_access(r, who))
            .ok_or(CheckoutError::NotFound)?;
        if row.status != "open" {
            return Err(CheckoutError::CartClosed);
        }
        if expected.is_some_and(|v| v != row.version) {
            return Err(CheckoutError::VersionConflict {
                current: row.version,
            });
        }
        let lines = store::lines(&mut tx, id.as_str()).await?;
        let mut cart = cart_of(&row, &lines)?;
        change(&mut row, &mut cart)?;
        let now = self.now();
        if !store::update_cart(&mut tx, &row, row.version, now).await? {
            return Err(CheckoutError::VersionConflict {
                current: row.version + 1,
            });
        }
        let new_lines = rows_of(&cart);
        store::replace_lines(&mut tx, id.as_str(), &new_lines).await?;
        tx.commit().await?;
        row.version += 1;
        row.updated_at = now;
        self.view(&row, &new_lines).await
    }

    /// Refuses when the cart's newest live intent has been paid (or is being paid) at
    /// the provider: the cart is then frozen until it completes (or the intent is
    /// refunded because it cannot). An intent not yet paid does not freeze the cart:
    /// if it is paid after a change, completion refuses it and refunds it.
    /// Someone else's cart is 404 first; a closed cart is left to the caller.
    async fn ensure_not_paying(&self, who: &Shopper, id: &CartId) -> Res<()> {
        let cart = store::cart(&self.db, id.as_str())
            .await?
            .filter(|r| may_access(r, who))
            .ok_or(CheckoutError::NotFound)?;
        if cart.status != "open" {
            return Ok(());
        }
        if self.cart_paying(id.as_str()).await? {
            return Err(CheckoutError::PaymentInProgress);
        }
        Ok(())
    }

    /// Whether the cart's newest live intent is paid or being paid (stored state,
    /// else the provider's own record).
    async fn cart_paying(&self, cart: &str) -> Res<bool> {
        let Some(r) = store::live_intent_of_cart(&self.db, cart).await? else {
            return Ok(false);
        };
        if IntentStatus::parse(&r.status).is_some_and(paying) {
            return Ok(true);
        }
        if r.provider != self.provider.kind().as_str() {
            return Ok(false);
        }
        let pi = IntentId::parse(&r.provider_intent_id).map_err(|_| corrupt("intent id"))?;
        let now = self.provider.retrieve_intent(&pi).await?;
        Ok(paying(now.status))
    }

    async fn facts_of(
        &self,
        conn: impl Into<rampart_db::Conn<'_>>,
        cart: &Cart,
    ) -> Res<HashMap<String, ItemFacts>> {
        let ids: Vec<&str> = cart.lines().iter().map(|l| l.item.as_str()).collect();
        Ok(checkout_facts::items(conn, &ids)
            .await?
            .into_iter()
            .map(|f| (f.id.clone(), f))
            .collect())
    }

    /// The rules and the catalog now, for a cart about to be paid (at intent time
    /// and again inside the completion): every item still for sale at the line's
    /// price, and the business rules. Without `account` (no [`AccountSource`]) the
    /// rules on account facts are left to the intent-time check.
    fn recheck(
        &self,
        row: &CartRow,
        cart: &Cart,
        total: Money,
        facts: &HashMap<String, ItemFacts>,
        account: Option<AccountFacts>,
    ) -> Res<()> {
        for l in cart.lines() {
            let f = facts
                .get(l.item.as_str())
                .filter(|f| sellable(f))
                .ok_or(CheckoutError::ItemUnavailable)?;
            if Self::price(f)? != l.unit_price {
                return Err(CheckoutError::PricesChanged);
            }
            // Not more than there is: nobody pays for what cannot ship (a merge or
            // another buyer may have changed the balance since the line was set).
            if i64::from(l.quantity.get()) > f.stock {
                return Err(CheckoutError::OutOfStock);
            }
        }
        let draft = self.draft(row, cart, total, facts, account.unwrap_or_default());
        match rules::evaluate(&self.rules, &draft) {
            Ok(()) => Ok(()),
            Err(v) => {
                let v: Vec<_> = if account.is_some() {
                    v
                } else {
                    v.into_iter()
                        .filter(|x| *x != RuleViolation::SubscriptionNotEligible)
                        .collect()
                };
                if v.is_empty() {
                    Ok(())
                } else {
                    Err(CheckoutError::Rules(v))
                }
            }
        }
    }

    async fn for_sale(&self, item: &ItemId) -> Res<ItemFacts> {
        checkout_facts::item(&self.db, item.as_str())
            .await?
            .filter(sellable)
            .ok_or(CheckoutError::ItemUnavailable)
    }

    fn price(f: &ItemFacts) -> Res<Money> {
        Ok(Money::new(f.price_minor, currency(&f.currency)?))
    }

    /// Adds `quantity` of an item at its catalog price (read here, never the
    /// client's); the item must be for sale with that many in stock.
    ///
    /// Optimistic first, whatever the cart's size: the cart (with its newest live
    /// intent), its lines and the catalog facts of their items and the new one are
    /// read without a lock or a transaction, the cart's rules run in memory, and one
    /// statement writes the one changed line and moves the version on, only if the
    /// cart is still open at the version read ([`store::upsert_line_at`]). A cart
    /// changed in between is read again; after [`OPTIMISTIC_TRIES`] such races the
    /// change is made under the cart's row lock instead, so a busy cart still makes
    /// progress. The answer is built from what was read. The commit is asynchronous on
    /// PostgreSQL (a cart line is re-creatable state: `docs/design/checkout.md`).
    pub async fn add_line(
        &self,
        who: &Shopper,
        id: &CartId,
        item: &ItemId,
        quantity: i64,
        expected: Option<i64>,
    ) -> Res<CartView> {
        let q = Quantity::parse(quantity, &self.limits)?;
        let mut provider_checked = false;
        for _ in 0..OPTIMISTIC_TRIES {
            match self
                .add_line_unlocked(who, id, item, q, expected, provider_checked)
                .await?
            {
                Added::Done(view) => return Ok(*view),
                Added::Raced => {}
                Added::AskProvider => {
                    // Only before the provider was asked (`plan_add_line`): the cart
                    // has a live intent not yet known to be paid. Ask the provider
                    // without holding anything (as every other cart change does),
                    // then change it unless the provider says it is being paid.
                    self.ensure_not_paying(who, id).await?;
                    provider_checked = true;
                }
            }
        }
        if !provider_checked {
            if let Some(view) = self.try_add_line(who, id, item, q, expected, false).await? {
                return Ok(view);
            }
            self.ensure_not_paying(who, id).await?;
        }
        self.try_add_line(who, id, item, q, expected, true)
            .await?
            .ok_or(CheckoutError::PaymentInProgress)
    }

    /// One optimistic try of [`Checkout::add_line`]: nothing locked, one conditional
    /// write.
    async fn add_line_unlocked(
        &self,
        who: &Shopper,
        id: &CartId,
        item: &ItemId,
        q: Quantity,
        expected: Option<i64>,
        provider_checked: bool,
    ) -> Res<Added> {
        let now = self.now();
        let store::CartWithLines {
            cart,
            lines,
            next_position,
            catalog_generation,
            item: fresh,
        } = store::cart_with_lines(&self.db, id.as_str(), item.as_str())
            .await?
            .filter(|r| may_access(&r.cart.cart, who))
            .ok_or(CheckoutError::NotFound)?;
        let read = self
            .read_for_add(
                rampart_db::Conn::Pool(&self.db),
                cart,
                lines,
                who,
                item,
                catalog_generation.map(|g| (g, fresh)),
            )
            .await?;
        let Some((new_lines, changed)) =
            self.plan_add_line(&read, item, q, expected, provider_checked)?
        else {
            return Ok(Added::AskProvider);
        };
        let mut row = read.cart.cart;
        if !store::upsert_line_at(
            &self.db,
            id.as_str(),
            row.version,
            now,
            &changed,
            next_position,
        )
        .await?
        {
            return Ok(Added::Raced);
        }
        row.version += 1;
        row.updated_at = now;
        self.view_with(&row, &new_lines, &read.facts)
            .map(|v| Added::Done(Box::new(v)))
    }

    /// [`Checkout::add_line`] under the cart's row lock; `None` when the cart's live
    /// intent needs the provider's word first (`provider_checked` false), nothing
    /// written.
    async fn try_add_line(
        &self,
        who: &Shopper,
        id: &CartId,
        item: &ItemId,
        q: Quantity,
        expected: Option<i64>,
        provider_checked: bool,
    ) -> Res<Option<CartView>> {
        let now = self.now();
        // Dropping `tx` on any refusal below rolls the version bump back.
        let mut tx = self.db.begin_async_commit().await?;
        // Whose cart first: someone else's is 404 whatever the item.
        let mut bumped = store::bump_cart(&mut tx, id.as_str(), now)
            .await?
            .filter(|b| may_access(&b.cart, who))
            .ok_or(CheckoutError::NotFound)?;
        // As it was before this change's bump.
        bumped.cart.version -= 1;
        let lines = store::lines(&mut tx, id.as_str()).await?;
        let read = self
            .read_for_add(
                rampart_db::Conn::Tx(&mut tx),
                bumped,
                lines,
                who,
                item,
                None,
            )
            .await?;
        let Some((new_lines, changed)) =
            self.plan_add_line(&read, item, q, expected, provider_checked)?
        else {
            return Ok(None);
        };
        store::upsert_line(&mut tx, id.as_str(), &changed).await?;
        tx.commit().await?;
        let mut row = read.cart.cart;
        row.version += 1;
        row.updated_at = now;
        self.view_with(&row, &new_lines, &read.facts).map(Some)
    }

    /// What [`Checkout::add_line`] decides on, with the cart and its `lines` as read:
    /// the catalog facts of their items and of the new one, and whether the shopper is
    /// a member of the new item's store, read through `conn` (the pool, or the
    /// transaction holding the cart's lock). With `read_with_cart` (the catalog's
    /// generation and the new item's facts, read in the cart's own statement), the
    /// facts of the other lines' items come from memory where kept at that
    /// generation; only what the cart shows of them is used
    /// ([`checkout_facts::FactsCache`]). Without it, every item's facts are read.
    async fn read_for_add(
        &self,
        mut conn: rampart_db::Conn<'_>,
        cart: store::BumpedCart,
        lines: Vec<LineRow>,
        who: &Shopper,
        item: &ItemId,
        read_with_cart: Option<(i64, Option<ItemFacts>)>,
    ) -> Res<AddRead> {
        let facts: HashMap<String, ItemFacts> = {
            let mut ids: Vec<&str> = lines.iter().map(|l| l.item_id.as_str()).collect();
            match read_with_cart {
                Some((generation, fresh)) => {
                    self.shown
                        .for_cart(
                            conn.reborrow(),
                            generation,
                            self.now(),
                            item.as_str(),
                            fresh,
                            &ids,
                        )
                        .await?
                }
                None => {
                    if !ids.contains(&item.as_str()) {
                        ids.push(item.as_str());
                    }
                    checkout_facts::items(conn.reborrow(), &ids)
                        .await?
                        .into_iter()
                        .map(|f| (f.id.clone(), f))
                        .collect()
                }
            }
        };
        let own_store = match (facts.get(item.as_str()).filter(|f| sellable(f)), &who.user) {
            (Some(f), Some(u)) => checkout_facts::is_member(conn, &f.store_id, u.as_str()).await?,
            _ => false,
        };
        Ok(AddRead {
            cart,
            lines,
            facts,
            own_store,
        })
    }

    /// The decision of [`Checkout::add_line`] on what was read (`read.cart.cart.version`
    /// is the cart's version before this change): the cart's lines after it and the one
    /// line to write, or `None` when the cart's live intent needs the provider's word first
    /// (`provider_checked` false). The refusals come in this order: the item, the
    /// shopper's own store, a cart being paid, a closed cart, a stale version, stock,
    /// then the cart's own limits.
    fn plan_add_line(
        &self,
        read: &AddRead,
        item: &ItemId,
        q: Quantity,
        expected: Option<i64>,
        provider_checked: bool,
    ) -> Res<Option<(Vec<LineRow>, LineRow)>> {
        let f = read
            .facts
            .get(item.as_str())
            .filter(|f| sellable(f))
            .ok_or(CheckoutError::ItemUnavailable)?;
        if read.own_store {
            return Err(CheckoutError::OwnStorePurchase);
        }
        let row = &read.cart.cart;
        if row.status == "open" {
            if let Some(status) = &read.cart.intent_status {
                if IntentStatus::parse(status).is_some_and(paying) {
                    return Err(CheckoutError::PaymentInProgress);
                }
                let ours =
                    read.cart.intent_provider.as_deref() == Some(self.provider.kind().as_str());
                if ours && !provider_checked {
                    return Ok(None);
                }
            }
        }
        if row.status != "open" {
            return Err(CheckoutError::CartClosed);
        }
        let current = row.version;
        if expected.is_some_and(|v| v != current) {
            return Err(CheckoutError::VersionConflict { current });
        }
        let mut cart = cart_of(row, &read.lines)?;
        let already = cart
            .lines()
            .iter()
            .find(|l| &l.item == item)
            .map_or(0, |l| i64::from(l.quantity.get()));
        if already + i64::from(q.get()) > f.stock {
            return Err(CheckoutError::OutOfStock);
        }
        let price = Self::price(f)?;
        cart.add(
            item.clone(),
            StoreId::from_stored(f.store_id.clone()),
            price,
            q,
            &self.limits,
        )?;
        let lines = rows_of(&cart);
        let changed = lines
            .iter()
            .find(|l| l.item_id == item.as_str())
            .cloned()
            .ok_or_else(|| corrupt("added line"))?;
        Ok(Some((lines, changed)))
    }

    /// Sets a line's quantity (at the current catalog price).
    pub async fn set_line(
        &self,
        who: &Shopper,
        id: &CartId,
        item: &ItemId,
        quantity: i64,
        expected: Option<i64>,
    ) -> Res<CartView> {
        let q = Quantity::parse(quantity, &self.limits)?;
        let f = self.for_sale(item).await;
        self.mutate(who, id, expected, move |_, cart| {
            if !cart.lines().iter().any(|l| &l.item == item) {
                return Err(CheckoutError::Cart(CartError::NoSuchLine));
            }
            let f = f?;
            if i64::from(q.get()) > f.stock {
                return Err(CheckoutError::OutOfStock);
            }
            let price = Self::price(&f)?;
            cart.remove(item)?;
            cart.add(
                item.clone(),
                StoreId::from_stored(f.store_id.clone()),
                price,
                q,
                &permissive(),
            )?;
            Ok(())
        })
        .await
    }

    /// Removes a line.
    pub async fn remove_line(
        &self,
        who: &Shopper,
        id: &CartId,
        item: &ItemId,
        expected: Option<i64>,
    ) -> Res<CartView> {
        self.mutate(who, id, expected, |_, cart| Ok(cart.remove(item)?))
            .await
    }

    /// Sets the buyer's details and addresses (fields left out stay).
    pub async fn set_details(
        &self,
        who: &Shopper,
        id: &CartId,
        d: CartDetails,
        expected: Option<i64>,
    ) -> Res<CartView> {
        let mut errs = FieldErrors::new();
        if let Some(a) = &d.billing_address {
            a.validate("billing_address", &mut errs);
        }
        if let Some(a) = &d.shipping_address {
            a.validate("shipping_address", &mut errs);
        }
        for (name, v) in [("company_name", &d.company_name), ("vat_id", &d.vat_id)] {
            if v.as_deref().is_some_and(|s| s.chars().count() > 200) {
                errs.push(FieldError::new(name, "too_long"));
            }
        }
        if !errs.is_empty() {
            return Err(CheckoutError::Validation(errs));
        }
        let json = |a: &AddressData| serde_json::to_string(a).map_err(|_| corrupt("address"));
        let billing = d.billing_address.as_ref().map(json).transpose()?;
        let shipping = d.shipping_address.as_ref().map(json).transpose()?;
        self.mutate(who, id, expected, move |row, _| {
            if let Some(t) = d.customer_type {
                row.customer_type = match t {
                    CustomerType::Business => "business".into(),
                    CustomerType::Consumer => "consumer".into(),
                };
            }
            if d.company_name.is_some() {
                row.company_name = d.company_name.filter(|s| !s.trim().is_empty());
            }
            if d.vat_id.is_some() {
                row.vat_id = d.vat_id.filter(|s| !s.trim().is_empty());
            }
            if billing.is_some() {
                row.billing_address = billing;
            }
            if shipping.is_some() {
                row.shipping_address = shipping;
            }
            Ok(())
        })
        .await
    }

    /// Chooses a shipping method (one the rules configure).
    pub async fn set_shipping_method(
        &self,
        who: &Shopper,
        id: &CartId,
        code: &str,
        expected: Option<i64>,
    ) -> Res<CartView> {
        let known = self.rules.shipping_method_codes().any(|c| c == code);
        if known {
            // The method must serve this cart's destination (and weight, item types).
            let row = store::cart(&self.db, id.as_str())
                .await?
                .filter(|r| may_access(r, who))
                .ok_or(CheckoutError::NotFound)?;
            let lines = store::lines(&self.db, id.as_str()).await?;
            let cart = cart_of(&row, &lines)?;
            if let Some(total) = (!cart.lines().is_empty())
                .then(|| cart.total())
                .transpose()?
            {
                let facts = self.facts_of(&self.db, &cart).await?;
                let mut chosen = row.clone();
                chosen.shipping_method = Some(code.to_owned());
                let draft = self.draft(&chosen, &cart, total, &facts, AccountFacts::default());
                let v = rules::chosen_method_violations(&self.rules, &draft);
                if !v.is_empty() {
                    return Err(CheckoutError::Rules(v));
                }
            }
        }
        let code = code.to_owned();
        self.mutate(who, id, expected, move |row, _| {
            if !known {
                return Err(CheckoutError::Rules(vec![
                    RuleViolation::ShippingMethodUnknown,
                ]));
            }
            row.shipping_method = Some(code);
            Ok(())
        })
        .await
    }

    /// At sign-in: the visitor's open cart (by cookie hash) merges into the
    /// customer's newest open cart (or becomes it). Returns the customer's cart.
    pub async fn merge_at_login(&self, user: &UserId, visitor_hash: &str) -> Res<Option<CartId>> {
        // A customer's cart that is paid (or being paid) is frozen like any change
        // to it: the visitor's cart is then left as it is (it merges at a later
        // sign-in), never folded into what the customer already paid for.
        if let Some(mine) = store::open_cart_of(&self.db, user.as_str()).await? {
            if self.cart_paying(&mine.id).await? {
                return Ok(None);
            }
        }
        let mut tx = self.db.begin().await?;
        let Some(anon) = store::cart_by_token(&mut tx, visitor_hash).await? else {
            return Ok(None);
        };
        let Some(mut anon) = store::lock_cart(&mut tx, &anon.id).await? else {
            return Ok(None);
        };
        if anon.status != "open" {
            return Ok(None);
        }
        let anon_lines = store::lines(&mut tx, &anon.id).await?;
        let now = self.now();
        let target = match store::open_cart_of(&mut tx, user.as_str()).await? {
            Some(mine) => store::lock_cart(&mut tx, &mine.id).await?,
            None => None,
        };
        let result = match target {
            Some(mut mine) => {
                let lines = store::lines(&mut tx, &mine.id).await?;
                let mut cart = cart_of(&mine, &lines)?;
                let visitor = cart_of(&anon, &anon_lines)?;
                let currency_of: HashMap<ItemId, Currency> = visitor
                    .lines()
                    .iter()
                    .map(|l| (l.item.clone(), l.unit_price.currency))
                    .collect();
                let report = cart.merge_from(visitor, &self.limits);
                store::replace_lines(&mut tx, &mine.id, &rows_of(&cart)).await?;
                // The customer is told what the merge could not keep as it was.
                let merged_currency = cart.lines().first().map(|l| l.unit_price.currency);
                let mut told: Vec<CartNotice> = report
                    .dropped
                    .into_iter()
                    .map(|item| CartNotice {
                        kind: if currency_of.get(&item).copied() != merged_currency {
                            NoticeKind::LineDroppedCurrency
                        } else {
                            NoticeKind::LineDroppedLimit
                        },
                        item,
                        quantity: None,
                    })
                    .collect();
                told.extend(report.capped.into_iter().map(|item| {
                    CartNotice {
                        kind: NoticeKind::QuantityCapped,
                        quantity: cart
                            .lines()
                            .iter()
                            .find(|l| l.item == item)
                            .map(|l| l.quantity.get()),
                        item,
                    }
                }));
                if !told.is_empty() {
                    notices::save(&mut tx, &mine.id, mine.version + 1, &told, now).await?;
                }
                for (mine_field, anon_field) in [
                    (&mut mine.billing_address, &anon.billing_address),
                    (&mut mine.shipping_address, &anon.shipping_address),
                    (&mut mine.shipping_method, &anon.shipping_method),
                ] {
                    if mine_field.is_none() {
                        mine_field.clone_from(anon_field);
                    }
                }
                if !store::update_cart(&mut tx, &mine, mine.version, now).await? {
                    return Err(CheckoutError::VersionConflict {
                        current: mine.version,
                    });
                }
                anon.status = "merged".into();
                if !store::update_cart(&mut tx, &anon, anon.version, now).await? {
                    return Err(CheckoutError::VersionConflict {
                        current: anon.version,
                    });
                }
                store::replace_lines(&mut tx, &anon.id, &[]).await?;
                mine.id
            }
            None => {
                // The visitor's cart becomes the customer's.
                anon.owner_user_id = Some(user.as_str().to_owned());
                anon.anon_token_hash = None;
                if !store::update_cart(&mut tx, &anon, anon.version, now).await? {
                    return Err(CheckoutError::VersionConflict {
                        current: anon.version,
                    });
                }
                anon.id.clone()
            }
        };
        tx.commit().await?;
        Ok(Some(CartId::from_stored(result)))
    }

    fn draft(
        &self,
        row: &CartRow,
        cart: &Cart,
        total: Money,
        facts: &HashMap<String, ItemFacts>,
        account: AccountFacts,
    ) -> CheckoutDraft {
        let lines = cart
            .lines()
            .iter()
            .map(|l| {
                let f = facts.get(l.item.as_str());
                DraftLine {
                    item_type: f.map(|f| f.item_type.clone()).unwrap_or_default(),
                    subscription_only: f.is_some_and(|f| f.subscription_only),
                    unit_weight_grams: f.map_or(0, |f| u64::try_from(f.weight_grams).unwrap_or(0)),
                    quantity: l.quantity.get(),
                }
            })
            .collect();
        let stores = cart
            .split_by_store()
            .unwrap_or_default()
            .into_iter()
            .map(|g| {
                let min = g
                    .lines
                    .iter()
                    .find_map(|l| facts.get(l.item.as_str()))
                    .and_then(|f| f.store_min_order_minor)
                    .map(|m| Money::new(m, g.subtotal.currency));
                StoreOrder {
                    store: g.store,
                    subtotal: g.subtotal,
                    min_order: min,
                }
            })
            .collect();
        CheckoutDraft {
            customer: CustomerProfile {
                kind: customer_type(&row.customer_type),
                company_name: row.company_name.clone(),
                vat_id: row.vat_id.clone(),
                signed_in: row.owner_user_id.is_some(),
                email_verified: account.email_verified,
                account_age_days: account.account_age_days,
            },
            lines,
            total,
            billing_address: address(&row.billing_address).map(|a| a.to_rules()),
            shipping_address: address(&row.shipping_address).map(|a| a.to_rules()),
            shipping_method: row.shipping_method.clone(),
            stores,
        }
    }

    /// The customer's own open cart, read for paying.
    async fn paying_cart(&self, customer: &UserId, id: &CartId) -> Res<(CartRow, Cart, Money)> {
        let row = store::cart(&self.db, id.as_str())
            .await?
            .filter(|r| r.owner_user_id.as_deref() == Some(customer.as_str()))
            .ok_or(CheckoutError::NotFound)?;
        if row.status != "open" {
            return Err(CheckoutError::CartClosed);
        }
        let lines = store::lines(&self.db, id.as_str()).await?;
        let cart = cart_of(&row, &lines)?;
        let total = cart.total()?;
        Ok((row, cart, total))
    }

    /// Checks the business rules for paying this cart now.
    pub async fn check_rules(
        &self,
        customer: &UserId,
        id: &CartId,
        account: AccountFacts,
    ) -> Res<Money> {
        let (row, cart, total) = self.paying_cart(customer, id).await?;
        let facts = self.facts_of(&self.db, &cart).await?;
        match self.recheck(&row, &cart, total, &facts, Some(account)) {
            Err(CheckoutError::PricesChanged) => {
                self.reprice(customer, id).await?;
                Err(CheckoutError::PricesChanged)
            }
            other => other.map(|()| total),
        }
    }

    /// Sets every line of the cart to its current catalog price (a new version).
    async fn reprice(&self, customer: &UserId, id: &CartId) -> Res<CartView> {
        let who = Shopper {
            user: Some(customer.clone()),
            ..Shopper::default()
        };
        let row = store::cart(&self.db, id.as_str())
            .await?
            .ok_or(CheckoutError::NotFound)?;
        let lines = store::lines(&self.db, id.as_str()).await?;
        let facts = self.facts_of(&self.db, &cart_of(&row, &lines)?).await?;
        self.mutate(&who, id, None, move |_, cart| {
            let old: Vec<CartLine> = cart.lines().to_vec();
            for l in old {
                let Some(f) = facts.get(l.item.as_str()).filter(|f| sellable(f)) else {
                    continue;
                };
                let price = Self::price(f)?;
                if price != l.unit_price {
                    cart.remove(&l.item)?;
                    cart.add(
                        l.item.clone(),
                        l.store.clone(),
                        price,
                        l.quantity,
                        &permissive(),
                    )?;
                }
            }
            Ok(())
        })
        .await
    }

    /// The cart's one payment intent at its current total (E2): created at the
    /// provider under the key `rampart-pi-{cart}-{total}`, so a retry gets the same
    /// intent back; its metadata carries the cart and the customer. The rules are
    /// checked first.
    pub async fn payment_intent(
        &self,
        customer: &UserId,
        id: &CartId,
        account: AccountFacts,
    ) -> Res<IntentView> {
        // A paid intent is completed with, never paid twice.
        let who = Shopper {
            user: Some(customer.clone()),
            ..Shopper::default()
        };
        self.paying_cart(customer, id).await?;
        self.ensure_not_paying(&who, id).await?;
        let total = self.check_rules(customer, id, account).await?;
        let attempt = store::refunded_intents_of_cart(&self.db, id.as_str()).await?;
        let key = IdempotencyKey::for_intent_attempt(id, total, attempt);
        let owner = IntentOwner {
            cart: id.clone(),
            customer: customer.clone(),
        };
        let pi = self.provider.create_intent(&key, total, &owner).await?;
        let now = self.now();
        store::insert_intent(
            &self.db,
            &IntentRow {
                id: uuid::Uuid::now_v7().to_string(),
                provider: self.provider.kind().as_str().to_owned(),
                provider_intent_id: pi.id.as_str().to_owned(),
                cart_id: id.as_str().to_owned(),
                customer_id: customer.as_str().to_owned(),
                amount_minor: pi.amount.minor,
                currency: pi.amount.currency.as_str().to_owned(),
                status: pi.status.as_str().to_owned(),
                card_brand: None,
                card_last4: None,
                created_at: now,
            },
        )
        .await?;
        Ok(IntentView {
            provider: self.provider.kind(),
            id: pi.id,
            status: pi.status,
            amount: pi.amount,
            client_secret: pi.client_secret.map(|s| s.expose().to_owned()),
        })
    }

    /// The client's completion (E2, E5): reads the provider's own record of the
    /// intent (the one named, else the cart's latest) and completes exactly once.
    pub async fn complete(
        &self,
        customer: &UserId,
        id: &CartId,
        intent: Option<&IntentId>,
        request_id: Option<&str>,
    ) -> Res<Completed> {
        let row = store::cart(&self.db, id.as_str())
            .await?
            .filter(|r| r.owner_user_id.as_deref() == Some(customer.as_str()))
            .ok_or(CheckoutError::NotFound)?;
        if let Some(o) = store::order_of_cart(&self.db, &row.id).await? {
            return Ok(Completed::Existing(self.order_view(o).await?));
        }
        let intent_id = match intent {
            Some(i) => i.clone(),
            None => {
                let r = store::latest_intent_of_cart(&self.db, id.as_str())
                    .await?
                    .ok_or(CheckoutError::NoIntent)?;
                IntentId::parse(&r.provider_intent_id).map_err(|_| corrupt("intent id"))?
            }
        };
        let pi = self.provider.retrieve_intent(&intent_id).await?;
        self.complete_verified(id, customer, pi, request_id).await
    }

    /// The one completion path (client call and webhook alike), in one database
    /// transaction under the cart's row lock: the order, the stock, one escrow
    /// transaction per store (holding that store's lines) funded on the ledger, the
    /// audit rows.
    async fn complete_verified(
        &self,
        id: &CartId,
        customer: &UserId,
        pi: ProviderIntent,
        request_id: Option<&str>,
    ) -> Res<Completed> {
        // The account as it is now (read before the transaction: no lock held
        // while identity answers). A missing account is eligible for nothing.
        let account = match &self.accounts {
            Some(a) => Some(
                a.facts(customer)
                    .await
                    .map_err(CheckoutError::Corrupt)?
                    .unwrap_or_default(),
            ),
            None => None,
        };
        let mut tx = self.db.begin().await?;
        let row = store::lock_cart(&mut tx, id.as_str())
            .await?
            .filter(|r| r.owner_user_id.as_deref() == Some(customer.as_str()))
            .ok_or(CheckoutError::NotFound)?;
        if let Some(o) = store::order_of_cart(&mut tx, &row.id).await? {
            tx.rollback().await?;
            return Ok(Completed::Existing(self.order_view(o).await?));
        }
        if row.status != "open" {
            return Err(CheckoutError::CartClosed);
        }
        let lines = store::lines(&mut tx, id.as_str()).await?;
        let cart = cart_of(&row, &lines)?;
        let total = cart.total()?;
        if let Err(e) = verify_completion(&pi, id, customer, total) {
            if e != CompletionError::NotOwned {
                // This cart's own intent, paid, but not for this cart as it is now:
                // the money goes back (once), and the intent never completes.
                drop(tx);
                self.refund_unfulfillable(&pi, id, customer).await?;
            }
            return Err(e.into());
        }
        // The rules and the catalog again, inside the transaction, before any order.
        let facts = self.facts_of(&mut tx, &cart).await?;
        if let Err(e) = self.recheck(&row, &cart, total, &facts, account) {
            drop(tx);
            self.refund_unfulfillable(&pi, id, customer).await?;
            return Err(e);
        }
        let kind = self.provider.kind().as_str();
        let now = self.now();
        let intent_row = match store::intent_by_provider_id(&mut tx, kind, pi.id.as_str()).await? {
            Some(r) => r,
            None => {
                let r = IntentRow {
                    id: uuid::Uuid::now_v7().to_string(),
                    provider: kind.to_owned(),
                    provider_intent_id: pi.id.as_str().to_owned(),
                    cart_id: id.as_str().to_owned(),
                    customer_id: customer.as_str().to_owned(),
                    amount_minor: pi.amount.minor,
                    currency: pi.amount.currency.as_str().to_owned(),
                    status: pi.status.as_str().to_owned(),
                    card_brand: None,
                    card_last4: None,
                    created_at: now,
                };
                store::insert_intent(&mut tx, &r).await?;
                r
            }
        };
        if intent_row.status == "refunded" {
            return Err(CheckoutError::PaymentRefunded);
        }
        let order_id = OrderId::generate();
        // Lock order, the same in every writer: items (sorted by ID) before the
        // ledger's and the audit chain's rows, so two carts sharing items, or a
        // completion beside a refund, never wait for each other in a circle.
        let mut by_item: Vec<&CartLine> = cart.lines().iter().collect();
        by_item.sort_by(|a, b| a.item.cmp(&b.item));
        for line in &by_item {
            let q = i64::from(line.quantity.get());
            let reserved =
                rampart_marketplace::purchases::store::reserve(&mut tx, line.item.as_str(), q, now)
                    .await?;
            if reserved.is_none() {
                drop(tx);
                self.refund_unfulfillable(&pi, id, customer).await?;
                return Err(CheckoutError::OutOfStock);
            }
        }
        // One escrow transaction per store, holding that store's lines (in the
        // cart's order), funded on the ledger in this same transaction.
        let mut stores: Vec<&StoreId> = Vec::new();
        for line in cart.lines() {
            if !stores.contains(&&line.store) {
                stores.push(&line.store);
            }
        }
        let mut order_lines = Vec::with_capacity(cart.lines().len());
        let mut transactions = Vec::with_capacity(stores.len());
        for store_id in stores {
            let lines: Vec<&CartLine> = cart
                .lines()
                .iter()
                .filter(|l| &l.store == store_id)
                .collect();
            let days =
                rampart_marketplace::purchases::store::release_days(&mut tx, store_id.as_str())
                    .await?;
            let escrow = self
                .ledger
                .create_multi_in(
                    &mut tx,
                    NewMultiEscrow {
                        buyer: customer.clone(),
                        store: store_id.clone(),
                        lines: lines
                            .iter()
                            .map(|l| EscrowLine {
                                item: l.item.clone(),
                                quantity: i64::from(l.quantity.get()),
                                unit_price: l.unit_price,
                            })
                            .collect(),
                        release_after_ms: days.saturating_mul(86_400_000),
                    },
                    Some(customer),
                    request_id,
                )
                .await?;
            match self
                .ledger
                .apply_in(
                    &mut tx,
                    &escrow.id,
                    EscrowEvent::Fund,
                    Some(customer),
                    request_id,
                )
                .await?
            {
                Applied::Done(_) => {}
                Applied::Replay(_) => return Err(corrupt("fresh escrow already funded")),
            }
            transactions.push(escrow.id.as_str().to_owned());
            for line in lines {
                order_lines.push(OrderLineRow {
                    order_id: order_id.as_str().to_owned(),
                    item_id: line.item.as_str().to_owned(),
                    store_id: line.store.as_str().to_owned(),
                    quantity: i64::from(line.quantity.get()),
                    unit_price_minor: line.unit_price.minor,
                    currency: line.unit_price.currency.as_str().to_owned(),
                    transaction_id: escrow.id.as_str().to_owned(),
                });
            }
        }
        let order = OrderRow {
            id: order_id.as_str().to_owned(),
            cart_id: id.as_str().to_owned(),
            buyer_id: customer.as_str().to_owned(),
            payment_intent_id: intent_row.id.clone(),
            amount_minor: total.minor,
            currency: total.currency.as_str().to_owned(),
            refunded_minor: 0,
            status: "paid".into(),
            created_at: now,
        };
        match store::insert_order(&mut tx, &order).await {
            Ok(()) => {}
            Err(DbError::Conflict(_)) => {
                // Another completion committed first (the UNIQUE keys on the cart
                // and the intent): this one rolls back and answers that order.
                drop(tx);
                let o = store::order_of_cart(&self.db, id.as_str())
                    .await?
                    .ok_or(CheckoutError::NotFound)?;
                return Ok(Completed::Existing(self.order_view(o).await?));
            }
            Err(e) => return Err(e.into()),
        }
        for l in &order_lines {
            store::insert_order_line(&mut tx, l).await?;
        }
        let mut closed = row.clone();
        closed.status = "completed".into();
        if !store::update_cart(&mut tx, &closed, row.version, now).await? {
            return Err(CheckoutError::VersionConflict {
                current: row.version,
            });
        }
        let card = pi
            .card
            .as_ref()
            .map(|c| (c.brand.as_str(), c.last4.as_str()));
        store::set_intent_status(
            &mut tx,
            &intent_row.id,
            IntentStatus::Succeeded.as_str(),
            card,
            now,
        )
        .await?;
        audit::record(
            &mut tx,
            NewAuditEntry {
                actor_user_uuid: Some(customer.as_str()),
                action: ActionType::OrderCreate,
                target: Target::new(TargetKind::Order, order_id.as_str()),
                metadata: serde_json::json!({
                    "cart": id.as_str(),
                    "provider": kind,
                    "payment_intent": pi.id.as_str(),
                    "amount_minor": total.minor,
                    "currency": total.currency.as_str(),
                    "transactions": transactions,
                }),
                request_id,
                created_at: now,
            },
        )
        .await?;
        tx.commit().await?;
        let view = self.order_view(order).await?;
        Ok(Completed::Created(view))
    }

    /// A paid checkout whose stock ran out meanwhile: the payment goes back in full
    /// (one refund, whichever path gets here first: the key is fixed), and the intent
    /// is marked so it never completes later.
    ///
    /// Also the end of a paid intent that no longer matches its cart (amount,
    /// currency, prices, rules): only a succeeded intent is refunded (one not paid
    /// has nothing to give back and fails completion as before).
    async fn refund_unfulfillable(
        &self,
        pi: &ProviderIntent,
        cart: &CartId,
        customer: &UserId,
    ) -> Res<()> {
        if pi.status != IntentStatus::Succeeded {
            return Ok(());
        }
        let key = IdempotencyKey::for_refund(&pi.id, 0);
        match self.provider.refund(&pi.id, pi.amount, &key).await {
            Ok(_) => {
                let kind = self.provider.kind().as_str();
                let now = self.now();
                store::insert_intent(
                    &self.db,
                    &IntentRow {
                        id: uuid::Uuid::now_v7().to_string(),
                        provider: kind.to_owned(),
                        provider_intent_id: pi.id.as_str().to_owned(),
                        cart_id: cart.as_str().to_owned(),
                        customer_id: customer.as_str().to_owned(),
                        amount_minor: pi.amount.minor,
                        currency: pi.amount.currency.as_str().to_owned(),
                        status: "refunded".to_owned(),
                        card_brand: None,
                        card_last4: None,
                        created_at: now,
                    },
                )
                .await?;
                if let Some(row) =
                    store::intent_by_provider_id(&self.db, kind, pi.id.as_str()).await?
                {
                    store::set_intent_status(&self.db, &row.id, "refunded", None, now).await?;
                }
            }
            Err(e) => {
                tracing::warn!(
                    code = e.code(),
                    "refund of an unfulfillable checkout failed; the next completion attempt retries it"
                );
            }
        }
        Ok(())
    }

    async fn order_view(&self, o: OrderRow) -> Res<OrderView> {
        let cur = currency(&o.currency)?;
        let lines = store::order_lines(&self.db, &o.id).await?;
        let mut views = Vec::with_capacity(lines.len());
        for l in lines {
            let txn = TransactionId::from_stored(l.transaction_id);
            let state = self.ledger.get(&txn).await?.map(|e| e.state);
            views.push(OrderLineView {
                item: ItemId::from_stored(l.item_id),
                store: StoreId::from_stored(l.store_id),
                quantity: l.quantity,
                unit_price: Money::new(l.unit_price_minor, currency(&l.currency)?),
                transaction: txn,
                escrow_state: state,
            });
        }
        let intent = store::intent_by_id(&self.db, &o.payment_intent_id).await?;
        let refunds = store::refunds_of(&self.db, &o.id)
            .await?
            .into_iter()
            .map(|r| {
                Ok(RefundView {
                    sequence: r.sequence,
                    amount: Money::new(r.amount_minor, currency(&r.currency)?),
                    status: r.status,
                    provider_refund: Some(r.provider_refund_id).filter(|p| !p.is_empty()),
                    last_error: r.last_error,
                    created_at: r.created_at,
                })
            })
            .collect::<Res<Vec<_>>>()?;
        Ok(OrderView {
            id: OrderId::from_stored(o.id),
            cart: CartId::from_stored(o.cart_id),
            buyer: UserId::from_stored(o.buyer_id),
            amount: Money::new(o.amount_minor, cur),
            refunded: Money::new(o.refunded_minor, cur),
            status: o.status,
            payment_intent: intent
                .as_ref()
                .map(|i| i.provider_intent_id.clone())
                .unwrap_or_default(),
            card: intent.and_then(|i| i.card_brand.zip(i.card_last4)),
            lines: views,
            refunds,
            created_at: o.created_at,
        })
    }

    /// The customer's orders, newest first (at most `limit`).
    pub async fn orders(&self, customer: &UserId, limit: i64) -> Res<Vec<OrderView>> {
        let rows = store::orders_of(&self.db, customer.as_str(), limit.clamp(1, 100)).await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            out.push(self.order_view(r).await?);
        }
        Ok(out)
    }

    /// An order: its buyer, or staff (`staff`) — 404 for everyone else.
    pub async fn order(&self, caller: &UserId, staff: bool, id: &OrderId) -> Res<OrderView> {
        let o = store::order(&self.db, id.as_str())
            .await?
            .filter(|o| staff || o.buyer_id == caller.as_str())
            .ok_or(CheckoutError::NotFound)?;
        self.order_view(o).await
    }

    /// A staff refund (C1) of one escrow transaction of an order, in full or in
    /// part, of what the escrow still holds:
    /// - in full before shipping: the transaction is cancelled and every line's stock
    ///   returned; in full after shipping: it is refunded (the goods are out);
    /// - in part, funded or shipped: that amount leaves escrow for the buyer, the
    ///   state stays, and the seller is later paid only what is left;
    /// - a disputed transaction is refunded through its dispute's resolution, and a
    ///   settled one (released, cancelled, refunded) cannot be refunded here.
    ///
    /// The ledger event, the refund row (`pending`), the order's total and the audit
    /// row commit together; then the provider pays it under the key
    /// `rampart-re-{intent}-{n}` (n = the order's refund number). Answers the order
    /// and the refund's status (`succeeded`, or `pending`/`failed`, see
    /// [`Checkout::pay_refund`]).
    pub async fn refund(
        &self,
        staff: &UserId,
        id: &OrderId,
        transaction: Option<&TransactionId>,
        amount_minor: Option<i64>,
        request_id: Option<&str>,
    ) -> Res<(OrderView, String)> {
        let mut tx = self.db.begin().await?;
        let o = store::lock_order(&mut tx, id.as_str())
            .await?
            .ok_or(CheckoutError::NotFound)?;
        let lines = store::order_lines(&mut tx, &o.id).await?;
        let mut txns: Vec<&str> = Vec::new();
        for l in &lines {
            if !txns.contains(&l.transaction_id.as_str()) {
                txns.push(&l.transaction_id);
            }
        }
        let txn = match transaction {
            Some(t) => txns.iter().find(|x| **x == t.as_str()).copied(),
            None if txns.len() == 1 => txns.first().copied(),
            None => {
                return Err(CheckoutError::Validation(FieldErrors(vec![
                    FieldError::new("transaction_id", "required"),
                ])))
            }
        }
        .ok_or(CheckoutError::NotFound)?;
        let txn_id = TransactionId::from_stored(txn.to_owned());
        // The transaction's row before any stock row (the worker's order: a
        // cancel intent locks the transaction, then restocks).
        let escrow = self.ledger.lock_in(&mut tx, &txn_id).await?;
        let held = escrow.held();
        if !escrow.state.holds_money() || escrow.state == EscrowState::Disputed {
            // Nothing held to refund here (or a dispute decides where it goes).
            return Err(CheckoutError::InvalidState(escrow.state.as_str()));
        }
        let amount = amount_minor.unwrap_or(held.minor);
        if amount <= 0
            || amount > held.minor
            || o.refunded_minor.saturating_add(amount) > o.amount_minor
        {
            return Err(CheckoutError::RefundAmount);
        }
        let money = Money::new(amount, held.currency);
        // The partial refund's number on the ledger: the order's next refund number
        // (each transaction belongs to one order, so it is unique per transaction).
        let seq = u32::try_from(store::refund_count(&mut tx, &o.id).await? + 1)
            .map_err(|_| corrupt("refund count"))?;
        let event = match (amount == held.minor, escrow.state) {
            (true, EscrowState::Funded) => EscrowEvent::Cancel,
            (true, _) => EscrowEvent::Refund,
            (false, _) => EscrowEvent::PartialRefund { refund: money, seq },
        };
        if event == EscrowEvent::Cancel {
            // Nothing was shipped: every line's stock goes back, items sorted, before
            // the audit chain's rows (as completion takes them). `false`: the item is
            // gone; the money still goes back, nothing to restock. A refused ledger
            // event rolls it back.
            let mut goods = self.ledger.lines_in(&mut tx, &escrow).await?;
            goods.sort_by(|a, b| a.item.cmp(&b.item));
            for l in goods {
                rampart_marketplace::items::restock_in(&mut tx, &l.item, l.quantity)
                    .await
                    .map_err(|e| CheckoutError::Corrupt(e.to_string()))?;
            }
        }
        let applied = self
            .ledger
            .apply_in(&mut tx, &txn_id, event, Some(staff), request_id)
            .await;
        match applied {
            Ok(Applied::Done(_)) => {}
            Ok(Applied::Replay(s)) | Err(LedgerError::EffectRace(s)) => {
                return Err(CheckoutError::InvalidState(s.as_str()))
            }
            Err(LedgerError::BadRefund) => return Err(CheckoutError::RefundAmount),
            Err(e) => return Err(e.into()),
        }
        let refund = self
            .decide_refund(
                &mut tx,
                &o,
                &txn_id,
                money,
                &effect_key(&txn_id, event),
                Some(staff),
                request_id,
            )
            .await?;
        tx.commit().await?;
        // Paid inline, within a bound well inside the request's own timeout: a slow
        // provider leaves the refund pending (the worker pays it under the same key)
        // and the caller gets its answer (202) instead of a timeout.
        let paid = match tokio::time::timeout(INLINE_REFUND_PAYMENT, self.pay_refund(&refund)).await
        {
            Ok(r) => r?,
            Err(_) => {
                tracing::warn!(refund = %refund, "the provider did not answer in time; the worker pays the refund");
                "pending".to_owned()
            }
        };
        let o = store::order(&self.db, id.as_str())
            .await?
            .ok_or(CheckoutError::NotFound)?;
        Ok((self.order_view(o).await?, paid))
    }

    /// Inside the order's lock, after the ledger moved `money` back to the buyer
    /// under `effect`: the refund is **decided** — its row (`pending`, numbered
    /// per order), the order's refunded total and the audit row are written with
    /// the ledger effect, in the caller's transaction. Paying it at the provider
    /// comes after the commit ([`Checkout::pay_refund`]), so a request or process
    /// that dies in the provider call leaves a pending row the worker pays later
    /// under the same key and amount — never a refund the provider made and
    /// Rampart does not know. Returns the refund row's ID. Does not commit.
    #[allow(clippy::too_many_arguments)]
    async fn decide_refund(
        &self,
        tx: &mut Tx,
        o: &OrderRow,
        txn: &TransactionId,
        money: Money,
        effect: &str,
        actor: Option<&UserId>,
        request_id: Option<&str>,
    ) -> Res<String> {
        let amount = money.minor;
        let refunded = o
            .refunded_minor
            .checked_add(amount)
            .filter(|r| *r <= o.amount_minor)
            .ok_or(CheckoutError::RefundAmount)?;
        let sequence = store::refund_count(tx, &o.id).await? + 1;
        let now = self.now();
        let status = if refunded == o.amount_minor {
            "refunded"
        } else {
            "partially_refunded"
        };
        store::add_refunded(tx, &o.id, amount, status, now).await?;
        let refund_id = uuid::Uuid::now_v7().to_string();
        store::insert_refund(
            tx,
            &store::NewRefund {
                id: &refund_id,
                order: &o.id,
                sequence,
                amount,
                currency: money.currency.as_str(),
                actor: actor.map(UserId::as_str),
                effect_key: effect,
                now,
            },
        )
        .await?;
        audit::record(
            tx,
            NewAuditEntry {
                actor_user_uuid: actor.map(UserId::as_str),
                action: ActionType::Refund,
                target: Target::new(TargetKind::Order, &o.id),
                metadata: serde_json::json!({
                    "transaction": txn.as_str(),
                    "amount_minor": amount,
                    "currency": money.currency.as_str(),
                    "sequence": sequence,
                    "effect_key": effect,
                    "refund": refund_id,
                    "old_refunded_minor": o.refunded_minor,
                    "new_refunded_minor": refunded,
                }),
                request_id,
                created_at: now,
            },
        )
        .await?;
        Ok(refund_id)
    }

    /// Pays a decided refund at the provider under its fixed key
    /// (`rampart-re-{intent}-{n}`, n = its number in the order) and amount, so any
    /// retry is the same refund at the provider. Answers the row's status after:
    /// `succeeded`; `failed` (the provider refused for good: staff must act, the
    /// reason is kept and logged); `pending` (the provider could not be reached:
    /// the worker tries again).
    pub async fn pay_refund(&self, refund_id: &str) -> Res<String> {
        let r = store::refund_by_id(&self.db, refund_id)
            .await?
            .ok_or(CheckoutError::NotFound)?;
        if r.status != "pending" {
            return Ok(r.status);
        }
        let o = store::order(&self.db, &r.order_id)
            .await?
            .ok_or_else(|| corrupt("refund order"))?;
        let intent = store::intent_by_id(&self.db, &o.payment_intent_id)
            .await?
            .ok_or_else(|| corrupt("order intent"))?;
        let pi = IntentId::parse(&intent.provider_intent_id).map_err(|_| corrupt("intent id"))?;
        let seq = u32::try_from(r.sequence).map_err(|_| corrupt("refund number"))?;
        let key = IdempotencyKey::for_refund(&pi, seq);
        let money = Money::new(r.amount_minor, currency(&r.currency)?);
        let (status, provider_id, error) = match self.provider.refund(&pi, money, &key).await {
            Ok(refund) => ("succeeded", refund.id.as_str().to_owned(), None),
            // Transient — among them a key still in use (another attempt of this same
            // refund is in flight at the provider: the same key and amount, so never
            // a second refund).
            Err(
                e @ (ProviderError::Unavailable(_)
                | ProviderError::RateLimited
                | ProviderError::Authentication
                | ProviderError::IdempotencyConflict
                | ProviderError::Malformed(_)),
            ) => {
                tracing::warn!(refund = %r.id, order = %r.order_id, code = e.code(), "refund not paid yet; the worker retries");
                ("pending", String::new(), Some(e.code()))
            }
            Err(e) => {
                tracing::error!(refund = %r.id, order = %r.order_id, code = e.code(), "the provider refused a decided refund; staff must settle it");
                ("failed", String::new(), Some(e.code()))
            }
        };
        store::settle_refund_row(&self.db, &r.id, status, &provider_id, error, self.now()).await?;
        Ok(status.to_owned())
    }

    /// Pays refunds left `pending` (their call failed or died) whose last attempt is
    /// older than `retry_after_ms`; at most `limit`. Answers how many were paid now.
    pub async fn pay_pending_refunds(&self, retry_after_ms: i64, limit: i64) -> Res<usize> {
        let before = self.now().saturating_sub(retry_after_ms);
        let mut paid = 0;
        for r in store::pending_refunds(&self.db, before, limit.clamp(1, 500)).await? {
            if self.pay_refund(&r.id).await? == "succeeded" {
                paid += 1;
            }
        }
        Ok(paid)
    }

    /// Refund settlement: every ledger effect that returned money to the buyer of
    /// a checkout order outside the order's refund route — a dispute decided
    /// wholly or partly for the buyer, a cancel of a paid transaction by its buyer
    /// or seller — is refunded at the provider once (the effect key is unique on
    /// the refund rows). Effects applied at or after `since` (ms) are looked at,
    /// oldest first, at most `limit`. One that fails (the provider is down) is left
    /// for the next run.
    pub async fn settle_refunds(&self, since: i64, limit: i64) -> Res<Settlement> {
        let effects = self.ledger.refund_effects_since(since, limit).await?;
        let mut out = Settlement {
            seen: effects.len(),
            latest: effects.last().map(|e| e.created_at),
            ..Settlement::default()
        };
        for e in effects {
            let Some(order) = store::order_of_transaction(&self.db, e.transaction.as_str()).await?
            else {
                continue;
            };
            if store::refund_settled(&self.db, &e.effect_key).await? {
                continue;
            }
            match self.settle_one(&order, &e).await {
                Ok(true) => out.settled += 1,
                Ok(false) => {}
                Err(err) => {
                    tracing::warn!(order = %order, effect = %e.effect_key, code = err.code(), "refund settlement failed; retried on the next run");
                    out.failed_since.get_or_insert(e.created_at);
                }
            }
        }
        // Decided refunds whose provider call failed or died: paid now, same key.
        out.settled += self.pay_pending_refunds(60_000, limit).await?;
        Ok(out)
    }

    async fn settle_one(&self, order: &str, e: &rampart_ledger::RefundEffect) -> Res<bool> {
        let mut tx = self.db.begin().await?;
        let o = store::lock_order(&mut tx, order)
            .await?
            .ok_or(CheckoutError::NotFound)?;
        // Under the lock: another settler (or the refund route) may have been first.
        if store::refund_settled(&mut tx, &e.effect_key).await? {
            tx.rollback().await?;
            return Ok(false);
        }
        let refund = self
            .decide_refund(
                &mut tx,
                &o,
                &e.transaction,
                e.amount,
                &e.effect_key,
                None,
                None,
            )
            .await?;
        tx.commit().await?;
        Ok(self.pay_refund(&refund).await? == "succeeded")
    }

    /// A verified webhook delivery (E3): recorded in the inbox (a duplicate is
    /// acknowledged and ignored); the stored intent status moves only forward; a
    /// `payment_intent.succeeded` completes the order through the same path as the
    /// client's call, on the provider's own record of the intent.
    pub async fn handle_event(&self, kind: ProviderKind, ev: &PaymentEvent) -> Res<WebhookOutcome> {
        self.handle_delivery(kind, ev, None).await
    }

    /// [`Checkout::handle_event`] keeping the verified `body` in the inbox, so a
    /// delivery whose processing is cut off is processed again by
    /// [`Checkout::retry_unfinished_events`].
    pub async fn handle_delivery(
        &self,
        kind: ProviderKind,
        ev: &PaymentEvent,
        body: Option<&[u8]>,
    ) -> Res<WebhookOutcome> {
        let now = self.now();
        let payload = body.and_then(|b| std::str::from_utf8(b).ok());
        if !inbox::insert(
            &self.db,
            kind.as_str(),
            ev.id.as_str(),
            &ev.type_name,
            payload,
            now,
        )
        .await?
        {
            return Ok(WebhookOutcome::Duplicate);
        }
        let outcome = self.process_event(kind, ev).await;
        let text = match &outcome {
            Ok(s) => s.clone(),
            Err(e) => e.code().to_owned(),
        };
        inbox::done(&self.db, kind.as_str(), ev.id.as_str(), &text, self.now()).await?;
        match outcome {
            Err(CheckoutError::Db(e)) => Err(CheckoutError::Db(e)),
            _ => Ok(WebhookOutcome::Processed(text)),
        }
    }

    /// The worker's job (E3): webhook deliveries recorded in the inbox more than
    /// `older_than_ms` ago and never finished — the process died between the inbox
    /// row and its outcome — are processed again through the same path as a fresh
    /// delivery, each by one worker at a time (the row is claimed first) and finished
    /// once. A delivery without a stored body (recorded before bodies were kept), one
    /// whose body no longer parses, or one tried [`INBOX_MAX_ATTEMPTS`] times is
    /// finished with that as its outcome. A database or provider failure leaves the
    /// row for the next round. Returns how many deliveries were finished.
    pub async fn retry_unfinished_events(&self, older_than_ms: i64, limit: i64) -> Res<usize> {
        let now = self.now();
        let rows = inbox::unfinished(&self.db, now.saturating_sub(older_than_ms), limit).await?;
        let mut finished = 0;
        for row in rows {
            if !inbox::claim(&self.db, &row, now).await? {
                continue; // another worker has it
            }
            let event = row
                .payload
                .as_deref()
                .map(|p| crate::webhook::parse_event(p.as_bytes()));
            let outcome = match (ProviderKind::parse(&row.provider), event) {
                (_, None) => "not_retryable".to_owned(),
                (_, Some(Err(_))) => "malformed".to_owned(),
                (None, _) => "ignored".to_owned(),
                _ if row.attempts >= INBOX_MAX_ATTEMPTS => "retries_exhausted".to_owned(),
                (Some(kind), Some(Ok(ev))) => match self.process_event(kind, &ev).await {
                    Ok(s) => s,
                    Err(e @ (CheckoutError::Db(_) | CheckoutError::Provider(_))) => {
                        tracing::warn!(
                            code = e.code(),
                            event = %row.event_id,
                            "retrying an unfinished webhook delivery failed; tried again later"
                        );
                        continue;
                    }
                    Err(e) => e.code().to_owned(),
                },
            };
            inbox::done(&self.db, &row.provider, &row.event_id, &outcome, self.now()).await?;
            finished += 1;
        }
        Ok(finished)
    }

    async fn process_event(&self, kind: ProviderKind, ev: &PaymentEvent) -> Res<String> {
        let Some(incoming) = &ev.intent else {
            return Ok("ignored".into());
        };
        if kind != self.provider.kind() {
            return Ok("ignored".into());
        }
        let Some(row) =
            store::intent_by_provider_id(&self.db, kind.as_str(), incoming.id.as_str()).await?
        else {
            return Ok("unknown_intent".into());
        };
        let mut outcome = "ignored".to_owned();
        if let Some(stored) = IntentStatus::parse(&row.status) {
            if let Some(next) = ev.next_status(stored) {
                let card = incoming
                    .card
                    .as_ref()
                    .map(|c| (c.brand.as_str(), c.last4.as_str()));
                store::set_intent_status(&self.db, &row.id, next.as_str(), card, self.now())
                    .await?;
                outcome = "status_updated".into();
            }
        }
        if ev.kind == EventKind::IntentSucceeded {
            // Never the webhook body's word: the provider's own record decides.
            let pi = self.provider.retrieve_intent(&incoming.id).await?;
            let cart = CartId::from_stored(row.cart_id.clone());
            let customer = UserId::from_stored(row.customer_id.clone());
            outcome = match self.complete_verified(&cart, &customer, pi, None).await? {
                Completed::Created(_) => "completed".into(),
                Completed::Existing(_) => "already_completed".into(),
            };
        }
        Ok(outcome)
    }

    /// Claims an `Idempotency-Key` for a request (see [`crate::idempotency`]).
    pub async fn claim_key(
        &self,
        scope: &str,
        key: &str,
        user: Option<&str>,
        route: &str,
        hash: &str,
    ) -> Res<crate::idempotency::Claim> {
        Ok(crate::idempotency::claim(&self.db, scope, key, user, route, hash, self.now()).await?)
    }

    /// Stores the response of a claimed key.
    pub async fn finish_key(&self, scope: &str, key: &str, status: u16, body: &str) -> Res<()> {
        Ok(crate::idempotency::finish(&self.db, scope, key, status, body).await?)
    }

    /// Lets a claimed key go (the call failed).
    pub async fn release_key(&self, scope: &str, key: &str) -> Res<()> {
        Ok(crate::idempotency::release(&self.db, scope, key).await?)
    }

    /// The stored status of a provider intent (for tests and the order page).
    pub async fn stored_intent_status(&self, id: &IntentId) -> Res<Option<String>> {
        Ok(
            store::intent_by_provider_id(&self.db, self.provider.kind().as_str(), id.as_str())
                .await?
                .map(|r| r.status),
        )
    }
}
