//! A fresh database per test: a temporary SQLite file, or a new PostgreSQL schema in
//! `RAMPART_TEST_DATABASE_URL` (SKIPPED when unset), dropped at the end.

use anyhow::{Context, Result};
use rampart_audit::{self as audit, ActionType, AuditKeys, NewAuditEntry, Target, VerifyReport};
use rampart_db::{Db, Engine};
use std::path::PathBuf;

/// Keeps the backing storage alive; removes it on drop.
pub enum Guard {
    /// Temporary directory holding the SQLite file.
    Dir(PathBuf),
    /// PostgreSQL schema: (admin URL, schema name).
    Schema(String, String),
}

impl Drop for Guard {
    fn drop(&mut self) {
        match self {
            Guard::Dir(p) => {
                let _ = std::fs::remove_dir_all(p);
            }
            Guard::Schema(url, schema) => {
                let (url, schema) = (url.clone(), schema.clone());
                // Drop runs inside the test's runtime: clean up on a thread of its own.
                let _ = std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .ok()?;
                    rt.block_on(async {
                        let pool = sqlx::PgPool::connect(&url).await.ok()?;
                        sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                            .execute(&pool)
                            .await
                            .ok()?;
                        pool.close().await;
                        Some(())
                    })
                })
                .join();
            }
        }
    }
}

/// A migrated database for one test.
pub struct TestDb {
    /// The handle.
    pub db: Db,
    _guard: Guard,
}

/// PostgreSQL URL for tests, or `None` with a SKIPPED line.
pub fn pg_url(test: &str) -> Option<String> {
    match std::env::var("RAMPART_TEST_DATABASE_URL") {
        Ok(u) if !u.trim().is_empty() => Some(u),
        _ => {
            eprintln!("SKIPPED {test} on PostgreSQL: RAMPART_TEST_DATABASE_URL is not set");
            None
        }
    }
}

/// Creates a fresh schema in `admin_url`; returns the URL that uses it and its guard.
pub async fn pg_schema(admin_url: &str) -> Result<(String, Guard)> {
    let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
    let pool = sqlx::PgPool::connect(admin_url)
        .await
        .context("connecting to RAMPART_TEST_DATABASE_URL")?;
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&pool)
        .await?;
    pool.close().await;
    let sep = if admin_url.contains('?') { '&' } else { '?' };
    let url = format!("{admin_url}{sep}options=-c%20search_path%3D{schema}");
    Ok((url, Guard::Schema(admin_url.to_owned(), schema)))
}

/// The process-wide test key ring (`t1`), installed on first use.
pub fn test_keys() -> &'static AuditKeys {
    audit::install_keys(ring(&[("t1", 0x5a)])).expect("one test key ring per process")
}

/// A key ring from `(kid, fill byte)` pairs (32 bytes each), first active.
pub fn ring(keys: &[(&str, u8)]) -> AuditKeys {
    AuditKeys::new(
        keys.iter()
            .map(|(k, b)| ((*k).to_owned(), vec![*b; 32]))
            .collect(),
    )
    .expect("valid test ring")
}

impl TestDb {
    /// A fresh SQLite file.
    pub async fn sqlite() -> Result<TestDb> {
        test_keys();
        let dir = std::env::temp_dir().join(format!(
            "rampart-store-test-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir)?;
        let db = Db::connect(&format!("sqlite://{}", dir.join("t.db").display()), 8).await?;
        db.migrate().await?;
        Ok(TestDb {
            db,
            _guard: Guard::Dir(dir),
        })
    }

    /// A fresh PostgreSQL schema, or `None` when no server is configured.
    pub async fn postgres(test: &str) -> Result<Option<TestDb>> {
        test_keys();
        let Some(admin) = pg_url(test) else {
            return Ok(None);
        };
        let (url, guard) = pg_schema(&admin).await?;
        let db = Db::connect(&url, 16).await?;
        db.migrate().await?;
        Ok(Some(TestDb { db, _guard: guard }))
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

/// A varied entry number `i` (actor and request ID present on some rows only).
pub fn entry(i: i64, created_at: i64) -> NewAuditEntry<'static> {
    let actions = ActionType::ALL;
    NewAuditEntry {
        actor_user_uuid: if i % 3 == 0 {
            None
        } else {
            Some("0190b6a8-0000-7000-8000-000000000001")
        },
        action: actions[(i as usize) % actions.len()],
        target: Target::user(if i % 2 == 0 {
            "target-even"
        } else {
            "target-odd"
        }),
        metadata: serde_json::json!({"i": i, "note": "bénin \"quoted\""}),
        request_id: if i % 4 == 0 { Some("req-0000") } else { None },
        created_at,
    }
}

/// Appends `n` rows, one transaction each, with `created_at = t0 + i`.
pub async fn append(db: &Db, n: i64, t0: i64) -> Result<()> {
    for i in 0..n {
        audit::record_alone(db, entry(i, t0 + i)).await?;
    }
    Ok(())
}

/// Runs the verifier.
pub async fn verify(db: &Db) -> Result<VerifyReport> {
    Ok(audit::verify(db, |_| {}).await?)
}

/// Runs a raw statement (tampering).
pub async fn exec(db: &Db, sql: &str) -> Result<u64> {
    Ok(audit::raw_exec(db, sql).await?)
}

/// The head row: (last_seq, last_hash, anchor_seq, anchor_hash).
pub async fn head(db: &Db) -> Result<(i64, String, i64, String)> {
    let sql = "SELECT last_seq, last_hash, anchor_seq, anchor_hash FROM audit_chain WHERE id = 1";
    Ok(match &db.engine {
        Engine::Sqlite { read, .. } => sqlx::query_as(sql).fetch_one(read).await?,
        Engine::Postgres(p) => sqlx::query_as(sql).fetch_one(p).await?,
    })
}

/// All stored sequence numbers in order.
pub async fn seqs(db: &Db) -> Result<Vec<i64>> {
    let sql = "SELECT seq FROM audit_log ORDER BY seq";
    let v: Vec<(i64,)> = match &db.engine {
        Engine::Sqlite { read, .. } => sqlx::query_as(sql).fetch_all(read).await?,
        Engine::Postgres(p) => sqlx::query_as(sql).fetch_all(p).await?,
    };
    Ok(v.into_iter().map(|r| r.0).collect())
}

/// One stored row by sequence number.
pub async fn row(db: &Db, seq: i64) -> Result<audit::AuditRow> {
    let rows = audit::latest(db, i64::MAX / 2).await?;
    rows.into_iter()
        .find(|r| r.seq == seq)
        .with_context(|| format!("row {seq} not found"))
}

/// Fixed base time (2024-01-01T00:00:00Z) for reproducible `created_at`.
pub const T0: i64 = 1_704_067_200_000;
