//! One error model (F6): handlers return [`ApiError`] with a stable `code`; the
//! renderer layer turns it — and any bare error status from the stack (404, 405, 413,
//! 408…) — into `application/problem+json` for the API or an HTML page for the web,
//! in the caller's language and with the request ID.

use crate::i18n::{self, Lang, Tr};
use crate::layout::Nav;
use askama::Template;
use axum::body::Body;
use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use rampart_kernel::{FieldError, FieldErrors};
use serde::de::DeserializeOwned;

/// How a group renders errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorFormat {
    /// Always `application/problem+json`.
    Json,
    /// HTML for browsers, JSON for clients that ask for it (`Accept`).
    Negotiated,
}

/// An error answer with a stable code.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code (documented in docs/errors.md).
    pub code: &'static str,
    /// Optional detail (already safe to show the caller; never a secret or internals).
    pub detail: Option<String>,
    /// Bad fields.
    pub errors: Vec<FieldError>,
    /// Extra headers (Retry-After, WWW-Authenticate…).
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl ApiError {
    /// An error with status and code.
    pub fn new(status: StatusCode, code: &'static str) -> Self {
        Self {
            status,
            code,
            detail: None,
            errors: Vec::new(),
            headers: Vec::new(),
        }
    }
    /// Adds a detail text.
    pub fn detail(mut self, d: impl Into<String>) -> Self {
        self.detail = Some(d.into());
        self
    }
    /// Adds a header.
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }
    /// 422 `validation_failed` listing each bad field.
    pub fn validation(errors: FieldErrors) -> Self {
        let mut e = Self::new(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        e.errors = errors.0;
        e
    }
    /// 404 `not_found`.
    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found")
    }
    /// 401 `unauthorized`.
    pub fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized")
    }
    /// 403 `forbidden`.
    pub fn forbidden() -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden")
    }
    /// 500 `internal`: logs the cause with the request's span, shows nothing of it.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal")
    }
}

impl From<rampart_db::DbError> for ApiError {
    fn from(e: rampart_db::DbError) -> Self {
        match e {
            rampart_db::DbError::NotFound => ApiError::not_found(),
            rampart_db::DbError::Conflict(_) => ApiError::new(StatusCode::CONFLICT, "conflict"),
            other => ApiError::internal(other),
        }
    }
}

/// Marker carried in response extensions until the renderer formats the body.
#[derive(Debug, Clone)]
pub struct Problem(pub ApiError);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = Response::new(Body::empty());
        *resp.status_mut() = self.status;
        for (k, v) in &self.headers {
            resp.headers_mut().insert(k.clone(), v.clone());
        }
        resp.extensions_mut().insert(Problem(self));
        resp
    }
}

/// Code for a bare error status produced outside our handlers.
fn code_for_status(s: StatusCode) -> &'static str {
    match s.as_u16() {
        400 => "bad_request",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not_found",
        405 => "method_not_allowed",
        408 => "request_timeout",
        413 => "payload_too_large",
        415 => "unsupported_media_type",
        422 => "invalid_body",
        429 => "rate_limited",
        503 => "unavailable",
        _ => "internal",
    }
}

/// Whether the caller gets JSON problems: always in a JSON group (declared in the
/// registry); elsewhere when the client asks for JSON (or for something specific that
/// is not HTML).
fn wants_json(format: ErrorFormat, accept: Option<&str>) -> bool {
    if format == ErrorFormat::Json {
        return true;
    }
    match accept {
        Some(a) => {
            !a.contains("text/html") && (a.contains("json") || !a.contains("*/*") && !a.is_empty())
        }
        None => false,
    }
}

/// The problem document.
pub fn problem_json(e: &ApiError, lang: Lang, request_id: &str) -> serde_json::Value {
    let title = i18n::lookup(lang, &format!("err.{}", e.code)).unwrap_or(e.code);
    let mut v = serde_json::json!({
        "type": format!("urn:rampart:problem:{}", e.code),
        "title": title,
        "status": e.status.as_u16(),
        "code": e.code,
        "request_id": request_id,
    });
    let detail = e.detail.clone().or_else(|| {
        let key = match e.code {
            "rate_limited" => Some("detail.rate_limited"),
            c if c.starts_with("csrf_") => Some("detail.csrf"),
            "validation_failed" => Some("detail.validation_failed"),
            _ => None,
        };
        key.map(|k| i18n::t(lang, k).to_owned())
    });
    if let Some(d) = detail {
        v["detail"] = serde_json::Value::String(d);
    }
    if !e.errors.is_empty() {
        v["errors"] = e
            .errors
            .iter()
            .map(|f| serde_json::json!({"field": f.field, "code": f.code}))
            .collect();
    }
    v
}

/// What the renderer needs to know about the request, captured before it is
/// consumed (no allocation).
#[derive(Debug, Clone, Copy)]
pub struct RenderHints {
    /// API path or a client that asked for JSON.
    pub json: bool,
    /// Language from `Accept-Language`.
    pub lang: Lang,
}

