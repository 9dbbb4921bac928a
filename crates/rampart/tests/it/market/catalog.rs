//! The public catalog: only active items of active stores, newest first, cursor
//! pagination with bounded `limit`, a refused bad cursor, price range and text
//! filters.

use super::{add_item, bearer, call, open_store};
use crate::identity::{expect_problem, parts};
use anyhow::Result;
use rampart_kernel::account::Role;
use rampart_test_support::{both_engines, exec, TestApp};
use reqwest::Method;
use serde_json::{json, Value};

async fn page(app: &TestApp, query: &str) -> Result<(u16, Value)> {
    parts(call(app, Method::GET, &format!("/v1/items{query}"), None, None).await?).await
}

fn titles(v: &Value) -> Vec<String> {
    v["items"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|i| i["title"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

async fn catalog_pages_and_filters(app: TestApp) -> Result<()> {
    let (_, seller) = bearer(&app, "catseller", Role::Seller).await?;
    let store = open_store(&app, &seller, "Open").await?;
    let hidden_store = open_store(&app, &seller, "Suspended").await?;
    for i in 0..5 {
        app.clock.advance_ms(1000);
        add_item(
            &app,
            &seller,
            &store,
            json!({"title": format!("Item {i}"), "price_minor": 100 * (i + 1), "status": "active"}),
        )
        .await?;
    }
    app.clock.advance_ms(1000);
    add_item(
        &app,
        &seller,
        &store,
        json!({"title": "Draft thing", "price_minor": 150}),
    )
    .await?;
    add_item(
        &app,
        &seller,
        &store,
        json!({"title": "100% Wool_Hat", "price_minor": 700, "status": "active"}),
    )
    .await?;
    let gone = add_item(
        &app,
        &seller,
        &store,
        json!({"title": "Archived thing", "price_minor": 150, "status": "active"}),
    )
    .await?;
    let r = call(
        &app,
        Method::POST,
        &format!("/v1/items/{gone}/archive"),
        Some(&seller),
        None,
    )
    .await?;
    assert_eq!(r.status().as_u16(), 200);
    add_item(
        &app,
        &seller,
        &hidden_store,
        json!({"title": "Hidden", "price_minor": 150, "status": "active"}),
    )
    .await?;
    // Staff suspend a store outside this issue; here the row is set directly.
    exec(
        app.db(),
        &format!("UPDATE stores SET status = 'suspended' WHERE id = '{hidden_store}'"),
    )
    .await?;

    // Only active items of active stores, newest first.
    let (st, v) = page(&app, "").await?;
    assert_eq!(st, 200);
    assert_eq!(
        titles(&v),
        [
            "100% Wool_Hat",
            "Item 4",
            "Item 3",
            "Item 2",
            "Item 1",
            "Item 0"
        ]
    );
    assert!(v.get("next_cursor").is_none());

    // Pages of two, following the cursor, cover everything once.
    let mut seen = Vec::new();
    let mut query = "?limit=2".to_owned();
    for _ in 0..10 {
        let (st, v) = page(&app, &query).await?;
        assert_eq!(st, 200, "{v}");
        assert!(titles(&v).len() <= 2);
        seen.extend(titles(&v));
        match v["next_cursor"].as_str() {
            Some(c) => query = format!("?limit=2&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 6);

    // Limit bounds and bad cursors.
    for q in [
        "?limit=0",
        "?limit=101",
        "?limit=x",
        "?cursor=garbage",
        "?cursor=MTIz",
        "?min_price=-1",
        "?min_price=5&max_price=1",
    ] {
        let (st, v) = page(&app, q).await?;
        assert_eq!(
            (st, v["code"].as_str()),
            (422, Some("validation_failed")),
            "{q}: {v}"
        );
    }
    let (st, v) = page(&app, "?limit=100").await?;
    assert_eq!((st, titles(&v).len()), (200, 6));

    // Price range and text query (LIKE wildcards are literal).
    let (_, v) = page(&app, "?min_price=200&max_price=400").await?;
    assert_eq!(titles(&v), ["Item 3", "Item 2", "Item 1"]);
    let (_, v) = page(&app, "?q=wool").await?;
    assert_eq!(titles(&v), ["100% Wool_Hat"]);
    let (_, v) = page(&app, "?q=%25").await?;
    assert_eq!(titles(&v), ["100% Wool_Hat"]);
    let (_, v) = page(&app, "?q=_").await?;
    assert_eq!(titles(&v), ["100% Wool_Hat"]);
    let (_, v) = page(&app, &format!("?store={hidden_store}")).await?;
    assert_eq!(titles(&v).len(), 0);
    let (_, v) = page(&app, &format!("?store={store}&q=item&limit=1")).await?;
    assert_eq!(titles(&v), ["Item 4"]);

    // The catalog page renders the same list.
    let r = app.get("/items?q=wool").await?;
    assert_eq!(r.status().as_u16(), 200);
    let html = r.text().await?;
    assert!(html.contains("100% Wool_Hat") && !html.contains("Item 4"));
    let r = app.get("/items?cursor=garbage").await?;
    assert_eq!(r.status().as_u16(), 422);
    let r = call(&app, Method::GET, "/v1/items/not-an-id", None, None).await?;
    expect_problem(r, 404, "not_found").await?;
    Ok(())
}

both_engines!(catalog_pages_and_filters);
