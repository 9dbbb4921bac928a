//! E-mail verification (A1): an address is trusted for recovery and notices only
//! after its owner opened a mailed link; registration and address change answer the
//! same whether or not the address is taken. Design: docs/design/email-verification.md.

use crate::accounts::{new_referral_code, Account};
use crate::prelude::*;

pub(crate) mod store;

use store::NewVerification;

const REGISTER: &str = "register";
const CHANGE: &str = "change";

/// Mail texts of this flow, English then Estonian (the recipient may have no
/// account yet, so no language preference is known); [`mail::localise`] keeps the
/// half of the account's language when the mail goes to an existing account (F1).
mod mail {
    /// The `language` half of a bilingual text (`"English / Eesti"` subject, English
    /// and Estonian bodies separated by one blank line); both halves when the
    /// language is unknown.
    pub(super) fn localise(
        language: Option<&str>,
        (subject, body): (String, String),
    ) -> (String, String) {
        let et = match language {
            Some("en") => false,
            Some("et") => true,
            _ => return (subject, body),
        };
        match (subject.split_once(" / "), body.split_once("\n\n")) {
            (Some((_, st)), Some((_, bt))) if et => (st.to_owned(), bt.to_owned()),
            (Some((se, _)), Some((be, _))) => (se.to_owned(), be.to_owned()),
            _ => (subject, body),
        }
    }

    pub(super) fn verify_register(origin: &str, token: &str, hours: i64) -> (String, String) {
        (
            "Confirm your e-mail address / Kinnita oma e-posti aadress".into(),
            format!(
                "Someone registered a Rampart account with this address.\n\
                 Open {origin}/verify-email?token={token} within {hours} hours to confirm it and create the account.\n\
                 If it was not you, ignore this message: no account is created.\n\n\
                 Keegi registreeris selle aadressiga Rampart'i konto.\n\
                 Ava {hours} tunni jooksul {origin}/verify-email?token={token}, et aadress kinnitada ja konto luua.\n\
                 Kui see polnud sina, jäta kiri tähelepanuta: kontot ei looda."
            ),
        )
    }
    pub(super) fn verify_change(origin: &str, token: &str, hours: i64) -> (String, String) {
        (
            "Confirm your new e-mail address / Kinnita oma uus e-posti aadress".into(),
            format!(
                "A Rampart account asked to use this address.\n\
                 Open {origin}/verify-email?token={token} within {hours} hours to confirm it.\n\
                 If it was not you, ignore this message: nothing changes.\n\n\
                 Üks Rampart'i konto soovib kasutada seda aadressi.\n\
                 Ava {hours} tunni jooksul {origin}/verify-email?token={token}, et see kinnitada.\n\
                 Kui see polnud sina, jäta kiri tähelepanuta: midagi ei muutu."
            ),
        )
    }
    pub(super) fn registration_attempt(origin: &str) -> (String, String) {
        (
            "Your address was used to sign up / Sinu aadressiga prooviti registreeruda".into(),
            format!(
                "Someone tried to register or move a Rampart account to this address, which already belongs to your account.\n\
                 Nothing was changed. If you forgot your password, use {origin}/recover.\n\n\
                 Keegi proovis registreerida või viia Rampart'i kontot sellele aadressile, mis kuulub juba sinu kontole.\n\
                 Midagi ei muudetud. Kui unustasid parooli, kasuta {origin}/recover."
            ),
        )
    }
    pub(super) fn change_requested(username: &str) -> (String, String) {
        (
            "E-mail change requested / E-posti muutmise taotlus".into(),
            format!(
                "The account {username} asked to change its e-mail address. The change applies only when the new address is confirmed.\n\
                 If it was not you, change your password and end your other sessions.\n\n\
                 Konto {username} soovis muuta oma e-posti aadressi. Muudatus jõustub alles siis, kui uus aadress on kinnitatud.\n\
                 Kui see polnud sina, muuda parooli ja lõpeta oma teised seansid."
            ),
        )
    }
    pub(super) fn changed(username: &str) -> (String, String) {
        (
            "E-mail address changed / E-posti aadress muudetud".into(),
            format!(
                "The account {username} now uses another e-mail address; this one no longer receives its mail.\n\n\
                 Konto {username} kasutab nüüd teist e-posti aadressi; see aadress ei saa enam selle kirju."
            ),
        )
    }
}

impl Identity {
    async fn mail(
        &self,
        to: &str,
        kind: &str,
        (subject, body): (String, String),
        now: i64,
    ) -> Result<(), AuthError> {
        outbox::enqueue_text(&self.db, to, kind, &subject, &body, now).await?;
        Ok(())
    }

    fn verify_hours(&self) -> i64 {
        (self.cfg.verify_ttl_secs / 3600).max(1)
    }

