//! Payment providers enter through one port, [`PaymentProvider`] (E2, E5): create an
//! intent under an idempotency key with the cart and customer in its metadata, read the
//! provider's own record of it, refund. Two adapters: [`sandbox`] (in-process, the
//! default for development and tests) and [`stripe`] (Stripe's REST API).
//!
//! Completion never trusts the client: [`verify_completion`] checks the provider's
//! record against this cart, this customer and this total. Only provider references
//! (intent, charge and refund IDs, a masked card) ever cross into Rampart.

pub mod http;
pub mod sandbox;
pub mod stripe;

use std::fmt;
use std::future::Future;

use rampart_kernel::ids::CartId;
use rampart_kernel::{Money, UserId};

/// Which adapter: also the `{provider}` of the webhook route and the inbox key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProviderKind {
    /// The built-in sandbox.
    Sandbox,
    /// Stripe.
    Stripe,
}

impl ProviderKind {
    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sandbox => "sandbox",
            Self::Stripe => "stripe",
        }
    }
    /// Parses a route segment or configuration value.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "sandbox" => Some(Self::Sandbox),
            "stripe" => Some(Self::Stripe),
            _ => None,
        }
    }
}

/// A reference a provider gave out or a client sent: 1–255 of `A-Za-z0-9_`.
fn reference_ok(s: &str) -> bool {
    !s.is_empty() && s.len() <= 255 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// A provider reference that is not `A-Za-z0-9_`, 1–255 long.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed provider reference")]
pub struct MalformedReference;

macro_rules! reference {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// Parses an untrusted reference (from a client or a provider response).
            pub fn parse(s: &str) -> Result<Self, MalformedReference> {
                if reference_ok(s) {
                    Ok(Self(s.to_owned()))
                } else {
                    Err(MalformedReference)
                }
            }
            /// A fresh sandbox reference, `{prefix}_sb_{32 hex}`.
            pub(crate) fn generated(prefix: &str) -> Self {
                Self(format!("{prefix}_sb_{}", uuid::Uuid::new_v4().simple()))
            }
            /// The text form.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

reference!(
    /// A provider's payment intent (`pi_…`).
    IntentId
);
reference!(
    /// A provider's charge (`ch_…`, `py_…`).
    ChargeId
);
reference!(
    /// A provider's refund (`re_…`).
    RefundId
);

/// An idempotency key sent to the provider: 1–255 printable ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

/// A key that is empty, too long or not printable ASCII.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed idempotency key")]
pub struct MalformedKey;

impl IdempotencyKey {
    /// Parses an untrusted key (e.g. a client's `Idempotency-Key` header).
    pub fn parse(s: &str) -> Result<Self, MalformedKey> {
        if s.is_empty() || s.len() > 255 || !s.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(MalformedKey);
        }
        Ok(Self(s.to_owned()))
    }
    /// The key for a cart's one payment intent at this total: a retry of the same
    /// checkout reuses the intent; a changed total makes a new one instead of
    /// colliding with the old request's parameters.
    pub fn for_intent(cart: &CartId, amount: Money) -> Self {
        Self(format!(
            "rampart-pi-{cart}-{}-{}",
            amount.minor,
            amount.currency.as_str().to_ascii_lowercase()
        ))
    }
    /// The key for the cart's intent after `attempt` earlier intents were refunded
    /// unfulfilled (0: the same key as [`Self::for_intent`]).
    pub fn for_intent_attempt(cart: &CartId, amount: Money, attempt: i64) -> Self {
        let base = Self::for_intent(cart, amount);
        if attempt <= 0 {
            base
        } else {
            Self(format!("{}-{attempt}", base.0))
        }
    }
    /// The key for a refund; `sequence` is the refund's number within the order, so
    /// a retried refund is one refund and a second partial refund is another.
    pub fn for_refund(intent: &IntentId, sequence: u32) -> Self {
        Self(format!("rampart-re-{intent}-{sequence}"))
    }
    /// The text form.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A secret the client needs to confirm an intent with the provider's script
/// (`pi_…_secret_…`). Never logged: `Debug` is redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientSecret(String);

impl ClientSecret {
    /// Wraps a secret from a provider response.
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    /// The secret, for the one response that hands it to the paying client.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientSecret(REDACTED)")
    }
}

/// The life cycle of a payment intent (Stripe's states).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IntentStatus {
    /// Created, or a confirmation failed: waits for a payment method.
    RequiresPaymentMethod,
    /// Has a payment method, not yet confirmed.
    RequiresConfirmation,
    /// Waits for the customer (3-D Secure).
    RequiresAction,
    /// The payment is under way.
    Processing,
    /// Authorised, to be captured (manual capture).
    RequiresCapture,
    /// Paid. Terminal.
    Succeeded,
    /// Canceled. Terminal.
    Canceled,
}

