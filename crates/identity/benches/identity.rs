//! Identity-core throughput, each figure against a baseline measured in the same run:
//! - access-token verification through `Identity::verify_access` (JWT + revocation check)
//!   vs a raw Ed25519 `verify_strict` loop over the same signing input;
//! - full API logins per second (argon2id verify + session + refresh token + JWT) vs a
//!   raw argon2id verification loop at the same parameters and concurrency;
//! - refresh rotations per second on SQLite and, when `RAMPART_BENCH_DATABASE_URL` or
//!   `RAMPART_TEST_DATABASE_URL` is set, on PostgreSQL.
//!
//! Run: `cargo bench -p rampart-auth --bench identity`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rampart_db::Db;
use rampart_identity::crypto::KeyRing;
use rampart_identity::keys::{EncryptedAtRest, KeyManager};
use rampart_identity::password::{HashParams, PasswordHasher};
use rampart_identity::SecretString;
use rampart_identity::{AuthConfig, ClientCtx, Identity, IdentityParts, RegisterInput};
use rampart_kernel::{Clock, SystemClock};
use rampart_security::events::SecurityEvents;
use rampart_security::metrics::Metrics;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

const PASSWORD: &str = "correct horse battery staple 7";

async fn service(url: &str) -> Arc<Identity> {
    let db = Db::connect(url, 8).await.unwrap();
    db.migrate().await.unwrap();
    let ring = KeyRing::from_single("k1", &[7u8; 32]).unwrap();
    let keys = KeyManager::new(db.clone(), Arc::new(EncryptedAtRest(ring.clone())));
    let hasher = PasswordHasher::new(HashParams::default(), 2, 1024).unwrap();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let cfg = AuthConfig {
        max_sessions: 1_000_000,
        ..AuthConfig::default()
    };
    let auth = Identity::new(IdentityParts {
        db,
        cfg,
        clock: clock.clone(),
        hasher,
        keys,
        keyring: ring,
        session_key: vec![9u8; 32],
        events: SecurityEvents::new(Arc::new(Metrics::new())),
    });
    auth.keys()
        .reload(clock.now_ms(), auth.access_ttl_ms())
        .await
        .unwrap();
    Arc::new(auth)
}

async fn user(auth: &Identity, name: &str) {
    auth.register(
        RegisterInput {
            username: name.into(),
            email: None,
            password: SecretString::new(PASSWORD),
            invite_code: None,
            referral_code: None,
        },
        &ClientCtx::default(),
    )
    .await
    .unwrap();
}

fn ctx() -> ClientCtx {
    ClientCtx {
        ip: Some("127.0.0.1".parse().unwrap()),
        user_agent: "bench/1.0".into(),
        request_id: None,
    }
}

