//! The delivery loop: claims due outbox rows, sends them through a [`Mailer`] and
//! settles each one (sent, retry later with backoff, failed, dead). It runs in the
//! background; nothing on a request path waits for SMTP.

use crate::mailer::{Mailer, Outgoing, SendError};
use crate::outbox;
use rampart_db::Db;
use rampart_kernel::Clock;
use rand::Rng;
use std::sync::Arc;
use std::time::Duration;

/// Tuning of the loop; the defaults suit one relay and modest volume.
#[derive(Debug, Clone)]
pub struct DeliveryConfig {
    /// Rows claimed per round.
    pub batch: i64,
    /// Attempts before a row is `dead` (default 8: about 4 hours of trying).
    pub max_attempts: i64,
    /// First retry delay; doubles per attempt.
    pub base_backoff_ms: i64,
    /// Longest retry delay.
    pub max_backoff_ms: i64,
    /// How long a claim holds; must exceed `batch` × the SMTP timeout per message.
    pub lease_ms: i64,
    /// Queued mail older than this is not sent any more (`dead`).
    pub max_age_ms: i64,
    /// Pause between rounds when the queue had nothing due (real time).
    pub poll_interval: Duration,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            batch: 10,
            max_attempts: 8,
            base_backoff_ms: 30_000,
            max_backoff_ms: 3_600_000,
            lease_ms: 15 * 60_000,
            max_age_ms: 24 * 3_600_000,
            poll_interval: Duration::from_secs(5),
        }
    }
}

/// The delay before the retry after attempt `attempts` (1-based): exponential,
/// capped, with "equal jitter" — a uniformly random point in the upper half — so
/// many messages failing together do not retry together. `unit` in `[0, 1)`.
///
/// ```
/// use rampart_mail::{backoff_ms, DeliveryConfig};
/// let c = DeliveryConfig::default();
/// assert_eq!(backoff_ms(&c, 1, 0.0), 15_000);
/// assert_eq!(backoff_ms(&c, 3, 0.999_999_9), 119_999);
/// assert_eq!(backoff_ms(&c, 40, 0.0), 1_800_000);
/// ```
pub fn backoff_ms(cfg: &DeliveryConfig, attempts: i64, unit: f64) -> i64 {
    let exp = u32::try_from(attempts.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
    let full = cfg
        .base_backoff_ms
        .saturating_mul(1_i64 << exp)
        .min(cfg.max_backoff_ms)
        .max(1);
    let half = full / 2;
    let unit = unit.clamp(0.0, 1.0);
    half + ((full - half) as f64 * unit) as i64
}

/// What one round did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Round {
    /// Rows claimed.
    pub claimed: usize,
    /// Accepted by the relay.
    pub sent: usize,
    /// Put back for a later attempt.
    pub retried: usize,
    /// Refused for good.
    pub failed: usize,
    /// Given up (attempts exhausted, lease lost on the last attempt, too old).
    pub dead: usize,
}

/// Sends the outbox through `M`.
#[derive(Debug)]
pub struct Deliverer<M> {
    db: Db,
    mailer: M,
    clock: Arc<dyn Clock>,
    cfg: DeliveryConfig,
}

impl<M: Mailer> Deliverer<M> {
    /// A deliverer; nothing runs until [`Deliverer::run_once`] or [`Deliverer::spawn`].
    pub fn new(db: Db, mailer: M, clock: Arc<dyn Clock>, cfg: DeliveryConfig) -> Self {
        Deliverer {
            db,
            mailer,
            clock,
            cfg,
        }
    }

    /// One round: sweep, claim due rows, send each, settle each. Database errors end
    /// the round (rows stay claimed until their lease expires, then are retried).
    pub async fn run_once(&self) -> rampart_db::Result<Round> {
        let c = &self.cfg;
        let now = self.clock.now_ms();
        let mut round = Round {
            dead: usize::try_from(
                outbox::sweep(&self.db, now, c.max_attempts, now - c.max_age_ms).await?,
            )
            .unwrap_or(usize::MAX),
            ..Round::default()
        };
        let (token, rows) =
            outbox::claim(&self.db, now, c.lease_ms, c.batch, c.max_attempts).await?;
        round.claimed = rows.len();
        for row in rows {
            let result = self
                .mailer
                .send(Outgoing {
                    id: &row.id,
                    to: &row.recipient,
                    subject: &row.subject,
                    body: &row.body,
                })
                .await;
            // Settle with the time after sending: a slow relay must not make the
            // next attempt due in the past.
            let now = self.clock.now_ms();
            let settled = match &result {
                Ok(()) => {
                    round.sent += 1;
                    tracing::info!(mail_id = %row.id, kind = %row.kind, attempts = row.attempts, "mail sent");
                    outbox::mark_sent(&self.db, &row.id, &token, now).await?
                }
                Err(SendError::Permanent { code, detail }) => {
                    round.failed += 1;
                    tracing::warn!(mail_id = %row.id, kind = %row.kind, attempts = row.attempts, smtp_code = ?code, "mail refused permanently");
                    outbox::mark_failed(&self.db, &row.id, &token, detail).await?
                }
                Err(SendError::Transient { code, detail }) => {
                    let give_up = row.attempts >= c.max_attempts;
                    let delay = backoff_ms(c, row.attempts, rand::thread_rng().gen::<f64>());
                    if give_up {
                        round.dead += 1;
                        tracing::warn!(mail_id = %row.id, kind = %row.kind, attempts = row.attempts, smtp_code = ?code, "mail not delivered; giving up");
                    } else {
                        round.retried += 1;
                        tracing::info!(mail_id = %row.id, kind = %row.kind, attempts = row.attempts, smtp_code = ?code, retry_in_ms = delay, "mail delivery failed; will retry");
                    }
                    outbox::mark_retry(&self.db, &row.id, &token, now + delay, give_up, detail)
                        .await?
                }
            };
            if !settled {
                // The lease ran out mid-send and another deliverer took the row.
                tracing::warn!(mail_id = %row.id, "mail claim lost before it was settled");
            }
        }
        Ok(round)
    }

    /// Runs rounds until `stop` resolves: back to back while there is work, otherwise
    /// every `poll_interval`.
    pub async fn run(self, stop: impl std::future::Future<Output = ()>) {
        tokio::pin!(stop);
        loop {
            let pause = match self.run_once().await {
                Ok(r) if r.claimed >= usize::try_from(self.cfg.batch).unwrap_or(1) => {
                    Duration::ZERO
                }
                Ok(_) => self.cfg.poll_interval,
                Err(e) => {
                    tracing::warn!(error = %e, "mail delivery round failed");
                    self.cfg.poll_interval
                }
            };
            tokio::select! {
                _ = &mut stop => return,
                _ = tokio::time::sleep(pause) => {}
            }
        }
    }

    /// Spawns [`Deliverer::run`] on the runtime; abort the handle to stop.
    pub fn spawn(self) -> tokio::task::JoinHandle<()> {
        tokio::spawn(self.run(std::future::pending()))
    }
}
