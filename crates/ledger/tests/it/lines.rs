//! Multi-line escrow (a checkout's share of one store in one transaction) and
//! partial refunds before an outcome, against a real database: postings, balances,
//! replays, refusals, and a clean reconciliation after each flow.

use crate::support::{eur, exec, ledger, scalar};
use anyhow::Result;
use rampart_db::Db;
use rampart_kernel::ids::{ItemId, StoreId};
use rampart_kernel::{Currency, Money, UserId};
use rampart_ledger::escrow::PLATFORM;
use rampart_ledger::{
    reconcile, Account, AccountKind, Applied, EscrowEvent as E, EscrowLine, EscrowState as S,
    Ledger, LedgerError, NewMultiEscrow,
};

fn acct(kind: AccountKind, owner: &str) -> Account {
    Account {
        kind,
        owner: owner.to_owned(),
    }
}

fn line(quantity: i64, unit: i64) -> EscrowLine {
    EscrowLine {
        item: ItemId::generate(),
        quantity,
        unit_price: Money::new(unit, eur()),
    }
}

fn multi(lines: Vec<EscrowLine>) -> NewMultiEscrow {
    NewMultiEscrow {
        buyer: UserId::generate(),
        store: StoreId::generate(),
        lines,
        release_after_ms: 86_400_000,
    }
}

async fn create(l: &Ledger, db: &Db, m: NewMultiEscrow) -> Result<rampart_ledger::EscrowView> {
    let mut tx = db.begin().await?;
    let v = l.create_multi_in(&mut tx, m, None, None).await?;
    tx.commit().await?;
    Ok(v)
}

async fn held(l: &Ledger, id: &str) -> Result<i64> {
    Ok(l.balance(&acct(AccountKind::Escrow, id), eur())
        .await?
        .minor)
}

async fn one_transaction_holds_several_lines(db: &Db) -> Result<()> {
    let l = ledger(db);
    let lines = vec![line(2, 1_500), line(1, 4_000), line(3, 100)];
    let v = create(&l, db, multi(lines.clone())).await?;
    assert_eq!(v.amount, Money::new(7_300, eur()));
    assert_eq!(v.line_count, 3);
    assert_eq!((v.item.clone(), v.quantity), (lines[0].item.clone(), 2));
    assert_eq!(l.lines(&v.id).await?, lines);
    assert_eq!(
        l.apply(&v.id, E::Fund, None, None).await?,
        Applied::Done(S::Funded)
    );
    assert_eq!(held(&l, v.id.as_str()).await?, 7_300);
    l.apply(&v.id, E::Ship, None, None).await?;
    l.apply(&v.id, E::Release, None, None).await?;
    let payable = l
        .balance(&acct(AccountKind::SellerPayable, v.store.as_str()), eur())
        .await?;
    // 2.5 % of 7 300 = 182.5 → 183 (half up) to the platform, the rest to the seller.
    let fee = l
        .balance(&acct(AccountKind::PlatformFee, PLATFORM), eur())
        .await?;
    assert_eq!(payable.minor + fee.minor, 7_300);
    let r = reconcile(db).await?;
    assert!(r.is_clean(), "{:?}", r.anomalies);
    Ok(())
}

async fn bad_multi_purchases_are_refused_and_write_nothing(db: &Db) -> Result<()> {
    let l = ledger(db);
    let before = scalar(db, "SELECT COUNT(*) FROM escrow_transactions").await?;
    let audits = rampart_audit::count(db).await?;
    let usd = Currency::parse("USD")?;
    let same = line(1, 100);
    let bad: Vec<Vec<EscrowLine>> = vec![
        vec![],
        vec![line(1, 100), line(0, 100)],
        vec![line(1, 100), line(1, 0)],
        vec![same.clone(), same],
        vec![
            line(1, 100),
            EscrowLine {
                item: ItemId::generate(),
                quantity: 1,
                unit_price: Money::new(100, usd),
            },
        ],
        (0..=rampart_ledger::MAX_LINES)
            .map(|_| line(1, 1))
            .collect(),
        vec![line(i64::MAX / 2, 10)],
    ];
    for lines in bad {
        let mut tx = db.begin().await?;
        let r = l.create_multi_in(&mut tx, multi(lines), None, None).await;
        assert!(
            matches!(r, Err(LedgerError::BadTerms(_) | LedgerError::Money(_))),
            "{r:?}"
        );
        tx.rollback().await?;
    }
    assert_eq!(
        scalar(db, "SELECT COUNT(*) FROM escrow_transactions").await?,
        before
    );
    assert_eq!(rampart_audit::count(db).await?, audits);
    Ok(())
}

