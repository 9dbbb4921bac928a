//! Blocks: a blocked user cannot message you, and nothing is stored.

use crate::support::{messaging, scalar, text, user};
use anyhow::Result;
use rampart_db::Db;
use rampart_messaging::MessagingError;

async fn blocked_cannot_message(db: &Db) -> Result<()> {
    let (m, clock) = messaging(db);
    let (alice, bob, carol) = (user(db).await?, user(db).await?, user(db).await?);
    m.send(&bob, &alice, text("before")).await?;
    assert!(m.block(&alice, &bob).await?);
    assert!(!m.block(&alice, &bob).await?, "blocking twice is a no-op");
    clock.advance_ms(5);
    assert!(m.block(&alice, &carol).await?);
    let before = scalar(db, "SELECT COUNT(*) FROM messages").await?;
    // Bob (blocked by Alice) gets the opaque Blocked.
    assert!(matches!(
        m.send(&bob, &alice, text("let me in")).await,
        Err(MessagingError::Blocked)
    ));
    // Alice cannot write to someone she blocked either.
    assert!(matches!(
        m.send(&alice, &bob, text("hi")).await,
        Err(MessagingError::BlockedByYou)
    ));
    // Carol never wrote before: no conversation gets created by the refusal.
    assert!(matches!(
        m.send(&carol, &alice, text("hello")).await,
        Err(MessagingError::Blocked)
    ));
    assert_eq!(scalar(db, "SELECT COUNT(*) FROM messages").await?, before);
    assert_eq!(scalar(db, "SELECT COUNT(*) FROM conversations").await?, 1);
    // Prekey claims are refused across a block too.
    assert!(matches!(
        m.claim_bundle(&bob, &alice).await,
        Err(MessagingError::Blocked)
    ));

    let list = m.blocked_users(&alice).await?;
    assert_eq!(
        list.iter().map(|b| b.user.clone()).collect::<Vec<_>>(),
        vec![bob.clone(), carol.clone()]
    );
    assert!(m.blocked_users(&bob).await?.is_empty());
    assert!(matches!(
        m.block(&alice, &alice).await,
        Err(MessagingError::SelfTarget)
    ));
    // Bob cannot lift Alice's block.
    assert!(!m.unblock(&bob, &alice).await?);
    assert!(m.unblock(&alice, &bob).await?);
    assert!(!m.unblock(&alice, &bob).await?);
    m.send(&bob, &alice, text("thanks")).await?;
    assert_eq!(
        scalar(db, "SELECT COUNT(*) FROM messages").await?,
        before + 1
    );
    Ok(())
}

crate::both_engines!(blocked_cannot_message);
