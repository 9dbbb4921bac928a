//! The Stripe adapter against recorded Stripe responses (`tests/fixtures/stripe`).

use std::sync::{Arc, Mutex};

use rampart_checkout::payment::stripe::{
    parse_intent, parse_refund, Method, RawResponse, SecretKey, Stripe, StripeRequest, Transport,
};
use rampart_checkout::payment::{
    verify_completion, IdempotencyKey, IntentId, IntentOwner, IntentStatus, MaskedCard,
    PaymentProvider, ProviderError, RefundStatus,
};
use rampart_checkout::webhook::{parse_event, sign, EventKind, SignatureVerifier, WebhookSecret};
use rampart_kernel::ids::CartId;
use rampart_kernel::{Currency, ManualClock, Money, UserId};

const CART: &str = "0192f0a4-5c1d-7e2a-8b3c-4d5e6f708192";
const CUSTOMER: &str = "0192f0a4-5c1d-7e2a-8b3c-4d5e6f708193";
const INTENT: &str = "pi_3QfRmpLkq2xV0aZc1n7TcWdE";

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/stripe/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn eur(minor: i64) -> Money {
    Money::new(minor, Currency::parse("EUR").unwrap())
}

fn owner() -> IntentOwner {
    IntentOwner {
        cart: CartId::from_stored(CART),
        customer: UserId::from_stored(CUSTOMER),
    }
}

