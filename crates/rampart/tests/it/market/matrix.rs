//! The ownership matrix, generated from the router (issue 9): every mounted route
//! with a path parameter — API and pages — is sent by an anonymous caller, another
//! customer, the owner of another store and a clerk of the victim's store, with a
//! body that would succeed for the resource's owner. Each is refused (401/303 to the
//! login page for the anonymous caller, 404 for who may not know the resource, 403
//! for a clerk where a manager is needed), and a fingerprint of every table the
//! routes could write is identical afterwards.
//!
//! A new route with a path parameter fails this test until it is given a resource
//! (by path prefix, [`resource_for`]) and, if the clerk may use it, a line in
//! [`CLERK_MAY`]. Form and JSON bodies come from [`json_body`] / [`form_body`];
//! a route that answers 422 to an attacker has been handed an invalid body, which
//! the test reports instead of counting it as a refusal.

use super::{add_item, add_member, bearer, open_store};
use crate::identity::{csrf_of, fresh_ip};
use anyhow::{bail, Context, Result};
use rampart_kernel::account::Role;
use rampart_test_support::{both_engines, TestApp};
use reqwest::{Client, Method};
use serde_json::{json, Value};

/// Routes a clerk of the store may use (they are not refused, so not in the matrix
/// for the clerk).
const CLERK_MAY: &[(&str, &str)] = &[
    ("GET", "/v1/stores/{id}"),
    ("GET", "/v1/stores/{id}/items"),
    ("GET", "/v1/stores/{id}/members"),
    ("POST", "/v1/items/{id}/stock"),
    ("GET", "/v1/items/{id}"),
    ("GET", "/stores/{id}"),
    ("GET", "/stores/{id}/items"),
    ("GET", "/stores/{id}/members"),
    ("GET", "/items/{id}"),
    // The item management page: a clerk adjusts stock there (the edit form is refused).
    ("GET", "/items/{id}/edit"),
    ("POST", "/items/{id}/stock"),
    // Disputes: any member of the selling store speaks for the seller — opens a
    // dispute, sees it and adds claims (resolving is staff's, and the guard's 404).
    ("POST", "/v1/transactions/{id}/disputes"),
    ("GET", "/v1/transactions/{id}/dispute"),
    ("GET", "/v1/disputes/{id}"),
    ("POST", "/v1/disputes/{id}/claims"),
    ("GET", "/transactions/{id}/dispute"),
    ("POST", "/transactions/{id}/dispute"),
    ("GET", "/disputes/{id}"),
    ("POST", "/disputes/{id}/claims"),
    // Sales: every member sees the store's transactions; clerks and up ship.
    ("GET", "/v1/stores/{id}/transactions"),
    ("GET", "/v1/transactions/{id}"),
    ("POST", "/v1/transactions/{id}/ship"),
    ("GET", "/stores/{id}/sales"),
    ("GET", "/transactions/{id}"),
    ("POST", "/transactions/{id}/ship"),
];

/// The victim's resources.
struct World {
    store: String,
    draft_item: String,
    owner_id: String,
    session_id: String,
    token_id: String,
    /// A funded escrow transaction of the store, without a dispute.
    transaction: String,
    /// An open dispute on another of the store's transactions.
    dispute: String,
    /// A conversation between the owner and the buyer.
    conversation: String,
    /// A message of the buyer to the owner in it.
    message: String,
    /// A support ticket the owner opened.
    ticket: String,
    /// An open staff warning on the store.
    warning: String,
    /// The buyer's open cart with one line.
    cart: String,
    /// The item in it.
    cart_item: String,
    /// The buyer's paid order.
    order: String,
    /// The buyer's payment intent at the sandbox.
    intent: String,
}

/// Routes whose path parameter names no user's resource: the payment webhooks take a
/// provider name and are authenticated by the provider's signature (every forged,
/// stale or replayed delivery is refused in `checkout::webhooks`).
const NOT_A_RESOURCE: &[(&str, &str)] = &[("POST", "/v1/webhooks/payments/{provider}")];

