//! The closed set of problem codes a route can declare in the document: a typo in a
//! route's declared codes does not compile, and a test checks that every code is in
//! `docs/errors.md`.

/// A stable problem code (docs/errors.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Code {
    /// `bad_request` (400): The request could not be read.
    BadRequest,
    /// `malformed_json` (400): The body is not JSON.
    MalformedJson,
    /// `unsupported_media_type` (415): Wrong `Content-Type`.
    UnsupportedMediaType,
    /// `invalid_body` (422): Well-formed body of the wrong shape.
    InvalidBody,
    /// `validation_failed` (422): Fields are invalid; see `errors`.
    ValidationFailed,
    /// `payload_too_large` (413): The body is larger than the route group accepts.
    PayloadTooLarge,
    /// `not_found` (404): No such resource (or not the caller's).
    NotFound,
    /// `method_not_allowed` (405): The path does not take this method.
    MethodNotAllowed,
    /// `request_timeout` (408): The request took too long.
    RequestTimeout,
    /// `csrf_origin_mismatch` (403): A cross-site state-changing request.
    CsrfOriginMismatch,
    /// `csrf_token_missing` (403): A cookie-authenticated request without its CSRF token.
    CsrfTokenMissing,
    /// `csrf_token_invalid` (403): A CSRF token that does not match the cookie.
    CsrfTokenInvalid,
    /// `rate_limited` (429): A rate limit refused the request.
    RateLimited,
    /// `unauthorized` (401): No valid credentials.
    Unauthorized,
    /// `forbidden` (403): Signed in, not allowed.
    Forbidden,
    /// `internal` (500): A server error; details only in the log.
    Internal,
    /// `unavailable` (503): A dependency (database, rate-limit backend) is down.
    Unavailable,
    /// `conflict` (409): A unique value is taken; see `errors`.
    Conflict,
    /// `invalid_credentials` (401): Wrong login or password.
    InvalidCredentials,
    /// `token_expired` (401): The access token expired.
    TokenExpired,
    /// `token_invalid` (401): The token is not valid.
    TokenInvalid,
    /// `token_revoked` (401): The token or its session was revoked.
    TokenRevoked,
    /// `refresh_reused` (401): A rotated refresh token was used again; the family is revoked.
    RefreshReused,
    /// `refresh_token_expired` (401): The refresh token expired.
    RefreshTokenExpired,
    /// `insufficient_scope` (403): The token lacks the route's scope.
    InsufficientScope,
    /// `invite_required` (422): Registration needs an invite code.
    InviteRequired,
    /// `invite_invalid` (422): The invite code is not valid.
    InviteInvalid,
    /// `reset_token_invalid` (400): The password-reset token is not valid.
    ResetTokenInvalid,
    /// `verify_token_invalid` (400): The e-mail verification token is not valid.
    VerifyTokenInvalid,
    /// `logout_not_applicable` (400): The credential has no session to end.
    LogoutNotApplicable,
    /// `totp_required` (401): The account needs a second factor.
    TotpRequired,
    /// `totp_invalid` (401): The second factor is wrong.
    TotpInvalid,
    /// `totp_enrolment_required` (403): Enrol TOTP first: admins always, anyone else
    /// before using a staff power.
    TotpEnrolmentRequired,
    /// `busy` (503): Too many password hashes in flight; retry.
    Busy,
    /// `credentials_in_url` (400): `/ws` takes no query string (a token there would
    /// end up in logs and browser history).
    CredentialsInUrl,
    /// `origin_not_allowed` (403): A WebSocket handshake from an origin not on the
    /// allowlist, or without `Origin` where that is not allowed.
    OriginNotAllowed,
    /// `last_owner` (409): A store's last owner cannot leave, be removed or demoted.
    LastOwner,
    /// `invalid_transition` (409): The item's status, or the escrow transaction's
    /// state, does not admit the change asked for.
    InvalidTransition,
    /// `recipient_unavailable` (403): The user does not accept messages or prekey claims from the caller.
    RecipientUnavailable,
    /// `blocked_by_you` (403): The caller has blocked this user; unblock first.
    BlockedByYou,
    /// `out_of_stock` (409): Not enough stock for the purchase.
    OutOfStock,
    /// `own_store_purchase` (403): A store's members cannot buy from it.
    OwnStorePurchase,
}

