//! Wire types of the identity API: what the `/v1` identity routes accept and return.
//! They derive their JSON schema, and the route declarations name them, so the OpenAPI
//! document is generated from what the handlers really read and write. Requests refuse
//! unknown fields (`additionalProperties: false`); length limits come from the
//! constants next to the parsers. Database rows never leave this module: responses
//! are built from them field by field.

use rampart_identity::password::{MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS};
use rampart_identity::SecretString;
use rampart_kernel::fields::{EXPIRY_DAYS_MAX, INVITE_USES_MAX, TOKEN_NAME_MAX};
use rampart_kernel::{Email, Username};
use schemars::{JsonSchema, Schema};
use serde::{Deserialize, Serialize};

/// Documents serde aliases of `field`: each alias is an optional property with the
/// field's schema, and exactly one of the names must be present (serde refuses a
/// body with two of them as a duplicate field).
fn aliases(schema: &mut Schema, field: &str, names: &[&str]) {
    let Some(obj) = schema.as_object_mut() else {
        return;
    };
    let field_schema = obj
        .get("properties")
        .and_then(|p| p.get(field))
        .cloned()
        .unwrap_or(serde_json::Value::Bool(true));
    if let Some(props) = obj
        .get_mut("properties")
        .and_then(serde_json::Value::as_object_mut)
    {
        for n in names {
            props.insert((*n).to_owned(), field_schema.clone());
        }
    }
    if let Some(req) = obj
        .get_mut("required")
        .and_then(serde_json::Value::as_array_mut)
    {
        req.retain(|v| v.as_str() != Some(field));
    }
    let one_of: Vec<serde_json::Value> = std::iter::once(field)
        .chain(names.iter().copied())
        .map(|n| serde_json::json!({"required": [n]}))
        .collect();
    obj.insert("oneOf".to_owned(), serde_json::Value::Array(one_of));
}

fn login_aliases(schema: &mut Schema) {
    aliases(schema, "login", &["username", "email"]);
}

fn reset_aliases(schema: &mut Schema) {
    aliases(schema, "login", &["email", "username"]);
}

// ----- requests -----------------------------------------------------------------

/// `POST /v1/auth/register`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// 3–32 characters of `a-z 0-9 _ . -` (case-folded).
    #[schemars(length(min = Username::MIN, max = Username::MAX))]
    pub username: String,
    /// An e-mail address.
    #[schemars(length(max = Email::MAX))]
    pub email: Option<String>,
    /// The new password.
    #[schemars(with = "String", length(min = MIN_PASSWORD_CHARS, max = MAX_PASSWORD_CHARS))]
    pub password: SecretString,
    /// Invite code (required when the site is invite-only).
    pub invite_code: Option<String>,
    /// Another user's referral code.
    pub referral_code: Option<String>,
}

/// The kind of client logging in.
#[derive(JsonSchema)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)] // schema only: the handler reads the text and refuses others itself
pub enum ClientKind {
    /// The refresh token goes into an HttpOnly cookie.
    Browser,
    /// The refresh token is in the body.
    Native,
}

/// `POST /v1/auth/token`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = login_aliases)]
pub struct TokenRequest {
    /// Username or e-mail address (aliases: `username`, `email`).
    #[serde(alias = "username", alias = "email")]
    pub login: String,
    /// The password.
    #[schemars(with = "String")]
    pub password: SecretString,
    /// A TOTP or recovery code, when the account has two-factor on.
    pub totp: Option<String>,
    /// `browser` (default) or `native`.
    #[schemars(with = "Option<ClientKind>")]
    pub client: Option<String>,
}

/// `POST /v1/auth/refresh` and `/v1/auth/logout` (body optional).
#[derive(Deserialize, Default, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// A native client's refresh token; browsers send the cookie instead.
    pub refresh_token: Option<String>,
}

/// `POST /v1/auth/password-reset`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = reset_aliases)]
pub struct ResetRequest {
    /// Username or e-mail address (aliases: `email`, `username`).
    #[serde(alias = "email", alias = "username")]
    pub login: String,
}

/// `POST /v1/auth/password-reset/confirm`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetConfirmRequest {
    /// The token from the reset message.
    pub token: String,
    /// The new password.
    #[schemars(with = "String", length(min = MIN_PASSWORD_CHARS, max = MAX_PASSWORD_CHARS))]
    pub password: SecretString,
}

/// `POST /v1/me/password`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    /// The password in force.
    #[schemars(with = "String")]
    pub current_password: SecretString,
    /// The new password.
    #[schemars(with = "String", length(min = MIN_PASSWORD_CHARS, max = MAX_PASSWORD_CHARS))]
    pub new_password: SecretString,
}

/// A second-factor code (`/v1/me/totp/confirm`, `/v1/me/totp/disable`).
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeRequest {
    /// A TOTP code (or, to disable, a recovery code).
    pub code: String,
}

