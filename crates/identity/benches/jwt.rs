//! Compares `jwt::Verifier::verify` with a bare `VerifyingKey::verify_strict` over the same
//! signing input, to show how much the JWT layer (parsing, claims checks) costs.
//! Run: `cargo bench -p rampart-auth --bench jwt`.

use std::error::Error;
use std::hint::black_box;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ed25519_dalek::Signature;
use rampart_identity::jwt::{sign, AccessClaims, SigningKey, Verifier};

const ISS: &str = "https://rampart.example";
const AUD: &str = "rampart-api";
const NOW: i64 = 1_700_000_000;
const ROUNDS: usize = 7;
const ROUND_TIME: Duration = Duration::from_millis(400);

/// Runs `f` repeatedly for about `ROUND_TIME`, returning operations per second.
fn rate(mut f: impl FnMut() -> bool) -> Result<f64, Box<dyn Error>> {
    let start = Instant::now();
    let mut n: u64 = 0;
    while start.elapsed() < ROUND_TIME {
        for _ in 0..64 {
            if !f() {
                return Err("verification failed during benchmark".into());
            }
        }
        n += 64;
    }
    Ok(n as f64 / start.elapsed().as_secs_f64())
}

fn main() -> Result<(), Box<dyn Error>> {
    let key = SigningKey::generate("2026-01");
    let mut verifier = Verifier::new();
    verifier.insert(key.kid(), key.verifying_key());
    let claims = AccessClaims {
        iss: ISS.into(),
        aud: AUD.into(),
        sub: "0190f3a2-7c1e-7d4b-9a55-3c2f1e0b9d41".into(),
        sid: "0190f3a2-8e11-7a02-b3c4-55e6f7a8b9c0".into(),
        exp: NOW + 900,
        iat: NOW,
        jti: "0190f3a2-9f00-7bb1-8c2d-6e7f8091a2b3".into(),
        scope: Some("listings:read orders:write".into()),
    };
    let token = sign(&key, &claims);
    let dot = token.rfind('.').ok_or("token without signature")?;
    let message = token.as_bytes()[..dot].to_vec();
    let sig_bytes: [u8; 64] = URL_SAFE_NO_PAD
        .decode(&token[dot + 1..])?
        .try_into()
        .map_err(|_| "signature is not 64 bytes")?;
    let signature = Signature::from_bytes(&sig_bytes);
    let vk = key.verifying_key();

    let raw = || {
        vk.verify_strict(black_box(&message), black_box(&signature))
            .is_ok()
    };
    let jwt = || {
        verifier
            .verify(black_box(&token), NOW, ISS, AUD)
            .map(|c| black_box(c).exp == claims.exp)
            .unwrap_or(false)
    };

    // Warm up, then alternate so background load hits both sides alike; keep the best round.
    rate(raw)?;
    rate(jwt)?;
    let (mut best_raw, mut best_jwt) = (0f64, 0f64);
    for _ in 0..ROUNDS {
        best_raw = best_raw.max(rate(raw)?);
        best_jwt = best_jwt.max(rate(jwt)?);
    }

    println!("token length:             {} bytes", token.len());
    println!("signed message length:    {} bytes", message.len());
    println!(
        "raw verify_strict:        {best_raw:>10.0} /s  ({:.2} µs)",
        1e6 / best_raw
    );
    println!(
        "jwt::Verifier::verify:    {best_jwt:>10.0} /s  ({:.2} µs)",
        1e6 / best_jwt
    );
    println!("ratio verify/raw:         {:>10.3}", best_jwt / best_raw);
    Ok(())
}
