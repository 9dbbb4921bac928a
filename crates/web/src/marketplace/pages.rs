//! Server-rendered marketplace pages: the catalog and item pages (public), my stores,
//! a store's page (settings, members, items) and the item editor. Forms post through
//! the registry like every other route, so each gets the CSRF guard; successful posts
//! answer 303 back to the page they came from.

use super::api::{caller, catalog_query, item_id, member_user, store_id};
use crate::authn::{Ctx, CurrentUser, MaybeUser};
use crate::error::{ApiError, ApiForm};
use crate::i18n::Tr;
use crate::identity::pages::{
    csrf_for, csrf_for_session, err_message, field_messages, lang_for, nav, notice, query, render,
    see_other,
};
use crate::layout::Nav;
use crate::routes::{Auth, Doc, Group, Routes};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use rampart_identity::Principal;
use rampart_marketplace::{
    ItemPatch, ItemView, MarketError, NewItem, NewStore, StorePatch, StoreRole,
};
use rampart_security::ratelimit::PolicyName;
use serde::Deserialize;

/// Mounts the marketplace pages.
pub fn mount(r: Routes) -> Routes {
    let public = |summary: &'static str| Doc::new("web", summary).page();
    let page = |summary: &'static str| Doc::new("web", summary).page().auth(Auth::User);
    let form = |summary: &'static str| page(summary).limit(PolicyName::StoreWrite);
    r.group(Group::Web)
        .get("/items", catalog_page, public("The catalog"))
        .get("/items/{id}", item_page, public("An item"))
        .get("/stores", stores_page, page("My stores"))
        .post("/stores", create_store, form("Open a store"))
        .get(
            "/stores/{id}",
            store_page,
            page("A store: settings, members, items"),
        )
        .post(
            "/stores/{id}/settings",
            save_settings,
            form("Save store settings"),
        )
        .post(
            "/stores/{id}/members",
            save_member,
            form("Add or change a member"),
        )
        .post(
            "/stores/{id}/members/{user_id}/remove",
            remove_member,
            form("Remove a member"),
        )
        .post("/stores/{id}/items", add_item, form("Add an item"))
        .get("/items/{id}/edit", edit_item_page, page("Edit an item"))
        .post("/items/{id}/edit", save_item, form("Save an item"))
        .post("/items/{id}/stock", stock, form("Adjust stock"))
}

/// The frame of a page: language, CSRF token and navigation.
pub(super) struct Frame {
    pub(super) tr: Tr,
    pub(super) nav: Nav,
    pub(super) token: String,
}

pub(super) fn frame(s: &AppState, p: Option<&Principal>, headers: &HeaderMap) -> Frame {
    let token = match p.and_then(|p| p.session_id()) {
        Some(sid) => csrf_for_session(s, sid),
        None => csrf_for(s, headers).0,
    };
    Frame {
        tr: Tr(lang_for(p, headers)),
        nav: nav(p, &token),
        token,
    }
}

/// An item as a page shows it.
struct ItemRow {
    id: String,
    store_id: String,
    title: String,
    description: String,
    price: String,
    stock: i64,
    status: &'static str,
    /// The status's label key (`market.status.*`).
    status_key: &'static str,
    /// Item type tag (`""`: none).
    item_type: String,
    /// Unit weight in grams.
    weight_grams: i64,
    /// Subscription-only.
    subscription_only: bool,
}

impl From<ItemView> for ItemRow {
    fn from(i: ItemView) -> Self {
        ItemRow {
            id: i.id.into_string(),
            store_id: i.store_id.into_string(),
            title: i.title,
            description: i.description,
            price: i.price.to_string(),
            stock: i.stock,
            status: i.status.as_str(),
            status_key: match i.status.as_str() {
                "active" => "market.status.active",
                "archived" => "market.status.archived",
                _ => "market.status.draft",
            },
            item_type: i.item_type,
            weight_grams: i.weight_grams,
            subscription_only: i.subscription_only,
        }
    }
}

