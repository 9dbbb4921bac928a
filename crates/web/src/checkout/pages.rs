//! The storefront's server-rendered pages (issue 10): the cart (anonymous through the
//! cart cookie, merged at login), the checkout steps — address, shipping, payment —
//! the order page that confirms a purchase, and the order history. Pages work without
//! JavaScript; every form carries the CSRF token and goes through the registry's
//! guards and rate limits. The pages call the same `rampart_checkout` service as the
//! `/v1` API; the rules, ownership and exactly-once logic live there.
//!
//! Payment: the sandbox provider only. The buyer picks a sandbox test outcome (a test
//! token such as `tok_visa`); no card number field exists, Rampart only ever holds the
//! provider's references. With another provider the page says so (its client script
//! is not part of these pages).

use super::api::problem;
use crate::authn::{Ctx, CurrentUser, MaybeUser};
use crate::error::{ApiError, ApiForm};
use crate::i18n::{self, Lang, Tr};
use crate::identity::pages::{
    csrf_for, csrf_for_session, err_message, field_messages, fmt_ms, notice, query, render,
    see_other,
};
use crate::layout::{lang_for, nav, Nav};
use crate::routes::{Auth, Doc, Group, Routes};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use rampart_checkout::payment::{AnyProvider, IntentId, IntentStatus, PaymentProvider};
use rampart_checkout::rules::CustomerType;
use rampart_checkout::service::{
    AccountFacts, AddressData, CartDetails, CartView, CheckoutError, OrderView, Shopper,
};
use rampart_identity::Principal;
use rampart_kernel::ids::{ItemId, OrderId};
use rampart_kernel::{Money, UserId};
use rampart_security::ratelimit::PolicyName;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// Mounts the cart, checkout and order pages.
pub fn mount(r: Routes) -> Routes {
    let page = |summary: &'static str| Doc::new("web", summary).page();
    let user = |summary: &'static str| page(summary).auth(Auth::User);
    r.group(Group::Web)
        .get(
            "/cart",
            cart_page,
            page("The cart (anonymous visitors through the cart cookie)"),
        )
        .post(
            "/cart/add",
            cart_add,
            page("Add an item to the cart").limit(PolicyName::Cart),
        )
        .post(
            "/cart/lines/{item_id}",
            cart_update,
            page("Change a cart line's quantity").limit(PolicyName::Cart),
        )
        .post(
            "/cart/lines/{item_id}/remove",
            cart_remove,
            page("Remove a cart line").limit(PolicyName::Cart),
        )
        .get("/checkout", checkout_start, user("Start the checkout"))
        .get(
            "/checkout/address",
            address_page,
            user("Checkout: buyer and addresses"),
        )
        .post(
            "/checkout/address",
            address_save,
            user("Save the buyer and addresses").limit(PolicyName::Cart),
        )
        .get(
            "/checkout/shipping",
            shipping_page,
            user("Checkout: shipping method"),
        )
        .post(
            "/checkout/shipping",
            shipping_save,
            user("Choose the shipping method").limit(PolicyName::Cart),
        )
        .get("/checkout/payment", payment_page, user("Checkout: payment"))
        .post(
            "/checkout/payment",
            payment_submit,
            user("Pay with the sandbox provider and place the order").limit(PolicyName::Payment),
        )
        .post(
            "/checkout/payment/authenticate",
            payment_authenticate,
            user("The sandbox's 3-D Secure-like step, then place the order")
                .limit(PolicyName::Checkout),
        )
        .get("/orders", orders_page, user("My orders"))
        .get(
            "/orders/{id}",
            order_page,
            user("An order: lines, escrow, payment, refunds"),
        )
}

// ----- shared -------------------------------------------------------------------------

fn hash_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// The visitor's cart cookie (same bounds as the API and the CSRF binding).
fn cart_cookie<'a>(s: &AppState, headers: &'a HeaderMap) -> Option<&'a str> {
    crate::csrf::cookie(headers, s.config.cookie_names().cart)
        .filter(|v| v.len() >= 16 && v.len() <= 128)
}

fn shopper(s: &AppState, headers: &HeaderMap, p: Option<&Principal>) -> Shopper {
    Shopper {
        user: p.map(|p| UserId::from_stored(p.user_id())),
        visitor: if p.is_some() {
            None
        } else {
            cart_cookie(s, headers).map(hash_hex)
        },
        request_id: None,
    }
}

/// Language, navigation and the CSRF token of a page; for a visitor with no cookie
/// yet, the pre-session cookie the token is bound to.
struct Frame {
    tr: Tr,
    nav: Nav,
    token: String,
    cookie: Option<String>,
}

fn frame(s: &AppState, p: Option<&Principal>, headers: &HeaderMap) -> Frame {
    let (token, cookie) = match p.and_then(|p| p.session_id()) {
        Some(sid) => (csrf_for_session(s, sid), None),
        None => csrf_for(s, headers),
    };
    Frame {
        tr: Tr(lang_for(p, headers)),
        nav: nav(p, &token),
        token,
        cookie,
    }
}

