//! The staff pages (D9, issue 11 §4): find a user (`/staff/users?q=`), a user's
//! page (`/staff/users/{id}`: account status, role, stores, live sessions, audit
//! rows about them; ban, unban and role forms) and a store's page
//! (`/staff/stores/{id}`: members, warnings with the create and resolve forms,
//! disputes, audit rows). Every route declares its permission, so the guard answers
//! 404 to everyone without it and 403 to holders without TOTP; every form gets the
//! CSRF guard from the registry. Forms answer 303 back to the page with a notice;
//! the logic is the API's ([`super::api`]). No impersonation: there is no route that
//! acts as another user.

use super::api::{act, dossier, find_user, store_dossier, user_id, UserAction};
use crate::authn::{Ctx, CurrentUser};
use crate::error::{ApiError, ApiForm};
use crate::i18n::Tr;
use crate::identity::pages::{
    csrf_for, csrf_for_session, field_messages, fmt_ms, lang_for, nav, notice, query, render,
    see_other,
};
use crate::layout::Nav;
use crate::routes::{Doc, Group, Routes};
use crate::state::AppState;
use crate::trust::api::{caller as trust_caller, store_id, warning_id};
use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use rampart_identity::{ClientCtx, Principal};
use rampart_kernel::account::{AccountStatus, Role};
use rampart_kernel::ids::StoreId;
use rampart_kernel::Permission;
use rampart_trust::{TrustError, WarningStatus};
use serde::Deserialize;

/// Mounts the staff pages.
pub fn mount(r: Routes) -> Routes {
    let users = |summary: &'static str| {
        Doc::new("web", summary)
            .page()
            .permission(Permission::BanUser)
    };
    let stores = |summary: &'static str| {
        Doc::new("web", summary)
            .page()
            .permission(Permission::WarnStore)
    };
    r.group(Group::Web)
        .get("/staff/users", search_page, users("Find a user (staff)"))
        .get(
            "/staff/users/{id}",
            user_page,
            users("A user as staff see it, with the ban, unban and role forms"),
        )
        .post("/staff/users/{id}/ban", ban, users("Ban a user"))
        .post("/staff/users/{id}/unban", unban, users("Lift a ban"))
        .post(
            "/staff/users/{id}/role",
            set_role,
            Doc::new("web", "Grant or revoke a role")
                .page()
                .permission(Permission::GrantSeller),
        )
        .get(
            "/staff/stores/{id}",
            store_page,
            stores("A store as staff see it, with the warning forms"),
        )
        .post("/staff/stores/{id}/warnings", warn, stores("Warn a store"))
        .post(
            "/staff/warnings/{id}/resolve",
            resolve,
            stores("Resolve a store warning"),
        )
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

#[derive(Deserialize, Default)]
struct NoticeQuery {
    notice: Option<String>,
}

fn role_key(r: Role) -> &'static str {
    match r {
        Role::Customer => "role.customer",
        Role::Seller => "role.seller",
        Role::Support => "role.support",
        Role::Staff => "role.staff",
        Role::Admin => "role.admin",
        Role::SuperAdmin => "role.super_admin",
    }
}

fn status_key(s: AccountStatus) -> &'static str {
    match s {
        AccountStatus::Active => "staff.status.active",
        AccountStatus::Banned => "staff.status.banned",
        AccountStatus::Deleted => "staff.status.deleted",
    }
}

/// One audit row on a page.
struct AuditLine {
    at: String,
    action: String,
    actor: Option<String>,
    metadata: String,
}

fn audit_lines(rows: Vec<rampart_audit::AuditRow>) -> Vec<AuditLine> {
    rows.into_iter()
        .map(|r| AuditLine {
            at: fmt_ms(r.created_at),
            action: r.action_type,
            actor: r.actor_user_uuid,
            metadata: r.metadata,
        })
        .collect()
}

// ----- finding a user -----------------------------------------------------------

struct Found {
    id: String,
    username: String,
    role: &'static str,
    status: &'static str,
}

#[derive(Template)]
#[template(path = "staff/users.html")]
struct SearchPage {
    tr: Tr,
    nav: Nav,
    q: String,
    searched: bool,
    found: Option<Found>,
}

#[derive(Deserialize, Default)]
struct SearchQuery {
    q: Option<String>,
}

async fn search_page(
    State(s): State<AppState>,
    CurrentUser(p): CurrentUser,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let f = frame(&s, &p, &headers);
    let q: SearchQuery = query(raw);
    let q = q.q.unwrap_or_default();
    let searched = !q.trim().is_empty();
    let found = if searched {
        find_user(&s, &q).await?.map(|a| Found {
            id: a.id.into_string(),
            username: a.username,
            role: role_key(a.role),
            status: status_key(a.status),
        })
    } else {
        None
    };
    let page = SearchPage {
        tr: f.tr,
        nav: f.nav,
        q,
        searched,
        found,
    };
    Ok(render(&page, StatusCode::OK, None))
}

// ----- a user -------------------------------------------------------------------

