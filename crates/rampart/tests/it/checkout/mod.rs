//! Storefront checkout and payments (issue 10, E1–E5, B3) over HTTP, as a hostile
//! client would try them: other people's carts and intents, tampered amounts and
//! currencies, completion before payment, forged, stale and replayed webhooks,
//! racing completions and buyers, the binding rate limits, Idempotency-Key misuse.
//! Every refusal is followed by a re-read proving nothing changed.

mod bypasses;
mod carts;
mod frozen;
mod payments;
mod races;
mod refunds;
mod rule_inputs;
mod webhooks;

use crate::identity::parts;
use crate::market::{add_item, bearer, call, open_store};
use anyhow::Result;
use rampart_checkout::payment::sandbox::{Sandbox, SandboxEvent};
use rampart_checkout::payment::AnyProvider;
use rampart_kernel::account::Role;
use rampart_test_support::{count_rows, TestApp};
use reqwest::Method;
use serde_json::{json, Value};

/// A store with one active item; returns (owner token, store, item).
pub async fn shop(
    app: &TestApp,
    name: &str,
    price: i64,
    stock: i64,
) -> Result<(String, String, String)> {
    let (_, owner) = bearer(app, name, Role::Seller).await?;
    let store = open_store(app, &owner, name).await?;
    let item = add_item(
        app,
        &owner,
        &store,
        json!({"title": format!("{name} item"), "price_minor": price, "stock": stock, "status": "active"}),
    )
    .await?;
    Ok((owner, store, item))
}

