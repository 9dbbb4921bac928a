//! The page layout every server-rendered page shares: the navigation bar and the
//! rendering of a template into an HTML response. Pages work without JavaScript;
//! askama templates auto-escape every value. Depends on nothing else in the crate.

use crate::i18n::{lang_of, Lang};
use askama::Template;
use axum::body::Body;
use axum::http::HeaderMap;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use rampart_identity::Principal;

/// What the navigation bar needs.
#[derive(Debug, Clone, Default)]
pub struct Nav {
    /// The signed-in user's name.
    pub username: Option<String>,
    /// CSRF token for the logout form.
    pub csrf_token: String,
    /// The caller may work the dispute queue (staff with `resolve_dispute`).
    pub staff_disputes: bool,
    /// The caller may work the support ticket queue (`manage_tickets`).
    pub staff_tickets: bool,
    /// The caller may use the staff user pages (`ban_user`).
    pub staff_users: bool,
}

/// Renders a template as an HTML response; a render failure is a logged bare 500
/// (the edge's renderer gives it the error body).
pub fn html(t: &impl Template) -> Response {
    match t.render() {
        Ok(body) => {
            let mut r = Response::new(Body::from(body));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            r
        }
        Err(e) => {
            tracing::error!(error = %e, "template rendering failed");
            let mut r = Response::new(Body::empty());
            *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            r
        }
    }
}

/// The navigation bar for a caller.
pub fn nav(p: Option<&Principal>, csrf_token: &str) -> Nav {
    Nav {
        username: p.map(|p| p.username.clone()),
        csrf_token: csrf_token.to_owned(),
        staff_disputes: p
            .is_some_and(|p| rampart_kernel::Permission::ResolveDispute.allowed_for(p.role)),
        staff_tickets: p
            .is_some_and(|p| rampart_kernel::Permission::ManageTickets.allowed_for(p.role)),
        staff_users: p.is_some_and(|p| rampart_kernel::Permission::BanUser.allowed_for(p.role)),
    }
}

/// The page language: the user's setting, else `Accept-Language`.
pub fn lang_for(p: Option<&Principal>, headers: &HeaderMap) -> Lang {
    p.and_then(|p| p.language.as_deref())
        .and_then(Lang::from_tag)
        .unwrap_or_else(|| lang_of(headers))
}
