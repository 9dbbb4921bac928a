//! Disputes against a real database: who may open, see, claim and resolve; the money
//! each resolution moves and the one audit row it writes; every refusal leaves the
//! database as it was.

use crate::support::{eur, scalar, World};
use anyhow::Result;
use rampart_db::Db;
use rampart_kernel::account::Role;
use rampart_kernel::ids::{DisputeId, ItemId, StoreId, TransactionId};
use rampart_kernel::{Currency, Money};
use rampart_ledger::{reconcile, AccountKind, EscrowEvent, EscrowState};
use rampart_marketplace::{
    Caller, DisputeOutcome, DisputeQuery, DisputeSide, DisputeStatus, MarketError, Resolution,
    StoreRole,
};

/// A store with an owner and a clerk, a buyer, staff, and outsiders.
struct Scene {
    w: World,
    owner: Caller,
    clerk: Caller,
    buyer: Caller,
    staff: Caller,
    stranger: Caller,
    other_owner: Caller,
    support: Caller,
    store: StoreId,
    item: ItemId,
}

async fn scene(db: &Db) -> Result<Scene> {
    let w = World::new(db);
    let owner = w.user(Role::Seller).await?;
    let clerk = w.user(Role::Customer).await?;
    let buyer = w.user(Role::Customer).await?;
    let staff = w.user(Role::Staff).await?;
    let stranger = w.user(Role::Customer).await?;
    let other_owner = w.user(Role::Seller).await?;
    let support = w.user(Role::Support).await?;
    let (store, item) = w.store(&owner, 10_000).await?;
    w.join(&owner, &store, &clerk, StoreRole::Clerk).await?;
    w.store(&other_owner, 500).await?;
    Ok(Scene {
        w,
        owner,
        clerk,
        buyer,
        staff,
        stranger,
        other_owner,
        support,
        store,
        item,
    })
}

impl Scene {
    async fn funded(&self) -> Result<TransactionId> {
        self.w
            .funded(&self.buyer, &self.store, &self.item, 10_000)
            .await
    }
    async fn state(&self, t: &TransactionId) -> Result<EscrowState> {
        Ok(self.w.ledger.get(t).await?.unwrap().state)
    }
}

fn is_not_found<T: std::fmt::Debug>(r: Result<T, MarketError>) -> bool {
    matches!(r, Err(MarketError::NotFound))
}

