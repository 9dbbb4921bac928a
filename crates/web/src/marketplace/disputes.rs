//! The disputes API under `/v1` (D5, D9): the buyer or a member of the selling store
//! opens a dispute on a funded or shipped transaction, the parties and staff add
//! claims, staff holding `resolve_dispute` work the queue and resolve. Handlers parse,
//! build the [`Caller`](rampart_marketplace::Caller) and call the service; who may do
//! what is `policy::dispute`'s (404 for whoever may not know the dispute exists). The
//! queue and the resolution also declare the permission on the route, so the guard
//! refuses everyone else before the handler runs. Design: `docs/design/disputes.md`.

use super::api::caller;
use super::wire::PriceResponse;
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
use rampart_kernel::ids::{DisputeId, TransactionId};
use rampart_kernel::{FieldError, FieldErrors, Money, Permission};
use rampart_marketplace::disputes::{CLAIM_MAX, LIMIT_MAX};
use rampart_marketplace::{
    ClaimView, DisputeDetail, DisputeOutcome, DisputeQuery, DisputeSide, DisputeStatus,
    DisputeView, Resolution,
};
use rampart_security::ratelimit::PolicyName;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A path ID that does not parse names nothing: 404, like an unknown one.
pub fn dispute_id(raw: &str) -> Result<DisputeId, ApiError> {
    raw.parse().map_err(|_| ApiError::not_found())
}

/// See [`dispute_id`].
pub fn transaction_id(raw: &str) -> Result<TransactionId, ApiError> {
    raw.parse().map_err(|_| ApiError::not_found())
}

/// Parses the queue's query string (shared with the queue page).
pub fn queue_query(raw: Option<&str>) -> Result<DisputeQuery, ApiError> {
    let p: DisputeParams = match raw {
        Some(q) => serde_urlencoded::from_str(q).map_err(|_| {
            ApiError::validation(FieldErrors(vec![FieldError::new("query", "invalid_value")]))
        })?,
        None => DisputeParams::default(),
    };
    Ok(DisputeQuery::parse(
        p.status.as_deref(),
        p.limit,
        p.cursor.as_deref(),
    )?)
}

/// A resolution from its wire form, against the dispute's currency: `refund_minor` is
/// required for `partial` and refused with the other outcomes. The amount's range is
/// the service's check (it knows the escrowed sum).
pub fn resolution(
    outcome: OutcomeWire,
    refund_minor: Option<i64>,
    d: &DisputeView,
) -> Result<Resolution, ApiError> {
    let refused =
        |code| ApiError::validation(FieldErrors(vec![FieldError::new("refund_minor", code)]));
    match (outcome, refund_minor) {
        (OutcomeWire::Release, None) => Ok(Resolution::Release),
        (OutcomeWire::Refund, None) => Ok(Resolution::Refund),
        (OutcomeWire::Partial, Some(m)) => Ok(Resolution::Partial {
            refund: Money::new(m, d.currency),
        }),
        (OutcomeWire::Partial, None) => Err(refused("required")),
        (_, Some(_)) => Err(refused("invalid_value")),
    }
}

