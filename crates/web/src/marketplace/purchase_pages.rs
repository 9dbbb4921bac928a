//! Server-rendered purchase pages: the Buy form's target, my purchases, a store's
//! sales, and the transaction page whose action buttons show only when the
//! transaction policy and the state allow them. Forms post through the registry (CSRF
//! guard, rate limits) and answer 303 back to the transaction page.

use super::api::{caller, store_id};
use super::pages::{form_errors, frame, item_view, number, NoticeQuery};
use super::purchases::transaction_id;
use crate::authn::{Ctx, CurrentUser};
use crate::error::{ApiError, ApiForm};
use crate::i18n::{self, Lang, Tr};
use crate::identity::pages::{field_messages, fmt_ms, lang_for, notice, query, render, see_other};
use crate::layout::Nav;
use crate::routes::{Auth, Doc, Group, Routes};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use rampart_identity::{ClientCtx, Principal};
use rampart_kernel::Permission;
use rampart_ledger::IntentView;
use rampart_marketplace::{
    MarketError, PageQuery, TransactionAction, TransactionLine, TransactionPage,
};
use rampart_security::ratelimit::PolicyName;
use serde::Deserialize;

/// Mounts the purchase pages.
pub fn mount(r: Routes) -> Routes {
    let page = |summary: &'static str| Doc::new("web", summary).page().auth(Auth::User);
    let form = |summary: &'static str| page(summary).limit(PolicyName::StoreWrite);
    r.group(Group::Web)
        .post(
            "/items/{id}/buy",
            buy,
            page("Buy an item").limit(PolicyName::Checkout),
        )
        .get("/purchases", purchases_page, page("My purchases"))
        .get("/stores/{id}/sales", sales_page, page("A store's sales"))
        .get(
            "/transactions/{id}",
            transaction_page,
            page("A transaction: state, amounts, intents, actions"),
        )
        .post(
            "/transactions/{id}/fund",
            fund,
            Doc::new("web", "Mark a transaction funded (staff)")
                .page()
                .permission(Permission::MarkFunded)
                .limit(PolicyName::StoreWrite),
        )
        .post("/transactions/{id}/ship", ship, form("Mark shipped"))
        .post(
            "/transactions/{id}/release",
            release,
            form("Confirm receipt"),
        )
        .post("/transactions/{id}/cancel", cancel, form("Cancel"))
}

/// A transaction state's label in `lang` (the raw name if none).
pub(crate) fn state_label(lang: Lang, state: &str) -> String {
    i18n::lookup(lang, &format!("trade.state.{state}"))
        .unwrap_or(state)
        .to_owned()
}

/// A transaction in a list.
struct TxnLine {
    id: String,
    item_id: String,
    item_title: String,
    quantity: i64,
    amount: String,
    state: String,
    created: String,
}

fn line(lang: Lang, l: TransactionLine) -> TxnLine {
    let t = l.escrow;
    TxnLine {
        id: t.id.into_string(),
        item_id: t.item.into_string(),
        item_title: l.item_title,
        quantity: t.quantity,
        amount: t.amount.to_string(),
        state: state_label(lang, t.state.as_str()),
        created: fmt_ms(t.created_at),
    }
}

#[derive(Template)]
#[template(path = "marketplace/purchases.html")]
struct ListPage {
    tr: Tr,
    nav: Nav,
    heading: &'static str,
    rows: Vec<TxnLine>,
    next: Option<String>,
    back: Option<String>,
}

#[derive(Deserialize, Default)]
struct PageForm {
    cursor: Option<String>,
}

fn list_page(
    f: super::pages::Frame,
    heading: &'static str,
    page: TransactionPage,
    base: &str,
    back: Option<String>,
) -> Response {
    let lang = f.tr.0;
    let page = ListPage {
        heading: f.tr.t(heading),
        tr: f.tr,
        nav: f.nav,
        rows: page
            .transactions
            .into_iter()
            .map(|t| line(lang, t))
            .collect(),
        next: page.next.map(|c| format!("{base}?cursor={}", c.encode())),
        back,
    };
    render(&page, StatusCode::OK, None)
}

fn page_query(raw: Option<String>) -> Result<PageQuery, ApiError> {
    let q: PageForm = query(raw);
    Ok(PageQuery::parse(None, q.cursor.as_deref())?)
}

