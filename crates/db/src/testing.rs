//! Scratch databases for the context crates' integration tests (feature `testing`):
//! a temporary SQLite file, or a fresh schema in the PostgreSQL server named by
//! `RAMPART_TEST_DATABASE_URL` (SKIPPED when unset), migrated, and removed when the
//! [`ScratchDb`] is dropped. Each crate's `tests/it/support.rs` wraps it with what
//! its own tests need (the audit key ring, fixtures).

use crate::Db;
use std::path::PathBuf;

/// Keeps the backing storage alive; removes it on drop.
enum Guard {
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
                // Drop may run inside a runtime: drop the schema from a thread of its own.
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
pub struct ScratchDb {
    /// The database.
    pub db: Db,
    guard: Guard,
}

/// Errors of setting up a scratch database.
pub type SetupError = Box<dyn std::error::Error + Send + Sync>;

impl ScratchDb {
    /// A migrated SQLite file in a new temporary directory named after `tag`.
    pub async fn sqlite(tag: &str) -> Result<ScratchDb, SetupError> {
        let dir = std::env::temp_dir().join(format!(
            "rampart-{tag}-test-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir)?;
        let guard = Guard::Dir(dir.clone());
        let db = Db::connect(&format!("sqlite://{}", dir.join("t.db").display()), 8).await?;
        db.migrate().await?;
        Ok(ScratchDb { db, guard })
    }

    /// A migrated new schema (named `{prefix}_…`) in `RAMPART_TEST_DATABASE_URL`, or
    /// `None` (after printing `SKIPPED {test}`) when the variable is unset.
    pub async fn postgres(test: &str, prefix: &str) -> Result<Option<ScratchDb>, SetupError> {
        let admin = match std::env::var("RAMPART_TEST_DATABASE_URL") {
            Ok(u) if !u.trim().is_empty() => u,
            _ => {
                eprintln!("SKIPPED {test} on PostgreSQL: RAMPART_TEST_DATABASE_URL is not set");
                return Ok(None);
            }
        };
        let schema = format!("{prefix}_{}", uuid::Uuid::new_v4().simple());
        let pool = sqlx::PgPool::connect(&admin)
            .await
            .map_err(|e| format!("connecting to RAMPART_TEST_DATABASE_URL: {e}"))?;
        sqlx::query(&format!("CREATE SCHEMA {schema}"))
            .execute(&pool)
            .await?;
        pool.close().await;
        let guard = Guard::Schema(admin.clone(), schema.clone());
        let sep = if admin.contains('?') { '&' } else { '?' };
        let url = format!("{admin}{sep}options=-c%20search_path%3D{schema}");
        let db = Db::connect(&url, 16).await?;
        db.migrate().await?;
        Ok(Some(ScratchDb { db, guard }))
    }

    /// On PostgreSQL, the admin URL and this test's schema (for tests that connect a
    /// second, less privileged role to it); `None` on SQLite.
    pub fn schema(&self) -> Option<(&str, &str)> {
        match &self.guard {
            Guard::Schema(admin, schema) => Some((admin, schema)),
            Guard::Dir(_) => None,
        }
    }
}