/// An error as sentences in `lang`: every rule violation, every bad field, else the
/// code's message. Database and corrupt-data failures stay errors (a logged 500).
fn messages(lang: Lang, e: CheckoutError) -> Result<(StatusCode, Vec<String>), ApiError> {
    let msgs = match &e {
        CheckoutError::Rules(v) => {
            let mut out: Vec<String> = Vec::new();
            for r in v {
                let m = err_message(lang, r.code());
                if !out.contains(&m) {
                    out.push(m);
                }
            }
            out
        }
        CheckoutError::Validation(f) => field_messages(lang, &f.0),
        CheckoutError::Corrupt(_) | CheckoutError::Db(_) => return Err(problem(e)),
        other => vec![err_message(lang, other.code())],
    };
    Ok((problem(e).status, msgs))
}

fn money(minor: i64, currency: rampart_kernel::Currency) -> String {
    Money::new(minor, currency).to_string()
}

fn item_id(raw: &str) -> Result<ItemId, ApiError> {
    match raw.parse::<ItemId>() {
        Ok(id) if id.as_str() == raw => Ok(id),
        _ => Err(ApiError::not_found()),
    }
}

fn order_id(raw: &str) -> Result<OrderId, ApiError> {
    match raw.parse::<OrderId>() {
        Ok(id) if id.as_str() == raw => Ok(id),
        _ => Err(ApiError::not_found()),
    }
}

/// A form's number: digits only, else 0 (which the service refuses with its code).
fn number(s: &str) -> i64 {
    s.trim().parse::<i64>().unwrap_or(0)
}

fn version(s: &str) -> Option<i64> {
    s.trim().parse::<i64>().ok()
}

/// The shopper's open cart, if any.
async fn current(s: &AppState, who: &Shopper) -> Result<Option<CartView>, ApiError> {
    let Some(id) = rampart_checkout::lookup::current_cart(&s.db, who)
        .await
        .map_err(ApiError::internal)?
    else {
        return Ok(None);
    };
    match s.checkout.cart(who, &id).await {
        Ok(c) => Ok(Some(c)),
        Err(CheckoutError::NotFound) => Ok(None),
        Err(e) => Err(problem(e)),
    }
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

#[derive(Deserialize, Default)]
struct NoticeQuery {
    notice: Option<String>,
}

// ----- the cart -----------------------------------------------------------------------

struct LineRow {
    item_id: String,
    title: String,
    quantity: u32,
    unit_price: String,
    total: String,
}

struct StoreGroup {
    store_id: String,
    lines: Vec<LineRow>,
    subtotal: String,
}

#[derive(Template)]
#[template(path = "checkout/cart.html")]
struct CartPage {
    tr: Tr,
    nav: Nav,
    csrf_token: String,
    version: i64,
    stores: Vec<StoreGroup>,
    total: String,
    signed_in: bool,
    notice: Option<String>,
    /// What the merge at login did to the lines.
    merge_notices: Vec<MergeNotice>,
    errors: Vec<String>,
}

/// A cart notice as the page shows it: a sentence and the item it is about.
struct MergeNotice {
    text: String,
    item_id: String,
    /// The line's title when the line is in the cart, else the item ID.
    label: String,
}

fn merge_notices(lang: Lang, c: &CartView) -> Vec<MergeNotice> {
    c.notices
        .iter()
        .map(|n| {
            let key = format!("shop.notice.{}", n.kind.as_str());
            let mut text = crate::i18n::lookup(lang, &key)
                .unwrap_or(n.kind.as_str())
                .to_owned();
            if let Some(q) = n.quantity {
                text = text.replace("{n}", &q.to_string());
            }
            let label = c
                .lines
                .iter()
                .find(|l| l.item == n.item)
                .map(|l| l.title.clone())
                .filter(|t| !t.is_empty())
                .unwrap_or_else(|| n.item.as_str().to_owned());
            MergeNotice {
                text,
                item_id: n.item.as_str().to_owned(),
                label,
            }
        })
        .collect()
}

/// The lines grouped by store (each store becomes its own escrow transaction).
fn groups(c: &CartView) -> Vec<StoreGroup> {
    let mut by: BTreeMap<String, (Vec<LineRow>, i64, Option<rampart_kernel::Currency>)> =
        BTreeMap::new();
    for l in &c.lines {
        let g = by.entry(l.store.as_str().to_owned()).or_default();
        g.0.push(LineRow {
            item_id: l.item.as_str().to_owned(),
            title: l.title.clone(),
            quantity: l.quantity,
            unit_price: l.unit_price.to_string(),
            total: l.total.to_string(),
        });
        g.1 = g.1.saturating_add(l.total.minor);
        g.2 = Some(l.total.currency);
    }
    by.into_iter()
        .map(|(store_id, (lines, sum, cur))| StoreGroup {
            store_id,
            lines,
            subtotal: cur.map(|c| money(sum, c)).unwrap_or_default(),
        })
        .collect()
}

async fn cart_view(
    s: &AppState,
    p: Option<&Principal>,
    headers: &HeaderMap,
    notice_name: Option<&str>,
    errors: Vec<String>,
    status: StatusCode,
    extra_cookie: Option<String>,
) -> Result<Response, ApiError> {
    let who = shopper(s, headers, p);
    let cart = current(s, &who).await?;
    let f = frame(s, p, headers);
    let lang = f.tr.0;
    let page = CartPage {
        notice: notice(lang, notice_name),
        csrf_token: f.token,
        version: cart.as_ref().map_or(0, |c| c.version),
        stores: cart.as_ref().map(groups).unwrap_or_default(),
        total: cart
            .as_ref()
            .and_then(|c| c.total)
            .map(|t| t.to_string())
            .unwrap_or_default(),
        signed_in: p.is_some(),
        merge_notices: cart
            .as_ref()
            .map(|c| merge_notices(lang, c))
            .unwrap_or_default(),
        tr: f.tr,
        nav: f.nav,
        errors,
    };
    let mut r = render(&page, status, f.cookie.as_deref());
    if let Some(c) = extra_cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        r.headers_mut().append(header::SET_COOKIE, c);
    }
    Ok(r)
}

