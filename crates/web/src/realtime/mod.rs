//! Real time (D7, B3, B6): `GET /ws`, the connection [`Hub`], the events pushed to
//! sockets ([`events`]) and the bus between instances ([`bus`]). Design:
//! `docs/design/realtime.md`.
//!
//! The handshake is refused before any upgrade when it carries a query string
//! (credentials never go in a URL), comes from an origin not allowed, or presents a
//! credential that does not authenticate; the per-IP handshake limit (`ws_handshake`)
//! is the registry's rate-limit layer and runs first. A handshake with no credential
//! is upgraded and must send `{"type":"auth","token":…}` (an access token or PAT)
//! as its first frame within the deadline.

pub mod bus;
pub mod events;
pub mod hub;
mod socket;

pub use hub::{Close, Credential, Hub, RealtimeConfig, Registration};

use crate::codes::Code;
use crate::routes::{Doc, Group, Routes};
use rampart_security::ratelimit::PolicyName;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Mounts `GET /ws`.
pub fn mount(r: Routes) -> Routes {
    r.group(Group::Api).get(
        "/ws",
        socket::handshake,
        Doc::new(
            "realtime",
            "WebSocket of live events (new messages, read receipts, ticket replies). Authenticated by the session cookie, `Authorization: Bearer` (access token or PAT with messages:read), or a first frame {\"type\":\"auth\",\"token\":…} within 5 s; never a token in the URL. Origin checked against the site and WS_ALLOWED_ORIGINS.",
        )
        .limit(PolicyName::WsHandshake)
        .switching_protocols()
        .errors(&[
            Code::BadRequest,
            Code::CredentialsInUrl,
            Code::OriginNotAllowed,
            Code::Unauthorized,
            Code::TokenInvalid,
            Code::TokenExpired,
            Code::TokenRevoked,
            Code::Forbidden,
            Code::InsufficientScope,
            Code::TotpEnrolmentRequired,
        ]),
    )
}

/// Put on every request by the listener: a handler that upgrades the connection to a
/// WebSocket asks through it for a small kernel send buffer, so a stalled reader's
/// bytes pile up in the bounded event queue (and get it closed) instead of in
/// megabytes of auto-tuned kernel buffer. The listener applies it on the
/// connection's next write (the 101 response).
#[derive(Debug, Clone, Default)]
pub struct SendBufferHint(pub Arc<AtomicUsize>);

impl SendBufferHint {
    /// Asks for a send buffer of `bytes` on this connection.
    pub fn request(&self, bytes: usize) {
        self.0.store(bytes, Ordering::Relaxed);
    }
    /// The size asked for since the last call (0: none), once.
    pub fn take(&self) -> usize {
        self.0.swap(0, Ordering::Relaxed)
    }
}

/// Whether `v` is an origin exactly (`scheme://host[:port]`, http or https, nothing
/// after): what a `WS_ALLOWED_ORIGINS` entry must be.
pub fn is_exact_origin(v: &str) -> bool {
    crate::csrf::exact_origin_key(v).is_some()
}
