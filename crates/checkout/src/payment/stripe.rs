//! The Stripe adapter: Stripe's REST API (form-encoded requests, JSON responses).
//!
//! Request building ([`create_intent_request`]…) and response parsing
//! ([`parse_intent`]…) are pure functions, tested against recorded Stripe responses
//! (`tests/fixtures/stripe/`); the bytes travel through a [`Transport`], HTTPS in
//! production ([`super::http::HttpsTransport`]) and a recording double in tests.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;

use rampart_kernel::{Currency, Money};
use serde::Deserialize;

use super::{
    ChargeId, ClientSecret, IdempotencyKey, IntentId, IntentMetadata, IntentOwner, MaskedCard,
    PaymentProvider, ProviderError, ProviderIntent, ProviderKind, ProviderRefund, RefundId,
    RefundStatus,
};

/// A Stripe secret or restricted key (`sk_…`, `rk_…`). `Debug` and `Display` never
/// show it.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey(String);

/// A value that is not a Stripe secret key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a Stripe secret key (sk_… or rk_…)")]
pub struct BadSecretKey;

impl SecretKey {
    /// Parses a key read from the environment or a file (surrounding whitespace and a
    /// trailing newline are dropped). Publishable keys (`pk_…`) are refused.
    pub fn parse(s: &str) -> Result<Self, BadSecretKey> {
        let s = s.trim();
        let prefixed = s.starts_with("sk_") || s.starts_with("rk_");
        if !prefixed || s.len() < 8 || s.len() > 255 || !s.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(BadSecretKey);
        }
        Ok(Self(s.to_owned()))
    }
    /// A test-mode key (`sk_test_…`/`rk_test_…`).
    pub fn is_test_mode(&self) -> bool {
        self.0.starts_with("sk_test_") || self.0.starts_with("rk_test_")
    }
    /// The key, for the `Authorization` header only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(REDACTED)")
    }
}

/// HTTP method of a Stripe call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Read.
    Get,
    /// Create or change.
    Post,
}

/// One Stripe API call, before transport: no secret in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StripeRequest {
    /// GET or POST.
    pub method: Method,
    /// Path and query, e.g. `/v1/payment_intents/pi_123?expand[]=latest_charge`
    /// (already percent-encoded).
    pub path: String,
    /// Form fields of a POST, in order.
    pub form: Vec<(String, String)>,
    /// The `Idempotency-Key` header of a POST.
    pub idempotency_key: Option<String>,
}

impl StripeRequest {
    /// The `application/x-www-form-urlencoded` body.
    pub fn body(&self) -> String {
        self.form
            .iter()
            .map(|(k, v)| format!("{}={}", form_encode(k), form_encode(v)))
            .collect::<Vec<_>>()
            .join("&")
    }
}

/// Percent-encodes for a form body: unreserved characters stay, space is `+`.
fn form_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                out.push(char::from(b))
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Stripe amounts are in the currency's smallest unit, like [`Money::minor`]; the
/// currency is the lower-case ISO code.
fn stripe_currency(c: Currency) -> String {
    c.as_str().to_ascii_lowercase()
}

/// `POST /v1/payment_intents`: the amount, the currency, cart and customer in
/// `metadata`, automatic payment methods (the client confirms with Stripe.js, so no
/// card data passes Rampart).
pub fn create_intent_request(
    key: &IdempotencyKey,
    amount: Money,
    owner: &IntentOwner,
) -> StripeRequest {
    StripeRequest {
        method: Method::Post,
        path: "/v1/payment_intents".into(),
        form: vec![
            ("amount".into(), amount.minor.to_string()),
            ("currency".into(), stripe_currency(amount.currency)),
            ("automatic_payment_methods[enabled]".into(), "true".into()),
            ("metadata[cart_id]".into(), owner.cart.as_str().into()),
            (
                "metadata[customer_id]".into(),
                owner.customer.as_str().into(),
            ),
        ],
        idempotency_key: Some(key.as_str().into()),
    }
}

/// `GET /v1/payment_intents/{id}` with the latest charge expanded (for the masked
/// card).
pub fn retrieve_intent_request(id: &IntentId) -> StripeRequest {
    StripeRequest {
        method: Method::Get,
        // IntentId is `A-Za-z0-9_` only, so it needs no escaping in a path.
        path: format!("/v1/payment_intents/{id}?expand%5B%5D=latest_charge"),
        form: Vec::new(),
        idempotency_key: None,
    }
}

/// `POST /v1/refunds` for part or all of an intent.
pub fn refund_request(intent: &IntentId, amount: Money, key: &IdempotencyKey) -> StripeRequest {
    StripeRequest {
        method: Method::Post,
        path: "/v1/refunds".into(),
        form: vec![
            ("payment_intent".into(), intent.as_str().into()),
            ("amount".into(), amount.minor.to_string()),
        ],
        idempotency_key: Some(key.as_str().into()),
    }
}