impl IntentStatus {
    /// The provider's name of the state.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RequiresPaymentMethod => "requires_payment_method",
            Self::RequiresConfirmation => "requires_confirmation",
            Self::RequiresAction => "requires_action",
            Self::Processing => "processing",
            Self::RequiresCapture => "requires_capture",
            Self::Succeeded => "succeeded",
            Self::Canceled => "canceled",
        }
    }
    /// Parses the provider's name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "requires_payment_method" => Self::RequiresPaymentMethod,
            "requires_confirmation" => Self::RequiresConfirmation,
            "requires_action" => Self::RequiresAction,
            "processing" => Self::Processing,
            "requires_capture" => Self::RequiresCapture,
            "succeeded" => Self::Succeeded,
            "canceled" => Self::Canceled,
            _ => return None,
        })
    }
    /// No state follows.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Succeeded | Self::Canceled)
    }
    fn rank(self) -> u8 {
        match self {
            Self::RequiresPaymentMethod => 0,
            Self::RequiresConfirmation => 1,
            Self::RequiresAction => 2,
            Self::Processing => 3,
            Self::RequiresCapture => 4,
            Self::Succeeded | Self::Canceled => 5,
        }
    }

    /// The state to store when an event reports `incoming` for an intent stored as
    /// `self`, or `None` to ignore the event: events arrive late, duplicated and out
    /// of order, and a state never moves backwards. Terminal states never change. The
    /// one step back the life cycle has — a failed attempt returning the intent to
    /// `requires_payment_method` — is taken only from a failure event (`failure`),
    /// never from a late `created` event.
    ///
    /// ```
    /// use rampart_checkout::payment::IntentStatus::*;
    /// assert_eq!(Processing.after_event(Succeeded, false), Some(Succeeded));
    /// assert_eq!(Succeeded.after_event(Processing, false), None);
    /// assert_eq!(RequiresAction.after_event(RequiresPaymentMethod, true), Some(RequiresPaymentMethod));
    /// ```
    pub fn after_event(self, incoming: IntentStatus, failure: bool) -> Option<IntentStatus> {
        if self.is_terminal() || incoming == self {
            return None;
        }
        if incoming.rank() > self.rank() {
            return Some(incoming);
        }
        if failure && incoming == Self::RequiresPaymentMethod {
            return Some(incoming);
        }
        None
    }
}

/// The metadata Rampart puts on an intent, as the provider reports it back
/// (untrusted text: compared, never parsed into IDs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IntentMetadata {
    /// `metadata[cart_id]`.
    pub cart_id: Option<String>,
    /// `metadata[customer_id]`.
    pub customer_id: Option<String>,
}

/// The cart and customer an intent is created for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntentOwner {
    /// The cart being paid.
    pub cart: CartId,
    /// The customer paying.
    pub customer: UserId,
}

impl IntentOwner {
    /// As metadata.
    pub fn metadata(&self) -> IntentMetadata {
        IntentMetadata {
            cart_id: Some(self.cart.as_str().to_owned()),
            customer_id: Some(self.customer.as_str().to_owned()),
        }
    }
}

/// Masked card details: all Rampart ever holds of a card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaskedCard {
    /// `visa`, `mastercard`…
    pub brand: String,
    /// The last four digits.
    pub last4: String,
}

impl MaskedCard {
    /// Checks a provider's values: a short lower-case brand and exactly four digits.
    pub fn parse(brand: &str, last4: &str) -> Option<Self> {
        let brand_ok = !brand.is_empty()
            && brand.len() <= 32
            && brand
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b' ');
        let last4_ok = last4.len() == 4 && last4.bytes().all(|b| b.is_ascii_digit());
        (brand_ok && last4_ok).then(|| Self {
            brand: brand.to_ascii_lowercase(),
            last4: last4.to_owned(),
        })
    }
}

