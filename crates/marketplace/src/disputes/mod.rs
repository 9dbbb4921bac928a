//! Disputes (D5, D9): the buyer or a member of the selling store opens a dispute on a
//! funded or shipped escrow transaction, the parties and staff add claims, and staff
//! resolve it — release to the seller, refund the buyer, or a partial refund.
//!
//! Who may do what is [`crate::policy::dispute`]'s, decided on the caller's standing
//! (buyer? member of the store?) read with the dispute. Money moves only through the
//! ledger: opening and resolving apply the escrow event with `Ledger::apply_in` in the
//! same database transaction as the dispute row, so the dispute and the money never
//! disagree. Design: `docs/design/disputes.md`.

pub mod store;

use crate::policy::{self, Caller, DisputeAction, DisputeParty, DisputeSide, StoreRole};
use crate::{currency, MarketError, Marketplace};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rampart_db::DbError;
use rampart_kernel::fields::bounded_text;
use rampart_kernel::ids::{DisputeId, StoreId, TransactionId};
use rampart_kernel::{Currency, FieldError, FieldErrors, Money, UserId};
use rampart_ledger::{Applied, EscrowEvent, EscrowView, LedgerError};
use store::{ClaimRow, DisputeRow};

/// Longest reason or claim (characters, after trimming).
pub const CLAIM_MAX: usize = 4000;
/// Largest queue page.
pub const LIMIT_MAX: i64 = 100;
/// Queue page size when none is asked for.
pub const LIMIT_DEFAULT: i64 = 20;

/// Where a dispute stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DisputeStatus {
    /// Waiting for staff; claims may be added.
    Open,
    /// Decided; final.
    Resolved,
}

impl DisputeStatus {
    /// The stable stored name.
    pub const fn as_str(self) -> &'static str {
        match self {
            DisputeStatus::Open => "open",
            DisputeStatus::Resolved => "resolved",
        }
    }
    /// Parses a stored or submitted name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "open" => Some(DisputeStatus::Open),
            "resolved" => Some(DisputeStatus::Resolved),
            _ => None,
        }
    }
}

/// How a resolved dispute ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DisputeOutcome {
    /// The escrow was released to the seller (less the platform fee).
    Release,
    /// The whole amount went back to the buyer.
    Refund,
    /// Part went back to the buyer, the rest to the seller (less the fee on it).
    Partial,
}

impl DisputeOutcome {
    /// The stable stored name.
    pub const fn as_str(self) -> &'static str {
        match self {
            DisputeOutcome::Release => "release",
            DisputeOutcome::Refund => "refund",
            DisputeOutcome::Partial => "partial",
        }
    }
    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "release" => Some(DisputeOutcome::Release),
            "refund" => Some(DisputeOutcome::Refund),
            "partial" => Some(DisputeOutcome::Partial),
            _ => None,
        }
    }
}

/// A staff decision on a dispute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    /// Release the escrow to the seller.
    Release,
    /// Refund the buyer in full.
    Refund,
    /// Refund `refund` to the buyer, release the rest to the seller. Must be strictly
    /// between zero and the escrowed amount, in its currency (build it with
    /// [`DisputeView::currency`]).
    Partial {
        /// The amount returned to the buyer.
        refund: Money,
    },
}

/// A dispute as callers see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisputeView {
    /// ID.
    pub id: DisputeId,
    /// The escrow transaction disputed.
    pub transaction: TransactionId,
    /// The selling store.
    pub store: StoreId,
    /// The transaction's buyer.
    pub buyer: UserId,
    /// Who opened it.
    pub opened_by: UserId,
    /// Which side opened it (buyer or seller).
    pub opened_by_side: DisputeSide,
    /// Why (also the first claim).
    pub reason: String,
    /// Open or resolved.
    pub status: DisputeStatus,
    /// How it ended, once resolved.
    pub outcome: Option<DisputeOutcome>,
    /// The amount refunded by a partial refund.
    pub refund: Option<Money>,
    /// The transaction's currency.
    pub currency: Currency,
    /// The staff member who resolved it.
    pub resolved_by: Option<UserId>,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms (a claim or the resolution moves it).
    pub updated_at: i64,
    /// Unix ms, once resolved.
    pub resolved_at: Option<i64>,
}

