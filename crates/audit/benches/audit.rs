//! Audit-chain throughput: appends per second (one per transaction, and 100 per
//! transaction) on SQLite and, when a URL is given, PostgreSQL; and `audit::verify`
//! rows per second against a pure hashing baseline (keyed HMAC-SHA256, as rows are
//! written now, and plain SHA-256, the pre-upgrade form), with the fetch cost separated.
//!
//! `cargo bench -p rampart-audit --bench audit`
//! Env: `RAMPART_BENCH_DATABASE_URL` or `RAMPART_TEST_DATABASE_URL` (PostgreSQL, a
//! scratch schema is created and dropped), `RAMPART_BENCH_ROWS` (verify size, 200000).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use anyhow::Result;
use futures::TryStreamExt;
use rampart_audit::chain::{chain_hash, keyed_hash, ActionType, AuditContent, GENESIS_HASH};
use rampart_audit::keys::ChainMac;
use rampart_audit::{self as audit, AuditKeys, AuditRow, NewAuditEntry, Target};
use rampart_db::{on_read, Db, Engine};
use sqlx::Row;
use std::time::{Duration, Instant};

const T0: i64 = 1_704_067_200_000;

fn entry(i: i64) -> NewAuditEntry<'static> {
    NewAuditEntry {
        actor_user_uuid: Some("0190b6a8-0000-7000-8000-000000000001"),
        action: ActionType::ALL[(i as usize) % ActionType::ALL.len()],
        target: Target::user("0190b6a8-0000-7000-8000-00000000abcd"),
        metadata: serde_json::json!({"i": i, "old_role": "customer", "new_role": "seller"}),
        request_id: Some("01J0000000000000000000000"),
        created_at: T0 + i,
    }
}

fn per_sec(n: u64, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

fn fmt(x: f64) -> String {
    if x >= 1e6 {
        format!("{:.2} M", x / 1e6)
    } else if x >= 1e3 {
        format!("{:.1} k", x / 1e3)
    } else {
        format!("{x:.0} ")
    }
}

async fn appends(db: &Db, label: &str) -> Result<()> {
    let n1 = 2_000;
    let t = Instant::now();
    for i in 0..n1 {
        audit::record_alone(db, entry(i)).await?;
    }
    let single = per_sec(n1 as u64, t.elapsed());
    let batches = 100;
    let t = Instant::now();
    for b in 0..batches {
        let mut tx = db.begin().await?;
        for i in 0..100 {
            audit::record(&mut tx, entry(n1 + b * 100 + i)).await?;
        }
        tx.commit().await?;
    }
    let batched = per_sec((batches * 100) as u64, t.elapsed());
    println!(
        "append  {label:<10}  1/tx: {:>10}rows/s   100/tx: {:>10}rows/s",
        fmt(single),
        fmt(batched)
    );
    Ok(())
}

/// Fills to `n` rows, 1000 per transaction.
async fn fill(db: &Db, n: i64) -> Result<()> {
    let have = audit::count(db).await?;
    let mut i = have;
    while i < n {
        let mut tx = db.begin().await?;
        for _ in 0..1000.min(n - i) {
            audit::record(&mut tx, entry(i)).await?;
            i += 1;
        }
        tx.commit().await?;
    }
    Ok(())
}

/// Streams the verify query and only touches the columns (no hashing): fetch cost.
async fn fetch_only(db: &Db) -> Result<u64> {
    let mut n = 0u64;
    let mut bytes = 0usize;
    on_read!(db, |e| {
        let mut s = sqlx::query(
            "SELECT seq, id, actor_user_uuid, action_type, target_type, target_id, metadata, \
             created_at, request_id, prev_hash, hash, hash_kid FROM audit_log ORDER BY seq",
        )
        .fetch(e);
        while let Some(r) = s.try_next().await? {
            let m: &str = r.try_get(6)?;
            let h: &str = r.try_get(10)?;
            bytes += m.len() + h.len();
            n += 1;
        }
        anyhow::Ok(())
    })?;
    std::hint::black_box(bytes);
    Ok(n)
}

/// The hashing a verifier cannot avoid, in memory: `keyed_hash` over every row (the
/// keyed chain), or `chain_hash` (plain SHA-256, the pre-upgrade form) for comparison.
fn hash_baseline(rows: &[AuditRow], mac: Option<&ChainMac>) -> [u8; 32] {
    let mut prev = GENESIS_HASH;
    let mut buf = Vec::with_capacity(512);
    for r in rows {
        prev = match mac {
            Some(m) => keyed_hash(m, &prev, &r.content(), &mut buf),
            None => chain_hash(&prev, &r.content(), &mut buf),
        };
    }
    prev
}

/// Everything `verify` does per row once the row is in memory: seq and link checks,
/// hash, exact hex comparison.
fn verify_in_memory(rows: &[AuditRow], mac: &ChainMac) -> bool {
    let mut prev = GENESIS_HASH;
    let mut prev_hex = [b'0'; 64];
    let mut buf = Vec::with_capacity(512);
    for (expected, r) in (1i64..).zip(rows) {
        if r.seq != expected || r.prev_hash.as_bytes() != prev_hex.as_slice() {
            return false;
        }
        let c = AuditContent {
            seq: r.seq,
            id: &r.id,
            actor_user_uuid: r.actor_user_uuid.as_deref(),
            action_type: &r.action_type,
            target_type: &r.target_type,
            target_id: &r.target_id,
            metadata: &r.metadata,
            created_at: r.created_at,
            request_id: r.request_id.as_deref(),
        };
        let h = keyed_hash(mac, &prev, &c, &mut buf);
        let mut hx = [0u8; 64];
        hex::encode_to_slice(h, &mut hx).unwrap();
        if r.hash.as_bytes() != hx.as_slice() {
            return false;
        }
        prev = h;
        prev_hex = hx;
    }
    true
}

fn best<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut out = None;
    let mut best = Duration::MAX;
    for _ in 0..runs {
        let t = Instant::now();
        let v = f();
        best = best.min(t.elapsed());
        out = Some(v);
    }
    (best, out.unwrap())
}