/// A payment intent as the provider's own record says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderIntent {
    /// The provider's ID.
    pub id: IntentId,
    /// Its state.
    pub status: IntentStatus,
    /// Amount and currency.
    pub amount: Money,
    /// Cart and customer, as the provider reports them.
    pub metadata: IntentMetadata,
    /// The latest charge, once there is one.
    pub latest_charge: Option<ChargeId>,
    /// The card, masked, when the provider reported it.
    pub card: Option<MaskedCard>,
    /// Why the last attempt failed (`card_declined`, `insufficient_funds`…).
    pub last_error: Option<String>,
    /// For the paying client's confirmation step.
    pub client_secret: Option<ClientSecret>,
}

/// The state of a refund.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundStatus {
    /// Under way.
    Pending,
    /// Waits for the customer or the provider.
    RequiresAction,
    /// Done.
    Succeeded,
    /// Failed.
    Failed,
    /// Canceled.
    Canceled,
}

impl RefundStatus {
    /// Parses the provider's name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => Self::Pending,
            "requires_action" => Self::RequiresAction,
            "succeeded" => Self::Succeeded,
            "failed" => Self::Failed,
            "canceled" => Self::Canceled,
            _ => return None,
        })
    }
}

/// A refund as the provider reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderRefund {
    /// The provider's ID.
    pub id: RefundId,
    /// The intent refunded, when the provider says.
    pub intent: Option<IntentId>,
    /// Amount and currency.
    pub amount: Money,
    /// Its state.
    pub status: RefundStatus,
}

/// What a provider call can fail with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// The provider refused the parameters (`code` is the provider's, if any).
    #[error("provider refused the request ({code:?})")]
    InvalidRequest {
        /// The provider's error code.
        code: Option<String>,
    },
    /// The card was declined.
    #[error("card declined ({code})")]
    Declined {
        /// `card_declined`, `insufficient_funds`…
        code: String,
    },
    /// The idempotency key was used before with other parameters (or is in use).
    #[error("idempotency key reused with other parameters")]
    IdempotencyConflict,
    /// No such intent or refund.
    #[error("not found at the provider")]
    NotFound,
    /// A refund larger than what is left to refund, or of an unpaid intent.
    #[error("not refundable")]
    NotRefundable,
    /// The secret key was refused.
    #[error("provider authentication failed")]
    Authentication,
    /// The provider asked us to slow down.
    #[error("provider rate limit")]
    RateLimited,
    /// The provider could not be reached or failed (5xx, timeout, TLS).
    #[error("provider unavailable: {0}")]
    Unavailable(String),
    /// The provider answered something we cannot read.
    #[error("unreadable provider response: {0}")]
    Malformed(String),
}

impl ProviderError {
    /// The stable code the web edge answers with.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidRequest { .. } => "payment_provider_refused",
            Self::Declined { .. } => "payment_declined",
            Self::IdempotencyConflict => "payment_idempotency_conflict",
            Self::NotFound => "payment_intent_not_found",
            Self::NotRefundable => "refund_not_possible",
            Self::Authentication => "payment_provider_misconfigured",
            Self::RateLimited | Self::Unavailable(_) | Self::Malformed(_) => {
                "payment_provider_unavailable"
            }
        }
    }
}

/// The port every payment provider adapter implements.
///
/// Futures are `Send` so handlers can await them on the multi-threaded runtime; the
/// trait is used generically or through [`AnyProvider`] (the binary picks one).
pub trait PaymentProvider: Send + Sync {
    /// Which adapter this is.
    fn kind(&self) -> ProviderKind;

    /// Creates an intent for `amount`, owned by `owner`. The same `key` with the same
    /// parameters answers the same intent; with other parameters
    /// [`ProviderError::IdempotencyConflict`].
    fn create_intent(
        &self,
        key: &IdempotencyKey,
        amount: Money,
        owner: &IntentOwner,
    ) -> impl Future<Output = Result<ProviderIntent, ProviderError>> + Send;

    /// The provider's current record of an intent.
    fn retrieve_intent(
        &self,
        id: &IntentId,
    ) -> impl Future<Output = Result<ProviderIntent, ProviderError>> + Send;

    /// Refunds `amount` (all or part) of a succeeded intent, once per `key`.
    fn refund(
        &self,
        intent: &IntentId,
        amount: Money,
        key: &IdempotencyKey,
    ) -> impl Future<Output = Result<ProviderRefund, ProviderError>> + Send;
}

/// One of the adapters, chosen at start-up.
#[derive(Debug)]
pub enum AnyProvider<T = http::HttpsTransport> {
    /// The built-in sandbox.
    Sandbox(sandbox::Sandbox),
    /// Stripe over transport `T`.
    Stripe(stripe::Stripe<T>),
}

