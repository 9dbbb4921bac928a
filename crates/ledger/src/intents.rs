//! Intents (D4): release and cancel are *requested* here — validated against the
//! transaction's current state, stored as a pending intent and audited as
//! `release_request` / `cancel_request` in one database transaction — and *carried
//! out* later by the worker (`rampart worker`), which applies the ledger effect and
//! marks the intent done in one commit. Who may request is the caller's policy
//! decision (marketplace); this module only keeps the record straight.

use crate::escrow::{transition, EscrowEvent, EscrowState};
use crate::ledger::{parse_view, Applied, EscrowView, Ledger, LedgerError};
use crate::store;
use rampart_audit::{self as audit, ActionType, NewAuditEntry, Target, TargetKind};
use rampart_db::Tx;
use rampart_kernel::ids::TransactionId;
use rampart_kernel::UserId;

/// What an intent asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IntentKind {
    /// Release the escrow to the seller (buyer confirmed receipt, or auto-release).
    Release,
    /// Cancel before shipping (seller or staff), refunding a funded amount.
    Cancel,
}

impl IntentKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            IntentKind::Release => "release",
            IntentKind::Cancel => "cancel",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<IntentKind> {
        match s {
            "release" => Some(IntentKind::Release),
            "cancel" => Some(IntentKind::Cancel),
            _ => None,
        }
    }

    /// The escrow event the worker applies.
    pub fn event(self) -> EscrowEvent {
        match self {
            IntentKind::Release => EscrowEvent::Release,
            IntentKind::Cancel => EscrowEvent::Cancel,
        }
    }

    fn audit_action(self) -> ActionType {
        match self {
            IntentKind::Release => ActionType::ReleaseRequest,
            IntentKind::Cancel => ActionType::CancelRequest,
        }
    }
}

/// Where an intent stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IntentStatus {
    /// Waiting for (or leased by) a worker.
    Pending,
    /// Carried out (or found already applied).
    Done,
    /// Could not be carried out (the transaction moved to a state where the event no
    /// longer applies, e.g. a dispute opened first); `last_error` says why.
    Failed,
}

impl IntentStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            IntentStatus::Pending => "pending",
            IntentStatus::Done => "done",
            IntentStatus::Failed => "failed",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<IntentStatus> {
        match s {
            "pending" => Some(IntentStatus::Pending),
            "done" => Some(IntentStatus::Done),
            "failed" => Some(IntentStatus::Failed),
            _ => None,
        }
    }
}

/// An intent as callers see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntentView {
    /// Its ID.
    pub id: String,
    /// The transaction it acts on.
    pub transaction: TransactionId,
    /// Release or cancel.
    pub kind: IntentKind,
    /// Pending, done or failed.
    pub status: IntentStatus,
    /// Who asked (`None`: the system, e.g. auto-release).
    pub requested_by: Option<UserId>,
    /// Times a worker started it.
    pub attempts: i64,
    /// Why it failed, when it did.
    pub last_error: Option<String>,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms, once done or failed.
    pub done_at: Option<i64>,
}

/// A stored intent.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct IntentRow {
    pub id: String,
    pub transaction_id: String,
    pub kind: String,
    pub status: String,
    pub requested_by: Option<String>,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub done_at: Option<i64>,
}

pub(crate) const INTENT_COLUMNS: &str =
    "id, transaction_id, kind, status, requested_by, attempts, last_error, created_at, done_at";

pub(crate) fn parse_intent(r: IntentRow) -> Result<IntentView, LedgerError> {
    Ok(IntentView {
        kind: IntentKind::parse(&r.kind)
            .ok_or_else(|| LedgerError::Corrupt(format!("kind of intent {}", r.id)))?,
        status: IntentStatus::parse(&r.status)
            .ok_or_else(|| LedgerError::Corrupt(format!("status of intent {}", r.id)))?,
        transaction: TransactionId::from_stored(r.transaction_id),
        requested_by: r.requested_by.map(UserId::from_stored),
        attempts: r.attempts,
        last_error: r.last_error,
        created_at: r.created_at,
        done_at: r.done_at,
        id: r.id,
    })
}

