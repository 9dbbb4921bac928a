//! The dispute pages: a transaction's dispute (or the form that opens one), a
//! dispute's claims thread with the add-claim form and, for staff holding
//! `resolve_dispute`, the resolve form; and the staff queue. Forms post through the
//! registry (CSRF guard, rate limit); successful posts answer 303 back to the dispute.
//! Refusals are the service's (404 for outsiders, 403 for a party resolving).

use super::api::caller;
use super::disputes::{dispute_id, queue_query, resolution, transaction_id, OutcomeWire};
use crate::authn::{Ctx, CurrentUser};
use crate::error::{ApiError, ApiForm};
use crate::i18n::Tr;
use crate::identity::pages::{
    csrf_for, csrf_for_session, err_message, field_messages, fmt_ms, lang_for, nav, notice, query,
    render, see_other,
};
use crate::layout::Nav;
use crate::routes::{Auth, Doc, Group, Routes};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use rampart_identity::{ClientCtx, Principal};
use rampart_kernel::{FieldError, FieldErrors, Permission};
use rampart_marketplace::{DisputeDetail, DisputeSide, DisputeStatus, MarketError};
use rampart_security::ratelimit::PolicyName;
use serde::Deserialize;

/// Mounts the dispute pages.
pub fn mount(r: Routes) -> Routes {
    let page = |summary: &'static str| Doc::new("web", summary).page().auth(Auth::User);
    let form = |summary: &'static str| page(summary).limit(PolicyName::DisputeWrite);
    r.group(Group::Web)
        .get(
            "/transactions/{id}/dispute",
            transaction_dispute_page,
            page("A transaction's dispute, or the form that opens one"),
        )
        .post(
            "/transactions/{id}/dispute",
            open_dispute,
            form("Open a dispute"),
        )
        .get(
            "/disputes/{id}",
            dispute_page,
            page("A dispute: claims, add a claim, resolve (staff)"),
        )
        .post("/disputes/{id}/claims", add_claim, form("Add a claim"))
        .post(
            "/disputes/{id}/resolve",
            resolve,
            Doc::new("web", "Resolve a dispute")
                .page()
                .permission(Permission::ResolveDispute)
                .limit(PolicyName::DisputeWrite),
        )
        .get(
            "/staff/disputes",
            queue_page,
            Doc::new("web", "The staff dispute queue")
                .page()
                .permission(Permission::ResolveDispute),
        )
}

/// Who asks, and how: what every page of this module is rendered for.
struct Req<'a> {
    s: &'a AppState,
    p: &'a Principal,
    ctx: &'a ClientCtx,
    headers: &'a HeaderMap,
}

/// The frame of a page: language, CSRF token and navigation.
struct Frame {
    tr: Tr,
    nav: Nav,
    token: String,
}

fn frame(s: &AppState, p: &Principal, headers: &HeaderMap) -> Frame {
    let token = match p.session_id() {
        Some(sid) => csrf_for_session(s, sid),
        None => csrf_for(s, headers).0,
    };
    Frame {
        tr: Tr(lang_for(Some(p), headers)),
        nav: nav(Some(p), &token),
        token,
    }
}

fn status_for(errors: &[String], status: StatusCode) -> StatusCode {
    if errors.is_empty() {
        StatusCode::OK
    } else {
        status
    }
}

/// A refused form: the messages to show and the status, or the error itself (404,
/// 403…) for the error page.
fn form_errors(tr: Tr, e: MarketError) -> Result<(Vec<String>, StatusCode), ApiError> {
    match e {
        MarketError::Validation(f) => {
            Ok((field_messages(tr.0, &f.0), StatusCode::UNPROCESSABLE_ENTITY))
        }
        MarketError::Conflict(_) | MarketError::Concurrent => Ok((
            vec![tr.t("dispute.already_resolved").to_owned()],
            StatusCode::CONFLICT,
        )),
        MarketError::InvalidTransition => Ok((
            vec![err_message(tr.0, "invalid_transition")],
            StatusCode::CONFLICT,
        )),
        other => Err(other.into()),
    }
}

