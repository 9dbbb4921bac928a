//! Moderation: account status (ban, unban) and roles.

use crate::prelude::*;

impl Identity {
    /// Bans or unbans a user (A11): status change, every session and refresh family
    /// revoked, audited in the same transaction.
    pub async fn set_status(
        &self,
        actor: Option<&str>,
        user_id: &str,
        status: AccountStatus,
        ctx: &ClientCtx,
    ) -> Result<(), AuthError> {
        let now = self.now();
        // The target's rows only: a ban or role change ends that user's credentials.
        let mut tx = self.begin_for(user_id).await?;
        let before = user_store::find_by_id(&mut tx, user_id)
            .await?
            .ok_or(AuthError::NotFound)?;
        if before.status()? == status {
            // Nothing changes, so nothing is revoked or audited (one row per change).
            return Ok(());
        }
        user_store::set_status(&mut tx, user_id, status, now).await?;
        let (ids, pats) = if status.may_authenticate() {
            (Vec::new(), 0)
        } else {
            // PATs are deleted, not just refused while banned: an unban must not
            // bring back credentials the ban revoked (A11).
            let pats = pat_store::delete_all_pats(&mut tx, user_id).await?;
            (
                session_store::revoke_all(&mut tx, user_id, None, now, "banned").await?,
                pats,
            )
        };
        let action = if status == AccountStatus::Banned {
            ActionType::UserBan
        } else {
            ActionType::UserUnban
        };
        audit::record(
            &mut tx,
            NewAuditEntry {
                actor_user_uuid: actor,
                action,
                target: Target::user(user_id),
                metadata: serde_json::json!({"old_status": before.status, "new_status": status.as_str(), "pats_deleted": pats}),
                request_id: ctx.request_id.as_deref(),
                created_at: now,
            },
        )
        .await?;
        tx.commit().await?;
        self.forget_revoked(&ids);
        if !status.may_authenticate() {
            self.revoked(Revoked::User(user_id.to_owned()));
        }
        self.emit(
            SecurityEvent::AccountStatusChange,
            ctx,
            Some(user_id),
            &[("status", status.as_str())],
        );
        Ok(())
    }

    /// Changes a user's role (C1 names: [`role_action`]; privilege change ends their sessions, so the next login
    /// gets a new session ID), audited.
    pub async fn set_role(
        &self,
        actor: Option<&str>,
        user_id: &str,
        role: Role,
        ctx: &ClientCtx,
    ) -> Result<(), AuthError> {
        let now = self.now();
        // The target's rows only: a ban or role change ends that user's credentials.
        let mut tx = self.begin_for(user_id).await?;
        let before = user_store::find_by_id(&mut tx, user_id)
            .await?
            .ok_or(AuthError::NotFound)?;
        let old_role = before.role()?;
        if old_role == role {
            // Nothing changes, so nothing is revoked or audited (one row per change).
            return Ok(());
        }
        user_store::set_role(&mut tx, user_id, role, now).await?;
        let ids = session_store::revoke_all(&mut tx, user_id, None, now, "role_change").await?;
        // Tokens minted under the old role must not carry the new one's authority.
        let pats_deleted = pat_store::delete_all_pats(&mut tx, user_id).await?;
        let action = role_action(old_role, role);
        audit::record(
            &mut tx,
            NewAuditEntry {
                actor_user_uuid: actor,
                action,
                target: Target::user(user_id),
                metadata: serde_json::json!({"old_role": before.role, "new_role": role.as_str(), "pats_deleted": pats_deleted}),
                request_id: ctx.request_id.as_deref(),
                created_at: now,
            },
        )
        .await?;
        tx.commit().await?;
        self.forget_revoked(&ids);
        self.revoked(Revoked::User(user_id.to_owned()));
        Ok(())
    }
}

/// The C1 action a role change is audited as: a step up is a grant of the new role
/// (`grant_staff`, `grant_support`, `grant_seller`), a step down a revocation of the
/// old one (`revoke_staff`, `revoke_support`, `revoke_seller`); changes to or from
/// the admin roles are `role_change`. The metadata always has both roles.
pub fn role_action(old: Role, new: Role) -> ActionType {
    use std::cmp::Ordering::*;
    match (new.cmp(&old), if new > old { new } else { old }) {
        (Greater, Role::Staff) => ActionType::GrantStaff,
        (Greater, Role::Support) => ActionType::GrantSupport,
        (Greater, Role::Seller) => ActionType::GrantSeller,
        (Less, Role::Staff) => ActionType::RevokeStaff,
        (Less, Role::Support) => ActionType::RevokeSupport,
        (Less, Role::Seller) => ActionType::RevokeSeller,
        _ => ActionType::RoleChange,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_changes_have_their_c1_names() {
        use Role::*;
        let cases = [
            (Customer, Seller, "grant_seller"),
            (Customer, Support, "grant_support"),
            (Seller, Staff, "grant_staff"),
            (Staff, Customer, "revoke_staff"),
            (Staff, Seller, "revoke_staff"),
            (Support, Customer, "revoke_support"),
            (Seller, Customer, "revoke_seller"),
            (Staff, Admin, "role_change"),
            (Admin, Customer, "role_change"),
        ];
        for (old, new, name) in cases {
            assert_eq!(role_action(old, new).as_str(), name, "{old:?} -> {new:?}");
        }
    }
}