impl Code {
    /// Every code.
    pub const ALL: [Code; 42] = [
        Code::BadRequest,
        Code::MalformedJson,
        Code::UnsupportedMediaType,
        Code::InvalidBody,
        Code::ValidationFailed,
        Code::PayloadTooLarge,
        Code::NotFound,
        Code::MethodNotAllowed,
        Code::RequestTimeout,
        Code::CsrfOriginMismatch,
        Code::CsrfTokenMissing,
        Code::CsrfTokenInvalid,
        Code::RateLimited,
        Code::Unauthorized,
        Code::Forbidden,
        Code::Internal,
        Code::Unavailable,
        Code::Conflict,
        Code::InvalidCredentials,
        Code::TokenExpired,
        Code::TokenInvalid,
        Code::TokenRevoked,
        Code::RefreshReused,
        Code::RefreshTokenExpired,
        Code::InsufficientScope,
        Code::InviteRequired,
        Code::InviteInvalid,
        Code::ResetTokenInvalid,
        Code::VerifyTokenInvalid,
        Code::LogoutNotApplicable,
        Code::TotpRequired,
        Code::TotpInvalid,
        Code::TotpEnrolmentRequired,
        Code::Busy,
        Code::LastOwner,
        Code::InvalidTransition,
        Code::RecipientUnavailable,
        Code::BlockedByYou,
        Code::OutOfStock,
        Code::OwnStorePurchase,
        Code::CredentialsInUrl,
        Code::OriginNotAllowed,
    ];

