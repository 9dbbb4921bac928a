//! Wiring: configuration + secrets → database, limiter and state → a listening server.

use crate::config::{Config, Mode};
use crate::listener::{self, ConnLimits, RedirectTarget, Serve, Timeouts};
use crate::secrets::Secrets;
use crate::tls::TlsState;
use anyhow::{bail, Context, Result};
use rampart_db::Db;
use rampart_identity::keys::{EncryptedAtRest, KeyManager};
use rampart_identity::password::{HashParams, PasswordHasher};
use rampart_identity::{AuthConfig, Identity, IdentityParts};
use rampart_kernel::Clock;
use rampart_security::client_ip::ProxyConfig;
use rampart_security::csrf::CsrfKey;
use rampart_security::events::SecurityEvents;
use rampart_security::metrics::Metrics;
use rampart_security::ratelimit::Limiter;
use rampart_web::ratelimit::Policies;
use rampart_web::state::{AppInner, AppState, WebConfig};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{oneshot, watch};

/// Connects to the configured database without migrating it, and refuses one whose
/// schema is behind this binary (`rampart worker`: migrations are a deploy step —
/// `rampart migrate` or `rampart serve` — not something every worker races to do).
pub async fn open_db_migrated(cfg: &Config) -> Result<Db> {
    let db = connect_app(cfg, 8).await?;
    let missing = db
        .pending_migrations()
        .await
        .context("reading the applied migrations")?;
    if !missing.is_empty() {
        db.close().await;
        anyhow::bail!(
            "the database is not migrated (missing migrations {missing:?}); run `rampart migrate` (or start `rampart serve`) first"
        );
    }
    Ok(db)
}

/// The worker for this configuration, counting in `metrics`; with `checkout` it
/// also settles ledger refunds of checkout orders at the payment provider and
/// retries unfinished webhook deliveries.
pub fn build_worker(
    cfg: &Config,
    db: Db,
    ledger: rampart_ledger::Ledger,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
    checkout: Option<Arc<rampart_checkout::service::Checkout>>,
) -> Arc<rampart_worker::Worker> {
    let w = &cfg.worker;
    let hours = 3_600_000_i64;
    let wc = rampart_worker::WorkerConfig {
        batch: w.batch,
        lease_ms: w.lease_secs.saturating_mul(1000),
        poll: Duration::from_millis(w.poll_ms),
        auto_release_every_ms: w.auto_release_every_secs.saturating_mul(1000),
        prune_every_ms: w.prune_every_secs.saturating_mul(1000),
        prune_retention_ms: w.prune_retention_days.saturating_mul(24 * hours),
        reconcile_every_ms: w.reconcile_every_secs.saturating_mul(1000),
        held_margin_ms: w.held_margin_hours.saturating_mul(hours),
        spike_threshold: w.spike_threshold,
        spike_window_ms: w.spike_window_hours.saturating_mul(hours),
        unpaid_expiry_ms: w.unpaid_expiry_mins.saturating_mul(60_000),
        test_delay: Duration::from_millis(w.test_delay_ms),
        ..rampart_worker::WorkerConfig::default()
    };
    if !wc.test_delay.is_zero() {
        tracing::warn!(
            delay_ms = w.test_delay_ms,
            "worker test hook on: each intent is delayed"
        );
    }
    let w = rampart_worker::Worker::new(db, ledger, clock, metrics, wc);
    Arc::new(match checkout {
        Some(c) => w.with_checkout(c),
        None => w,
    })
}

/// Applies pending migrations through `RAMPART_MIGRATION_DATABASE_URL` (the tables'
/// owner) when it is set, else through `RAMPART_DATABASE_URL`. Needs no application
/// role: the first `rampart migrate` is what creates the `rampart_app` group role.
pub async fn migrate_db(cfg: &Config) -> Result<()> {
    match &cfg.migration_database_url {
        Some(url) => migrate_as_owner(url).await.map(|_| ()),
        None => {
            let db = connect_app(cfg, 2).await?;
            let r = migrate_single(&db).await;
            db.close().await;
            r
        }
    }
}