/// `method path` with a bearer token; status and JSON.
pub async fn api(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Result<(u16, Value)> {
    parts(call(app, method, path, token, body).await?).await
}

/// `GET /v1/carts/{cart}` with a bearer token; status and JSON.
pub async fn get_cart(app: &TestApp, token: &str, cart: &str) -> Result<(u16, Value)> {
    api(
        app,
        Method::GET,
        &format!("/v1/carts/{cart}"),
        Some(token),
        None,
    )
    .await
}

/// A new cart of the customer; returns its ID.
pub async fn new_cart(app: &TestApp, token: &str) -> Result<String> {
    let (st, v) = api(app, Method::POST, "/v1/carts", Some(token), None).await?;
    assert_eq!(st, 201, "{v}");
    Ok(v["id"].as_str().unwrap_or_default().to_owned())
}

/// Adds `quantity` of `item`.
pub async fn add(
    app: &TestApp,
    token: &str,
    cart: &str,
    item: &str,
    quantity: i64,
) -> Result<(u16, Value)> {
    api(
        app,
        Method::POST,
        &format!("/v1/carts/{cart}/line-items"),
        Some(token),
        Some(json!({"item_id": item, "quantity": quantity})),
    )
    .await
}

/// Creates (or gets again) the cart's payment intent.
pub async fn intent(app: &TestApp, token: &str, cart: &str) -> Result<(u16, Value)> {
    api(
        app,
        Method::POST,
        &format!("/v1/carts/{cart}/payment-intent"),
        Some(token),
        None,
    )
    .await
}

/// The intent's client secret, as the payment-intent answer gave it to the payer.
pub async fn client_secret(app: &TestApp, pi: &str) -> Result<String> {
    use rampart_checkout::payment::{IntentId, PaymentProvider};
    let i = sandbox(app).retrieve_intent(&IntentId::parse(pi)?).await?;
    Ok(i.client_secret
        .map(|s| s.expose().to_owned())
        .unwrap_or_default())
}

/// The sandbox's client-side confirmation with a test token (and the client secret).
pub async fn confirm(app: &TestApp, pi: &str, token: &str) -> Result<(u16, Value)> {
    let secret = client_secret(app, pi).await?;
    api(
        app,
        Method::POST,
        &format!("/v1/sandbox/payment-intents/{pi}/confirm"),
        None,
        Some(json!({"token": token, "client_secret": secret})),
    )
    .await
}

/// Completes the cart (optionally naming an intent).
pub async fn complete(
    app: &TestApp,
    token: &str,
    cart: &str,
    pi: Option<&str>,
) -> Result<(u16, Value)> {
    let body = pi.map(|p| json!({"payment_intent_id": p}));
    api(
        app,
        Method::POST,
        &format!("/v1/carts/{cart}/complete"),
        Some(token),
        body,
    )
    .await
}

/// A cart with `quantity` of `item`, paid with `tok_visa`; returns (cart, intent).
pub async fn paid_cart(
    app: &TestApp,
    token: &str,
    item: &str,
    quantity: i64,
) -> Result<(String, String)> {
    let cart = new_cart(app, token).await?;
    let (st, v) = add(app, token, &cart, item, quantity).await?;
    assert_eq!(st, 200, "{v}");
    let (st, i) = intent(app, token, &cart).await?;
    assert_eq!(st, 201, "{i}");
    let pi = i["id"].as_str().unwrap_or_default().to_owned();
    let (st, c) = confirm(app, &pi, "tok_visa").await?;
    assert_eq!((st, c["status"].as_str()), (200, Some("succeeded")), "{c}");
    Ok((cart, pi))
}

/// The sandbox behind the app.
pub fn sandbox(app: &TestApp) -> &Sandbox {
    match app.state.checkout.provider() {
        AnyProvider::Sandbox(s) => s,
        AnyProvider::Stripe(_) => panic!("tests run on the sandbox"),
    }
}

/// The events the sandbox queued since the last call.
pub fn take_events(app: &TestApp) -> Vec<SandboxEvent> {
    sandbox(app).take_events()
}

/// POSTs a webhook body with a signature header.
pub async fn deliver(app: &TestApp, body: Vec<u8>, signature: &str) -> Result<(u16, Value)> {
    let r = crate::identity::fresh_client(app)
        .post(app.at("/v1/webhooks/payments/sandbox"))
        .header("content-type", "application/json")
        .header("stripe-signature", signature)
        .body(body)
        .send()
        .await?;
    parts(r).await
}

/// Rows in `table` matching `where_`.
pub async fn rows(app: &TestApp, table_where: &str) -> Result<i64> {
    count_rows(app.db(), table_where).await
}

/// A customer's bearer token.
pub async fn customer(app: &TestApp, name: &str) -> Result<(String, String)> {
    bearer(app, name, Role::Customer).await
}

/// A visitor's cart with `lines`, then a sign-in as `login` from that browser.
pub async fn visit_and_login(
    app: &TestApp,
    login: &str,
    lines: Vec<(String, i64)>,
) -> Result<String> {
    let visitor = crate::identity::fresh_client(app);
    visit_and_login_in(app, &visitor, None, login, lines).await
}

/// [`visit_and_login`] in `visitor`'s browser; `csrf` is the token of the cart cookie it
/// already holds, if any (a new cart then replaces that cookie, and the call needs it).
pub async fn visit_and_login_in(
    app: &TestApp,
    visitor: &reqwest::Client,
    csrf: Option<&str>,
    login: &str,
    lines: Vec<(String, i64)>,
) -> Result<String> {
    let mut new_cart = visitor.post(app.at("/v1/carts"));
    if let Some(t) = csrf {
        new_cart = new_cart.header("x-csrf-token", t);
    }
    let (st, c) = crate::identity::parts(new_cart.send().await?).await?;
    assert_eq!(
        st, 201,
        "a new visitor cart (replacing any cart cookie): {c}"
    );
    let cart = c["id"].as_str().unwrap_or_default().to_owned();
    let csrf = c["csrf_token"].as_str().unwrap_or_default().to_owned();
    for (i, q) in lines {
        let r = visitor
            .post(app.at(&format!("/v1/carts/{cart}/line-items")))
            .header("x-csrf-token", &csrf)
            .json(&json!({"item_id": i, "quantity": q}))
            .send()
            .await?;
        assert_eq!(r.status(), 200);
    }
    let r = visitor
        .post(app.at("/v1/auth/token"))
        .header("x-csrf-token", &csrf)
        .json(&json!({"login": login, "password": crate::identity::PW, "client": "native"}))
        .send()
        .await?;
    assert_eq!(r.status(), 200);
    Ok(cart)
}
