//! Shared helpers: Redis opt-in via environment and unique namespaces.

use rampart_security::ratelimit::Limiter;

/// Environment variable naming the Redis used by the Redis-backed tests.
pub const REDIS_ENV: &str = "RAMPART_TEST_REDIS_URL";

/// A realistic unix-millis origin, so Lua's doubles see real magnitudes.
pub const T0: i64 = 1_700_000_000_000;

/// A random string so parallel tests never share a key.
pub fn unique(label: &str) -> String {
    format!("{label}{:016x}", rand::random::<u64>())
}

/// The Redis URL, or `None` after printing why the test is skipped.
pub fn redis_url() -> Option<String> {
    match std::env::var(REDIS_ENV) {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            println!("SKIPPED: {REDIS_ENV} is not set; Redis rate-limit tests skipped");
            None
        }
    }
}

/// A Redis limiter under a fresh random prefix, or `None` when Redis is not configured.
pub async fn redis_limiter() -> Option<Limiter> {
    let url = redis_url()?;
    let prefix = unique("rampart:test:rl:") + ":";
    Some(
        Limiter::redis(&url, &prefix)
            .await
            .expect("RAMPART_TEST_REDIS_URL is set but Redis is unreachable"),
    )
}