/// Migrates through the owner's URL; returns where that landed (database, schema).
async fn migrate_as_owner(url: &str) -> Result<Option<rampart_db::RolePosture>> {
    let owner = Db::connect(url, 2)
        .await
        .context("connecting as the migration role (check RAMPART_MIGRATION_DATABASE_URL)")?;
    let r = async {
        owner
            .migrate()
            .await
            .context("running migrations through RAMPART_MIGRATION_DATABASE_URL")?;
        Ok(owner.role_posture().await?)
    }
    .await;
    owner.close().await;
    r
}

/// Migrates (see [`migrate_db`]), then connects the server's own pool through
/// `RAMPART_DATABASE_URL`. With two URLs, both must reach the same database and
/// schema.
pub async fn open_db(cfg: &Config) -> Result<Db> {
    let Some(url) = &cfg.migration_database_url else {
        let db = connect_app(cfg, 16).await?;
        migrate_single(&db).await?;
        return Ok(db);
    };
    let owner = migrate_as_owner(url).await?;
    let db = connect_app(cfg, 16).await?;
    let app = db.role_posture().await;
    if let (Ok(Some(a)), Some(o)) = (&app, owner) {
        if a.database == o.database && a.schema.is_empty() {
            db.close().await;
            bail!(
                "RAMPART_DATABASE_URL connects as {}, which may not use schema {}: make it a member of rampart_app (docs/configuration.md)",
                a.role,
                o.schema
            );
        }
        if a.database != o.database || a.schema != o.schema {
            db.close().await;
            bail!(
                "RAMPART_DATABASE_URL ({}.{}) and RAMPART_MIGRATION_DATABASE_URL ({}.{}) name different databases or schemas",
                a.database,
                a.schema,
                o.database,
                o.schema
            );
        }
    }
    app?;
    Ok(db)
}

async fn connect_app(cfg: &Config, max: u32) -> Result<Db> {
    Db::connect(&cfg.database_url, max)
        .await
        .context("connecting to the database (check RAMPART_DATABASE_URL)")
}

/// One URL for both: migrate through it — unless on PostgreSQL it is a role that does
/// not own the tables and nothing is pending (the owner migrated with `rampart
/// migrate`; this role could not run DDL anyway).
async fn migrate_single(db: &Db) -> Result<()> {
    if let Some(p) = db.role_posture().await? {
        if !p.superuser && p.owns_rls_tables.is_empty() && db.pending_migrations().await?.is_empty()
        {
            return Ok(());
        }
    }
    db.migrate().await.context(
        "running migrations (a role that does not own the tables cannot: set RAMPART_MIGRATION_DATABASE_URL to the owner's URL)",
    )
}

/// F4: the server's database role must be bound by row-level security — not a
/// superuser, not `BYPASSRLS`, not the tables' owner. Production refuses to start
/// otherwise; development logs a warning (single-URL local set-ups keep working).
/// SQLite has no roles: nothing to check.
pub async fn check_database_role(cfg: &Config, db: &Db) -> Result<()> {
    let Some(p) = db
        .role_posture()
        .await
        .context("reading the database role's attributes")?
    else {
        return Ok(());
    };
    if !p.bypasses_rls() {
        tracing::info!(role = %p.role, "database role is bound by row-level security");
        return Ok(());
    }
    let why = p.reasons().join("; ");
    if cfg.mode == Mode::Production {
        bail!(
            "RAMPART_DATABASE_URL connects as a role that row-level security does not bind ({why}); \
             connect as a login role that is a member of rampart_app and migrate through \
             RAMPART_MIGRATION_DATABASE_URL (docs/configuration.md)"
        );
    }
    tracing::warn!(
        reasons = %why,
        "row-level security does not bind the server's database role; production refuses to start like this (docs/design/row-level-security.md)"
    );
    Ok(())
}

