//! Wiring: configuration + secrets → database, limiter and state → a listening server.

use crate::config::{Config, Mode};
use crate::secrets::Secrets;
use anyhow::{Context, Result};
use axum::ServiceExt as _;
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
use tokio::sync::oneshot;

/// Connects and migrates the configured database.
pub async fn open_db(cfg: &Config) -> Result<Db> {
    let db = Db::connect(&cfg.database_url, 16)
        .await
        .context("connecting to the database (check RAMPART_DATABASE_URL)")?;
    db.migrate().await.context("running migrations")?;
    Ok(db)
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
        if !policies.set(name, o.limit, o.window_secs.saturating_mul(1000)) {
            anyhow::bail!(
                "[rate_limits] names an unknown policy {name:?}; known: {}",
                policies.0.keys().copied().collect::<Vec<_>>().join(", ")
            );
        }
    }
    let csrf = CsrfKey::new(&secrets.csrf_key).context("CSRF key too short")?;
    let auth =
        Arc::new(build_auth(cfg, secrets, db.clone(), clock.clone(), metrics.clone()).await?);
    let web = WebConfig {
        public_origin: cfg.public_origin.clone(),
        trusted_origins: cfg.trusted_origins.clone(),
        cors_origins: cfg.cors_origins.clone(),
        hsts: cfg.behind_tls,
        secure_cookies: cfg.secure_cookies,
        proxy: ProxyConfig {
            trusted_proxies: cfg.trusted_proxies.clone(),
            header: cfg.proxy_header.clone(),
        },
        body_limit_bytes: cfg.body_limit_bytes,
        request_timeout: Duration::from_secs(cfg.request_timeout_secs),
        production: cfg.mode == Mode::Production,
    };
    Ok(AppState(Arc::new(AppInner {
        db,
        config: web,
        clock,
        events: SecurityEvents::new(metrics.clone()),
        metrics,
        csrf,
        limiter,
        policies,
        auth,
        openapi: std::sync::OnceLock::new(),
    })))
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
        public_origin: cfg
            .public_origin
            .clone()
            .unwrap_or_else(|| format!("http://{}", cfg.bind)),
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
    /// Shared state (tests inspect it).
    pub state: AppState,
    shutdown: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    maintenance: tokio::task::JoinHandle<()>,
}

impl Running {
    /// `http://addr`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
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

/// Binds and serves; `shutdown_on_signal` also stops on SIGINT/SIGTERM.
pub async fn start(
    state: AppState,
    bind: SocketAddr,
    shutdown_on_signal: bool,
    rotation_days: i64,
) -> Result<Running> {
    let (app, _) = rampart_web::build(state.clone());
    let maintenance = spawn_key_maintenance(state.clone(), rotation_days);
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .with_context(|| format!("binding {bind}"))?;
    let addr = listener.local_addr()?;
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            if shutdown_on_signal {
                tokio::select! {
                    _ = rx => {},
                    _ = signal() => {},
                }
            } else {
                let _ = rx.await;
            }
        })
        .await
    });
    Ok(Running {
        addr,
        state,
        shutdown: Some(tx),
        task,
        maintenance,
    })
}

async fn signal() {
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
