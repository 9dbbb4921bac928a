//! Login with lockout: credential checks, the second factor, web and API sign-in.

use crate::prelude::*;

pub(crate) mod store;

/// Failures recorded for a login name with no account (kept in memory, keyed by a
/// hash of the name).
#[derive(Debug, Default)]
pub(crate) struct PhantomLock {
    failures: Vec<i64>,
    locked_until: Option<i64>,
}

/// Names tracked at most; past it, stale entries go first, then all.
const PHANTOM_CAP: usize = 10_000;

impl Identity {
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
        // The same folding as registration (NFKC, case), so "ＢＯＢ" finds "bob".
        let login_norm = rampart_kernel::fields::fold(login.trim());
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
        let Some(user) = user_store::find_by_login(&self.db, &login_norm).await? else {
            // Mirrors the known-account path step for step: the same hashing, the
            // same database round trips, the same events (`lockout` included).
            self.hasher.verify_dummy(password).await?;
            if self.phantom_locked(&login_norm, now) {
                fail("locked", None);
            } else {
                self.register_phantom_failure(&login_norm, ctx, now).await?;
                fail("unknown_account", None);
            }
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
            user_store::set_password_hash(&self.db, &user.id, &phc, now, false).await?;
        }
        if user.locked_until.is_some()
            || lockout_store::failures_since(&self.db, &user.id, 0).await? > 0
        {
            lockout_store::set_lock(&self.db, &user.id, None).await?;
        }
        Ok(user)
    }

    pub(crate) async fn register_failure(
        &self,
        user: &UserRow,
        ctx: &ClientCtx,
        now: i64,
    ) -> Result<(), AuthError> {
        lockout_store::record_failure(&self.db, &user.id, now).await?;
        let since = now - self.cfg.lockout_window_secs * 1000;
        let n = lockout_store::failures_since(&self.db, &user.id, since).await?;
        if n >= self.cfg.lockout_threshold {
            lockout_store::set_lock(&self.db, &user.id, Some(now + self.cfg.lockout_secs * 1000))
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

    fn phantom_key(login_norm: &str) -> [u8; 32] {
        use sha2::Digest as _;
        Sha256::digest(login_norm.as_bytes()).into()
    }

    fn phantom_locked(&self, login_norm: &str, now: i64) -> bool {
        let key = Self::phantom_key(login_norm);
        match self.phantom.lock() {
            Ok(m) => m
                .get(&key)
                .and_then(|p| p.locked_until)
                .is_some_and(|t| t > now),
            Err(_) => false,
        }
    }

    /// [`Self::register_failure`] for a name with no account: the same statements
    /// run (they match no row), the count and the lock live in memory.
    async fn register_phantom_failure(
        &self,
        login_norm: &str,
        ctx: &ClientCtx,
        now: i64,
    ) -> Result<(), AuthError> {
        let since = now - self.cfg.lockout_window_secs * 1000;
        lockout_store::record_no_failure(&self.db, now).await?;
        lockout_store::failures_since(&self.db, "", since).await?;
        let key = Self::phantom_key(login_norm);
        let n = match self.phantom.lock() {
            Ok(mut m) => {
                if m.len() >= PHANTOM_CAP && !m.contains_key(&key) {
                    m.retain(|_, p| {
                        p.locked_until.is_some_and(|t| t > now)
                            || p.failures.iter().any(|&t| t > since)
                    });
                    if m.len() >= PHANTOM_CAP {
                        m.clear();
                    }
                }
                let p = m.entry(key).or_default();
                p.failures.retain(|&t| t > since);
                p.failures.push(now);
                p.failures.len() as i64
            }
            Err(_) => 0,
        };
        if n >= self.cfg.lockout_threshold {
            lockout_store::set_lock(&self.db, "", None).await?;
            if let Ok(mut m) = self.phantom.lock() {
                let p = m.entry(key).or_default();
                p.failures.clear();
                p.locked_until = Some(now + self.cfg.lockout_secs * 1000);
            }
            self.emit(
                SecurityEvent::Lockout,
                ctx,
                None,
                &[("minutes", &(self.cfg.lockout_secs / 60).to_string())],
            );
        }
        Ok(())
    }

    /// A TOTP code (±1 step, no replay) or an unused recovery code.
    pub(crate) async fn check_second_factor(
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
                    totp_store::set_totp_secret(&self.db, &user.id, &fresh).await?;
                }
            }
        }
        if let Some(step) = totp::verify(&secret, code, now / 1000, last) {
            // The conditional update is the replay guard under concurrency too.
            return Ok(totp_store::advance_totp_step(&self.db, &user.id, step as i64).await?);
        }
        if let Some(h) = totp::hash_recovery_code(code) {
            return Ok(totp_store::use_recovery_code(&self.db, &user.id, &h, now).await?);
        }
        Ok(false)
    }

    pub(crate) fn totp_secret(&self, user: &UserRow) -> Result<Option<Vec<u8>>, AuthError> {
        let Some(enc) = &user.totp_secret else {
            return Ok(None);
        };
        let aad = format!("users.totp_secret:{}", user.id);
        self.keyring
            .decrypt(enc, aad.as_bytes())
            .map(Some)
            .map_err(|e| AuthError::Internal(format!("totp secret: {e}")))
    }

    pub(crate) fn timeouts(&self, role: Role) -> (i64, i64) {
        if role.is_staff() {
            (
                self.cfg.staff_idle_secs * 1000,
                self.cfg.staff_absolute_secs * 1000,
            )
        } else {
            (self.cfg.idle_secs * 1000, self.cfg.absolute_secs * 1000)
        }
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
        self.web_session_for(&user, ctx).await
    }

    /// Starts a web session for an already authenticated user (after TOTP enrolment,
    /// which replaces the session it began in).
    pub async fn start_web_session(
        &self,
        user_id: &str,
        ctx: &ClientCtx,
    ) -> Result<WebLogin, AuthError> {
        let user = user_store::find_by_id(&self.db, user_id)
            .await?
            .ok_or(AuthError::NotFound)?;
        self.web_session_for(&user, ctx).await
    }

    pub(crate) async fn web_session_for(
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
        self.api_session_for(&user, ctx).await
    }

    /// A new API session (a refresh family and an access token) for an already
    /// authenticated user.
    pub(crate) async fn api_session_for(
        &self,
        user: &UserRow,
        ctx: &ClientCtx,
    ) -> Result<TokenPair, AuthError> {
        let (sid, _) = self.open_session(user, "api", None, ctx).await?;
        let now = self.now();
        let (refresh, hash) = random_token(tokens::REFRESH_PREFIX);
        let mut tx = self.db.begin().await?;
        refresh_store::insert_refresh(
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
}
