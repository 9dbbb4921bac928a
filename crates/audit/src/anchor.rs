//! External anchors: signed checkpoints `(seq, head hash, time, kid)` kept outside the
//! database, so a history rewritten or truncated by someone who can write the database
//! (even with the audit HMAC key) is caught by `rampart audit verify --anchor FILE`.
//!
//! A checkpoint is one JSON line signed with Ed25519 under the anchor key
//! (`RAMPART_AUDIT_ANCHOR_KEY`, distinct from the HMAC key); a verifier needs only the
//! public key.

use crate::keys::AuditKeys;
use crate::log::{verify_with, ChainBreak, VerifyOptions, VerifyReport};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use rampart_db::{Db, Result};

/// Domain separation for the signed message.
const CONTEXT: &str = "rampart-audit-anchor/v1";

/// The Ed25519 key that signs checkpoints. Debug output is redacted.
pub struct AnchorKey(SigningKey);

impl std::fmt::Debug for AnchorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AnchorKey(<redacted>)")
    }
}

impl AnchorKey {
    /// From a 32-byte Ed25519 seed.
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Self(SigningKey::from_bytes(seed))
    }

    /// The public half, for verifiers.
    pub fn public(&self) -> AnchorPublicKey {
        AnchorPublicKey(self.0.verifying_key())
    }
}

/// The Ed25519 public key that checks checkpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnchorPublicKey(VerifyingKey);

impl AnchorPublicKey {
    /// From the 32 public-key bytes; `None` if they are not a valid point.
    pub fn from_bytes(bytes: &[u8; 32]) -> Option<Self> {
        VerifyingKey::from_bytes(bytes).ok().map(Self)
    }

    /// Base64url (no padding), as written in each anchor line.
    pub fn to_base64(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0.as_bytes())
    }
}

/// A point of the chain vouched for outside the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// Head sequence number.
    pub seq: i64,
    /// Head hash (lowercase hex).
    pub head: String,
    /// Key id of the head row (`None`: legacy form or empty chain).
    pub kid: Option<String>,
    /// When it was taken (Unix ms).
    pub time_ms: i64,
    /// `audit_chain.legacy_until` at that time.
    pub legacy_until: i64,
}

impl Checkpoint {
    fn message(&self) -> String {
        format!(
            "{CONTEXT}\n{}\n{}\n{}\n{}\n{}",
            self.seq,
            self.head,
            self.kid.as_deref().unwrap_or(""),
            self.time_ms,
            self.legacy_until
        )
    }

    /// The signed JSON line (no trailing newline).
    pub fn sign(&self, key: &AnchorKey) -> String {
        let sig = key.0.sign(self.message().as_bytes());
        let line = Line {
            v: 1,
            seq: self.seq,
            head: self.head.clone(),
            kid: self.kid.clone(),
            time: self.time_ms,
            legacy_until: self.legacy_until,
            pk: key.public().to_base64(),
            sig: URL_SAFE_NO_PAD.encode(sig.to_bytes()),
        };
        // Serialising plain strings and integers cannot fail.
        serde_json::to_string(&line).unwrap_or_default()
    }

    /// Parses one anchor line and checks its signature against the trusted key.
    pub fn parse_signed(line: &str, trusted: &AnchorPublicKey) -> Result<Self, AnchorError> {
        let l: Line =
            serde_json::from_str(line).map_err(|e| AnchorError::Malformed(e.to_string()))?;
        if l.v != 1 {
            return Err(AnchorError::Malformed(format!("version {}", l.v)));
        }
        if l.pk != trusted.to_base64() {
            return Err(AnchorError::WrongKey);
        }
        let sig_bytes: [u8; 64] = URL_SAFE_NO_PAD
            .decode(&l.sig)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or(AnchorError::BadSignature)?;
        let cp = Checkpoint {
            seq: l.seq,
            head: l.head,
            kid: l.kid,
            time_ms: l.time,
            legacy_until: l.legacy_until,
        };
        trusted
            .0
            .verify(cp.message().as_bytes(), &Signature::from_bytes(&sig_bytes))
            .map_err(|_| AnchorError::BadSignature)?;
        Ok(cp)
    }
}

