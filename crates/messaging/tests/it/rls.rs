//! PostgreSQL row-level security on the messaging tables, as a role that neither
//! owns them nor bypasses RLS: every flow of the service works within the policies,
//! and a transaction acting for one user neither sees nor writes another pair's rows.

use crate::support::{messaging, scalar, text, user, TestDb};
use anyhow::Result;
use rampart_db::{Db, RlsContext, Tx};
use rampart_kernel::UserId;
use rampart_messaging::{ConversationRef, NewBundle, OneTimePrekey, SignedPrekey};

async fn count_as(db: &Db, user: &UserId, sql: &str) -> Result<i64> {
    let mut tx = db.begin().await?;
    tx.set_context(RlsContext {
        user_id: Some(user.as_str()),
        workspace_id: None,
    })
    .await?;
    let Tx::Postgres(t) = &mut tx else {
        anyhow::bail!("postgres only")
    };
    let (n,): (i64,) = sqlx::query_as(sql).fetch_one(&mut **t).await?;
    tx.rollback().await?;
    Ok(n)
}

/// Rows a statement changed acting for `user` (rolled back); an error counts as -1.
async fn write_as(db: &Db, user: &UserId, sql: &str) -> Result<i64> {
    let mut tx = db.begin().await?;
    tx.set_context(RlsContext {
        user_id: Some(user.as_str()),
        workspace_id: None,
    })
    .await?;
    let Tx::Postgres(t) = &mut tx else {
        anyhow::bail!("postgres only")
    };
    let n = match sqlx::query(sql).execute(&mut **t).await {
        Ok(r) => i64::try_from(r.rows_affected())?,
        Err(_) => -1,
    };
    drop(tx);
    Ok(n)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn policies_bind_a_non_owner_role() -> Result<()> {
    let Some(t) = TestDb::postgres("policies_bind_a_non_owner_role").await? else {
        return Ok(());
    };
    let Some(app) = t.as_app_role().await? else {
        return Ok(());
    };
    let (alice, bob, carol, mallory) = (
        user(&t.db).await?,
        user(&t.db).await?,
        user(&t.db).await?,
        user(&t.db).await?,
    );
    // The handle really is the bound role.
    let rampart_db::Engine::Postgres(pool) = &app.engine else {
        anyhow::bail!("postgres only")
    };
    let (who, bypass): (String, bool) = sqlx::query_as(
        "SELECT current_user::text, (SELECT rolbypassrls OR rolsuper FROM pg_roles \
         WHERE rolname = current_user)",
    )
    .fetch_one(pool)
    .await?;
    assert_eq!(
        (who.as_str(), bypass),
        ("rampart_messaging_test_app", false)
    );
    // Every flow through the bound role.
    let (m, clock) = messaging(&app);
    let first = m.send(&alice, &bob, text("one")).await?.message;
    clock.advance_ms(1);
    let second = m.send(&bob, &alice, text("two")).await?.message;
    m.send(&mallory, &carol, text("elsewhere")).await?;
    assert!(
        m.mark_read(&alice, &second.conversation, &first.id)
            .await?
            .moved
    );
    assert!(
        m.mark_read(&alice, &second.conversation, &second.id)
            .await?
            .moved
    );
    assert!(m.block(&alice, &carol).await?);
    m.report(&alice, &second.id, "rude", None).await?;
    let page = m
        .conversation(&bob, &ConversationRef::With(alice.clone()), None, 10)
        .await?;
    assert_eq!(page.messages.len(), 2);
    assert_eq!(page.their_last_read, Some(second.id.clone()));
    let bundle = NewBundle {
        identity_key: vec![1; 32],
        signed_prekey: SignedPrekey {
            id: 1,
            public_key: vec![2; 32],
            signature: vec![3; 64],
        },
        one_time_prekeys: vec![OneTimePrekey {
            id: 1,
            public_key: vec![4; 32],
        }],
    };
    m.publish_bundle(&bob, bundle).await?;
    assert!(m
        .claim_bundle(&alice, &bob)
        .await?
        .one_time_prekey
        .is_some());

    // Acting for Mallory: none of Alice and Bob's rows.
    let conv = second.conversation.as_str();
    for (table, mine) in [
        ("conversations", 1),
        ("messages", 1),
        ("message_reads", 0),
        ("message_reports", 0),
        ("user_blocks", 0),
    ] {
        assert_eq!(
            count_as(&app, &mallory, &format!("SELECT COUNT(*) FROM {table}")).await?,
            mine,
            "{table} as mallory"
        );
    }
    assert_eq!(
        count_as(&app, &alice, "SELECT COUNT(*) FROM messages").await?,
        2
    );
    assert_eq!(
        count_as(&app, &bob, "SELECT COUNT(*) FROM message_reads").await?,
        1
    );
    assert_eq!(
        count_as(&app, &bob, "SELECT COUNT(*) FROM message_reports").await?,
        0
    );
    // Carol sees that she is blocked (a send checks both directions) but cannot lift it.
    assert_eq!(
        count_as(&app, &carol, "SELECT COUNT(*) FROM user_blocks").await?,
        1
    );
    assert_eq!(write_as(&app, &carol, "DELETE FROM user_blocks").await?, 0);
    // Mallory cannot write into their conversation, or as someone else.
    let m_id = mallory.as_str();
    let a_id = alice.as_str();
    assert_eq!(
        write_as(
            &app,
            &mallory,
            &format!(
                "INSERT INTO messages (id, conversation_id, sender_id, content_type, payload, \
                 created_at) VALUES ('{}', '{conv}', '{m_id}', 'text/plain', 'x', 0)",
                uuid::Uuid::now_v7()
            ),
        )
        .await?,
        -1
    );
    assert_eq!(
        write_as(
            &app,
            &mallory,
            &format!(
                "INSERT INTO messages (id, conversation_id, sender_id, content_type, payload, \
                 created_at) VALUES ('{}', '{conv}', '{a_id}', 'text/plain', 'x', 0)",
                uuid::Uuid::now_v7()
            ),
        )
        .await?,
        -1
    );
    // The same statement into her own conversation succeeds (so the refusals above
    // are the policy, not the SQL).
    let rampart_db::Engine::Postgres(owner) = &t.db.engine else {
        anyhow::bail!("postgres only")
    };
    let (own_conv,): (String,) =
        sqlx::query_as("SELECT id FROM conversations WHERE user_low = $1 OR user_high = $1")
            .bind(m_id)
            .fetch_one(owner)
            .await?;
    assert_eq!(
        write_as(
            &app,
            &mallory,
            &format!(
                "INSERT INTO messages (id, conversation_id, sender_id, content_type, payload, \
                 created_at) VALUES ('{}', '{own_conv}', '{m_id}', 'text/plain', 'x', 0)",
                uuid::Uuid::now_v7()
            ),
        )
        .await?,
        1
    );
    assert_eq!(
        write_as(&app, &mallory, "DELETE FROM messages").await?,
        1,
        "only her own"
    );
    // Bob cannot move Alice's read pointer.
    assert_eq!(
        write_as(
            &app,
            &bob,
            "UPDATE message_reads SET last_read_message_id = ''"
        )
        .await?,
        0
    );
    assert_eq!(scalar(&t.db, "SELECT COUNT(*) FROM messages").await?, 3);
    app.close().await;
    t.db.close().await;
    Ok(())
}
