//! `rampart audit verify|prune|anchor` run as the real binary against a SQLite data
//! directory and (when `RAMPART_TEST_DATABASE_URL` is set) a fresh PostgreSQL schema.

use anyhow::{Context, Result};
use rampart_audit::chain::{chain_hash, keyed_hash, parse_hash};
use rampart_audit::{self as audit, ActionType, AuditKeys, NewAuditEntry, Target};
use rampart_db::Db;
use rampart_test_support::{exec, pg_url, TempDir};
use std::io::Write;
use std::process::{Command, Stdio};

const PASSWORD: &str = "correct horse battery staple 42";

/// Where the binary's database lives for one test.
struct CliEnv {
    dir: TempDir,
    /// `RAMPART_DATABASE_URL` (PostgreSQL) or `None` for SQLite in the data dir.
    database_url: Option<String>,
    /// (admin URL, schema) to drop at the end.
    schema: Option<(String, String)>,
}

impl Drop for CliEnv {
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

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

impl CliEnv {
    async fn new(pg: bool, test: &str) -> Result<Option<CliEnv>> {
        let dir = TempDir::new()?;
        if !pg {
            return Ok(Some(CliEnv {
                dir,
                database_url: None,
                schema: None,
            }));
        }
        let Some(admin) = pg_url(test) else {
            return Ok(None);
        };
        let schema = format!("cli_{:016x}", rand::random::<u64>());
        let db = Db::connect(&admin, 2)
            .await
            .context("connecting to RAMPART_TEST_DATABASE_URL")?;
        audit::raw_exec(&db, &format!("CREATE SCHEMA {schema}")).await?;
        db.close().await;
        let sep = if admin.contains('?') { '&' } else { '?' };
        Ok(Some(CliEnv {
            dir,
            database_url: Some(format!("{admin}{sep}options=-c%20search_path%3D{schema}")),
            schema: Some((admin, schema)),
        }))
    }

    /// Runs `rampart ARGS` with `stdin`, waiting for it off the async runtime. The
    /// binary gets this process's audit key ring, so rows recorded here verify there.
    async fn run(&self, args: &[&str], stdin: Option<&str>) -> Result<Out> {
        let ring = keys().to_secret_string();
        self.run_env(args, stdin, &[("RAMPART_AUDIT_KEY", &ring)])
            .await
    }

    /// [`CliEnv::run`] with explicit extra environment variables.
    async fn run_env(
        &self,
        args: &[&str],
        stdin: Option<&str>,
        envs: &[(&str, &str)],
    ) -> Result<Out> {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rampart"));
        cmd.args(args)
            .current_dir(&self.dir.0)
            .env("RAMPART_DATA_DIR", &self.dir.0)
            .env("RAMPART_LOG", "warn")
            .env_remove("RAMPART_CONFIG")
            .env_remove("RAMPART_DATABASE_URL")
            .env_remove("RAMPART_REDIS_URL")
            .env_remove("RAMPART_AUDIT_KEY")
            .env_remove("RAMPART_AUDIT_KEY_FILE")
            .env_remove("RAMPART_AUDIT_ANCHOR_KEY")
            .env_remove("RAMPART_AUDIT_ANCHOR_KEY_FILE")
            .env_remove("RAMPART_AUDIT_ANCHOR_PUBLIC_KEY")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(u) = &self.database_url {
            cmd.env("RAMPART_DATABASE_URL", u);
        }
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let stdin = stdin.map(str::to_owned);
        let out = tokio::task::spawn_blocking(move || -> Result<std::process::Output> {
            let mut child = cmd.spawn()?;
            if let Some(mut w) = child.stdin.take() {
                if let Some(s) = stdin {
                    w.write_all(s.as_bytes())?;
                }
            }
            Ok(child.wait_with_output()?)
        })
        .await??;
        Ok(Out {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }

    /// The same database, opened from the test (for seeding and tampering).
    async fn db(&self) -> Result<Db> {
        let url = match &self.database_url {
            Some(u) => u.clone(),
            None => format!("sqlite://{}", self.dir.0.join("rampart.db").display()),
        };
        let db = Db::connect(&url, 2).await?;
        db.migrate().await?;
        Ok(db)
    }
}

macro_rules! cli_both {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() -> anyhow::Result<()> {
                    let env = super::CliEnv::new(false, stringify!($name)).await?.expect("sqlite");
                    super::$name(&env).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() -> anyhow::Result<()> {
                    match super::CliEnv::new(true, stringify!($name)).await? {
                        Some(env) => super::$name(&env).await,
                        None => Ok(()),
                    }
                }
            }
        )*
    };
}

cli_both!(
    cli_verify_empty_log_is_ok,
    cli_verify_tamper_prune,
    cli_verify_names_deleted_and_inserted_rows,
    cli_prune_rejects_a_bad_date,
    cli_rewrite_recomputed_without_the_key_is_detected,
    cli_key_rotation,
    cli_anchor_then_truncate_is_detected,
    cli_anchor_catches_a_rewrite_made_with_the_key,
    cli_anchor_after_prune_is_pruned_before,
    cli_tampered_anchor_file_is_refused,
    cli_production_requires_the_audit_keys,
    cli_ledger_reconcile_reports_anomalies,
);

/// This process's audit key ring (the one a test server installed first, or a fixed
/// test ring).
fn keys() -> &'static AuditKeys {
    let fixed = AuditKeys::new(vec![("t1".to_owned(), vec![0x5a; 32])]).expect("test ring");
    audit::install_keys(fixed)
        .ok()
        .or_else(audit::installed_keys)
        .expect("an audit key ring")
}

