//! Configuration: built-in defaults, then an optional `rampart.toml`, then `RAMPART_*`
//! environment variables (documented in docs/configuration.md). Secrets are never read
//! from the TOML file, only from the environment or from files it names.

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

/// Development (generates missing secrets, plain-http cookies allowed) or production
/// (refuses to start without strong secrets).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Local development.
    Development,
    /// Real deployments.
    Production,
}

/// Default namespace of rate-limit keys in Redis.
pub const DEFAULT_REDIS_PREFIX: &str = "rampart:rl:";

/// One `[rate_limits]` override.
#[derive(Debug, Clone, Deserialize)]
pub struct LimitOverride {
    /// Accepted requests per window.
    pub limit: u32,
    /// Window length in seconds.
    pub window_secs: u64,
}

/// The file's shape; every field optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    mode: Option<Mode>,
    bind: Option<String>,
    metrics_bind: Option<String>,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    migration_database_url: Option<String>,
    redis_url: Option<String>,
    redis_prefix: Option<String>,
    public_origin: Option<String>,
    trusted_origins: Option<Vec<String>>,
    cors_origins: Option<Vec<String>>,
    ws_allowed_origins: Option<Vec<String>>,
    ws_allow_no_origin: Option<bool>,
    behind_tls: Option<bool>,
    secure_cookies: Option<bool>,
    trusted_proxies: Option<Vec<String>>,
    proxy_header: Option<String>,
    body_limit_bytes: Option<usize>,
    request_timeout_secs: Option<u64>,
    platform_fee_bps: Option<u32>,
    log_format: Option<String>,
    log_level: Option<String>,
    access_token_ttl_secs: Option<i64>,
    refresh_token_ttl_secs: Option<i64>,
    refresh_grace_secs: Option<i64>,
    invite_required: Option<bool>,
    max_sessions: Option<usize>,
    revocation_cache_ms: Option<i64>,
    key_rotation_days: Option<i64>,
    password_hash_concurrency: Option<usize>,
    smtp_url: Option<String>,
    mail_from: Option<String>,
    smtp_ca_file: Option<PathBuf>,
    pat_default_ttl_days: Option<i64>,
    pat_max_ttl_days: Option<i64>,
    #[serde(default)]
    rate_limits: BTreeMap<String, LimitOverride>,
    #[serde(default)]
    listener: crate::listener::ListenerFile,
}

