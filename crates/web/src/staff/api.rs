//! The staff tools under `/v1/staff` (D9, issue 11 §4). Each staff route declares its permission, so
//! the guard answers 404 to everyone without it and 403 `totp_enrolment_required` to
//! holders without TOTP; the shared functions here are also the pages' logic, so a
//! form and its JSON twin cannot drift apart. Every change is one call into the
//! owning context, which writes its audit row in the same transaction.
//! Design: `docs/design/trust-and-safety.md` ("Staff tools").

use super::wire::*;
use crate::authn::{Ctx, CurrentUser};
use crate::codes::Code;
use crate::error::{ApiError, ApiJson};
use crate::routes::{Doc, Group, Routes};
use crate::state::AppState;
use axum::extract::{Path, RawQuery, State};
use axum::Json;
use rampart_identity::accounts::Account;
use rampart_identity::sessions::DeviceSession;
use rampart_identity::{ClientCtx, Principal};
use rampart_kernel::account::{AccountStatus, Role};
use rampart_kernel::ids::StoreId;
use rampart_kernel::{FieldError, FieldErrors, Permission, UserId};
use rampart_marketplace::{DisputeView, MemberView, MyStore, StoreView};
use rampart_trust::WarningView;

/// How many audit rows the staff pages show.
pub const AUDIT_ROWS: i64 = 50;

/// A staff action on an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserAction {
    /// Ban (ends every session and token at once).
    Ban,
    /// Lift a ban.
    Unban,
    /// Set the platform role (grant or revoke seller, support, staff).
    Role(Role),
}

/// A path user ID: only the canonical spelling names a user; anything else is 404.
pub fn user_id(raw: &str) -> Result<UserId, ApiError> {
    match raw.parse::<UserId>() {
        Ok(id) if id.as_str() == raw => Ok(id),
        _ => Err(ApiError::not_found()),
    }
}

/// The account a search names: an exact username or e-mail address, or a user ID.
/// Deleted accounts are not found.
pub async fn find_user(s: &AppState, q: &str) -> Result<Option<Account>, ApiError> {
    let q = q.trim();
    if q.is_empty() || q.len() > 320 {
        return Ok(None);
    }
    let by_id = match q.parse::<UserId>() {
        Ok(id) => s.auth.account(id.as_str()).await?,
        Err(_) => None,
    };
    let found = match by_id {
        Some(a) => Some(a),
        None => s.auth.account_by_login(q).await?,
    };
    Ok(found.filter(|a| a.status != AccountStatus::Deleted))
}

/// An existing (not deleted) account, else 404.
async fn target(s: &AppState, id: &UserId) -> Result<Account, ApiError> {
    s.auth
        .account(id.as_str())
        .await?
        .filter(|a| a.status != AccountStatus::Deleted)
        .ok_or_else(ApiError::not_found)
}

/// Everything the staff page of a user shows.
pub struct UserDossier {
    /// The account.
    pub account: Account,
    /// Their stores and store roles.
    pub stores: Vec<MyStore>,
    /// Live device sessions.
    pub sessions: Vec<DeviceSession>,
    /// Audit rows about them, newest first.
    pub audit: Vec<rampart_audit::AuditRow>,
}

/// Reads a user's dossier (the route's permission is the guard's).
pub async fn dossier(
    s: &AppState,
    p: &Principal,
    ctx: &ClientCtx,
    id: &UserId,
) -> Result<UserDossier, ApiError> {
    let account = target(s, id).await?;
    let stores = s
        .market
        .stores_of(&crate::marketplace::api::caller(p, ctx), id)
        .await?;
    let sessions = s.auth.list_sessions(id.as_str()).await?;
    let audit = rampart_audit::about(&s.db, rampart_audit::Target::user(id.as_str()), AUDIT_ROWS)
        .await
        .map_err(ApiError::from)?;
    Ok(UserDossier {
        account,
        stores,
        sessions,
        audit,
    })
}