/// A page's answer to a refused form: the messages to show, or the error itself.
pub(super) fn form_errors(tr: Tr, e: MarketError) -> Result<Vec<String>, ApiError> {
    match e {
        MarketError::Validation(f) | MarketError::Conflict(f) => Ok(field_messages(tr.0, &f.0)),
        MarketError::LastOwner => Ok(vec![err_message(tr.0, "last_owner")]),
        MarketError::InvalidTransition | MarketError::InvalidState(_) => {
            Ok(vec![err_message(tr.0, "invalid_transition")])
        }
        MarketError::OutOfStock => Ok(vec![err_message(tr.0, "out_of_stock")]),
        MarketError::OwnStorePurchase => Ok(vec![err_message(tr.0, "own_store_purchase")]),
        other => Err(other.into()),
    }
}

#[derive(Deserialize, Default)]
pub(super) struct NoticeQuery {
    pub(super) notice: Option<String>,
}

// ----- catalog ---------------------------------------------------------------------

#[derive(Template)]
#[template(path = "marketplace/catalog.html")]
struct CatalogPage {
    tr: Tr,
    nav: Nav,
    items: Vec<ItemRow>,
    q: String,
    min_price: String,
    max_price: String,
    next: Option<String>,
    errors: Vec<String>,
}

#[derive(Deserialize, Default)]
struct CatalogEcho {
    q: Option<String>,
    min_price: Option<String>,
    max_price: Option<String>,
}

async fn catalog_page(
    State(s): State<AppState>,
    MaybeUser(p): MaybeUser,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let f = frame(&s, p.as_ref(), &headers);
    // Empty form fields arrive as `min_price=`: drop them before parsing.
    let cleaned: Option<String> = raw.as_deref().map(|q| {
        q.split('&')
            .filter(|kv| !kv.ends_with('=') && !kv.is_empty())
            .collect::<Vec<_>>()
            .join("&")
    });
    let echo: CatalogEcho = query(raw.clone());
    let (items, next, errors, status) = match catalog_query(cleaned.as_deref()) {
        Ok(q) => {
            let page = s.market.catalog(&q).await?;
            let next = page.next.map(|c| {
                let mut link = String::from("/items?cursor=");
                link.push_str(&c.encode());
                for (k, v) in [
                    ("q", &echo.q),
                    ("min_price", &echo.min_price),
                    ("max_price", &echo.max_price),
                ] {
                    if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
                        link.push_str(&format!("&{k}={}", crate::authn::urlencode(v)));
                    }
                }
                link
            });
            (
                page.items.into_iter().map(Into::into).collect(),
                next,
                Vec::new(),
                StatusCode::OK,
            )
        }
        Err(e) => (
            Vec::new(),
            None,
            field_messages(f.tr.0, &e.errors),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    };
    let page = CatalogPage {
        tr: f.tr,
        nav: f.nav,
        items,
        q: echo.q.unwrap_or_default(),
        min_price: echo.min_price.unwrap_or_default(),
        max_price: echo.max_price.unwrap_or_default(),
        next,
        errors,
    };
    Ok(render(&page, status, None))
}

#[derive(Template)]
#[template(path = "marketplace/item.html")]
struct ItemPage {
    tr: Tr,
    nav: Nav,
    csrf_token: String,
    item: ItemRow,
    /// Signed in and the item is for sale: the Buy form shows.
    can_buy: bool,
    /// The item is for sale and in stock: the Add to cart form shows (to visitors too).
    can_add_to_cart: bool,
    errors: Vec<String>,
}

/// The item page, with `errors` from a refused Buy form (answered with `status`).
pub(super) async fn item_view(
    s: &AppState,
    p: Option<&Principal>,
    ctx: &rampart_identity::ClientCtx,
    headers: &HeaderMap,
    raw_id: &str,
    errors: Vec<String>,
    status: StatusCode,
) -> Result<Response, ApiError> {
    let id = item_id(raw_id)?;
    let c = p.map(|p| caller(p, ctx));
    let item = s.market.item(c.as_ref(), &id).await?;
    // A visitor without any cookie gets the pre-session cookie its form token is
    // bound to (the Add to cart form posts without a session).
    let (f, cookie) = match p {
        Some(_) => (frame(s, p, headers), None),
        None => {
            let (token, cookie) = csrf_for(s, headers);
            let f = Frame {
                tr: Tr(lang_for(p, headers)),
                nav: nav(p, &token),
                token,
            };
            (f, cookie)
        }
    };
    let active = item.status == rampart_marketplace::ItemStatus::Active;
    let can_buy = p.is_some() && active;
    let can_add_to_cart = active && item.stock > 0;
    Ok(render(
        &ItemPage {
            tr: f.tr,
            nav: f.nav,
            csrf_token: f.token,
            item: item.into(),
            can_buy,
            can_add_to_cart,
            errors,
        },
        status,
        cookie.as_deref(),
    ))
}

