//! The port the deliverer sends through: one rendered message in, accepted or a
//! failure classified as worth retrying or not.

use std::future::Future;

/// A message on its way out. Its `Debug` shows only the ID.
#[derive(Clone, Copy)]
pub struct Outgoing<'a> {
    /// Outbox row ID; becomes the Message-ID, so a receiver can spot a duplicate sent
    /// after a crash between "accepted" and "marked sent".
    pub id: &'a str,
    /// Address.
    pub to: &'a str,
    /// Subject.
    pub subject: &'a str,
    /// Plain-text body (may hold a live token: never log it).
    pub body: &'a str,
}

impl std::fmt::Debug for Outgoing<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outgoing")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// Why a message was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Worth trying again later: 4xx replies, connection, TLS and timeout failures,
    /// and authentication failures (a configuration problem the operator can fix
    /// without the queue being thrown away).
    #[error("transient: {detail}")]
    Transient {
        /// SMTP reply code, when the server answered.
        code: Option<u16>,
        /// What happened (stored in `last_error`, not logged: it may echo the address).
        detail: String,
    },
    /// Will never succeed: 5xx replies to this message, an unusable address.
    #[error("permanent: {detail}")]
    Permanent {
        /// SMTP reply code, when the server answered.
        code: Option<u16>,
        /// What happened.
        detail: String,
    },
}

impl SendError {
    /// True for [`SendError::Transient`].
    pub fn is_transient(&self) -> bool {
        matches!(self, SendError::Transient { .. })
    }
    /// The SMTP reply code, if any.
    pub fn code(&self) -> Option<u16> {
        match self {
            SendError::Transient { code, .. } | SendError::Permanent { code, .. } => *code,
        }
    }
}

/// Sends one message. Implementations must be safe to call from several tasks.
pub trait Mailer: Send + Sync + 'static {
    /// Hands `mail` to the next hop; `Ok` once it accepted responsibility for it.
    fn send(&self, mail: Outgoing<'_>) -> impl Future<Output = Result<(), SendError>> + Send;
}
