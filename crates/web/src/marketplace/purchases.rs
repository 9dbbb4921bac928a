//! The purchase and escrow-transaction API under `/v1`: buying an item, the buyer's
//! and a store's transactions, one transaction with its intents, and the actions on
//! it (fund by staff, ship, release and cancel as intents). Who may do what is the
//! service's transaction policy; handlers parse and call.

use super::api::{caller, item_id, store_id};
use super::wire::*;
use crate::authn::{Ctx, CurrentUser};
use crate::codes::Code;
use crate::error::{ApiError, ApiJson};
use crate::routes::{Auth, Doc, Group, Routes};
use crate::state::AppState;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use rampart_identity::Scope;
use rampart_kernel::ids::TransactionId;
use rampart_kernel::{FieldError, FieldErrors, Permission};
use rampart_marketplace::PageQuery;
use rampart_security::ratelimit::PolicyName;
use serde::de::DeserializeOwned;

/// A path ID that does not parse names nothing: 404, like an unknown one.
pub fn transaction_id(raw: &str) -> Result<TransactionId, ApiError> {
    raw.parse().map_err(|_| ApiError::not_found())
}

/// Parses a query string into `T`; an unknown parameter or value is a 422.
pub fn params<T: DeserializeOwned + Default>(raw: Option<&str>) -> Result<T, ApiError> {
    match raw {
        Some(q) => serde_urlencoded::from_str(q).map_err(|_| {
            ApiError::validation(FieldErrors(vec![FieldError::new("query", "invalid_value")]))
        }),
        None => Ok(T::default()),
    }
}

/// Mounts the purchase and transaction API.
pub fn mount(r: Routes) -> Routes {
    use Code::*;
    let read = |summary| {
        Doc::new("transactions", summary)
            .auth(Auth::User)
            .scope(Scope::OrdersRead)
    };
    let act = |summary| {
        Doc::new("transactions", summary)
            .auth(Auth::User)
            .scope(Scope::OrdersWrite)
            .limit(PolicyName::StoreWrite)
    };
    r.group(Group::Api)
        .post(
            "/v1/items/{id}/purchases",
            purchase,
            Doc::new(
                "transactions",
                "Buy an item: reserves stock and opens an escrow transaction (pending_payment) \
                 at the item's current price",
            )
            .auth(Auth::User)
            .scope(Scope::OrdersWrite)
            .limit(PolicyName::Checkout)
            .request::<PurchaseRequest>()
            .responds::<TransactionResponse>(201)
            .errors(&[ValidationFailed, NotFound, OutOfStock, OwnStorePurchase]),
        )
        .get(
            "/v1/transactions",
            list,
            read("The caller's purchases (`as=buyer`), newest first, cursor-paginated")
                .query::<TransactionListParams>()
                .responds::<TransactionList>(200)
                .errors(&[ValidationFailed]),
        )
        .get(
            "/v1/stores/{id}/transactions",
            store_list,
            read("A store's sales, newest first, cursor-paginated (members)")
                .query::<PageParams>()
                .responds::<TransactionList>(200)
                .errors(&[ValidationFailed, NotFound]),
        )
        .get(
            "/v1/transactions/{id}",
            get,
            read("A transaction with its intents and the caller's possible actions (buyer, store members, staff)")
                .responds::<TransactionResponse>(200)
                .errors(&[NotFound]),
        )
        .post(
            "/v1/transactions/{id}/ship",
            ship,
            act("Mark a funded transaction shipped (store clerks and up)")
                .responds::<TransactionResponse>(200)
                .errors(&[NotFound, Forbidden, InvalidTransition, Conflict]),
        )
        .post(
            "/v1/transactions/{id}/release",
            release,
            act("Confirm receipt (the buyer): requests the release intent, carried out by the worker")
                .responds::<IntentResponse>(202)
                .errors(&[NotFound, Forbidden, InvalidTransition, Conflict]),
        )
        .post(
            "/v1/transactions/{id}/cancel",
            cancel,
            act("Cancel before shipping (store managers and up, staff who refund): requests the cancel intent")
                .responds::<IntentResponse>(202)
                .errors(&[NotFound, Forbidden, InvalidTransition, Conflict]),
        )
        .group(Group::Manage)
        .post(
            "/v1/transactions/{id}/fund",
            fund,
            Doc::new(
                "transactions",
                "Mark a transaction funded by hand (staff; audited escrow_fund) until checkout lands",
            )
            .permission(Permission::MarkFunded)
            .scope(Scope::OrdersWrite)
            .limit(PolicyName::StoreWrite)
            .responds::<TransactionResponse>(200)
            .errors(&[NotFound, InvalidTransition, Conflict]),
        )
}

async fn purchase(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<PurchaseRequest>,
) -> Result<Response, ApiError> {
    let id = item_id(&id)?;
    let c = caller(&p, &ctx);
    let escrow = s.market.purchase(&c, &id, b.quantity).await?;
    let view = s.market.transaction(&c, &escrow.id).await?;
    Ok((StatusCode::CREATED, Json(TransactionResponse::from(view))).into_response())
}

async fn list(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    RawQuery(raw): RawQuery,
) -> Result<Json<TransactionList>, ApiError> {
    let q: TransactionListParams = params(raw.as_deref())?;
    let TransactionParty::Buyer = q.party.unwrap_or_default();
    let page = PageQuery::parse(q.limit, q.cursor.as_deref())?;
    Ok(Json(
        s.market
            .my_purchases(&caller(&p, &ctx), &page)
            .await?
            .into(),
    ))
}

async fn store_list(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<TransactionList>, ApiError> {
    let id = store_id(&id)?;
    let c = caller(&p, &ctx);
    // The store's policy first: a stranger learns nothing from a bad cursor.
    s.market.store(&c, &id).await?;
    let q: PageParams = params(raw.as_deref())?;
    let page = PageQuery::parse(q.limit, q.cursor.as_deref())?;
    Ok(Json(s.market.store_sales(&c, &id, &page).await?.into()))
}

async fn get(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<TransactionResponse>, ApiError> {
    let id = transaction_id(&id)?;
    Ok(Json(
        s.market.transaction(&caller(&p, &ctx), &id).await?.into(),
    ))
}

async fn fund(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<TransactionResponse>, ApiError> {
    let id = transaction_id(&id)?;
    Ok(Json(
        s.market.mark_funded(&caller(&p, &ctx), &id).await?.into(),
    ))
}

async fn ship(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<TransactionResponse>, ApiError> {
    let id = transaction_id(&id)?;
    let t = s.market.mark_shipped(&caller(&p, &ctx), &id).await?;
    crate::notify::purchase_shipped(&s, &t).await;
    Ok(Json(t.into()))
}

async fn release(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = transaction_id(&id)?;
    let intent = s.market.confirm_receipt(&caller(&p, &ctx), &id).await?;
    Ok((StatusCode::ACCEPTED, Json(IntentResponse::from(intent))).into_response())
}

async fn cancel(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = transaction_id(&id)?;
    let intent = s.market.request_cancel(&caller(&p, &ctx), &id).await?;
    Ok((StatusCode::ACCEPTED, Json(IntentResponse::from(intent))).into_response())
}
