//! The identity context at the edge: the `/v1` identity API ([`api`]), its wire types
//! ([`wire`]), the account pages ([`pages`]) and their strings ([`catalog`]); one
//! [`mount`].

pub mod api;
pub mod catalog;
pub mod pages;
pub mod preferences;
pub mod wire;

use crate::routes::Routes;

/// Mounts the identity API and pages.
pub fn mount(r: Routes) -> Routes {
    preferences::mount(pages::mount(api::mount(r)))
}
