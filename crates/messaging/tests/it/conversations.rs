//! Send, inbox and conversation paging, read state, opaque payloads, limits.

use crate::support::{messaging, scalar, text, user};
use anyhow::Result;
use rampart_db::Db;
use rampart_kernel::ids::{ConversationId, MessageId};
use rampart_kernel::UserId;
use rampart_messaging::{
    Body, ContentType, ConversationRef, Delivery, MessagingError, PAYLOAD_MAX_BYTES,
};

async fn send_inbox_and_conversation_paging(db: &Db) -> Result<()> {
    let (m, clock) = messaging(db);
    let (alice, bob, carol) = (user(db).await?, user(db).await?, user(db).await?);

    // Alice and Bob: 5 messages; Alice and Carol: 1 (newer).
    let mut ab = Vec::new();
    for i in 0..5 {
        clock.advance_ms(1_000);
        let (from, to) = if i % 2 == 0 {
            (&alice, &bob)
        } else {
            (&bob, &alice)
        };
        let sent = m.send(from, to, text(&format!("m{i}"))).await?;
        assert_eq!(sent.message.sender, *from);
        assert_eq!(sent.message.recipient, *to);
        assert_eq!(sent.message.payload, format!("m{i}").into_bytes());
        match &sent.delivery {
            Delivery::Message { to: rcpt, message } => {
                assert_eq!(rcpt, &vec![to.clone(), from.clone()]);
                assert_eq!(message, &sent.message);
            }
            other => panic!("unexpected {other:?}"),
        }
        ab.push(sent.message);
    }
    // One conversation per pair, whoever writes first.
    assert!(ab.iter().all(|x| x.conversation == ab[0].conversation));
    clock.advance_ms(1_000);
    let ac = m.send(&carol, &alice, text("hi alice")).await?.message;
    assert_ne!(ac.conversation, ab[0].conversation);
    assert_eq!(scalar(db, "SELECT COUNT(*) FROM conversations").await?, 2);

    // Alice's inbox: Carol's conversation first, then Bob's; unread counts only the
    // other side's messages (Bob sent 2, Carol 1).
    let page = m.inbox(&alice, None, 10).await?;
    assert_eq!(page.next, None);
    let lines: Vec<_> = page
        .conversations
        .iter()
        .map(|c| (c.other.clone(), c.last_message.id.clone(), c.unread))
        .collect();
    assert_eq!(
        lines,
        vec![
            (carol.clone(), ac.id.clone(), 1),
            (bob.clone(), ab[4].id.clone(), 2)
        ]
    );
    // Keyset pagination, one per page.
    let p1 = m.inbox(&alice, None, 1).await?;
    assert_eq!(p1.conversations.len(), 1);
    assert_eq!(p1.conversations[0].other, carol);
    let p2 = m.inbox(&alice, p1.next.as_ref(), 1).await?;
    assert_eq!(p2.conversations.len(), 1);
    assert_eq!(p2.conversations[0].other, bob);
    assert_eq!(p2.next, None);
    // A new message moves Bob's conversation to the top.
    clock.advance_ms(1_000);
    let newest = m.send(&bob, &alice, text("ping")).await?.message;
    let page = m.inbox(&alice, None, 10).await?;
    assert_eq!(page.conversations[0].other, bob);
    assert_eq!(page.conversations[0].last_message.id, newest.id);
    assert_eq!(page.conversations[0].unread, 3);
    // Bob's inbox has one conversation, Carol's unread from Alice's side: none.
    let bobs = m.inbox(&bob, None, 10).await?;
    assert_eq!(bobs.conversations.len(), 1);
    assert_eq!(bobs.conversations[0].unread, 3);
    assert_eq!(m.inbox(&carol, None, 10).await?.conversations[0].unread, 0);

    // Conversation paging, newest first, by ID or by the other user.
    let all = m
        .conversation(&alice, &ConversationRef::With(bob.clone()), None, 100)
        .await?;
    assert_eq!(all.other, bob);
    assert_eq!(all.messages.len(), 6);
    assert_eq!(all.messages[0].id, newest.id);
    assert_eq!(all.next_before, None);
    let mut seen = Vec::new();
    let mut before: Option<MessageId> = None;
    loop {
        let p = m
            .conversation(
                &bob,
                &ConversationRef::Id(ab[0].conversation.clone()),
                before.as_ref(),
                4,
            )
            .await?;
        assert!(p.messages.len() <= 4);
        seen.extend(p.messages.iter().map(|x| x.id.clone()));
        match p.next_before {
            Some(b) => before = Some(b),
            None => break,
        }
    }
    let expected: Vec<_> = all.messages.iter().map(|x| x.id.clone()).collect();
    assert_eq!(seen, expected);
    // Limits are clamped: 0 means 1.
    let one = m
        .conversation(&alice, &ConversationRef::With(bob.clone()), None, 0)
        .await?;
    assert_eq!(one.messages.len(), 1);
    assert!(one.next_before.is_some());
    Ok(())
}

