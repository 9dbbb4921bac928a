//! Throughput of `rampart_security::ratelimit`: a bare `HashMap` counter as the
//! baseline, the memory backend on one thread, and Redis when configured.
//!
//! ```text
//! cargo bench -p rampart-security --bench ratelimit
//! RAMPART_BENCH_REDIS_URL=redis://127.0.0.1:6379 cargo bench -p rampart-security --bench ratelimit
//! ```
//!
//! To compare the Redis figure with Redis alone (no Rust client in the path),
//! run the same script with `redis-benchmark`. The bench loads the script and
//! prints its SHA; then, with ARGV = now_ms, request id, limit, window_ms:
//!
//! ```text
//! redis-benchmark -h 127.0.0.1 -p 6379 -n 200000 -c 32 -r 10000 \
//!     EVALSHA <sha> 1 rampart:bench:rb:p:__rand_int__ 1700000000000 __rand_int__ 100 60000
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rampart_security::ratelimit::{Limiter, Policy};

const KEYS: usize = 10_000;
const RUN_FOR: Duration = Duration::from_millis(1_500);
const BATCH: usize = 1 << 14;

/// Key indices drawn up front so that RNG cost is in no measurement.
fn index_sequence() -> Vec<u32> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..1 << 20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % KEYS as u64) as u32
        })
        .collect()
}

/// Runs `batch` repeatedly for about `RUN_FOR`; returns operations per second.
fn measure(mut batch: impl FnMut(&mut usize) -> usize) -> f64 {
    let mut cursor = 0;
    let mut ops = 0;
    let start = Instant::now();
    while start.elapsed() < RUN_FOR {
        ops += batch(&mut cursor);
    }
    ops as f64 / start.elapsed().as_secs_f64()
}

fn baseline(seq: &[u32]) -> f64 {
    let mut counters: HashMap<u64, u32> = HashMap::new();
    let rate = measure(|cursor| {
        for _ in 0..BATCH {
            let k = u64::from(seq[*cursor & (seq.len() - 1)]);
            *cursor += 1;
            *counters.entry(k).or_insert(0) += 1;
        }
        BATCH
    });
    black_box(&counters);
    rate
}

/// Decisions per second through `Limiter::check`, simulated time advancing
/// 1 ms per 100 decisions (0.01 requests/ms per key over 10k keys).
fn memory(seq: &[u32], keys: &[String], policy: &Policy) -> (f64, f64) {
    let limiter = Limiter::memory();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut allowed = 0u64;
    let mut total = 0u64;
    let rate = measure(|cursor| {
        rt.block_on(async {
            for _ in 0..BATCH {
                let key = &keys[seq[*cursor & (seq.len() - 1)] as usize];
                let now = 1_700_000_000_000 + (*cursor / 100) as i64;
                *cursor += 1;
                let verdict = limiter.check(&[(policy, key)], now).await.unwrap();
                allowed += u64::from(verdict.allowed());
                total += 1;
            }
        });
        BATCH
    });
    (rate, allowed as f64 / total as f64)
}

async fn redis(url: &str, keys: Arc<Vec<String>>) {
    let prefix = format!("rampart:bench:{:08x}:", rand::random::<u32>());
    let limiter = Limiter::redis(url, &prefix).await.unwrap();
    if let Limiter::Redis(ref r) = limiter {
        println!("redis script SHA: {}", r.script_sha());
    }
    let policy = Arc::new(Policy::per_minute("p", 100));
    let total = Arc::new(AtomicU64::new(0));
    let allowed = Arc::new(AtomicU64::new(0));
    let tasks = 32;
    let start = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|t| {
            let (limiter, policy, keys) = (limiter.clone(), Arc::clone(&policy), Arc::clone(&keys));
            let (total, allowed) = (Arc::clone(&total), Arc::clone(&allowed));
            tokio::spawn(async move {
                let mut i = t * 7_919;
                while start.elapsed() < Duration::from_secs(3) {
                    let now = SystemTime::now()
                        .duration_since(UNIX_EPOCH)
                        .unwrap()
                        .as_millis() as i64;
                    let key = &keys[i % keys.len()];
                    i += 1;
                    let v = limiter.check(&[(&policy, key)], now).await.unwrap();
                    allowed.fetch_add(u64::from(v.allowed()), Ordering::Relaxed);
                    total.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for h in handles {
        h.await.unwrap();
    }
    let secs = start.elapsed().as_secs_f64();
    let n = total.load(Ordering::Relaxed);
    println!(
        "redis limiter, {tasks} tasks, 1 policy: {:>12.0} decisions/s ({:.1}% allowed)",
        n as f64 / secs,
        100.0 * allowed.load(Ordering::Relaxed) as f64 / n as f64
    );
}

fn main() {
    let seq = index_sequence();
    let keys: Vec<String> = (0..KEYS)
        .map(|i| format!("203.0.{}.{}", i / 256, i % 256))
        .collect();

    let base = baseline(&seq);
    println!("baseline HashMap<u64,u32> increments:      {base:>12.0} ops/s");
    let cases = [
        ("mostly allowed (limit 100/s)", Policy::per_second("p", 100)),
        (
            "refused-heavy (limit 1/s, ~90% refused)",
            Policy::per_second("p", 1),
        ),
    ];
    for (label, policy) in &cases {
        let (rate, allowed) = memory(&seq, &keys, policy);
        println!(
            "memory limiter, 1 thread, {label}: {rate:>12.0} decisions/s ({:.1}% allowed; {:.1}% of baseline throughput, {:.1}x its time per op)",
            allowed * 100.0,
            100.0 * rate / base,
            base / rate
        );
    }

    let url = std::env::var("RAMPART_BENCH_REDIS_URL")
        .or_else(|_| std::env::var("RAMPART_TEST_REDIS_URL"))
        .ok()
        .filter(|u| !u.is_empty());
    match url {
        Some(url) => {
            let rt = tokio::runtime::Runtime::new().unwrap();
            rt.block_on(redis(&url, Arc::new(keys)));
        }
        None => println!("redis: skipped (set RAMPART_BENCH_REDIS_URL or RAMPART_TEST_REDIS_URL)"),
    }
}
