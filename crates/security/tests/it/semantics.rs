//! One semantic suite, run against every backend.

use rampart_security::ratelimit::{Limiter, Policy};

use crate::support::{redis_limiter, unique, T0};

async fn allowed(l: &Limiter, p: &Policy, key: &str, now: i64) -> bool {
    l.check(&[(p, key)], now).await.unwrap().allowed()
}

async fn n_accepted_then_refused(l: Limiter) {
    let p = Policy::per_minute(unique("n"), 5);
    for i in 0..5u32 {
        let v = l.check(&[(&p, "ip")], T0 + i64::from(i)).await.unwrap();
        let d = &v.decisions[0];
        assert!(d.allowed, "request {i}");
        assert_eq!(d.remaining, 4 - i);
        assert_eq!(d.reset_after_ms, 60_000 - u64::from(i));
    }
    let v = l.check(&[(&p, "ip")], T0 + 10).await.unwrap();
    assert!(!v.allowed());
    let d = v.binding().unwrap();
    assert_eq!(
        (d.allowed, d.remaining, d.reset_after_ms),
        (false, 0, 59_990)
    );
    assert_eq!(v.retry_after_secs(), Some(60));
    assert_eq!(d.policy, p);
}

async fn quota_returns_when_oldest_leaves(l: Limiter) {
    let p = Policy::new(unique("q"), 3, 1_000);
    for t in [0, 10, 20] {
        assert!(allowed(&l, &p, "k", T0 + t).await);
    }
    for (t, wait) in [(500, 500), (999, 1)] {
        let v = l.check(&[(&p, "k")], T0 + t).await.unwrap();
        assert!(!v.allowed());
        assert_eq!(v.decisions[0].reset_after_ms, wait, "at +{t}");
    }
    // The entry at 0 leaves exactly at 1000, freeing one slot only.
    let v = l.check(&[(&p, "k")], T0 + 1_000).await.unwrap();
    assert!(v.allowed());
    assert_eq!(v.decisions[0].remaining, 0);
    assert_eq!(v.decisions[0].reset_after_ms, 10);
    let v = l.check(&[(&p, "k")], T0 + 1_005).await.unwrap();
    assert_eq!(v.decisions[0].reset_after_ms, 5);
    assert!(!v.allowed());
    assert!(allowed(&l, &p, "k", T0 + 1_010).await);
    assert!(!allowed(&l, &p, "k", T0 + 1_019).await);
    assert!(allowed(&l, &p, "k", T0 + 1_020).await);
}

async fn keys_are_independent(l: Limiter) {
    let p = Policy::per_minute(unique("keys"), 2);
    assert!(allowed(&l, &p, "203.0.113.1", T0).await);
    assert!(allowed(&l, &p, "203.0.113.1", T0).await);
    assert!(!allowed(&l, &p, "203.0.113.1", T0).await);
    assert!(allowed(&l, &p, "203.0.113.2", T0).await);
    assert!(allowed(&l, &p, "203.0.113.2", T0).await);
    assert!(!allowed(&l, &p, "203.0.113.2", T0).await);
}

async fn policies_are_independent(l: Limiter) {
    let ns = unique("pol");
    let login = Policy::per_minute(format!("{ns}login"), 1);
    let signup = Policy::per_minute(format!("{ns}signup"), 1);
    assert!(allowed(&l, &login, "ip", T0).await);
    assert!(!allowed(&l, &login, "ip", T0).await);
    assert!(allowed(&l, &signup, "ip", T0).await);
    assert!(!allowed(&l, &signup, "ip", T0).await);
}