impl TryFrom<DisputeRow> for DisputeView {
    type Error = MarketError;
    fn try_from(r: DisputeRow) -> Result<Self, MarketError> {
        let cur = currency(&r.currency)?;
        let outcome = match r.outcome.as_deref() {
            Some(o) => {
                Some(DisputeOutcome::parse(o).ok_or_else(|| crate::corrupt("dispute outcome"))?)
            }
            None => None,
        };
        Ok(DisputeView {
            id: DisputeId::from_stored(r.id),
            transaction: TransactionId::from_stored(r.transaction_id),
            store: StoreId::from_stored(r.store_id),
            buyer: UserId::from_stored(r.buyer_id),
            opened_by: UserId::from_stored(r.opened_by),
            opened_by_side: DisputeSide::parse(&r.opened_by_side)
                .ok_or_else(|| crate::corrupt("dispute side"))?,
            reason: r.reason,
            status: DisputeStatus::parse(&r.status)
                .ok_or_else(|| crate::corrupt("dispute status"))?,
            outcome,
            refund: r.refund_minor.map(|m| Money::new(m, cur)),
            currency: cur,
            resolved_by: r.resolved_by.map(UserId::from_stored),
            created_at: r.created_at,
            updated_at: r.updated_at,
            resolved_at: r.resolved_at,
        })
    }
}

/// A claim in a dispute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimView {
    /// ID (UUID text).
    pub id: String,
    /// The dispute.
    pub dispute: DisputeId,
    /// Who wrote it.
    pub author: UserId,
    /// The side they wrote for.
    pub side: DisputeSide,
    /// The text (may hold line breaks).
    pub body: String,
    /// Unix ms.
    pub created_at: i64,
}

impl TryFrom<ClaimRow> for ClaimView {
    type Error = MarketError;
    fn try_from(r: ClaimRow) -> Result<Self, MarketError> {
        Ok(ClaimView {
            id: r.id,
            dispute: DisputeId::from_stored(r.dispute_id),
            author: UserId::from_stored(r.author_id),
            side: DisputeSide::parse(&r.side).ok_or_else(|| crate::corrupt("claim side"))?,
            body: r.body,
            created_at: r.created_at,
        })
    }
}

/// A dispute with its claims (oldest first) and the transaction behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisputeDetail {
    /// The dispute.
    pub dispute: DisputeView,
    /// Its claims, oldest first; the first is the reason.
    pub claims: Vec<ClaimView>,
    /// The escrow transaction (amount, state).
    pub transaction: EscrowView,
    /// The side the caller speaks for (staff: [`DisputeSide::Staff`]).
    pub viewer_side: DisputeSide,
}

/// Where a queue page ends: the last dispute's `(created_at, id)`. Opaque to clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisputeCursor {
    /// The last dispute's creation time.
    pub created_at: i64,
    /// The last dispute's ID.
    pub id: DisputeId,
}

impl DisputeCursor {
    /// The opaque text form (URL-safe base64).
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}.{}", self.created_at, self.id))
    }
    /// Parses a client's cursor; anything we did not write is refused.
    pub fn decode(s: &str) -> Option<DisputeCursor> {
        let raw = URL_SAFE_NO_PAD.decode(s.as_bytes()).ok()?;
        let text = std::str::from_utf8(&raw).ok()?;
        let (t, id) = text.split_once('.')?;
        let created_at: i64 = t.parse().ok()?;
        let id: DisputeId = id.parse().ok()?;
        if created_at < 0 || id.as_str() != &text[t.len() + 1..] {
            return None;
        }
        Some(DisputeCursor { created_at, id })
    }
}

/// A staff queue request, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisputeQuery {
    /// Only disputes in this status (`None`: all).
    pub status: Option<DisputeStatus>,
    /// Page size, 1..=[`LIMIT_MAX`].
    pub limit: i64,
    /// Continue after this point.
    pub after: Option<DisputeCursor>,
}

impl Default for DisputeQuery {
    /// Open disputes, first page.
    fn default() -> Self {
        DisputeQuery {
            status: Some(DisputeStatus::Open),
            limit: LIMIT_DEFAULT,
            after: None,
        }
    }
}