impl<T: stripe::Transport> PaymentProvider for AnyProvider<T> {
    fn kind(&self) -> ProviderKind {
        match self {
            Self::Sandbox(p) => p.kind(),
            Self::Stripe(p) => p.kind(),
        }
    }
    async fn create_intent(
        &self,
        key: &IdempotencyKey,
        amount: Money,
        owner: &IntentOwner,
    ) -> Result<ProviderIntent, ProviderError> {
        match self {
            Self::Sandbox(p) => p.create_intent(key, amount, owner).await,
            Self::Stripe(p) => p.create_intent(key, amount, owner).await,
        }
    }
    async fn retrieve_intent(&self, id: &IntentId) -> Result<ProviderIntent, ProviderError> {
        match self {
            Self::Sandbox(p) => p.retrieve_intent(id).await,
            Self::Stripe(p) => p.retrieve_intent(id).await,
        }
    }
    async fn refund(
        &self,
        intent: &IntentId,
        amount: Money,
        key: &IdempotencyKey,
    ) -> Result<ProviderRefund, ProviderError> {
        match self {
            Self::Sandbox(p) => p.refund(intent, amount, key).await,
            Self::Stripe(p) => p.refund(intent, amount, key).await,
        }
    }
}

impl<T: Send + Sync> crate::sender::SandboxSource for AnyProvider<T> {
    fn sandbox(&self) -> Option<&sandbox::Sandbox> {
        match self {
            Self::Sandbox(s) => Some(s),
            Self::Stripe(_) => None,
        }
    }
}

/// Why an intent does not complete this checkout (E2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CompletionError {
    /// The intent's metadata names another cart or another customer.
    #[error("payment intent not owned by this cart and customer")]
    NotOwned,
    /// The intent is in another currency than the cart.
    #[error("payment currency differs from the cart's")]
    CurrencyMismatch,
    /// The intent's amount differs from the cart total.
    #[error("payment amount differs from the cart total")]
    AmountMismatch,
    /// The intent has not succeeded (yet).
    #[error("payment has not succeeded")]
    NotSucceeded,
}

impl CompletionError {
    /// The stable code the web edge answers with.
    pub fn code(self) -> &'static str {
        match self {
            Self::NotOwned => "payment_intent_not_owned",
            Self::CurrencyMismatch => "payment_currency_mismatch",
            Self::AmountMismatch => "payment_amount_mismatch",
            Self::NotSucceeded => "payment_not_succeeded",
        }
    }
}

