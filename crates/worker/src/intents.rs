//! Carrying out intents: claim a batch under a lease, then run each in one database
//! transaction with its consequences (a cancel puts the reserved stock back).

use crate::{TickReport, Worker, WorkerError};
use rampart_ledger::{Execution, IntentKind, IntentView, LedgerError};

impl Worker {
    /// Claims one batch and executes it; returns how many were claimed.
    pub(crate) async fn intents_round(
        &self,
        report: &mut TickReport,
    ) -> Result<usize, WorkerError> {
        let claimed = self
            .ledger
            .claim_intents(&self.cfg.worker_id, self.cfg.lease_ms, self.cfg.batch)
            .await?;
        for intent in &claimed {
            let outcome = match self.execute(intent).await {
                Ok(Execution::Done(_)) => {
                    report.executed += 1;
                    "done"
                }
                Ok(Execution::Replay) => {
                    report.replayed += 1;
                    "replay"
                }
                Ok(Execution::Failed(reason)) => {
                    report.failed += 1;
                    tracing::info!(
                        intent = %intent.id,
                        transaction = %intent.transaction,
                        kind = intent.kind.as_str(),
                        reason = %reason,
                        "intent failed: the transaction moved on"
                    );
                    "failed"
                }
                Ok(Execution::Skipped) => {
                    report.skipped += 1;
                    "skipped"
                }
                Err(e) => {
                    report.errors += 1;
                    tracing::warn!(
                        intent = %intent.id,
                        attempts = intent.attempts,
                        error = %e,
                        "intent error; retried after its lease"
                    );
                    "error"
                }
            };
            self.metrics.inc(
                "rampart_worker_intents_total",
                "Intents handled by the worker, by outcome.",
                &[("kind", intent.kind.as_str()), ("outcome", outcome)],
            );
        }
        Ok(claimed.len())
    }

    /// One intent in one database transaction: the ledger effect and the intent's
    /// status ([`rampart_ledger::Ledger::execute_intent_in`]) and, for a cancel just
    /// applied, the stock put back. A lost effect race is rolled back and run again
    /// (then a replay).
    pub async fn execute(&self, intent: &IntentView) -> Result<Execution, WorkerError> {
        let mut raced = false;
        loop {
            let mut tx = self.db.begin().await?;
            match self
                .ledger
                .execute_intent_in(&mut tx, intent, &self.cfg.worker_id)
                .await
            {
                Ok(outcome) => {
                    if let (Execution::Done(t), IntentKind::Cancel) = (&outcome, intent.kind) {
                        // Every line of the cancelled transaction goes back to stock.
                        for line in self.ledger.lines_in(&mut tx, t).await? {
                            if !rampart_marketplace::items::restock_in(
                                &mut tx,
                                &line.item,
                                line.quantity,
                            )
                            .await?
                            {
                                tracing::warn!(item = %line.item, transaction = %t.id, "cancelled purchase's item is gone; nothing restocked");
                            }
                        }
                    }
                    if !self.cfg.test_delay.is_zero() {
                        tokio::time::sleep(self.cfg.test_delay).await;
                    }
                    tx.commit().await?;
                    return Ok(outcome);
                }
                Err(LedgerError::EffectRace(_)) if !raced => {
                    tx.rollback().await?;
                    raced = true;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
}
