//! Wire types of the storefront API (`/v1/carts`, `/v1/orders`, the webhooks).

use crate::marketplace::wire::PriceResponse;
use rampart_checkout::rules::CustomerType;
use rampart_checkout::service::{AddressData, CartView, IntentView, OrderView};
use rampart_kernel::Money;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

fn price(m: Money) -> PriceResponse {
    PriceResponse {
        minor: m.minor,
        currency: m.currency.as_str().to_owned(),
    }
}

/// `POST /v1/carts`: nothing required.
#[derive(Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct NewCartRequest {}

/// `POST /v1/carts/{id}/line-items`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AddLineRequest {
    /// The item (its price is the catalog's, read on the server).
    pub item_id: String,
    /// Units (1..=99).
    pub quantity: i64,
    /// The cart version the client last saw (optional; a stale one is 409).
    #[serde(default)]
    pub version: Option<i64>,
}

/// `PATCH /v1/carts/{id}/line-items/{item}`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SetLineRequest {
    /// Units (1..=99).
    pub quantity: i64,
    /// The cart version the client last saw (optional).
    #[serde(default)]
    pub version: Option<i64>,
}

/// A postal address.
#[derive(Deserialize, Serialize, JsonSchema, Clone)]
#[serde(deny_unknown_fields)]
pub struct AddressWire {
    /// Recipient or company name.
    #[schemars(length(max = 200))]
    pub name: String,
    /// Street and number.
    #[schemars(length(max = 200))]
    pub line1: String,
    /// Further line.
    #[serde(default)]
    #[schemars(length(max = 200))]
    pub line2: String,
    /// Postal code.
    #[schemars(length(max = 20))]
    pub postal_code: String,
    /// City.
    #[schemars(length(max = 100))]
    pub city: String,
    /// ISO 3166-1 alpha-2 country code.
    #[schemars(length(min = 2, max = 2))]
    pub country: String,
}

impl From<AddressWire> for AddressData {
    fn from(a: AddressWire) -> Self {
        AddressData {
            name: a.name,
            line1: a.line1,
            line2: a.line2,
            postal_code: a.postal_code,
            city: a.city,
            country: a.country,
        }
    }
}

impl From<AddressData> for AddressWire {
    fn from(a: AddressData) -> Self {
        AddressWire {
            name: a.name,
            line1: a.line1,
            line2: a.line2,
            postal_code: a.postal_code,
            city: a.city,
            country: a.country,
        }
    }
}

/// Consumer or business.
#[derive(Deserialize, Serialize, JsonSchema, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub enum CustomerTypeWire {
    /// A private person.
    Consumer,
    /// A company (needs company name and VAT ID).
    Business,
}

/// `POST /v1/carts/{id}/addresses`: fields left out stay as they are.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DetailsRequest {
    /// Consumer or business.
    #[serde(default)]
    pub customer_type: Option<CustomerTypeWire>,
    /// Company name (business customers).
    #[serde(default)]
    pub company_name: Option<String>,
    /// VAT ID (business customers).
    #[serde(default)]
    pub vat_id: Option<String>,
    /// Billing address.
    #[serde(default)]
    pub billing_address: Option<AddressWire>,
    /// Shipping address.
    #[serde(default)]
    pub shipping_address: Option<AddressWire>,
    /// The cart version the client last saw (optional).
    #[serde(default)]
    pub version: Option<i64>,
}

/// `POST /v1/carts/{id}/shipping-method`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShippingRequest {
    /// A configured method's code.
    pub code: String,
    /// The cart version the client last saw (optional).
    #[serde(default)]
    pub version: Option<i64>,
}

/// `POST /v1/carts/{id}/complete`.
#[derive(Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct CompleteRequest {
    /// The provider's intent ID; default: the cart's latest intent.
    #[serde(default)]
    pub payment_intent_id: Option<String>,
}

/// `POST /v1/orders/{id}/refunds`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundRequest {
    /// The escrow transaction (order line) to refund; optional when the order has one.
    #[serde(default)]
    pub transaction_id: Option<String>,
    /// Minor units; default: the whole transaction. Less than the whole is a partial
    /// refund (a disputed transaction only).
    #[serde(default)]
    pub amount_minor: Option<i64>,
}

