//! Tickets: only the author and support see one; status changes and assignment are
//! staff work, each change audited exactly once; replies and the reopen rule.

use crate::support::{audits, scalar, trust, user};
use anyhow::Result;
use rampart_db::Db;
use rampart_kernel::account::Role;
use rampart_kernel::ids::TicketId;
use rampart_trust::{
    Assignee, AssigneeFilter, Capacity, Side, TicketStatus, TrustError, BODY_MAX, SUBJECT_MAX,
};

/// Rows in the ticket tables and the audit log: what "nothing changed" compares.
async fn snapshot(db: &Db) -> Result<(i64, i64, i64, String)> {
    let statuses: Vec<(String,)> = match &db.engine {
        rampart_db::Engine::Sqlite { read, .. } => {
            sqlx::query_as("SELECT status || ':' || COALESCE(assignee_id, '-') || ':' || updated_at FROM tickets ORDER BY id")
                .fetch_all(read)
                .await?
        }
        rampart_db::Engine::Postgres(p) => {
            sqlx::query_as("SELECT status || ':' || COALESCE(assignee_id, '-') || ':' || updated_at FROM tickets ORDER BY id")
                .fetch_all(p)
                .await?
        }
    };
    Ok((
        scalar(db, "SELECT COUNT(*) FROM tickets").await?,
        scalar(db, "SELECT COUNT(*) FROM ticket_messages").await?,
        rampart_audit::count(db).await?,
        statuses
            .into_iter()
            .map(|r| r.0)
            .collect::<Vec<_>>()
            .join(","),
    ))
}

async fn only_author_and_support_see_a_ticket(db: &Db) -> Result<()> {
    let (t, clock) = trust(db);
    let author = user(db, Role::Customer).await?;
    let support = user(db, Role::Support).await?;
    let admin = user(db, Role::Admin).await?;
    let other = user(db, Role::Customer).await?;
    let seller = user(db, Role::Seller).await?;
    let created = t
        .create_ticket(&author, "  Refund missing ", "Where is\r\nmy refund?")
        .await?;
    let id = created.ticket.id.clone();
    assert_eq!(created.ticket.subject, "Refund missing");
    assert_eq!(created.ticket.status, TicketStatus::Open);
    assert_eq!(created.messages[0].body, "Where is\nmy refund?");
    assert_eq!(created.messages[0].side, Side::Author);

    let mine = t.ticket(Some(&author), &id).await?;
    assert_eq!(mine.viewer, Capacity::Author);
    assert_eq!(mine.messages.len(), 1);
    for staff in [&support, &admin] {
        let seen = t.ticket(Some(staff), &id).await?;
        assert_eq!(seen.viewer, Capacity::Staff);
        assert_eq!(seen.ticket, mine.ticket);
    }

    clock.advance_ms(1_000);
    let before = snapshot(db).await?;
    for nosy in [&other, &seller] {
        assert!(matches!(
            t.ticket(Some(nosy), &id).await,
            Err(TrustError::NotFound)
        ));
        assert!(matches!(
            t.reply(nosy, &id, "let me in").await,
            Err(TrustError::NotFound)
        ));
        assert!(matches!(
            t.set_status(nosy, &id, TicketStatus::Closed).await,
            Err(TrustError::NotFound)
        ));
        assert!(matches!(
            t.assign(nosy, &id, None).await,
            Err(TrustError::NotFound)
        ));
        assert!(matches!(
            t.ticket_queue(nosy, None, &AssigneeFilter::Any, None, 10)
                .await,
            Err(TrustError::NotFound)
        ));
        assert!(t.my_tickets(nosy, None, 10).await?.tickets.is_empty());
    }
    assert!(matches!(
        t.ticket(None, &id).await,
        Err(TrustError::NotFound)
    ));
    // An unknown ticket is the same answer, for staff too.
    assert!(matches!(
        t.ticket(Some(&support), &TicketId::generate()).await,
        Err(TrustError::NotFound)
    ));
    assert_eq!(snapshot(db).await?, before, "nothing changed");
    Ok(())
}

