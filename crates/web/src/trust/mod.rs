//! The trust-and-safety context at the edge: the support tickets and store warnings
//! API under `/v1` ([`api`]) with its wire types ([`wire`]), the ticket pages
//! ([`pages`]) and their strings ([`catalog`]); one [`mount`].

pub mod api;
pub mod catalog;
pub mod pages;
pub mod wire;

use crate::routes::Routes;

/// Mounts the tickets and warnings API and the ticket pages.
pub fn mount(r: Routes) -> Routes {
    pages::mount(api::mount(r))
}
