//! Personal access tokens: create, scope, rename, expire, delete, authenticate.

use crate::prelude::*;

pub(crate) mod store;

/// A personal access token as its owner sees it (never the secret or its hash).
#[derive(Debug, Clone)]
pub struct PatInfo {
    /// Token ID.
    pub id: String,
    /// Owner's name for it.
    pub name: String,
    /// The first characters of the token, to recognise it.
    pub display_prefix: String,
    /// What it may do.
    pub scopes: Scopes,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms; `None` never expires.
    pub expires_at: Option<i64>,
    /// Unix ms, throttled to a minute.
    pub last_used_at: Option<i64>,
}

impl From<store::PatRow> for PatInfo {
    fn from(r: store::PatRow) -> Self {
        Self {
            id: r.id,
            name: r.name,
            display_prefix: r.display_prefix,
            scopes: Scopes::from_stored(&r.scopes),
            created_at: r.created_at,
            expires_at: r.expires_at,
            last_used_at: r.last_used_at,
        }
    }
}

impl Identity {
    /// The PATs of a user, newest first.
    pub async fn list_pats(&self, user_id: &str) -> Result<Vec<PatInfo>, AuthError> {
        Ok(pat_store::list_pats(&self.db, user_id)
            .await?
            .into_iter()
            .map(PatInfo::from)
            .collect())
    }

    /// Authenticates a personal access token.
    pub async fn authenticate_pat(&self, token: &str) -> Result<Principal, AuthError> {
        if !tokens::is_well_formed(tokens::PAT_PREFIX, token) {
            return Err(AuthError::TokenInvalid);
        }
        let now = self.now();
        let pat = pat_store::pat_by_hash(&self.db, &TokenHash::of(token).to_hex())
            .await?
            .ok_or(AuthError::TokenInvalid)?;
        if self.pat_expiry(&pat) <= now {
            return Err(AuthError::TokenExpired);
        }
        let u = user_store::find_by_id(&self.db, &pat.user_id)
            .await?
            .ok_or(AuthError::TokenInvalid)?;
        if !u.status()?.may_authenticate() {
            return Err(AuthError::TokenRevoked);
        }
        if pat.last_used_at.is_none_or(|t| now - t > 60_000) {
            pat_store::touch_pat(&self.db, &pat.id, now).await?;
        }
        Ok(Principal {
            subject: Subject::User(UserId::from_stored(u.id.clone())),
            username: u.username.clone(),
            role: u.role()?,
            totp_enabled: u.totp_enabled,
            language: u.language.clone(),
            via: Via::Pat {
                id: pat.id,
                scopes: Scopes::from_stored(&pat.scopes),
            },
        })
    }

    /// Validates a PAT name and scopes.
    pub fn parse_pat_fields(name: &str, scopes: &[String]) -> Result<(String, Scopes), AuthError> {
        let mut errs = FieldErrors::new();
        let name = errs.take(rampart_kernel::fields::display_name(
            "name",
            name,
            1,
            rampart_kernel::fields::TOKEN_NAME_MAX,
        ));
        let mut set = Scopes::EMPTY;
        if scopes.is_empty() {
            errs.push(FieldError::new("scopes", "required"));
        } else if scopes.len() > Scope::ALL.len() {
            errs.push(FieldError::new("scopes", "unknown_scope"));
        } else {
            match Scopes::parse_list(scopes.iter().map(String::as_str)) {
                Ok(s) => set = s,
                Err(_) => errs.push(FieldError::new("scopes", "unknown_scope")),
            }
        }
        errs.clone().into_result().map_err(AuthError::Validation)?;
        Ok((name.unwrap_or_default(), set))
    }