async fn partial_refunds_then_release_pay_the_seller_only_the_rest(db: &Db) -> Result<()> {
    let l = ledger(db);
    let v = create(&l, db, multi(vec![line(2, 5_000)])).await?;
    let id = v.id.clone();
    // Not before funding.
    let r1 = E::PartialRefund {
        refund: Money::new(1_000, eur()),
        seq: 1,
    };
    assert!(matches!(
        l.apply(&id, r1, None, None).await,
        Err(LedgerError::Transition(_))
    ));
    l.apply(&id, E::Fund, None, None).await?;
    assert_eq!(
        l.apply(&id, r1, None, None).await?,
        Applied::Done(S::Funded)
    );
    // The same refund again (same number) is a replay: nothing written.
    let postings = l.posting_count(&id).await?;
    let audits = rampart_audit::count(db).await?;
    assert_eq!(
        l.apply(&id, r1, None, None).await?,
        Applied::Replay(S::Funded)
    );
    assert_eq!(l.posting_count(&id).await?, postings);
    assert_eq!(rampart_audit::count(db).await?, audits);
    assert_eq!(held(&l, id.as_str()).await?, 9_000);
    l.apply(&id, E::Ship, None, None).await?;
    // More than (or all of) what is held is not a partial refund.
    for minor in [9_000, 9_001, 0, -5] {
        let e = E::PartialRefund {
            refund: Money::new(minor, eur()),
            seq: 2,
        };
        assert!(
            matches!(
                l.apply(&id, e, None, None).await,
                Err(LedgerError::BadRefund)
            ),
            "{minor}"
        );
    }
    let r2 = E::PartialRefund {
        refund: Money::new(2_000, eur()),
        seq: 2,
    };
    assert_eq!(
        l.apply(&id, r2, None, None).await?,
        Applied::Done(S::Shipped)
    );
    let view = l.get(&id).await?.unwrap();
    assert_eq!(view.refunded, Money::new(3_000, eur()));
    assert_eq!(view.held(), Money::new(7_000, eur()));
    l.apply(&id, E::Release, None, None).await?;
    assert_eq!(held(&l, id.as_str()).await?, 0);
    let refund = l
        .balance(&acct(AccountKind::BuyerRefund, v.buyer.as_str()), eur())
        .await?;
    assert_eq!(refund.minor, 3_000);
    let payable = l
        .balance(&acct(AccountKind::SellerPayable, v.store.as_str()), eur())
        .await?;
    // 7 000 released, 2.5 % fee (175) on it.
    assert_eq!(payable.minor, 6_825);
    let r = reconcile(db).await?;
    assert!(r.is_clean(), "{:?}", r.anomalies);
    Ok(())
}

async fn after_partial_refunds_every_outcome_acts_on_what_is_held(db: &Db) -> Result<()> {
    let l = ledger(db);
    let part = |seq| E::PartialRefund {
        refund: Money::new(2_500, eur()),
        seq,
    };
    // Cancel before shipping returns the rest.
    let a = create(&l, db, multi(vec![line(1, 10_000)])).await?;
    l.apply(&a.id, E::Fund, None, None).await?;
    l.apply(&a.id, part(1), None, None).await?;
    assert_eq!(
        l.apply(&a.id, E::Cancel, None, None).await?,
        Applied::Done(S::Cancelled)
    );
    // Refund after shipping returns the rest.
    let b = create(&l, db, multi(vec![line(1, 10_000)])).await?;
    for e in [E::Fund, part(1), E::Ship] {
        l.apply(&b.id, e, None, None).await?;
    }
    assert_eq!(
        l.apply(&b.id, E::Refund, None, None).await?,
        Applied::Done(S::Refunded)
    );
    // A dispute's partial outcome is bounded by what is held (7 500).
    let c = create(&l, db, multi(vec![line(1, 10_000)])).await?;
    for e in [E::Fund, part(1), E::Ship, E::OpenDispute] {
        l.apply(&c.id, e, None, None).await?;
    }
    let too_much = E::ResolvePartial {
        refund: Money::new(7_500, eur()),
    };
    assert!(matches!(
        l.apply(&c.id, too_much, None, None).await,
        Err(LedgerError::BadRefund)
    ));
    // No partial refund while disputed: the dispute decides.
    assert!(matches!(
        l.apply(&c.id, part(2), None, None).await,
        Err(LedgerError::Transition(_))
    ));
    let ok = E::ResolvePartial {
        refund: Money::new(500, eur()),
    };
    assert_eq!(
        l.apply(&c.id, ok, None, None).await?,
        Applied::Done(S::PartiallyRefunded)
    );
    for (t, buyer_back) in [(&a, 10_000), (&b, 10_000), (&c, 3_000)] {
        assert_eq!(held(&l, t.id.as_str()).await?, 0);
        let back = l
            .balance(&acct(AccountKind::BuyerRefund, t.buyer.as_str()), eur())
            .await?;
        assert_eq!(back.minor, buyer_back, "{}", t.id);
    }
    let r = reconcile(db).await?;
    assert!(r.is_clean(), "{:?}", r.anomalies);
    Ok(())
}

async fn tampered_lines_or_refunds_are_found(db: &Db) -> Result<()> {
    let l = ledger(db);
    let a = create(&l, db, multi(vec![line(1, 1_000), line(2, 500)])).await?;
    l.apply(&a.id, E::Fund, None, None).await?;
    exec(
        db,
        &format!(
            "UPDATE escrow_lines SET quantity = 1 WHERE transaction_id = '{}' AND line_no = 1",
            a.id
        ),
    )
    .await?;
    let b = create(&l, db, multi(vec![line(1, 1_000)])).await?;
    l.apply(&b.id, E::Fund, None, None).await?;
    // A refund recorded on the row but never posted.
    exec(
        db,
        &format!(
            "UPDATE escrow_transactions SET refunded_minor = 400 WHERE id = '{}'",
            b.id
        ),
    )
    .await?;
    let r = reconcile(db).await?;
    let found: Vec<(String, &str)> = r
        .anomalies
        .iter()
        .filter_map(|x| match x {
            rampart_ledger::Anomaly::StateMismatch {
                transaction, check, ..
            } => Some((transaction.clone(), *check)),
            _ => None,
        })
        .collect();
    assert!(found.contains(&(a.id.to_string(), "lines")), "{found:?}");
    assert!(found.contains(&(b.id.to_string(), "escrow")), "{found:?}");
    Ok(())
}

crate::both_engines!(
    one_transaction_holds_several_lines,
    bad_multi_purchases_are_refused_and_write_nothing,
    partial_refunds_then_release_pay_the_seller_only_the_rest,
    after_partial_refunds_every_outcome_acts_on_what_is_held,
    tampered_lines_or_refunds_are_found,
);