/// One anchor line on disk.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    v: u8,
    seq: i64,
    head: String,
    kid: Option<String>,
    time: i64,
    legacy_until: i64,
    pk: String,
    sig: String,
}

/// Why an anchor line was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnchorError {
    /// Not an anchor line.
    #[error("not an anchor line: {0}")]
    Malformed(String),
    /// Signed by another key than the configured anchor key.
    #[error("signed by a different key than the configured anchor key")]
    WrongKey,
    /// The signature does not match the content (edited).
    #[error("bad signature (the line was edited)")]
    BadSignature,
}

/// Verifies the chain and, if it is intact, returns a checkpoint of its head; the
/// chain break otherwise (anchoring a broken chain would bless it).
pub async fn checkpoint(
    db: &Db,
    keys: &AuditKeys,
    now_ms: i64,
) -> Result<std::result::Result<Checkpoint, ChainBreak>> {
    let r = verify_with(db, keys, &VerifyOptions::default(), |_| {}).await?;
    if let Some(b) = r.first_break {
        return Ok(Err(b));
    }
    Ok(Ok(Checkpoint {
        seq: r.head.0,
        head: r.head.1,
        kid: r.head_kid,
        time_ms: now_ms,
        legacy_until: r.legacy_until,
    }))
}

/// What the chain says about one external anchor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnchorFinding {
    /// The anchored row is on the chain with the anchored hash.
    Ok {
        /// Anchored seq.
        seq: i64,
    },
    /// The anchored row was pruned; the prune point is vouched for by an intact
    /// `audit_prune` row. Not tampering, but no longer checkable.
    PrunedBefore {
        /// Anchored seq.
        seq: i64,
        /// The current prune point.
        prune_seq: i64,
        /// The `audit_prune` row that set it.
        by_seq: i64,
    },
    /// The anchored row is gone below a prune point nothing vouches for.
    UnvouchedPrune {
        /// Anchored seq.
        seq: i64,
        /// The recorded prune point.
        prune_seq: i64,
    },
    /// The head is before the anchored row: the history was truncated (or an older
    /// copy of the database restored).
    Truncated {
        /// Anchored seq.
        seq: i64,
        /// The head now.
        head_seq: i64,
    },
    /// The row at the anchored seq has another hash: the history was rewritten.
    Rewritten {
        /// Anchored seq.
        seq: i64,
    },
    /// The anchored row was not found intact (the chain breaks before it).
    Missing {
        /// Anchored seq.
        seq: i64,
    },
    /// More rows are now allowed in the unkeyed legacy form than when anchored.
    LegacyRaised {
        /// Anchored seq.
        seq: i64,
        /// Value in the anchor.
        anchored: i64,
        /// Value now.
        now: i64,
    },
}

impl AnchorFinding {
    /// Whether this finding means tampering (non-zero exit).
    pub fn is_failure(&self) -> bool {
        !matches!(
            self,
            AnchorFinding::Ok { .. } | AnchorFinding::PrunedBefore { .. }
        )
    }
}

impl std::fmt::Display for AnchorFinding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AnchorFinding::Ok { seq } => write!(f, "anchor at row {seq}: OK"),
            AnchorFinding::PrunedBefore { seq, prune_seq, by_seq } => write!(
                f,
                "anchor at row {seq}: pruned before (the chain now starts after row {prune_seq}, pruned by row {by_seq})"
            ),
            AnchorFinding::UnvouchedPrune { seq, prune_seq } => write!(
                f,
                "anchor at row {seq}: BROKEN: rows up to {prune_seq} are gone and no audit_prune row vouches for it (deleted outside Rampart)"
            ),
            AnchorFinding::Truncated { seq, head_seq } => write!(
                f,
                "anchor at row {seq}: BROKEN: the chain ends at row {head_seq}, before the anchor (truncated or restored from an older copy)"
            ),
            AnchorFinding::Rewritten { seq } => write!(
                f,
                "anchor at row {seq}: BROKEN: row {seq} no longer has the anchored hash (history rewritten)"
            ),
            AnchorFinding::Missing { seq } => write!(
                f,
                "anchor at row {seq}: BROKEN: row {seq} is not on the intact chain"
            ),
            AnchorFinding::LegacyRaised { seq, anchored, now } => write!(
                f,
                "anchor at row {seq}: BROKEN: legacy (unkeyed) rows now allowed up to {now}, anchored {anchored} (rewritten in the unkeyed form)"
            ),
        }
    }
}

