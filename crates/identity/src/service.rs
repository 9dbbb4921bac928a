//! The identity service: registration, login with lockout, web sessions, access and
//! refresh tokens, password recovery and change, personal access tokens, TOTP,
//! device sessions and bans. Web pages and the `/v1` API both call into this one
//! implementation.

use crate::prelude::*;

/// Errors callers map to HTTP answers.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Wrong login, password, locked or banned account: all look the same.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// The account has TOTP; a code is needed.
    #[error("totp required")]
    TotpRequired,
    /// The TOTP or recovery code was wrong or replayed.
    #[error("totp invalid")]
    TotpInvalid,
    /// The access or refresh token expired.
    #[error("token expired")]
    TokenExpired,
    /// The token is malformed, forged or unknown.
    #[error("token invalid")]
    TokenInvalid,
    /// The refresh token (or the session it belongs to) reached its lifetime; the
    /// client must log in again (distinct from an expired access token, which a
    /// client answers by refreshing).
    #[error("refresh token expired")]
    RefreshExpired,
    /// The token's session or family was revoked.
    #[error("token revoked")]
    TokenRevoked,
    /// A rotated refresh token was reused; the family is revoked.
    #[error("refresh token reused")]
    RefreshReused,
    /// No credentials.
    #[error("unauthorized")]
    Unauthorized,
    /// Not allowed.
    #[error("forbidden")]
    Forbidden,
    /// The token lacks a scope.
    #[error("insufficient scope")]
    InsufficientScope,
    /// Admins must enrol TOTP first.
    #[error("totp enrolment required")]
    TotpEnrolmentRequired,
    /// Registration needs an invite.
    #[error("invite required")]
    InviteRequired,
    /// The invite is unknown, used up, expired or revoked.
    #[error("invite invalid")]
    InviteInvalid,
    /// Reset token unknown, used, expired or superseded.
    #[error("reset token invalid")]
    ResetTokenInvalid,
    /// E-mail verification token unknown, used, expired or superseded.
    #[error("verification token invalid")]
    VerifyTokenInvalid,
    /// Input failed validation.
    #[error("validation failed: {0}")]
    Validation(FieldErrors),
    /// Username or e-mail taken (reported as a field error).
    #[error("conflict")]
    Conflict(FieldErrors),
    /// Not found (or not yours).
    #[error("not found")]
    NotFound,
    /// Password hashing queue full.
    #[error("busy")]
    Busy,
    /// Anything else.
    #[error("internal: {0}")]
    Internal(String),
}

impl From<DbError> for AuthError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::NotFound => AuthError::NotFound,
            other => AuthError::Internal(other.to_string()),
        }
    }
}

impl From<PasswordError> for AuthError {
    fn from(e: PasswordError) -> Self {
        match e {
            PasswordError::Busy => AuthError::Busy,
            other => AuthError::Internal(other.to_string()),
        }
    }
}

impl From<crate::keys::KeyError> for AuthError {
    fn from(e: crate::keys::KeyError) -> Self {
        AuthError::Internal(e.to_string())
    }
}

/// Identity settings.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// JWT `iss`.
    pub issuer: String,
    /// JWT `aud`.
    pub audience: String,
    /// Access-token lifetime (default 15 min, at most 30).
    pub access_ttl_secs: i64,
    /// Refresh-token lifetime (default 7 days).
    pub refresh_ttl_secs: i64,
    /// How long a just-rotated refresh token may be presented again (default 10 s).
    pub refresh_grace_secs: i64,
    /// Idle timeout of customer/seller sessions.
    pub idle_secs: i64,
    /// Absolute timeout of customer/seller sessions.
    pub absolute_secs: i64,
    /// Idle timeout of staff and above.
    pub staff_idle_secs: i64,
    /// Absolute timeout of staff and above.
    pub staff_absolute_secs: i64,
    /// Concurrent sessions per user (oldest evicted).
    pub max_sessions: usize,
    /// Password-reset token lifetime.
    pub reset_ttl_secs: i64,
    /// Lifetime of a PAT created without an expiry, in days (default 90).
    pub pat_default_ttl_days: i64,
    /// Longest lifetime of a PAT, in days (default 366); also the effective
    /// lifetime of tokens stored without an expiry.
    pub pat_max_ttl_days: i64,
    /// E-mail verification link lifetime (default 24 h).
    pub verify_ttl_secs: i64,
    /// Failed logins that start a lockout (binding: 5).
    pub lockout_threshold: i64,
    /// Window they are counted in (binding: 15 min).
    pub lockout_window_secs: i64,
    /// Lockout length (binding: 15 min).
    pub lockout_secs: i64,
    /// Registration needs an invite.
    pub invite_required: bool,
    /// How long the revocation cache trusts a "session is live" answer; revocations
    /// in this process apply at once, other instances see them within this time.
    pub revocation_cache_ms: i64,
    /// Site origin for links in mail.
    pub public_origin: String,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            issuer: "rampart".into(),
            audience: "rampart-api".into(),
            access_ttl_secs: 15 * 60,
            refresh_ttl_secs: 7 * 24 * 3600,
            refresh_grace_secs: 10,
            idle_secs: 12 * 3600,
            absolute_secs: 7 * 24 * 3600,
            staff_idle_secs: 30 * 60,
            staff_absolute_secs: 8 * 3600,
            max_sessions: 10,
            reset_ttl_secs: 30 * 60,
            verify_ttl_secs: 24 * 3600,
            pat_default_ttl_days: 90,
            pat_max_ttl_days: rampart_kernel::fields::EXPIRY_DAYS_MAX,
            lockout_threshold: 5,
            lockout_window_secs: 15 * 60,
            lockout_secs: 15 * 60,
            invite_required: false,
            revocation_cache_ms: 5_000,
            public_origin: "http://127.0.0.1:8080".into(),
        }
    }
}

