//! Intents through the worker: release intents executed per second by `Worker::tick`
//! (claim under a lease, then per intent one database transaction holding the ledger
//! effect, its postings, its audit row and the intent's new status), against a plain
//! single-row insert loop (one row per transaction) on the same database in the same
//! run, in alternating rounds.
//!
//! `cargo bench -p rampart-worker --bench intents`
//! Env: `RAMPART_BENCH_DATABASE_URL` or `RAMPART_TEST_DATABASE_URL` (PostgreSQL too;
//! a scratch schema is created and dropped), `BENCH_N` (intents per round, 300),
//! `BENCH_ROUNDS` (3).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use anyhow::Result;
use rampart_audit::{self as audit, AuditKeys};
use rampart_db::{on_tx, Db};
use rampart_kernel::ids::{ItemId, StoreId};
use rampart_kernel::{Clock, Currency, Money, SystemClock, UserId};
use rampart_ledger::{EscrowEvent, IntentKind, Ledger, NewEscrow};
use rampart_security::metrics::Metrics;
use rampart_worker::{Worker, WorkerConfig};
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
        on_tx!(&mut tx, |e| sqlx::query(
            "INSERT INTO bench_rows (id, v, created_at) VALUES ($1, $2, $3)"
        )
        .bind(uuid::Uuid::now_v7().to_string())
        .bind(i as i64)
        .bind(1_704_067_200_000i64)
        .execute(e)
        .await
        .map(|r| r.rows_affected()))?;
        tx.commit().await?;
    }
    Ok(n as f64 / start.elapsed().as_secs_f64())
}

/// Seeds `n` shipped transactions with a pending release intent each (not timed).
async fn seed(ledger: &Ledger, n: u64) -> Result<()> {
    let eur = Currency::parse("EUR").unwrap();
    let store = StoreId::generate();
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
        ledger.apply(&t.id, EscrowEvent::Fund, None, None).await?;
        ledger.apply(&t.id, EscrowEvent::Ship, None, None).await?;
        ledger
            .request_intent(&t.id, IntentKind::Release, Some(&buyer), None)
            .await?;
    }
    Ok(())
}

async fn drain(worker: &Worker, n: u64) -> Result<f64> {
    let start = Instant::now();
    let mut done = 0u64;
    while done < n {
        let r = worker.tick().await;
        assert_eq!(r.errors + r.failed, 0, "{r:?}");
        if r.executed == 0 {
            anyhow::bail!("worker stalled at {done}/{n}");
        }
        done += r.executed as u64;
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
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let ledger = Ledger::new(db.clone(), clock.clone(), 250)?;
    let worker = Worker::new(
        db.clone(),
        ledger.clone(),
        clock,
        Arc::new(Metrics::new()),
        WorkerConfig {
            max_rounds_per_tick: 1_000_000,
            ..WorkerConfig::default()
        },
    );
    // Warm-up, and the scheduled jobs' first run (reconcile, prune) out of the way.
    baseline(&db, 20).await?;
    seed(&ledger, 5).await?;
    worker.tick().await;
    let n = env_num("BENCH_N", 300);
    let rounds = env_num("BENCH_ROUNDS", 3);
    println!(
        "{label}: {n} intents per round, {rounds} rounds, batch {}",
        worker.config().batch
    );
    let (mut sb, mut si) = (0.0, 0.0);
    for r in 1..=rounds {
        seed(&ledger, n).await?;
        let b = baseline(&db, n).await?;
        let i = drain(&worker, n).await?;
        println!(
            "  round {r}: single-row inserts {b:>8.0}/s   intents through the worker {i:>7.0}/s   ratio {:.3}",
            i / b
        );
        sb += b;
        si += i;
    }
    println!(
        "  mean:    single-row inserts {:>8.0}/s   intents {:>7.0}/s   ratio {:.3}",
        sb / rounds as f64,
        si / rounds as f64,
        si / sb
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
            "rampart-intents-bench-{}",
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
