//! Random opaque tokens (PATs, refresh and reset tokens) and the hashed form they are
//! stored in. Plaintext is shown to the user once; the database only ever sees the hash.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::rngs::OsRng;
use rand::RngCore as _;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

/// Prefix of personal access tokens.
pub const PAT_PREFIX: &str = "rpat_";
/// Prefix of refresh tokens.
pub const REFRESH_PREFIX: &str = "rrt_";
/// Prefix of password-reset tokens.
pub const RESET_PREFIX: &str = "rrs_";
/// Prefix of e-mail verification tokens.
pub const VERIFY_PREFIX: &str = "rve_";

/// Random bytes per token (256 bits).
pub const TOKEN_BYTES: usize = 32;
/// Length of the base64url (no padding) encoding of [`TOKEN_BYTES`].
pub const TOKEN_BODY_LEN: usize = 43;
/// Length of the base62 CRC-32 checksum suffix.
pub const CHECKSUM_LEN: usize = 6;

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// SHA-256 of a token, the only form that is stored. Equality is constant-time.
#[derive(Clone, Copy, Eq)]
pub struct TokenHash([u8; 32]);

impl TokenHash {
    /// Hashes a token (the full string, prefix and checksum included).
    pub fn of(token: &str) -> Self {
        Self(Sha256::digest(token.as_bytes()).into())
    }

    /// The raw digest.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lower-case hex, the column format; same as [`hash_token`].
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses the hex column format back.
    pub fn from_hex(s: &str) -> Option<Self> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).ok()?;
        Some(Self(out))
    }
}

impl PartialEq for TokenHash {
    fn eq(&self, other: &Self) -> bool {
        ct_eq(&self.0, &other.0)
    }
}

// A hash of a 256-bit random token reveals nothing usable, so printing it is fine and
// helps correlate log lines with database rows.
impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenHash({})", self.to_hex())
    }
}

impl fmt::Display for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// Generates a token `"{prefix}{43 base64url chars}{6 base62 checksum chars}"` from 256
/// bits of OS randomness and returns it with its storage hash.
///
/// The prefix (which should end in `_`, e.g. [`PAT_PREFIX`]) lets secret scanners and
/// humans recognise a leaked token; the CRC-32 checksum (as in GitHub's token format) lets
/// scanners and [`is_well_formed`] reject typos and random strings without a database hit.
/// It is not a security feature: anyone can compute it.
pub fn random_token(prefix: &str) -> (String, TokenHash) {
    let mut bytes = [0u8; TOKEN_BYTES];
    OsRng.fill_bytes(&mut bytes);
    let token = token_from_bytes(prefix, &bytes);
    let hash = TokenHash::of(&token);
    (token, hash)
}

/// Formats 32 bytes as a token (prefix, base64url body, checksum); used for tokens
/// derived deterministically from a secret (refresh successors).
pub fn token_from_bytes(prefix: &str, bytes: &[u8; TOKEN_BYTES]) -> String {
    let mut token = String::with_capacity(prefix.len() + TOKEN_BODY_LEN + CHECKSUM_LEN);
    token.push_str(prefix);
    URL_SAFE_NO_PAD.encode_string(bytes, &mut token);
    let checksum = base62_checksum(crc32(token.as_bytes()));
    token.extend(checksum.iter().map(|&b| char::from(b)));
    token
}

/// Hex SHA-256 of a token, for storage and lookup.
///
/// A fast unsalted hash is the right tool here, unlike for passwords: tokens carry 256 bits
/// of randomness, so neither brute force nor precomputed tables can invert the hash, and a
/// deterministic hash lets the database find the row by an indexed equality lookup. A slow
/// KDF would only add latency to every API call and hand attackers a CPU-exhaustion lever.
pub fn hash_token(s: &str) -> String {
    TokenHash::of(s).to_hex()
}

/// Whether `token` has the shape [`random_token`] produces for `prefix`, checksum included.
/// Use it to reject garbage before hashing and querying.
pub fn is_well_formed(prefix: &str, token: &str) -> bool {
    let Some(rest) = token.strip_prefix(prefix) else {
        return false;
    };
    if rest.len() != TOKEN_BODY_LEN + CHECKSUM_LEN || !rest.is_ascii() {
        return false;
    }
    let (body, checksum) = rest.split_at(TOKEN_BODY_LEN);
    let body_ok = body
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    let signed_len = prefix.len() + TOKEN_BODY_LEN;
    body_ok
        && token
            .as_bytes()
            .get(..signed_len)
            .is_some_and(|covered| base62_checksum(crc32(covered)) == checksum.as_bytes())
}

/// Constant-time equality of two byte strings (lengths are not secret).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

fn base62_checksum(mut n: u32) -> [u8; CHECKSUM_LEN] {
    // 62^6 > 2^32, so six digits always suffice; fixed width keeps tokens fixed length.
    let mut out = [b'0'; CHECKSUM_LEN];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    out
}

/// CRC-32 (IEEE 802.3, as in zlib). Bitwise: tokens are short and this avoids a dependency.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn crc32_known_vector() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn token_shape_and_hash() {
        let (pat, hash) = random_token(PAT_PREFIX);
        assert!(pat.starts_with("rpat_"));
        assert_eq!(pat.len(), 5 + TOKEN_BODY_LEN + CHECKSUM_LEN);
        assert!(is_well_formed(PAT_PREFIX, &pat));
        assert!(!is_well_formed(REFRESH_PREFIX, &pat));
        assert_eq!(hash, TokenHash::of(&pat));
        assert_eq!(hash_token(&pat), hash.to_hex());
        assert_eq!(hash.to_hex().len(), 64);
        assert_eq!(TokenHash::from_hex(&hash.to_hex()), Some(hash));
        let body = &pat[5..5 + TOKEN_BODY_LEN];
        assert_eq!(URL_SAFE_NO_PAD.decode(body).unwrap().len(), 32);
    }

    #[test]
    fn tokens_are_unique() {
        let (a, ha) = random_token(REFRESH_PREFIX);
        let (b, hb) = random_token(REFRESH_PREFIX);
        assert_ne!(a, b);
        assert_ne!(ha, hb);
    }

    #[test]
    fn checksum_catches_typos() {
        let (tok, _) = random_token(RESET_PREFIX);
        let mut bytes = tok.clone().into_bytes();
        let i = RESET_PREFIX.len() + 10;
        bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
        let typo = String::from_utf8(bytes).unwrap();
        assert!(!is_well_formed(RESET_PREFIX, &typo));
        assert!(!is_well_formed(RESET_PREFIX, &tok[..tok.len() - 1]));
        assert!(!is_well_formed(RESET_PREFIX, ""));
        assert!(!is_well_formed(RESET_PREFIX, &format!("{tok}x")));
    }

    #[test]
    fn constant_time_compare() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
    }

    #[test]
    fn hash_is_sha256_hex() {
        assert_eq!(
            hash_token("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
