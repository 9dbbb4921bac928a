//! A fresh database per test: a temporary SQLite file, or a new PostgreSQL schema in
//! `RAMPART_TEST_DATABASE_URL` (SKIPPED when unset), dropped at the end.

use anyhow::Result;
use rampart_audit::{self as audit, AuditKeys};
use rampart_db::testing::ScratchDb;
use rampart_db::{Db, Engine};
use rampart_kernel::account::Role;
use rampart_kernel::ids::StoreId;
use rampart_kernel::{ManualClock, UserId};
use rampart_trust::{Caller, Trust};
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
            ScratchDb::sqlite("trust")
                .await
                .map_err(|e| anyhow::anyhow!(e))?,
        ))
    }

    pub async fn postgres(test: &str) -> Result<Option<TestDb>> {
        test_keys();
        Ok(ScratchDb::postgres(test, "t")
            .await
            .map_err(|e| anyhow::anyhow!(e))?
            .map(TestDb))
    }

    /// A second handle on this test's PostgreSQL schema acting as a role that neither
    /// owns the tables nor bypasses RLS and holds no grant of its own: only its
    /// membership of `rampart_app`, so every privilege it uses on 0013's tables comes
    /// from the default privileges migration 0009 set. `None` on SQLite.
    pub async fn as_app_role(&self) -> Result<Option<Db>> {
        let Some((admin, schema)) = self.schema() else {
            return Ok(None);
        };
        exec(
            &self.db,
            &format!(
                "DO $$ BEGIN \
                   IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN \
                     CREATE ROLE {APP_ROLE} NOLOGIN INHERIT NOSUPERUSER NOBYPASSRLS; \
                   END IF; \
                 EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
            ),
        )
        .await?;
        exec(
            &self.db,
            &format!(
                "DO $$ BEGIN \
                   IF NOT pg_has_role('{APP_ROLE}', 'rampart_app', 'MEMBER') THEN \
                     GRANT rampart_app TO {APP_ROLE}; \
                   END IF; \
                 EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
            ),
        )
        .await?;
        let sep = if admin.contains('?') { '&' } else { '?' };
        let url =
            format!("{admin}{sep}options=-c%20search_path%3D{schema}%20-c%20role%3D{APP_ROLE}");
        Ok(Some(Db::connect(&url, 8).await?))
    }
}

/// The role [`TestDb::as_app_role`] acts as (cluster-wide; created once).
pub const APP_ROLE: &str = "rampart_trust_test_app";

/// Runs a raw statement.
pub async fn exec(db: &Db, sql: &str) -> Result<u64> {
    Ok(match &db.engine {
        Engine::Sqlite { write, .. } => sqlx::query(sql).execute(write).await?.rows_affected(),
        Engine::Postgres(p) => sqlx::query(sql).execute(p).await?.rows_affected(),
    })
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

/// The service with a manual clock at T0.
pub fn trust(db: &Db) -> (Trust, ManualClock) {
    let clock = ManualClock::new(T0);
    (Trust::new(db.clone(), Arc::new(clock.clone())), clock)
}

/// A user row with `role` (the identity context owns the table; tests write it
/// directly), as a caller.
pub async fn user(db: &Db, role: Role) -> Result<Caller> {
    let id = UserId::generate();
    let name = format!("u{}", &id.as_str()[24..]);
    exec_bind(
        db,
        "INSERT INTO users (id, username, password_hash, role, created_at, updated_at, \
         password_changed_at) VALUES ($1, $2, 'x', $3, 0, 0, 0)",
        &[id.as_str(), &name, role.as_str()],
    )
    .await?;
    Ok(Caller::new(id, role))
}

/// A store row (the marketplace owns the table; tests write it directly).
pub async fn store(db: &Db) -> Result<StoreId> {
    let id = StoreId::generate();
    exec_bind(
        db,
        "INSERT INTO stores (id, name, currency, auto_release_days, created_at, updated_at) \
         VALUES ($1, $2, 'EUR', 14, 0, 0)",
        &[id.as_str(), &format!("s{}", &id.as_str()[24..])],
    )
    .await?;
    Ok(id)
}

/// Audit rows of one action type.
pub async fn audits(db: &Db, action: &str) -> Result<Vec<rampart_audit::AuditRow>> {
    Ok(rampart_audit::latest(db, 1_000)
        .await?
        .into_iter()
        .filter(|r| r.action_type == action)
        .collect())
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
        Engine::Postgres(p) => {
            let mut q = sqlx::query(sql);
            for v in params {
                q = q.bind(*v);
            }
            q.execute(p).await?.rows_affected()
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
