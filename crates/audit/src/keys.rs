//! The audit key ring: HMAC-SHA256 keys that make the chain unforgeable without a
//! secret held outside the database.
//!
//! Configured as `kid:base64,kid:base64,…` (first entry active for new rows; older
//! ones kept so rows written under them still verify). Each row stores the id of the
//! key that hashed it (`hash_kid`); rows written before keying (`hash_kid` NULL or
//! empty) use the plain SHA-256 form and verify as before.
//!
//! The binary builds the ring from `RAMPART_AUDIT_KEY` and installs it once per process
//! ([`install_keys`]); [`crate::record`] and [`crate::verify`] use it, and refuse to run
//! without it, so an unkeyed row is never written by accident.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::sync::OnceLock;

/// HMAC-SHA256 with a prepared key.
pub type ChainMac = Hmac<Sha256>;

/// Minimum key length in bytes.
pub const MIN_AUDIT_KEY_BYTES: usize = 32;

/// Why a key ring was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// No key at all.
    #[error("the audit key ring is empty")]
    Empty,
    /// An entry is not `kid:base64`.
    #[error("entry {index} is not kid:base64")]
    InvalidEntry {
        /// Zero-based position.
        index: usize,
    },
    /// A key id is empty, too long or uses characters other than `A-Za-z0-9_.-`.
    #[error("key id {0:?} must be 1-32 of A-Za-z0-9_.-")]
    InvalidKid(String),
    /// A key is shorter than [`MIN_AUDIT_KEY_BYTES`] or not base64/hex.
    #[error("key {0:?} must decode (base64 or hex) to at least 32 bytes")]
    Weak(String),
    /// The same id twice.
    #[error("key id {0:?} appears twice")]
    Duplicate(String),
    /// A different ring is already installed in this process.
    #[error("a different audit key ring is already installed in this process")]
    AlreadyInstalled,
}

/// One key: its id, its bytes and the prepared HMAC state.
#[derive(Clone)]
struct Entry {
    kid: String,
    bytes: Vec<u8>,
    mac: ChainMac,
}

/// The audit key ring. Debug output never shows key material.
#[derive(Clone)]
pub struct AuditKeys {
    entries: Vec<Entry>,
}

impl std::fmt::Debug for AuditKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kids: Vec<&str> = self.entries.iter().map(|e| e.kid.as_str()).collect();
        write!(f, "AuditKeys({kids:?}, <redacted>)")
    }
}

impl PartialEq for AuditKeys {
    fn eq(&self, other: &Self) -> bool {
        self.entries.len() == other.entries.len()
            && self
                .entries
                .iter()
                .zip(&other.entries)
                .all(|(a, b)| a.kid == b.kid && a.bytes == b.bytes)
    }
}

