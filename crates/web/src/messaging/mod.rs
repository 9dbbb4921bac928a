//! The messaging context at the edge (D7): the `/v1` API ([`api`]) and its wire types
//! ([`wire`]), the inbox, conversation, compose and blocked-users pages ([`pages`]) and
//! their strings ([`catalog`]); one [`mount`], and [`push`], where every [`Delivery`]
//! a send or a read returns is handed on.

pub mod api;
pub mod catalog;
pub mod pages;
pub mod wire;

use crate::routes::Routes;
use crate::state::AppState;
use rampart_messaging::Delivery;

/// Mounts the messaging API and pages.
pub fn mount(r: Routes) -> Routes {
    pages::mount(api::mount(r))
}

/// Hands a [`Delivery`] (a new message, a read receipt) to the real-time layer, which
/// pushes it to every open connection of each user in [`Delivery::recipients`], on
/// every instance. Every handler that sends or marks read calls it after the service
/// committed, so an event is never pushed for a write that was rolled back.
pub fn push(state: &AppState, delivery: Delivery) {
    crate::realtime::events::push_delivery(state, delivery);
}