// ---------------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------------

#[derive(Deserialize)]
struct IntentWire {
    id: String,
    #[serde(default)]
    object: Option<String>,
    amount: i64,
    currency: String,
    status: String,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
    #[serde(default)]
    latest_charge: Option<ChargeRef>,
    #[serde(default)]
    client_secret: Option<String>,
    #[serde(default)]
    last_payment_error: Option<ErrorWire>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ChargeRef {
    Id(String),
    Expanded(Box<ChargeWire>),
}

#[derive(Deserialize)]
struct ChargeWire {
    id: String,
    #[serde(default)]
    payment_method_details: Option<PaymentMethodDetails>,
}

#[derive(Deserialize)]
struct PaymentMethodDetails {
    #[serde(default)]
    card: Option<CardWire>,
}

#[derive(Deserialize)]
struct CardWire {
    #[serde(default)]
    brand: Option<String>,
    #[serde(default)]
    last4: Option<String>,
}

#[derive(Deserialize)]
struct RefundWire {
    id: String,
    amount: i64,
    currency: String,
    status: Option<String>,
    #[serde(default)]
    payment_intent: Option<String>,
}

#[derive(Deserialize)]
struct ErrorEnvelope {
    error: ErrorWire,
}

#[derive(Deserialize)]
struct ErrorWire {
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    decline_code: Option<String>,
}

fn malformed(what: &str) -> ProviderError {
    ProviderError::Malformed(what.to_owned())
}

/// Reads a PaymentIntent object (a response body, or `data.object` of an event).
pub fn intent_from_value(v: serde_json::Value) -> Result<ProviderIntent, ProviderError> {
    let w: IntentWire =
        serde_json::from_value(v).map_err(|e| ProviderError::Malformed(e.to_string()))?;
    if w.object.as_deref().is_some_and(|o| o != "payment_intent") {
        return Err(malformed("not a payment_intent"));
    }
    let id = IntentId::parse(&w.id).map_err(|_| malformed("intent id"))?;
    let currency = Currency::parse(&w.currency).map_err(|_| malformed("currency"))?;
    let status = super::IntentStatus::parse(&w.status).ok_or_else(|| malformed("intent status"))?;
    let (latest_charge, card) = match w.latest_charge {
        None => (None, None),
        Some(ChargeRef::Id(id)) => (Some(id), None),
        Some(ChargeRef::Expanded(c)) => {
            let card = c
                .payment_method_details
                .and_then(|d| d.card)
                .and_then(|c| MaskedCard::parse(c.brand.as_deref()?, c.last4.as_deref()?));
            (Some(c.id), card)
        }
    };
    let latest_charge = latest_charge
        .map(|c| ChargeId::parse(&c).map_err(|_| malformed("charge id")))
        .transpose()?;
    Ok(ProviderIntent {
        id,
        status,
        amount: Money::new(w.amount, currency),
        metadata: IntentMetadata {
            cart_id: w.metadata.get("cart_id").cloned(),
            customer_id: w.metadata.get("customer_id").cloned(),
        },
        latest_charge,
        card,
        last_error: w.last_payment_error.and_then(|e| e.decline_code.or(e.code)),
        client_secret: w.client_secret.map(ClientSecret::new),
    })
}

/// Maps a non-2xx Stripe answer to an error.
fn error_for(status: u16, body: &[u8]) -> ProviderError {
    let e = serde_json::from_slice::<ErrorEnvelope>(body)
        .ok()
        .map(|e| e.error);
    let kind = e.as_ref().and_then(|e| e.kind.clone());
    let code = e.as_ref().and_then(|e| e.code.clone());
    if kind.as_deref() == Some("idempotency_error") || status == 409 {
        return ProviderError::IdempotencyConflict;
    }
    match status {
        401 | 403 => ProviderError::Authentication,
        402 | 400 if kind.as_deref() == Some("card_error") => ProviderError::Declined {
            code: e
                .and_then(|e| e.decline_code.or(e.code))
                .unwrap_or_else(|| "card_declined".into()),
        },
        404 => ProviderError::NotFound,
        429 => ProviderError::RateLimited,
        400 if matches!(
            code.as_deref(),
            Some("charge_already_refunded" | "amount_too_large" | "charge_disputed")
        ) =>
        {
            ProviderError::NotRefundable
        }
        400..=499 => ProviderError::InvalidRequest { code },
        _ => ProviderError::Unavailable(format!("stripe answered {status}")),
    }
}

/// Parses the answer to a create or retrieve call.
pub fn parse_intent(status: u16, body: &[u8]) -> Result<ProviderIntent, ProviderError> {
    if !(200..300).contains(&status) {
        return Err(error_for(status, body));
    }
    let v: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| ProviderError::Malformed(e.to_string()))?;
    intent_from_value(v)
}