async fn status_changes_are_staff_work_audited_once(db: &Db) -> Result<()> {
    let (t, clock) = trust(db);
    let author = user(db, Role::Customer).await?;
    let support = user(db, Role::Support).await?;
    let id = t
        .create_ticket(&author, "Broken", "It broke")
        .await?
        .ticket
        .id;
    assert!(audits(db, "ticket_status_change").await?.is_empty());

    // The author knows the ticket but may not move it.
    let before = snapshot(db).await?;
    assert!(matches!(
        t.set_status(&author, &id, TicketStatus::Closed).await,
        Err(TrustError::Forbidden)
    ));
    assert!(matches!(
        t.assign(&author, &id, None).await,
        Err(TrustError::Forbidden)
    ));
    assert_eq!(snapshot(db).await?, before);

    clock.advance_ms(5);
    let mut staff = support.clone();
    staff.request_id = Some("req-7".into());
    let v = t.set_status(&staff, &id, TicketStatus::Pending).await?;
    assert_eq!(v.status, TicketStatus::Pending);
    assert_eq!(v.updated_at, crate::support::T0 + 5);
    let rows = audits(db, "ticket_status_change").await?;
    assert_eq!(rows.len(), 1);
    let meta: serde_json::Value = serde_json::from_str(&rows[0].metadata)?;
    assert_eq!(meta["old_status"], "open");
    assert_eq!(meta["new_status"], "pending");
    assert_eq!(meta["by"], "staff");
    assert_eq!(rows[0].target_type, "ticket");
    assert_eq!(rows[0].target_id, id.as_str());
    assert_eq!(
        rows[0].actor_user_uuid.as_deref(),
        Some(support.user.as_str())
    );
    assert_eq!(rows[0].request_id.as_deref(), Some("req-7"));

    // The same status again: no change, no audit row.
    let audit_count = rampart_audit::count(db).await?;
    let same = t.set_status(&support, &id, TicketStatus::Pending).await?;
    assert_eq!(same, v);
    assert_eq!(rampart_audit::count(db).await?, audit_count);

    t.set_status(&support, &id, TicketStatus::Closed).await?;
    let rows = audits(db, "ticket_status_change").await?;
    assert_eq!(rows.len(), 2);
    let meta: serde_json::Value = serde_json::from_str(&rows[0].metadata)?;
    assert_eq!(
        (meta["old_status"].as_str(), meta["new_status"].as_str()),
        (Some("pending"), Some("closed"))
    );
    assert_eq!(
        t.ticket(Some(&author), &id).await?.ticket.status,
        TicketStatus::Closed
    );
    assert!(rampart_audit::verify(db, |_| {})
        .await?
        .first_break
        .is_none());
    Ok(())
}

