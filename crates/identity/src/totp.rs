//! TOTP second factor (RFC 6238: HMAC-SHA1, 6 digits, 30 s steps) with replay protection,
//! enrolment helpers (otpauth URI, QR code) and single-use recovery codes.

use hmac::{Hmac, Mac};
use rand::rngs::OsRng;
use rand::RngCore as _;
use sha1::Sha1;

use crate::tokens::{ct_eq, hash_token};

/// Digits per code.
pub const DIGITS: u32 = 6;
/// Seconds per time step.
pub const STEP_SECS: u64 = 30;
/// Secret length in bytes (160 bits, the HMAC-SHA1 block-friendly size RFC 4226 recommends).
pub const SECRET_LEN: usize = 20;
/// Recovery codes issued per enrolment.
pub const RECOVERY_CODE_COUNT: usize = 10;
/// Characters per recovery code, without the separator (10 × 5 bits = 50 bits).
pub const RECOVERY_CODE_CHARS: usize = 10;

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
// Crockford's alphabet: no i, l, o, u, so codes read aloud or handwritten survive.
const RECOVERY_ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// Errors from enrolment helpers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TotpError {
    /// The URI does not fit in a QR code.
    #[error("cannot render QR code: {0}")]
    Qr(String),
}

/// A fresh random secret of [`SECRET_LEN`] bytes.
pub fn generate_secret() -> Vec<u8> {
    let mut secret = vec![0u8; SECRET_LEN];
    OsRng.fill_bytes(&mut secret);
    secret
}

/// RFC 4648 base32 without padding (authenticator apps accept and prefer it unpadded).
pub fn base32_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity((data.len() * 8).div_ceil(5));
    let mut buffer: u16 = 0;
    let mut bits = 0u32;
    for &byte in data {
        buffer = (buffer << 8) | u16::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(BASE32[usize::from((buffer >> bits) & 31)]));
        }
        buffer &= (1 << bits) - 1;
    }
    if bits > 0 {
        out.push(char::from(BASE32[usize::from((buffer << (5 - bits)) & 31)]));
    }
    out
}

/// Decodes RFC 4648 base32 (case-insensitive; padding, spaces and dashes ignored), e.g. a
/// secret typed in by hand. `None` on any other character.
pub fn base32_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 5 / 8);
    let mut buffer: u16 = 0;
    let mut bits = 0u32;
    for c in s.bytes() {
        if matches!(c, b'=' | b' ' | b'-') {
            continue;
        }
        let v = BASE32.iter().position(|&a| a == c.to_ascii_uppercase())?;
        buffer = (buffer << 5) | u16::try_from(v).ok()?;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from((buffer >> bits) & 0xFF).ok()?);
            buffer &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// `otpauth://totp/…` URI for enrolment (Google Authenticator key URI format). Label and
/// issuer are percent-encoded (spaces as `%20`, never `+`, which some apps show literally).
pub fn otpauth_uri(issuer: &str, account: &str, secret: &[u8]) -> String {
    let issuer = percent_encode(issuer);
    format!(
        "otpauth://totp/{issuer}:{}?secret={}&issuer={issuer}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
        percent_encode(account),
        base32_encode(secret),
    )
}

/// The 6-digit code for a time step (`unix_time / 30`).
pub fn code_at(secret: &[u8], step: u64) -> String {
    // HMAC accepts keys of any length, so `hotp` cannot fail; the empty fallback would
    // never equal a 6-digit code anyway.
    hotp(secret, step, DIGITS).map_or_else(String::new, |c| format!("{c:06}"))
}

/// The time step containing `now_unix`, or `None` before 1970.
pub fn step_at(now_unix: i64) -> Option<u64> {
    u64::try_from(now_unix).ok().map(|t| t / STEP_SECS)
}

/// Checks a code against the steps around `now_unix` (±1, for clock drift and typing
/// time) and returns the accepted step, which the caller must store as the new
/// `last_used_step`. Steps at or before `last_used_step` are refused, so each code works
/// once. Spaces in the input are ignored.
pub fn verify(
    secret: &[u8],
    code: &str,
    now_unix: i64,
    last_used_step: Option<u64>,
) -> Option<u64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let current = step_at(now_unix)?;
    let mut accepted = None;
    // All candidates are computed and compared without early exit, so timing does not
    // reveal which window position (if any) matched.
    for step in [
        current.checked_sub(1),
        Some(current),
        current.checked_add(1),
    ]
    .into_iter()
    .flatten()
    {
        let matches = ct_eq(code_at(secret, step).as_bytes(), code.as_bytes());
        let fresh = match last_used_step {
            Some(last) => step > last,
            None => true,
        };
        if matches && fresh {
            accepted = Some(step);
        }
    }
    accepted
}

