//! The events pushed to sockets, as JSON text frames (`type` names each):
//!
//! - `ready` `{user_id}`: authenticated; events follow.
//! - `message` `{message: {id, conversation_id, sender_id, recipient_id,
//!   content_type, payload, created_at}}` — the same shape as the `/v1` API's
//!   message; `payload` is left out (and `payload_omitted: true` set) when the event
//!   would exceed [`INLINE_MAX`] bytes: the client fetches the conversation.
//! - `read` `{conversation_id, reader_id, up_to, read_at}`.
//! - `ticket_reply` `{ticket_id, message_id, author_id, side, status, created_at}` —
//!   no body: the client reloads the ticket.

use crate::messaging::wire::PrivateMessageResponse;
use crate::state::AppState;
use rampart_messaging::Delivery;
use serde_json::{json, Value};

/// Largest event carried whole, in bytes of JSON: with its envelope it stays under
/// PostgreSQL's notification limit, so every instance sends the same event.
pub const INLINE_MAX: usize = 6_000;

/// The event of a [`Delivery`].
pub fn of_delivery(d: &Delivery) -> Value {
    match d {
        Delivery::Message { message, .. } => {
            let mut e = json!({
                "type": "message",
                "message": PrivateMessageResponse::from(message.clone()),
            });
            if e.to_string().len() > INLINE_MAX {
                if let Some(m) = e.get_mut("message").and_then(Value::as_object_mut) {
                    m.remove("payload");
                    m.insert("payload_omitted".into(), Value::Bool(true));
                }
            }
            e
        }
        Delivery::Read { receipt, .. } => json!({
            "type": "read",
            "conversation_id": receipt.conversation.as_str(),
            "reader_id": receipt.reader.as_str(),
            "up_to": receipt.up_to.as_str(),
            "read_at": receipt.read_at,
        }),
    }
}

/// Pushes a messaging [`Delivery`] to every open socket of its recipients.
pub fn push_delivery(state: &AppState, d: Delivery) {
    let event = of_delivery(&d);
    let to = d
        .recipients()
        .iter()
        .map(|u| u.as_str().to_owned())
        .collect();
    state.realtime.publish(to, event);
}

/// Pushes a ticket reply to whom the trust service says (the author for a staff
/// reply, the assignee for the author's).
pub fn push_ticket_reply(state: &AppState, r: &rampart_trust::Replied) {
    if r.notify.is_empty() {
        return;
    }
    let event = json!({
        "type": "ticket_reply",
        "ticket_id": r.ticket.id.as_str(),
        "message_id": r.message.id.as_str(),
        "author_id": r.message.author.as_str(),
        "side": r.message.side.as_str(),
        "status": r.ticket.status.as_str(),
        "created_at": r.message.created_at,
    });
    let to = r.notify.iter().map(|u| u.as_str().to_owned()).collect();
    state.realtime.publish(to, event);
}