/// Recomputes rows `from..` and the head as someone with database access would:
/// with plain SHA-256 (`None`) or a key.
async fn rechain(db: &Db, from: i64, key: Option<(&str, &AuditKeys)>) -> Result<()> {
    let mut rows = audit::latest(db, 1_000).await?;
    rows.reverse();
    let mut prev = match rows.iter().find(|r| r.seq == from - 1) {
        Some(r) => parse_hash(&r.hash).context("hash")?,
        None => [0u8; 32],
    };
    let mut buf = Vec::new();
    for r in rows.iter().filter(|r| r.seq >= from) {
        let (h, kid) = match key {
            None => (chain_hash(&prev, &r.content(), &mut buf), "NULL".to_owned()),
            Some((kid, ring)) => (
                keyed_hash(ring.mac(kid).context("kid")?, &prev, &r.content(), &mut buf),
                format!("'{kid}'"),
            ),
        };
        exec(
            db,
            &format!(
                "UPDATE audit_log SET prev_hash = '{}', hash = '{}', hash_kid = {kid} WHERE seq = {}",
                hex_of(&prev),
                hex_of(&h),
                r.seq
            ),
        )
        .await?;
        prev = h;
    }
    exec(
        db,
        &format!(
            "UPDATE audit_chain SET last_hash = '{}' WHERE id = 1",
            hex_of(&prev)
        ),
    )
    .await?;
    Ok(())
}