/// The effective configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Mode.
    pub mode: Mode,
    /// Listen address.
    pub bind: SocketAddr,
    /// Listen address of the Prometheus endpoint (`RAMPART_METRICS_BIND`); off when
    /// unset. Never the public port.
    pub metrics_bind: Option<SocketAddr>,
    /// Where SQLite, generated secrets and the mail outbox live.
    pub data_dir: PathBuf,
    /// Database URL the server works through (SQLite file by default). On
    /// PostgreSQL: a role that neither owns the tables nor bypasses row-level
    /// security (a member of `rampart_app`).
    pub database_url: String,
    /// PostgreSQL URL migrations run through: the tables' owner
    /// (`RAMPART_MIGRATION_DATABASE_URL`). Unset: the same as `database_url`.
    pub migration_database_url: Option<String>,
    /// Redis URL for shared rate limits (in-process when absent).
    pub redis_url: Option<String>,
    /// Prefix of every rate-limit key in Redis (default `rampart:rl:`), so several
    /// deployments (or test runs) can share one Redis without sharing quotas.
    pub redis_prefix: String,
    /// Site origin for the CSRF check and links.
    pub public_origin: Option<String>,
    /// Extra origins allowed to send state-changing requests.
    pub trusted_origins: Vec<String>,
    /// CORS allowlist.
    pub cors_origins: Vec<String>,
    /// Origins besides the site's own allowed to open `GET /ws` (`WS_ALLOWED_ORIGINS`).
    pub ws_allowed_origins: Vec<String>,
    /// WebSocket handshakes without `Origin` accepted (`WS_ALLOW_NO_ORIGIN`).
    pub ws_allow_no_origin: bool,
    /// Behind TLS (HSTS on, secure cookies by default).
    pub behind_tls: bool,
    /// `__Host-` + `Secure` cookies.
    pub secure_cookies: bool,
    /// Proxies whose forwarding header is trusted.
    pub trusted_proxies: Vec<IpAddr>,
    /// That header.
    pub proxy_header: String,
    /// JSON/form body limit.
    pub body_limit_bytes: usize,
    /// Request timeout.
    pub request_timeout_secs: u64,
    /// The platform fee on escrow transactions, in basis points (0..=10 000), fixed
    /// on each transaction at purchase.
    pub platform_fee_bps: u32,
    /// `json` (default) or `pretty`.
    pub log_format: String,
    /// `tracing` filter.
    pub log_level: String,
    /// Rate-limit overrides by policy name.
    pub rate_limits: BTreeMap<String, LimitOverride>,
    /// Access-token lifetime (60–1800 s, default 900).
    pub access_token_ttl_secs: i64,
    /// Refresh-token lifetime (default 7 days).
    pub refresh_token_ttl_secs: i64,
    /// Grace window for concurrent refreshes (default 10 s).
    pub refresh_grace_secs: i64,
    /// Registration needs an invite code.
    pub invite_required: bool,
    /// Concurrent sessions per user.
    pub max_sessions: usize,
    /// Revocation cache freshness for other instances' revocations.
    pub revocation_cache_ms: i64,
    /// Signing-key rotation cadence in days (0 = only on demand).
    pub key_rotation_days: i64,
    /// Password hashes computed at once.
    pub password_hash_concurrency: usize,
    /// Connection timeouts and caps, TLS, the redirect listener (`[listener]`).
    pub listener: crate::listener::ListenerConfig,
    /// SMTP relay (`smtp://…`, `smtps://…`); without it mail stays in the outbox.
    pub smtp_url: Option<String>,
    /// Sender of outgoing mail (required with `smtp_url`).
    pub mail_from: Option<String>,
    /// Extra trusted root certificates (PEM) for the relay.
    pub smtp_ca_file: Option<PathBuf>,
    /// Lifetime of a personal access token created without an expiry (days).
    pub pat_default_ttl_days: i64,
    /// Longest lifetime a personal access token may be given (days).
    pub pat_max_ttl_days: i64,
    /// The worker (`rampart worker`, or in-process under `rampart serve`).
    pub worker: WorkerSettings,
    /// Checkout: the payment provider, webhook secrets, the business rules.
    pub checkout: CheckoutSettings,
}

/// Checkout settings (`RAMPART_PAYMENT_*`, `RAMPART_CHECKOUT_RULES`).
#[derive(Debug, Clone)]
pub struct CheckoutSettings {
    /// `sandbox` (default) or `stripe` (`RAMPART_PAYMENT_PROVIDER`).
    pub provider: String,
    /// Webhook endpoint secrets, newest first (`RAMPART_PAYMENT_WEBHOOK_SECRETS`,
    /// comma-separated; several during rotation). Empty with the sandbox: a random
    /// one per process.
    pub webhook_secrets: Vec<String>,
    /// The business rules (`RAMPART_CHECKOUT_RULES`: inline JSON, or the path of a
    /// JSON or TOML file); defaults apply when unset.
    pub rules: rampart_checkout::rules::RulesConfig,
    /// The sandbox delivers its webhooks to this server over HTTP
    /// (`RAMPART_SANDBOX_WEBHOOKS`, default on).
    pub sandbox_webhooks: bool,
    /// Stripe's API base (`RAMPART_STRIPE_API_BASE`; stripe-mock on loopback in tests).
    pub stripe_api_base: Option<String>,
    /// Pinned `Stripe-Version` (`RAMPART_STRIPE_API_VERSION`).
    pub stripe_api_version: Option<String>,
}

