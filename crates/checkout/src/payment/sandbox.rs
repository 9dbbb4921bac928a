//! The built-in `sandbox` provider: the PaymentIntent life cycle simulated in process
//! memory (per instance), driven by test card tokens instead of cards, so development
//! and tests need no network. Every state change queues a Stripe-format event; the
//! sender that delivers them over HTTP (late, duplicated, out of order) comes with the
//! web wiring — [`SandboxEvent::signed`] already builds the body and signature header,
//! and [`DeliveryPlan`] decides when each (re)delivery goes out.
//!
//! Test tokens (no card number is ever accepted, E5):
//!
//! | token | outcome |
//! |---|---|
//! | `tok_visa`, `tok_mastercard` | `succeeded` at once |
//! | `tok_decline` | declined (`card_declined`), back to `requires_payment_method` |
//! | `tok_insufficient_funds` | declined (`insufficient_funds`) |
//! | `tok_3ds` | `requires_action`; [`Sandbox::authenticate`] then succeeds or fails it |
//! | `tok_processing` | `processing`; [`Sandbox::settle`] then succeeds or fails it |

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use rampart_kernel::{Clock, Money};

use super::stripe::intent_to_value;
use super::{
    ChargeId, ClientSecret, IdempotencyKey, IntentId, IntentOwner, IntentStatus, MaskedCard,
    PaymentProvider, ProviderError, ProviderIntent, ProviderKind, ProviderRefund, RefundId,
    RefundStatus,
};
use crate::webhook::{sign, WebhookSecret};

/// One event the sandbox would deliver, in Stripe's format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxEvent {
    /// `evt_sb_…`, unique per event (redeliveries repeat it).
    pub id: String,
    /// `payment_intent.succeeded`…
    pub kind: &'static str,
    /// Unix seconds.
    pub created: i64,
    /// The intent as it was when the event happened.
    pub intent: ProviderIntent,
}

/// An event body with its `Stripe-Signature` header, ready to POST.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedDelivery {
    /// The raw JSON body.
    pub body: Vec<u8>,
    /// The `Stripe-Signature` header value (`t=…,v1=…`).
    pub signature: String,
}

impl SandboxEvent {
    /// The Stripe event JSON.
    pub fn body(&self) -> Vec<u8> {
        let v = serde_json::json!({
            "id": self.id,
            "object": "event",
            "api_version": null,
            "created": self.created,
            "livemode": false,
            "pending_webhooks": 1,
            "request": { "id": null, "idempotency_key": null },
            "type": self.kind,
            "data": { "object": intent_to_value(&self.intent, self.created) },
        });
        v.to_string().into_bytes()
    }

    /// Body and signature as of `now_secs` (a late delivery signs with its send time,
    /// as Stripe does).
    pub fn signed(&self, secret: &WebhookSecret, now_secs: i64) -> SignedDelivery {
        let body = self.body();
        let signature = sign(secret, now_secs, &body);
        SignedDelivery { body, signature }
    }
}

/// How the sandbox's sender misbehaves on purpose, like a real provider does: late,
/// duplicated and out of order deliveries, to exercise the inbox and the ordering rule.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryPlan {
    /// Seconds to wait before the first delivery.
    pub delay_secs: i64,
    /// Extra deliveries of every event (0: each once).
    pub duplicates: u32,
    /// Deliver newest first.
    pub reverse: bool,
}

impl DeliveryPlan {
    /// When to send what: `(send_at_secs, event)`, in sending order, one second apart
    /// from `now_secs + delay_secs`. Duplicates follow the whole first round, so a
    /// duplicate also arrives after newer events.
    pub fn schedule(&self, events: &[SandboxEvent], now_secs: i64) -> Vec<(i64, SandboxEvent)> {
        let mut round: Vec<&SandboxEvent> = events.iter().collect();
        if self.reverse {
            round.reverse();
        }
        let rounds = 1 + self.duplicates as usize;
        let start = now_secs.saturating_add(self.delay_secs.max(0));
        (0..rounds)
            .flat_map(|_| round.iter().copied())
            .zip(0i64..)
            .map(|(e, n)| (start.saturating_add(n), e.clone()))
            .collect()
    }
}

/// Undelivered events kept at most (a bound on memory when no sender runs).
const MAX_QUEUED_EVENTS: usize = 10_000;

