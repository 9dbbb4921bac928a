//! The staff tools at the edge (D9, issue 11 §4): the `/v1/staff` API ([`api`]) with
//! its wire types ([`wire`]), the staff pages for users and stores ([`pages`]) and
//! their strings ([`catalog`]); one [`mount`]. The decisions stay in the contexts:
//! bans and roles in identity (`moderation`), warnings in trust, stores and disputes
//! in the marketplace.

pub mod api;
pub mod catalog;
pub mod pages;
pub mod wire;

use crate::routes::Routes;

/// Mounts the staff API and pages.
pub fn mount(r: Routes) -> Routes {
    pages::mount(api::mount(r))
}
