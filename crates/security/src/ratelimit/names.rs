//! The closed set of rate-limit policy names: routes, the policy table and the
//! configuration's `[rate_limits]` keys all name a [`PolicyName`], so a typo does not
//! compile (routes) or stops start-up (configuration).

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// A rate-limit policy (B2/B3 and our own).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolicyName {
    /// Password-reset requests per IP.
    PasswordReset,
    /// Login attempts per IP.
    Login,
    /// The login ceiling per IP.
    LoginCeiling,
    /// Other authentication endpoints per IP.
    Auth,
    /// Messages sent per user.
    MessageSend,
    /// Support tickets opened per user.
    TicketCreate,
    /// Messages per ticket.
    TicketMessage,
    /// Cart changes per IP.
    Cart,
    /// Checkouts per user.
    Checkout,
    /// Payment attempts per user.
    Payment,
    /// The sandbox provider's confirm/authenticate calls per payment intent
    /// (unauthenticated: the client secret is the credential, so its guesses are
    /// bounded per intent).
    SandboxPayment,
    /// WebSocket handshakes per IP.
    WsHandshake,
    /// Second-factor attempts by a signed-in user.
    Totp,
    /// Store and item changes per user (marketplace writes).
    StoreWrite,
    /// Dispute writes per user (opening, claims, resolutions).
    DisputeWrite,
    /// Prekey-bundle claims per user (each may take a one-time prekey).
    PrekeyClaim,
}

impl PolicyName {
    /// Every policy.
    pub const ALL: [PolicyName; 16] = [
        PolicyName::PasswordReset,
        PolicyName::Login,
        PolicyName::LoginCeiling,
        PolicyName::Auth,
        PolicyName::MessageSend,
        PolicyName::TicketCreate,
        PolicyName::TicketMessage,
        PolicyName::Cart,
        PolicyName::Checkout,
        PolicyName::Payment,
        PolicyName::SandboxPayment,
        PolicyName::WsHandshake,
        PolicyName::Totp,
        PolicyName::StoreWrite,
        PolicyName::DisputeWrite,
        PolicyName::PrekeyClaim,
    ];

    /// The stable name (storage keys, headers, configuration).
    pub const fn as_str(self) -> &'static str {
        match self {
            PolicyName::PasswordReset => "password_reset",
            PolicyName::Login => "login",
            PolicyName::LoginCeiling => "login_ceiling",
            PolicyName::Auth => "auth",
            PolicyName::MessageSend => "message_send",
            PolicyName::TicketCreate => "ticket_create",
            PolicyName::TicketMessage => "ticket_message",
            PolicyName::Cart => "cart",
            PolicyName::Checkout => "checkout",
            PolicyName::Payment => "payment",
            PolicyName::SandboxPayment => "sandbox_payment",
            PolicyName::WsHandshake => "ws_handshake",
            PolicyName::Totp => "totp",
            PolicyName::StoreWrite => "store_write",
            PolicyName::DisputeWrite => "dispute_write",
            PolicyName::PrekeyClaim => "prekey_claim",
        }
    }
}

impl fmt::Display for PolicyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown policy name (configuration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownPolicy(pub String);

impl fmt::Display for UnknownPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let known: Vec<&str> = PolicyName::ALL.iter().map(|p| p.as_str()).collect();
        write!(
            f,
            "unknown rate-limit policy {:?}; known: {}",
            self.0,
            known.join(", ")
        )
    }
}

impl std::error::Error for UnknownPolicy {}

impl FromStr for PolicyName {
    type Err = UnknownPolicy;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PolicyName::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| UnknownPolicy(s.to_owned()))
    }
}

// Ordered and hashed by name, so a map keyed by `PolicyName` can be looked up by
// `&str` (`Borrow<str>` requires order and hash to agree with `str`'s).
impl Ord for PolicyName {
    fn cmp(&self, other: &Self) -> Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl PartialOrd for PolicyName {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl std::hash::Hash for PolicyName {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl Borrow<str> for PolicyName {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for p in PolicyName::ALL {
            assert_eq!(p.as_str().parse::<PolicyName>(), Ok(p));
        }
        assert!("logn".parse::<PolicyName>().is_err());
    }
}