/// Builds the shared state.
pub async fn build_state(
    cfg: &Config,
    secrets: &Secrets,
    db: Db,
    clock: Arc<dyn Clock>,
) -> Result<AppState> {
    let metrics = Arc::new(Metrics::new());
    let limiter = match &cfg.redis_url {
        Some(url) => Limiter::redis(url, &cfg.redis_prefix)
            .await
            .context("connecting to Redis (RAMPART_REDIS_URL)")?,
        None => Limiter::memory(),
    };
    let mut policies = Policies::defaults();
    for (name, o) in &cfg.rate_limits {
        // Configuration names a policy by text; an unknown name stops start-up.
        let policy: rampart_security::ratelimit::PolicyName = name
            .parse()
            .map_err(|e| anyhow::anyhow!("[rate_limits]: {e}"))?;
        policies.set(policy, o.limit, o.window_secs.saturating_mul(1000));
    }
    let csrf = CsrfKey::new(&secrets.csrf_key).context("CSRF key too short")?;
    let auth =
        Arc::new(build_auth(cfg, secrets, db.clone(), clock.clone(), metrics.clone()).await?);
    // Resolves queued password-reset requests off the request path.
    auth.spawn_reset_worker();
    let web = WebConfig {
        public_origin: cfg.public_origin.clone(),
        trusted_origins: cfg.trusted_origins.clone(),
        cors_origins: cfg.cors_origins.clone(),
        hsts: cfg.behind_tls || cfg.listener.tls.is_some(),
        secure_cookies: cfg.secure_cookies,
        proxy: ProxyConfig {
            trusted_proxies: cfg.trusted_proxies.clone(),
            header: cfg.proxy_header.clone(),
        },
        body_limit_bytes: cfg.body_limit_bytes,
        request_timeout: Duration::from_secs(cfg.request_timeout_secs),
        production: cfg.mode == Mode::Production,
        ws_allowed_origins: cfg.ws_allowed_origins.clone(),
        ws_allow_no_origin: cfg.ws_allow_no_origin,
        realtime: rampart_web::realtime::RealtimeConfig::default(),
    };
    let ledger = rampart_ledger::Ledger::new(db.clone(), clock.clone(), cfg.platform_fee_bps)
        .context("platform fee")?;
    let (checkout, webhooks, sandbox_secret) =
        build_checkout(cfg, db.clone(), clock.clone(), ledger.clone())?;
    // Completion checks the rules on account facts again (subscription eligibility).
    let checkout = checkout.with_accounts(Arc::new(IdentityAccounts {
        auth: auth.clone(),
        clock: clock.clone(),
    }));
    let realtime = Arc::new(rampart_web::realtime::Hub::new(
        web.realtime.clone(),
        metrics.clone(),
    ));
    // Every revocation this process makes closes the sockets it authenticated, here
    // and (through the bus) on the other instances.
    let hub = realtime.clone();
    auth.on_revoke(Arc::new(move |r| hub.revoked(r)));
    Ok(AppState(Arc::new(AppInner {
        market: Arc::new(rampart_marketplace::Marketplace::new(
            db.clone(),
            clock.clone(),
            ledger,
        )),
        checkout: Arc::new(checkout),
        webhooks,
        sandbox_secret,
        sandbox_sender: std::sync::OnceLock::new(),
        messaging: Arc::new(rampart_messaging::Messaging::new(db.clone(), clock.clone())),
        trust: Arc::new(rampart_trust::Trust::new(db.clone(), clock.clone())),
        db,
        config: web,
        clock,
        events: SecurityEvents::new(metrics.clone()),
        metrics,
        csrf,
        limiter,
        policies,
        auth,
        realtime,
        openapi: std::sync::OnceLock::new(),
    })))
}

/// The checkout's view of identity's accounts (the checkout context does not depend
/// on identity; the binary joins them).
struct IdentityAccounts {
    auth: Arc<Identity>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for IdentityAccounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IdentityAccounts")
    }
}

impl rampart_checkout::service::AccountSource for IdentityAccounts {
    fn facts<'a>(
        &'a self,
        user: &'a rampart_kernel::UserId,
    ) -> std::pin::Pin<
        Box<
            dyn std::future::Future<
                    Output = Result<Option<rampart_checkout::service::AccountFacts>, String>,
                > + Send
                + 'a,
        >,
    > {
        Box::pin(async move {
            let a = self
                .auth
                .account(user.as_str())
                .await
                .map_err(|e| e.to_string())?;
            Ok(a.map(|a| {
                let age_ms = self.clock.now_ms().saturating_sub(a.created_at).max(0);
                rampart_checkout::service::AccountFacts {
                    email_verified: a.email_verified,
                    account_age_days: u32::try_from(age_ms / 86_400_000).unwrap_or(u32::MAX),
                }
            }))
        })
    }
}

/// What [`build_checkout`] makes: the service, one webhook verifier per provider,
/// and the secret the sandbox signs its deliveries with.
pub type BuiltCheckout = (
    rampart_checkout::service::Checkout,
    Vec<(
        rampart_checkout::payment::ProviderKind,
        rampart_checkout::webhook::SignatureVerifier,
    )>,
    Option<rampart_checkout::webhook::WebhookSecret>,
);