/// Where a request comes from (for fingerprints and events).
#[derive(Debug, Clone, Default)]
pub struct ClientCtx {
    /// Client IP.
    pub ip: Option<IpAddr>,
    /// User agent.
    pub user_agent: String,
    /// Request ID.
    pub request_id: Option<String>,
}

impl ClientCtx {
    pub(crate) fn event<'a>(&'a self, user_id: Option<&'a str>) -> EventContext<'a> {
        EventContext {
            request_id: self.request_id.as_deref(),
            ip: self.ip,
            user_agent: Some(&self.user_agent),
            user_id,
        }
    }
    pub(crate) fn ip_prefix(&self) -> String {
        self.ip.map(ip_prefix).unwrap_or_default()
    }
}

/// Browser family of a user agent, the coarse part of a session fingerprint.
pub fn ua_family(ua: &str) -> &'static str {
    let l = ua.to_ascii_lowercase();
    if l.contains("edg/") {
        "Edge"
    } else if l.contains("firefox/") {
        "Firefox"
    } else if l.contains("chrome/") || l.contains("chromium/") {
        "Chrome"
    } else if l.contains("safari/") {
        "Safari"
    } else if l.starts_with("curl/") {
        "curl"
    } else if l.is_empty() {
        "unknown"
    } else {
        "other"
    }
}

/// Registration input (already in wire form; parsed here).
#[derive(Debug, Clone)]
pub struct RegisterInput {
    /// Username.
    pub username: String,
    /// E-mail (optional).
    pub email: Option<String>,
    /// Password.
    pub password: SecretString,
    /// Invite code.
    pub invite_code: Option<String>,
    /// Referral code of the inviting user.
    pub referral_code: Option<String>,
}

/// Issued tokens of an API login or refresh.
#[derive(Debug, Clone)]
pub struct TokenPair {
    /// JWT.
    pub access_token: String,
    /// Seconds.
    pub expires_in: i64,
    /// Opaque refresh token.
    pub refresh_token: String,
    /// Session (family) ID.
    pub session_id: String,
}

/// A new web session.
#[derive(Debug, Clone)]
pub struct WebLogin {
    /// Cookie value `{sid}.{secret}`.
    pub cookie: String,
    /// Session ID.
    pub session_id: String,
    /// Max-Age for the cookie.
    pub max_age_secs: i64,
    /// The user.
    pub user_id: String,
}

/// What the revocation cache remembers about a session.
#[derive(Debug, Clone)]
pub(crate) struct SessionInfo {
    pub(crate) live_until: i64,
    pub(crate) checked_at: i64,
    pub(crate) revoked: bool,
    pub(crate) user_id: String,
    pub(crate) username: String,
    pub(crate) role: Role,
    pub(crate) totp_enabled: bool,
    pub(crate) language: Option<String>,
}

/// What the identity service is built from (the binary picks each part).
pub struct IdentityParts {
    /// Database.
    pub db: Db,
    /// Settings.
    pub cfg: AuthConfig,
    /// Injected clock.
    pub clock: Arc<dyn Clock>,
    /// Password hasher (bounded).
    pub hasher: PasswordHasher,
    /// Signing keys.
    pub keys: KeyManager,
    /// Field-encryption key ring (TOTP secrets, signing keys).
    pub keyring: KeyRing,
    /// HMAC key for session cookies and refresh successors.
    pub session_key: Vec<u8>,
    /// Security event sink.
    pub events: SecurityEvents,
}