/// A side as the page names it.
fn side_key(s: DisputeSide) -> &'static str {
    match s {
        DisputeSide::Buyer => "dispute.side.buyer",
        DisputeSide::Seller => "dispute.side.seller",
        DisputeSide::Staff => "dispute.side.staff",
    }
}

fn status_key(s: DisputeStatus) -> &'static str {
    match s {
        DisputeStatus::Open => "dispute.status.open",
        DisputeStatus::Resolved => "dispute.status.resolved",
    }
}

fn outcome_key(o: Option<rampart_marketplace::DisputeOutcome>) -> &'static str {
    use rampart_marketplace::DisputeOutcome as O;
    match o {
        Some(O::Release) => "dispute.outcome.release",
        Some(O::Refund) => "dispute.outcome.refund",
        Some(O::Partial) => "dispute.outcome.partial",
        None => "dispute.outcome.none",
    }
}

#[derive(Deserialize, Default)]
struct NoticeQuery {
    notice: Option<String>,
}

// ----- a dispute --------------------------------------------------------------------

struct ClaimLine {
    side: &'static str,
    author: String,
    at: String,
    lines: Vec<String>,
}

#[derive(Template)]
#[template(path = "marketplace/dispute.html")]
struct DisputePage {
    tr: Tr,
    nav: Nav,
    csrf_token: String,
    id: String,
    transaction: String,
    amount: String,
    amount_minor: i64,
    currency: String,
    escrow_state: String,
    status: &'static str,
    is_open: bool,
    outcome: &'static str,
    refund: Option<String>,
    opened_by_side: &'static str,
    viewer_side: &'static str,
    created_at: String,
    claims: Vec<ClaimLine>,
    can_resolve: bool,
    notice: Option<String>,
    errors: Vec<String>,
}

fn dispute_view(
    f: Frame,
    d: DisputeDetail,
    notice_name: Option<&str>,
    errors: Vec<String>,
    status: StatusCode,
) -> Response {
    let is_open = d.dispute.status == DisputeStatus::Open;
    let page = DisputePage {
        notice: notice(f.tr.0, notice_name),
        tr: f.tr,
        nav: f.nav,
        csrf_token: f.token,
        id: d.dispute.id.into_string(),
        transaction: d.dispute.transaction.into_string(),
        amount: d.transaction.amount.to_string(),
        amount_minor: d.transaction.amount.minor,
        currency: d.transaction.amount.currency.as_str().to_owned(),
        escrow_state: super::purchase_pages::state_label(f.tr.0, d.transaction.state.as_str()),
        status: status_key(d.dispute.status),
        is_open,
        outcome: outcome_key(d.dispute.outcome),
        refund: d.dispute.refund.map(|m| m.to_string()),
        opened_by_side: side_key(d.dispute.opened_by_side),
        viewer_side: side_key(d.viewer_side),
        created_at: fmt_ms(d.dispute.created_at),
        claims: d
            .claims
            .into_iter()
            .map(|c| ClaimLine {
                side: side_key(c.side),
                author: c.author.into_string(),
                at: fmt_ms(c.created_at),
                lines: c.body.lines().map(str::to_owned).collect(),
            })
            .collect(),
        // The service refuses a party anyway; the form shows only to who may use it.
        can_resolve: is_open && d.viewer_side == DisputeSide::Staff,
        errors,
    };
    render(&page, status_for(&page.errors, status), None)
}

async fn show_dispute(
    r: Req<'_>,
    raw_id: &str,
    notice_name: Option<&str>,
    errors: Vec<String>,
    status: StatusCode,
) -> Result<Response, ApiError> {
    let id = dispute_id(raw_id)?;
    let d = r.s.market.dispute(&caller(r.p, r.ctx), &id).await?;
    Ok(dispute_view(
        frame(r.s, r.p, r.headers),
        d,
        notice_name,
        errors,
        status,
    ))
}

