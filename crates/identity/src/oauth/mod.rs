//! OAuth clients and the client-credentials grant.

use crate::prelude::*;

pub(crate) mod store;

impl Identity {
    /// The client-credentials grant: an access token for the client itself.
    pub async fn client_credentials(
        &self,
        client_id: &str,
        secret: &str,
        scope: Option<&str>,
    ) -> Result<(String, String), AuthError> {
        let Some(c) = oauth_store::oauth_client(&self.db, client_id).await? else {
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
        oauth_store::create_oauth_client(
            &mut tx,
            &oauth_store::OauthClientRow {
                client_id: client_id.clone(),
                name,
                secret_hash: hash.to_hex(),
                scopes: scopes.to_stored(),
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
                target: Target::oauth_client(&client_id),
                metadata: serde_json::json!({}),
                request_id: ctx.request_id.as_deref(),
                created_at: now,
            },
        )
        .await?;
        tx.commit().await?;
        Ok((client_id, secret))
    }

    /// Revokes a client: its tokens fail at once. Audited.
    pub async fn revoke_oauth_client(
        &self,
        actor: Option<&str>,
        client_id: &str,
        ctx: &ClientCtx,
    ) -> Result<(), AuthError> {
        let now = self.now();
        let mut tx = self.db.begin().await?;
        if !oauth_store::revoke_oauth_client(&mut tx, client_id, now).await? {
            return Err(AuthError::NotFound);
        }
        audit::record(
            &mut tx,
            NewAuditEntry {
                actor_user_uuid: actor,
                action: ActionType::OauthClientRevoke,
                target: Target::oauth_client(client_id),
                metadata: serde_json::json!({}),
                request_id: ctx.request_id.as_deref(),
                created_at: now,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