/// Mounts the disputes API.
pub fn mount(r: Routes) -> Routes {
    use Code::*;
    let read = |summary| {
        Doc::new("disputes", summary)
            .auth(Auth::User)
            .scope(Scope::OrdersRead)
    };
    let write = |summary| {
        Doc::new("disputes", summary)
            .auth(Auth::User)
            .scope(Scope::OrdersWrite)
            .limit(PolicyName::DisputeWrite)
    };
    r.group(Group::Api)
        .post(
            "/v1/transactions/{id}/disputes",
            open,
            write("Open a dispute on a funded or shipped transaction (its buyer or a member of the selling store); stops auto-release")
                .request::<OpenDisputeRequest>()
                .responds::<DisputeResponse>(201)
                .errors(&[ValidationFailed, NotFound, InvalidTransition, Conflict]),
        )
        .get(
            "/v1/transactions/{id}/dispute",
            of_transaction,
            read("The dispute of a transaction, with its claims (the parties and dispute staff); 404 when there is none")
                .responds::<DisputeDetailResponse>(200)
                .errors(&[NotFound]),
        )
        .get(
            "/v1/disputes",
            queue,
            Doc::new(
                "disputes",
                "The staff queue: every store's disputes, oldest first, cursor-paginated",
            )
            .permission(Permission::ResolveDispute)
            .scope(Scope::OrdersRead)
            .query::<DisputeParams>()
            .responds::<DisputeQueueResponse>(200)
            .errors(&[ValidationFailed]),
        )
        .get(
            "/v1/disputes/{id}",
            get_dispute,
            read("A dispute with its claims and the side the caller speaks for")
                .responds::<DisputeDetailResponse>(200)
                .errors(&[NotFound]),
        )
        .post(
            "/v1/disputes/{id}/claims",
            add_claim,
            write("Add a claim to an open dispute (the parties and dispute staff)")
                .request::<ClaimRequest>()
                .responds::<ClaimResponse>(201)
                .errors(&[ValidationFailed, NotFound, InvalidTransition]),
        )
        .post(
            "/v1/disputes/{id}/resolve",
            resolve,
            Doc::new(
                "disputes",
                "Resolve an open dispute: release, refund, or a partial refund (staff who are party to neither side); audited with the amounts",
            )
            .permission(Permission::ResolveDispute)
            .scope(Scope::OrdersWrite)
            .limit(PolicyName::DisputeWrite)
            .request::<ResolveRequest>()
            .responds::<DisputeResponse>(200)
            .errors(&[ValidationFailed, NotFound, Forbidden, Conflict]),
        )
}

async fn open(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<OpenDisputeRequest>,
) -> Result<Response, ApiError> {
    let id = transaction_id(&id)?;
    let d = s
        .market
        .open_dispute(&caller(&p, &ctx), &id, &b.reason)
        .await?;
    Ok((StatusCode::CREATED, Json(DisputeResponse::from(d))).into_response())
}

async fn of_transaction(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<DisputeDetailResponse>, ApiError> {
    let id = transaction_id(&id)?;
    match s
        .market
        .dispute_for_transaction(&caller(&p, &ctx), &id)
        .await?
    {
        Some(d) => Ok(Json(d.into())),
        None => Err(ApiError::not_found()),
    }
}

async fn get_dispute(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<DisputeDetailResponse>, ApiError> {
    let id = dispute_id(&id)?;
    Ok(Json(s.market.dispute(&caller(&p, &ctx), &id).await?.into()))
}

async fn add_claim(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<ClaimRequest>,
) -> Result<Response, ApiError> {
    let id = dispute_id(&id)?;
    let c = s.market.add_claim(&caller(&p, &ctx), &id, &b.body).await?;
    Ok((StatusCode::CREATED, Json(ClaimResponse::from(c))).into_response())
}

async fn queue(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    RawQuery(raw): RawQuery,
) -> Result<Json<DisputeQueueResponse>, ApiError> {
    let q = queue_query(raw.as_deref())?;
    let page = s.market.dispute_queue(&caller(&p, &ctx), &q).await?;
    Ok(Json(DisputeQueueResponse {
        disputes: page.disputes.into_iter().map(Into::into).collect(),
        next_cursor: page.next.map(|c| c.encode()),
    }))
}

async fn resolve(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<ResolveRequest>,
) -> Result<Json<DisputeResponse>, ApiError> {
    let id = dispute_id(&id)?;
    let c = caller(&p, &ctx);
    // The dispute's policy first (404 for whoever may not see it), then the body's
    // shape against its currency; the service decides the rest.
    let d = s.market.dispute(&c, &id).await?;
    let r = resolution(b.outcome, b.refund_minor, &d.dispute)?;
    let d = s.market.resolve_dispute(&c, &id, r).await?;
    crate::notify::dispute_resolved(&s, &d).await;
    Ok(Json(d.into()))
}

// ----- wire types -------------------------------------------------------------------

/// `POST /v1/transactions/{id}/disputes`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenDisputeRequest {
    /// Why (becomes the first claim); line breaks are kept.
    #[schemars(length(min = 1, max = CLAIM_MAX))]
    pub reason: String,
}

/// `POST /v1/disputes/{id}/claims`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClaimRequest {
    /// The claim; line breaks are kept.
    #[schemars(length(min = 1, max = CLAIM_MAX))]
    pub body: String,
}