async fn cart_page(
    State(s): State<AppState>,
    MaybeUser(p): MaybeUser,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let q: NoticeQuery = query(raw);
    cart_view(
        &s,
        p.as_ref(),
        &headers,
        q.notice.as_deref(),
        Vec::new(),
        StatusCode::OK,
        None,
    )
    .await
}

#[derive(Deserialize)]
struct AddForm {
    item_id: String,
    #[serde(default)]
    quantity: String,
}

/// The answer to a cart form: back to the cart with a notice, or the cart page with
/// the refusal in the caller's language.
async fn cart_after(
    s: &AppState,
    p: Option<&Principal>,
    headers: &HeaderMap,
    result: Result<CartView, CheckoutError>,
    notice_name: &str,
) -> Result<Response, ApiError> {
    match result {
        Ok(_) => Ok(see_other(&format!("/cart?notice={notice_name}"))),
        Err(e) => {
            let (status, errors) = messages(lang_for(p, headers), e)?;
            cart_view(s, p, headers, None, errors, status, None).await
        }
    }
}

async fn cart_add(
    State(s): State<AppState>,
    MaybeUser(p): MaybeUser,
    headers: HeaderMap,
    ApiForm(b): ApiForm<AddForm>,
) -> Result<Response, ApiError> {
    let lang = lang_for(p.as_ref(), &headers);
    let Ok(item) = item_id(b.item_id.trim()) else {
        let errors = vec![err_message(lang, "item_unavailable")];
        return cart_view(
            &s,
            p.as_ref(),
            &headers,
            None,
            errors,
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
        )
        .await;
    };
    let quantity = number(&b.quantity);
    let mut who = shopper(&s, &headers, p.as_ref());
    // A visitor without a cart gets one, held by a new cart cookie.
    let mut new_cookie = None;
    let cart = match current(&s, &who).await? {
        Some(c) => c,
        None => match &p {
            Some(p) => {
                let u = UserId::from_stored(p.user_id());
                s.checkout.create_cart(Some(&u), None).await?
            }
            None => {
                let token = rampart_identity::tokens::random_token("").0;
                let hash = hash_hex(&token);
                let c = s.checkout.create_cart(None, Some(&hash)).await?;
                who.visitor = Some(hash);
                let names = s.config.cookie_names();
                new_cookie = Some(s.config.cookie(names.cart, &token, Some(30 * 86_400)));
                c
            }
        },
    };
    let r = s
        .checkout
        .add_line(&who, &cart.id, &item, quantity, None)
        .await;
    let mut resp = match r {
        Ok(_) => see_other("/cart?notice=cart_added"),
        Err(e) => {
            let (status, errors) = messages(lang, e)?;
            // The visitor's new cart is theirs even if this line was refused.
            let mut hs = headers.clone();
            if let Some(c) = &new_cookie {
                if let Some((kv, _)) = c.split_once(';') {
                    if let Ok(v) = HeaderValue::from_str(kv) {
                        hs.insert(header::COOKIE, v);
                    }
                }
            }
            return cart_view(&s, p.as_ref(), &hs, None, errors, status, new_cookie).await;
        }
    };
    if let Some(c) = new_cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    Ok(resp)
}

#[derive(Deserialize)]
struct LineForm {
    #[serde(default)]
    quantity: String,
    #[serde(default)]
    version: String,
}

async fn cart_update(
    State(s): State<AppState>,
    MaybeUser(p): MaybeUser,
    headers: HeaderMap,
    Path(raw): Path<String>,
    ApiForm(b): ApiForm<LineForm>,
) -> Result<Response, ApiError> {
    let item = item_id(&raw)?;
    let who = shopper(&s, &headers, p.as_ref());
    let Some(cart) = current(&s, &who).await? else {
        return Err(ApiError::not_found());
    };
    let r = s
        .checkout
        .set_line(
            &who,
            &cart.id,
            &item,
            number(&b.quantity),
            version(&b.version),
        )
        .await;
    cart_after(&s, p.as_ref(), &headers, r, "cart_updated").await
}

