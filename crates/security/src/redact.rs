//! The last line of defence for C5: every log line passes through [`RedactingWriter`],
//! which blanks anything shaped like a secret (JWTs, Rampart's prefixed tokens,
//! `Authorization` values, password/token/cookie fields) before it reaches the output.
//! Code should never log secrets in the first place; this catches the mistakes.

use regex::Regex;
use std::io::Write;
use std::sync::{Arc, OnceLock};
use tracing_subscriber::fmt::MakeWriter;

/// The replacement text.
pub const REDACTED: &str = "[REDACTED]";

fn patterns() -> &'static [Regex] {
    static P: OnceLock<Vec<Regex>> = OnceLock::new();
    P.get_or_init(|| {
        [
            // Authorization schemes.
            r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+",
            // JSON or key=value fields whose names say "secret".
            r#"(?i)("?(?:password|passwd|new_password|current_password|secret|client_secret|token|access_token|refresh_token|id_token|csrf_token|x-csrf-token|cookie|set-cookie|authorization|totp|totp_code|recovery_code|private_key|api_key|card_number)"?\s*[:=]\s*)("(?:[^"\\]|\\.)*"|[^\s,&}\]]+)"#,
            // JWTs.
            r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*",
            // Rampart's prefixed opaque tokens (PAT, refresh, reset, invite, session).
            r"\b(?:rpat|rrt|rrs|rinv|rses|rcs)_[A-Za-z0-9_-]{8,}",
            // Session cookie values.
            r"(?i)(__Host-rampart[a-z_]*|rampart[a-z_]*)=[^;\s]+",
        ]
        .iter()
        .filter_map(|p| Regex::new(p).ok())
        .collect()
    })
}

/// Returns `line` with every secret-shaped part replaced by [`REDACTED`].
pub fn redact(line: &str) -> std::borrow::Cow<'_, str> {
    let mut out = std::borrow::Cow::Borrowed(line);
    for (i, re) in patterns().iter().enumerate() {
        if !re.is_match(&out) {
            continue;
        }
        let replaced = match i {
            0 => re.replace_all(&out, |c: &regex::Captures<'_>| {
                format!("{}\"{REDACTED}\"", &c[1])
            }),
            1 => re.replace_all(&out, |c: &regex::Captures<'_>| {
                format!("{} {REDACTED}", &c[1])
            }),
            4 => re.replace_all(&out, |c: &regex::Captures<'_>| {
                format!("{}={REDACTED}", &c[1])
            }),
            _ => re.replace_all(&out, REDACTED),
        }
        .into_owned();
        out = std::borrow::Cow::Owned(replaced);
    }
    out
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
}
