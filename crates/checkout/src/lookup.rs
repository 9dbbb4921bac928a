//! Which cart a shopper is working on, for clients that do not keep the cart's ID —
//! the server-rendered pages: a signed-in customer's newest open cart, else the open
//! cart of the visitor's cart cookie. Only the shopper's own carts are ever found.

use crate::service::Shopper;
use crate::store;
use rampart_db::{Db, Result};
use rampart_kernel::ids::CartId;

/// The shopper's current open cart, if any. A signed-in customer only ever gets
/// their own cart (a visitor cart left in their browser was merged at login).
pub async fn current_cart(db: &Db, who: &Shopper) -> Result<Option<CartId>> {
    let row = if let Some(u) = &who.user {
        store::open_cart_of(db, u.as_str()).await?
    } else if let Some(h) = &who.visitor {
        store::cart_by_token(db, h)
            .await?
            .filter(|r| r.status == "open" && r.owner_user_id.is_none())
    } else {
        None
    };
    Ok(row.and_then(|r| r.id.parse::<CartId>().ok()))
}