#[derive(Deserialize)]
struct RemoveForm {
    #[serde(default)]
    version: String,
}

async fn cart_remove(
    State(s): State<AppState>,
    MaybeUser(p): MaybeUser,
    headers: HeaderMap,
    Path(raw): Path<String>,
    ApiForm(b): ApiForm<RemoveForm>,
) -> Result<Response, ApiError> {
    let item = item_id(&raw)?;
    let who = shopper(&s, &headers, p.as_ref());
    let Some(cart) = current(&s, &who).await? else {
        return Err(ApiError::not_found());
    };
    let r = s
        .checkout
        .remove_line(&who, &cart.id, &item, version(&b.version))
        .await;
    cart_after(&s, p.as_ref(), &headers, r, "cart_updated").await
}

// ----- checkout steps -----------------------------------------------------------------

/// The signed-in customer's open, non-empty cart; else the answer (back to the cart).
async fn paying_cart(
    s: &AppState,
    p: &Principal,
    headers: &HeaderMap,
) -> Result<Result<CartView, Response>, ApiError> {
    match current(s, &shopper(s, headers, Some(p))).await? {
        Some(c) if !c.lines.is_empty() => Ok(Ok(c)),
        _ => Ok(Err(see_other("/cart?notice=cart_empty"))),
    }
}

async fn checkout_start(CurrentUser(_): CurrentUser) -> Response {
    see_other("/checkout/address")
}

/// The step list at the top of every checkout page.
struct Summary {
    total: String,
    lines: usize,
}

fn summary(c: &CartView) -> Summary {
    Summary {
        total: c.total.map(|t| t.to_string()).unwrap_or_default(),
        lines: c.lines.len(),
    }
}

#[derive(Default, Clone)]
struct AddressFields {
    name: String,
    line1: String,
    line2: String,
    postal_code: String,
    city: String,
    country: String,
}

impl From<&AddressData> for AddressFields {
    fn from(a: &AddressData) -> Self {
        AddressFields {
            name: a.name.clone(),
            line1: a.line1.clone(),
            line2: a.line2.clone(),
            postal_code: a.postal_code.clone(),
            city: a.city.clone(),
            country: a.country.clone(),
        }
    }
}

#[derive(Template)]
#[template(path = "checkout/address.html")]
struct AddressPage {
    tr: Tr,
    nav: Nav,
    csrf_token: String,
    summary: Summary,
    version: i64,
    business: bool,
    company_name: String,
    vat_id: String,
    billing: AddressFields,
    shipping: AddressFields,
    same_address: bool,
    errors: Vec<String>,
}

fn address_render(
    f: Frame,
    c: &CartView,
    form: Option<&AddressForm>,
    errors: Vec<String>,
    status: StatusCode,
) -> Response {
    let page = match form {
        Some(b) => AddressPage {
            csrf_token: f.token.clone(),
            summary: summary(c),
            version: c.version,
            business: b.customer_type == "business",
            company_name: b.company_name.clone(),
            vat_id: b.vat_id.clone(),
            billing: b.billing(),
            shipping: b.shipping(),
            same_address: b.same_address.is_some(),
            tr: f.tr,
            nav: f.nav,
            errors,
        },
        None => {
            let billing: AddressFields = c
                .billing_address
                .as_ref()
                .map(Into::into)
                .unwrap_or_default();
            let shipping: AddressFields = c
                .shipping_address
                .as_ref()
                .map(Into::into)
                .unwrap_or_default();
            AddressPage {
                csrf_token: f.token.clone(),
                summary: summary(c),
                version: c.version,
                business: c.customer_type == CustomerType::Business,
                company_name: c.company_name.clone().unwrap_or_default(),
                vat_id: c.vat_id.clone().unwrap_or_default(),
                same_address: c.shipping_address.is_none()
                    || c.shipping_address == c.billing_address,
                billing,
                shipping,
                tr: f.tr,
                nav: f.nav,
                errors,
            }
        }
    };
    render(&page, status, None)
}

async fn address_page(
    State(s): State<AppState>,
    CurrentUser(p): CurrentUser,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let c = match paying_cart(&s, &p, &headers).await? {
        Ok(c) => c,
        Err(r) => return Ok(r),
    };
    let f = frame(&s, Some(&p), &headers);
    Ok(address_render(f, &c, None, Vec::new(), StatusCode::OK))
}

