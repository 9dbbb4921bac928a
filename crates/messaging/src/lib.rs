//! The messaging context (D7): private one-to-one conversations whose message bodies
//! are opaque payloads with a content type, per-user read state, blocks, reports to
//! staff, and the X3DH prekey bundles clients need to add end-to-end encryption.
//!
//! One service, [`Messaging`] (private fields). Callers get view types
//! ([`MessageView`], [`InboxPage`], [`ConversationPage`], [`PrekeyBundle`]…), never
//! rows; IDs are kernel newtypes. A send or a read returns a [`Delivery`]: the event
//! the real-time layer pushes to the listed users' open connections.
//!
//! Architecture invariant: a payload is stored and returned byte for byte as the
//! sender gave it (only `text/plain` is checked, for hidden characters); the server
//! never needs a message's plaintext. A one-time prekey is deleted in the statement
//! that hands it out, so it is handed out at most once. Nothing outside this crate
//! reads or writes `conversations`, `messages`, `message_reads`, `user_blocks`,
//! `message_reports`, `prekey_bundles` or `one_time_prekeys`.

mod content;
mod prekeys;
mod service;
mod store;
mod views;

pub use content::{Body, ContentType, PAYLOAD_MAX_BYTES, TEXT_MAX_CHARS};
pub use prekeys::{
    NewBundle, OneTimePrekey, PrekeyBundle, SignedPrekey, KEY_MAX_BYTES, KEY_MIN_BYTES,
    ONE_TIME_PREKEYS_MAX, SIGNATURE_MAX_BYTES, SIGNATURE_MIN_BYTES,
};
pub use service::{Messaging, MessagingError, PAGE_MAX, REASON_MAX};
pub use views::{
    BlockedUser, ConversationPage, ConversationRef, ConversationSummary, Delivery, InboxPage,
    MarkedRead, MessageView, ReadReceipt, ReportStatus, ReportView, Sent,
};