async fn item_page(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    MaybeUser(p): MaybeUser,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    item_view(
        &s,
        p.as_ref(),
        &ctx,
        &headers,
        &id,
        Vec::new(),
        StatusCode::OK,
    )
    .await
}

// ----- my stores -------------------------------------------------------------------

struct StoreLine {
    id: String,
    name: String,
    role: &'static str,
}

#[derive(Template)]
#[template(path = "marketplace/stores.html")]
struct StoresPage {
    tr: Tr,
    nav: Nav,
    csrf_token: String,
    stores: Vec<StoreLine>,
    can_open: bool,
    errors: Vec<String>,
}

async fn stores_view(
    s: &AppState,
    p: &Principal,
    headers: &HeaderMap,
    ctx: &rampart_identity::ClientCtx,
    errors: Vec<String>,
) -> Result<Response, ApiError> {
    let f = frame(s, Some(p), headers);
    let stores = s.market.my_stores(&caller(p, ctx)).await?;
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let page = StoresPage {
        tr: f.tr,
        nav: f.nav,
        csrf_token: f.token,
        stores: stores
            .into_iter()
            .map(|m| StoreLine {
                id: m.store.id.into_string(),
                name: m.store.name,
                role: m.role.as_str(),
            })
            .collect(),
        can_open: rampart_kernel::Permission::CreateStore.allowed_for(p.role),
        errors,
    };
    Ok(render(&page, status, None))
}

async fn stores_page(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    stores_view(&s, &p, &headers, &ctx, Vec::new()).await
}

#[derive(Deserialize)]
struct StoreForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    currency: String,
    #[serde(default)]
    auto_release_days: String,
    /// Absent: unchanged; empty: no minimum.
    #[serde(default)]
    min_order_minor: Option<String>,
}

fn days(raw: &str) -> Option<i64> {
    let t = raw.trim();
    if t.is_empty() {
        None
    } else {
        // Not a number: out of range, as the parser says.
        Some(t.parse().unwrap_or(-1))
    }
}

async fn create_store(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    headers: HeaderMap,
    ApiForm(b): ApiForm<StoreForm>,
) -> Result<Response, ApiError> {
    let input = NewStore {
        name: b.name,
        description: Some(b.description),
        currency: b.currency,
        auto_release_days: days(&b.auto_release_days),
    };
    match s.market.create_store(&caller(&p, &ctx), input).await {
        Ok(store) => Ok(see_other(&format!(
            "/stores/{}?notice=store_saved",
            store.id
        ))),
        Err(MarketError::Forbidden) => Err(ApiError::not_found()),
        Err(e) => {
            let tr = lang_for(Some(&p), &headers);
            let errors = form_errors(Tr(tr), e)?;
            stores_view(&s, &p, &headers, &ctx, errors).await
        }
    }
}

// ----- one store -------------------------------------------------------------------

struct MemberLine {
    user_id: String,
    role: &'static str,
}

#[derive(Template)]
#[template(path = "marketplace/store.html")]
struct StorePage {
    tr: Tr,
    nav: Nav,
    csrf_token: String,
    id: String,
    name: String,
    description: String,
    currency: String,
    auto_release_days: i64,
    /// The store's minimum order in minor units, empty when none.
    min_order_minor: String,
    role: &'static str,
    is_owner: bool,
    can_edit_items: bool,
    members: Vec<MemberLine>,
    items: Vec<ItemRow>,
    notice: Option<String>,
    errors: Vec<String>,
}

