//! The checkout service on a real database, both engines (PostgreSQL when
//! `RAMPART_TEST_DATABASE_URL` is set): carts with version checks, completion
//! exactly once funding escrow, the webhook inbox, idempotency keys.

use std::sync::Arc;

use anyhow::Result;
use rampart_audit::{self as audit, AuditKeys};
use rampart_checkout::cart::CartLimits;
use rampart_checkout::idempotency::{self, Claim};
use rampart_checkout::payment::sandbox::Sandbox;
use rampart_checkout::payment::{AnyProvider, IntentId, PaymentProvider};
use rampart_checkout::rules::{Rules, RulesConfig};
use rampart_checkout::service::{
    AccountFacts, Checkout, CheckoutError, Completed, Shopper, WebhookOutcome,
};
use rampart_checkout::webhook::parse_event;
use rampart_db::testing::ScratchDb;
use rampart_db::{Conn, Db};
use rampart_kernel::ids::ItemId;
use rampart_kernel::{ManualClock, UserId};
use rampart_ledger::Ledger;

fn keys() -> &'static AuditKeys {
    audit::install_keys(AuditKeys::new(vec![("t1".to_owned(), vec![0x5a; 32])]).expect("ring"))
        .expect("one key ring per process")
}

async fn exec(db: &Db, sql: &str) -> Result<()> {
    rampart_db::on_conn_write!(Conn::Pool(db), |e| sqlx::query(sql)
        .execute(e)
        .await
        .map(|_| ()))?;
    Ok(())
}

async fn count(db: &Db, sql: &str) -> Result<i64> {
    Ok(rampart_db::on_conn!(Conn::Pool(db), |e| {
        sqlx::query_scalar::<_, i64>(sql).fetch_one(e).await
    })?)
}

struct World {
    _scratch: ScratchDb,
    db: Db,
    checkout: Checkout,
    buyer: UserId,
    item: ItemId,
}

async fn world(scratch: ScratchDb) -> Result<World> {
    keys();
    let db = scratch.db.clone();
    let clock = Arc::new(ManualClock::new(1_700_000_000_000));
    for (id, name) in [("u-buyer", "buyer"), ("u-seller", "seller")] {
        exec(&db, &format!(
            "INSERT INTO users (id, username, email, password_hash, created_at, updated_at, password_changed_at) \
             VALUES ('{id}', '{name}', '{name}@example.com', 'x', 1, 1, 1)"
        ))
        .await?;
    }
    exec(
        &db,
        "INSERT INTO stores (id, name, currency, auto_release_days, created_at, updated_at) \
               VALUES ('s-1', 'Shop', 'EUR', 14, 1, 1)",
    )
    .await?;
    let item = ItemId::generate();
    exec(&db, &format!(
        "INSERT INTO items (id, store_id, title, price_minor, currency, stock, status, created_at, updated_at) \
         VALUES ('{item}', 's-1', 'Lamp', 1200, 'EUR', 3, 'active', 1, 1)"
    ))
    .await?;
    let ledger = Ledger::new(db.clone(), clock.clone(), 250)?;
    let provider = Arc::new(AnyProvider::Sandbox(Sandbox::new(clock.clone())));
    let checkout = Checkout::new(
        db.clone(),
        clock,
        ledger,
        provider,
        Arc::new(Rules::compile(RulesConfig::default())?),
        CartLimits::default(),
    );
    Ok(World {
        _scratch: scratch,
        db,
        checkout,
        buyer: UserId::from_stored("u-buyer"),
        item,
    })
}

