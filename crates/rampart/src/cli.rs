//! Command-line interface: `serve`, `worker`, `migrate`, `admin create`, `keys`,
//! `audit verify|prune|anchor`, `ledger reconcile`.

use crate::config::Config;
use crate::{logging, secrets, server};
use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use rampart_audit::{self as audit, ActionType, NewAuditEntry, Target};
use rampart_identity::accounts::{create_account, NewAccount};
use rampart_identity::password::{check_new_password, HashParams, PasswordHasher};
use rampart_identity::AuthError;
use rampart_identity::SecretString;
use rampart_kernel::account::Role;
use rampart_kernel::{Clock, Email, SystemClock, Username};
use std::io::{BufRead, IsTerminal};
use std::sync::Arc;

/// Rampart: a marketplace and storefront backend, secure by default.
#[derive(Debug, Parser)]
#[command(name = "rampart", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (migrates the database first). With
    /// `RAMPART_WORKER_IN_PROCESS=true` (the default) it also runs the worker.
    Serve,
    /// Run the worker alone: carries out release/cancel intents exactly once and
    /// runs the scheduled jobs (auto-release, pruning, reconciliation). Expects a
    /// migrated database (`rampart migrate`); any number may run beside each other
    /// and beside servers. Stops on SIGINT/SIGTERM after the intent in hand.
    Worker,
    /// Apply database migrations and exit.
    Migrate,
    /// Administrative accounts.
    Admin {
        /// Sub-command.
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Signing keys for access tokens.
    Keys {
        /// Sub-command.
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// The tamper-evident audit log.
    Audit {
        /// Sub-command.
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// The double-entry ledger behind escrow.
    Ledger {
        /// Sub-command.
        #[command(subcommand)]
        command: LedgerCommand,
    },
}

/// `rampart ledger …`.
#[derive(Debug, Subcommand)]
pub enum LedgerCommand {
    /// Prove every entry and account balances, the ledger sums to zero per currency
    /// and each transaction's state agrees with its postings; print each anomaly
    /// with its IDs and exit non-zero on any.
    Reconcile,
}

/// `rampart admin …`.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create a super-admin. The password is read from a prompt (or one line of
    /// standard input when it is not a terminal), never from the command line.
    Create {
        /// Username (3–32 of a-z 0-9 _ . -).
        #[arg(long)]
        username: String,
        /// Optional e-mail address.
        #[arg(long)]
        email: Option<String>,
    },
}

/// `rampart keys …`.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List keys with their state (active, retained, revoked).
    List,
    /// Make a new active key; the previous one keeps validating until the tokens it
    /// signed have expired.
    Rotate,
    /// Emergency: revoke a key at once; every token it signed fails on its next use.
    Revoke {
        /// The key ID (`kid`).
        kid: String,
    },
}

/// `rampart audit …`.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Walk the hash chain and report the first tampered, deleted or inserted row.
    Verify {
        /// Also check the signed checkpoints in FILE (written by `audit anchor`): each
        /// anchored row must still be on the chain with its hash, and the head at or
        /// past it.
        #[arg(long, value_name = "FILE")]
        anchor: Option<std::path::PathBuf>,
    },
    /// Verify the chain and emit a signed checkpoint of its head (seq, hash, time,
    /// key id) as one JSON line, appended to FILE or printed; keep it outside the
    /// database.
    Anchor {
        /// Append to this file instead of printing.
        #[arg(long, value_name = "FILE")]
        out: Option<std::path::PathBuf>,
    },
    /// Delete rows created before DATE, keeping an anchor so the rest still verifies.
    Prune {
        /// `YYYY-MM-DD` (UTC midnight) or an RFC 3339 timestamp.
        #[arg(long)]
        before: String,
    },
}