/// Carries out a staff action on an account. Staff act only on accounts below their
/// own role and never on themselves (403); a role can only be set below one's own;
/// anything but customer ⇄ seller needs `grant_role` (admins), the route's
/// `grant_seller` being enough for that pair. The identity context changes the row,
/// ends the sessions and tokens and writes the one audit row (`user_ban`,
/// `user_unban`, `grant_*`, `revoke_*`) in one transaction; a no-op writes nothing.
pub async fn act(
    s: &AppState,
    p: &Principal,
    ctx: &ClientCtx,
    id: &UserId,
    action: UserAction,
) -> Result<Account, ApiError> {
    let account = target(s, id).await?;
    if id.as_str() == p.user_id() || account.role >= p.role {
        return Err(ApiError::forbidden());
    }
    match action {
        UserAction::Ban | UserAction::Unban => {
            let status = if action == UserAction::Ban {
                AccountStatus::Banned
            } else {
                AccountStatus::Active
            };
            s.auth
                .set_status(Some(p.user_id()), id.as_str(), status, ctx)
                .await?;
        }
        UserAction::Role(role) => {
            if role >= p.role {
                return Err(ApiError::forbidden());
            }
            let seller_only = matches!(account.role, Role::Customer | Role::Seller)
                && matches!(role, Role::Customer | Role::Seller);
            if !seller_only && !Permission::GrantRole.allowed_for(p.role) {
                return Err(ApiError::forbidden());
            }
            s.auth
                .set_role(Some(p.user_id()), id.as_str(), role, ctx)
                .await?;
        }
    }
    target(s, id).await
}

/// Everything the staff page of a store shows.
pub struct StoreDossier {
    /// The store.
    pub store: StoreView,
    /// Its members.
    pub members: Vec<MemberView>,
    /// Its warnings, newest first.
    pub warnings: Vec<WarningView>,
    /// Its latest disputes, newest first.
    pub disputes: Vec<DisputeView>,
    /// Audit rows about it, newest first.
    pub audit: Vec<rampart_audit::AuditRow>,
}

/// Reads a store's dossier: the marketplace's moderation view (404 for a store that
/// does not exist), the trust context's warnings, the store's disputes.
pub async fn store_dossier(
    s: &AppState,
    p: &Principal,
    ctx: &ClientCtx,
    id: &StoreId,
) -> Result<StoreDossier, ApiError> {
    let mc = crate::marketplace::api::caller(p, ctx);
    let (store, members) = s.market.moderated_store(&mc, id).await?;
    let warnings = s
        .trust
        .store_warnings(&crate::trust::api::caller(p, ctx), id)
        .await?;
    let disputes = s.market.store_disputes(&mc, id).await?;
    let audit = rampart_audit::about(
        &s.db,
        rampart_audit::Target::new(rampart_audit::TargetKind::Store, id.as_str()),
        AUDIT_ROWS,
    )
    .await
    .map_err(ApiError::from)?;
    Ok(StoreDossier {
        store,
        members,
        warnings,
        disputes,
        audit,
    })
}

/// Mounts the staff API.
pub fn mount(r: Routes) -> Routes {
    use Code::*;
    let users = |summary| Doc::new("staff", summary).permission(Permission::BanUser);
    r.group(Group::Manage)
        .get(
            "/v1/staff/users",
            search,
            users("Find an account by exact username, e-mail address or ID (staff with TOTP)")
                .query::<UserSearchParams>()
                .responds::<UserSearchResponse>(200),
        )
        .get(
            "/v1/staff/users/{id}",
            get_user,
            users("A user as staff see it: account status, role, stores, live sessions and the audit rows about them (staff with TOTP)")
                .responds::<StaffUserResponse>(200)
                .errors(&[NotFound]),
        )
        .post(
            "/v1/staff/users/{id}/ban",
            ban,
            users("Ban a user below your role: ends every session, refresh family and token at once; audited as user_ban (staff with TOTP)")
                .responds::<StaffAccountResponse>(200)
                .errors(&[NotFound, Forbidden]),
        )
        .post(
            "/v1/staff/users/{id}/unban",
            unban,
            users("Lift a ban; audited as user_unban (staff with TOTP)")
                .responds::<StaffAccountResponse>(200)
                .errors(&[NotFound, Forbidden]),
        )
        .post(
            "/v1/staff/users/{id}/role",
            set_role,
            Doc::new(
                "staff",
                "Grant or revoke the seller role (staff), or the support and staff roles (admins), below your own; audited as grant_<role> or revoke_<old role> (with TOTP)",
            )
            .permission(Permission::GrantSeller)
            .request::<StaffRoleRequest>()
            .responds::<StaffAccountResponse>(200)
            .errors(&[NotFound, Forbidden]),
        )
        .get(
            "/v1/staff/stores/{id}",
            get_store,
            Doc::new(
                "staff",
                "A store as staff see it: settings, members, warnings, disputes and the audit rows about it (staff holding warn_store, with TOTP)",
            )
            .permission(Permission::WarnStore)
            .responds::<StaffStoreResponse>(200)
            .errors(&[NotFound]),
        )
}