    /// Creates a PAT; the plaintext is returned once.
    pub async fn create_pat(
        &self,
        p: &Principal,
        name: &str,
        scopes: &[String],
        expires_in_days: Option<i64>,
        ctx: &ClientCtx,
    ) -> Result<(PatInfo, String), AuthError> {
        let (name, scopes) = Self::parse_pat_fields(name, scopes)?;
        let days = self.pat_days(expires_in_days)?;
        let now = self.now();
        let (token, hash) = random_token(tokens::PAT_PREFIX);
        let id = uuid::Uuid::now_v7().to_string();
        let display: String = token.chars().take(tokens::PAT_PREFIX.len() + 4).collect();
        let expires_at = Some(now + days * 86_400_000);
        pat_store::insert_pat(
            &self.db,
            &id,
            p.user_id(),
            &name,
            &hash.to_hex(),
            &display,
            &scopes.to_stored(),
            now,
            expires_at,
        )
        .await?;
        self.emit(
            SecurityEvent::PatCreate,
            ctx,
            Some(p.user_id()),
            &[("pat_id", &id)],
        );
        let row = pat_store::get_pat(&self.db, p.user_id(), &id)
            .await?
            .ok_or(AuthError::NotFound)?;
        Ok((row.into(), token))
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
    ) -> Result<PatInfo, AuthError> {
        let cur = pat_store::get_pat(&self.db, p.user_id(), id)
            .await?
            .ok_or(AuthError::NotFound)?;
        let cur_scopes: Vec<String> = Scopes::from_stored(&cur.scopes)
            .iter()
            .map(|s| s.as_str().to_owned())
            .collect();
        let (name, scopes) =
            Self::parse_pat_fields(name.unwrap_or(&cur.name), scopes.unwrap_or(&cur_scopes))?;
        let now = self.now();
        let expires_at = match expires_in_days {
            None => cur.expires_at,
            // Expired stays expired: a PATCH must not bring a dead credential back.
            Some(_) if self.pat_expiry(&cur) <= now => {
                return Err(field(FieldError::new("expires_in_days", "token_expired")))
            }
            // `null` (formerly "never") now means the default lifetime from today.
            Some(d) => Some(now + self.pat_days(d)? * 86_400_000),
        };
        if !pat_store::update_pat(
            &self.db,
            p.user_id(),
            id,
            &name,
            &scopes.to_stored(),
            expires_at,
        )
        .await?
        {
            return Err(AuthError::NotFound);
        }
        // Connections authenticated under the old scopes reconnect under the new.
        self.revoked(Revoked::Pat(id.to_owned()));
        self.emit(
            SecurityEvent::PatUpdate,
            ctx,
            Some(p.user_id()),
            &[("pat_id", id)],
        );
        pat_store::get_pat(&self.db, p.user_id(), id)
            .await?
            .map(PatInfo::from)
            .ok_or(AuthError::NotFound)
    }

    /// A requested lifetime in days, or the default; beyond the maximum is refused.
    fn pat_days(&self, requested: Option<i64>) -> Result<i64, AuthError> {
        match requested {
            None => Ok(self
                .cfg
                .pat_default_ttl_days
                .clamp(1, self.cfg.pat_max_ttl_days)),
            Some(d) if (1..=self.cfg.pat_max_ttl_days).contains(&d) => Ok(d),
            Some(_) => Err(field(FieldError::new("expires_in_days", "out_of_range"))),
        }
    }

    /// When a token stops working: its expiry, or for tokens stored without one
    /// (before lifetimes were enforced) the maximum lifetime from creation.
    pub(crate) fn pat_expiry(&self, pat: &store::PatRow) -> i64 {
        pat.expires_at
            .unwrap_or(pat.created_at + self.cfg.pat_max_ttl_days * 86_400_000)
    }

    /// Deletes a PAT.
    pub async fn delete_pat(
        &self,
        p: &Principal,
        id: &str,
        ctx: &ClientCtx,
    ) -> Result<(), AuthError> {
        if !pat_store::delete_pat(&self.db, p.user_id(), id).await? {
            return Err(AuthError::NotFound);
        }
        self.revoked(Revoked::Pat(id.to_owned()));
        self.emit(
            SecurityEvent::PatDelete,
            ctx,
            Some(p.user_id()),
            &[("pat_id", id)],
        );
        Ok(())
    }
}