/// The checkout service and its webhook verifiers: the provider adapter chosen by
/// configuration (the sandbox by default; Stripe with its secret key from
/// `RAMPART_STRIPE_SECRET_KEY` or `…_FILE`), the rules compiled once (a bad rule stops
/// start-up), and the webhook secrets (a random one per process for the sandbox when
/// none is configured).
pub fn build_checkout(
    cfg: &Config,
    db: Db,
    clock: Arc<dyn Clock>,
    ledger: rampart_ledger::Ledger,
) -> Result<BuiltCheckout> {
    use rampart_checkout::payment::{AnyProvider, ProviderKind};
    use rampart_checkout::webhook::{SignatureVerifier, WebhookSecret};
    let c = &cfg.checkout;
    let kind = ProviderKind::parse(&c.provider)
        .ok_or_else(|| anyhow::anyhow!("RAMPART_PAYMENT_PROVIDER must be sandbox or stripe"))?;
    let provider = match kind {
        ProviderKind::Sandbox => AnyProvider::Sandbox(
            rampart_checkout::payment::sandbox::Sandbox::new(clock.clone()),
        ),
        ProviderKind::Stripe => {
            let key = crate::secrets::from_env("STRIPE_SECRET_KEY")?.ok_or_else(|| {
                anyhow::anyhow!(
                    "RAMPART_STRIPE_SECRET_KEY (or _FILE) is required with the stripe provider"
                )
            })?;
            let key = rampart_checkout::payment::stripe::SecretKey::parse(&key).map_err(|_| {
                anyhow::anyhow!("RAMPART_STRIPE_SECRET_KEY is not a Stripe secret key")
            })?;
            let transport = match &c.stripe_api_base {
                Some(base) => rampart_checkout::payment::http::HttpsTransport::new(
                    base,
                    Duration::from_secs(30),
                ),
                None => rampart_checkout::payment::http::HttpsTransport::stripe(),
            }
            .map_err(|e| anyhow::anyhow!("Stripe transport: {e}"))?;
            AnyProvider::Stripe(rampart_checkout::payment::stripe::Stripe::new(
                key,
                c.stripe_api_version.clone(),
                transport,
            ))
        }
    };
    let mut secrets = c
        .webhook_secrets
        .iter()
        .map(|s| WebhookSecret::parse(s))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| anyhow::anyhow!("RAMPART_PAYMENT_WEBHOOK_SECRETS: a secret is malformed"))?;
    if secrets.is_empty() {
        if kind == ProviderKind::Stripe {
            bail!("RAMPART_PAYMENT_WEBHOOK_SECRETS is required with the stripe provider");
        }
        let random = format!("whsec_{}", rampart_identity::tokens::random_token("").0);
        secrets.push(WebhookSecret::parse(&random).map_err(|_| anyhow::anyhow!("webhook secret"))?);
    }
    let sandbox_secret = (kind == ProviderKind::Sandbox).then(|| secrets[0].clone());
    let verifier = SignatureVerifier::new(secrets, clock.clone())
        .map_err(|e| anyhow::anyhow!("webhook secrets: {e}"))?;
    let rules = rampart_checkout::rules::Rules::compile(c.rules.clone())
        .map_err(|e| anyhow::anyhow!("RAMPART_CHECKOUT_RULES: {e}"))?;
    let checkout = rampart_checkout::service::Checkout::new(
        db,
        clock,
        ledger,
        Arc::new(provider),
        Arc::new(rules),
        rampart_checkout::cart::CartLimits::default(),
    );
    Ok((checkout, vec![(kind, verifier)], sandbox_secret))
}

/// Starts the sandbox's webhook sender towards this server's own webhook URL (plain
/// HTTP on the bound address; not with TLS termination, where the sandbox is for
/// development only anyway).
fn spawn_sandbox_sender(
    state: &AppState,
    cfg: &Config,
    addr: SocketAddr,
) -> Option<tokio::task::JoinHandle<()>> {
    if !cfg.checkout.sandbox_webhooks || cfg.listener.tls.is_some() {
        return None;
    }
    let secret = state.sandbox_secret.clone()?;
    let mut target = addr;
    if target.ip().is_unspecified() {
        target.set_ip(std::net::IpAddr::from([127, 0, 0, 1]));
    }
    let source: Arc<rampart_checkout::sender::SandboxRef> = Arc::new(ProviderRef(state.clone()));
    let (handle, task) = rampart_checkout::sender::spawn(
        source,
        state.clock.clone(),
        rampart_checkout::sender::SenderConfig {
            addr: target,
            path: "/v1/webhooks/payments/sandbox".into(),
            secret,
            plan: Default::default(),
            poll: Duration::from_millis(50),
        },
    );
    let _ = state.sandbox_sender.set(handle);
    Some(task)
}

