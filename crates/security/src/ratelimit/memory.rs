//! In-process sliding-log backend: sharded maps of per-pair timestamp queues,
//! swept in amortised O(1) so memory follows the live pairs only.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::{Decision, Policy, Verdict};

/// Enough shards that 2 to 16 cores rarely contend on one mutex.
const DEFAULT_SHARDS: usize = 64;
/// Sweeping tiny shards on every few calls would waste the hot path.
const SWEEP_MIN_OPS: usize = 256;

/// The shard maps are keyed by a hash already computed with a keyed SipHash
/// (attacker-chosen keys cannot force collisions), so hashing it again would
/// only cost time.
#[derive(Default)]
struct PrehashedHasher(u64);

impl Hasher for PrehashedHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only u64 keys are ever hashed; this keeps the trait total anyway.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// The accepted timestamps of one `(policy, key)` pair, oldest first.
struct Slot {
    /// Policy name followed by the key, in one allocation: a lookup then
    /// touches one cache line fewer.
    ident: Box<str>,
    policy_len: usize,
    /// Window of the last call, so that a sweep can judge expiry without the policy.
    window_ms: i64,
    times: VecDeque<i64>,
}

impl Slot {
    fn is(&self, policy: &str, key: &str) -> bool {
        self.policy_len == policy.len()
            && self.ident.len() == policy.len() + key.len()
            && self.ident.split_at(self.policy_len) == (policy, key)
    }

    /// Expires old entries; false when none is left, so the slot can go.
    fn retain_live(&mut self, now: i64) -> bool {
        expire(&mut self.times, now, self.window_ms);
        if self.times.is_empty() {
            return false;
        }
        // A burst can leave a queue far larger than its steady state.
        if self.times.capacity() > 4 * self.times.len().max(4) {
            self.times.shrink_to_fit();
        }
        true
    }
}

#[derive(Default)]
struct Shard {
    map: HashMap<u64, Slot, BuildHasherDefault<PrehashedHasher>>,
    /// Pairs whose 64-bit hash collides with a pair already in `map`. Keyed
    /// SipHash makes this practically always empty, but it keeps lookups exact.
    overflow: Vec<(u64, Slot)>,
    slots: usize,
    ops_since_sweep: usize,
    sweep_threshold: usize,
}

/// Drops entries that no longer count: an entry at `t` counts while `now - t < window`.
fn expire(times: &mut VecDeque<i64>, now: i64, window: i64) {
    while let Some(&t) = times.front() {
        if now.saturating_sub(t) >= window {
            times.pop_front();
        } else {
            break;
        }
    }
}

fn reset_after(times: &VecDeque<i64>, now: i64, window: i64) -> u64 {
    match times.front() {
        // Non-negative after max(0), so the cast cannot wrap.
        Some(&oldest) => oldest.saturating_add(window).saturating_sub(now).max(0) as u64,
        None => window as u64,
    }
}

impl Shard {
    /// Applies one pair; returns `(allowed, remaining, reset_after_ms)`.
    fn apply(&mut self, hash: u64, policy: &Policy, key: &str, now: i64) -> (bool, u32, u64) {
        let window = policy.effective_window_ms();
        let limit = policy.limit as usize;
        let found = match self.map.get_mut(&hash) {
            Some(slot) if slot.is(&policy.name, key) => Some(slot),
            _ if self.overflow.is_empty() => None,
            _ => self
                .overflow
                .iter_mut()
                .find(|(h, slot)| *h == hash && slot.is(&policy.name, key))
                .map(|(_, slot)| slot),
        };
        if let Some(slot) = found {
            slot.window_ms = window;
            expire(&mut slot.times, now, window);
            let allowed = slot.times.len() < limit;
            let mut remaining = 0;
            if allowed {
                // Keeping the queue sorted when callers' clocks disagree by a
                // few ms: the entry is recorded a little late, which only
                // makes the limit stricter.
                let t = slot.times.back().map_or(now, |&last| last.max(now));
                slot.times.push_back(t);
                remaining = (limit - slot.times.len()) as u32;
            }
            return (allowed, remaining, reset_after(&slot.times, now, window));
        }
        if limit == 0 {
            // Nothing to record, so nothing to allocate for.
            return (false, 0, window as u64);
        }
        // Only a new pair pays for allocations; the lookup above borrowed.
        let mut times = VecDeque::with_capacity(limit.min(4));
        times.push_back(now);
        let mut ident = String::with_capacity(policy.name.len() + key.len());
        ident.push_str(&policy.name);
        ident.push_str(key);
        let slot = Slot {
            ident: ident.into_boxed_str(),
            policy_len: policy.name.len(),
            window_ms: window,
            times,
        };
        match self.map.entry(hash) {
            Entry::Vacant(vacant) => {
                vacant.insert(slot);
            }
            Entry::Occupied(_) => self.overflow.push((hash, slot)),
        }
        self.slots += 1;
        (true, (limit - 1) as u32, window as u64)
    }