async fn store_view(
    s: &AppState,
    p: &Principal,
    ctx: &rampart_identity::ClientCtx,
    headers: &HeaderMap,
    raw_id: &str,
    notice_name: Option<&str>,
    errors: Vec<String>,
) -> Result<Response, ApiError> {
    let id = store_id(raw_id)?;
    let c = caller(p, ctx);
    let mine = s.market.store(&c, &id).await?;
    let members = s.market.members(&c, &id).await?;
    let items = s.market.store_items(&c, &id).await?;
    let f = frame(s, Some(p), headers);
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let page = StorePage {
        notice: notice(f.tr.0, notice_name),
        tr: f.tr,
        nav: f.nav,
        csrf_token: f.token,
        id: mine.store.id.into_string(),
        name: mine.store.name,
        description: mine.store.description,
        currency: mine.store.currency.as_str().to_owned(),
        auto_release_days: mine.store.auto_release_days,
        min_order_minor: mine
            .store
            .min_order_minor
            .map(|m| m.to_string())
            .unwrap_or_default(),
        role: mine.role.as_str(),
        is_owner: mine.role == StoreRole::Owner,
        can_edit_items: mine.role >= StoreRole::Manager,
        members: members
            .into_iter()
            .map(|m| MemberLine {
                user_id: m.user_id.into_string(),
                role: m.role.as_str(),
            })
            .collect(),
        items: items.into_iter().map(Into::into).collect(),
        errors,
    };
    Ok(render(&page, status, None))
}

async fn store_page(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let q: NoticeQuery = query(raw);
    store_view(&s, &p, &ctx, &headers, &id, q.notice.as_deref(), Vec::new()).await
}

async fn save_settings(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    headers: HeaderMap,
    Path(id): Path<String>,
    ApiForm(b): ApiForm<StoreForm>,
) -> Result<Response, ApiError> {
    let sid = store_id(&id)?;
    let patch = StorePatch {
        name: Some(b.name),
        description: Some(b.description),
        currency: Some(b.currency),
        auto_release_days: days(&b.auto_release_days),
        min_order_minor: b.min_order_minor.as_deref().map(number),
    };
    match s.market.update_store(&caller(&p, &ctx), &sid, patch).await {
        Ok(_) => Ok(see_other(&format!("/stores/{sid}?notice=store_saved"))),
        Err(e) => {
            let errors = form_errors(Tr(lang_for(Some(&p), &headers)), e)?;
            store_view(&s, &p, &ctx, &headers, &id, None, errors).await
        }
    }
}

#[derive(Deserialize)]
struct MemberForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    role: String,
}

async fn save_member(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    headers: HeaderMap,
    Path(id): Path<String>,
    ApiForm(b): ApiForm<MemberForm>,
) -> Result<Response, ApiError> {
    let sid = store_id(&id)?;
    let c = caller(&p, &ctx);
    s.market.store(&c, &sid).await?;
    let tr = Tr(lang_for(Some(&p), &headers));
    let role: Option<StoreRole> = b.role.parse().ok();
    let user = member_user(&s, &b.username).await;
    let result = match (role, user) {
        (Some(role), Ok(user)) => s.market.set_member(&c, &sid, &user, role).await.map(|_| ()),
        (None, _) => Err(MarketError::Validation(rampart_kernel::FieldErrors(vec![
            rampart_kernel::FieldError::new("role", "invalid_value"),
        ]))),
        (_, Err(e)) => Err(MarketError::Validation(rampart_kernel::FieldErrors(
            e.errors,
        ))),
    };
    match result {
        Ok(()) => Ok(see_other(&format!("/stores/{sid}?notice=member_saved"))),
        Err(e) => {
            let errors = form_errors(tr, e)?;
            store_view(&s, &p, &ctx, &headers, &id, None, errors).await
        }
    }
}