impl RenderHints {
    /// From the request head and the error format of the route group it reached.
    pub fn of(req: &Request, format: ErrorFormat) -> Self {
        let accept = req
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok());
        RenderHints {
            json: wants_json(format, accept),
            lang: Lang::negotiate(
                req.headers()
                    .get(header::ACCEPT_LANGUAGE)
                    .and_then(|v| v.to_str().ok()),
            ),
        }
    }
}

/// Renders an error response in one format; successful responses pass untouched.
pub fn render(mut resp: Response, hints: RenderHints, request_id: &str) -> Response {
    let s = resp.status();
    let problem = resp.extensions_mut().remove::<Problem>();
    let err = match problem {
        Some(Problem(e)) => e,
        None => {
            // Bodies that are already a deliberate format (JSON such as OAuth's RFC 6749
            // errors, or HTML) pass; bare statuses and the framework's plain-text
            // rejections (bad path parameters, body limits…) become problems.
            let deliberate = resp
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| !v.starts_with("text/plain"));
            if !(s.is_client_error() || s.is_server_error()) || deliberate {
                return resp;
            }
            ApiError::new(s, code_for_status(s))
        }
    };
    let lang = resp
        .extensions()
        .get::<Lang>()
        .copied()
        .unwrap_or(hints.lang);
    let (parts, _) = resp.into_parts();
    let mut out = if hints.json {
        let body = problem_json(&err, lang, request_id).to_string();
        let mut r = Response::new(Body::from(body));
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        r
    } else {
        error_page(&err, lang, request_id)
    };
    *out.status_mut() = parts.status;
    for (k, v) in parts.headers.iter() {
        if k != header::CONTENT_TYPE && k != header::CONTENT_LENGTH {
            out.headers_mut().insert(k.clone(), v.clone());
        }
    }
    if err.status == StatusCode::TOO_MANY_REQUESTS {
        out.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    out
}

/// JSON body extractor whose every failure is a clear 4xx problem, never a 500.
#[derive(Debug, Clone)]
pub struct ApiJson<T>(pub T);

fn is_json_content_type(req: &Request) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|m| {
            let m = m.trim().to_ascii_lowercase();
            m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
        })
        .unwrap_or(false)
}

async fn read_body<S: Send + Sync>(req: Request, state: &S) -> Result<axum::body::Bytes, ApiError> {
    axum::body::Bytes::from_request(req, state)
        .await
        .map_err(|rej| {
            if rej.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
            } else {
                ApiError::new(StatusCode::BAD_REQUEST, "bad_request")
            }
        })
}

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json_content_type(&req) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
            )
            .detail("expected Content-Type: application/json"));
        }
        let bytes = read_body(req, state).await?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// Parses a JSON object body with the same error mapping as [`ApiJson`].
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let value = parse_json_value::<T>(bytes)?;
    // NUL is never valid in a stored string (PostgreSQL refuses it in text): refuse
    // `\u0000` anywhere in a string of the body, as a field error of the caller, not a
    // database error.
    if bytes.windows(6).any(|w| w == b"\\u0000") && json_has_nul(bytes) {
        return Err(nul_refused());
    }
    // serde's derived structs also accept a JSON array of their fields in order;
    // every request body is documented as an object, so anything else is refused.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body")
                .detail("expected a JSON object"),
        );
    }
    Ok(value)
}

fn parse_json_value<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice::<T>(bytes).map_err(|e| {
        use serde_json::error::Category;
        match e.classify() {
            Category::Data => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body")
                .detail(format!(
                    "line {} column {}: {}",
                    e.line(),
                    e.column(),
                    data_error_summary(&e)
                )),
            _ => ApiError::new(StatusCode::BAD_REQUEST, "malformed_json").detail(format!(
                "line {} column {}",
                e.line(),
                e.column()
            )),
        }
    })
}

/// serde's message without the offending value (which could be a password), in the
/// caller's terms: JSON kinds, never Rust types (`struct RegisterBody`, `i64`).
fn data_error_summary(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    let msg = msg.split(" at line ").next().unwrap_or("").to_owned();
    if let Some(rest) = msg.strip_prefix("invalid type: ") {
        // "invalid type: string \"…\", expected u32" -> keep the kinds only.
        let kind = json_kind(rest.split([' ', ',']).next().unwrap_or("value"));
        let expected = rest.rsplit("expected ").next().unwrap_or("");
        return format!(
            "invalid type: {kind}, expected {}",
            expected_in_json(expected)
        );
    }
    if msg.starts_with("invalid length") && msg.contains("expected struct ") {
        // serde reads a JSON array as a struct's fields in order; callers send objects.
        return "invalid type: array, expected an object".to_owned();
    }
    if msg.starts_with("invalid value") || msg.starts_with("invalid length") {
        let expected = msg.rsplit("expected ").next().unwrap_or("");
        return format!("invalid value, expected {}", expected_in_json(expected));
    }
    // "unknown field `x`, expected one of `a`, `b`", "missing field `x`" and
    // "duplicate field `x`" already speak of the caller's fields.
    msg
}

