//! Cart notices (E1): what a merge at login did to the customer's cart that the
//! customer must be told — a visitor's line left behind (another currency, or the cart
//! was full), a quantity capped at the line limit. Stored with the cart version the
//! merge produced and shown with the cart while it is still at that version, so the
//! next change retires them without a write on the change's path.

use rampart_db::{on_conn, on_tx, Conn, DbError, Result, Tx};
use rampart_kernel::ids::ItemId;
use serde::{Deserialize, Serialize};

/// What happened to one line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeKind {
    /// The visitor's line was priced in another currency than the customer's cart.
    LineDroppedCurrency,
    /// The visitor's line did not fit: the customer's cart had the most lines it may.
    LineDroppedLimit,
    /// The summed quantity was capped at the per-line limit.
    QuantityCapped,
}

impl NoticeKind {
    /// The stable code.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::LineDroppedCurrency => "line_dropped_currency",
            Self::LineDroppedLimit => "line_dropped_limit",
            Self::QuantityCapped => "quantity_capped",
        }
    }
    fn parse(s: &str) -> Option<Self> {
        [
            Self::LineDroppedCurrency,
            Self::LineDroppedLimit,
            Self::QuantityCapped,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// One notice about one line of a cart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CartNotice {
    /// What happened.
    pub kind: NoticeKind,
    /// The item of the line.
    pub item: ItemId,
    /// The quantity the line has now (capped lines).
    pub quantity: Option<u32>,
}

#[derive(Serialize, Deserialize)]
struct Stored {
    code: String,
    item_id: String,
    #[serde(default)]
    quantity: Option<u32>,
}

/// Records `notices` for `cart` at `version` (replacing older ones), in the merge's
/// transaction.
pub(crate) async fn save(
    tx: &mut Tx,
    cart: &str,
    version: i64,
    notices: &[CartNotice],
    now: i64,
) -> Result<()> {
    let stored: Vec<Stored> = notices
        .iter()
        .map(|n| Stored {
            code: n.kind.as_str().to_owned(),
            item_id: n.item.as_str().to_owned(),
            quantity: n.quantity,
        })
        .collect();
    let json = serde_json::to_string(&stored).map_err(|e| DbError::Corrupt(e.to_string()))?;
    on_tx!(tx, |e| sqlx::query(
        "INSERT INTO cart_notices (cart_id, cart_version, notices, created_at) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (cart_id) DO UPDATE SET \
         cart_version = excluded.cart_version, notices = excluded.notices, \
         created_at = excluded.created_at"
    )
    .bind(cart)
    .bind(version)
    .bind(&json)
    .bind(now)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// The notices of `cart` still current at `version` (none once the cart changed).
pub(crate) async fn current(
    conn: impl Into<Conn<'_>>,
    cart: &str,
    version: i64,
) -> Result<Vec<CartNotice>> {
    let json: Option<String> = on_conn!(conn.into(), |e| sqlx::query_scalar::<_, String>(
        "SELECT notices FROM cart_notices WHERE cart_id = $1 AND cart_version = $2"
    )
    .bind(cart)
    .bind(version)
    .fetch_optional(e)
    .await)?;
    let Some(json) = json else {
        return Ok(Vec::new());
    };
    let stored: Vec<Stored> =
        serde_json::from_str(&json).map_err(|_| DbError::Corrupt("cart notices".into()))?;
    Ok(stored
        .into_iter()
        .filter_map(|s| {
            Some(CartNotice {
                kind: NoticeKind::parse(&s.code)?,
                item: ItemId::from_stored(s.item_id),
                quantity: s.quantity,
            })
        })
        .collect())
}
