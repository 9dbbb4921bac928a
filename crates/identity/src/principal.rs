//! Who is calling: a typed principal (a user, or an OAuth client, never a user ID
//! string with a `client:` prefix), how it authenticated, and the scopes it carries
//! (a set of an enum, not a space-joined string).

use rampart_kernel::account::Role;
use rampart_kernel::{ClientId, UserId};
use std::fmt;
use std::str::FromStr;

/// A scope a personal access token or OAuth client may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Scope {
    /// Read the profile.
    ProfileRead = 0,
    /// Change the profile.
    ProfileWrite,
    /// List device sessions.
    SessionsRead,
    /// Revoke device sessions.
    SessionsWrite,
    /// Read stores and items.
    StoresRead,
    /// Change stores and items.
    StoresWrite,
    /// Read orders and transactions.
    OrdersRead,
    /// Create and change orders.
    OrdersWrite,
    /// Read messages.
    MessagesRead,
    /// Send messages.
    MessagesWrite,
}

impl Scope {
    /// Every scope, in order.
    pub const ALL: [Scope; 10] = [
        Scope::ProfileRead,
        Scope::ProfileWrite,
        Scope::SessionsRead,
        Scope::SessionsWrite,
        Scope::StoresRead,
        Scope::StoresWrite,
        Scope::OrdersRead,
        Scope::OrdersWrite,
        Scope::MessagesRead,
        Scope::MessagesWrite,
    ];

    /// Every scope's wire name, in the order of [`Scope::ALL`] (documents, forms).
    pub const NAMES: [&'static str; 10] = [
        "profile:read",
        "profile:write",
        "sessions:read",
        "sessions:write",
        "stores:read",
        "stores:write",
        "orders:read",
        "orders:write",
        "messages:read",
        "messages:write",
    ];

    /// The wire and stored name (`profile:read`).
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::ProfileRead => "profile:read",
            Scope::ProfileWrite => "profile:write",
            Scope::SessionsRead => "sessions:read",
            Scope::SessionsWrite => "sessions:write",
            Scope::StoresRead => "stores:read",
            Scope::StoresWrite => "stores:write",
            Scope::OrdersRead => "orders:read",
            Scope::OrdersWrite => "orders:write",
            Scope::MessagesRead => "messages:read",
            Scope::MessagesWrite => "messages:write",
        }
    }
}

/// A name that is not a scope.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown scope")]
pub struct UnknownScope;

impl FromStr for Scope {
    type Err = UnknownScope;
    fn from_str(s: &str) -> Result<Self, UnknownScope> {
        Scope::ALL
            .into_iter()
            .find(|x| x.as_str() == s)
            .ok_or(UnknownScope)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of scopes (a bit set: cheap to copy and compare).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Scopes(u16);

impl Scopes {
    /// No scope.
    pub const EMPTY: Scopes = Scopes(0);

    /// Adds one.
    pub fn insert(&mut self, s: Scope) {
        self.0 |= 1 << (s as u8);
    }
    /// Whether `s` is in the set.
    pub fn contains(self, s: Scope) -> bool {
        self.0 & (1 << (s as u8)) != 0
    }
    /// Whether every scope of `other` is in this set.
    pub fn covers(self, other: Scopes) -> bool {
        other.0 & !self.0 == 0
    }
    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    /// The scopes in canonical order.
    pub fn iter(self) -> impl Iterator<Item = Scope> {
        Scope::ALL.into_iter().filter(move |s| self.contains(*s))
    }
    /// Parses a space-separated stored or wire list; `None` on an unknown name.
    pub fn parse_list<'a>(
        names: impl IntoIterator<Item = &'a str>,
    ) -> Result<Scopes, UnknownScope> {
        let mut set = Scopes::EMPTY;
        for n in names {
            set.insert(n.parse()?);
        }
        Ok(set)
    }
    /// Reads the stored form, skipping names this version does not know.
    pub(crate) fn from_stored(s: &str) -> Scopes {
        let mut set = Scopes::EMPTY;
        for n in s.split_whitespace() {
            if let Ok(x) = n.parse() {
                set.insert(x);
            }
        }
        set
    }
    /// The stored form: names in canonical order, space-separated.
    pub fn to_stored(self) -> String {
        self.iter().map(Scope::as_str).collect::<Vec<_>>().join(" ")
    }
}

impl FromIterator<Scope> for Scopes {
    fn from_iter<I: IntoIterator<Item = Scope>>(iter: I) -> Self {
        let mut set = Scopes::EMPTY;
        for s in iter {
            set.insert(s);
        }
        set
    }
}

/// How a principal authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    /// Web session cookie.
    Session {
        /// Session ID.
        sid: String,
    },
    /// Bearer access token.
    Bearer {
        /// Session ID.
        sid: String,
    },
    /// Personal access token.
    Pat {
        /// Token ID.
        id: String,
        /// Its scopes.
        scopes: Scopes,
    },
    /// OAuth client credentials.
    Client {
        /// Granted scopes.
        scopes: Scopes,
    },
}