async fn purchases_page(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let q = page_query(raw)?;
    let page = s.market.my_purchases(&caller(&p, &ctx), &q).await?;
    let f = frame(&s, Some(&p), &headers);
    Ok(list_page(f, "trade.my_purchases", page, "/purchases", None))
}

async fn sales_page(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let sid = store_id(&id)?;
    let c = caller(&p, &ctx);
    s.market.store(&c, &sid).await?;
    let q = page_query(raw)?;
    let page = s.market.store_sales(&c, &sid, &q).await?;
    let f = frame(&s, Some(&p), &headers);
    Ok(list_page(
        f,
        "trade.sales",
        page,
        &format!("/stores/{sid}/sales"),
        Some(format!("/stores/{sid}")),
    ))
}

// ----- buying ----------------------------------------------------------------------

#[derive(Deserialize)]
struct BuyForm {
    #[serde(default)]
    quantity: String,
}

async fn buy(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    headers: HeaderMap,
    Path(id): Path<String>,
    ApiForm(b): ApiForm<BuyForm>,
) -> Result<Response, ApiError> {
    let iid = super::api::item_id(&id)?;
    let quantity = number(&b.quantity).unwrap_or(0);
    match s.market.purchase(&caller(&p, &ctx), &iid, quantity).await {
        Ok(t) => Ok(see_other(&format!(
            "/transactions/{}?notice=purchased",
            t.id
        ))),
        Err(e) => {
            let status = match &e {
                MarketError::OutOfStock => StatusCode::CONFLICT,
                MarketError::OwnStorePurchase => StatusCode::FORBIDDEN,
                _ => StatusCode::UNPROCESSABLE_ENTITY,
            };
            let errors = form_errors(Tr(lang_for(Some(&p), &headers)), e)?;
            item_view(&s, Some(&p), &ctx, &headers, &id, errors, status).await
        }
    }
}

// ----- one transaction ---------------------------------------------------------------

struct IntentLine {
    kind: String,
    status: String,
    created: String,
    done: String,
    last_error: String,
}

fn intent_line(lang: Lang, i: IntentView) -> IntentLine {
    IntentLine {
        kind: i18n::lookup(lang, &format!("trade.intent.{}", i.kind.as_str()))
            .unwrap_or(i.kind.as_str())
            .to_owned(),
        status: i18n::lookup(lang, &format!("trade.intent_status.{}", i.status.as_str()))
            .unwrap_or(i.status.as_str())
            .to_owned(),
        created: fmt_ms(i.created_at),
        done: i.done_at.map(fmt_ms).unwrap_or_default(),
        last_error: i.last_error.unwrap_or_default(),
    }
}

#[derive(Template)]
#[template(path = "marketplace/transaction.html")]
struct TxnPage {
    tr: Tr,
    nav: Nav,
    csrf_token: String,
    id: String,
    item_id: String,
    item_title: String,
    store_name: String,
    quantity: i64,
    amount: String,
    has_refund: bool,
    refunded: String,
    /// (item ID, title, quantity, price each), in the order bought.
    lines: Vec<(String, String, i64, String)>,
    fee: String,
    state: String,
    created: String,
    intents: Vec<IntentLine>,
    can_fund: bool,
    can_ship: bool,
    can_release: bool,
    can_cancel: bool,
    can_dispute: bool,
    notice: Option<String>,
    errors: Vec<String>,
}

