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

/// Invisible format characters that reorder or hide text: the bidi embeddings,
/// overrides and isolates (U+202A–U+202E, U+2066–U+2069), the marks (U+200E, U+200F,
/// U+061C), zero-width characters (U+200B–U+200D, U+2060, U+FEFF) and the soft
/// hyphen. In a display string they let "abc\u{202E}gpj.exe" read as "abcexe.jpg".
/// Also the characters that render as nothing or break a line without being control
/// characters (found by an outside review): the combining grapheme joiner, the Hangul
/// fillers, the line and paragraph separators, interlinear annotation marks and the
/// tag characters.
fn is_hidden_format(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{180E}'
        | '\u{200B}'..='\u{200F}'
        | '\u{2028}'..='\u{202E}'
        | '\u{2060}'..='\u{2064}'
        | '\u{2066}'..='\u{206F}'
        | '\u{3164}' | '\u{FEFF}' | '\u{FFA0}'
        | '\u{FFF9}'..='\u{FFFB}'
        | '\u{1D173}'..='\u{1D17A}'
        | '\u{E0000}'..='\u{E007F}')
}

/// A script that look-alike attacks mix. Written by hand over the Unicode blocks of
/// the three scripts whose letters are most often confused (Latin `a` / Cyrillic `а`
/// / Greek `α`, `o`/`о`/`ο`, `p`/`р`/`ρ`…): a crate such as `unicode-security` brings
/// the full UTS #39 tables, far more than this rule needs. Characters of other scripts,
/// digits, punctuation and combining marks are neutral.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Script {
    Latin,
    Greek,
    Cyrillic,
}

fn script_of(c: char) -> Option<Script> {
    match c {
        'a'..='z' | 'A'..='Z' => Some(Script::Latin),
        '\u{00C0}'..='\u{024F}' if c != '\u{00D7}' && c != '\u{00F7}' => Some(Script::Latin),
        '\u{1E00}'..='\u{1EFF}' | '\u{2C60}'..='\u{2C7F}' | '\u{A720}'..='\u{A7FF}' => {
            Some(Script::Latin)
        }
        '\u{AB30}'..='\u{AB6F}' | '\u{FF21}'..='\u{FF3A}' | '\u{FF41}'..='\u{FF5A}' => {
            Some(Script::Latin)
        }
        '\u{0370}'..='\u{03FF}' | '\u{1F00}'..='\u{1FFF}' => Some(Script::Greek),
        '\u{0400}'..='\u{052F}'
        | '\u{1C80}'..='\u{1C8F}'
        | '\u{2DE0}'..='\u{2DFF}'
        | '\u{A640}'..='\u{A69F}' => Some(Script::Cyrillic),
        _ => None,
    }
}

/// True when one word mixes letters of Latin, Greek and Cyrillic (`pаypal` with a
/// Cyrillic `а`). Whole words in one script (`сервер`, `café`) are fine.
pub fn mixes_scripts(word: &str) -> bool {
    let mut seen: Option<Script> = None;
    for s in word.chars().filter_map(script_of) {
        match seen {
            None => seen = Some(s),
            Some(prev) if prev != s => return true,
            Some(_) => {}
        }
    }
    false
}

/// NFKC, lower case, NFKC again (an approximation of Unicode's NFKC_Casefold):
/// fullwidth `ＡＬＩＣＥ`, ligatures and compatibility forms become one spelling.
pub fn fold(raw: &str) -> String {
    use unicode_normalization::UnicodeNormalization as _;
    let once: String = raw.nfkc().collect::<String>().to_lowercase();
    once.nfkc().collect()
}

/// Single-line free text bounded in characters; trims surrounding white space.
/// Refuses control and hidden format characters (`invalid_characters`).
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
    if has_control(v) || v.chars().any(is_hidden_format) {
        return Err(FieldError::new(field, "invalid_characters"));
    }
    Ok(v.to_owned())
}

/// Multi-line free text (a private message, a report reason) bounded in characters
/// after trimming surrounding white space. Line feeds and tabs are allowed, and a
/// `\r\n` pair (what browser forms send for a line break) becomes `\n`; every other
/// control character, a lone `\r`, and the hidden format characters of
/// [`bounded_text`] are refused (`invalid_characters`).
pub fn multiline_text(
    field: &str,
    raw: &str,
    min: usize,
    max: usize,
) -> Result<String, FieldError> {
    let v = raw.replace("\r\n", "\n");
    let v = v.trim();
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
    if v.chars()
        .any(|c| (c.is_control() && c != '\n' && c != '\t') || is_hidden_format(c))
    {
        return Err(FieldError::new(field, "invalid_characters"));
    }
    Ok(v.to_owned())
}

/// A name shown to others or used to recognise something (token names…): bounded
/// text in NFKC, without control or hidden format characters, and with no word that
/// mixes Latin, Greek and Cyrillic letters (`mixed_script`).
pub fn display_name(field: &str, raw: &str, min: usize, max: usize) -> Result<String, FieldError> {
    use unicode_normalization::UnicodeNormalization as _;
    let v: String = raw.nfkc().collect();
    let v = bounded_text(field, &v, min, max)?;
    if v.split_whitespace().any(mixes_scripts) {
        return Err(FieldError::new(field, "mixed_script"));
    }
    Ok(v)
}

/// A username: 3–32 characters of `a-z 0-9 _ . -` after NFKC and case folding,
/// starting and ending with a letter or digit.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Username(String);

impl Username {
    /// Shortest accepted username.
    pub const MIN: usize = 3;
    /// Longest accepted username.
    pub const MAX: usize = 32;