/// The JSON name of the kind serde saw.
fn json_kind(serde_kind: &str) -> &'static str {
    match serde_kind {
        "string" | "char" => "string",
        "integer" => "integer",
        "floating" => "number",
        "boolean" => "boolean",
        "map" => "object",
        "sequence" => "array",
        "null" | "unit" => "null",
        _ => "value",
    }
}

/// What serde expected, in JSON terms.
fn expected_in_json(serde_expected: &str) -> &'static str {
    let e = serde_expected.trim();
    let unsigned = ["u8", "u16", "u32", "u64", "u128", "usize"];
    let signed = ["i8", "i16", "i32", "i64", "i128", "isize"];
    if unsigned.contains(&e) {
        "a non-negative integer"
    } else if signed.contains(&e) {
        "an integer"
    } else if matches!(e, "f32" | "f64") {
        "a number"
    } else if e.starts_with("struct ") || e.starts_with("a map") || e == "map" {
        "an object"
    } else if e.starts_with("a sequence") || e.starts_with("tuple") || e.contains("array") {
        "an array"
    } else if e.contains("string") || e == "a character" || e.starts_with("a borrowed") {
        "a string"
    } else if e.contains("boolean") || e == "bool" {
        "true or false"
    } else if e.starts_with("enum ") || e.starts_with("variant") {
        "one of the documented values"
    } else if e.starts_with("unit") || e == "null" {
        "null"
    } else {
        "a value of the documented type"
    }
}

/// Form body extractor for HTML forms and OAuth; same error mapping.
#[derive(Debug, Clone)]
pub struct ApiForm<T>(pub T);

impl<S, T> FromRequest<S> for ApiForm<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let ok = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                v.to_ascii_lowercase()
                    .starts_with("application/x-www-form-urlencoded")
            })
            .unwrap_or(false);
        if !ok {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
            )
            .detail("expected Content-Type: application/x-www-form-urlencoded"));
        }
        let bytes = read_body(req, state).await?;
        serde_urlencoded_parse(&bytes).map(ApiForm)
    }
}

/// Whether a JSON body holds a string with a NUL character (slow path, only taken
/// when the escape appears at all).
fn json_has_nul(bytes: &[u8]) -> bool {
    fn walk(v: &serde_json::Value) -> bool {
        match v {
            serde_json::Value::String(s) => s.contains('\0'),
            serde_json::Value::Array(a) => a.iter().any(walk),
            serde_json::Value::Object(o) => o.iter().any(|(k, v)| k.contains('\0') || walk(v)),
            _ => false,
        }
    }
    serde_json::from_slice::<serde_json::Value>(bytes).is_ok_and(|v| walk(&v))
}

fn nul_refused() -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body")
        .detail("NUL characters are not allowed in text")
}

fn serde_urlencoded_parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.contains(&0) || crate::edge::has_nul_escape(bytes) {
        return Err(nul_refused());
    }
    serde_urlencoded::from_bytes::<T>(bytes)
        .map_err(|_| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"))
}

/// The 404 for unknown routes.
pub async fn fallback() -> ApiError {
    ApiError::not_found()
}

/// Turns a panic into a bare 500 (the renderer adds the body); internals stay in the log.
pub fn panic_response(err: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let msg = err
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| err.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned());
    ApiError::internal(format!("handler panicked: {msg}")).into_response()
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
    let (body, ok) = match page.render() {
        Ok(body) => (body, true),
        Err(_) => ("error".to_owned(), false),
    };
    let mut r = Response::new(Body::from(body));
    if ok {
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
    } else {
        *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    }
    r
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        days: Option<i64>,
        count: Option<u32>,
        tags: Option<Vec<String>>,
    }

    fn detail(json: &str) -> String {
        let e = parse_json::<Body>(json.as_bytes()).unwrap_err();
        e.detail.unwrap_or_default()
    }

    #[test]
    fn invalid_body_details_speak_json_not_rust() {
        for (json, want) in [
            ("[]", "invalid type: array, expected an object"),
            ("\"x\"", "invalid type: string, expected an object"),
            (r#"{"name": 5}"#, "invalid type: integer, expected a string"),
            (
                r#"{"name": "a", "days": "x"}"#,
                "invalid type: string, expected an integer",
            ),
            (
                r#"{"name": "a", "days": 1.5}"#,
                "invalid type: number, expected an integer",
            ),
            (
                r#"{"name": "a", "count": -1}"#,
                "invalid value, expected a non-negative integer",
            ),
            (
                r#"{"name": "a", "tags": {}}"#,
                "invalid type: object, expected an array",
            ),
            (
                r#"{"name": "a", "x": 1}"#,
                "unknown field `x`, expected one of `name`, `days`, `count`, `tags`",
            ),
            (r#"{"days": 1}"#, "missing field `name`"),
        ] {
            let d = detail(json);
            assert!(d.ends_with(want), "{json}: {d}");
            for rust in ["struct", "Body", "i64", "u32", "sequence", "map"] {
                assert!(!d.contains(rust), "{json}: {d}");
            }
        }
    }
}
