//! Secrets (F2): the CSRF key, the session key, the encryption key ring and the audit
//! key ring come from the environment (`RAMPART_CSRF_KEY`, `RAMPART_SESSION_KEY`,
//! `RAMPART_ENCRYPTION_KEY`, `RAMPART_AUDIT_KEY`; `RAMPART_AUDIT_ANCHOR_KEY` for
//! `audit anchor`) or from files they name
//! (`…_FILE`). In development, missing ones are generated once into
//! `<data_dir>/secrets/` with 0600 permissions; in production a missing or short
//! secret stops the server with the variable's name.

use crate::config::{Config, Mode};
use anyhow::{bail, Context, Result};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use rampart_audit::{AnchorKey, AnchorPublicKey, AuditKeys};
use rampart_identity::crypto::KeyRing;
use rand::RngCore;
use std::path::Path;

/// Minimum key length in bytes.
pub const MIN_KEY_BYTES: usize = 32;

/// The loaded secrets. Debug output is redacted.
pub struct Secrets {
    /// HMAC key for CSRF tokens.
    pub csrf_key: Vec<u8>,
    /// Key that derives refresh-token successors (so a repeat within the grace window
    /// gets the same successor without storing plaintext tokens).
    pub session_key: Vec<u8>,
    /// A signing key loaded from `RAMPART_SIGNING_KEY_FILE` instead of the database.
    pub signing_key_file: Option<[u8; 32]>,
    /// Encryption key ring for fields at rest (TOTP secrets, signing keys).
    pub encryption: KeyRing,
    /// Bearer secret of the metrics listener (`RAMPART_METRICS_TOKEN`), if any.
    pub metrics_token: Option<String>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secrets(<redacted>)")
    }
}

fn decode_key(raw: &str) -> Vec<u8> {
    let t = raw.trim();
    if let Ok(b) = hex::decode(t) {
        return b;
    }
    if let Ok(b) = URL_SAFE_NO_PAD.decode(t.trim_end_matches('=')) {
        return b;
    }
    if let Ok(b) = STANDARD.decode(t) {
        return b;
    }
    t.as_bytes().to_vec()
}

/// Reads `RAMPART_{name}` or the file in `RAMPART_{name}_FILE`.
pub(crate) fn from_env(name: &str) -> Result<Option<String>> {
    let var = format!("RAMPART_{name}");
    if let Ok(v) = std::env::var(&var) {
        if !v.trim().is_empty() {
            return Ok(Some(v.trim().to_owned()));
        }
    }
    let file_var = format!("{var}_FILE");
    if let Ok(p) = std::env::var(&file_var) {
        let v =
            std::fs::read_to_string(&p).with_context(|| format!("{file_var}: cannot read {p}"))?;
        return Ok(Some(v.trim().to_owned()));
    }
    Ok(None)
}

#[cfg(unix)]
fn restrict(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("chmod {}", path.display()))
}

#[cfg(not(unix))]
fn restrict(_path: &Path, _mode: u32) -> Result<()> {
    Ok(())
}

/// Reads a generated secret, or creates it (0600 in a 0700 folder).
fn generated(data_dir: &Path, file: &str, make: impl FnOnce() -> String) -> Result<String> {
    let dir = data_dir.join("secrets");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    restrict(&dir, 0o700)?;
    let path = dir.join(file);
    if path.exists() {
        return Ok(std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?
            .trim()
            .to_owned());
    }
    let value = make();
    #[cfg(unix)]
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("creating {}", path.display()))?;
        f.write_all(value.as_bytes())?;
    }
    #[cfg(not(unix))]
    std::fs::write(&path, &value)?;
    tracing::info!(file = %path.display(), "generated development secret");
    Ok(value)
}

fn random_b64() -> String {
    let mut k = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut k);
    URL_SAFE_NO_PAD.encode(k)
}

/// Loads (or in development generates) every secret.
pub fn load(cfg: &Config) -> Result<Secrets> {
    let dev = cfg.mode == Mode::Development;
    let csrf_raw = match from_env("CSRF_KEY")? {
        Some(v) => v,
        None if dev => generated(&cfg.data_dir, "csrf.key", random_b64)?,
        None => bail!("RAMPART_CSRF_KEY (or RAMPART_CSRF_KEY_FILE) is required in production: 32+ random bytes, base64 or hex"),
    };
    let csrf_key = decode_key(&csrf_raw);
    if csrf_key.len() < MIN_KEY_BYTES {
        bail!("RAMPART_CSRF_KEY is too short: it must decode to at least {MIN_KEY_BYTES} bytes");
    }
    let session_raw = match from_env("SESSION_KEY")? {
        Some(v) => v,
        None if dev => generated(&cfg.data_dir, "session.key", random_b64)?,
        None => bail!("RAMPART_SESSION_KEY (or RAMPART_SESSION_KEY_FILE) is required in production: 32+ random bytes, base64 or hex"),
    };
    let session_key = decode_key(&session_raw);
    if session_key.len() < MIN_KEY_BYTES {
        bail!("RAMPART_SESSION_KEY is too short: it must decode to at least {MIN_KEY_BYTES} bytes");
    }
    let signing_key_file = match std::env::var("RAMPART_SIGNING_KEY_FILE") {
        Ok(p) if !p.trim().is_empty() => {
            let raw = std::fs::read_to_string(&p)
                .with_context(|| format!("RAMPART_SIGNING_KEY_FILE: cannot read {p}"))?;
            let bytes = decode_key(&raw);
            let arr: [u8; 32] = bytes
                .try_into()
                .map_err(|_| anyhow::anyhow!("RAMPART_SIGNING_KEY_FILE must hold exactly 32 bytes (an Ed25519 seed), base64 or hex"))?;
            Some(arr)
        }
        _ => None,
    };
    let enc_raw = match from_env("ENCRYPTION_KEY")? {
        Some(v) => v,
        None if dev => generated(&cfg.data_dir, "encryption.key", || format!("k1:{}", random_b64()))?,
        None => bail!("RAMPART_ENCRYPTION_KEY (or RAMPART_ENCRYPTION_KEY_FILE) is required in production: \"k1:<base64 32 bytes>\" (first entry active; list older keys after it to rotate)"),
    };
    let encryption = if enc_raw.contains(':') {
        KeyRing::parse(&enc_raw)
    } else {
        KeyRing::from_single("k1", &decode_key(&enc_raw))
    }
    .map_err(|e| anyhow::anyhow!("RAMPART_ENCRYPTION_KEY is invalid: {e}"))?;
    let metrics_token = metrics_token(cfg)?;
    load_audit_keys(cfg)?;
    Ok(Secrets {
        csrf_key,
        session_key,
        signing_key_file,
        encryption,
        metrics_token,
    })
}