#[allow(clippy::too_many_arguments)]
async fn transaction_view(
    s: &AppState,
    p: &Principal,
    ctx: &ClientCtx,
    headers: &HeaderMap,
    raw_id: &str,
    notice_name: Option<&str>,
    errors: Vec<String>,
    status: StatusCode,
) -> Result<Response, ApiError> {
    let id = transaction_id(raw_id)?;
    let v = s.market.transaction(&caller(p, ctx), &id).await?;
    let f = frame(s, Some(p), headers);
    let lang = f.tr.0;
    let can = |a: TransactionAction| v.actions.contains(&a);
    let page = TxnPage {
        notice: notice(lang, notice_name),
        can_fund: can(TransactionAction::MarkFunded),
        can_ship: can(TransactionAction::Ship),
        can_release: can(TransactionAction::ConfirmReceipt),
        can_cancel: can(TransactionAction::Cancel),
        can_dispute: can(TransactionAction::OpenDispute),
        tr: f.tr,
        nav: f.nav,
        csrf_token: f.token,
        id: v.escrow.id.as_str().to_owned(),
        item_id: v.escrow.item.as_str().to_owned(),
        item_title: v.item_title,
        store_name: v.store_name,
        quantity: v.escrow.quantity,
        amount: v.escrow.amount.to_string(),
        has_refund: v.escrow.refunded.minor > 0,
        refunded: v.escrow.refunded.to_string(),
        lines: v
            .lines
            .into_iter()
            .map(|(l, title)| {
                (
                    l.item.into_string(),
                    title,
                    l.quantity,
                    l.unit_price.to_string(),
                )
            })
            .collect(),
        fee: v.fee.to_string(),
        state: state_label(lang, v.escrow.state.as_str()),
        created: fmt_ms(v.escrow.created_at),
        intents: v
            .intents
            .into_iter()
            .map(|i| intent_line(lang, i))
            .collect(),
        errors,
    };
    Ok(render(&page, status, None))
}

async fn transaction_page(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let q: NoticeQuery = query(raw);
    transaction_view(
        &s,
        &p,
        &ctx,
        &headers,
        &id,
        q.notice.as_deref(),
        Vec::new(),
        StatusCode::OK,
    )
    .await
}

/// The answer to an action form: back to the page with a notice, or the page with
/// the refusal (409 for a state that does not admit it).
async fn after(
    s: &AppState,
    p: &Principal,
    ctx: &ClientCtx,
    headers: &HeaderMap,
    id: &str,
    result: Result<(), MarketError>,
    notice_name: &str,
) -> Result<Response, ApiError> {
    match result {
        Ok(()) => Ok(see_other(&format!(
            "/transactions/{id}?notice={notice_name}"
        ))),
        Err(e) => {
            let status = match &e {
                MarketError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
                _ => StatusCode::CONFLICT,
            };
            let lang = lang_for(Some(p), headers);
            let errors = match e {
                MarketError::Validation(f) => field_messages(lang, &f.0),
                other => form_errors(Tr(lang), other)?,
            };
            transaction_view(s, p, ctx, headers, id, None, errors, status).await
        }
    }
}

/// Every action form carries only the CSRF token.
#[derive(Deserialize)]
struct ActionForm {}

async fn fund(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    headers: HeaderMap,
    Path(id): Path<String>,
    ApiForm(_): ApiForm<ActionForm>,
) -> Result<Response, ApiError> {
    let tid = transaction_id(&id)?;
    let r = s
        .market
        .mark_funded(&caller(&p, &ctx), &tid)
        .await
        .map(|_| ());
    after(&s, &p, &ctx, &headers, &id, r, "txn_funded").await
}

async fn ship(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    headers: HeaderMap,
    Path(id): Path<String>,
    ApiForm(_): ApiForm<ActionForm>,
) -> Result<Response, ApiError> {
    let tid = transaction_id(&id)?;
    let r = match s.market.mark_shipped(&caller(&p, &ctx), &tid).await {
        Ok(t) => {
            crate::notify::purchase_shipped(&s, &t).await;
            Ok(())
        }
        Err(e) => Err(e),
    };
    after(&s, &p, &ctx, &headers, &id, r, "txn_shipped").await
}

async fn release(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    headers: HeaderMap,
    Path(id): Path<String>,
    ApiForm(_): ApiForm<ActionForm>,
) -> Result<Response, ApiError> {
    let tid = transaction_id(&id)?;
    let r = s
        .market
        .confirm_receipt(&caller(&p, &ctx), &tid)
        .await
        .map(|_| ());
    after(&s, &p, &ctx, &headers, &id, r, "release_requested").await
}

async fn cancel(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    headers: HeaderMap,
    Path(id): Path<String>,
    ApiForm(_): ApiForm<ActionForm>,
) -> Result<Response, ApiError> {
    let tid = transaction_id(&id)?;
    let r = s
        .market
        .request_cancel(&caller(&p, &ctx), &tid)
        .await
        .map(|_| ());
    after(&s, &p, &ctx, &headers, &id, r, "cancel_requested").await
}
