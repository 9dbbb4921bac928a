//! The marketplace API under `/v1`: the public catalog, stores and their members for
//! members, items, and the `grant_seller` staff action. Handlers parse, build the
//! [`Caller`] and call the service; what a caller may do is the service's policy.

use super::wire::*;
use crate::authn::{Ctx, CurrentUser, MaybeUser};
use crate::codes::Code;
use crate::error::{ApiError, ApiJson};
use crate::routes::{Auth, Doc, Group, Routes};
use crate::state::AppState;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use rampart_identity::{ClientCtx, Principal, Scope};
use rampart_kernel::account::Role;
use rampart_kernel::ids::{ItemId, StoreId};
use rampart_kernel::{FieldError, FieldErrors, Permission, UserId};
use rampart_marketplace::{
    Caller, CatalogQuery, ItemPatch, MarketError, NewItem, NewStore, StorePatch,
};
use rampart_security::ratelimit::PolicyName;

/// Maps marketplace errors to HTTP problems (one place).
pub fn problem(e: MarketError) -> ApiError {
    match e {
        MarketError::NotFound => ApiError::not_found(),
        MarketError::Forbidden => ApiError::forbidden(),
        MarketError::Validation(f) => ApiError::validation(f),
        MarketError::Conflict(f) => {
            let mut e = ApiError::new(StatusCode::CONFLICT, "conflict");
            e.errors = f.0;
            e
        }
        MarketError::Concurrent => ApiError::new(StatusCode::CONFLICT, "conflict"),
        MarketError::LastOwner => ApiError::new(StatusCode::CONFLICT, "last_owner"),
        MarketError::InvalidTransition => ApiError::new(StatusCode::CONFLICT, "invalid_transition"),
        MarketError::InvalidState(state) => {
            ApiError::new(StatusCode::CONFLICT, "invalid_transition")
                .detail(format!("state: {state}"))
        }
        MarketError::OutOfStock => ApiError::new(StatusCode::CONFLICT, "out_of_stock"),
        MarketError::OwnStorePurchase => ApiError::new(StatusCode::FORBIDDEN, "own_store_purchase"),
        MarketError::Internal(m) => ApiError::internal(m),
    }
}

impl From<MarketError> for ApiError {
    fn from(e: MarketError) -> Self {
        problem(e)
    }
}

/// The marketplace's view of the authenticated caller.
pub fn caller(p: &Principal, ctx: &ClientCtx) -> Caller {
    Caller {
        user: UserId::from_stored(p.user_id()),
        role: crate::authn::policy_role(p),
        request_id: ctx.request_id.clone(),
    }
}

/// A path ID that does not parse names nothing: 404, like an unknown one.
pub fn store_id(raw: &str) -> Result<StoreId, ApiError> {
    raw.parse().map_err(|_| ApiError::not_found())
}

/// See [`store_id`].
pub fn item_id(raw: &str) -> Result<ItemId, ApiError> {
    raw.parse().map_err(|_| ApiError::not_found())
}

/// Parses the catalog's query string (shared with the catalog page).
pub fn catalog_query(raw: Option<&str>) -> Result<CatalogQuery, ApiError> {
    let p: CatalogParams = match raw {
        Some(q) => serde_urlencoded::from_str(q).map_err(|_| {
            ApiError::validation(FieldErrors(vec![FieldError::new("query", "invalid_value")]))
        })?,
        None => CatalogParams::default(),
    };
    Ok(CatalogQuery::parse(
        p.store.as_deref(),
        p.min_price,
        p.max_price,
        p.currency.as_deref(),
        p.q.as_deref(),
        p.limit,
        p.cursor.as_deref(),
    )?)
}

