//! The marketplace pages: forms work without JavaScript, every post needs the CSRF
//! token (the registry put the guard there), and strangers get 404 pages.

use super::bearer;
use crate::identity::{csrf_of, user_with_role};
use anyhow::Result;
use rampart_kernel::account::Role;
use rampart_test_support::{both_engines, count_rows, TestApp};
use reqwest::Client;

async fn browser(app: &TestApp, name: &str) -> Result<Client> {
    crate::identity::web_login(app, 30, name, None, "/stores").await
}

async fn browser_with(app: &TestApp, name: &str, totp: &str) -> Result<Client> {
    crate::identity::web_login(app, 30, name, Some(totp), "/stores").await
}

async fn store_forms_need_csrf_and_membership(app: TestApp) -> Result<()> {
    user_with_role(&app, "pageseller", Role::Seller).await?;
    let c = browser(&app, "pageseller").await?;
    let page = c.get(app.at("/stores")).send().await?;
    assert_eq!(page.status(), 200);
    let t = csrf_of(&page.text().await?);
    // Without the token: refused, nothing created.
    let r = c
        .post(app.at("/stores"))
        .form(&[("name", "Forms"), ("currency", "EUR")])
        .send()
        .await?;
    assert_eq!(r.status(), 403);
    assert_eq!(count_rows(app.db(), "stores").await?, 0);
    let r = c
        .post(app.at("/stores"))
        .form(&[
            ("csrf_token", t.as_str()),
            ("name", "Forms"),
            ("currency", "EUR"),
            ("auto_release_days", "14"),
        ])
        .send()
        .await?;
    assert_eq!(r.status(), 303);
    let location = r.headers()["location"].to_str()?.to_owned();
    let store_path = location.split('?').next().unwrap_or_default().to_owned();
    let page = c.get(app.at(&store_path)).send().await?;
    assert_eq!(page.status(), 200);
    let html = page.text().await?;
    assert!(html.contains("Forms"));
    let t = csrf_of(&html);
    let r = c
        .post(app.at(&format!("{store_path}/items")))
        .form(&[
            ("csrf_token", t.as_str()),
            ("title", "Kettle"),
            ("price_minor", "2500"),
            ("stock", "2"),
            ("status", "active"),
        ])
        .send()
        .await?;
    assert_eq!(r.status(), 303);
    assert_eq!(count_rows(app.db(), "items").await?, 1);
    // A bad price is shown on the page, not stored.
    let r = c
        .post(app.at(&format!("{store_path}/items")))
        .form(&[
            ("csrf_token", t.as_str()),
            ("title", "Kettle"),
            ("price_minor", "cheap"),
        ])
        .send()
        .await?;
    assert_eq!(r.status(), 422);
    assert_eq!(count_rows(app.db(), "items").await?, 1);
    // The item is in the public catalog page; a stranger's browser gets 404 for the store.
    let html = app.get("/items").await?.text().await?;
    assert!(html.contains("Kettle") && html.contains("25.00 EUR"));
    let (_, _) = bearer(&app, "pagestranger", Role::Customer).await?;
    let s = browser(&app, "pagestranger").await?;
    let r = s.get(app.at(&store_path)).send().await?;
    assert_eq!(r.status(), 404);
    // Signed out: the page asks for a login.
    let r = app.get("/stores").await?;
    assert_eq!(r.status(), 303);
    Ok(())
}

