//! PostgreSQL row-level security on the trust tables, as a role that neither owns
//! them nor bypasses RLS and holds no grant of its own (only `rampart_app`
//! membership, so the privileges come from 0009's default privileges): every flow
//! of the service works within the policies, and a transaction acting for one
//! customer or one store neither sees nor writes anybody else's rows.

use crate::support::{scalar, store, trust, user, TestDb, APP_ROLE};
use anyhow::Result;
use rampart_db::{Db, RlsContext, Tx};
use rampart_kernel::account::Role;
use rampart_trust::{Assignee, AssigneeFilter, TicketStatus, TrustError};

/// Rows a statement counts or changes in a transaction with `ctx` (rolled back); an
/// error counts as -1.
async fn as_ctx(db: &Db, ctx: RlsContext<'_>, sql: &str, count: bool) -> Result<i64> {
    let mut tx = db.begin().await?;
    tx.set_context(ctx).await?;
    let Tx::Postgres(t) = &mut tx else {
        anyhow::bail!("postgres only")
    };
    let n = if count {
        let (n,): (i64,) = sqlx::query_as(sql).fetch_one(&mut **t).await?;
        n
    } else {
        match sqlx::query(sql).execute(&mut **t).await {
            Ok(r) => i64::try_from(r.rows_affected())?,
            Err(_) => -1,
        }
    };
    drop(tx);
    Ok(n)
}

fn user_ctx(u: &str) -> RlsContext<'_> {
    RlsContext {
        user_id: Some(u),
        workspace_id: None,
    }
}

fn store_ctx(s: &str) -> RlsContext<'_> {
    RlsContext {
        user_id: None,
        workspace_id: Some(s),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn policies_bind_a_non_owner_role() -> Result<()> {
    let Some(t) = TestDb::postgres("policies_bind_a_non_owner_role").await? else {
        return Ok(());
    };
    let Some(app) = t.as_app_role().await? else {
        return Ok(());
    };
    let (alice, bob) = (
        user(&t.db, Role::Customer).await?,
        user(&t.db, Role::Customer).await?,
    );
    let (support, staff) = (
        user(&t.db, Role::Support).await?,
        user(&t.db, Role::Staff).await?,
    );
    let (shop, other_shop) = (store(&t.db).await?, store(&t.db).await?);

    // The handle really is the bound role, with no grant of its own.
    let rampart_db::Engine::Postgres(pool) = &app.engine else {
        anyhow::bail!("postgres only")
    };
    let (who, bypass, owns, own_grants): (String, bool, i64, i64) = sqlx::query_as(
        "SELECT current_user::text, \
           (SELECT rolbypassrls OR rolsuper FROM pg_roles WHERE rolname = current_user), \
           (SELECT COUNT(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
              WHERE n.nspname = current_schema() \
                AND pg_has_role(current_user, c.relowner, 'USAGE')), \
           (SELECT COUNT(*) FROM information_schema.role_table_grants \
              WHERE grantee = current_user)",
    )
    .fetch_one(pool)
    .await?;
    assert_eq!(
        (who.as_str(), bypass, owns, own_grants),
        (APP_ROLE, false, 0, 0)
    );

    // Every flow through the bound role.
    let (tr, _) = trust(&app);
    let a = tr.create_ticket(&alice, "Alice's", "help").await?.ticket.id;
    let b = tr.create_ticket(&bob, "Bob's", "help").await?.ticket.id;
    tr.reply(&support, &a, "On it").await?;
    tr.set_status(&support, &a, TicketStatus::Resolved).await?;
    assert!(tr.reply(&alice, &a, "No").await?.status_change.is_some());
    tr.assign(
        &staff,
        &b,
        Some(&Assignee {
            user: support.user.clone(),
            role: Role::Support,
        }),
    )
    .await?;
    assert_eq!(tr.ticket(Some(&alice), &a).await?.messages.len(), 3);
    assert!(matches!(
        tr.ticket(Some(&alice), &b).await,
        Err(TrustError::NotFound)
    ));
    assert_eq!(tr.my_tickets(&bob, None, 10).await?.tickets.len(), 1);
    assert_eq!(
        tr.ticket_queue(&support, None, &AssigneeFilter::Any, None, 10)
            .await?
            .tickets
            .len(),
        2
    );
    let w = tr.warn_store(&staff, &shop, "first").await?;
    tr.warn_store(&staff, &other_shop, "second").await?;
    tr.resolve_warning(&staff, &w.id).await?;
    assert_eq!(tr.store_warnings(&staff, &shop).await?.len(), 1);

    // Acting for Alice: her ticket and its thread only.
    let (al, bo) = (alice.user.as_str(), bob.user.as_str());
    let count = |ctx, sql: &'static str| {
        let app = app.clone();
        async move { as_ctx(&app, ctx, sql, true).await }
    };
    assert_eq!(
        count(user_ctx(al), "SELECT COUNT(*) FROM tickets").await?,
        1
    );
    assert_eq!(
        count(user_ctx(al), "SELECT COUNT(*) FROM ticket_messages").await?,
        3
    );
    assert_eq!(
        count(user_ctx(bo), "SELECT COUNT(*) FROM ticket_messages").await?,
        1
    );
    // She cannot write on staff's side of her own ticket, nor into Bob's.
    let insert = |ticket: &str, author: &str, side: &str| {
        format!(
            "INSERT INTO ticket_messages (id, ticket_id, author_id, side, body, created_at) \
             VALUES ('{}', '{ticket}', '{author}', '{side}', 'x', 0)",
            uuid::Uuid::now_v7()
        )
    };
    let (a_id, b_id) = (a.as_str(), b.as_str());
    let su = support.user.as_str();
    for (sql, want) in [
        (insert(a_id, al, "staff"), -1),
        (insert(a_id, su, "staff"), -1),
        (insert(b_id, al, "author"), -1),
        (insert(b_id, bo, "author"), -1),
        // The same statement on her own side of her own ticket succeeds, so the
        // refusals above are the policy, not the SQL.
        (insert(a_id, al, "author"), 1),
        ("UPDATE tickets SET status = 'closed'".to_owned(), 1),
        ("DELETE FROM ticket_messages".to_owned(), 3),
        ("UPDATE store_warnings SET reason = 'x'".to_owned(), 2),
    ] {
        assert_eq!(
            as_ctx(&app, user_ctx(al), &sql, false).await?,
            want,
            "{sql}"
        );
    }
    // Acting in one store: its warnings only.
    let (sh, osh) = (shop.as_str(), other_shop.as_str());
    assert_eq!(
        count(store_ctx(sh), "SELECT COUNT(*) FROM store_warnings").await?,
        1
    );
    assert_eq!(
        as_ctx(
            &app,
            store_ctx(sh),
            "UPDATE store_warnings SET reason = 'x'",
            false
        )
        .await?,
        1
    );
    let si = staff.user.as_str();
    assert_eq!(
        as_ctx(
            &app,
            store_ctx(sh),
            &format!(
                "INSERT INTO store_warnings (id, store_id, issued_by, reason, status, created_at) \
                 VALUES ('{}', '{osh}', '{si}', 'x', 'open', 0)",
                uuid::Uuid::now_v7()
            ),
            false
        )
        .await?,
        -1
    );
    // Nothing above was kept.
    assert_eq!(
        scalar(&t.db, "SELECT COUNT(*) FROM ticket_messages").await?,
        4
    );
    assert_eq!(
        scalar(&t.db, "SELECT COUNT(*) FROM store_warnings").await?,
        2
    );
    app.close().await;
    t.db.close().await;
    Ok(())
}
