//! Exact sliding-window (sliding log) rate limiting, in process memory or in
//! Redis shared by every instance.
//!
//! # Semantics
//!
//! For each `(policy, key)` pair the limiter guarantees that no rolling window
//! of `policy.window_ms` milliseconds ever contains more than `policy.limit`
//! *accepted* requests. A request at `now_ms` is accepted when fewer than
//! `limit` accepted requests have a timestamp `t` with `now_ms - t < window_ms`
//! (an entry stops counting exactly `window_ms` ms after it was recorded).
//! Refused requests are never recorded, so a client hammering a closed window
//! does not extend its own lock-out.
//!
//! # Several policies per request: all are charged
//!
//! A request is usually subject to several pairs (per IP and per account, per
//! minute and per hour). It is allowed only if *every* pair has room, and every
//! pair that has room records the request even when another pair refuses it.
//! Charging all pairs is deliberate: an attacker spreading a credential-stuffing
//! run over many accounts from one IP must still burn the per-account budgets
//! of the accounts tried, and "refund" logic would be a race between
//! instances. The price is that a refused request can still consume quota on
//! its other pairs; the stricter policy wins the decision either way.
//!
//! # Time
//!
//! The caller passes `now_ms` (unix milliseconds from an injectable clock); the
//! limiter never reads the system clock, which keeps it deterministic in tests
//! and lets every instance sharing Redis use its own wall clock.
//!
//! See `docs/design/rate-limits.md` for the threat model, the memory bound and
//! the failure mode when Redis is unreachable.

mod memory;
mod names;
mod redis_backend;

use std::fmt;

pub use memory::MemoryLimiter;
pub use names::{PolicyName, UnknownPolicy};
pub use redis_backend::RedisLimiter;

/// Windows are clamped to this many milliseconds (~8900 years) so that
/// `now - window` can neither overflow an `i64` nor lose precision in Lua's
/// doubles.
pub(crate) const MAX_WINDOW_MS: u64 = 1 << 48;

/// A named limit: at most `limit` accepted requests per `window_ms` for each key.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Policy {
    /// Stable identifier, used in storage keys and headers; must not contain `:`
    /// so that Redis keys `{prefix}{policy}:{key}` stay unambiguous.
    pub name: String,
    /// Maximum number of accepted requests in any rolling window.
    pub limit: u32,
    /// Window length in milliseconds; `0` is treated as `1`.
    pub window_ms: u64,
}

impl Policy {
    /// A policy allowing `limit` requests per `window_ms` milliseconds.
    pub fn new(name: impl Into<String>, limit: u32, window_ms: u64) -> Self {
        Self {
            name: name.into(),
            limit,
            window_ms,
        }
    }

    /// A policy allowing `limit` requests per second.
    pub fn per_second(name: impl Into<String>, limit: u32) -> Self {
        Self::new(name, limit, 1_000)
    }

    /// A policy allowing `limit` requests per minute.
    pub fn per_minute(name: impl Into<String>, limit: u32) -> Self {
        Self::new(name, limit, 60_000)
    }

    /// A policy allowing `limit` requests per hour.
    pub fn per_hour(name: impl Into<String>, limit: u32) -> Self {
        Self::new(name, limit, 3_600_000)
    }

    /// The window in whole seconds, rounded up (for `RateLimit-Policy: 10;w=60`).
    pub fn window_secs(&self) -> u64 {
        self.window_ms.div_ceil(1_000)
    }

    /// The window actually enforced, in milliseconds.
    pub(crate) fn effective_window_ms(&self) -> i64 {
        // The clamp keeps the value far below i64::MAX, so the cast is lossless.
        self.window_ms.clamp(1, MAX_WINDOW_MS) as i64
    }
}

/// Outcome of one policy for one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// The policy that was applied.
    pub policy: Policy,
    /// Whether this pair had room (and therefore recorded the request).
    pub allowed: bool,
    /// Requests still accepted in the current window after this one; `0` when refused.
    pub remaining: u32,
    /// Milliseconds until the oldest recorded entry leaves the window, i.e.
    /// until `remaining` grows by one. When refused this is exactly how long
    /// the client must wait. `window_ms` when nothing is recorded (limit 0).
    pub reset_after_ms: u64,
}

impl Decision {
    /// [`Decision::reset_after_ms`] in whole seconds, rounded up.
    pub fn reset_after_secs(&self) -> u64 {
        self.reset_after_ms.div_ceil(1_000)
    }
}

/// Combined outcome of several policies applied to one request: the request is
/// allowed only if every decision allows it (all pairs are charged).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Verdict {
    /// One decision per `(policy, key)` pair, in the order they were checked.
    pub decisions: Vec<Decision>,
}

impl Verdict {
    /// True when every pair had room (vacuously true for no pairs).
    pub fn allowed(&self) -> bool {
        self.decisions.iter().all(|d| d.allowed)
    }