async fn stricter_wins_and_all_are_charged(l: Limiter) {
    let ns = unique("multi");
    let strict = Policy::new(format!("{ns}strict"), 2, 1_000);
    let loose = Policy::new(format!("{ns}loose"), 5, 10_000);
    let checks = [(&strict, "acct"), (&loose, "acct")];
    for t in 0..2 {
        let v = l.check(&checks, T0 + t).await.unwrap();
        assert!(v.allowed());
    }
    // The binding decision while allowed is the one with least remaining.
    let v = l.check(&[(&loose, "acct")], T0 + 2).await.unwrap();
    assert_eq!(v.decisions[0].remaining, 2);
    // Strict refuses; loose still has room and is charged anyway.
    let v = l.check(&checks, T0 + 3).await.unwrap();
    assert!(!v.allowed());
    assert!(!v.decisions[0].allowed);
    assert!(v.decisions[1].allowed);
    assert_eq!(v.decisions[1].remaining, 1);
    assert_eq!(v.binding().unwrap().policy, strict);
    assert_eq!(v.binding().unwrap().reset_after_ms, 997);
    assert_eq!(v.retry_after_secs(), Some(1));
    let v = l.check(&checks, T0 + 4).await.unwrap();
    assert!(!v.allowed());
    assert_eq!(v.decisions[1].remaining, 0);
    // Both refuse: the longer wait is binding.
    let v = l.check(&checks, T0 + 5).await.unwrap();
    assert!(!v.decisions[0].allowed && !v.decisions[1].allowed);
    assert_eq!(v.binding().unwrap().policy, loose);
    assert_eq!(v.binding().unwrap().reset_after_ms, 9_995);
    assert_eq!(v.retry_after_secs(), Some(10));
    // The strict pair refills on its own schedule; the loose one stays spent.
    let v = l.check(&checks, T0 + 1_001).await.unwrap();
    assert!(!v.allowed());
    assert!(v.decisions[0].allowed);
    assert_eq!(v.decisions[0].remaining, 1);
    assert_eq!(v.binding().unwrap().policy, loose);
}

async fn refused_requests_are_not_recorded(l: Limiter) {
    let p = Policy::new(unique("refused"), 2, 1_000);
    assert!(allowed(&l, &p, "k", T0).await);
    assert!(allowed(&l, &p, "k", T0 + 1).await);
    for t in (2..1_000).step_by(7) {
        assert!(!allowed(&l, &p, "k", T0 + t).await);
    }
    assert!(allowed(&l, &p, "k", T0 + 1_000).await);
    assert!(allowed(&l, &p, "k", T0 + 1_001).await);
    assert!(!allowed(&l, &p, "k", T0 + 1_002).await);
}

async fn edge_cases(l: Limiter) {
    let v = l.check(&[], T0).await.unwrap();
    assert!(v.allowed());
    assert!(v.binding().is_none());
    let closed = Policy::new(unique("zero"), 0, 5_000);
    let v = l.check(&[(&closed, "k")], T0).await.unwrap();
    assert!(!v.allowed());
    assert_eq!(v.decisions[0].reset_after_ms, 5_000);
    assert_eq!(v.retry_after_secs(), Some(5));
    // Keys are opaque: separators and unicode must not alias other pairs.
    let p = Policy::per_minute(unique("odd"), 1);
    assert!(allowed(&l, &p, "a:b", T0).await);
    assert!(allowed(&l, &p, "a", T0).await);
    assert!(allowed(&l, &p, "ключ 🔑", T0).await);
    assert!(!allowed(&l, &p, "a:b", T0).await);
}

macro_rules! suite {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test]
                async fn $name() {
                    let l = rampart_security::ratelimit::Limiter::memory();
                    assert_eq!(l.backend_name(), "memory");
                    super::$name(l).await;
                }
            )*
        }
        mod redis {
            $(
                #[tokio::test]
                async fn $name() {
                    if let Some(l) = super::redis_limiter().await {
                        assert_eq!(l.backend_name(), "redis");
                        super::$name(l).await;
                    }
                }
            )*
        }
    };
}

suite!(
    n_accepted_then_refused,
    quota_returns_when_oldest_leaves,
    keys_are_independent,
    policies_are_independent,
    stricter_wins_and_all_are_charged,
    refused_requests_are_not_recorded,
    edge_cases,
);