    /// The e-mail part of a registration: the same work and the same answer for a new
    /// and a taken address; only the mail differs.
    pub(crate) async fn register_pending(
        &self,
        username: &Username,
        email: &Email,
        phc: &str,
        invite: Option<&str>,
        referred_by: Option<&str>,
        ctx: &ClientCtx,
    ) -> Result<(), AuthError> {
        // Usernames are public (profiles, listings), so a taken one may be said; it is
        // checked the same way whatever the address.
        if user_store::find_by_login(&self.db, username.as_str())
            .await?
            .is_some_and(|u| u.username == username.as_str())
        {
            return Err(AuthError::Conflict(FieldErrors(vec![FieldError::new(
                "username", "taken",
            )])));
        }
        let now = self.now();
        let (token, hash) = random_token(tokens::VERIFY_PREFIX);
        let mut tx = self.db.begin().await?;
        if let Some(code) = invite {
            if !invite_store::consume_invite(&mut tx, &hash_secret(code), now).await? {
                return Err(AuthError::InviteInvalid);
            }
        }
        let owner = user_store::email_owner(&mut tx, email.as_str()).await?;
        if owner.is_none() {
            verify_store::new_verification(
                &mut tx,
                NewVerification {
                    purpose: REGISTER,
                    user_id: None,
                    email: email.as_str(),
                    username: Some(username.as_str()),
                    password_hash: Some(phc),
                    referred_by,
                    token_hash: &hash.to_hex(),
                    now,
                    expires_at: now + self.cfg.verify_ttl_secs * 1000,
                },
            )
            .await?;
        }
        tx.commit().await?;
        // Notices go to verified addresses only (A1).
        if let Some((_, verified)) = owner {
            if verified.is_some() {
                self.mail(
                    email.as_str(),
                    "registration_attempt",
                    mail::registration_attempt(&self.cfg.public_origin),
                    now,
                )
                .await?;
            }
        } else {
            self.mail(
                email.as_str(),
                "verify_email",
                mail::verify_register(&self.cfg.public_origin, &token, self.verify_hours()),
                now,
            )
            .await?;
        }
        self.emit(
            SecurityEvent::AccountStatusChange,
            ctx,
            None,
            &[("status", "registration_pending")],
        );
        Ok(())
    }

    /// Uses a verification link: creates the pending account (registration) or moves
    /// the account to the new address (change). Single use; expired, superseded and
    /// unknown links are all [`AuthError::VerifyTokenInvalid`].
    pub async fn verify_email(&self, token: &str, ctx: &ClientCtx) -> Result<Account, AuthError> {
        if !tokens::is_well_formed(tokens::VERIFY_PREFIX, token) {
            return Err(AuthError::VerifyTokenInvalid);
        }
        let now = self.now();
        let hash = TokenHash::of(token).to_hex();
        let mut tx = self.db.begin().await?;
        let row = verify_store::by_hash(&mut tx, &hash)
            .await?
            .ok_or(AuthError::VerifyTokenInvalid)?;
        if row.used_at.is_some() || row.invalidated_at.is_some() || row.expires_at <= now {
            return Err(AuthError::VerifyTokenInvalid);
        }
        if !verify_store::use_verification(&mut tx, &row.id, now).await? {
            return Err(AuthError::VerifyTokenInvalid);
        }
        let taken =
            |f: &'static str| AuthError::Conflict(FieldErrors(vec![FieldError::new(f, "taken")]));
        let (user_id, old_email) = match (row.purpose.as_str(), &row.user_id) {
            (REGISTER, None) => {
                let (Some(username), Some(phc)) = (&row.username, &row.password_hash) else {
                    return Err(AuthError::VerifyTokenInvalid);
                };
                let code = new_referral_code();
                if user_store::email_owner(&mut tx, &row.email)
                    .await?
                    .is_some()
                {
                    return Err(taken("email"));
                }
                let id = match user_store::create(
                    &mut tx,
                    NewUser {
                        username,
                        email: Some(&row.email),
                        password_hash: phc,
                        role: Role::Customer,
                        referred_by: row.referred_by.as_deref(),
                        referral_code: Some(&code),
                        email_verified_at: Some(now),
                        now,
                    },
                )
                .await
                {
                    Ok(id) => id,
                    Err(DbError::Conflict(_)) => return Err(taken("username")),
                    Err(e) => return Err(e.into()),
                };
                (id, None)
            }
            (CHANGE, Some(uid)) => {
                let user = user_store::find_by_id(&mut tx, uid)
                    .await?
                    .ok_or(AuthError::VerifyTokenInvalid)?;
                if !user.status()?.may_authenticate() {
                    return Err(AuthError::VerifyTokenInvalid);
                }
                // A link older than the last password change was asked for by
                // whoever had the account before it was secured again.
                if row.created_at < user.password_changed_at {
                    return Err(AuthError::VerifyTokenInvalid);
                }
                match user_store::set_verified_email(&mut tx, uid, &row.email, now).await {
                    Ok(()) => {}
                    Err(DbError::Conflict(_)) => return Err(taken("email")),
                    Err(e) => return Err(e.into()),
                }
                let old_verified = user.email_verified_at.is_some();
                (
                    user.id,
                    user.email.filter(|e| *e != row.email && old_verified),
                )
            }
            _ => return Err(AuthError::VerifyTokenInvalid),
        };
        let user = user_store::find_by_id(&mut tx, &user_id)
            .await?
            .ok_or(AuthError::NotFound)?;
        tx.commit().await?;
        if let Some(old) = old_email {
            self.mail(
                &old,
                "email_changed",
                mail::localise(user.language.as_deref(), mail::changed(&user.username)),
                now,
            )
            .await?;
        }
        self.emit(
            SecurityEvent::AccountStatusChange,
            ctx,
            Some(&user.id),
            &[("status", "email_verified")],
        );
        Account::try_from(user)
    }