/// Checks the provider's record of an intent against the checkout being completed:
/// owner first (another customer's or cart's intent says nothing else about this
/// cart), then currency, amount, and last the state.
pub fn verify_completion(
    intent: &ProviderIntent,
    cart: &CartId,
    customer: &UserId,
    expected: Money,
) -> Result<(), CompletionError> {
    let owned = intent.metadata.cart_id.as_deref() == Some(cart.as_str())
        && intent.metadata.customer_id.as_deref() == Some(customer.as_str());
    if !owned {
        return Err(CompletionError::NotOwned);
    }
    if intent.amount.currency != expected.currency {
        return Err(CompletionError::CurrencyMismatch);
    }
    if intent.amount.minor != expected.minor {
        return Err(CompletionError::AmountMismatch);
    }
    if intent.status != IntentStatus::Succeeded {
        return Err(CompletionError::NotSucceeded);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use rampart_kernel::Currency;

    fn eur(minor: i64) -> Money {
        Money::new(minor, Currency::parse("EUR").unwrap())
    }

    fn intent(owner: &IntentOwner, amount: Money, status: IntentStatus) -> ProviderIntent {
        ProviderIntent {
            id: IntentId::parse("pi_123").unwrap(),
            status,
            amount,
            metadata: owner.metadata(),
            latest_charge: None,
            card: None,
            last_error: None,
            client_secret: Some(ClientSecret::new("pi_123_secret_abc")),
        }
    }

    #[test]
    fn completion_checks_owner_currency_amount_and_state() {
        let me = IntentOwner {
            cart: CartId::generate(),
            customer: UserId::generate(),
        };
        let ok = intent(&me, eur(2500), IntentStatus::Succeeded);
        let check = |i: &ProviderIntent| verify_completion(i, &me.cart, &me.customer, eur(2500));
        assert_eq!(check(&ok), Ok(()));

        let other_customer = IntentOwner {
            customer: UserId::generate(),
            ..me.clone()
        };
        let other_cart = IntentOwner {
            cart: CartId::generate(),
            ..me.clone()
        };
        for other in [other_customer, other_cart] {
            let i = intent(&other, eur(2500), IntentStatus::Succeeded);
            assert_eq!(check(&i).unwrap_err().code(), "payment_intent_not_owned");
        }
        let mut no_meta = ok.clone();
        no_meta.metadata = IntentMetadata::default();
        assert_eq!(check(&no_meta), Err(CompletionError::NotOwned));

        let usd = Money::new(2500, Currency::parse("USD").unwrap());
        let i = intent(&me, usd, IntentStatus::Succeeded);
        assert_eq!(check(&i).unwrap_err().code(), "payment_currency_mismatch");
        let i = intent(&me, eur(1), IntentStatus::Succeeded);
        assert_eq!(check(&i).unwrap_err().code(), "payment_amount_mismatch");
        for s in [
            IntentStatus::RequiresPaymentMethod,
            IntentStatus::RequiresAction,
            IntentStatus::Processing,
            IntentStatus::RequiresCapture,
            IntentStatus::Canceled,
        ] {
            let i = intent(&me, eur(2500), s);
            assert_eq!(check(&i).unwrap_err().code(), "payment_not_succeeded");
        }
        // A not-owned intent is refused as such even when it also mismatches.
        let i = intent(&other_owner(), eur(1), IntentStatus::Processing);
        assert_eq!(check(&i), Err(CompletionError::NotOwned));
    }

    fn other_owner() -> IntentOwner {
        IntentOwner {
            cart: CartId::generate(),
            customer: UserId::generate(),
        }
    }

    #[test]
    fn events_never_move_a_state_backwards() {
        use IntentStatus::*;
        let all = [
            RequiresPaymentMethod,
            RequiresConfirmation,
            RequiresAction,
            Processing,
            RequiresCapture,
            Succeeded,
            Canceled,
        ];
        for incoming in all {
            for failure in [false, true] {
                assert_eq!(Succeeded.after_event(incoming, failure), None);
                assert_eq!(Canceled.after_event(incoming, failure), None);
            }
        }
        assert_eq!(
            RequiresPaymentMethod.after_event(Succeeded, false),
            Some(Succeeded)
        );
        assert_eq!(Processing.after_event(RequiresAction, false), None);
        assert_eq!(Processing.after_event(Processing, false), None);
        assert_eq!(Processing.after_event(Canceled, false), Some(Canceled));
        // A late `created` event does not undo progress; a failure does.
        assert_eq!(
            RequiresAction.after_event(RequiresPaymentMethod, false),
            None
        );
        assert_eq!(
            Processing.after_event(RequiresPaymentMethod, true),
            Some(RequiresPaymentMethod)
        );
        for s in all {
            assert_eq!(IntentStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(IntentStatus::parse("paid"), None);
    }

    #[test]
    fn references_keys_and_cards_are_parsed() {
        assert!(IntentId::parse("pi_3MtwBwLkdIwHu7ix28a3tqPa").is_ok());
        for bad in ["", "pi 1", "pi_1/../x", "pi_ü", &"a".repeat(256)] {
            assert!(IntentId::parse(bad).is_err(), "{bad:?}");
        }
        assert!(IdempotencyKey::parse("abc-123:x").is_ok());
        assert!(IdempotencyKey::parse("has space").is_err());
        assert!(IdempotencyKey::parse("").is_err());
        let cart = CartId::generate();
        assert_eq!(
            IdempotencyKey::for_intent(&cart, eur(100)),
            IdempotencyKey::for_intent(&cart, eur(100))
        );
        assert_ne!(
            IdempotencyKey::for_intent(&cart, eur(100)),
            IdempotencyKey::for_intent(&cart, eur(101))
        );
        assert!(IdempotencyKey::parse(IdempotencyKey::for_intent(&cart, eur(1)).as_str()).is_ok());
        assert_eq!(
            MaskedCard::parse("Visa", "4242"),
            Some(MaskedCard {
                brand: "visa".into(),
                last4: "4242".into()
            })
        );
        assert_eq!(MaskedCard::parse("visa", "4242424242424242"), None);
        assert_eq!(MaskedCard::parse("visa", "42a2"), None);
        let s = format!("{:?}", ClientSecret::new("pi_1_secret_xyz"));
        assert!(!s.contains("xyz"));
        assert_eq!(ProviderKind::parse("stripe"), Some(ProviderKind::Stripe));
        assert_eq!(ProviderKind::parse("paypal"), None);
    }
}
