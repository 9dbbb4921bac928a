//! Rotating the encryption key ring (F2): data sealed under the old key keeps working
//! and is re-sealed under the new key as it is used, so the old key can be dropped.

use rampart_db::Db;
use rampart_identity::crypto::KeyRing;
use rampart_identity::keys::{EncryptedAtRest, KeyManager};
use rampart_identity::password::{HashParams, PasswordHasher};
use rampart_identity::SecretString;
use rampart_identity::{AuthConfig, ClientCtx, Identity, IdentityParts, RegisterInput};
use rampart_kernel::{Clock, ManualClock};
use rampart_security::events::SecurityEvents;
use rampart_security::metrics::Metrics;
use std::sync::Arc;

const OLD: [u8; 32] = [1u8; 32];
const NEW: [u8; 32] = [2u8; 32];

async fn service(db: &Db, ring: KeyRing, clock: &ManualClock) -> Identity {
    let keys = KeyManager::new(db.clone(), Arc::new(EncryptedAtRest(ring.clone())));
    let clock: Arc<dyn Clock> = Arc::new(clock.clone());
    let auth = Identity::new(IdentityParts {
        db: db.clone(),
        cfg: AuthConfig::default(),
        clock: clock.clone(),
        hasher: PasswordHasher::new(HashParams::default(), 2, 16).unwrap(),
        keys,
        keyring: ring,
        session_key: vec![9u8; 32],
        events: SecurityEvents::new(Arc::new(Metrics::new())),
    });
    auth.keys()
        .reload(clock.now_ms(), auth.access_ttl_ms())
        .await
        .unwrap();
    auth
}

fn ring(entries: &[(&str, [u8; 32])]) -> KeyRing {
    use base64::Engine as _;
    let cfg: Vec<String> = entries
        .iter()
        .map(|(id, k)| {
            format!(
                "{id}:{}",
                base64::engine::general_purpose::STANDARD.encode(k)
            )
        })
        .collect();
    KeyRing::parse(&cfg.join(",")).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_keys_and_totp_secrets_survive_an_encryption_key_rotation() {
    let dir = std::env::temp_dir().join(format!("rampart-rot-{}", uuid::Uuid::new_v4().simple()));
    let db = Db::connect(&format!("sqlite://{}", dir.join("t.db").display()), 4)
        .await
        .unwrap();
    db.migrate().await.unwrap();
    let clock = ManualClock::starting_now();
    let ctx = ClientCtx::default();
    let pw = SecretString::new("correct horse battery staple 7");

    // Everything sealed under the old key.
    let old = service(&db, ring(&[("k1", OLD)]), &clock).await;
    let user = old
        .register(
            RegisterInput {
                username: "carol".into(),
                email: None,
                password: pw.clone(),
                invite_code: None,
                referral_code: None,
            },
            &ctx,
        )
        .await
        .unwrap();
    let rampart_identity::accounts::Registered::Created(user) = user else {
        panic!("no e-mail given: the account is created at once");
    };
    let pair = old.login_api("carol", &pw, None, &ctx).await.unwrap();
    let p = old.verify_access(&pair.access_token).await.unwrap();
    let (_, _, secret_b32) = old.totp_begin(&p).await.unwrap();
    let secret = rampart_identity::totp::base32_decode(&secret_b32).unwrap();
    let step = rampart_identity::totp::step_at(clock.now_secs()).unwrap();
    old.totp_confirm(&p, &rampart_identity::totp::code_at(&secret, step), &ctx)
        .await
        .unwrap();
    let sealed_before = texts(&db, "SELECT private_key_enc FROM signing_keys", "").await;
    assert!(sealed_before.iter().all(|s| s.starts_with("k1:")));

    // New key first, old key still listed: everything opens and is re-sealed.
    clock.advance_secs(60);
    let both = service(&db, ring(&[("k2", NEW), ("k1", OLD)]), &clock).await;
    assert!(
        both.verify_access(&pair.access_token).await.is_ok(),
        "old tokens still verify"
    );
    let step = rampart_identity::totp::step_at(clock.now_secs()).unwrap();
    both.login_api(
        "carol",
        &pw,
        Some(&rampart_identity::totp::code_at(&secret, step)),
        &ctx,
    )
    .await
    .unwrap();
    let keys_now = texts(&db, "SELECT private_key_enc FROM signing_keys", "").await;
    assert!(
        keys_now.iter().all(|k| k.starts_with("k2:")),
        "signing keys re-sealed"
    );
    let totp = texts(
        &db,
        "SELECT totp_secret FROM users WHERE id = $1",
        user.id.as_str(),
    )
    .await;
    assert!(totp[0].starts_with("k2:"), "TOTP secret re-encrypted");

    // The old key can now be dropped.
    clock.advance_secs(60);
    let new_only = service(&db, ring(&[("k2", NEW)]), &clock).await;
    let step = rampart_identity::totp::step_at(clock.now_secs()).unwrap();
    new_only
        .login_api(
            "carol",
            &pw,
            Some(&rampart_identity::totp::code_at(&secret, step)),
            &ctx,
        )
        .await
        .unwrap();

    // Without the key that sealed them, nothing opens (no silent fallback).
    let wrong = KeyManager::new(
        db.clone(),
        Arc::new(EncryptedAtRest(ring(&[("k9", [9u8; 32])]))),
    );
    assert!(wrong.reload(clock.now_ms(), 900_000).await.is_err());
    db.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// Stored text values, read straight from the database (what is sealed at rest). The
/// argument is bound when the statement names `$1`.
async fn texts(db: &Db, sql: &str, arg: &str) -> Vec<String> {
    let rows: Vec<(String,)> = match &db.engine {
        rampart_db::Engine::Sqlite { read, .. } => {
            let q = sqlx::query_as(sql);
            let q = if sql.contains("$1") { q.bind(arg) } else { q };
            q.fetch_all(read).await.unwrap()
        }
        rampart_db::Engine::Postgres(p) => {
            let q = sqlx::query_as(sql);
            let q = if sql.contains("$1") { q.bind(arg) } else { q };
            q.fetch_all(p).await.unwrap()
        }
    };
    rows.into_iter().map(|r| r.0).collect()
}
