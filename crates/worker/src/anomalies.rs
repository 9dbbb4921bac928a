//! Scheduled reconciliation and anomaly checks: everything found becomes a security
//! event (`ledger_anomaly`, with the kind and the IDs) and a metric
//! (`rampart_ledger_anomalies_total{kind}`), and is returned for tests.

use crate::{Worker, WorkerError};
use rampart_ledger::{Anomaly, EscrowState};
use rampart_security::events::{EventContext, SecurityEvent};
use std::fmt;

/// One finding of the scheduled checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkerAnomaly {
    /// Reconciliation found the ledger inconsistent.
    Ledger(Anomaly),
    /// A transaction has been funded or shipped for longer than its store's release
    /// period plus the margin (a stuck shipment, a stuck auto-release).
    HeldTooLong {
        /// The transaction.
        transaction: String,
        /// Its store.
        store: String,
        /// `funded` or `shipped`.
        state: EscrowState,
        /// When it entered that state (Unix ms).
        since: i64,
    },
    /// A store's disputes or refunds within the window reached the threshold.
    Spike {
        /// The store.
        store: String,
        /// Disputes opened in the window.
        disputes: i64,
        /// Refunds resolved in the window.
        refunds: i64,
    },
}

impl WorkerAnomaly {
    /// A stable name for the metric label and the event.
    pub fn kind(&self) -> &'static str {
        match self {
            WorkerAnomaly::Ledger(a) => match a {
                Anomaly::EntryUnbalanced { .. } => "entry_unbalanced",
                Anomaly::LedgerUnbalanced { .. } => "ledger_unbalanced",
                Anomaly::AccountBalance { .. } => "account_balance",
                Anomaly::CurrencyMismatch { .. } => "currency_mismatch",
                Anomaly::MisfiledPosting { .. } => "misfiled_posting",
                Anomaly::StateMismatch { .. } => "state_mismatch",
                Anomaly::CorruptTransaction { .. } => "corrupt_transaction",
            },
            WorkerAnomaly::HeldTooLong { .. } => "held_too_long",
            WorkerAnomaly::Spike { .. } => "refund_dispute_spike",
        }
    }
}

impl fmt::Display for WorkerAnomaly {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WorkerAnomaly::Ledger(a) => a.fmt(f),
            WorkerAnomaly::HeldTooLong {
                transaction,
                store,
                state,
                since,
            } => write!(
                f,
                "transaction {transaction} of store {store} has been {} since {since} (longer than the release period plus margin)",
                state.as_str()
            ),
            WorkerAnomaly::Spike {
                store,
                disputes,
                refunds,
            } => write!(
                f,
                "store {store} had {disputes} disputes and {refunds} refunds in the window"
            ),
        }
    }
}

impl Worker {
    /// Reconciles the ledger, runs the held-too-long and spike checks, and reports
    /// each finding as a security event and a metric.
    pub(crate) async fn check(&self, now: i64) -> Result<Vec<WorkerAnomaly>, WorkerError> {
        let report = rampart_ledger::reconcile(&self.db).await?;
        let mut found: Vec<WorkerAnomaly> = report
            .anomalies
            .into_iter()
            .map(WorkerAnomaly::Ledger)
            .collect();
        let limit = self.cfg.batch.max(1) * 8;
        for state in [EscrowState::Funded, EscrowState::Shipped] {
            for t in self
                .ledger
                .stale(state, now, self.cfg.held_margin_ms, false, limit)
                .await?
            {
                found.push(WorkerAnomaly::HeldTooLong {
                    transaction: t.id.as_str().to_owned(),
                    store: t.store.as_str().to_owned(),
                    state,
                    since: t.updated_at,
                });
            }
        }
        let since = now.saturating_sub(self.cfg.spike_window_ms);
        for r in self.ledger.risk_counts(since).await? {
            if r.disputes >= self.cfg.spike_threshold || r.refunds >= self.cfg.spike_threshold {
                found.push(WorkerAnomaly::Spike {
                    store: r.store,
                    disputes: r.disputes,
                    refunds: r.refunds,
                });
            }
        }
        self.metrics.inc(
            "rampart_worker_reconcile_runs_total",
            "Scheduled reconciliations run by the worker.",
            &[],
        );
        for a in &found {
            let text = a.to_string();
            self.events.emit(
                SecurityEvent::LedgerAnomaly,
                &EventContext::default(),
                &[("kind", a.kind()), ("anomaly", &text)],
            );
            self.metrics.inc(
                "rampart_ledger_anomalies_total",
                "Ledger anomalies found by the worker's scheduled checks, by kind.",
                &[("kind", a.kind())],
            );
        }
        Ok(found)
    }
}
