//! The checkout context at the edge: the storefront API under `/v1` ([`api`]) —
//! carts, payment intents, completion, orders, refunds, the payment webhooks — with
//! its wire types ([`wire`]) and its strings ([`catalog`]); one [`mount`].

pub mod api;
pub mod catalog;
pub mod page_catalog;
pub mod pages;
pub mod wire;

use crate::routes::Routes;

/// Mounts the storefront API and the webhooks.
pub fn mount(r: Routes) -> Routes {
    pages::mount(api::mount(r))
}
