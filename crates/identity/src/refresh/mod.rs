//! Access tokens and rotating refresh families.

use crate::prelude::*;

pub(crate) mod store;

impl Identity {
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

    /// The successor of a refresh token is derived from it under the session key, so
    /// a repeat within the grace window gets the same successor without the server
    /// ever storing a plaintext token.
    pub(crate) fn successor_of(&self, token: &str) -> String {
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
        let Some(row) = refresh_store::refresh_for_update(&mut tx, &hash).await? else {
            return Err(AuthError::TokenInvalid);
        };
        let session = session_store::get(&mut tx, &row.session_id)
            .await?
            .ok_or(AuthError::TokenInvalid)?;
        if session.revoked_at.is_some() || row.revoked_at.is_some() {
            return Err(AuthError::TokenRevoked);
        }
        // Both session limits apply: the absolute one and the idle one (12 h for
        // customers, 30 min for staff), so an idle API session does not come back.
        if row.expires_at <= now || session.expires_at <= now || session.idle_expires_at <= now {
            return Err(AuthError::RefreshExpired);
        }
        let user = user_store::find_by_id(&mut tx, &session.user_id)
            .await?
            .ok_or(AuthError::TokenInvalid)?;
        if !user.status()?.may_authenticate() || user.role != session.role_at_login {
            session_store::revoke(&mut tx, &session.id, now, "account_changed").await?;
            tx.commit().await?;
            self.forget(&session.id, true);
            return Err(AuthError::TokenRevoked);
        }
        let successor_plain = self.successor_of(token);
        let successor_hash = TokenHash::of(&successor_plain).to_hex();
        if let Some(rotated_at) = row.rotated_at {
            let within_grace = now - rotated_at <= self.cfg.refresh_grace_secs * 1000;
            let successor = match &row.successor_id {
                Some(id) => refresh_store::refresh_by_id(&mut tx, id).await?,
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
            session_store::revoke(&mut tx, &session.id, now, "refresh_reuse").await?;
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
            session_store::revoke(&mut tx, &session.id, now, "suspicious").await?;
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
        refresh_store::insert_refresh(
            &mut tx,
            &successor_id,
            &session.id,
            &successor_hash,
            Some(&row.id),
            now,
            now + self.cfg.refresh_ttl_secs * 1000,
        )
        .await?;
        if !refresh_store::mark_rotated(&mut tx, &row.id, &successor_id, now).await? {
            return Err(AuthError::TokenRevoked);
        }
        // The idle expiry moves in the same transaction: one write transaction per
        // rotation, not two (SQLite has one writer).
        let (idle, _) = self.timeouts(user.role()?);
        session_store::touch(&mut tx, &session.id, now, now + idle).await?;
        tx.commit().await?;
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
            match oauth_store::oauth_client(&self.db, client).await? {
                Some(c) if c.revoked_at.is_none() => {}
                _ => return Err(AuthError::TokenRevoked),
            }
            return Ok(Principal {
                subject: Subject::Client(ClientId::new(client)),
                username: client.to_owned(),
                role: Role::Customer,
                totp_enabled: false,
                language: None,
                via: Via::Client {
                    scopes: Scopes::from_stored(claims.scope.as_deref().unwrap_or_default()),
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
            subject: Subject::User(UserId::from_stored(info.user_id)),
            username: info.username,
            role: info.role,
            totp_enabled: info.totp_enabled,
            language: info.language,
            via: Via::Bearer { sid: claims.sid },
        })
    }

    /// The session a refresh token belongs to (logout with a refresh token).
    pub async fn session_of_refresh(&self, token: &str) -> Result<Option<String>, AuthError> {
        if !tokens::is_well_formed(tokens::REFRESH_PREFIX, token) {
            return Ok(None);
        }
        let mut tx = self.db.begin().await?;
        let row =
            refresh_store::refresh_for_update(&mut tx, &TokenHash::of(token).to_hex()).await?;
        tx.rollback().await?;
        Ok(row.map(|r| r.session_id))
    }

    /// Live (unrotated, unrevoked, unexpired) refresh tokens of a session: at most one
    /// when rotation works.
    pub async fn live_refresh_count(&self, session_id: &str) -> Result<i64, AuthError> {
        Ok(refresh_store::live_refresh_count(&self.db, session_id, self.now()).await?)
    }
}