/// Who a principal is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// A user account.
    User(UserId),
    /// An OAuth client acting for itself (client credentials).
    Client(ClientId),
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Principal {
    /// Who.
    pub subject: Subject,
    /// Username (the client ID for clients).
    pub username: String,
    /// Role (clients: customer; they reach only routes that accept clients).
    pub role: Role,
    /// TOTP on.
    pub totp_enabled: bool,
    /// Preferred language.
    pub language: Option<String>,
    /// Credential.
    pub via: Via,
}

impl Principal {
    /// The user's ID; empty for an OAuth client, which the guards keep away from every
    /// user route (so no handler sees one).
    pub fn user_id(&self) -> &str {
        match &self.subject {
            Subject::User(u) => u.as_str(),
            Subject::Client(_) => "",
        }
    }
    /// The user, if the caller is one.
    pub fn user(&self) -> Option<&UserId> {
        match &self.subject {
            Subject::User(u) => Some(u),
            Subject::Client(_) => None,
        }
    }
    /// A stable key for per-caller rate limits (`u:<id>` or `c:<id>`).
    pub fn rate_key(&self) -> String {
        match &self.subject {
            Subject::User(u) => format!("u:{u}"),
            Subject::Client(c) => format!("c:{c}"),
        }
    }
    /// Whether this is an OAuth client.
    pub fn is_client(&self) -> bool {
        matches!(self.subject, Subject::Client(_))
    }
    /// The session ID, for session and bearer callers.
    pub fn session_id(&self) -> Option<&str> {
        match &self.via {
            Via::Session { sid } | Via::Bearer { sid } => Some(sid),
            _ => None,
        }
    }
    /// Whether the credential carries `scope` (sessions and access tokens carry all).
    pub fn has_scope(&self, scope: Scope) -> bool {
        match &self.via {
            Via::Session { .. } | Via::Bearer { .. } => true,
            Via::Pat { scopes, .. } | Via::Client { scopes } => scopes.contains(scope),
        }
    }
    /// Admins without TOTP may only enrol.
    pub fn must_enrol_totp(&self) -> bool {
        self.role.requires_totp() && !self.totp_enabled && !self.is_client()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn scopes_roundtrip_and_refuse_unknown() {
        assert_eq!(Scope::ALL.map(Scope::as_str), Scope::NAMES);
        for s in Scope::ALL {
            assert_eq!(s.as_str().parse::<Scope>().unwrap(), s);
        }
        let set = Scopes::parse_list(["sessions:read", "profile:read"]).unwrap();
        assert_eq!(set.to_stored(), "profile:read sessions:read");
        assert_eq!(Scopes::from_stored(&set.to_stored()), set);
        assert!(Scopes::parse_list(["profile:read", "root"]).is_err());
        assert!(set.covers(Scopes::parse_list(["profile:read"]).unwrap()));
        assert!(!set.covers(Scopes::parse_list(["stores:write"]).unwrap()));
    }
}
