//! Property test on a real database (SQLite): random sequences of purchases, funding,
//! shipping, release, cancel, disputes opened, claims and resolutions by random
//! actors. After every step each account matches a model of what the transactions
//! imply, no account has a sign its kind forbids, the ledger sums to zero,
//! `reconcile` is clean, and every refusal is the one the rules predict.

use crate::support::{eur, TestDb, World};
use anyhow::Result;
use proptest::collection::vec;
use proptest::prelude::*;
use rampart_kernel::account::Role;
use rampart_kernel::ids::{DisputeId, ItemId, StoreId, TransactionId};
use rampart_kernel::{Currency, Money};
use rampart_ledger::escrow::PLATFORM;
use rampart_ledger::{reconcile, transition, AccountKind, Applied, EscrowEvent, EscrowState};
use rampart_marketplace::{Caller, DisputeStatus, MarketError, Resolution, StoreRole};
use std::collections::BTreeMap;

const FEE_BPS: i64 = 250;

#[derive(Debug, Clone)]
enum Op {
    /// A purchase, funded at once when `fund` (so disputes have something to open on).
    Buy {
        buyer: usize,
        store: usize,
        quantity: i64,
        unit: i64,
        fund: bool,
    },
    Ledger {
        txn: usize,
        event: u8,
    },
    Open {
        txn: usize,
        actor: usize,
    },
    Claim {
        txn: usize,
        actor: usize,
    },
    Resolve {
        txn: usize,
        actor: usize,
        kind: u8,
        refund_bps: i64,
        other_currency: bool,
    },
}

fn buy() -> impl Strategy<Value = Op> {
    (
        0usize..3,
        0usize..2,
        1i64..4,
        1i64..50_000,
        proptest::bool::weighted(0.8),
    )
        .prop_map(|(buyer, store, quantity, unit, fund)| Op::Buy {
            buyer,
            store,
            quantity,
            unit,
            fund,
        })
}

fn op() -> impl Strategy<Value = Op> {
    // Events weighted towards funding and shipping, so disputes have something to
    // open on.
    let event = prop_oneof![4 => Just(0u8), 2 => Just(1u8), 1 => Just(2u8), 1 => Just(3u8)];
    // Actors weighted towards those who may act: parties open, staff judge.
    let party = prop_oneof![2 => Just(THE_BUYER), 2 => Just(THE_SELLER), 1 => 0usize..ACTORS];
    let judge = prop_oneof![3 => Just(STAFF[0]), 1 => Just(STAFF[1]), 1 => 0usize..ACTORS];
    prop_oneof![
        1 => buy(),
        3 => (0usize..8, event).prop_map(|(txn, event)| Op::Ledger { txn, event }),
        4 => (0usize..8, party).prop_map(|(txn, actor)| Op::Open { txn, actor }),
        1 => (0usize..8, 0usize..ACTORS).prop_map(|(txn, actor)| Op::Claim { txn, actor }),
        4 => (0usize..8, judge, 0u8..3, 0i64..=10_000, proptest::bool::weighted(0.1))
            .prop_map(|(txn, actor, kind, refund_bps, other_currency)| Op::Resolve {
                txn, actor, kind, refund_bps, other_currency,
            }),
    ]
}

/// A case: a few purchases first, then up to 15 random steps (purchases among them).
fn case() -> impl Strategy<Value = Vec<Op>> {
    (vec(buy(), 1..=3), vec(op(), 4..=12)).prop_map(|(mut a, b)| {
        a.extend(b);
        a
    })
}

/// Buyers 0–2 (buyer 2 also manages store 1), owners of stores 0 and 1, a clerk of
/// store 0, staff, staff who clerk in store 1, a stranger, support.
const ACTORS: usize = 10;
const STAFF: [usize; 2] = [6, 7];
/// Stand-ins resolved against the transaction acted on: its buyer, a member of its
/// store.
const THE_BUYER: usize = ACTORS;
const THE_SELLER: usize = ACTORS + 1;

/// The actor `a` stands for on transaction `t`.
fn who(a: usize, t: &Txn) -> usize {
    match a {
        THE_BUYER => t.buyer,
        // Store 0: its owner or clerk; store 1: its owner (buyer 2 and staff 7
        // manage and clerk there too).
        THE_SELLER => [3, 4][t.store],
        a => a,
    }
}

/// Each actor's stores (by index).
fn memberships(actor: usize) -> &'static [usize] {
    match actor {
        2 => &[1],
        3 => &[0],
        4 => &[1],
        5 => &[0],
        7 => &[1],
        _ => &[],
    }
}

#[derive(Debug, Clone)]
struct Txn {
    id: TransactionId,
    buyer: usize,
    store: usize,
    amount: i64,
    state: EscrowState,
    funded: bool,
    refund: i64,
    /// The dispute and whether it is open.
    dispute: Option<(DisputeId, bool)>,
}

fn fee(x: i64) -> i64 {
    x * FEE_BPS / 10_000
}

struct Fixture {
    w: World,
    actors: Vec<Caller>,
    stores: Vec<(StoreId, ItemId)>,
}

