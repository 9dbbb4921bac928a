//! Reconciliation (issue 9, part 6): proves from the stored rows alone that every
//! entry balances, the whole ledger sums to zero per currency, no account has an
//! impossible sign, and each transaction's state agrees with its postings. Every
//! finding names the IDs involved.

use crate::escrow::{AccountKind, EscrowState};
use crate::store;
use rampart_db::{Db, DbError};
use std::collections::HashMap;
use std::fmt;

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Anomaly {
    /// An entry's legs do not sum to zero in `currency`.
    EntryUnbalanced {
        /// The entry.
        entry: String,
        /// The currency.
        currency: String,
        /// What its legs sum to.
        sum: i64,
    },
    /// All postings in `currency` do not sum to zero.
    LedgerUnbalanced {
        /// The currency.
        currency: String,
        /// The sum.
        sum: i64,
    },
    /// An account's balance has a sign its kind never allows (escrow, payables,
    /// fees and refunds below zero; buyer funding above zero), or its kind is unknown.
    AccountBalance {
        /// The account.
        account: String,
        /// Its stored kind.
        kind: String,
        /// Its owner reference.
        owner: String,
        /// Its currency.
        currency: String,
        /// Its balance.
        balance: i64,
    },
    /// A posting in another currency than its account.
    CurrencyMismatch {
        /// The posting.
        posting: String,
        /// The account.
        account: String,
    },
    /// A posting filed under another transaction than its entry.
    MisfiledPosting {
        /// The posting.
        posting: String,
        /// The entry.
        entry: String,
    },
    /// A transaction's state disagrees with its postings.
    StateMismatch {
        /// The transaction.
        transaction: String,
        /// Its stored state.
        state: String,
        /// Which check failed (`escrow`, `funding`, `refund`, `payout`, `currency`,
        /// `lines`, `refunded total`).
        check: &'static str,
        /// The sum found.
        found: i64,
        /// What the state implies (for `refund` after a partial refund: the amount,
        /// which the refund must stay below).
        expected: i64,
    },
    /// A transaction row that does not parse.
    CorruptTransaction {
        /// The transaction.
        transaction: String,
        /// What is wrong.
        detail: String,
    },
}

impl fmt::Display for Anomaly {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Anomaly::EntryUnbalanced { entry, currency, sum } => {
                write!(f, "entry {entry} does not balance: {currency} legs sum to {sum}")
            }
            Anomaly::LedgerUnbalanced { currency, sum } => {
                write!(f, "ledger does not sum to zero: {currency} postings sum to {sum}")
            }
            Anomaly::AccountBalance { account, kind, owner, currency, balance } => write!(
                f,
                "account {account} ({kind} of {owner}) has an impossible balance {balance} {currency}"
            ),
            Anomaly::CurrencyMismatch { posting, account } => {
                write!(f, "posting {posting} is in another currency than account {account}")
            }
            Anomaly::MisfiledPosting { posting, entry } => {
                write!(f, "posting {posting} names another transaction than entry {entry}")
            }
            Anomaly::StateMismatch { transaction, state, check, found, expected } => write!(
                f,
                "transaction {transaction} in state {state}: {check} postings sum to {found}, state implies {expected}"
            ),
            Anomaly::CorruptTransaction { transaction, detail } => {
                write!(f, "transaction {transaction} is corrupt: {detail}")
            }
        }
    }
}

/// The result of a reconciliation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Accounts examined.
    pub accounts: usize,
    /// Transactions examined.
    pub transactions: usize,
    /// Everything found; empty when the ledger reconciles.
    pub anomalies: Vec<Anomaly>,
}

impl Report {
    /// No anomaly.
    pub fn is_clean(&self) -> bool {
        self.anomalies.is_empty()
    }
}

type Sums = HashMap<(String, String), i64>;

fn sums(rows: Vec<(String, String, i64)>) -> Sums {
    rows.into_iter().map(|(t, c, s)| ((t, c), s)).collect()
}