/// SVG QR code of an otpauth URI, at least 200×200 px.
pub fn qr_svg(uri: &str) -> Result<String, TotpError> {
    let code = qrcode::QrCode::new(uri.as_bytes()).map_err(|e| TotpError::Qr(e.to_string()))?;
    Ok(code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .build())
}

/// [`RECOVERY_CODE_COUNT`] fresh recovery codes formatted `xxxxx-xxxxx` (50 bits each).
/// Show them once; store `hash_recovery_code(code)` for each.
pub fn generate_recovery_codes() -> Vec<String> {
    (0..RECOVERY_CODE_COUNT)
        .map(|_| {
            let mut bytes = [0u8; RECOVERY_CODE_CHARS];
            OsRng.fill_bytes(&mut bytes);
            let mut code = String::with_capacity(RECOVERY_CODE_CHARS + 1);
            for (i, b) in bytes.iter().enumerate() {
                if i == RECOVERY_CODE_CHARS / 2 {
                    code.push('-');
                }
                // 32 symbols: masking 5 bits of a uniform byte is itself uniform.
                code.push(char::from(RECOVERY_ALPHABET[usize::from(b & 31)]));
            }
            code
        })
        .collect()
}

/// Canonical form of a typed recovery code: lower case, separators and spaces removed,
/// look-alikes mapped (`o`→`0`, `i`/`l`→`1`). `None` if it cannot be a recovery code.
pub fn normalize_recovery_code(code: &str) -> Option<String> {
    let mut out = String::with_capacity(RECOVERY_CODE_CHARS);
    for c in code.chars() {
        let c = match c.to_ascii_lowercase() {
            '-' | ' ' | '\t' => continue,
            'o' => '0',
            'i' | 'l' => '1',
            c => c,
        };
        if !c.is_ascii() || !RECOVERY_ALPHABET.contains(&(c as u8)) {
            return None;
        }
        out.push(c);
    }
    (out.len() == RECOVERY_CODE_CHARS).then_some(out)
}

/// Storage hash of a recovery code: `tokens::hash_token` of its normalised form.
pub fn hash_recovery_code(code: &str) -> Option<String> {
    normalize_recovery_code(code).map(|c| hash_token(&c))
}

