//! Message bodies: the closed set of content types and the one parse that admits a
//! payload. Everything but `text/plain` is opaque to the server.

use rampart_kernel::fields::multiline_text;
use rampart_kernel::FieldError;

/// Largest payload, in bytes, of any content type. Leaves room for base64 inside
/// the web layer's 16 KiB request bodies.
pub const PAYLOAD_MAX_BYTES: usize = 8 * 1024;
/// Longest `text/plain` message, in characters after trimming.
pub const TEXT_MAX_CHARS: usize = 2_000;

/// What a payload is. A closed set: a client cannot store a type the web layer
/// would then have to guess how to render.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContentType {
    /// UTF-8 text, checked for control and hidden characters.
    TextPlain,
    /// An end-to-end-encrypted envelope (X3DH + Double Ratchet), relayed unchanged.
    E2ee,
}

impl ContentType {
    /// Every content type.
    pub const ALL: &'static [ContentType] = &[ContentType::TextPlain, ContentType::E2ee];

    /// The media type as stored and sent.
    pub fn as_str(self) -> &'static str {
        match self {
            ContentType::TextPlain => "text/plain",
            ContentType::E2ee => "application/vnd.rampart.e2ee+json",
        }
    }

    /// Parses a media type from the allowed list (exact, lower case; no parameters).
    pub fn parse(raw: &str) -> Option<ContentType> {
        ContentType::ALL.iter().copied().find(|c| c.as_str() == raw)
    }
}

/// A message body that passed the rules of its content type.
///
/// ```
/// use rampart_messaging::{Body, ContentType};
/// let b = Body::parse("text/plain", b"hi\r\nthere".to_vec()).unwrap();
/// assert_eq!(b.payload(), b"hi\nthere");
/// let e = Body::parse("application/vnd.rampart.e2ee+json", vec![0, 255, 1]).unwrap();
/// assert_eq!((e.content_type(), e.payload()), (ContentType::E2ee, &[0u8, 255, 1][..]));
/// assert_eq!(Body::parse("text/html", b"<b>".to_vec()).unwrap_err().code, "unsupported");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Body {
    content_type: ContentType,
    payload: Vec<u8>,
}

impl Body {
    /// Admits `payload` as `content_type`: a known type (`content_type`:
    /// `unsupported`), 1..=[`PAYLOAD_MAX_BYTES`] bytes (`payload`: `required`,
    /// `too_large`); `text/plain` must also be UTF-8 (`invalid_utf8`) and pass the
    /// kernel's multi-line text rules (trimmed, `\r\n` → `\n`, at most
    /// [`TEXT_MAX_CHARS`], no control or hidden format characters). Any other type is
    /// kept byte for byte.
    pub fn parse(content_type: &str, payload: Vec<u8>) -> Result<Body, FieldError> {
        let content_type = ContentType::parse(content_type)
            .ok_or_else(|| FieldError::new("content_type", "unsupported"))?;
        if payload.is_empty() {
            return Err(FieldError::new("payload", "required"));
        }
        if payload.len() > PAYLOAD_MAX_BYTES {
            return Err(FieldError::new("payload", "too_large"));
        }
        let payload = match content_type {
            ContentType::TextPlain => {
                let text = String::from_utf8(payload)
                    .map_err(|_| FieldError::new("payload", "invalid_utf8"))?;
                multiline_text("payload", &text, 1, TEXT_MAX_CHARS)?.into_bytes()
            }
            ContentType::E2ee => payload,
        };
        Ok(Body {
            content_type,
            payload,
        })
    }

    /// The content type.
    pub fn content_type(&self) -> ContentType {
        self.content_type
    }

    /// The payload bytes.
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    pub(crate) fn into_parts(self) -> (ContentType, Vec<u8>) {
        (self.content_type, self.payload)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn limits() {
        let big = vec![b'a'; PAYLOAD_MAX_BYTES + 1];
        assert_eq!(
            Body::parse("application/vnd.rampart.e2ee+json", big)
                .unwrap_err()
                .code,
            "too_large"
        );
        let max = vec![7u8; PAYLOAD_MAX_BYTES];
        assert!(Body::parse("application/vnd.rampart.e2ee+json", max).is_ok());
        assert_eq!(
            Body::parse("text/plain", vec![0xff, 0xfe])
                .unwrap_err()
                .code,
            "invalid_utf8"
        );
        assert_eq!(
            Body::parse("text/plain", "a\u{202E}b".as_bytes().to_vec())
                .unwrap_err()
                .code,
            "invalid_characters"
        );
        assert_eq!(
            Body::parse("text/plain", "x".repeat(TEXT_MAX_CHARS + 1).into_bytes())
                .unwrap_err()
                .code,
            "too_long"
        );
        assert_eq!(
            Body::parse("TEXT/PLAIN", b"x".to_vec()).unwrap_err().code,
            "unsupported"
        );
        assert_eq!(
            Body::parse("text/plain", Vec::new()).unwrap_err().code,
            "required"
        );
    }
}
