//! The storefront API (E1–E5, B3): carts usable anonymously (a visitor's cart is
//! held by an http-only cart cookie whose calls need the CSRF token like any cookie
//! flow), payment intents and completion for signed-in customers, orders, staff
//! refunds, the payment webhooks, and the sandbox provider's confirmation stand-in.
//! Handlers parse, build the [`Shopper`] and call `rampart_checkout`'s service; the
//! rules, ownership and exactly-once logic live there. Design:
//! `docs/design/checkout.md`.

use super::wire::*;
use crate::authn::{CurrentUser, MaybeUser};
use crate::codes::Code;
use crate::error::ApiError;
use crate::routes::{Auth, Doc, Group, Routes};
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use rampart_checkout::idempotency::{self, Claim};
use rampart_checkout::payment::{IdempotencyKey, IntentId, PaymentProvider, ProviderKind};
use rampart_checkout::rules::CustomerType;
use rampart_checkout::service::{AccountFacts, CartDetails, CheckoutError, Completed, Shopper};
use rampart_checkout::webhook::parse_event;
use rampart_identity::{Principal, Scope};
use rampart_kernel::ids::{CartId, ItemId, OrderId, TransactionId};
use rampart_kernel::UserId;
use rampart_security::events::{EventContext, SecurityEvent};
use rampart_security::ratelimit::PolicyName;
use sha2::{Digest, Sha256};

/// Maps checkout errors to HTTP problems (one place).
pub fn problem(e: CheckoutError) -> ApiError {
    let code = e.code();
    let status = match &e {
        CheckoutError::NotFound => StatusCode::NOT_FOUND,
        CheckoutError::VersionConflict { current } => {
            return ApiError::new(StatusCode::CONFLICT, code)
                .detail(format!("the cart is at version {current}"))
        }
        CheckoutError::Cart(rampart_checkout::cart::CartError::NoSuchLine) => StatusCode::NOT_FOUND,
        CheckoutError::OutOfStock
        | CheckoutError::CartClosed
        | CheckoutError::PaymentInProgress
        | CheckoutError::PaymentRefunded
        | CheckoutError::PricesChanged
        | CheckoutError::NoIntent
        | CheckoutError::InvalidState(_) => StatusCode::CONFLICT,
        CheckoutError::Rules(v) => {
            let mut err = ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code);
            err.errors = v
                .iter()
                .map(|r| rampart_kernel::FieldError::new("checkout", r.code()))
                .collect();
            return err;
        }
        CheckoutError::Validation(f) => return ApiError::validation(f.clone()),
        CheckoutError::Completion(rampart_checkout::payment::CompletionError::NotSucceeded) => {
            StatusCode::CONFLICT
        }
        CheckoutError::Completion(_) => StatusCode::UNPROCESSABLE_ENTITY,
        CheckoutError::Provider(p) => match p {
            rampart_checkout::payment::ProviderError::Declined { .. } => {
                StatusCode::PAYMENT_REQUIRED
            }
            rampart_checkout::payment::ProviderError::IdempotencyConflict
            | rampart_checkout::payment::ProviderError::NotRefundable => StatusCode::CONFLICT,
            rampart_checkout::payment::ProviderError::InvalidRequest { .. }
            | rampart_checkout::payment::ProviderError::NotFound => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            _ => StatusCode::BAD_GATEWAY,
        },
        CheckoutError::SignInRequired => StatusCode::UNAUTHORIZED,
        CheckoutError::OwnStorePurchase => StatusCode::FORBIDDEN,
        CheckoutError::Corrupt(m) => return ApiError::internal(m),
        CheckoutError::Db(d) => return ApiError::internal(d),
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    };
    ApiError::new(status, code)
}

impl From<CheckoutError> for ApiError {
    fn from(e: CheckoutError) -> Self {
        problem(e)
    }
}

fn hash_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// The visitor's cart cookie, if it is one we could have set (the same bounds the
/// CSRF binding uses, so a cookie that authenticates always needs the token).
fn cart_cookie<'a>(s: &AppState, headers: &'a HeaderMap) -> Option<&'a str> {
    crate::csrf::cookie(headers, s.config.cookie_names().cart)
        .filter(|v| v.len() >= 16 && v.len() <= 128)
}

