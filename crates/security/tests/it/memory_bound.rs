//! The memory backend must stay bounded under a flood of distinct keys and
//! stay exact under concurrent use.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use rampart_security::ratelimit::{MemoryLimiter, Policy};

use crate::support::T0;

#[test]
fn flood_of_distinct_keys_stays_bounded() {
    let limiter = MemoryLimiter::new();
    let policy = Policy::new("flood", 5, 1_000);
    // 10 new keys per ms for 60 s: 600k keys in total, 10k live at any time.
    let mut peak = 0;
    let mut n = 0u64;
    for ms in 0..60_000i64 {
        for _ in 0..10 {
            n += 1;
            let key = format!("198.51.{}.{}", n / 256, n % 256);
            assert!(limiter.check_one(&policy, &key, T0 + ms).allowed);
        }
        if ms % 1_000 == 999 {
            peak = peak.max(limiter.key_count());
        }
    }
    // Live pairs plus at most one sweep interval per shard (64 × 256 minimum).
    assert!(peak < 2 * 10_000 + 64 * 256, "peak {peak} pairs held");
    // Once the flood stops and its windows pass, ordinary traffic drains it.
    for i in 0..200_000u64 {
        limiter.check_one(&policy, &format!("later{}", i % 100), T0 + 120_000);
    }
    assert!(
        limiter.key_count() <= 100 + 64 * 256,
        "{}",
        limiter.key_count()
    );
    limiter.purge_expired(T0 + 200_000);
    assert_eq!(limiter.key_count(), 0);
}

#[test]
fn concurrent_threads_share_one_exact_limit() {
    let limiter = MemoryLimiter::new();
    let policy = Arc::new(Policy::per_minute("threads", 100));
    let accepted = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let (limiter, policy, accepted) =
                (limiter.clone(), Arc::clone(&policy), Arc::clone(&accepted));
            std::thread::spawn(move || {
                for i in 0..1_000 {
                    if limiter.check_one(&policy, "shared", T0 + i % 3).allowed {
                        accepted.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(accepted.load(Ordering::Relaxed), 100);
}