async fn buyer_opens_and_every_side_claims(db: &Db) -> Result<()> {
    let s = scene(db).await?;
    let t = s.funded().await?;
    let audits = rampart_audit::count(db).await?;
    let d =
        s.w.m
            .open_dispute(&s.buyer, &t, "  It never arrived.\r\nTracking says lost.  ")
            .await?;
    assert_eq!(d.transaction, t);
    assert_eq!(d.store, s.store);
    assert_eq!(d.buyer, s.buyer.user);
    assert_eq!(d.opened_by, s.buyer.user);
    assert_eq!(d.opened_by_side, DisputeSide::Buyer);
    assert_eq!(d.reason, "It never arrived.\nTracking says lost.");
    assert_eq!(d.status, DisputeStatus::Open);
    assert_eq!(d.outcome, None);
    assert_eq!(d.currency, eur());
    // The escrow is now disputed: release (and so auto-release) no longer applies.
    assert_eq!(s.state(&t).await?, EscrowState::Disputed);
    assert!(s
        .w
        .ledger
        .request_intent(&t, rampart_ledger::IntentKind::Release, None, None)
        .await
        .is_err());
    // One audit row, dispute_open, written by the ledger in the same transaction.
    assert_eq!(rampart_audit::count(db).await? - audits, 1);
    let row = &rampart_audit::latest(db, 1).await?[0];
    assert_eq!(row.action_type, "dispute_open");
    assert_eq!(row.actor_user_uuid.as_deref(), Some(s.buyer.user.as_str()));
    assert_eq!(row.request_id, s.buyer.request_id);

    let c = s.w.m.add_claim(&s.clerk, &d.id, "Shipped on time.").await?;
    assert_eq!(c.side, DisputeSide::Seller);
    let c =
        s.w.m
            .add_claim(&s.owner, &d.id, "Receipt attached.")
            .await?;
    assert_eq!(c.side, DisputeSide::Seller);
    let c =
        s.w.m
            .add_claim(&s.staff, &d.id, "Asked the carrier.")
            .await?;
    assert_eq!(c.side, DisputeSide::Staff);
    s.w.m.add_claim(&s.buyer, &d.id, "Still nothing.").await?;

    for viewer in [&s.buyer, &s.clerk, &s.owner, &s.staff] {
        let detail = s.w.m.dispute(viewer, &d.id).await?;
        let sides: Vec<DisputeSide> = detail.claims.iter().map(|c| c.side).collect();
        assert_eq!(
            sides,
            [
                DisputeSide::Buyer,
                DisputeSide::Seller,
                DisputeSide::Seller,
                DisputeSide::Staff,
                DisputeSide::Buyer
            ]
        );
        assert_eq!(detail.claims[0].body, d.reason);
        assert_eq!(detail.transaction.state, EscrowState::Disputed);
        assert_eq!(detail.transaction.amount, Money::new(10_000, eur()));
        let by_txn = s.w.m.dispute_for_transaction(viewer, &t).await?.unwrap();
        assert_eq!(by_txn.dispute.id, d.id);
    }
    assert_eq!(
        s.w.m.dispute(&s.staff, &d.id).await?.viewer_side,
        DisputeSide::Staff
    );

    // Claims are bounded text.
    let before = s.w.snapshot().await?;
    for bad in ["", "   ", "a\u{202e}b", "a\u{7}b"] {
        assert!(matches!(
            s.w.m.add_claim(&s.buyer, &d.id, bad).await,
            Err(MarketError::Validation(_))
        ));
    }
    assert!(matches!(
        s.w.m.add_claim(&s.buyer, &d.id, &"x".repeat(4001)).await,
        Err(MarketError::Validation(_))
    ));
    assert_eq!(s.w.snapshot().await?, before);
    // A transaction without a dispute: the parties see that there is none.
    let t2 = s.funded().await?;
    assert!(s
        .w
        .m
        .dispute_for_transaction(&s.buyer, &t2)
        .await?
        .is_none());
    Ok(())
}

async fn seller_opens_on_a_shipped_transaction(db: &Db) -> Result<()> {
    let s = scene(db).await?;
    let t = s.funded().await?;
    s.w.ledger.apply(&t, EscrowEvent::Ship, None, None).await?;
    let d =
        s.w.m
            .open_dispute(&s.clerk, &t, "Buyer claims damage we cannot see.")
            .await?;
    assert_eq!(d.opened_by_side, DisputeSide::Seller);
    assert_eq!(d.opened_by, s.clerk.user);
    assert_eq!(s.state(&t).await?, EscrowState::Disputed);
    // Only one dispute per transaction.
    let before = s.w.snapshot().await?;
    assert!(matches!(
        s.w.m.open_dispute(&s.buyer, &t, "Me too.").await,
        Err(MarketError::InvalidTransition)
    ));
    assert_eq!(s.w.snapshot().await?, before);
    Ok(())
}