#[derive(Deserialize)]
struct AddressForm {
    #[serde(default)]
    version: String,
    #[serde(default)]
    customer_type: String,
    #[serde(default)]
    company_name: String,
    #[serde(default)]
    vat_id: String,
    #[serde(default)]
    billing_name: String,
    #[serde(default)]
    billing_line1: String,
    #[serde(default)]
    billing_line2: String,
    #[serde(default)]
    billing_postal_code: String,
    #[serde(default)]
    billing_city: String,
    #[serde(default)]
    billing_country: String,
    #[serde(default)]
    same_address: Option<String>,
    #[serde(default)]
    shipping_name: String,
    #[serde(default)]
    shipping_line1: String,
    #[serde(default)]
    shipping_line2: String,
    #[serde(default)]
    shipping_postal_code: String,
    #[serde(default)]
    shipping_city: String,
    #[serde(default)]
    shipping_country: String,
}

impl AddressForm {
    fn billing(&self) -> AddressFields {
        AddressFields {
            name: self.billing_name.trim().to_owned(),
            line1: self.billing_line1.trim().to_owned(),
            line2: self.billing_line2.trim().to_owned(),
            postal_code: self.billing_postal_code.trim().to_owned(),
            city: self.billing_city.trim().to_owned(),
            country: self.billing_country.trim().to_ascii_uppercase(),
        }
    }
    fn shipping(&self) -> AddressFields {
        if self.same_address.is_some() {
            return self.billing();
        }
        AddressFields {
            name: self.shipping_name.trim().to_owned(),
            line1: self.shipping_line1.trim().to_owned(),
            line2: self.shipping_line2.trim().to_owned(),
            postal_code: self.shipping_postal_code.trim().to_owned(),
            city: self.shipping_city.trim().to_owned(),
            country: self.shipping_country.trim().to_ascii_uppercase(),
        }
    }
}

fn address_data(a: AddressFields) -> AddressData {
    AddressData {
        name: a.name,
        line1: a.line1,
        line2: a.line2,
        postal_code: a.postal_code,
        city: a.city,
        country: a.country,
    }
}

/// The codes of the address step (the rest belong to the later steps).
const ADDRESS_RULES: &[&str] = &[
    "company_name_required",
    "vat_id_required",
    "vat_id_invalid",
    "billing_address_required",
    "shipping_address_required",
];

async fn address_save(
    State(s): State<AppState>,
    CurrentUser(p): CurrentUser,
    headers: HeaderMap,
    ApiForm(b): ApiForm<AddressForm>,
) -> Result<Response, ApiError> {
    let c = match paying_cart(&s, &p, &headers).await? {
        Ok(c) => c,
        Err(r) => return Ok(r),
    };
    let lang = lang_for(Some(&p), &headers);
    let business = b.customer_type == "business";
    let d = CartDetails {
        customer_type: Some(if business {
            CustomerType::Business
        } else {
            CustomerType::Consumer
        }),
        company_name: Some(if business {
            b.company_name.trim().to_owned()
        } else {
            String::new()
        }),
        vat_id: Some(if business {
            b.vat_id.trim().to_ascii_uppercase()
        } else {
            String::new()
        }),
        billing_address: Some(address_data(b.billing())),
        shipping_address: Some(address_data(b.shipping())),
    };
    let who = shopper(&s, &headers, Some(&p));
    let saved = match s
        .checkout
        .set_details(&who, &c.id, d, version(&b.version))
        .await
    {
        Ok(v) => v,
        Err(e) => {
            let (status, errors) = messages(lang, e)?;
            let f = frame(&s, Some(&p), &headers);
            return Ok(address_render(f, &c, Some(&b), errors, status));
        }
    };
    // The address rules, checked now so the buyer fixes them on this page.
    let user = UserId::from_stored(p.user_id());
    let facts = account_facts(&s, &user).await?;
    if let Err(CheckoutError::Rules(v)) = s.checkout.check_rules(&user, &saved.id, facts).await {
        let mine: Vec<_> = v
            .into_iter()
            .filter(|r| ADDRESS_RULES.contains(&r.code()))
            .collect();
        if !mine.is_empty() {
            let (status, errors) = messages(lang, CheckoutError::Rules(mine))?;
            let f = frame(&s, Some(&p), &headers);
            return Ok(address_render(f, &saved, Some(&b), errors, status));
        }
    }
    Ok(see_other("/checkout/shipping"))
}

struct MethodRow {
    code: String,
    label: String,
    chosen: bool,
}

#[derive(Template)]
#[template(path = "checkout/shipping.html")]
struct ShippingPage {
    tr: Tr,
    nav: Nav,
    csrf_token: String,
    summary: Summary,
    version: i64,
    methods: Vec<MethodRow>,
    errors: Vec<String>,
}

fn method_label(lang: Lang, code: &str) -> String {
    i18n::lookup(lang, &format!("shop.method.{code}"))
        .unwrap_or(code)
        .to_owned()
}

fn shipping_render(f: Frame, c: &CartView, errors: Vec<String>, status: StatusCode) -> Response {
    let lang = f.tr.0;
    let page = ShippingPage {
        csrf_token: f.token.clone(),
        summary: summary(c),
        version: c.version,
        methods: c
            .shipping_methods
            .iter()
            .map(|m| MethodRow {
                code: m.clone(),
                label: method_label(lang, m),
                chosen: c.shipping_method.as_deref() == Some(m.as_str()),
            })
            .collect(),
        tr: f.tr,
        nav: f.nav,
        errors,
    };
    render(&page, status, None)
}