struct StoreLine {
    id: String,
    name: String,
    role: &'static str,
}

struct SessionLine {
    kind: String,
    device: String,
    network: String,
    created_at: String,
    last_seen_at: String,
}

struct RoleOption {
    value: &'static str,
    label: &'static str,
    selected: bool,
}

#[derive(Template)]
#[template(path = "staff/user.html")]
struct UserPage {
    tr: Tr,
    nav: Nav,
    csrf_token: String,
    id: String,
    username: String,
    email: Option<String>,
    email_verified: bool,
    role: &'static str,
    status: &'static str,
    banned: bool,
    totp_enabled: bool,
    language: String,
    created_at: String,
    /// The caller may act on this account (below their role, not themselves).
    can_act: bool,
    roles: Vec<RoleOption>,
    stores: Vec<StoreLine>,
    sessions: Vec<SessionLine>,
    audit: Vec<AuditLine>,
    notice: Option<String>,
}

fn store_role_key(r: rampart_marketplace::StoreRole) -> &'static str {
    use rampart_marketplace::StoreRole as R;
    match r {
        R::Owner => "staff.store_role.owner",
        R::Manager => "staff.store_role.manager",
        R::Clerk => "staff.store_role.clerk",
    }
}

async fn user_page(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let id = user_id(&id)?;
    let d = dossier(&s, &p, &ctx, &id).await?;
    let f = frame(&s, &p, &headers);
    let q: NoticeQuery = query(raw);
    let a = d.account;
    let can_act = a.id.as_str() != p.user_id() && a.role < p.role;
    // The roles this caller may set here: below their own; support and staff only
    // with grant_role (admins); seller ⇄ customer with grant_seller.
    let admin = Permission::GrantRole.allowed_for(p.role);
    let roles = [Role::Customer, Role::Seller, Role::Support, Role::Staff]
        .into_iter()
        .filter(|r| *r < p.role)
        .filter(|r| {
            admin
                || (matches!(r, Role::Customer | Role::Seller)
                    && matches!(a.role, Role::Customer | Role::Seller))
        })
        .map(|r| RoleOption {
            value: r.as_str(),
            label: role_key(r),
            selected: r == a.role,
        })
        .collect();
    let page = UserPage {
        tr: f.tr,
        nav: f.nav,
        csrf_token: f.token,
        id: a.id.into_string(),
        username: a.username,
        email: a.email,
        email_verified: a.email_verified,
        role: role_key(a.role),
        status: status_key(a.status),
        banned: a.status == AccountStatus::Banned,
        totp_enabled: a.totp_enabled,
        language: a.language.unwrap_or_default(),
        created_at: fmt_ms(a.created_at),
        can_act,
        roles,
        stores: d
            .stores
            .into_iter()
            .map(|m| StoreLine {
                id: m.store.id.into_string(),
                name: m.store.name,
                role: store_role_key(m.role),
            })
            .collect(),
        sessions: d
            .sessions
            .into_iter()
            .map(|x| SessionLine {
                kind: x.kind,
                device: x.ua_family,
                network: x.ip_prefix,
                created_at: fmt_ms(x.created_at),
                last_seen_at: fmt_ms(x.last_seen_at),
            })
            .collect(),
        audit: audit_lines(d.audit),
        notice: notice(f.tr.0, q.notice.as_deref()),
    };
    Ok(render(&page, StatusCode::OK, None))
}

async fn user_form(
    s: AppState,
    ctx: ClientCtx,
    p: Principal,
    raw_id: String,
    action: UserAction,
    done: &str,
) -> Result<Response, ApiError> {
    let id = user_id(&raw_id)?;
    act(&s, &p, &ctx, &id, action).await?;
    Ok(see_other(&format!("/staff/users/{id}?notice={done}")))
}

async fn ban(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    user_form(s, ctx, p, id, UserAction::Ban, "staff_banned").await
}

async fn unban(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    user_form(s, ctx, p, id, UserAction::Unban, "staff_unbanned").await
}

#[derive(Deserialize)]
struct RoleForm {
    #[serde(default)]
    role: String,
}

async fn set_role(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    Path(id): Path<String>,
    ApiForm(b): ApiForm<RoleForm>,
) -> Result<Response, ApiError> {
    let role = match b.role.trim().parse::<Role>() {
        Ok(r)
            if matches!(
                r,
                Role::Customer | Role::Seller | Role::Support | Role::Staff
            ) =>
        {
            r
        }
        _ => {
            return Err(ApiError::validation(rampart_kernel::FieldErrors(vec![
                rampart_kernel::FieldError::new("role", "invalid_value"),
            ])))
        }
    };
    user_form(s, ctx, p, id, UserAction::Role(role), "staff_role_changed").await
}

// ----- a store ------------------------------------------------------------------

struct MemberLine {
    user_id: String,
    role: &'static str,
    since: String,
}

struct WarningLine {
    id: String,
    reason: Vec<String>,
    open: bool,
    issued_by: String,
    created_at: String,
    resolved_by: Option<String>,
    resolved_at: Option<String>,
}

