//! Signing-key lifecycle (A6): keys are generated and stored encrypted at rest (or
//! loaded from a file), rotate on a cadence or on demand, stay valid for verification
//! until the longest-lived token they signed has expired (`retained`), and can be
//! revoked at once. The in-memory key set is reloaded from the database every few
//! seconds so a `rampart keys …` command reaches running servers quickly.

use crate::crypto::KeyRing;
use crate::jwt::{self, AccessClaims, JwtError, SigningKey, Verifier};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
pub(crate) mod store;
use store::{self as keys, KeyRow};

/// A signing key as the `keys list` command shows it (never the private half).
#[derive(Debug, Clone)]
pub struct KeyInfo {
    /// Key ID.
    pub kid: String,
    /// `active`, `retained` or `revoked`.
    pub state: String,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms until which tokens it signed still validate.
    pub validate_until: Option<i64>,
}

/// Every signing key, newest first.
pub async fn list_keys(db: &Db) -> Result<Vec<KeyInfo>, KeyError> {
    Ok(keys::list(db)
        .await?
        .into_iter()
        .map(|k| KeyInfo {
            kid: k.kid,
            state: k.state,
            created_at: k.created_at,
            validate_until: k.validate_until,
        })
        .collect())
}
use rampart_db::{Db, DbError};
use serde_json::{json, Value};
use std::sync::{Arc, RwLock};

/// Errors of key management.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Database.
    #[error(transparent)]
    Store(#[from] DbError),
    /// A stored key could not be decrypted or parsed.
    #[error("signing key {0} cannot be decrypted (wrong RAMPART_ENCRYPTION_KEY?)")]
    Decrypt(String),
    /// No such key.
    #[error("no signing key {0}")]
    Unknown(String),
    /// Keys come from a file; rotate by replacing the file.
    #[error("signing keys are loaded from a file; replace the file to rotate")]
    Static,
}

/// Where private keys live: the default encrypts them into the database; another
/// implementation (a KMS) can hold them elsewhere.
pub trait KeyProvider: Send + Sync {
    /// Seals a private key for storage.
    fn seal(&self, kid: &str, secret: &[u8; 32]) -> Result<String, KeyError>;
    /// Opens a stored private key.
    fn open(&self, kid: &str, sealed: &str) -> Result<[u8; 32], KeyError>;
    /// Whether a sealed key should be sealed again (the encryption key rotated).
    fn needs_reseal(&self, _sealed: &str) -> bool {
        false
    }
}

/// The default provider: XChaCha20-Poly1305 under the rotatable encryption key ring,
/// bound to the key's ID by the associated data.
pub struct EncryptedAtRest(pub KeyRing);

fn aad(kid: &str) -> Vec<u8> {
    format!("signing_keys.private_key_enc:{kid}").into_bytes()
}

impl KeyProvider for EncryptedAtRest {
    fn seal(&self, kid: &str, secret: &[u8; 32]) -> Result<String, KeyError> {
        self.0
            .encrypt(secret, &aad(kid))
            .map_err(|_| KeyError::Decrypt(kid.to_owned()))
    }
    fn open(&self, kid: &str, sealed: &str) -> Result<[u8; 32], KeyError> {
        let v = self
            .0
            .decrypt(sealed, &aad(kid))
            .map_err(|_| KeyError::Decrypt(kid.to_owned()))?;
        v.try_into().map_err(|_| KeyError::Decrypt(kid.to_owned()))
    }
    fn needs_reseal(&self, sealed: &str) -> bool {
        self.0.needs_reencrypt(sealed)
    }
}

/// What the running server signs and verifies with.
pub struct KeySet {
    /// The active key (signs new tokens).
    pub signer: Option<SigningKey>,
    /// Active and retained public keys.
    pub verifier: Verifier,
    /// The JWKS document (active first, then retained, newest first).
    pub jwks: Value,
}

/// Manages keys for one server.
pub struct KeyManager {
    db: Db,
    provider: Arc<dyn KeyProvider>,
    static_key: Option<SigningKey>,
    set: RwLock<Arc<KeySet>>,
    /// Serialises reloads so a slow one that read the table earlier can never install
    /// its older view over a newer one (a revoked key must not come back).
    reloading: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for KeyManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyManager")
    }
}

fn new_kid(now_ms: i64) -> String {
    let mut r = [0u8; 4];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut r);
    format!("k{}-{}", now_ms / 1000, hex::encode(r))
}

impl KeyManager {
    /// Keys from the database, sealed by `provider`.
    pub fn new(db: Db, provider: Arc<dyn KeyProvider>) -> Self {
        Self {
            db,
            provider,
            static_key: None,
            reloading: tokio::sync::Mutex::new(()),
            set: RwLock::new(Arc::new(KeySet {
                signer: None,
                verifier: Verifier::new(),
                jwks: json!({"keys": []}),
            })),
        }
    }

    /// One key loaded from a file (32 raw bytes, base64 or hex); no rotation.
    pub fn from_static(db: Db, key_bytes: [u8; 32]) -> Self {
        let pubk = SigningKey::from_bytes("static", key_bytes).verifying_key();
        let kid = format!("file-{}", &hex::encode(pubk.as_bytes())[..12]);
        let key = SigningKey::from_bytes(kid, key_bytes);
        let mut m = Self::new(db, Arc::new(NoProvider));
        m.static_key = Some(key);
        m
    }

