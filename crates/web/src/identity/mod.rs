//! The identity context at the edge: the `/v1` identity API ([`api`]), its wire types
//! ([`wire`]) and the account pages ([`pages`]); one [`mount`].

pub mod api;
pub mod pages;
pub mod wire;

use crate::routes::Routes;

/// Mounts the identity API and pages.
pub fn mount(r: Routes) -> Routes {
    pages::mount(api::mount(r))
}