impl CheckoutSettings {
    fn from_env() -> Result<Self> {
        let provider = env("RAMPART_PAYMENT_PROVIDER").unwrap_or_else(|| "sandbox".into());
        if rampart_checkout::payment::ProviderKind::parse(&provider).is_none() {
            bail!("RAMPART_PAYMENT_PROVIDER must be sandbox or stripe");
        }
        let rules = match env("RAMPART_CHECKOUT_RULES") {
            None => rampart_checkout::rules::RulesConfig::default(),
            Some(v) if v.trim_start().starts_with('{') => serde_json::from_str(&v)
                .map_err(|e| anyhow::anyhow!("RAMPART_CHECKOUT_RULES: {e}"))?,
            Some(path) => {
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| anyhow::anyhow!("RAMPART_CHECKOUT_RULES {path}: {e}"))?;
                if path.ends_with(".toml") {
                    toml::from_str(&text)
                        .map_err(|e| anyhow::anyhow!("RAMPART_CHECKOUT_RULES {path}: {e}"))?
                } else {
                    serde_json::from_str(&text)
                        .map_err(|e| anyhow::anyhow!("RAMPART_CHECKOUT_RULES {path}: {e}"))?
                }
            }
        };
        Ok(Self {
            provider,
            webhook_secrets: env("RAMPART_PAYMENT_WEBHOOK_SECRETS")
                .map(|v| list(&v))
                .unwrap_or_default(),
            rules,
            sandbox_webhooks: match env("RAMPART_SANDBOX_WEBHOOKS") {
                Some(v) => parse_bool("RAMPART_SANDBOX_WEBHOOKS", &v)?,
                None => true,
            },
            stripe_api_base: env("RAMPART_STRIPE_API_BASE"),
            stripe_api_version: env("RAMPART_STRIPE_API_VERSION"),
        })
    }

    /// Tests: the sandbox with a known secret, no HTTP deliveries unless asked for.
    pub fn for_tests() -> Self {
        Self {
            provider: "sandbox".into(),
            webhook_secrets: vec![TEST_WEBHOOK_SECRET.into()],
            rules: rampart_checkout::rules::RulesConfig::default(),
            sandbox_webhooks: false,
            stripe_api_base: None,
            stripe_api_version: None,
        }
    }
}

/// The webhook secret of [`CheckoutSettings::for_tests`].
pub const TEST_WEBHOOK_SECRET: &str = "whsec_test_rampart_primary_0001";

/// The worker's settings (`RAMPART_WORKER_*`, docs/configuration.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerSettings {
    /// `rampart serve` also runs the worker (`RAMPART_WORKER_IN_PROCESS`, default
    /// true: a one-binary deployment just works; running several workers is safe).
    pub in_process: bool,
    /// Pause between idle rounds, ms.
    pub poll_ms: u64,
    /// Intents claimed per round.
    pub batch: i64,
    /// Lease on a claimed intent, seconds.
    pub lease_secs: i64,
    /// Auto-release schedule, seconds.
    pub auto_release_every_secs: i64,
    /// Pruning schedule, seconds.
    pub prune_every_secs: i64,
    /// Ended sessions and expired reset tokens kept this many days before pruning.
    pub prune_retention_days: i64,
    /// Reconciliation and anomaly checks schedule, seconds.
    pub reconcile_every_secs: i64,
    /// Funded/shipped longer than the release period plus this many hours is an
    /// anomaly.
    pub held_margin_hours: i64,
    /// Disputes or refunds of one store within the window that make a spike.
    pub spike_threshold: i64,
    /// The spike window, hours.
    pub spike_window_hours: i64,
    /// Unpaid purchases (`pending_payment`) older than this many minutes are
    /// cancelled by the system, returning their reserved stock.
    pub unpaid_expiry_mins: i64,
    /// Test hook (`RAMPART_WORKER_TEST_DELAY_MS`): pause inside each intent's
    /// transaction. Honoured in debug builds, and in release builds only with
    /// `RAMPART_WORKER_TEST_HOOKS=true`.
    pub test_delay_ms: u64,
}

