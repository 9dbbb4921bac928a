//! The marketplace context at the edge: the `/v1` store, item and catalog API
//! ([`api`]), the purchase and transaction API ([`purchases`]), their wire types
//! ([`wire`]), the catalog and store pages ([`pages`]), the purchase pages ([`purchase_pages`]) and
//! their strings ([`catalog`]); one [`mount`].

pub mod api;
pub mod catalog;
pub mod pages;
pub mod purchase_pages;
pub mod purchases;
pub mod wire;

use crate::routes::Routes;

/// Mounts the marketplace API and pages.
pub fn mount(r: Routes) -> Routes {
    purchase_pages::mount(pages::mount(purchases::mount(api::mount(r))))
}