struct DisputeLine {
    id: String,
    status: &'static str,
    reason: String,
    created_at: String,
}

#[derive(Template)]
#[template(path = "staff/store.html")]
struct StorePage {
    tr: Tr,
    nav: Nav,
    csrf_token: String,
    id: String,
    name: String,
    status: String,
    currency: String,
    created_at: String,
    members: Vec<MemberLine>,
    warnings: Vec<WarningLine>,
    disputes: Vec<DisputeLine>,
    audit: Vec<AuditLine>,
    reason: String,
    errors: Vec<String>,
    notice: Option<String>,
}

struct StoreReq<'a> {
    s: &'a AppState,
    p: &'a Principal,
    ctx: &'a ClientCtx,
    headers: &'a HeaderMap,
}

async fn show_store(
    r: StoreReq<'_>,
    id: &StoreId,
    notice_name: Option<&str>,
    reason: String,
    errors: Vec<String>,
    status: StatusCode,
) -> Result<Response, ApiError> {
    let d = store_dossier(r.s, r.p, r.ctx, id).await?;
    let f = frame(r.s, r.p, r.headers);
    let page = StorePage {
        notice: notice(f.tr.0, notice_name),
        tr: f.tr,
        nav: f.nav,
        csrf_token: f.token,
        id: d.store.id.into_string(),
        name: d.store.name,
        status: d.store.status.as_str().to_owned(),
        currency: d.store.currency.as_str().to_owned(),
        created_at: fmt_ms(d.store.created_at),
        members: d
            .members
            .into_iter()
            .map(|m| MemberLine {
                user_id: m.user_id.into_string(),
                role: store_role_key(m.role),
                since: fmt_ms(m.created_at),
            })
            .collect(),
        warnings: d
            .warnings
            .into_iter()
            .map(|w| WarningLine {
                id: w.id.into_string(),
                reason: w.reason.lines().map(str::to_owned).collect(),
                open: w.status == WarningStatus::Open,
                issued_by: w.issued_by.into_string(),
                created_at: fmt_ms(w.created_at),
                resolved_by: w.resolved_by.map(|u| u.into_string()),
                resolved_at: w.resolved_at.map(fmt_ms),
            })
            .collect(),
        disputes: d
            .disputes
            .into_iter()
            .map(|x| DisputeLine {
                id: x.id.into_string(),
                status: match x.status {
                    rampart_marketplace::DisputeStatus::Open => "dispute.status.open",
                    rampart_marketplace::DisputeStatus::Resolved => "dispute.status.resolved",
                },
                reason: x.reason,
                created_at: fmt_ms(x.created_at),
            })
            .collect(),
        audit: audit_lines(d.audit),
        reason,
        errors,
    };
    let status = if page.errors.is_empty() {
        StatusCode::OK
    } else {
        status
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
    let id = store_id(&id)?;
    let q: NoticeQuery = query(raw);
    let r = StoreReq {
        s: &s,
        p: &p,
        ctx: &ctx,
        headers: &headers,
    };
    show_store(
        r,
        &id,
        q.notice.as_deref(),
        String::new(),
        Vec::new(),
        StatusCode::OK,
    )
    .await
}

#[derive(Deserialize)]
struct WarnForm {
    #[serde(default)]
    reason: String,
}

async fn warn(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    headers: HeaderMap,
    Path(id): Path<String>,
    ApiForm(b): ApiForm<WarnForm>,
) -> Result<Response, ApiError> {
    let sid = store_id(&id)?;
    match s
        .trust
        .warn_store(&trust_caller(&p, &ctx), &sid, &b.reason)
        .await
    {
        Ok(_) => Ok(see_other(&format!(
            "/staff/stores/{sid}?notice=staff_warned"
        ))),
        Err(TrustError::Validation(e)) => {
            let errors = field_messages(lang_for(Some(&p), &headers), &e.0);
            let r = StoreReq {
                s: &s,
                p: &p,
                ctx: &ctx,
                headers: &headers,
            };
            show_store(
                r,
                &sid,
                None,
                b.reason,
                errors,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

async fn resolve(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let wid = warning_id(&id)?;
    let w = s
        .trust
        .resolve_warning(&trust_caller(&p, &ctx), &wid)
        .await?;
    Ok(see_other(&format!(
        "/staff/stores/{}?notice=staff_warning_resolved",
        w.store
    )))
}

#[cfg(test)]
mod tests {
    use rampart_kernel::account::{AccountStatus, Role};

    #[test]
    fn every_label_is_in_both_catalogs() {
        let mut keys: Vec<&str> = Role::ALL.into_iter().map(super::role_key).collect();
        keys.extend(
            [
                AccountStatus::Active,
                AccountStatus::Banned,
                AccountStatus::Deleted,
            ]
            .into_iter()
            .map(super::status_key),
        );
        for lang in [crate::i18n::Lang::En, crate::i18n::Lang::Et] {
            for k in &keys {
                assert!(crate::i18n::lookup(lang, k).is_some(), "{k}");
            }
        }
    }
}
