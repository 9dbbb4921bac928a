//! X3DH prekey bundles as the server holds them: public keys only, sizes bounded,
//! the number of one-time prekeys capped. The server checks shapes, not
//! cryptography: the signature over the signed prekey is verified by the client that
//! claims the bundle, against the identity key it trusts.

use rampart_kernel::{FieldError, FieldErrors, UserId};
use std::collections::HashSet;

/// Shortest public key, in bytes (a Curve25519 key is 32; 33 with a type byte).
pub const KEY_MIN_BYTES: usize = 32;
/// Longest public key, in bytes.
pub const KEY_MAX_BYTES: usize = 64;
/// Shortest signature, in bytes (XEdDSA / Ed25519: 64).
pub const SIGNATURE_MIN_BYTES: usize = 64;
/// Longest signature, in bytes.
pub const SIGNATURE_MAX_BYTES: usize = 128;
/// Most one-time prekeys stored for a user (and so accepted in one publish).
pub const ONE_TIME_PREKEYS_MAX: usize = 100;

/// A signed prekey: its client-chosen ID, public key and the identity key's
/// signature over it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedPrekey {
    /// Client-chosen ID, so the client finds the private half again.
    pub id: u32,
    /// The public key.
    pub public_key: Vec<u8>,
    /// The identity key's signature over `public_key`.
    pub signature: Vec<u8>,
}

/// A one-time prekey: client-chosen ID and public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OneTimePrekey {
    /// Client-chosen ID, unique among the user's stored one-time prekeys.
    pub id: u32,
    /// The public key.
    pub public_key: Vec<u8>,
}

/// What a user publishes. The identity key and signed prekey replace the stored
/// ones; the one-time prekeys are added to those still unclaimed (all of which are
/// dropped first when the identity key changes: their private halves belong to the
/// old identity).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewBundle {
    /// The long-term identity public key.
    pub identity_key: Vec<u8>,
    /// The current signed prekey.
    pub signed_prekey: SignedPrekey,
    /// New one-time prekeys (at most [`ONE_TIME_PREKEYS_MAX`], distinct IDs).
    pub one_time_prekeys: Vec<OneTimePrekey>,
}

/// What a claim hands out: everything an initiator needs for X3DH with `user`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrekeyBundle {
    /// Whose bundle.
    pub user: UserId,
    /// The identity public key.
    pub identity_key: Vec<u8>,
    /// The signed prekey with its signature.
    pub signed_prekey: SignedPrekey,
    /// One one-time prekey, now removed from the server; `None` when the user has
    /// none left (X3DH then runs without one).
    pub one_time_prekey: Option<OneTimePrekey>,
}

fn key(errs: &mut FieldErrors, field: &str, k: &[u8], min: usize, max: usize) {
    if k.len() < min {
        errs.push(FieldError::new(field, "too_short"));
    } else if k.len() > max {
        errs.push(FieldError::new(field, "too_long"));
    }
}

impl NewBundle {
    /// Checks sizes, the count of one-time prekeys and that their IDs are distinct.
    pub(crate) fn check(&self) -> Result<(), FieldErrors> {
        let mut errs = FieldErrors::new();
        key(
            &mut errs,
            "identity_key",
            &self.identity_key,
            KEY_MIN_BYTES,
            KEY_MAX_BYTES,
        );
        key(
            &mut errs,
            "signed_prekey",
            &self.signed_prekey.public_key,
            KEY_MIN_BYTES,
            KEY_MAX_BYTES,
        );
        key(
            &mut errs,
            "signature",
            &self.signed_prekey.signature,
            SIGNATURE_MIN_BYTES,
            SIGNATURE_MAX_BYTES,
        );
        if self.one_time_prekeys.len() > ONE_TIME_PREKEYS_MAX {
            errs.push(FieldError::new("one_time_prekeys", "too_many"));
        }
        let mut ids = HashSet::new();
        for k in &self.one_time_prekeys {
            if !ids.insert(k.id) {
                errs.push(FieldError::new("one_time_prekeys", "duplicate_id"));
                break;
            }
        }
        if self
            .one_time_prekeys
            .iter()
            .any(|k| k.public_key.len() < KEY_MIN_BYTES || k.public_key.len() > KEY_MAX_BYTES)
        {
            errs.push(FieldError::new("one_time_prekeys", "invalid_key"));
        }
        errs.into_result()
    }
}
