//! Mail for Rampart: the texts (English and Estonian), the `outbox` table that is both
//! the queue and the record of what was sent, and its delivery over SMTP in the
//! background. Design: `docs/design/mail-delivery.md`.
//!
//! Callers render a [`MailKind`] in the recipient's [`Lang`] and [`outbox::enqueue`] it;
//! a [`Deliverer`] (spawned by `rampart serve` when SMTP is configured) claims due rows
//! and sends them through a [`Mailer`] such as [`smtp::SmtpMailer`].

pub mod deliver;
pub mod mailer;
pub mod outbox;
pub mod smtp;
mod texts;

pub use deliver::{backoff_ms, Deliverer, DeliveryConfig, Round};
pub use mailer::{Mailer, Outgoing, SendError};
pub use texts::{mask_email, render, Lang, MailKind, Rendered};