#[derive(Debug)]
struct Stored {
    intent: ProviderIntent,
    /// What created it, to answer a reused idempotency key.
    fingerprint: (Money, IntentOwner),
    refunded: i64,
}

#[derive(Debug, Default)]
struct State {
    intents: HashMap<IntentId, Stored>,
    by_key: HashMap<String, IntentId>,
    refunds_by_key: HashMap<String, (IntentId, Money, ProviderRefund)>,
    events: VecDeque<SandboxEvent>,
    /// Refunds answer `Unavailable` without doing anything (an outage).
    refund_outage: bool,
    /// The next this many refunds are made but their answer is lost (`Unavailable`
    /// after the fact: a timeout after the provider acted).
    lost_refund_answers: u32,
}

/// The sandbox provider. Each instance is its own "provider" with its own intents;
/// share one behind an `Arc`.
#[derive(Debug)]
pub struct Sandbox {
    state: Mutex<State>,
    clock: Arc<dyn Clock>,
}

impl Sandbox {
    /// A fresh sandbox reading time from `clock`.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            state: Mutex::new(State::default()),
            clock,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave a half-made change behind (each
        // change is a few assignments), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn emit(&self, st: &mut State, kind: &'static str, intent: &ProviderIntent) {
        // The client secret is for the paying client only, never for a webhook body.
        let mut intent = intent.clone();
        intent.client_secret = None;
        if st.events.len() >= MAX_QUEUED_EVENTS {
            // Nobody is taking them (no sender wired): keep the newest.
            st.events.pop_front();
        }
        st.events.push_back(SandboxEvent {
            id: format!("evt_sb_{}", uuid::Uuid::new_v4().simple()),
            kind,
            created: self.clock.now_secs(),
            intent,
        });
    }

    /// Simulates a refund outage: while on, refunds fail with `Unavailable` and
    /// change nothing.
    pub fn set_refund_outage(&self, on: bool) {
        self.lock().refund_outage = on;
    }

    /// Simulates lost answers: the next `n` refunds are made, then answered with
    /// `Unavailable` (as a timeout after the provider acted looks to the caller).
    pub fn lose_refund_answers(&self, n: u32) {
        self.lock().lost_refund_answers = n;
    }

    /// Takes the events queued since the last call, oldest first.
    pub fn take_events(&self) -> Vec<SandboxEvent> {
        std::mem::take(&mut self.lock().events).into()
    }

    /// The paying client's confirmation with a test token (what Stripe.js does
    /// against Stripe). Anything but a known `tok_…` is refused, card numbers included.
    pub fn confirm(&self, id: &IntentId, token: &str) -> Result<ProviderIntent, ProviderError> {
        let mut st = self.lock();
        let stored = st.intents.get_mut(id).ok_or(ProviderError::NotFound)?;
        if !matches!(
            stored.intent.status,
            IntentStatus::RequiresPaymentMethod | IntentStatus::RequiresConfirmation
        ) {
            return Err(ProviderError::InvalidRequest {
                code: Some("payment_intent_unexpected_state".into()),
            });
        }
        let i = &mut stored.intent;
        let kind = match token {
            "tok_visa" | "tok_mastercard" => {
                let (brand, last4) = if token == "tok_visa" {
                    ("visa", "4242")
                } else {
                    ("mastercard", "4444")
                };
                succeed(i, MaskedCard::parse(brand, last4));
                "payment_intent.succeeded"
            }
            "tok_decline" | "tok_insufficient_funds" => {
                i.status = IntentStatus::RequiresPaymentMethod;
                let code = if token == "tok_decline" {
                    "card_declined"
                } else {
                    "insufficient_funds"
                };
                i.last_error = Some(code.into());
                let snapshot = i.clone();
                self.emit(&mut st, "payment_intent.payment_failed", &snapshot);
                return Err(ProviderError::Declined { code: code.into() });
            }
            "tok_3ds" => {
                i.status = IntentStatus::RequiresAction;
                i.last_error = None;
                "payment_intent.requires_action"
            }
            "tok_processing" => {
                i.status = IntentStatus::Processing;
                i.last_error = None;
                "payment_intent.processing"
            }
            _ => {
                return Err(ProviderError::InvalidRequest {
                    code: Some("unknown_test_token".into()),
                })
            }
        };
        let snapshot = i.clone();
        self.emit(&mut st, kind, &snapshot);
        Ok(snapshot)
    }