/// How staff resolve a dispute.
#[derive(Deserialize, Serialize, JsonSchema, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeWire {
    /// Release the escrow to the seller (less the platform fee).
    Release,
    /// Refund the buyer in full.
    Refund,
    /// Refund `refund_minor` to the buyer, release the rest to the seller.
    Partial,
}

impl OutcomeWire {
    /// Parses a form value.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "release" => Some(OutcomeWire::Release),
            "refund" => Some(OutcomeWire::Refund),
            "partial" => Some(OutcomeWire::Partial),
            _ => None,
        }
    }
}

impl From<DisputeOutcome> for OutcomeWire {
    fn from(o: DisputeOutcome) -> Self {
        match o {
            DisputeOutcome::Release => OutcomeWire::Release,
            DisputeOutcome::Refund => OutcomeWire::Refund,
            DisputeOutcome::Partial => OutcomeWire::Partial,
        }
    }
}

/// `POST /v1/disputes/{id}/resolve`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveRequest {
    /// The decision.
    pub outcome: OutcomeWire,
    /// For `partial` only (required there): minor units returned to the buyer,
    /// strictly between zero and the escrowed amount, in its currency.
    #[serde(default)]
    #[schemars(range(min = 1))]
    pub refund_minor: Option<i64>,
}

/// `GET /v1/disputes` query parameters.
#[derive(Deserialize, JsonSchema, Default)]
pub struct DisputeParams {
    /// `open` (default), `resolved` or `all`.
    #[serde(default)]
    pub status: Option<String>,
    /// Page size (default 20).
    #[serde(default)]
    #[schemars(range(min = 1, max = LIMIT_MAX))]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    #[serde(default)]
    pub cursor: Option<String>,
}

/// The side a dispute participant speaks for.
#[derive(Serialize, JsonSchema, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub enum DisputeSideWire {
    /// The transaction's buyer.
    Buyer,
    /// A member of the selling store.
    Seller,
    /// Platform staff, party to neither side.
    Staff,
}

impl From<DisputeSide> for DisputeSideWire {
    fn from(s: DisputeSide) -> Self {
        match s {
            DisputeSide::Buyer => Self::Buyer,
            DisputeSide::Seller => Self::Seller,
            DisputeSide::Staff => Self::Staff,
        }
    }
}

/// Where a dispute stands.
#[derive(Serialize, JsonSchema, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub enum DisputeStatusWire {
    /// Waiting for staff; claims may be added.
    Open,
    /// Decided; final.
    Resolved,
}

impl From<DisputeStatus> for DisputeStatusWire {
    fn from(s: DisputeStatus) -> Self {
        match s {
            DisputeStatus::Open => Self::Open,
            DisputeStatus::Resolved => Self::Resolved,
        }
    }
}

/// A dispute.
#[derive(Serialize, JsonSchema)]
pub struct DisputeResponse {
    /// Dispute ID.
    pub id: String,
    /// The escrow transaction disputed.
    pub transaction_id: String,
    /// The selling store.
    pub store_id: String,
    /// The transaction's buyer.
    pub buyer_id: String,
    /// Who opened it.
    pub opened_by: String,
    /// The side that opened it.
    pub opened_by_side: DisputeSideWire,
    /// Why (also the first claim).
    pub reason: String,
    /// Open or resolved.
    pub status: DisputeStatusWire,
    /// How it ended, once resolved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<OutcomeWire>,
    /// The amount a partial refund returned to the buyer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refund: Option<PriceResponse>,
    /// ISO 4217 code of the transaction.
    pub currency: String,
    /// The staff member who resolved it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolved_by: Option<String>,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Unix milliseconds (a claim or the resolution moves it).
    pub updated_at: i64,
    /// Unix milliseconds, once resolved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<i64>,
}

