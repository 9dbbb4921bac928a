//! The storefront pages (issue 10) as a browser and a hostile client use them: an
//! anonymous visitor's cart held by the cart cookie and merged at login, the checkout
//! steps through to a funded escrow, a declined payment that leaves no order, forms
//! without the CSRF token refused with nothing changed, localized rule violations,
//! and another customer's order answered 404.

use crate::identity::{csrf_of, fresh_ip, user, PW};
use crate::market::{add_item, bearer, open_store};
use anyhow::Result;
use rampart_kernel::account::Role;
use rampart_test_support::{both_engines, count_rows, TestApp};
use reqwest::Client;
use serde_json::json;

/// A seller's store with one active item; returns the item's ID.
async fn item(app: &TestApp, seller: &str, title: &str, price: i64, stock: i64) -> Result<String> {
    let (_, owner) = bearer(app, seller, Role::Seller).await?;
    let store = open_store(app, &owner, &format!("{title} shop")).await?;
    add_item(
        app,
        &owner,
        &store,
        json!({"title": title, "price_minor": price, "stock": stock, "status": "active"}),
    )
    .await
}

/// Signs `c` in through the login form (the client keeps its other cookies).
async fn sign_in(app: &TestApp, c: &Client, name: &str) -> Result<()> {
    let t = csrf_of(&c.get(app.at("/login")).send().await?.text().await?);
    let r = c
        .post(app.at("/login"))
        .form(&[
            ("csrf_token", t.as_str()),
            ("login", name),
            ("password", PW),
            ("totp", ""),
            ("next", "/cart"),
        ])
        .send()
        .await?;
    assert_eq!(r.status(), 303, "login of {name}");
    Ok(())
}

async fn page(app: &TestApp, c: &Client, path: &str) -> Result<(u16, String)> {
    let r = c.get(app.at(path)).send().await?;
    Ok((r.status().as_u16(), r.text().await?))
}

async fn post(
    app: &TestApp,
    c: &Client,
    path: &str,
    form: &[(&str, &str)],
) -> Result<reqwest::Response> {
    Ok(c.post(app.at(path)).form(form).send().await?)
}

