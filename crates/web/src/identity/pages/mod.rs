//! Server-rendered account pages: login, registration, logout, password recovery and
//! the settings area (language, password, two-factor, device sessions, personal access
//! tokens). Every form carries a CSRF token bound to the session cookie (signed in) or
//! to a pre-session cookie set by the page that shows the form; the registry puts the
//! CSRF guard on every POST. Successful POSTs answer 303 (POST-redirect-GET), except
//! the few that show a secret exactly once (new PAT, TOTP secret, recovery codes),
//! which render directly and keep the default `Cache-Control: no-store`.

mod account;
mod settings;

use crate::csrf;
use crate::i18n::{self, Lang};
pub(crate) use crate::layout::{lang_for, nav};
use crate::routes::{Group, Routes};
use crate::state::AppState;
use askama::Template;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use rampart_kernel::FieldError;

/// Mounts the account and settings pages.
pub fn mount(r: Routes) -> Routes {
    settings::mount(account::mount(r.group(Group::Web)))
}

/// The CSRF token for a page's forms, and the `Set-Cookie` value of a new pre-session
/// cookie when the browser has no cookie to bind the token to yet.
pub(crate) fn csrf_for(state: &AppState, headers: &HeaderMap) -> (String, Option<String>) {
    csrf::token_or_pre_session(state, headers)
}

/// The CSRF token of a session ID (after a new session was started in this request).
pub(crate) fn csrf_for_session(state: &AppState, sid: &str) -> String {
    state.csrf.token_for(&format!("sid:{sid}"))
}

/// Field errors as sentences in `lang` ("Username: is too short").
pub(crate) fn field_messages(lang: Lang, errors: &[FieldError]) -> Vec<String> {
    errors
        .iter()
        .map(|e| {
            let label =
                i18n::lookup(lang, &format!("field.{}", e.field)).unwrap_or(e.field.as_str());
            let msg = i18n::lookup(lang, &format!("fielderr.{}", e.code)).unwrap_or(e.code);
            format!("{label}: {msg}")
        })
        .collect()
}

/// The message of an error code (`err.*` keys).
pub(crate) fn err_message(lang: Lang, code: &str) -> String {
    i18n::lookup(lang, &format!("err.{code}"))
        .unwrap_or(code)
        .to_owned()
}

/// A notice named in the query string; only names in the catalog (`notice.*`) show.
pub(crate) fn notice(lang: Lang, name: Option<&str>) -> Option<String> {
    let name = name?;
    if name.is_empty()
        || name.len() > 32
        || !name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
    {
        return None;
    }
    i18n::lookup(lang, &format!("notice.{name}")).map(str::to_owned)
}

/// `next` if it is a local path (`/…` but not `//…` or `/\…`), else `/`.
pub(crate) fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.contains('\\')
                && n.len() <= 2048
                && !n.chars().any(char::is_control) =>
        {
            n.to_owned()
        }
        _ => "/".to_owned(),
    }
}

/// Parses a query string leniently: a malformed one counts as empty.
pub(crate) fn query<T: serde::de::DeserializeOwned + Default>(raw: Option<String>) -> T {
    raw.and_then(|q| serde_urlencoded::from_str(&q).ok())
        .unwrap_or_default()
}

/// Appends a `Set-Cookie` header.
pub(crate) fn add_cookie(resp: &mut Response, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// Renders a page with a status and an optional cookie.
pub(crate) fn render(t: &impl Template, status: StatusCode, cookie: Option<&str>) -> Response {
    let mut r = crate::layout::html(t);
    if r.status() == StatusCode::OK {
        *r.status_mut() = status;
    }
    if let Some(c) = cookie {
        add_cookie(&mut r, c);
    }
    r
}

/// A 303 See Other to a local path.
pub(crate) fn see_other(location: &str) -> Response {
    axum::response::IntoResponse::into_response(axum::response::Redirect::to(location))
}

/// Formats Unix ms as `YYYY-MM-DD HH:MM UTC`.
pub(crate) fn fmt_ms(ms: i64) -> String {
    match time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000)) {
        Ok(t) => format!(
            "{:04}-{:02}-{:02} {:02}:{:02} UTC",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute()
        ),
        Err(_) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_must_be_local() {
        assert_eq!(safe_next(Some("/settings?x=1")), "/settings?x=1");
        assert_eq!(safe_next(Some("//evil.example")), "/");
        assert_eq!(safe_next(Some("/\\evil.example")), "/");
        assert_eq!(safe_next(Some("https://evil.example")), "/");
        assert_eq!(safe_next(Some("")), "/");
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn notices_come_from_the_catalog_only() {
        assert!(notice(Lang::En, Some("registered")).is_some());
        assert!(notice(Lang::En, Some("<script>")).is_none());
        assert!(notice(Lang::En, Some("nonexistent")).is_none());
    }

    #[test]
    fn dates() {
        assert_eq!(fmt_ms(0), "1970-01-01 00:00 UTC");
    }
}