/// Mounts the marketplace API.
pub fn mount(r: Routes) -> Routes {
    use Code::*;
    let member = |summary| {
        Doc::new("stores", summary)
            .auth(Auth::User)
            .scope(Scope::StoresRead)
    };
    let write = |summary| {
        Doc::new("stores", summary)
            .auth(Auth::User)
            .scope(Scope::StoresWrite)
            .limit(PolicyName::StoreWrite)
    };
    r.group(Group::Api)
        .get(
            "/v1/items",
            list_items,
            Doc::new(
                "catalog",
                "The public catalog: active items of active stores, newest first, cursor-paginated",
            )
            .query::<CatalogParams>()
            .responds::<CatalogResponse>(200)
            .errors(&[ValidationFailed]),
        )
        .get(
            "/v1/items/{id}",
            get_item,
            Doc::new(
                "catalog",
                "An item: public when active in an active store; drafts to its store's members",
            )
            .responds::<ItemResponse>(200)
            .errors(&[NotFound]),
        )
        .post(
            "/v1/stores",
            create_store,
            Doc::new(
                "stores",
                "Open a store (sellers); the caller becomes its owner",
            )
            .permission(Permission::CreateStore)
            .scope(Scope::StoresWrite)
            .limit(PolicyName::StoreWrite)
            .request::<CreateStoreRequest>()
            .responds::<StoreResponse>(201)
            .errors(&[ValidationFailed]),
        )
        .get(
            "/v1/stores",
            my_stores,
            member("The caller's stores and their role in each").responds::<StoreList>(200),
        )
        .get(
            "/v1/stores/{id}",
            get_store,
            member("A store of the caller's")
                .responds::<MyStoreResponse>(200)
                .errors(&[NotFound]),
        )
        .patch(
            "/v1/stores/{id}",
            update_store,
            write("Change a store's settings (owners)")
                .request::<UpdateStoreRequest>()
                .responds::<StoreResponse>(200)
                .errors(&[ValidationFailed, NotFound, Forbidden]),
        )
        .get(
            "/v1/stores/{id}/members",
            list_members,
            member("A store's members")
                .responds::<MemberList>(200)
                .errors(&[NotFound]),
        )
        .post(
            "/v1/stores/{id}/members",
            set_member,
            write("Add a member or change a member's role (owners)")
                .request::<MemberRequest>()
                .responds::<MemberResponse>(200)
                .errors(&[ValidationFailed, NotFound, Forbidden, LastOwner]),
        )
        .delete(
            "/v1/stores/{id}/members/{user_id}",
            remove_member,
            write("Remove a member (owners) or leave the store (any member but the last owner)")
                .no_content()
                .errors(&[NotFound, Forbidden, LastOwner]),
        )
        .get(
            "/v1/stores/{id}/items",
            store_items,
            member("A store's items in every status (members)")
                .responds::<ItemList>(200)
                .errors(&[NotFound]),
        )
        .post(
            "/v1/stores/{id}/items",
            create_item,
            write("Create an item (managers, owners)")
                .request::<CreateItemRequest>()
                .responds::<ItemResponse>(201)
                .errors(&[ValidationFailed, NotFound, Forbidden]),
        )
        .patch(
            "/v1/items/{id}",
            update_item,
            write("Edit an item (managers, owners); price changes are audited")
                .request::<UpdateItemRequest>()
                .responds::<ItemResponse>(200)
                .errors(&[
                    ValidationFailed,
                    NotFound,
                    Forbidden,
                    Conflict,
                    InvalidTransition,
                ]),
        )
        .post(
            "/v1/items/{id}/archive",
            archive_item,
            write("Archive an item (managers, owners)")
                .responds::<ItemResponse>(200)
                .errors(&[NotFound, Forbidden, InvalidTransition]),
        )
        .post(
            "/v1/items/{id}/stock",
            adjust_stock,
            write("Adjust stock by hand (clerks and up; staff); audited with old and new stock")
                .request::<StockRequest>()
                .responds::<ItemResponse>(200)
                .errors(&[ValidationFailed, NotFound, Forbidden]),
        )
        .group(Group::Manage)
        .post(
            "/v1/admin/users/{id}/grant-seller",
            grant_seller,
            Doc::new("admin", "Make a customer a seller (audited grant_seller)")
                .permission(Permission::GrantSeller)
                .no_content()
                .errors(&[NotFound, Conflict]),
        )
}

