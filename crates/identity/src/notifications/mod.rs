//! Notification preferences (D10, issue 11 §5): which events mail the user, and the
//! one place that decides whether such a mail is sent ([`Identity::notify`]). The
//! other contexts say *what* happened; identity knows the address, its verification,
//! the language and the preference. Mail goes through the outbox, never SMTP on the
//! request path.

pub mod store;

use crate::prelude::*;
use store::PrefsRow;

/// What a user can be mailed about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NotifyEvent {
    /// Someone sent them a private message.
    Message,
    /// Support staff replied to their ticket.
    TicketReply,
    /// A purchase (order) of theirs changed state.
    Purchase,
    /// A dispute they are party to changed.
    Dispute,
}

impl NotifyEvent {
    /// Every event, in the order the settings page lists them.
    pub const ALL: [NotifyEvent; 4] = [
        NotifyEvent::Message,
        NotifyEvent::TicketReply,
        NotifyEvent::Purchase,
        NotifyEvent::Dispute,
    ];

    /// The stable name (API field, form field).
    pub const fn as_str(self) -> &'static str {
        match self {
            NotifyEvent::Message => "message",
            NotifyEvent::TicketReply => "ticket_reply",
            NotifyEvent::Purchase => "purchase",
            NotifyEvent::Dispute => "dispute",
        }
    }
}

/// Which events mail the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotificationPrefs {
    /// New private message (default off: messages arrive in real time, up to ten a
    /// minute).
    pub message: bool,
    /// Support replied to a ticket (default on).
    pub ticket_reply: bool,
    /// Purchase updates (default on).
    pub purchase: bool,
    /// Dispute updates (default on).
    pub dispute: bool,
}

impl Default for NotificationPrefs {
    fn default() -> Self {
        NotificationPrefs {
            message: false,
            ticket_reply: true,
            purchase: true,
            dispute: true,
        }
    }
}

impl NotificationPrefs {
    /// Whether `event` mails the user.
    pub fn wants(&self, event: NotifyEvent) -> bool {
        match event {
            NotifyEvent::Message => self.message,
            NotifyEvent::TicketReply => self.ticket_reply,
            NotifyEvent::Purchase => self.purchase,
            NotifyEvent::Dispute => self.dispute,
        }
    }

    /// Sets `event`.
    pub fn set(&mut self, event: NotifyEvent, on: bool) {
        match event {
            NotifyEvent::Message => self.message = on,
            NotifyEvent::TicketReply => self.ticket_reply = on,
            NotifyEvent::Purchase => self.purchase = on,
            NotifyEvent::Dispute => self.dispute = on,
        }
    }
}

impl From<PrefsRow> for NotificationPrefs {
    fn from(r: PrefsRow) -> Self {
        NotificationPrefs {
            message: r.message,
            ticket_reply: r.ticket_reply,
            purchase: r.purchase,
            dispute: r.dispute,
        }
    }
}

impl From<NotificationPrefs> for PrefsRow {
    fn from(p: NotificationPrefs) -> Self {
        PrefsRow {
            message: p.message,
            ticket_reply: p.ticket_reply,
            purchase: p.purchase,
            dispute: p.dispute,
        }
    }
}

/// A mail about an event, as the context that saw it describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// Support replied to the user's ticket.
    TicketReply {
        /// The ticket's ID (for the link).
        ticket_id: String,
        /// Its subject.
        subject: String,
    },
    /// A private message arrived.
    Message {
        /// The sender's ID.
        from: String,
        /// The conversation's ID (for the link).
        conversation_id: String,
    },
    /// A purchase was shipped.
    PurchaseShipped {
        /// The escrow transaction's ID (for the link).
        transaction_id: String,
        /// The item's title.
        item: String,
    },
    /// A dispute was resolved.
    DisputeResolved {
        /// The dispute's ID (for the link).
        dispute_id: String,
    },
}