    /// The customer's 3-D Secure step on an intent in `requires_action`.
    pub fn authenticate(
        &self,
        id: &IntentId,
        success: bool,
    ) -> Result<ProviderIntent, ProviderError> {
        self.finish(
            id,
            IntentStatus::RequiresAction,
            success,
            "authentication_failed",
        )
    }

    /// The end of an asynchronous payment in `processing`.
    pub fn settle(&self, id: &IntentId, success: bool) -> Result<ProviderIntent, ProviderError> {
        self.finish(id, IntentStatus::Processing, success, "payment_failed")
    }

    fn finish(
        &self,
        id: &IntentId,
        from: IntentStatus,
        success: bool,
        failure: &str,
    ) -> Result<ProviderIntent, ProviderError> {
        let mut st = self.lock();
        let stored = st.intents.get_mut(id).ok_or(ProviderError::NotFound)?;
        let i = &mut stored.intent;
        if i.status != from {
            return Err(ProviderError::InvalidRequest {
                code: Some("payment_intent_unexpected_state".into()),
            });
        }
        let kind = if success {
            succeed(i, MaskedCard::parse("visa", "3184"));
            "payment_intent.succeeded"
        } else {
            i.status = IntentStatus::RequiresPaymentMethod;
            i.last_error = Some(failure.into());
            "payment_intent.payment_failed"
        };
        let snapshot = i.clone();
        self.emit(&mut st, kind, &snapshot);
        Ok(snapshot)
    }

    /// Cancels an intent that has not succeeded.
    pub fn cancel(&self, id: &IntentId) -> Result<ProviderIntent, ProviderError> {
        let mut st = self.lock();
        let stored = st.intents.get_mut(id).ok_or(ProviderError::NotFound)?;
        if stored.intent.status.is_terminal() {
            return Err(ProviderError::InvalidRequest {
                code: Some("payment_intent_unexpected_state".into()),
            });
        }
        stored.intent.status = IntentStatus::Canceled;
        let snapshot = stored.intent.clone();
        self.emit(&mut st, "payment_intent.canceled", &snapshot);
        Ok(snapshot)
    }
}

fn succeed(i: &mut ProviderIntent, card: Option<MaskedCard>) {
    i.status = IntentStatus::Succeeded;
    i.last_error = None;
    i.latest_charge = Some(ChargeId::generated("ch"));
    i.card = card;
}