/// `POST /v1/tokens`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTokenRequest {
    /// A name to recognise the token by.
    #[schemars(length(min = 1, max = TOKEN_NAME_MAX))]
    pub name: String,
    /// What the token may do.
    #[schemars(length(min = 1), extend("items" = {"type": "string", "enum": rampart_identity::Scope::NAMES}))]
    pub scopes: Vec<String>,
    /// Days until it expires; absent: the configured default (`pat_default_ttl_days`, 90), never more than `pat_max_ttl_days` (366).
    #[schemars(range(min = 1, max = EXPIRY_DAYS_MAX))]
    pub expires_in_days: Option<i64>,
}

/// `PATCH /v1/tokens/{id}`: only the fields present change.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTokenRequest {
    /// New name.
    #[schemars(length(min = 1, max = TOKEN_NAME_MAX))]
    pub name: Option<String>,
    /// New scopes.
    #[schemars(length(min = 1), extend("items" = {"type": "string", "enum": rampart_identity::Scope::NAMES}))]
    pub scopes: Option<Vec<String>>,
    /// Days from now until it expires; `null`: the configured default from now. An expired token keeps its expiry.
    #[serde(default, deserialize_with = "double_option::deserialize")]
    #[schemars(with = "Option<i64>", range(min = 1, max = EXPIRY_DAYS_MAX))]
    pub expires_in_days: Option<Option<i64>>,
}

mod double_option {
    use serde::{Deserialize, Deserializer};
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<i64>>, D::Error> {
        Option::<i64>::deserialize(d).map(Some)
    }
}

/// `POST /v1/admin/users/{id}/role`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleRequest {
    /// The new role (`customer`, `seller`, `support`, `staff`, `admin`…).
    pub role: String,
}

/// `POST /v1/admin/invites`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InviteRequest {
    /// How many registrations the code allows (default 1).
    #[schemars(range(min = 1, max = INVITE_USES_MAX))]
    pub max_uses: Option<i64>,
    /// Days until it expires; never when absent.
    #[schemars(range(min = 1, max = EXPIRY_DAYS_MAX))]
    pub expires_in_days: Option<i64>,
}

/// `POST /v1/admin/oauth-clients`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientRequest {
    /// Display name.
    #[schemars(length(min = 1, max = TOKEN_NAME_MAX))]
    pub name: String,
    /// Scopes the client may ask for.
    #[schemars(length(min = 1), extend("items" = {"type": "string", "enum": rampart_identity::Scope::NAMES}))]
    pub scopes: Vec<String>,
}

/// The OAuth grant types.
#[derive(JsonSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)] // schema only
pub enum GrantType {
    /// Rotate a refresh token.
    RefreshToken,
    /// A confidential client's own token.
    ClientCredentials,
}

/// `POST /v1/oauth/token` (form-encoded, RFC 6749).
#[derive(Deserialize, JsonSchema)]
pub struct OauthTokenRequest {
    /// `refresh_token` or `client_credentials`.
    #[schemars(with = "GrantType")]
    pub grant_type: Option<String>,
    /// For `refresh_token`.
    pub refresh_token: Option<String>,
    /// For `client_credentials` without HTTP Basic.
    pub client_id: Option<String>,
    /// For `client_credentials` without HTTP Basic.
    pub client_secret: Option<String>,
    /// Space-separated scopes (a subset of the client's).
    pub scope: Option<String>,
}

// ----- responses ----------------------------------------------------------------

/// `POST /v1/auth/verify-email`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyEmailRequest {
    /// The token from the mailed link.
    #[schemars(length(min = 1, max = 256))]
    pub token: String,
}

/// `POST /v1/me/email`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeEmailRequest {
    /// The password in force.
    #[schemars(with = "String")]
    pub current_password: SecretString,
    /// The new address.
    #[schemars(length(min = 3, max = 254))]
    pub email: String,
}

/// The one answer of a request that mailed either the address or its owner: nothing
/// in it depends on which.
#[derive(Serialize, JsonSchema)]
pub struct VerificationSentResponse {
    /// Always `verification_sent`.
    #[schemars(extend("enum" = ["verification_sent"]))]
    pub status: &'static str,
}

/// A confirmed address and its account.
#[derive(Serialize, JsonSchema)]
pub struct VerifiedEmailResponse {
    /// Account ID.
    pub id: String,
    /// Username.
    pub username: String,
    /// The confirmed address.
    pub email: Option<String>,
}

/// A new account.
#[derive(Serialize, JsonSchema)]
pub struct RegisterResponse {
    /// Account ID.
    pub id: String,
    /// The normalised username.
    pub username: String,
    /// The account's own referral code.
    pub referral_code: Option<String>,
}

