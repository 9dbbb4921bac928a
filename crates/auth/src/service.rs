//! The identity service: registration, login with lockout, web sessions, access and
//! refresh tokens, password recovery and change, personal access tokens, TOTP,
//! device sessions and bans. Web pages and the `/v1` API both call into this one
//! implementation.

use crate::jwt::{AccessClaims, JwtError};
use crate::keys::KeyManager;
use crate::password::{check_new_password, PasswordError, PasswordHasher};
use crate::tokens::{self, random_token, TokenHash};
use crate::{crypto::KeyRing, totp, SecretString};
use hmac::{Hmac, Mac};
use rampart_domain::account::{AccountStatus, Role};
use rampart_domain::audit::ActionType;
use rampart_domain::fields::bounded_text;
use rampart_domain::{Clock, Email, FieldError, FieldErrors, Username};
use rampart_security::client_ip::ip_prefix;
use rampart_security::events::{EventContext, SecurityEvent, SecurityEvents};
use rampart_store::audit::{self, NewAuditEntry};
use rampart_store::sessions::{self, NewSession, SessionRow};
use rampart_store::users::{self, NewUser, UserRow};
use rampart_store::{misc, tokens as tstore, Db, StoreError};
use sha2::Sha256;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

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

impl From<StoreError> for AuthError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => AuthError::NotFound,
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
    fn event<'a>(&'a self, user_id: Option<&'a str>) -> EventContext<'a> {
        EventContext {
            request_id: self.request_id.as_deref(),
            ip: self.ip,
            user_agent: Some(&self.user_agent),
            user_id,
        }
    }
    fn ip_prefix(&self) -> String {
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

/// How a principal authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    /// Web session cookie.
    Session {
        /// Session ID.
        sid: String,
    },
    /// Bearer access token.
    Bearer {
        /// Session ID.
        sid: String,
    },
    /// Personal access token.
    Pat {
        /// Token ID.
        id: String,
        /// Its scopes.
        scopes: Vec<String>,
    },
    /// OAuth client credentials.
    Client {
        /// Client ID.
        client_id: String,
        /// Granted scopes.
        scopes: Vec<String>,
    },
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Principal {
    /// User ID (or `client:<id>` for OAuth clients).
    pub user_id: String,
    /// Username.
    pub username: String,
    /// Role.
    pub role: Role,
    /// TOTP on.
    pub totp_enabled: bool,
    /// Preferred language.
    pub language: Option<String>,
    /// Credential.
    pub via: Via,
}

impl Principal {
    /// The session ID, for session and bearer callers.
    pub fn session_id(&self) -> Option<&str> {
        match &self.via {
            Via::Session { sid } | Via::Bearer { sid } => Some(sid),
            _ => None,
        }
    }
    /// Whether the credential carries `scope` (sessions and access tokens carry all).
    pub fn has_scope(&self, scope: &str) -> bool {
        match &self.via {
            Via::Session { .. } | Via::Bearer { .. } => true,
            Via::Pat { scopes, .. } | Via::Client { scopes, .. } => {
                scopes.iter().any(|s| s == scope)
            }
        }
    }
    /// Admins without TOTP may only enrol.
    pub fn must_enrol_totp(&self) -> bool {
        self.role.requires_totp() && !self.totp_enabled && !matches!(self.via, Via::Client { .. })
    }
}

/// PAT scopes a user may grant.
pub const SCOPES: &[&str] = &[
    "profile:read",
    "profile:write",
    "sessions:read",
    "sessions:write",
    "stores:read",
    "stores:write",
    "orders:read",
    "orders:write",
    "messages:read",
    "messages:write",
];

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
struct SessionInfo {
    live_until: i64,
    checked_at: i64,
    revoked: bool,
    user_id: String,
    username: String,
    role: Role,
    totp_enabled: bool,
    language: Option<String>,
}

/// The service.
pub struct Auth {
    /// Database.
    pub db: Db,
    /// Settings.
    pub cfg: AuthConfig,
    clock: Arc<dyn Clock>,
    /// Password hasher (bounded).
    pub hasher: PasswordHasher,
    /// Signing keys.
    pub keys: KeyManager,
    keyring: KeyRing,
    session_key: Vec<u8>,
    events: SecurityEvents,
    cache: Mutex<HashMap<String, SessionInfo>>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Auth")
    }
}

fn field(e: FieldError) -> AuthError {
    AuthError::Validation(FieldErrors(vec![e]))
}

fn hash_secret(s: &str) -> String {
    tokens::hash_token(s)
}