async fn list_items(
    State(s): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<CatalogResponse>, ApiError> {
    let q = catalog_query(raw.as_deref())?;
    let page = s.market.catalog(&q).await?;
    Ok(Json(CatalogResponse {
        items: page.items.into_iter().map(Into::into).collect(),
        next_cursor: page.next.map(|c| c.encode()),
    }))
}

async fn get_item(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    MaybeUser(p): MaybeUser,
    Path(id): Path<String>,
) -> Result<Json<ItemResponse>, ApiError> {
    let id = item_id(&id)?;
    let c = p.as_ref().map(|p| caller(p, &ctx));
    Ok(Json(s.market.item(c.as_ref(), &id).await?.into()))
}

async fn create_store(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    ApiJson(b): ApiJson<CreateStoreRequest>,
) -> Result<Response, ApiError> {
    let store = s
        .market
        .create_store(
            &caller(&p, &ctx),
            NewStore {
                name: b.name,
                description: b.description,
                currency: b.currency,
                auto_release_days: b.auto_release_days,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(StoreResponse::from(store))).into_response())
}

async fn my_stores(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
) -> Result<Json<StoreList>, ApiError> {
    let stores = s.market.my_stores(&caller(&p, &ctx)).await?;
    Ok(Json(StoreList {
        stores: stores.into_iter().map(Into::into).collect(),
    }))
}

async fn get_store(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<MyStoreResponse>, ApiError> {
    let id = store_id(&id)?;
    Ok(Json(s.market.store(&caller(&p, &ctx), &id).await?.into()))
}

async fn update_store(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<UpdateStoreRequest>,
) -> Result<Json<StoreResponse>, ApiError> {
    let id = store_id(&id)?;
    let patch = StorePatch {
        name: b.name,
        description: b.description,
        currency: b.currency,
        auto_release_days: b.auto_release_days,
        min_order_minor: b.min_order_minor,
    };
    Ok(Json(
        s.market
            .update_store(&caller(&p, &ctx), &id, patch)
            .await?
            .into(),
    ))
}

async fn list_members(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<MemberList>, ApiError> {
    let id = store_id(&id)?;
    let members = s.market.members(&caller(&p, &ctx), &id).await?;
    Ok(Json(MemberList {
        members: members.into_iter().map(Into::into).collect(),
    }))
}

/// Resolves a member's username to an active account that may join a store.
/// Usernames only: an e-mail address is refused like an unknown user, so the form
/// cannot tell a seller which addresses have accounts. Accounts holding staff powers
/// (support and above) are refused too (`staff_account`): an owner must not be able
/// to make staff a party to the store's disputes and so keep them from resolving.
pub async fn member_user(s: &AppState, login: &str) -> Result<UserId, ApiError> {
    let login = login.trim().to_lowercase();
    let unknown = || {
        ApiError::validation(FieldErrors(vec![FieldError::new(
            "username",
            "unknown_user",
        )]))
    };
    if login.contains('@') {
        return Err(unknown());
    }
    match s.auth.account_by_login(&login).await? {
        Some(a) if a.status == rampart_kernel::account::AccountStatus::Active => {
            if a.role >= Role::Support {
                return Err(ApiError::validation(FieldErrors(vec![FieldError::new(
                    "username",
                    "staff_account",
                )])));
            }
            Ok(a.id)
        }
        _ => Err(unknown()),
    }
}

async fn set_member(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<MemberRequest>,
) -> Result<Json<MemberResponse>, ApiError> {
    let id = store_id(&id)?;
    let c = caller(&p, &ctx);
    // The store's policy is asked before the user lookup, so a stranger cannot probe
    // usernames through someone else's store.
    s.market.store(&c, &id).await?;
    let user = member_user(&s, &b.username).await?;
    Ok(Json(
        s.market
            .set_member(&c, &id, &user, b.role.into())
            .await?
            .into(),
    ))
}

async fn remove_member(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    Path((id, user)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let id = store_id(&id)?;
    let user: UserId = user.parse().map_err(|_| ApiError::not_found())?;
    s.market
        .remove_member(&caller(&p, &ctx), &id, &user)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn store_items(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<ItemList>, ApiError> {
    let id = store_id(&id)?;
    let items = s.market.store_items(&caller(&p, &ctx), &id).await?;
    Ok(Json(ItemList {
        items: items.into_iter().map(Into::into).collect(),
    }))
}

async fn create_item(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<CreateItemRequest>,
) -> Result<Response, ApiError> {
    let id = store_id(&id)?;
    let item = s
        .market
        .create_item(
            &caller(&p, &ctx),
            &id,
            NewItem {
                title: b.title,
                description: b.description,
                price_minor: b.price_minor,
                stock: b.stock,
                status: b.status.map(|s| s.as_str().to_owned()),
                item_type: b.item_type,
                weight_grams: b.weight_grams,
                subscription_only: b.subscription_only,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(ItemResponse::from(item))).into_response())
}

async fn update_item(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<UpdateItemRequest>,
) -> Result<Json<ItemResponse>, ApiError> {
    let id = item_id(&id)?;
    let patch = ItemPatch {
        title: b.title,
        description: b.description,
        price_minor: b.price_minor,
        status: b.status.map(|s| s.as_str().to_owned()),
        item_type: b.item_type,
        weight_grams: b.weight_grams,
        subscription_only: b.subscription_only,
    };
    Ok(Json(
        s.market
            .update_item(&caller(&p, &ctx), &id, patch)
            .await?
            .into(),
    ))
}

async fn archive_item(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<ItemResponse>, ApiError> {
    let id = item_id(&id)?;
    let patch = ItemPatch {
        status: Some("archived".to_owned()),
        ..ItemPatch::default()
    };
    Ok(Json(
        s.market
            .update_item(&caller(&p, &ctx), &id, patch)
            .await?
            .into(),
    ))
}

async fn adjust_stock(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<StockRequest>,
) -> Result<Json<ItemResponse>, ApiError> {
    let id = item_id(&id)?;
    Ok(Json(
        s.market
            .adjust_stock(&caller(&p, &ctx), &id, b.delta)
            .await?
            .into(),
    ))
}

/// The audited `grant_seller` staff action (identity's `set_role`, which records
/// `ActionType::GrantSeller`). Only customers become sellers: anyone else is left
/// alone (409), so this route can never demote.
async fn grant_seller(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let user: UserId = id.parse().map_err(|_| ApiError::not_found())?;
    let account = s
        .auth
        .account(user.as_str())
        .await?
        .ok_or_else(ApiError::not_found)?;
    if account.role != Role::Customer {
        return Err(ApiError::new(StatusCode::CONFLICT, "conflict"));
    }
    s.auth
        .set_role(Some(p.user_id()), user.as_str(), Role::Seller, &ctx)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
