//! Reconciliation finds each kind of tampering and names the rows involved.

use crate::support::{exec, ledger, new_txn};
use anyhow::Result;
use rampart_db::Db;
use rampart_kernel::ids::TransactionId;
use rampart_ledger::{reconcile, Anomaly, EscrowEvent as E, Ledger};

/// A completed, a funded and a pending transaction.
async fn fixture(l: &Ledger) -> Result<(TransactionId, TransactionId, TransactionId)> {
    let done = new_txn(l).await?;
    for e in [E::Fund, E::Ship, E::Release] {
        l.apply(&done, e, None, None).await?;
    }
    let funded = new_txn(l).await?;
    l.apply(&funded, E::Fund, None, None).await?;
    let pending = new_txn(l).await?;
    Ok((done, funded, pending))
}

async fn clean_ledger_reconciles(db: &Db) -> Result<()> {
    let l = ledger(db);
    let empty = reconcile(db).await?;
    assert!(empty.is_clean());
    fixture(&l).await?;
    let r = reconcile(db).await?;
    assert!(r.is_clean(), "{:?}", r.anomalies);
    assert_eq!(r.transactions, 3);
    assert!(r.accounts >= 5);
    Ok(())
}

async fn altered_amount_unbalances_entry_and_ledger(db: &Db) -> Result<()> {
    let l = ledger(db);
    let (_, funded, _) = fixture(&l).await?;
    let entry: String = entry_of(db, &funded, "fund").await?;
    exec(
        db,
        &format!(
            "UPDATE ledger_postings SET amount_minor = amount_minor + 1 \
             WHERE entry_id = '{entry}' AND amount_minor > 0"
        ),
    )
    .await?;
    let r = reconcile(db).await?;
    assert!(
        r.anomalies.contains(&Anomaly::EntryUnbalanced {
            entry: entry.clone(),
            currency: "EUR".into(),
            sum: 1
        }),
        "{:?}",
        r.anomalies
    );
    assert!(r.anomalies.contains(&Anomaly::LedgerUnbalanced {
        currency: "EUR".into(),
        sum: 1
    }));
    assert!(r.anomalies.iter().any(|a| matches!(a,
        Anomaly::StateMismatch { transaction, check: "escrow", found: 10_001, expected: 10_000, .. }
        if *transaction == funded.as_str())));
    assert!(r.anomalies.iter().all(|a| !a.to_string().is_empty()));
    Ok(())
}

async fn deleted_leg_is_found(db: &Db) -> Result<()> {
    let l = ledger(db);
    let (done, _, _) = fixture(&l).await?;
    let entry = entry_of(db, &done, "release").await?;
    // Drop the fee leg: the entry and the ledger no longer sum to zero, and the
    // completed transaction's payout is short.
    exec(
        db,
        &format!(
            "DELETE FROM ledger_postings WHERE entry_id = '{entry}' AND account_id IN \
         (SELECT id FROM ledger_accounts WHERE kind = 'platform_fee')"
        ),
    )
    .await?;
    let r = reconcile(db).await?;
    assert!(
        r.anomalies.iter().any(
            |a| matches!(a, Anomaly::EntryUnbalanced { entry: e, sum: -250, .. } if *e == entry)
        ),
        "{:?}",
        r.anomalies
    );
    assert!(r.anomalies.iter().any(|a| matches!(a, Anomaly::StateMismatch { transaction, check: "payout", .. } if *transaction == done.as_str())));
    Ok(())
}

