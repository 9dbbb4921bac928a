//! The crash test (issue 9, D4): the real `rampart worker` binary is killed with
//! SIGKILL while it carries out many release intents, then started again beside a
//! second worker; every intent must end done exactly once — one `release` entry and
//! one `escrow_release` audit row per transaction, balanced postings, a clean
//! reconciliation. On PostgreSQL (`RAMPART_TEST_DATABASE_URL`, SKIPPED when unset)
//! and on a SQLite file shared by the processes.

use anyhow::{bail, Result};
use rampart_audit::{self as audit, AuditKeys};
use rampart_db::Db;
use rampart_kernel::ids::{ItemId, StoreId};
use rampart_kernel::{Currency, Money, SystemClock, UserId};
use rampart_ledger::{EscrowEvent, IntentKind, Ledger, NewEscrow};
use rampart_test_support::{pg_url, TempDir};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Transactions seeded, each with a pending release intent.
const N: i64 = 300;

fn keys() -> &'static AuditKeys {
    let fixed = AuditKeys::new(vec![("t1".to_owned(), vec![0x5a; 32])]).expect("test ring");
    audit::install_keys(fixed)
        .ok()
        .or_else(audit::installed_keys)
        .expect("an audit key ring")
}

/// A database for the processes of one test: a SQLite file in `dir`, or a fresh
/// PostgreSQL schema (dropped at the end).
struct Env {
    dir: TempDir,
    url: String,
    schema: Option<(String, String)>,
}

impl Drop for Env {
    fn drop(&mut self) {
        if let Some((url, schema)) = self.schema.take() {
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .ok()?;
                rt.block_on(async {
                    let db = Db::connect(&url, 2).await.ok()?;
                    audit::raw_exec(&db, &format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                        .await
                        .ok()?;
                    db.close().await;
                    Some(())
                })
            })
            .join();
        }
    }
}

impl Env {
    async fn new(pg: bool, test: &str) -> Result<Option<Env>> {
        let dir = TempDir::new()?;
        if !pg {
            let url = format!("sqlite://{}", dir.0.join("rampart.db").display());
            return Ok(Some(Env {
                dir,
                url,
                schema: None,
            }));
        }
        let Some(admin) = pg_url(test) else {
            return Ok(None);
        };
        let schema = format!("wk_{:016x}", rand::random::<u64>());
        let db = Db::connect(&admin, 2).await?;
        audit::raw_exec(&db, &format!("CREATE SCHEMA {schema}")).await?;
        db.close().await;
        let sep = if admin.contains('?') { '&' } else { '?' };
        Ok(Some(Env {
            dir,
            url: format!("{admin}{sep}options=-c%20search_path%3D{schema}"),
            schema: Some((admin, schema)),
        }))
    }

    /// Starts `rampart ARGS` with this database, the test's audit key ring and the
    /// worker's test settings: 20 ms inside each intent's transaction (so a kill
    /// lands mid-run), a 2 s lease, small batches.
    fn spawn(&self, args: &[&str]) -> Result<Child> {
        self.spawn_env(args, &[])
    }

    /// [`Env::spawn`] with extra environment variables.
    fn spawn_env(&self, args: &[&str], envs: &[(&str, &str)]) -> Result<Child> {
        let n = rand::random::<u32>();
        let log = std::fs::File::create(self.dir.0.join(format!("worker-{n}.log")))?;
        let out = std::fs::File::create(self.dir.0.join(format!("stdout-{n}.log")))?;
        Ok(Command::new(env!("CARGO_BIN_EXE_rampart"))
            .args(args)
            .current_dir(&self.dir.0)
            .env("RAMPART_DATA_DIR", &self.dir.0)
            .env("RAMPART_DATABASE_URL", &self.url)
            .env("RAMPART_AUDIT_KEY", keys().to_secret_string())
            .env("RAMPART_LOG", "warn")
            .env("RAMPART_WORKER_TEST_DELAY_MS", "20")
            .env("RAMPART_WORKER_LEASE_SECS", "2")
            .env("RAMPART_WORKER_POLL_MS", "50")
            .env("RAMPART_WORKER_BATCH", "8")
            .env_remove("RAMPART_CONFIG")
            .env_remove("RAMPART_REDIS_URL")
            .env_remove("RAMPART_METRICS_BIND")
            .env_remove("RAMPART_WORKER_IN_PROCESS")
            .envs(envs.iter().copied())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(log)
            .spawn()?)
    }

    /// Whether any process printed `needle` on standard output.
    fn stdout_contains(&self, needle: &str) -> bool {
        std::fs::read_dir(&self.dir.0)
            .map(|rd| {
                rd.flatten().any(|e| {
                    e.file_name().to_string_lossy().starts_with("stdout-")
                        && std::fs::read_to_string(e.path())
                            .unwrap_or_default()
                            .contains(needle)
                })
            })
            .unwrap_or(false)
    }

