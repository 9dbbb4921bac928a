//! Store warnings: staff with `warn_store` only, each create and resolve audited
//! exactly once in its transaction.

use crate::support::{audits, scalar, store, trust, user};
use anyhow::Result;
use rampart_db::Db;
use rampart_kernel::account::Role;
use rampart_kernel::ids::{StoreId, WarningId};
use rampart_trust::{TrustError, WarningStatus, REASON_MAX};

async fn warnings_are_staff_work_audited_once(db: &Db) -> Result<()> {
    let (t, clock) = trust(db);
    let shop = store(db).await?;
    let other_shop = store(db).await?;
    let staff = user(db, Role::Staff).await?;
    let admin = user(db, Role::Admin).await?;
    let audits_at_start = rampart_audit::count(db).await?;

    // Without the permission the warnings do not exist; nothing is written.
    for role in [Role::Customer, Role::Seller, Role::Support] {
        let c = user(db, role).await?;
        assert!(matches!(
            t.warn_store(&c, &shop, "bad").await,
            Err(TrustError::NotFound)
        ));
        assert!(matches!(
            t.store_warnings(&c, &shop).await,
            Err(TrustError::NotFound)
        ));
        assert!(matches!(
            t.resolve_warning(&c, &WarningId::generate()).await,
            Err(TrustError::NotFound)
        ));
    }
    assert!(matches!(
        t.warn_store(&staff, &StoreId::generate(), "no such store")
            .await,
        Err(TrustError::NotFound)
    ));
    for bad in ["  ", &*"r".repeat(REASON_MAX + 1), "nul\u{0}"] {
        assert!(matches!(
            t.warn_store(&staff, &shop, bad).await,
            Err(TrustError::Validation(_))
        ));
    }
    assert_eq!(scalar(db, "SELECT COUNT(*) FROM store_warnings").await?, 0);
    assert_eq!(rampart_audit::count(db).await?, audits_at_start);

    let w = t
        .warn_store(&staff, &shop, "Counterfeit\r\nlistings")
        .await?;
    assert_eq!(w.status, WarningStatus::Open);
    assert_eq!(w.reason, "Counterfeit\nlistings");
    assert_eq!(w.issued_by, staff.user);
    let created = audits(db, "warning_create").await?;
    assert_eq!(created.len(), 1);
    assert_eq!(
        (
            created[0].target_type.as_str(),
            created[0].target_id.as_str()
        ),
        ("store", shop.as_str())
    );
    let meta: serde_json::Value = serde_json::from_str(&created[0].metadata)?;
    assert_eq!(meta["warning"], w.id.as_str());
    t.warn_store(&admin, &other_shop, "elsewhere").await?;

    clock.advance_ms(60_000);
    let r = t.resolve_warning(&admin, &w.id).await?;
    assert_eq!(r.status, WarningStatus::Resolved);
    assert_eq!(r.resolved_by.as_ref(), Some(&admin.user));
    assert_eq!(r.resolved_at, Some(crate::support::T0 + 60_000));
    // Again: as it is, no second audit row.
    let again = t.resolve_warning(&staff, &w.id).await?;
    assert_eq!(again, r);
    let resolved = audits(db, "warning_resolve").await?;
    assert_eq!(resolved.len(), 1);
    assert_eq!(
        resolved[0].actor_user_uuid.as_deref(),
        Some(admin.user.as_str())
    );
    assert!(matches!(
        t.resolve_warning(&staff, &WarningId::generate()).await,
        Err(TrustError::NotFound)
    ));

    let listed = t.store_warnings(&staff, &shop).await?;
    assert_eq!(listed, vec![r]);
    assert_eq!(t.store_warnings(&staff, &other_shop).await?.len(), 1);
    assert!(t
        .store_warnings(&staff, &StoreId::generate())
        .await?
        .is_empty());
    assert_eq!(rampart_audit::count(db).await? - audits_at_start, 3);
    assert!(rampart_audit::verify(db, |_| {})
        .await?
        .first_break
        .is_none());
    Ok(())
}

crate::both_engines!(warnings_are_staff_work_audited_once);