impl PaymentProvider for Sandbox {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Sandbox
    }

    async fn create_intent(
        &self,
        key: &IdempotencyKey,
        amount: Money,
        owner: &IntentOwner,
    ) -> Result<ProviderIntent, ProviderError> {
        if amount.minor <= 0 {
            return Err(ProviderError::InvalidRequest {
                code: Some("amount_too_small".into()),
            });
        }
        let mut st = self.lock();
        if let Some(id) = st.by_key.get(key.as_str()) {
            let stored = st.intents.get(id).ok_or(ProviderError::NotFound)?;
            if stored.fingerprint != (amount, owner.clone()) {
                return Err(ProviderError::IdempotencyConflict);
            }
            return Ok(stored.intent.clone());
        }
        let id: IntentId = IntentId::generated("pi");
        let intent = ProviderIntent {
            client_secret: Some(ClientSecret::new(format!(
                "{id}_secret_{}",
                uuid::Uuid::new_v4().simple()
            ))),
            id: id.clone(),
            status: IntentStatus::RequiresPaymentMethod,
            amount,
            metadata: owner.metadata(),
            latest_charge: None,
            card: None,
            last_error: None,
        };
        st.by_key.insert(key.as_str().to_owned(), id.clone());
        st.intents.insert(
            id,
            Stored {
                intent: intent.clone(),
                fingerprint: (amount, owner.clone()),
                refunded: 0,
            },
        );
        self.emit(&mut st, "payment_intent.created", &intent);
        Ok(intent)
    }

    async fn retrieve_intent(&self, id: &IntentId) -> Result<ProviderIntent, ProviderError> {
        let st = self.lock();
        st.intents
            .get(id)
            .map(|s| s.intent.clone())
            .ok_or(ProviderError::NotFound)
    }

    async fn refund(
        &self,
        intent: &IntentId,
        amount: Money,
        key: &IdempotencyKey,
    ) -> Result<ProviderRefund, ProviderError> {
        let mut st = self.lock();
        if st.refund_outage {
            return Err(ProviderError::Unavailable("sandbox refund outage".into()));
        }
        if let Some((i, a, r)) = st.refunds_by_key.get(key.as_str()) {
            if i != intent || *a != amount {
                return Err(ProviderError::IdempotencyConflict);
            }
            return Ok(r.clone());
        }
        let stored = st.intents.get_mut(intent).ok_or(ProviderError::NotFound)?;
        if stored.intent.status != IntentStatus::Succeeded
            || amount.currency != stored.intent.amount.currency
            || amount.minor <= 0
        {
            return Err(ProviderError::NotRefundable);
        }
        let refunded = stored
            .refunded
            .checked_add(amount.minor)
            .filter(|r| *r <= stored.intent.amount.minor)
            .ok_or(ProviderError::NotRefundable)?;
        stored.refunded = refunded;
        let refund = ProviderRefund {
            id: RefundId::generated("re"),
            intent: Some(intent.clone()),
            amount,
            status: RefundStatus::Succeeded,
        };
        st.refunds_by_key.insert(
            key.as_str().to_owned(),
            (intent.clone(), amount, refund.clone()),
        );
        if st.lost_refund_answers > 0 {
            st.lost_refund_answers -= 1;
            return Err(ProviderError::Unavailable(
                "sandbox: the refund was made, its answer lost".into(),
            ));
        }
        Ok(refund)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::payment::verify_completion;
    use crate::webhook::{parse_event, SignatureVerifier};
    use rampart_kernel::ids::CartId;
    use rampart_kernel::{Currency, ManualClock, UserId};

    fn eur(minor: i64) -> Money {
        Money::new(minor, Currency::parse("EUR").unwrap())
    }
    fn owner() -> IntentOwner {
        IntentOwner {
            cart: CartId::generate(),
            customer: UserId::generate(),
        }
    }
    fn sandbox() -> (Sandbox, ManualClock) {
        let clock = ManualClock::new(1_700_000_000_000);
        (Sandbox::new(Arc::new(clock.clone())), clock)
    }

    #[tokio::test]
    async fn create_is_idempotent_by_key() {
        let (sb, _) = sandbox();
        let me = owner();
        let key = IdempotencyKey::for_intent(&me.cart, eur(1000));
        let a = sb.create_intent(&key, eur(1000), &me).await.unwrap();
        let b = sb.create_intent(&key, eur(1000), &me).await.unwrap();
        assert_eq!(a.id, b.id);
        assert_eq!(a.status, IntentStatus::RequiresPaymentMethod);
        assert!(a.id.as_str().starts_with("pi_sb_"));
        assert_eq!(
            sb.create_intent(&key, eur(999), &me).await,
            Err(ProviderError::IdempotencyConflict)
        );
        assert_eq!(
            sb.create_intent(&key, eur(1000), &owner()).await,
            Err(ProviderError::IdempotencyConflict)
        );
        let other = IdempotencyKey::parse("other").unwrap();
        assert_ne!(
            sb.create_intent(&other, eur(1000), &me).await.unwrap().id,
            a.id
        );
        assert_eq!(
            sb.create_intent(&other, eur(0), &me)
                .await
                .unwrap_err()
                .code(),
            "payment_provider_refused"
        );
        assert_eq!(sb.take_events().len(), 2, "one created event per intent");
    }

    #[tokio::test]
    async fn a_good_card_succeeds_and_completes_the_checkout() {
        let (sb, _) = sandbox();
        let me = owner();
        let key = IdempotencyKey::for_intent(&me.cart, eur(2500));
        let i = sb.create_intent(&key, eur(2500), &me).await.unwrap();
        assert_eq!(
            verify_completion(&i, &me.cart, &me.customer, eur(2500))
                .unwrap_err()
                .code(),
            "payment_not_succeeded"
        );
        sb.confirm(&i.id, "tok_visa").unwrap();
        let i = sb.retrieve_intent(&i.id).await.unwrap();
        assert_eq!(i.status, IntentStatus::Succeeded);
        assert!(i.latest_charge.is_some());
        assert_eq!(i.card, MaskedCard::parse("visa", "4242"));
        assert_eq!(
            verify_completion(&i, &me.cart, &me.customer, eur(2500)),
            Ok(())
        );
        // Confirming again is refused: the state machine does not run twice.
        assert!(sb.confirm(&i.id, "tok_visa").is_err());
        let kinds: Vec<_> = sb.take_events().iter().map(|e| e.kind).collect();
        assert_eq!(
            kinds,
            ["payment_intent.created", "payment_intent.succeeded"]
        );
    }

    #[tokio::test]
    async fn declines_leave_the_intent_retryable() {
        let (sb, _) = sandbox();
        let me = owner();
        let key = IdempotencyKey::for_intent(&me.cart, eur(100));
        let i = sb.create_intent(&key, eur(100), &me).await.unwrap();
        assert_eq!(
            sb.confirm(&i.id, "tok_decline"),
            Err(ProviderError::Declined {
                code: "card_declined".into()
            })
        );
        let after = sb.retrieve_intent(&i.id).await.unwrap();
        assert_eq!(after.status, IntentStatus::RequiresPaymentMethod);
        assert_eq!(after.last_error.as_deref(), Some("card_declined"));
        assert!(matches!(
            sb.confirm(&i.id, "tok_insufficient_funds"),
            Err(ProviderError::Declined { .. })
        ));
        sb.confirm(&i.id, "tok_mastercard").unwrap();
        let after = sb.retrieve_intent(&i.id).await.unwrap();
        assert_eq!(after.status, IntentStatus::Succeeded);
        assert_eq!(after.last_error, None);
    }

    #[tokio::test]
    async fn three_d_secure_needs_the_action_step() {
        let (sb, _) = sandbox();
        let me = owner();
        let mk = |n: i64| IdempotencyKey::for_intent(&me.cart, eur(n));
        let i = sb.create_intent(&mk(100), eur(100), &me).await.unwrap();
        assert_eq!(
            sb.confirm(&i.id, "tok_3ds").unwrap().status,
            IntentStatus::RequiresAction
        );
        assert_eq!(
            sb.authenticate(&i.id, true).unwrap().status,
            IntentStatus::Succeeded
        );
        let j = sb.create_intent(&mk(200), eur(200), &me).await.unwrap();
        sb.confirm(&j.id, "tok_3ds").unwrap();
        let failed = sb.authenticate(&j.id, false).unwrap();
        assert_eq!(failed.status, IntentStatus::RequiresPaymentMethod);
        assert!(sb.authenticate(&j.id, true).is_err(), "no pending action");
        let k = sb.create_intent(&mk(300), eur(300), &me).await.unwrap();
        sb.confirm(&k.id, "tok_processing").unwrap();
        assert_eq!(
            sb.settle(&k.id, true).unwrap().status,
            IntentStatus::Succeeded
        );
    }

    #[tokio::test]
    async fn no_card_number_or_unknown_token_is_accepted() {
        let (sb, _) = sandbox();
        let me = owner();
        let i = sb
            .create_intent(&IdempotencyKey::parse("k").unwrap(), eur(100), &me)
            .await
            .unwrap();
        for bad in ["4242424242424242", "tok_unknown", ""] {
            assert_eq!(
                sb.confirm(&i.id, bad),
                Err(ProviderError::InvalidRequest {
                    code: Some("unknown_test_token".into())
                })
            );
        }
        let missing = IntentId::parse("pi_missing").unwrap();
        assert_eq!(
            sb.confirm(&missing, "tok_visa"),
            Err(ProviderError::NotFound)
        );
        assert_eq!(
            sb.retrieve_intent(&missing).await,
            Err(ProviderError::NotFound)
        );
    }

    #[tokio::test]
    async fn refunds_are_bounded_and_idempotent() {
        let (sb, _) = sandbox();
        let me = owner();
        let i = sb
            .create_intent(&IdempotencyKey::parse("k").unwrap(), eur(1000), &me)
            .await
            .unwrap();
        let k1 = IdempotencyKey::for_refund(&i.id, 1);
        assert_eq!(
            sb.refund(&i.id, eur(100), &k1).await,
            Err(ProviderError::NotRefundable),
            "not paid yet"
        );
        sb.confirm(&i.id, "tok_visa").unwrap();
        let r1 = sb.refund(&i.id, eur(600), &k1).await.unwrap();
        assert_eq!(sb.refund(&i.id, eur(600), &k1).await.unwrap(), r1, "replay");
        assert_eq!(
            sb.refund(&i.id, eur(500), &k1).await,
            Err(ProviderError::IdempotencyConflict)
        );
        let k2 = IdempotencyKey::for_refund(&i.id, 2);
        assert_eq!(
            sb.refund(&i.id, eur(401), &k2).await,
            Err(ProviderError::NotRefundable),
            "more than is left"
        );
        let usd = Money::new(400, Currency::parse("USD").unwrap());
        assert_eq!(
            sb.refund(&i.id, usd, &k2).await,
            Err(ProviderError::NotRefundable)
        );
        let r2 = sb.refund(&i.id, eur(400), &k2).await.unwrap();
        assert_ne!(r1.id, r2.id);
        assert_eq!(r2.status, RefundStatus::Succeeded);
    }

    #[tokio::test]
    async fn deliveries_can_be_late_duplicated_and_out_of_order() {
        let (sb, clock) = sandbox();
        let i = sb
            .create_intent(&IdempotencyKey::parse("k").unwrap(), eur(1000), &owner())
            .await
            .unwrap();
        sb.confirm(&i.id, "tok_processing").unwrap();
        sb.settle(&i.id, true).unwrap();
        let events = sb.take_events();
        let now = clock.now_secs();
        let plan = DeliveryPlan {
            delay_secs: 600,
            duplicates: 1,
            reverse: true,
        };
        let schedule = plan.schedule(&events, now);
        let kinds: Vec<_> = schedule.iter().map(|(_, e)| e.kind).collect();
        assert_eq!(
            kinds,
            [
                "payment_intent.succeeded",
                "payment_intent.processing",
                "payment_intent.created",
                "payment_intent.succeeded",
                "payment_intent.processing",
                "payment_intent.created"
            ]
        );
        assert_eq!(schedule[0].0, now + 600);
        assert_eq!(schedule[5].0, now + 605);
        assert_eq!(
            schedule[0].1.id, schedule[3].1.id,
            "a duplicate repeats the ID"
        );
        // Applied in this order, the stored state ends at succeeded and stays there.
        let mut stored = IntentStatus::RequiresPaymentMethod;
        for (_, e) in &schedule {
            let failure = e.kind == "payment_intent.payment_failed";
            if let Some(next) = stored.after_event(e.intent.status, failure) {
                stored = next;
            }
        }
        assert_eq!(stored, IntentStatus::Succeeded);
        assert_eq!(DeliveryPlan::default().schedule(&events, now).len(), 3);
    }

    #[tokio::test]
    async fn events_are_signed_stripe_events_the_webhook_side_accepts() {
        let (sb, clock) = sandbox();
        let me = owner();
        let i = sb
            .create_intent(&IdempotencyKey::parse("k").unwrap(), eur(1000), &me)
            .await
            .unwrap();
        sb.confirm(&i.id, "tok_3ds").unwrap();
        sb.authenticate(&i.id, true).unwrap();
        let events = sb.take_events();
        assert!(sb.take_events().is_empty());
        let secret = WebhookSecret::parse("whsec_sandbox_test").unwrap();
        let verifier =
            SignatureVerifier::new(vec![secret.clone()], Arc::new(clock.clone())).unwrap();
        let last = events.last().unwrap();
        // Delivered late: signed at send time, so still inside the tolerance.
        clock.advance_secs(3600);
        let d = last.signed(&secret, clock.now_secs());
        verifier.verify(&d.signature, &d.body).unwrap();
        let parsed = parse_event(&d.body).unwrap();
        assert_eq!(parsed.id.as_str(), last.id);
        assert_eq!(parsed.type_name, "payment_intent.succeeded");
        let intent = parsed.intent.unwrap();
        assert_eq!(last.intent.client_secret, None, "never in events");
        assert_eq!(intent, {
            let mut i = sb.retrieve_intent(&i.id).await.unwrap();
            i.client_secret = None;
            i
        });
        assert_eq!(
            verify_completion(&intent, &me.cart, &me.customer, eur(1000)),
            Ok(())
        );
    }
}