/// The purchase pages: the Buy form, the transaction page whose buttons follow the
/// policy and the state, CSRF on every form, strangers get 404, strings in Estonian.
async fn buying_through_the_pages(app: TestApp) -> Result<()> {
    let (_, owner) = bearer(&app, "pageshop", Role::Seller).await?;
    bearer(&app, "pagebuyer", Role::Customer).await?;
    let (_, _, staff_secret) = crate::trust::with_totp(&app, "pagestaff", Role::Staff).await?;
    bearer(&app, "pagenosy", Role::Customer).await?;
    let store = super::open_store(&app, &owner, "Paged").await?;
    let item = super::add_item(
        &app,
        &owner,
        &store,
        serde_json::json!({"title": "Teapot", "price_minor": 1500, "stock": 3, "status": "active"}),
    )
    .await?;
    let b = browser(&app, "pagebuyer").await?;
    let html = b
        .get(app.at(&format!("/items/{item}")))
        .send()
        .await?
        .text()
        .await?;
    assert!(
        html.contains(&format!("action=\"/items/{item}/buy\"")),
        "{html}"
    );
    let t = csrf_of(&html);
    // Signed out: no Buy form.
    let html = app.get(&format!("/items/{item}")).await?.text().await?;
    assert!(!html.contains("/buy\""));
    // No token: refused, nothing bought.
    let r = b
        .post(app.at(&format!("/items/{item}/buy")))
        .form(&[("quantity", "1")])
        .send()
        .await?;
    assert_eq!(r.status(), 403);
    assert_eq!(count_rows(app.db(), "escrow_transactions").await?, 0);
    for (q, status) in [("0", 422), ("abc", 422), ("9", 409)] {
        let r = b
            .post(app.at(&format!("/items/{item}/buy")))
            .form(&[("csrf_token", t.as_str()), ("quantity", q)])
            .send()
            .await?;
        assert_eq!(r.status(), status, "{q}");
    }
    assert_eq!(count_rows(app.db(), "escrow_transactions").await?, 0);
    let r = b
        .post(app.at(&format!("/items/{item}/buy")))
        .form(&[("csrf_token", t.as_str()), ("quantity", "2")])
        .send()
        .await?;
    assert_eq!(r.status(), 303);
    let location = r.headers()["location"].to_str()?.to_owned();
    let txn_path = location.split('?').next().unwrap_or_default().to_owned();
    let html = b.get(app.at(&location)).send().await?.text().await?;
    assert!(
        html.contains("Awaiting payment") && html.contains("30.00 EUR"),
        "{html}"
    );
    assert!(!html.contains("/ship\"") && !html.contains("/fund\""));
    let html = b.get(app.at("/purchases")).send().await?.text().await?;
    assert!(
        html.contains(&txn_path) && html.contains("Teapot"),
        "{html}"
    );

    // A stranger: 404 for the page and its forms; nothing changes.
    let n = browser(&app, "pagenosy").await?;
    let nt = csrf_of(&n.get(app.at("/purchases")).send().await?.text().await?);
    assert_eq!(n.get(app.at(&txn_path)).send().await?.status(), 404);
    for a in ["ship", "release", "cancel", "fund"] {
        let r = n
            .post(app.at(&format!("{txn_path}/{a}")))
            .form(&[("csrf_token", nt.as_str())])
            .send()
            .await?;
        assert_eq!(r.status(), 404, "{a}");
    }
    assert_eq!(
        count_rows(
            app.db(),
            "escrow_transactions WHERE state = 'pending_payment'"
        )
        .await?,
        1
    );

    // Staff fund, the store ships, the buyer confirms receipt.
    app.clock.advance_secs(30);
    let st = browser_with(
        &app,
        "pagestaff",
        &crate::identity::totp_now(&app, &staff_secret, 0),
    )
    .await?;
    let html = st.get(app.at(&txn_path)).send().await?.text().await?;
    assert!(
        html.contains(&format!("action=\"{txn_path}/fund\"")),
        "{html}"
    );
    let r = st
        .post(app.at(&format!("{txn_path}/fund")))
        .form(&[("csrf_token", csrf_of(&html).as_str())])
        .send()
        .await?;
    assert_eq!(r.status(), 303);
    let s = browser(&app, "pageshop").await?;
    let html = s
        .get(app.at(&format!("/stores/{store}/sales")))
        .send()
        .await?
        .text()
        .await?;
    assert!(html.contains(&txn_path), "{html}");
    let html = s.get(app.at(&txn_path)).send().await?.text().await?;
    assert!(
        html.contains(&format!("action=\"{txn_path}/ship\"")),
        "{html}"
    );
    assert!(!html.contains("/release\""));
    let r = s
        .post(app.at(&format!("{txn_path}/ship")))
        .form(&[("csrf_token", csrf_of(&html).as_str())])
        .send()
        .await?;
    assert_eq!(r.status(), 303);
    // Shipping again: the page says why (409), nothing changes.
    let r = s
        .post(app.at(&format!("{txn_path}/ship")))
        .form(&[("csrf_token", csrf_of(&html).as_str())])
        .send()
        .await?;
    assert_eq!(r.status(), 409);
    let html = b
        .get(app.at(&txn_path))
        .header("accept-language", "et")
        .send()
        .await?
        .text()
        .await?;
    assert!(
        html.contains("Kinnita kättesaamine") && html.contains("Ava vaidlus"),
        "{html}"
    );
    let r = b
        .post(app.at(&format!("{txn_path}/release")))
        .form(&[("csrf_token", csrf_of(&html).as_str())])
        .send()
        .await?;
    assert_eq!(r.status(), 303);
    let html = b.get(app.at(&txn_path)).send().await?.text().await?;
    assert!(
        html.contains("Waiting") && html.contains("Shipped"),
        "{html}"
    );
    assert!(!html.contains("/release\""));
    Ok(())
}

both_engines!(
    store_forms_need_csrf_and_membership,
    buying_through_the_pages
);