fn hex_of(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn ok(out: &Out) {
    assert_eq!(
        out.code, 0,
        "stdout: {}\nstderr: {}",
        out.stdout, out.stderr
    );
}

async fn verify_ok(env: &CliEnv, rows: u64) -> Result<()> {
    let out = env.run(&["audit", "verify"], None).await?;
    ok(&out);
    let want = format!("audit chain OK: {rows} rows verified");
    assert!(
        out.stdout.contains(&want),
        "want {want:?} in {:?}",
        out.stdout
    );
    Ok(())
}

async fn verify_broken(env: &CliEnv, needle: &str) -> Result<()> {
    let out = env.run(&["audit", "verify"], None).await?;
    assert_eq!(
        out.code, 1,
        "stdout: {}\nstderr: {}",
        out.stdout, out.stderr
    );
    assert!(
        out.stdout.contains("audit chain BROKEN: "),
        "{:?}",
        out.stdout
    );
    assert!(
        out.stdout.contains(needle),
        "want {needle:?} in {:?}",
        out.stdout
    );
    Ok(())
}

async fn admin_create(env: &CliEnv, username: &str) -> Result<()> {
    let out = env
        .run(
            &["admin", "create", "--username", username],
            Some(&format!("{PASSWORD}\n")),
        )
        .await?;
    ok(&out);
    assert!(
        out.stdout.contains("created super-admin"),
        "{:?}",
        out.stdout
    );
    Ok(())
}

/// Two `admin create` rows from the binary plus three recorded directly.
async fn seed(env: &CliEnv) -> Result<Db> {
    admin_create(env, "alice").await?;
    admin_create(env, "bob").await?;
    let db = env.db().await?;
    for i in 0..3 {
        audit::record_alone(
            &db,
            NewAuditEntry {
                actor_user_uuid: None,
                action: ActionType::KeyRotate,
                target: Target::signing_key("k1"),
                metadata: serde_json::json!({"i": i}),
                request_id: None,
                created_at: 1_704_067_200_000 + i,
            },
        )
        .await?;
    }
    Ok(db)
}

async fn cli_verify_empty_log_is_ok(env: &CliEnv) -> Result<()> {
    verify_ok(env, 0).await
}

async fn cli_verify_tamper_prune(env: &CliEnv) -> Result<()> {
    let db = seed(env).await?;
    verify_ok(env, 5).await?;
    let row1 = audit::latest(&db, 10).await?.pop().context("row 1")?;
    assert_eq!((row1.seq, row1.action_type.as_str()), (1, "admin_create"));

    // Rewrite who was created.
    exec(
        &db,
        r#"UPDATE audit_log SET metadata = '{"username":"mallory"}' WHERE seq = 1"#,
    )
    .await?;
    verify_broken(env, "row 1 was modified").await?;

    // Prune refuses to erase the evidence.
    let out = env
        .run(&["audit", "prune", "--before", "2999-01-01"], None)
        .await?;
    assert_ne!(
        out.code, 0,
        "prune of a broken chain must fail: {}",
        out.stdout
    );
    assert!(out.stderr.contains("broken"), "{:?}", out.stderr);

    // Restore, then prune everything before a future date: still verifies.
    exec(
        &db,
        &format!(
            "UPDATE audit_log SET metadata = '{}' WHERE seq = 1",
            row1.metadata.replace('\'', "''")
        ),
    )
    .await?;
    verify_ok(env, 5).await?;
    let out = env
        .run(&["audit", "prune", "--before", "2999-01-01"], None)
        .await?;
    ok(&out);
    assert!(
        out.stdout.contains("pruned 5 audit rows"),
        "{:?}",
        out.stdout
    );
    verify_ok(env, 1).await?;
    let prune_row = audit::latest(&db, 1).await?.pop().context("prune row")?;
    assert_eq!(
        (prune_row.seq, prune_row.action_type.as_str()),
        (6, "audit_prune")
    );

    // Pruning nothing (a past date) changes nothing.
    let out = env
        .run(
            &["audit", "prune", "--before", "2000-01-01T00:00:00Z"],
            None,
        )
        .await?;
    ok(&out);
    assert!(
        out.stdout.contains("pruned 0 audit rows"),
        "{:?}",
        out.stdout
    );
    verify_ok(env, 1).await?;

    // Tampering after the prune is still caught.
    exec(&db, "UPDATE audit_log SET created_at = 0 WHERE seq = 6").await?;
    verify_broken(env, "row 6 was modified").await?;
    db.close().await;
    Ok(())
}

async fn cli_verify_names_deleted_and_inserted_rows(env: &CliEnv) -> Result<()> {
    let db = seed(env).await?;
    let rows = audit::latest(&db, 10).await?;
    let row3 = rows.iter().find(|r| r.seq == 3).context("row 3")?.clone();
    exec(&db, "DELETE FROM audit_log WHERE seq = 3").await?;
    verify_broken(env, "row 3 is missing").await?;
    exec(&db, "DELETE FROM audit_log WHERE seq > 3").await?;
    verify_broken(env, "chain ends at row 2 but the head records row 5").await?;

    // A forged row appended with a made-up hash, claiming the real key id.
    exec(
        &db,
        &format!(
            "INSERT INTO audit_log (seq, id, actor_user_uuid, action_type, target_type, target_id, metadata, \
             created_at, request_id, prev_hash, hash, hash_kid) VALUES (3, 'forged', NULL, 'refund', 'order', 'o1', '{{}}', 1, NULL, \
             '{}', '{}', '{}')",
            row3.prev_hash,
            "ab".repeat(32),
            keys().active_kid()
        ),
    )
    .await?;
    verify_broken(env, "row 3 was modified").await?;
    // Without a key id it claims the pre-upgrade form, which only old rows may use.
    exec(&db, "UPDATE audit_log SET hash_kid = NULL WHERE seq = 3").await?;
    verify_broken(env, "row 3 has an unkeyed (plain SHA-256) hash").await?;
    db.close().await;
    Ok(())
}

async fn cli_prune_rejects_a_bad_date(env: &CliEnv) -> Result<()> {
    let out = env
        .run(&["audit", "prune", "--before", "last tuesday"], None)
        .await?;
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("not YYYY-MM-DD or RFC 3339"),
        "{:?}",
        out.stderr
    );
    Ok(())
}

