//! The audit vocabulary (C1) and the hash chain that makes the log tamper-evident (C2).
//!
//! Each row's hash covers its own content and the previous row's hash, so editing,
//! deleting or inserting a row breaks every link after it. Rows are hashed with
//! HMAC-SHA256 under a key from the audit key ring ([`keyed_hash`]); rows written
//! before the chain was keyed use plain SHA-256 ([`chain_hash`]).

use sha2::{Digest, Sha256};
use std::fmt;
use std::str::FromStr;

/// Every audited action type. Later features use these names; adding one is a
/// deliberate change here, never a free-form string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ActionType {
    /// A user was banned.
    UserBan,
    /// A ban was lifted.
    UserUnban,
    /// Staff role granted.
    GrantStaff,
    /// Seller role granted.
    GrantSeller,
    /// Support role granted.
    GrantSupport,
    /// Staff role taken away (metadata: old_role, new_role).
    RevokeStaff,
    /// Support role taken away.
    RevokeSupport,
    /// Seller role taken away.
    RevokeSeller,
    /// A role was changed in another way (metadata: old_role, new_role).
    RoleChange,
    /// Super-admin created from the command line.
    AdminCreate,
    /// A dispute was resolved.
    DisputeResolve,
    /// A dispute was resolved with a partial refund.
    DisputePartialRefund,
    /// A store warning was created.
    WarningCreate,
    /// A store warning was resolved.
    WarningResolve,
    /// A ticket changed status (metadata: old_status, new_status).
    TicketStatusChange,
    /// A ticket was assigned to a staff member or unassigned (metadata:
    /// old_assignee, new_assignee).
    TicketAssign,
    /// A refund was issued.
    Refund,
    /// An item's price changed.
    PriceChange,
    /// An item's checkout attributes changed (item type, weight, subscription-only;
    /// metadata: old and new values of what changed).
    ItemAttributesChange,
    /// Stock was adjusted by hand.
    StockAdjustment,
    /// Release of escrow funds was requested.
    ReleaseRequest,
    /// Cancellation of an escrow transaction was requested.
    CancelRequest,
    /// Reserved: impersonation is not offered; if it ever is, it is audited as this.
    Impersonate,
    /// An invite code was created.
    InviteCreate,
    /// An invite code was revoked.
    InviteRevoke,
    /// An OAuth client was created.
    OauthClientCreate,
    /// An OAuth client was revoked.
    OauthClientRevoke,
    /// A signing key was rotated.
    KeyRotate,
    /// A signing key was revoked.
    KeyRevoke,
    /// Audit rows were pruned (metadata: before, rows).
    AuditPrune,
    /// An escrow transaction was created (metadata: amount, currency, fee_bps).
    EscrowCreate,
    /// An escrow transaction was funded (metadata: old_state, new_state, effect_key).
    EscrowFund,
    /// An escrow transaction was marked shipped (metadata as for `EscrowFund`).
    EscrowShip,
    /// A dispute was opened on an escrow transaction (metadata as for `EscrowFund`).
    DisputeOpen,
    /// A release intent ran: escrow paid out to the seller.
    EscrowRelease,
    /// A cancel intent ran: the transaction was cancelled (refund if funded).
    EscrowCancel,
    /// A store member was added or their store role changed (old and new role).
    StoreMemberSet,
    /// A store member was removed, or left.
    StoreMemberRemove,
    /// A store's settings changed (old and new values of what changed).
    StoreSettingsChange,
    /// A private message was reported to staff (metadata: report, conversation).
    MessageReport,
    /// A paid checkout became an order (metadata: cart, payment intent, amount,
    /// currency, the escrow transactions opened and funded).
    OrderCreate,
}

