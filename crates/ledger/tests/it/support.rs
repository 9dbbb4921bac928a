//! A fresh database per test: a temporary SQLite file, or a new PostgreSQL schema in
//! `RAMPART_TEST_DATABASE_URL` (SKIPPED when unset), dropped at the end.

use anyhow::Result;
use rampart_audit::{self as audit, AuditKeys};
use rampart_db::testing::ScratchDb;
use rampart_db::{Db, Engine};
use rampart_kernel::ids::{ItemId, StoreId, TransactionId};
use rampart_kernel::{Currency, ManualClock, Money, UserId};
use rampart_ledger::{Ledger, NewEscrow};
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
            ScratchDb::sqlite("ledger")
                .await
                .map_err(|e| anyhow::anyhow!(e))?,
        ))
    }

    pub async fn postgres(test: &str) -> Result<Option<TestDb>> {
        test_keys();
        Ok(ScratchDb::postgres(test, "l")
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

/// A ledger charging 2.5 %.
pub fn ledger(db: &Db) -> Ledger {
    Ledger::new(db.clone(), Arc::new(ManualClock::new(T0)), 250).unwrap()
}

/// A purchase of `quantity` × `unit` cents.
pub fn purchase(buyer: &UserId, store: &StoreId, quantity: i64, unit: i64) -> NewEscrow {
    NewEscrow {
        buyer: buyer.clone(),
        store: store.clone(),
        item: ItemId::generate(),
        quantity,
        unit_price: Money::new(unit, eur()),
        release_after_ms: 14 * 86_400_000,
    }
}

/// A new transaction of 10 000 cents with a fresh buyer and store.
pub async fn new_txn(l: &Ledger) -> Result<TransactionId> {
    let v = l
        .create(
            purchase(&UserId::generate(), &StoreId::generate(), 2, 5_000),
            None,
            None,
        )
        .await?;
    Ok(v.id)
}

/// Runs a raw statement (tampering).
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
