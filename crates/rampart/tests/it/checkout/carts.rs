//! Carts (E1): anonymous carts behind a CSRF-bound cookie, merged at login; nobody
//! else's cart; no lost writes; the B3 cart limit; Idempotency-Key (E3).

use super::*;
use crate::identity::{expect_problem, fresh_client, PW};
use rampart_test_support::{both_engines, exec, text_value};

/// An anonymous visitor creates a cart in one request (cookie + CSRF token), adds
/// a line in one more; the cookie's calls need the token; another visitor gets 404;
/// at login the cart becomes (or merges into) the customer's.
async fn anonymous_cart_csrf_and_merge(app: TestApp) -> Result<()> {
    let (_, _, item) = shop(&app, "anonshop", 400, 10).await?;
    let (_, _, other) = shop(&app, "othershop", 250, 10).await?;
    let visitor = fresh_client(&app);
    let r = visitor.post(app.at("/v1/carts")).send().await?;
    assert_eq!(r.status(), 201);
    let set_cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("rampart_cart="))
        .unwrap_or_default()
        .to_owned();
    assert!(
        set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Lax"),
        "{set_cookie}"
    );
    let (_, c) = crate::identity::parts(r).await?;
    let cart = c["id"].as_str().unwrap_or_default().to_owned();
    let csrf = c["csrf_token"].as_str().unwrap_or_default().to_owned();
    assert!(c.get("customer_id").is_none());
    let line = json!({"item_id": item, "quantity": 2});
    // Without the token: refused, nothing added.
    let r = visitor
        .post(app.at(&format!("/v1/carts/{cart}/line-items")))
        .json(&line)
        .send()
        .await?;
    expect_problem(r, 403, "csrf_token_missing").await?;
    assert_eq!(rows(&app, "cart_lines").await?, 0);
    let r = visitor
        .post(app.at(&format!("/v1/carts/{cart}/line-items")))
        .header("x-csrf-token", &csrf)
        .json(&line)
        .send()
        .await?;
    let (st, v) = crate::identity::parts(r).await?;
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        v["items"][0]["unit_price"],
        json!({"minor": 400, "currency": "EUR"})
    );
    // Another visitor, or a customer, cannot see or change it.
    let stranger = fresh_client(&app);
    let r = stranger
        .get(app.at(&format!("/v1/carts/{cart}")))
        .send()
        .await?;
    expect_problem(r, 404, "not_found").await?;
    let (_, bob) = customer(&app, "bob").await?;
    let (st, _) = get_cart(&app, &bob, &cart).await?;
    assert_eq!(st, 404);
    let (st, _) = add(&app, &bob, &cart, &item, 1).await?;
    assert_eq!(st, 404);
    // A visitor cannot pay: intents are for signed-in customers.
    let r = visitor
        .post(app.at(&format!("/v1/carts/{cart}/payment-intent")))
        .header("x-csrf-token", &csrf)
        .send()
        .await?;
    assert_eq!(r.status(), 401);

    // Alice has a cart of her own with the same item; she signs in from the visitor's
    // browser: the visitor's lines merge into her cart.
    let (alice_id, alice) = customer(&app, "alice").await?;
    let mine = new_cart(&app, &alice).await?;
    add(&app, &alice, &mine, &item, 1).await?;
    // A second visitor cart in the same browser replaces the cookie.
    let cart2 = visit_and_login_in(
        &app,
        &visitor,
        Some(&csrf),
        "alice",
        vec![(item.clone(), 2), (other.clone(), 1)],
    )
    .await?;
    let (_, merged) = api(
        &app,
        Method::GET,
        &format!("/v1/carts/{mine}"),
        Some(&alice),
        None,
    )
    .await?;
    let qty: Vec<(String, i64)> = merged["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|l| {
            (
                l["item_id"].as_str().unwrap_or_default().to_owned(),
                l["quantity"].as_i64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(qty, vec![(item.clone(), 3), (other.clone(), 1)], "{merged}");
    assert_eq!(merged["customer_id"], alice_id.as_str());
    let st = rampart_test_support::text_value(
        app.db(),
        "SELECT status FROM carts WHERE id = $1",
        &cart2,
    )
    .await?;
    assert_eq!(st.as_deref(), Some("merged"));

    // Carol has no cart: the visitor's cart becomes hers, same ID.
    let (_, _) = customer(&app, "carol").await?;
    let v2 = fresh_client(&app);
    let (_, c3) = crate::identity::parts(v2.post(app.at("/v1/carts")).send().await?).await?;
    let cart3 = c3["id"].as_str().unwrap_or_default().to_owned();
    let csrf3 = c3["csrf_token"].as_str().unwrap_or_default().to_owned();
    v2.post(app.at(&format!("/v1/carts/{cart3}/line-items")))
        .header("x-csrf-token", &csrf3)
        .json(&json!({"item_id": other, "quantity": 1}))
        .send()
        .await?;
    let t = v2
        .post(app.at("/v1/auth/token"))
        .header("x-csrf-token", &csrf3)
        .json(&json!({"login": "carol", "password": PW, "client": "native"}))
        .send()
        .await?;
    let (_, t) = crate::identity::parts(t).await?;
    let carol = t["access_token"].as_str().unwrap_or_default().to_owned();
    let (st, v) = api(
        &app,
        Method::GET,
        &format!("/v1/carts/{cart3}"),
        Some(&carol),
        None,
    )
    .await?;
    assert_eq!(
        (st, v["items"].as_array().map(Vec::len)),
        (200, Some(1)),
        "{v}"
    );
    Ok(())
}

/// No lost writes: a stale version (body or If-Match) is 409 and changes nothing;
/// twenty concurrent unversioned adds all land.
async fn concurrent_cart_updates_never_lose_a_write(app: TestApp) -> Result<()> {
    let (seller, _, item) = shop(&app, "versions", 100, 1000).await?;
    let (_, _, other) = shop(&app, "versions2", 100, 1000).await?;
    let (_, alice) = customer(&app, "alice").await?;
    // A store's member cannot buy from it.
    let own = new_cart(&app, &seller).await?;
    let (st, v) = add(&app, &seller, &own, &item, 1).await?;
    assert_eq!(
        (st, v["code"].as_str()),
        (403, Some("own_store_purchase")),
        "{v}"
    );
    let cart = new_cart(&app, &alice).await?;
    let body = json!({"item_id": item, "quantity": 1, "version": 0});
    let (st, v) = api(
        &app,
        Method::POST,
        &format!("/v1/carts/{cart}/line-items"),
        Some(&alice),
        Some(body.clone()),
    )
    .await?;
    assert_eq!((st, v["version"].as_i64()), (200, Some(1)));
    let (st, v) = api(
        &app,
        Method::POST,
        &format!("/v1/carts/{cart}/line-items"),
        Some(&alice),
        Some(body),
    )
    .await?;
    assert_eq!(
        (st, v["code"].as_str()),
        (409, Some("cart_version_conflict")),
        "{v}"
    );
    let r = crate::identity::fresh_client(&app)
        .delete(app.at(&format!("/v1/carts/{cart}/line-items/{item}")))
        .bearer_auth(&alice)
        .header("if-match", "\"0\"")
        .send()
        .await?;
    expect_problem(r, 409, "cart_version_conflict").await?;
    // A body version and If-Match must agree: a stale precondition is never dropped
    // because the body carries a current one.
    let r = crate::identity::fresh_client(&app)
        .post(app.at(&format!("/v1/carts/{cart}/line-items")))
        .bearer_auth(&alice)
        .header("if-match", "\"0\"")
        .json(&json!({"item_id": item, "quantity": 1, "version": 1}))
        .send()
        .await?;
    expect_problem(r, 422, "validation_failed").await?;
    let (_, c) = get_cart(&app, &alice, &cart).await?;
    assert_eq!(
        (c["version"].as_i64(), c["items"][0]["quantity"].as_i64()),
        (Some(1), Some(1))
    );

    let mut tasks = Vec::new();
    for n in 0..20 {
        let (app_url, token, cart) = (app.url.clone(), alice.clone(), cart.clone());
        let item = if n % 2 == 0 {
            item.clone()
        } else {
            other.clone()
        };
        tasks.push(tokio::spawn(async move {
            reqwest::Client::new()
                .post(format!("{app_url}/v1/carts/{cart}/line-items"))
                .bearer_auth(token)
                .json(&json!({"item_id": item, "quantity": 1}))
                .send()
                .await
                .map(|r| r.status().as_u16())
        }));
    }
    for t in tasks {
        assert_eq!(t.await??, 200);
    }
    let (_, c) = get_cart(&app, &alice, &cart).await?;
    let total: i64 = c["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| l["quantity"].as_i64())
        .sum();
    assert_eq!(total, 21, "{c}");
    assert_eq!(c["version"], 21);
    // Bad input never reaches the database as such.
    let (st, v) = add(&app, &alice, &cart, &item, 0).await?;
    assert_eq!((st, v["code"].as_str()), (422, Some("quantity_too_small")));
    let (st, v) = add(&app, &alice, &cart, &item, 1000).await?;
    assert_eq!((st, v["code"].as_str()), (422, Some("quantity_too_large")));
    let (st, v) = add(&app, &alice, &cart, "nope", 1).await?;
    assert_eq!((st, v["code"].as_str()), (422, Some("item_unavailable")));
    exec(
        app.db(),
        &format!("UPDATE items SET status = 'archived' WHERE id = '{other}'"),
    )
    .await?;
    let (st, v) = add(&app, &alice, &cart, &other, 1).await?;
    assert_eq!((st, v["code"].as_str()), (422, Some("item_unavailable")));
    Ok(())
}

/// Adding a line writes that one line (an upsert): an item already in the cart keeps
/// its place and gets the quantities added; every cart rule still holds, and a refused
/// add changes nothing, not even the version.
async fn add_line_upserts_one_line_and_refusals_change_nothing(app: TestApp) -> Result<()> {
    let (_, _, a) = shop(&app, "upserta", 100, 5).await?;
    let (_, _, b) = shop(&app, "upsertb", 250, 1000).await?;
    let (_, _, usd) = shop(&app, "upsertusd", 300, 10).await?;
    exec(
        app.db(),
        &format!("UPDATE items SET currency = 'USD' WHERE id = '{usd}'"),
    )
    .await?;
    let (_, alice) = customer(&app, "alice").await?;
    let cart = new_cart(&app, &alice).await?;
    let lines = |v: &serde_json::Value| -> Vec<(String, i64, String)> {
        v["items"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|l| {
                (
                    l["item_id"].as_str().unwrap_or_default().to_owned(),
                    l["quantity"].as_i64().unwrap_or(0),
                    l["title"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    };
    for (item, q) in [(&a, 2), (&b, 1), (&a, 2)] {
        let (st, v) = add(&app, &alice, &cart, item, q).await?;
        assert_eq!(st, 200, "{v}");
    }
    let (_, v) = get_cart(&app, &alice, &cart).await?;
    let expected = vec![
        (a.clone(), 4, "upserta item".to_owned()),
        (b.clone(), 1, "upsertb item".to_owned()),
    ];
    assert_eq!(lines(&v), expected, "{v}");
    assert_eq!(v["version"], 3);
    assert_eq!(v["total"], json!({"minor": 650, "currency": "EUR"}), "{v}");
    // The answer of an add is the cart as stored.
    let (st, answer) = add(&app, &alice, &cart, &b, 1).await?;
    assert_eq!(st, 200, "{answer}");
    let (_, stored) = get_cart(&app, &alice, &cart).await?;
    assert_eq!(answer, stored);
    assert_eq!(stored["version"], 4);

    // Refusals, each leaving the cart exactly as it was.
    let refusals: Vec<(String, i64, Option<i64>, u16, &str)> = vec![
        (a.clone(), 2, None, 409, "out_of_stock"),
        (b.clone(), 98, None, 422, "quantity_too_large"),
        (usd.clone(), 1, None, 422, "cart_mixed_currencies"),
        (b.clone(), 1, Some(3), 409, "cart_version_conflict"),
    ];
    for (item, q, version, status, code) in refusals {
        let mut body = json!({"item_id": item, "quantity": q});
        if let Some(v) = version {
            body["version"] = json!(v);
        }
        let (st, v) = api(
            &app,
            Method::POST,
            &format!("/v1/carts/{cart}/line-items"),
            Some(&alice),
            Some(body),
        )
        .await?;
        assert_eq!((st, v["code"].as_str()), (status, Some(code)), "{v}");
        let (_, now) = get_cart(&app, &alice, &cart).await?;
        assert_eq!(now, stored, "{code} changed the cart");
    }
    // The expected version, when right, is accepted.
    let (st, v) = api(
        &app,
        Method::POST,
        &format!("/v1/carts/{cart}/line-items"),
        Some(&alice),
        Some(json!({"item_id": b, "quantity": 1, "version": 4})),
    )
    .await?;
    assert_eq!((st, v["version"].as_i64()), (200, Some(5)), "{v}");
    assert_eq!(rows(&app, "cart_lines").await?, 2);
    Ok(())
}

/// B3: 100 cart calls per minute per IP, 3 payment-intent calls and 10 completions
/// per minute per user; the 101st/4th/11th is 429 with the limit headers; the
/// injected clock opens the window again.
async fn binding_rate_limits(app: TestApp) -> Result<()> {
    let (_, _, item) = shop(&app, "limits", 100, 100).await?;
    let (_, alice) = customer(&app, "alice").await?;
    let cart = new_cart(&app, &alice).await?;
    add(&app, &alice, &cart, &item, 1).await?;
    let client = app.client_from("127.77.0.1");
    let get = || {
        client
            .get(app.at(&format!("/v1/carts/{cart}")))
            .bearer_auth(&alice)
            .send()
    };
    for n in 0..100 {
        let r = get().await?;
        assert_eq!(r.status(), 200, "call {n}");
    }
    let r = get().await?;
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["x-ratelimit-limit"], "100");
    assert!(r.headers().contains_key("retry-after"));
    let v = expect_problem(r, 429, "rate_limited").await?;
    assert!(v.is_object());
    for n in 0..3 {
        let (st, v) = intent(&app, &alice, &cart).await?;
        assert_eq!(st, 201, "intent {n}: {v}");
    }
    let (st, _) = intent(&app, &alice, &cart).await?;
    assert_eq!(st, 429);
    assert_eq!(rows(&app, "payment_intents").await?, 1);
    let other = new_cart(&app, &alice).await?;
    for n in 0..10 {
        let (st, v) = complete(&app, &alice, &other, None).await?;
        assert_eq!(st, 409, "complete {n}: {v}");
    }
    let (st, v) = complete(&app, &alice, &other, None).await?;
    assert_eq!((st, v["code"].as_str()), (429, Some("rate_limited")));
    app.clock.advance_secs(61);
    assert_eq!(get().await?.status(), 200);
    let (st, _) = intent(&app, &alice, &cart).await?;
    assert_eq!(st, 201);
    Ok(())
}

/// E3: the same key and body replays the stored answer (one intent at the provider,
/// one row); another body is 422; a key still in flight is 409; keys older than a day
/// are pruned.
async fn idempotency_keys(app: TestApp) -> Result<()> {
    let (_, _, item) = shop(&app, "idem", 900, 10).await?;
    let (alice_id, alice) = customer(&app, "alice").await?;
    let (cart, pi) = paid_cart(&app, &alice, &item, 1).await?;
    let post = |key: &str, body: Value| {
        crate::identity::fresh_client(&app)
            .post(app.at(&format!("/v1/carts/{cart}/complete")))
            .bearer_auth(&alice)
            .header("idempotency-key", key)
            .json(&body)
            .send()
    };
    let body = json!({"payment_intent_id": pi});
    let (st, first) = crate::identity::parts(post("order-1", body.clone()).await?).await?;
    assert_eq!(st, 201, "{first}");
    let r = post("order-1", body.clone()).await?;
    assert_eq!(
        r.headers()
            .get("idempotent-replayed")
            .map(|v| v.to_str().unwrap_or("")),
        Some("true")
    );
    let (st, again) = crate::identity::parts(r).await?;
    assert_eq!(
        (st, again),
        (201, first.clone()),
        "the stored answer, status included"
    );
    let r = post("order-1", json!({})).await?;
    expect_problem(r, 422, "idempotency_key_reused").await?;
    let r = post("bad key with spaces", body.clone()).await?;
    expect_problem(r, 400, "idempotency_key_invalid").await?;
    // A request still running with this key.
    exec(
        app.db(),
        &format!(
            "INSERT INTO idempotency_keys (scope, idem_key, user_id, route, request_hash, status, created_at) \
             VALUES ('user:{alice_id}', 'busy-1', '{alice_id}', 'POST /v1/carts/{{id}}/complete', 'x', 'in_flight', {})",
            app.clock.now_ms()
        ),
    )
    .await?;
    let r = post("busy-1", body.clone()).await?;
    expect_problem(r, 409, "idempotency_key_in_flight").await?;
    assert_eq!(rows(&app, "orders").await?, 1);
    // Another user's identical key is another key.
    let (_, bob) = customer(&app, "bob").await?;
    let r = crate::identity::fresh_client(&app)
        .post(app.at(&format!("/v1/carts/{cart}/complete")))
        .bearer_auth(&bob)
        .header("idempotency-key", "order-1")
        .json(&body)
        .send()
        .await?;
    expect_problem(r, 404, "not_found").await?;
    // Pruned after 24 hours.
    use rampart_kernel::Clock;
    let later = app.clock.now_ms() + 25 * 3_600_000;
    let n = rampart_checkout::idempotency::prune(app.db(), later).await?;
    assert_eq!(n, 2);
    assert_eq!(rows(&app, "idempotency_keys").await?, 0);
    Ok(())
}

/// The add-line answer takes the other lines' titles and shipping facts from memory
/// (`checkout_facts::FactsCache`, valid for one catalog generation): a seller's edit
/// through the API and an edit made outside this process (straight in the database,
/// as another instance's commit looks to this one) both show in the very next answer.
/// A stock change moves no generation; every edit of a shown fact moves one. A write
/// that fires no trigger shows once what was kept is a minute old.
async fn add_line_answer_shows_catalog_edits(app: TestApp) -> Result<()> {
    let (owner, store, a) = shop(&app, "fresh", 100, 50).await?;
    let b = add_item(
        &app,
        &owner,
        &store,
        json!({"title": "Second", "price_minor": 200, "stock": 50, "status": "active"}),
    )
    .await?;
    let (_, alice) = customer(&app, "alice").await?;
    let cart = new_cart(&app, &alice).await?;
    let title_of = |v: &Value| -> String {
        v["items"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|l| l["item_id"] == a.as_str())
            .and_then(|l| l["title"].as_str())
            .unwrap_or_default()
            .to_owned()
    };
    // The generation now (every item created so far moved it on), and whether it is
    // `n` past that.
    let g0: i64 = text_value(
        app.db(),
        "SELECT CAST(generation AS TEXT) FROM catalog_generation WHERE CAST(id AS TEXT) = $1",
        "1",
    )
    .await?
    .unwrap_or_default()
    .parse()?;
    let generation = |n: i64| {
        let app = &app;
        async move {
            rows(
                app,
                &format!("catalog_generation WHERE generation = {}", g0 + n),
            )
            .await
        }
    };
    let mut v = Value::Null;
    for item in [&a, &b, &b] {
        let (st, answer) = add(&app, &alice, &cart, item, 1).await?;
        assert_eq!(st, 200, "{answer}");
        assert_eq!(title_of(&answer), "fresh item", "{answer}");
        v = answer;
    }
    assert_eq!(generation(0).await?, 1);
    enum Edit {
        Api(Method, String, Value),
        Sql(String),
        /// A write that fires no trigger (as with PostgreSQL's
        /// `session_replication_role = replica`): the generation is put back.
        Untracked(String),
        /// Time passes (the injected clock).
        Later(i64),
    }
    let sqlite = matches!(app.db().engine, rampart_db::Engine::Sqlite { .. });
    let upserted = if sqlite { "Elsewhere" } else { "Upserted" };
    // Each edit, the generation after it, and A's title in the next add's answer.
    let edits = [
        // Stock moves no generation (it is never taken from memory).
        (
            Edit::Api(
                Method::POST,
                format!("/v1/items/{a}/stock"),
                json!({"delta": 5}),
            ),
            0,
            "fresh item",
        ),
        // The seller renames the item through the API.
        (
            Edit::Api(
                Method::PATCH,
                format!("/v1/items/{a}"),
                json!({"title": "Renamed"}),
            ),
            1,
            "Renamed",
        ),
        // Another process (or an operator) renames it in the database.
        (
            Edit::Sql(format!(
                "UPDATE items SET title = 'Elsewhere' WHERE id = '{a}'"
            )),
            2,
            "Elsewhere",
        ),
        // An upsert of the row: SQLite's `INSERT OR REPLACE` deletes and inserts
        // (without firing the delete trigger); PostgreSQL's updates.
        (
            Edit::Sql(if sqlite {
                format!("INSERT OR REPLACE INTO items SELECT * FROM items WHERE id = '{a}'")
            } else {
                format!(
                    "INSERT INTO items SELECT * FROM items WHERE id = '{a}' \
                     ON CONFLICT (id) DO UPDATE SET title = 'Upserted'"
                )
            }),
            3,
            upserted,
        ),
        // Unseen until what was kept is a minute old, whatever the generation.
        (
            Edit::Untracked(format!(
                "UPDATE items SET title = 'Untracked' WHERE id = '{a}'"
            )),
            3,
            upserted,
        ),
        (Edit::Later(61), 3, "Untracked"),
    ];
    for (edit, after, title) in edits {
        match edit {
            Edit::Api(method, path, body) => {
                let (st, e) = api(&app, method, &path, Some(&owner), Some(body)).await?;
                assert_eq!(st, 200, "{e}");
            }
            Edit::Sql(sql) => {
                exec(app.db(), &sql).await?;
            }
            Edit::Untracked(sql) => {
                exec(app.db(), &sql).await?;
                exec(
                    app.db(),
                    "UPDATE catalog_generation SET generation = generation - 1",
                )
                .await?;
            }
            Edit::Later(secs) => app.clock.advance_secs(secs),
        }
        assert_eq!(generation(after).await?, 1, "generation {after}");
        let (st, answer) = add(&app, &alice, &cart, &b, 1).await?;
        assert_eq!(st, 200, "{answer}");
        assert_eq!(title_of(&answer), title, "{answer}");
        v = answer;
    }
    let (_, got) = get_cart(&app, &alice, &cart).await?;
    assert_eq!(got["items"], v["items"], "the answer is the cart as stored");
    Ok(())
}

/// SQLite with a second process on the file (the standalone worker, an operator's
/// `sqlite3`): a cart change that reads and then writes in one transaction must wait
/// for the other writer, not fail. Here another connection holds the write lock and
/// commits while the change is under way; a deferred `BEGIN` then failed on upgrading
/// its read to a write (`database is locked`, a 500), `BEGIN IMMEDIATE` waits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_cart_change_waits_for_another_writer() -> Result<()> {
    let app = TestApp::spawn(rampart_test_support::Engine::Sqlite)
        .await?
        .expect("sqlite");
    let (_, _, a) = shop(&app, "waita", 100, 50).await?;
    let (_, _, b) = shop(&app, "waitb", 100, 50).await?;
    let (_, alice) = customer(&app, "alice").await?;
    let cart = new_cart(&app, &alice).await?;
    for item in [&a, &b] {
        let (st, v) = add(&app, &alice, &cart, item, 1).await?;
        assert_eq!(st, 200, "{v}");
    }
    let rampart_db::Engine::Sqlite { read, .. } = &app.db().engine else {
        unreachable!("a SQLite app");
    };
    for round in 0..3 {
        // The other writer: a connection of its own, holding the write lock.
        let mut other = read.acquire().await?;
        sqlx::query("BEGIN IMMEDIATE").execute(&mut *other).await?;
        sqlx::query("UPDATE catalog_generation SET generation = generation WHERE id = 1")
            .execute(&mut *other)
            .await?;
        let quantity = if round % 2 == 0 { 3 } else { 2 };
        let path = format!("/v1/carts/{cart}/line-items/{a}");
        let change = api(
            &app,
            Method::PATCH,
            &path,
            Some(&alice),
            Some(json!({"quantity": quantity})),
        );
        let commit = async {
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            sqlx::query("COMMIT").execute(&mut *other).await
        };
        let (changed, committed) = tokio::join!(change, commit);
        let (st, v) = changed?;
        committed?;
        assert_eq!(st, 200, "round {round}: {v}");
    }
    let (_, v) = get_cart(&app, &alice, &cart).await?;
    assert_eq!(v["version"], 5, "{v}");
    Ok(())
}

both_engines!(
    anonymous_cart_csrf_and_merge,
    concurrent_cart_updates_never_lose_a_write,
    add_line_upserts_one_line_and_refusals_change_nothing,
    binding_rate_limits,
    idempotency_keys,
    add_line_answer_shows_catalog_edits,
);