async fn non_participants_get_not_found(db: &Db) -> Result<()> {
    let (m, _) = messaging(db);
    let (alice, bob, mallory) = (user(db).await?, user(db).await?, user(db).await?);
    let msg = m.send(&alice, &bob, text("private")).await?.message;
    let conv = ConversationRef::Id(msg.conversation.clone());
    assert!(matches!(
        m.conversation(&mallory, &conv, None, 10).await,
        Err(MessagingError::NotFound)
    ));
    assert!(matches!(
        m.conversation(&mallory, &ConversationRef::With(alice.clone()), None, 10)
            .await,
        Err(MessagingError::NotFound)
    ));
    assert!(matches!(
        m.conversation(
            &alice,
            &ConversationRef::Id(ConversationId::generate()),
            None,
            10
        )
        .await,
        Err(MessagingError::NotFound)
    ));
    assert!(matches!(
        m.mark_read(&mallory, &msg.conversation, &msg.id).await,
        Err(MessagingError::NotFound)
    ));
    assert!(m.inbox(&mallory, None, 10).await?.conversations.is_empty());
    // A message of another conversation cannot be the read pointer.
    let other = m.send(&alice, &mallory, text("x")).await?.message;
    assert!(matches!(
        m.mark_read(&bob, &msg.conversation, &other.id).await,
        Err(MessagingError::NotFound)
    ));
    Ok(())
}