async fn shipping_page(
    State(s): State<AppState>,
    CurrentUser(p): CurrentUser,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let c = match paying_cart(&s, &p, &headers).await? {
        Ok(c) => c,
        Err(r) => return Ok(r),
    };
    let f = frame(&s, Some(&p), &headers);
    Ok(shipping_render(f, &c, Vec::new(), StatusCode::OK))
}

#[derive(Deserialize)]
struct ShippingForm {
    #[serde(default)]
    version: String,
    #[serde(default)]
    method: String,
}

/// Rules the payment step reports (subscription, order limits) are left to it; the
/// shipping step reports its own and the address ones.
async fn shipping_save(
    State(s): State<AppState>,
    CurrentUser(p): CurrentUser,
    headers: HeaderMap,
    ApiForm(b): ApiForm<ShippingForm>,
) -> Result<Response, ApiError> {
    let c = match paying_cart(&s, &p, &headers).await? {
        Ok(c) => c,
        Err(r) => return Ok(r),
    };
    let lang = lang_for(Some(&p), &headers);
    let who = shopper(&s, &headers, Some(&p));
    let mut current = c;
    if !b.method.trim().is_empty() {
        match s
            .checkout
            .set_shipping_method(&who, &current.id, b.method.trim(), version(&b.version))
            .await
        {
            Ok(v) => current = v,
            Err(e) => {
                let (status, errors) = messages(lang, e)?;
                let f = frame(&s, Some(&p), &headers);
                return Ok(shipping_render(f, &current, errors, status));
            }
        }
    }
    let user = UserId::from_stored(p.user_id());
    let facts = account_facts(&s, &user).await?;
    if let Err(CheckoutError::Rules(v)) = s.checkout.check_rules(&user, &current.id, facts).await {
        let mine: Vec<_> = v
            .into_iter()
            .filter(|r| r.code().starts_with("shipping_") || ADDRESS_RULES.contains(&r.code()))
            .collect();
        if !mine.is_empty() {
            let (status, errors) = messages(lang, CheckoutError::Rules(mine))?;
            let f = frame(&s, Some(&p), &headers);
            return Ok(shipping_render(f, &current, errors, status));
        }
    }
    Ok(see_other("/checkout/payment"))
}

/// A sandbox test outcome the buyer may pick, and its test token.
const OUTCOMES: &[(&str, &str)] = &[
    ("success", "tok_visa"),
    ("decline", "tok_decline"),
    ("insufficient_funds", "tok_insufficient_funds"),
    ("three_d_secure", "tok_3ds"),
];

struct OutcomeRow {
    code: &'static str,
    label: &'static str,
}

#[derive(Template)]
#[template(path = "checkout/payment.html")]
struct PaymentPage {
    tr: Tr,
    nav: Nav,
    csrf_token: String,
    summary: Summary,
    shipping_method: String,
    sandbox: bool,
    outcomes: Vec<OutcomeRow>,
    /// The 3-D Secure step: the intent waiting for the buyer.
    authenticate: Option<String>,
    errors: Vec<String>,
}

fn payment_render(
    s: &AppState,
    f: Frame,
    c: &CartView,
    authenticate: Option<String>,
    errors: Vec<String>,
    status: StatusCode,
) -> Response {
    let lang = f.tr.0;
    let outcome_keys: [&'static str; 4] = [
        "shop.outcome.success",
        "shop.outcome.decline",
        "shop.outcome.insufficient_funds",
        "shop.outcome.three_d_secure",
    ];
    let page = PaymentPage {
        csrf_token: f.token.clone(),
        summary: summary(c),
        shipping_method: c
            .shipping_method
            .as_deref()
            .map(|m| method_label(lang, m))
            .unwrap_or_default(),
        sandbox: matches!(s.checkout.provider(), AnyProvider::Sandbox(_)),
        outcomes: OUTCOMES
            .iter()
            .zip(outcome_keys)
            .map(|((code, _), key)| OutcomeRow {
                code,
                label: f.tr.t(key),
            })
            .collect(),
        authenticate,
        tr: f.tr,
        nav: f.nav,
        errors,
    };
    render(&page, status, None)
}

async fn payment_page(
    State(s): State<AppState>,
    CurrentUser(p): CurrentUser,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let c = match paying_cart(&s, &p, &headers).await? {
        Ok(c) => c,
        Err(r) => return Ok(r),
    };
    let f = frame(&s, Some(&p), &headers);
    Ok(payment_render(&s, f, &c, None, Vec::new(), StatusCode::OK))
}

#[derive(Deserialize)]
struct PaymentForm {
    #[serde(default)]
    outcome: String,
}