    /// Removes every pair whose entries have all left their window.
    fn sweep(&mut self, now: i64) {
        let before = self.map.len() + self.overflow.len();
        self.map.retain(|_, slot| slot.retain_live(now));
        self.overflow.retain_mut(|(_, slot)| slot.retain_live(now));
        let removed = before - self.map.len() - self.overflow.len();
        self.slots -= removed;
        self.ops_since_sweep = 0;
        // Sweeping again after as many calls as there are survivors keeps the
        // sweep amortised O(1) per call and the shard at most about twice its
        // live size.
        self.sweep_threshold = self.slots.max(SWEEP_MIN_OPS);
        let (len, cap) = (self.map.len(), self.map.capacity());
        if cap > 64 && cap > 4 * len {
            self.map.shrink_to(len * 2);
        }
    }
}

struct Inner {
    hasher: RandomState,
    shards: Box<[Mutex<Shard>]>,
    mask: usize,
}

/// In-process limiter; clones share the same state.
#[derive(Clone)]
pub struct MemoryLimiter {
    inner: Arc<Inner>,
}

impl Default for MemoryLimiter {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for MemoryLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryLimiter")
            .field("shards", &self.inner.shards.len())
            .finish_non_exhaustive()
    }
}

impl MemoryLimiter {
    /// A limiter with the default number of shards.
    pub fn new() -> Self {
        Self::with_shards(DEFAULT_SHARDS)
    }

    /// A limiter with `shards` shards, rounded up to a power of two in `1..=1024`.
    pub fn with_shards(shards: usize) -> Self {
        let n = shards.clamp(1, 1024).next_power_of_two();
        let shards = (0..n)
            .map(|_| {
                Mutex::new(Shard {
                    sweep_threshold: SWEEP_MIN_OPS,
                    ..Shard::default()
                })
            })
            .collect();
        Self {
            inner: Arc::new(Inner {
                hasher: RandomState::new(),
                shards,
                mask: n - 1,
            }),
        }
    }

    fn shard(&self, index: usize) -> MutexGuard<'_, Shard> {
        // Shard state is updated without panicking paths, so a poisoned
        // mutex still guards consistent data.
        self.inner.shards[index]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Applies every pair to one request; see [`super::Limiter::check`].
    pub fn check(&self, checks: &[(&Policy, &str)], now_ms: i64) -> Verdict {
        Verdict {
            decisions: checks
                .iter()
                .map(|&(policy, key)| self.check_one(policy, key, now_ms))
                .collect(),
        }
    }

    /// Applies a single pair at `now_ms`, recording the request if it has room.
    pub fn check_one(&self, policy: &Policy, key: &str, now_ms: i64) -> Decision {
        let hash = self.inner.hasher.hash_one((policy.name.as_str(), key));
        // Bits other than the low ones (bucket index) and the top seven
        // (hashbrown's tag), so the shard choice does not weaken the map.
        let index = (hash >> 32) as usize & self.inner.mask;
        let mut shard = self.shard(index);
        let (allowed, remaining, reset_after_ms) = shard.apply(hash, policy, key, now_ms);
        shard.ops_since_sweep += 1;
        if shard.ops_since_sweep >= shard.sweep_threshold {
            shard.sweep(now_ms);
        }
        drop(shard);
        Decision {
            policy: policy.clone(),
            allowed,
            remaining,
            reset_after_ms,
        }
    }

