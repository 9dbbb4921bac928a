//! Reads the worker's schedules need: transactions that have sat in a state too long
//! (auto-release, the "held too long" anomaly) and per-store counts of refund and
//! dispute events (the "spike" anomaly). Read-only; decisions are the worker's.

use crate::escrow::EscrowState;
use crate::ledger::{parse_view, EscrowView, Ledger, LedgerError};
use crate::store;

/// Refund and dispute events of one store since a time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RiskCounts {
    /// The store.
    pub store: String,
    /// Disputes opened.
    pub disputes: i64,
    /// Refunds: disputes resolved with a full or partial refund, and cancellations
    /// after payment.
    pub refunds: i64,
}

impl Ledger {
    /// Up to `limit` transactions in `state` whose last state change is older than
    /// their own release period (fixed at purchase) plus `margin_ms`, at `now` (Unix
    /// ms), oldest first. With `skip_pending`, those with a pending intent are left
    /// out (auto-release must not ask twice).
    pub async fn stale(
        &self,
        state: EscrowState,
        now: i64,
        margin_ms: i64,
        skip_pending: bool,
        limit: i64,
    ) -> Result<Vec<EscrowView>, LedgerError> {
        store::stale_transactions(
            self.db(),
            state.as_str(),
            now,
            margin_ms,
            skip_pending,
            limit,
        )
        .await?
        .into_iter()
        .map(parse_view)
        .collect()
    }

    /// Up to `limit` transactions still `pending_payment` whose last change was at or
    /// before `before` (Unix ms) and that have no pending intent, oldest first.
    pub async fn unpaid_before(
        &self,
        before: i64,
        limit: i64,
    ) -> Result<Vec<EscrowView>, LedgerError> {
        store::unpaid_before(self.db(), before, limit)
            .await?
            .into_iter()
            .map(parse_view)
            .collect()
    }

    /// Per store with any, the disputes opened and the refunds (refunding
    /// resolutions, cancellations after payment) at or after `since` (Unix ms), by
    /// store ID.
    pub async fn risk_counts(&self, since: i64) -> Result<Vec<RiskCounts>, LedgerError> {
        let mut out: Vec<RiskCounts> = Vec::new();
        for (store, event, n) in store::risk_event_counts(self.db(), since).await? {
            if out.last().map(|r| r.store != store).unwrap_or(true) {
                out.push(RiskCounts {
                    store: store.clone(),
                    ..RiskCounts::default()
                });
            }
            if let Some(r) = out.last_mut() {
                if event == "open_dispute" {
                    r.disputes += n;
                } else {
                    r.refunds += n;
                }
            }
        }
        Ok(out)
    }
}