impl Notice {
    /// The preference that governs this mail.
    pub fn event(&self) -> NotifyEvent {
        match self {
            Notice::TicketReply { .. } => NotifyEvent::TicketReply,
            Notice::Message { .. } => NotifyEvent::Message,
            Notice::PurchaseShipped { .. } => NotifyEvent::Purchase,
            Notice::DisputeResolved { .. } => NotifyEvent::Dispute,
        }
    }
}

impl Identity {
    /// The user's preferences (the defaults if they never saved any).
    pub async fn notification_prefs(&self, user_id: &str) -> Result<NotificationPrefs, AuthError> {
        let mut tx = self.begin_for(user_id).await?;
        let row = store::get(&mut tx, user_id).await?;
        tx.commit().await?;
        Ok(row.map(Into::into).unwrap_or_default())
    }

    /// Saves the user's preferences (in a transaction acting as the user, so on
    /// PostgreSQL row-level security admits only their row).
    pub async fn set_notification_prefs(
        &self,
        user_id: &str,
        prefs: NotificationPrefs,
    ) -> Result<NotificationPrefs, AuthError> {
        let mut tx = self.begin_for(user_id).await?;
        store::put(&mut tx, user_id, &prefs.into(), self.now()).await?;
        tx.commit().await?;
        Ok(prefs)
    }

    /// Queues the mail for `notice` to `user_id` when, and only when, the account is
    /// active, has a verified address and its preference for the event is on; the
    /// text is in the account's language. Answers whether a mail was queued.
    pub async fn notify(&self, user_id: &str, notice: &Notice) -> Result<bool, AuthError> {
        // The preference first: one primary-key read decides most messages (the
        // message preference is off by default) on the send path.
        let prefs: NotificationPrefs = store::get(&self.db, user_id)
            .await?
            .map(Into::into)
            .unwrap_or_default();
        if !prefs.wants(notice.event()) {
            return Ok(false);
        }
        let Some(user) = user_store::find_by_id(&self.db, user_id).await? else {
            return Ok(false);
        };
        let active = user.status()? == AccountStatus::Active;
        let Some(email) = user
            .email
            .as_deref()
            .filter(|_| user.email_verified_at.is_some())
        else {
            return Ok(false);
        };
        if !active {
            return Ok(false);
        }
        let origin = &self.cfg.public_origin;
        let settings_link = format!("{origin}/settings/notifications");
        let kind = match notice {
            Notice::TicketReply { ticket_id, subject } => outbox::MailKind::TicketReply {
                username: user.username.clone(),
                subject: subject.clone(),
                link: format!("{origin}/tickets/{ticket_id}"),
                settings_link,
            },
            Notice::Message {
                from,
                conversation_id,
            } => {
                let from = user_store::find_by_id(&self.db, from)
                    .await?
                    .map(|u| u.username)
                    .unwrap_or_default();
                outbox::MailKind::NewMessage {
                    username: user.username.clone(),
                    from,
                    link: format!("{origin}/messages/{conversation_id}"),
                    settings_link,
                }
            }
            Notice::PurchaseShipped {
                transaction_id,
                item,
            } => outbox::MailKind::PurchaseShipped {
                username: user.username.clone(),
                item: item.clone(),
                link: format!("{origin}/transactions/{transaction_id}"),
                settings_link,
            },
            Notice::DisputeResolved { dispute_id } => outbox::MailKind::DisputeResolved {
                username: user.username.clone(),
                link: format!("{origin}/disputes/{dispute_id}"),
                settings_link,
            },
        };
        outbox::send(&self.db, email, user.language.as_deref(), kind, self.now()).await?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_mail_everything_but_messages() {
        let d = NotificationPrefs::default();
        assert!(!d.wants(NotifyEvent::Message));
        for e in [
            NotifyEvent::TicketReply,
            NotifyEvent::Purchase,
            NotifyEvent::Dispute,
        ] {
            assert!(d.wants(e), "{e:?}");
        }
        let mut p = d;
        for e in NotifyEvent::ALL {
            p.set(e, !d.wants(e));
            assert_eq!(p.wants(e), !d.wants(e));
        }
    }
}