fn shopper(s: &AppState, headers: &HeaderMap, p: Option<&Principal>) -> Shopper {
    Shopper {
        user: p.map(|p| UserId::from_stored(p.user_id())),
        visitor: cart_cookie(s, headers).map(hash_hex),
        request_id: None,
    }
}

/// A path ID: only the canonical spelling names a resource; anything else is 404.
macro_rules! canonical_id {
    ($name:ident, $t:ty) => {
        fn $name(raw: &str) -> Result<$t, ApiError> {
            match raw.parse::<$t>() {
                Ok(id) if id.as_str() == raw => Ok(id),
                _ => Err(ApiError::not_found()),
            }
        }
    };
}
canonical_id!(cart_id, CartId);
canonical_id!(item_id, ItemId);
canonical_id!(order_id, OrderId);
canonical_id!(transaction_id, TransactionId);

/// `If-Match: "7"` (or `7`) or the body's `version` as the expected cart version.
/// Both may be sent, but then they must agree: a precondition is never dropped.
fn expected_version(headers: &HeaderMap, body: Option<i64>) -> Result<Option<i64>, ApiError> {
    let field = |code: &'static str| {
        ApiError::validation(rampart_kernel::FieldErrors(vec![
            rampart_kernel::FieldError::new("If-Match", code),
        ]))
    };
    let header = match headers.get(header::IF_MATCH).and_then(|v| v.to_str().ok()) {
        None => None,
        Some(v) => {
            let v = v.trim().trim_start_matches("W/").trim_matches('"');
            Some(v.parse::<i64>().map_err(|_| field("invalid_value"))?)
        }
    };
    match (body, header) {
        (Some(b), Some(h)) if b != h => Err(field("disagrees_with_version")),
        (Some(v), _) | (None, Some(v)) => Ok(Some(v)),
        (None, None) => Ok(None),
    }
}

fn json_body<T: serde::de::DeserializeOwned + Default>(
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    required_json(headers, body)
}

fn required_json<T: serde::de::DeserializeOwned>(
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<T, ApiError> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return Err(
            ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
                .detail("expected Content-Type: application/json"),
        );
    }
    crate::error::parse_json(body)
}

fn cart_response(c: rampart_checkout::service::CartView, status: StatusCode) -> Response {
    let etag = HeaderValue::from_str(&format!("\"{}\"", c.version)).ok();
    let mut r = (status, Json(CartResponse::from(c))).into_response();
    if let Some(v) = etag {
        r.headers_mut().insert(header::ETAG, v);
    }
    r
}

/// Runs `run` under the request's `Idempotency-Key`, if it has one (E3): same key and
/// body → the stored response again (`Idempotent-Replayed: true`); another body or
/// route → 422 `idempotency_key_reused`; still running → 409
/// `idempotency_key_in_flight`. Only successes are stored; a failed call lets the key
/// go, so a retry runs again.
#[allow(clippy::too_many_arguments)]
async fn idempotent<F, Fut>(
    s: &AppState,
    headers: &HeaderMap,
    scope: &str,
    user: Option<&str>,
    route: &'static str,
    path: &str,
    body: &[u8],
    run: F,
) -> Result<Response, ApiError>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<(StatusCode, serde_json::Value), ApiError>>,
{
    let Some(raw) = headers.get("idempotency-key") else {
        let (status, v) = run().await?;
        return Ok((status, Json(v)).into_response());
    };
    let key = raw
        .to_str()
        .ok()
        .and_then(|k| IdempotencyKey::parse(k).ok())
        .ok_or_else(|| ApiError::new(StatusCode::BAD_REQUEST, "idempotency_key_invalid"))?;
    let hash = idempotency::request_hash(route, path, body);
    match s
        .checkout
        .claim_key(scope, key.as_str(), user, route, &hash)
        .await?
    {
        Claim::Acquired => {}
        Claim::Replay { status, body } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
            let mut r = (status, body).into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            r.headers_mut().insert(
                HeaderName::from_static("idempotent-replayed"),
                HeaderValue::from_static("true"),
            );
            return Ok(r);
        }
        Claim::Reused => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
            ))
        }
        Claim::InFlight => {
            return Err(
                ApiError::new(StatusCode::CONFLICT, "idempotency_key_in_flight").header(
                    HeaderName::from_static("retry-after"),
                    HeaderValue::from_static("1"),
                ),
            )
        }
    }
    match run().await {
        Ok((status, v)) => {
            let text = v.to_string();
            s.checkout
                .finish_key(scope, key.as_str(), status.as_u16(), &text)
                .await?;
            let mut r = (status, text).into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            Ok(r)
        }
        Err(e) => {
            s.checkout.release_key(scope, key.as_str()).await?;
            Err(e)
        }
    }
}

