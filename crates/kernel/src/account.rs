//! Roles and account status, with the rules that depend on them.

use std::fmt;
use std::str::FromStr;

/// A user's role; ordered from least to most authority.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// A buyer.
    Customer,
    /// Runs stores.
    Seller,
    /// Answers tickets.
    Support,
    /// Moderates.
    Staff,
    /// Administers the platform.
    Admin,
    /// Owns the platform; created by `rampart admin create`.
    SuperAdmin,
}

impl Role {
    /// The stable name stored in the database and shown in APIs.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Customer => "customer",
            Role::Seller => "seller",
            Role::Support => "support",
            Role::Staff => "staff",
            Role::Admin => "admin",
            Role::SuperAdmin => "super_admin",
        }
    }
    /// Staff and above get shorter sessions and stricter fingerprint rules.
    pub fn is_staff(self) -> bool {
        self >= Role::Support
    }
    /// Admin and super-admin must enrol TOTP before doing anything else.
    pub fn requires_totp(self) -> bool {
        self >= Role::Admin
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error for an unknown stored enum value.
#[derive(Debug, thiserror::Error)]
#[error("unknown value {0:?}")]
pub struct UnknownValue(pub String);

impl FromStr for Role {
    type Err = UnknownValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "customer" => Role::Customer,
            "seller" => Role::Seller,
            "support" => Role::Support,
            "staff" => Role::Staff,
            "admin" => Role::Admin,
            "super_admin" => Role::SuperAdmin,
            other => return Err(UnknownValue(other.to_owned())),
        })
    }
}

/// Account status (A11).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AccountStatus {
    /// May log in.
    Active,
    /// May not log in; every session and token is revoked.
    Banned,
    /// Personal data removed; may not log in.
    Deleted,
}

impl AccountStatus {
    /// The stable stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            AccountStatus::Active => "active",
            AccountStatus::Banned => "banned",
            AccountStatus::Deleted => "deleted",
        }
    }
    /// Only active accounts may authenticate.
    pub fn may_authenticate(self) -> bool {
        self == AccountStatus::Active
    }
}

impl FromStr for AccountStatus {
    type Err = UnknownValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "active" => AccountStatus::Active,
            "banned" => AccountStatus::Banned,
            "deleted" => AccountStatus::Deleted,
            other => return Err(UnknownValue(other.to_owned())),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn roles_roundtrip_and_order() {
        for r in [
            Role::Customer,
            Role::Seller,
            Role::Support,
            Role::Staff,
            Role::Admin,
            Role::SuperAdmin,
        ] {
            assert_eq!(r.as_str().parse::<Role>().unwrap(), r);
        }
        assert!(Role::Admin.requires_totp());
        assert!(!Role::Staff.requires_totp());
        assert!(Role::Support.is_staff());
        assert!(!Role::Seller.is_staff());
    }
}