async fn assignment_needs_support_staff_audited_once(db: &Db) -> Result<()> {
    let (t, _) = trust(db);
    let author = user(db, Role::Customer).await?;
    let support = user(db, Role::Support).await?;
    let staff = user(db, Role::Staff).await?;
    let seller = user(db, Role::Seller).await?;
    let id = t.create_ticket(&author, "Help", "please").await?.ticket.id;
    let as_assignee = |c: &rampart_trust::Caller| Assignee {
        user: c.user.clone(),
        role: c.role,
    };

    let before = snapshot(db).await?;
    assert!(matches!(
        t.assign(&support, &id, Some(&as_assignee(&seller))).await,
        Err(TrustError::NotSupportStaff)
    ));
    // A role that may be assigned, but no such user.
    assert!(matches!(
        t.assign(
            &support,
            &id,
            Some(&Assignee {
                user: rampart_kernel::UserId::generate(),
                role: Role::Support
            })
        )
        .await,
        Err(TrustError::NotFound)
    ));
    assert_eq!(snapshot(db).await?, before);

    let v = t.assign(&staff, &id, Some(&as_assignee(&support))).await?;
    assert_eq!(v.assignee.as_ref(), Some(&support.user));
    let again = t.assign(&staff, &id, Some(&as_assignee(&support))).await?;
    assert_eq!(again, v);
    let rows = audits(db, "ticket_assign").await?;
    assert_eq!(rows.len(), 1);
    let meta: serde_json::Value = serde_json::from_str(&rows[0].metadata)?;
    assert_eq!(meta["old_assignee"], serde_json::Value::Null);
    assert_eq!(meta["new_assignee"], support.user.as_str());

    // The queue by assignee.
    let other = t.create_ticket(&author, "Other", "thing").await?.ticket.id;
    let mine = t
        .ticket_queue(
            &support,
            None,
            &AssigneeFilter::User(support.user.clone()),
            None,
            10,
        )
        .await?;
    assert_eq!(
        mine.tickets.iter().map(|t| &t.id).collect::<Vec<_>>(),
        [&id]
    );
    let unassigned = t
        .ticket_queue(&support, None, &AssigneeFilter::Unassigned, None, 10)
        .await?;
    assert_eq!(
        unassigned.tickets.iter().map(|t| &t.id).collect::<Vec<_>>(),
        [&other]
    );

    // Unassign: one more row.
    let v = t.assign(&staff, &id, None).await?;
    assert!(v.assignee.is_none());
    assert_eq!(audits(db, "ticket_assign").await?.len(), 2);
    Ok(())
}

async fn replies_and_the_reopen_rule(db: &Db) -> Result<()> {
    let (t, clock) = trust(db);
    let author = user(db, Role::Customer).await?;
    let support = user(db, Role::Support).await?;
    let id = t.create_ticket(&author, "Q", "first").await?.ticket.id;
    t.assign(
        &support,
        &id,
        Some(&Assignee {
            user: support.user.clone(),
            role: Role::Support,
        }),
    )
    .await?;

    clock.advance_ms(10);
    let r = t.reply(&support, &id, "Which order?").await?;
    assert_eq!(r.message.side, Side::Staff);
    assert_eq!(r.status_change, None);
    assert_eq!(r.notify, vec![author.user.clone()]);
    assert_eq!(r.ticket.updated_at, crate::support::T0 + 10);

    // Resolved, then the author answers: back to open, audited as the author's.
    t.set_status(&support, &id, TicketStatus::Resolved).await?;
    let audits_before = rampart_audit::count(db).await?;
    let r = t.reply(&author, &id, "Still broken").await?;
    assert_eq!(r.message.side, Side::Author);
    let change = r.status_change.expect("reopened");
    assert_eq!(
        (change.old, change.new),
        (TicketStatus::Resolved, TicketStatus::Open)
    );
    assert_eq!(r.ticket.status, TicketStatus::Open);
    assert_eq!(r.notify, vec![support.user.clone()]);
    assert_eq!(rampart_audit::count(db).await? - audits_before, 1);
    let row = &audits(db, "ticket_status_change").await?[0];
    let meta: serde_json::Value = serde_json::from_str(&row.metadata)?;
    assert_eq!(meta["by"], "author_reply");
    assert_eq!(row.actor_user_uuid.as_deref(), Some(author.user.as_str()));

    // An author's reply to an open ticket changes nothing but the thread.
    let audits_before = rampart_audit::count(db).await?;
    assert_eq!(t.reply(&author, &id, "Hello?").await?.status_change, None);
    assert_eq!(rampart_audit::count(db).await?, audits_before);

    // Closed: nobody replies, nothing is written.
    t.set_status(&support, &id, TicketStatus::Closed).await?;
    let before = snapshot(db).await?;
    for who in [&author, &support] {
        assert!(matches!(
            t.reply(who, &id, "one more").await,
            Err(TrustError::TicketClosed)
        ));
    }
    assert_eq!(snapshot(db).await?, before);
    let thread = t.ticket(Some(&author), &id).await?;
    let sides: Vec<Side> = thread.messages.iter().map(|m| m.side).collect();
    assert_eq!(
        sides,
        [Side::Author, Side::Staff, Side::Author, Side::Author]
    );
    Ok(())
}

