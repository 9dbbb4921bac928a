//! The last line of defence for C5: every log line passes through [`RedactingWriter`],
//! which blanks anything shaped like a secret (JWTs, Rampart's prefixed tokens,
//! `Authorization` values, password/token/cookie fields) before it reaches the output.
//! Code should never log secrets in the first place; this catches the mistakes.

use regex::Regex;
use std::borrow::Cow;
use std::io::Write;
use std::sync::{Arc, OnceLock};
use tracing_subscriber::fmt::MakeWriter;

/// The replacement text.
pub const REDACTED: &str = "[REDACTED]";

/// Field names whose value is a secret (JSON keys, `key=value` pairs), lower case.
const SECRET_NAMES: &[&str] = &[
    "password",
    "passwd",
    "new_password",
    "current_password",
    "secret",
    "client_secret",
    "token",
    "access_token",
    "refresh_token",
    "id_token",
    "csrf_token",
    "x-csrf-token",
    "cookie",
    "set-cookie",
    "authorization",
    "totp",
    "totp_code",
    "recovery_code",
    "private_key",
    "api_key",
    "card_number",
];

fn patterns() -> &'static [Regex] {
    static P: OnceLock<Vec<Regex>> = OnceLock::new();
    P.get_or_init(|| {
        let names = SECRET_NAMES.join("|");
        [
            // Authorization schemes.
            r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+".to_owned(),
            // JSON or key=value fields whose names say "secret".
            format!(r#"(?i)("?(?:{names})"?\s*[:=]\s*)("(?:[^"\\]|\\.)*"|[^\s,&}}\]]+)"#),
            // JWTs.
            r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*".to_owned(),
            // Rampart's prefixed opaque tokens (PAT, refresh, reset, invite, session).
            r"\b(?:rpat|rrt|rrs|rinv|rses|rcs)_[A-Za-z0-9_-]{8,}".to_owned(),
            // Session cookie values.
            r"(?i)(__Host-rampart[a-z_]*|rampart[a-z_]*)=[^;\s]+".to_owned(),
        ]
        .iter()
        .filter_map(|p| Regex::new(p).ok())
        .collect()
    })
}

/// Returns `text` with every secret-shaped part replaced by [`REDACTED`], as text
/// (no structure is assumed).
fn redact_text(text: &str) -> Cow<'_, str> {
    let mut out = Cow::Borrowed(text);
    for (i, re) in patterns().iter().enumerate() {
        if !re.is_match(&out) {
            continue;
        }
        let replaced = match i {
            0 | 1 | 4 => re.replace_all(&out, |c: &regex::Captures<'_>| {
                let sep = if i == 4 {
                    "="
                } else if i == 0 {
                    " "
                } else {
                    ""
                };
                format!("{}{sep}{REDACTED}", &c[1])
            }),
            _ => re.replace_all(&out, REDACTED),
        }
        .into_owned();
        out = Cow::Owned(replaced);
    }
    out
}

fn secret_name(key: &str) -> bool {
    SECRET_NAMES.iter().any(|n| n.eq_ignore_ascii_case(key))
}

/// Redacts one JSON log line token by token, so the result is always valid JSON
/// with the same keys in the same order: every string value is decoded, redacted as
/// text and encoded again; the value of a secret-named key (string, number or
/// literal) becomes `"[REDACTED]"`. `line` must be valid JSON.
fn redact_json(line: &str) -> Cow<'_, str> {
    let b = line.as_bytes();
    let mut out = String::new();
    let mut last = 0;
    let mut i = 0;
    // The previous token was a key whose value is a secret.
    let mut secret = false;
    while i < b.len() {
        match b[i] {
            b'"' => {
                let start = i;
                i += 1;
                while i < b.len() {
                    match b[i] {
                        b'\\' => i += 2,
                        b'"' => {
                            i += 1;
                            break;
                        }
                        _ => i += 1,
                    }
                }
                let end = i.min(b.len());
                let token = &line[start..end];
                let mut j = end;
                while j < b.len() && b[j].is_ascii_whitespace() {
                    j += 1;
                }
                let is_key = b.get(j) == Some(&b':');
                let decoded: String = serde_json::from_str(token).unwrap_or_default();
                if is_key {
                    secret = secret_name(&decoded);
                    continue;
                }
                let replacement = if secret {
                    secret = false;
                    Some(format!("\"{REDACTED}\""))
                } else {
                    match redact_text(&decoded) {
                        Cow::Borrowed(_) => None,
                        Cow::Owned(r) => Some(
                            serde_json::to_string(&r).unwrap_or_else(|_| format!("\"{REDACTED}\"")),
                        ),
                    }
                };
                if let Some(r) = replacement {
                    out.push_str(&line[last..start]);
                    out.push_str(&r);
                    last = end;
                }
            }
            b'{' | b'[' if secret => {
                // An object or array under a secret name: its strings are redacted
                // as text like any other.
                secret = false;
                i += 1;
            }
            c if secret && !c.is_ascii_whitespace() && c != b':' => {
                // A number or literal under a secret name.
                let start = i;
                while i < b.len()
                    && !matches!(b[i], b',' | b'}' | b']')
                    && !b[i].is_ascii_whitespace()
                {
                    i += 1;
                }
                out.push_str(&line[last..start]);
                out.push_str(&format!("\"{REDACTED}\""));
                last = i;
                secret = false;
            }
            _ => i += 1,
        }
    }
    if last == 0 {
        return Cow::Borrowed(line);
    }
    out.push_str(&line[last..]);
    Cow::Owned(out)
}