struct ProviderRef(AppState);

impl rampart_checkout::sender::SandboxSource for ProviderRef {
    fn sandbox(&self) -> Option<&rampart_checkout::payment::sandbox::Sandbox> {
        rampart_checkout::sender::SandboxSource::sandbox(self.0.checkout.provider())
    }
}

/// The identity service for this configuration.
pub async fn build_auth(
    cfg: &Config,
    secrets: &Secrets,
    db: Db,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
) -> Result<Identity> {
    let keys = match secrets.signing_key_file {
        Some(k) => KeyManager::from_static(db.clone(), k),
        None => KeyManager::new(
            db.clone(),
            Arc::new(EncryptedAtRest(secrets.encryption.clone())),
        ),
    };
    let auth_cfg = AuthConfig {
        access_ttl_secs: cfg.access_token_ttl_secs,
        refresh_ttl_secs: cfg.refresh_token_ttl_secs,
        refresh_grace_secs: cfg.refresh_grace_secs,
        max_sessions: cfg.max_sessions,
        pat_default_ttl_days: cfg.pat_default_ttl_days,
        pat_max_ttl_days: cfg.pat_max_ttl_days,
        invite_required: cfg.invite_required,
        revocation_cache_ms: cfg.revocation_cache_ms,
        public_origin: cfg.public_origin.clone().unwrap_or_else(|| {
            let scheme = if cfg.behind_tls { "https" } else { "http" };
            format!("{scheme}://{}", cfg.bind)
        }),
        ..AuthConfig::default()
    };
    let hasher = PasswordHasher::new(HashParams::default(), cfg.password_hash_concurrency, 64)?;
    let auth = Identity::new(IdentityParts {
        db,
        cfg: auth_cfg,
        clock: clock.clone(),
        hasher,
        keys,
        keyring: secrets.encryption.clone(),
        session_key: secrets.session_key.clone(),
        events: SecurityEvents::new(metrics),
    });
    auth.keys()
        .reload(clock.now_ms(), auth.access_ttl_ms())
        .await
        .context("loading signing keys")?;
    Ok(auth)
}

/// Starts delivering the outbox when an SMTP relay is configured (`RAMPART_SMTP_URL`);
/// without one, mail stays queued in the outbox. Configuration errors stop startup.
pub fn spawn_mail_delivery(
    cfg: &Config,
    db: Db,
    clock: Arc<dyn Clock>,
) -> Result<Option<tokio::task::JoinHandle<()>>> {
    let (Some(url), Some(from)) = (&cfg.smtp_url, &cfg.mail_from) else {
        return Ok(None);
    };
    let mut smtp =
        rampart_mail::smtp::SmtpConfig::from_url(url, from).context("RAMPART_SMTP_URL")?;
    smtp.ca_file = cfg.smtp_ca_file.clone();
    smtp.password =
        crate::secrets::from_env("SMTP_PASSWORD")?.map(rampart_mail::smtp::SmtpPassword::new);
    let mailer = rampart_mail::smtp::SmtpMailer::new(&smtp).context("SMTP configuration")?;
    tracing::info!(
        host = %smtp.host,
        port = smtp.port,
        tls = ?smtp.tls,
        auth = smtp.username.is_some(),
        "mail delivery on"
    );
    let deliverer =
        rampart_mail::Deliverer::new(db, mailer, clock, rampart_mail::DeliveryConfig::default());
    Ok(Some(deliverer.spawn()))
}