/// Answers each call with the next recorded response and keeps what was sent.
#[derive(Debug, Default)]
struct Tape {
    replies: Mutex<Vec<(u16, &'static str)>>,
    sent: Mutex<Vec<(StripeRequest, Option<String>, String)>>,
}

#[derive(Debug, Clone)]
struct Recorded(Arc<Tape>);

impl std::ops::Deref for Recorded {
    type Target = Tape;
    fn deref(&self) -> &Tape {
        &self.0
    }
}

impl Recorded {
    fn answering(replies: &[(u16, &'static str)]) -> Self {
        Self(Arc::new(Tape {
            replies: Mutex::new(replies.iter().rev().copied().collect()),
            sent: Mutex::default(),
        }))
    }
}

impl Transport for Recorded {
    async fn send(
        &self,
        secret: &SecretKey,
        api_version: Option<&str>,
        request: &StripeRequest,
    ) -> Result<RawResponse, ProviderError> {
        self.sent.lock().unwrap().push((
            request.clone(),
            api_version.map(str::to_owned),
            secret.expose().to_owned(),
        ));
        let (status, file) = self.replies.lock().unwrap().pop().expect("a reply");
        Ok(RawResponse {
            status,
            body: fixture(file),
        })
    }
}

fn stripe(t: &Recorded) -> Stripe<Recorded> {
    let key = SecretKey::parse("sk_test_51REDACTEDREDACTEDREDACTED").unwrap();
    Stripe::new(key, Some("2024-06-20".into()), t.clone())
}

#[tokio::test]
async fn create_then_retrieve_a_paid_intent_and_complete() {
    let t = Recorded::answering(&[
        (200, "payment_intent_created.json"),
        (200, "payment_intent_succeeded_expanded.json"),
    ]);
    let s = stripe(&t);
    let key = IdempotencyKey::for_intent(&owner().cart, eur(2599));
    let created = s.create_intent(&key, eur(2599), &owner()).await.unwrap();
    assert_eq!(created.id.as_str(), INTENT);
    assert_eq!(created.status, IntentStatus::RequiresPaymentMethod);
    assert_eq!(created.amount, eur(2599));
    assert!(created.client_secret.is_some());
    assert_eq!(
        verify_completion(&created, &owner().cart, &owner().customer, eur(2599))
            .unwrap_err()
            .code(),
        "payment_not_succeeded"
    );

    let paid = s.retrieve_intent(&created.id).await.unwrap();
    assert_eq!(paid.status, IntentStatus::Succeeded);
    assert_eq!(
        paid.latest_charge.as_ref().map(|c| c.as_str()),
        Some("ch_3QfRmpLkq2xV0aZc1Wv9KxQe")
    );
    assert_eq!(paid.card, MaskedCard::parse("visa", "4242"));
    assert_eq!(
        verify_completion(&paid, &owner().cart, &owner().customer, eur(2599)),
        Ok(())
    );
    // The same record, checked for another customer or a tampered total.
    let codes = [
        verify_completion(&paid, &owner().cart, &UserId::generate(), eur(2599)),
        verify_completion(&paid, &CartId::generate(), &owner().customer, eur(2599)),
        verify_completion(&paid, &owner().cart, &owner().customer, eur(1)),
        verify_completion(
            &paid,
            &owner().cart,
            &owner().customer,
            Money::new(2599, Currency::parse("USD").unwrap()),
        ),
    ]
    .map(|r| r.unwrap_err().code());
    assert_eq!(
        codes,
        [
            "payment_intent_not_owned",
            "payment_intent_not_owned",
            "payment_amount_mismatch",
            "payment_currency_mismatch"
        ]
    );

    let sent = t.sent.lock().unwrap();
    let (create, version, secret) = &sent[0];
    assert_eq!(
        (create.method, create.path.as_str()),
        (Method::Post, "/v1/payment_intents")
    );
    assert_eq!(create.idempotency_key.as_deref(), Some(key.as_str()));
    assert!(create
        .body()
        .contains(&format!("metadata%5Bcart_id%5D={CART}")));
    assert_eq!(version.as_deref(), Some("2024-06-20"));
    assert!(secret.starts_with("sk_test_"));
    let (retrieve, _, _) = &sent[1];
    assert_eq!(retrieve.method, Method::Get);
    assert_eq!(
        retrieve.path,
        format!("/v1/payment_intents/{INTENT}?expand%5B%5D=latest_charge")
    );
    assert_eq!(retrieve.idempotency_key, None);
}

#[test]
fn recorded_intents_in_other_states_parse() {
    let action = parse_intent(200, &fixture("payment_intent_requires_action.json")).unwrap();
    assert_eq!(action.status, IntentStatus::RequiresAction);
    let declined = parse_intent(200, &fixture("payment_intent_declined.json")).unwrap();
    assert_eq!(declined.status, IntentStatus::RequiresPaymentMethod);
    assert_eq!(declined.last_error.as_deref(), Some("generic_decline"));
    assert_eq!(
        declined
            .latest_charge
            .map(|c| c.as_str().to_owned())
            .as_deref(),
        Some("ch_3QfRpqLkq2xV0aZc0DeclIne1")
    );
    assert_eq!(declined.card, None, "charge not expanded: no card details");
}

#[tokio::test]
async fn a_partial_refund_is_posted_and_parsed() {
    let t = Recorded::answering(&[(200, "refund_partial.json")]);
    let s = stripe(&t);
    let id = IntentId::parse(INTENT).unwrap();
    let key = IdempotencyKey::for_refund(&id, 1);
    let r = s.refund(&id, eur(1000), &key).await.unwrap();
    assert_eq!(r.id.as_str(), "re_3QfRmpLkq2xV0aZc1RfNd0001");
    assert_eq!(r.amount, eur(1000));
    assert_eq!(r.status, RefundStatus::Succeeded);
    assert_eq!(r.intent, Some(id));
    let sent = t.sent.lock().unwrap();
    assert_eq!(sent[0].0.path, "/v1/refunds");
    assert_eq!(
        sent[0].0.body(),
        format!("payment_intent={INTENT}&amount=1000")
    );
    assert_eq!(sent[0].0.idempotency_key.as_deref(), Some(key.as_str()));
}

#[tokio::test]
async fn recorded_errors_map_to_what_callers_branch_on() {
    let t = Recorded::answering(&[
        (402, "error_card_declined.json"),
        (400, "error_idempotency_key_reused.json"),
        (404, "error_resource_missing.json"),
        (401, "error_authentication.json"),
        (400, "error_charge_already_refunded.json"),
    ]);
    let s = stripe(&t);
    let key = IdempotencyKey::parse("rampart-pi-x").unwrap();
    let id = IntentId::parse("pi_doesnotexist").unwrap();
    assert_eq!(
        s.create_intent(&key, eur(1), &owner()).await,
        Err(ProviderError::Declined {
            code: "insufficient_funds".into()
        })
    );
    assert_eq!(
        s.create_intent(&key, eur(2), &owner()).await,
        Err(ProviderError::IdempotencyConflict)
    );
    assert_eq!(s.retrieve_intent(&id).await, Err(ProviderError::NotFound));
    assert_eq!(
        s.retrieve_intent(&id).await.unwrap_err().code(),
        "payment_provider_misconfigured"
    );
    assert_eq!(
        parse_refund(400, &fixture("error_charge_already_refunded.json")),
        Err(ProviderError::NotRefundable)
    );
}

#[test]
fn a_recorded_event_verifies_and_parses() {
    let body = fixture("event_payment_intent_succeeded.json");
    let created = 1_736_934_231;
    let clock = ManualClock::new((created + 2) * 1000);
    let secret = WebhookSecret::parse("whsec_REDACTEDtestEndpointSecret").unwrap();
    let header = sign(&secret, created, &body);
    let v = SignatureVerifier::new(vec![secret], Arc::new(clock)).unwrap();
    assert_eq!(v.verify(&header, &body), Ok(created));
    let e = parse_event(&body).unwrap();
    assert_eq!(e.id.as_str(), "evt_3QfRnwLkq2xV0aZc1EvT00001");
    assert_eq!(e.kind, EventKind::IntentSucceeded);
    let intent = e.intent.clone().unwrap();
    assert_eq!(intent.id.as_str(), INTENT);
    assert_eq!(
        verify_completion(&intent, &owner().cart, &owner().customer, eur(2599)),
        Ok(())
    );
    assert_eq!(
        e.next_status(IntentStatus::Processing),
        Some(IntentStatus::Succeeded)
    );
    assert_eq!(e.next_status(IntentStatus::Succeeded), None, "duplicate");
}
