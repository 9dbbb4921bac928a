//! Accounts: registration (with invite and referral codes) and profile settings.

use crate::prelude::*;

pub(crate) mod store;

/// An account as the rest of the system sees it: no password hash, no TOTP secret.
#[derive(Debug, Clone)]
pub struct Account {
    /// ID.
    pub id: UserId,
    /// Normalised username.
    pub username: String,
    /// Normalised e-mail.
    pub email: Option<String>,
    /// Whether the e-mail was verified by a mailed link.
    pub email_verified: bool,
    /// Role.
    pub role: Role,
    /// Status.
    pub status: AccountStatus,
    /// Preferred language tag.
    pub language: Option<String>,
    /// Whether TOTP is on.
    pub totp_enabled: bool,
    /// The code others register with to name this user as their referrer.
    pub referral_code: Option<String>,
    /// Unix ms.
    pub created_at: i64,
}

impl TryFrom<UserRow> for Account {
    type Error = AuthError;
    fn try_from(u: UserRow) -> Result<Self, AuthError> {
        Ok(Self {
            role: u.role()?,
            status: u.status()?,
            id: UserId::from_stored(u.id),
            username: u.username,
            email: u.email,
            email_verified: u.email_verified_at.is_some(),
            language: u.language,
            totp_enabled: u.totp_enabled,
            referral_code: u.referral_code,
            created_at: u.created_at,
        })
    }
}

/// An account created outside registration (the `admin create` command, tests).
#[derive(Debug, Clone)]
pub struct NewAccount<'a> {
    /// Username, already parsed.
    pub username: &'a Username,
    /// E-mail, already parsed.
    pub email: Option<&'a Email>,
    /// Whether the operator vouches for the address (it then receives reset links
    /// at once); otherwise the owner must verify it first.
    pub email_verified: bool,
    /// PHC string from [`crate::password::PasswordHasher::hash`].
    pub password_hash: &'a str,
    /// Role.
    pub role: Role,
    /// Unix ms.
    pub now: i64,
}

/// A fresh referral code for a new account.
pub(crate) fn new_referral_code() -> String {
    let (t, _) = random_token("");
    t.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(10)
        .collect()
}

/// What a registration did, as far as the caller may know.
#[derive(Debug, Clone)]
pub enum Registered {
    /// No e-mail was given: the account exists now.
    Created(Account),
    /// An e-mail was given: a link went to the address (or, when the address is
    /// taken, a notice to its owner). Deliberately carries nothing that differs
    /// between the two.
    VerificationSent,
}

/// Creates an account directly. A super-admin created this way is audited as
/// `admin_create` in the same transaction. A taken name or e-mail is
/// [`AuthError::Conflict`].
pub async fn create_account(
    db: &Db,
    new: NewAccount<'_>,
    request_id: Option<&str>,
) -> Result<UserId, AuthError> {
    let mut tx = db.begin().await?;
    let id = match user_store::create(
        &mut tx,
        NewUser {
            username: new.username.as_str(),
            email: new.email.map(|e| e.as_str()),
            password_hash: new.password_hash,
            role: new.role,
            referred_by: None,
            referral_code: None,
            email_verified_at: new.email_verified.then_some(new.now),
            now: new.now,
        },
    )
    .await
    {
        Ok(id) => id,
        Err(DbError::Conflict(_)) => {
            return Err(AuthError::Conflict(FieldErrors(vec![FieldError::new(
                "username", "taken",
            )])))
        }
        Err(e) => return Err(e.into()),
    };
    if new.role == Role::SuperAdmin {
        audit::record(
            &mut tx,
            NewAuditEntry {
                actor_user_uuid: None,
                action: ActionType::AdminCreate,
                target: Target::user(&id),
                metadata: serde_json::json!({"username": new.username.as_str(), "role": "super_admin", "via": "cli"}),
                request_id,
                created_at: new.now,
            },
        )
        .await?;
    }
    tx.commit().await?;
    Ok(UserId::from_stored(id))
}

impl Identity {
    /// An account by ID.
    pub async fn account(&self, id: &str) -> Result<Option<Account>, AuthError> {
        user_store::find_by_id(&self.db, id)
            .await?
            .map(Account::try_from)
            .transpose()
    }

    /// An account by username or e-mail.
    pub async fn account_by_login(&self, login: &str) -> Result<Option<Account>, AuthError> {
        user_store::find_by_login(&self.db, login)
            .await?
            .map(Account::try_from)
            .transpose()
    }

    /// Registers a customer account. Without an e-mail the account is created at
    /// once; with one, the account is created when the mailed link is used
    /// ([`Identity::verify_email`]), and a taken address only earns its owner a
    /// notice, so both answers are the same ([`Registered::VerificationSent`]).
    pub async fn register(
        &self,
        input: RegisterInput,
        ctx: &ClientCtx,
    ) -> Result<Registered, AuthError> {
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
            Some(code) => match user_store::find_by_referral_code(&self.db, code).await? {
                Some(u) => Some(u.id),
                None => return Err(field(FieldError::new("referral_code", "unknown"))),
            },
            None => None,
        };
        let phc = self.hasher.hash(&input.password).await?;
        let now = self.now();
        let own_code = new_referral_code();
        if let Some(email) = email {
            return self
                .register_pending(&username, &email, &phc, invite, referred_by.as_deref(), ctx)
                .await
                .map(|()| Registered::VerificationSent);
        }
        let mut tx = self.db.begin().await?;
        if let Some(code) = invite {
            if !invite_store::consume_invite(&mut tx, &hash_secret(code), now).await? {
                return Err(AuthError::InviteInvalid);
            }
        }
        let id = match user_store::create(
            &mut tx,
            NewUser {
                username: username.as_str(),
                email: None,
                password_hash: &phc,
                role: Role::Customer,
                referred_by: referred_by.as_deref(),
                referral_code: Some(&own_code),
                email_verified_at: None,
                now,
            },
        )
        .await
        {
            Ok(id) => id,
            Err(DbError::Conflict(_)) => {
                return Err(AuthError::Conflict(FieldErrors(vec![FieldError::new(
                    "username", "taken",
                )])));
            }
            Err(e) => return Err(e.into()),
        };
        let user = user_store::find_by_id(&mut tx, &id)
            .await?
            .ok_or(AuthError::NotFound)?;
        tx.commit().await?;
        self.emit(
            SecurityEvent::AccountStatusChange,
            ctx,
            Some(&id),
            &[("status", "registered")],
        );
        Account::try_from(user).map(Registered::Created)
    }

    /// Sets the preferred language.
    pub async fn set_language(&self, p: &Principal, lang: &str) -> Result<(), AuthError> {
        user_store::set_language(&self.db, p.user_id(), lang, self.now()).await?;
        // Every session of the user answers in the new language at once on this
        // instance (other instances within `revocation_cache_ms`), not only the one
        // that changed it: a bearer token's errors, pages in another browser (F1).
        if let Ok(mut c) = self.cache.lock() {
            c.retain(|_, e| e.revoked || e.user_id != p.user_id());
        }
        Ok(())
    }
}
