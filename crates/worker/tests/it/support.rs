//! A fresh database per test: a temporary SQLite file, or a new PostgreSQL schema in
//! `RAMPART_TEST_DATABASE_URL` (SKIPPED when unset), dropped at the end.

use anyhow::Result;
use rampart_audit::{self as audit, AuditKeys};
use rampart_db::testing::ScratchDb;
use rampart_db::{Db, Engine};
use rampart_kernel::ids::{ItemId, StoreId, TransactionId};
use rampart_kernel::{Currency, ManualClock, Money, UserId};
use rampart_ledger::{EscrowEvent, Ledger, NewEscrow};
use rampart_security::metrics::Metrics;
use rampart_worker::{Worker, WorkerConfig};
use std::sync::Arc;

/// A migrated database for one test: a [`ScratchDb`] (SQLite file or PostgreSQL
/// schema, removed on drop) with the audit key ring installed.
pub struct TestDb(ScratchDb);

impl std::ops::Deref for TestDb {
    type Target = ScratchDb;
    fn deref(&self) -> &ScratchDb {
        &self.0
    }
}

/// The process-wide test audit key ring, installed on first use.
pub fn test_keys() -> &'static AuditKeys {
    audit::install_keys(AuditKeys::new(vec![("t1".to_owned(), vec![0x5a; 32])]).expect("ring"))
        .expect("one test key ring per process")
}

impl TestDb {
    pub async fn sqlite() -> Result<TestDb> {
        test_keys();
        Ok(TestDb(
            ScratchDb::sqlite("worker")
                .await
                .map_err(|e| anyhow::anyhow!(e))?,
        ))
    }

    pub async fn postgres(test: &str) -> Result<Option<TestDb>> {
        test_keys();
        Ok(ScratchDb::postgres(test, "w")
            .await
            .map_err(|e| anyhow::anyhow!(e))?
            .map(TestDb))
    }
}

/// One test per engine for each `async fn(&Db) -> Result<()>`.
#[macro_export]
macro_rules! both_engines {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn sqlite() -> anyhow::Result<()> {
                    let t = $crate::support::TestDb::sqlite().await?;
                    let r = super::$name(&t.db).await;
                    t.db.close().await;
                    r
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn postgres() -> anyhow::Result<()> {
                    let Some(t) = $crate::support::TestDb::postgres(stringify!($name)).await? else {
                        return Ok(());
                    };
                    let r = super::$name(&t.db).await;
                    t.db.close().await;
                    r
                }
            }
        )*
    };
}

/// Fixed base time (2024-01-01T00:00:00Z).
pub const T0: i64 = 1_704_067_200_000;

pub fn eur() -> Currency {
    Currency::parse("EUR").unwrap()
}

/// A ledger charging 2.5 % on `clock`.
pub fn ledger(db: &Db, clock: &ManualClock) -> Ledger {
    Ledger::new(db.clone(), Arc::new(clock.clone()), 250).unwrap()
}

/// A worker named `id` on `clock`, with a small batch so two workers interleave.
pub fn worker(db: &Db, clock: &ManualClock, id: &str) -> Arc<Worker> {
    Arc::new(Worker::new(
        db.clone(),
        ledger(db, clock),
        Arc::new(clock.clone()),
        Arc::new(Metrics::new()),
        WorkerConfig {
            worker_id: id.to_owned(),
            batch: 8,
            ..WorkerConfig::default()
        },
    ))
}

/// A store with an auto-release period of `days`.
pub async fn new_store(db: &Db, days: i64) -> Result<StoreId> {
    let id = StoreId::generate();
    PERIODS
        .lock()
        .expect("periods")
        .insert(id.as_str().to_owned(), days);
    exec(
        db,
        &format!(
            "INSERT INTO stores (id, name, description, currency, auto_release_days, status, \
             created_at, updated_at) VALUES ('{id}', 'S', '', 'EUR', {days}, 'active', {T0}, {T0})"
        ),
    )
    .await?;
    Ok(id)
}

/// An item of `store` with `stock` units.
pub async fn new_item(db: &Db, store: &StoreId, stock: i64) -> Result<ItemId> {
    let id = ItemId::generate();
    exec(
        db,
        &format!(
            "INSERT INTO items (id, store_id, title, description, price_minor, currency, stock, \
             status, created_at, updated_at) \
             VALUES ('{id}', '{store}', 'I', '', 5000, 'EUR', {stock}, 'active', {T0}, {T0})"
        ),
    )
    .await?;
    Ok(id)
}

/// Each test store's auto-release period in days, as a purchase reads it.
static PERIODS: std::sync::Mutex<std::collections::BTreeMap<String, i64>> =
    std::sync::Mutex::new(std::collections::BTreeMap::new());

/// A purchase of 2 × 5 000 cents of `item` from `store`, moved through `events`; the
/// release period fixed on it is the store's (14 days for a store not made here).
pub async fn txn(
    l: &Ledger,
    store: &StoreId,
    item: &ItemId,
    events: &[EscrowEvent],
) -> Result<TransactionId> {
    let days = PERIODS
        .lock()
        .expect("periods")
        .get(store.as_str())
        .copied()
        .unwrap_or(14);
    let v = l
        .create(
            NewEscrow {
                buyer: UserId::generate(),
                store: store.clone(),
                item: item.clone(),
                quantity: 2,
                unit_price: Money::new(5_000, eur()),
                release_after_ms: days * 86_400_000,
            },
            None,
            None,
        )
        .await?;
    for e in events {
        l.apply(&v.id, *e, None, None).await?;
    }
    Ok(v.id)
}

/// Runs a raw statement.
pub async fn exec(db: &Db, sql: &str) -> Result<u64> {
    Ok(match &db.engine {
        Engine::Sqlite { write, .. } => sqlx::query(sql).execute(write).await?.rows_affected(),
        Engine::Postgres(p) => sqlx::query(sql).execute(p).await?.rows_affected(),
    })
}

/// One i64 from a query.
pub async fn scalar(db: &Db, sql: &str) -> Result<i64> {
    let (n,): (i64,) = match &db.engine {
        Engine::Sqlite { read, .. } => sqlx::query_as(sql).fetch_one(read).await?,
        Engine::Postgres(p) => sqlx::query_as(sql).fetch_one(p).await?,
    };
    Ok(n)
}