fn location(r: &reqwest::Response) -> String {
    r.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

const ADDRESS: &[(&str, &str)] = &[
    ("customer_type", "consumer"),
    ("billing_name", "Mari Maasikas"),
    ("billing_line1", "Pikk 1"),
    ("billing_postal_code", "10123"),
    ("billing_city", "Tallinn"),
    ("billing_country", "EE"),
    ("same_address", "1"),
];

async fn anonymous_cart_merges_at_login_and_checkout_funds_escrow(app: TestApp) -> Result<()> {
    let item = item(&app, "cpseller", "Teapot", 1500, 5).await?;
    let buyer = user(&app, "cpbuyer").await?;
    let c = app.client_from(&fresh_ip(41));

    // An anonymous visitor sees the Add to cart form.
    let (st, html) = page(&app, &c, &format!("/items/{item}")).await?;
    assert_eq!(st, 200);
    assert!(html.contains("action=\"/cart/add\""), "{html}");
    let t = csrf_of(&html);

    // Without the token: refused, no cart made.
    let r = post(
        &app,
        &c,
        "/cart/add",
        &[("item_id", &item), ("quantity", "2")],
    )
    .await?;
    assert_eq!(r.status(), 403);
    assert_eq!(count_rows(app.db(), "carts").await?, 0);

    // With it: the cart cookie holds a new visitor cart.
    let r = post(
        &app,
        &c,
        "/cart/add",
        &[("csrf_token", &t), ("item_id", &item), ("quantity", "2")],
    )
    .await?;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/cart?notice=cart_added");
    let (st, html) = page(&app, &c, "/cart").await?;
    assert_eq!(st, 200);
    assert!(html.contains("Teapot") && html.contains("30.00"), "{html}");
    assert_eq!(
        count_rows(
            app.db(),
            "carts WHERE owner_user_id IS NULL AND status = 'open'"
        )
        .await?,
        1
    );

    // Another visitor sees an empty cart, and cannot change this one.
    let other = app.client_from(&fresh_ip(41));
    let (_, html2) = page(&app, &other, "/cart").await?;
    assert!(html2.contains("Your cart is empty"), "{html2}");
    let (_, item_html) = page(&app, &other, &format!("/items/{item}")).await?;
    let t2 = csrf_of(&item_html);
    assert!(!t2.is_empty());
    let r = post(
        &app,
        &other,
        &format!("/cart/lines/{item}"),
        &[("csrf_token", &t2), ("quantity", "9")],
    )
    .await?;
    assert_eq!(r.status(), 404);
    assert_eq!(
        count_rows(app.db(), "cart_lines WHERE quantity = 2").await?,
        1
    );

    // The quantity form needs the token too; with it the line changes.
    let r = post(
        &app,
        &c,
        &format!("/cart/lines/{item}"),
        &[("quantity", "3")],
    )
    .await?;
    assert_eq!(r.status(), 403);
    assert_eq!(
        count_rows(app.db(), "cart_lines WHERE quantity = 2").await?,
        1
    );
    let t = csrf_of(&html);
    let r = post(
        &app,
        &c,
        &format!("/cart/lines/{item}"),
        &[("csrf_token", &t), ("quantity", "1")],
    )
    .await?;
    assert_eq!(r.status(), 303);
    assert_eq!(
        count_rows(app.db(), "cart_lines WHERE quantity = 1").await?,
        1
    );

    // Checkout needs a sign-in; signing in merges the visitor's cart.
    let r = c.get(app.at("/checkout/address")).send().await?;
    assert_eq!(r.status(), 303);
    assert!(location(&r).starts_with("/login"));
    sign_in(&app, &c, "cpbuyer").await?;
    let (_, html) = page(&app, &c, "/cart").await?;
    assert!(html.contains("Teapot") && html.contains("15.00"), "{html}");
    assert_eq!(
        count_rows(
            app.db(),
            &format!("carts WHERE owner_user_id = '{buyer}' AND status = 'open'")
        )
        .await?,
        1
    );

    // Address → shipping → payment.
    let (st, html) = page(&app, &c, "/checkout/address").await?;
    assert_eq!(st, 200);
    let t = csrf_of(&html);
    let mut form = vec![("csrf_token", t.as_str())];
    form.extend_from_slice(ADDRESS);
    let r = post(&app, &c, "/checkout/address", &form).await?;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/checkout/shipping");
    let (st, _) = page(&app, &c, "/checkout/shipping").await?;
    assert_eq!(st, 200);
    let r = post(&app, &c, "/checkout/shipping", &[("csrf_token", &t)]).await?;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/checkout/payment");
    let (st, html) = page(&app, &c, "/checkout/payment").await?;
    assert_eq!(st, 200);
    assert!(!html.contains("card_number") && html.contains("name=\"outcome\""));

    // A declined payment: the message, and no order.
    let r = post(
        &app,
        &c,
        "/checkout/payment",
        &[("csrf_token", &t), ("outcome", "decline")],
    )
    .await?;
    assert_eq!(r.status(), 402);
    let html = r.text().await?;
    assert!(html.contains("role=\"alert\""), "{html}");
    assert_eq!(count_rows(app.db(), "orders").await?, 0);

    // Success: one order, its escrow funded, shown on the order page and in history.
    let r = post(
        &app,
        &c,
        "/checkout/payment",
        &[("csrf_token", &t), ("outcome", "success")],
    )
    .await?;
    assert_eq!(r.status(), 303);
    let to = location(&r);
    assert!(
        to.starts_with("/orders/") && to.ends_with("?notice=order_placed"),
        "{to}"
    );
    let order = to
        .trim_start_matches("/orders/")
        .split('?')
        .next()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(count_rows(app.db(), "orders").await?, 1);
    let (st, html) = page(&app, &c, &to).await?;
    assert_eq!(st, 200);
    assert!(html.contains("data-state=\"funded\""), "{html}");
    assert!(html.contains("Teapot") && html.contains("••••"), "{html}");
    let (_, html) = page(&app, &c, "/orders").await?;
    assert!(html.contains(&order));
    // The cart is closed: its page is empty again.
    let (_, html) = page(&app, &c, "/cart").await?;
    assert!(html.contains("Your cart is empty"), "{html}");

    // Another customer: 404 for the order, empty history.
    user(&app, "cpstranger").await?;
    let s = app.client_from(&fresh_ip(42));
    sign_in(&app, &s, "cpstranger").await?;
    let (st, _) = page(&app, &s, &format!("/orders/{order}")).await?;
    assert_eq!(st, 404);
    let (st, _) = page(&app, &s, "/orders/not-an-order").await?;
    assert_eq!(st, 404);
    let (_, html) = page(&app, &s, "/orders").await?;
    assert!(!html.contains(&order));
    Ok(())
}

async fn checkout_forms_need_csrf_and_rules_speak_the_buyers_language(app: TestApp) -> Result<()> {
    let item = item(&app, "cpseller2", "Kettle", 2500, 3).await?;
    user(&app, "cpbuyer2").await?;
    let c = app.client_from(&fresh_ip(43));
    sign_in(&app, &c, "cpbuyer2").await?;
    let (_, html) = page(&app, &c, &format!("/items/{item}")).await?;
    let t = csrf_of(&html);
    let r = post(
        &app,
        &c,
        "/cart/add",
        &[("csrf_token", &t), ("item_id", &item), ("quantity", "1")],
    )
    .await?;
    assert_eq!(r.status(), 303);

    // No token: each form is refused and nothing changed.
    let r = post(&app, &c, &format!("/cart/lines/{item}/remove"), &[]).await?;
    assert_eq!(r.status(), 403);
    assert_eq!(count_rows(app.db(), "cart_lines").await?, 1);
    let r = post(&app, &c, "/checkout/address", ADDRESS).await?;
    assert_eq!(r.status(), 403);
    assert_eq!(
        count_rows(app.db(), "carts WHERE billing_address IS NOT NULL").await?,
        0
    );
    let r = post(&app, &c, "/checkout/payment", &[("outcome", "success")]).await?;
    assert_eq!(r.status(), 403);
    assert_eq!(count_rows(app.db(), "payment_intents").await?, 0);
    assert_eq!(count_rows(app.db(), "orders").await?, 0);

    // A business buyer without company name and VAT ID: the rule messages, localized.
    let mut form = vec![("csrf_token", t.as_str())];
    form.extend(ADDRESS.iter().filter(|(k, _)| *k != "customer_type"));
    form.push(("customer_type", "business"));
    let r = c
        .post(app.at("/checkout/address"))
        .header("accept-language", "et")
        .form(&form)
        .send()
        .await?;
    assert_eq!(r.status(), 422);
    let html = r.text().await?;
    assert!(html.contains("Ettevõtte nimi on kohustuslik"), "{html}");
    // Paying is refused by the same rules: no intent, no order.
    let r = post(
        &app,
        &c,
        "/checkout/payment",
        &[("csrf_token", &t), ("outcome", "success")],
    )
    .await?;
    assert_eq!(r.status(), 422);
    assert!(r.text().await?.contains("company name is required"));
    assert_eq!(count_rows(app.db(), "payment_intents").await?, 0);
    assert_eq!(count_rows(app.db(), "orders").await?, 0);

    // An unknown outcome is a message, not a 500.
    let r = post(
        &app,
        &c,
        "/checkout/payment",
        &[("csrf_token", &t), ("outcome", "4242424242424242")],
    )
    .await?;
    assert_eq!(r.status(), 422);

    // Removing with the token works.
    let r = post(
        &app,
        &c,
        &format!("/cart/lines/{item}/remove"),
        &[("csrf_token", &t)],
    )
    .await?;
    assert_eq!(r.status(), 303);
    assert_eq!(count_rows(app.db(), "cart_lines").await?, 0);
    // An empty cart cannot be checked out.
    let r = c.get(app.at("/checkout/payment")).send().await?;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/cart?notice=cart_empty");
    Ok(())
}

/// E4 inputs through the seller's forms (store settings, item editor, new item),
/// refused per field and kept unchanged on bad input, shown on the item page; E1 the
/// merge at login tells the buyer on /cart what it capped, until the cart changes.
async fn seller_forms_set_rule_inputs_and_cart_shows_merge_notices(app: TestApp) -> Result<()> {
    let (_, owner) = bearer(&app, "rfseller", Role::Seller).await?;
    let store = open_store(&app, &owner, "Rule forms").await?;
    let item = add_item(
        &app,
        &owner,
        &store,
        json!({"title": "Cell", "price_minor": 100, "stock": 200, "status": "active"}),
    )
    .await?;
    let c = crate::identity::web_login(&app, 44, "rfseller", None, "/stores").await?;
    let value = |sql: &str| {
        let app = &app;
        let sql = sql.to_owned();
        async move { rampart_test_support::text_value(app.db(), &sql, "").await }
    };
    let min_order = format!(
        "SELECT COALESCE(CAST(min_order_minor AS TEXT), '-') FROM stores WHERE id = '{store}' AND $1 = ''"
    );
    let attrs = format!(
        "SELECT item_type || '|' || CAST(weight_grams AS TEXT) || '|' || CAST(subscription_only AS TEXT) \
         FROM items WHERE id = '{item}' AND $1 = ''"
    );

    // Store settings: the minimum order.
    let (st, html) = page(&app, &c, &format!("/stores/{store}")).await?;
    assert_eq!(st, 200);
    assert!(html.contains("name=\"min_order_minor\""), "{html}");
    assert!(html.contains("name=\"item_type\""), "{html}");
    let t = csrf_of(&html);
    let settings = |m: &'static str| {
        vec![
            ("csrf_token", t.clone()),
            ("name", "Rule forms".to_owned()),
            ("currency", "EUR".to_owned()),
            ("auto_release_days", "14".to_owned()),
            ("min_order_minor", m.to_owned()),
        ]
    };
    let path = format!("/stores/{store}/settings");
    let r = c.post(app.at(&path)).form(&settings("700")).send().await?;
    assert_eq!(r.status(), 303);
    assert_eq!(value(&min_order).await?.as_deref(), Some("700"));
    let r = c.post(app.at(&path)).form(&settings("0")).send().await?;
    assert_eq!(r.status(), 422);
    assert!(r.text().await?.contains("Minimum order"));
    assert_eq!(value(&min_order).await?.as_deref(), Some("700"));
    let (_, html) = page(&app, &c, &format!("/stores/{store}")).await?;
    assert!(
        html.contains("name=\"min_order_minor\" min=\"1\" value=\"700\""),
        "{html}"
    );
    let r = c.post(app.at(&path)).form(&settings("")).send().await?;
    assert_eq!(r.status(), 303);
    assert_eq!(value(&min_order).await?.as_deref(), Some("-"));

    // The item editor.
    let (st, html) = page(&app, &c, &format!("/items/{item}/edit")).await?;
    assert_eq!(st, 200);
    assert!(html.contains("name=\"weight_grams\""), "{html}");
    let t = csrf_of(&html);
    let edit = |item_type: &'static str, weight: &'static str| {
        vec![
            ("csrf_token", t.clone()),
            ("title", "Cell".to_owned()),
            ("description", String::new()),
            ("price_minor", "100".to_owned()),
            ("status", "active".to_owned()),
            ("item_type", item_type.to_owned()),
            ("weight_grams", weight.to_owned()),
            ("subscription_only", "true".to_owned()),
        ]
    };
    let epath = format!("/items/{item}/edit");
    let r = c
        .post(app.at(&epath))
        .form(&edit("battery", "1500"))
        .send()
        .await?;
    assert_eq!(r.status(), 303);
    assert_eq!(value(&attrs).await?.as_deref(), Some("battery|1500|1"));
    assert_eq!(
        crate::market::audit_count(&app, "item_attributes_change", &item).await?,
        1
    );
    let r = c
        .post(app.at(&epath))
        .form(&edit("no spaces!", "heavy"))
        .send()
        .await?;
    assert_eq!(r.status(), 422);
    let html = r.text().await?;
    assert!(
        html.contains("Item type") && html.contains("Weight"),
        "{html}"
    );
    assert_eq!(value(&attrs).await?.as_deref(), Some("battery|1500|1"));
    let (_, html) = page(&app, &c, &epath).await?;
    assert!(html.contains("value=\"true\" selected"), "{html}");
    // The public item page shows them.
    let (_, html) = page(
        &app,
        &app.client_from(&fresh_ip(44)),
        &format!("/items/{item}"),
    )
    .await?;
    assert!(
        html.contains("battery") && html.contains("1500") && html.contains("Subscribers only"),
        "{html}"
    );
    // A new item with them.
    let r = c
        .post(app.at(&format!("/stores/{store}/items")))
        .form(&[
            ("csrf_token", t.as_str()),
            ("title", "Oil"),
            ("price_minor", "100"),
            ("stock", "200"),
            ("status", "active"),
            ("item_type", "liquid"),
            ("weight_grams", "900"),
            ("subscription_only", "false"),
        ])
        .send()
        .await?;
    assert_eq!(r.status(), 303);
    assert_eq!(
        count_rows(
            app.db(),
            "items WHERE item_type = 'liquid' AND weight_grams = 900 AND subscription_only = 0"
        )
        .await?,
        1
    );

    // The merge at login: the buyer's own cart has 60, the visitor adds 60 more.
    let (_, buyer) = bearer(&app, "rfbuyer", Role::Customer).await?;
    let (st, v) = crate::identity::parts(
        crate::market::call(&app, reqwest::Method::POST, "/v1/carts", Some(&buyer), None).await?,
    )
    .await?;
    assert_eq!(st, 201, "{v}");
    let cart = v["id"].as_str().unwrap_or_default().to_owned();
    let r = crate::market::call(
        &app,
        reqwest::Method::POST,
        &format!("/v1/carts/{cart}/line-items"),
        Some(&buyer),
        Some(json!({"item_id": item, "quantity": 60})),
    )
    .await?;
    assert_eq!(r.status(), 200);
    let v = app.client_from(&fresh_ip(45));
    let (_, html) = page(&app, &v, &format!("/items/{item}")).await?;
    let t = csrf_of(&html);
    let r = post(
        &app,
        &v,
        "/cart/add",
        &[("csrf_token", &t), ("item_id", &item), ("quantity", "60")],
    )
    .await?;
    assert_eq!(r.status(), 303);
    sign_in(&app, &v, "rfbuyer").await?;
    let (st, html) = page(&app, &v, "/cart").await?;
    assert_eq!(st, 200);
    assert!(
        html.contains("class=\"cart-notice\"") && html.contains("Quantity capped at 99"),
        "{html}"
    );
    // Changing the cart retires the notice.
    let t = csrf_of(&html);
    let r = post(
        &app,
        &v,
        &format!("/cart/lines/{item}"),
        &[("csrf_token", &t), ("quantity", "50")],
    )
    .await?;
    assert_eq!(r.status(), 303);
    let (_, html) = page(&app, &v, "/cart").await?;
    assert!(!html.contains("cart-notice"), "{html}");
    Ok(())
}

both_engines!(
    anonymous_cart_merges_at_login_and_checkout_funds_escrow,
    checkout_forms_need_csrf_and_rules_speak_the_buyers_language,
    seller_forms_set_rule_inputs_and_cart_shows_merge_notices,
);
