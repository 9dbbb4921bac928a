//! Escrow throughput: purchases carried through their whole life (create → fund →
//! ship → release: four database transactions, each with its state change, balanced
//! postings and audit row) per second, against a plain single-row insert loop (one
//! row per transaction) on the same database in the same run, in alternating rounds.
//!
//! `cargo bench -p rampart-ledger --bench escrow`
//! Env: `RAMPART_BENCH_DATABASE_URL` or `RAMPART_TEST_DATABASE_URL` (PostgreSQL too;
//! a scratch schema is created and dropped), `BENCH_N` (purchases per round, 300),
//! `BENCH_ROUNDS` (3).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use anyhow::Result;
use rampart_audit::{self as audit, AuditKeys};
use rampart_db::{on_tx, Db};
use rampart_kernel::ids::{ItemId, StoreId};
use rampart_kernel::{Currency, Money, SystemClock, UserId};
use rampart_ledger::{EscrowEvent, Ledger, NewEscrow};
use std::sync::Arc;
use std::time::Instant;

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn baseline(db: &Db, n: u64) -> Result<f64> {
    let start = Instant::now();
    for i in 0..n {
        let mut tx = db.begin().await?;
        let id = uuid::Uuid::now_v7().to_string();
        on_tx!(&mut tx, |e| sqlx::query(
            "INSERT INTO bench_rows (id, v, created_at) VALUES ($1, $2, $3)"
        )
        .bind(&id)
        .bind(i as i64)
        .bind(1_704_067_200_000i64)
        .execute(e)
        .await
        .map(|r| r.rows_affected()))?;
        tx.commit().await?;
    }
    Ok(n as f64 / start.elapsed().as_secs_f64())
}

async fn purchases(ledger: &Ledger, n: u64) -> Result<f64> {
    let eur = Currency::parse("EUR").unwrap();
    let store = StoreId::generate();
    let start = Instant::now();
    for _ in 0..n {
        let buyer = UserId::generate();
        let t = ledger
            .create(
                NewEscrow {
                    buyer: buyer.clone(),
                    store: store.clone(),
                    item: ItemId::generate(),
                    quantity: 1,
                    unit_price: Money::new(2_500, eur),
                    release_after_ms: 14 * 86_400_000,
                },
                Some(&buyer),
                None,
            )
            .await?;
        for e in [EscrowEvent::Fund, EscrowEvent::Ship, EscrowEvent::Release] {
            ledger.apply(&t.id, e, None, None).await?;
        }
    }
    Ok(n as f64 / start.elapsed().as_secs_f64())
}

async fn run(label: &str, db: Db) -> Result<()> {
    db.migrate().await?;
    let mut tx = db.begin().await?;
    on_tx!(&mut tx, |e| {
        sqlx::query(
        "CREATE TABLE bench_rows (id TEXT PRIMARY KEY, v BIGINT NOT NULL, created_at BIGINT NOT NULL)"
    )
    .execute(e)
    .await
    .map(|r| r.rows_affected())
    })?;
    tx.commit().await?;
    let ledger = Ledger::new(db.clone(), Arc::new(SystemClock), 250)?;
    let n = env_num("BENCH_N", 300);
    let rounds = env_num("BENCH_ROUNDS", 3);
    // Warm-up: pools, statement caches, the account rows of the platform and store.
    baseline(&db, 20).await?;
    purchases(&ledger, 5).await?;
    let (mut sb, mut sp) = (0.0, 0.0);
    println!("{label}: {n} per round, {rounds} rounds");
    for r in 1..=rounds {
        let b = baseline(&db, n * 4).await?;
        let p = purchases(&ledger, n).await?;
        println!(
            "  round {r}: single-row inserts {b:>8.0}/s   purchases (4 transactions each) {p:>7.0}/s   ratio {:.3}",
            p / b
        );
        sb += b;
        sp += p;
    }
    println!(
        "  mean:    single-row inserts {:>8.0}/s   purchases {:>7.0}/s   ratio {:.3} (a purchase is 4 commits: ideal ≈ 0.25)",
        sb / rounds as f64,
        sp / rounds as f64,
        sp / sb
    );
    let report = rampart_ledger::reconcile(&db).await?;
    assert!(report.is_clean(), "{:?}", report.anomalies);
    db.close().await;
    Ok(())
}

fn main() -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        audit::install_keys(AuditKeys::new(vec![("b1".to_owned(), vec![0x42; 32])])?)?;
        let dir = std::env::temp_dir().join(format!(
            "rampart-escrow-bench-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir)?;
        let db = Db::connect(&format!("sqlite://{}", dir.join("b.db").display()), 8).await?;
        let r = run("SQLite", db).await;
        let _ = std::fs::remove_dir_all(&dir);
        r?;
        let pg = std::env::var("RAMPART_BENCH_DATABASE_URL")
            .or_else(|_| std::env::var("RAMPART_TEST_DATABASE_URL"))
            .ok()
            .filter(|u| !u.trim().is_empty());
        if let Some(admin) = pg {
            let schema = format!("bench_{}", uuid::Uuid::new_v4().simple());
            let pool = sqlx::PgPool::connect(&admin).await?;
            sqlx::query(&format!("CREATE SCHEMA {schema}"))
                .execute(&pool)
                .await?;
            let sep = if admin.contains('?') { '&' } else { '?' };
            let url = format!("{admin}{sep}options=-c%20search_path%3D{schema}");
            let r = run("PostgreSQL", Db::connect(&url, 16).await?).await;
            sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
                .execute(&pool)
                .await?;
            r?;
        } else {
            println!("PostgreSQL: skipped (set RAMPART_BENCH_DATABASE_URL)");
        }
        Ok(())
    })
}
