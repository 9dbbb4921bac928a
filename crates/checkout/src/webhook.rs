//! Payment webhooks (E3): Stripe's signature scheme and the event parser.
//!
//! `Stripe-Signature: t=<unix secs>,v1=<hex>[,v1=<hex>…]`, where each `v1` is
//! HMAC-SHA256 under an endpoint secret over `"{t}.{raw body}"`. A delivery is accepted
//! when any `v1` matches under any configured secret (several during rotation),
//! compared in constant time, and `t` is within the tolerance (5 minutes) of the
//! injected clock, in either direction. The body is verified as raw bytes, before any
//! parsing.

use std::fmt;
use std::sync::Arc;

use hmac::{Hmac, Mac};
use rampart_kernel::Clock;
use serde::Deserialize;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::payment::stripe::intent_from_value;
use crate::payment::{IntentStatus, ProviderIntent};

type HmacSha256 = Hmac<Sha256>;

/// Default tolerance between the signed timestamp and now: Stripe's 5 minutes.
pub const DEFAULT_TOLERANCE_SECS: i64 = 300;
/// Longest header accepted, and most signatures in it (bounds the work per request).
const MAX_HEADER: usize = 4096;
const MAX_SIGNATURES: usize = 8;

/// A webhook endpoint secret (`whsec_…`), used whole as the HMAC key, as Stripe does.
/// `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(String);

/// An empty or non-printable secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed webhook secret")]
pub struct BadWebhookSecret;

impl WebhookSecret {
    /// Parses a secret from configuration (surrounding whitespace dropped; at least 8
    /// printable ASCII characters).
    pub fn parse(s: &str) -> Result<Self, BadWebhookSecret> {
        let s = s.trim();
        if s.len() < 8 || s.len() > 255 || !s.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(BadWebhookSecret);
        }
        Ok(Self(s.to_owned()))
    }
    fn mac(&self, timestamp: i64, body: &[u8]) -> [u8; 32] {
        // HMAC takes keys of any length; the fallback is never taken.
        let Ok(mut mac) = HmacSha256::new_from_slice(self.0.as_bytes()) else {
            return [0; 32];
        };
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac.finalize().into_bytes().into()
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(REDACTED)")
    }
}

/// The `Stripe-Signature` header value for `body` signed at `timestamp` (the sandbox's
/// deliveries, and tests).
pub fn sign(secret: &WebhookSecret, timestamp: i64, body: &[u8]) -> String {
    format!(
        "t={timestamp},v1={}",
        hex::encode(secret.mac(timestamp, body))
    )
}

/// Why a delivery was refused. Each is a security event at the edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No header, no `t`, no `v1`, a repeated `t`, or a header too long.
    #[error("malformed signature header")]
    MalformedHeader,
    /// No `v1` matches under any secret.
    #[error("no matching signature")]
    NoMatchingSignature,
    /// The signature matches but `t` is too far from now.
    #[error("timestamp outside tolerance")]
    TimestampOutsideTolerance,
}

impl SignatureError {
    /// The stable code.
    pub fn code(self) -> &'static str {
        match self {
            Self::MalformedHeader => "webhook_signature_malformed",
            Self::NoMatchingSignature => "webhook_signature_invalid",
            Self::TimestampOutsideTolerance => "webhook_timestamp_out_of_tolerance",
        }
    }
}

/// A verifier built with no secrets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at least one webhook secret is required")]
pub struct NoSecrets;

/// Verifies deliveries against the configured secrets and the clock.
#[derive(Debug, Clone)]
pub struct SignatureVerifier {
    secrets: Vec<WebhookSecret>,
    tolerance_secs: i64,
    clock: Arc<dyn Clock>,
}

struct Header {
    timestamp: i64,
    signatures: Vec<[u8; 32]>,
}

fn parse_header(header: &str) -> Result<Header, SignatureError> {
    if header.len() > MAX_HEADER {
        return Err(SignatureError::MalformedHeader);
    }
    let mut timestamp = None;
    let mut signatures = Vec::new();
    let mut v1_seen = 0usize;
    for part in header.split(',') {
        let Some((k, v)) = part.trim().split_once('=') else {
            return Err(SignatureError::MalformedHeader);
        };
        match k {
            "t" => {
                let t = v
                    .parse::<i64>()
                    .map_err(|_| SignatureError::MalformedHeader)?;
                if timestamp.replace(t).is_some() {
                    return Err(SignatureError::MalformedHeader);
                }
            }
            "v1" => {
                v1_seen += 1;
                if v1_seen > MAX_SIGNATURES {
                    return Err(SignatureError::MalformedHeader);
                }
                // A `v1` that is not 64 hex digits can match nothing; it is counted
                // but not compared.
                let mut sig = [0u8; 32];
                if hex::decode_to_slice(v, &mut sig).is_ok() {
                    signatures.push(sig);
                }
            }
            // Other schemes (`v0`, Stripe's test-mode scheme) are ignored, as Stripe's
            // libraries do.
            _ => {}
        }
    }
    match timestamp {
        Some(timestamp) if v1_seen > 0 => Ok(Header {
            timestamp,
            signatures,
        }),
        _ => Err(SignatureError::MalformedHeader),
    }
}

