//! Two-factor authentication: TOTP enrolment, confirmation, disabling, recovery codes.

use crate::prelude::*;

pub(crate) mod store;

impl Identity {
    /// Starts enrolment: a fresh secret stored encrypted (not yet enabled); returns
    /// the otpauth URI and the QR code as SVG.
    pub async fn totp_begin(&self, p: &Principal) -> Result<(String, String, String), AuthError> {
        let user = user_store::find_by_id(&self.db, p.user_id())
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
        totp_store::set_totp(&self.db, &user.id, Some(&enc), false, None).await?;
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
        let user = user_store::find_by_id(&self.db, p.user_id())
            .await?
            .ok_or(AuthError::NotFound)?;
        if user.totp_enabled {
            return Err(AuthError::Forbidden);
        }
        let secret = self.totp_secret(&user)?.ok_or(AuthError::TotpInvalid)?;
        let now = self.now();
        let Some(step) = totp::verify(&secret, code, now / 1000, None) else {
            // Counts toward the account lockout, like a failed login: a stolen
            // session must not become a code-guessing oracle.
            self.register_failure(&user, ctx, now).await?;
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
        let mut tx = self.begin_for(&user.id).await?;
        totp_store::set_recovery_codes(&mut tx, &user.id, &hashes).await?;
        tx.commit().await?;
        totp_store::set_totp(
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

    /// Confirms enrolment for an API client (A4: a privilege change keeps no old
    /// credential): the access token and refresh family the enrolment began with end,
    /// and a new pair is returned with the recovery codes.
    pub async fn totp_confirm_api(
        &self,
        p: &Principal,
        code: &str,
        ctx: &ClientCtx,
    ) -> Result<(Vec<String>, TokenPair), AuthError> {
        let codes = self.totp_confirm(p, code, ctx).await?;
        let user = user_store::find_by_id(&self.db, p.user_id())
            .await?
            .ok_or(AuthError::NotFound)?;
        if let Some(old) = p.session_id() {
            self.revoke_session(old, self.now(), "totp_enabled").await?;
            self.emit(
                SecurityEvent::SessionRevoked,
                ctx,
                Some(&user.id),
                &[("reason", "totp_enabled")],
            );
        }
        let pair = self.api_session_for(&user, ctx).await?;
        Ok((codes, pair))
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
        let user = user_store::find_by_id(&self.db, p.user_id())
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
        totp_store::set_totp(&self.db, &user.id, None, false, None).await?;
        let mut tx = self.begin_for(&user.id).await?;
        totp_store::set_recovery_codes(&mut tx, &user.id, &[]).await?;
        tx.commit().await?;
        if let Some(sid) = p.session_id() {
            self.forget(sid, false);
        }
        Ok(())
    }

    /// Unused recovery codes a user has left.
    pub async fn recovery_codes_left(&self, user_id: &str) -> Result<i64, AuthError> {
        Ok(totp_store::recovery_codes_left(&self.db, user_id).await?)
    }
}
