//! Reference model of the sliding log: a plain list of accepted timestamps.

/// One `(policy, key)` pair as the specification describes it.
#[derive(Debug, Default)]
pub struct Model {
    pub limit: u32,
    pub window: i64,
    pub accepted: Vec<i64>,
}

impl Model {
    pub fn new(limit: u32, window: i64) -> Self {
        Self {
            limit,
            window,
            accepted: Vec::new(),
        }
    }

    /// Entries that count at `now`: `t` counts while `now - t < window`.
    fn live(&self, now: i64) -> impl Iterator<Item = i64> + '_ {
        self.accepted
            .iter()
            .copied()
            .filter(move |&t| t <= now && now - t < self.window)
    }

    /// `(allowed, remaining, reset_after_ms)` for a request at `now`.
    pub fn check(&mut self, now: i64) -> (bool, u32, u64) {
        let count = self.live(now).count() as u32;
        let allowed = count < self.limit;
        let remaining = if allowed {
            self.accepted.push(now);
            self.limit - count - 1
        } else {
            0
        };
        let reset = match self.live(now).min() {
            Some(oldest) => (oldest + self.window - now) as u64,
            None => self.window as u64,
        };
        (allowed, remaining, reset)
    }

    /// The defining invariant: no window holds more than `limit` accepted
    /// requests. The fullest window always ends at an accepted request.
    pub fn assert_never_exceeded(&self) {
        for &end in &self.accepted {
            let n = self
                .accepted
                .iter()
                .filter(|&&t| t <= end && end - t < self.window)
                .count();
            assert!(
                n <= self.limit as usize,
                "{n} accepted in the window ending at {end} (limit {}, window {})",
                self.limit,
                self.window
            );
        }
    }
}