    /// The decision to expose in response headers: if refused, the refusing
    /// decision with the longest wait; otherwise the one with the least
    /// remaining quota. Ties go to the earliest pair.
    pub fn binding(&self) -> Option<&Decision> {
        if self.allowed() {
            self.decisions.iter().min_by_key(|d| d.remaining)
        } else {
            // `Reverse` with `min_by_key` keeps the earliest of equal waits.
            self.decisions
                .iter()
                .filter(|d| !d.allowed)
                .min_by_key(|d| std::cmp::Reverse(d.reset_after_ms))
        }
    }

    /// Seconds the client should wait before retrying (`Retry-After`), rounded
    /// up and at least 1; `None` when the request is allowed.
    pub fn retry_after_secs(&self) -> Option<u64> {
        if self.allowed() {
            return None;
        }
        self.binding().map(|d| d.reset_after_secs().max(1))
    }
}

/// Why a limit could not be evaluated. The limiter never decides on the
/// caller's behalf whether to fail open or closed.
#[derive(Debug, thiserror::Error)]
pub enum LimitError {
    /// The Redis backend could not be reached or returned an error.
    #[error("rate-limit backend unavailable: {0}")]
    Backend(#[from] redis::RedisError),
    /// The Redis script answered with something this code does not understand.
    #[error("rate-limit backend returned an unexpected reply: {0}")]
    UnexpectedReply(String),
}

/// A rate limiter: cheap to clone (shared state behind an `Arc`), `Send + Sync`.
#[derive(Clone)]
pub enum Limiter {
    /// Per-process limits; exact but not shared between instances.
    Memory(MemoryLimiter),
    /// Limits shared by every instance through one Redis.
    Redis(RedisLimiter),
}

impl fmt::Debug for Limiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Limiter")
            .field(&self.backend_name())
            .finish()
    }
}

impl Limiter {
    /// An in-memory limiter with the default shard count.
    pub fn memory() -> Self {
        Self::Memory(MemoryLimiter::new())
    }

    /// A Redis limiter; `prefix` namespaces every key (e.g. `"rampart:rl:"`).
    pub async fn redis(url: &str, prefix: &str) -> Result<Self, LimitError> {
        Ok(Self::Redis(RedisLimiter::connect(url, prefix).await?))
    }

    /// Applies every `(policy, key)` pair to one request at `now_ms`.
    ///
    /// Each pair with room records the request; the request is allowed only if
    /// all pairs had room. With Redis all pairs are evaluated in one atomic
    /// script call.
    pub async fn check(
        &self,
        checks: &[(&Policy, &str)],
        now_ms: i64,
    ) -> Result<Verdict, LimitError> {
        match self {
            Self::Memory(m) => Ok(m.check(checks, now_ms)),
            Self::Redis(r) => r.check(checks, now_ms).await,
        }
    }

    /// `"memory"` or `"redis"`, for logs and metrics labels.
    pub fn backend_name(&self) -> &'static str {
        match self {
            Self::Memory(_) => "memory",
            Self::Redis(_) => "redis",
        }
    }

    /// Number of `(policy, key)` pairs currently held in memory; `None` for Redis.
    #[doc(hidden)]
    pub fn key_count(&self) -> Option<usize> {
        match self {
            Self::Memory(m) => Some(m.key_count()),
            Self::Redis(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(allowed: bool, remaining: u32, reset: u64) -> Decision {
        Decision {
            policy: Policy::per_minute("p", 5),
            allowed,
            remaining,
            reset_after_ms: reset,
        }
    }

    #[test]
    fn binding_prefers_longest_refusal() {
        let v = Verdict {
            decisions: vec![d(true, 3, 10), d(false, 0, 1_500), d(false, 0, 9_001)],
        };
        assert!(!v.allowed());
        assert_eq!(v.binding().map(|b| b.reset_after_ms), Some(9_001));
        assert_eq!(v.retry_after_secs(), Some(10));
    }

    #[test]
    fn binding_prefers_least_remaining_when_allowed() {
        let v = Verdict {
            decisions: vec![d(true, 3, 10), d(true, 1, 1_500), d(true, 1, 9)],
        };
        assert!(v.allowed());
        assert_eq!(v.binding().map(|b| b.reset_after_ms), Some(1_500));
        assert_eq!(v.retry_after_secs(), None);
    }

    #[test]
    fn retry_after_is_at_least_one_second() {
        let v = Verdict {
            decisions: vec![d(false, 0, 1)],
        };
        assert_eq!(v.retry_after_secs(), Some(1));
        assert_eq!(Verdict::default().binding(), None);
        assert!(Verdict::default().allowed());
    }

    #[test]
    fn limiter_is_shareable() {
        fn assert_shareable<T: Clone + Send + Sync + 'static>() {}
        assert_shareable::<Limiter>();
        assert_shareable::<Verdict>();
        assert_eq!(format!("{:?}", Limiter::memory()), "Limiter(\"memory\")");
    }

    #[test]
    fn window_secs_rounds_up() {
        assert_eq!(Policy::new("p", 1, 1_001).window_secs(), 2);
        assert_eq!(Policy::per_hour("p", 1).window_secs(), 3_600);
        assert_eq!(Policy::new("p", 1, 0).effective_window_ms(), 1);
    }
}