    /// Asks to move a signed-in account to another address (needs the current
    /// password). Nothing changes until the link mailed to the new address is used;
    /// the old address is told. A taken address earns its owner a notice instead, and
    /// the caller cannot tell the difference.
    pub async fn change_email(
        &self,
        p: &Principal,
        current: &SecretString,
        new_email: &str,
        ctx: &ClientCtx,
    ) -> Result<(), AuthError> {
        let user = user_store::find_by_id(&self.db, p.user_id())
            .await?
            .ok_or(AuthError::NotFound)?;
        let now = self.now();
        let mut errs = FieldErrors::new();
        let email = errs.take(Email::parse("email", new_email));
        let incorrect = || {
            AuthError::Validation(FieldErrors(vec![FieldError::new(
                "current_password",
                "incorrect",
            )]))
        };
        // As for a password change: a stolen session is no password-guessing oracle.
        if user.locked_until.is_some_and(|t| t > now) {
            self.hasher.verify_dummy(current).await?;
            return Err(incorrect());
        }
        if !self.hasher.verify(current, &user.password_hash).await?.ok {
            self.register_failure(&user, ctx, now).await?;
            return Err(incorrect());
        }
        let Some(email) = email else {
            return Err(AuthError::Validation(errs));
        };
        if user.email.as_deref() == Some(email.as_str()) && user.email_verified_at.is_some() {
            return Ok(());
        }
        let (token, hash) = random_token(tokens::VERIFY_PREFIX);
        let mut tx = self.begin_for(&user.id).await?;
        let owner = user_store::email_owner(&mut tx, email.as_str()).await?;
        let taken_by_other = owner.as_ref().is_some_and(|(o, _)| *o != user.id);
        if !taken_by_other {
            verify_store::new_verification(
                &mut tx,
                NewVerification {
                    purpose: CHANGE,
                    user_id: Some(&user.id),
                    email: email.as_str(),
                    username: None,
                    password_hash: None,
                    referred_by: None,
                    token_hash: &hash.to_hex(),
                    now,
                    expires_at: now + self.cfg.verify_ttl_secs * 1000,
                },
            )
            .await?;
        }
        tx.commit().await?;
        if taken_by_other {
            if owner.as_ref().is_some_and(|(_, v)| v.is_some()) {
                self.mail(
                    email.as_str(),
                    "registration_attempt",
                    mail::registration_attempt(&self.cfg.public_origin),
                    now,
                )
                .await?;
            }
        } else {
            self.mail(
                email.as_str(),
                "verify_email",
                mail::localise(
                    user.language.as_deref(),
                    mail::verify_change(&self.cfg.public_origin, &token, self.verify_hours()),
                ),
                now,
            )
            .await?;
        }
        let old_verified = user.email_verified_at.is_some();
        if let Some(old) = user
            .email
            .as_deref()
            .filter(|o| *o != email.as_str() && old_verified)
        {
            self.mail(
                old,
                "email_change_requested",
                mail::localise(
                    user.language.as_deref(),
                    mail::change_requested(&user.username),
                ),
                now,
            )
            .await?;
        }
        self.emit(
            SecurityEvent::AccountStatusChange,
            ctx,
            Some(&user.id),
            &[("status", "email_change_requested")],
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::mail;

    #[test]
    fn mail_to_an_account_is_in_its_language() {
        for text in [
            mail::changed("alice"),
            mail::change_requested("alice"),
            mail::verify_change("https://x", "t", 24),
            mail::registration_attempt("https://x"),
            mail::verify_register("https://x", "t", 24),
        ] {
            let (se, be) = mail::localise(Some("en"), text.clone());
            let (st, bt) = mail::localise(Some("et"), text.clone());
            assert!(!se.contains(" / ") && !st.contains(" / "), "{se} | {st}");
            assert!(!be.contains("\n\n") && !bt.contains("\n\n"));
            assert_eq!(format!("{se} / {st}"), text.0);
            assert_eq!(format!("{be}\n\n{bt}"), text.1);
            assert_eq!(mail::localise(None, text.clone()), text);
            assert_eq!(mail::localise(Some("fr"), text.clone()), text);
        }
    }
}