async fn dispute_page(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let q: NoticeQuery = query(raw);
    show_dispute(
        Req {
            s: &s,
            p: &p,
            ctx: &ctx,
            headers: &headers,
        },
        &id,
        q.notice.as_deref(),
        Vec::new(),
        StatusCode::OK,
    )
    .await
}

#[derive(Deserialize)]
struct ClaimForm {
    #[serde(default)]
    body: String,
}

async fn add_claim(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    headers: HeaderMap,
    Path(id): Path<String>,
    ApiForm(b): ApiForm<ClaimForm>,
) -> Result<Response, ApiError> {
    let did = dispute_id(&id)?;
    match s.market.add_claim(&caller(&p, &ctx), &did, &b.body).await {
        Ok(_) => Ok(see_other(&format!("/disputes/{did}?notice=claim_added"))),
        Err(e) => {
            let (errors, status) = form_errors(Tr(lang_for(Some(&p), &headers)), e)?;
            let r = Req {
                s: &s,
                p: &p,
                ctx: &ctx,
                headers: &headers,
            };
            show_dispute(r, &id, None, errors, status).await
        }
    }
}

#[derive(Deserialize)]
struct ResolveForm {
    #[serde(default)]
    outcome: String,
    #[serde(default)]
    refund_minor: String,
}

async fn resolve(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    headers: HeaderMap,
    Path(id): Path<String>,
    ApiForm(b): ApiForm<ResolveForm>,
) -> Result<Response, ApiError> {
    let did = dispute_id(&id)?;
    let c = caller(&p, &ctx);
    let d = s.market.dispute(&c, &did).await?;
    let invalid =
        |field, code| MarketError::Validation(FieldErrors(vec![FieldError::new(field, code)]));
    let result = match OutcomeWire::parse(b.outcome.trim()) {
        None => Err(invalid("outcome", "invalid_value")),
        Some(outcome) => {
            // The amount field is sent with every outcome; it counts for `partial`.
            let raw = b.refund_minor.trim();
            let refund_minor = match (outcome, raw) {
                (OutcomeWire::Partial, "") => None,
                (OutcomeWire::Partial, raw) => Some(raw.parse::<i64>().unwrap_or(-1)),
                _ => None,
            };
            match resolution(outcome, refund_minor, &d.dispute) {
                Ok(r) => match s.market.resolve_dispute(&c, &did, r).await {
                    Ok(d) => {
                        crate::notify::dispute_resolved(&s, &d).await;
                        Ok(())
                    }
                    Err(e) => Err(e),
                },
                Err(e) => Err(MarketError::Validation(FieldErrors(e.errors))),
            }
        }
    };
    match result {
        Ok(()) => Ok(see_other(&format!(
            "/disputes/{did}?notice=dispute_resolved"
        ))),
        Err(e) => {
            let (errors, status) = form_errors(Tr(lang_for(Some(&p), &headers)), e)?;
            let r = Req {
                s: &s,
                p: &p,
                ctx: &ctx,
                headers: &headers,
            };
            show_dispute(r, &id, None, errors, status).await
        }
    }
}

// ----- a transaction's dispute ------------------------------------------------------

#[derive(Template)]
#[template(path = "marketplace/dispute_open.html")]
struct OpenPage {
    tr: Tr,
    nav: Nav,
    csrf_token: String,
    transaction: String,
    amount: String,
    escrow_state: String,
    can_open: bool,
    reason: String,
    errors: Vec<String>,
}