/// The metrics listener's bearer secret (`RAMPART_METRICS_TOKEN`), checked: long
/// enough, and required in production for a listener off loopback.
pub fn metrics_token(cfg: &Config) -> Result<Option<String>> {
    let metrics_token = from_env("METRICS_TOKEN")?;
    if let Some(t) = &metrics_token {
        if t.len() < MIN_KEY_BYTES {
            bail!("RAMPART_METRICS_TOKEN is too short: use at least {MIN_KEY_BYTES} characters");
        }
    }
    if let Some(bind) = cfg.metrics_bind {
        if cfg.mode != Mode::Development && metrics_token.is_none() && !bind.ip().is_loopback() {
            bail!("RAMPART_METRICS_BIND {bind} is not a loopback address: set RAMPART_METRICS_TOKEN (or RAMPART_METRICS_TOKEN_FILE) in production");
        }
    }
    Ok(metrics_token)
}

/// Loads the audit key ring (`RAMPART_AUDIT_KEY`, `kid:base64[,kid:base64…]`, first
/// active) and installs it for this process, so every `audit::record` (the identity
/// service's included) writes keyed rows. Production refuses to go on without it; in
/// development it is generated once into `<data_dir>/secrets/audit.key` (reusing the
/// ring already installed in this process, so several test servers in one process
/// agree).
pub fn load_audit_keys(cfg: &Config) -> Result<&'static AuditKeys> {
    // Check, generate and install as one step: two servers starting at once in one
    // process (tests) must not each generate a ring and race to install it.
    static LOADING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = LOADING.lock().unwrap_or_else(|e| e.into_inner());
    let raw = match from_env("AUDIT_KEY")? {
        Some(v) => v,
        None if cfg.mode == Mode::Development => generated(&cfg.data_dir, "audit.key", || {
            match rampart_audit::installed_keys() {
                Some(k) => k.to_secret_string(),
                None => format!("k1:{}", random_b64()),
            }
        })?,
        None => bail!("RAMPART_AUDIT_KEY (or RAMPART_AUDIT_KEY_FILE) is required in production: \"k1:<base64 32 bytes>\" (first entry active; list older keys after it to rotate, and keep them while rows hashed with them are kept)"),
    };
    let ring = if raw.contains(':') {
        AuditKeys::parse(&raw)
    } else {
        AuditKeys::new(vec![("k1".to_owned(), decode_key(&raw))])
    }
    .map_err(|e| anyhow::anyhow!("RAMPART_AUDIT_KEY is invalid: {e}"))?;
    rampart_audit::install_keys(ring).map_err(|e| anyhow::anyhow!("RAMPART_AUDIT_KEY: {e}"))
}

fn seed32(name: &str, raw: &str) -> Result<[u8; 32]> {
    decode_key(raw)
        .try_into()
        .map_err(|_| anyhow::anyhow!("{name} must hold exactly 32 bytes (Ed25519), base64 or hex"))
}

/// The Ed25519 key that signs audit anchors (`RAMPART_AUDIT_ANCHOR_KEY`, a 32-byte
/// seed). Only `rampart audit anchor` needs it; in development it is generated once
/// into `<data_dir>/secrets/audit-anchor.key`.
pub fn anchor_key(cfg: &Config) -> Result<AnchorKey> {
    let raw = match from_env("AUDIT_ANCHOR_KEY")? {
        Some(v) => v,
        None if cfg.mode == Mode::Development => {
            generated(&cfg.data_dir, "audit-anchor.key", random_b64)?
        }
        None => bail!("RAMPART_AUDIT_ANCHOR_KEY (or RAMPART_AUDIT_ANCHOR_KEY_FILE) is required in production to sign audit anchors: 32 random bytes (an Ed25519 seed), base64 or hex"),
    };
    Ok(AnchorKey::from_seed(&seed32(
        "RAMPART_AUDIT_ANCHOR_KEY",
        &raw,
    )?))
}

/// The public key that checks audit anchors: `RAMPART_AUDIT_ANCHOR_PUBLIC_KEY` (32
/// bytes, base64 or hex; so a verifier needs no signing key), else derived from the
/// anchor key.
pub fn anchor_public_key(cfg: &Config) -> Result<AnchorPublicKey> {
    match from_env("AUDIT_ANCHOR_PUBLIC_KEY")? {
        Some(v) => AnchorPublicKey::from_bytes(&seed32("RAMPART_AUDIT_ANCHOR_PUBLIC_KEY", &v)?)
            .ok_or_else(|| {
                anyhow::anyhow!("RAMPART_AUDIT_ANCHOR_PUBLIC_KEY is not an Ed25519 public key")
            }),
        None => Ok(anchor_key(cfg)?.public()),
    }
}