/// Keeps the signing keys fresh: reloads them every few seconds (so `rampart keys`
/// commands reach running servers) and rotates on the configured cadence.
fn spawn_key_maintenance(state: AppState, rotation_days: i64) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tick.tick().await;
            let auth = &state.auth;
            let now = auth.now();
            if rotation_days > 0 {
                if let Ok(Some(age)) = auth.keys().active_age_ms(now).await {
                    if age > rotation_days * 86_400_000 {
                        match auth.keys().rotate(now, auth.access_ttl_ms()).await {
                            Ok(kid) => tracing::info!(kid = %kid, "scheduled signing-key rotation"),
                            Err(e) => tracing::warn!(error = %e, "scheduled rotation failed"),
                        }
                    }
                }
            }
            if let Err(e) = auth.keys().reload(now, auth.access_ttl_ms()).await {
                tracing::warn!(error = %e, "reloading signing keys failed");
            }
        }
    })
}

/// A running server.
pub struct Running {
    /// The bound address.
    pub addr: SocketAddr,
    /// The plain-HTTP redirect listener's address, when one runs.
    pub redirect_addr: Option<SocketAddr>,
    /// Shared state (tests inspect it).
    pub state: AppState,
    /// Open-connection counters (tests inspect them).
    pub limits: Arc<ConnLimits>,
    tls: Option<Arc<TlsState>>,
    shutdown: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    maintenance: tokio::task::JoinHandle<()>,
}

impl Running {
    /// `http://addr`, or `https://addr` when terminating TLS.
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }
    /// Re-reads the TLS certificate and key, as SIGHUP does; on error the current
    /// pair keeps serving.
    pub fn reload_tls(&self) -> Result<()> {
        match &self.tls {
            Some(t) => t.reload(),
            None => anyhow::bail!("this server does not terminate TLS"),
        }
    }
    /// Stops accepting, finishes in-flight requests, closes the database.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.task).await;
        self.maintenance.abort();
        self.state.db.close().await;
    }
    /// Waits until the server ends (signal or error).
    pub async fn wait(self) -> Result<()> {
        let r = self.task.await.context("server task")?;
        self.maintenance.abort();
        self.state.db.close().await;
        r.context("serving")
    }
}

/// Binds and serves with `cfg.listener` (timeouts, connection caps, TLS, redirect
/// listener); `shutdown_on_signal` also stops on SIGINT/SIGTERM and reloads the TLS
/// files on SIGHUP.
pub async fn start(state: AppState, cfg: &Config, shutdown_on_signal: bool) -> Result<Running> {
    let lc = &cfg.listener;
    let tls = match &lc.tls {
        Some(files) => Some(Arc::new(TlsState::load(files)?)),
        None => None,
    };
    let file_limit = listener::raise_file_limit();
    let max_connections = listener::effective_max_connections(lc.max_connections, file_limit);
    tracing::info!(
        file_limit = file_limit.unwrap_or(0),
        max_connections,
        max_connections_per_ip = lc.max_connections_per_ip,
        header_read_timeout_secs = lc.header_read_timeout.as_secs(),
        idle_timeout_secs = lc.idle_timeout.as_secs(),
        tls = tls.is_some(),
        "connection limits"
    );
    let limits = Arc::new(ConnLimits::new(
        lc.max_connections_per_ip,
        max_connections,
        cfg.trusted_proxies.clone(),
    ));
    let timeouts = Timeouts {
        header_read: lc.header_read_timeout,
        idle: lc.idle_timeout,
    };
    let (app, _) = rampart_web::build(state.clone());
    let bind = cfg.bind;
    let tcp = tokio::net::TcpListener::bind(bind)
        .await
        .with_context(|| format!("binding {bind}"))?;
    let addr = tcp.local_addr()?;
    let redirect = match lc.http_redirect_bind {
        Some(rb) => Some(
            tokio::net::TcpListener::bind(rb)
                .await
                .with_context(|| format!("binding RAMPART_HTTP_REDIRECT_BIND {rb}"))?,
        ),
        None => None,
    };
    let redirect_addr = redirect.as_ref().map(|l| l.local_addr()).transpose()?;
    let sender = spawn_sandbox_sender(&state, cfg, addr);
    let maintenance = spawn_key_maintenance(state.clone(), cfg.key_rotation_days);
    rampart_web::realtime::bus::start(&state)
        .await
        .context("starting the real-time bus (LISTEN on PostgreSQL)")?;
    let (tx, rx) = oneshot::channel::<()>();
    let (stop_tx, stop_rx) = watch::channel(false);
    // In-flight requests get their own timeout plus a little to finish on shutdown.
    let grace = Duration::from_secs(cfg.request_timeout_secs.saturating_add(5));
    let mut tasks = vec![tokio::spawn(listener::run(
        tcp,
        Serve::App {
            app,
            tls: tls.clone(),
        },
        limits.clone(),
        timeouts,
        state.metrics.clone(),
        stop_rx.clone(),
        grace,
    ))];
    if let Some(r) = redirect {
        let target = RedirectTarget {
            origin: cfg
                .public_origin
                .clone()
                .filter(|o| o.starts_with("https://")),
            https_port: addr.port(),
        };
        tasks.push(tokio::spawn(listener::run(
            r,
            Serve::Redirect(Arc::new(target)),
            limits.clone(),
            timeouts,
            state.metrics.clone(),
            stop_rx,
            grace,
        )));
    }
    if shutdown_on_signal {
        if let Some(t) = &tls {
            spawn_tls_reload_on_hangup(t.clone());
        }
    }
    let hub = state.realtime.clone();
    let task = tokio::spawn(async move {
        if shutdown_on_signal {
            tokio::select! {
                _ = rx => {},
                _ = signal() => {},
            }
        } else {
            let _ = rx.await;
        }
        let _ = stop_tx.send(true);
        if let Some(s) = sender {
            s.abort();
        }
        // Open WebSockets are long-lived: close them (1001) so the drain below ends.
        hub.shutdown();
        for t in tasks {
            let _ = t.await;
        }
        Ok(())
    });
    Ok(Running {
        addr,
        redirect_addr,
        state,
        limits,
        tls,
        shutdown: Some(tx),
        task,
        maintenance,
    })
}

