//! The escrow flows against a real database: postings, balances, replays, refusals
//! and the audit row of every transition.

use crate::support::{eur, exec, ledger, new_txn, purchase, scalar};
use anyhow::Result;
use rampart_db::Db;
use rampart_kernel::ids::StoreId;
use rampart_kernel::{Money, UserId};
use rampart_ledger::escrow::PLATFORM;
use rampart_ledger::{
    reconcile, Account, AccountKind, Applied, EscrowEvent as E, EscrowState as S, LedgerError,
};

fn acct(kind: AccountKind, owner: &str) -> Account {
    Account {
        kind,
        owner: owner.to_owned(),
    }
}

async fn release_pays_seller_minus_fee(db: &Db) -> Result<()> {
    let l = ledger(db);
    let buyer = UserId::generate();
    let store = StoreId::generate();
    let v = l
        .create(
            purchase(&buyer, &store, 2, 5_000),
            Some(&buyer),
            Some("req-1"),
        )
        .await?;
    assert_eq!(v.state, S::PendingPayment);
    assert_eq!(v.amount, Money::new(10_000, eur()));
    assert_eq!(v.fee_bps, 250);
    let audits0 = rampart_audit::count(db).await?;
    assert_eq!(
        l.apply(&v.id, E::Fund, Some(&buyer), None).await?,
        Applied::Done(S::Funded)
    );
    let escrow = acct(AccountKind::Escrow, v.id.as_str());
    assert_eq!(l.balance(&escrow, eur()).await?.minor, 10_000);
    assert_eq!(
        l.apply(&v.id, E::Ship, None, None).await?,
        Applied::Done(S::Shipped)
    );
    assert_eq!(
        l.apply(&v.id, E::Release, None, None).await?,
        Applied::Done(S::Completed)
    );
    assert_eq!(l.balance(&escrow, eur()).await?.minor, 0);
    let seller = acct(AccountKind::SellerPayable, store.as_str());
    assert_eq!(l.balance(&seller, eur()).await?.minor, 9_750);
    let fee = acct(AccountKind::PlatformFee, PLATFORM);
    assert_eq!(l.balance(&fee, eur()).await?.minor, 250);
    let funding = acct(AccountKind::BuyerFunding, buyer.as_str());
    assert_eq!(l.balance(&funding, eur()).await?.minor, -10_000);
    // One audit row per transition, in the same transaction as the change.
    assert_eq!(rampart_audit::count(db).await? - audits0, 3);
    let rows = rampart_audit::latest(db, 10).await?;
    let actions: Vec<&str> = rows.iter().map(|r| r.action_type.as_str()).collect();
    assert!(actions.contains(&"escrow_fund") && actions.contains(&"escrow_release"));
    assert!(rampart_audit::verify(db, |_| {})
        .await?
        .first_break
        .is_none());
    assert_eq!(
        l.get(&v.id).await?.map(|v| (v.state, v.version)),
        Some((S::Completed, 3))
    );
    assert!(reconcile(db).await?.is_clean());
    Ok(())
}

async fn replay_is_a_no_op(db: &Db) -> Result<()> {
    let l = ledger(db);
    let id = new_txn(&l).await?;
    l.apply(&id, E::Fund, None, None).await?;
    let postings = l.posting_count(&id).await?;
    let audits = rampart_audit::count(db).await?;
    assert_eq!(
        l.apply(&id, E::Fund, None, None).await?,
        Applied::Replay(S::Funded)
    );
    assert_eq!(l.posting_count(&id).await?, postings);
    assert_eq!(rampart_audit::count(db).await?, audits);
    // The unique effect key holds even against a direct second insert.
    let dup = exec(
        db,
        &format!(
            "INSERT INTO ledger_entries (id, effect_key, transaction_id, event, created_at) \
             VALUES ('dup', '{id}:fund', '{id}', 'fund', 1)"
        ),
    )
    .await;
    assert!(dup.is_err(), "the effect key is unique");
    Ok(())
}

async fn illegal_event_changes_nothing(db: &Db) -> Result<()> {
    let l = ledger(db);
    let id = new_txn(&l).await?;
    let audits = rampart_audit::count(db).await?;
    let r = l.apply(&id, E::Release, None, None).await;
    assert!(matches!(r, Err(LedgerError::Transition(_))), "{r:?}");
    let r = l.apply(&id, E::Ship, None, None).await;
    assert!(matches!(r, Err(LedgerError::Transition(_))), "{r:?}");
    assert_eq!(l.posting_count(&id).await?, 0);
    assert_eq!(rampart_audit::count(db).await?, audits);
    assert_eq!(
        l.get(&id).await?.map(|v| (v.state, v.version)),
        Some((S::PendingPayment, 0))
    );
    let missing = rampart_kernel::ids::TransactionId::generate();
    assert!(matches!(
        l.apply(&missing, E::Fund, None, None).await,
        Err(LedgerError::NotFound)
    ));
    Ok(())
}