impl SignatureVerifier {
    /// A verifier accepting any of `secrets` (the newest first, by convention) with the
    /// default 5-minute tolerance.
    pub fn new(secrets: Vec<WebhookSecret>, clock: Arc<dyn Clock>) -> Result<Self, NoSecrets> {
        if secrets.is_empty() {
            return Err(NoSecrets);
        }
        Ok(Self {
            secrets,
            tolerance_secs: DEFAULT_TOLERANCE_SECS,
            clock,
        })
    }

    /// Another tolerance, in seconds.
    pub fn with_tolerance_secs(mut self, secs: i64) -> Self {
        self.tolerance_secs = secs.max(0);
        self
    }

    /// Checks a delivery; `Ok` carries the signed timestamp.
    ///
    /// The signature is checked before the timestamp (as Stripe's libraries do), so a
    /// forged delivery is reported as forged whatever its age.
    pub fn verify(&self, header: &str, body: &[u8]) -> Result<i64, SignatureError> {
        let h = parse_header(header)?;
        let mut matched = subtle::Choice::from(0);
        for secret in &self.secrets {
            let expected = secret.mac(h.timestamp, body);
            for sig in &h.signatures {
                matched |= expected[..].ct_eq(&sig[..]);
            }
        }
        if !bool::from(matched) {
            return Err(SignatureError::NoMatchingSignature);
        }
        let skew = self.clock.now_secs().saturating_sub(h.timestamp);
        if skew.unsigned_abs() > self.tolerance_secs.unsigned_abs() {
            return Err(SignatureError::TimestampOutsideTolerance);
        }
        Ok(h.timestamp)
    }
}

// ---------------------------------------------------------------------------------
// Events
// ---------------------------------------------------------------------------------

/// A provider's event ID (`evt_…`): with the provider, the inbox's unique key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EventId(String);

impl EventId {
    /// The text form.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What an event means for a payment intent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// `payment_intent.created`.
    IntentCreated,
    /// `payment_intent.requires_action`.
    IntentRequiresAction,
    /// `payment_intent.processing`.
    IntentProcessing,
    /// `payment_intent.amount_capturable_updated`.
    IntentCapturable,
    /// `payment_intent.succeeded`.
    IntentSucceeded,
    /// `payment_intent.payment_failed`.
    IntentPaymentFailed,
    /// `payment_intent.canceled`.
    IntentCanceled,
    /// Anything else: acknowledged, recorded, no effect.
    Other,
}

impl EventKind {
    /// Classifies an event type.
    pub fn from_type(t: &str) -> Self {
        match t {
            "payment_intent.created" => Self::IntentCreated,
            "payment_intent.requires_action" => Self::IntentRequiresAction,
            "payment_intent.processing" => Self::IntentProcessing,
            "payment_intent.amount_capturable_updated" => Self::IntentCapturable,
            "payment_intent.succeeded" => Self::IntentSucceeded,
            "payment_intent.payment_failed" => Self::IntentPaymentFailed,
            "payment_intent.canceled" => Self::IntentCanceled,
            _ => Self::Other,
        }
    }
}

/// A verified delivery, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentEvent {
    /// The event ID.
    pub id: EventId,
    /// The event type as sent.
    pub type_name: String,
    /// What it means.
    pub kind: EventKind,
    /// When the provider created it (Unix seconds).
    pub created: i64,
    /// `data.object` when it is a payment intent.
    pub intent: Option<ProviderIntent>,
}

impl PaymentEvent {
    /// The intent state to store, given the stored one, or `None` to leave it (a late,
    /// duplicate or backwards event). See [`IntentStatus::after_event`].
    pub fn next_status(&self, stored: IntentStatus) -> Option<IntentStatus> {
        let incoming = self.intent.as_ref()?.status;
        stored.after_event(incoming, self.kind == EventKind::IntentPaymentFailed)
    }
}

