//! Marketplace tests (D1, D2, C1), as an attacker would try them: strangers, members
//! of other stores, clerks where a manager is needed and anonymous callers are
//! refused (404 for what they may not know, 403 for what they know), and the
//! database is re-read to prove nothing changed.

mod catalog;
pub mod disputes;
mod matrix;
mod pages;
mod purchases;
mod review;
mod rls;

use crate::identity::{expect_problem, fresh_client, login, parts, user, user_with_role, PW};
use anyhow::Result;
use rampart_kernel::account::Role;
use rampart_test_support::{both_engines, count_rows, text_value, TestApp};
use serde_json::{json, Value};

/// A signed-in user's bearer token.
pub async fn bearer(app: &TestApp, name: &str, role: Role) -> Result<(String, String)> {
    let id = if role == Role::Customer {
        user(app, name).await?
    } else {
        user_with_role(app, name, role).await?
    };
    let t = login(app, name, PW).await?;
    Ok((
        id,
        t["access_token"].as_str().unwrap_or_default().to_owned(),
    ))
}

/// `method path` with a bearer token (or none) and a JSON body.
pub async fn call(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Result<reqwest::Response> {
    let mut r = fresh_client(app).request(method, app.at(path));
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    if let Some(b) = body {
        r = r.json(&b);
    }
    Ok(r.send().await?)
}

/// Opens a store as `token`; returns its ID.
pub async fn open_store(app: &TestApp, token: &str, name: &str) -> Result<String> {
    let (st, v) = parts(
        call(
            app,
            reqwest::Method::POST,
            "/v1/stores",
            Some(token),
            Some(json!({"name": name, "currency": "EUR"})),
        )
        .await?,
    )
    .await?;
    assert_eq!(st, 201, "{v}");
    Ok(v["id"].as_str().unwrap_or_default().to_owned())
}

/// Creates an item; returns its ID.
pub async fn add_item(app: &TestApp, token: &str, store: &str, body: Value) -> Result<String> {
    let (st, v) = parts(
        call(
            app,
            reqwest::Method::POST,
            &format!("/v1/stores/{store}/items"),
            Some(token),
            Some(body),
        )
        .await?,
    )
    .await?;
    assert_eq!(st, 201, "{v}");
    Ok(v["id"].as_str().unwrap_or_default().to_owned())
}

/// Adds `username` to a store with `role`.
pub async fn add_member(
    app: &TestApp,
    token: &str,
    store: &str,
    username: &str,
    role: &str,
) -> Result<u16> {
    let r = call(
        app,
        reqwest::Method::POST,
        &format!("/v1/stores/{store}/members"),
        Some(token),
        Some(json!({"username": username, "role": role})),
    )
    .await?;
    Ok(r.status().as_u16())
}

pub async fn audit_count(app: &TestApp, action: &str, target: &str) -> Result<i64> {
    count_rows(
        app.db(),
        &format!("audit_log WHERE action_type = '{action}' AND target_id = '{target}'"),
    )
    .await
}

async fn item_field(app: &TestApp, item: &str, column: &str) -> Result<String> {
    Ok(text_value(
        app.db(),
        &format!("SELECT CAST({column} AS TEXT) FROM items WHERE id = $1"),
        item,
    )
    .await?
    .unwrap_or_default())
}

/// D1: the route's permission is checked against the role → permission table by the
/// auth guard: a customer, and a support agent (above seller in role order, but
/// without `create_store`), get 404 and no store is created; a seller may.
async fn permission_is_enforced_by_the_guard(app: TestApp) -> Result<()> {
    use reqwest::Method;
    let (_, customer) = bearer(&app, "cust", Role::Customer).await?;
    let (_, support) = bearer(&app, "supp", Role::Support).await?;
    let (_, seller) = bearer(&app, "sell", Role::Seller).await?;
    let body = json!({"name": "Shop", "currency": "EUR"});
    for t in [&customer, &support] {
        let r = call(
            &app,
            Method::POST,
            "/v1/stores",
            Some(t),
            Some(body.clone()),
        )
        .await?;
        expect_problem(r, 404, "not_found").await?;
    }
    let r = call(&app, Method::POST, "/v1/stores", None, Some(body.clone())).await?;
    assert_eq!(r.status().as_u16(), 401);
    assert_eq!(count_rows(app.db(), "stores").await?, 0);
    open_store(&app, &seller, "Shop").await?;
    assert_eq!(count_rows(app.db(), "stores").await?, 1);
    assert_eq!(
        count_rows(app.db(), "store_members WHERE role = 'owner'").await?,
        1
    );
    Ok(())
}

/// D9/C1: grant_seller is a staff action, audited; a customer calling it gets 404.
async fn grant_seller_is_an_audited_staff_action(app: TestApp) -> Result<()> {
    use reqwest::Method;
    let (target, _) = bearer(&app, "wannabe", Role::Customer).await?;
    let (_, customer) = bearer(&app, "other", Role::Customer).await?;
    let staff = crate::trust::staff_with_totp(&app, "mod").await?;
    let path = format!("/v1/admin/users/{target}/grant-seller");
    let r = call(&app, Method::POST, &path, Some(&customer), None).await?;
    expect_problem(r, 404, "not_found").await?;
    assert_eq!(audit_count(&app, "grant_seller", &target).await?, 0);
    let r = call(&app, Method::POST, &path, Some(&staff), None).await?;
    assert_eq!(r.status().as_u16(), 204);
    assert_eq!(audit_count(&app, "grant_seller", &target).await?, 1);
    let role = text_value(app.db(), "SELECT role FROM users WHERE id = $1", &target).await?;
    assert_eq!(role.as_deref(), Some("seller"));
    // Never a demotion: a second grant (or a grant to staff) is refused.
    let r = call(&app, Method::POST, &path, Some(&staff), None).await?;
    expect_problem(r, 409, "conflict").await?;
    assert_eq!(audit_count(&app, "grant_seller", &target).await?, 1);
    Ok(())
}

/// D1/D2: strangers, members of other stores, clerks and anonymous callers are
/// refused, and nothing changes.
async fn strangers_and_small_roles_are_refused(app: TestApp) -> Result<()> {
    use reqwest::Method;
    let (_, owner) = bearer(&app, "owner", Role::Seller).await?;
    let (_, other_owner) = bearer(&app, "rival", Role::Seller).await?;
    let (_, customer) = bearer(&app, "nosy", Role::Customer).await?;
    let (_, clerk) = bearer(&app, "clerk", Role::Customer).await?;
    let store = open_store(&app, &owner, "Mine").await?;
    let _rival_store = open_store(&app, &other_owner, "Theirs").await?;
    let item = add_item(
        &app,
        &owner,
        &store,
        json!({"title": "Lamp", "price_minor": 1000, "stock": 3, "status": "active"}),
    )
    .await?;
    let draft = add_item(
        &app,
        &owner,
        &store,
        json!({"title": "Secret", "price_minor": 50}),
    )
    .await?;
    assert_eq!(
        add_member(&app, &owner, &store, "clerk", "clerk").await?,
        200
    );

    let before_items = count_rows(app.db(), "items").await?;
    let before_members = count_rows(app.db(), "store_members").await?;
    // Outsiders (a customer, the owner of another store): 404 everywhere.
    for t in [&customer, &other_owner] {
        for (m, path, body) in [
            (Method::GET, format!("/v1/stores/{store}"), None),
            (Method::GET, format!("/v1/stores/{store}/members"), None),
            (Method::GET, format!("/v1/stores/{store}/items"), None),
            (
                Method::PATCH,
                format!("/v1/stores/{store}"),
                Some(json!({"name": "Pwned"})),
            ),
            (
                Method::POST,
                format!("/v1/stores/{store}/members"),
                Some(json!({"username": "nosy", "role": "owner"})),
            ),
            (
                Method::POST,
                format!("/v1/stores/{store}/items"),
                Some(json!({"title": "X", "price_minor": 1})),
            ),
            (
                Method::PATCH,
                format!("/v1/items/{item}"),
                Some(json!({"price_minor": 1})),
            ),
            (Method::POST, format!("/v1/items/{item}/archive"), None),
            (
                Method::POST,
                format!("/v1/items/{item}/stock"),
                Some(json!({"delta": -3})),
            ),
            (Method::GET, format!("/v1/items/{draft}"), None),
        ] {
            let r = call(&app, m.clone(), &path, Some(t), body).await?;
            expect_problem(r, 404, "not_found")
                .await
                .map_err(|e| anyhow::anyhow!("{m} {path}: {e}"))?;
        }
    }
    // The clerk knows the store: 403 where a manager or owner is needed.
    for (m, path, body) in [
        (
            Method::PATCH,
            format!("/v1/stores/{store}"),
            Some(json!({"name": "Pwned"})),
        ),
        (
            Method::POST,
            format!("/v1/stores/{store}/members"),
            Some(json!({"username": "clerk", "role": "owner"})),
        ),
        (
            Method::POST,
            format!("/v1/stores/{store}/items"),
            Some(json!({"title": "X", "price_minor": 1})),
        ),
        (
            Method::PATCH,
            format!("/v1/items/{item}"),
            Some(json!({"price_minor": 1})),
        ),
        (Method::POST, format!("/v1/items/{item}/archive"), None),
    ] {
        let r = call(&app, m.clone(), &path, Some(&clerk), body).await?;
        expect_problem(r, 403, "forbidden")
            .await
            .map_err(|e| anyhow::anyhow!("{m} {path}: {e}"))?;
    }
    // Anonymous: 401 on member routes, 404 on a draft.
    let r = call(
        &app,
        Method::GET,
        &format!("/v1/stores/{store}"),
        None,
        None,
    )
    .await?;
    assert_eq!(r.status().as_u16(), 401);
    let r = call(
        &app,
        Method::PATCH,
        &format!("/v1/items/{item}"),
        None,
        Some(json!({"price_minor": 1})),
    )
    .await?;
    assert_eq!(r.status().as_u16(), 401);
    let r = call(&app, Method::GET, &format!("/v1/items/{draft}"), None, None).await?;
    expect_problem(r, 404, "not_found").await?;
    // Nothing changed.
    assert_eq!(count_rows(app.db(), "items").await?, before_items);
    assert_eq!(count_rows(app.db(), "store_members").await?, before_members);
    assert_eq!(item_field(&app, &item, "price_minor").await?, "1000");
    assert_eq!(item_field(&app, &item, "stock").await?, "3");
    assert_eq!(item_field(&app, &item, "status").await?, "active");
    let name = text_value(app.db(), "SELECT name FROM stores WHERE id = $1", &store).await?;
    assert_eq!(name.as_deref(), Some("Mine"));
    assert_eq!(
        count_rows(
            app.db(),
            "audit_log WHERE action_type IN ('price_change', 'stock_adjustment')"
        )
        .await?,
        0
    );
    // What the clerk may do: adjust stock, see the store and its drafts.
    let r = call(
        &app,
        Method::POST,
        &format!("/v1/items/{item}/stock"),
        Some(&clerk),
        Some(json!({"delta": 2})),
    )
    .await?;
    assert_eq!(r.status().as_u16(), 200);
    let r = call(
        &app,
        Method::GET,
        &format!("/v1/stores/{store}/items"),
        Some(&clerk),
        None,
    )
    .await?;
    let (_, v) = parts(r).await?;
    assert_eq!(v["items"].as_array().map(Vec::len), Some(2));
    // Anyone sees the active item.
    let r = call(&app, Method::GET, &format!("/v1/items/{item}"), None, None).await?;
    let (st, v) = parts(r).await?;
    assert_eq!((st, v["price"]["minor"].as_i64()), (200, Some(1000)));
    Ok(())
}

/// D2: the last owner cannot leave, be removed or be demoted; with a second owner
/// they can leave.
async fn last_owner_cannot_leave(app: TestApp) -> Result<()> {
    use reqwest::Method;
    let (owner_id, owner) = bearer(&app, "solo", Role::Seller).await?;
    let (_, partner) = bearer(&app, "partner", Role::Customer).await?;
    let store = open_store(&app, &owner, "Solo").await?;
    let leave = format!("/v1/stores/{store}/members/{owner_id}");
    let r = call(&app, Method::DELETE, &leave, Some(&owner), None).await?;
    expect_problem(r, 409, "last_owner").await?;
    let r = call(
        &app,
        Method::POST,
        &format!("/v1/stores/{store}/members"),
        Some(&owner),
        Some(json!({"username": "solo", "role": "clerk"})),
    )
    .await?;
    expect_problem(r, 409, "last_owner").await?;
    assert_eq!(
        count_rows(app.db(), "store_members WHERE role = 'owner'").await?,
        1
    );
    assert_eq!(
        add_member(&app, &owner, &store, "partner", "owner").await?,
        200
    );
    let r = call(&app, Method::DELETE, &leave, Some(&owner), None).await?;
    assert_eq!(r.status().as_u16(), 204);
    assert_eq!(count_rows(app.db(), "store_members").await?, 1);
    // The remaining owner is now the last one.
    let r = call(
        &app,
        Method::GET,
        &format!("/v1/stores/{store}/members"),
        Some(&partner),
        None,
    )
    .await?;
    let (_, v) = parts(r).await?;
    let partner_id = v["members"][0]["user_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let r = call(
        &app,
        Method::DELETE,
        &format!("/v1/stores/{store}/members/{partner_id}"),
        Some(&partner),
        None,
    )
    .await?;
    expect_problem(r, 409, "last_owner").await?;
    // The old owner is a stranger now.
    let r = call(
        &app,
        Method::GET,
        &format!("/v1/stores/{store}"),
        Some(&owner),
        None,
    )
    .await?;
    expect_problem(r, 404, "not_found").await?;
    Ok(())
}

/// C1: a price change and a stock adjustment each leave exactly one audit row with
/// the old and new values; refused adjustments leave none.
async fn price_and_stock_changes_are_audited(app: TestApp) -> Result<()> {
    use reqwest::Method;
    let (owner_id, owner) = bearer(&app, "auditee", Role::Seller).await?;
    let store = open_store(&app, &owner, "Books").await?;
    let item = add_item(
        &app,
        &owner,
        &store,
        json!({"title": "Novel", "price_minor": 1000, "stock": 4}),
    )
    .await?;
    let r = call(
        &app,
        Method::PATCH,
        &format!("/v1/items/{item}"),
        Some(&owner),
        Some(json!({"price_minor": 1500})),
    )
    .await?;
    let (st, v) = parts(r).await?;
    assert_eq!((st, v["price"]["minor"].as_i64()), (200, Some(1500)), "{v}");
    // A title edit is not a price change.
    let r = call(
        &app,
        Method::PATCH,
        &format!("/v1/items/{item}"),
        Some(&owner),
        Some(json!({"title": "Novel, 2nd ed."})),
    )
    .await?;
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(audit_count(&app, "price_change", &item).await?, 1);
    let meta = text_value(
        app.db(),
        "SELECT metadata FROM audit_log WHERE action_type = 'price_change' AND target_id = $1",
        &item,
    )
    .await?
    .unwrap_or_default();
    let meta: Value = serde_json::from_str(&meta)?;
    assert_eq!(
        (
            meta["old_price_minor"].as_i64(),
            meta["new_price_minor"].as_i64()
        ),
        (Some(1000), Some(1500))
    );
    let actor = text_value(app.db(), "SELECT actor_user_uuid FROM audit_log WHERE action_type = 'price_change' AND target_id = $1", &item).await?;
    assert_eq!(actor.as_deref(), Some(owner_id.as_str()));

    let r = call(
        &app,
        Method::POST,
        &format!("/v1/items/{item}/stock"),
        Some(&owner),
        Some(json!({"delta": -3})),
    )
    .await?;
    let (st, v) = parts(r).await?;
    assert_eq!((st, v["stock"].as_i64()), (200, Some(1)), "{v}");
    assert_eq!(audit_count(&app, "stock_adjustment", &item).await?, 1);
    let meta = text_value(
        app.db(),
        "SELECT metadata FROM audit_log WHERE action_type = 'stock_adjustment' AND target_id = $1",
        &item,
    )
    .await?
    .unwrap_or_default();
    let meta: Value = serde_json::from_str(&meta)?;
    assert_eq!(
        (meta["old_stock"].as_i64(), meta["new_stock"].as_i64()),
        (Some(4), Some(1))
    );
    // Below zero: refused, nothing written.
    let r = call(
        &app,
        Method::POST,
        &format!("/v1/items/{item}/stock"),
        Some(&owner),
        Some(json!({"delta": -2})),
    )
    .await?;
    expect_problem(r, 422, "validation_failed").await?;
    assert_eq!(item_field(&app, &item, "stock").await?, "1");
    assert_eq!(audit_count(&app, "stock_adjustment", &item).await?, 1);
    // Archived is final.
    let r = call(
        &app,
        Method::POST,
        &format!("/v1/items/{item}/archive"),
        Some(&owner),
        None,
    )
    .await?;
    assert_eq!(r.status().as_u16(), 200);
    let r = call(
        &app,
        Method::PATCH,
        &format!("/v1/items/{item}"),
        Some(&owner),
        Some(json!({"status": "active"})),
    )
    .await?;
    expect_problem(r, 409, "invalid_transition").await?;
    assert_eq!(item_field(&app, &item, "status").await?, "archived");
    Ok(())
}

both_engines!(
    permission_is_enforced_by_the_guard,
    grant_seller_is_an_audited_staff_action,
    strangers_and_small_roles_are_refused,
    last_owner_cannot_leave,
    price_and_stock_changes_are_audited,
);