/// Mounts the storefront API, the webhooks and (sandbox only, not in production) the
/// sandbox's confirmation routes.
pub fn mount(r: Routes) -> Routes {
    use Code::*;
    let cart = |summary| Doc::new("storefront", summary).limit(PolicyName::Cart);
    let cart_errors = [
        NotFound,
        CartVersionConflict,
        CartClosed,
        CartPaymentInProgress,
        // The cart's live intent, asked for at its provider before the cart changes,
        // is unknown there (the sandbox keeps intents in its own process).
        PaymentIntentNotFound,
        ValidationFailed,
        CsrfTokenMissing,
    ];
    let line_errors = [
        OwnStorePurchase,
        ItemUnavailable,
        OutOfStock,
        QuantityTooSmall,
        QuantityTooLarge,
        CartTooManyLines,
        CartMixedCurrencies,
    ];
    let rule_errors = [
        CompanyNameRequired,
        VatIdRequired,
        VatIdInvalid,
        BillingAddressRequired,
        ShippingAddressRequired,
        ShippingMethodRequired,
        ShippingMethodUnknown,
        ShippingMethodUnavailable,
        SubscriptionNotEligible,
        OrderBelowMinimum,
        OrderAboveMaximum,
        StoreOrderBelowMinimum,
        OrderTooLarge,
    ];
    let sandbox = r.state().checkout.provider().kind() == ProviderKind::Sandbox
        && !r.state().config.production;
    let r = r
        .group(Group::Api)
        .post(
            "/v1/carts",
            create_cart,
            cart("Create a cart (anonymously: an http-only cart cookie holds it and the answer carries the CSRF token for the cookie's calls); 100 cart calls per minute per IP")
                .optional_request::<NewCartRequest>()
                .responds::<CartResponse>(201),
        )
        .get(
            "/v1/carts/{id}",
            get_cart,
            cart("A cart (its customer, or the visitor holding its cookie; 404 for everyone else)")
                .responds::<CartResponse>(200)
                .errors(&[NotFound]),
        )
        .post(
            "/v1/carts/{id}/line-items",
            add_line,
            cart("Add an item at its catalog price (the item must be for sale and in stock); version or If-Match guards against lost updates")
                .request::<AddLineRequest>()
                .responds::<CartResponse>(200)
                .errors(&cart_errors)
                .errors(&line_errors),
        )
        .patch(
            "/v1/carts/{id}/line-items/{item_id}",
            set_line,
            cart("Change a line's quantity")
                .request::<SetLineRequest>()
                .responds::<CartResponse>(200)
                .errors(&cart_errors)
                .errors(&line_errors)
                .errors(&[CartLineNotFound]),
        )
        .delete(
            "/v1/carts/{id}/line-items/{item_id}",
            remove_line,
            cart("Remove a line (If-Match guards against lost updates)")
                .responds::<CartResponse>(200)
                .errors(&cart_errors)
                .errors(&[CartLineNotFound]),
        )
        .post(
            "/v1/carts/{id}/addresses",
            set_details,
            cart("Set the buyer type, company name, VAT ID, billing and shipping addresses")
                .request::<DetailsRequest>()
                .responds::<CartResponse>(200)
                .errors(&cart_errors),
        )
        .post(
            "/v1/carts/{id}/shipping-method",
            set_shipping,
            cart("Choose a shipping method (one the configured rules offer)")
                .request::<ShippingRequest>()
                .responds::<CartResponse>(200)
                .errors(&cart_errors)
                .errors(&[ShippingMethodUnknown, ShippingMethodUnavailable]),
        )
        .post(
            "/v1/carts/{id}/payment-intent",
            payment_intent,
            Doc::new("storefront", "The cart's one payment intent at its total (business rules checked first; a retry gets the same intent; metadata carries cart and customer); Idempotency-Key accepted; 3 per minute per user")
                .auth(Auth::User)
                .scope(Scope::OrdersWrite)
                .limit(PolicyName::Payment)
                .optional_request::<NewCartRequest>()
                .responds::<IntentResponse>(201)
                .errors(&[NotFound, CartClosed, CartPaymentInProgress, CartPricesChanged, CartEmpty, ItemUnavailable, PaymentProviderUnavailable, PaymentProviderRefused, PaymentIdempotencyConflict, IdempotencyKeyReused, IdempotencyKeyInFlight, IdempotencyKeyInvalid])
                .errors(&rule_errors),
        )
        .post(
            "/v1/carts/{id}/complete",
            complete,
            Doc::new("storefront", "Complete the checkout on the provider's own record of the intent: exactly one order, stock taken once, one escrow transaction per store and item funded on the ledger; 201 when this call made the order, 200 when it existed; Idempotency-Key accepted; 10 per minute per user")
                .auth(Auth::User)
                .scope(Scope::OrdersWrite)
                .limit(PolicyName::Checkout)
                .optional_request::<CompleteRequest>()
                .responds::<OrderResponse>(201)
                .also_responds::<OrderResponse>(200)
                .errors(&[NotFound, CartClosed, CartPricesChanged, ItemUnavailable, OutOfStock, PaymentIntentMissing, PaymentRefunded, PaymentIntentNotOwned, PaymentAmountMismatch, PaymentCurrencyMismatch, PaymentNotSucceeded, PaymentIntentNotFound, PaymentProviderUnavailable, IdempotencyKeyReused, IdempotencyKeyInFlight, IdempotencyKeyInvalid])
                .errors(&rule_errors),
        )
        .get(
            "/v1/orders",
            list_orders,
            Doc::new("storefront", "The caller's orders, newest first")
                .auth(Auth::User)
                .scope(Scope::OrdersRead)
                .responds::<OrderListResponse>(200),
        )
        .get(
            "/v1/orders/{id}",
            get_order,
            Doc::new("storefront", "An order with its escrow transactions (its buyer; staff holding refund; 404 for everyone else)")
                .auth(Auth::User)
                .scope(Scope::OrdersRead)
                .responds::<OrderResponse>(200)
                .errors(&[NotFound]),
        )
        .post(
            "/v1/orders/{id}/refunds",
            refund,
            Doc::new("storefront", "Refund one store's escrow transaction of an order, in full or in part of what it holds, while funded (in full: cancelled, every line's stock returned) or shipped (in full: refunded); a disputed one is refunded through its dispute. Decided on the ledger and audited as refund, then paid at the provider: 201 when paid, 202 when the payment is pending (the worker pays it) or refused (see refunds[]). Staff holding refund, with TOTP; Idempotency-Key accepted")
                .permission(rampart_kernel::Permission::Refund)
                .totp_in_handler()
                .scope(Scope::OrdersWrite)
                .request::<RefundRequest>()
                .responds::<OrderResponse>(201)
                .also_responds::<OrderResponse>(202)
                .errors(&[NotFound, ValidationFailed, RefundAmountInvalid, RefundNotPossible, InvalidTransition, PaymentProviderUnavailable, IdempotencyKeyReused, IdempotencyKeyInFlight, IdempotencyKeyInvalid]),
        )
        .post(
            "/v1/webhooks/payments/{provider}",
            webhook,
            Doc::new("webhooks", "A payment provider's event (Stripe's signature scheme on the raw body, 5-minute tolerance, several secrets; duplicates acknowledged and ignored; a payment_intent.succeeded completes the order)")
                .responds::<WebhookAck>(200)
                .errors(&[NotFound, WebhookSignatureMalformed, WebhookSignatureInvalid, WebhookTimestampOutOfTolerance, WebhookEventMalformed]),
        );
    if !sandbox {
        return r;
    }
    r.post(
        "/v1/sandbox/payment-intents/{id}/confirm",
        sandbox_confirm,
        Doc::new("sandbox", "The sandbox provider's stand-in for the provider's client script: confirm an intent with a test token (never a card number); development and tests only")
            .limit(PolicyName::SandboxPayment)
            .request::<SandboxConfirmRequest>()
            .responds::<IntentResponse>(200)
            .errors(&[NotFound, PaymentDeclined, PaymentProviderRefused]),
    )
    .post(
        "/v1/sandbox/payment-intents/{id}/authenticate",
        sandbox_authenticate,
        Doc::new("sandbox", "The sandbox's 3-D Secure-like step on an intent in requires_action")
            .limit(PolicyName::SandboxPayment)
            .request::<SandboxAuthRequest>()
            .responds::<IntentResponse>(200)
            .errors(&[NotFound, PaymentProviderRefused]),
    )
}