async fn verify_bench(auth: &Arc<Identity>) {
    user(auth, "verifier").await;
    let pair = auth
        .login_api("verifier", &SecretString::new(PASSWORD), None, &ctx())
        .await
        .unwrap();
    let token = pair.access_token.clone();
    // Raw baseline: the same signing input and signature through ed25519-dalek.
    let (signing_input, sig_b64) = token.rsplit_once('.').unwrap();
    let sig =
        ed25519_dalek::Signature::from_slice(&URL_SAFE_NO_PAD.decode(sig_b64).unwrap()).unwrap();
    let set = auth.keys().current();
    let kid = serde_json::from_slice::<serde_json::Value>(
        &URL_SAFE_NO_PAD
            .decode(token.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap()["kid"]
        .as_str()
        .unwrap()
        .to_owned();
    let vk = set.jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .map(|k| rampart_identity::jwt::verifying_key_from_jwk(k).unwrap().1)
        .unwrap();
    let mut raw = Vec::new();
    let mut full = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let mut n = 0u64;
        while t.elapsed() < Duration::from_millis(400) {
            assert!(vk
                .verify_strict(black_box(signing_input.as_bytes()), &sig)
                .is_ok());
            n += 1;
        }
        raw.push(n as f64 / t.elapsed().as_secs_f64());
        let t = Instant::now();
        let mut n = 0u64;
        while t.elapsed() < Duration::from_millis(400) {
            assert!(auth.verify_access(black_box(&token)).await.is_ok());
            n += 1;
        }
        full.push(n as f64 / t.elapsed().as_secs_f64());
    }
    let best = |v: &[f64]| v.iter().cloned().fold(0.0, f64::max);
    println!(
        "access-token verification: raw ed25519 verify_strict {:>9.0}/s | Identity::verify_access (JWT + revocation check) {:>9.0}/s | ratio {:.3}",
        best(&raw),
        best(&full),
        best(&full) / best(&raw)
    );
}

async fn login_bench(auth: &Arc<Identity>, tasks: usize, per_task: usize) {
    for i in 0..tasks {
        user(auth, &format!("login{i}")).await;
    }
    // Raw baseline: argon2id verification at the same parameters, same concurrency,
    // on blocking threads like the service.
    let params = Params::new(19_456, 2, 1, None).unwrap();
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    let salt = SaltString::encode_b64(b"benchmark-salt-16").unwrap();
    let phc = argon
        .hash_password(PASSWORD.as_bytes(), &salt)
        .unwrap()
        .to_string();
    let t = Instant::now();
    let mut hs = Vec::new();
    for _ in 0..tasks {
        let phc = phc.clone();
        let argon = argon.clone();
        hs.push(tokio::task::spawn_blocking(move || {
            let parsed = PasswordHash::new(&phc).unwrap();
            for _ in 0..per_task {
                assert!(argon.verify_password(PASSWORD.as_bytes(), &parsed).is_ok());
            }
        }));
    }
    for h in hs {
        h.await.unwrap();
    }
    let raw = (tasks * per_task) as f64 / t.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut hs = Vec::new();
    for i in 0..tasks {
        let auth = auth.clone();
        hs.push(tokio::spawn(async move {
            for _ in 0..per_task {
                auth.login_api(
                    &format!("login{i}"),
                    &SecretString::new(PASSWORD),
                    None,
                    &ctx(),
                )
                .await
                .unwrap();
            }
        }));
    }
    for h in hs {
        h.await.unwrap();
    }
    let full = (tasks * per_task) as f64 / t.elapsed().as_secs_f64();
    println!(
        "login throughput ({tasks} concurrent): raw argon2id verify {raw:>7.1}/s | Identity::login_api {full:>7.1}/s | ratio {:.3}",
        full / raw
    );
}

async fn refresh_bench(auth: &Arc<Identity>, engine: &str, families: usize, per_family: usize) {
    let mut tokens = Vec::new();
    for i in 0..families {
        let name = format!("refresh{i}");
        user(auth, &name).await;
        let pair = auth
            .login_api(&name, &SecretString::new(PASSWORD), None, &ctx())
            .await
            .unwrap();
        tokens.push(pair.refresh_token);
    }
    let t = Instant::now();
    let mut hs = Vec::new();
    for tok in tokens {
        let auth = auth.clone();
        hs.push(tokio::spawn(async move {
            let mut tok = tok;
            for _ in 0..per_family {
                tok = auth.refresh(&tok, &ctx()).await.unwrap().refresh_token;
            }
        }));
    }
    for h in hs {
        h.await.unwrap();
    }
    let rate = (families * per_family) as f64 / t.elapsed().as_secs_f64();
    println!("refresh rotations on {engine:<8} ({families} families in parallel): {rate:>7.0}/s");
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let dir =
            std::env::temp_dir().join(format!("rampart-bench-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}", dir.join("bench.db").display());
        let auth = service(&url).await;
        verify_bench(&auth).await;
        login_bench(&auth, 2, 20).await;
        refresh_bench(&auth, "sqlite", 8, 100).await;
        auth.close().await;
        let _ = std::fs::remove_dir_all(&dir);
        let pg = std::env::var("RAMPART_BENCH_DATABASE_URL")
            .or_else(|_| std::env::var("RAMPART_TEST_DATABASE_URL"))
            .ok();
        match pg {
            Some(admin) => {
                let schema = format!("bench_{}", uuid::Uuid::new_v4().simple());
                let pool = sqlx::PgPool::connect(&admin).await.unwrap();
                sqlx::query(&format!("CREATE SCHEMA {schema}"))
                    .execute(&pool)
                    .await
                    .unwrap();
                let sep = if admin.contains('?') { '&' } else { '?' };
                let url = format!("{admin}{sep}options=-c%20search_path%3D{schema}");
                let auth = service(&url).await;
                refresh_bench(&auth, "postgres", 8, 100).await;
                auth.close().await;
                sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
                    .execute(&pool)
                    .await
                    .unwrap();
            }
            None => {
                println!("refresh rotations on postgres: SKIPPED (set RAMPART_TEST_DATABASE_URL)")
            }
        }
    });
}