impl DisputeQuery {
    /// Parses untrusted query parameters, collecting every field error. `status` is
    /// `open` (the default), `resolved` or `all`.
    pub fn parse(
        status: Option<&str>,
        limit: Option<i64>,
        cursor: Option<&str>,
    ) -> Result<Self, MarketError> {
        let mut errs = FieldErrors::new();
        let status = match status.filter(|s| !s.is_empty()) {
            None => Some(DisputeStatus::Open),
            Some("all") => None,
            Some(s) => match DisputeStatus::parse(s) {
                Some(s) => Some(s),
                None => {
                    errs.push(FieldError::new("status", "invalid_value"));
                    None
                }
            },
        };
        let limit = limit.unwrap_or(LIMIT_DEFAULT);
        if !(1..=LIMIT_MAX).contains(&limit) {
            errs.push(FieldError::new("limit", "out_of_range"));
        }
        let after = match cursor.filter(|s| !s.is_empty()) {
            Some(c) => {
                let d = DisputeCursor::decode(c);
                if d.is_none() {
                    errs.push(FieldError::new("cursor", "invalid_value"));
                }
                d
            }
            None => None,
        };
        if !errs.is_empty() {
            return Err(MarketError::Validation(errs));
        }
        Ok(DisputeQuery {
            status,
            limit,
            after,
        })
    }
}

/// One page of the staff queue.
#[derive(Debug, Clone)]
pub struct DisputePage {
    /// Disputes, oldest first.
    pub disputes: Vec<DisputeView>,
    /// The cursor of the next page, if there is one.
    pub next: Option<DisputeCursor>,
}

/// A reason or claim: bounded text under the kernel's rules (no control or hidden
/// format characters), except that line breaks are kept (`\r\n` becomes `\n`).
pub fn parse_claim(field: &str, raw: &str) -> Result<String, FieldError> {
    let text = raw.replace("\r\n", "\n");
    let text = text.trim();
    // The kernel's check, with each line break standing in as a space (same length).
    bounded_text(field, &text.replace('\n', " "), 1, CLAIM_MAX)?;
    Ok(text.to_owned())
}

fn validation(field: &str, code: &'static str) -> MarketError {
    MarketError::Validation(FieldErrors(vec![FieldError::new(field, code)]))
}

fn already_resolved() -> MarketError {
    MarketError::Conflict(FieldErrors(vec![FieldError::new(
        "dispute",
        "already_resolved",
    )]))
}

/// What the ledger's refusals mean to a marketplace caller.
fn ledger_error(e: LedgerError) -> MarketError {
    match e {
        LedgerError::NotFound => MarketError::NotFound,
        LedgerError::Transition(_) | LedgerError::IntentPending(_) => {
            MarketError::InvalidTransition
        }
        LedgerError::BadRefund => validation("refund_minor", "out_of_range"),
        LedgerError::Concurrent | LedgerError::EffectRace(_) => MarketError::Concurrent,
        LedgerError::Db(d) => d.into(),
        other => MarketError::Internal(other.to_string()),
    }
}

fn role(r: Option<String>) -> Result<Option<StoreRole>, MarketError> {
    r.map(|s| s.parse().map_err(|_| crate::corrupt("store role")))
        .transpose()
}

fn party(caller: &Caller, buyer: &str, membership: Option<StoreRole>) -> DisputeParty {
    DisputeParty {
        is_buyer: caller.user.as_str() == buyer,
        membership,
    }
}