async fn read_state_is_monotonic(db: &Db) -> Result<()> {
    let (m, clock) = messaging(db);
    let (alice, bob) = (user(db).await?, user(db).await?);
    let mut ids = Vec::new();
    for i in 0..4 {
        clock.advance_ms(10);
        ids.push(m.send(&alice, &bob, text(&format!("{i}"))).await?.message);
    }
    let conv = ids[0].conversation.clone();
    clock.advance_ms(10);
    let r = m.mark_read(&bob, &conv, &ids[2].id).await?;
    assert!(r.moved);
    assert_eq!(r.receipt.up_to, ids[2].id);
    assert_eq!(r.receipt.reader, bob);
    let read_at = r.receipt.read_at;
    match r.delivery {
        Some(Delivery::Read { to, receipt }) => {
            assert_eq!(to, vec![alice.clone(), bob.clone()]);
            assert_eq!(receipt, r.receipt);
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(m.inbox(&bob, None, 10).await?.conversations[0].unread, 1);
    // Backwards: nothing moves, no receipt.
    clock.advance_ms(10);
    let back = m.mark_read(&bob, &conv, &ids[0].id).await?;
    assert!(!back.moved);
    assert!(back.delivery.is_none());
    assert_eq!(back.receipt.up_to, ids[2].id);
    assert_eq!(back.receipt.read_at, read_at);
    // The same message again: no change either.
    assert!(!m.mark_read(&bob, &conv, &ids[2].id).await?.moved);
    // Forward again.
    let fwd = m.mark_read(&bob, &conv, &ids[3].id).await?;
    assert!(fwd.moved);
    assert_eq!(m.inbox(&bob, None, 10).await?.conversations[0].unread, 0);
    let page = m
        .conversation(&alice, &ConversationRef::Id(conv.clone()), None, 10)
        .await?;
    assert_eq!(page.their_last_read, Some(ids[3].id.clone()));
    assert_eq!(page.my_last_read, None);
    Ok(())
}

async fn opaque_payload_round_trips_byte_exact(db: &Db) -> Result<()> {
    let (m, _) = messaging(db);
    let (alice, bob) = (user(db).await?, user(db).await?);
    // Every byte value, invalid UTF-8, NULs, CR/LF: stored and returned unchanged.
    let mut payload: Vec<u8> = (0..=255u8).collect();
    payload.extend_from_slice(b"\r\n\0\xff\xfe  ");
    payload.extend((0..PAYLOAD_MAX_BYTES - payload.len()).map(|i| (i * 31 % 251) as u8));
    assert_eq!(payload.len(), PAYLOAD_MAX_BYTES);
    let body = Body::parse("application/vnd.rampart.e2ee+json", payload.clone()).unwrap();
    let sent = m.send(&alice, &bob, body).await?.message;
    assert_eq!(sent.content_type, ContentType::E2ee);
    assert_eq!(sent.payload, payload);
    let got = m
        .conversation(&bob, &ConversationRef::With(alice.clone()), None, 10)
        .await?;
    assert_eq!(got.messages[0].payload, payload);
    assert_eq!(got.messages[0].content_type, ContentType::E2ee);
    let inbox = m.inbox(&bob, None, 10).await?;
    assert_eq!(inbox.conversations[0].last_message.payload, payload);
    // Text is checked (and its line breaks normalised), never HTML-escaped.
    let t = m
        .send(&bob, &alice, text(" <b>hi</b>\r\n & bye "))
        .await?
        .message;
    assert_eq!(t.payload, b"<b>hi</b>\n & bye".to_vec());
    Ok(())
}

async fn refusals_store_nothing(db: &Db) -> Result<()> {
    let (m, _) = messaging(db);
    let alice = user(db).await?;
    assert!(matches!(
        m.send(&alice, &alice, text("me")).await,
        Err(MessagingError::SelfTarget)
    ));
    // An unknown recipient: NotFound (the users foreign key), nothing stored.
    assert!(matches!(
        m.send(&alice, &UserId::generate(), text("who")).await,
        Err(MessagingError::NotFound)
    ));
    // Limits are enforced before anything is written.
    for (ct, p, code) in [
        (
            "application/vnd.rampart.e2ee+json",
            vec![1u8; PAYLOAD_MAX_BYTES + 1],
            "too_large",
        ),
        ("text/plain", vec![b'a'; PAYLOAD_MAX_BYTES + 1], "too_large"),
        (
            "text/plain",
            "a\u{202E}b".as_bytes().to_vec(),
            "invalid_characters",
        ),
        (
            "text/plain",
            "x\u{200B}".as_bytes().to_vec(),
            "invalid_characters",
        ),
        ("text/plain", b"  \n ".to_vec(), "required"),
        ("text/html", b"<p>".to_vec(), "unsupported"),
    ] {
        assert_eq!(Body::parse(ct, p).unwrap_err().code, code, "{ct} {code}");
    }
    assert_eq!(scalar(db, "SELECT COUNT(*) FROM messages").await?, 0);
    assert_eq!(scalar(db, "SELECT COUNT(*) FROM conversations").await?, 0);
    Ok(())
}

crate::both_engines!(
    send_inbox_and_conversation_paging,
    non_participants_get_not_found,
    read_state_is_monotonic,
    opaque_payload_round_trips_byte_exact,
    refusals_store_nothing,
);
