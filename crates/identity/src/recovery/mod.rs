//! Password recovery (reset links) and password change.

use crate::prelude::*;

pub(crate) mod store;

/// Reset requests that may wait for the worker; more are dropped (with a warning),
/// whatever the account, so a full queue tells nothing either.
pub(crate) const RESET_QUEUE: usize = 4096;

impl Identity {
    /// Starts a password reset. The request path does the same work whether or not
    /// the account exists: it normalises the login, emits the event and queues it. The
    /// lookup, the token and the mail happen in the reset worker
    /// ([`Identity::spawn_reset_worker`]), off the request path.
    pub fn request_reset(self: &Arc<Self>, login: &str, ctx: &ClientCtx) {
        let login = rampart_kernel::fields::fold(login.trim());
        self.emit(SecurityEvent::PasswordResetRequest, ctx, None, &[]);
        if login.is_empty() || login.len() > Email::MAX {
            return;
        }
        if self.reset_tx.try_send(login).is_err() {
            tracing::warn!("password reset queue full or closed; request dropped");
        }
    }

    /// Starts the worker that resolves queued reset requests (once; later calls do
    /// nothing). The server starts it with the service.
    pub fn spawn_reset_worker(self: &Arc<Self>) -> Option<tokio::task::JoinHandle<()>> {
        let mut rx = self.reset_rx.lock().ok()?.take()?;
        let me = Arc::downgrade(self);
        Some(tokio::spawn(async move {
            while let Some(login) = rx.recv().await {
                let Some(me) = me.upgrade() else { break };
                if let Err(e) = me.create_reset(&login).await {
                    tracing::warn!(error = %e, "password reset request failed");
                }
            }
        }))
    }

    pub(crate) async fn create_reset(&self, login: &str) -> Result<(), AuthError> {
        let Some(user) = user_store::find_by_login(&self.db, login).await? else {
            return Ok(());
        };
        let Some(email) = user.email.clone() else {
            return Ok(());
        };
        // Only a verified address receives reset links: an unverified one may belong
        // to someone else (docs/design/email-verification.md).
        if user.email_verified_at.is_none() {
            return Ok(());
        }
        if !user.status()?.may_authenticate() {
            return Ok(());
        }
        let now = self.now();
        let (token, hash) = random_token(tokens::RESET_PREFIX);
        let mut tx = self.begin_for(&user.id).await?;
        reset_store::new_reset(
            &mut tx,
            &user.id,
            &hash.to_hex(),
            now,
            now + self.cfg.reset_ttl_secs * 1000,
        )
        .await?;
        tx.commit().await?;
        outbox::send(
            &self.db,
            &email,
            user.language.as_deref(),
            outbox::MailKind::PasswordReset {
                username: user.username.clone(),
                link: format!("{}/reset?token={}", self.cfg.public_origin, token),
                valid_minutes: self.cfg.reset_ttl_secs / 60,
            },
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
        let row = reset_store::reset_by_hash(&mut tx, &hash)
            .await?
            .ok_or(AuthError::ResetTokenInvalid)?;
        let user = user_store::find_by_id(&mut tx, &row.user_id)
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
        let mut tx = self.begin_for(&user.id).await?;
        if !reset_store::use_reset(&mut tx, &row.id, now).await? {
            return Err(AuthError::ResetTokenInvalid);
        }
        user_store::set_password(&mut tx, &user.id, &phc, now).await?;
        reset_store::invalidate_resets(&mut tx, &user.id, now).await?;
        // Account recovery ends every credential, PATs included (one minted by
        // whoever had the account must not outlive the reset).
        pat_store::delete_all_pats(&mut tx, &user.id).await?;
        let ids = session_store::revoke_all(&mut tx, &user.id, None, now, "password_reset").await?;
        tx.commit().await?;
        self.forget_revoked(&ids);
        lockout_store::set_lock(&self.db, &user.id, None).await?;
        self.emit(SecurityEvent::PasswordReset, ctx, Some(&user.id), &[]);
        Ok(())
    }

    /// Changes the password of a signed-in user. Every other session and refresh
    /// family ends, the user's PATs are deleted (unless `keep_pats`: the web form's
    /// opt-in), and a cookie session is rotated: it is revoked and its replacement
    /// comes back, so the old cookie value stops working (privilege change, A4).
    pub async fn change_password(
        &self,
        p: &Principal,
        current: &SecretString,
        new_password: &SecretString,
        keep_pats: bool,
        ctx: &ClientCtx,
    ) -> Result<Option<WebLogin>, AuthError> {
        let user = user_store::find_by_id(&self.db, p.user_id())
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
        // A cookie session is replaced, not kept; a bearer session (API client) keeps
        // its family, every other one ends.
        let cookie_session = match &p.via {
            Via::Session { sid } => Some(sid.as_str()),
            _ => None,
        };
        let keep = if cookie_session.is_some() {
            None
        } else {
            p.session_id()
        };
        let mut tx = self.begin_for(&user.id).await?;
        user_store::set_password(&mut tx, &user.id, &phc, now).await?;
        reset_store::invalidate_resets(&mut tx, &user.id, now).await?;
        let pats_deleted = if keep_pats {
            0
        } else {
            pat_store::delete_all_pats(&mut tx, &user.id).await?
        };
        let ids =
            session_store::revoke_all(&mut tx, &user.id, keep, now, "password_change").await?;
        tx.commit().await?;
        self.forget_revoked(&ids);
        let rotated = match cookie_session {
            Some(_) => Some(self.web_session_for(&user, ctx).await?),
            None => None,
        };
        self.emit(
            SecurityEvent::PasswordChange,
            ctx,
            Some(&user.id),
            &[("pats_deleted", &pats_deleted.to_string())],
        );
        Ok(rotated)
    }
}

/// Housekeeping for the worker: deletes password-reset tokens that expired before
/// `before` (Unix ms) and returns how many.
pub async fn prune_expired_resets(db: &rampart_db::Db, before: i64) -> Result<u64, AuthError> {
    Ok(store::prune_expired(db, before).await?)
}