    /// Removes every pair whose entries have all expired at `now_ms`.
    /// Routine sweeps make this unnecessary; it exists for tests and shutdown.
    pub fn purge_expired(&self, now_ms: i64) {
        for index in 0..self.inner.shards.len() {
            self.shard(index).sweep(now_ms);
        }
    }

    /// Number of `(policy, key)` pairs currently held.
    #[doc(hidden)]
    pub fn key_count(&self) -> usize {
        (0..self.inner.shards.len())
            .map(|index| self.shard(index).slots)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_stops_counting_exactly_after_window() {
        let l = MemoryLimiter::with_shards(1);
        let p = Policy::new("p", 1, 100);
        assert!(l.check_one(&p, "k", 1_000).allowed);
        let refused = l.check_one(&p, "k", 1_099);
        assert!(!refused.allowed);
        assert_eq!(refused.reset_after_ms, 1);
        assert!(l.check_one(&p, "k", 1_100).allowed);
    }

    #[test]
    fn limit_zero_refuses_without_allocating() {
        let l = MemoryLimiter::new();
        let d = l.check_one(&Policy::new("p", 0, 500), "k", 0);
        assert!(!d.allowed);
        assert_eq!(d.reset_after_ms, 500);
        assert_eq!(l.key_count(), 0);
    }

    #[test]
    fn clock_going_backwards_keeps_limit() {
        let l = MemoryLimiter::new();
        let p = Policy::new("p", 2, 100);
        assert!(l.check_one(&p, "k", 1_000).allowed);
        assert!(l.check_one(&p, "k", 990).allowed);
        assert!(!l.check_one(&p, "k", 1_050).allowed);
        // The late entry was recorded at 1000, so both leave together.
        assert!(l.check_one(&p, "k", 1_100).allowed);
    }

    #[test]
    fn colliding_hashes_stay_distinct_pairs() {
        let mut shard = Shard::default();
        let p = Policy::new("p", 1, 100);
        let pa = Policy::new("pa", 1, 100);
        // Same forced hash for three identities, two of which concatenate alike.
        assert!(shard.apply(7, &p, "ab", 0).0);
        assert!(shard.apply(7, &pa, "b", 0).0);
        assert!(shard.apply(7, &p, "c", 0).0);
        assert!(!shard.apply(7, &p, "ab", 1).0);
        assert!(!shard.apply(7, &pa, "b", 1).0);
        assert!(!shard.apply(7, &p, "c", 1).0);
        assert_eq!(shard.slots, 3);
        // The occupant of the main map leaves first; the overflow must still be found.
        assert!(shard.apply(7, &p, "ab", 100).0);
        shard.sweep(150);
        assert_eq!(shard.slots, 1);
        assert!(!shard.apply(7, &p, "ab", 150).0);
        assert!(shard.apply(7, &pa, "b", 150).0);
        assert!(!shard.apply(7, &pa, "b", 151).0);
        shard.sweep(1_000);
        assert_eq!(shard.slots, 0);
        assert!(shard.overflow.is_empty());
        // With the main entry gone, a pair left in the overflow still counts.
        assert!(shard.apply(7, &p, "x", 2_000).0);
        assert!(shard.apply(7, &p, "y", 2_050).0);
        shard.sweep(2_100);
        assert!(shard.map.is_empty());
        assert!(!shard.apply(7, &p, "y", 2_101).0);
        assert_eq!(shard.slots, 1);
    }

    #[test]
    fn purge_drops_expired_pairs() {
        let l = MemoryLimiter::new();
        let p = Policy::new("p", 3, 10);
        for i in 0..1_000 {
            l.check_one(&p, &format!("k{i}"), 0);
        }
        assert_eq!(l.key_count(), 1_000);
        l.purge_expired(9);
        assert_eq!(l.key_count(), 1_000);
        l.purge_expired(10);
        assert_eq!(l.key_count(), 0);
    }
}
