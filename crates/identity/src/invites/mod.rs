//! Invite codes.

use crate::prelude::*;

pub(crate) mod store;

impl Identity {
    /// Creates an invite code (admins); the code is returned once, stored hashed.
    pub async fn create_invite(
        &self,
        actor: Option<&str>,
        max_uses: i64,
        expires_in_days: Option<i64>,
        ctx: &ClientCtx,
    ) -> Result<(String, String), AuthError> {
        if !(1..=rampart_kernel::fields::INVITE_USES_MAX).contains(&max_uses) {
            return Err(field(FieldError::new("max_uses", "out_of_range")));
        }
        if expires_in_days
            .is_some_and(|d| !(1..=rampart_kernel::fields::EXPIRY_DAYS_MAX).contains(&d))
        {
            return Err(field(FieldError::new("expires_in_days", "out_of_range")));
        }
        let now = self.now();
        let (code, hash) = random_token("rinv_");
        let id = uuid::Uuid::now_v7().to_string();
        let mut tx = self.db.begin().await?;
        invite_store::create_invite(
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
                target: Target::invite(&id),
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
        if !invite_store::revoke_invite(&mut tx, id, now).await? {
            return Err(AuthError::NotFound);
        }
        audit::record(
            &mut tx,
            NewAuditEntry {
                actor_user_uuid: actor,
                action: ActionType::InviteRevoke,
                target: Target::invite(id),
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
