//! `rampart audit verify|prune` run as the real binary against a SQLite data
//! directory and (when `RAMPART_TEST_DATABASE_URL` is set) a fresh PostgreSQL schema.

use anyhow::{Context, Result};
use rampart_audit::{self as audit, ActionType, NewAuditEntry, Target};
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

    /// Runs `rampart ARGS` with `stdin`, waiting for it off the async runtime.
    async fn run(&self, args: &[&str], stdin: Option<&str>) -> Result<Out> {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rampart"));
        cmd.args(args)
            .current_dir(&self.dir.0)
            .env("RAMPART_DATA_DIR", &self.dir.0)
            .env("RAMPART_LOG", "warn")
            .env_remove("RAMPART_CONFIG")
            .env_remove("RAMPART_DATABASE_URL")
            .env_remove("RAMPART_REDIS_URL")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(u) = &self.database_url {
            cmd.env("RAMPART_DATABASE_URL", u);
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
);

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

    // A forged row appended with a made-up hash.
    exec(
        &db,
        &format!(
            "INSERT INTO audit_log (seq, id, actor_user_uuid, action_type, target_type, target_id, metadata, \
             created_at, request_id, prev_hash, hash) VALUES (3, 'forged', NULL, 'refund', 'order', 'o1', '{{}}', 1, NULL, \
             '{}', '{}')",
            row3.prev_hash,
            "ab".repeat(32)
        ),
    )
    .await?;
    verify_broken(env, "row 3 was modified").await?;
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