impl WorkerSettings {
    /// From `RAMPART_WORKER_*`; `in_process` defaults to true.
    fn from_env() -> Result<WorkerSettings> {
        let int = |name: &str, default: i64, min: i64, max: i64| -> Result<i64> {
            let v = match env(name) {
                Some(s) => s
                    .trim()
                    .parse::<i64>()
                    .with_context(|| format!("{name} must be a whole number"))?,
                None => default,
            };
            if !(min..=max).contains(&v) {
                bail!("{name} must be between {min} and {max}");
            }
            Ok(v)
        };
        let hooks = cfg!(debug_assertions)
            || match env("RAMPART_WORKER_TEST_HOOKS") {
                Some(v) => parse_bool("RAMPART_WORKER_TEST_HOOKS", &v)?,
                None => false,
            };
        let delay = int("RAMPART_WORKER_TEST_DELAY_MS", 0, 0, 60_000)?;
        Ok(WorkerSettings {
            in_process: match env("RAMPART_WORKER_IN_PROCESS") {
                Some(v) => parse_bool("RAMPART_WORKER_IN_PROCESS", &v)?,
                None => true,
            },
            poll_ms: int("RAMPART_WORKER_POLL_MS", 1000, 10, 600_000)? as u64,
            batch: int("RAMPART_WORKER_BATCH", 32, 1, 1000)?,
            lease_secs: int("RAMPART_WORKER_LEASE_SECS", 60, 1, 86_400)?,
            auto_release_every_secs: int("RAMPART_WORKER_AUTO_RELEASE_EVERY_SECS", 60, 1, 86_400)?,
            prune_every_secs: int("RAMPART_WORKER_PRUNE_EVERY_SECS", 3600, 1, 7 * 86_400)?,
            prune_retention_days: int("RAMPART_WORKER_PRUNE_RETENTION_DAYS", 7, 0, 3660)?,
            reconcile_every_secs: int("RAMPART_WORKER_RECONCILE_EVERY_SECS", 3600, 1, 7 * 86_400)?,
            held_margin_hours: int("RAMPART_WORKER_HELD_MARGIN_HOURS", 48, 0, 24 * 365)?,
            spike_threshold: int("RAMPART_WORKER_SPIKE_THRESHOLD", 10, 1, 1_000_000)?,
            spike_window_hours: int("RAMPART_WORKER_SPIKE_WINDOW_HOURS", 24, 1, 24 * 90)?,
            unpaid_expiry_mins: int("RAMPART_WORKER_UNPAID_EXPIRY_MINS", 60, 1, 60 * 24 * 30)?,
            test_delay_ms: if hooks { delay as u64 } else { 0 },
        })
    }

    /// Built-in defaults with the in-process worker off (tests start their own).
    pub fn off() -> WorkerSettings {
        WorkerSettings {
            in_process: false,
            poll_ms: 1000,
            batch: 32,
            lease_secs: 60,
            auto_release_every_secs: 60,
            prune_every_secs: 3600,
            prune_retention_days: 7,
            reconcile_every_secs: 3600,
            held_margin_hours: 48,
            spike_threshold: 10,
            spike_window_hours: 24,
            unpaid_expiry_mins: 60,
            test_delay_ms: 0,
        }
    }
}

pub(crate) fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn list(v: &str) -> Vec<String> {
    v.split(',')
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Whether `url` selects PostgreSQL (the same test as `Db::connect`).
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

fn parse_bool(name: &str, v: &str) -> Result<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => bail!("{name} must be true or false"),
    }
}

/// `WS_ALLOWED_ORIGINS`: each entry exactly `scheme://host[:port]` (a trailing `/`
/// is dropped); anything else (`*`, `null`, a bare host, a path) is a config error.
fn ws_origins(v: Vec<String>) -> Result<Vec<String>> {
    v.into_iter()
        .map(|o| {
            let o = o.trim().trim_end_matches('/').to_owned();
            if !rampart_web::realtime::is_exact_origin(&o) {
                bail!(
                    "WS_ALLOWED_ORIGINS entry {o:?} is not an origin: each must be exactly scheme://host[:port] (http or https; no path, wildcard or `null`)"
                );
            }
            Ok(o)
        })
        .collect()
}

impl Config {
    /// Loads `rampart.toml` (from `RAMPART_CONFIG`, else `./rampart.toml` if present)
    /// and the environment.
    pub fn load() -> Result<Config> {
        let path = env("RAMPART_CONFIG").map(PathBuf::from);
        let file = match &path {
            Some(p) => Some(p.clone()),
            None => {
                let p = PathBuf::from("rampart.toml");
                p.exists().then_some(p)
            }
        };
        let fc: FileConfig = match file {
            Some(p) => {
                let text = std::fs::read_to_string(&p)
                    .with_context(|| format!("reading {}", p.display()))?;
                toml::from_str(&text).with_context(|| format!("parsing {}", p.display()))?
            }
            None => FileConfig::default(),
        };
        Self::from_parts(fc)
    }

