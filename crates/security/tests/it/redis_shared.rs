//! Redis-only behaviour: one global limit across instances, key layout and
//! the error surfaced when Redis is unreachable.

use std::sync::Arc;

use rampart_security::ratelimit::{LimitError, Limiter, Policy};

use crate::support::{redis_url, unique, T0};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_enforce_one_global_limit() {
    let Some(url) = redis_url() else { return };
    let prefix = unique("rampart:test:rl:") + ":";
    let a = Limiter::redis(&url, &prefix).await.unwrap();
    let b = Limiter::redis(&url, &prefix).await.unwrap();
    let policy = Arc::new(Policy::per_minute("global", 37));
    let mut tasks = Vec::new();
    for i in 0..100i64 {
        let limiter = if i % 2 == 0 { a.clone() } else { b.clone() };
        let policy = Arc::clone(&policy);
        // Instances' clocks disagree by a few ms; the limit must hold anyway.
        let now = T0 + i % 7;
        tasks.push(tokio::spawn(async move {
            limiter
                .check(&[(&policy, "203.0.113.9")], now)
                .await
                .unwrap()
                .allowed()
        }));
    }
    let mut accepted = 0;
    for task in tasks {
        accepted += usize::from(task.await.unwrap());
    }
    assert_eq!(accepted, 37);
}

#[tokio::test]
async fn keys_are_namespaced_and_expire() {
    let Some(url) = redis_url() else { return };
    let prefix = unique("rampart:test:rl:") + ":";
    let Limiter::Redis(limiter) = Limiter::redis(&url, &prefix).await.unwrap() else {
        panic!("expected the Redis backend");
    };
    let policy = Policy::new("login", 3, 5_000);
    assert_eq!(
        limiter.key_for(&policy, "1.2.3.4"),
        format!("{prefix}login:1.2.3.4")
    );
    assert_eq!(limiter.script_sha().len(), 40);
    let v = limiter.check(&[(&policy, "1.2.3.4")], T0).await.unwrap();
    assert!(v.allowed());

    let client = redis::Client::open(url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let key = limiter.key_for(&policy, "1.2.3.4");
    let ttl: i64 = redis::cmd("PTTL")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(ttl > 0, "key {key} has no expiry (PTTL {ttl})");
    let members: i64 = redis::cmd("ZCARD")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(members, 1);
}

#[tokio::test]
async fn unreachable_redis_is_an_error_not_a_decision() {
    // Port 1 is never a Redis; the caller must get an error to fail closed on.
    let started = std::time::Instant::now();
    let result = Limiter::redis("redis://127.0.0.1:1", "rampart:test:").await;
    assert!(matches!(result, Err(LimitError::Backend(_))), "{result:?}");
    assert!(
        started.elapsed().as_secs() < 5,
        "took {:?}",
        started.elapsed()
    );
}
