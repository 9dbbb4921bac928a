//! A fresh database per test — a temporary SQLite file, or a new PostgreSQL schema in
//! `RAMPART_TEST_DATABASE_URL` (SKIPPED when unset), dropped at the end — and a
//! small world on it: users, a store with an item, escrow transactions.

use anyhow::Result;
use rampart_audit::{self as audit, AuditKeys};
use rampart_db::testing::ScratchDb;
use rampart_db::{Db, Engine};
use rampart_kernel::account::Role;
use rampart_kernel::ids::{ItemId, StoreId, TransactionId};
use rampart_kernel::{Currency, ManualClock, Money, UserId};
use rampart_ledger::escrow::PLATFORM;
use rampart_ledger::{Account, AccountKind, EscrowEvent, Ledger, NewEscrow};
use rampart_marketplace::{Caller, Marketplace, NewItem, NewStore, StoreRole};
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
            ScratchDb::sqlite("marketplace")
                .await
                .map_err(|e| anyhow::anyhow!(e))?,
        ))
    }

    pub async fn postgres(test: &str) -> Result<Option<TestDb>> {
        test_keys();
        Ok(ScratchDb::postgres(test, "m")
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
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() -> anyhow::Result<()> {
                    let t = $crate::support::TestDb::sqlite().await?;
                    let r = super::$name(&t.db).await;
                    t.db.close().await;
                    r
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
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

/// The services over one database, with a manual clock and a 2.5 % fee.
pub struct World {
    pub db: Db,
    pub clock: Arc<ManualClock>,
    pub ledger: Ledger,
    pub m: Marketplace,
}

impl World {
    pub fn new(db: &Db) -> World {
        let clock = Arc::new(ManualClock::new(T0));
        let ledger = Ledger::new(db.clone(), clock.clone(), 250).unwrap();
        let m = Marketplace::new(db.clone(), clock.clone(), ledger.clone());
        World {
            db: db.clone(),
            clock,
            ledger,
            m,
        }
    }

    /// A new account with a platform role (a `users` row: memberships refer to it).
    pub async fn user(&self, role: Role) -> Result<Caller> {
        let id = UserId::generate();
        exec_bind(
            &self.db,
            "INSERT INTO users (id, username, password_hash, role, status, created_at, \
             updated_at, password_changed_at) VALUES ($1, $1, 'x', $2, 'active', 1, 1, 1)",
            &[id.as_str(), role.as_str()],
        )
        .await?;
        Ok(Caller {
            user: id,
            role,
            request_id: Some(format!("req-{}", uuid::Uuid::new_v4().simple())),
        })
    }

    /// A store owned by `owner` (a seller) with one active item priced `price` EUR
    /// cents in stock.
    pub async fn store(&self, owner: &Caller, price: i64) -> Result<(StoreId, ItemId)> {
        let s = self
            .m
            .create_store(
                owner,
                NewStore {
                    name: "Shop".into(),
                    currency: "EUR".into(),
                    ..Default::default()
                },
            )
            .await?;
        let i = self
            .m
            .create_item(
                owner,
                &s.id,
                NewItem {
                    title: "Thing".into(),
                    price_minor: price,
                    stock: Some(100),
                    status: Some("active".into()),
                    ..Default::default()
                },
            )
            .await?;
        Ok((s.id, i.id))
    }

    /// Adds `user` to a store with `role` (by its owner).
    pub async fn join(
        &self,
        owner: &Caller,
        store: &StoreId,
        user: &Caller,
        role: StoreRole,
    ) -> Result<()> {
        self.m.set_member(owner, store, &user.user, role).await?;
        Ok(())
    }

    /// A purchase in `pending_payment` (until `Marketplace::purchase` lands: straight
    /// through the ledger).
    pub async fn buy(
        &self,
        buyer: &Caller,
        store: &StoreId,
        item: &ItemId,
        quantity: i64,
        unit: Money,
    ) -> Result<TransactionId> {
        let v = self
            .ledger
            .create(
                NewEscrow {
                    buyer: buyer.user.clone(),
                    store: store.clone(),
                    item: item.clone(),
                    quantity,
                    unit_price: unit,
                    release_after_ms: 14 * 86_400_000,
                },
                Some(&buyer.user),
                None,
            )
            .await?;
        Ok(v.id)
    }

    /// A funded purchase of one item at `unit` EUR cents.
    pub async fn funded(
        &self,
        buyer: &Caller,
        store: &StoreId,
        item: &ItemId,
        unit: i64,
    ) -> Result<TransactionId> {
        let t = self
            .buy(buyer, store, item, 1, Money::new(unit, eur()))
            .await?;
        self.ledger.apply(&t, EscrowEvent::Fund, None, None).await?;
        Ok(t)
    }

    pub async fn balance(&self, kind: AccountKind, owner: &str) -> Result<i64> {
        Ok(self
            .ledger
            .balance(
                &Account {
                    kind,
                    owner: owner.to_owned(),
                },
                eur(),
            )
            .await?
            .minor)
    }

    pub async fn platform(&self) -> Result<i64> {
        self.balance(AccountKind::PlatformFee, PLATFORM).await
    }

    /// Row counts of every table a dispute action may write, plus the audit log: equal
    /// snapshots mean nothing changed.
    pub async fn snapshot(&self) -> Result<Vec<i64>> {
        let mut out = Vec::new();
        for t in [
            "disputes",
            "dispute_claims",
            "audit_log",
            "ledger_entries",
            "ledger_postings",
        ] {
            out.push(scalar(&self.db, &format!("SELECT COUNT(*) FROM {t}")).await?);
        }
        out.push(
            scalar(
                &self.db,
                "SELECT COUNT(*) FROM disputes WHERE status = 'resolved'",
            )
            .await?,
        );
        out.push(
            scalar(
                &self.db,
                "SELECT CAST(COALESCE(SUM(version), 0) AS BIGINT) FROM escrow_transactions",
            )
            .await?,
        );
        Ok(out)
    }
}

/// Runs a statement with text parameters.
pub async fn exec_bind(db: &Db, sql: &str, params: &[&str]) -> Result<u64> {
    Ok(match &db.engine {
        Engine::Sqlite { write, .. } => {
            let mut q = sqlx::query(sql);
            for p in params {
                q = q.bind(*p);
            }
            q.execute(write).await?.rows_affected()
        }
        Engine::Postgres(pool) => {
            let mut q = sqlx::query(sql);
            for p in params {
                q = q.bind(*p);
            }
            q.execute(pool).await?.rows_affected()
        }
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

impl World {
    /// The manual clock's time.
    pub fn clock_now(&self) -> i64 {
        use rampart_kernel::Clock as _;
        self.clock.now_ms()
    }
}
