//! Sessions: opening them, the fingerprint rule, the revocation cache, cookie authentication, listing and revoking.

use crate::prelude::*;

pub(crate) mod store;

/// A live session as its owner sees it on the sessions page.
#[derive(Debug, Clone)]
pub struct DeviceSession {
    /// Session ID.
    pub id: String,
    /// `web` or `api`.
    pub kind: String,
    /// Browser family.
    pub ua_family: String,
    /// Full user agent.
    pub user_agent: String,
    /// IP prefix (/24 or /48).
    pub ip_prefix: String,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub last_seen_at: i64,
    /// Absolute expiry, Unix ms.
    pub expires_at: i64,
}

impl From<SessionRow> for DeviceSession {
    fn from(r: SessionRow) -> Self {
        Self {
            id: r.id,
            kind: r.kind,
            ua_family: r.ua_family,
            user_agent: r.user_agent,
            ip_prefix: r.ip_prefix,
            created_at: r.created_at,
            last_seen_at: r.last_seen_at,
            expires_at: r.expires_at,
        }
    }
}

impl Identity {
    /// Creates a session row (web or api), evicting the oldest past the limit and
    /// noting new devices. Returns the session ID.
    pub(crate) async fn open_session(
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
        let mut tx = self.begin_for(&user.id).await?;
        session_store::create(
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
        let live = session_store::list_active_oldest_first(&mut tx, &user.id, now).await?;
        let mut evicted = Vec::new();
        if live.len() > self.cfg.max_sessions {
            for old in live.iter().take(live.len() - self.cfg.max_sessions) {
                session_store::revoke(&mut tx, &old.id, now, "evicted").await?;
                evicted.push(old.id.clone());
            }
        }
        let fingerprint = format!("{family}|{prefix}");
        let new_device =
            session_store::remember_device(&mut tx, &user.id, &fingerprint, now).await?;
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
                outbox::send(
                    &self.db,
                    email,
                    user.language.as_deref(),
                    outbox::MailKind::NewDevice {
                        username: user.username.clone(),
                        device: family.to_owned(),
                        network: prefix.clone(),
                        sessions_link: format!("{}/settings/sessions", self.cfg.public_origin),
                    },
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

    /// Fingerprint check (A10): a change of browser family or IP prefix is
    /// suspicious (event); returns `true` when the session must end (staff and
    /// above). The caller revokes it, inside its own transaction when it holds one.
    pub(crate) fn fingerprint_changed(
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

    pub(crate) fn forget(&self, sid: &str, revoked: bool) {
        if revoked {
            // Every revocation in this process passes here, after its commit.
            self.revoked(Revoked::Session(sid.to_owned()));
        }
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
    pub(crate) fn forget_revoked(&self, ids: &[String]) {
        for id in ids {
            self.forget(id, true);
        }
    }

    /// Session facts, from the cache when fresh, else the database.
    pub(crate) async fn session_info(&self, sid: &str, now: i64) -> Result<SessionInfo, AuthError> {
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
        let s = session_store::get(&self.db, sid)
            .await?
            .ok_or(AuthError::TokenInvalid)?;
        let u = user_store::find_by_id(&self.db, &s.user_id)
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
        let s = session_store::get(&self.db, sid)
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
        let u = user_store::find_by_id(&self.db, &s.user_id)
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
            session_store::touch(&self.db, &s.id, now, now + idle).await?;
        }
        Ok(Principal {
            subject: Subject::User(UserId::from_stored(u.id)),
            username: u.username,
            role,
            totp_enabled: u.totp_enabled,
            language: u.language,
            via: Via::Session { sid: s.id },
        })
    }

    /// Revokes one session and its refresh family, effective at once here.
    pub async fn revoke_session(
        &self,
        sid: &str,
        now: i64,
        reason: &str,
    ) -> Result<bool, AuthError> {
        let mut tx = self.db.begin().await?;
        let live = session_store::revoke(&mut tx, sid, now, reason).await?;
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
        let s = session_store::get(&self.db, sid)
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
        let mut tx = self.begin_for(user_id).await?;
        let ids = session_store::revoke_all(&mut tx, user_id, keep, now, reason).await?;
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

    /// Until when the credential a principal authenticated with stays valid (Unix ms),
    /// read from the database (not the revocation cache); `None` when it is revoked,
    /// expired or gone, or its account may no longer sign in. For long-lived
    /// connections: they close at that time, and re-check after missing revocations.
    pub async fn credential_live_until(&self, p: &Principal) -> Result<Option<i64>, AuthError> {
        let now = self.now();
        match &p.via {
            Via::Session { sid } | Via::Bearer { sid } => {
                let Some(s) = session_store::get(&self.db, sid).await? else {
                    return Ok(None);
                };
                let Some(u) = user_store::find_by_id(&self.db, &s.user_id).await? else {
                    return Ok(None);
                };
                let until = s.expires_at.min(s.idle_expires_at);
                let live = s.revoked_at.is_none()
                    && u.status()?.may_authenticate()
                    && u.role == s.role_at_login
                    && now < until;
                Ok(live.then_some(until))
            }
            Via::Pat { id, .. } => {
                let Some(pat) = pat_store::get_pat(&self.db, p.user_id(), id).await? else {
                    return Ok(None);
                };
                let Some(u) = user_store::find_by_id(&self.db, &pat.user_id).await? else {
                    return Ok(None);
                };
                let until = self.pat_expiry(&pat);
                Ok((u.status()?.may_authenticate() && now < until).then_some(until))
            }
            Via::Client { .. } => Ok(None),
        }
    }

    /// Live sessions of a user.
    pub async fn list_sessions(&self, user_id: &str) -> Result<Vec<DeviceSession>, AuthError> {
        Ok(session_store::list_active(&self.db, user_id, self.now())
            .await?
            .into_iter()
            .map(DeviceSession::from)
            .collect())
    }
}

/// Housekeeping for the worker: deletes sessions (with their refresh tokens) that
/// ended before `before` (Unix ms) and returns how many. Ended sessions are refused
/// anyway; keeping them a while after `before` lets owners and staff still see them.
pub async fn prune_ended_sessions(db: &rampart_db::Db, before: i64) -> Result<u64, AuthError> {
    Ok(store::prune_ended(db, before).await?)
}