async fn outsiders_learn_nothing_and_change_nothing(db: &Db) -> Result<()> {
    let s = scene(db).await?;
    let t = s.funded().await?;
    let outsiders = [&s.stranger, &s.other_owner, &s.support, &s.staff];
    let before = s.w.snapshot().await?;
    for who in outsiders {
        assert!(
            is_not_found(s.w.m.open_dispute(who, &t, "Let me in.").await),
            "{:?}",
            who.role
        );
    }
    // An unknown transaction looks the same.
    assert!(is_not_found(
        s.w.m
            .open_dispute(&s.buyer, &TransactionId::generate(), "x")
            .await
    ));
    assert_eq!(s.w.snapshot().await?, before);
    assert_eq!(s.state(&t).await?, EscrowState::Funded);

    let d = s.w.m.open_dispute(&s.buyer, &t, "Broken.").await?;
    let before = s.w.snapshot().await?;
    for who in [&s.stranger, &s.other_owner, &s.support] {
        assert!(is_not_found(s.w.m.dispute(who, &d.id).await));
        assert!(is_not_found(s.w.m.dispute_for_transaction(who, &t).await));
        assert!(is_not_found(s.w.m.add_claim(who, &d.id, "Hi.").await));
        assert!(is_not_found(
            s.w.m.resolve_dispute(who, &d.id, Resolution::Refund).await
        ));
        assert!(is_not_found(
            s.w.m.dispute_queue(who, &DisputeQuery::default()).await
        ));
    }
    // The parties know the dispute but may not judge it.
    for who in [&s.buyer, &s.clerk, &s.owner] {
        assert!(matches!(
            s.w.m.resolve_dispute(who, &d.id, Resolution::Refund).await,
            Err(MarketError::Forbidden)
        ));
        assert!(is_not_found(
            s.w.m.dispute_queue(who, &DisputeQuery::default()).await
        ));
    }
    // Staff who are members of the selling store may not judge it either.
    let staff_member = s.w.user(Role::Staff).await?;
    s.w.join(&s.owner, &s.store, &staff_member, StoreRole::Clerk)
        .await?;
    let before_member = s.w.snapshot().await?;
    assert!(matches!(
        s.w.m
            .resolve_dispute(&staff_member, &d.id, Resolution::Release)
            .await,
        Err(MarketError::Forbidden)
    ));
    assert_eq!(s.w.snapshot().await?, before_member);
    assert!(before_member[0] == before[0] && before_member[1] == before[1]);
    assert!(is_not_found(
        s.w.m
            .resolve_dispute(&s.staff, &DisputeId::generate(), Resolution::Refund)
            .await
    ));
    assert_eq!(s.state(&t).await?, EscrowState::Disputed);
    Ok(())
}

/// Opens a dispute on a new funded purchase of 10 000 cents and resolves it; returns
/// (seller payable, buyer refund, platform fee) deltas and the audit row.
async fn resolve_one(
    s: &Scene,
    resolution: Resolution,
) -> Result<(i64, i64, i64, rampart_audit::AuditRow, TransactionId)> {
    let t = s.funded().await?;
    let d =
        s.w.m
            .open_dispute(&s.buyer, &t, "Not as described.")
            .await?;
    let seller0 =
        s.w.balance(AccountKind::SellerPayable, s.store.as_str())
            .await?;
    let refund0 =
        s.w.balance(AccountKind::BuyerRefund, s.buyer.user.as_str())
            .await?;
    let fee0 = s.w.platform().await?;
    let audits = rampart_audit::count(&s.w.db).await?;
    s.w.clock.advance_secs(60);
    let v = s.w.m.resolve_dispute(&s.staff, &d.id, resolution).await?;
    assert_eq!(v.status, DisputeStatus::Resolved);
    assert_eq!(v.resolved_by.as_ref(), Some(&s.staff.user));
    assert_eq!(v.resolved_at, Some(s.w.clock_now()));
    assert_eq!(rampart_audit::count(&s.w.db).await? - audits, 1);
    let row = rampart_audit::latest(&s.w.db, 1).await?.remove(0);
    assert_eq!(row.actor_user_uuid.as_deref(), Some(s.staff.user.as_str()));
    assert_eq!(row.target_id, t.as_str());
    assert_eq!(row.request_id, s.staff.request_id);
    assert_eq!(
        s.w.balance(AccountKind::Escrow, t.as_str()).await?,
        0,
        "escrow emptied"
    );
    // The stored dispute agrees with what was returned.
    assert_eq!(s.w.m.dispute(&s.buyer, &d.id).await?.dispute, v);
    assert!(reconcile(&s.w.db).await?.is_clean());
    Ok((
        s.w.balance(AccountKind::SellerPayable, s.store.as_str())
            .await?
            - seller0,
        s.w.balance(AccountKind::BuyerRefund, s.buyer.user.as_str())
            .await?
            - refund0,
        s.w.platform().await? - fee0,
        row,
        t,
    ))
}