fn invalid_query(field: &str) -> ApiError {
    ApiError::validation(FieldErrors(vec![FieldError::new(field, "invalid_value")]))
}

async fn search(
    State(s): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<UserSearchResponse>, ApiError> {
    let q: UserSearchParams = match raw {
        Some(q) => serde_urlencoded::from_str(&q).map_err(|_| invalid_query("q"))?,
        None => UserSearchParams::default(),
    };
    let found = find_user(&s, q.q.as_deref().unwrap_or("")).await?;
    Ok(Json(UserSearchResponse {
        users: found.into_iter().map(Into::into).collect(),
    }))
}

/// The JSON form of a user dossier.
pub fn user_response(d: UserDossier) -> StaffUserResponse {
    StaffUserResponse {
        user: d.account.into(),
        stores: d.stores.into_iter().map(Into::into).collect(),
        sessions: d.sessions.into_iter().map(Into::into).collect(),
        audit: d.audit.into_iter().map(Into::into).collect(),
    }
}

async fn get_user(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<StaffUserResponse>, ApiError> {
    let id = user_id(&id)?;
    Ok(Json(user_response(dossier(&s, &p, &ctx, &id).await?)))
}

async fn do_act(
    s: AppState,
    ctx: ClientCtx,
    p: Principal,
    id: String,
    action: UserAction,
) -> Result<Json<StaffAccountResponse>, ApiError> {
    let id = user_id(&id)?;
    Ok(Json(act(&s, &p, &ctx, &id, action).await?.into()))
}

async fn ban(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<StaffAccountResponse>, ApiError> {
    do_act(s, ctx, p, id, UserAction::Ban).await
}

async fn unban(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<StaffAccountResponse>, ApiError> {
    do_act(s, ctx, p, id, UserAction::Unban).await
}

async fn set_role(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<StaffRoleRequest>,
) -> Result<Json<StaffAccountResponse>, ApiError> {
    do_act(s, ctx, p, id, UserAction::Role(b.role.into())).await
}

/// The JSON form of a store dossier.
pub fn store_response(d: StoreDossier) -> StaffStoreResponse {
    StaffStoreResponse {
        store: d.store.into(),
        members: d.members.into_iter().map(Into::into).collect(),
        warnings: d.warnings.into_iter().map(Into::into).collect(),
        disputes: d.disputes.into_iter().map(Into::into).collect(),
        audit: d.audit.into_iter().map(Into::into).collect(),
    }
}

async fn get_store(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CurrentUser(p): CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<StaffStoreResponse>, ApiError> {
    let id = crate::trust::api::store_id(&id)?;
    Ok(Json(store_response(
        store_dossier(&s, &p, &ctx, &id).await?,
    )))
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_canonical_user_ids_name_a_user() {
        let id = rampart_kernel::UserId::generate();
        assert!(super::user_id(id.as_str()).is_ok());
        assert!(super::user_id(&id.as_str().to_uppercase()).is_err());
        assert!(super::user_id("nobody").is_err());
    }
}