/// The identity service: every flow of the identity context, for web and `/v1`.
pub struct Identity {
    /// Database.
    pub(crate) db: Db,
    /// Settings.
    pub(crate) cfg: AuthConfig,
    pub(crate) clock: Arc<dyn Clock>,
    /// Password hasher (bounded).
    pub(crate) hasher: PasswordHasher,
    /// Signing keys.
    pub(crate) keys: KeyManager,
    pub(crate) keyring: KeyRing,
    pub(crate) session_key: Vec<u8>,
    pub(crate) events: SecurityEvents,
    pub(crate) cache: Mutex<HashMap<String, SessionInfo>>,
    /// Failed logins for names with no account, so the unknown-account path counts
    /// and locks exactly like the known one (no metric tells them apart).
    pub(crate) phantom: Mutex<HashMap<[u8; 32], crate::login::PhantomLock>>,
    /// Reset requests waiting for the background worker (normalised logins).
    pub(crate) reset_tx: tokio::sync::mpsc::Sender<String>,
    pub(crate) reset_rx: Mutex<Option<tokio::sync::mpsc::Receiver<String>>>,
    /// Told of every revocation this process makes (see [`Revoked`]).
    pub(crate) on_revoke: std::sync::OnceLock<RevocationHook>,
}

/// A credential this process just ended, for whoever holds long-lived connections
/// authenticated by it (the real-time layer closes their sockets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revoked {
    /// A session (web cookie or the API session behind bearer access tokens):
    /// logout, revoke one or all, password change, refresh reuse, account change.
    Session(String),
    /// A personal access token deleted by its owner.
    Pat(String),
    /// Every credential of this user: a ban, a role change (its PATs are deleted too).
    User(String),
}

/// The callback [`Identity::on_revoke`] installs.
pub type RevocationHook = Arc<dyn Fn(&Revoked) + Send + Sync>;

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Identity")
    }
}

pub(crate) fn field(e: FieldError) -> AuthError {
    AuthError::Validation(FieldErrors(vec![e]))
}

pub(crate) fn hash_secret(s: &str) -> String {
    tokens::hash_token(s)
}

impl Identity {
    /// The password hasher (bounded; shared with the `admin create` command).
    pub fn hasher(&self) -> &PasswordHasher {
        &self.hasher
    }

    /// The signing keys.
    pub fn keys(&self) -> &KeyManager {
        &self.keys
    }

    /// Closes the database pools (commands and benchmarks that end the process).
    pub async fn close(&self) {
        self.db.close().await;
    }

    /// The settings.
    pub fn config(&self) -> &AuthConfig {
        &self.cfg
    }

    /// Builds the service from its parts.
    pub fn new(parts: IdentityParts) -> Self {
        let IdentityParts {
            db,
            cfg,
            clock,
            hasher,
            keys,
            keyring,
            session_key,
            events,
        } = parts;
        let (reset_tx, reset_rx) = tokio::sync::mpsc::channel(crate::recovery::RESET_QUEUE);
        Self {
            db,
            cfg,
            clock,
            hasher,
            keys,
            keyring,
            session_key,
            events,
            cache: Mutex::new(HashMap::new()),
            phantom: Mutex::new(HashMap::new()),
            reset_tx,
            reset_rx: Mutex::new(Some(reset_rx)),
            on_revoke: std::sync::OnceLock::new(),
        }
    }

    /// Installs the one revocation hook (later calls are ignored): it runs after the
    /// revoking transaction committed, on every path that ends a session, deletes a
    /// PAT, or bans a user or changes their role. It must not block.
    pub fn on_revoke(&self, hook: RevocationHook) {
        let _ = self.on_revoke.set(hook);
    }

    /// Tells the hook, if any.
    pub(crate) fn revoked(&self, what: Revoked) {
        if let Some(h) = self.on_revoke.get() {
            h(&what);
        }
    }

    /// Now, in ms.
    pub fn now(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Begins a transaction that works on one user's own rows: sets `app.user_id`, so
    /// on PostgreSQL row-level security confines it to that user's sessions, refresh
    /// tokens, PATs, recovery codes, resets, devices and address changes even if a
    /// query forgets its filter (F4). A no-op on SQLite, where the SQL filters.
    pub(crate) async fn begin_for(&self, user_id: &str) -> Result<Tx, AuthError> {
        let mut tx = self.db.begin().await?;
        tx.set_context(RlsContext {
            user_id: Some(user_id),
            workspace_id: None,
        })
        .await?;
        Ok(tx)
    }

    /// Access-token lifetime in ms.
    pub fn access_ttl_ms(&self) -> i64 {
        self.cfg.access_ttl_secs * 1000
    }

    /// Emits a security event.
    pub fn emit(
        &self,
        ev: SecurityEvent,
        ctx: &ClientCtx,
        user: Option<&str>,
        detail: &[(&str, &str)],
    ) {
        self.events.emit(ev, &ctx.event(user), detail);
    }

    // ----- registration -------------------------------------------------------
}