/// Who attacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Attacker {
    Anonymous,
    Stranger,
    OtherStore,
    Clerk,
}

/// The concrete path for `template`, or an error naming the route that has no
/// resource yet.
fn resource_for(w: &World, template: &str) -> Result<String> {
    let pick = |prefix: &str| template.starts_with(prefix);
    let id = if pick("/v1/stores/") || pick("/stores/") {
        &w.store
    } else if pick("/v1/items/") || pick("/items/") {
        &w.draft_item
    } else if pick("/v1/sessions/") || pick("/settings/sessions/") {
        &w.session_id
    } else if pick("/v1/tokens/") || pick("/settings/tokens/") {
        &w.token_id
    } else if pick("/v1/transactions/") || pick("/transactions/") {
        &w.transaction
    } else if pick("/v1/disputes/") || pick("/disputes/") {
        &w.dispute
    } else if pick("/v1/tickets/") || pick("/tickets/") {
        &w.ticket
    } else if pick("/v1/warnings/") || pick("/staff/warnings/") {
        &w.warning
    } else if pick("/v1/staff/stores/") || pick("/staff/stores/") {
        &w.store
    } else if pick("/v1/staff/users/") || pick("/staff/users/") {
        // Staff tools on the owner's account: no attacker holds the permission.
        &w.owner_id
    } else if pick("/v1/conversations/") || pick("/messages/") {
        &w.conversation
    } else if pick("/v1/messages/") {
        &w.message
    } else if pick("/v1/admin/users/") || pick("/v1/blocks/") {
        // Unblocking the owner: no attacker has blocked them, so nothing to lift.
        &w.owner_id
    } else if pick("/v1/users/") {
        // Claiming the owner's prekey bundle is open to every signed-in user by
        // design (bundles are public keys); the owner has published none, so the
        // claim answers 404 and takes nothing.
        &w.owner_id
    } else if pick("/v1/carts/") || pick("/cart/") {
        &w.cart
    } else if pick("/v1/orders/") || pick("/orders/") {
        &w.order
    } else if pick("/v1/sandbox/payment-intents/") {
        // The provider's stand-in needs the intent's client secret, which no
        // attacker has.
        &w.intent
    } else if pick("/v1/admin/invites/") {
        // Any ID: no attacker holds the permission, so the guard answers first.
        &w.token_id
    } else {
        bail!("ownership matrix: no resource for {template}; add it to resource_for");
    };
    Ok(template
        .replace("{id}", id)
        .replace("{item_id}", &w.cart_item)
        .replace("{user_id}", &w.owner_id))
}

/// A JSON body that would succeed for the owner (or staff).
fn json_body(method: &Method, template: &str) -> Option<Value> {
    Some(match (method.as_str(), template) {
        ("PATCH", "/v1/items/{id}") => json!({"title": "Hijacked", "price_minor": 1,
                                               "weight_grams": 9, "subscription_only": true}),
        ("POST", "/v1/items/{id}/purchases") => json!({"quantity": 1}),
        ("POST", "/v1/items/{id}/stock") => json!({"delta": 50}),
        ("PATCH", "/v1/stores/{id}") => json!({"name": "Hijacked", "min_order_minor": 999}),
        ("POST", "/v1/stores/{id}/items") => {
            json!({"title": "Planted", "price_minor": 100, "stock": 1, "status": "active"})
        }
        ("POST", "/v1/stores/{id}/members") => json!({"username": "mx_stranger", "role": "owner"}),
        ("PATCH", "/v1/tokens/{id}") => json!({"name": "hijacked"}),
        ("POST", "/v1/admin/users/{id}/role") => json!({"role": "admin"}),
        ("POST", "/v1/transactions/{id}/disputes") => json!({"reason": "Planted"}),
        ("POST", "/v1/disputes/{id}/claims") => json!({"body": "Planted"}),
        ("POST", "/v1/disputes/{id}/resolve") => json!({"outcome": "refund"}),
        ("POST", "/v1/conversations/{id}/read") => json!({"up_to": "{message}"}),
        ("POST", "/v1/messages/{id}/report") => json!({"reason": "Planted"}),
        ("POST", "/v1/tickets/{id}/messages") => json!({"body": "Planted"}),
        ("POST", "/v1/tickets/{id}/status") => json!({"status": "closed"}),
        ("POST", "/v1/tickets/{id}/assign") => json!({"user_id": null}),
        ("POST", "/v1/stores/{id}/warnings") => json!({"reason": "Planted"}),
        ("POST", "/v1/carts/{id}/line-items") => json!({"item_id": "{cart_item}", "quantity": 1}),
        ("PATCH", "/v1/carts/{id}/line-items/{item_id}") => json!({"quantity": 2}),
        ("POST", "/v1/carts/{id}/addresses") => json!({"company_name": "Hijacked"}),
        ("POST", "/v1/carts/{id}/shipping-method") => json!({"code": "parcel"}),
        ("POST", "/v1/orders/{id}/refunds") => json!({}),
        ("POST", "/v1/sandbox/payment-intents/{id}/confirm") => {
            json!({"token": "tok_visa", "client_secret": "guessed"})
        }
        ("POST", "/v1/sandbox/payment-intents/{id}/authenticate") => {
            json!({"success": true, "client_secret": "guessed"})
        }
        ("POST", "/v1/staff/users/{id}/role") => json!({"role": "customer"}),
        _ => return None,
    })
}