async fn input_rules_and_paging(db: &Db) -> Result<()> {
    let (t, clock) = trust(db);
    let author = user(db, Role::Customer).await?;
    let support = user(db, Role::Support).await?;
    for (subject, body) in [
        ("", "body"),
        ("subject", "   "),
        (&*"s".repeat(SUBJECT_MAX + 1), "body"),
        ("subject", &*"b".repeat(BODY_MAX + 1)),
        ("two\nlines", "body"),
        ("subject", "bell\u{7}"),
    ] {
        assert!(
            matches!(
                t.create_ticket(&author, subject, body).await,
                Err(TrustError::Validation(_))
            ),
            "{subject:?} / {body:?}"
        );
    }
    match t.create_ticket(&author, "", "").await {
        Err(TrustError::Validation(e)) => assert_eq!(e.0.len(), 2, "every bad field"),
        other => panic!("{other:?}"),
    }
    assert_eq!(scalar(db, "SELECT COUNT(*) FROM tickets").await?, 0);

    let mut ids = Vec::new();
    for i in 0..5 {
        clock.advance_ms(1);
        ids.push(
            t.create_ticket(&author, &format!("t{i}"), "x")
                .await?
                .ticket
                .id,
        );
    }
    t.set_status(&support, &ids[1], TicketStatus::Resolved)
        .await?;
    // Mine: newest first, two per page.
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let p = t.my_tickets(&author, cursor.as_ref(), 2).await?;
        seen.extend(p.tickets.into_iter().map(|t| t.id));
        match p.next {
            Some(n) => cursor = Some(n),
            None => break,
        }
    }
    let mut newest_first = ids.clone();
    newest_first.reverse();
    assert_eq!(seen, newest_first);
    // The queue: oldest first, filtered by status.
    let open = t
        .ticket_queue(
            &support,
            Some(TicketStatus::Open),
            &AssigneeFilter::Any,
            None,
            3,
        )
        .await?;
    assert_eq!(
        open.tickets
            .iter()
            .map(|t| t.id.clone())
            .collect::<Vec<_>>(),
        [ids[0].clone(), ids[2].clone(), ids[3].clone()]
    );
    let rest = t
        .ticket_queue(
            &support,
            Some(TicketStatus::Open),
            &AssigneeFilter::Any,
            open.next.as_ref(),
            3,
        )
        .await?;
    assert_eq!(
        rest.tickets
            .iter()
            .map(|t| t.id.clone())
            .collect::<Vec<_>>(),
        [ids[4].clone()]
    );
    assert!(rest.next.is_none());
    Ok(())
}

async fn concurrent_status_changes_audit_one_change(db: &Db) -> Result<()> {
    let (t, _) = trust(db);
    let author = user(db, Role::Customer).await?;
    let support = user(db, Role::Support).await?;
    let id = t.create_ticket(&author, "Race", "go").await?.ticket.id;
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (t, support, id) = (t.clone(), support.clone(), id.clone());
        tasks.push(tokio::spawn(async move {
            t.set_status(&support, &id, TicketStatus::Resolved).await
        }));
    }
    for task in tasks {
        assert_eq!(task.await??.status, TicketStatus::Resolved);
    }
    let rows = audits(db, "ticket_status_change").await?;
    assert_eq!(rows.len(), 1, "one change, one row");
    let meta: serde_json::Value = serde_json::from_str(&rows[0].metadata)?;
    assert_eq!(
        (meta["old_status"].as_str(), meta["new_status"].as_str()),
        (Some("open"), Some("resolved"))
    );
    Ok(())
}

crate::both_engines!(
    concurrent_status_changes_audit_one_change,
    only_author_and_support_see_a_ticket,
    status_changes_are_staff_work_audited_once,
    assignment_needs_support_staff_audited_once,
    replies_and_the_reopen_rule,
    input_rules_and_paging,
);