/// Runs a parsed command.
pub async fn run(cli: Cli) -> Result<()> {
    let cfg = Config::load()?;
    logging::init(&cfg.log_level, &cfg.log_format);
    match cli.command {
        Command::Serve => serve(cfg).await,
        Command::Worker => worker(cfg).await,
        Command::Migrate => {
            server::migrate_db(&cfg).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::Admin {
            command: AdminCommand::Create { username, email },
        } => admin_create(&cfg, &username, email.as_deref()).await,
        Command::Keys { command } => keys_command(&cfg, command).await,
        Command::Audit { command } => match command {
            AuditCommand::Verify { anchor } => audit_verify(&cfg, anchor.as_deref()).await,
            AuditCommand::Anchor { out } => audit_anchor(&cfg, out.as_deref()).await,
            AuditCommand::Prune { before } => audit_prune(&cfg, &before).await,
        },
        Command::Ledger {
            command: LedgerCommand::Reconcile,
        } => ledger_reconcile(&cfg).await,
    }
}

async fn serve(cfg: Config) -> Result<()> {
    let started = std::time::Instant::now();
    let secrets = secrets::load(&cfg)?;
    cfg.check_for_serving()?;
    let db = server::open_db(&cfg).await?;
    server::check_database_role(&cfg, &db).await?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let state = server::build_state(&cfg, &secrets, db.clone(), clock.clone()).await?;
    let mail = server::spawn_mail_delivery(&cfg, db, clock.clone())?;
    let metrics = match cfg.metrics_bind {
        Some(bind) => {
            let (addr, task) = server::start_metrics(
                &state,
                &cfg.listener,
                bind,
                secrets.metrics_token.as_deref(),
            )
            .await?;
            tracing::info!(addr = %addr, bearer = secrets.metrics_token.is_some(), "metrics listener ready");
            Some(task)
        }
        None => None,
    };
    let worker = if cfg.worker.in_process {
        let w = server::build_worker(
            &cfg,
            state.db.clone(),
            state.market.ledger().clone(),
            clock.clone(),
            state.metrics.clone(),
            // Through this server's checkout the worker settles refunds decided on the
            // ledger (disputes, cancels) at the provider and retries unfinished webhook
            // deliveries (the sandbox's intents live in this process).
            Some(state.checkout.clone()),
        );
        let (stop, task) = w.spawn();
        // Stop it on the same signal that stops the server (every signal listener
        // is woken), so the intent in hand finishes while the database is open.
        let (ended_tx, ended_rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            tokio::select! {
                _ = server::signal() => {}
                _ = ended_rx => {}
            }
            let _ = stop.send(true);
        });
        Some((ended_tx, task))
    } else {
        None
    };
    let running = server::start(state, &cfg, true).await?;
    tracing::info!(
        mail_delivery = mail.is_some(),
        worker_in_process = worker.is_some(),
        url = %running.url(),
        database = running.state.db.engine_name(),
        limiter = running.state.limiter.backend_name(),
        startup_ms = started.elapsed().as_millis() as u64,
        "server ready"
    );
    println!("listening on {}", running.url());
    let r = running.wait().await;
    if let Some((ended, task)) = worker {
        // Finish the intent in hand; one cut off is retried after its lease.
        let _ = ended.send(());
        let _ = tokio::time::timeout(std::time::Duration::from_secs(10), task).await;
    }
    if let Some(m) = mail {
        // A message in flight keeps its claim and is sent again after the lease.
        m.abort();
    }
    if let Some(t) = metrics {
        t.abort();
    }
    r
}

/// `rampart worker`: the worker alone, until SIGINT/SIGTERM.
async fn worker(cfg: Config) -> Result<()> {
    // Audit rows (release_request, escrow_release…) are chained with the key ring.
    secrets::load_audit_keys(&cfg)?;
    let db = server::open_db_migrated(&cfg).await?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let metrics = Arc::new(rampart_security::metrics::Metrics::new());
    let ledger = rampart_ledger::Ledger::new(db.clone(), clock.clone(), cfg.platform_fee_bps)
        .context("platform fee")?;
    let metrics_task = match cfg.metrics_bind {
        Some(bind) => {
            let token = secrets::metrics_token(&cfg)?;
            let (addr, task) =
                server::start_metrics_for(metrics.clone(), &cfg.listener, bind, token.as_deref())
                    .await?;
            tracing::info!(addr = %addr, "metrics listener ready");
            Some(task)
        }
        None => None,
    };
    // With a real provider the standalone worker settles ledger refunds of checkout
    // orders at the provider and retries unfinished webhook deliveries; the sandbox
    // keeps its intents in the serving process, so there the in-process worker does.
    let checkout = if cfg.checkout.provider == "sandbox" {
        tracing::info!(
            "refund settlement and webhook retries run in the serving process (sandbox provider)"
        );
        None
    } else {
        let (c, _, _) = server::build_checkout(&cfg, db.clone(), clock.clone(), ledger.clone())?;
        Some(Arc::new(c))
    };
    let w = server::build_worker(&cfg, db.clone(), ledger, clock, metrics, checkout);
    tracing::info!(
        worker = %w.config().worker_id,
        database = db.engine_name(),
        "worker ready"
    );
    println!("worker {} running", w.config().worker_id);
    let (stop, task) = w.spawn();
    server::signal().await;
    let _ = stop.send(true);
    let _ = tokio::time::timeout(std::time::Duration::from_secs(30), task).await;
    if let Some(t) = metrics_task {
        t.abort();
    }
    db.close().await;
    Ok(())
}

