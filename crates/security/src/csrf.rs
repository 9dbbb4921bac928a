//! CSRF tokens as signed double-submit values (OWASP): the token is an HMAC of the
//! session binding (the session cookie, or a pre-session cookie before login) under a
//! server key, so it cannot be forged without the key and dies with the session.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// Derives and checks CSRF tokens.
#[derive(Clone)]
pub struct CsrfKey {
    key: Vec<u8>,
}

impl std::fmt::Debug for CsrfKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CsrfKey(<redacted>)")
    }
}

impl CsrfKey {
    /// A key of at least 32 bytes.
    pub fn new(key: &[u8]) -> Option<Self> {
        (key.len() >= 32).then(|| Self { key: key.to_vec() })
    }

    fn mac(&self, binding: &str) -> Option<[u8; 32]> {
        let mut mac = HmacSha256::new_from_slice(&self.key).ok()?;
        mac.update(b"rampart-csrf-v1\0");
        mac.update(binding.as_bytes());
        Some(mac.finalize().into_bytes().into())
    }

    /// The token for a session binding.
    pub fn token_for(&self, binding: &str) -> String {
        self.mac(binding)
            .map(|m| URL_SAFE_NO_PAD.encode(m))
            .unwrap_or_default()
    }

    /// Constant-time check of a presented token against the binding.
    pub fn verify(&self, binding: &str, presented: &str) -> bool {
        let Ok(raw) = URL_SAFE_NO_PAD.decode(presented.trim()) else {
            return false;
        };
        match self.mac(binding) {
            Some(expected) => raw.len() == expected.len() && bool::from(expected.ct_eq(&raw[..])),
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn token_is_bound_to_session_and_key() {
        let k = CsrfKey::new(&[7u8; 32]).unwrap();
        let t = k.token_for("session-a");
        assert!(k.verify("session-a", &t));
        assert!(!k.verify("session-b", &t));
        assert!(!k.verify("session-a", ""));
        assert!(!k.verify("session-a", "not base64 !"));
        let other = CsrfKey::new(&[8u8; 32]).unwrap();
        assert!(!other.verify("session-a", &t));
        assert!(CsrfKey::new(&[1u8; 16]).is_none());
    }
}
