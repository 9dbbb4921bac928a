//! Mail about events (D10, issue 11 §5): the one place where a context's event
//! becomes a notification mail (a staff ticket reply, a private message, a shipped
//! purchase, a resolved dispute). Identity decides whether to send it (an active
//! account with a verified address whose preference for the event is on) and queues
//! it in the outbox in the account's language; nothing here talks SMTP. Called after
//! the service committed, so no mail reports a change that was rolled back; a failure
//! to queue is logged and never fails the request that caused it.

use crate::state::AppState;
use rampart_identity::notifications::Notice;
use rampart_marketplace::{DisputeView, TransactionView};
use rampart_messaging::Delivery;
use rampart_trust::{Replied, Side};

/// Mails `user` about `notice` if their preference says so.
async fn send(state: &AppState, user: &str, notice: Notice) {
    if let Err(e) = state.auth.notify(user, &notice).await {
        tracing::warn!(error = %e, event = notice.event().as_str(), "notification mail not queued");
    }
}

/// A ticket reply: a staff reply mails the ticket's author (preference
/// `ticket_reply`); the author's own replies mail nobody.
pub async fn ticket_reply(state: &AppState, replied: &Replied) {
    if replied.message.side != Side::Staff {
        return;
    }
    let notice = Notice::TicketReply {
        ticket_id: replied.ticket.id.as_str().to_owned(),
        subject: replied.ticket.subject.clone(),
    };
    send(state, replied.ticket.author.as_str(), notice).await;
}

/// A private message: mails the recipient (preference `message`, off by default).
/// The mail names the sender and links the conversation; it never carries the
/// payload, which may be end-to-end encrypted.
pub async fn message(state: &AppState, delivery: &Delivery) {
    let Delivery::Message { message, .. } = delivery else {
        return;
    };
    let recipient = &message.recipient;
    let notice = Notice::Message {
        from: message.sender.as_str().to_owned(),
        conversation_id: message.conversation.as_str().to_owned(),
    };
    send(state, recipient.as_str(), notice).await;
}

/// A purchase marked shipped: mails the buyer (preference `purchase`).
pub async fn purchase_shipped(state: &AppState, t: &TransactionView) {
    let notice = Notice::PurchaseShipped {
        transaction_id: t.escrow.id.as_str().to_owned(),
        item: t.item_title.clone(),
    };
    send(state, t.escrow.buyer.as_str(), notice).await;
}

/// A dispute resolved by staff: mails the buyer and, when a store member opened it,
/// that member (preference `dispute`).
pub async fn dispute_resolved(state: &AppState, d: &DisputeView) {
    let notice = Notice::DisputeResolved {
        dispute_id: d.id.as_str().to_owned(),
    };
    send(state, d.buyer.as_str(), notice.clone()).await;
    if d.opened_by != d.buyer {
        send(state, d.opened_by.as_str(), notice).await;
    }
}