    /// Parses untrusted input. Folded (NFKC, lower case), so `Alice`, `ALICE` and the
    /// fullwidth `ＡＬＩＣＥ` are one account. Look-alikes cannot be registered: a
    /// name mixing scripts is `mixed_script`, control and bidi characters are
    /// `invalid_characters`, any other letter outside ASCII is `invalid_format`, and
    /// so are names of punctuation only or that start or end with punctuation
    /// (`...`, `alice.`).
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        let raw = raw.trim();
        if raw.chars().any(|c| c.is_control() || is_hidden_format(c)) {
            return Err(FieldError::new(field, "invalid_characters"));
        }
        let v = fold(raw);
        let v = v.trim();
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
        if mixes_scripts(v) {
            return Err(FieldError::new(field, "mixed_script"));
        }
        let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
        if !v.chars().all(|c| alnum(c) || matches!(c, '_' | '.' | '-'))
            || !v.starts_with(alnum)
            || !v.ends_with(alnum)
        {
            return Err(FieldError::new(field, "invalid_format"));
        }
        Ok(Self(v.to_owned()))
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

    /// Parses untrusted input. Folded (NFKC, lower case) so one mailbox has one
    /// spelling; a local part or domain label that mixes scripts is `mixed_script`.
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        if raw.chars().any(is_hidden_format) {
            return Err(FieldError::new(field, "invalid_characters"));
        }
        let folded = fold(raw);
        let v = folded.trim();
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
        if mixes_scripts(local) || domain.split('.').any(mixes_scripts) {
            return Err(FieldError::new(field, "mixed_script"));
        }
        Ok(Self(v.to_owned()))
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
    fn usernames_are_folded_and_look_alikes_refused() {
        // NFKC + case fold: fullwidth and upper case are the same name.
        assert_eq!(
            Username::parse("u", "ＡＬＩＣＥ").unwrap().as_str(),
            "alice"
        );
        assert_eq!(Username::parse("u", "Ａlice").unwrap().as_str(), "alice");
        // Punctuation only, or starting/ending with punctuation.
        for bad in ["...", "___", "-.-", "alice.", ".alice", "alice-", "_bob"] {
            assert_eq!(
                Username::parse("u", bad).unwrap_err().code,
                "invalid_format",
                "{bad}"
            );
        }
        // Latin with a Cyrillic а (U+0430) or a Greek ο (U+03BF).
        for bad in ["p\u{0430}ypal", "g\u{03BF}\u{03BF}gle"] {
            assert_eq!(
                Username::parse("u", bad).unwrap_err().code,
                "mixed_script",
                "{bad}"
            );
        }
        // One foreign script alone is still outside the ASCII name alphabet.
        assert_eq!(
            Username::parse("u", "алиса").unwrap_err().code,
            "invalid_format"
        );
        // Control, bidi and zero-width characters.
        for bad in [
            "ali\u{202E}ce",
            "ali\u{200B}ce",
            "ali\u{2066}ce",
            "ali\u{7}ce",
        ] {
            assert_eq!(
                Username::parse("u", bad).unwrap_err().code,
                "invalid_characters",
                "{bad:?}"
            );
        }
        assert_eq!(Username::parse("u", "a.b-c_d").unwrap().as_str(), "a.b-c_d");
    }

    #[test]
    fn emails_are_folded_and_look_alikes_refused() {
        assert_eq!(
            Email::parse("e", "ＢＯＢ@Example.com").unwrap().as_str(),
            "bob@example.com"
        );
        assert_eq!(
            Email::parse("e", "bob@ex\u{0430}mple.com")
                .unwrap_err()
                .code,
            "mixed_script"
        );
        assert_eq!(
            Email::parse("e", "b\u{200B}ob@example.com")
                .unwrap_err()
                .code,
            "invalid_characters"
        );
        assert!(
            Email::parse("e", "боб@пример.рф").is_ok(),
            "one script per part is fine"
        );
    }

    #[test]
    fn display_names() {
        assert_eq!(
            display_name("n", " CI ｄｅｐｌｏｙ ", 1, 100).unwrap(),
            "CI deploy"
        );
        assert_eq!(
            display_name("n", "сервер café", 1, 100).unwrap(),
            "сервер café"
        );
        assert_eq!(
            display_name("n", "p\u{0430}ypal key", 1, 100)
                .unwrap_err()
                .code,
            "mixed_script"
        );
        for bad in [
            "a\u{202E}b",
            "a\u{2067}b",
            "a\u{FEFF}b",
            "a\u{0}b",
            "x\u{034F}y",
            "\u{3164}",
            "x\u{E0041}y",
            "x\u{2028}y",
            "x\u{2029}y",
        ] {
            assert_eq!(
                display_name("n", bad, 1, 100).unwrap_err().code,
                "invalid_characters",
                "{bad:?}"
            );
            assert_eq!(
                bounded_text("n", bad, 1, 100).unwrap_err().code,
                "invalid_characters",
                "{bad:?}"
            );
        }
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
    fn multiline() {
        assert_eq!(
            multiline_text("m", " a\r\n\tb\nc ", 1, 10).unwrap(),
            "a\n\tb\nc"
        );
        for (bad, code) in [
            ("", "required"),
            (" \n ", "required"),
            ("a\rb", "invalid_characters"),
            ("a\u{0}b", "invalid_characters"),
            ("a\u{202E}b", "invalid_characters"),
            ("a\u{200B}b", "invalid_characters"),
            ("x\u{2028}y", "invalid_characters"),
            ("abcdefghijk", "too_long"),
        ] {
            assert_eq!(
                multiline_text("m", bad, 1, 10).unwrap_err().code,
                code,
                "{bad:?}"
            );
        }
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
