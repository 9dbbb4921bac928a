//! Tests of the db crate on real engines: both migration folders define the same
//! schema, one executor serves a pool or a transaction, and the row-level-security
//! context lasts exactly one transaction.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use anyhow::{Context, Result};
use rampart_db::{on_conn, Conn, Db, RlsContext};

/// A fresh SQLite file in a temporary directory (removed on drop).
struct Lite {
    db: Db,
    dir: std::path::PathBuf,
}

impl Drop for Lite {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn sqlite() -> Result<Lite> {
    let dir = std::env::temp_dir().join(format!("rampart-db-{}", uuid_like()));
    std::fs::create_dir_all(&dir)?;
    let db = Db::connect(&dir.join("t.db").display().to_string(), 4).await?;
    db.migrate().await?;
    Ok(Lite { db, dir })
}

fn uuid_like() -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    let n = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{n:x}{:x}", std::process::id())
}

/// A fresh PostgreSQL schema in `RAMPART_TEST_DATABASE_URL`, or `None` (SKIPPED).
async fn postgres(test: &str) -> Result<Option<(Db, String, String)>> {
    let Some(admin) = std::env::var("RAMPART_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
    else {
        eprintln!("SKIPPED {test} on PostgreSQL: RAMPART_TEST_DATABASE_URL is not set");
        return Ok(None);
    };
    let schema = format!("dbt_{}", uuid_like());
    let pool = sqlx::PgPool::connect(&admin)
        .await
        .context("connecting to RAMPART_TEST_DATABASE_URL")?;
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&pool)
        .await?;
    pool.close().await;
    let sep = if admin.contains('?') { '&' } else { '?' };
    let url = format!("{admin}{sep}options=-c%20search_path%3D{schema}");
    let db = Db::connect(&url, 4).await?;
    db.migrate().await?;
    Ok(Some((db, admin, schema)))
}

async fn drop_schema(admin: &str, schema: &str) -> Result<()> {
    let pool = sqlx::PgPool::connect(admin).await?;
    sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .execute(&pool)
        .await?;
    pool.close().await;
    Ok(())
}

#[tokio::test]
async fn sqlite_and_postgres_schemas_match() -> Result<()> {
    let lite = sqlite().await?;
    let Some((pg, admin, schema)) = postgres("sqlite_and_postgres_schemas_match").await? else {
        return Ok(());
    };
    let a = lite.db.schema_columns().await?;
    let b = pg.schema_columns().await?;
    pg.close().await;
    drop_schema(&admin, &schema).await?;
    assert!(a.len() > 20);
    assert_eq!(a, b);
    Ok(())
}

/// One function serves the pool and an open transaction; inside the transaction it
/// sees the transaction's own uncommitted write.
async fn count_users(conn: impl Into<Conn<'_>>) -> Result<i64> {
    let n: (i64,) = on_conn!(conn.into(), |e| sqlx::query_as(
        "SELECT COUNT(*) FROM users"
    )
    .fetch_one(e)
    .await)?;
    Ok(n.0)
}

async fn conn_serves_pool_and_transaction(db: &Db) -> Result<()> {
    assert_eq!(count_users(db).await?, 0);
    let mut tx = db.begin().await?;
    rampart_db::on_tx!(&mut tx, |e| sqlx::query(
        "INSERT INTO users (id, username, password_hash, role, status, created_at, updated_at, \
         password_changed_at) VALUES ('u1', 'u1', 'x', 'customer', 'active', 1, 1, 1)"
    )
    .execute(e)
    .await
    .map(|r| r.rows_affected()))?;
    assert_eq!(
        count_users(&mut tx).await?,
        1,
        "the transaction sees its write"
    );
    tx.rollback().await?;
    assert_eq!(count_users(db).await?, 0, "rolled back");
    Ok(())
}

#[tokio::test]
async fn conn_serves_pool_and_transaction_sqlite() -> Result<()> {
    let lite = sqlite().await?;
    conn_serves_pool_and_transaction(&lite.db).await
}

#[tokio::test]
async fn conn_serves_pool_and_transaction_postgres() -> Result<()> {
    let Some((pg, admin, schema)) = postgres("conn_serves_pool_and_transaction").await? else {
        return Ok(());
    };
    let r = conn_serves_pool_and_transaction(&pg).await;
    pg.close().await;
    drop_schema(&admin, &schema).await?;
    r
}

#[tokio::test]
async fn rls_context_lasts_one_transaction() -> Result<()> {
    let Some((pg, admin, schema)) = postgres("rls_context_lasts_one_transaction").await? else {
        return Ok(());
    };
    let mut tx = pg.begin().await?;
    tx.set_context(RlsContext {
        user_id: Some("user-1"),
        workspace_id: Some("store-9"),
    })
    .await?;
    const SETTINGS: &str =
        "SELECT current_setting('app.user_id', true), current_setting('app.workspace_id', true)";
    let (u, w): (String, String) =
        rampart_db::on_tx!(&mut tx, |e| sqlx::query_as(SETTINGS).fetch_one(e).await)?;
    assert_eq!((u.as_str(), w.as_str()), ("user-1", "store-9"));
    tx.commit().await?;
    // The next transaction on a pooled connection does not inherit it.
    for _ in 0..4 {
        let mut tx = pg.begin().await?;
        let (u,): (Option<String>,) = rampart_db::on_tx!(&mut tx, |e| sqlx::query_as(
            "SELECT NULLIF(current_setting('app.user_id', true), '')"
        )
        .fetch_one(e)
        .await)?;
        assert_eq!(u, None);
        tx.rollback().await?;
    }
    pg.close().await;
    drop_schema(&admin, &schema).await?;
    Ok(())
}

#[tokio::test]
async fn rls_context_is_a_no_op_on_sqlite() -> Result<()> {
    let lite = sqlite().await?;
    let mut tx = lite.db.begin().await?;
    tx.set_context(RlsContext {
        user_id: Some("u"),
        workspace_id: None,
    })
    .await?;
    tx.commit().await?;
    Ok(())
}

#[tokio::test]
async fn sqlite_has_no_roles_and_nothing_pending_after_migrate() -> Result<()> {
    let lite = sqlite().await?;
    assert!(lite.db.role_posture().await?.is_none());
    assert!(lite.db.pending_migrations().await?.is_empty());
    Ok(())
}

/// The owner that migrated is exactly what RLS does not bind (here a superuser that
/// also owns every table); the `rampart_app` role migration 0009 creates exists.
#[tokio::test]
async fn the_migrating_owner_bypasses_rls_and_rampart_app_exists() -> Result<()> {
    let Some((pg, admin, schema)) = postgres("the_migrating_owner_bypasses_rls").await? else {
        return Ok(());
    };
    let r = async {
        let p = pg.role_posture().await?.expect("postgres");
        assert!(p.bypasses_rls());
        assert!(p.owns_rls_tables.contains(&"items".to_owned()), "{p:?}");
        assert!(p.owns_rls_tables.contains(&"sessions".to_owned()), "{p:?}");
        assert_eq!(p.schema, schema);
        assert!(pg.pending_migrations().await?.is_empty());
        let rampart_db::Engine::Postgres(pool) = &pg.engine else {
            unreachable!()
        };
        let (login, sup, bypass): (bool, bool, bool) = sqlx::query_as(
            "SELECT rolcanlogin, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = 'rampart_app'",
        )
        .fetch_one(pool)
        .await?;
        assert!(!login && !sup && !bypass);
        anyhow::Ok(())
    }
    .await;
    pg.close().await;
    drop_schema(&admin, &schema).await?;
    r
}
