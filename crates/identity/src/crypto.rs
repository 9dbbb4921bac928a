//! Field-level encryption at rest (XChaCha20-Poly1305) with a rotatable key ring: new data is
//! sealed with the active key, old keys stay available for decryption until re-encrypted.

use std::collections::HashMap;
use std::fmt;

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, URL_SAFE_NO_PAD};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore as _;

/// Key length in bytes.
pub const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
const MAX_KEY_ID_LEN: usize = 32;

// Operators paste keys from different tools; accept both alphabets, padded or not.
const LENIENT_STANDARD: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);
const LENIENT_URL_SAFE: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Errors from building a key ring or decrypting. Messages never contain key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// The key ring configuration holds no keys.
    #[error("key ring is empty")]
    EmptyKeyRing,
    /// An entry is not `id:base64key`.
    #[error("key ring entry {index} is not of the form id:base64")]
    InvalidEntry {
        /// Zero-based position of the entry.
        index: usize,
    },
    /// A key id is empty, too long, or uses characters other than `[A-Za-z0-9_-]`.
    #[error("invalid key id {0:?}")]
    InvalidKeyId(String),
    /// The same key id appears twice.
    #[error("duplicate key id {0:?}")]
    DuplicateKeyId(String),
    /// A key is not valid base64.
    #[error("key {id:?} is not valid base64")]
    InvalidKeyEncoding {
        /// The key's id.
        id: String,
    },
    /// A key does not decode to exactly 32 bytes.
    #[error("key {id:?} has {len} bytes, expected 32")]
    InvalidKeyLength {
        /// The key's id.
        id: String,
        /// Decoded length.
        len: usize,
    },
    /// The ciphertext string is not `key_id:base64(nonce||ciphertext)`.
    #[error("malformed ciphertext")]
    Malformed,
    /// The ciphertext names a key that is not in the ring (retired too early?).
    #[error("unknown key id {0:?}")]
    UnknownKey(String),
    /// Authentication failed: wrong key, wrong AAD, or tampered data.
    #[error("decryption failed")]
    Decrypt,
    /// Encryption failed (only possible for absurdly large inputs).
    #[error("encryption failed")]
    Encrypt,
}

/// Identifier of a key in the ring, stored in front of every ciphertext.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyId(String);