/// Reads a password without echo (terminal) or as one stdin line (scripts).
fn read_password() -> Result<SecretString> {
    if std::io::stdin().is_terminal() {
        let p1 = rpassword::prompt_password("Password: ")?;
        let p2 = rpassword::prompt_password("Repeat password: ")?;
        if p1 != p2 {
            bail!("the passwords do not match");
        }
        Ok(SecretString::new(p1))
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        Ok(SecretString::new(
            line.trim_end_matches(['\r', '\n']).to_owned(),
        ))
    }
}

async fn admin_create(cfg: &Config, username: &str, email: Option<&str>) -> Result<()> {
    let username = Username::parse("username", username)
        .map_err(|e| anyhow::anyhow!("username: {}", e.code))?;
    let email = email
        .map(|e| Email::parse("email", e).map_err(|e| anyhow::anyhow!("email: {}", e.code)))
        .transpose()?;
    let password = read_password()?;
    let mut inputs = vec![username.as_str()];
    if let Some(e) = &email {
        inputs.push(e.as_str());
    }
    if let Err(issues) = check_new_password(password.expose(), &inputs) {
        let codes: Vec<&str> = issues.iter().map(|i| i.code()).collect();
        bail!("password refused: {} (use at least 8 characters that are hard to guess, e.g. four random words)", codes.join(", "));
    }
    secrets::load_audit_keys(cfg)?;
    let db = server::open_db(cfg).await?;
    let hasher = PasswordHasher::new(HashParams::default(), 1, 0)?;
    let phc = hasher.hash(&password).await?;
    let now = SystemClock.now_ms();
    let id = match create_account(
        &db,
        NewAccount {
            username: &username,
            email: email.as_ref(),
            email_verified: true,
            password_hash: &phc,
            role: Role::SuperAdmin,
            now,
        },
        None,
    )
    .await
    {
        Ok(id) => id,
        Err(AuthError::Conflict(_)) => {
            bail!("an account with that username or e-mail already exists")
        }
        Err(e) => bail!("could not create the account: {e}"),
    };
    db.close().await;
    println!(
        "created super-admin {username} ({id}); enrol two-factor authentication at first sign-in"
    );
    Ok(())
}

/// Reads and checks every line of an anchor file; any unsigned, edited or foreign
/// line is refused.
fn read_anchors(cfg: &Config, path: &std::path::Path) -> Result<Vec<audit::Checkpoint>> {
    let public = secrets::anchor_public_key(cfg)?;
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read anchor file {}", path.display()))?;
    let mut anchors = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let cp = audit::Checkpoint::parse_signed(line.trim(), &public)
            .map_err(|e| anyhow::anyhow!("anchor file {} line {}: {e}", path.display(), i + 1))?;
        anchors.push(cp);
    }
    if anchors.is_empty() {
        bail!("anchor file {} holds no anchors", path.display());
    }
    Ok(anchors)
}

async fn audit_verify(cfg: &Config, anchor_file: Option<&std::path::Path>) -> Result<()> {
    let keys = secrets::load_audit_keys(cfg)?;
    let anchors = match anchor_file {
        Some(p) => read_anchors(cfg, p)?,
        None => Vec::new(),
    };
    let db = server::open_db(cfg).await?;
    let total = audit::count(&db).await?.max(0) as u64;
    let bar = if std::io::stderr().is_terminal() {
        indicatif::ProgressBar::new(total)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} rows ({per_sec})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let started = std::time::Instant::now();
    let report = audit::verify_with(&db, keys, &audit::anchor::wanted(&anchors), |n| {
        bar.set_position(n)
    })
    .await?;
    bar.finish_and_clear();
    db.close().await;
    let secs = started.elapsed().as_secs_f64();
    let findings = audit::anchor::check_anchors(&report, &anchors);
    let failed = findings.iter().filter(|f| f.is_failure()).count();
    match &report.first_break {
        None if failed == 0 => println!(
            "audit chain OK: {} rows verified in {:.2}s",
            report.rows, secs
        ),
        None => println!(
            "audit chain BROKEN: {failed} of {} anchors do not match (history rewritten or truncated)",
            anchors.len()
        ),
        Some(b) => println!("audit chain BROKEN: {b}"),
    }
    for f in &findings {
        println!("{f}");
    }
    if report.legacy_rows > 0 {
        println!(
            "note: {} rows (up to row {}) were written before the chain was keyed and use plain SHA-256; they are only as tamper-evident as before",
            report.legacy_rows, report.legacy_until
        );
    }
    if report.first_break.is_some() || failed > 0 {
        std::process::exit(1);
    }
    Ok(())
}

