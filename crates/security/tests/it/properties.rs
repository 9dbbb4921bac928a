//! Property tests: each backend must agree exactly with the reference model.

use std::collections::HashMap;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use rampart_security::ratelimit::{Limiter, Policy};

use crate::model::Model;
use crate::support::{redis_limiter, unique, T0};

/// Random small policies and requests at random non-decreasing times. Each
/// request is subject to two policies on one of a few keys, so independence
/// of keys and the all-are-charged rule are exercised too.
#[derive(Debug, Clone)]
struct Case {
    limits: [u32; 2],
    windows: [u64; 2],
    /// `(delay since previous request in ms, key index)`.
    requests: Vec<(i64, usize)>,
}

fn case() -> impl Strategy<Value = Case> {
    (
        [0u32..6, 1u32..6],
        [1u64..40, 1u64..40],
        prop::collection::vec((prop_oneof![Just(0i64), 0i64..30], 0usize..3), 1..80),
    )
        .prop_map(|(limits, windows, requests)| Case {
            limits,
            windows,
            requests,
        })
}

async fn run_case(limiter: &Limiter, case: &Case) -> Result<(), TestCaseError> {
    // Fresh names per case: the limiter (and Redis) outlive the case.
    let ns = unique("prop");
    let policies = [
        Policy::new(format!("{ns}a"), case.limits[0], case.windows[0]),
        Policy::new(format!("{ns}b"), case.limits[1], case.windows[1]),
    ];
    let keys = ["k0", "k1", "k2"];
    let mut models: HashMap<(usize, usize), Model> = HashMap::new();
    let mut now = T0;
    for &(delay, k) in &case.requests {
        now += delay;
        let checks = [(&policies[0], keys[k]), (&policies[1], keys[k])];
        let verdict = limiter.check(&checks, now).await.expect("check");
        prop_assert_eq!(verdict.decisions.len(), 2);
        let mut all = true;
        for (p, decision) in verdict.decisions.iter().enumerate() {
            let model = models
                .entry((p, k))
                .or_insert_with(|| Model::new(policies[p].limit, policies[p].window_ms as i64));
            let expected = model.check(now);
            all &= expected.0;
            prop_assert_eq!(&decision.policy, &policies[p]);
            prop_assert_eq!(
                (
                    decision.allowed,
                    decision.remaining,
                    decision.reset_after_ms
                ),
                expected,
                "policy {} key {} at +{}",
                p,
                k,
                now - T0
            );
        }
        prop_assert_eq!(verdict.allowed(), all);
    }
    for model in models.values() {
        model.assert_never_exceeded();
    }
    Ok(())
}

fn run(limiter: Limiter, rt: &tokio::runtime::Runtime, cases: u32) {
    let mut runner = TestRunner::new(Config::with_cases(cases));
    runner
        .run(&case(), |c| rt.block_on(run_case(&limiter, &c)))
        .unwrap();
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn memory_matches_model() {
    run(Limiter::memory(), &runtime(), 512);
}

#[test]
fn memory_with_one_shard_matches_model() {
    // One shard forces sweeps and collisions-by-shard between the pairs.
    let limiter = Limiter::Memory(rampart_security::ratelimit::MemoryLimiter::with_shards(1));
    run(limiter, &runtime(), 256);
}

#[test]
fn redis_matches_model() {
    let rt = runtime();
    let Some(limiter) = rt.block_on(redis_limiter()) else {
        return;
    };
    run(limiter, &rt, 128);
}