async fn verify_bench(db: &Db, label: &str, n: i64) -> Result<()> {
    let t = Instant::now();
    fill(db, n).await?;
    println!(
        "fill    {label:<10}  {n} rows in {:.1}s",
        t.elapsed().as_secs_f64()
    );
    let rows_n = audit::count(db).await? as u64;

    // End to end.
    let mut e2e = Duration::MAX;
    for _ in 0..3 {
        let t = Instant::now();
        let r = audit::verify(db, |_| {}).await?;
        e2e = e2e.min(t.elapsed());
        assert_eq!(r.first_break, None);
        assert_eq!(r.rows, rows_n);
    }
    // Fetch only.
    let mut fetch = Duration::MAX;
    for _ in 0..3 {
        let t = Instant::now();
        assert_eq!(fetch_only(db).await?, rows_n);
        fetch = fetch.min(t.elapsed());
    }
    // In memory.
    let mut rows = audit::latest(db, rows_n as i64).await?;
    rows.reverse();
    let mac = bench_keys().mac("b1").expect("b1");
    let (hash_t, _) = best(5, || std::hint::black_box(hash_baseline(&rows, Some(mac))));
    let (plain_t, _) = best(5, || std::hint::black_box(hash_baseline(&rows, None)));
    let (mem_t, ok) = best(5, || verify_in_memory(&rows, mac));
    assert!(ok);

    let e2e_r = per_sec(rows_n, e2e);
    let hash_r = per_sec(rows_n, hash_t);
    println!(
        "verify  {label:<10}  end-to-end audit::verify : {:>10}rows/s  ({:.3}s for {rows_n} rows)",
        fmt(e2e_r),
        e2e.as_secs_f64()
    );
    println!(
        "verify  {label:<10}  fetch only (stream rows) : {:>10}rows/s  ({:.3}s)",
        fmt(per_sec(rows_n, fetch)),
        fetch.as_secs_f64()
    );
    println!(
        "verify  {label:<10}  in memory (rows fetched) : {:>10}rows/s  ({:.3}s)",
        fmt(per_sec(rows_n, mem_t)),
        mem_t.as_secs_f64()
    );
    println!(
        "verify  {label:<10}  baseline keyed_hash loop : {:>10}rows/s  ({:.3}s)",
        fmt(hash_r),
        hash_t.as_secs_f64()
    );
    println!(
        "verify  {label:<10}  plain SHA-256 chain_hash : {:>10}rows/s  ({:.3}s; keyed/plain time = {:.2})",
        fmt(per_sec(rows_n, plain_t)),
        plain_t.as_secs_f64(),
        hash_t.as_secs_f64() / plain_t.as_secs_f64()
    );
    println!(
        "verify  {label:<10}  end-to-end / baseline = {:.2}; fetch share of end-to-end ≈ {:.0}%",
        e2e_r / hash_r,
        100.0 * fetch.as_secs_f64() / e2e.as_secs_f64()
    );
    Ok(())
}