    fn from_parts(fc: FileConfig) -> Result<Config> {
        let mode = match env("RAMPART_MODE") {
            Some(m) => match m.to_ascii_lowercase().as_str() {
                "development" | "dev" => Mode::Development,
                "production" | "prod" => Mode::Production,
                _ => bail!("RAMPART_MODE must be development or production"),
            },
            None => fc.mode.unwrap_or(Mode::Development),
        };
        let bind_s = env("RAMPART_BIND")
            .or(fc.bind)
            .unwrap_or_else(|| "127.0.0.1:8080".into());
        let bind: SocketAddr = bind_s
            .parse()
            .with_context(|| format!("RAMPART_BIND {bind_s:?} is not an address:port"))?;
        let metrics_bind = match env("RAMPART_METRICS_BIND").or(fc.metrics_bind) {
            Some(m) => {
                let a: SocketAddr = m.parse().with_context(|| {
                    format!("RAMPART_METRICS_BIND {m:?} is not an address:port")
                })?;
                if a == bind {
                    bail!("RAMPART_METRICS_BIND must differ from RAMPART_BIND: metrics are not served on the public port");
                }
                Some(a)
            }
            None => None,
        };
        let data_dir = env("RAMPART_DATA_DIR")
            .map(PathBuf::from)
            .or(fc.data_dir)
            .unwrap_or_else(|| PathBuf::from("data"));
        let database_url = env("RAMPART_DATABASE_URL")
            .or(fc.database_url)
            .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("rampart.db").display()));
        let migration_database_url = env("RAMPART_MIGRATION_DATABASE_URL")
            .or(fc.migration_database_url)
            .filter(|m| *m != database_url);
        if migration_database_url.is_some() && !is_postgres_url(&database_url) {
            bail!("RAMPART_MIGRATION_DATABASE_URL is for PostgreSQL only: RAMPART_DATABASE_URL must be a postgres:// URL too");
        }
        if let Some(m) = &migration_database_url {
            if !is_postgres_url(m) {
                bail!("RAMPART_MIGRATION_DATABASE_URL must be a postgres:// or postgresql:// URL");
            }
        }
        let listener = crate::listener::ListenerConfig::from_parts(fc.listener)?;
        // Terminating TLS ourselves is being behind TLS: HSTS, secure cookies.
        let behind_tls = listener.tls.is_some()
            || match env("RAMPART_BEHIND_TLS") {
                Some(v) => parse_bool("RAMPART_BEHIND_TLS", &v)?,
                None => fc.behind_tls.unwrap_or(false),
            };
        let secure_cookies = match env("RAMPART_SECURE_COOKIES") {
            Some(v) => parse_bool("RAMPART_SECURE_COOKIES", &v)?,
            None => fc
                .secure_cookies
                .unwrap_or(behind_tls || mode == Mode::Production),
        };
        let trusted_proxies = env("RAMPART_TRUSTED_PROXIES")
            .map(|v| list(&v))
            .or(fc.trusted_proxies)
            .unwrap_or_default()
            .iter()
            .map(|s| {
                s.parse::<IpAddr>()
                    .with_context(|| format!("RAMPART_TRUSTED_PROXIES: {s:?} is not an IP address"))
            })
            .collect::<Result<Vec<_>>>()?;
        let mut rate_limits = fc.rate_limits;
        // The two names the requirements fix (B3), with or without our prefix.
        for (var, policy, window) in [
            ("LOGIN_RATE_LIMIT_PER_MINUTE", "login_ceiling", 60),
            ("WS_HANDSHAKE_RATE_LIMIT_PER_MINUTE", "ws_handshake", 60),
        ] {
            if let Some(v) = env(&format!("RAMPART_{var}")).or_else(|| env(var)) {
                let limit: u32 = v
                    .parse()
                    .with_context(|| format!("{var} must be a whole number"))?;
                rate_limits.insert(
                    policy.to_owned(),
                    LimitOverride {
                        limit,
                        window_secs: window,
                    },
                );
            }
        }
        let public_origin = env("RAMPART_PUBLIC_ORIGIN")
            .or(fc.public_origin)
            .map(|o| o.trim_end_matches('/').to_owned());
        let inum = |name: &str| -> Result<Option<i64>> {
            env(name)
                .map(|s| {
                    s.parse::<i64>()
                        .with_context(|| format!("{name} must be a whole number"))
                })
                .transpose()
        };
        let num = |name: &str, v: Option<String>| -> Result<Option<u64>> {
            v.map(|s| {
                s.parse::<u64>()
                    .with_context(|| format!("{name} must be a whole number"))
            })
            .transpose()
        };
        let smtp_url = env("RAMPART_SMTP_URL").or(fc.smtp_url);
        let mail_from = env("RAMPART_MAIL_FROM").or(fc.mail_from);
        if let Some(url) = &smtp_url {
            let Some(from) = &mail_from else {
                bail!("RAMPART_SMTP_URL needs RAMPART_MAIL_FROM (the sender address)");
            };
            let smtp =
                rampart_mail::smtp::SmtpConfig::from_url(url, from).context("RAMPART_SMTP_URL")?;
            if mode == Mode::Production
                && smtp.tls == rampart_mail::smtp::TlsMode::Plain
                && !smtp.is_loopback()
            {
                bail!("RAMPART_SMTP_URL: starttls=never is only allowed to a relay on this host in production");
            }
        }
        let cfg = Config {
            mode,
            bind,
            metrics_bind,
            data_dir,
            database_url,
            migration_database_url,
            redis_url: env("RAMPART_REDIS_URL").or(fc.redis_url),
            redis_prefix: {
                let p = env("RAMPART_REDIS_PREFIX")
                    .or(fc.redis_prefix)
                    .unwrap_or_else(|| DEFAULT_REDIS_PREFIX.into());
                if p.chars().any(|c| c.is_whitespace() || c.is_control()) {
                    bail!("RAMPART_REDIS_PREFIX must not contain spaces or control characters");
                }
                p
            },
            public_origin,
            trusted_origins: env("RAMPART_TRUSTED_ORIGINS")
                .map(|v| list(&v))
                .or(fc.trusted_origins)
                .unwrap_or_default(),
            cors_origins: env("RAMPART_CORS_ORIGINS")
                .map(|v| list(&v))
                .or(fc.cors_origins)
                .unwrap_or_default(),
            ws_allowed_origins: ws_origins(
                env("RAMPART_WS_ALLOWED_ORIGINS")
                    .or_else(|| env("WS_ALLOWED_ORIGINS"))
                    .map(|v| list(&v))
                    .or(fc.ws_allowed_origins)
                    .unwrap_or_default(),
            )?,
            ws_allow_no_origin: match env("RAMPART_WS_ALLOW_NO_ORIGIN")
                .or_else(|| env("WS_ALLOW_NO_ORIGIN"))
            {
                Some(v) => parse_bool("WS_ALLOW_NO_ORIGIN", &v)?,
                None => fc.ws_allow_no_origin.unwrap_or(false),
            },
            behind_tls,
            secure_cookies,
            trusted_proxies,
            proxy_header: env("RAMPART_PROXY_HEADER")
                .or(fc.proxy_header)
                .unwrap_or_else(|| "x-forwarded-for".into())
                .to_ascii_lowercase(),
            body_limit_bytes: num("RAMPART_BODY_LIMIT_BYTES", env("RAMPART_BODY_LIMIT_BYTES"))?
                .map(|v| v as usize)
                .or(fc.body_limit_bytes)
                .unwrap_or(64 * 1024),
            request_timeout_secs: num(
                "RAMPART_REQUEST_TIMEOUT_SECS",
                env("RAMPART_REQUEST_TIMEOUT_SECS"),
            )?
            .or(fc.request_timeout_secs)
            .unwrap_or(30),
            platform_fee_bps: match num(
                "RAMPART_PLATFORM_FEE_BPS",
                env("RAMPART_PLATFORM_FEE_BPS"),
            )?
            .or(fc.platform_fee_bps.map(u64::from))
            .unwrap_or(250)
            {
                v @ 0..=10_000 => v as u32,
                _ => bail!("RAMPART_PLATFORM_FEE_BPS must be 0..=10000 (basis points)"),
            },
            log_format: env("RAMPART_LOG_FORMAT")
                .or(fc.log_format)
                .unwrap_or_else(|| "json".into()),
            log_level: env("RAMPART_LOG")
                .or(fc.log_level)
                .unwrap_or_else(|| "info".into()),
            rate_limits,
            access_token_ttl_secs: {
                let v = inum("RAMPART_ACCESS_TOKEN_TTL_SECS")?
                    .or(fc.access_token_ttl_secs)
                    .unwrap_or(900);
                if !(60..=1800).contains(&v) {
                    bail!("RAMPART_ACCESS_TOKEN_TTL_SECS must be between 60 and 1800 (15–30 minutes recommended)");
                }
                v
            },
            refresh_token_ttl_secs: inum("RAMPART_REFRESH_TOKEN_TTL_SECS")?
                .or(fc.refresh_token_ttl_secs)
                .unwrap_or(7 * 24 * 3600)
                .clamp(300, 90 * 24 * 3600),
            refresh_grace_secs: inum("RAMPART_REFRESH_GRACE_SECS")?
                .or(fc.refresh_grace_secs)
                .unwrap_or(10)
                .clamp(0, 60),
            invite_required: match env("RAMPART_INVITE_REQUIRED") {
                Some(v) => parse_bool("RAMPART_INVITE_REQUIRED", &v)?,
                None => fc.invite_required.unwrap_or(false),
            },
            max_sessions: inum("RAMPART_MAX_SESSIONS")?
                .map(|v| v as usize)
                .or(fc.max_sessions)
                .unwrap_or(10)
                .max(1),
            revocation_cache_ms: inum("RAMPART_REVOCATION_CACHE_MS")?
                .or(fc.revocation_cache_ms)
                .unwrap_or(5000)
                .max(0),
            key_rotation_days: inum("RAMPART_KEY_ROTATION_DAYS")?
                .or(fc.key_rotation_days)
                .unwrap_or(30)
                .max(0),
            pat_max_ttl_days: {
                let v = inum("RAMPART_PAT_MAX_TTL_DAYS")?
                    .or(fc.pat_max_ttl_days)
                    .unwrap_or(366);
                if !(1..=3660).contains(&v) {
                    bail!("RAMPART_PAT_MAX_TTL_DAYS must be between 1 and 3660");
                }
                v
            },
            pat_default_ttl_days: inum("RAMPART_PAT_DEFAULT_TTL_DAYS")?
                .or(fc.pat_default_ttl_days)
                .unwrap_or(90),
            password_hash_concurrency: inum("RAMPART_PASSWORD_HASH_CONCURRENCY")?
                .map(|v| v as usize)
                .or(fc.password_hash_concurrency)
                .unwrap_or_else(|| {
                    std::thread::available_parallelism()
                        .map(|n| n.get())
                        .unwrap_or(2)
                })
                .max(1),
            listener,
            smtp_url,
            mail_from,
            smtp_ca_file: env("RAMPART_SMTP_CA_FILE")
                .map(PathBuf::from)
                .or(fc.smtp_ca_file),
            worker: WorkerSettings::from_env()?,
            checkout: CheckoutSettings::from_env()?,
        };
        if !(1..=cfg.pat_max_ttl_days).contains(&cfg.pat_default_ttl_days) {
            bail!("RAMPART_PAT_DEFAULT_TTL_DAYS must be between 1 and RAMPART_PAT_MAX_TTL_DAYS");
        }
        Ok(cfg)
    }

    /// Checks that only matter when serving (`rampart serve`), after the secrets: a
    /// production server must know its public origin (links in mail, the CSRF origin
    /// check), and a server terminating TLS must not claim a plain-http one.
    pub fn check_for_serving(&self) -> Result<()> {
        match &self.public_origin {
            None if self.mode == Mode::Production => bail!(
                "RAMPART_PUBLIC_ORIGIN is required in production (e.g. https://market.example): links in mail and the cross-origin check use it"
            ),
            Some(o) => {
                let ok = o
                    .split_once("://")
                    .filter(|(scheme, rest)| {
                        matches!(*scheme, "http" | "https")
                            && !rest.is_empty()
                            && !rest.contains(['/', '?', '#', '@'])
                    })
                    .is_some();
                if !ok {
                    bail!("RAMPART_PUBLIC_ORIGIN must be scheme://host[:port], e.g. https://market.example");
                }
                if self.listener.tls.is_some() && !o.starts_with("https://") {
                    bail!("RAMPART_PUBLIC_ORIGIN must start with https:// when the server terminates TLS");
                }
            }
            None => {}
        }
        Ok(())
    }

    /// Defaults for tests: everything in `data_dir`, bound to a random loopback port.
    pub fn for_tests(data_dir: PathBuf, database_url: String) -> Config {
        Config {
            mode: Mode::Development,
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            metrics_bind: None,
            database_url,
            migration_database_url: None,
            data_dir,
            redis_url: None,
            redis_prefix: DEFAULT_REDIS_PREFIX.into(),
            public_origin: None,
            trusted_origins: Vec::new(),
            cors_origins: Vec::new(),
            ws_allowed_origins: Vec::new(),
            ws_allow_no_origin: false,
            behind_tls: false,
            secure_cookies: false,
            trusted_proxies: Vec::new(),
            proxy_header: "x-forwarded-for".into(),
            body_limit_bytes: 64 * 1024,
            request_timeout_secs: 30,
            platform_fee_bps: 250,
            log_format: "json".into(),
            log_level: "warn".into(),
            rate_limits: BTreeMap::new(),
            access_token_ttl_secs: 900,
            refresh_token_ttl_secs: 7 * 24 * 3600,
            refresh_grace_secs: 10,
            invite_required: false,
            max_sessions: 10,
            revocation_cache_ms: 5000,
            key_rotation_days: 30,
            password_hash_concurrency: 2,
            listener: crate::listener::ListenerConfig::default(),
            smtp_url: None,
            mail_from: None,
            smtp_ca_file: None,
            pat_default_ttl_days: 90,
            pat_max_ttl_days: 366,
            worker: WorkerSettings::off(),
            checkout: CheckoutSettings::for_tests(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn file_config_rejects_unknown_keys_and_reads_limits() {
        let fc: FileConfig =
            toml::from_str("[rate_limits]\nlogin = { limit = 3, window_secs = 60 }\n").unwrap();
        assert_eq!(fc.rate_limits["login"].limit, 3);
        assert!(toml::from_str::<FileConfig>("jwt_secret = \"x\"").is_err());
    }

    #[test]
    fn ws_allowed_origins_must_be_exact_origins() {
        let ok = ws_origins(vec![
            "https://app.example".into(),
            "http://127.0.0.1:3000/".into(),
        ])
        .unwrap();
        assert_eq!(ok, ["https://app.example", "http://127.0.0.1:3000"]);
        for bad in [
            "*",
            "null",
            "a.test",
            "https://a.test/x",
            "https://*.a.test",
            "",
        ] {
            let err = ws_origins(vec!["https://ok.example".into(), bad.into()]).unwrap_err();
            assert!(
                err.to_string().contains("WS_ALLOWED_ORIGINS"),
                "{bad}: {err}"
            );
        }
        if env("RAMPART_WS_ALLOWED_ORIGINS").is_none() && env("WS_ALLOWED_ORIGINS").is_none() {
            let fc = FileConfig {
                ws_allowed_origins: Some(vec!["*".into()]),
                ..FileConfig::default()
            };
            assert!(Config::from_parts(fc).is_err());
        }
    }

    #[test]
    fn migration_url_is_for_postgres_and_defaults_to_the_app_url() {
        if env("RAMPART_DATABASE_URL").is_some() || env("RAMPART_MIGRATION_DATABASE_URL").is_some()
        {
            return; // the environment would override the file
        }
        let file = |app: &str, owner: &str| FileConfig {
            database_url: Some(app.into()),
            migration_database_url: Some(owner.into()),
            ..FileConfig::default()
        };
        let err = Config::from_parts(file("sqlite://x.db", "postgres://o@h/db")).unwrap_err();
        assert!(err.to_string().contains("PostgreSQL only"), "{err}");
        assert!(Config::from_parts(file("postgres://a@h/db", "mysql://o@h/db")).is_err());
        let same = Config::from_parts(file("postgres://a@h/db", "postgres://a@h/db")).unwrap();
        assert_eq!(same.migration_database_url, None);
        let two = Config::from_parts(file("postgres://a@h/db", "postgres://o@h/db")).unwrap();
        assert_eq!(
            two.migration_database_url.as_deref(),
            Some("postgres://o@h/db")
        );
    }
}
