//! Wire types of the messaging API: requests, responses and the one rule for carrying
//! a payload in JSON (`text/plain` as the text itself, every other content type as
//! standard base64 of the bytes), so an encrypted envelope comes back byte for byte.

use crate::error::ApiError;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use rampart_kernel::{FieldError, FieldErrors};
use rampart_messaging::{
    BlockedUser, ContentType, ConversationPage, MarkedRead, MessageView, PrekeyBundle,
    ReportStatus, ReportView, KEY_MAX_BYTES, ONE_TIME_PREKEYS_MAX, PAGE_MAX, REASON_MAX,
    SIGNATURE_MAX_BYTES,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A message's content type: a closed set.
#[derive(Deserialize, Serialize, JsonSchema, Clone, Copy, PartialEq, Eq, Debug)]
pub enum ContentTypeWire {
    /// UTF-8 text; `payload` is the text itself (trimmed, `\r\n` → `\n`, at most
    /// 2 000 characters, no control or hidden format characters).
    #[serde(rename = "text/plain")]
    TextPlain,
    /// An end-to-end-encrypted envelope the server never reads; `payload` is the
    /// standard base64 (RFC 4648 §4, padded) of its bytes, at most 8 KiB decoded.
    #[serde(rename = "application/vnd.rampart.e2ee+json")]
    E2ee,
}

impl From<ContentTypeWire> for ContentType {
    fn from(c: ContentTypeWire) -> Self {
        match c {
            ContentTypeWire::TextPlain => ContentType::TextPlain,
            ContentTypeWire::E2ee => ContentType::E2ee,
        }
    }
}

impl From<ContentType> for ContentTypeWire {
    fn from(c: ContentType) -> Self {
        match c {
            ContentType::TextPlain => ContentTypeWire::TextPlain,
            ContentType::E2ee => ContentTypeWire::E2ee,
        }
    }
}

fn invalid(field: &str, code: &'static str) -> ApiError {
    ApiError::validation(FieldErrors(vec![FieldError::new(field, code)]))
}

/// Decodes standard base64 of `field` (422 `invalid_base64` otherwise).
pub fn decode_b64(field: &str, raw: &str) -> Result<Vec<u8>, ApiError> {
    STANDARD
        .decode(raw.as_bytes())
        .map_err(|_| invalid(field, "invalid_base64"))
}

/// Standard base64.
pub fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// A payload's bytes from its wire form under `content_type`.
pub fn payload_bytes(content_type: ContentTypeWire, payload: String) -> Result<Vec<u8>, ApiError> {
    match content_type {
        ContentTypeWire::TextPlain => Ok(payload.into_bytes()),
        ContentTypeWire::E2ee => decode_b64("payload", &payload),
    }
}

/// A payload's wire form: the text for `text/plain` (checked UTF-8 when stored), base64
/// for the rest.
pub fn payload_wire(content_type: ContentType, payload: &[u8]) -> String {
    match content_type {
        ContentType::TextPlain => String::from_utf8_lossy(payload).into_owned(),
        ContentType::E2ee => b64(payload),
    }
}

/// `POST /v1/messages`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SendMessageRequest {
    /// The recipient: a user ID, or a username.
    #[schemars(length(min = 1, max = 64))]
    pub to: String,
    /// What the payload is.
    pub content_type: ContentTypeWire,
    /// For `text/plain` the text; for the E2EE type standard base64 of the envelope's
    /// bytes (at most 8 KiB once decoded).
    #[schemars(length(min = 1, max = 11_000))]
    pub payload: String,
}

/// A message.
#[derive(Serialize, JsonSchema)]
pub struct PrivateMessageResponse {
    /// Message ID (time-ordered).
    pub id: String,
    /// The conversation.
    pub conversation_id: String,
    /// Who sent it.
    pub sender_id: String,
    /// The other participant.
    pub recipient_id: String,
    /// What the payload is.
    pub content_type: ContentTypeWire,
    /// The text (`text/plain`) or standard base64 of the bytes (any other type),
    /// exactly as stored.
    pub payload: String,
    /// Unix milliseconds.
    pub created_at: i64,
}

impl From<MessageView> for PrivateMessageResponse {
    fn from(m: MessageView) -> Self {
        PrivateMessageResponse {
            payload: payload_wire(m.content_type, &m.payload),
            id: m.id.into_string(),
            conversation_id: m.conversation.into_string(),
            sender_id: m.sender.into_string(),
            recipient_id: m.recipient.into_string(),
            content_type: m.content_type.into(),
            created_at: m.created_at,
        }
    }
}

