//! X3DH prekey bundles: publish limits, and each one-time prekey handed out exactly
//! once under concurrency.

use crate::support::{messaging, scalar, user};
use anyhow::Result;
use rampart_db::Db;
use rampart_kernel::UserId;
use rampart_messaging::{
    MessagingError, NewBundle, OneTimePrekey, SignedPrekey, KEY_MAX_BYTES, ONE_TIME_PREKEYS_MAX,
};
use std::collections::HashSet;

fn key(seed: u32) -> Vec<u8> {
    (0..32u32)
        .map(|i| (seed.wrapping_mul(31) ^ i) as u8)
        .collect()
}

fn bundle(identity: u8, ids: std::ops::Range<u32>) -> NewBundle {
    NewBundle {
        identity_key: vec![identity; 33],
        signed_prekey: SignedPrekey {
            id: 7,
            public_key: vec![identity ^ 1; 32],
            signature: vec![identity ^ 2; 64],
        },
        one_time_prekeys: ids
            .map(|id| OneTimePrekey {
                id,
                public_key: key(id),
            })
            .collect(),
    }
}

async fn fifty_concurrent_claims_hand_out_each_prekey_once(db: &Db) -> Result<()> {
    let (m, _) = messaging(db);
    let target = user(db).await?;
    assert_eq!(m.publish_bundle(&target, bundle(5, 1..21)).await?, 20);
    assert_eq!(m.prekey_count(&target).await?, 20);
    let mut requesters = Vec::new();
    for _ in 0..50 {
        requesters.push(user(db).await?);
    }
    let tasks: Vec<_> = requesters
        .into_iter()
        .map(|r| {
            let (m, target) = (m.clone(), target.clone());
            tokio::spawn(async move { m.claim_bundle(&r, &target).await })
        })
        .collect();
    let mut handed = Vec::new();
    let mut without = 0;
    for t in futures::future::join_all(tasks).await {
        let b = t??;
        assert_eq!(b.user, target);
        assert_eq!(b.identity_key, vec![5; 33]);
        assert_eq!(b.signed_prekey.id, 7);
        assert_eq!(b.signed_prekey.signature, vec![5 ^ 2; 64]);
        match b.one_time_prekey {
            Some(k) => {
                assert_eq!(k.public_key, key(k.id), "key {} intact", k.id);
                handed.push(k.id);
            }
            None => without += 1,
        }
    }
    let distinct: HashSet<u32> = handed.iter().copied().collect();
    assert_eq!(handed.len(), 20, "exactly 20 one-time prekeys handed out");
    assert_eq!(distinct.len(), 20, "none twice: {handed:?}");
    assert_eq!(distinct, (1..21).collect::<HashSet<u32>>());
    assert_eq!(without, 30);
    assert_eq!(m.prekey_count(&target).await?, 0);
    assert_eq!(
        scalar(db, "SELECT COUNT(*) FROM one_time_prekeys").await?,
        0
    );
    Ok(())
}

async fn publish_limits_and_replacement(db: &Db) -> Result<()> {
    let (m, _) = messaging(db);
    let (alice, bob) = (user(db).await?, user(db).await?);
    assert!(matches!(
        m.claim_bundle(&bob, &alice).await,
        Err(MessagingError::NoBundle)
    ));
    assert!(matches!(
        m.claim_bundle(&alice, &alice).await,
        Err(MessagingError::SelfTarget)
    ));
    // Count cap in one call.
    let max = u32::try_from(ONE_TIME_PREKEYS_MAX)?;
    assert!(matches!(
        m.publish_bundle(&alice, bundle(1, 0..max + 1)).await,
        Err(MessagingError::Validation(_))
    ));
    // Sizes.
    let mut b = bundle(1, 0..1);
    b.identity_key = vec![1; KEY_MAX_BYTES + 1];
    assert!(matches!(
        m.publish_bundle(&alice, b).await,
        Err(MessagingError::Validation(_))
    ));
    let mut b = bundle(1, 0..1);
    b.signed_prekey.signature = vec![1; 10];
    assert!(matches!(
        m.publish_bundle(&alice, b).await,
        Err(MessagingError::Validation(_))
    ));
    let mut b = bundle(1, 0..2);
    b.one_time_prekeys[1].id = 0;
    assert!(matches!(
        m.publish_bundle(&alice, b).await,
        Err(MessagingError::Validation(_))
    ));
    let mut b = bundle(1, 0..2);
    b.one_time_prekeys[1].public_key = vec![0; 3];
    assert!(matches!(
        m.publish_bundle(&alice, b).await,
        Err(MessagingError::Validation(_))
    ));
    assert_eq!(scalar(db, "SELECT COUNT(*) FROM prekey_bundles").await?, 0);

    // Top-ups add up to the cap, and not past it (nothing written by the refusal).
    assert_eq!(m.publish_bundle(&alice, bundle(1, 0..60)).await?, 60);
    assert!(matches!(
        m.publish_bundle(&alice, bundle(1, 60..101)).await,
        Err(MessagingError::TooManyPrekeys)
    ));
    assert_eq!(m.prekey_count(&alice).await?, 60);
    assert!(matches!(
        m.publish_bundle(&alice, bundle(1, 59..61)).await,
        Err(MessagingError::DuplicatePrekey)
    ));
    assert_eq!(m.prekey_count(&alice).await?, 60);
    assert_eq!(m.publish_bundle(&alice, bundle(1, 60..100)).await?, 100);
    // A claim takes the lowest ID.
    let c = m.claim_bundle(&bob, &alice).await?;
    assert_eq!(c.one_time_prekey.map(|k| k.id), Some(0));
    assert_eq!(m.prekey_count(&alice).await?, 99);
    // A new identity key drops the old identity's one-time prekeys.
    assert_eq!(m.publish_bundle(&alice, bundle(9, 0..3)).await?, 3);
    let c = m.claim_bundle(&bob, &alice).await?;
    assert_eq!(c.identity_key, vec![9; 33]);
    assert_eq!(c.one_time_prekey.map(|k| k.id), Some(0));
    // Publishing for an unknown user: NotFound.
    assert!(matches!(
        m.publish_bundle(&UserId::generate(), bundle(1, 0..1)).await,
        Err(MessagingError::NotFound)
    ));
    Ok(())
}

crate::both_engines!(
    fifty_concurrent_claims_hand_out_each_prekey_once,
    publish_limits_and_replacement,
);