impl Ledger {
    /// Requests `kind` on a transaction: refused with
    /// [`LedgerError::Transition`] when the event does not apply in the current
    /// state; otherwise a pending intent is stored and audited (`release_request` /
    /// `cancel_request`) in one database transaction. Asking again while one is
    /// pending returns that intent (idempotent; no second audit row).
    pub async fn request_intent(
        &self,
        transaction: &TransactionId,
        kind: IntentKind,
        actor: Option<&UserId>,
        request_id: Option<&str>,
    ) -> Result<IntentView, LedgerError> {
        let mut tx = self.db().begin().await?;
        let view = self
            .request_intent_in(&mut tx, transaction, kind, actor, request_id)
            .await?;
        tx.commit().await?;
        Ok(view)
    }

    /// [`Ledger::request_intent`] inside the caller's transaction. Does not commit.
    pub async fn request_intent_in(
        &self,
        tx: &mut Tx,
        transaction: &TransactionId,
        kind: IntentKind,
        actor: Option<&UserId>,
        request_id: Option<&str>,
    ) -> Result<IntentView, LedgerError> {
        let row = store::lock_transaction(tx, transaction.as_str())
            .await?
            .ok_or(LedgerError::NotFound)?;
        let txn = parse_view(row)?;
        if let Some(existing) =
            store::pending_intent(tx, transaction.as_str(), kind.as_str()).await?
        {
            return parse_intent(existing);
        }
        if let Some(other) = store::pending_intent_kind(tx, transaction.as_str()).await? {
            if let Some(k) = IntentKind::parse(&other) {
                return Err(LedgerError::IntentPending(k));
            }
        }
        transition(txn.state, kind.event())?;
        let now = self.now_ms();
        let row = IntentRow {
            id: uuid::Uuid::now_v7().to_string(),
            transaction_id: transaction.as_str().to_owned(),
            kind: kind.as_str().to_owned(),
            status: IntentStatus::Pending.as_str().to_owned(),
            requested_by: actor.map(|a| a.as_str().to_owned()),
            attempts: 0,
            last_error: None,
            created_at: now,
            done_at: None,
        };
        store::insert_intent(tx, &row, request_id).await?;
        audit::record(
            tx,
            NewAuditEntry {
                actor_user_uuid: actor.map(UserId::as_str),
                action: kind.audit_action(),
                target: Target::new(TargetKind::Transaction, transaction.as_str()),
                metadata: serde_json::json!({
                    "intent_id": row.id,
                    "kind": row.kind,
                    "state": txn.state.as_str(),
                }),
                request_id,
                created_at: now,
            },
        )
        .await?;
        parse_intent(row)
    }

    /// Every intent of a transaction, oldest first.
    pub async fn intents_for(
        &self,
        transaction: &TransactionId,
    ) -> Result<Vec<IntentView>, LedgerError> {
        store::intents_for(self.db(), transaction.as_str())
            .await?
            .into_iter()
            .map(parse_intent)
            .collect()
    }
}

/// Whether a state still admits the intent (the worker marks it failed if not).
pub fn still_applies(state: EscrowState, kind: IntentKind) -> bool {
    transition(state, kind.event()).is_ok()
}

/// What executing an intent came to (see [`Ledger::execute_intent_in`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Execution {
    /// The effect was applied now and the intent marked done; the transaction as it
    /// is after the effect.
    Done(EscrowView),
    /// The effect had already been applied (its effect key exists): the intent was
    /// marked done and nothing else written.
    Replay,
    /// The event no longer applies (the transaction moved on, e.g. a dispute opened
    /// first): the intent was marked failed with this reason.
    Failed(String),
    /// The intent is no longer pending or no longer leased to this worker (another
    /// worker took it over after the lease expired): nothing was written.
    Skipped,
}