/// Runs every check in one consistent snapshot of the ledger.
pub async fn reconcile(db: &Db) -> Result<Report, DbError> {
    let mut tx = db.begin().await?;
    store::snapshot(&mut tx).await?;
    let mut report = Report::default();
    let out = &mut report.anomalies;

    for (entry, currency, sum) in store::unbalanced_entries(&mut tx).await? {
        out.push(Anomaly::EntryUnbalanced {
            entry,
            currency,
            sum,
        });
    }
    for (currency, sum) in store::unbalanced_currencies(&mut tx).await? {
        out.push(Anomaly::LedgerUnbalanced { currency, sum });
    }
    let accounts = store::account_balances(&mut tx).await?;
    report.accounts = accounts.len();
    for (account, kind, owner, currency, balance) in accounts {
        let ok = AccountKind::parse(&kind).is_some_and(|k| k.allows(balance));
        if !ok {
            out.push(Anomaly::AccountBalance {
                account,
                kind,
                owner,
                currency,
                balance,
            });
        }
    }
    for (posting, account) in store::currency_mismatches(&mut tx).await? {
        out.push(Anomaly::CurrencyMismatch { posting, account });
    }
    for (posting, entry) in store::misfiled_postings(&mut tx).await? {
        out.push(Anomaly::MisfiledPosting { posting, entry });
    }

    let escrow =
        sums(store::kind_sums_by_transaction(&mut tx, AccountKind::Escrow.as_str()).await?);
    let funding =
        sums(store::kind_sums_by_transaction(&mut tx, AccountKind::BuyerFunding.as_str()).await?);
    let refund =
        sums(store::kind_sums_by_transaction(&mut tx, AccountKind::BuyerRefund.as_str()).await?);
    let payable =
        sums(store::kind_sums_by_transaction(&mut tx, AccountKind::SellerPayable.as_str()).await?);
    let fee =
        sums(store::kind_sums_by_transaction(&mut tx, AccountKind::PlatformFee.as_str()).await?);
    let txns = store::all_transactions(&mut tx).await?;
    report.transactions = txns.len();
    tx.rollback().await?;

    for (id, state_str, amount, currency, returned, lines_sum) in txns {
        let Some(state) = EscrowState::parse(&state_str) else {
            out.push(Anomaly::CorruptTransaction {
                transaction: id,
                detail: format!("unknown state {state_str:?}"),
            });
            continue;
        };
        let get = |m: &Sums| m.get(&(id.clone(), currency.clone())).copied().unwrap_or(0);
        let mut mismatch = |check: &'static str, found: i64, expected: i64| {
            out.push(Anomaly::StateMismatch {
                transaction: id.clone(),
                state: state_str.clone(),
                check,
                found,
                expected,
            });
        };
        // Postings in a currency other than the transaction's.
        for m in [&escrow, &funding, &refund, &payable, &fee] {
            for ((t, c), s) in m.iter() {
                if *t == id && *c != currency && *s != 0 {
                    mismatch("currency", *s, 0);
                }
            }
        }
        // A multi-line transaction's amount is the sum of its lines.
        if let Some(sum) = lines_sum {
            if sum != amount {
                mismatch("lines", sum, amount);
            }
        }
        // What went back to the buyer so far (the row's total, grown with every
        // refund entry); while money is held, the escrow holds the rest.
        let held = amount.checked_sub(returned).unwrap_or(i64::MIN);
        if returned < 0 || held < 0 || (state.holds_money() && held == 0) {
            mismatch("refunded total", returned, 0);
        }
        let esc = get(&escrow);
        let expected_escrow = if state.holds_money() { held } else { 0 };
        if esc != expected_escrow {
            mismatch("escrow", esc, expected_escrow);
        }
        // Funding is recorded negative on the buyer's funding account.
        let funded = get(&funding).checked_neg().unwrap_or(i64::MAX);
        let expected_funding = match state {
            EscrowState::PendingPayment => 0,
            // Cancelled before or after payment: both are legal.
            EscrowState::Cancelled if funded == 0 => 0,
            _ => amount,
        };
        if funded != expected_funding {
            mismatch("funding", funded, expected_funding);
        }
        let refunded = get(&refund);
        let paid_out = get(&payable).checked_add(get(&fee)).unwrap_or(i64::MAX);
        let (expected_refund, expected_payout) = match state {
            EscrowState::Refunded => (amount, 0),
            EscrowState::Cancelled => (funded, 0),
            EscrowState::Completed => (returned, held),
            EscrowState::PartiallyRefunded => {
                if returned <= 0 || returned >= amount {
                    mismatch("refund", returned, amount);
                }
                (returned, held)
            }
            EscrowState::Funded | EscrowState::Shipped | EscrowState::Disputed => (returned, 0),
            EscrowState::PendingPayment => (0, 0),
        };
        // The row's total agrees with the refund postings.
        if returned != refunded {
            mismatch("refunded total", returned, refunded);
        }
        if refunded != expected_refund {
            mismatch("refund", refunded, expected_refund);
        }
        if paid_out != expected_payout {
            mismatch("payout", paid_out, expected_payout);
        }
    }
    Ok(report)
}
