//! The escrow state machine and the balanced posting set each transition implies.
//! Pure: no I/O, so every rule is tested without a database.

use rampart_kernel::money::MoneyError;
use rampart_kernel::{Currency, Money};
use std::fmt;

/// Where an escrow transaction stands (D3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EscrowState {
    /// Created; the buyer has not paid.
    PendingPayment,
    /// The buyer's money is held in escrow.
    Funded,
    /// The seller shipped; money still held.
    Shipped,
    /// Released to the seller (after delivery, or a dispute resolved as release).
    Completed,
    /// Cancelled before shipping; any funded money returned to the buyer.
    Cancelled,
    /// A dispute is open; money held until staff resolve it.
    Disputed,
    /// Everything held refunded to the buyer: a dispute resolved for the buyer, or a
    /// staff refund after shipping.
    Refunded,
    /// Dispute resolved: part refunded to the buyer, the rest released to the seller.
    PartiallyRefunded,
}

impl EscrowState {
    /// Every state.
    pub const ALL: &'static [EscrowState] = &[
        EscrowState::PendingPayment,
        EscrowState::Funded,
        EscrowState::Shipped,
        EscrowState::Completed,
        EscrowState::Cancelled,
        EscrowState::Disputed,
        EscrowState::Refunded,
        EscrowState::PartiallyRefunded,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            EscrowState::PendingPayment => "pending_payment",
            EscrowState::Funded => "funded",
            EscrowState::Shipped => "shipped",
            EscrowState::Completed => "completed",
            EscrowState::Cancelled => "cancelled",
            EscrowState::Disputed => "disputed",
            EscrowState::Refunded => "refunded",
            EscrowState::PartiallyRefunded => "partially_refunded",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<EscrowState> {
        Self::ALL.iter().copied().find(|x| x.as_str() == s)
    }

    /// Whether the buyer's money is (and must be) held in the escrow account.
    pub fn holds_money(self) -> bool {
        matches!(
            self,
            EscrowState::Funded | EscrowState::Shipped | EscrowState::Disputed
        )
    }

    /// No further event applies.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            EscrowState::Completed
                | EscrowState::Cancelled
                | EscrowState::Refunded
                | EscrowState::PartiallyRefunded
        )
    }
}

impl fmt::Display for EscrowState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What can happen to an escrow transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EscrowEvent {
    /// The buyer's payment arrived.
    Fund,
    /// The seller shipped.
    Ship,
    /// Release to the seller (the buyer confirmed or the release intent ran).
    Release,
    /// Cancel (before shipping).
    Cancel,
    /// Buyer or seller opened a dispute.
    OpenDispute,
    /// Staff resolved the dispute for the seller.
    ResolveRelease,
    /// Staff resolved the dispute for the buyer: full refund.
    ResolveRefund,
    /// Staff resolved the dispute with a partial refund of `refund` to the buyer.
    ResolvePartial {
        /// The amount returned to the buyer; strictly between zero and what is held.
        refund: Money,
    },
    /// Staff returned part of the held money to the buyer before any outcome (an
    /// order's partial refund, C1): the state stays, the escrow holds less, and a
    /// later release, cancel or dispute outcome acts on what is left.
    PartialRefund {
        /// The amount returned; strictly between zero and what is held.
        refund: Money,
        /// The transaction's refund number (1, 2, …): each partial refund is its own
        /// effect (`{transaction}:partial_refund:{seq}`), so a retry of the same
        /// refund is a replay and never a second refund.
        seq: u32,
    },
    /// Staff refunded everything still held after the goods shipped (before
    /// shipping a full refund is a [`EscrowEvent::Cancel`]).
    Refund,
}