async fn cli_rewrite_recomputed_without_the_key_is_detected(env: &CliEnv) -> Result<()> {
    let db = seed(env).await?;
    exec(
        &db,
        r#"UPDATE audit_log SET metadata = '{"username":"mallory"}' WHERE seq = 1"#,
    )
    .await?;
    // Recomputed with plain SHA-256, as before the chain was keyed.
    rechain(&db, 1, None).await?;
    verify_broken(env, "row 1 has an unkeyed (plain SHA-256) hash").await?;
    // Recomputed with a guessed key under the real key id.
    let kid = keys().active_kid().to_owned();
    let guess = AuditKeys::new(vec![(kid.clone(), vec![0x11; 32])])?;
    rechain(&db, 1, Some((&kid, &guess))).await?;
    verify_broken(env, "row 1 was modified").await?;
    db.close().await;
    Ok(())
}

const K1: &str = "k1:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE";
const K2: &str = "k2:AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI";

async fn cli_key_rotation(env: &CliEnv) -> Result<()> {
    let input = format!("{PASSWORD}\n");
    let both = format!("{K2},{K1}");
    let out = env
        .run_env(
            &["admin", "create", "--username", "alice"],
            Some(&input),
            &[("RAMPART_AUDIT_KEY", K1)],
        )
        .await?;
    ok(&out);
    // Rotate: k2 first (active), k1 kept for the rows it hashed.
    let out = env
        .run_env(
            &["admin", "create", "--username", "bob"],
            Some(&input),
            &[("RAMPART_AUDIT_KEY", &both)],
        )
        .await?;
    ok(&out);
    let db = env.db().await?;
    let mut kids: Vec<Option<String>> = audit::latest(&db, 10)
        .await?
        .into_iter()
        .map(|r| r.hash_kid)
        .collect();
    kids.reverse();
    assert_eq!(kids, [Some("k1".to_owned()), Some("k2".to_owned())]);
    db.close().await;
    let out = env
        .run_env(&["audit", "verify"], None, &[("RAMPART_AUDIT_KEY", &both)])
        .await?;
    ok(&out);
    assert!(
        out.stdout.contains("audit chain OK: 2 rows"),
        "{}",
        out.stdout
    );
    // k1 dropped too early.
    let out = env
        .run_env(&["audit", "verify"], None, &[("RAMPART_AUDIT_KEY", K2)])
        .await?;
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(
        out.stdout
            .contains(r#"row 1 is keyed with "k1", which is not in the audit key ring"#),
        "{}",
        out.stdout
    );
    // Key material never reaches the output.
    for o in [&out.stdout, &out.stderr] {
        assert!(!o.contains("AgICAgIC") && !o.contains("AQEBAQEB"), "{o}");
    }
    Ok(())
}

/// `audit anchor --out FILE` in the test's data directory; returns the file's path.
async fn anchor_to_file(env: &CliEnv) -> Result<String> {
    let path = env.dir.0.join("anchors.jsonl").display().to_string();
    let out = env.run(&["audit", "anchor", "--out", &path], None).await?;
    ok(&out);
    assert!(out.stdout.contains("anchored row"), "{}", out.stdout);
    Ok(path)
}

async fn verify_anchor(env: &CliEnv, file: &str) -> Result<Out> {
    env.run(&["audit", "verify", "--anchor", file], None).await
}

async fn cli_anchor_then_truncate_is_detected(env: &CliEnv) -> Result<()> {
    let db = seed(env).await?;
    let file = anchor_to_file(env).await?;
    let out = verify_anchor(env, &file).await?;
    ok(&out);
    assert!(
        out.stdout.contains("audit chain OK: 5 rows"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("anchor at row 5: OK"), "{}", out.stdout);
    // Also printed to standard output without --out, one signed JSON line.
    let out = env.run(&["audit", "anchor"], None).await?;
    ok(&out);
    let line: serde_json::Value = serde_json::from_str(out.stdout.trim())?;
    assert_eq!(line["seq"], 5);
    assert!(line["sig"].is_string());

    // Delete the tail and move the head back: self-consistent, but behind the anchor.
    let row3 = audit::latest(&db, 10)
        .await?
        .into_iter()
        .find(|r| r.seq == 3)
        .context("row 3")?;
    exec(&db, "DELETE FROM audit_log WHERE seq > 3").await?;
    exec(
        &db,
        &format!(
            "UPDATE audit_chain SET last_seq = 3, last_hash = '{}' WHERE id = 1",
            row3.hash
        ),
    )
    .await?;
    verify_ok(env, 3).await?;
    let out = verify_anchor(env, &file).await?;
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(
        out.stdout.contains("audit chain BROKEN: 1 of 1 anchors"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("anchor at row 5: BROKEN: the chain ends at row 3, before the anchor"),
        "{}",
        out.stdout
    );
    db.close().await;
    Ok(())
}

async fn cli_anchor_catches_a_rewrite_made_with_the_key(env: &CliEnv) -> Result<()> {
    let db = seed(env).await?;
    let file = anchor_to_file(env).await?;
    exec(
        &db,
        r#"UPDATE audit_log SET metadata = '{"username":"mallory"}' WHERE seq = 2"#,
    )
    .await?;
    let kid = keys().active_kid().to_owned();
    rechain(&db, 2, Some((&kid, keys()))).await?;
    verify_ok(env, 5).await?;
    let out = verify_anchor(env, &file).await?;
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(
        out.stdout
            .contains("anchor at row 5: BROKEN: row 5 no longer has the anchored hash"),
        "{}",
        out.stdout
    );
    db.close().await;
    Ok(())
}

async fn cli_anchor_after_prune_is_pruned_before(env: &CliEnv) -> Result<()> {
    let db = seed(env).await?;
    let file = anchor_to_file(env).await?;
    let out = env
        .run(&["audit", "prune", "--before", "2999-01-01"], None)
        .await?;
    ok(&out);
    anchor_to_file(env).await?;
    let out = verify_anchor(env, &file).await?;
    ok(&out);
    assert!(
        out.stdout.contains("anchor at row 5: OK") && out.stdout.contains("anchor at row 6: OK"),
        "{}",
        out.stdout
    );
    // One more row, prune again: the anchor at row 5 is now before the prune point.
    audit::record_alone(
        &db,
        NewAuditEntry {
            actor_user_uuid: None,
            action: ActionType::KeyRotate,
            target: Target::signing_key("k2"),
            metadata: serde_json::json!({}),
            request_id: None,
            created_at: 1_704_067_200_000,
        },
    )
    .await?;
    let out = env
        .run(&["audit", "prune", "--before", "2999-01-01"], None)
        .await?;
    ok(&out);
    let out = verify_anchor(env, &file).await?;
    ok(&out);
    assert!(
        out.stdout.contains("anchor at row 5: pruned before"),
        "{}",
        out.stdout
    );
    db.close().await;
    Ok(())
}

async fn cli_tampered_anchor_file_is_refused(env: &CliEnv) -> Result<()> {
    let db = seed(env).await?;
    let file = anchor_to_file(env).await?;
    let text = std::fs::read_to_string(&file)?;
    std::fs::write(&file, text.replace("\"seq\":5", "\"seq\":4"))?;
    let out = verify_anchor(env, &file).await?;
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("line 1: bad signature"),
        "{}",
        out.stderr
    );
    // Signed by another key than the configured one.
    std::fs::remove_file(&file)?;
    let other = "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc";
    let ring = keys().to_secret_string();
    let out = env
        .run_env(
            &["audit", "anchor", "--out", &file],
            None,
            &[
                ("RAMPART_AUDIT_KEY", &ring),
                ("RAMPART_AUDIT_ANCHOR_KEY", other),
            ],
        )
        .await?;
    ok(&out);
    let out = verify_anchor(env, &file).await?;
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("different key"), "{}", out.stderr);
    // A verifier given only that key's public half accepts it.
    let public = {
        let seed: [u8; 32] = [7; 32];
        audit::AnchorKey::from_seed(&seed).public().to_base64()
    };
    let out = env
        .run_env(
            &["audit", "verify", "--anchor", &file],
            None,
            &[
                ("RAMPART_AUDIT_KEY", &ring),
                ("RAMPART_AUDIT_ANCHOR_PUBLIC_KEY", &public),
            ],
        )
        .await?;
    ok(&out);
    db.close().await;
    Ok(())
}

async fn cli_production_requires_the_audit_keys(env: &CliEnv) -> Result<()> {
    let out = env
        .run_env(
            &["audit", "verify"],
            None,
            &[("RAMPART_MODE", "production")],
        )
        .await?;
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("RAMPART_AUDIT_KEY"), "{}", out.stderr);
    let out = env
        .run_env(
            &["audit", "verify"],
            None,
            &[
                ("RAMPART_MODE", "production"),
                ("RAMPART_AUDIT_KEY", "k1:c2hvcnRzZWNyZXR2YWx1ZQ"),
            ],
        )
        .await?;
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("RAMPART_AUDIT_KEY is invalid"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("c2hvcnRzZWNyZXR2YWx1ZQ"));
    let out = env
        .run_env(
            &["audit", "anchor"],
            None,
            &[("RAMPART_MODE", "production"), ("RAMPART_AUDIT_KEY", K1)],
        )
        .await?;
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("RAMPART_AUDIT_ANCHOR_KEY"),
        "{}",
        out.stderr
    );
    Ok(())
}