/// SIGHUP re-reads the certificate and key (certbot/ACME renewals). The handler is
/// installed before `start` returns, so a SIGHUP right after "listening" cannot hit
/// the default action (terminate).
fn spawn_tls_reload_on_hangup(tls: Arc<TlsState>) {
    #[cfg(unix)]
    {
        let mut hup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGHUP; TLS files are not reloaded");
                return;
            }
        };
        tokio::spawn(async move {
            while hup.recv().await.is_some() {
                match tls.reload() {
                    Ok(()) => tracing::info!("TLS certificate reloaded"),
                    Err(e) => tracing::error!(
                        error = %format!("{e:#}"),
                        "TLS reload failed; the previous certificate keeps serving"
                    ),
                }
            }
        });
    }
    #[cfg(not(unix))]
    let _ = tls;
}

/// Serves `GET /metrics` on its own listener (never the public port); with `token`
/// it needs `Authorization: Bearer <token>`. Returns the bound address and the task.
pub async fn start_metrics(
    state: &AppState,
    lc: &crate::listener::ListenerConfig,
    bind: SocketAddr,
    token: Option<&str>,
) -> Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    start_metrics_for(state.metrics.clone(), lc, bind, token).await
}

/// [`start_metrics`] for a process without an app state (`rampart worker`).
pub async fn start_metrics_for(
    metrics: Arc<Metrics>,
    lc: &crate::listener::ListenerConfig,
    bind: SocketAddr,
    token: Option<&str>,
) -> Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let app = rampart_web::metrics_endpoint::router(metrics.clone(), token);
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .with_context(|| format!("binding the metrics listener {bind}"))?;
    let addr = listener.local_addr()?;
    // The same accept loop as the public port: header-read and idle timeouts, the
    // head-size cap and its own connection caps, so a flood here cannot use up the
    // process's file descriptors and take the public listener down.
    let limits = Arc::new(ConnLimits::new(
        lc.max_connections_per_ip,
        METRICS_MAX_CONNECTIONS,
        Vec::new(),
    ));
    let timeouts = Timeouts {
        header_read: lc.header_read_timeout,
        idle: lc.idle_timeout,
    };
    // Never signalled: the task is aborted when the server stops.
    let (_keep, stop_rx) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(async move {
        let _keep = _keep;
        listener::run(
            listener,
            Serve::Router(app),
            limits,
            timeouts,
            metrics,
            stop_rx,
            Duration::from_secs(1),
        )
        .await;
    });
    Ok((addr, task))
}

/// Connections the metrics listener holds at once (scrapers need one or two).
const METRICS_MAX_CONNECTIONS: usize = 64;

/// SIGINT or SIGTERM.
pub(crate) async fn signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown signal received");
}