async fn disputes_resolve_three_ways(db: &Db) -> Result<()> {
    let l = ledger(db);
    // Refund.
    let a = new_txn(&l).await?;
    l.apply(&a, E::Fund, None, None).await?;
    l.apply(&a, E::OpenDispute, None, None).await?;
    assert_eq!(
        l.apply(&a, E::ResolveRefund, None, None).await?,
        Applied::Done(S::Refunded)
    );
    // Partial: out of range refused, then 3 000 of 10 000.
    let b = new_txn(&l).await?;
    l.apply(&b, E::Fund, None, None).await?;
    l.apply(&b, E::Ship, None, None).await?;
    l.apply(&b, E::OpenDispute, None, None).await?;
    let too_much = E::ResolvePartial {
        refund: Money::new(10_000, eur()),
    };
    assert!(matches!(
        l.apply(&b, too_much, None, None).await,
        Err(LedgerError::BadRefund)
    ));
    let part = E::ResolvePartial {
        refund: Money::new(3_000, eur()),
    };
    assert_eq!(
        l.apply(&b, part, None, None).await?,
        Applied::Done(S::PartiallyRefunded)
    );
    // Release.
    let c = new_txn(&l).await?;
    l.apply(&c, E::Fund, None, None).await?;
    l.apply(&c, E::OpenDispute, None, None).await?;
    assert_eq!(
        l.apply(&c, E::ResolveRelease, None, None).await?,
        Applied::Done(S::Completed)
    );
    // Cancel before and after payment.
    let d = new_txn(&l).await?;
    assert_eq!(
        l.apply(&d, E::Cancel, None, None).await?,
        Applied::Done(S::Cancelled)
    );
    let e = new_txn(&l).await?;
    l.apply(&e, E::Fund, None, None).await?;
    assert_eq!(
        l.apply(&e, E::Cancel, None, None).await?,
        Applied::Done(S::Cancelled)
    );

    for id in [&a, &b, &c, &d, &e] {
        let esc = l
            .balance(&acct(AccountKind::Escrow, id.as_str()), eur())
            .await?;
        assert_eq!(esc.minor, 0, "{id}");
    }
    // Fee only on what the seller got: 250 (c) + 2.5 % of 7 000 (b) = 425.
    let fee = l
        .balance(&acct(AccountKind::PlatformFee, PLATFORM), eur())
        .await?;
    assert_eq!(fee.minor, 425);
    let total = scalar(
        db,
        "SELECT CAST(COALESCE(SUM(amount_minor), 0) AS BIGINT) FROM ledger_postings",
    )
    .await?;
    assert_eq!(total, 0);
    let actions: Vec<String> = rampart_audit::latest(db, 100)
        .await?
        .into_iter()
        .map(|r| r.action_type)
        .collect();
    for a in [
        "refund",
        "dispute_partial_refund",
        "dispute_resolve",
        "escrow_cancel",
        "dispute_open",
    ] {
        assert!(actions.iter().any(|x| x == a), "{a} audited");
    }
    let report = reconcile(db).await?;
    assert!(report.is_clean(), "{:?}", report.anomalies);
    assert_eq!(report.transactions, 5);
    Ok(())
}

async fn bad_purchases_are_refused(db: &Db) -> Result<()> {
    let l = ledger(db);
    let (b, s) = (UserId::generate(), StoreId::generate());
    assert!(matches!(
        l.create(purchase(&b, &s, 0, 100), None, None).await,
        Err(LedgerError::BadTerms(_))
    ));
    assert!(matches!(
        l.create(purchase(&b, &s, 1, 0), None, None).await,
        Err(LedgerError::BadTerms(_))
    ));
    assert!(matches!(
        l.create(purchase(&b, &s, 2, i64::MAX), None, None).await,
        Err(LedgerError::Money(_))
    ));
    assert!(rampart_ledger::Ledger::new(
        db.clone(),
        std::sync::Arc::new(rampart_kernel::SystemClock),
        10_001
    )
    .is_err());
    assert_eq!(
        scalar(db, "SELECT COUNT(*) FROM escrow_transactions").await?,
        0
    );
    Ok(())
}

async fn intents_are_requested_once_and_refused_when_illegal(db: &Db) -> Result<()> {
    use rampart_ledger::{IntentKind, IntentStatus};
    let l = ledger(db);
    let buyer = UserId::generate();
    let store = StoreId::generate();
    let v = l
        .create(purchase(&buyer, &store, 1, 5_000), Some(&buyer), None)
        .await?;
    // Release before shipping does not apply: refused, nothing stored or audited.
    let audits0 = rampart_audit::count(db).await?;
    assert!(matches!(
        l.request_intent(&v.id, IntentKind::Release, Some(&buyer), None)
            .await,
        Err(LedgerError::Transition(_))
    ));
    assert_eq!(rampart_audit::count(db).await?, audits0);
    assert!(l.intents_for(&v.id).await?.is_empty());
    l.apply(&v.id, E::Fund, None, None).await?;
    l.apply(&v.id, E::Ship, None, None).await?;
    let a = l
        .request_intent(&v.id, IntentKind::Release, Some(&buyer), Some("r1"))
        .await?;
    assert_eq!(a.status, IntentStatus::Pending);
    assert_eq!(a.requested_by.as_ref(), Some(&buyer));
    // Asking again while pending returns the same intent, without a second audit row.
    let b = l
        .request_intent(&v.id, IntentKind::Release, Some(&buyer), Some("r2"))
        .await?;
    assert_eq!(a.id, b.id);
    assert_eq!(rampart_audit::count(db).await? - audits0, 3);
    let last = rampart_audit::latest(db, 1).await?;
    assert_eq!(last[0].action_type, "release_request");
    // Requesting changes no money and no state.
    assert_eq!(l.get(&v.id).await?.map(|t| t.state), Some(S::Shipped));
    assert_eq!(l.intents_for(&v.id).await?.len(), 1);
    // Cancel does not apply while the release is pending (nor after shipping).
    assert!(matches!(
        l.request_intent(&v.id, IntentKind::Cancel, None, None)
            .await,
        Err(LedgerError::IntentPending(IntentKind::Release))
    ));
    Ok(())
}

crate::both_engines!(
    intents_are_requested_once_and_refused_when_illegal,
    release_pays_seller_minus_fee,
    replay_is_a_no_op,
    illegal_event_changes_nothing,
    disputes_resolve_three_ways,
    bad_purchases_are_refused,
);