fn legs(row: &rampart_audit::AuditRow) -> Vec<(String, i64)> {
    let m: serde_json::Value = serde_json::from_str(&row.metadata).unwrap();
    let mut v: Vec<(String, i64)> = m["postings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["account"].as_str().unwrap().to_owned(),
                p["amount_minor"].as_i64().unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

async fn three_resolutions_move_the_right_money(db: &Db) -> Result<()> {
    let s = scene(db).await?;

    let (seller, refund, fee, row, t) = resolve_one(&s, Resolution::Release).await?;
    assert_eq!((seller, refund, fee), (9_750, 0, 250));
    assert_eq!(row.action_type, "dispute_resolve");
    assert_eq!(
        legs(&row),
        [
            ("escrow".to_owned(), -10_000),
            ("platform_fee".to_owned(), 250),
            ("seller_payable".to_owned(), 9_750)
        ]
    );
    assert_eq!(s.state(&t).await?, EscrowState::Completed);

    let (seller, refund, fee, row, t) = resolve_one(&s, Resolution::Refund).await?;
    assert_eq!((seller, refund, fee), (0, 10_000, 0));
    assert_eq!(row.action_type, "refund");
    assert_eq!(
        legs(&row),
        [
            ("buyer_refund".to_owned(), 10_000),
            ("escrow".to_owned(), -10_000)
        ]
    );
    assert_eq!(s.state(&t).await?, EscrowState::Refunded);

    let (seller, refund, fee, row, t) = resolve_one(
        &s,
        Resolution::Partial {
            refund: Money::new(4_000, eur()),
        },
    )
    .await?;
    // 6 000 to the seller side: fee floor(6 000 × 2.5 %) = 150.
    assert_eq!((seller, refund, fee), (5_850, 4_000, 150));
    assert_eq!(row.action_type, "dispute_partial_refund");
    let m: serde_json::Value = serde_json::from_str(&row.metadata)?;
    assert_eq!(m["refund_minor"], 4_000);
    assert_eq!(
        legs(&row),
        [
            ("buyer_refund".to_owned(), 4_000),
            ("escrow".to_owned(), -10_000),
            ("platform_fee".to_owned(), 150),
            ("seller_payable".to_owned(), 5_850)
        ]
    );
    assert_eq!(s.state(&t).await?, EscrowState::PartiallyRefunded);
    let d = s.w.m.dispute_for_transaction(&s.clerk, &t).await?.unwrap();
    assert_eq!(d.dispute.outcome, Some(DisputeOutcome::Partial));
    assert_eq!(d.dispute.refund, Some(Money::new(4_000, eur())));
    Ok(())
}

async fn bad_partial_refunds_and_second_resolutions_are_refused(db: &Db) -> Result<()> {
    let s = scene(db).await?;
    let t = s.funded().await?;
    let d =
        s.w.m
            .open_dispute(&s.buyer, &t, "Half of it is missing.")
            .await?;
    let before = s.w.snapshot().await?;
    let usd = Currency::parse("USD")?;
    for refund in [
        Money::new(0, eur()),
        Money::new(-1, eur()),
        Money::new(10_000, eur()),
        Money::new(10_001, eur()),
        Money::new(4_000, usd),
    ] {
        let r =
            s.w.m
                .resolve_dispute(&s.staff, &d.id, Resolution::Partial { refund })
                .await;
        let Err(MarketError::Validation(f)) = r else {
            panic!("{refund:?} accepted: {r:?}");
        };
        let field = &f.0[0].field;
        assert_eq!(
            field,
            if refund.currency == eur() {
                "refund_minor"
            } else {
                "currency"
            }
        );
    }
    assert_eq!(s.w.snapshot().await?, before);
    assert_eq!(s.state(&t).await?, EscrowState::Disputed);

    s.w.m
        .resolve_dispute(&s.staff, &d.id, Resolution::Refund)
        .await?;
    let after = s.w.snapshot().await?;
    let refund =
        s.w.balance(AccountKind::BuyerRefund, s.buyer.user.as_str())
            .await?;
    for again in [
        Resolution::Refund,
        Resolution::Release,
        Resolution::Partial {
            refund: Money::new(1, eur()),
        },
    ] {
        assert!(matches!(
            s.w.m.resolve_dispute(&s.staff, &d.id, again).await,
            Err(MarketError::Conflict(_))
        ));
    }
    // A resolved dispute takes no more claims.
    assert!(matches!(
        s.w.m.add_claim(&s.buyer, &d.id, "One more thing.").await,
        Err(MarketError::InvalidTransition)
    ));
    assert_eq!(s.w.snapshot().await?, after);
    assert_eq!(
        s.w.balance(AccountKind::BuyerRefund, s.buyer.user.as_str())
            .await?,
        refund
    );
    assert_eq!(s.state(&t).await?, EscrowState::Refunded);
    Ok(())
}

async fn disputes_only_on_funded_or_shipped(db: &Db) -> Result<()> {
    let s = scene(db).await?;
    let pending =
        s.w.buy(&s.buyer, &s.store, &s.item, 1, Money::new(10_000, eur()))
            .await?;
    let completed = s.funded().await?;
    for e in [EscrowEvent::Ship, EscrowEvent::Release] {
        s.w.ledger.apply(&completed, e, None, None).await?;
    }
    let cancelled = s.funded().await?;
    s.w.ledger
        .apply(&cancelled, EscrowEvent::Cancel, None, None)
        .await?;
    let before = s.w.snapshot().await?;
    for t in [&pending, &completed, &cancelled] {
        for who in [&s.buyer, &s.owner] {
            assert!(matches!(
                s.w.m.open_dispute(who, t, "Too late.").await,
                Err(MarketError::InvalidTransition)
            ));
        }
    }
    assert_eq!(s.w.snapshot().await?, before);
    assert_eq!(s.state(&pending).await?, EscrowState::PendingPayment);
    assert_eq!(s.state(&completed).await?, EscrowState::Completed);
    // A bad reason is refused before anything moves.
    let t = s.funded().await?;
    let before = s.w.snapshot().await?;
    assert!(matches!(
        s.w.m.open_dispute(&s.buyer, &t, " ").await,
        Err(MarketError::Validation(_))
    ));
    assert_eq!(s.w.snapshot().await?, before);
    assert_eq!(s.state(&t).await?, EscrowState::Funded);
    Ok(())
}

async fn the_queue_is_oldest_first_and_paged(db: &Db) -> Result<()> {
    let s = scene(db).await?;
    let mut ids = Vec::new();
    for _ in 0..5 {
        let t = s.funded().await?;
        s.w.clock.advance_secs(1);
        ids.push(s.w.m.open_dispute(&s.buyer, &t, "Where is it?").await?.id);
    }
    s.w.m
        .resolve_dispute(&s.staff, &ids[1], Resolution::Release)
        .await?;
    let mut q = DisputeQuery::parse(None, Some(2), None)?;
    let mut seen = Vec::new();
    loop {
        let page = s.w.m.dispute_queue(&s.staff, &q).await?;
        assert!(page.disputes.len() <= 2);
        seen.extend(page.disputes.into_iter().map(|d| d.id));
        match page.next {
            Some(c) => {
                q = DisputeQuery::parse(None, Some(2), Some(&c.encode()))?;
            }
            None => break,
        }
    }
    assert_eq!(
        seen,
        [
            ids[0].clone(),
            ids[2].clone(),
            ids[3].clone(),
            ids[4].clone()
        ]
    );
    let resolved =
        s.w.m
            .dispute_queue(
                &s.staff,
                &DisputeQuery::parse(Some("resolved"), None, None)?,
            )
            .await?;
    assert_eq!(
        resolved.disputes.iter().map(|d| &d.id).collect::<Vec<_>>(),
        [&ids[1]]
    );
    let all =
        s.w.m
            .dispute_queue(
                &s.staff,
                &DisputeQuery::parse(Some("all"), Some(100), None)?,
            )
            .await?;
    assert_eq!(all.disputes.len(), 5);
    assert!(all.next.is_none());
    assert_eq!(
        scalar(db, "SELECT COUNT(*) FROM disputes WHERE status = 'open'").await?,
        4
    );
    Ok(())
}

/// F4 (PostgreSQL): a role bound by row-level security, acting in one store, sees only
/// that store's disputes and claims even with no filter in the SQL; with no workspace
/// it sees all (the staff queue). Tests connect as a superuser, whom RLS never binds,
/// so the probe assumes a non-owner role.
async fn rls_scopes_disputes_to_their_store(db: &Db) -> Result<()> {
    let rampart_db::Engine::Postgres(pool) = &db.engine else {
        return Ok(());
    };
    let s = scene(db).await?;
    let t = s.funded().await?;
    s.w.m.open_dispute(&s.buyer, &t, "In A.").await?;
    let (store_b, item_b) = s.w.store(&s.other_owner, 700).await?;
    let tb = s.w.funded(&s.buyer, &store_b, &item_b, 700).await?;
    s.w.m.open_dispute(&s.buyer, &tb, "In B.").await?;
    let mut tx = pool.begin().await?;
    let schema: String = sqlx::query_scalar("SELECT current_schema()")
        .fetch_one(&mut *tx)
        .await?;
    sqlx::query(
        "DO $$ BEGIN CREATE ROLE rampart_rls_probe NOLOGIN; \
         EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$",
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query(&format!(
        "GRANT USAGE ON SCHEMA \"{schema}\" TO rampart_rls_probe"
    ))
    .execute(&mut *tx)
    .await?;
    sqlx::query("GRANT SELECT, UPDATE ON disputes, dispute_claims TO rampart_rls_probe")
        .execute(&mut *tx)
        .await?;
    sqlx::query("SET LOCAL ROLE rampart_rls_probe")
        .execute(&mut *tx)
        .await?;
    let counts =
        "SELECT (SELECT COUNT(*) FROM disputes) * 10 + (SELECT COUNT(*) FROM dispute_claims)";
    assert_eq!(
        sqlx::query_scalar::<_, i64>(counts)
            .fetch_one(&mut *tx)
            .await?,
        22
    );
    sqlx::query("SELECT set_config('app.workspace_id', $1, true)")
        .bind(s.store.as_str())
        .execute(&mut *tx)
        .await?;
    assert_eq!(
        sqlx::query_scalar::<_, i64>(counts)
            .fetch_one(&mut *tx)
            .await?,
        11
    );
    // A write that forgets its filter reaches only the store acted in.
    let changed = sqlx::query("UPDATE disputes SET updated_at = updated_at")
        .execute(&mut *tx)
        .await?
        .rows_affected();
    assert_eq!(changed, 1);
    tx.rollback().await?;
    Ok(())
}

/// Two staff resolving at once (a double click, two tabs): exactly one wins, the other
/// is a conflict, and the money moves once.
async fn racing_resolutions_pay_out_once(db: &Db) -> Result<()> {
    let s = scene(db).await?;
    let staff2 = s.w.user(Role::Staff).await?;
    let t = s.funded().await?;
    let d = s.w.m.open_dispute(&s.buyer, &t, "Never came.").await?;
    let (a, b, c) = tokio::join!(
        s.w.m.resolve_dispute(&s.staff, &d.id, Resolution::Refund),
        s.w.m.resolve_dispute(&staff2, &d.id, Resolution::Release),
        s.w.m.resolve_dispute(
            &s.staff,
            &d.id,
            Resolution::Partial {
                refund: Money::new(1_000, eur())
            }
        ),
    );
    let results = [
        a.map(|v| v.outcome),
        b.map(|v| v.outcome),
        c.map(|v| v.outcome),
    ];
    let won: Vec<_> = results.iter().filter(|r| r.is_ok()).collect();
    assert_eq!(won.len(), 1, "{results:?}");
    for r in &results {
        assert!(
            matches!(
                r,
                Ok(_) | Err(MarketError::Conflict(_)) | Err(MarketError::Concurrent)
            ),
            "{r:?}"
        );
    }
    assert_eq!(
        scalar(
            db,
            "SELECT COUNT(*) FROM audit_log WHERE action_type IN \
             ('dispute_resolve', 'refund', 'dispute_partial_refund')"
        )
        .await?,
        1
    );
    assert_eq!(s.w.balance(AccountKind::Escrow, t.as_str()).await?, 0);
    assert!(reconcile(db).await?.is_clean());
    let stored = s.w.m.dispute(&s.staff, &d.id).await?.dispute;
    assert_eq!(Some(&stored.outcome), won[0].as_ref().ok());
    Ok(())
}

crate::both_engines!(
    buyer_opens_and_every_side_claims,
    seller_opens_on_a_shipped_transaction,
    outsiders_learn_nothing_and_change_nothing,
    three_resolutions_move_the_right_money,
    bad_partial_refunds_and_second_resolutions_are_refused,
    disputes_only_on_funded_or_shipped,
    the_queue_is_oldest_first_and_paged,
    rls_scopes_disputes_to_their_store,
    racing_resolutions_pay_out_once,
);