fn valid_kid(kid: &str) -> bool {
    !kid.is_empty()
        && kid.len() <= 32
        && kid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// Decodes base64 (standard or URL-safe, padded or not) or hex.
pub fn decode_key_bytes(s: &str) -> Option<Vec<u8>> {
    let t = s.trim();
    if let Ok(b) = hex::decode(t) {
        return Some(b);
    }
    if let Ok(b) = URL_SAFE_NO_PAD.decode(t.trim_end_matches('=')) {
        return Some(b);
    }
    STANDARD.decode(t).ok()
}

impl AuditKeys {
    /// A ring from `(kid, key bytes)` pairs; the first is active.
    pub fn new(keys: Vec<(String, Vec<u8>)>) -> Result<Self, KeyError> {
        if keys.is_empty() {
            return Err(KeyError::Empty);
        }
        let mut entries: Vec<Entry> = Vec::with_capacity(keys.len());
        for (kid, bytes) in keys {
            if !valid_kid(&kid) {
                return Err(KeyError::InvalidKid(kid));
            }
            if bytes.len() < MIN_AUDIT_KEY_BYTES {
                return Err(KeyError::Weak(kid));
            }
            if entries.iter().any(|e| e.kid == kid) {
                return Err(KeyError::Duplicate(kid));
            }
            let mac = ChainMac::new_from_slice(&bytes).map_err(|_| KeyError::Weak(kid.clone()))?;
            entries.push(Entry { kid, bytes, mac });
        }
        Ok(Self { entries })
    }

    /// Parses `kid:base64[,kid:base64…]` (base64 standard or URL-safe, or hex).
    pub fn parse(config: &str) -> Result<Self, KeyError> {
        let mut keys = Vec::new();
        let entries = config.split(',').map(str::trim).filter(|e| !e.is_empty());
        for (index, entry) in entries.enumerate() {
            let (kid, key) = entry
                .split_once(':')
                .ok_or(KeyError::InvalidEntry { index })?;
            let kid = kid.trim().to_owned();
            let bytes = decode_key_bytes(key).ok_or_else(|| KeyError::Weak(kid.clone()))?;
            keys.push((kid, bytes));
        }
        Self::new(keys)
    }

    /// The id new rows are written with.
    pub fn active_kid(&self) -> &str {
        // `new` refuses an empty ring.
        self.entries.first().map(|e| e.kid.as_str()).unwrap_or("")
    }

    /// The active key's prepared HMAC and id.
    pub(crate) fn active(&self) -> Option<(&str, &ChainMac)> {
        self.entries.first().map(|e| (e.kid.as_str(), &e.mac))
    }

    /// Position of a key id in the ring.
    pub fn index_of(&self, kid: &str) -> Option<usize> {
        self.entries.iter().position(|e| e.kid == kid)
    }

    /// The prepared HMAC of the key at `index`.
    pub fn mac_at(&self, index: usize) -> Option<&ChainMac> {
        self.entries.get(index).map(|e| &e.mac)
    }

    /// The id of the key at `index`.
    pub fn kid_at(&self, index: usize) -> Option<&str> {
        self.entries.get(index).map(|e| e.kid.as_str())
    }

    /// The prepared HMAC of a key id.
    pub fn mac(&self, kid: &str) -> Option<&ChainMac> {
        self.index_of(kid).and_then(|i| self.mac_at(i))
    }

    /// Every key id, active first.
    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|e| e.kid.as_str())
    }

    /// The configuration string (`kid:base64url,…`). **Contains key material**: only
    /// for writing the generated development secret file, never for logs.
    pub fn to_secret_string(&self) -> String {
        self.entries
            .iter()
            .map(|e| format!("{}:{}", e.kid, URL_SAFE_NO_PAD.encode(&e.bytes)))
            .collect::<Vec<_>>()
            .join(",")
    }
}

static INSTALLED: OnceLock<AuditKeys> = OnceLock::new();

/// Installs the process-wide key ring used by [`crate::record`], [`crate::verify`] and
/// [`crate::prune`]. Installing the same ring again is fine; a different one is refused
/// ([`KeyError::AlreadyInstalled`]): the ring is fixed for the life of the process.
pub fn install_keys(keys: AuditKeys) -> Result<&'static AuditKeys, KeyError> {
    let installed = INSTALLED.get_or_init(|| keys.clone());
    if *installed == keys {
        Ok(installed)
    } else {
        Err(KeyError::AlreadyInstalled)
    }
}

/// The installed ring, if any.
pub fn installed_keys() -> Option<&'static AuditKeys> {
    INSTALLED.get()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn parses_and_refuses() {
        let k = URL_SAFE_NO_PAD.encode([7u8; 32]);
        let ring = AuditKeys::parse(&format!("a2:{k}, a1:{}", hex::encode([9u8; 32]))).unwrap();
        assert_eq!(ring.active_kid(), "a2");
        assert_eq!(ring.kids().collect::<Vec<_>>(), ["a2", "a1"]);
        assert_eq!(AuditKeys::parse(&ring.to_secret_string()).unwrap(), ring);
        assert!(!format!("{ring:?}").contains(&k));
        assert_eq!(AuditKeys::parse(""), Err(KeyError::Empty));
        assert_eq!(
            AuditKeys::parse("a1:c2hvcnQ"),
            Err(KeyError::Weak("a1".into()))
        );
        assert_eq!(
            AuditKeys::parse(&format!("a1:{k},a1:{k}")),
            Err(KeyError::Duplicate("a1".into()))
        );
        assert_eq!(
            AuditKeys::parse(&format!("a b:{k}")),
            Err(KeyError::InvalidKid("a b".into()))
        );
        assert_eq!(
            AuditKeys::parse(&k),
            Err(KeyError::InvalidEntry { index: 0 })
        );
    }
}
