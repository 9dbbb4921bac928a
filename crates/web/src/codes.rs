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
    /// `cart_version_conflict` (409): The cart changed since the version the client sent; re-read it.
    CartVersionConflict,
    /// `cart_closed` (409): The cart was completed or merged and no longer changes.
    CartClosed,
    /// `cart_payment_in_progress` (409): A payment for the cart has gone through or is under way; complete the cart instead of changing it or paying again.
    CartPaymentInProgress,
    /// `payment_refunded` (409): The payment intent was refunded because it could not complete this cart (stock, prices, rules, amount); it never completes. Pay again with a new intent.
    PaymentRefunded,
    /// `cart_prices_changed` (409): Catalog prices changed since the lines were set; the cart now has the current prices, re-read it.
    CartPricesChanged,
    /// `item_unavailable` (422): The item is not for sale (unknown, draft, archived, or its store is suspended).
    ItemUnavailable,
    /// `quantity_too_small` (422): A quantity below 1.
    QuantityTooSmall,
    /// `quantity_too_large` (422): A quantity above the per-line limit.
    QuantityTooLarge,
    /// `cart_too_many_lines` (422): The cart already has the most lines it may.
    CartTooManyLines,
    /// `cart_mixed_currencies` (422): The item is priced in another currency than the cart.
    CartMixedCurrencies,
    /// `cart_line_not_found` (404): The cart has no line for that item.
    CartLineNotFound,
    /// `cart_empty` (422): Paying for an empty cart.
    CartEmpty,
    /// `amount_out_of_range` (422): A total overflowed.
    AmountOutOfRange,
    /// `company_name_required` (422): A business customer must give a company name.
    CompanyNameRequired,
    /// `vat_id_required` (422): A business customer must give a VAT ID.
    VatIdRequired,
    /// `vat_id_invalid` (422): The VAT ID does not look like one.
    VatIdInvalid,
    /// `billing_address_required` (422): Orders above the configured value need a full billing address.
    BillingAddressRequired,
    /// `shipping_address_required` (422): Physical goods need a full shipping address.
    ShippingAddressRequired,
    /// `shipping_method_required` (422): Physical goods need a shipping method.
    ShippingMethodRequired,
    /// `shipping_method_unknown` (422): No such shipping method.
    ShippingMethodUnknown,
    /// `shipping_method_unavailable` (422): The shipping method cannot carry this order (destination country, weight or item type).
    ShippingMethodUnavailable,
    /// `subscription_not_eligible` (422): A subscription-only item for a customer who is not eligible.
    SubscriptionNotEligible,
    /// `order_below_minimum` (422): The total is below the minimum order.
    OrderBelowMinimum,
    /// `order_above_maximum` (422): The total is above the maximum order.
    OrderAboveMaximum,
    /// `store_order_below_minimum` (422): One store's part of the order is below that store's minimum.
    StoreOrderBelowMinimum,
    /// `order_too_large` (422): The order's weight overflowed.
    OrderTooLarge,
    /// `payment_intent_not_owned` (422): The payment intent belongs to another cart or customer (per the provider's own record).
    PaymentIntentNotOwned,
    /// `payment_amount_mismatch` (422): The payment's amount differs from the cart total (the cart changed after the intent was made).
    PaymentAmountMismatch,
    /// `payment_currency_mismatch` (422): The payment's currency differs from the cart's.
    PaymentCurrencyMismatch,
    /// `payment_not_succeeded` (409): The provider has not (yet) recorded the payment as succeeded.
    PaymentNotSucceeded,
    /// `payment_intent_missing` (409): Completing a cart that has no payment intent.
    PaymentIntentMissing,
    /// `payment_intent_not_found` (422): The provider knows no such payment intent.
    PaymentIntentNotFound,
    /// `payment_declined` (402): The card was declined.
    PaymentDeclined,
    /// `payment_provider_refused` (422): The payment provider refused the request.
    PaymentProviderRefused,
    /// `payment_idempotency_conflict` (409): The provider saw this payment key with other parameters.
    PaymentIdempotencyConflict,
    /// `payment_provider_unavailable` (502): The payment provider could not be reached; retry.
    PaymentProviderUnavailable,
    /// `payment_provider_misconfigured` (502): The payment provider refused our credentials.
    PaymentProviderMisconfigured,
    /// `refund_not_possible` (409): The provider cannot refund that (unpaid, or more than is left).
    RefundNotPossible,
    /// `refund_amount_invalid` (422): A refund of nothing, or of more than is left to refund.
    RefundAmountInvalid,
    /// `sign_in_required` (401): Paying needs a signed-in customer.
    SignInRequired,
    /// `idempotency_key_reused` (422): The Idempotency-Key was used before with another request body or route.
    IdempotencyKeyReused,
    /// `idempotency_key_in_flight` (409): A request with this Idempotency-Key is still running; retry later.
    IdempotencyKeyInFlight,
    /// `idempotency_key_invalid` (400): The Idempotency-Key header is empty, longer than 255 or not printable ASCII.
    IdempotencyKeyInvalid,
    /// `webhook_signature_malformed` (400): The webhook's signature header is missing or malformed.
    WebhookSignatureMalformed,
    /// `webhook_signature_invalid` (400): No webhook signature matches any configured secret.
    WebhookSignatureInvalid,
    /// `webhook_timestamp_out_of_tolerance` (400): The signed webhook timestamp is more than 5 minutes from the server's clock.
    WebhookTimestampOutOfTolerance,
    /// `webhook_event_malformed` (400): A correctly signed body that is not a provider event.
    WebhookEventMalformed,
}