impl ActionType {
    /// All action types, for documentation and exhaustive tests.
    pub const ALL: &'static [ActionType] = &[
        ActionType::UserBan,
        ActionType::UserUnban,
        ActionType::GrantStaff,
        ActionType::GrantSeller,
        ActionType::GrantSupport,
        ActionType::RevokeStaff,
        ActionType::RevokeSupport,
        ActionType::RevokeSeller,
        ActionType::RoleChange,
        ActionType::AdminCreate,
        ActionType::DisputeResolve,
        ActionType::DisputePartialRefund,
        ActionType::WarningCreate,
        ActionType::WarningResolve,
        ActionType::TicketStatusChange,
        ActionType::TicketAssign,
        ActionType::Refund,
        ActionType::PriceChange,
        ActionType::ItemAttributesChange,
        ActionType::StockAdjustment,
        ActionType::ReleaseRequest,
        ActionType::CancelRequest,
        ActionType::Impersonate,
        ActionType::InviteCreate,
        ActionType::InviteRevoke,
        ActionType::OauthClientCreate,
        ActionType::OauthClientRevoke,
        ActionType::KeyRotate,
        ActionType::KeyRevoke,
        ActionType::AuditPrune,
        ActionType::EscrowCreate,
        ActionType::EscrowFund,
        ActionType::EscrowShip,
        ActionType::DisputeOpen,
        ActionType::EscrowRelease,
        ActionType::EscrowCancel,
        ActionType::StoreMemberSet,
        ActionType::StoreMemberRemove,
        ActionType::StoreSettingsChange,
        ActionType::MessageReport,
        ActionType::OrderCreate,
    ];

    /// The stable stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            ActionType::UserBan => "user_ban",
            ActionType::UserUnban => "user_unban",
            ActionType::GrantStaff => "grant_staff",
            ActionType::GrantSeller => "grant_seller",
            ActionType::GrantSupport => "grant_support",
            ActionType::RevokeStaff => "revoke_staff",
            ActionType::RevokeSupport => "revoke_support",
            ActionType::RevokeSeller => "revoke_seller",
            ActionType::RoleChange => "role_change",
            ActionType::AdminCreate => "admin_create",
            ActionType::DisputeResolve => "dispute_resolve",
            ActionType::DisputePartialRefund => "dispute_partial_refund",
            ActionType::WarningCreate => "warning_create",
            ActionType::WarningResolve => "warning_resolve",
            ActionType::TicketStatusChange => "ticket_status_change",
            ActionType::TicketAssign => "ticket_assign",
            ActionType::Refund => "refund",
            ActionType::PriceChange => "price_change",
            ActionType::ItemAttributesChange => "item_attributes_change",
            ActionType::StockAdjustment => "stock_adjustment",
            ActionType::ReleaseRequest => "release_request",
            ActionType::CancelRequest => "cancel_request",
            ActionType::Impersonate => "impersonate",
            ActionType::InviteCreate => "invite_create",
            ActionType::InviteRevoke => "invite_revoke",
            ActionType::OauthClientCreate => "oauth_client_create",
            ActionType::OauthClientRevoke => "oauth_client_revoke",
            ActionType::KeyRotate => "key_rotate",
            ActionType::KeyRevoke => "key_revoke",
            ActionType::AuditPrune => "audit_prune",
            ActionType::EscrowCreate => "escrow_create",
            ActionType::EscrowFund => "escrow_fund",
            ActionType::EscrowShip => "escrow_ship",
            ActionType::DisputeOpen => "dispute_open",
            ActionType::EscrowRelease => "escrow_release",
            ActionType::EscrowCancel => "escrow_cancel",
            ActionType::StoreMemberSet => "store_member_set",
            ActionType::StoreMemberRemove => "store_member_remove",
            ActionType::StoreSettingsChange => "store_settings_change",
            ActionType::MessageReport => "message_report",
            ActionType::OrderCreate => "order_create",
        }
    }
}

impl fmt::Display for ActionType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ActionType {
    type Err = rampart_kernel::account::UnknownValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ActionType::ALL
            .iter()
            .copied()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| rampart_kernel::account::UnknownValue(s.to_owned()))
    }
}

