//! Password hashing (argon2id, PHC strings) with bounded concurrency, plus the policy
//! check for newly chosen passwords.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Version};
use tokio::sync::{OnceCell, OwnedSemaphorePermit, Semaphore, TryAcquireError};

use crate::secret::SecretString;

/// Minimum accepted length of a new password, in characters.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Maximum accepted length of a new password, in characters.
pub const MAX_PASSWORD_CHARS: usize = 128;

// Only ever hashed to give unknown users the same cost as known ones; its value is irrelevant.
const DUMMY_PASSWORD: &str = "rampart-dummy-password-for-timing-equalisation";

/// Errors from hashing or verifying.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    /// Too many hash operations are running and queued; the caller should answer 503/429.
    #[error("password hasher is busy")]
    Busy,
    /// The stored hash is not a parseable argon2 PHC string.
    #[error("stored password hash is malformed")]
    InvalidHash,
    /// The configured parameters are outside what argon2 accepts, or the limits are zero.
    #[error("invalid password hashing parameters: {0}")]
    InvalidParams(String),
    /// The blocking task failed (panicked or was cancelled at shutdown) or argon2 failed.
    #[error("password hashing failed")]
    Internal,
}

/// argon2id cost parameters. `Default` is the OWASP minimum: m=19456 KiB, t=2, p=1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashParams {
    /// Memory cost in KiB.
    pub m_cost_kib: u32,
    /// Number of passes.
    pub t_cost: u32,
    /// Degree of parallelism (lanes).
    pub p_cost: u32,
}

impl Default for HashParams {
    fn default() -> Self {
        Self {
            m_cost_kib: 19_456,
            t_cost: 2,
            p_cost: 1,
        }
    }
}

impl HashParams {
    fn to_argon2(self) -> Result<argon2::Params, PasswordError> {
        argon2::Params::new(self.m_cost_kib, self.t_cost, self.p_cost, None)
            .map_err(|e| PasswordError::InvalidParams(e.to_string()))
    }
}

/// Result of a successful verification run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    /// The password matches the stored hash.
    pub ok: bool,
    /// The password matched but the stored hash uses weaker parameters (or another argon2
    /// variant) than the current ones: store a fresh `hash()` of the same password.
    pub needs_rehash: bool,
}

/// argon2id hasher. Cheap to clone (all clones share one concurrency limit).
///
/// Hashing runs on `spawn_blocking`; at most `max_in_flight` run at once and at most
/// `max_queued` wait for a slot. Beyond that callers get [`PasswordError::Busy`] at once, so a
/// login flood costs a bounded amount of memory (each hash holds `m_cost_kib` KiB).
#[derive(Debug, Clone)]
pub struct PasswordHasher {
    params: HashParams,
    argon_params: argon2::Params,
    semaphore: Arc<Semaphore>,
    queued: Arc<AtomicUsize>,
    max_queued: usize,
    dummy_hash: Arc<OnceCell<String>>,
}

/// Releases a queue slot even when the waiting future is dropped (client went away).
struct QueueSlot<'a>(&'a AtomicUsize);

impl Drop for QueueSlot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl PasswordHasher {
    /// Builds a hasher. `max_in_flight` must be at least 1; `max_queued` may be 0 (refuse
    /// whenever all slots are busy).
    pub fn new(
        params: HashParams,
        max_in_flight: usize,
        max_queued: usize,
    ) -> Result<Self, PasswordError> {
        if max_in_flight == 0 || max_in_flight > Semaphore::MAX_PERMITS {
            return Err(PasswordError::InvalidParams(
                "max_in_flight must be between 1 and Semaphore::MAX_PERMITS".into(),
            ));
        }
        Ok(Self {
            params,
            argon_params: params.to_argon2()?,
            semaphore: Arc::new(Semaphore::new(max_in_flight)),
            queued: Arc::new(AtomicUsize::new(0)),
            max_queued,
            dummy_hash: Arc::new(OnceCell::new()),
        })
    }

    /// The parameters new hashes are made with.
    pub fn params(&self) -> HashParams {
        self.params
    }