async fn create_cart(
    State(s): State<AppState>,
    MaybeUser(p): MaybeUser,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let _: NewCartRequest = json_body(&headers, &body)?;
    if let Some(p) = p {
        let user = UserId::from_stored(p.user_id());
        let c = s.checkout.create_cart(Some(&user), None).await?;
        return Ok(cart_response(c, StatusCode::CREATED));
    }
    let token = rampart_identity::tokens::random_token("").0;
    let c = s
        .checkout
        .create_cart(None, Some(&hash_hex(&token)))
        .await?;
    let csrf = s.csrf.token_for(&format!("cart:{token}"));
    let names = s.config.cookie_names();
    let mut body = CartResponse::from(c);
    body.csrf_token = Some(csrf);
    let mut r = (StatusCode::CREATED, Json(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(&s.config.cookie(names.cart, &token, Some(30 * 86_400))) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(r)
}

async fn get_cart(
    State(s): State<AppState>,
    MaybeUser(p): MaybeUser,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = cart_id(&id)?;
    let c = s
        .checkout
        .cart(&shopper(&s, &headers, p.as_ref()), &id)
        .await?;
    Ok(cart_response(c, StatusCode::OK))
}

async fn add_line(
    State(s): State<AppState>,
    MaybeUser(p): MaybeUser,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let id = cart_id(&id)?;
    let b: AddLineRequest = required_json(&headers, &body)?;
    let item: ItemId = b
        .item_id
        .parse()
        .map_err(|_| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "item_unavailable"))?;
    let expected = expected_version(&headers, b.version)?;
    let c = s
        .checkout
        .add_line(
            &shopper(&s, &headers, p.as_ref()),
            &id,
            &item,
            b.quantity,
            expected,
        )
        .await?;
    Ok(cart_response(c, StatusCode::OK))
}

async fn set_line(
    State(s): State<AppState>,
    MaybeUser(p): MaybeUser,
    headers: HeaderMap,
    Path((id, item)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let id = cart_id(&id)?;
    let item = item_id(&item)?;
    let b: SetLineRequest = required_json(&headers, &body)?;
    let expected = expected_version(&headers, b.version)?;
    let c = s
        .checkout
        .set_line(
            &shopper(&s, &headers, p.as_ref()),
            &id,
            &item,
            b.quantity,
            expected,
        )
        .await?;
    Ok(cart_response(c, StatusCode::OK))
}

async fn remove_line(
    State(s): State<AppState>,
    MaybeUser(p): MaybeUser,
    headers: HeaderMap,
    Path((id, item)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let id = cart_id(&id)?;
    let item = item_id(&item)?;
    let expected = expected_version(&headers, None)?;
    let c = s
        .checkout
        .remove_line(&shopper(&s, &headers, p.as_ref()), &id, &item, expected)
        .await?;
    Ok(cart_response(c, StatusCode::OK))
}

async fn set_details(
    State(s): State<AppState>,
    MaybeUser(p): MaybeUser,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let id = cart_id(&id)?;
    let b: DetailsRequest = required_json(&headers, &body)?;
    let expected = expected_version(&headers, b.version)?;
    let d = CartDetails {
        customer_type: b.customer_type.map(|t| match t {
            CustomerTypeWire::Business => CustomerType::Business,
            CustomerTypeWire::Consumer => CustomerType::Consumer,
        }),
        company_name: b.company_name,
        vat_id: b.vat_id,
        billing_address: b.billing_address.map(Into::into),
        shipping_address: b.shipping_address.map(Into::into),
    };
    let c = s
        .checkout
        .set_details(&shopper(&s, &headers, p.as_ref()), &id, d, expected)
        .await?;
    Ok(cart_response(c, StatusCode::OK))
}

async fn set_shipping(
    State(s): State<AppState>,
    MaybeUser(p): MaybeUser,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let id = cart_id(&id)?;
    let b: ShippingRequest = required_json(&headers, &body)?;
    let expected = expected_version(&headers, b.version)?;
    let c = s
        .checkout
        .set_shipping_method(&shopper(&s, &headers, p.as_ref()), &id, &b.code, expected)
        .await?;
    Ok(cart_response(c, StatusCode::OK))
}

async fn account_facts(s: &AppState, user: &UserId) -> Result<AccountFacts, ApiError> {
    let a = s
        .auth
        .account(user.as_str())
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(ApiError::not_found)?;
    let age_ms = s.clock.now_ms().saturating_sub(a.created_at).max(0);
    Ok(AccountFacts {
        email_verified: a.email_verified,
        account_age_days: u32::try_from(age_ms / 86_400_000).unwrap_or(u32::MAX),
    })
}

fn to_value<T: serde::Serialize>(v: T) -> Result<serde_json::Value, ApiError> {
    serde_json::to_value(v).map_err(ApiError::internal)
}

async fn payment_intent(
    State(s): State<AppState>,
    CurrentUser(p): CurrentUser,
    headers: HeaderMap,
    Path(raw): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let id = cart_id(&raw)?;
    let _: NewCartRequest = json_body(&headers, &body)?;
    let user = UserId::from_stored(p.user_id());
    let scope = format!("user:{}", user.as_str());
    let path = format!("/v1/carts/{raw}/payment-intent");
    idempotent(
        &s,
        &headers,
        &scope,
        Some(user.as_str()),
        "POST /v1/carts/{id}/payment-intent",
        &path,
        &body,
        || async {
            let facts = account_facts(&s, &user).await?;
            let i = s.checkout.payment_intent(&user, &id, facts).await?;
            Ok((StatusCode::CREATED, to_value(IntentResponse::from(i))?))
        },
    )
    .await
}

async fn complete(
    State(s): State<AppState>,
    crate::authn::Ctx(ctx): crate::authn::Ctx,
    CurrentUser(p): CurrentUser,
    headers: HeaderMap,
    Path(raw): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let id = cart_id(&raw)?;
    let b: CompleteRequest = json_body(&headers, &body)?;
    let intent = match b.payment_intent_id.as_deref() {
        None => None,
        Some(i) => Some(IntentId::parse(i).map_err(|_| {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "payment_intent_not_found")
        })?),
    };
    let user = UserId::from_stored(p.user_id());
    let scope = format!("user:{}", user.as_str());
    let path = format!("/v1/carts/{raw}/complete");
    let rid = ctx.request_id.clone();
    idempotent(
        &s,
        &headers,
        &scope,
        Some(user.as_str()),
        "POST /v1/carts/{id}/complete",
        &path,
        &body,
        || async {
            let done = s
                .checkout
                .complete(&user, &id, intent.as_ref(), rid.as_deref())
                .await?;
            let status = match done {
                Completed::Created(_) => StatusCode::CREATED,
                Completed::Existing(_) => StatusCode::OK,
            };
            Ok((status, to_value(OrderResponse::from(done.order()))?))
        },
    )
    .await
}

async fn list_orders(
    State(s): State<AppState>,
    CurrentUser(p): CurrentUser,
    RawQuery(_): RawQuery,
) -> Result<Json<OrderListResponse>, ApiError> {
    let user = UserId::from_stored(p.user_id());
    let orders = s.checkout.orders(&user, 50).await?;
    Ok(Json(OrderListResponse {
        orders: orders.into_iter().map(Into::into).collect(),
    }))
}

fn is_refund_staff(p: &Principal) -> bool {
    let role = crate::authn::policy_role(p);
    rampart_kernel::Permission::Refund.allowed_for(role)
}

async fn get_order(
    State(s): State<AppState>,
    CurrentUser(p): CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<OrderResponse>, ApiError> {
    let id = order_id(&id)?;
    let user = UserId::from_stored(p.user_id());
    let o = s.checkout.order(&user, is_refund_staff(&p), &id).await?;
    Ok(Json(o.into()))
}

async fn refund(
    State(s): State<AppState>,
    crate::authn::Ctx(ctx): crate::authn::Ctx,
    CurrentUser(p): CurrentUser,
    headers: HeaderMap,
    Path(raw): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let id = order_id(&raw)?;
    let b: RefundRequest = required_json(&headers, &body)?;
    let txn = match b.transaction_id.as_deref() {
        None => None,
        Some(t) => Some(transaction_id(t)?),
    };
    let user = UserId::from_stored(p.user_id());
    // Visibility first (as on GET /v1/orders/{id}: staff without TOTP see only their
    // own orders), then the second factor: an order the caller cannot read is 404.
    s.checkout.order(&user, is_refund_staff(&p), &id).await?;
    if !p.is_client() && !p.totp_enabled {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "totp_enrolment_required",
        ));
    }
    let scope = format!("user:{}", user.as_str());
    let path = format!("/v1/orders/{raw}/refunds");
    let rid = ctx.request_id.clone();
    idempotent(
        &s,
        &headers,
        &scope,
        Some(user.as_str()),
        "POST /v1/orders/{id}/refunds",
        &path,
        &body,
        || async {
            let (o, paid) = s
                .checkout
                .refund(&user, &id, txn.as_ref(), b.amount_minor, rid.as_deref())
                .await?;
            // Decided and paid: 201. Decided, not paid yet (the provider could not be
            // reached; the worker pays it) or refused by the provider: 202, the
            // refund's status is in `refunds`.
            let status = if paid == "succeeded" {
                StatusCode::CREATED
            } else {
                StatusCode::ACCEPTED
            };
            Ok((status, to_value(OrderResponse::from(o))?))
        },
    )
    .await
}

async fn webhook(
    State(s): State<AppState>,
    crate::authn::Ctx(ctx): crate::authn::Ctx,
    headers: HeaderMap,
    Path(provider): Path<String>,
    body: Bytes,
) -> Result<Json<WebhookAck>, ApiError> {
    let kind = ProviderKind::parse(&provider).ok_or_else(ApiError::not_found)?;
    let verifier = s
        .webhooks
        .iter()
        .find(|(k, _)| *k == kind)
        .map(|(_, v)| v)
        .ok_or_else(ApiError::not_found)?;
    let header = headers
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if let Err(e) = verifier.verify(header, &body) {
        let code = e.code();
        s.events.emit(
            SecurityEvent::WebhookSignatureFailure,
            &EventContext {
                request_id: ctx.request_id.as_deref(),
                ip: ctx.ip,
                user_agent: Some(&ctx.user_agent),
                user_id: None,
            },
            &[("provider", kind.as_str()), ("code", code)],
        );
        s.metrics.inc(
            "rampart_webhook_signature_failures_total",
            "Webhook deliveries refused by signature check, by provider and reason.",
            &[("provider", kind.as_str()), ("code", code)],
        );
        return Err(ApiError::new(StatusCode::BAD_REQUEST, code));
    }
    let event = parse_event(&body)
        .map_err(|_| ApiError::new(StatusCode::BAD_REQUEST, "webhook_event_malformed"))?;
    let outcome = s
        .checkout
        .handle_delivery(kind, &event, Some(&body))
        .await?;
    s.metrics.inc(
        "rampart_webhook_events_total",
        "Verified webhook deliveries, by provider and outcome.",
        &[
            ("provider", kind.as_str()),
            (
                "outcome",
                match &outcome {
                    rampart_checkout::service::WebhookOutcome::Duplicate => "duplicate",
                    rampart_checkout::service::WebhookOutcome::Processed(_) => "processed",
                },
            ),
        ],
    );
    Ok(Json(WebhookAck {
        received: true,
        duplicate: outcome == rampart_checkout::service::WebhookOutcome::Duplicate,
    }))
}

fn sandbox_of(s: &AppState) -> Result<&rampart_checkout::payment::sandbox::Sandbox, ApiError> {
    match s.checkout.provider() {
        rampart_checkout::payment::AnyProvider::Sandbox(sb) => Ok(sb),
        _ => Err(ApiError::not_found()),
    }
}

async fn sandbox_confirm(
    State(s): State<AppState>,
    Path(id): Path<String>,
    crate::error::ApiJson(b): crate::error::ApiJson<SandboxConfirmRequest>,
) -> Result<Json<IntentResponse>, ApiError> {
    let sb = sandbox_of(&s)?;
    let id = IntentId::parse(&id).map_err(|_| ApiError::not_found())?;
    holds_secret(sb, &id, &b.client_secret).await?;
    let i = sb.confirm(&id, &b.token).map_err(|e| problem(e.into()))?;
    Ok(Json(intent_json(i)))
}

async fn sandbox_authenticate(
    State(s): State<AppState>,
    Path(id): Path<String>,
    crate::error::ApiJson(b): crate::error::ApiJson<SandboxAuthRequest>,
) -> Result<Json<IntentResponse>, ApiError> {
    let sb = sandbox_of(&s)?;
    let id = IntentId::parse(&id).map_err(|_| ApiError::not_found())?;
    holds_secret(sb, &id, &b.client_secret).await?;
    let i = sb
        .authenticate(&id, b.success)
        .map_err(|e| problem(e.into()))?;
    Ok(Json(intent_json(i)))
}

/// The caller holds the intent's client secret (as the provider's client script
/// must); otherwise the intent does not exist for them.
async fn holds_secret(
    sb: &rampart_checkout::payment::sandbox::Sandbox,
    id: &IntentId,
    presented: &str,
) -> Result<(), ApiError> {
    use subtle::ConstantTimeEq;
    let i = sb
        .retrieve_intent(id)
        .await
        .map_err(|_| ApiError::not_found())?;
    let ok = i
        .client_secret
        .as_ref()
        .is_some_and(|s| bool::from(s.expose().as_bytes().ct_eq(presented.as_bytes())));
    if ok {
        Ok(())
    } else {
        Err(ApiError::not_found())
    }
}

fn intent_json(i: rampart_checkout::payment::ProviderIntent) -> IntentResponse {
    IntentResponse {
        provider: "sandbox".into(),
        id: i.id.as_str().to_owned(),
        status: i.status.as_str().to_owned(),
        amount: crate::marketplace::wire::PriceResponse {
            minor: i.amount.minor,
            currency: i.amount.currency.as_str().to_owned(),
        },
        client_secret: None,
    }
}

/// At sign-in: a visitor's cart (by its cookie) merges into the customer's cart.
/// Failures never fail the login; they are logged.
pub async fn merge_at_login(s: &AppState, headers: &HeaderMap, user_id: &str) {
    let Some(cookie) = cart_cookie(s, headers) else {
        return;
    };
    let user = UserId::from_stored(user_id);
    if let Err(e) = s.checkout.merge_at_login(&user, &hash_hex(cookie)).await {
        tracing::warn!(
            code = e.code(),
            "merging the visitor's cart at login failed"
        );
    }
}

/// [`merge_at_login`] after an API login, which hands out an access token.
pub async fn merge_after_token_login(s: &AppState, headers: &HeaderMap, access_token: &str) {
    if cart_cookie(s, headers).is_none() {
        return;
    }
    if let Ok(p) = s.auth.verify_access(access_token).await {
        merge_at_login(s, headers, p.user_id()).await;
    }
}