/// Parses the answer to a refund call.
pub fn parse_refund(status: u16, body: &[u8]) -> Result<ProviderRefund, ProviderError> {
    if !(200..300).contains(&status) {
        return Err(error_for(status, body));
    }
    let w: RefundWire =
        serde_json::from_slice(body).map_err(|e| ProviderError::Malformed(e.to_string()))?;
    Ok(ProviderRefund {
        id: RefundId::parse(&w.id).map_err(|_| malformed("refund id"))?,
        intent: w
            .payment_intent
            .map(|i| IntentId::parse(&i).map_err(|_| malformed("intent id")))
            .transpose()?,
        amount: Money::new(
            w.amount,
            Currency::parse(&w.currency).map_err(|_| malformed("currency"))?,
        ),
        status: w
            .status
            .as_deref()
            .and_then(RefundStatus::parse)
            .ok_or_else(|| malformed("refund status"))?,
    })
}

/// Renders an intent as Stripe's PaymentIntent JSON (the subset [`intent_from_value`]
/// reads): what the sandbox puts in its webhook events, so one parser reads both.
pub fn intent_to_value(i: &ProviderIntent, created: i64) -> serde_json::Value {
    let mut metadata = serde_json::Map::new();
    if let Some(c) = &i.metadata.cart_id {
        metadata.insert("cart_id".into(), c.clone().into());
    }
    if let Some(c) = &i.metadata.customer_id {
        metadata.insert("customer_id".into(), c.clone().into());
    }
    let latest_charge = match (&i.latest_charge, &i.card) {
        (None, _) => serde_json::Value::Null,
        (Some(id), None) => id.as_str().into(),
        (Some(id), Some(card)) => serde_json::json!({
            "id": id.as_str(),
            "object": "charge",
            "payment_method_details": {
                "type": "card",
                "card": { "brand": card.brand, "last4": card.last4 }
            }
        }),
    };
    let last_payment_error = match &i.last_error {
        None => serde_json::Value::Null,
        Some(code) => serde_json::json!({ "type": "card_error", "code": code }),
    };
    serde_json::json!({
        "id": i.id.as_str(),
        "object": "payment_intent",
        "amount": i.amount.minor,
        "currency": stripe_currency(i.amount.currency),
        "created": created,
        "status": i.status.as_str(),
        "metadata": metadata,
        "latest_charge": latest_charge,
        "last_payment_error": last_payment_error,
        "livemode": false,
    })
}

// ---------------------------------------------------------------------------------
// Transport and the adapter
// ---------------------------------------------------------------------------------

/// What came back over the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawResponse {
    /// HTTP status.
    pub status: u16,
    /// Body bytes.
    pub body: Vec<u8>,
}

/// Carries a [`StripeRequest`] to Stripe and its answer back. Adds the
/// `Authorization`, `Content-Type`, `Idempotency-Key` and `Stripe-Version` headers.
pub trait Transport: Send + Sync {
    /// Sends one request.
    fn send(
        &self,
        secret: &SecretKey,
        api_version: Option<&str>,
        request: &StripeRequest,
    ) -> impl Future<Output = Result<RawResponse, ProviderError>> + Send;
}

/// The Stripe adapter.
#[derive(Debug)]
pub struct Stripe<T> {
    secret: SecretKey,
    api_version: Option<String>,
    transport: T,
}

impl<T: Transport> Stripe<T> {
    /// An adapter with `secret`, pinned to `api_version` (`Stripe-Version`) when given.
    pub fn new(secret: SecretKey, api_version: Option<String>, transport: T) -> Self {
        Self {
            secret,
            api_version,
            transport,
        }
    }
    async fn call(&self, req: &StripeRequest) -> Result<RawResponse, ProviderError> {
        self.transport
            .send(&self.secret, self.api_version.as_deref(), req)
            .await
    }
}

