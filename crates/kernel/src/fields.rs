//! Parse, don't validate: untrusted input becomes a typed value once, with a stable
//! error code per field (B7), and handlers take these types afterwards.

use std::fmt;

/// One bad field: which, and a stable machine-readable code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Field name as the client sent it.
    pub field: String,
    /// Stable code, e.g. `too_long`, `invalid_format`, `required`.
    pub code: &'static str,
}

impl FieldError {
    /// A new field error.
    pub fn new(field: impl Into<String>, code: &'static str) -> Self {
        Self {
            field: field.into(),
            code,
        }
    }
}

/// Every bad field of one request, collected so the client can fix them all at once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldErrors(pub Vec<FieldError>);

impl FieldErrors {
    /// No errors yet.
    pub fn new() -> Self {
        Self::default()
    }
    /// Records the error of a failed parse and returns the value of a good one.
    pub fn take<T>(&mut self, r: Result<T, FieldError>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.0.push(e);
                None
            }
        }
    }
    /// Adds an error.
    pub fn push(&mut self, e: FieldError) {
        self.0.push(e);
    }
    /// True when nothing was wrong.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// `Ok(())` when empty, else the errors.
    pub fn into_result(self) -> Result<(), FieldErrors> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(self)
        }
    }
}

impl fmt::Display for FieldErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}: {}", e.field, e.code)?;
        }
        Ok(())
    }
}

/// Rejects control characters (other than none at all) in single-line text.
fn has_control(s: &str) -> bool {
    s.chars().any(|c| c.is_control())
}

// ----- limits the identity service applies to its inputs (documented by the wire
// layer from these constants) -------------------------------------------------------

/// Longest name of a personal access token or OAuth client, in characters after
/// trimming (the shortest is 1).
pub const TOKEN_NAME_MAX: usize = 100;
/// Longest expiry of a token or invite code, in days (the shortest is 1).
pub const EXPIRY_DAYS_MAX: i64 = 366;
/// Most registrations one invite code allows (the fewest is 1).
pub const INVITE_USES_MAX: i64 = 10_000;

/// Single-line free text bounded in characters; trims surrounding white space.
pub fn bounded_text(field: &str, raw: &str, min: usize, max: usize) -> Result<String, FieldError> {
    let v = raw.trim();
    let n = v.chars().count();
    if n == 0 && min > 0 {
        return Err(FieldError::new(field, "required"));
    }
    if n < min {
        return Err(FieldError::new(field, "too_short"));
    }
    if n > max {
        return Err(FieldError::new(field, "too_long"));
    }
    if has_control(v) {
        return Err(FieldError::new(field, "invalid_characters"));
    }
    Ok(v.to_owned())
}

/// A username: 3–32 characters of `a-z 0-9 _ . -`, stored lowercase.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Username(String);

impl Username {
    /// Shortest accepted username.
    pub const MIN: usize = 3;
    /// Longest accepted username.
    pub const MAX: usize = 32;

    /// Parses untrusted input (case-folded, so `Alice` and `alice` are one account).
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        let v = raw.trim().to_ascii_lowercase();
        if v.is_empty() {
            return Err(FieldError::new(field, "required"));
        }
        let n = v.chars().count();
        if n < Self::MIN {
            return Err(FieldError::new(field, "too_short"));
        }
        if n > Self::MAX {
            return Err(FieldError::new(field, "too_long"));
        }
        if !v
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | '-'))
        {
            return Err(FieldError::new(field, "invalid_format"));
        }
        Ok(Self(v))
    }
    /// The normalised name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An e-mail address: at most 254 characters, one `@`, a dotted domain, stored lowercase.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    /// Longest accepted address (RFC 5321 path limit).
    pub const MAX: usize = 254;

    /// Parses untrusted input.
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        let v = raw.trim();
        if v.is_empty() {
            return Err(FieldError::new(field, "required"));
        }
        if v.chars().count() > Self::MAX {
            return Err(FieldError::new(field, "too_long"));
        }
        let bad = || FieldError::new(field, "invalid_format");
        let (local, domain) = v.split_once('@').ok_or_else(bad)?;
        if local.is_empty()
            || local.len() > 64
            || domain.contains('@')
            || !domain.contains('.')
            || domain.starts_with('.')
            || domain.ends_with('.')
            || domain.contains("..")
            || v.chars().any(|c| {
                c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | '"' | ',' | ';')
            })
        {
            return Err(bad());
        }
        Ok(Self(v.to_lowercase()))
    }
    /// The normalised address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn usernames() {
        assert_eq!(
            Username::parse("u", " Alice_1 ").unwrap().as_str(),
            "alice_1"
        );
        assert_eq!(Username::parse("u", "ab").unwrap_err().code, "too_short");
        assert_eq!(Username::parse("u", "").unwrap_err().code, "required");
        assert_eq!(
            Username::parse("u", &"a".repeat(33)).unwrap_err().code,
            "too_long"
        );
        assert_eq!(
            Username::parse("u", "al ice").unwrap_err().code,
            "invalid_format"
        );
        assert_eq!(
            Username::parse("u", "<script>").unwrap_err().code,
            "invalid_format"
        );
    }

    #[test]
    fn emails() {
        assert_eq!(
            Email::parse("e", "A@Example.COM").unwrap().as_str(),
            "a@example.com"
        );
        for bad in ["a", "a@b", "@b.c", "a@b..c", "a b@c.d", "a\n@b.c", "a@@b.c"] {
            assert!(Email::parse("e", bad).is_err(), "{bad}");
        }
        assert_eq!(
            Email::parse("e", &format!("{}@example.com", "a".repeat(250)))
                .unwrap_err()
                .code,
            "too_long"
        );
    }

    #[test]
    fn text() {
        assert_eq!(bounded_text("n", " hi ", 1, 5).unwrap(), "hi");
        assert_eq!(
            bounded_text("n", "toolong", 1, 5).unwrap_err().code,
            "too_long"
        );
        assert_eq!(
            bounded_text("n", "a\u{0}b", 1, 5).unwrap_err().code,
            "invalid_characters"
        );
    }
}
