//! Invariants under generated input: cart totals and splits, merge limits, the
//! never-backwards status rule, and the webhook header parser on arbitrary bytes.

use std::sync::Arc;

use proptest::prelude::*;
use rampart_checkout::cart::{Cart, CartLimits, CartOwner, Quantity};
use rampart_checkout::payment::IntentStatus;
use rampart_checkout::webhook::{sign, SignatureError, SignatureVerifier, WebhookSecret};
use rampart_kernel::ids::{CartId, ItemId, StoreId};
use rampart_kernel::{Currency, ManualClock, Money, UserId};

const LIMITS: CartLimits = CartLimits {
    max_quantity: 20,
    max_lines: 8,
};

fn eur(minor: i64) -> Money {
    Money::new(minor, Currency::parse("EUR").unwrap())
}

/// (item index, store index, price, quantity) lines over a small pool of IDs.
fn lines() -> impl Strategy<Value = Vec<(usize, usize, i64, i64)>> {
    prop::collection::vec((0usize..6, 0usize..3, 0i64..1_000_000, 1i64..=20), 0..12)
}

fn build(
    owner: CartOwner,
    spec: &[(usize, usize, i64, i64)],
    items: &[ItemId],
    stores: &[StoreId],
) -> Cart {
    let mut c = Cart::new(CartId::generate(), owner);
    for &(i, s, price, q) in spec {
        // Refusals (over the limit, too many lines) are part of the model: ignore them.
        let _ = c.add(
            items[i].clone(),
            stores[s].clone(),
            eur(price),
            Quantity::parse(q, &LIMITS).unwrap(),
            &LIMITS,
        );
    }
    c
}

fn statuses() -> impl Strategy<Value = IntentStatus> {
    prop::sample::select(vec![
        IntentStatus::RequiresPaymentMethod,
        IntentStatus::RequiresConfirmation,
        IntentStatus::RequiresAction,
        IntentStatus::Processing,
        IntentStatus::RequiresCapture,
        IntentStatus::Succeeded,
        IntentStatus::Canceled,
    ])
}

proptest! {
    #[test]
    fn split_subtotals_add_up_to_the_total_and_limits_hold(a in lines(), b in lines()) {
        let items: Vec<ItemId> = (0..6).map(|_| ItemId::generate()).collect();
        let stores: Vec<StoreId> = (0..3).map(|_| StoreId::generate()).collect();
        let mut mine = build(CartOwner::Customer(UserId::generate()), &a, &items, &stores);
        let anon = build(CartOwner::Visitor("v".into()), &b, &items, &stores);
        let anon_units: u32 = anon.lines().iter().map(|l| l.quantity.get()).sum();
        let before: u32 = mine.lines().iter().map(|l| l.quantity.get()).sum();
        let report = mine.merge_from(anon, &LIMITS);
        let after: u32 = mine.lines().iter().map(|l| l.quantity.get()).sum();
        prop_assert!(mine.lines().len() <= LIMITS.max_lines);
        prop_assert!(mine.lines().iter().all(|l| (1..=LIMITS.max_quantity).contains(&l.quantity.get())));
        if report.capped.is_empty() && report.dropped.is_empty() {
            prop_assert_eq!(after, before + anon_units);
        } else {
            prop_assert!(after <= before + anon_units);
        }
        let mut ids: Vec<_> = mine.lines().iter().map(|l| l.item.clone()).collect();
        ids.sort();
        ids.dedup();
        prop_assert_eq!(ids.len(), mine.lines().len(), "one line per item");
        if let Ok(total) = mine.total() {
            let groups = mine.split_by_store().unwrap();
            let sum = groups.iter().try_fold(eur(0), |acc, g| acc.checked_add(g.subtotal)).unwrap();
            prop_assert_eq!(sum, total);
            let n: usize = groups.iter().map(|g| g.lines.len()).sum();
            prop_assert_eq!(n, mine.lines().len());
        }
    }

    #[test]
    fn applying_events_in_any_order_never_leaves_a_terminal_state(
        events in prop::collection::vec((statuses(), any::<bool>()), 0..20),
    ) {
        let mut stored = IntentStatus::RequiresPaymentMethod;
        let mut terminal_seen: Option<IntentStatus> = None;
        for (incoming, failure) in events {
            if let Some(next) = stored.after_event(incoming, failure) {
                prop_assert!(next != stored);
                stored = next;
            }
            if let Some(t) = terminal_seen {
                prop_assert_eq!(stored, t, "a terminal state never changes");
            } else if stored.is_terminal() {
                terminal_seen = Some(stored);
            }
        }
    }

    #[test]
    fn the_signature_header_parser_never_panics(header in ".{0,300}", body in prop::collection::vec(any::<u8>(), 0..64)) {
        let clock = ManualClock::new(1_700_000_000_000);
        let v = SignatureVerifier::new(vec![WebhookSecret::parse("whsec_property").unwrap()], Arc::new(clock)).unwrap();
        let _ = v.verify(&header, &body);
    }

    #[test]
    fn any_body_signed_now_verifies_and_any_flipped_bit_does_not(
        body in prop::collection::vec(any::<u8>(), 1..256),
        flip in any::<prop::sample::Index>(),
    ) {
        let now = 1_700_000_000;
        let secret = WebhookSecret::parse("whsec_property").unwrap();
        let v = SignatureVerifier::new(vec![secret.clone()], Arc::new(ManualClock::new(now * 1000))).unwrap();
        let h = sign(&secret, now, &body);
        prop_assert_eq!(v.verify(&h, &body), Ok(now));
        let mut tampered = body.clone();
        let i = flip.index(tampered.len());
        tampered[i] ^= 1;
        prop_assert_eq!(v.verify(&h, &tampered), Err(SignatureError::NoMatchingSignature));
    }
}