fn hotp(secret: &[u8], counter: u64, digits: u32) -> Option<u32> {
    let mut mac = Hmac::<Sha1>::new_from_slice(secret).ok()?;
    mac.update(&counter.to_be_bytes());
    let hs: [u8; 20] = mac.finalize().into_bytes().into();
    // RFC 4226 dynamic truncation.
    let offset = usize::from(hs[19] & 0x0f);
    let bin = u32::from_be_bytes([
        hs[offset] & 0x7f,
        hs[offset + 1],
        hs[offset + 2],
        hs[offset + 3],
    ]);
    Some(bin % 10u32.checked_pow(digits)?)
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    const RFC_SECRET: &[u8] = b"12345678901234567890";

    #[test]
    fn rfc6238_sha1_vectors() {
        for (t, expected) in [
            (59u64, 94_287_082u32),
            (1_111_111_109, 7_081_804),
            (1_111_111_111, 14_050_471),
            (1_234_567_890, 89_005_924),
            (2_000_000_000, 69_279_037),
            (20_000_000_000, 65_353_130),
        ] {
            assert_eq!(hotp(RFC_SECRET, t / STEP_SECS, 8), Some(expected), "T={t}");
        }
        assert_eq!(code_at(RFC_SECRET, 59 / 30), "287082");
        assert_eq!(code_at(RFC_SECRET, 1_111_111_109 / 30), "081804");
    }

    #[test]
    fn verify_accepts_current_step() {
        assert_eq!(verify(RFC_SECRET, "287082", 59, None), Some(1));
        assert_eq!(verify(RFC_SECRET, "287 082", 59, None), Some(1));
        assert_eq!(
            verify(RFC_SECRET, "081804", 1_111_111_109, None),
            Some(37_037_036)
        );
        assert_eq!(verify(RFC_SECRET, "000000", 59, None), None);
        assert_eq!(verify(RFC_SECRET, "28708", 59, None), None);
        assert_eq!(verify(RFC_SECRET, "2870822", 59, None), None);
        assert_eq!(verify(RFC_SECRET, "28708a", 59, None), None);
        assert_eq!(verify(RFC_SECRET, "287082", -1, None), None);
    }

    #[test]
    fn replay_refused() {
        let step = verify(RFC_SECRET, "287082", 59, None).unwrap();
        assert_eq!(verify(RFC_SECRET, "287082", 59, Some(step)), None);
        assert_eq!(verify(RFC_SECRET, "287082", 60, Some(step)), None);
        // A later code after the used one is fine.
        let next = code_at(RFC_SECRET, step + 1);
        assert_eq!(verify(RFC_SECRET, &next, 60, Some(step)), Some(step + 1));
        // An older (still in-window) code after a newer one was used is refused.
        let now = 1_000_000_020i64;
        let cur = step_at(now).unwrap();
        let prev = code_at(RFC_SECRET, cur - 1);
        assert_eq!(verify(RFC_SECRET, &prev, now, Some(cur)), None);
    }

    #[test]
    fn window_is_plus_minus_one() {
        let secret = generate_secret();
        let now = 1_700_000_015i64;
        let cur = step_at(now).unwrap();
        assert_eq!(
            verify(&secret, &code_at(&secret, cur), now, None),
            Some(cur)
        );
        assert_eq!(
            verify(&secret, &code_at(&secret, cur - 1), now, None),
            Some(cur - 1)
        );
        assert_eq!(
            verify(&secret, &code_at(&secret, cur + 1), now, None),
            Some(cur + 1)
        );
        for far in [cur - 2, cur + 2, cur - 10] {
            let code = code_at(&secret, far);
            // Skip the ~1e-6 chance that a far code collides with one inside the window.
            let collides = [cur - 1, cur, cur + 1]
                .iter()
                .any(|&s| code_at(&secret, s) == code);
            if !collides {
                assert_eq!(verify(&secret, &code, now, None), None, "step {far}");
            }
        }
    }

    #[test]
    fn base32_rfc4648_vectors() {
        for (input, expected) in [
            ("", ""),
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foob", "MZXW6YQ"),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
        ] {
            assert_eq!(base32_encode(input.as_bytes()), expected);
            assert_eq!(base32_decode(expected).unwrap(), input.as_bytes());
        }
        assert_eq!(base32_decode("mzxw6ytboi======").unwrap(), b"foobar");
        assert_eq!(base32_decode("MZXW1"), None);
        let secret = generate_secret();
        assert_eq!(secret.len(), 20);
        let b32 = base32_encode(&secret);
        assert_eq!(b32.len(), 32);
        assert_eq!(base32_decode(&b32).unwrap(), secret);
    }

    #[test]
    fn otpauth_uri_is_encoded() {
        let uri = otpauth_uri("Rampart Market", "alice+mfa@example.com", b"foobar");
        assert_eq!(
            uri,
            "otpauth://totp/Rampart%20Market:alice%2Bmfa%40example.com?secret=MZXW6YTBOI\
             &issuer=Rampart%20Market&algorithm=SHA1&digits=6&period=30"
        );
        let odd = otpauth_uri("A&B:C", "x?y#z/é", b"f");
        assert!(odd.starts_with(
            "otpauth://totp/A%26B%3AC:x%3Fy%23z%2F%C3%A9?secret=MY&issuer=A%26B%3AC&"
        ));
    }

    #[test]
    fn qr_svg_renders() {
        let svg = qr_svg(&otpauth_uri(
            "Rampart",
            "alice@example.com",
            &generate_secret(),
        ))
        .unwrap();
        assert!(svg.contains("<svg"));
        assert!(svg.contains("width=\""));
        assert!(qr_svg(&"x".repeat(10_000)).is_err());
    }

    #[test]
    fn recovery_codes() {
        let codes = generate_recovery_codes();
        assert_eq!(codes.len(), RECOVERY_CODE_COUNT);
        let unique: std::collections::HashSet<_> = codes.iter().collect();
        assert_eq!(unique.len(), codes.len());
        for code in &codes {
            assert_eq!(code.len(), 11);
            assert_eq!(&code[5..6], "-");
            let normal = normalize_recovery_code(code).unwrap();
            assert_eq!(normal, code.replace('-', ""));
            assert_eq!(
                hash_recovery_code(&code.to_uppercase()),
                Some(hash_token(&normal))
            );
        }
    }

    #[test]
    fn recovery_code_normalisation() {
        assert_eq!(
            normalize_recovery_code("ab0c1-d2e3f").as_deref(),
            Some("ab0c1d2e3f")
        );
        assert_eq!(
            normalize_recovery_code(" AB0C1 D2E3F ").as_deref(),
            Some("ab0c1d2e3f")
        );
        assert_eq!(
            normalize_recovery_code("abOcI-d2e3f").as_deref(),
            Some("ab0c1d2e3f")
        );
        assert_eq!(
            normalize_recovery_code("abOcL-d2e3f").as_deref(),
            Some("ab0c1d2e3f")
        );
        assert_eq!(normalize_recovery_code("abucl-d2e3f"), None);
        assert_eq!(normalize_recovery_code("ab0c1-d2e3"), None);
        assert_eq!(normalize_recovery_code("ab0c1-d2e3f0"), None);
        assert_eq!(normalize_recovery_code("ab0c1-d2é3f"), None);
        assert_eq!(hash_recovery_code("nope"), None);
    }
}