fn price(m: Money) -> PriceResponse {
    PriceResponse {
        minor: m.minor,
        currency: m.currency.as_str().to_owned(),
    }
}

impl From<DisputeView> for DisputeResponse {
    fn from(d: DisputeView) -> Self {
        DisputeResponse {
            id: d.id.into_string(),
            transaction_id: d.transaction.into_string(),
            store_id: d.store.into_string(),
            buyer_id: d.buyer.into_string(),
            opened_by: d.opened_by.into_string(),
            opened_by_side: d.opened_by_side.into(),
            reason: d.reason,
            status: d.status.into(),
            outcome: d.outcome.map(Into::into),
            refund: d.refund.map(price),
            currency: d.currency.as_str().to_owned(),
            resolved_by: d.resolved_by.map(|u| u.into_string()),
            created_at: d.created_at,
            updated_at: d.updated_at,
            resolved_at: d.resolved_at,
        }
    }
}

/// A claim in a dispute.
#[derive(Serialize, JsonSchema)]
pub struct ClaimResponse {
    /// Claim ID.
    pub id: String,
    /// The dispute.
    pub dispute_id: String,
    /// Who wrote it.
    pub author_id: String,
    /// The side they wrote for.
    pub side: DisputeSideWire,
    /// The text (may hold line breaks).
    pub body: String,
    /// Unix milliseconds.
    pub created_at: i64,
}

impl From<ClaimView> for ClaimResponse {
    fn from(c: ClaimView) -> Self {
        ClaimResponse {
            id: c.id,
            dispute_id: c.dispute.into_string(),
            author_id: c.author.into_string(),
            side: c.side.into(),
            body: c.body,
            created_at: c.created_at,
        }
    }
}

/// The escrow transaction behind a dispute.
#[derive(Serialize, JsonSchema)]
pub struct DisputedTransaction {
    /// Transaction ID.
    pub id: String,
    /// The item bought.
    pub item_id: String,
    /// Quantity.
    pub quantity: i64,
    /// The amount held (unit price × quantity).
    pub amount: PriceResponse,
    /// The escrow state (`disputed`, `completed`, `refunded`, `partially_refunded`…).
    pub state: String,
}

/// `GET /v1/disputes/{id}`, `GET /v1/transactions/{id}/dispute`.
#[derive(Serialize, JsonSchema)]
pub struct DisputeDetailResponse {
    /// The dispute.
    pub dispute: DisputeResponse,
    /// Its claims, oldest first; the first is the reason.
    pub claims: Vec<ClaimResponse>,
    /// The transaction.
    pub transaction: DisputedTransaction,
    /// The side the caller speaks for.
    pub viewer_side: DisputeSideWire,
}

impl From<DisputeDetail> for DisputeDetailResponse {
    fn from(d: DisputeDetail) -> Self {
        DisputeDetailResponse {
            dispute: d.dispute.into(),
            claims: d.claims.into_iter().map(Into::into).collect(),
            transaction: DisputedTransaction {
                id: d.transaction.id.into_string(),
                item_id: d.transaction.item.into_string(),
                quantity: d.transaction.quantity,
                amount: price(d.transaction.amount),
                state: d.transaction.state.as_str().to_owned(),
            },
            viewer_side: d.viewer_side.into(),
        }
    }
}

/// `GET /v1/disputes`: one page of the staff queue.
#[derive(Serialize, JsonSchema)]
pub struct DisputeQueueResponse {
    /// Disputes, oldest first.
    pub disputes: Vec<DisputeResponse>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}