impl Ledger {
    /// Leases up to `limit` due intents to `worker_id` for `lease_ms` and counts an
    /// attempt on each: pending intents whose lease was never taken or has expired
    /// (a worker that died leaves its lease to expire). Concurrent workers get
    /// disjoint sets (PostgreSQL `FOR UPDATE SKIP LOCKED`; SQLite's single writer).
    pub async fn claim_intents(
        &self,
        worker_id: &str,
        lease_ms: i64,
        limit: i64,
    ) -> Result<Vec<IntentView>, LedgerError> {
        store::claim_intents(self.db(), worker_id, self.now_ms(), lease_ms, limit)
            .await?
            .into_iter()
            .map(parse_intent)
            .collect()
    }

    /// Carries out a claimed intent inside the caller's database transaction, which
    /// must commit for any of it to count (so the worker can add the effect's
    /// consequences, e.g. restocking a cancelled purchase, to the same commit):
    ///
    /// 1. re-reads the intent under a row lock: unless it is still pending and leased
    ///    to `worker_id`, answers [`Execution::Skipped`] and writes nothing;
    /// 2. applies the intent's event ([`Ledger::apply_in`]; the audit row names the
    ///    requester as actor, `None` for the system);
    /// 3. marks the intent done ([`Execution::Done`], or [`Execution::Replay`] when
    ///    the effect key already existed), or failed with the reason when the event no
    ///    longer applies or the stored data cannot be applied.
    ///
    /// [`LedgerError::EffectRace`] means another writer committed the same effect
    /// meanwhile: roll back and run again (it then answers `Replay`). Other errors
    /// leave the intent pending; it is retried once its lease expires.
    pub async fn execute_intent_in(
        &self,
        tx: &mut Tx,
        intent: &IntentView,
        worker_id: &str,
    ) -> Result<Execution, LedgerError> {
        match store::lock_intent(tx, &intent.id).await? {
            Some((status, Some(owner)))
                if status == IntentStatus::Pending.as_str() && owner == worker_id => {}
            _ => return Ok(Execution::Skipped),
        }
        let applied = self
            .apply_in(
                tx,
                &intent.transaction,
                intent.kind.event(),
                intent.requested_by.as_ref(),
                None,
            )
            .await;
        let now = self.now_ms();
        let (status, reason, outcome) = match applied {
            Ok(Applied::Done(_)) => {
                let row = store::transaction(&mut *tx, intent.transaction.as_str())
                    .await?
                    .ok_or(LedgerError::NotFound)?;
                (IntentStatus::Done, None, Execution::Done(parse_view(row)?))
            }
            Ok(Applied::Replay(_)) => (IntentStatus::Done, None, Execution::Replay),
            // Refused before anything was written (the rules are pure): the
            // transaction stays usable for marking the intent.
            Err(LedgerError::Transition(e)) => {
                let reason = e.to_string();
                (
                    IntentStatus::Failed,
                    Some(reason.clone()),
                    Execution::Failed(reason),
                )
            }
            Err(
                e @ (LedgerError::Corrupt(_) | LedgerError::BadTerms(_) | LedgerError::BadRefund),
            ) => {
                let reason = e.to_string();
                (
                    IntentStatus::Failed,
                    Some(reason.clone()),
                    Execution::Failed(reason),
                )
            }
            Err(e) => return Err(e),
        };
        store::settle_intent(tx, &intent.id, status.as_str(), reason.as_deref(), now).await?;
        Ok(outcome)
    }

    /// [`Ledger::execute_intent_in`] in its own database transaction, committed;
    /// a lost effect race is rolled back and run once more (then a replay).
    pub async fn execute_intent(
        &self,
        intent: &IntentView,
        worker_id: &str,
    ) -> Result<Execution, LedgerError> {
        let mut tries = 0;
        loop {
            let mut tx = self.db().begin().await?;
            match self.execute_intent_in(&mut tx, intent, worker_id).await {
                Ok(e) => {
                    tx.commit().await?;
                    return Ok(e);
                }
                Err(LedgerError::EffectRace(_)) if tries == 0 => {
                    tx.rollback().await?;
                    tries += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }
}