impl Marketplace {
    /// Opens a dispute on a funded or shipped transaction (its buyer, or any member
    /// of the selling store; anyone else gets [`MarketError::NotFound`]). In one
    /// database transaction: the ledger moves the escrow to `disputed` (audited as
    /// `dispute_open`; auto-release and release intents no longer apply), the dispute
    /// is stored and the reason becomes its first claim. Any other state is
    /// [`MarketError::InvalidTransition`].
    pub async fn open_dispute(
        &self,
        caller: &Caller,
        transaction: &TransactionId,
        reason: &str,
    ) -> Result<DisputeView, MarketError> {
        let txn = self
            .ledger
            .get(transaction)
            .await
            .map_err(ledger_error)?
            .ok_or(MarketError::NotFound)?;
        let mut tx = self.db.begin().await?;
        crate::act_in(&mut tx, caller, txn.store.as_str()).await?;
        let membership =
            role(store::member_role(&mut tx, txn.store.as_str(), caller.user.as_str()).await?)?;
        let side = policy::dispute(
            caller,
            party(caller, txn.buyer.as_str(), membership),
            DisputeAction::Open,
        )?;
        let reason = parse_claim("reason", reason)
            .map_err(|e| MarketError::Validation(FieldErrors(vec![e])))?;
        match self
            .ledger
            .apply_in(
                &mut tx,
                transaction,
                EscrowEvent::OpenDispute,
                Some(&caller.user),
                caller.request_id.as_deref(),
            )
            .await
        {
            Ok(Applied::Done(_)) => {}
            // Opened before (the effect exists): the state graph allows one dispute
            // per transaction.
            Ok(Applied::Replay(_)) | Err(LedgerError::EffectRace(_)) => {
                return Err(MarketError::InvalidTransition)
            }
            Err(e) => return Err(ledger_error(e)),
        }
        let now = self.now();
        let row = DisputeRow {
            id: DisputeId::generate().into_string(),
            transaction_id: transaction.as_str().to_owned(),
            store_id: txn.store.as_str().to_owned(),
            buyer_id: txn.buyer.as_str().to_owned(),
            opened_by: caller.user.as_str().to_owned(),
            opened_by_side: side.as_str().to_owned(),
            reason: reason.clone(),
            status: DisputeStatus::Open.as_str().to_owned(),
            outcome: None,
            refund_minor: None,
            currency: txn.amount.currency.as_str().to_owned(),
            resolved_by: None,
            created_at: now,
            updated_at: now,
            resolved_at: None,
        };
        match store::insert(&mut tx, &row).await {
            Ok(()) => {}
            Err(DbError::Conflict(_)) => return Err(MarketError::InvalidTransition),
            Err(e) => return Err(e.into()),
        }
        store::insert_claim(
            &mut tx,
            &ClaimRow {
                id: uuid::Uuid::now_v7().to_string(),
                dispute_id: row.id.clone(),
                author_id: row.opened_by.clone(),
                side: side.as_str().to_owned(),
                body: reason,
                created_at: now,
            },
        )
        .await?;
        tx.commit().await?;
        DisputeView::try_from(row)
    }

    /// Adds a claim to an open dispute (the parties, and staff holding
    /// `resolve_dispute`); a resolved dispute takes none
    /// ([`MarketError::InvalidTransition`]).
    pub async fn add_claim(
        &self,
        caller: &Caller,
        id: &DisputeId,
        body: &str,
    ) -> Result<ClaimView, MarketError> {
        let mut tx = self.db.begin().await?;
        let a = store::find_with_role(&mut tx, id.as_str(), caller.user.as_str())
            .await?
            .ok_or(MarketError::NotFound)?;
        // The dispute names its store: what follows acts in it alone.
        crate::act_in(&mut tx, caller, &a.dispute.store_id).await?;
        let side = policy::dispute(
            caller,
            party(caller, &a.dispute.buyer_id, role(a.member_role)?),
            DisputeAction::AddClaim,
        )?;
        let body =
            parse_claim("body", body).map_err(|e| MarketError::Validation(FieldErrors(vec![e])))?;
        let now = self.now();
        // Moves `updated_at` only while open: a claim racing the resolution waits
        // for its row lock and then finds it resolved.
        if store::touch_open(&mut tx, id.as_str(), now).await? == 0 {
            return Err(MarketError::InvalidTransition);
        }
        let row = ClaimRow {
            id: uuid::Uuid::now_v7().to_string(),
            dispute_id: id.as_str().to_owned(),
            author_id: caller.user.as_str().to_owned(),
            side: side.as_str().to_owned(),
            body,
            created_at: now,
        };
        store::insert_claim(&mut tx, &row).await?;
        tx.commit().await?;
        ClaimView::try_from(row)
    }

    /// A dispute with its claims and transaction (the parties, and staff holding
    /// `resolve_dispute`; anyone else gets [`MarketError::NotFound`]).
    pub async fn dispute(
        &self,
        caller: &Caller,
        id: &DisputeId,
    ) -> Result<DisputeDetail, MarketError> {
        let a = store::find_with_role(&self.db, id.as_str(), caller.user.as_str())
            .await?
            .ok_or(MarketError::NotFound)?;
        let side = policy::dispute(
            caller,
            party(caller, &a.dispute.buyer_id, role(a.member_role)?),
            DisputeAction::View,
        )?;
        self.detail(a.dispute, side).await
    }

