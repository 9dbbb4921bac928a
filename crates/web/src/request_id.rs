//! Correlation IDs (C4): a well-formed incoming `X-Request-ID` is kept, anything else
//! is replaced; the ID is echoed, carried by the request's tracing span (so it is in
//! every log line) and available to handlers and audit rows.

use axum::extract::Request;
use axum::http::HeaderName;

/// The header.
pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The request's correlation ID, in request extensions.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Well-formed: 1–128 characters of `A-Z a-z 0-9 - _ . :` (covers UUIDs, ULIDs and
/// proxy-generated IDs; excludes anything that could forge log lines or headers).
pub fn is_well_formed(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 128
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// The request's ID: the incoming one when well-formed, else a new UUIDv7.
pub fn assign(req: &Request) -> String {
    req.headers()
        .get(&X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| is_well_formed(v))
        .map(str::to_owned)
        .unwrap_or_else(new_id)
}

/// A UUIDv7 from the clock and the thread-local CSPRNG (no system call per request,
/// unlike `Uuid::now_v7`, which asks the OS for randomness every time).
fn new_id() -> String {
    use rand::RngCore;
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default();
    let mut random = [0u8; 10];
    rand::thread_rng().fill_bytes(&mut random);
    let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
    uuid::Builder::from_unix_timestamp_millis(ms, &random)
        .into_uuid()
        .hyphenated()
        .encode_lower(&mut buf)
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_formed() {
        assert!(is_well_formed("0190b7c2-7a4e-7c4d-9b1e-0b5e3f2a1c9d"));
        assert!(!is_well_formed(""));
        assert!(!is_well_formed("a\nb"));
        assert!(!is_well_formed("a b"));
        assert!(!is_well_formed(&"a".repeat(129)));
        assert!(!is_well_formed("<script>"));
    }
}