    /// Callers currently waiting for a hashing slot (for metrics).
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::Acquire)
    }

    /// Hashing slots currently free (for metrics).
    pub fn available_slots(&self) -> usize {
        self.semaphore.available_permits()
    }

    /// Hashes a password into a PHC string (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`).
    pub async fn hash(&self, pw: &SecretString) -> Result<String, PasswordError> {
        let pw = pw.clone();
        let params = self.argon_params.clone();
        self.run_blocking(move || hash_blocking(params, pw.expose().as_bytes()))
            .await?
    }

    /// Verifies a password against a stored PHC string. A wrong password is `Ok` with
    /// `ok: false`; only malformed hashes, overload and internal failures are errors.
    pub async fn verify(&self, pw: &SecretString, phc: &str) -> Result<Verified, PasswordError> {
        let pw = pw.clone();
        let phc = phc.to_owned();
        let current = self.params;
        self.run_blocking(move || verify_blocking(current, pw.expose().as_bytes(), &phc))
            .await?
    }

    /// Spends the same work as a real `verify` for a user that does not exist, so response
    /// time does not reveal which accounts exist. The outcome is discarded.
    pub async fn verify_dummy(&self, pw: &SecretString) -> Result<(), PasswordError> {
        let dummy = self
            .dummy_hash
            .get_or_try_init(|| async { self.hash(&SecretString::from(DUMMY_PASSWORD)).await })
            .await?;
        self.verify(pw, dummy).await.map(|_| ())
    }

    async fn run_blocking<T, F>(&self, f: F) -> Result<T, PasswordError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let permit = self.acquire().await?;
        // The permit moves into the task: if the caller is cancelled, the slot stays taken
        // until the blocking work really ends, so cancellations cannot oversubscribe the CPU.
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            f()
        })
        .await
        .map_err(|_| PasswordError::Internal)
    }

    async fn acquire(&self) -> Result<OwnedSemaphorePermit, PasswordError> {
        match Arc::clone(&self.semaphore).try_acquire_owned() {
            Ok(permit) => return Ok(permit),
            Err(TryAcquireError::Closed) => return Err(PasswordError::Internal),
            Err(TryAcquireError::NoPermits) => {}
        }
        let max = self.max_queued;
        self.queued
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |q| {
                (q < max).then_some(q + 1)
            })
            .map_err(|_| PasswordError::Busy)?;
        let _slot = QueueSlot(&self.queued);
        Arc::clone(&self.semaphore)
            .acquire_owned()
            .await
            .map_err(|_| PasswordError::Internal)
    }
}

fn hash_blocking(params: argon2::Params, pw: &[u8]) -> Result<String, PasswordError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password(pw, &salt)
        .map(|h| h.to_string())
        .map_err(|_| PasswordError::Internal)
}

fn verify_blocking(current: HashParams, pw: &[u8], phc: &str) -> Result<Verified, PasswordError> {
    let parsed = PasswordHash::new(phc).map_err(|_| PasswordError::InvalidHash)?;
    let algorithm =
        Algorithm::try_from(parsed.algorithm).map_err(|_| PasswordError::InvalidHash)?;
    let stored = argon2::Params::try_from(&parsed).map_err(|_| PasswordError::InvalidHash)?;
    // Argon2's verifier takes algorithm, version and cost from the PHC string itself, so
    // older hashes (argon2i, lower costs) still verify and can then be upgraded.
    match Argon2::default().verify_password(pw, &parsed) {
        Ok(()) => {
            let needs_rehash = algorithm != Algorithm::Argon2id
                || parsed.version != Some(Version::V0x13.into())
                || stored.m_cost() < current.m_cost_kib
                || stored.t_cost() < current.t_cost
                || stored.p_cost() < current.p_cost;
            Ok(Verified {
                ok: true,
                needs_rehash,
            })
        }
        Err(argon2::password_hash::Error::Password) => Ok(Verified {
            ok: false,
            needs_rehash: false,
        }),
        Err(_) => Err(PasswordError::InvalidHash),
    }
}

/// Why a new password was refused. [`PasswordIssue::code`] gives a stable string for APIs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordIssue {
    /// Fewer than `min` characters.
    #[error("password must have at least {min} characters")]
    TooShort {
        /// Minimum number of characters.
        min: usize,
    },
    /// More than `max` characters.
    #[error("password must have at most {max} characters")]
    TooLong {
        /// Maximum number of characters.
        max: usize,
    },
    /// zxcvbn scored it below 3; `warning`/`suggestions` are zxcvbn's English feedback.
    #[error("password is too easy to guess")]
    TooWeak {
        /// zxcvbn score (0–4).
        score: u8,
        /// Main reason, when zxcvbn has one.
        warning: Option<String>,
        /// Hints for a better password.
        suggestions: Vec<String>,
    },
}