/// Form fields (besides the CSRF token) that would succeed for the owner.
fn form_body(template: &str) -> Vec<(&'static str, &'static str)> {
    match template {
        "/items/{id}/edit" | "/items/{id}" => vec![
            ("title", "Hijacked"),
            ("price_minor", "1"),
            ("stock", "9"),
            ("status", "active"),
            ("item_type", "hijacked"),
            ("weight_grams", "9"),
            ("subscription_only", "true"),
        ],
        "/items/{id}/stock" => vec![("delta", "50")],
        "/items/{id}/buy" => vec![("quantity", "1")],
        "/stores/{id}/settings" | "/stores/{id}" => vec![
            ("name", "Hijacked"),
            ("currency", "EUR"),
            ("auto_release_days", "14"),
            ("min_order_minor", "999"),
        ],
        "/stores/{id}/items" => vec![
            ("title", "Planted"),
            ("price_minor", "100"),
            ("stock", "1"),
            ("status", "active"),
        ],
        "/stores/{id}/members" => vec![("username", "mx_stranger"), ("role", "owner")],
        "/transactions/{id}/dispute" => vec![("reason", "Planted")],
        "/disputes/{id}/claims" => vec![("body", "Planted")],
        "/disputes/{id}/resolve" => vec![("outcome", "refund")],
        "/messages/{id}" => vec![("body", "Planted")],
        "/messages/{id}/report" => vec![("message_id", "{message}"), ("reason", "Planted")],
        "/tickets/{id}/messages" => vec![("body", "Planted")],
        "/tickets/{id}/status" => vec![("status", "closed")],
        "/tickets/{id}/assign" => vec![("user_id", "")],
        "/staff/users/{id}/role" => vec![("role", "customer")],
        "/staff/stores/{id}/warnings" => vec![("reason", "Planted")],
        _ => Vec::new(),
    }
}

