//! Identity's mail: renders a [`MailKind`] in the recipient's language and queues it
//! in the mail context's outbox (delivered in the background, never on the request
//! path).

use rampart_db::{Db, DbError};
pub use rampart_mail::{Lang, MailKind};

/// Renders `kind` in `language` (the account's setting; English by default) and queues
/// it for `recipient`.
pub(crate) async fn send(
    db: &Db,
    recipient: &str,
    language: Option<&str>,
    kind: MailKind,
    now: i64,
) -> Result<(), DbError> {
    let rendered = rampart_mail::render(&kind, Lang::from_setting(language));
    rampart_mail::outbox::enqueue(
        db,
        rampart_mail::outbox::NewMail::rendered(recipient, &rendered),
        now,
    )
    .await?;
    Ok(())
}

/// Everything queued or sent to `recipient`, newest first (tests and operators).
pub async fn mail_for(
    db: &Db,
    recipient: &str,
) -> Result<Vec<rampart_mail::outbox::OutboxEntry>, DbError> {
    rampart_mail::outbox::for_recipient(db, recipient).await
}

/// Queues a message whose text the caller built (the verification mails carry both
/// languages, since at registration no account language exists yet).
pub(crate) async fn enqueue_text(
    db: &Db,
    recipient: &str,
    kind: &str,
    subject: &str,
    body: &str,
    now: i64,
) -> Result<(), DbError> {
    rampart_mail::outbox::enqueue(
        db,
        rampart_mail::outbox::NewMail {
            recipient,
            kind,
            subject,
            body,
        },
        now,
    )
    .await?;
    Ok(())
}