impl Auth {
    /// Builds the service.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        db: Db,
        cfg: AuthConfig,
        clock: Arc<dyn Clock>,
        hasher: PasswordHasher,
        keys: KeyManager,
        keyring: KeyRing,
        session_key: Vec<u8>,
        events: SecurityEvents,
    ) -> Self {
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
        }
    }

    /// Now, in ms.
    pub fn now(&self) -> i64 {
        self.clock.now_ms()
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

    /// Registers a customer account.
    pub async fn register(
        &self,
        input: RegisterInput,
        ctx: &ClientCtx,
    ) -> Result<UserRow, AuthError> {
        let mut errs = FieldErrors::new();
        let username = errs.take(Username::parse("username", &input.username));
        let email = match input
            .email
            .as_deref()
            .map(str::trim)
            .filter(|e| !e.is_empty())
        {
            Some(e) => errs
                .take(Email::parse("email", e))
                .map(Some)
                .unwrap_or(None),
            None => None,
        };
        let mut inputs: Vec<&str> = vec![input.username.as_str()];
        if let Some(e) = &input.email {
            inputs.push(e.as_str());
        }
        if let Err(issues) = check_new_password(input.password.expose(), &inputs) {
            for i in issues {
                errs.push(FieldError::new("password", i.code()));
            }
        }
        let invite = input
            .invite_code
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty());
        if let Some(c) = invite {
            if c.len() > 128 {
                errs.push(FieldError::new("invite_code", "too_long"));
            }
        }
        let referral = input
            .referral_code
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty());
        if let Some(c) = referral {
            if c.len() > 64 {
                errs.push(FieldError::new("referral_code", "too_long"));
            }
        }
        errs.clone().into_result().map_err(AuthError::Validation)?;
        let (Some(username), email) = (username, email) else {
            return Err(AuthError::Validation(errs));
        };
        if self.cfg.invite_required && invite.is_none() {
            return Err(AuthError::InviteRequired);
        }
        let referred_by = match referral {
            Some(code) => match users::find_by_referral_code(&self.db, code).await? {
                Some(u) => Some(u.id),
                None => return Err(field(FieldError::new("referral_code", "unknown"))),
            },
            None => None,
        };
        let phc = self.hasher.hash(&input.password).await?;
        let now = self.now();
        let own_code = {
            let (t, _) = random_token("");
            t.chars()
                .filter(|c| c.is_ascii_alphanumeric())
                .take(10)
                .collect::<String>()
        };
        let mut tx = self.db.begin().await?;
        if let Some(code) = invite {
            if !misc::consume_invite(&mut tx, &hash_secret(code), now).await? {
                return Err(AuthError::InviteInvalid);
            }
        }
        let id = match users::create(
            &mut tx,
            NewUser {
                username: username.as_str(),
                email: email.as_ref().map(|e| e.as_str()),
                password_hash: &phc,
                role: Role::Customer,
                referred_by: referred_by.as_deref(),
                referral_code: Some(&own_code),
                now,
            },
        )
        .await
        {
            Ok(id) => id,
            Err(StoreError::Conflict(c)) => {
                let f = if c.contains("email") {
                    "email"
                } else {
                    "username"
                };
                return Err(AuthError::Conflict(FieldErrors(vec![FieldError::new(
                    f, "taken",
                )])));
            }
            Err(e) => return Err(e.into()),
        };
        let user = users::find_by_id_tx(&mut tx, &id)
            .await?
            .ok_or(AuthError::NotFound)?;
        tx.commit().await?;
        self.emit(
            SecurityEvent::AccountStatusChange,
            ctx,
            Some(&id),
            &[("status", "registered")],
        );
        Ok(user)
    }

    // ----- login ------------------------------------------------------------

    /// Checks credentials with the lockout rule (A8). Every failure looks the same to
    /// the caller and costs the same time, whether or not the account exists.
    pub async fn check_credentials(
        &self,
        login: &str,
        password: &SecretString,
        totp_code: Option<&str>,
        ctx: &ClientCtx,
    ) -> Result<UserRow, AuthError> {
        let now = self.now();
        let login_norm = login.trim().to_lowercase();
        // Counted in rampart_security_events_total{event="login_failure"}.
        let fail = |reason: &str, user: Option<&str>| {
            self.emit(
                SecurityEvent::LoginFailure,
                ctx,
                user,
                &[("reason", reason)],
            );
        };
        if login_norm.is_empty() || login_norm.len() > Email::MAX || password.expose().len() > 1024
        {
            self.hasher.verify_dummy(password).await?;
            fail("malformed", None);
            return Err(AuthError::InvalidCredentials);
        }
        let Some(user) = users::find_by_login(&self.db, &login_norm).await? else {
            self.hasher.verify_dummy(password).await?;
            fail("unknown_account", None);
            return Err(AuthError::InvalidCredentials);
        };
        if user.locked_until.is_some_and(|t| t > now) {
            // Same cost as a real attempt; the answer does not reveal the lock.
            self.hasher.verify_dummy(password).await?;
            fail("locked", Some(&user.id));
            return Err(AuthError::InvalidCredentials);
        }
        let verified = self.hasher.verify(password, &user.password_hash).await?;
        if !verified.ok {
            self.register_failure(&user, ctx, now).await?;
            fail("wrong_password", Some(&user.id));
            return Err(AuthError::InvalidCredentials);
        }
        if !user.status().map(|s| s.may_authenticate()).unwrap_or(false) {
            fail("account_not_active", Some(&user.id));
            return Err(AuthError::InvalidCredentials);
        }
        if user.totp_enabled {
            let Some(code) = totp_code.map(str::trim).filter(|c| !c.is_empty()) else {
                return Err(AuthError::TotpRequired);
            };
            if !self.check_second_factor(&user, code, now).await? {
                self.register_failure(&user, ctx, now).await?;
                self.emit(SecurityEvent::TotpFailure, ctx, Some(&user.id), &[]);
                fail("totp", Some(&user.id));
                return Err(AuthError::TotpInvalid);
            }
        }
        if verified.needs_rehash {
            let phc = self.hasher.hash(password).await?;
            users::set_password_hash(&self.db, &user.id, &phc, now, false).await?;
        }
        if user.locked_until.is_some() || sessions::failures_since(&self.db, &user.id, 0).await? > 0
        {
            sessions::set_lock(&self.db, &user.id, None).await?;
        }
        Ok(user)
    }

    async fn register_failure(
        &self,
        user: &UserRow,
        ctx: &ClientCtx,
        now: i64,
    ) -> Result<(), AuthError> {
        sessions::record_failure(&self.db, &user.id, now).await?;
        let since = now - self.cfg.lockout_window_secs * 1000;
        let n = sessions::failures_since(&self.db, &user.id, since).await?;
        if n >= self.cfg.lockout_threshold {
            sessions::set_lock(&self.db, &user.id, Some(now + self.cfg.lockout_secs * 1000))
                .await?;
            self.emit(
                SecurityEvent::Lockout,
                ctx,
                Some(&user.id),
                &[("minutes", &(self.cfg.lockout_secs / 60).to_string())],
            );
        }
        Ok(())
    }

    /// A TOTP code (±1 step, no replay) or an unused recovery code.
    async fn check_second_factor(
        &self,
        user: &UserRow,
        code: &str,
        now: i64,
    ) -> Result<bool, AuthError> {
        let Some(secret) = self.totp_secret(user)? else {
            return Ok(false);
        };
        let last = user.totp_last_step.and_then(|s| u64::try_from(s).ok());
        if let Some(enc) = &user.totp_secret {
            // Lazy re-encryption after an encryption-key rotation.
            if self.keyring.needs_reencrypt(enc) {
                let aad = format!("users.totp_secret:{}", user.id);
                if let Ok(fresh) = self.keyring.encrypt(&secret, aad.as_bytes()) {
                    misc::set_totp_secret(&self.db, &user.id, &fresh).await?;
                }
            }
        }
        if let Some(step) = totp::verify(&secret, code, now / 1000, last) {
            // The conditional update is the replay guard under concurrency too.
            return Ok(misc::advance_totp_step(&self.db, &user.id, step as i64).await?);
        }
        if let Some(h) = totp::hash_recovery_code(code) {
            return Ok(misc::use_recovery_code(&self.db, &user.id, &h, now).await?);
        }
        Ok(false)
    }

    fn totp_secret(&self, user: &UserRow) -> Result<Option<Vec<u8>>, AuthError> {
        let Some(enc) = &user.totp_secret else {
            return Ok(None);
        };
        let aad = format!("users.totp_secret:{}", user.id);
        self.keyring
            .decrypt(enc, aad.as_bytes())
            .map(Some)
            .map_err(|e| AuthError::Internal(format!("totp secret: {e}")))
    }

    fn timeouts(&self, role: Role) -> (i64, i64) {
        if role.is_staff() {
            (
                self.cfg.staff_idle_secs * 1000,
                self.cfg.staff_absolute_secs * 1000,
            )
        } else {
            (self.cfg.idle_secs * 1000, self.cfg.absolute_secs * 1000)
        }
    }

    /// Creates a session row (web or api), evicting the oldest past the limit and
    /// noting new devices. Returns the session ID.
    async fn open_session(
        &self,
        user: &UserRow,
        kind: &str,
        token_hash: Option<&str>,
        ctx: &ClientCtx,
    ) -> Result<(String, i64), AuthError> {
        let now = self.now();
        let role = user.role()?;
        let (idle, absolute) = self.timeouts(role);
        let sid = uuid::Uuid::new_v4().to_string();
        let family = ua_family(&ctx.user_agent);
        let prefix = ctx.ip_prefix();
        let ua: String = ctx
            .user_agent
            .chars()
            .filter(|c| !c.is_control())
            .take(256)
            .collect();
        let mut tx = self.db.begin().await?;
        sessions::create(
            &mut tx,
            NewSession {
                id: &sid,
                user_id: &user.id,
                kind,
                token_hash,
                role: role.as_str(),
                now,
                idle_expires_at: now + idle,
                expires_at: now + absolute,
                user_agent: &ua,
                ua_family: family,
                ip_prefix: &prefix,
            },
        )
        .await?;
        let live = sessions::list_active_tx(&mut tx, &user.id, now).await?;
        let mut evicted = Vec::new();
        if live.len() > self.cfg.max_sessions {
            for old in live.iter().take(live.len() - self.cfg.max_sessions) {
                sessions::revoke_tx(&mut tx, &old.id, now, "evicted").await?;
                evicted.push(old.id.clone());
            }
        }
        let fingerprint = format!("{family}|{prefix}");
        let new_device = sessions::remember_device(&mut tx, &user.id, &fingerprint, now).await?;
        tx.commit().await?;
        for id in &evicted {
            self.forget(id, true);
            self.emit(
                SecurityEvent::SessionEvicted,
                ctx,
                Some(&user.id),
                &[("session_id", id)],
            );
        }
        if new_device {
            self.emit(
                SecurityEvent::NewDeviceLogin,
                ctx,
                Some(&user.id),
                &[("device", family)],
            );
            if let Some(email) = &user.email {
                let body = format!(
                    "A new sign-in to your Rampart account {} from {} ({}).\nIf this was not you, change your password and end your other sessions at {}/settings/sessions.",
                    user.username, family, prefix, self.cfg.public_origin
                );
                misc::enqueue_mail(
                    &self.db,
                    email,
                    "new_device",
                    "New sign-in to your account",
                    &body,
                    now,
                )
                .await?;
            }
        }
        self.emit(
            SecurityEvent::LoginSuccess,
            ctx,
            Some(&user.id),
            &[("kind", kind)],
        );
        Ok((sid, absolute))
    }

    /// Logs in for the web: a new server-side session (new ID every login).
    pub async fn login_web(
        &self,
        login: &str,
        password: &SecretString,
        totp: Option<&str>,
        ctx: &ClientCtx,
    ) -> Result<WebLogin, AuthError> {
        let user = self.check_credentials(login, password, totp, ctx).await?;
        self.start_web_session(&user, ctx).await
    }

    /// Starts a web session for an already authenticated user.
    pub async fn start_web_session(
        &self,
        user: &UserRow,
        ctx: &ClientCtx,
    ) -> Result<WebLogin, AuthError> {
        let (secret, hash) = random_token("rses_");
        let (sid, absolute) = self
            .open_session(user, "web", Some(&hash.to_hex()), ctx)
            .await?;
        Ok(WebLogin {
            cookie: format!("{sid}.{secret}"),
            session_id: sid,
            max_age_secs: absolute / 1000,
            user_id: user.id.clone(),
        })
    }

    /// Logs in for the API: a session with a refresh family and an access token.
    pub async fn login_api(
        &self,
        login: &str,
        password: &SecretString,
        totp: Option<&str>,
        ctx: &ClientCtx,
    ) -> Result<TokenPair, AuthError> {
        let user = self.check_credentials(login, password, totp, ctx).await?;
        let (sid, _) = self.open_session(&user, "api", None, ctx).await?;
        let now = self.now();
        let (refresh, hash) = random_token(tokens::REFRESH_PREFIX);
        let mut tx = self.db.begin().await?;
        tstore::insert_refresh(
            &mut tx,
            &uuid::Uuid::new_v4().to_string(),
            &sid,
            &hash.to_hex(),
            None,
            now,
            now + self.cfg.refresh_ttl_secs * 1000,
        )
        .await?;
        tx.commit().await?;
        let access = self.issue_access(&user.id, &sid, None)?;
        self.emit(
            SecurityEvent::TokenCreated,
            ctx,
            Some(&user.id),
            &[("session_id", &sid)],
        );
        Ok(TokenPair {
            access_token: access,
            expires_in: self.cfg.access_ttl_secs,
            refresh_token: refresh,
            session_id: sid,
        })
    }

    /// Signs an access token.
    pub fn issue_access(
        &self,
        sub: &str,
        sid: &str,
        scope: Option<String>,
    ) -> Result<String, AuthError> {
        let now = self.now() / 1000;
        let claims = AccessClaims {
            iss: self.cfg.issuer.clone(),
            aud: self.cfg.audience.clone(),
            sub: sub.to_owned(),
            sid: sid.to_owned(),
            exp: now + self.cfg.access_ttl_secs,
            iat: now,
            jti: uuid::Uuid::new_v4().to_string(),
            scope,
        };
        self.keys
            .sign(&claims)
            .map(|(t, _)| t)
            .ok_or_else(|| AuthError::Internal("no active signing key".into()))
    }

    // ----- refresh rotation ---------------------------------------------------

    /// The successor of a refresh token is derived from it under the session key, so
    /// a repeat within the grace window gets the same successor without the server
    /// ever storing a plaintext token.
    fn successor_of(&self, token: &str) -> String {
        let mut mac = match Hmac::<Sha256>::new_from_slice(&self.session_key) {
            Ok(m) => m,
            Err(_) => return random_token(tokens::REFRESH_PREFIX).0,
        };
        mac.update(b"rampart-refresh-successor-v1\0");
        mac.update(token.as_bytes());
        let bytes: [u8; 32] = mac.finalize().into_bytes().into();
        tokens::token_from_bytes(tokens::REFRESH_PREFIX, &bytes)
    }

    /// Rotates a refresh token (A5). Reuse of a rotated token outside the grace window
    /// revokes the whole family; within it the same successor is returned. Never two
    /// live successors.
    pub async fn refresh(&self, token: &str, ctx: &ClientCtx) -> Result<TokenPair, AuthError> {
        if !tokens::is_well_formed(tokens::REFRESH_PREFIX, token) {
            return Err(AuthError::TokenInvalid);
        }
        let now = self.now();
        let hash = TokenHash::of(token).to_hex();
        let mut tx = self.db.begin().await?;
        let Some(row) = tstore::refresh_for_update(&mut tx, &hash).await? else {
            return Err(AuthError::TokenInvalid);
        };
        let session = sessions::get_tx(&mut tx, &row.session_id)
            .await?
            .ok_or(AuthError::TokenInvalid)?;
        if session.revoked_at.is_some() || row.revoked_at.is_some() {
            return Err(AuthError::TokenRevoked);
        }
        if row.expires_at <= now || session.expires_at <= now {
            return Err(AuthError::RefreshExpired);
        }
        let user = users::find_by_id_tx(&mut tx, &session.user_id)
            .await?
            .ok_or(AuthError::TokenInvalid)?;
        if !user.status()?.may_authenticate() || user.role != session.role_at_login {
            sessions::revoke_tx(&mut tx, &session.id, now, "account_changed").await?;
            tx.commit().await?;
            self.forget(&session.id, true);
            return Err(AuthError::TokenRevoked);
        }
        let successor_plain = self.successor_of(token);
        let successor_hash = TokenHash::of(&successor_plain).to_hex();
        if let Some(rotated_at) = row.rotated_at {
            let within_grace = now - rotated_at <= self.cfg.refresh_grace_secs * 1000;
            let successor = match &row.successor_id {
                Some(id) => tstore::refresh_by_id(&mut tx, id).await?,
                None => None,
            };
            let successor_still_current = successor.as_ref().is_some_and(|s| {
                s.rotated_at.is_none() && s.revoked_at.is_none() && s.token_hash == successor_hash
            });
            if within_grace && successor_still_current {
                tx.commit().await?;
                let access = self.issue_access(&user.id, &session.id, None)?;
                return Ok(TokenPair {
                    access_token: access,
                    expires_in: self.cfg.access_ttl_secs,
                    refresh_token: successor_plain,
                    session_id: session.id,
                });
            }
            sessions::revoke_tx(&mut tx, &session.id, now, "refresh_reuse").await?;
            tx.commit().await?;
            self.forget(&session.id, true);
            self.emit(
                SecurityEvent::RefreshReuseDetected,
                ctx,
                Some(&user.id),
                &[("session_id", &session.id)],
            );
            self.emit(
                SecurityEvent::SessionRevoked,
                ctx,
                Some(&user.id),
                &[("reason", "refresh_reuse")],
            );
            return Err(AuthError::RefreshReused);
        }
        if self.fingerprint_changed(&session, &user, ctx)? {
            // Revoked in this transaction: a second one would wait on this one's
            // connection (SQLite) or row lock (PostgreSQL) for ever.
            sessions::revoke_tx(&mut tx, &session.id, now, "suspicious").await?;
            tx.commit().await?;
            self.forget(&session.id, true);
            self.emit(
                SecurityEvent::SessionRevoked,
                ctx,
                Some(&user.id),
                &[("reason", "suspicious")],
            );
            return Err(AuthError::TokenRevoked);
        }
        let successor_id = uuid::Uuid::new_v4().to_string();
        tstore::insert_refresh(
            &mut tx,
            &successor_id,
            &session.id,
            &successor_hash,
            Some(&row.id),
            now,
            now + self.cfg.refresh_ttl_secs * 1000,
        )
        .await?;
        if !tstore::mark_rotated(&mut tx, &row.id, &successor_id, now).await? {
            return Err(AuthError::TokenRevoked);
        }
        let (idle, _) = self.timeouts(user.role()?);
        tx.commit().await?;
        sessions::touch(&self.db, &session.id, now, now + idle).await?;
        let access = self.issue_access(&user.id, &session.id, None)?;
        self.emit(
            SecurityEvent::TokenRotated,
            ctx,
            Some(&user.id),
            &[("session_id", &session.id)],
        );
        Ok(TokenPair {
            access_token: access,
            expires_in: self.cfg.access_ttl_secs,
            refresh_token: successor_plain,
            session_id: session.id,
        })
    }

    /// Fingerprint check (A10): a change of browser family or IP prefix is
    /// suspicious (event); returns `true` when the session must end (staff and
    /// above). The caller revokes it, inside its own transaction when it holds one.
    fn fingerprint_changed(
        &self,
        s: &SessionRow,
        user: &UserRow,
        ctx: &ClientCtx,
    ) -> Result<bool, AuthError> {
        let family = ua_family(&ctx.user_agent);
        let prefix = ctx.ip_prefix();
        if family == s.ua_family && prefix == s.ip_prefix {
            return Ok(false);
        }
        self.emit(
            SecurityEvent::SuspiciousSession,
            ctx,
            Some(&user.id),
            &[
                ("session_id", &s.id),
                ("was", &format!("{}|{}", s.ua_family, s.ip_prefix)),
            ],
        );
        Ok(user.role()?.is_staff())
    }

    // ----- authentication of requests ----------------------------------------

    fn forget(&self, sid: &str, revoked: bool) {
        if let Ok(mut c) = self.cache.lock() {
            if revoked {
                if let Some(e) = c.get_mut(sid) {
                    e.revoked = true;
                    return;
                }
                c.insert(
                    sid.to_owned(),
                    SessionInfo {
                        live_until: 0,
                        checked_at: i64::MAX / 2,
                        revoked: true,
                        user_id: String::new(),
                        username: String::new(),
                        role: Role::Customer,
                        totp_enabled: false,
                        language: None,
                    },
                );
            } else {
                c.remove(sid);
            }
        }
    }

    /// Marks sessions revoked in this process's cache (after their transaction committed).
    fn forget_revoked(&self, ids: &[String]) {
        for id in ids {
            self.forget(id, true);
        }
    }

    /// Session facts, from the cache when fresh, else the database.
    async fn session_info(&self, sid: &str, now: i64) -> Result<SessionInfo, AuthError> {
        if let Ok(c) = self.cache.lock() {
            if let Some(e) = c.get(sid) {
                if e.revoked {
                    return Ok(e.clone());
                }
                if now - e.checked_at < self.cfg.revocation_cache_ms && now < e.live_until {
                    return Ok(e.clone());
                }
            }
        }
        let s = sessions::get(&self.db, sid)
            .await?
            .ok_or(AuthError::TokenInvalid)?;
        let u = users::find_by_id(&self.db, &s.user_id)
            .await?
            .ok_or(AuthError::TokenInvalid)?;
        let revoked =
            s.revoked_at.is_some() || !u.status()?.may_authenticate() || u.role != s.role_at_login;
        let info = SessionInfo {
            live_until: s.expires_at.min(s.idle_expires_at),
            checked_at: now,
            revoked,
            user_id: u.id.clone(),
            username: u.username.clone(),
            role: u.role()?,
            totp_enabled: u.totp_enabled,
            language: u.language.clone(),
        };
        if let Ok(mut c) = self.cache.lock() {
            if c.len() > 100_000 {
                c.retain(|_, e| {
                    now - e.checked_at < self.cfg.revocation_cache_ms
                        || e.revoked && now < e.live_until
                });
            }
            c.insert(sid.to_owned(), info.clone());
        }
        Ok(info)
    }

    /// Verifies a bearer access token, with the revocation check.
    pub async fn verify_access(&self, token: &str) -> Result<Principal, AuthError> {
        let now = self.now();
        let claims = self
            .keys
            .verify(token, now / 1000, &self.cfg.issuer, &self.cfg.audience)
            .map_err(|e| match e {
                JwtError::Expired => AuthError::TokenExpired,
                JwtError::Invalid(_) => AuthError::TokenInvalid,
            })?;
        if let Some(client) = claims.sub.strip_prefix("client:") {
            // Client tokens have no session; a revoked client's tokens fail at once.
            match misc::oauth_client(&self.db, client).await? {
                Some(c) if c.revoked_at.is_none() => {}
                _ => return Err(AuthError::TokenRevoked),
            }
            return Ok(Principal {
                user_id: claims.sub.clone(),
                username: client.to_owned(),
                role: Role::Customer,
                totp_enabled: false,
                language: None,
                via: Via::Client {
                    client_id: client.to_owned(),
                    scopes: claims
                        .scope
                        .unwrap_or_default()
                        .split_whitespace()
                        .map(str::to_owned)
                        .collect(),
                },
            });
        }
        let info = self.session_info(&claims.sid, now).await?;
        if info.revoked || info.user_id != claims.sub {
            return Err(AuthError::TokenRevoked);
        }
        if now >= info.live_until {
            return Err(AuthError::TokenExpired);
        }
        Ok(Principal {
            user_id: info.user_id,
            username: info.username,
            role: info.role,
            totp_enabled: info.totp_enabled,
            language: info.language,
            via: Via::Bearer { sid: claims.sid },
        })
    }

    /// Authenticates a web session cookie `{sid}.{secret}`; extends the idle timeout.
    pub async fn authenticate_cookie(
        &self,
        cookie: &str,
        ctx: &ClientCtx,
    ) -> Result<Principal, AuthError> {
        let (sid, secret) = cookie.split_once('.').ok_or(AuthError::TokenInvalid)?;
        if sid.len() > 64 || secret.len() > 128 {
            return Err(AuthError::TokenInvalid);
        }
        let now = self.now();
        let s = sessions::get(&self.db, sid)
            .await?
            .ok_or(AuthError::TokenInvalid)?;
        let expected = s
            .token_hash
            .as_deref()
            .and_then(TokenHash::from_hex)
            .ok_or(AuthError::TokenInvalid)?;
        if TokenHash::of(secret) != expected {
            return Err(AuthError::TokenInvalid);
        }
        if s.revoked_at.is_some() {
            return Err(AuthError::TokenRevoked);
        }
        if s.expires_at <= now || s.idle_expires_at <= now {
            return Err(AuthError::TokenExpired);
        }
        let u = users::find_by_id(&self.db, &s.user_id)
            .await?
            .ok_or(AuthError::TokenInvalid)?;
        let role = u.role()?;
        if !u.status()?.may_authenticate() || u.role != s.role_at_login {
            self.revoke_session(&s.id, now, "account_changed").await?;
            return Err(AuthError::TokenRevoked);
        }
        if self.fingerprint_changed(&s, &u, ctx)? {
            self.revoke_session(&s.id, now, "suspicious").await?;
            self.emit(
                SecurityEvent::SessionRevoked,
                ctx,
                Some(&u.id),
                &[("reason", "suspicious")],
            );
            return Err(AuthError::TokenRevoked);
        }
        let (idle, _) = self.timeouts(role);
        // Sliding idle expiry; written at most once a minute per session.
        if now - s.last_seen_at > 60_000 {
            sessions::touch(&self.db, &s.id, now, now + idle).await?;
        }
        Ok(Principal {
            user_id: u.id,
            username: u.username,
            role,
            totp_enabled: u.totp_enabled,
            language: u.language,
            via: Via::Session { sid: s.id },
        })
    }

    /// Authenticates a personal access token.
    pub async fn authenticate_pat(&self, token: &str) -> Result<Principal, AuthError> {
        if !tokens::is_well_formed(tokens::PAT_PREFIX, token) {
            return Err(AuthError::TokenInvalid);
        }
        let now = self.now();
        let pat = tstore::pat_by_hash(&self.db, &TokenHash::of(token).to_hex())
            .await?
            .ok_or(AuthError::TokenInvalid)?;
        if pat.expires_at.is_some_and(|t| t <= now) {
            return Err(AuthError::TokenExpired);
        }
        let u = users::find_by_id(&self.db, &pat.user_id)
            .await?
            .ok_or(AuthError::TokenInvalid)?;
        if !u.status()?.may_authenticate() {
            return Err(AuthError::TokenRevoked);
        }
        if pat.last_used_at.is_none_or(|t| now - t > 60_000) {
            tstore::touch_pat(&self.db, &pat.id, now).await?;
        }
        Ok(Principal {
            user_id: u.id.clone(),
            username: u.username.clone(),
            role: u.role()?,
            totp_enabled: u.totp_enabled,
            language: u.language.clone(),
            via: Via::Pat {
                id: pat.id,
                scopes: pat.scopes.split_whitespace().map(str::to_owned).collect(),
            },
        })
    }

    // ----- revocation -------------------------------------------------------

    /// Revokes one session and its refresh family, effective at once here.
    pub async fn revoke_session(
        &self,
        sid: &str,
        now: i64,
        reason: &str,
    ) -> Result<bool, AuthError> {
        let mut tx = self.db.begin().await?;
        let live = sessions::revoke_tx(&mut tx, sid, now, reason).await?;
        tx.commit().await?;
        self.forget(sid, true);
        Ok(live)
    }

    /// Revokes a user's session if it is theirs (404 otherwise).
    pub async fn revoke_own_session(
        &self,
        user_id: &str,
        sid: &str,
        ctx: &ClientCtx,
    ) -> Result<(), AuthError> {
        let s = sessions::get(&self.db, sid)
            .await?
            .ok_or(AuthError::NotFound)?;
        if s.user_id != user_id || s.revoked_at.is_some() {
            return Err(AuthError::NotFound);
        }
        self.revoke_session(sid, self.now(), "user").await?;
        self.emit(
            SecurityEvent::SessionRevoked,
            ctx,
            Some(user_id),
            &[("session_id", sid), ("reason", "user")],
        );
        Ok(())
    }

    /// Revokes every session of a user except `keep`.
    pub async fn revoke_all(
        &self,
        user_id: &str,
        keep: Option<&str>,
        reason: &str,
        ctx: &ClientCtx,
    ) -> Result<usize, AuthError> {
        let now = self.now();
        let mut tx = self.db.begin().await?;
        let ids = sessions::revoke_all_tx(&mut tx, user_id, keep, now, reason).await?;
        tx.commit().await?;
        self.forget_revoked(&ids);
        if !ids.is_empty() {
            self.emit(
                SecurityEvent::SessionRevoked,
                ctx,
                Some(user_id),
                &[("reason", reason), ("count", &ids.len().to_string())],
            );
        }
        Ok(ids.len())
    }

    /// Live sessions of a user.
    pub async fn list_sessions(&self, user_id: &str) -> Result<Vec<SessionRow>, AuthError> {
        Ok(sessions::list_active(&self.db, user_id, self.now()).await?)
    }

    /// Bans or unbans a user (A11): status change, every session and refresh family
    /// revoked, audited in the same transaction.
    pub async fn set_status(
        &self,
        actor: Option<&str>,
        user_id: &str,
        status: AccountStatus,
        ctx: &ClientCtx,
    ) -> Result<(), AuthError> {
        let now = self.now();
        let mut tx = self.db.begin().await?;
        let before = users::find_by_id_tx(&mut tx, user_id)
            .await?
            .ok_or(AuthError::NotFound)?;
        users::set_status_tx(&mut tx, user_id, status, now).await?;
        let (ids, pats) = if status.may_authenticate() {
            (Vec::new(), 0)
        } else {
            // PATs are deleted, not just refused while banned: an unban must not
            // bring back credentials the ban revoked (A11).
            let pats = tstore::delete_all_pats_tx(&mut tx, user_id).await?;
            (
                sessions::revoke_all_tx(&mut tx, user_id, None, now, "banned").await?,
                pats,
            )
        };
        let action = if status == AccountStatus::Banned {
            ActionType::UserBan
        } else {
            ActionType::UserUnban
        };
        audit::record(
            &mut tx,
            NewAuditEntry {
                actor_user_uuid: actor,
                action,
                target_type: "user",
                target_id: user_id,
                metadata: serde_json::json!({"old_status": before.status, "new_status": status.as_str(), "pats_deleted": pats}),
                request_id: ctx.request_id.as_deref(),
                created_at: now,
            },
        )
        .await?;
        tx.commit().await?;
        self.forget_revoked(&ids);
        self.emit(
            SecurityEvent::AccountStatusChange,
            ctx,
            Some(user_id),
            &[("status", status.as_str())],
        );
        Ok(())
    }

    /// Changes a user's role (privilege change ends their sessions, so the next login
    /// gets a new session ID), audited.
    pub async fn set_role(
        &self,
        actor: Option<&str>,
        user_id: &str,
        role: Role,
        ctx: &ClientCtx,
    ) -> Result<(), AuthError> {
        let now = self.now();
        let mut tx = self.db.begin().await?;
        let before = users::find_by_id_tx(&mut tx, user_id)
            .await?
            .ok_or(AuthError::NotFound)?;
        users::set_role_tx(&mut tx, user_id, role, now).await?;
        let ids = sessions::revoke_all_tx(&mut tx, user_id, None, now, "role_change").await?;
        // Tokens minted under the old role must not carry the new one's authority.
        let pats_deleted = tstore::delete_all_pats_tx(&mut tx, user_id).await?;
        let action = match role {
            Role::Staff => ActionType::GrantStaff,
            Role::Seller => ActionType::GrantSeller,
            _ => ActionType::RoleChange,
        };
        audit::record(
            &mut tx,
            NewAuditEntry {
                actor_user_uuid: actor,
                action,
                target_type: "user",
                target_id: user_id,
                metadata: serde_json::json!({"old_role": before.role, "new_role": role.as_str(), "pats_deleted": pats_deleted}),
                request_id: ctx.request_id.as_deref(),
                created_at: now,
            },
        )
        .await?;
        tx.commit().await?;
        self.forget_revoked(&ids);
        Ok(())
    }

    // ----- passwords -------------------------------------------------------

    /// Starts a password reset. The answer never depends on whether the account
    /// exists: the lookup and mail happen in a background task, so the response time
    /// does not either.
    pub fn request_reset(self: &Arc<Self>, login: &str, ctx: &ClientCtx) {
        let login = login.trim().to_lowercase();
        self.emit(SecurityEvent::PasswordResetRequest, ctx, None, &[]);
        if login.is_empty() || login.len() > Email::MAX {
            return;
        }
        let me = self.clone();
        tokio::spawn(async move {
            if let Err(e) = me.create_reset(&login).await {
                tracing::warn!(error = %e, "password reset request failed");
            }
        });
    }

    async fn create_reset(&self, login: &str) -> Result<(), AuthError> {
        let Some(user) = users::find_by_login(&self.db, login).await? else {
            return Ok(());
        };
        let Some(email) = user.email.clone() else {
            return Ok(());
        };
        if !user.status()?.may_authenticate() {
            return Ok(());
        }
        let now = self.now();
        let (token, hash) = random_token(tokens::RESET_PREFIX);
        let mut tx = self.db.begin().await?;
        tstore::new_reset(
            &mut tx,
            &user.id,
            &hash.to_hex(),
            now,
            now + self.cfg.reset_ttl_secs * 1000,
        )
        .await?;
        tx.commit().await?;
        let body = format!(
            "Someone asked to reset the password of {}.\nOpen {}/reset?token={} within {} minutes to choose a new one.\nIf it was not you, ignore this message.",
            user.username,
            self.cfg.public_origin,
            token,
            self.cfg.reset_ttl_secs / 60
        );
        misc::enqueue_mail(
            &self.db,
            &email,
            "password_reset",
            "Reset your Rampart password",
            &body,
            now,
        )
        .await?;
        Ok(())
    }

    /// Sets a new password with a reset token (A3); ends every session and refresh
    /// family of the account.
    pub async fn confirm_reset(
        &self,
        token: &str,
        new_password: &SecretString,
        ctx: &ClientCtx,
    ) -> Result<(), AuthError> {
        if !tokens::is_well_formed(tokens::RESET_PREFIX, token) {
            return Err(AuthError::ResetTokenInvalid);
        }
        let now = self.now();
        let hash = TokenHash::of(token).to_hex();
        let mut tx = self.db.begin().await?;
        let row = tstore::reset_by_hash(&mut tx, &hash)
            .await?
            .ok_or(AuthError::ResetTokenInvalid)?;
        let user = users::find_by_id_tx(&mut tx, &row.user_id)
            .await?
            .ok_or(AuthError::ResetTokenInvalid)?;
        if row.used_at.is_some()
            || row.invalidated_at.is_some()
            || row.expires_at <= now
            || row.created_at < user.password_changed_at
        {
            return Err(AuthError::ResetTokenInvalid);
        }
        let mut inputs = vec![user.username.as_str()];
        if let Some(e) = &user.email {
            inputs.push(e);
        }
        if let Err(issues) = check_new_password(new_password.expose(), &inputs) {
            return Err(AuthError::Validation(FieldErrors(
                issues
                    .iter()
                    .map(|i| FieldError::new("password", i.code()))
                    .collect(),
            )));
        }
        drop(tx);
        let phc = self.hasher.hash(new_password).await?;
        let mut tx = self.db.begin().await?;
        if !tstore::use_reset(&mut tx, &row.id, now).await? {
            return Err(AuthError::ResetTokenInvalid);
        }
        users::set_password_tx(&mut tx, &user.id, &phc, now).await?;
        tstore::invalidate_resets(&mut tx, &user.id, now).await?;
        // Account recovery ends every credential, PATs included (one minted by
        // whoever had the account must not outlive the reset).
        tstore::delete_all_pats_tx(&mut tx, &user.id).await?;
        let ids = sessions::revoke_all_tx(&mut tx, &user.id, None, now, "password_reset").await?;
        tx.commit().await?;
        self.forget_revoked(&ids);
        sessions::set_lock(&self.db, &user.id, None).await?;
        self.emit(SecurityEvent::PasswordReset, ctx, Some(&user.id), &[]);
        Ok(())
    }

    /// Changes the password of a signed-in user; every other session ends.
    pub async fn change_password(
        &self,
        p: &Principal,
        current: &SecretString,
        new_password: &SecretString,
        ctx: &ClientCtx,
    ) -> Result<(), AuthError> {
        let user = users::find_by_id(&self.db, &p.user_id)
            .await?
            .ok_or(AuthError::NotFound)?;
        let now = self.now();
        // A stolen session must not become a password-guessing oracle: wrong current
        // passwords count toward the account lockout like failed logins, and a locked
        // account cannot change its password.
        if user.locked_until.is_some_and(|t| t > now) {
            self.hasher.verify_dummy(current).await?;
            return Err(AuthError::Validation(FieldErrors(vec![FieldError::new(
                "current_password",
                "incorrect",
            )])));
        }
        if !self.hasher.verify(current, &user.password_hash).await?.ok {
            self.register_failure(&user, ctx, now).await?;
            return Err(AuthError::Validation(FieldErrors(vec![FieldError::new(
                "current_password",
                "incorrect",
            )])));
        }
        let mut inputs = vec![user.username.as_str()];
        if let Some(e) = &user.email {
            inputs.push(e);
        }
        if let Err(issues) = check_new_password(new_password.expose(), &inputs) {
            return Err(AuthError::Validation(FieldErrors(
                issues
                    .iter()
                    .map(|i| FieldError::new("new_password", i.code()))
                    .collect(),
            )));
        }
        let phc = self.hasher.hash(new_password).await?;
        let now = self.now();
        let mut tx = self.db.begin().await?;
        users::set_password_tx(&mut tx, &user.id, &phc, now).await?;
        tstore::invalidate_resets(&mut tx, &user.id, now).await?;
        let ids =
            sessions::revoke_all_tx(&mut tx, &user.id, p.session_id(), now, "password_change")
                .await?;
        tx.commit().await?;
        self.forget_revoked(&ids);
        self.emit(SecurityEvent::PasswordChange, ctx, Some(&user.id), &[]);
        Ok(())
    }

    // ----- personal access tokens --------------------------------------------

    /// Validates a PAT name and scopes.
    pub fn parse_pat_fields(name: &str, scopes: &[String]) -> Result<(String, String), AuthError> {
        let mut errs = FieldErrors::new();
        let name = errs.take(bounded_text("name", name, 1, 100));
        if scopes.is_empty() {
            errs.push(FieldError::new("scopes", "required"));
        } else if scopes.len() > SCOPES.len()
            || scopes.iter().any(|s| !SCOPES.contains(&s.as_str()))
        {
            errs.push(FieldError::new("scopes", "unknown_scope"));
        }
        errs.clone().into_result().map_err(AuthError::Validation)?;
        let mut s: Vec<&str> = scopes.iter().map(String::as_str).collect();
        s.sort_unstable();
        s.dedup();
        Ok((name.unwrap_or_default(), s.join(" ")))
    }

    /// Creates a PAT; the plaintext is returned once.
    pub async fn create_pat(
        &self,
        p: &Principal,
        name: &str,
        scopes: &[String],
        expires_in_days: Option<i64>,
        ctx: &ClientCtx,
    ) -> Result<(tstore::PatRow, String), AuthError> {
        let (name, scopes) = Self::parse_pat_fields(name, scopes)?;
        if let Some(d) = expires_in_days {
            if !(1..=366).contains(&d) {
                return Err(field(FieldError::new("expires_in_days", "out_of_range")));
            }
        }
        let now = self.now();
        let (token, hash) = random_token(tokens::PAT_PREFIX);
        let id = uuid::Uuid::now_v7().to_string();
        let display: String = token.chars().take(tokens::PAT_PREFIX.len() + 4).collect();
        let expires_at = expires_in_days.map(|d| now + d * 86_400_000);
        tstore::insert_pat(
            &self.db,
            &id,
            &p.user_id,
            &name,
            &hash.to_hex(),
            &display,
            &scopes,
            now,
            expires_at,
        )
        .await?;
        self.emit(
            SecurityEvent::PatCreate,
            ctx,
            Some(&p.user_id),
            &[("pat_id", &id)],
        );
        let row = tstore::get_pat(&self.db, &p.user_id, &id)
            .await?
            .ok_or(AuthError::NotFound)?;
        Ok((row, token))
    }

    /// Updates a PAT's name, scopes and expiry.
    pub async fn update_pat(
        &self,
        p: &Principal,
        id: &str,
        name: Option<&str>,
        scopes: Option<&[String]>,
        expires_in_days: Option<Option<i64>>,
        ctx: &ClientCtx,
    ) -> Result<tstore::PatRow, AuthError> {
        let cur = tstore::get_pat(&self.db, &p.user_id, id)
            .await?
            .ok_or(AuthError::NotFound)?;
        let cur_scopes: Vec<String> = cur.scopes.split_whitespace().map(str::to_owned).collect();
        let (name, scopes) =
            Self::parse_pat_fields(name.unwrap_or(&cur.name), scopes.unwrap_or(&cur_scopes))?;
        let expires_at = match expires_in_days {
            None => cur.expires_at,
            Some(None) => None,
            Some(Some(d)) if (1..=366).contains(&d) => Some(self.now() + d * 86_400_000),
            Some(Some(_)) => return Err(field(FieldError::new("expires_in_days", "out_of_range"))),
        };
        if !tstore::update_pat(&self.db, &p.user_id, id, &name, &scopes, expires_at).await? {
            return Err(AuthError::NotFound);
        }
        self.emit(
            SecurityEvent::PatUpdate,
            ctx,
            Some(&p.user_id),
            &[("pat_id", id)],
        );
        tstore::get_pat(&self.db, &p.user_id, id)
            .await?
            .ok_or(AuthError::NotFound)
    }

    /// Deletes a PAT.
    pub async fn delete_pat(
        &self,
        p: &Principal,
        id: &str,
        ctx: &ClientCtx,
    ) -> Result<(), AuthError> {
        if !tstore::delete_pat(&self.db, &p.user_id, id).await? {
            return Err(AuthError::NotFound);
        }
        self.emit(
            SecurityEvent::PatDelete,
            ctx,
            Some(&p.user_id),
            &[("pat_id", id)],
        );
        Ok(())
    }

    // ----- OAuth client credentials -------------------------------------------

    /// The client-credentials grant: an access token for the client itself.
    pub async fn client_credentials(
        &self,
        client_id: &str,
        secret: &str,
        scope: Option<&str>,
    ) -> Result<(String, String), AuthError> {
        let Some(c) = misc::oauth_client(&self.db, client_id).await? else {
            return Err(AuthError::InvalidCredentials);
        };
        let expected = TokenHash::from_hex(&c.secret_hash).ok_or(AuthError::InvalidCredentials)?;
        if c.revoked_at.is_some() || TokenHash::of(secret) != expected {
            return Err(AuthError::InvalidCredentials);
        }
        let allowed: Vec<&str> = c.scopes.split_whitespace().collect();
        let granted: Vec<&str> = match scope {
            Some(s) => {
                let want: Vec<&str> = s.split_whitespace().collect();
                if want.iter().any(|w| !allowed.contains(w)) {
                    return Err(AuthError::InsufficientScope);
                }
                want
            }
            None => allowed,
        };
        let scope = granted.join(" ");
        let token =
            self.issue_access(&format!("client:{}", c.client_id), "", Some(scope.clone()))?;
        Ok((token, scope))
    }

    /// Registers an OAuth client (admins); returns the secret once.
    pub async fn create_oauth_client(
        &self,
        actor: Option<&str>,
        name: &str,
        scopes: &[String],
        ctx: &ClientCtx,
    ) -> Result<(String, String), AuthError> {
        let (name, scopes) = Self::parse_pat_fields(name, scopes)?;
        let client_id = format!("rc_{}", uuid::Uuid::new_v4().simple());
        let (secret, hash) = random_token("rcs_");
        let now = self.now();
        let mut tx = self.db.begin().await?;
        misc::create_oauth_client(
            &mut tx,
            &misc::OauthClientRow {
                client_id: client_id.clone(),
                name,
                secret_hash: hash.to_hex(),
                scopes,
                revoked_at: None,
            },
            actor,
            now,
        )
        .await?;
        audit::record(
            &mut tx,
            NewAuditEntry {
                actor_user_uuid: actor,
                action: ActionType::OauthClientCreate,
                target_type: "oauth_client",
                target_id: &client_id,
                metadata: serde_json::json!({}),
                request_id: ctx.request_id.as_deref(),
                created_at: now,
            },
        )
        .await?;
        tx.commit().await?;
        Ok((client_id, secret))
    }

    // ----- invites --------------------------------------------------------

    /// Creates an invite code (admins); the code is returned once, stored hashed.
    pub async fn create_invite(
        &self,
        actor: Option<&str>,
        max_uses: i64,
        expires_in_days: Option<i64>,
        ctx: &ClientCtx,
    ) -> Result<(String, String), AuthError> {
        if !(1..=10_000).contains(&max_uses) {
            return Err(field(FieldError::new("max_uses", "out_of_range")));
        }
        if expires_in_days.is_some_and(|d| !(1..=366).contains(&d)) {
            return Err(field(FieldError::new("expires_in_days", "out_of_range")));
        }
        let now = self.now();
        let (code, hash) = random_token("rinv_");
        let id = uuid::Uuid::now_v7().to_string();
        let mut tx = self.db.begin().await?;
        misc::create_invite(
            &mut tx,
            &id,
            &hash.to_hex(),
            max_uses,
            expires_in_days.map(|d| now + d * 86_400_000),
            actor,
            now,
        )
        .await?;
        audit::record(
            &mut tx,
            NewAuditEntry {
                actor_user_uuid: actor,
                action: ActionType::InviteCreate,
                target_type: "invite",
                target_id: &id,
                metadata: serde_json::json!({"max_uses": max_uses}),
                request_id: ctx.request_id.as_deref(),
                created_at: now,
            },
        )
        .await?;
        tx.commit().await?;
        Ok((id, code))
    }

    /// Revokes an invite.
    pub async fn revoke_invite(
        &self,
        actor: Option<&str>,
        id: &str,
        ctx: &ClientCtx,
    ) -> Result<(), AuthError> {
        let now = self.now();
        let mut tx = self.db.begin().await?;
        if !misc::revoke_invite(&mut tx, id, now).await? {
            return Err(AuthError::NotFound);
        }
        audit::record(
            &mut tx,
            NewAuditEntry {
                actor_user_uuid: actor,
                action: ActionType::InviteRevoke,
                target_type: "invite",
                target_id: id,
                metadata: serde_json::json!({}),
                request_id: ctx.request_id.as_deref(),
                created_at: now,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    // ----- TOTP -----------------------------------------------------------

    /// Starts enrolment: a fresh secret stored encrypted (not yet enabled); returns
    /// the otpauth URI and the QR code as SVG.
    pub async fn totp_begin(&self, p: &Principal) -> Result<(String, String, String), AuthError> {
        let user = users::find_by_id(&self.db, &p.user_id)
            .await?
            .ok_or(AuthError::NotFound)?;
        if user.totp_enabled {
            return Err(AuthError::Forbidden);
        }
        let secret = totp::generate_secret();
        let aad = format!("users.totp_secret:{}", user.id);
        let enc = self
            .keyring
            .encrypt(&secret, aad.as_bytes())
            .map_err(|e| AuthError::Internal(e.to_string()))?;
        misc::set_totp(&self.db, &user.id, Some(&enc), false, None).await?;
        let uri = totp::otpauth_uri("Rampart", &user.username, &secret);
        let svg = totp::qr_svg(&uri).map_err(|e| AuthError::Internal(e.to_string()))?;
        Ok((uri, svg, totp::base32_encode(&secret)))
    }

    /// Confirms enrolment with a code; returns ten recovery codes (shown once). The
    /// session is re-issued by the caller (privilege change).
    pub async fn totp_confirm(
        &self,
        p: &Principal,
        code: &str,
        ctx: &ClientCtx,
    ) -> Result<Vec<String>, AuthError> {
        let user = users::find_by_id(&self.db, &p.user_id)
            .await?
            .ok_or(AuthError::NotFound)?;
        if user.totp_enabled {
            return Err(AuthError::Forbidden);
        }
        let secret = self.totp_secret(&user)?.ok_or(AuthError::TotpInvalid)?;
        let now = self.now();
        let Some(step) = totp::verify(&secret, code, now / 1000, None) else {
            self.emit(
                SecurityEvent::TotpFailure,
                ctx,
                Some(&user.id),
                &[("stage", "enrolment")],
            );
            return Err(AuthError::TotpInvalid);
        };
        let codes = totp::generate_recovery_codes();
        let hashes: Vec<String> = codes
            .iter()
            .filter_map(|c| totp::hash_recovery_code(c))
            .collect();
        let mut tx = self.db.begin().await?;
        misc::set_recovery_codes(&mut tx, &user.id, &hashes).await?;
        tx.commit().await?;
        misc::set_totp(
            &self.db,
            &user.id,
            user.totp_secret.as_deref(),
            true,
            Some(step as i64),
        )
        .await?;
        if let Some(sid) = p.session_id() {
            self.forget(sid, false);
        }
        self.emit(SecurityEvent::TotpEnabled, ctx, Some(&user.id), &[]);
        Ok(codes)
    }

    /// Turns TOTP off (needs a current code); not allowed for roles that require it.
    pub async fn totp_disable(
        &self,
        p: &Principal,
        code: &str,
        ctx: &ClientCtx,
    ) -> Result<(), AuthError> {
        if p.role.requires_totp() {
            return Err(AuthError::Forbidden);
        }
        let user = users::find_by_id(&self.db, &p.user_id)
            .await?
            .ok_or(AuthError::NotFound)?;
        if !user.totp_enabled || !self.check_second_factor(&user, code, self.now()).await? {
            // Counts toward the account lockout, like a failed login.
            self.register_failure(&user, ctx, self.now()).await?;
            self.emit(
                SecurityEvent::TotpFailure,
                ctx,
                Some(&user.id),
                &[("stage", "disable")],
            );
            return Err(AuthError::TotpInvalid);
        }
        misc::set_totp(&self.db, &user.id, None, false, None).await?;
        let mut tx = self.db.begin().await?;
        misc::set_recovery_codes(&mut tx, &user.id, &[]).await?;
        tx.commit().await?;
        if let Some(sid) = p.session_id() {
            self.forget(sid, false);
        }
        Ok(())
    }

    /// Sets the preferred language.
    pub async fn set_language(&self, p: &Principal, lang: &str) -> Result<(), AuthError> {
        users::set_language(&self.db, &p.user_id, lang, self.now()).await?;
        if let Some(sid) = p.session_id() {
            self.forget(sid, false);
        }
        Ok(())
    }
}

impl Auth {
    /// The session a refresh token belongs to (logout with a refresh token).
    pub async fn session_of_refresh(&self, token: &str) -> Result<Option<String>, AuthError> {
        if !tokens::is_well_formed(tokens::REFRESH_PREFIX, token) {
            return Ok(None);
        }
        let mut tx = self.db.begin().await?;
        let row = tstore::refresh_for_update(&mut tx, &TokenHash::of(token).to_hex()).await?;
        tx.rollback().await?;
        Ok(row.map(|r| r.session_id))
    }
}
