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