async fn exactly_once(w: World) -> Result<()> {
    let me = Shopper {
        user: Some(w.buyer.clone()),
        ..Shopper::default()
    };
    let cart = w.checkout.create_cart(Some(&w.buyer), None).await?;
    let c = w
        .checkout
        .add_line(&me, &cart.id, &w.item, 2, Some(0))
        .await?;
    assert_eq!(c.version, 1);
    // A stale version is refused and changes nothing.
    let stale = w
        .checkout
        .add_line(&me, &cart.id, &w.item, 1, Some(0))
        .await;
    assert!(matches!(
        stale,
        Err(CheckoutError::VersionConflict { current: 1 })
    ));
    // More than in stock.
    let over = w.checkout.add_line(&me, &cart.id, &w.item, 2, None).await;
    assert!(matches!(over, Err(CheckoutError::OutOfStock)));
    // Someone else: not found.
    let stranger = Shopper {
        user: Some(UserId::from_stored("u-seller")),
        ..Shopper::default()
    };
    assert!(matches!(
        w.checkout.cart(&stranger, &cart.id).await,
        Err(CheckoutError::NotFound)
    ));

    let i = w
        .checkout
        .payment_intent(&w.buyer, &cart.id, AccountFacts::default())
        .await?;
    assert_eq!(i.amount.minor, 2400);
    let AnyProvider::Sandbox(sb) = w.checkout.provider() else {
        unreachable!()
    };
    let early = w.checkout.complete(&w.buyer, &cart.id, None, None).await;
    assert!(matches!(early, Err(CheckoutError::Completion(_))));
    sb.confirm(&i.id, "tok_visa")?;
    let first = w
        .checkout
        .complete(&w.buyer, &cart.id, Some(&i.id), None)
        .await?;
    let again = w.checkout.complete(&w.buyer, &cart.id, None, None).await?;
    let (Completed::Created(o1), Completed::Existing(o2)) = (first, again) else {
        panic!("one creation, then the existing order");
    };
    assert_eq!(o1.id, o2.id);
    assert_eq!(count(&w.db, "SELECT COUNT(*) FROM orders").await?, 1);
    assert_eq!(
        count(
            &w.db,
            "SELECT COUNT(*) FROM ledger_entries WHERE event = 'fund'"
        )
        .await?,
        1
    );
    assert_eq!(count(&w.db, "SELECT stock FROM items").await?, 1);
    assert_eq!(
        count(
            &w.db,
            "SELECT CAST(COALESCE(SUM(amount_minor), 0) AS BIGINT) FROM ledger_postings"
        )
        .await?,
        0
    );

    // The webhook of the same payment: recorded once, completes nothing new.
    let events = sb.take_events();
    let succeeded = events
        .iter()
        .find(|e| e.kind == "payment_intent.succeeded")
        .expect("event");
    let ev = parse_event(&succeeded.body())?;
    let out = w
        .checkout
        .handle_event(rampart_checkout::payment::ProviderKind::Sandbox, &ev)
        .await?;
    assert_eq!(out, WebhookOutcome::Processed("already_completed".into()));
    let dup = w
        .checkout
        .handle_event(rampart_checkout::payment::ProviderKind::Sandbox, &ev)
        .await?;
    assert_eq!(dup, WebhookOutcome::Duplicate);
    assert_eq!(count(&w.db, "SELECT COUNT(*) FROM orders").await?, 1);
    let p = sb.retrieve_intent(&IntentId::parse(i.id.as_str())?).await?;
    assert_eq!(p.amount.minor, 2400);
    Ok(())
}

async fn idempotency_keys(w: World) -> Result<()> {
    let db = &w.db;
    let now = 1_700_000_000_000;
    assert_eq!(
        idempotency::claim(db, "user:a", "k1", Some("u-buyer"), "r", "h1", now).await?,
        Claim::Acquired
    );
    assert_eq!(
        idempotency::claim(db, "user:a", "k1", Some("u-buyer"), "r", "h1", now).await?,
        Claim::InFlight
    );
    idempotency::finish(db, "user:a", "k1", 201, "{\"id\":1}").await?;
    assert_eq!(
        idempotency::claim(db, "user:a", "k1", Some("u-buyer"), "r", "h1", now).await?,
        Claim::Replay {
            status: 201,
            body: "{\"id\":1}".into()
        }
    );
    assert_eq!(
        idempotency::claim(db, "user:a", "k1", Some("u-buyer"), "r", "h2", now).await?,
        Claim::Reused
    );
    assert_eq!(
        idempotency::claim(db, "user:b", "k1", None, "r", "h2", now).await?,
        Claim::Acquired
    );
    idempotency::release(db, "user:b", "k1").await?;
    assert_eq!(
        idempotency::claim(db, "user:b", "k1", None, "r", "h3", now).await?,
        Claim::Acquired
    );
    // A day later the key is gone (taken over, or pruned).
    let later = now + idempotency::RETENTION_MS + 1;
    assert_eq!(
        idempotency::claim(db, "user:a", "k1", Some("u-buyer"), "r", "h9", later).await?,
        Claim::Acquired
    );
    assert_eq!(
        idempotency::prune(db, later + idempotency::RETENTION_MS + 1).await?,
        2
    );
    Ok(())
}

macro_rules! both {
    ($($name:ident),*) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() -> anyhow::Result<()> {
                let s = rampart_db::testing::ScratchDb::sqlite("checkout").await.map_err(|e| anyhow::anyhow!(e))?;
                super::$name(super::world(s).await?).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() -> anyhow::Result<()> {
                match rampart_db::testing::ScratchDb::postgres(stringify!($name), "checkout").await.map_err(|e| anyhow::anyhow!(e))? {
                    Some(s) => super::$name(super::world(s).await?).await,
                    None => Ok(()),
                }
            }
        }
    )*};
}

both!(exactly_once, idempotency_keys);