/// `POST /v1/sandbox/payment-intents/{id}/confirm` (the sandbox's stand-in for the
/// provider's own client script).
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SandboxConfirmRequest {
    /// `tok_visa`, `tok_mastercard`, `tok_decline`, `tok_insufficient_funds`,
    /// `tok_3ds`, `tok_processing`.
    pub token: String,
    /// The intent's client secret, as the payment-intent answer gave it (as Stripe.js
    /// needs it): without it the intent is not found.
    pub client_secret: String,
}

/// `POST /v1/sandbox/payment-intents/{id}/authenticate`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SandboxAuthRequest {
    /// Whether the customer passes the 3-D Secure-like step.
    pub success: bool,
    /// The intent's client secret.
    pub client_secret: String,
}

/// One cart line.
#[derive(Serialize, JsonSchema)]
pub struct LineResponse {
    /// The item.
    pub item_id: String,
    /// Its store.
    pub store_id: String,
    /// Its title.
    pub title: String,
    /// Units.
    pub quantity: u32,
    /// Price of one.
    pub unit_price: PriceResponse,
    /// Price × quantity.
    pub total: PriceResponse,
}

/// Something the customer must be told about one line of their cart.
#[derive(Serialize, JsonSchema)]
pub struct CartNoticeResponse {
    /// `line_dropped_currency`, `line_dropped_limit` or `quantity_capped`.
    pub code: String,
    /// The item of the line.
    pub item_id: String,
    /// The line's quantity now (`quantity_capped`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quantity: Option<u32>,
}

/// A cart.
#[derive(Serialize, JsonSchema)]
pub struct CartResponse {
    /// Its ID.
    pub id: String,
    /// The customer; absent for a visitor's cart.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<String>,
    /// `open`, `completed`, `merged`.
    pub status: String,
    /// Send back as `version` (or `If-Match`) to change the cart.
    pub version: i64,
    /// Lines.
    pub items: Vec<LineResponse>,
    /// Sum of the lines.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<PriceResponse>,
    /// `consumer` or `business`.
    pub customer_type: CustomerTypeWire,
    /// Company name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub company_name: Option<String>,
    /// VAT ID.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vat_id: Option<String>,
    /// Billing address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub billing_address: Option<AddressWire>,
    /// Shipping address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shipping_address: Option<AddressWire>,
    /// The chosen shipping method.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shipping_method: Option<String>,
    /// Methods that can carry this cart now.
    pub shipping_methods: Vec<String>,
    /// What the merge at login did to the cart's lines (a visitor's line left behind
    /// for its other currency or a full cart, a quantity capped); shown until the
    /// cart next changes.
    pub notices: Vec<CartNoticeResponse>,
    /// For a visitor's new cart only: the CSRF token to send as `X-CSRF-Token` with
    /// the cart cookie.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub csrf_token: Option<String>,
}

impl From<CartView> for CartResponse {
    fn from(c: CartView) -> Self {
        CartResponse {
            id: c.id.into_string(),
            customer_id: c.customer.map(|u| u.into_string()),
            status: c.status,
            version: c.version,
            items: c
                .lines
                .into_iter()
                .map(|l| LineResponse {
                    item_id: l.item.into_string(),
                    store_id: l.store.into_string(),
                    title: l.title,
                    quantity: l.quantity,
                    unit_price: price(l.unit_price),
                    total: price(l.total),
                })
                .collect(),
            total: c.total.map(price),
            customer_type: match c.customer_type {
                CustomerType::Business => CustomerTypeWire::Business,
                CustomerType::Consumer => CustomerTypeWire::Consumer,
            },
            company_name: c.company_name,
            vat_id: c.vat_id,
            billing_address: c.billing_address.map(Into::into),
            shipping_address: c.shipping_address.map(Into::into),
            shipping_method: c.shipping_method,
            shipping_methods: c.shipping_methods,
            notices: c
                .notices
                .into_iter()
                .map(|n| CartNoticeResponse {
                    code: n.kind.as_str().to_owned(),
                    item_id: n.item.into_string(),
                    quantity: n.quantity,
                })
                .collect(),
            csrf_token: None,
        }
    }
}