/// sqlx-sqlite hands rows from its worker thread over a channel of
/// `row_buffer_size` (default 50); this shows what a larger one would buy
/// (a `Db::connect` setting, not an `audit` one).
async fn channel_sizes(db: &Db, path: &std::path::Path) -> Result<()> {
    use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
    let Engine::Sqlite { write, .. } = &db.engine else {
        return Ok(());
    };
    for size in [50usize, 256, 1024, 4096] {
        let opts = SqliteConnectOptions::new()
            .filename(path)
            .journal_mode(SqliteJournalMode::Wal)
            .row_buffer_size(size);
        let read = SqlitePoolOptions::new()
            .max_connections(2)
            .connect_with(opts)
            .await?;
        let alt = Db {
            engine: Engine::Sqlite {
                read: read.clone(),
                write: write.clone(),
            },
        };
        let mut best = Duration::MAX;
        let mut rows = 0;
        for _ in 0..3 {
            let t = Instant::now();
            let r = audit::verify(&alt, |_| {}).await?;
            best = best.min(t.elapsed());
            assert_eq!(r.first_break, None);
            rows = r.rows;
        }
        read.close().await;
        println!(
            "verify  sqlite      row_buffer_size {size:>5}     : {:>10}rows/s  ({:.3}s)",
            fmt(per_sec(rows, best)),
            best.as_secs_f64()
        );
    }
    Ok(())
}

async fn pg_db(admin: &str) -> Result<(Db, String)> {
    let schema = format!("bench_{}", uuid::Uuid::new_v4().simple());
    let pool = sqlx::PgPool::connect(admin).await?;
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&pool)
        .await?;
    pool.close().await;
    let sep = if admin.contains('?') { '&' } else { '?' };
    let db = Db::connect(
        &format!("{admin}{sep}options=-c%20search_path%3D{schema}"),
        4,
    )
    .await?;
    db.migrate().await?;
    Ok((db, schema))
}

async fn drop_schema(admin: &str, schema: &str) -> Result<()> {
    let pool = sqlx::PgPool::connect(admin).await?;
    sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .execute(&pool)
        .await?;
    pool.close().await;
    Ok(())
}

/// The bench's audit key ring, installed for the process.
fn bench_keys() -> &'static AuditKeys {
    let ring = AuditKeys::new(vec![("b1".to_owned(), vec![0x42; 32])]).expect("ring");
    audit::install_keys(ring).expect("one ring")
}

async fn run() -> Result<()> {
    bench_keys();
    let n: i64 = std::env::var("RAMPART_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let dir = std::env::temp_dir().join(format!("rampart-bench-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir)?;
    let db = Db::connect(&format!("sqlite://{}", dir.join("bench.db").display()), 4).await?;
    db.migrate().await?;
    appends(&db, "sqlite").await?;
    verify_bench(&db, "sqlite", n).await?;
    channel_sizes(&db, &dir.join("bench.db")).await?;
    db.close().await;
    let _ = std::fs::remove_dir_all(&dir);

    let pg = std::env::var("RAMPART_BENCH_DATABASE_URL")
        .or_else(|_| std::env::var("RAMPART_TEST_DATABASE_URL"))
        .ok()
        .filter(|u| !u.trim().is_empty());
    match pg {
        Some(admin) => {
            let (db, schema) = pg_db(&admin).await?;
            let r = async {
                appends(&db, "postgres").await?;
                let pn: i64 = std::env::var("RAMPART_BENCH_PG_ROWS")
                    .ok()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(n / 4);
                verify_bench(&db, "postgres", pn).await
            }
            .await;
            db.close().await;
            drop_schema(&admin, &schema).await?;
            r?;
        }
        None => println!(
            "postgres: SKIPPED (set RAMPART_BENCH_DATABASE_URL or RAMPART_TEST_DATABASE_URL)"
        ),
    }
    Ok(())
}

fn main() -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(run())
}