/// An event body that is not a Stripe event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed event: {0}")]
pub struct MalformedEvent(String);

#[derive(Deserialize)]
struct EventWire {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    created: i64,
    data: DataWire,
}

#[derive(Deserialize)]
struct DataWire {
    object: serde_json::Value,
}

/// Parses a (verified) event body. Only `payment_intent` objects are read; others
/// leave [`PaymentEvent::intent`] empty.
pub fn parse_event(body: &[u8]) -> Result<PaymentEvent, MalformedEvent> {
    let w: EventWire = serde_json::from_slice(body).map_err(|e| MalformedEvent(e.to_string()))?;
    let id_ok = !w.id.is_empty()
        && w.id.len() <= 255
        && w.id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !id_ok || w.kind.is_empty() || w.kind.len() > 255 {
        return Err(MalformedEvent("id or type".into()));
    }
    let is_intent = w.data.object.get("object").and_then(|o| o.as_str()) == Some("payment_intent");
    let intent = if is_intent {
        Some(intent_from_value(w.data.object).map_err(|e| MalformedEvent(e.to_string()))?)
    } else {
        None
    };
    Ok(PaymentEvent {
        id: EventId(w.id),
        kind: EventKind::from_type(&w.kind),
        type_name: w.kind,
        created: w.created,
        intent,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use rampart_kernel::ManualClock;

    const NOW: i64 = 1_700_000_000;
    const BODY: &[u8] = br#"{"id":"evt_1","object":"event"}"#;

    fn secret(s: &str) -> WebhookSecret {
        WebhookSecret::parse(s).unwrap()
    }

    fn verifier(secrets: &[&str]) -> (SignatureVerifier, ManualClock) {
        let clock = ManualClock::new(NOW * 1000);
        let v = SignatureVerifier::new(
            secrets.iter().map(|s| secret(s)).collect(),
            Arc::new(clock.clone()),
        )
        .unwrap();
        (v, clock)
    }

    #[test]
    fn a_valid_signature_is_accepted() {
        let (v, _) = verifier(&["whsec_current"]);
        let h = sign(&secret("whsec_current"), NOW, BODY);
        assert_eq!(v.verify(&h, BODY), Ok(NOW));
        // Known answer: HMAC-SHA256("whsec_test_secret", "1700000000.{body}").
        let mac = secret("whsec_test_secret").mac(NOW, b"{}");
        let mut reference = HmacSha256::new_from_slice(b"whsec_test_secret").unwrap();
        reference.update(b"1700000000.{}");
        assert_eq!(mac.to_vec(), reference.finalize().into_bytes().to_vec());
    }

    #[test]
    fn a_tampered_body_or_wrong_secret_is_refused() {
        let (v, _) = verifier(&["whsec_current"]);
        let h = sign(&secret("whsec_current"), NOW, BODY);
        let tampered = br#"{"id":"evt_2","object":"event"}"#;
        assert_eq!(
            v.verify(&h, tampered),
            Err(SignatureError::NoMatchingSignature)
        );
        let forged = sign(&secret("whsec_attacker"), NOW, BODY);
        assert_eq!(
            v.verify(&forged, BODY),
            Err(SignatureError::NoMatchingSignature)
        );
        // Changing t invalidates the signature too (t is signed).
        let moved = h.replacen(&format!("t={NOW}"), &format!("t={}", NOW + 1), 1);
        assert_eq!(
            v.verify(&moved, BODY),
            Err(SignatureError::NoMatchingSignature)
        );
    }

    #[test]
    fn stale_and_future_timestamps_are_refused() {
        let (v, clock) = verifier(&["whsec_current"]);
        let s = secret("whsec_current");
        assert!(v.verify(&sign(&s, NOW - 300, BODY), BODY).is_ok());
        assert_eq!(
            v.verify(&sign(&s, NOW - 301, BODY), BODY),
            Err(SignatureError::TimestampOutsideTolerance)
        );
        assert!(v.verify(&sign(&s, NOW + 300, BODY), BODY).is_ok());
        assert_eq!(
            v.verify(&sign(&s, NOW + 301, BODY), BODY),
            Err(SignatureError::TimestampOutsideTolerance)
        );
        // The injected clock decides: the same delivery replayed an hour later fails.
        let h = sign(&s, NOW, BODY);
        clock.advance_secs(3600);
        assert_eq!(
            v.verify(&h, BODY),
            Err(SignatureError::TimestampOutsideTolerance)
        );
        assert_eq!(v.with_tolerance_secs(7200).verify(&h, BODY), Ok(NOW));
    }

    #[test]
    fn any_configured_secret_verifies_during_rotation() {
        let (v, _) = verifier(&["whsec_new_secret", "whsec_old_secret"]);
        for s in ["whsec_new_secret", "whsec_old_secret"] {
            assert!(v.verify(&sign(&secret(s), NOW, BODY), BODY).is_ok(), "{s}");
        }
        let (only_new, _) = verifier(&["whsec_new_secret"]);
        assert_eq!(
            only_new.verify(&sign(&secret("whsec_old_secret"), NOW, BODY), BODY),
            Err(SignatureError::NoMatchingSignature)
        );
    }

    #[test]
    fn any_of_several_v1_entries_may_match() {
        let (v, _) = verifier(&["whsec_current"]);
        let good = sign(&secret("whsec_current"), NOW, BODY);
        let good_sig = good.split_once(",v1=").unwrap().1;
        let bad_sig = "0".repeat(64);
        for h in [
            format!("t={NOW},v1={bad_sig},v1={good_sig}"),
            format!("t={NOW},v1={good_sig},v1={bad_sig}"),
            format!("v1={bad_sig}, t={NOW}, v0=abc, v1={good_sig}"),
            format!("t={NOW},v1=nothex,v1={good_sig}"),
        ] {
            assert_eq!(v.verify(&h, BODY), Ok(NOW), "{h}");
        }
        assert_eq!(
            v.verify(&format!("t={NOW},v1={bad_sig},v1={bad_sig}"), BODY),
            Err(SignatureError::NoMatchingSignature)
        );
    }

    #[test]
    fn malformed_headers_are_refused() {
        let (v, _) = verifier(&["whsec_current"]);
        let sig = "0".repeat(64);
        let too_many = format!("t={NOW}{}", format!(",v1={sig}").repeat(9));
        for h in [
            "",
            "garbage",
            &format!("v1={sig}"),
            &format!("t={NOW}"),
            &format!("t={NOW},v0={sig}"),
            &format!("t=abc,v1={sig}"),
            &format!("t={NOW},t={NOW},v1={sig}"),
            &too_many,
            &"x".repeat(5000),
        ] {
            assert_eq!(
                v.verify(h, BODY),
                Err(SignatureError::MalformedHeader),
                "{h:.60}"
            );
        }
        assert!(SignatureVerifier::new(vec![], Arc::new(ManualClock::new(0))).is_err());
        assert!(WebhookSecret::parse("short").is_err());
        assert!(!format!("{:?}", secret("whsec_current")).contains("current"));
    }

    #[test]
    fn events_parse_and_never_move_a_state_backwards() {
        let body = |t: &str, status: &str| {
            format!(
                r#"{{"id":"evt_1","object":"event","type":"{t}","created":{NOW},
                "data":{{"object":{{"id":"pi_1","object":"payment_intent","amount":500,
                "currency":"eur","status":"{status}","metadata":{{"cart_id":"c"}}}}}}}}"#
            )
        };
        let processing =
            parse_event(body("payment_intent.processing", "processing").as_bytes()).unwrap();
        assert_eq!(processing.kind, EventKind::IntentProcessing);
        assert_eq!(processing.created, NOW);
        let i = processing.intent.as_ref().unwrap();
        assert_eq!((i.id.as_str(), i.amount.minor), ("pi_1", 500));
        assert_eq!(i.metadata.cart_id.as_deref(), Some("c"));
        assert_eq!(processing.next_status(IntentStatus::Succeeded), None);
        assert_eq!(
            processing.next_status(IntentStatus::RequiresAction),
            Some(IntentStatus::Processing)
        );
        let failed = parse_event(
            body("payment_intent.payment_failed", "requires_payment_method").as_bytes(),
        )
        .unwrap();
        assert_eq!(
            failed.next_status(IntentStatus::Processing),
            Some(IntentStatus::RequiresPaymentMethod)
        );
        let created =
            parse_event(body("payment_intent.created", "requires_payment_method").as_bytes())
                .unwrap();
        assert_eq!(created.next_status(IntentStatus::Processing), None);

        let other = parse_event(
            br#"{"id":"evt_2","type":"plan.created","created":1,"data":{"object":{"object":"plan"}}}"#,
        )
        .unwrap();
        assert_eq!((other.kind, other.intent), (EventKind::Other, None));
        assert!(parse_event(b"not json").is_err());
        assert!(
            parse_event(br#"{"id":"evt 1","type":"x","created":1,"data":{"object":{}}}"#).is_err()
        );
    }
}