async fn ledger_reconcile(cfg: &Config) -> Result<()> {
    let db = server::open_db(cfg).await?;
    let report = rampart_ledger::reconcile(&db).await;
    db.close().await;
    let report = report?;
    for a in &report.anomalies {
        println!("ANOMALY: {a}");
    }
    if !report.is_clean() {
        println!(
            "ledger BROKEN: {} anomalies ({} accounts, {} transactions)",
            report.anomalies.len(),
            report.accounts,
            report.transactions
        );
        std::process::exit(1);
    }
    println!(
        "ledger OK: {} accounts and {} transactions reconcile",
        report.accounts, report.transactions
    );
    Ok(())
}

async fn audit_anchor(cfg: &Config, out: Option<&std::path::Path>) -> Result<()> {
    let keys = secrets::load_audit_keys(cfg)?;
    let key = secrets::anchor_key(cfg)?;
    let db = server::open_db(cfg).await?;
    let cp = audit::anchor::checkpoint(&db, keys, SystemClock.now_ms()).await?;
    db.close().await;
    let cp = match cp {
        Ok(cp) => cp,
        Err(b) => bail!("audit chain is broken ({b}); refusing to anchor it"),
    };
    let line = cp.sign(&key);
    tracing::info!(
        seq = cp.seq,
        head = %cp.head,
        kid = cp.kid.as_deref().unwrap_or(""),
        "audit anchor"
    );
    match out {
        None => println!("{line}"),
        Some(path) => {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("cannot open anchor file {}", path.display()))?;
            writeln!(f, "{line}")
                .and_then(|_| f.sync_all())
                .with_context(|| format!("cannot write anchor file {}", path.display()))?;
            println!(
                "anchored row {} ({}) to {}",
                cp.seq,
                cp.head,
                path.display()
            );
        }
    }
    Ok(())
}

/// Parses `YYYY-MM-DD` (UTC midnight) or RFC 3339 into Unix milliseconds.
pub fn parse_date_ms(s: &str) -> Result<i64> {
    use time::format_description::well_known::Rfc3339;
    if let Ok(t) = time::OffsetDateTime::parse(s, &Rfc3339) {
        return Ok((t.unix_timestamp_nanos() / 1_000_000) as i64);
    }
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    let d = time::Date::parse(s, &fmt)
        .with_context(|| format!("{s:?} is not YYYY-MM-DD or RFC 3339"))?;
    Ok(d.midnight().assume_utc().unix_timestamp() * 1000)
}

async fn audit_prune(cfg: &Config, before: &str) -> Result<()> {
    let before_ms = parse_date_ms(before)?;
    secrets::load_audit_keys(cfg)?;
    let db = server::open_db(cfg).await?;
    let removed = audit::prune(&db, before_ms, SystemClock.now_ms(), None).await?;
    db.close().await;
    println!("pruned {removed} audit rows; the chain keeps an anchor and still verifies");
    Ok(())
}

async fn keys_command(cfg: &Config, command: KeysCommand) -> Result<()> {
    let secrets = secrets::load(cfg)?;
    let db = server::open_db(cfg).await?;
    let metrics = Arc::new(rampart_security::metrics::Metrics::new());
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let auth = server::build_auth(cfg, &secrets, db.clone(), clock, metrics).await?;
    let now = SystemClock.now_ms();
    let ttl = auth.access_ttl_ms();
    let result = match command {
        KeysCommand::List => {
            println!(
                "{:<28} {:<9} {:<26} validate-until",
                "kid", "state", "created"
            );
            for k in rampart_identity::keys::list_keys(&db).await? {
                println!(
                    "{:<28} {:<9} {:<26} {}",
                    k.kid,
                    k.state,
                    fmt_ms(k.created_at),
                    k.validate_until.map(fmt_ms).unwrap_or_else(|| "-".into())
                );
            }
            Ok(())
        }
        KeysCommand::Rotate => {
            let kid = auth.keys().rotate(now, ttl).await?;
            record_key_action(&db, ActionType::KeyRotate, &kid, now).await?;
            println!("new active key {kid}; the previous key keeps validating for {} s; running servers pick it up within 5 s", ttl / 1000 + 60);
            Ok(())
        }
        KeysCommand::Revoke { kid } => {
            auth.keys().revoke(&kid, now, ttl).await?;
            record_key_action(&db, ActionType::KeyRevoke, &kid, now).await?;
            println!("revoked {kid}; running servers refuse its tokens within 5 s");
            Ok(())
        }
    };
    db.close().await;
    result
}

async fn record_key_action(
    db: &rampart_db::Db,
    action: ActionType,
    kid: &str,
    now: i64,
) -> Result<()> {
    audit::record_alone(
        db,
        NewAuditEntry {
            actor_user_uuid: None,
            action,
            target: Target::signing_key(kid),
            metadata: serde_json::json!({"via": "cli"}),
            request_id: None,
            created_at: now,
        },
    )
    .await?;
    Ok(())
}

fn fmt_ms(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(ms / 1000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| ms.to_string())
}