/// `GET /v1/conversations` query parameters.
#[derive(Deserialize, JsonSchema, Default)]
pub struct InboxParams {
    /// `next_cursor` of the previous page.
    #[serde(default)]
    pub cursor: Option<String>,
    /// Page size (default 20).
    #[serde(default)]
    #[schemars(range(min = 1, max = PAGE_MAX))]
    pub limit: Option<u32>,
}

/// One inbox line.
#[derive(Serialize, JsonSchema)]
pub struct ConversationSummaryResponse {
    /// Conversation ID.
    pub id: String,
    /// The other participant.
    pub other_user_id: String,
    /// The other participant's username (absent if the account is gone).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub other_username: Option<String>,
    /// The newest message.
    pub last_message: PrivateMessageResponse,
    /// The other participant's messages after the caller's read pointer.
    pub unread: i64,
}

/// `GET /v1/conversations`: the caller's conversations, newest message first.
#[derive(Serialize, JsonSchema)]
pub struct InboxResponse {
    /// Conversations on this page.
    pub conversations: Vec<ConversationSummaryResponse>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// `GET /v1/conversations/{id}/messages` query parameters.
#[derive(Deserialize, JsonSchema, Default)]
pub struct MessagesParams {
    /// Only messages older than this message ID (`next_before` of the previous page).
    #[serde(default)]
    pub before: Option<String>,
    /// Page size (default 50).
    #[serde(default)]
    #[schemars(range(min = 1, max = PAGE_MAX))]
    pub limit: Option<u32>,
}

/// A page of one conversation, newest message first.
#[derive(Serialize, JsonSchema)]
pub struct ConversationResponse {
    /// Conversation ID.
    pub id: String,
    /// The other participant.
    pub other_user_id: String,
    /// Messages on this page, newest first.
    pub messages: Vec<PrivateMessageResponse>,
    /// Pass as `before` for the next (older) page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_before: Option<String>,
    /// The caller's read pointer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub my_last_read: Option<String>,
    /// The other participant's read pointer ("seen").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub their_last_read: Option<String>,
}

impl From<ConversationPage> for ConversationResponse {
    fn from(c: ConversationPage) -> Self {
        ConversationResponse {
            id: c.id.into_string(),
            other_user_id: c.other.into_string(),
            messages: c.messages.into_iter().map(Into::into).collect(),
            next_before: c.next_before.map(|m| m.into_string()),
            my_last_read: c.my_last_read.map(|m| m.into_string()),
            their_last_read: c.their_last_read.map(|m| m.into_string()),
        }
    }
}

/// `POST /v1/conversations/{id}/read`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MarkReadRequest {
    /// The newest message read (a message of this conversation).
    pub up_to: String,
}

/// The caller's read state after marking.
#[derive(Serialize, JsonSchema)]
pub struct ReadResponse {
    /// The conversation.
    pub conversation_id: String,
    /// The read pointer (never moves backwards).
    pub up_to: String,
    /// When the pointer last moved, Unix milliseconds.
    pub read_at: i64,
    /// Whether this call moved it.
    pub moved: bool,
}

impl From<MarkedRead> for ReadResponse {
    fn from(m: MarkedRead) -> Self {
        ReadResponse {
            conversation_id: m.receipt.conversation.into_string(),
            up_to: m.receipt.up_to.into_string(),
            read_at: m.receipt.read_at,
            moved: m.moved,
        }
    }
}

/// `POST /v1/blocks`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BlockRequest {
    /// Whom to block: a user ID, or a username.
    #[schemars(length(min = 1, max = 64))]
    pub user: String,
}

/// A blocked user.
#[derive(Serialize, JsonSchema)]
pub struct BlockedResponse {
    /// The blocked user.
    pub user_id: String,
    /// Their username (absent if the account is gone).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// When, Unix milliseconds (absent in the answer to a new block).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<i64>,
}

impl BlockedResponse {
    /// From a listed block.
    pub fn of(b: BlockedUser, username: Option<String>) -> Self {
        BlockedResponse {
            user_id: b.user.into_string(),
            username,
            since: Some(b.since),
        }
    }
}

/// `GET /v1/blocks`: everyone the caller has blocked, oldest first.
#[derive(Serialize, JsonSchema)]
pub struct BlocksResponse {
    /// The blocked users.
    pub blocked: Vec<BlockedResponse>,
}

/// `POST /v1/messages/{id}/report`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportRequest {
    /// Why; line breaks are kept. For an encrypted message the reporter's client may
    /// include the decrypted text (staff cannot read the ciphertext).
    #[schemars(length(min = 1, max = REASON_MAX))]
    pub reason: String,
}

