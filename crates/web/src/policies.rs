//! The rate-limit policy table (B2/B3): each [`PolicyName`]'s limit, window and key.
//! Defaults here, overridable by configuration; the guard is the `ratelimit` module.

use rampart_security::ratelimit::{Policy, PolicyName};
use std::collections::BTreeMap;

/// What a policy counts by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// The client IP (IPv6 by /64, since one host owns a whole /64).
    Ip,
    /// The authenticated user (the route's auth layer runs first); the IP when the
    /// caller is anonymous.
    User,
    /// A path parameter (e.g. the ticket ID), combined with nothing else.
    PathParam(&'static str),
}

/// A named policy and its key.
#[derive(Debug, Clone)]
pub struct PolicyDef {
    /// Limit and window.
    pub policy: Policy,
    /// What it counts by.
    pub key: KeyKind,
    /// Catalog key of the refusal detail, when the flow must not reveal more than a
    /// generic answer (login, password reset).
    pub detail: Option<&'static str>,
}

/// Every policy by name; defaults from B2/B3, overridable by configuration.
#[derive(Debug, Clone)]
pub struct Policies(pub BTreeMap<PolicyName, PolicyDef>);

impl Policies {
    /// The binding seed table (B2) and the storefront/API table (B3).
    pub fn defaults() -> Self {
        let min = 60_000u64;
        let hour = 3_600_000u64;
        let mut m = BTreeMap::new();
        let mut add = |name: PolicyName,
                       limit: u32,
                       window_ms: u64,
                       key: KeyKind,
                       detail: Option<&'static str>| {
            m.insert(
                name,
                PolicyDef {
                    policy: Policy::new(name.as_str(), limit, window_ms),
                    key,
                    detail,
                },
            );
        };
        add(
            PolicyName::PasswordReset,
            5,
            hour,
            KeyKind::Ip,
            Some("reset.generic"),
        );
        add(
            PolicyName::Login,
            10,
            5 * min,
            KeyKind::Ip,
            Some("err.invalid_credentials"),
        );
        add(
            PolicyName::LoginCeiling,
            60,
            min,
            KeyKind::Ip,
            Some("err.invalid_credentials"),
        );
        add(PolicyName::Auth, 5, min, KeyKind::Ip, None);
        add(PolicyName::MessageSend, 10, min, KeyKind::User, None);
        add(PolicyName::TicketCreate, 5, hour, KeyKind::User, None);
        add(
            PolicyName::TicketMessage,
            20,
            hour,
            KeyKind::PathParam("id"),
            None,
        );
        add(PolicyName::Cart, 100, min, KeyKind::Ip, None);
        add(PolicyName::Checkout, 10, min, KeyKind::User, None);
        add(PolicyName::Payment, 3, min, KeyKind::User, None);
        // The sandbox's stand-in for the provider's client script: attempts on one
        // intent (the client secret is guessed per intent).
        add(
            PolicyName::SandboxPayment,
            5,
            min,
            KeyKind::PathParam("id"),
            None,
        );
        add(PolicyName::WsHandshake, 120, min, KeyKind::Ip, None);
        // Second-factor attempts by a signed-in user (enrolment confirm, disable): a
        // stolen session cannot search the code space.
        add(PolicyName::Totp, 5, 5 * min, KeyKind::User, None);
        // Marketplace writes (stores, members, items, stock) by one user.
        add(PolicyName::StoreWrite, 60, min, KeyKind::User, None);
        // Dispute writes (open, claims, resolutions) by one user: a party cannot
        // flood the other side or staff with claims.
        add(PolicyName::DisputeWrite, 20, min, KeyKind::User, None);
        // Prekey-bundle claims by one user: each claim may take one of the target's
        // one-time prekeys, so a stranger cannot drain them quickly.
        add(PolicyName::PrekeyClaim, 30, min, KeyKind::User, None);
        Policies(m)
    }

    /// Overrides one policy's limit and window.
    pub fn set(&mut self, name: PolicyName, limit: u32, window_ms: u64) {
        if let Some(def) = self.0.get_mut(&name) {
            def.policy = Policy::new(name.as_str(), limit, window_ms);
        }
    }
}