async fn state_disagreeing_with_postings_is_found(db: &Db) -> Result<()> {
    let l = ledger(db);
    let (_, funded, pending) = fixture(&l).await?;
    // Completed while the money is still in escrow.
    exec(
        db,
        &format!("UPDATE escrow_transactions SET state = 'completed' WHERE id = '{funded}'"),
    )
    .await?;
    // Funded without any money.
    exec(
        db,
        &format!("UPDATE escrow_transactions SET state = 'funded' WHERE id = '{pending}'"),
    )
    .await?;
    let r = reconcile(db).await?;
    let found = |id: &TransactionId, c: &str| {
        r.anomalies.iter().any(|a| matches!(a,
        Anomaly::StateMismatch { transaction, check, .. } if *transaction == id.as_str() && *check == c))
    };
    assert!(found(&funded, "escrow"), "{:?}", r.anomalies);
    assert!(found(&funded, "payout"));
    assert!(found(&pending, "escrow"));
    assert!(found(&pending, "funding"));
    // Each balanced entry is still fine: only state findings.
    assert!(r
        .anomalies
        .iter()
        .all(|a| matches!(a, Anomaly::StateMismatch { .. })));
    Ok(())
}

async fn negative_escrow_and_wrong_currency_are_found(db: &Db) -> Result<()> {
    let l = ledger(db);
    let (_, funded, _) = fixture(&l).await?;
    // A balanced but illegal entry: takes 20 000 out of a 10 000 escrow.
    let esc = scalar_str(
        db,
        &format!("SELECT id FROM ledger_accounts WHERE kind = 'escrow' AND owner_ref = '{funded}'"),
    )
    .await?;
    let fee = scalar_str(
        db,
        "SELECT id FROM ledger_accounts WHERE kind = 'platform_fee'",
    )
    .await?;
    exec(db, &format!("INSERT INTO ledger_entries (id, effect_key, transaction_id, event, created_at) VALUES ('evil', 'evil', '{funded}', 'release', 1)")).await?;
    exec(db, &format!("INSERT INTO ledger_postings (id, entry_id, account_id, transaction_id, amount_minor, currency, created_at) VALUES ('p1', 'evil', '{esc}', '{funded}', -20000, 'EUR', 1), ('p2', 'evil', '{fee}', '{funded}', 20000, 'EUR', 1)")).await?;
    // A posting in USD on a EUR account, balanced in USD by another.
    exec(db, &format!("INSERT INTO ledger_entries (id, effect_key, transaction_id, event, created_at) VALUES ('fx', 'fx', '{funded}', 'ship', 1)")).await?;
    exec(db, &format!("INSERT INTO ledger_postings (id, entry_id, account_id, transaction_id, amount_minor, currency, created_at) VALUES ('p3', 'fx', '{fee}', '{funded}', 5, 'USD', 1), ('p4', 'fx', '{esc}', 'other', -5, 'USD', 1)")).await?;
    let r = reconcile(db).await?;
    assert!(r.anomalies.iter().any(|a| matches!(a, Anomaly::AccountBalance { account, kind, balance: -10_000, .. } if *account == esc && kind == "escrow")), "{:?}", r.anomalies);
    assert!(r.anomalies.contains(&Anomaly::CurrencyMismatch {
        posting: "p3".into(),
        account: fee.clone()
    }));
    assert!(r.anomalies.contains(&Anomaly::MisfiledPosting {
        posting: "p4".into(),
        entry: "fx".into()
    }));
    assert!(r.anomalies.iter().any(|a| matches!(a, Anomaly::StateMismatch { transaction, check: "currency", .. } if *transaction == funded.as_str())));
    Ok(())
}

async fn entry_of(db: &Db, txn: &TransactionId, event: &str) -> Result<String> {
    scalar_str(
        db,
        &format!("SELECT id FROM ledger_entries WHERE effect_key = '{txn}:{event}'"),
    )
    .await
}

async fn scalar_str(db: &Db, sql: &str) -> Result<String> {
    let (s,): (String,) = match &db.engine {
        rampart_db::Engine::Sqlite { read, .. } => sqlx::query_as(sql).fetch_one(read).await?,
        rampart_db::Engine::Postgres(p) => sqlx::query_as(sql).fetch_one(p).await?,
    };
    Ok(s)
}

crate::both_engines!(
    clean_ledger_reconciles,
    altered_amount_unbalances_entry_and_ledger,
    deleted_leg_is_found,
    state_disagreeing_with_postings_is_found,
    negative_escrow_and_wrong_currency_are_found,
);