impl Code {
    /// Every code.
    pub const ALL: [Code; 89] = [
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
        Code::CartVersionConflict,
        Code::CartClosed,
        Code::CartPaymentInProgress,
        Code::PaymentRefunded,
        Code::CartPricesChanged,
        Code::ItemUnavailable,
        Code::QuantityTooSmall,
        Code::QuantityTooLarge,
        Code::CartTooManyLines,
        Code::CartMixedCurrencies,
        Code::CartLineNotFound,
        Code::CartEmpty,
        Code::AmountOutOfRange,
        Code::CompanyNameRequired,
        Code::VatIdRequired,
        Code::VatIdInvalid,
        Code::BillingAddressRequired,
        Code::ShippingAddressRequired,
        Code::ShippingMethodRequired,
        Code::ShippingMethodUnknown,
        Code::ShippingMethodUnavailable,
        Code::SubscriptionNotEligible,
        Code::OrderBelowMinimum,
        Code::OrderAboveMaximum,
        Code::StoreOrderBelowMinimum,
        Code::OrderTooLarge,
        Code::PaymentIntentNotOwned,
        Code::PaymentAmountMismatch,
        Code::PaymentCurrencyMismatch,
        Code::PaymentNotSucceeded,
        Code::PaymentIntentMissing,
        Code::PaymentIntentNotFound,
        Code::PaymentDeclined,
        Code::PaymentProviderRefused,
        Code::PaymentIdempotencyConflict,
        Code::PaymentProviderUnavailable,
        Code::PaymentProviderMisconfigured,
        Code::RefundNotPossible,
        Code::RefundAmountInvalid,
        Code::SignInRequired,
        Code::IdempotencyKeyReused,
        Code::IdempotencyKeyInFlight,
        Code::IdempotencyKeyInvalid,
        Code::WebhookSignatureMalformed,
        Code::WebhookSignatureInvalid,
        Code::WebhookTimestampOutOfTolerance,
        Code::WebhookEventMalformed,
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
            Code::CartVersionConflict => "cart_version_conflict",
            Code::CartClosed => "cart_closed",
            Code::CartPaymentInProgress => "cart_payment_in_progress",
            Code::PaymentRefunded => "payment_refunded",
            Code::CartPricesChanged => "cart_prices_changed",
            Code::ItemUnavailable => "item_unavailable",
            Code::QuantityTooSmall => "quantity_too_small",
            Code::QuantityTooLarge => "quantity_too_large",
            Code::CartTooManyLines => "cart_too_many_lines",
            Code::CartMixedCurrencies => "cart_mixed_currencies",
            Code::CartLineNotFound => "cart_line_not_found",
            Code::CartEmpty => "cart_empty",
            Code::AmountOutOfRange => "amount_out_of_range",
            Code::CompanyNameRequired => "company_name_required",
            Code::VatIdRequired => "vat_id_required",
            Code::VatIdInvalid => "vat_id_invalid",
            Code::BillingAddressRequired => "billing_address_required",
            Code::ShippingAddressRequired => "shipping_address_required",
            Code::ShippingMethodRequired => "shipping_method_required",
            Code::ShippingMethodUnknown => "shipping_method_unknown",
            Code::ShippingMethodUnavailable => "shipping_method_unavailable",
            Code::SubscriptionNotEligible => "subscription_not_eligible",
            Code::OrderBelowMinimum => "order_below_minimum",
            Code::OrderAboveMaximum => "order_above_maximum",
            Code::StoreOrderBelowMinimum => "store_order_below_minimum",
            Code::OrderTooLarge => "order_too_large",
            Code::PaymentIntentNotOwned => "payment_intent_not_owned",
            Code::PaymentAmountMismatch => "payment_amount_mismatch",
            Code::PaymentCurrencyMismatch => "payment_currency_mismatch",
            Code::PaymentNotSucceeded => "payment_not_succeeded",
            Code::PaymentIntentMissing => "payment_intent_missing",
            Code::PaymentIntentNotFound => "payment_intent_not_found",
            Code::PaymentDeclined => "payment_declined",
            Code::PaymentProviderRefused => "payment_provider_refused",
            Code::PaymentIdempotencyConflict => "payment_idempotency_conflict",
            Code::PaymentProviderUnavailable => "payment_provider_unavailable",
            Code::PaymentProviderMisconfigured => "payment_provider_misconfigured",
            Code::RefundNotPossible => "refund_not_possible",
            Code::RefundAmountInvalid => "refund_amount_invalid",
            Code::SignInRequired => "sign_in_required",
            Code::IdempotencyKeyReused => "idempotency_key_reused",
            Code::IdempotencyKeyInFlight => "idempotency_key_in_flight",
            Code::IdempotencyKeyInvalid => "idempotency_key_invalid",
            Code::WebhookSignatureMalformed => "webhook_signature_malformed",
            Code::WebhookSignatureInvalid => "webhook_signature_invalid",
            Code::WebhookTimestampOutOfTolerance => "webhook_timestamp_out_of_tolerance",
            Code::WebhookEventMalformed => "webhook_event_malformed",
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
            Code::CartVersionConflict
            | Code::CartClosed
            | Code::CartPaymentInProgress
            | Code::PaymentRefunded
            | Code::CartPricesChanged
            | Code::PaymentNotSucceeded
            | Code::PaymentIntentMissing
            | Code::PaymentIdempotencyConflict
            | Code::RefundNotPossible
            | Code::IdempotencyKeyInFlight => 409,
            Code::ItemUnavailable
            | Code::QuantityTooSmall
            | Code::QuantityTooLarge
            | Code::CartTooManyLines
            | Code::CartMixedCurrencies
            | Code::CartEmpty
            | Code::AmountOutOfRange
            | Code::CompanyNameRequired
            | Code::VatIdRequired
            | Code::VatIdInvalid
            | Code::BillingAddressRequired
            | Code::ShippingAddressRequired
            | Code::ShippingMethodRequired
            | Code::ShippingMethodUnknown
            | Code::ShippingMethodUnavailable
            | Code::SubscriptionNotEligible
            | Code::OrderBelowMinimum
            | Code::OrderAboveMaximum
            | Code::StoreOrderBelowMinimum
            | Code::OrderTooLarge
            | Code::PaymentIntentNotOwned
            | Code::PaymentAmountMismatch
            | Code::PaymentCurrencyMismatch
            | Code::PaymentIntentNotFound
            | Code::PaymentProviderRefused
            | Code::RefundAmountInvalid
            | Code::IdempotencyKeyReused => 422,
            Code::CartLineNotFound => 404,
            Code::PaymentDeclined => 402,
            Code::PaymentProviderUnavailable | Code::PaymentProviderMisconfigured => 502,
            Code::SignInRequired => 401,
            Code::IdempotencyKeyInvalid
            | Code::WebhookSignatureMalformed
            | Code::WebhookSignatureInvalid
            | Code::WebhookTimestampOutOfTolerance
            | Code::WebhookEventMalformed => 400,
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
            Code::CartVersionConflict => "The cart changed since the version the client sent; re-read it.",
            Code::CartClosed => "The cart was completed or merged and no longer changes.",
            Code::CartPaymentInProgress => "A payment for the cart has gone through or is under way; complete the cart instead of changing it or paying again.",
            Code::PaymentRefunded => "The payment intent was refunded because it could not complete this cart (stock, prices, rules, amount); it never completes. Pay again with a new intent.",
            Code::CartPricesChanged => "Catalog prices changed since the lines were set; the cart now has the current prices, re-read it.",
            Code::ItemUnavailable => "The item is not for sale (unknown, draft, archived, or its store is suspended).",
            Code::QuantityTooSmall => "A quantity below 1.",
            Code::QuantityTooLarge => "A quantity above the per-line limit.",
            Code::CartTooManyLines => "The cart already has the most lines it may.",
            Code::CartMixedCurrencies => "The item is priced in another currency than the cart.",
            Code::CartLineNotFound => "The cart has no line for that item.",
            Code::CartEmpty => "Paying for an empty cart.",
            Code::AmountOutOfRange => "A total overflowed.",
            Code::CompanyNameRequired => "A business customer must give a company name.",
            Code::VatIdRequired => "A business customer must give a VAT ID.",
            Code::VatIdInvalid => "The VAT ID does not look like one.",
            Code::BillingAddressRequired => "Orders above the configured value need a full billing address.",
            Code::ShippingAddressRequired => "Physical goods need a full shipping address.",
            Code::ShippingMethodRequired => "Physical goods need a shipping method.",
            Code::ShippingMethodUnknown => "No such shipping method.",
            Code::ShippingMethodUnavailable => "The shipping method cannot carry this order (destination country, weight or item type).",
            Code::SubscriptionNotEligible => "A subscription-only item for a customer who is not eligible.",
            Code::OrderBelowMinimum => "The total is below the minimum order.",
            Code::OrderAboveMaximum => "The total is above the maximum order.",
            Code::StoreOrderBelowMinimum => "One store's part of the order is below that store's minimum.",
            Code::OrderTooLarge => "The order's weight overflowed.",
            Code::PaymentIntentNotOwned => "The payment intent belongs to another cart or customer (per the provider's own record).",
            Code::PaymentAmountMismatch => "The payment's amount differs from the cart total (the cart changed after the intent was made).",
            Code::PaymentCurrencyMismatch => "The payment's currency differs from the cart's.",
            Code::PaymentNotSucceeded => "The provider has not (yet) recorded the payment as succeeded.",
            Code::PaymentIntentMissing => "Completing a cart that has no payment intent.",
            Code::PaymentIntentNotFound => "The provider knows no such payment intent.",
            Code::PaymentDeclined => "The card was declined.",
            Code::PaymentProviderRefused => "The payment provider refused the request.",
            Code::PaymentIdempotencyConflict => "The provider saw this payment key with other parameters.",
            Code::PaymentProviderUnavailable => "The payment provider could not be reached; retry.",
            Code::PaymentProviderMisconfigured => "The payment provider refused our credentials.",
            Code::RefundNotPossible => "The provider cannot refund that (unpaid, or more than is left).",
            Code::RefundAmountInvalid => "A refund of nothing, or of more than is left to refund.",
            Code::SignInRequired => "Paying needs a signed-in customer.",
            Code::IdempotencyKeyReused => "The Idempotency-Key was used before with another request body or route.",
            Code::IdempotencyKeyInFlight => "A request with this Idempotency-Key is still running; retry later.",
            Code::IdempotencyKeyInvalid => "The Idempotency-Key header is empty, longer than 255 or not printable ASCII.",
            Code::WebhookSignatureMalformed => "The webhook's signature header is missing or malformed.",
            Code::WebhookSignatureInvalid => "No webhook signature matches any configured secret.",
            Code::WebhookTimestampOutOfTolerance => "The signed webhook timestamp is more than 5 minutes from the server's clock.",
            Code::WebhookEventMalformed => "A correctly signed body that is not a provider event.",
            Code::CredentialsInUrl => {
                "`/ws` takes no query string: credentials go in a header or the first frame."
            }
            Code::OriginNotAllowed => "The WebSocket handshake's origin is not allowed.",
        }
    }
}