/// `rampart ledger reconcile`: OK on a consistent ledger; after a transaction's state
/// is changed behind the ledger's back, each anomaly is printed with the transaction's
/// ID and the exit status is non-zero.
async fn cli_ledger_reconcile_reports_anomalies(env: &CliEnv) -> Result<()> {
    use rampart_kernel::ids::{ItemId, StoreId};
    use rampart_kernel::{Currency, ManualClock, Money, UserId};
    use rampart_ledger::{EscrowEvent, Ledger, NewEscrow};
    keys();
    let db = env.db().await?;
    let ledger = Ledger::new(
        db.clone(),
        std::sync::Arc::new(ManualClock::new(1_704_067_200_000)),
        250,
    )?;
    let v = ledger
        .create(
            NewEscrow {
                buyer: UserId::generate(),
                store: StoreId::generate(),
                item: ItemId::generate(),
                quantity: 1,
                unit_price: Money::new(1_999, Currency::parse("EUR")?),
                release_after_ms: 14 * 86_400_000,
            },
            None,
            None,
        )
        .await?;
    ledger.apply(&v.id, EscrowEvent::Fund, None, None).await?;
    let out = env.run(&["ledger", "reconcile"], None).await?;
    ok(&out);
    assert!(out.stdout.contains("ledger OK"), "{:?}", out.stdout);
    exec(
        &db,
        &format!(
            "UPDATE escrow_transactions SET state = 'completed' WHERE id = '{}'",
            v.id
        ),
    )
    .await?;
    db.close().await;
    let out = env.run(&["ledger", "reconcile"], None).await?;
    assert_eq!(
        out.code, 1,
        "stdout: {}\nstderr: {}",
        out.stdout, out.stderr
    );
    assert!(out.stdout.contains("ledger BROKEN"), "{:?}", out.stdout);
    assert!(
        out.stdout
            .lines()
            .any(|l| l.starts_with("ANOMALY:") && l.contains(v.id.as_str())),
        "{:?}",
        out.stdout
    );
    Ok(())
}
