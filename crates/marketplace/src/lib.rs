//! The marketplace context (D1, D2): stores as workspaces with members (owner,
//! manager, clerk) and settings, catalog items with prices and stock, the public
//! catalog, disputes on escrow transactions (D5), and the ownership [`policy`].
//!
//! One service, [`Marketplace`] (private fields), split by flow: `stores` (settings,
//! members), `items` (create, edit, archive, stock), `catalog` (the public read path),
//! `disputes` (open, claims, the staff queue, resolution through the ledger).
//! `purchases` (buying into escrow, and acting on the escrow transaction).
//! Each flow's SQL is in its `store.rs`. Callers get view types ([`StoreView`],
//! [`ItemView`]…), never rows; IDs are kernel newtypes and prices are [`Money`].
//!
//! Architecture invariant: every decision about what a caller may do to a store, an
//! item or a dispute goes through [`policy`]; nothing outside this crate reads or
//! writes `stores`, `store_members`, `items`, `disputes` or `dispute_claims`. Price
//! changes and manual stock adjustments are audited in the transaction that makes
//! them; money moves only through the ledger, in the transaction of the change.

pub mod catalog;
pub mod checkout_facts;
pub mod disputes;
pub mod items;
pub mod policy;
pub mod purchases;
pub mod stores;

use policy::Denied;
use rampart_db::{Db, DbError};
use rampart_kernel::{Clock, Currency, FieldErrors};
use rampart_ledger::Ledger;
use std::sync::Arc;

pub use catalog::{CatalogPage, CatalogQuery, Cursor};
pub use disputes::{
    ClaimView, DisputeCursor, DisputeDetail, DisputeOutcome, DisputePage, DisputeQuery,
    DisputeStatus, DisputeView, Resolution,
};
pub use items::{ItemPatch, ItemStatus, ItemView, NewItem};
pub use policy::{Caller, DisputeSide, StoreRole, TransactionAction};
pub use purchases::{PageQuery, TransactionLine, TransactionPage, TransactionView, TxnCursor};
pub use stores::{MemberView, MyStore, NewStore, StorePatch, StoreStatus, StoreView};

/// Errors callers branch on.
#[derive(Debug, thiserror::Error)]
pub enum MarketError {
    /// No such resource, or the caller may not know it exists.
    #[error("not found")]
    NotFound,
    /// The caller knows the resource but may not do this.
    #[error("forbidden")]
    Forbidden,
    /// Input failed validation.
    #[error("validation failed: {0}")]
    Validation(FieldErrors),
    /// A unique value is taken (e.g. the user is already a member).
    #[error("conflict")]
    Conflict(FieldErrors),
    /// The store's last owner cannot leave, be removed or be demoted.
    #[error("last owner")]
    LastOwner,
    /// The item's status cannot move to the one asked for.
    #[error("invalid status transition")]
    InvalidTransition,
    /// The row changed between read and write; the caller retries.
    #[error("concurrent change")]
    Concurrent,
    /// Not enough stock for the purchase (nothing was reserved).
    #[error("out of stock")]
    OutOfStock,
    /// A member of the selling store tried to buy from it.
    #[error("own store purchase")]
    OwnStorePurchase,
    /// The escrow transaction's state does not admit the action; it is in this state.
    #[error("not allowed in state {0}")]
    InvalidState(rampart_ledger::EscrowState),
    /// Anything else.
    #[error("internal: {0}")]
    Internal(String),
}

impl From<DbError> for MarketError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::NotFound => MarketError::NotFound,
            other => MarketError::Internal(other.to_string()),
        }
    }
}

impl From<Denied> for MarketError {
    fn from(d: Denied) -> Self {
        match d {
            Denied::NotFound => MarketError::NotFound,
            Denied::Forbidden => MarketError::Forbidden,
        }
    }
}

/// The marketplace service.
pub struct Marketplace {
    db: Db,
    clock: Arc<dyn Clock>,
    ledger: Ledger,
}

impl Marketplace {
    /// A service over `db`, reading time from `clock`; purchases, their escrow and
    /// disputes move money through `ledger` (same database).
    pub fn new(db: Db, clock: Arc<dyn Clock>, ledger: Ledger) -> Self {
        Self { db, clock, ledger }
    }

    /// The ledger behind purchases (reads: balances, intents).
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    fn now(&self) -> i64 {
        self.clock.now_ms()
    }
}

/// Scopes the rest of a transaction to one store (PostgreSQL row-level security on
/// `stores`, `store_members`, `items`; a no-op on SQLite, where the SQL filters).
async fn act_in(
    tx: &mut rampart_db::Tx,
    caller: &Caller,
    store_id: &str,
) -> Result<(), MarketError> {
    tx.set_context(rampart_db::RlsContext {
        user_id: Some(caller.user.as_str()),
        workspace_id: Some(store_id),
    })
    .await?;
    Ok(())
}

fn corrupt(what: &str) -> MarketError {
    MarketError::Internal(format!("corrupt stored {what}"))
}

fn currency(s: &str) -> Result<Currency, MarketError> {
    Currency::parse(s).map_err(|_| corrupt("currency"))
}
