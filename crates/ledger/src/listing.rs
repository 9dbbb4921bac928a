//! Lists of escrow transactions for one buyer or one store, newest first, keyset
//! paginated on `(created_at, id)`. Who may ask for which list is the caller's
//! policy decision (marketplace); this module only reads.

use crate::ledger::{parse_view, EscrowView, Ledger, LedgerError};
use crate::store::{TxnRow, TXN_COLUMNS};
use rampart_db::{on_read, Db};
use rampart_kernel::ids::{StoreId, TransactionId};
use rampart_kernel::UserId;

/// Where a page ends: the last transaction's `(created_at, id)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct After {
    /// The last transaction's creation time (Unix ms).
    pub created_at: i64,
    /// The last transaction's ID.
    pub id: TransactionId,
}

/// Whose transactions to list.
#[derive(Debug, Clone, Copy)]
enum Party<'a> {
    Buyer(&'a str),
    Store(&'a str),
}

async fn page(
    db: &Db,
    party: Party<'_>,
    after: Option<&After>,
    limit: i64,
) -> rampart_db::Result<Vec<TxnRow>> {
    let (column, value) = match party {
        Party::Buyer(b) => ("buyer_id", b),
        Party::Store(s) => ("store_id", s),
    };
    let keyset = if after.is_some() {
        " AND (created_at < $2 OR (created_at = $2 AND id < $3))"
    } else {
        ""
    };
    let limit_param = if after.is_some() { "$4" } else { "$2" };
    let sql = format!(
        "SELECT {TXN_COLUMNS} FROM escrow_transactions WHERE {column} = $1{keyset} \
         ORDER BY created_at DESC, id DESC LIMIT {limit_param}"
    );
    Ok(on_read!(db, |e| {
        let mut q = sqlx::query_as::<_, TxnRow>(&sql).bind(value);
        if let Some(a) = after {
            q = q.bind(a.created_at).bind(a.id.as_str());
        }
        q.bind(limit).fetch_all(e).await
    })?)
}

impl Ledger {
    /// Up to `limit` transactions bought by `buyer`, newest first, after `after`.
    pub async fn by_buyer(
        &self,
        buyer: &UserId,
        after: Option<&After>,
        limit: i64,
    ) -> Result<Vec<EscrowView>, LedgerError> {
        page(self.db(), Party::Buyer(buyer.as_str()), after, limit)
            .await?
            .into_iter()
            .map(parse_view)
            .collect()
    }

    /// Up to `limit` transactions sold by `store`, newest first, after `after`.
    pub async fn by_store(
        &self,
        store: &StoreId,
        after: Option<&After>,
        limit: i64,
    ) -> Result<Vec<EscrowView>, LedgerError> {
        page(self.db(), Party::Store(store.as_str()), after, limit)
            .await?
            .into_iter()
            .map(parse_view)
            .collect()
    }
}
