//! Identifiers as newtypes: a `UserId` cannot be passed where a `SessionId` is meant.
//!
//! IDs are UUID text (v7, time-ordered) in storage and on the wire; parsing untrusted
//! input checks the form once.

use std::fmt;
use std::str::FromStr;

/// An ID string that is not a UUID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed identifier")]
pub struct MalformedId;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// A new, time-ordered ID.
            pub fn generate() -> Self {
                Self(uuid::Uuid::now_v7().to_string())
            }
            /// Wraps a stored value (trusted: it came from our own database).
            pub fn from_stored(s: impl Into<String>) -> Self {
                Self(s.into())
            }
            /// The text form.
            pub fn as_str(&self) -> &str {
                &self.0
            }
            /// Consumes into the text form.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl FromStr for $name {
            type Err = MalformedId;
            /// Parses untrusted input: only a canonical hyphenated UUID is accepted.
            fn from_str(s: &str) -> Result<Self, MalformedId> {
                let u = uuid::Uuid::try_parse(s).map_err(|_| MalformedId)?;
                Ok(Self(u.hyphenated().to_string()))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

id_type!(
    /// A user account.
    UserId
);
id_type!(
    /// A session (web or API); also the refresh family and the access token's `sid`.
    SessionId
);
id_type!(
    /// A personal access token.
    TokenId
);
id_type!(
    /// An invite code.
    InviteId
);
id_type!(
    /// A store (a workspace).
    StoreId
);
id_type!(
    /// A catalog item.
    ItemId
);
id_type!(
    /// An escrow transaction.
    TransactionId
);
id_type!(
    /// A dispute.
    DisputeId
);
id_type!(
    /// An order.
    OrderId
);
id_type!(
    /// A cart.
    CartId
);
id_type!(
    /// A support ticket.
    TicketId
);
id_type!(
    /// A private message.
    MessageId
);
id_type!(
    /// One message in a support ticket's thread.
    TicketMessageId
);
id_type!(
    /// A staff warning on a store.
    WarningId
);
id_type!(
    /// A conversation.
    ConversationId
);
id_type!(
    /// A report of a private message to staff.
    MessageReportId
);

/// An OAuth client ID (chosen by the admin who registers it, not a UUID).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientId(String);

impl ClientId {
    /// Wraps a client ID (validated where clients are created).
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    /// The text form.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn parse_accepts_uuids_only() {
        let id = UserId::generate();
        assert_eq!(id.as_str().parse::<UserId>().unwrap(), id);
        assert!("x".parse::<UserId>().is_err());
        assert!("'; DROP TABLE users; --".parse::<SessionId>().is_err());
    }
}