impl EscrowEvent {
    /// The stable name, used in the effect key (`{transaction}:{name}`). The state
    /// graph has no cycle apart from the partial refund's self-loop, so each other
    /// name occurs at most once per transaction; a partial refund's key carries its
    /// number.
    pub fn name(self) -> &'static str {
        match self {
            EscrowEvent::Fund => "fund",
            EscrowEvent::Ship => "ship",
            EscrowEvent::Release => "release",
            EscrowEvent::Cancel => "cancel",
            EscrowEvent::OpenDispute => "open_dispute",
            EscrowEvent::ResolveRelease => "resolve_release",
            EscrowEvent::ResolveRefund => "resolve_refund",
            EscrowEvent::ResolvePartial { .. } => "resolve_partial",
            EscrowEvent::PartialRefund { .. } => "partial_refund",
            EscrowEvent::Refund => "refund",
        }
    }
}

/// An event that does not apply in the current state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{event} is not allowed in state {from}")]
pub struct TransitionError {
    /// The state the transaction was in.
    pub from: EscrowState,
    /// The refused event's name.
    pub event: &'static str,
}

/// The one transition function: the next state, or a typed refusal.
pub fn transition(state: EscrowState, event: EscrowEvent) -> Result<EscrowState, TransitionError> {
    use EscrowEvent as E;
    use EscrowState as S;
    match (state, event) {
        (S::PendingPayment, E::Fund) => Ok(S::Funded),
        (S::PendingPayment | S::Funded, E::Cancel) => Ok(S::Cancelled),
        (S::Funded, E::Ship) => Ok(S::Shipped),
        (S::Shipped, E::Release) => Ok(S::Completed),
        (S::Funded | S::Shipped, E::OpenDispute) => Ok(S::Disputed),
        (S::Disputed, E::ResolveRelease) => Ok(S::Completed),
        (S::Disputed, E::ResolveRefund) => Ok(S::Refunded),
        (S::Disputed, E::ResolvePartial { .. }) => Ok(S::PartiallyRefunded),
        (S::Funded | S::Shipped, E::PartialRefund { .. }) => Ok(state),
        (S::Shipped, E::Refund) => Ok(S::Refunded),
        (from, event) => Err(TransitionError {
            from,
            event: event.name(),
        }),
    }
}

/// Kinds of ledger account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AccountKind {
    /// Money that came in from the buyer's payment (owner: the buyer). The source
    /// side of funding, so its balance is zero or negative.
    BuyerFunding,
    /// Money held for one transaction (owner: the transaction). Never below zero.
    Escrow,
    /// Owed to a store (owner: the store).
    SellerPayable,
    /// The platform's fee revenue (owner: `platform`).
    PlatformFee,
    /// Owed back to a buyer (owner: the buyer).
    BuyerRefund,
}

impl AccountKind {
    /// Every kind.
    pub const ALL: &'static [AccountKind] = &[
        AccountKind::BuyerFunding,
        AccountKind::Escrow,
        AccountKind::SellerPayable,
        AccountKind::PlatformFee,
        AccountKind::BuyerRefund,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            AccountKind::BuyerFunding => "buyer_funding",
            AccountKind::Escrow => "escrow",
            AccountKind::SellerPayable => "seller_payable",
            AccountKind::PlatformFee => "platform_fee",
            AccountKind::BuyerRefund => "buyer_refund",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<AccountKind> {
        Self::ALL.iter().copied().find(|x| x.as_str() == s)
    }

    /// Whether a balance of this sign is legal: the funding source is never above
    /// zero, every other account never below.
    pub fn allows(self, balance: i64) -> bool {
        match self {
            AccountKind::BuyerFunding => balance <= 0,
            _ => balance >= 0,
        }
    }
}

/// The owner reference of the platform's own accounts.
pub const PLATFORM: &str = "platform";

/// A ledger account: kind, owner and currency identify it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Account {
    /// The kind.
    pub kind: AccountKind,
    /// Buyer, store or transaction ID, or [`PLATFORM`].
    pub owner: String,
}

/// One leg of an entry: an amount (signed minor units) on an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posting {
    /// Where.
    pub account: Account,
    /// How much; positive adds to the account's balance, negative takes from it.
    pub amount: Money,
}

