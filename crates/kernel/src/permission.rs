//! The permission vocabulary (D1): what a route may require, as a closed set, and the
//! least role that holds each permission. Routes declare a [`Permission`], so a typo
//! does not compile.

use crate::account::Role;

/// A fine-grained permission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Permission {
    /// Ban or unban an account below one's own role.
    BanUser,
    /// Change the role of an account below one's own role.
    GrantRole,
    /// Create and revoke invite codes.
    ManageInvites,
    /// Register OAuth clients.
    ManageOauthClients,
}

impl Permission {
    /// Every permission.
    pub const ALL: [Permission; 4] = [
        Permission::BanUser,
        Permission::GrantRole,
        Permission::ManageInvites,
        Permission::ManageOauthClients,
    ];

    /// The stable name (documents, logs).
    pub const fn as_str(self) -> &'static str {
        match self {
            Permission::BanUser => "ban_user",
            Permission::GrantRole => "grant_role",
            Permission::ManageInvites => "manage_invites",
            Permission::ManageOauthClients => "manage_oauth_clients",
        }
    }

    /// The least role that holds the permission (roles are ordered).
    pub const fn min_role(self) -> Role {
        match self {
            Permission::BanUser => Role::Staff,
            Permission::GrantRole | Permission::ManageInvites | Permission::ManageOauthClients => {
                Role::Admin
            }
        }
    }

    /// Whether `role` holds the permission.
    pub fn granted_to(self, role: Role) -> bool {
        role >= self.min_role()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staff_bans_but_does_not_grant_roles() {
        assert!(Permission::BanUser.granted_to(Role::Staff));
        assert!(!Permission::GrantRole.granted_to(Role::Staff));
        assert!(Permission::GrantRole.granted_to(Role::SuperAdmin));
        assert!(!Permission::BanUser.granted_to(Role::Support));
    }
}
