//! The marketplace context at the edge: the `/v1` store, item and catalog API
//! ([`api`]), its wire types ([`wire`]), the catalog and store pages ([`pages`]) and
//! their strings ([`catalog`]); the disputes API with its wire types ([`disputes`]),
//! pages ([`dispute_pages`]) and strings ([`dispute_catalog`]); one [`mount`].
//! ([`api`]), the purchase and transaction API ([`purchases`]), their wire types
//! ([`wire`]), the catalog and store pages ([`pages`]), the purchase pages ([`purchase_pages`]) and
//! their strings ([`catalog`]); one [`mount`].

pub mod api;
pub mod catalog;
pub mod dispute_catalog;
pub mod dispute_pages;
pub mod disputes;
pub mod pages;
pub mod purchase_pages;
pub mod purchases;
pub mod wire;

use crate::routes::Routes;

/// Mounts the marketplace API and pages.
pub fn mount(r: Routes) -> Routes {
    let r = purchase_pages::mount(pages::mount(purchases::mount(api::mount(r))));
    dispute_pages::mount(disputes::mount(r))
}