/// The facts of a transaction the posting rules need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Terms {
    /// The transaction ID (owner of its escrow account).
    pub transaction: String,
    /// The buyer's user ID.
    pub buyer: String,
    /// The store's ID.
    pub store: String,
    /// The amount the event acts on, positive: the price × quantity before funding,
    /// afterwards what the escrow still holds (the price less any partial refunds).
    pub amount: Money,
    /// The platform fee in basis points (0..=10 000), taken from what the seller gets.
    pub fee_bps: u32,
}

/// A posting set that cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PostingError {
    /// The event is illegal in this state.
    #[error(transparent)]
    Transition(#[from] TransitionError),
    /// A partial refund must be more than zero and less than the amount, in its
    /// currency.
    #[error("partial refund out of range")]
    BadRefund,
    /// The amount must be positive and the fee at most 10 000 bps.
    #[error("bad terms")]
    BadTerms,
    /// Arithmetic overflow or a currency mismatch.
    #[error(transparent)]
    Money(#[from] MoneyError),
}

fn account(kind: AccountKind, owner: &str) -> Account {
    Account {
        kind,
        owner: owner.to_owned(),
    }
}

/// The balanced posting set `event` implies for a transaction in `state`, and the
/// next state. Transitions that move no money (ship, dispute, cancel before payment)
/// return an empty set.
///
/// ```
/// use rampart_kernel::{Currency, Money};
/// use rampart_ledger::escrow::{postings_for, EscrowEvent, EscrowState, Terms};
/// let eur = Currency::parse("EUR").unwrap();
/// let terms = Terms { transaction: "t".into(), buyer: "b".into(), store: "s".into(),
///     amount: Money::new(10_000, eur), fee_bps: 250 };
/// let (next, legs) = postings_for(&terms, EscrowState::Shipped, EscrowEvent::Release).unwrap();
/// assert_eq!(next, EscrowState::Completed);
/// assert_eq!(legs.iter().map(|p| p.amount.minor).sum::<i64>(), 0);
/// ```
pub fn postings_for(
    terms: &Terms,
    state: EscrowState,
    event: EscrowEvent,
) -> Result<(EscrowState, Vec<Posting>), PostingError> {
    let next = transition(state, event)?;
    let amount = terms.amount;
    if amount.minor <= 0 || terms.fee_bps > 10_000 {
        return Err(PostingError::BadTerms);
    }
    let neg = |m: Money| Money::zero(m.currency).checked_sub(m);
    let escrow = || account(AccountKind::Escrow, &terms.transaction);
    // Release `gross` of the escrow to the seller, minus the fee on it.
    let release = |gross: Money| -> Result<Vec<Posting>, PostingError> {
        let fee = gross.basis_points(terms.fee_bps)?;
        let net = gross.checked_sub(fee)?;
        let mut legs = vec![Posting {
            account: account(AccountKind::SellerPayable, &terms.store),
            amount: net,
        }];
        if fee.minor != 0 {
            legs.push(Posting {
                account: account(AccountKind::PlatformFee, PLATFORM),
                amount: fee,
            });
        }
        Ok(legs)
    };
    let legs = match (state, event) {
        (_, EscrowEvent::Fund) => vec![
            Posting {
                account: account(AccountKind::BuyerFunding, &terms.buyer),
                amount: neg(amount)?,
            },
            Posting {
                account: escrow(),
                amount,
            },
        ],
        (EscrowState::Funded, EscrowEvent::Cancel)
        | (_, EscrowEvent::ResolveRefund | EscrowEvent::Refund) => vec![
            Posting {
                account: escrow(),
                amount: neg(amount)?,
            },
            Posting {
                account: account(AccountKind::BuyerRefund, &terms.buyer),
                amount,
            },
        ],
        (_, EscrowEvent::Release | EscrowEvent::ResolveRelease) => {
            let mut legs = vec![Posting {
                account: escrow(),
                amount: neg(amount)?,
            }];
            legs.extend(release(amount)?);
            legs
        }
        (_, EscrowEvent::ResolvePartial { refund }) => {
            part_of(refund, amount)?;
            let mut legs = vec![
                Posting {
                    account: escrow(),
                    amount: neg(amount)?,
                },
                Posting {
                    account: account(AccountKind::BuyerRefund, &terms.buyer),
                    amount: refund,
                },
            ];
            legs.extend(release(amount.checked_sub(refund)?)?);
            legs
        }
        (_, EscrowEvent::PartialRefund { refund, .. }) => {
            part_of(refund, amount)?;
            vec![
                Posting {
                    account: escrow(),
                    amount: neg(refund)?,
                },
                Posting {
                    account: account(AccountKind::BuyerRefund, &terms.buyer),
                    amount: refund,
                },
            ]
        }
        _ => Vec::new(),
    };
    Ok((next, legs))
}

/// A partial refund is more than zero and less than what is held, in its currency.
fn part_of(refund: Money, held: Money) -> Result<(), PostingError> {
    if refund.currency != held.currency || refund.minor <= 0 || refund.minor >= held.minor {
        return Err(PostingError::BadRefund);
    }
    Ok(())
}

/// Sums a posting set per currency; a balanced set gives all zeros.
pub fn sums(legs: &[Posting]) -> Result<Vec<(Currency, i64)>, MoneyError> {
    let mut out: Vec<(Currency, i64)> = Vec::new();
    for p in legs {
        match out.iter_mut().find(|(c, _)| *c == p.amount.currency) {
            Some((_, s)) => *s = s.checked_add(p.amount.minor).ok_or(MoneyError::Overflow)?,
            None => out.push((p.amount.currency, p.amount.minor)),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use proptest::prelude::*;

    fn eur() -> Currency {
        Currency::parse("EUR").unwrap()
    }

    fn terms(amount: i64, fee_bps: u32) -> Terms {
        Terms {
            transaction: "txn".into(),
            buyer: "buyer".into(),
            store: "store".into(),
            amount: Money::new(amount, eur()),
            fee_bps,
        }
    }

    fn balance(legs: &[Posting], kind: AccountKind) -> i64 {
        legs.iter()
            .filter(|p| p.account.kind == kind)
            .map(|p| p.amount.minor)
            .sum()
    }

    #[test]
    fn happy_path_pays_seller_minus_fee() {
        let t = terms(10_000, 250);
        let (s, fund) = postings_for(&t, EscrowState::PendingPayment, EscrowEvent::Fund).unwrap();
        assert_eq!(s, EscrowState::Funded);
        let (s, ship) = postings_for(&t, s, EscrowEvent::Ship).unwrap();
        assert_eq!(s, EscrowState::Shipped);
        assert!(ship.is_empty());
        let (s, rel) = postings_for(&t, s, EscrowEvent::Release).unwrap();
        assert_eq!(s, EscrowState::Completed);
        let all: Vec<Posting> = fund.into_iter().chain(rel).collect();
        assert_eq!(balance(&all, AccountKind::Escrow), 0);
        assert_eq!(balance(&all, AccountKind::SellerPayable), 9_750);
        assert_eq!(balance(&all, AccountKind::PlatformFee), 250);
        assert_eq!(balance(&all, AccountKind::BuyerFunding), -10_000);
    }

    #[test]
    fn partial_refund_splits_and_fees_only_the_released_part() {
        let t = terms(10_000, 1_000);
        let refund = Money::new(4_000, eur());
        let (s, legs) = postings_for(
            &t,
            EscrowState::Disputed,
            EscrowEvent::ResolvePartial { refund },
        )
        .unwrap();
        assert_eq!(s, EscrowState::PartiallyRefunded);
        assert_eq!(balance(&legs, AccountKind::BuyerRefund), 4_000);
        assert_eq!(balance(&legs, AccountKind::SellerPayable), 5_400);
        assert_eq!(balance(&legs, AccountKind::PlatformFee), 600);
        assert_eq!(balance(&legs, AccountKind::Escrow), -10_000);
    }

    #[test]
    fn partial_refund_out_of_range_is_refused() {
        let t = terms(10_000, 0);
        for minor in [0, -1, 10_000, 10_001] {
            let e = EscrowEvent::ResolvePartial {
                refund: Money::new(minor, eur()),
            };
            assert_eq!(
                postings_for(&t, EscrowState::Disputed, e),
                Err(PostingError::BadRefund)
            );
        }
        let usd = Money::new(1, Currency::parse("USD").unwrap());
        assert_eq!(
            postings_for(
                &t,
                EscrowState::Disputed,
                EscrowEvent::ResolvePartial { refund: usd }
            ),
            Err(PostingError::BadRefund)
        );
    }

    #[test]
    fn partial_refunds_keep_the_state_and_the_rest_is_released_with_its_fee() {
        // 10 000 funded; 3 000 back to the buyer before shipping; the seller is
        // paid the remaining 7 000 less 10 %.
        let t = terms(10_000, 1_000);
        let (s, fund) = postings_for(&t, EscrowState::PendingPayment, EscrowEvent::Fund).unwrap();
        let refund = Money::new(3_000, eur());
        let (s, part) = postings_for(&t, s, EscrowEvent::PartialRefund { refund, seq: 1 }).unwrap();
        assert_eq!(s, EscrowState::Funded);
        assert_eq!(balance(&part, AccountKind::Escrow), -3_000);
        assert_eq!(balance(&part, AccountKind::BuyerRefund), 3_000);
        let (s, _) = postings_for(&t, s, EscrowEvent::Ship).unwrap();
        let held = terms(7_000, 1_000);
        let (s, rel) = postings_for(&held, s, EscrowEvent::Release).unwrap();
        assert_eq!(s, EscrowState::Completed);
        let all: Vec<Posting> = fund.into_iter().chain(part).chain(rel).collect();
        assert_eq!(balance(&all, AccountKind::Escrow), 0);
        assert_eq!(balance(&all, AccountKind::SellerPayable), 6_300);
        assert_eq!(balance(&all, AccountKind::PlatformFee), 700);
        assert_eq!(balance(&all, AccountKind::BuyerRefund), 3_000);
    }

    #[test]
    fn partial_refund_before_an_outcome_is_bounded_by_what_is_held() {
        let t = terms(5_000, 0);
        for minor in [0, -1, 5_000, 5_001] {
            let e = EscrowEvent::PartialRefund {
                refund: Money::new(minor, eur()),
                seq: 1,
            };
            assert_eq!(
                postings_for(&t, EscrowState::Shipped, e),
                Err(PostingError::BadRefund)
            );
        }
        let e = EscrowEvent::PartialRefund {
            refund: Money::new(1, eur()),
            seq: 1,
        };
        for s in [
            EscrowState::PendingPayment,
            EscrowState::Disputed,
            EscrowState::Completed,
        ] {
            assert!(matches!(
                postings_for(&t, s, e),
                Err(PostingError::Transition(_))
            ));
        }
    }

    #[test]
    fn a_refund_after_shipping_returns_everything_held() {
        let t = terms(4_000, 500);
        let (s, legs) = postings_for(&t, EscrowState::Shipped, EscrowEvent::Refund).unwrap();
        assert_eq!(s, EscrowState::Refunded);
        assert_eq!(balance(&legs, AccountKind::Escrow), -4_000);
        assert_eq!(balance(&legs, AccountKind::BuyerRefund), 4_000);
        assert!(transition(EscrowState::Funded, EscrowEvent::Refund).is_err());
        assert!(transition(EscrowState::Disputed, EscrowEvent::Refund).is_err());
    }

    #[test]
    fn illegal_transitions_are_refused() {
        assert!(transition(EscrowState::PendingPayment, EscrowEvent::Ship).is_err());
        assert!(transition(EscrowState::Funded, EscrowEvent::Release).is_err());
        assert!(transition(EscrowState::Shipped, EscrowEvent::Cancel).is_err());
        assert!(transition(EscrowState::Completed, EscrowEvent::OpenDispute).is_err());
        assert!(transition(EscrowState::Disputed, EscrowEvent::Release).is_err());
        for s in EscrowState::ALL.iter().filter(|s| s.is_final()) {
            for e in events(1) {
                assert!(transition(*s, e).is_err(), "{s} + {}", e.name());
            }
        }
    }

    #[test]
    fn bad_terms_are_refused() {
        assert_eq!(
            postings_for(&terms(0, 0), EscrowState::PendingPayment, EscrowEvent::Fund),
            Err(PostingError::BadTerms)
        );
        assert_eq!(
            postings_for(
                &terms(10, 10_001),
                EscrowState::PendingPayment,
                EscrowEvent::Fund
            ),
            Err(PostingError::BadTerms)
        );
    }

    #[test]
    fn names_round_trip() {
        for s in EscrowState::ALL {
            assert_eq!(EscrowState::parse(s.as_str()), Some(*s));
        }
        for k in AccountKind::ALL {
            assert_eq!(AccountKind::parse(k.as_str()), Some(*k));
        }
    }

    fn events(refund: i64) -> Vec<EscrowEvent> {
        vec![
            EscrowEvent::Fund,
            EscrowEvent::Ship,
            EscrowEvent::Release,
            EscrowEvent::Cancel,
            EscrowEvent::OpenDispute,
            EscrowEvent::ResolveRelease,
            EscrowEvent::ResolveRefund,
            EscrowEvent::ResolvePartial {
                refund: Money::new(refund, eur()),
            },
            EscrowEvent::PartialRefund {
                refund: Money::new(refund, eur()),
                seq: 1,
            },
            EscrowEvent::Refund,
        ]
    }

    proptest! {
        /// Random event sequences: refused events change nothing, accepted ones give
        /// balanced sets, the escrow never goes below zero, and its balance agrees
        /// with the state after every step.
        #[test]
        fn random_sequences_stay_balanced(
            amount in 1i64..1_000_000_000,
            fee in 0u32..=10_000,
            refund_frac in 0u32..=10_000,
            picks in proptest::collection::vec(0usize..10, 0..20),
        ) {
            let refund = i64::try_from(i128::from(amount) * i128::from(refund_frac) / 10_000).unwrap();
            let evs = events(refund);
            let mut state = EscrowState::PendingPayment;
            let mut ledger: Vec<Posting> = Vec::new();
            let mut funded = false;
            // What the escrow holds once funded: the amount less partial refunds.
            let mut held = amount;
            for i in picks {
                let e = evs[i];
                let t = terms(held, fee);
                match postings_for(&t, state, e) {
                    Ok((next, legs)) => {
                        prop_assert!(transition(state, e).is_ok());
                        for (_, s) in sums(&legs).unwrap() {
                            prop_assert_eq!(s, 0);
                        }
                        funded |= e == EscrowEvent::Fund;
                        if let EscrowEvent::PartialRefund { refund, .. } = e {
                            held -= refund.minor;
                        }
                        ledger.extend(legs);
                        state = next;
                    }
                    Err(PostingError::Transition(_)) => {
                        prop_assert!(transition(state, e).is_err());
                    }
                    Err(PostingError::BadRefund) => {
                        prop_assert!(refund <= 0 || refund >= held);
                    }
                    Err(other) => prop_assert!(false, "unexpected {other}"),
                }
                let esc = balance(&ledger, AccountKind::Escrow);
                prop_assert!(esc >= 0);
                prop_assert_eq!(esc, if state.holds_money() { held } else { 0 });
                for p in &ledger {
                    let b = ledger.iter().filter(|q| q.account == p.account).map(|q| q.amount.minor).sum();
                    prop_assert!(p.account.kind.allows(b));
                }
                prop_assert_eq!(-balance(&ledger, AccountKind::BuyerFunding), if funded { amount } else { 0 });
                // Money is never created: out of escrow is at most what came in.
                let out = balance(&ledger, AccountKind::BuyerRefund)
                    + balance(&ledger, AccountKind::SellerPayable)
                    + balance(&ledger, AccountKind::PlatformFee);
                prop_assert_eq!(out + esc, if funded { amount } else { 0 });
            }
        }
    }
}
