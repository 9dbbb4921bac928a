//! The outbox as a queue, without SMTP: claims, leases, sweeping (delivery itself is
//! tested against a real server in `delivery`).

use crate::both_engines;
use crate::support::TestDb;
use anyhow::Result;
use rampart_mail::outbox::{self, NewMail};

const T0: i64 = 1_704_067_200_000;

fn mail(to: &str) -> NewMail<'_> {
    NewMail {
        recipient: to,
        kind: "password_reset",
        subject: "s",
        body: "b",
    }
}

async fn a_claim_is_exclusive_until_its_lease_expires(t: &TestDb) -> Result<()> {
    let db = &t.db;
    let id = outbox::enqueue(db, mail("a@example.org"), T0).await?;
    // Not due before it was queued.
    assert!(outbox::claim(db, T0 - 1, 60_000, 10, 8).await?.1.is_empty());
    let (dead_worker, rows) = outbox::claim(db, T0, 60_000, 10, 8).await?;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].attempts, 1);
    // Held by the lease.
    assert!(outbox::claim(db, T0 + 59_999, 60_000, 10, 8)
        .await?
        .1
        .is_empty());
    // The worker "died"; after the lease anyone may take it, and the old claim can no
    // longer settle it.
    let (token, rows) = outbox::claim(db, T0 + 60_000, 60_000, 10, 8).await?;
    assert_eq!((rows.len(), rows[0].attempts), (1, 2));
    assert!(!outbox::mark_sent(db, &id, &dead_worker, T0 + 60_001).await?);
    assert!(outbox::mark_sent(db, &id, &token, T0 + 60_001).await?);
    let e = outbox::get(db, &id).await?.unwrap();
    assert_eq!((e.status.as_str(), e.sent_at), ("sent", Some(T0 + 60_001)));
    assert!(outbox::claim(db, T0 + 999_999_999, 60_000, 10, 8)
        .await?
        .1
        .is_empty());
    Ok(())
}

async fn a_claim_takes_at_most_its_batch_oldest_first(t: &TestDb) -> Result<()> {
    let mut ids = Vec::new();
    for i in 0..8 {
        ids.push(outbox::enqueue(&t.db, mail("b@example.org"), T0 + i).await?);
    }
    let (_, first) = outbox::claim(&t.db, T0 + 100, 60_000, 3, 8).await?;
    let (_, second) = outbox::claim(&t.db, T0 + 100, 60_000, 3, 8).await?;
    let got: Vec<_> = first.iter().chain(&second).map(|r| r.id.clone()).collect();
    assert_eq!(got, ids[..6]);
    let (_, rest) = outbox::claim(&t.db, T0 + 100, 60_000, 3, 8).await?;
    assert_eq!(rest.len(), 2);
    Ok(())
}

async fn old_and_abandoned_mail_is_swept(t: &TestDb) -> Result<()> {
    let db = &t.db;
    let old = outbox::enqueue(db, mail("old@example.org"), T0).await?;
    let fresh = outbox::enqueue(db, mail("new@example.org"), T0 + 10).await?;
    assert_eq!(outbox::sweep(db, T0 + 20, 8, T0 + 5).await?, 1);
    assert_eq!(outbox::get(db, &old).await?.unwrap().status, "dead");
    // A row claimed on its last allowed attempt whose worker died becomes dead.
    let (_, rows) = outbox::claim(db, T0 + 20, 1_000, 10, 1).await?;
    assert_eq!(rows.len(), 1);
    assert_eq!(outbox::sweep(db, T0 + 1_019, 1, 0).await?, 0);
    assert_eq!(outbox::sweep(db, T0 + 1_020, 1, 0).await?, 1);
    let e = outbox::get(db, &fresh).await?.unwrap();
    assert_eq!(e.status, "dead");
    assert!(e.last_error.unwrap().contains("lease"));
    Ok(())
}

both_engines!(
    a_claim_takes_at_most_its_batch_oldest_first,
    a_claim_is_exclusive_until_its_lease_expires,
    old_and_abandoned_mail_is_swept,
);