impl KeyId {
    /// Validates an id: 1–32 characters from `[A-Za-z0-9_-]`.
    pub fn new(id: &str) -> Result<Self, CryptoError> {
        let valid = !id.is_empty()
            && id.len() <= MAX_KEY_ID_LEN
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if valid {
            Ok(Self(id.to_owned()))
        } else {
            Err(CryptoError::InvalidKeyId(id.to_owned()))
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

// Lets the ring look up `&str` ids from ciphertexts without allocating a `KeyId`.
impl std::borrow::Borrow<str> for KeyId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A 256-bit data key, kept as a ready cipher instance. `Debug` is redacted.
#[derive(Clone)]
pub struct Key(XChaCha20Poly1305);

impl Key {
    /// Builds a key from exactly 32 bytes.
    pub fn from_bytes(bytes: &[u8; KEY_LEN]) -> Self {
        Self(XChaCha20Poly1305::new(bytes.into()))
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key(<redacted>)")
    }
}

/// The set of data keys: one active key for encryption, all of them for decryption.
#[derive(Clone)]
pub struct KeyRing {
    active: KeyId,
    keys: HashMap<KeyId, Key>,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ids: Vec<&str> = self.keys.keys().map(KeyId::as_str).collect();
        ids.sort_unstable();
        f.debug_struct("KeyRing")
            .field("active", &self.active.as_str())
            .field("key_ids", &ids)
            .finish_non_exhaustive()
    }
}

impl KeyRing {
    /// Parses `"k1:<base64 32 bytes>,k0:<base64>"`; the first entry is the active key.
    /// Whitespace around entries is ignored; standard or URL-safe base64, padded or not.
    pub fn parse(config: &str) -> Result<Self, CryptoError> {
        let mut active = None;
        let mut keys = HashMap::new();
        let entries = config.split(',').map(str::trim).filter(|e| !e.is_empty());
        for (index, entry) in entries.enumerate() {
            let (id, b64) = entry
                .split_once(':')
                .ok_or(CryptoError::InvalidEntry { index })?;
            let id = KeyId::new(id.trim())?;
            let b64 = b64.trim();
            let bytes = LENIENT_STANDARD
                .decode(b64)
                .or_else(|_| LENIENT_URL_SAFE.decode(b64))
                .map_err(|_| CryptoError::InvalidKeyEncoding { id: id.0.clone() })?;
            let key = key_from_slice(&id, &bytes)?;
            if keys.contains_key(&id) {
                return Err(CryptoError::DuplicateKeyId(id.0));
            }
            if active.is_none() {
                active = Some(id.clone());
            }
            keys.insert(id, key);
        }
        let active = active.ok_or(CryptoError::EmptyKeyRing)?;
        Ok(Self { active, keys })
    }

    /// A ring with one key, which is active.
    pub fn from_single(id: &str, bytes: &[u8]) -> Result<Self, CryptoError> {
        let id = KeyId::new(id)?;
        let key = key_from_slice(&id, bytes)?;
        Ok(Self {
            keys: HashMap::from([(id.clone(), key)]),
            active: id,
        })
    }

    /// The id new ciphertexts are written with.
    pub fn active_id(&self) -> &KeyId {
        &self.active
    }

    /// Whether the ring holds a key with this id.
    pub fn contains(&self, id: &str) -> bool {
        self.keys.contains_key(id)
    }

    /// Encrypts with the active key into `"{key_id}:{base64url(nonce || ciphertext)}"`.
    ///
    /// `aad` should be `"table.column:row_id"`: it binds the ciphertext to its place, so a
    /// value copied into another row or column fails to decrypt. Nonces are random 24-byte
    /// values, which XChaCha makes collision-safe without any counter state.
    pub fn encrypt(&self, plaintext: &[u8], aad: &[u8]) -> Result<String, CryptoError> {
        let key = self.keys.get(&self.active).ok_or(CryptoError::Encrypt)?;
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let ct = key
            .0
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .map_err(|_| CryptoError::Encrypt)?;
        let mut blob = Vec::with_capacity(NONCE_LEN + ct.len());
        blob.extend_from_slice(&nonce);
        blob.extend_from_slice(&ct);
        let mut out = String::with_capacity(self.active.0.len() + 1 + (blob.len() * 4).div_ceil(3));
        out.push_str(self.active.as_str());
        out.push(':');
        URL_SAFE_NO_PAD.encode_string(&blob, &mut out);
        Ok(out)
    }

    /// Decrypts a value produced by [`KeyRing::encrypt`] with any key in the ring.
    pub fn decrypt(&self, ct: &str, aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let (id, b64) = ct.split_once(':').ok_or(CryptoError::Malformed)?;
        let key = self
            .keys
            .get(id)
            .ok_or_else(|| CryptoError::UnknownKey(id.to_owned()))?;
        let blob = URL_SAFE_NO_PAD
            .decode(b64)
            .map_err(|_| CryptoError::Malformed)?;
        if blob.len() < NONCE_LEN + TAG_LEN {
            return Err(CryptoError::Malformed);
        }
        let (nonce, body) = blob.split_at(NONCE_LEN);
        key.0
            .decrypt(XNonce::from_slice(nonce), Payload { msg: body, aad })
            .map_err(|_| CryptoError::Decrypt)
    }

    /// True when `ct` was not written with the active key (including values that are not
    /// ciphertexts at all), i.e. a background job should decrypt and encrypt it again.
    pub fn needs_reencrypt(&self, ct: &str) -> bool {
        match ct.split_once(':') {
            Some((id, _)) => id != self.active.as_str(),
            None => true,
        }
    }
}

/// A fresh random 32-byte key.
pub fn generate_key() -> [u8; KEY_LEN] {
    let mut key = [0u8; KEY_LEN];
    OsRng.fill_bytes(&mut key);
    key
}

/// Formats one key ring entry (`id:base64`) for configuration, e.g. in a key-rotation CLI.
pub fn encode_key_entry(id: &KeyId, key: &[u8; KEY_LEN]) -> String {
    format!(
        "{}:{}",
        id,
        base64::engine::general_purpose::STANDARD.encode(key)
    )
}

fn key_from_slice(id: &KeyId, bytes: &[u8]) -> Result<Key, CryptoError> {
    let arr: &[u8; KEY_LEN] = bytes
        .try_into()
        .map_err(|_| CryptoError::InvalidKeyLength {
            id: id.0.clone(),
            len: bytes.len(),
        })?;
    Ok(Key::from_bytes(arr))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD;

    const AAD: &[u8] = b"users.totp_secret:42";

    fn entry(id: &str, byte: u8) -> String {
        format!("{id}:{}", STANDARD.encode([byte; 32]))
    }

    #[test]
    fn roundtrip() {
        let ring = KeyRing::from_single("k0", &[7u8; 32]).unwrap();
        let ct = ring.encrypt(b"secret seed", AAD).unwrap();
        assert!(ct.starts_with("k0:"));
        assert_eq!(ring.decrypt(&ct, AAD).unwrap(), b"secret seed");
        assert!(!ring.needs_reencrypt(&ct));
        // Random nonces: same input, different output.
        assert_ne!(ct, ring.encrypt(b"secret seed", AAD).unwrap());
        let empty = ring.encrypt(b"", AAD).unwrap();
        assert_eq!(ring.decrypt(&empty, AAD).unwrap(), b"");
    }

    #[test]
    fn wrong_aad_fails() {
        let ring = KeyRing::from_single("k0", &[7u8; 32]).unwrap();
        let ct = ring.encrypt(b"x", AAD).unwrap();
        assert_eq!(
            ring.decrypt(&ct, b"users.totp_secret:43"),
            Err(CryptoError::Decrypt)
        );
    }

    #[test]
    fn tampered_fails() {
        let ring = KeyRing::from_single("k0", &[7u8; 32]).unwrap();
        let ct = ring.encrypt(b"hello world", AAD).unwrap();
        let (id, b64) = ct.split_once(':').unwrap();
        let mut blob = URL_SAFE_NO_PAD.decode(b64).unwrap();
        for i in [0, NONCE_LEN, blob.len() - 1] {
            let mut t = blob.clone();
            t[i] ^= 1;
            let tampered = format!("{id}:{}", URL_SAFE_NO_PAD.encode(&t));
            assert_eq!(ring.decrypt(&tampered, AAD), Err(CryptoError::Decrypt));
        }
        blob.truncate(NONCE_LEN + TAG_LEN - 1);
        let short = format!("{id}:{}", URL_SAFE_NO_PAD.encode(&blob));
        assert_eq!(ring.decrypt(&short, AAD), Err(CryptoError::Malformed));
        assert_eq!(ring.decrypt("no-colon", AAD), Err(CryptoError::Malformed));
        assert_eq!(ring.decrypt("k0:@@@", AAD), Err(CryptoError::Malformed));
    }

    #[test]
    fn rotation() {
        let old = KeyRing::parse(&entry("k0", 1)).unwrap();
        let ct_old = old.encrypt(b"v", AAD).unwrap();

        let ring = KeyRing::parse(&format!("{}, {}", entry("k1", 2), entry("k0", 1))).unwrap();
        assert_eq!(ring.active_id().as_str(), "k1");
        assert!(ring.contains("k0"));
        assert_eq!(ring.decrypt(&ct_old, AAD).unwrap(), b"v");
        assert!(ring.needs_reencrypt(&ct_old));

        let ct_new = ring.encrypt(b"v", AAD).unwrap();
        assert!(ct_new.starts_with("k1:"));
        assert!(!ring.needs_reencrypt(&ct_new));
        // A key id swapped in front of a ciphertext does not decrypt with the other key.
        let swapped = ct_new.replacen("k1:", "k0:", 1);
        assert_eq!(ring.decrypt(&swapped, AAD), Err(CryptoError::Decrypt));
    }

    #[test]
    fn unknown_key_id() {
        let a = KeyRing::from_single("a", &[1u8; 32]).unwrap();
        let b = KeyRing::from_single("b", &[1u8; 32]).unwrap();
        let ct = a.encrypt(b"v", AAD).unwrap();
        assert_eq!(
            b.decrypt(&ct, AAD),
            Err(CryptoError::UnknownKey("a".into()))
        );
    }

    #[test]
    fn bad_keys_refused() {
        assert_eq!(
            KeyRing::from_single("k0", &[0u8; 31]).unwrap_err(),
            CryptoError::InvalidKeyLength {
                id: "k0".into(),
                len: 31
            }
        );
        let short = format!("k0:{}", STANDARD.encode([0u8; 16]));
        assert!(matches!(
            KeyRing::parse(&short),
            Err(CryptoError::InvalidKeyLength { len: 16, .. })
        ));
        assert_eq!(
            KeyRing::parse(" , ").unwrap_err(),
            CryptoError::EmptyKeyRing
        );
        assert!(matches!(
            KeyRing::parse("k0"),
            Err(CryptoError::InvalidEntry { index: 0 })
        ));
        assert!(matches!(
            KeyRing::parse("k0:%%%"),
            Err(CryptoError::InvalidKeyEncoding { .. })
        ));
        assert!(matches!(
            KeyRing::parse(&entry("bad id", 1)),
            Err(CryptoError::InvalidKeyId(_))
        ));
        assert_eq!(
            KeyRing::parse(&format!("{},{}", entry("k0", 1), entry("k0", 2))).unwrap_err(),
            CryptoError::DuplicateKeyId("k0".into())
        );
    }

    #[test]
    fn accepts_url_safe_unpadded_keys_and_generated_entries() {
        let key = generate_key();
        let cfg = format!("k9:{}", URL_SAFE_NO_PAD.encode(key));
        let a = KeyRing::parse(&cfg).unwrap();
        let b = KeyRing::parse(&encode_key_entry(&KeyId::new("k9").unwrap(), &key)).unwrap();
        let ct = a.encrypt(b"v", AAD).unwrap();
        assert_eq!(b.decrypt(&ct, AAD).unwrap(), b"v");
    }

    #[test]
    fn debug_is_redacted() {
        let key = [0xABu8; 32];
        let ring = KeyRing::from_single("k0", &key).unwrap();
        let dbg = format!("{ring:?}");
        assert!(dbg.contains("k0"));
        assert!(!dbg.contains(&STANDARD.encode(key)));
        assert!(!dbg.to_lowercase().contains("abab"));
        assert_eq!(format!("{:?}", Key::from_bytes(&key)), "Key(<redacted>)");
    }
}
