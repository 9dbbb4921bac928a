//! Wire types of the staff tools (`/v1/staff/users`, `/v1/staff/stores`).

use crate::marketplace::disputes::DisputeResponse;
use crate::marketplace::wire::{MemberResponse, MyStoreResponse, StoreResponse};
use crate::trust::wire::WarningResponse;
use rampart_identity::accounts::Account;
use rampart_identity::sessions::DeviceSession;
use rampart_kernel::account::Role;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `GET /v1/staff/users?q=`.
#[derive(Deserialize, JsonSchema, Default)]
pub struct UserSearchParams {
    /// A username, an e-mail address or a user ID (exact match).
    #[serde(default)]
    #[schemars(length(max = 320))]
    pub q: Option<String>,
}

/// The roles staff tools grant and revoke (admin roles are `/v1/admin/users/{id}/role`).
#[derive(Deserialize, Serialize, JsonSchema, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "snake_case")]
pub enum StaffRoleWire {
    /// No platform role (revokes seller, support or staff).
    Customer,
    /// Opens stores.
    Seller,
    /// Answers support tickets.
    Support,
    /// Moderates (bans, warnings, disputes, tickets).
    Staff,
}

impl From<StaffRoleWire> for Role {
    fn from(r: StaffRoleWire) -> Self {
        match r {
            StaffRoleWire::Customer => Role::Customer,
            StaffRoleWire::Seller => Role::Seller,
            StaffRoleWire::Support => Role::Support,
            StaffRoleWire::Staff => Role::Staff,
        }
    }
}

/// `POST /v1/staff/users/{id}/role`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StaffRoleRequest {
    /// The new role: a step up is audited as `grant_<role>`, a step down as
    /// `revoke_<old role>`.
    pub role: StaffRoleWire,
}

/// An account as staff see it.
#[derive(Serialize, JsonSchema)]
pub struct StaffAccountResponse {
    /// User ID.
    pub id: String,
    /// Username.
    pub username: String,
    /// E-mail address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Whether the address was verified.
    pub email_verified: bool,
    /// Platform role.
    pub role: String,
    /// `active`, `banned`, `deleted`…
    pub status: String,
    /// Whether TOTP is on.
    pub totp_enabled: bool,
    /// Preferred language.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// Unix milliseconds.
    pub created_at: i64,
}

impl From<Account> for StaffAccountResponse {
    fn from(a: Account) -> Self {
        StaffAccountResponse {
            id: a.id.into_string(),
            username: a.username,
            email: a.email,
            email_verified: a.email_verified,
            role: a.role.as_str().to_owned(),
            status: a.status.as_str().to_owned(),
            totp_enabled: a.totp_enabled,
            language: a.language,
            created_at: a.created_at,
        }
    }
}

/// A live device session (no ID: staff see sign-ins, they do not act on them).
#[derive(Serialize, JsonSchema)]
pub struct StaffSessionResponse {
    /// `web` or `api`.
    pub kind: String,
    /// Browser family.
    pub device: String,
    /// Network (IP prefix).
    pub network: String,
    /// Signed in at, Unix milliseconds.
    pub created_at: i64,
    /// Last seen at, Unix milliseconds.
    pub last_seen_at: i64,
}

impl From<DeviceSession> for StaffSessionResponse {
    fn from(s: DeviceSession) -> Self {
        StaffSessionResponse {
            kind: s.kind,
            device: s.ua_family,
            network: s.ip_prefix,
            created_at: s.created_at,
            last_seen_at: s.last_seen_at,
        }
    }
}

/// One audit row about a user or store.
#[derive(Serialize, JsonSchema)]
pub struct AuditEntryResponse {
    /// Position in the chain.
    pub seq: i64,
    /// Action type (C1 name).
    pub action: String,
    /// Who did it (none: the system or the command line).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// Details (old and new values…).
    pub metadata: serde_json::Value,
    /// Unix milliseconds.
    pub created_at: i64,
    /// The request that did it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl From<rampart_audit::AuditRow> for AuditEntryResponse {
    fn from(r: rampart_audit::AuditRow) -> Self {
        AuditEntryResponse {
            seq: r.seq,
            action: r.action_type,
            actor: r.actor_user_uuid,
            metadata: serde_json::from_str(&r.metadata).unwrap_or(serde_json::Value::Null),
            created_at: r.created_at,
            request_id: r.request_id,
        }
    }
}

/// `GET /v1/staff/users/{id}`: a user as staff see it.
#[derive(Serialize, JsonSchema)]
pub struct StaffUserResponse {
    /// The account.
    pub user: StaffAccountResponse,
    /// Stores they are a member of, with their role.
    pub stores: Vec<MyStoreResponse>,
    /// Live device sessions (recent sign-ins).
    pub sessions: Vec<StaffSessionResponse>,
    /// The latest audit rows about them, newest first.
    pub audit: Vec<AuditEntryResponse>,
}

/// `GET /v1/staff/users?q=`.
#[derive(Serialize, JsonSchema)]
pub struct UserSearchResponse {
    /// The account the query names (none or one: exact match).
    pub users: Vec<StaffAccountResponse>,
}

/// `GET /v1/staff/stores/{id}`: a store as staff see it.
#[derive(Serialize, JsonSchema)]
pub struct StaffStoreResponse {
    /// The store.
    pub store: StoreResponse,
    /// Its members.
    pub members: Vec<MemberResponse>,
    /// Its warnings, newest first.
    pub warnings: Vec<WarningResponse>,
    /// Its latest disputes, newest first.
    pub disputes: Vec<DisputeResponse>,
    /// The latest audit rows about it, newest first.
    pub audit: Vec<AuditEntryResponse>,
}