/// A payment intent, for the paying client.
#[derive(Serialize, JsonSchema)]
pub struct IntentResponse {
    /// `sandbox` or `stripe`.
    pub provider: String,
    /// The provider's intent ID.
    pub id: String,
    /// The provider's status.
    pub status: String,
    /// Amount and currency.
    pub amount: PriceResponse,
    /// For the provider's client-side confirmation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
}

impl From<IntentView> for IntentResponse {
    fn from(i: IntentView) -> Self {
        IntentResponse {
            provider: i.provider.as_str().to_owned(),
            id: i.id.as_str().to_owned(),
            status: i.status.as_str().to_owned(),
            amount: price(i.amount),
            client_secret: i.client_secret,
        }
    }
}

/// One order line and its escrow transaction.
#[derive(Serialize, JsonSchema)]
pub struct OrderLineResponse {
    /// The item.
    pub item_id: String,
    /// The store.
    pub store_id: String,
    /// Units.
    pub quantity: i64,
    /// Price of one.
    pub unit_price: PriceResponse,
    /// The escrow transaction holding this line's money.
    pub transaction_id: String,
    /// Its state.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub escrow_state: Option<String>,
}

/// An order.
#[derive(Serialize, JsonSchema)]
pub struct OrderResponse {
    /// Its ID.
    pub id: String,
    /// The cart it came from.
    pub cart_id: String,
    /// The buyer.
    pub customer_id: String,
    /// Paid.
    pub amount: PriceResponse,
    /// Refunded so far.
    pub refunded: PriceResponse,
    /// `paid`, `partially_refunded`, `refunded`.
    pub status: String,
    /// The provider's intent ID.
    pub payment_intent_id: String,
    /// The masked card (`brand`, `last4`), when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub card: Option<CardResponse>,
    /// Lines.
    pub items: Vec<OrderLineResponse>,
    /// Refunds, in order.
    pub refunds: Vec<RefundResponse>,
    /// Unix ms.
    pub created_at: i64,
}

/// One refund of an order.
#[derive(Serialize, JsonSchema)]
pub struct RefundResponse {
    /// Its number in the order (1, 2, …).
    pub sequence: i64,
    /// How much.
    pub amount: PriceResponse,
    /// `pending` (decided, not paid at the provider yet: the worker retries),
    /// `succeeded`, `failed` (the provider refused: staff must settle it).
    pub status: String,
    /// The provider's refund ID once paid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider_refund_id: Option<String>,
    /// The provider's error code while pending or failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Unix ms.
    pub created_at: i64,
}

/// A masked card.
#[derive(Serialize, JsonSchema)]
pub struct CardResponse {
    /// `visa`…
    pub brand: String,
    /// Last four digits.
    pub last4: String,
}

impl From<OrderView> for OrderResponse {
    fn from(o: OrderView) -> Self {
        OrderResponse {
            id: o.id.into_string(),
            cart_id: o.cart.into_string(),
            customer_id: o.buyer.into_string(),
            amount: price(o.amount),
            refunded: price(o.refunded),
            status: o.status,
            payment_intent_id: o.payment_intent,
            card: o.card.map(|(brand, last4)| CardResponse { brand, last4 }),
            items: o
                .lines
                .into_iter()
                .map(|l| OrderLineResponse {
                    item_id: l.item.into_string(),
                    store_id: l.store.into_string(),
                    quantity: l.quantity,
                    unit_price: price(l.unit_price),
                    transaction_id: l.transaction.into_string(),
                    escrow_state: l.escrow_state.map(|s| s.as_str().to_owned()),
                })
                .collect(),
            refunds: o
                .refunds
                .into_iter()
                .map(|r| RefundResponse {
                    sequence: r.sequence,
                    amount: price(r.amount),
                    status: r.status,
                    provider_refund_id: r.provider_refund,
                    last_error: r.last_error,
                    created_at: r.created_at,
                })
                .collect(),
            created_at: o.created_at,
        }
    }
}

/// `GET /v1/orders`.
#[derive(Serialize, JsonSchema)]
pub struct OrderListResponse {
    /// Newest first.
    pub orders: Vec<OrderResponse>,
}

/// A webhook delivery's acknowledgement.
#[derive(Serialize, JsonSchema)]
pub struct WebhookAck {
    /// Always true for a verified delivery.
    pub received: bool,
    /// Seen before (acknowledged, ignored).
    pub duplicate: bool,
}
