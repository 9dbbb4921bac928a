//! Reports: only a participant reports, once, audited.

use crate::support::{messaging, scalar, text, user};
use anyhow::Result;
use rampart_db::Db;
use rampart_kernel::ids::MessageId;
use rampart_messaging::{MessagingError, ReportStatus, REASON_MAX};

async fn participant_reports_once_audited(db: &Db) -> Result<()> {
    let (m, _) = messaging(db);
    let (alice, bob, mallory) = (user(db).await?, user(db).await?, user(db).await?);
    let msg = m.send(&bob, &alice, text("spam spam")).await?.message;
    let audits = rampart_audit::count(db).await?;

    // Not a participant: NotFound, nothing written.
    assert!(matches!(
        m.report(&mallory, &msg.id, "looks bad", None).await,
        Err(MessagingError::NotFound)
    ));
    assert!(matches!(
        m.report(&alice, &MessageId::generate(), "gone", None).await,
        Err(MessagingError::NotFound)
    ));
    // One's own message.
    assert!(matches!(
        m.report(&bob, &msg.id, "oops", None).await,
        Err(MessagingError::SelfTarget)
    ));
    // Reason rules.
    assert!(matches!(
        m.report(&alice, &msg.id, "  ", None).await,
        Err(MessagingError::Validation(_))
    ));
    assert!(matches!(
        m.report(&alice, &msg.id, &"x".repeat(REASON_MAX + 1), None)
            .await,
        Err(MessagingError::Validation(_))
    ));
    assert_eq!(scalar(db, "SELECT COUNT(*) FROM message_reports").await?, 0);
    assert_eq!(rampart_audit::count(db).await?, audits);

    let r = m
        .report(&alice, &msg.id, "spam\r\nagain", Some("req-9"))
        .await?;
    assert_eq!(r.status, ReportStatus::Open);
    assert_eq!(r.reason, "spam\nagain");
    assert_eq!(
        (r.message.clone(), r.reporter.clone()),
        (msg.id.clone(), alice.clone())
    );
    // Again: the same report, no second row or audit entry.
    let again = m.report(&alice, &msg.id, "different", None).await?;
    assert_eq!(again, r);
    assert_eq!(scalar(db, "SELECT COUNT(*) FROM message_reports").await?, 1);
    assert_eq!(rampart_audit::count(db).await? - audits, 1);
    let row = &rampart_audit::latest(db, 1).await?[0];
    assert_eq!(row.action_type, "message_report");
    assert!(rampart_audit::verify(db, |_| {})
        .await?
        .first_break
        .is_none());
    Ok(())
}

crate::both_engines!(participant_reports_once_audited);