impl<T: Transport> PaymentProvider for Stripe<T> {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Stripe
    }
    async fn create_intent(
        &self,
        key: &IdempotencyKey,
        amount: Money,
        owner: &IntentOwner,
    ) -> Result<ProviderIntent, ProviderError> {
        let r = self
            .call(&create_intent_request(key, amount, owner))
            .await?;
        parse_intent(r.status, &r.body)
    }
    async fn retrieve_intent(&self, id: &IntentId) -> Result<ProviderIntent, ProviderError> {
        let r = self.call(&retrieve_intent_request(id)).await?;
        parse_intent(r.status, &r.body)
    }
    async fn refund(
        &self,
        intent: &IntentId,
        amount: Money,
        key: &IdempotencyKey,
    ) -> Result<ProviderRefund, ProviderError> {
        let r = self.call(&refund_request(intent, amount, key)).await?;
        parse_refund(r.status, &r.body)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::payment::IntentStatus;
    use rampart_kernel::ids::CartId;
    use rampart_kernel::UserId;

    #[test]
    fn the_secret_key_never_prints() {
        let k = SecretKey::parse("sk_test_51REDACTEDREDACTED\n").unwrap();
        assert!(k.is_test_mode());
        assert_eq!(format!("{k:?}"), "SecretKey(REDACTED)");
        assert!(SecretKey::parse("pk_test_abcdefgh").is_err());
        assert!(SecretKey::parse("sk_live_ab cd").is_err());
        let s = Stripe::new(k, None, NoTransport);
        assert!(!format!("{s:?}").contains("REDACTEDREDACTED"));
    }

    #[derive(Debug)]
    struct NoTransport;
    impl Transport for NoTransport {
        async fn send(
            &self,
            _: &SecretKey,
            _: Option<&str>,
            _: &StripeRequest,
        ) -> Result<RawResponse, ProviderError> {
            Err(ProviderError::Unavailable("offline".into()))
        }
    }

    #[test]
    fn requests_are_form_encoded_with_metadata_and_idempotency_key() {
        let owner = IntentOwner {
            cart: CartId::from_stored("0190c4a8-7b1e-7c3d-9f00-000000000001"),
            customer: UserId::from_stored("0190c4a8-7b1e-7c3d-9f00-000000000002"),
        };
        let key = IdempotencyKey::parse("rampart-pi-x").unwrap();
        let eur = Currency::parse("EUR").unwrap();
        let r = create_intent_request(&key, Money::new(2599, eur), &owner);
        assert_eq!(
            (r.method, r.path.as_str()),
            (Method::Post, "/v1/payment_intents")
        );
        assert_eq!(r.idempotency_key.as_deref(), Some("rampart-pi-x"));
        assert_eq!(
            r.body(),
            "amount=2599&currency=eur&automatic_payment_methods%5Benabled%5D=true\
             &metadata%5Bcart_id%5D=0190c4a8-7b1e-7c3d-9f00-000000000001\
             &metadata%5Bcustomer_id%5D=0190c4a8-7b1e-7c3d-9f00-000000000002"
        );
        let id = IntentId::parse("pi_1").unwrap();
        let r = retrieve_intent_request(&id);
        assert_eq!(r.method, Method::Get);
        assert_eq!(
            r.path,
            "/v1/payment_intents/pi_1?expand%5B%5D=latest_charge"
        );
        assert_eq!(r.body(), "");
        let r = refund_request(&id, Money::new(500, eur), &key);
        assert_eq!(r.body(), "payment_intent=pi_1&amount=500");
        assert_eq!(form_encode("a b&c=d/é"), "a+b%26c%3Dd%2F%C3%A9");
    }

    #[test]
    fn rendered_intents_read_back_the_same() {
        let i = ProviderIntent {
            id: IntentId::parse("pi_sb_1").unwrap(),
            status: IntentStatus::Succeeded,
            amount: Money::new(1234, Currency::parse("JPY").unwrap()),
            metadata: IntentMetadata {
                cart_id: Some("c".into()),
                customer_id: Some("u".into()),
            },
            latest_charge: Some(ChargeId::parse("ch_sb_1").unwrap()),
            card: MaskedCard::parse("visa", "4242"),
            last_error: Some("card_declined".into()),
            client_secret: None,
        };
        assert_eq!(intent_from_value(intent_to_value(&i, 1)).unwrap(), i);
    }

    #[test]
    fn errors_map_to_what_callers_branch_on() {
        let body = |t: &str, code: &str| {
            format!(r#"{{"error":{{"type":"{t}","code":"{code}","message":"m"}}}}"#).into_bytes()
        };
        assert_eq!(
            parse_intent(400, &body("idempotency_error", "")),
            Err(ProviderError::IdempotencyConflict)
        );
        assert_eq!(
            parse_intent(401, &body("invalid_request_error", "")),
            Err(ProviderError::Authentication)
        );
        assert_eq!(
            parse_intent(404, &body("invalid_request_error", "resource_missing")),
            Err(ProviderError::NotFound)
        );
        assert_eq!(
            parse_intent(429, &body("invalid_request_error", "rate_limit")),
            Err(ProviderError::RateLimited)
        );
        assert!(matches!(
            parse_intent(502, b"<html>bad gateway</html>"),
            Err(ProviderError::Unavailable(_))
        ));
        assert!(matches!(
            parse_intent(200, b"{\"id\":\"pi_1\"}"),
            Err(ProviderError::Malformed(_))
        ));
        assert_eq!(
            parse_refund(
                400,
                &body("invalid_request_error", "charge_already_refunded")
            ),
            Err(ProviderError::NotRefundable)
        );
    }
}