/// The seqs whose hashes [`check_anchors`] needs from the walk.
pub fn wanted(anchors: &[Checkpoint]) -> VerifyOptions {
    VerifyOptions {
        want: anchors.iter().map(|a| a.seq).collect(),
    }
}

/// Compares external anchors with a verification report made with [`wanted`].
pub fn check_anchors(report: &VerifyReport, anchors: &[Checkpoint]) -> Vec<AnchorFinding> {
    let (head_seq, _) = &report.head;
    let (prune_seq, prune_hash) = &report.prune_anchor;
    anchors
        .iter()
        .map(|a| {
            let seq = a.seq;
            if report.legacy_until > a.legacy_until {
                return AnchorFinding::LegacyRaised {
                    seq,
                    anchored: a.legacy_until,
                    now: report.legacy_until,
                };
            }
            if seq > *head_seq {
                return AnchorFinding::Truncated {
                    seq,
                    head_seq: *head_seq,
                };
            }
            if seq == *prune_seq {
                return if a.head == *prune_hash {
                    AnchorFinding::Ok { seq }
                } else {
                    AnchorFinding::Rewritten { seq }
                };
            }
            if seq < *prune_seq {
                let voucher = report.prunes.iter().find(|(_, s, h)| {
                    s == prune_seq && h.as_deref().is_none_or(|h| h == prune_hash)
                });
                return match voucher {
                    Some((by_seq, _, _)) => AnchorFinding::PrunedBefore {
                        seq,
                        prune_seq: *prune_seq,
                        by_seq: *by_seq,
                    },
                    None => AnchorFinding::UnvouchedPrune {
                        seq,
                        prune_seq: *prune_seq,
                    },
                };
            }
            match report.hashes.get(&seq) {
                Some(h) if *h == a.head => AnchorFinding::Ok { seq },
                Some(_) => AnchorFinding::Rewritten { seq },
                None => AnchorFinding::Missing { seq },
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn signed_lines_roundtrip_and_edits_are_refused() {
        let key = AnchorKey::from_seed(&[3; 32]);
        let cp = Checkpoint {
            seq: 7,
            head: "ab".repeat(32),
            kid: Some("k1".into()),
            time_ms: 1_700_000_000_000,
            legacy_until: 0,
        };
        let line = cp.sign(&key);
        assert_eq!(Checkpoint::parse_signed(&line, &key.public()).unwrap(), cp);
        let edited = line.replace("\"seq\":7", "\"seq\":6");
        assert_ne!(edited, line);
        assert_eq!(
            Checkpoint::parse_signed(&edited, &key.public()),
            Err(AnchorError::BadSignature)
        );
        let other = AnchorKey::from_seed(&[4; 32]);
        assert_eq!(
            Checkpoint::parse_signed(&cp.sign(&other), &key.public()),
            Err(AnchorError::WrongKey)
        );
        // A line re-signed by another key but claiming the trusted key's `pk`.
        let forged = cp
            .sign(&other)
            .replace(&other.public().to_base64(), &key.public().to_base64());
        assert_eq!(
            Checkpoint::parse_signed(&forged, &key.public()),
            Err(AnchorError::BadSignature)
        );
        assert!(!format!("{key:?}").contains('3'));
    }
}