/// A report to staff.
#[derive(Serialize, JsonSchema)]
pub struct ReportResponse {
    /// Report ID.
    pub id: String,
    /// The reported message.
    pub message_id: String,
    /// `open` or `closed`.
    pub status: String,
    /// Unix milliseconds.
    pub created_at: i64,
}

impl From<ReportView> for ReportResponse {
    fn from(r: ReportView) -> Self {
        ReportResponse {
            id: r.id.into_string(),
            message_id: r.message.into_string(),
            status: match r.status {
                ReportStatus::Open => "open",
                ReportStatus::Closed => "closed",
            }
            .to_owned(),
            created_at: r.created_at,
        }
    }
}

/// A signed prekey (keys as standard base64).
#[derive(Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SignedPrekeyWire {
    /// Client-chosen ID.
    pub id: u32,
    /// Public key, base64 (32–64 bytes).
    #[schemars(length(max = 100))]
    pub public_key: String,
    /// The identity key's signature over the public key, base64 (64–128 bytes).
    #[schemars(length(max = 200))]
    pub signature: String,
}

/// A one-time prekey (key as standard base64).
#[derive(Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OneTimePrekeyWire {
    /// Client-chosen ID, unique among the user's stored one-time prekeys.
    pub id: u32,
    /// Public key, base64 (32–64 bytes).
    #[schemars(length(max = 100))]
    pub public_key: String,
}

/// `PUT /v1/me/prekeys`: the identity key and signed prekey replace the stored ones;
/// the one-time prekeys are added (all earlier ones are dropped when the identity key
/// changes). At most 100 stored.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishBundleRequest {
    /// Long-term identity public key, base64 (32–64 bytes).
    #[schemars(length(max = 100))]
    pub identity_key: String,
    /// The current signed prekey.
    pub signed_prekey: SignedPrekeyWire,
    /// New one-time prekeys.
    #[serde(default)]
    #[schemars(length(max = ONE_TIME_PREKEYS_MAX))]
    pub one_time_prekeys: Vec<OneTimePrekeyWire>,
}

/// Bounds the encoded sizes before decoding (the service checks the decoded ones).
const B64_MAX: usize = SIGNATURE_MAX_BYTES.div_ceil(3) * 4 + KEY_MAX_BYTES;

impl PublishBundleRequest {
    /// The domain bundle, decoding every key.
    pub fn into_bundle(self) -> Result<rampart_messaging::NewBundle, ApiError> {
        let dec = |field: &str, raw: &str| {
            if raw.len() > B64_MAX {
                return Err(invalid(field, "too_long"));
            }
            decode_b64(field, raw)
        };
        Ok(rampart_messaging::NewBundle {
            identity_key: dec("identity_key", &self.identity_key)?,
            signed_prekey: rampart_messaging::SignedPrekey {
                id: self.signed_prekey.id,
                public_key: dec("signed_prekey", &self.signed_prekey.public_key)?,
                signature: dec("signature", &self.signed_prekey.signature)?,
            },
            one_time_prekeys: self
                .one_time_prekeys
                .iter()
                .map(|k| {
                    Ok(rampart_messaging::OneTimePrekey {
                        id: k.id,
                        public_key: dec("one_time_prekeys", &k.public_key)?,
                    })
                })
                .collect::<Result<_, ApiError>>()?,
        })
    }
}

/// How many one-time prekeys the caller has left.
#[derive(Serialize, JsonSchema)]
pub struct PrekeyCountResponse {
    /// Unclaimed one-time prekeys.
    pub one_time_prekeys: u32,
}

/// `POST /v1/users/{id}/prekey-bundle`: what an initiator needs for X3DH.
#[derive(Serialize, JsonSchema)]
pub struct PrekeyBundleResponse {
    /// Whose bundle.
    pub user_id: String,
    /// Identity public key, base64.
    pub identity_key: String,
    /// The signed prekey; verify its signature against the identity key.
    pub signed_prekey: SignedPrekeyWire,
    /// One one-time prekey, now removed from the server (handed out once); absent when
    /// none are left (X3DH then runs without one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub one_time_prekey: Option<OneTimePrekeyWire>,
}

impl From<PrekeyBundle> for PrekeyBundleResponse {
    fn from(b: PrekeyBundle) -> Self {
        PrekeyBundleResponse {
            user_id: b.user.into_string(),
            identity_key: b64(&b.identity_key),
            signed_prekey: SignedPrekeyWire {
                id: b.signed_prekey.id,
                public_key: b64(&b.signed_prekey.public_key),
                signature: b64(&b.signed_prekey.signature),
            },
            one_time_prekey: b.one_time_prekey.map(|k| OneTimePrekeyWire {
                id: k.id,
                public_key: b64(&k.public_key),
            }),
        }
    }
}