    /// The concatenated stderr of every process (for failure messages).
    fn logs(&self) -> String {
        let mut out = String::new();
        if let Ok(rd) = std::fs::read_dir(&self.dir.0) {
            for e in rd.flatten() {
                if e.file_name().to_string_lossy().starts_with("worker-") {
                    out.push_str(&std::fs::read_to_string(e.path()).unwrap_or_default());
                }
            }
        }
        out
    }
}

async fn scalar(db: &Db, sql: &str) -> Result<i64> {
    let (n,): (i64,) = match &db.engine {
        rampart_db::Engine::Sqlite { read, .. } => sqlx::query_as(sql).fetch_one(read).await?,
        rampart_db::Engine::Postgres(p) => sqlx::query_as(sql).fetch_one(p).await?,
    };
    Ok(n)
}

async fn count(db: &Db, status: &str) -> Result<i64> {
    scalar(
        db,
        &format!("SELECT COUNT(*) FROM escrow_intents WHERE status = '{status}'"),
    )
    .await
}

fn kill(child: &mut Child) {
    // SIGKILL: no shutdown path runs.
    let _ = child.kill();
    let _ = child.wait();
}

async fn killed_worker_restarted_beside_another_runs_each_intent_once(pg: bool) -> Result<()> {
    let Some(env) = Env::new(pg, "worker_crash").await? else {
        return Ok(());
    };
    keys();
    let db = Db::connect(&env.url, 4).await?;
    db.migrate().await?;
    let ledger = Ledger::new(db.clone(), Arc::new(SystemClock), 250)?;
    let eur = Currency::parse("EUR")?;
    for _ in 0..N {
        let v = ledger
            .create(
                NewEscrow {
                    buyer: UserId::generate(),
                    store: StoreId::generate(),
                    item: ItemId::generate(),
                    quantity: 1,
                    unit_price: Money::new(10_000, eur),
                    release_after_ms: 14 * 86_400_000,
                },
                None,
                None,
            )
            .await?;
        ledger.apply(&v.id, EscrowEvent::Fund, None, None).await?;
        ledger.apply(&v.id, EscrowEvent::Ship, None, None).await?;
        ledger
            .request_intent(&v.id, IntentKind::Release, None, None)
            .await?;
    }
    assert_eq!(count(&db, "pending").await?, N);

    // First run: killed once some, not all, intents are done.
    let mut first = env.spawn(&["worker"])?;
    let started = Instant::now();
    loop {
        let done = count(&db, "done").await?;
        if done >= 30 {
            break;
        }
        if let Some(status) = first.try_wait()? {
            bail!("worker exited early ({status}): {}", env.logs());
        }
        if started.elapsed() > Duration::from_secs(120) {
            kill(&mut first);
            bail!("worker made no progress: {}", env.logs());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    kill(&mut first);
    let done_at_kill = count(&db, "done").await?;
    let leased_at_kill = scalar(
        &db,
        "SELECT COUNT(*) FROM escrow_intents WHERE status = 'pending' AND lease_owner IS NOT NULL",
    )
    .await?;
    eprintln!("killed the worker with {done_at_kill} of {N} done, {leased_at_kill} leased");
    assert!(
        done_at_kill < N,
        "the kill must land mid-run (raise RAMPART_WORKER_TEST_DELAY_MS)"
    );

    // Restart it, and a second worker beside it, until nothing is pending.
    let mut second = env.spawn(&["worker"])?;
    let mut third = env.spawn(&["worker"])?;
    let started = Instant::now();
    let result = loop {
        if count(&db, "pending").await? == 0 {
            break Ok(());
        }
        if started.elapsed() > Duration::from_secs(180) {
            break Err(anyhow::anyhow!(
                "intents still pending after 180 s: {}",
                env.logs()
            ));
        }
        let exited = match second.try_wait()? {
            Some(s) => Some(s),
            None => third.try_wait()?,
        };
        if let Some(status) = exited {
            break Err(anyhow::anyhow!("worker exited ({status}): {}", env.logs()));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    kill(&mut second);
    kill(&mut third);
    result?;

    let logs = env.logs();
    assert_eq!(count(&db, "done").await?, N, "{logs}");
    assert_eq!(count(&db, "failed").await?, 0, "{logs}");
    assert_eq!(
        scalar(
            &db,
            "SELECT COUNT(*) FROM ledger_entries WHERE event = 'release'"
        )
        .await?,
        N,
        "one release entry per transaction"
    );
    assert_eq!(
        scalar(
            &db,
            "SELECT COUNT(DISTINCT transaction_id) FROM ledger_entries WHERE event = 'release'"
        )
        .await?,
        N
    );
    assert_eq!(
        scalar(
            &db,
            "SELECT COUNT(*) FROM ledger_postings p JOIN ledger_entries e ON e.id = p.entry_id \
             WHERE e.event = 'release'"
        )
        .await?,
        3 * N,
        "three legs per release"
    );
    assert_eq!(
        scalar(
            &db,
            "SELECT COUNT(*) FROM audit_log WHERE action_type = 'escrow_release'"
        )
        .await?,
        N,
        "one escrow_release audit row per transaction"
    );
    assert_eq!(
        scalar(
            &db,
            "SELECT COUNT(*) FROM escrow_transactions WHERE state = 'completed'"
        )
        .await?,
        N
    );
    let retried = scalar(
        &db,
        "SELECT COUNT(*) FROM escrow_intents WHERE attempts > 1",
    )
    .await?;
    eprintln!("{retried} intents needed more than one attempt");
    let report = rampart_ledger::reconcile(&db).await?;
    assert!(report.is_clean(), "{:?}", report.anomalies);
    assert!(
        audit::verify(&db, |_| {}).await?.first_break.is_none(),
        "the audit chain verifies"
    );
    db.close().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_crash_postgres() -> Result<()> {
    killed_worker_restarted_beside_another_runs_each_intent_once(true).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_crash_sqlite() -> Result<()> {
    killed_worker_restarted_beside_another_runs_each_intent_once(false).await
}

/// A one-binary deployment: `rampart serve` on the default SQLite file carries out
/// intents itself (`RAMPART_WORKER_IN_PROCESS` defaults to true); with it set to
/// false the intents wait for a `rampart worker`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_runs_the_worker_in_process_by_default() -> Result<()> {
    let Some(env) = Env::new(false, "serve_in_process").await? else {
        return Ok(());
    };
    keys();
    let db = Db::connect(&env.url, 2).await?;
    db.migrate().await?;
    let ledger = Ledger::new(db.clone(), Arc::new(SystemClock), 250)?;
    let eur = Currency::parse("EUR")?;
    for _ in 0..5 {
        let v = ledger
            .create(
                NewEscrow {
                    buyer: UserId::generate(),
                    store: StoreId::generate(),
                    item: ItemId::generate(),
                    quantity: 1,
                    unit_price: Money::new(1_000, eur),
                    release_after_ms: 14 * 86_400_000,
                },
                None,
                None,
            )
            .await?;
        ledger.apply(&v.id, EscrowEvent::Fund, None, None).await?;
        ledger.apply(&v.id, EscrowEvent::Ship, None, None).await?;
        ledger
            .request_intent(&v.id, IntentKind::Release, None, None)
            .await?;
    }
    let bind = [
        ("RAMPART_BIND", "127.0.0.1:0"),
        ("RAMPART_WORKER_TEST_DELAY_MS", "0"),
    ];
    let mut off = env.spawn_env(
        &["serve"],
        &[bind[0], bind[1], ("RAMPART_WORKER_IN_PROCESS", "false")],
    )?;
    // Listening, then ten worker poll intervals (50 ms in these tests) more.
    let started = Instant::now();
    while !env.stdout_contains("listening on") && started.elapsed() < Duration::from_secs(60) {
        if off.try_wait()?.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let listening = env.stdout_contains("listening on");
    let still = count(&db, "pending").await;
    kill(&mut off);
    assert!(listening, "serve did not start: {}", env.logs());
    assert_eq!(still?, 5, "no worker in process: {}", env.logs());
    let mut on = env.spawn_env(&["serve"], &bind)?;
    let started = Instant::now();
    let result = loop {
        if count(&db, "done").await? == 5 {
            break Ok(());
        }
        if let Some(status) = on.try_wait()? {
            break Err(anyhow::anyhow!("serve exited ({status}): {}", env.logs()));
        }
        if started.elapsed() > Duration::from_secs(60) {
            break Err(anyhow::anyhow!("intents not done: {}", env.logs()));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    kill(&mut on);
    result?;
    assert!(rampart_ledger::reconcile(&db).await?.is_clean());
    db.close().await;
    Ok(())
}

/// `rampart worker` does not migrate: on a database that is behind it refuses to
/// start and says what to run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_refuses_an_unmigrated_database() -> Result<()> {
    let Some(env) = Env::new(false, "worker_unmigrated").await? else {
        return Ok(());
    };
    let mut child = env.spawn(&["worker"])?;
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait()? {
            break s;
        }
        if started.elapsed() > Duration::from_secs(30) {
            kill(&mut child);
            bail!("worker kept running on an unmigrated database");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(!status.success());
    let logs = env.logs();
    assert!(logs.contains("rampart migrate"), "{logs}");
    Ok(())
}