async fn fixture(t: &TestDb) -> Result<Fixture> {
    let w = World::new(&t.db);
    let roles = [
        Role::Customer,
        Role::Customer,
        Role::Customer,
        Role::Seller,
        Role::Seller,
        Role::Customer,
        Role::Staff,
        Role::Staff,
        Role::Customer,
        Role::Support,
    ];
    let mut actors = Vec::new();
    for r in roles {
        actors.push(w.user(r).await?);
    }
    let mut stores = Vec::new();
    for owner in [3, 4] {
        stores.push(w.store(&actors[owner], 1_000).await?);
    }
    w.join(&actors[3], &stores[0].0, &actors[5], StoreRole::Clerk)
        .await?;
    w.join(&actors[4], &stores[1].0, &actors[2], StoreRole::Manager)
        .await?;
    w.join(&actors[4], &stores[1].0, &actors[7], StoreRole::Clerk)
        .await?;
    Ok(Fixture { w, actors, stores })
}

fn party(actor: usize, t: &Txn) -> bool {
    actor == t.buyer || memberships(actor).contains(&t.store)
}

fn ledger_event(n: u8) -> EscrowEvent {
    match n {
        0 => EscrowEvent::Fund,
        1 => EscrowEvent::Ship,
        2 => EscrowEvent::Release,
        _ => EscrowEvent::Cancel,
    }
}

async fn step(f: &Fixture, txns: &mut Vec<Txn>, op: Op) -> Result<()> {
    let m = &f.w.m;
    let pick = |i: usize| (!txns.is_empty()).then(|| i % txns.len());
    // Claims and resolutions aim at the transactions that have a dispute.
    let disputed: Vec<usize> = (0..txns.len())
        .filter(|&i| txns[i].dispute.is_some())
        .collect();
    let pick_disputed = |i: usize| (!disputed.is_empty()).then(|| disputed[i % disputed.len()]);
    match op {
        Op::Buy {
            buyer,
            store,
            quantity,
            unit,
            fund,
        } => {
            let (s, i) = &f.stores[store];
            let id =
                f.w.buy(&f.actors[buyer], s, i, quantity, Money::new(unit, eur()))
                    .await?;
            if fund {
                f.w.ledger.apply(&id, EscrowEvent::Fund, None, None).await?;
            }
            txns.push(Txn {
                id,
                buyer,
                store,
                amount: unit * quantity,
                state: if fund {
                    EscrowState::Funded
                } else {
                    EscrowState::PendingPayment
                },
                funded: fund,
                refund: 0,
                dispute: None,
            });
        }
        Op::Ledger { txn, event } => {
            let Some(i) = pick(txn) else { return Ok(()) };
            let t = &mut txns[i];
            let ev = ledger_event(event);
            let expect = transition(t.state, ev);
            match f.w.ledger.apply(&t.id, ev, None, None).await {
                Ok(Applied::Done(next)) => {
                    assert_eq!(Ok(next), expect);
                    t.funded |= ev == EscrowEvent::Fund;
                    t.state = next;
                }
                Ok(Applied::Replay(s)) => {
                    assert_eq!(s, t.state);
                    assert!(expect.is_err());
                }
                Err(rampart_ledger::LedgerError::Transition(_)) => assert!(expect.is_err()),
                Err(e) => return Err(e.into()),
            }
        }
        Op::Open { txn, actor } => {
            let Some(i) = pick(txn) else { return Ok(()) };
            let t = &mut txns[i];
            let actor = who(actor, t);
            let r = m.open_dispute(&f.actors[actor], &t.id, "Not right.").await;
            if !party(actor, t) {
                assert!(matches!(r, Err(MarketError::NotFound)), "{r:?}");
            } else if matches!(t.state, EscrowState::Funded | EscrowState::Shipped) {
                let d = r?;
                assert_eq!(d.status, DisputeStatus::Open);
                t.state = EscrowState::Disputed;
                t.dispute = Some((d.id, true));
            } else {
                assert!(matches!(r, Err(MarketError::InvalidTransition)), "{r:?}");
            }
        }
        Op::Claim { txn, actor } => {
            let Some(i) = pick_disputed(txn) else {
                return Ok(());
            };
            let t = &txns[i];
            let Some((d, open)) = &t.dispute else {
                return Ok(());
            };
            let r = m.add_claim(&f.actors[actor], d, "More detail.").await;
            if !party(actor, t) && !STAFF.contains(&actor) {
                assert!(matches!(r, Err(MarketError::NotFound)), "{r:?}");
            } else if *open {
                r?;
            } else {
                assert!(matches!(r, Err(MarketError::InvalidTransition)), "{r:?}");
            }
        }
        Op::Resolve {
            txn,
            actor,
            kind,
            refund_bps,
            other_currency,
        } => {
            let Some(i) = pick_disputed(txn) else {
                return Ok(());
            };
            let t = &mut txns[i];
            let Some((d, open)) = t.dispute.clone() else {
                return Ok(());
            };
            let refund = t.amount / 10_000 * refund_bps + (t.amount % 10_000) * refund_bps / 10_000;
            let cur = if other_currency {
                Currency::parse("USD")?
            } else {
                eur()
            };
            let resolution = match kind {
                0 => Resolution::Release,
                1 => Resolution::Refund,
                _ => Resolution::Partial {
                    refund: Money::new(refund, cur),
                },
            };
            let r = m.resolve_dispute(&f.actors[actor], &d, resolution).await;
            if party(actor, t) {
                assert!(matches!(r, Err(MarketError::Forbidden)), "{r:?}");
            } else if !STAFF.contains(&actor) {
                assert!(matches!(r, Err(MarketError::NotFound)), "{r:?}");
            } else if !open {
                assert!(matches!(r, Err(MarketError::Conflict(_))), "{r:?}");
            } else if kind >= 2 && (other_currency || refund <= 0 || refund >= t.amount) {
                assert!(matches!(r, Err(MarketError::Validation(_))), "{r:?}");
            } else {
                r?;
                t.dispute = Some((d, false));
                t.state = match kind {
                    0 => EscrowState::Completed,
                    1 => EscrowState::Refunded,
                    _ => {
                        t.refund = refund;
                        EscrowState::PartiallyRefunded
                    }
                };
            }
        }
    }
    Ok(())
}