/// Returns `text` with every secret-shaped part replaced by [`REDACTED`]. A line that
/// is a JSON object (the JSON log format) is redacted value by value and stays valid
/// JSON; any other line is redacted as text.
pub fn redact(text: &str) -> Cow<'_, str> {
    let mut out = String::new();
    let mut changed = false;
    for piece in text.split_inclusive('\n') {
        let (line, nl) = match piece.strip_suffix('\n') {
            Some(l) => (l, "\n"),
            None => (piece, ""),
        };
        let json = line.trim_start().starts_with('{')
            && serde_json::from_str::<serde::de::IgnoredAny>(line).is_ok();
        let r = if json {
            redact_json(line)
        } else {
            redact_text(line)
        };
        changed |= matches!(r, Cow::Owned(_));
        out.push_str(&r);
        out.push_str(nl);
    }
    if changed {
        Cow::Owned(out)
    } else {
        Cow::Borrowed(text)
    }
}

/// A `MakeWriter` whose writers redact each formatted event before writing it.
#[derive(Clone)]
pub struct RedactingMakeWriter<W> {
    inner: Arc<W>,
}

impl<W> RedactingMakeWriter<W> {
    /// Wraps another `MakeWriter`.
    pub fn new(inner: W) -> Self {
        Self {
            inner: Arc::new(inner),
        }
    }
}

/// Buffers one event and writes its redacted form on drop (tracing-subscriber makes
/// one writer per event).
pub struct RedactingWriter<W: Write> {
    buf: Vec<u8>,
    inner: W,
}

impl<W: Write> Write for RedactingWriter<W> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<W: Write> Drop for RedactingWriter<W> {
    fn drop(&mut self) {
        let text = String::from_utf8_lossy(&self.buf);
        let clean = redact(&text);
        let _ = self.inner.write_all(clean.as_bytes());
        let _ = self.inner.flush();
    }
}

impl<'a, W> MakeWriter<'a> for RedactingMakeWriter<W>
where
    W: MakeWriter<'a> + 'static,
{
    type Writer = RedactingWriter<W::Writer>;
    fn make_writer(&'a self) -> Self::Writer {
        RedactingWriter {
            buf: Vec::with_capacity(256),
            inner: self.inner.make_writer(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_blanked() {
        let cases = [
            r#"{"password":"hunter2hunter2","user":"bob"}"#,
            "authorization: Bearer abc.def.ghi",
            "token=eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiIxIn0.c2ln",
            "got rpat_AbCdEfGhIjKlMnOp from client",
            "cookie: __Host-rampart_session=s3cr3tvalue; other=1",
            "refresh_token=rrt_abcdefghijklmnop&x=1",
            r#"{"csrf_token": "QWERTYUIOP"}"#,
        ];
        for c in cases {
            let r = redact(c);
            for secret in [
                "hunter2", "abc.def", "eyJ", "rpat_Ab", "s3cr3t", "rrt_abc", "QWERTY",
            ] {
                assert!(!r.contains(secret), "{c} -> {r}");
            }
            assert!(r.contains(REDACTED), "{c} -> {r}");
        }
        assert_eq!(redact("GET /healthz 200"), "GET /healthz 200");
        assert!(redact(r#"{"password":"x","user":"bob"}"#).contains("bob"));
    }

    /// Every JSON log line stays valid JSON with its other fields intact, and the
    /// secret is gone, whatever a request path holds.
    #[test]
    fn json_lines_stay_json() -> Result<(), String> {
        let paths = [
            ("/ws;token=abc", "abc"),
            ("/zz;token=a\\\"b", "a\\\"b"),
            ("/zz;token=a\"b", "a\"b"),
            ("/x%3Ftoken=abc", "abc"),
            ("/y;secret=s3cr3t", "s3cr3t"),
            ("/y;access_token=abc", "abc"),
            ("/y;api_key=abc,\"x\":1}", "abc"),
            ("/ws?token=eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiIxIn0.c2ln", "eyJ"),
        ];
        for (path, secret) in paths {
            let line = format!(
                "{{\"timestamp\":\"t\",\"level\":\"INFO\",\"path\":{},\"request_id\":\"r1\"}}\n",
                serde_json::Value::from(path)
            );
            let r = redact(&line);
            assert!(r.ends_with('\n'), "{r}");
            let v: serde_json::Value =
                serde_json::from_str(&r).map_err(|e| format!("{line} -> {r}: {e}"))?;
            let p = v["path"].as_str().unwrap_or_default();
            assert!(!p.contains(secret), "{line} -> {r}");
            assert!(p.contains(REDACTED), "{line} -> {r}");
            assert_eq!(v["request_id"], "r1", "{r}");
            assert_eq!(v["level"], "INFO", "{r}");
            // Keys keep their order.
            assert!(r.starts_with("{\"timestamp\":\"t\",\"level\""), "{r}");
        }
        for (line, gone) in [
            (r#"{"password":"hunter2","user":"bob"}"#, "hunter2"),
            (r#"{"totp_code":123456,"user":"bob"}"#, "123456"),
            (
                r#"{"message":"authorization: Bearer abc.def","user":"bob"}"#,
                "abc.def",
            ),
            (
                r#"{"message":"body {\"password\":\"hunter2\"}","user":"bob"}"#,
                "hunter2",
            ),
            (
                r#"{"fields":{"token": "rpat_AbCdEfGhIjKlMnOp"},"user":"bob"}"#,
                "rpat_",
            ),
        ] {
            let r = redact(line);
            let v: serde_json::Value =
                serde_json::from_str(&r).map_err(|e| format!("{line} -> {r}: {e}"))?;
            assert!(!r.contains(gone), "{line} -> {r}");
            assert!(r.contains(REDACTED), "{line} -> {r}");
            assert_eq!(v["user"], "bob", "{r}");
        }
        let clean = r#"{"path":"/healthz","status":200}"#;
        assert!(matches!(redact(clean), Cow::Borrowed(_)));
        Ok(())
    }
}