/// Every row of every table a route could change, as text, for before/after.
async fn fingerprint(app: &TestApp) -> Result<Vec<String>> {
    let queries = [
        "SELECT id || '|' || name || '|' || description || '|' || currency || '|' || \
         auto_release_days || '|' || COALESCE(CAST(min_order_minor AS TEXT), '-') || '|' || \
         status || '|' || updated_at FROM stores ORDER BY id",
        "SELECT store_id || '|' || user_id || '|' || role FROM store_members \
         ORDER BY store_id, user_id",
        "SELECT id || '|' || title || '|' || price_minor || '|' || stock || '|' || status || \
         '|' || item_type || '|' || weight_grams || '|' || subscription_only || '|' || \
         updated_at FROM items ORDER BY id",
        "SELECT id || '|' || COALESCE(CAST(revoked_at AS TEXT), '-') FROM sessions ORDER BY id",
        "SELECT id || '|' || name || '|' || scopes FROM personal_access_tokens ORDER BY id",
        "SELECT id || '|' || role || '|' || status FROM users ORDER BY id",
        "SELECT CAST(COUNT(*) AS TEXT) FROM audit_log",
        "SELECT id || '|' || status || '|' || updated_at FROM disputes ORDER BY id",
        "SELECT CAST(COUNT(*) AS TEXT) FROM dispute_claims",
        "SELECT id || '|' || state || '|' || version FROM escrow_transactions ORDER BY id",
        "SELECT CAST(COUNT(*) AS TEXT) FROM ledger_postings",
        "SELECT CAST(COUNT(*) AS TEXT) FROM messages",
        "SELECT conversation_id || '|' || user_id || '|' || last_read_message_id \
         FROM message_reads ORDER BY conversation_id, user_id",
        "SELECT blocker_id || '|' || blocked_id FROM user_blocks ORDER BY blocker_id, blocked_id",
        "SELECT CAST(COUNT(*) AS TEXT) FROM message_reports",
        "SELECT id || '|' || status || '|' || COALESCE(assignee_id, '-') || '|' || updated_at \
         FROM tickets ORDER BY id",
        "SELECT CAST(COUNT(*) AS TEXT) FROM ticket_messages",
        "SELECT id || '|' || status FROM store_warnings ORDER BY id",
        "SELECT id || '|' || status || '|' || version || '|' || COALESCE(company_name, '-') \
         FROM carts ORDER BY id",
        "SELECT cart_id || '|' || item_id || '|' || quantity FROM cart_lines ORDER BY cart_id, item_id",
        "SELECT id || '|' || status FROM payment_intents ORDER BY id",
        "SELECT id || '|' || status || '|' || refunded_minor FROM orders ORDER BY id",
        "SELECT CAST(COUNT(*) AS TEXT) FROM order_refunds",
    ];
    let mut out = Vec::new();
    for q in queries {
        let rows: Vec<(String,)> = match &app.db().engine {
            rampart_db::Engine::Sqlite { read, .. } => sqlx::query_as(q).fetch_all(read).await,
            rampart_db::Engine::Postgres(p) => sqlx::query_as(q).fetch_all(p).await,
        }
        .with_context(|| q.to_owned())?;
        out.push(format!(
            "{q}\n{}",
            rows.into_iter().map(|r| r.0).collect::<Vec<_>>().join("\n")
        ));
    }
    Ok(out)
}

async fn browser(app: &TestApp, name: &str) -> Result<(Client, String)> {
    let c = crate::identity::web_login(app, 31, name, None, "/stores").await?;
    let t = csrf_of(&c.get(app.at("/stores")).send().await?.text().await?);
    Ok((c, t))
}