/// An access token and its session (login, refresh).
#[derive(Serialize, JsonSchema)]
pub struct TokenResponse {
    /// JWT access token.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// The session (refresh family).
    pub session_id: String,
    /// CSRF token bound to the session, for cookie-authenticated requests.
    pub csrf_token: String,
    /// Only for native clients; browsers get an HttpOnly cookie.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

/// Confirmed TOTP enrolment. A bearer caller's session ends with the enrolment, so it
/// also gets a new token pair (the refresh token as a cookie for browser clients);
/// a cookie session gets a new session cookie instead.
#[derive(Serialize, JsonSchema)]
pub struct TotpConfirmResponse {
    /// One-time recovery codes, shown once.
    pub recovery_codes: Vec<String>,
    /// The new token pair (bearer callers only).
    #[serde(flatten)]
    pub tokens: Option<TokenResponse>,
}

/// A CSRF token.
#[derive(Serialize, JsonSchema)]
pub struct CsrfResponse {
    /// Send as `X-CSRF-Token` with cookie-authenticated state changes.
    pub csrf_token: String,
}

/// The same answer whether or not the account exists.
#[derive(Serialize, JsonSchema)]
pub struct MessageResponse {
    /// Text in the caller's language.
    pub message: String,
}

/// The signed-in account.
#[derive(Serialize, JsonSchema)]
pub struct MeResponse {
    /// Account ID.
    pub id: String,
    /// Username.
    pub username: String,
    /// Role.
    pub role: &'static str,
    /// Two-factor on.
    pub totp_enabled: bool,
    /// Chosen language tag.
    pub language: Option<String>,
    /// `session`, `access_token`, `personal_access_token` or `client`.
    pub authenticated_via: &'static str,
    /// An admin who must enrol TOTP before anything else.
    pub totp_enrolment_required: bool,
}

/// The start of TOTP enrolment.
#[derive(Serialize, JsonSchema)]
pub struct TotpBeginResponse {
    /// `otpauth://` URI for authenticator apps.
    pub otpauth_uri: String,
    /// The base32 secret, for manual entry.
    pub secret: String,
    /// The URI as an SVG QR code.
    pub qr_svg: String,
}

/// A device session.
#[derive(Serialize, JsonSchema)]
pub struct SessionView {
    /// Session ID.
    pub id: String,
    /// `web` or `api`.
    pub kind: String,
    /// Browser family.
    pub device: String,
    /// User agent as sent.
    pub user_agent: String,
    /// The IP's network prefix.
    pub ip_prefix: String,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Unix milliseconds.
    pub last_seen_at: i64,
    /// Unix milliseconds.
    pub expires_at: i64,
    /// The session of this request.
    pub current: bool,
}

/// `GET /v1/sessions`.
#[derive(Serialize, JsonSchema)]
pub struct SessionList {
    /// Active sessions.
    pub sessions: Vec<SessionView>,
}

/// How many sessions were revoked.
#[derive(Serialize, JsonSchema)]
pub struct RevokedResponse {
    /// Count.
    pub revoked: u64,
}

/// A personal access token (never its secret).
#[derive(Serialize, JsonSchema)]
pub struct TokenView {
    /// Token ID.
    pub id: String,
    /// Name.
    pub name: String,
    /// The first characters, to recognise it.
    pub prefix: String,
    /// Scopes.
    pub scopes: Vec<String>,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Unix milliseconds; never when `null`.
    pub expires_at: Option<i64>,
    /// Unix milliseconds.
    pub last_used_at: Option<i64>,
}

/// `GET /v1/tokens`.
#[derive(Serialize, JsonSchema)]
pub struct TokenList {
    /// The caller's tokens.
    pub tokens: Vec<TokenView>,
}

/// A new token with its secret, shown once.
#[derive(Serialize, JsonSchema)]
pub struct CreatedToken {
    /// The token.
    #[serde(flatten)]
    pub view: TokenView,
    /// The secret (`rpat_…`).
    pub token: String,
}

/// An OAuth token response (RFC 6749 §5.1).
#[derive(Serialize, JsonSchema)]
pub struct OauthTokenResponse {
    /// Access token.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds.
    pub expires_in: i64,
    /// The rotated refresh token (`refresh_token` grant).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// Granted scopes (`client_credentials` grant).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

/// An OAuth error (RFC 6749 §5.2).
#[derive(Serialize, JsonSchema)]
pub struct OauthError {
    /// `invalid_request`, `invalid_client`, `invalid_grant`, `invalid_scope`,
    /// `unsupported_grant_type` or `temporarily_unavailable`.
    pub error: &'static str,
    /// Human text.
    pub error_description: String,
}

/// The JSON Web Key Set.
#[derive(Serialize, JsonSchema)]
pub struct Jwks {
    /// Public keys (RFC 7517).
    pub keys: Vec<serde_json::Map<String, serde_json::Value>>,
}

/// A new invite code, shown once.
#[derive(Serialize, JsonSchema)]
pub struct InviteCreated {
    /// Invite ID.
    pub id: String,
    /// The code.
    pub code: String,
}

/// A new OAuth client, its secret shown once.
#[derive(Serialize, JsonSchema)]
pub struct ClientCreated {
    /// Client ID.
    pub client_id: String,
    /// Client secret.
    pub client_secret: String,
}
