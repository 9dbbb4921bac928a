//! The marketplace pages: forms work without JavaScript, every post needs the CSRF
//! token (the registry put the guard there), and strangers get 404 pages.

use super::bearer;
use crate::identity::{fresh_ip, user_with_role, PW};
use anyhow::Result;
use rampart_kernel::account::Role;
use rampart_test_support::{both_engines, count_rows, TestApp};
use reqwest::Client;

fn csrf_of(html: &str) -> String {
    let marker = "name=\"csrf_token\" value=\"";
    html.find(marker)
        .map(|i| i + marker.len())
        .and_then(|s| html[s..].find('"').map(|e| html[s..s + e].to_owned()))
        .unwrap_or_default()
}

/// Logs `name` in through the login form; the client keeps the session cookie.
async fn browser(app: &TestApp, name: &str) -> Result<Client> {
    let c = app.client_from(&fresh_ip(30));
    let t = csrf_of(&c.get(app.at("/login")).send().await?.text().await?);
    let r = c
        .post(app.at("/login"))
        .form(&[
            ("csrf_token", t.as_str()),
            ("login", name),
            ("password", PW),
            ("next", "/stores"),
        ])
        .send()
        .await?;
    assert_eq!(r.status(), 303);
    Ok(c)
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

both_engines!(store_forms_need_csrf_and_membership);