async fn the_ownership_matrix_refuses_everyone_else(app: TestApp) -> Result<()> {
    let (owner_id, owner) = bearer(&app, "mx_owner", Role::Seller).await?;
    let (_, other) = bearer(&app, "mx_other", Role::Seller).await?;
    let (_, stranger) = bearer(&app, "mx_stranger", Role::Customer).await?;
    let (_, clerk) = bearer(&app, "mx_clerk", Role::Customer).await?;
    let store = open_store(&app, &owner, "Victim").await?;
    open_store(&app, &other, "Rival").await?;
    let st = add_member(&app, &owner, &store, "mx_clerk", "clerk").await?;
    assert!(st == 200 || st == 201, "add clerk: {st}");
    let draft_item = add_item(
        &app,
        &owner,
        &store,
        json!({"title": "Secret draft", "price_minor": 500, "stock": 3}),
    )
    .await?;
    // The owner's own device session and a personal access token.
    let sessions: Value = super::call(&app, Method::GET, "/v1/sessions", Some(&owner), None)
        .await?
        .json()
        .await?;
    let session_id = sessions["sessions"][0]["id"]
        .as_str()
        .context("a session")?
        .to_owned();
    let pat: Value = super::call(
        &app,
        Method::POST,
        "/v1/tokens",
        Some(&owner),
        Some(json!({"name": "ci", "scopes": ["profile:read"]})),
    )
    .await?
    .json()
    .await?;
    let token_id = pat["id"].as_str().context("a token id")?.to_owned();
    // A buyer's two funded purchases from the store (through the ledger); one disputed.
    let (buyer_id, buyer) = bearer(&app, "mx_buyer", Role::Customer).await?;
    let item = add_item(
        &app,
        &owner,
        &store,
        json!({"title": "Sold", "price_minor": 800, "stock": 5, "status": "active"}),
    )
    .await?;
    let transaction = super::disputes::funded(&app, &buyer_id, &store, &item, 800).await?;
    let disputed = super::disputes::funded(&app, &buyer_id, &store, &item, 800).await?;
    let opened: Value = super::call(
        &app,
        Method::POST,
        &format!("/v1/transactions/{disputed}/disputes"),
        Some(&buyer),
        Some(json!({"reason": "Never arrived"})),
    )
    .await?
    .json()
    .await?;
    let dispute = opened["id"].as_str().context("a dispute id")?.to_owned();
    // The buyer writes to the owner; the owner reads it.
    let sent: Value = super::call(
        &app,
        Method::POST,
        "/v1/messages",
        Some(&buyer),
        Some(json!({"to": "mx_owner", "content_type": "text/plain", "payload": "Hello"})),
    )
    .await?
    .json()
    .await?;
    let conversation = sent["conversation_id"]
        .as_str()
        .context("a conversation id")?
        .to_owned();
    let message = sent["id"].as_str().context("a message id")?.to_owned();
    // The owner's support ticket, and a staff warning on the store.
    let opened: Value = super::call(
        &app,
        Method::POST,
        "/v1/tickets",
        Some(&owner),
        Some(json!({"subject": "Payout", "body": "Where is my payout?"})),
    )
    .await?
    .json()
    .await?;
    let ticket = opened["ticket"]["id"]
        .as_str()
        .context("a ticket id")?
        .to_owned();
    let staff = crate::trust::staff_with_totp(&app, "mx_staff").await?;
    let warned: Value = super::call(
        &app,
        Method::POST,
        &format!("/v1/stores/{store}/warnings"),
        Some(&staff),
        Some(json!({"reason": "Late shipping"})),
    )
    .await?
    .json()
    .await?;
    let warning = warned["id"].as_str().context("a warning id")?.to_owned();
    // The buyer's paid order and an open cart with a line.
    let (paid_cart, intent) = crate::checkout::paid_cart(&app, &buyer, &item, 1).await?;
    let (st, o) = crate::checkout::complete(&app, &buyer, &paid_cart, None).await?;
    assert_eq!(st, 201, "{o}");
    let order = o["id"].as_str().context("an order id")?.to_owned();
    let cart = crate::checkout::new_cart(&app, &buyer).await?;
    let (st, _) = crate::checkout::add(&app, &buyer, &cart, &item, 1).await?;
    assert_eq!(st, 200);
    let w = World {
        cart,
        cart_item: item.clone(),
        order,
        intent,
        store,
        draft_item,
        owner_id,
        session_id,
        token_id,
        transaction,
        dispute,
        conversation,
        message,
        ticket,
        warning,
    };
    let (stranger_web, stranger_csrf) = browser(&app, "mx_stranger").await?;
    let (other_web, other_csrf) = browser(&app, "mx_other").await?;
    let (clerk_web, clerk_csrf) = browser(&app, "mx_clerk").await?;

    let (_, routes) = rampart_web::build(app.state.clone());
    let before = fingerprint(&app).await?;
    let mut checked = 0usize;
    let mut failures = Vec::new();
    for r in routes
        .iter()
        .filter(|r| r.path.contains('{'))
        .filter(|r| !NOT_A_RESOURCE.contains(&(r.method.as_str(), r.path)))
    {
        let path = resource_for(&w, r.path)?;
        let is_api = r.path.starts_with("/v1/");
        for who in [
            Attacker::Anonymous,
            Attacker::Stranger,
            Attacker::OtherStore,
            Attacker::Clerk,
        ] {
            if who == Attacker::Clerk && CLERK_MAY.contains(&(r.method.as_str(), r.path)) {
                continue;
            }
            let status = if is_api {
                let token = match who {
                    Attacker::Anonymous => None,
                    Attacker::Stranger => Some(stranger.as_str()),
                    Attacker::OtherStore => Some(other.as_str()),
                    Attacker::Clerk => Some(clerk.as_str()),
                };
                let body = json_body(&r.method, r.path).map(|b| {
                    serde_json::from_str(
                        &b.to_string()
                            .replace("{message}", &w.message)
                            .replace("{cart_item}", &w.cart_item),
                    )
                    .unwrap_or(b)
                });
                if r.path.starts_with("/v1/sandbox/") {
                    // The sandbox routes allow 5 attempts a minute per intent: space
                    // the attackers out (the limit has its own test).
                    app.clock.advance_secs(13);
                }
                super::call(&app, r.method.clone(), &path, token, body)
                    .await?
                    .status()
                    .as_u16()
            } else {
                let (client, csrf) = match who {
                    Attacker::Anonymous => (app.client_from(&fresh_ip(32)), String::new()),
                    Attacker::Stranger => (stranger_web.clone(), stranger_csrf.clone()),
                    Attacker::OtherStore => (other_web.clone(), other_csrf.clone()),
                    Attacker::Clerk => (clerk_web.clone(), clerk_csrf.clone()),
                };
                let mut req = client.request(r.method.clone(), app.at(&path));
                if r.method != Method::GET {
                    let mut form: Vec<(&str, &str)> = form_body(r.path)
                        .into_iter()
                        .map(|(k, v)| {
                            (
                                k,
                                if v == "{message}" {
                                    w.message.as_str()
                                } else {
                                    v
                                },
                            )
                        })
                        .collect();
                    form.push(("csrf_token", csrf.as_str()));
                    req = req.form(&form);
                }
                let resp = req.send().await?;
                let st = resp.status().as_u16();
                if st == 303 {
                    let to = resp
                        .headers()
                        .get("location")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default();
                    if who == Attacker::Anonymous && to.starts_with("/login") {
                        401
                    } else {
                        failures.push(format!("{who:?} {} {} → 303 {to}", r.method, r.path));
                        continue;
                    }
                } else {
                    st
                }
            };
            let ok = match who {
                // No credentials: 401 (API), the login page (pages), or the CSRF
                // refusal of a cookie-less form post.
                Attacker::Anonymous => matches!(status, 401 | 403 | 404),
                // May not know the resource exists.
                Attacker::Stranger | Attacker::OtherStore => status == 404,
                // Knows the store: 403 where a larger store role is needed; 404 for
                // what is not the store's (someone else's session, admin routes).
                Attacker::Clerk => {
                    // A store's warnings are staff's (the guard's 404), not the store's.
                    let store_scoped = [
                        "/v1/stores/",
                        "/stores/",
                        "/v1/items/",
                        "/items/",
                        "/v1/transactions/",
                        "/transactions/",
                    ]
                    .iter()
                    .any(|p| r.path.starts_with(p))
                        && !r.path.ends_with("/warnings")
                        // A route declaring a staff permission answers the guard's 404.
                        && r.doc.permission.is_none();
                    if store_scoped {
                        status == 403
                    } else {
                        status == 404
                    }
                }
            };
            checked += 1;
            if !ok {
                failures.push(format!("{who:?} {} {} → {status}", r.method, r.path));
            }
        }
    }
    let after = fingerprint(&app).await?;
    for (b, a) in before.iter().zip(&after) {
        if b != a {
            failures.push(format!(
                "database changed:\n--- before\n{b}\n--- after\n{a}"
            ));
        }
    }
    assert!(checked >= 60, "only {checked} cases: is the router empty?");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    Ok(())
}

both_engines!(the_ownership_matrix_refuses_everyone_else);