    /// The code as it appears in problem documents.
    pub const fn as_str(self) -> &'static str {
        match self {
            Code::BadRequest => "bad_request",
            Code::MalformedJson => "malformed_json",
            Code::UnsupportedMediaType => "unsupported_media_type",
            Code::InvalidBody => "invalid_body",
            Code::ValidationFailed => "validation_failed",
            Code::PayloadTooLarge => "payload_too_large",
            Code::NotFound => "not_found",
            Code::MethodNotAllowed => "method_not_allowed",
            Code::RequestTimeout => "request_timeout",
            Code::CsrfOriginMismatch => "csrf_origin_mismatch",
            Code::CsrfTokenMissing => "csrf_token_missing",
            Code::CsrfTokenInvalid => "csrf_token_invalid",
            Code::RateLimited => "rate_limited",
            Code::Unauthorized => "unauthorized",
            Code::Forbidden => "forbidden",
            Code::Internal => "internal",
            Code::Unavailable => "unavailable",
            Code::Conflict => "conflict",
            Code::InvalidCredentials => "invalid_credentials",
            Code::TokenExpired => "token_expired",
            Code::TokenInvalid => "token_invalid",
            Code::TokenRevoked => "token_revoked",
            Code::RefreshReused => "refresh_reused",
            Code::RefreshTokenExpired => "refresh_token_expired",
            Code::InsufficientScope => "insufficient_scope",
            Code::InviteRequired => "invite_required",
            Code::InviteInvalid => "invite_invalid",
            Code::ResetTokenInvalid => "reset_token_invalid",
            Code::VerifyTokenInvalid => "verify_token_invalid",
            Code::LogoutNotApplicable => "logout_not_applicable",
            Code::CredentialsInUrl => "credentials_in_url",
            Code::OriginNotAllowed => "origin_not_allowed",
            Code::TotpRequired => "totp_required",
            Code::TotpInvalid => "totp_invalid",
            Code::TotpEnrolmentRequired => "totp_enrolment_required",
            Code::Busy => "busy",
            Code::LastOwner => "last_owner",
            Code::InvalidTransition => "invalid_transition",
            Code::RecipientUnavailable => "recipient_unavailable",
            Code::BlockedByYou => "blocked_by_you",
            Code::OutOfStock => "out_of_stock",
            Code::OwnStorePurchase => "own_store_purchase",
        }
    }

    /// The HTTP status the code is answered with.
    pub const fn status(self) -> u16 {
        match self {
            Code::BadRequest
            | Code::MalformedJson
            | Code::ResetTokenInvalid
            | Code::VerifyTokenInvalid
            | Code::LogoutNotApplicable
            | Code::CredentialsInUrl => 400,
            Code::Unauthorized
            | Code::InvalidCredentials
            | Code::TokenExpired
            | Code::TokenInvalid
            | Code::TokenRevoked
            | Code::RefreshReused
            | Code::RefreshTokenExpired
            | Code::TotpRequired
            | Code::TotpInvalid => 401,
            Code::CsrfOriginMismatch
            | Code::CsrfTokenMissing
            | Code::CsrfTokenInvalid
            | Code::Forbidden
            | Code::InsufficientScope
            | Code::TotpEnrolmentRequired
            | Code::RecipientUnavailable
            | Code::BlockedByYou
            | Code::OwnStorePurchase
            | Code::OriginNotAllowed => 403,
            Code::NotFound => 404,
            Code::MethodNotAllowed => 405,
            Code::RequestTimeout => 408,
            Code::Conflict | Code::LastOwner | Code::InvalidTransition | Code::OutOfStock => 409,
            Code::PayloadTooLarge => 413,
            Code::UnsupportedMediaType => 415,
            Code::InvalidBody
            | Code::ValidationFailed
            | Code::InviteRequired
            | Code::InviteInvalid => 422,
            Code::RateLimited => 429,
            Code::Internal => 500,
            Code::Unavailable | Code::Busy => 503,
        }
    }

    /// A short description (the document's response description).
    pub const fn describe(self) -> &'static str {
        match self {
            Code::BadRequest => "The request could not be read.",
            Code::MalformedJson => "The body is not JSON.",
            Code::UnsupportedMediaType => "Wrong `Content-Type`.",
            Code::InvalidBody => "Well-formed body of the wrong shape.",
            Code::ValidationFailed => "Fields are invalid; see `errors`.",
            Code::PayloadTooLarge => "The body is larger than the route group accepts.",
            Code::NotFound => "No such resource (or not the caller's).",
            Code::MethodNotAllowed => "The path does not take this method.",
            Code::RequestTimeout => "The request took too long.",
            Code::CsrfOriginMismatch => "A cross-site state-changing request.",
            Code::CsrfTokenMissing => "A cookie-authenticated request without its CSRF token.",
            Code::CsrfTokenInvalid => "A CSRF token that does not match the cookie.",
            Code::RateLimited => "A rate limit refused the request.",
            Code::Unauthorized => "No valid credentials.",
            Code::Forbidden => "Signed in, not allowed.",
            Code::Internal => "A server error; details only in the log.",
            Code::Unavailable => "A dependency (database, rate-limit backend) is down.",
            Code::Conflict => "A unique value is taken; see `errors`.",
            Code::InvalidCredentials => "Wrong login or password.",
            Code::TokenExpired => "The access token expired.",
            Code::TokenInvalid => "The token is not valid.",
            Code::TokenRevoked => "The token or its session was revoked.",
            Code::RefreshReused => "A rotated refresh token was used again; the family is revoked.",
            Code::RefreshTokenExpired => "The refresh token expired.",
            Code::InsufficientScope => "The token lacks the route's scope.",
            Code::InviteRequired => "Registration needs an invite code.",
            Code::InviteInvalid => "The invite code is not valid.",
            Code::ResetTokenInvalid => "The password-reset token is not valid.",
            Code::VerifyTokenInvalid => "The e-mail verification token is not valid.",
            Code::LogoutNotApplicable => "The credential has no session to end.",
            Code::TotpRequired => "The account needs a second factor.",
            Code::TotpInvalid => "The second factor is wrong.",
            Code::TotpEnrolmentRequired => {
                "Enrol TOTP first: admins always, anyone else before using a staff power."
            }
            Code::Busy => "Too many password hashes in flight; retry.",
            Code::LastOwner => "A store's last owner cannot leave, be removed or demoted.",
            Code::RecipientUnavailable => {
                "The user does not accept messages or prekey claims from the caller."
            }
            Code::BlockedByYou => "The caller has blocked this user; unblock first.",
            Code::InvalidTransition => {
                "The item's status, or the transaction's state, does not admit the change."
            }
            Code::OutOfStock => "Not enough stock for the purchase.",
            Code::OwnStorePurchase => "A store's members cannot buy from it.",
            Code::CredentialsInUrl => {
                "`/ws` takes no query string: credentials go in a header or the first frame."
            }
            Code::OriginNotAllowed => "The WebSocket handshake's origin is not allowed.",
        }
    }
}