/// Kinds of things an audit row is about. A closed set: a typo does not compile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TargetKind {
    /// A user account.
    User,
    /// A signing key.
    SigningKey,
    /// An OAuth client.
    OauthClient,
    /// An invite code.
    Invite,
    /// The audit log itself (pruning).
    AuditLog,
    /// A store (workspace).
    Store,
    /// A catalog item.
    Item,
    /// An escrow transaction.
    Transaction,
    /// A dispute.
    Dispute,
    /// An order.
    Order,
    /// A support ticket.
    Ticket,
    /// A store warning.
    Warning,
    /// A private message.
    Message,
}

impl TargetKind {
    /// All kinds, for exhaustive tests.
    pub const ALL: &'static [TargetKind] = &[
        TargetKind::User,
        TargetKind::SigningKey,
        TargetKind::OauthClient,
        TargetKind::Invite,
        TargetKind::AuditLog,
        TargetKind::Store,
        TargetKind::Item,
        TargetKind::Transaction,
        TargetKind::Dispute,
        TargetKind::Order,
        TargetKind::Ticket,
        TargetKind::Warning,
        TargetKind::Message,
    ];

    /// The stable stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            TargetKind::User => "user",
            TargetKind::SigningKey => "signing_key",
            TargetKind::OauthClient => "oauth_client",
            TargetKind::Invite => "invite",
            TargetKind::AuditLog => "audit_log",
            TargetKind::Store => "store",
            TargetKind::Item => "item",
            TargetKind::Transaction => "transaction",
            TargetKind::Dispute => "dispute",
            TargetKind::Order => "order",
            TargetKind::Ticket => "ticket",
            TargetKind::Warning => "warning",
            TargetKind::Message => "message",
        }
    }
}

/// What an audit row is about: a kind and an identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target<'a> {
    /// The kind.
    pub kind: TargetKind,
    /// Its identifier.
    pub id: &'a str,
}

impl<'a> Target<'a> {
    /// A user account.
    pub fn user(id: &'a str) -> Self {
        Self {
            kind: TargetKind::User,
            id,
        }
    }
    /// A signing key.
    pub fn signing_key(kid: &'a str) -> Self {
        Self {
            kind: TargetKind::SigningKey,
            id: kid,
        }
    }
    /// An OAuth client.
    pub fn oauth_client(client_id: &'a str) -> Self {
        Self {
            kind: TargetKind::OauthClient,
            id: client_id,
        }
    }
    /// An invite code.
    pub fn invite(id: &'a str) -> Self {
        Self {
            kind: TargetKind::Invite,
            id,
        }
    }
    /// The audit log as a whole.
    pub fn audit_log() -> Self {
        Self {
            kind: TargetKind::AuditLog,
            id: "*",
        }
    }
    /// Any other kind.
    pub fn new(kind: TargetKind, id: &'a str) -> Self {
        Self { kind, id }
    }
}

/// The hash that precedes the first row ever written.
pub const GENESIS_HASH: [u8; 32] = [0u8; 32];

/// The hashed content of one audit row, exactly as stored.
#[derive(Debug, Clone, Copy)]
pub struct AuditContent<'a> {
    /// Position in the chain (1, 2, 3…); gaps are tampering.
    pub seq: i64,
    /// Row UUID.
    pub id: &'a str,
    /// Who acted (None for the system or the command line).
    pub actor_user_uuid: Option<&'a str>,
    /// [`ActionType::as_str`].
    pub action_type: &'a str,
    /// Kind of the thing acted on (`user`, `store`, `ticket`…).
    pub target_type: &'a str,
    /// Its identifier.
    pub target_id: &'a str,
    /// JSON text as stored.
    pub metadata: &'a str,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Correlation ID of the request that did it.
    pub request_id: Option<&'a str>,
}

/// Appends a length-prefixed field so no two different rows encode to the same bytes.
fn put(buf: &mut Vec<u8>, field: &[u8]) {
    buf.extend_from_slice(&(field.len() as u64).to_be_bytes());
    buf.extend_from_slice(field);
}