    /// The current key set.
    pub fn current(&self) -> Arc<KeySet> {
        match self.set.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Reloads from the database, creating the first key when there is none.
    pub async fn reload(&self, now_ms: i64, access_ttl_ms: i64) -> Result<(), KeyError> {
        let _guard = self.reloading.lock().await;
        if let Some(k) = &self.static_key {
            let mut v = Verifier::new();
            v.insert(k.kid(), k.verifying_key());
            self.install(KeySet {
                signer: Some(k.clone()),
                verifier: v,
                jwks: json!({"keys": [k.public_jwk()]}),
            });
            return Ok(());
        }
        let mut rows = keys::list(&self.db).await?;
        if !rows.iter().any(|r| r.state == "active") {
            self.rotate(now_ms, access_ttl_ms).await?;
            rows = keys::list(&self.db).await?;
        }
        let mut signer = None;
        let mut verifier = Verifier::new();
        let mut active_jwks = Vec::new();
        let mut retained_jwks = Vec::new();
        for r in &rows {
            let live = match r.state.as_str() {
                "active" => true,
                "retained" => r.validate_until.is_some_and(|t| t > now_ms),
                _ => false,
            };
            if !live {
                continue;
            }
            let secret = self.provider.open(&r.kid, &r.private_key_enc)?;
            // Lazy re-encryption: after an encryption-key rotation, keys sealed under an
            // older key are sealed again under the active one.
            if self.provider.needs_reseal(&r.private_key_enc) {
                let resealed = self.provider.seal(&r.kid, &secret)?;
                keys::set_private(&self.db, &r.kid, &resealed).await?;
            }
            let key = SigningKey::from_bytes(r.kid.clone(), secret);
            verifier.insert(r.kid.clone(), key.verifying_key());
            if r.state == "active" {
                active_jwks.push(key.public_jwk());
                if signer.is_none() {
                    signer = Some(key);
                }
            } else {
                retained_jwks.push(key.public_jwk());
            }
        }
        active_jwks.extend(retained_jwks);
        self.install(KeySet {
            signer,
            verifier,
            jwks: json!({ "keys": active_jwks }),
        });
        Ok(())
    }

    fn install(&self, set: KeySet) {
        match self.set.write() {
            Ok(mut g) => *g = Arc::new(set),
            Err(p) => *p.into_inner() = Arc::new(set),
        }
    }

    /// Generates a new active key; the previous one keeps validating for
    /// `access_ttl_ms` (the longest an access token it signed can live). Returns the
    /// new key ID.
    pub async fn rotate(&self, now_ms: i64, access_ttl_ms: i64) -> Result<String, KeyError> {
        if self.static_key.is_some() {
            return Err(KeyError::Static);
        }
        let kid = new_kid(now_ms);
        let key = SigningKey::generate(kid.clone());
        let row = KeyRow {
            kid: kid.clone(),
            algorithm: jwt::ALG.to_owned(),
            private_key_enc: self.provider.seal(&kid, &key.secret_bytes())?,
            public_key: URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes()),
            state: "active".into(),
            created_at: now_ms,
            validate_until: None,
        };
        let mut tx = self.db.begin().await?;
        // Small clock margin so a token minted right before rotation never outlives its key.
        keys::rotate(&mut tx, &row, now_ms, now_ms + access_ttl_ms + 60_000).await?;
        tx.commit().await?;
        Ok(kid)
    }

    /// Revokes a key at once (emergency). When it was the active key a new one is
    /// generated so the server keeps issuing tokens.
    pub async fn revoke(&self, kid: &str, now_ms: i64, access_ttl_ms: i64) -> Result<(), KeyError> {
        if self.static_key.is_some() {
            return Err(KeyError::Static);
        }
        let mut tx = self.db.begin().await?;
        if !keys::revoke(&mut tx, kid, now_ms).await? {
            return Err(KeyError::Unknown(kid.to_owned()));
        }
        tx.commit().await?;
        self.reload(now_ms, access_ttl_ms).await
    }

    /// The age of the active key in ms (for scheduled rotation).
    pub async fn active_age_ms(&self, now_ms: i64) -> Result<Option<i64>, KeyError> {
        Ok(keys::list(&self.db)
            .await?
            .iter()
            .find(|r| r.state == "active")
            .map(|r| now_ms - r.created_at))
    }

    /// Signs claims with the active key.
    pub fn sign(&self, claims: &AccessClaims) -> Option<(String, String)> {
        let set = self.current();
        let k = set.signer.as_ref()?;
        Some((jwt::sign(k, claims), k.kid().to_owned()))
    }

    /// Verifies a token against active and retained keys.
    pub fn verify(
        &self,
        token: &str,
        now_secs: i64,
        iss: &str,
        aud: &str,
    ) -> Result<AccessClaims, JwtError> {
        self.current().verifier.verify(token, now_secs, iss, aud)
    }
}

struct NoProvider;

impl KeyProvider for NoProvider {
    fn seal(&self, _kid: &str, _secret: &[u8; 32]) -> Result<String, KeyError> {
        Err(KeyError::Static)
    }
    fn open(&self, _kid: &str, _sealed: &str) -> Result<[u8; 32], KeyError> {
        Err(KeyError::Static)
    }
}
