//! The permission vocabulary (D1): what a route may require, as a closed set, and the
//! one table that says which roles hold which permission ([`Role::permissions`]).
//! Routes declare a [`Permission`], so a typo does not compile; the authentication
//! guard checks it against this table (a caller without it gets 404).
//!
//! Platform permissions say what a role may do anywhere; what a caller may do to one
//! store or item is decided by that context's policy (store membership), never here.

use crate::account::Role;

/// A fine-grained permission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Permission {
    /// Ban or unban an account below one's own role.
    BanUser,
    /// Change the role of an account below one's own role.
    GrantRole,
    /// Make a customer a seller (the audited `grant_seller` staff action).
    GrantSeller,
    /// Create and revoke invite codes.
    ManageInvites,
    /// Register OAuth clients.
    ManageOauthClients,
    /// Open a store (become its first owner).
    CreateStore,
    /// Adjust any store's stock by hand (platform override; store clerks adjust their
    /// own store's stock through the store policy).
    ManualStockEdit,
    /// Refund a buyer.
    Refund,
    /// Resolve a dispute (release, refund, partial refund).
    ResolveDispute,
    /// Change support tickets' status and answer them as staff.
    ManageTickets,
    /// Mark an escrow transaction funded by hand.
    MarkFunded,
    /// Issue, resolve and read staff warnings on stores (the audited
    /// `warning_create` / `warning_resolve` staff actions).
    WarnStore,
}

impl Permission {
    /// Every permission.
    pub const ALL: [Permission; 12] = [
        Permission::BanUser,
        Permission::GrantRole,
        Permission::GrantSeller,
        Permission::ManageInvites,
        Permission::ManageOauthClients,
        Permission::CreateStore,
        Permission::ManualStockEdit,
        Permission::Refund,
        Permission::ResolveDispute,
        Permission::ManageTickets,
        Permission::MarkFunded,
        Permission::WarnStore,
    ];

    /// The stable name (documents, logs).
    pub const fn as_str(self) -> &'static str {
        match self {
            Permission::BanUser => "ban_user",
            Permission::GrantRole => "grant_role",
            Permission::GrantSeller => "grant_seller",
            Permission::ManageInvites => "manage_invites",
            Permission::ManageOauthClients => "manage_oauth_clients",
            Permission::CreateStore => "create_store",
            Permission::ManualStockEdit => "manual_stock_edit",
            Permission::Refund => "refund",
            Permission::ResolveDispute => "resolve_dispute",
            Permission::ManageTickets => "manage_tickets",
            Permission::MarkFunded => "mark_funded",
            Permission::WarnStore => "warn_store",
        }
    }

    /// Whether this is a staff power over other people's accounts, money or stores
    /// (everything but opening one's own store): routes declaring one also require the
    /// caller to have TOTP enabled (D9), whatever their role.
    pub const fn is_staff_power(self) -> bool {
        !matches!(self, Permission::CreateStore)
    }

    /// Whether `role` holds the permission (reads [`Role::permissions`]).
    pub fn allowed_for(self, role: Role) -> bool {
        role.permissions().contains(&self)
    }

    /// The least role (in role order) that holds the permission; `None` if no role
    /// does. Used to pick the route's authentication level; the guard still checks
    /// the table, so a role above the least one that lacks it is refused.
    pub fn min_role(self) -> Option<Role> {
        Role::ALL.into_iter().find(|r| self.allowed_for(*r))
    }
}

impl Role {
    /// Every role, least authority first.
    pub const ALL: [Role; 6] = [
        Role::Customer,
        Role::Seller,
        Role::Support,
        Role::Staff,
        Role::Admin,
        Role::SuperAdmin,
    ];

    /// The role → permission table (D1): the one place that says what a role may do.
    /// Not cumulative by construction: support answers tickets but does not open
    /// stores; a seller opens stores but moderates nothing.
    pub const fn permissions(self) -> &'static [Permission] {
        use Permission::*;
        match self {
            Role::Customer => &[],
            Role::Seller => &[CreateStore],
            Role::Support => &[ManageTickets],
            Role::Staff => &[
                BanUser,
                GrantSeller,
                ManageTickets,
                ResolveDispute,
                Refund,
                ManualStockEdit,
                WarnStore,
                MarkFunded,
            ],
            Role::Admin | Role::SuperAdmin => &[
                BanUser,
                GrantRole,
                GrantSeller,
                ManageInvites,
                ManageOauthClients,
                CreateStore,
                ManualStockEdit,
                Refund,
                ResolveDispute,
                ManageTickets,
                MarkFunded,
                WarnStore,
            ],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staff_bans_but_does_not_grant_roles() {
        assert!(Permission::BanUser.allowed_for(Role::Staff));
        assert!(!Permission::GrantRole.allowed_for(Role::Staff));
        assert!(Permission::GrantRole.allowed_for(Role::SuperAdmin));
        assert!(!Permission::BanUser.allowed_for(Role::Support));
    }

    #[test]
    fn the_table_is_not_just_role_order() {
        assert!(Permission::CreateStore.allowed_for(Role::Seller));
        assert!(!Permission::CreateStore.allowed_for(Role::Support));
        assert!(!Permission::CreateStore.allowed_for(Role::Staff));
        assert!(Permission::ManageTickets.allowed_for(Role::Support));
        assert!(!Permission::ManageTickets.allowed_for(Role::Seller));
        assert!(Role::Customer.permissions().is_empty());
        assert_eq!(Permission::ManageTickets.min_role(), Some(Role::Support));
        assert_eq!(Permission::MarkFunded.min_role(), Some(Role::Staff));
        assert!(!Permission::MarkFunded.allowed_for(Role::Support));
        // Warnings are moderation: staff and above, not support.
        assert_eq!(Permission::WarnStore.min_role(), Some(Role::Staff));
        assert!(!Permission::WarnStore.allowed_for(Role::Support));
    }

    #[test]
    fn super_admin_holds_everything() {
        for p in Permission::ALL {
            assert!(p.allowed_for(Role::SuperAdmin), "{}", p.as_str());
            assert!(p.min_role().is_some());
        }
    }
}