/// What every account must hold, from the model alone.
fn expected(f: &Fixture, txns: &[Txn]) -> BTreeMap<(AccountKind, String), i64> {
    let mut e: BTreeMap<(AccountKind, String), i64> = BTreeMap::new();
    let mut add = |k: AccountKind, owner: &str, v: i64| {
        *e.entry((k, owner.to_owned())).or_default() += v;
    };
    for b in 0..3 {
        add(AccountKind::BuyerFunding, f.actors[b].user.as_str(), 0);
        add(AccountKind::BuyerRefund, f.actors[b].user.as_str(), 0);
    }
    for (s, _) in &f.stores {
        add(AccountKind::SellerPayable, s.as_str(), 0);
    }
    add(AccountKind::PlatformFee, PLATFORM, 0);
    for t in txns {
        let buyer = f.actors[t.buyer].user.as_str();
        let store = f.stores[t.store].0.as_str();
        let payout = |rest: i64, add: &mut dyn FnMut(AccountKind, &str, i64)| {
            add(AccountKind::SellerPayable, store, rest - fee(rest));
            add(AccountKind::PlatformFee, PLATFORM, fee(rest));
        };
        add(AccountKind::Escrow, t.id.as_str(), 0);
        if t.funded {
            add(AccountKind::BuyerFunding, buyer, -t.amount);
        }
        match t.state {
            EscrowState::Funded | EscrowState::Shipped | EscrowState::Disputed => {
                add(AccountKind::Escrow, t.id.as_str(), t.amount)
            }
            EscrowState::Completed => payout(t.amount, &mut add),
            EscrowState::Cancelled if t.funded => add(AccountKind::BuyerRefund, buyer, t.amount),
            EscrowState::Refunded => add(AccountKind::BuyerRefund, buyer, t.amount),
            EscrowState::PartiallyRefunded => {
                add(AccountKind::BuyerRefund, buyer, t.refund);
                payout(t.amount - t.refund, &mut add);
            }
            EscrowState::PendingPayment | EscrowState::Cancelled => {}
        }
    }
    e
}

async fn check(f: &Fixture, txns: &[Txn]) -> Result<()> {
    let report = reconcile(&f.w.db).await?;
    assert!(report.is_clean(), "{:?}", report.anomalies);
    let mut total = 0i64;
    for ((kind, owner), want) in expected(f, txns) {
        let got = f.w.balance(kind, &owner).await?;
        assert!(kind.allows(got), "{kind:?} {owner}: {got}");
        assert_eq!(got, want, "{kind:?} {owner}");
        total += got;
    }
    assert_eq!(total, 0, "the ledger sums to zero");
    let staff = &f.actors[STAFF[0]];
    for t in txns {
        assert_eq!(f.w.ledger.get(&t.id).await?.map(|v| v.state), Some(t.state));
        let d = f.w.m.dispute_for_transaction(staff, &t.id).await?;
        match (&t.dispute, d) {
            (None, None) => {}
            (Some((id, open)), Some(d)) => {
                assert_eq!(&d.dispute.id, id);
                assert_eq!(d.dispute.status == DisputeStatus::Open, *open);
                assert_eq!(*open, t.state == EscrowState::Disputed);
            }
            (want, got) => panic!("dispute {want:?} but found {got:?}"),
        }
    }
    Ok(())
}

async fn run(ops: Vec<Op>) -> Result<()> {
    let t = TestDb::sqlite().await?;
    let f = fixture(&t).await?;
    let mut txns = Vec::new();
    let r = async {
        for op in ops {
            step(&f, &mut txns, op).await?;
            check(&f, &txns).await?;
        }
        Ok(())
    }
    .await;
    t.db.close().await;
    r
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 32,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_dispute_sequences_keep_the_ledger_balanced(ops in case()) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(run(ops)).unwrap();
    }
}
