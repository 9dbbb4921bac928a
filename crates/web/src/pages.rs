//! Server-rendered pages (askama templates auto-escape every value) and the HTML
//! error page. Pages work without JavaScript.

use crate::error::ApiError;
use crate::i18n::{self, Lang, Tr};
use askama::Template;
use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// What the navigation bar needs.
#[derive(Debug, Clone, Default)]
pub struct Nav {
    /// The signed-in user's name.
    pub username: Option<String>,
    /// CSRF token for the logout form.
    pub csrf_token: String,
}

/// The home page.
#[derive(Template)]
#[template(path = "home.html")]
pub struct HomePage {
    /// Translator.
    pub tr: Tr,
    /// Navigation.
    pub nav: Nav,
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    tr: Tr,
    nav: Nav,
    title: &'a str,
    status: u16,
    code: &'a str,
    detail: Option<String>,
    errors: Vec<(String, String)>,
    request_id: &'a str,
}

/// Renders a template as an HTML response; a render failure is a logged 500.
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
        Err(e) => ApiError::internal(format!("template: {e}")).into_response(),
    }
}

/// The HTML form of an error.
pub fn error_page(e: &ApiError, lang: Lang, request_id: &str) -> Response {
    let title = i18n::lookup(lang, &format!("err.{}", e.code)).unwrap_or(e.code);
    let page = ErrorPage {
        tr: Tr(lang),
        nav: Nav::default(),
        title,
        status: e.status.as_u16(),
        code: e.code,
        detail: e.detail.clone(),
        errors: e
            .errors
            .iter()
            .map(|f| (f.field.clone(), f.code.to_owned()))
            .collect(),
        request_id,
    };
    match page.render() {
        Ok(body) => {
            let mut r = Response::new(Body::from(body));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            r
        }
        Err(_) => {
            let mut r = Response::new(Body::from("error"));
            *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            r
        }
    }
}