/// The canonical byte encoding of a row's content (what the hash covers after `prev`).
pub fn canonical_bytes(c: &AuditContent<'_>, buf: &mut Vec<u8>) {
    buf.clear();
    buf.extend_from_slice(&c.seq.to_be_bytes());
    put(buf, c.id.as_bytes());
    match c.actor_user_uuid {
        Some(a) => {
            buf.push(1);
            put(buf, a.as_bytes());
        }
        None => buf.push(0),
    }
    put(buf, c.action_type.as_bytes());
    put(buf, c.target_type.as_bytes());
    put(buf, c.target_id.as_bytes());
    put(buf, c.metadata.as_bytes());
    buf.extend_from_slice(&c.created_at.to_be_bytes());
    match c.request_id {
        Some(r) => {
            buf.push(1);
            put(buf, r.as_bytes());
        }
        None => buf.push(0),
    }
}

/// `SHA-256(prev_hash || canonical_bytes(content))`, reusing `buf` to avoid allocation.
pub fn chain_hash(prev: &[u8; 32], content: &AuditContent<'_>, buf: &mut Vec<u8>) -> [u8; 32] {
    canonical_bytes(content, buf);
    let mut h = Sha256::new();
    h.update(prev);
    h.update(&buf[..]);
    h.finalize().into()
}

/// `HMAC-SHA256(key, prev_hash || canonical_bytes(content))`: the keyed form every row
/// written since the chain was keyed uses (`mac` is the key's prepared state, cloned
/// per row). Without the key nobody can compute a row that verifies.
pub fn keyed_hash(
    mac: &crate::keys::ChainMac,
    prev: &[u8; 32],
    content: &AuditContent<'_>,
    buf: &mut Vec<u8>,
) -> [u8; 32] {
    use hmac::Mac;
    canonical_bytes(content, buf);
    let mut m = mac.clone();
    m.update(prev);
    m.update(&buf[..]);
    m.finalize().into_bytes().into()
}

/// Decodes a stored hex hash.
pub fn parse_hash(hex_str: &str) -> Option<[u8; 32]> {
    let v = hex::decode(hex_str).ok()?;
    v.try_into().ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn row(seq: i64, meta: &str) -> AuditContent<'_> {
        AuditContent {
            seq,
            id: "id",
            actor_user_uuid: Some("actor"),
            action_type: "user_ban",
            target_type: "user",
            target_id: "t",
            metadata: meta,
            created_at: 5,
            request_id: None,
        }
    }

    #[test]
    fn names_roundtrip() {
        for a in ActionType::ALL {
            assert_eq!(a.as_str().parse::<ActionType>().unwrap(), *a);
        }
    }

    #[test]
    fn any_change_changes_the_hash() {
        let mut buf = Vec::new();
        let h1 = chain_hash(&GENESIS_HASH, &row(1, "{}"), &mut buf);
        assert_ne!(h1, chain_hash(&GENESIS_HASH, &row(1, "{ }"), &mut buf));
        assert_ne!(h1, chain_hash(&GENESIS_HASH, &row(2, "{}"), &mut buf));
        assert_ne!(h1, chain_hash(&[1; 32], &row(1, "{}"), &mut buf));
        assert_eq!(h1, chain_hash(&GENESIS_HASH, &row(1, "{}"), &mut buf));
        // Keyed: differs from the plain form and between keys.
        use hmac::Mac;
        let k1 = crate::keys::ChainMac::new_from_slice(&[1; 32]).unwrap();
        let k2 = crate::keys::ChainMac::new_from_slice(&[2; 32]).unwrap();
        let m1 = keyed_hash(&k1, &GENESIS_HASH, &row(1, "{}"), &mut buf);
        assert_ne!(m1, h1);
        assert_ne!(m1, keyed_hash(&k2, &GENESIS_HASH, &row(1, "{}"), &mut buf));
        assert_eq!(m1, keyed_hash(&k1, &GENESIS_HASH, &row(1, "{}"), &mut buf));
        // Field boundaries are unambiguous.
        let mut a = row(1, "{}");
        a.target_type = "ab";
        a.target_id = "c";
        let mut b = row(1, "{}");
        b.target_type = "a";
        b.target_id = "bc";
        assert_ne!(
            chain_hash(&GENESIS_HASH, &a, &mut buf),
            chain_hash(&GENESIS_HASH, &b, &mut buf)
        );
    }
}
