//! Property test on a real database: random purchases and events; after every step
//! each transaction balances, no escrow is below zero and the ledger sums to zero.

use crate::support::{eur, ledger, purchase};
use anyhow::Result;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use rampart_db::Db;
use rampart_kernel::ids::{StoreId, TransactionId};
use rampart_kernel::{Money, UserId};
use rampart_ledger::escrow::transition;
use rampart_ledger::{
    reconcile, Account, AccountKind, Applied, EscrowEvent, EscrowState, LedgerError,
};

#[derive(Debug, Clone)]
enum Op {
    Buy {
        buyer: usize,
        store: usize,
        quantity: i64,
        unit: i64,
    },
    Event {
        txn: usize,
        event: u8,
        refund_bps: i64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        1 => (0usize..3, 0usize..3, 1i64..5, 1i64..100_000)
            .prop_map(|(buyer, store, quantity, unit)| Op::Buy { buyer, store, quantity, unit }),
        4 => (0usize..16, 0u8..8, 0i64..=10_000)
            .prop_map(|(txn, event, refund_bps)| Op::Event { txn, event, refund_bps }),
    ]
}

fn event(n: u8, amount: i64, refund_bps: i64) -> EscrowEvent {
    match n {
        0 => EscrowEvent::Fund,
        1 => EscrowEvent::Ship,
        2 => EscrowEvent::Release,
        3 => EscrowEvent::Cancel,
        4 => EscrowEvent::OpenDispute,
        5 => EscrowEvent::ResolveRelease,
        6 => EscrowEvent::ResolveRefund,
        _ => EscrowEvent::ResolvePartial {
            refund: Money::new(
                amount / 10_000 * refund_bps + (amount % 10_000) * refund_bps / 10_000,
                eur(),
            ),
        },
    }
}

async fn random_sequences_keep_the_ledger_balanced(db: &Db) -> Result<()> {
    let l = ledger(db);
    let buyers: Vec<UserId> = (0..3).map(|_| UserId::generate()).collect();
    let stores: Vec<StoreId> = (0..3).map(|_| StoreId::generate()).collect();
    let mut runner = TestRunner::deterministic();
    let strategy = proptest::collection::vec(op(), 10..40);
    // The model: each transaction's id, amount and expected state.
    let mut txns: Vec<(TransactionId, i64, EscrowState)> = Vec::new();
    for case in 0..4 {
        let ops = strategy
            .new_tree(&mut runner)
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .current();
        for op in ops {
            match op {
                Op::Buy {
                    buyer,
                    store,
                    quantity,
                    unit,
                } => {
                    let v = l
                        .create(
                            purchase(&buyers[buyer], &stores[store], quantity, unit),
                            None,
                            None,
                        )
                        .await?;
                    txns.push((v.id, v.amount.minor, EscrowState::PendingPayment));
                }
                Op::Event {
                    txn,
                    event: n,
                    refund_bps,
                } => {
                    let Some(i) = (!txns.is_empty()).then(|| txn % txns.len()) else {
                        continue;
                    };
                    let (id, amount, state) = txns[i].clone();
                    let ev = event(n, amount, refund_bps);
                    match l.apply(&id, ev, None, None).await {
                        Ok(Applied::Done(next)) => {
                            assert_eq!(Ok(next), transition(state, ev), "case {case}");
                            txns[i].2 = next;
                        }
                        Ok(Applied::Replay(s)) => assert_eq!(s, state),
                        Err(LedgerError::Transition(_)) => assert!(transition(state, ev).is_err()),
                        Err(LedgerError::BadRefund) => {}
                        Err(e) => return Err(e.into()),
                    }
                }
            }
            let report = reconcile(db).await?;
            assert!(report.is_clean(), "case {case}: {:?}", report.anomalies);
            for (id, amount, state) in &txns {
                let esc = l
                    .balance(
                        &Account {
                            kind: AccountKind::Escrow,
                            owner: id.as_str().to_owned(),
                        },
                        eur(),
                    )
                    .await?;
                assert!(esc.minor >= 0);
                assert_eq!(esc.minor, if state.holds_money() { *amount } else { 0 });
                assert_eq!(l.get(id).await?.map(|v| v.state), Some(*state));
            }
        }
    }
    Ok(())
}

crate::both_engines!(random_sequences_keep_the_ledger_balanced);