/// Completes the checkout on the provider's record (exactly once: the sandbox's
/// webhook may have done it already) and shows the order.
async fn place_order(
    s: &AppState,
    p: &Principal,
    request_id: Option<&str>,
    headers: &HeaderMap,
    c: &CartView,
    intent: &IntentId,
) -> Result<Response, ApiError> {
    let user = UserId::from_stored(p.user_id());
    match s
        .checkout
        .complete(&user, &c.id, Some(intent), request_id)
        .await
    {
        Ok(done) => Ok(see_other(&format!(
            "/orders/{}?notice=order_placed",
            done.order().id
        ))),
        Err(e) => {
            let (status, errors) = messages(lang_for(Some(p), headers), e)?;
            let f = frame(s, Some(p), headers);
            Ok(payment_render(s, f, c, None, errors, status))
        }
    }
}

async fn payment_submit(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    headers: HeaderMap,
    ApiForm(b): ApiForm<PaymentForm>,
) -> Result<Response, ApiError> {
    let c = match paying_cart(&s, &p, &headers).await? {
        Ok(c) => c,
        Err(r) => return Ok(r),
    };
    let lang = lang_for(Some(&p), &headers);
    let refuse = |errors: Vec<String>, status: StatusCode| {
        let f = frame(&s, Some(&p), &headers);
        Ok(payment_render(&s, f, &c, None, errors, status))
    };
    let AnyProvider::Sandbox(sb) = s.checkout.provider() else {
        return refuse(
            vec![i18n::t(lang, "shop.provider_needs_script").to_owned()],
            StatusCode::CONFLICT,
        );
    };
    let Some(token) = OUTCOMES
        .iter()
        .find(|(code, _)| *code == b.outcome)
        .map(|(_, t)| *t)
    else {
        return refuse(
            vec![i18n::t(lang, "shop.outcome_required").to_owned()],
            StatusCode::UNPROCESSABLE_ENTITY,
        );
    };
    let user = UserId::from_stored(p.user_id());
    let facts = account_facts(&s, &user).await?;
    // One intent per checkout: a retry (after a decline) gets the same intent back.
    let intent = match s.checkout.payment_intent(&user, &c.id, facts).await {
        Ok(i) => i,
        Err(e) => {
            let (status, errors) = messages(lang, e)?;
            return refuse(errors, status);
        }
    };
    // An intent already paid, or waiting for its 3-D Secure step (a reload), is not
    // confirmed again.
    let confirmed = match intent.status {
        IntentStatus::Succeeded
        | IntentStatus::RequiresAction
        | IntentStatus::Processing
        | IntentStatus::RequiresCapture => Ok(()),
        _ => sb.confirm(&intent.id, token).map(|_| ()),
    };
    if let Err(e) = confirmed {
        let (status, errors) = messages(lang, e.into())?;
        return refuse(errors, status);
    }
    let now = sb
        .retrieve_intent(&intent.id)
        .await
        .map_err(|e| problem(e.into()))?;
    match now.status {
        IntentStatus::RequiresAction => {
            let f = frame(&s, Some(&p), &headers);
            Ok(payment_render(
                &s,
                f,
                &c,
                Some(intent.id.as_str().to_owned()),
                Vec::new(),
                StatusCode::OK,
            ))
        }
        _ => place_order(&s, &p, ctx.request_id.as_deref(), &headers, &c, &intent.id).await,
    }
}

#[derive(Deserialize)]
struct AuthForm {
    #[serde(default)]
    intent: String,
    #[serde(default)]
    result: String,
}

async fn payment_authenticate(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    headers: HeaderMap,
    ApiForm(b): ApiForm<AuthForm>,
) -> Result<Response, ApiError> {
    let c = match paying_cart(&s, &p, &headers).await? {
        Ok(c) => c,
        Err(r) => return Ok(r),
    };
    let lang = lang_for(Some(&p), &headers);
    let AnyProvider::Sandbox(sb) = s.checkout.provider() else {
        return Err(ApiError::not_found());
    };
    let id = IntentId::parse(b.intent.trim()).map_err(|_| ApiError::not_found())?;
    // Only an intent made for this customer's cart: anyone else's is not found.
    let pi = sb
        .retrieve_intent(&id)
        .await
        .map_err(|_| ApiError::not_found())?;
    if pi.metadata.cart_id.as_deref() != Some(c.id.as_str())
        || pi.metadata.customer_id.as_deref() != Some(p.user_id())
    {
        return Err(ApiError::not_found());
    }
    if let Err(e) = sb.authenticate(&id, b.result == "approve") {
        let (status, errors) = messages(lang, e.into())?;
        let f = frame(&s, Some(&p), &headers);
        return Ok(payment_render(&s, f, &c, None, errors, status));
    }
    place_order(&s, &p, ctx.request_id.as_deref(), &headers, &c, &id).await
}

// ----- orders -------------------------------------------------------------------------

fn order_status_label(lang: Lang, status: &str) -> String {
    i18n::lookup(lang, &format!("shop.order_status.{status}"))
        .unwrap_or(status)
        .to_owned()
}