async fn remove_member(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    headers: HeaderMap,
    Path((id, user)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let sid = store_id(&id)?;
    let user: rampart_kernel::UserId = user.parse().map_err(|_| ApiError::not_found())?;
    match s.market.remove_member(&caller(&p, &ctx), &sid, &user).await {
        Ok(()) if user.as_str() == p.user_id() => Ok(see_other("/stores")),
        Ok(()) => Ok(see_other(&format!("/stores/{sid}?notice=member_saved"))),
        Err(e) => {
            let errors = form_errors(Tr(lang_for(Some(&p), &headers)), e)?;
            store_view(&s, &p, &ctx, &headers, &id, None, errors).await
        }
    }
}

#[derive(Deserialize)]
struct ItemForm {
    #[serde(default)]
    title: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    price_minor: String,
    #[serde(default)]
    stock: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    item_type: Option<String>,
    #[serde(default)]
    weight_grams: Option<String>,
    /// `true` or `false` (a select, so an unticked box cannot read as absent).
    #[serde(default)]
    subscription_only: Option<String>,
}

/// `true`/`on` is yes, anything else no; absent stays absent.
fn flag(raw: Option<&str>) -> Option<bool> {
    raw.map(|v| matches!(v.trim(), "true" | "on"))
}

/// A number field: empty is absent; anything else that is not a number is -1 (the
/// parser's range check names the field).
pub(super) fn number(raw: &str) -> Option<i64> {
    days(raw)
}

async fn add_item(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    headers: HeaderMap,
    Path(id): Path<String>,
    ApiForm(b): ApiForm<ItemForm>,
) -> Result<Response, ApiError> {
    let sid = store_id(&id)?;
    let input = NewItem {
        title: b.title,
        description: Some(b.description),
        price_minor: number(&b.price_minor).unwrap_or(-1),
        stock: number(&b.stock),
        status: Some(b.status).filter(|s| !s.is_empty()),
        item_type: b.item_type,
        weight_grams: b.weight_grams.as_deref().and_then(number),
        subscription_only: flag(b.subscription_only.as_deref()),
    };
    match s.market.create_item(&caller(&p, &ctx), &sid, input).await {
        Ok(_) => Ok(see_other(&format!("/stores/{sid}?notice=item_saved"))),
        Err(e) => {
            let errors = form_errors(Tr(lang_for(Some(&p), &headers)), e)?;
            store_view(&s, &p, &ctx, &headers, &id, None, errors).await
        }
    }
}

#[derive(Template)]
#[template(path = "marketplace/item_edit.html")]
struct EditPage {
    tr: Tr,
    nav: Nav,
    csrf_token: String,
    item: ItemRow,
    price_minor: i64,
    errors: Vec<String>,
    notice: Option<String>,
}

async fn edit_view(
    s: &AppState,
    p: &Principal,
    ctx: &rampart_identity::ClientCtx,
    headers: &HeaderMap,
    raw_id: &str,
    notice_name: Option<&str>,
    errors: Vec<String>,
) -> Result<Response, ApiError> {
    let id = item_id(raw_id)?;
    let c = caller(p, ctx);
    let item = s.market.item(Some(&c), &id).await?;
    // Only members see the editor: the store page's policy decides.
    s.market.store(&c, &item.store_id).await?;
    let f = frame(s, Some(p), headers);
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let page = EditPage {
        notice: notice(f.tr.0, notice_name),
        tr: f.tr,
        nav: f.nav,
        csrf_token: f.token,
        price_minor: item.price.minor,
        item: item.into(),
        errors,
    };
    Ok(render(&page, status, None))
}

async fn edit_item_page(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let q: NoticeQuery = query(raw);
    edit_view(&s, &p, &ctx, &headers, &id, q.notice.as_deref(), Vec::new()).await
}

async fn save_item(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    headers: HeaderMap,
    Path(id): Path<String>,
    ApiForm(b): ApiForm<ItemForm>,
) -> Result<Response, ApiError> {
    let iid = item_id(&id)?;
    let patch = ItemPatch {
        title: Some(b.title),
        description: Some(b.description),
        price_minor: number(&b.price_minor),
        status: Some(b.status).filter(|s| !s.is_empty()),
        item_type: b.item_type,
        weight_grams: b.weight_grams.as_deref().and_then(number),
        subscription_only: flag(b.subscription_only.as_deref()),
    };
    match s.market.update_item(&caller(&p, &ctx), &iid, patch).await {
        Ok(_) => Ok(see_other(&format!("/items/{iid}/edit?notice=item_saved"))),
        Err(e) => {
            let errors = form_errors(Tr(lang_for(Some(&p), &headers)), e)?;
            edit_view(&s, &p, &ctx, &headers, &id, None, errors).await
        }
    }
}

#[derive(Deserialize)]
struct StockForm {
    #[serde(default)]
    delta: String,
}

async fn stock(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    headers: HeaderMap,
    Path(id): Path<String>,
    ApiForm(b): ApiForm<StockForm>,
) -> Result<Response, ApiError> {
    let iid = item_id(&id)?;
    let delta = number(&b.delta).unwrap_or(0);
    match s.market.adjust_stock(&caller(&p, &ctx), &iid, delta).await {
        Ok(item) => Ok(see_other(&format!(
            "/stores/{}?notice=stock_saved",
            item.store_id
        ))),
        Err(e) => {
            let errors = form_errors(Tr(lang_for(Some(&p), &headers)), e)?;
            edit_view(&s, &p, &ctx, &headers, &id, None, errors).await
        }
    }
}