impl PasswordIssue {
    /// Stable machine-readable code: `too_short`, `too_long` or `too_weak`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooShort { .. } => "too_short",
            Self::TooLong { .. } => "too_long",
            Self::TooWeak { .. } => "too_weak",
        }
    }
}

/// Checks a newly chosen password: 8..=128 characters (Unicode scalar values, not bytes)
/// and a zxcvbn score of at least 3. `user_inputs` (e-mail, username, display name) make
/// passwords derived from them score lower.
pub fn check_new_password(pw: &str, user_inputs: &[&str]) -> Result<(), Vec<PasswordIssue>> {
    let chars = pw.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err(vec![PasswordIssue::TooShort {
            min: MIN_PASSWORD_CHARS,
        }]);
    }
    if chars > MAX_PASSWORD_CHARS {
        // zxcvbn's cost grows with length; no point scoring what is refused anyway.
        return Err(vec![PasswordIssue::TooLong {
            max: MAX_PASSWORD_CHARS,
        }]);
    }
    let entropy = zxcvbn::zxcvbn(pw, user_inputs);
    if entropy.score() < zxcvbn::Score::Three {
        let feedback = entropy.feedback();
        return Err(vec![PasswordIssue::TooWeak {
            score: u8::from(entropy.score()),
            warning: feedback.and_then(|f| f.warning()).map(|w| w.to_string()),
            suggestions: feedback
                .map(|f| f.suggestions().iter().map(|s| s.to_string()).collect())
                .unwrap_or_default(),
        }]);
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    const FAST: HashParams = HashParams {
        m_cost_kib: 8,
        t_cost: 1,
        p_cost: 1,
    };

    fn pw(s: &str) -> SecretString {
        SecretString::from(s)
    }

    #[test]
    fn default_params_are_owasp_minimum() {
        assert_eq!(
            HashParams::default(),
            HashParams {
                m_cost_kib: 19_456,
                t_cost: 2,
                p_cost: 1
            }
        );
    }

    #[tokio::test]
    async fn roundtrip_and_wrong_password() {
        let h = PasswordHasher::new(HashParams::default(), 2, 4).unwrap();
        let phc = h.hash(&pw("correct horse battery staple")).await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        let v = h
            .verify(&pw("correct horse battery staple"), &phc)
            .await
            .unwrap();
        assert_eq!(
            v,
            Verified {
                ok: true,
                needs_rehash: false
            }
        );
        let v = h
            .verify(&pw("correct horse battery stapler"), &phc)
            .await
            .unwrap();
        assert!(!v.ok);
        assert!(!v.needs_rehash);
    }

    #[tokio::test]
    async fn salts_differ() {
        let h = PasswordHasher::new(FAST, 1, 4).unwrap();
        let a = h.hash(&pw("same")).await.unwrap();
        let b = h.hash(&pw("same")).await.unwrap();
        assert_ne!(a, b);
    }

    #[tokio::test]
    async fn rehash_when_params_rise() {
        let old = PasswordHasher::new(FAST, 1, 4).unwrap();
        let phc = old.hash(&pw("pw")).await.unwrap();
        assert!(!old.verify(&pw("pw"), &phc).await.unwrap().needs_rehash);

        let new = PasswordHasher::new(
            HashParams {
                m_cost_kib: 16,
                ..FAST
            },
            1,
            4,
        )
        .unwrap();
        let v = new.verify(&pw("pw"), &phc).await.unwrap();
        assert!(v.ok && v.needs_rehash);
        let v = new.verify(&pw("nope"), &phc).await.unwrap();
        assert!(!v.ok && !v.needs_rehash);

        let more_passes = PasswordHasher::new(HashParams { t_cost: 2, ..FAST }, 1, 4).unwrap();
        assert!(
            more_passes
                .verify(&pw("pw"), &phc)
                .await
                .unwrap()
                .needs_rehash
        );
    }

    #[tokio::test]
    async fn argon2i_hash_verifies_and_needs_rehash() {
        let params = FAST.to_argon2().unwrap();
        let salt = SaltString::generate(&mut OsRng);
        let phc = Argon2::new(Algorithm::Argon2i, Version::V0x13, params)
            .hash_password(b"pw", &salt)
            .unwrap()
            .to_string();
        let h = PasswordHasher::new(FAST, 1, 4).unwrap();
        let v = h.verify(&pw("pw"), &phc).await.unwrap();
        assert!(v.ok && v.needs_rehash);
    }

    #[tokio::test]
    async fn malformed_hash_is_an_error() {
        let h = PasswordHasher::new(FAST, 1, 4).unwrap();
        assert_eq!(
            h.verify(&pw("pw"), "not a hash").await,
            Err(PasswordError::InvalidHash)
        );
        assert_eq!(
            h.verify(&pw("pw"), "$pbkdf2-sha256$i=1000$c2FsdA$aGFzaA")
                .await,
            Err(PasswordError::InvalidHash)
        );
    }

    #[tokio::test]
    async fn verify_dummy_runs() {
        let h = PasswordHasher::new(FAST, 1, 4).unwrap();
        h.verify_dummy(&pw("whatever")).await.unwrap();
        h.verify_dummy(&pw("whatever")).await.unwrap();
        assert!(h.dummy_hash.get().is_some());
    }

    #[test]
    fn invalid_params_refused() {
        assert!(matches!(
            PasswordHasher::new(
                HashParams {
                    m_cost_kib: 1,
                    ..FAST
                },
                1,
                1
            ),
            Err(PasswordError::InvalidParams(_))
        ));
        assert!(matches!(
            PasswordHasher::new(FAST, 0, 1),
            Err(PasswordError::InvalidParams(_))
        ));
    }

    #[tokio::test]
    async fn busy_when_queue_full() {
        let h = PasswordHasher::new(FAST, 1, 1).unwrap();
        // Occupy the only in-flight slot deterministically instead of racing a real hash.
        let held = Arc::clone(&h.semaphore).try_acquire_owned().unwrap();

        let waiter = {
            let h = h.clone();
            tokio::spawn(async move { h.hash(&pw("queued")).await })
        };
        while h.queued() < 1 {
            tokio::task::yield_now().await;
        }
        assert_eq!(h.available_slots(), 0);

        assert_eq!(h.hash(&pw("refused")).await, Err(PasswordError::Busy));
        assert_eq!(
            h.verify(&pw("refused"), "$argon2id$irrelevant").await,
            Err(PasswordError::Busy)
        );

        drop(held);
        assert!(waiter.await.unwrap().is_ok());
        assert_eq!(h.queued.load(Ordering::Acquire), 0);
        // Capacity is back.
        assert!(h.hash(&pw("again")).await.is_ok());
    }

    #[tokio::test]
    async fn cancelled_waiter_frees_queue_slot() {
        let h = PasswordHasher::new(FAST, 1, 1).unwrap();
        let held = Arc::clone(&h.semaphore).try_acquire_owned().unwrap();
        let waiter = {
            let h = h.clone();
            tokio::spawn(async move { h.hash(&pw("queued")).await })
        };
        while h.queued.load(Ordering::Acquire) < 1 {
            tokio::task::yield_now().await;
        }
        waiter.abort();
        let _ = waiter.await;
        assert_eq!(h.queued.load(Ordering::Acquire), 0);
        drop(held);
    }

    #[test]
    fn new_password_policy() {
        let codes = |r: Result<(), Vec<PasswordIssue>>| {
            r.err()
                .unwrap_or_default()
                .iter()
                .map(PasswordIssue::code)
                .collect::<Vec<_>>()
        };
        assert_eq!(codes(check_new_password("short", &[])), ["too_short"]);
        // 7 multi-byte characters are still too short even though they are > 8 bytes.
        assert_eq!(codes(check_new_password("ééééééé", &[])), ["too_short"]);
        assert_eq!(
            codes(check_new_password(&"x".repeat(129), &[])),
            ["too_long"]
        );
        assert_eq!(codes(check_new_password("password123", &[])), ["too_weak"]);
        // Strong on its own, weak once it is known to be the user's own handle.
        assert!(check_new_password("quixotic-zanzibar", &[]).is_ok());
        assert_eq!(
            codes(check_new_password(
                "quixotic-zanzibar",
                &["quixotic-zanzibar"]
            )),
            ["too_weak"]
        );
        assert!(check_new_password("correct horse battery staple", &[]).is_ok());
        assert!(check_new_password("Tr0ub4dor&3-gleaming-walrus", &["bob"]).is_ok());
    }

    #[test]
    fn weak_feedback_is_reported() {
        let issues = check_new_password("password123", &[]).unwrap_err();
        match &issues[0] {
            PasswordIssue::TooWeak { score, .. } => assert!(*score < 3),
            other => panic!("unexpected {other:?}"),
        }
    }
}