struct OrderRow {
    id: String,
    created: String,
    amount: String,
    refunded: String,
    status: String,
    lines: usize,
}

#[derive(Template)]
#[template(path = "checkout/orders.html")]
struct OrdersPage {
    tr: Tr,
    nav: Nav,
    rows: Vec<OrderRow>,
}

async fn orders_page(
    State(s): State<AppState>,
    CurrentUser(p): CurrentUser,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let user = UserId::from_stored(p.user_id());
    let orders = s.checkout.orders(&user, 50).await?;
    let f = frame(&s, Some(&p), &headers);
    let lang = f.tr.0;
    let page = OrdersPage {
        rows: orders
            .into_iter()
            .map(|o| OrderRow {
                id: o.id.as_str().to_owned(),
                created: fmt_ms(o.created_at),
                amount: o.amount.to_string(),
                refunded: o.refunded.to_string(),
                status: order_status_label(lang, &o.status),
                lines: o.lines.len(),
            })
            .collect(),
        tr: f.tr,
        nav: f.nav,
    };
    Ok(render(&page, StatusCode::OK, None))
}

struct OrderLine {
    item_id: String,
    title: String,
    store_id: String,
    quantity: i64,
    unit_price: String,
    transaction_id: String,
    escrow_state: String,
    escrow_state_code: String,
}

#[derive(Template)]
#[template(path = "checkout/order.html")]
struct OrderPage {
    tr: Tr,
    nav: Nav,
    id: String,
    created: String,
    amount: String,
    refunded: String,
    has_refunds: bool,
    status: String,
    payment_intent: String,
    card: Option<String>,
    lines: Vec<OrderLine>,
    notice: Option<String>,
}

fn is_refund_staff(p: &Principal) -> bool {
    rampart_kernel::Permission::Refund.allowed_for(crate::authn::policy_role(p))
}

async fn order_page(
    State(s): State<AppState>,
    CurrentUser(p): CurrentUser,
    headers: HeaderMap,
    Path(raw): Path<String>,
    RawQuery(rawq): RawQuery,
) -> Result<Response, ApiError> {
    let id = order_id(&raw)?;
    let user = UserId::from_stored(p.user_id());
    let o: OrderView = s.checkout.order(&user, is_refund_staff(&p), &id).await?;
    let ids: Vec<&str> = o.lines.iter().map(|l| l.item.as_str()).collect();
    let titles: BTreeMap<String, String> = rampart_marketplace::checkout_facts::items(&s.db, &ids)
        .await
        .map_err(ApiError::internal)?
        .into_iter()
        .map(|f| (f.id, f.title))
        .collect();
    let q: NoticeQuery = query(rawq);
    let f = frame(&s, Some(&p), &headers);
    let lang = f.tr.0;
    let lines = o
        .lines
        .iter()
        .map(|l| {
            let state = l.escrow_state.map(|s| s.as_str()).unwrap_or("");
            OrderLine {
                item_id: l.item.as_str().to_owned(),
                title: titles
                    .get(l.item.as_str())
                    .cloned()
                    .unwrap_or_else(|| l.item.as_str().to_owned()),
                store_id: l.store.as_str().to_owned(),
                quantity: l.quantity,
                unit_price: l.unit_price.to_string(),
                transaction_id: l.transaction.as_str().to_owned(),
                escrow_state: crate::marketplace::purchase_pages::state_label(lang, state),
                escrow_state_code: state.to_owned(),
            }
        })
        .collect();
    let page = OrderPage {
        notice: notice(lang, q.notice.as_deref()),
        id: o.id.as_str().to_owned(),
        created: fmt_ms(o.created_at),
        amount: o.amount.to_string(),
        refunded: o.refunded.to_string(),
        has_refunds: o.refunded.minor > 0,
        status: order_status_label(lang, &o.status),
        payment_intent: o.payment_intent.clone(),
        card: o.card.as_ref().map(|(b, l)| format!("{b} •••• {l}")),
        lines,
        tr: f.tr,
        nav: f.nav,
    };
    Ok(render(&page, StatusCode::OK, None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_outcome_has_a_token_and_no_card_number_field_exists() {
        assert_eq!(OUTCOMES.len(), 4);
        assert!(OUTCOMES.iter().all(|(_, t)| t.starts_with("tok_")));
        for t in ["cart", "address", "shipping", "payment", "order", "orders"] {
            let path = format!("{}/templates/checkout/{t}.html", env!("CARGO_MANIFEST_DIR"));
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(!text.is_empty(), "template {t}");
            assert!(!text.contains("card_number") && !text.contains("cc-number"));
            assert!(!text.contains("<script"), "no inline script (CSP): {t}");
        }
    }

    #[test]
    fn form_numbers() {
        assert_eq!(number(" 3 "), 3);
        assert_eq!(number("x"), 0);
        assert_eq!(version("7"), Some(7));
        assert_eq!(version(""), None);
    }
}