async fn transaction_view(
    Req { s, p, ctx, headers }: Req<'_>,
    raw_id: &str,
    reason: String,
    errors: Vec<String>,
    status: StatusCode,
) -> Result<Response, ApiError> {
    let tid = transaction_id(raw_id)?;
    let c = caller(p, ctx);
    // The service's view policy: 404 for whoever is neither party nor dispute staff.
    if let Some(d) = s.market.dispute_for_transaction(&c, &tid).await? {
        return Ok(dispute_view(frame(s, p, headers), d, None, errors, status));
    }
    let txn = s
        .market
        .ledger()
        .get(&tid)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(ApiError::not_found)?;
    // Staff see that there is no dispute; only the parties may open one (the service
    // decides again on the post).
    let staff_only =
        Permission::ResolveDispute.allowed_for(p.role) && txn.buyer.as_str() != p.user_id();
    let can_open = !staff_only && matches!(txn.state.as_str(), "funded" | "shipped");
    let f = frame(s, p, headers);
    let page = OpenPage {
        tr: f.tr,
        nav: f.nav,
        csrf_token: f.token,
        transaction: txn.id.into_string(),
        amount: txn.amount.to_string(),
        escrow_state: super::purchase_pages::state_label(f.tr.0, txn.state.as_str()),
        can_open,
        reason,
        errors,
    };
    Ok(render(&page, status_for(&page.errors, status), None))
}

async fn transaction_dispute_page(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    transaction_view(
        Req {
            s: &s,
            p: &p,
            ctx: &ctx,
            headers: &headers,
        },
        &id,
        String::new(),
        Vec::new(),
        StatusCode::OK,
    )
    .await
}

#[derive(Deserialize)]
struct OpenForm {
    #[serde(default)]
    reason: String,
}

async fn open_dispute(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    headers: HeaderMap,
    Path(id): Path<String>,
    ApiForm(b): ApiForm<OpenForm>,
) -> Result<Response, ApiError> {
    let tid = transaction_id(&id)?;
    match s
        .market
        .open_dispute(&caller(&p, &ctx), &tid, &b.reason)
        .await
    {
        Ok(d) => Ok(see_other(&format!(
            "/disputes/{}?notice=dispute_opened",
            d.id
        ))),
        Err(e) => {
            let (errors, status) = form_errors(Tr(lang_for(Some(&p), &headers)), e)?;
            let r = Req {
                s: &s,
                p: &p,
                ctx: &ctx,
                headers: &headers,
            };
            transaction_view(r, &id, b.reason, errors, status).await
        }
    }
}

// ----- the staff queue --------------------------------------------------------------

struct QueueLine {
    id: String,
    store: String,
    transaction: String,
    opened_by_side: &'static str,
    status: &'static str,
    outcome: &'static str,
    created_at: String,
}

#[derive(Template)]
#[template(path = "marketplace/disputes_queue.html")]
struct QueuePage {
    tr: Tr,
    nav: Nav,
    status: String,
    disputes: Vec<QueueLine>,
    next: Option<String>,
    errors: Vec<String>,
}

#[derive(Deserialize, Default)]
struct QueueEcho {
    status: Option<String>,
}

async fn queue_page(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let f = frame(&s, &p, &headers);
    let echo: QueueEcho = query(raw.clone());
    let status = echo
        .status
        .filter(|s| matches!(s.as_str(), "open" | "resolved" | "all"))
        .unwrap_or_else(|| "open".to_owned());
    let (disputes, next, errors) = match queue_query(raw.as_deref()) {
        Ok(q) => {
            let page = s.market.dispute_queue(&caller(&p, &ctx), &q).await?;
            let next = page.next.map(|c| {
                format!(
                    "/staff/disputes?status={status}&cursor={}&limit={}",
                    c.encode(),
                    q.limit
                )
            });
            let lines = page
                .disputes
                .into_iter()
                .map(|d| QueueLine {
                    id: d.id.into_string(),
                    store: d.store.into_string(),
                    transaction: d.transaction.into_string(),
                    opened_by_side: side_key(d.opened_by_side),
                    status: status_key(d.status),
                    outcome: outcome_key(d.outcome),
                    created_at: fmt_ms(d.created_at),
                })
                .collect();
            (lines, next, Vec::new())
        }
        Err(e) => (Vec::new(), None, field_messages(f.tr.0, &e.errors)),
    };
    let page = QueuePage {
        tr: f.tr,
        nav: f.nav,
        status,
        disputes,
        next,
        errors,
    };
    Ok(render(
        &page,
        status_for(&page.errors, StatusCode::UNPROCESSABLE_ENTITY),
        None,
    ))
}