    /// The dispute of a transaction, if it has one, for those who may see it (the
    /// parties, and staff holding `resolve_dispute`). Anyone else gets
    /// [`MarketError::NotFound`], whether or not there is a dispute.
    pub async fn dispute_for_transaction(
        &self,
        caller: &Caller,
        transaction: &TransactionId,
    ) -> Result<Option<DisputeDetail>, MarketError> {
        let txn = self
            .ledger
            .get(transaction)
            .await
            .map_err(ledger_error)?
            .ok_or(MarketError::NotFound)?;
        let membership =
            role(store::member_role(&self.db, txn.store.as_str(), caller.user.as_str()).await?)?;
        let side = policy::dispute(
            caller,
            party(caller, txn.buyer.as_str(), membership),
            DisputeAction::View,
        )?;
        match store::of_transaction(&self.db, transaction.as_str()).await? {
            Some(row) => Ok(Some(self.detail(row, side).await?)),
            None => Ok(None),
        }
    }

    async fn detail(
        &self,
        row: DisputeRow,
        viewer_side: DisputeSide,
    ) -> Result<DisputeDetail, MarketError> {
        let claims = store::claims(&self.db, &row.id)
            .await?
            .into_iter()
            .map(ClaimView::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        let dispute = DisputeView::try_from(row)?;
        let transaction = self
            .ledger
            .get(&dispute.transaction)
            .await
            .map_err(ledger_error)?
            .ok_or_else(|| crate::corrupt("dispute transaction"))?;
        Ok(DisputeDetail {
            dispute,
            claims,
            transaction,
            viewer_side,
        })
    }

    /// Moderation: a store's latest disputes, newest first, at most [`LIMIT_MAX`]
    /// (staff holding `warn_store`; [`MarketError::NotFound`] for everyone else).
    pub async fn store_disputes(
        &self,
        caller: &Caller,
        store_id: &StoreId,
    ) -> Result<Vec<DisputeView>, MarketError> {
        policy::moderate(caller)?;
        store::of_store(&self.db, store_id.as_str(), LIMIT_MAX)
            .await?
            .into_iter()
            .map(DisputeView::try_from)
            .collect()
    }

    /// The staff queue: every store's disputes, oldest first, filtered by status
    /// (staff holding `resolve_dispute`; anyone else gets [`MarketError::NotFound`]).
    pub async fn dispute_queue(
        &self,
        caller: &Caller,
        q: &DisputeQuery,
    ) -> Result<DisputePage, MarketError> {
        policy::dispute(caller, DisputeParty::default(), DisputeAction::Queue)?;
        let limit = q.limit.clamp(1, LIMIT_MAX);
        let mut rows = store::queue(
            &self.db,
            q.status.map(DisputeStatus::as_str),
            q.after.as_ref().map(|c| (c.created_at, c.id.as_str())),
            limit,
        )
        .await?;
        let more = rows.len() as i64 > limit;
        rows.truncate(limit as usize);
        let disputes = rows
            .into_iter()
            .map(DisputeView::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        let next = if more {
            disputes.last().map(|d| DisputeCursor {
                created_at: d.created_at,
                id: d.id.clone(),
            })
        } else {
            None
        };
        Ok(DisputePage { disputes, next })
    }

    /// Resolves an open dispute (staff holding `resolve_dispute` who are party to
    /// neither side: the buyer or a member of the selling store gets
    /// [`MarketError::Forbidden`]). A partial refund must be strictly between zero and
    /// the escrowed amount, in its currency ([`MarketError::Validation`]). In one
    /// database transaction: the dispute row is marked resolved and the ledger applies
    /// `resolve_release` / `resolve_refund` / `resolve_partial` — the balanced
    /// postings and the `dispute_resolve` / `refund` / `dispute_partial_refund` audit
    /// row with the amounts. A second resolution is a conflict and changes nothing.
    pub async fn resolve_dispute(
        &self,
        caller: &Caller,
        id: &DisputeId,
        resolution: Resolution,
    ) -> Result<DisputeView, MarketError> {
        let mut tx = self.db.begin().await?;
        let a = store::find_with_role(&mut tx, id.as_str(), caller.user.as_str())
            .await?
            .ok_or(MarketError::NotFound)?;
        crate::act_in(&mut tx, caller, &a.dispute.store_id).await?;
        policy::dispute(
            caller,
            party(caller, &a.dispute.buyer_id, role(a.member_role)?),
            DisputeAction::Resolve,
        )?;
        if a.dispute.status != DisputeStatus::Open.as_str() {
            return Err(already_resolved());
        }
        let transaction = TransactionId::from_stored(a.dispute.transaction_id.clone());
        let (event, outcome, refund_minor) = match resolution {
            Resolution::Release => (EscrowEvent::ResolveRelease, DisputeOutcome::Release, None),
            Resolution::Refund => (EscrowEvent::ResolveRefund, DisputeOutcome::Refund, None),
            Resolution::Partial { refund } => {
                // The amount never changes after purchase: reading it beside the
                // transaction is safe, and the ledger checks again under its lock.
                let txn = self
                    .ledger
                    .get(&transaction)
                    .await
                    .map_err(ledger_error)?
                    .ok_or_else(|| crate::corrupt("dispute transaction"))?;
                if refund.currency != txn.amount.currency {
                    return Err(validation("currency", "invalid_value"));
                }
                if refund.minor <= 0 || refund.minor >= txn.amount.minor {
                    return Err(validation("refund_minor", "out_of_range"));
                }
                (
                    EscrowEvent::ResolvePartial { refund },
                    DisputeOutcome::Partial,
                    Some(refund.minor),
                )
            }
        };
        let now = self.now();
        if store::resolve(
            &mut tx,
            id.as_str(),
            outcome.as_str(),
            refund_minor,
            caller.user.as_str(),
            now,
        )
        .await?
            == 0
        {
            return Err(already_resolved());
        }
        match self
            .ledger
            .apply_in(
                &mut tx,
                &transaction,
                event,
                Some(&caller.user),
                caller.request_id.as_deref(),
            )
            .await
        {
            Ok(Applied::Done(_)) => {}
            // The escrow was already settled while the dispute row said open: refuse
            // rather than mark a decision the money does not reflect.
            Ok(Applied::Replay(_)) | Err(LedgerError::EffectRace(_)) => {
                return Err(already_resolved())
            }
            Err(e) => return Err(ledger_error(e)),
        }
        tx.commit().await?;
        DisputeView::try_from(DisputeRow {
            status: DisputeStatus::Resolved.as_str().to_owned(),
            outcome: Some(outcome.as_str().to_owned()),
            refund_minor,
            resolved_by: Some(caller.user.as_str().to_owned()),
            resolved_at: Some(now),
            updated_at: now,
            ..a.dispute
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn claims_keep_line_breaks_and_refuse_hidden_characters() {
        assert_eq!(parse_claim("body", " a\r\nb ").unwrap(), "a\nb");
        assert_eq!(parse_claim("body", "  ").unwrap_err().code, "required");
        assert_eq!(
            parse_claim("body", "a\u{202e}b").unwrap_err().code,
            "invalid_characters"
        );
        assert_eq!(
            parse_claim("body", "a\u{0}b").unwrap_err().code,
            "invalid_characters"
        );
        assert_eq!(
            parse_claim("body", &"x".repeat(CLAIM_MAX + 1))
                .unwrap_err()
                .code,
            "too_long"
        );
        assert!(parse_claim("body", &"x".repeat(CLAIM_MAX)).is_ok());
    }

    #[test]
    fn cursors_round_trip_and_queries_are_bounded() {
        let c = DisputeCursor {
            created_at: 1_700_000_000_000,
            id: DisputeId::generate(),
        };
        assert_eq!(DisputeCursor::decode(&c.encode()), Some(c));
        assert_eq!(DisputeCursor::decode("x"), None);
        assert!(DisputeQuery::parse(None, Some(0), None).is_err());
        assert!(DisputeQuery::parse(None, Some(101), None).is_err());
        assert!(DisputeQuery::parse(Some("bogus"), None, None).is_err());
        assert_eq!(
            DisputeQuery::parse(Some("all"), None, None).unwrap().status,
            None
        );
        assert_eq!(
            DisputeQuery::parse(None, None, None).unwrap(),
            DisputeQuery::default()
        );
    }
}
