//! Does a password-reset request take longer when the account exists? Sends
//! interleaved `POST /v1/auth/password-reset` requests for an existing account and for
//! missing ones to the real application in-process (SQLite, memory limiter, logging
//! off), over one keep-alive connection, and compares the latency samples with a
//! two-sided Mann-Whitney U test. A second comparison, missing vs missing (the same
//! kind of request in two interleaved groups), is the baseline of the same run: the
//! p-value a test of two equal populations gives on this machine.
//!
//! ```text
//! cargo bench -p rampart --bench reset_timing
//! ```
//!
//! Knobs: `BENCH_SAMPLES` per group (default 1500), `BENCH_WARMUP` (200),
//! `BENCH_FRESH=1` opens a new connection for every request (as `curl` in a loop
//! does) instead of one keep-alive connection.

use anyhow::{bail, Context, Result};
use rampart::config::{Config, LimitOverride};
use rampart_kernel::{Clock, SystemClock};
use rand::seq::SliceRandom;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(run())
}

fn scratch_dir() -> Result<PathBuf> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!(
        "rampart-bench-reset-{}-{nanos}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// The account that exists; missing names have the same length.
const EXISTING: &str = "resetbench";

fn body_for(login: &str) -> Vec<u8> {
    let json = format!("{{\"login\":\"{login}\"}}");
    format!(
        "POST /v1/auth/password-reset HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: rampart-bench\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{json}",
        json.len()
    )
    .into_bytes()
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// One request; the time until the whole response is in. `fresh`: on a new
/// connection (connect included in the time), else on the keep-alive one.
async fn timed(
    s: &mut TcpStream,
    req: &[u8],
    buf: &mut Vec<u8>,
    fresh: Option<SocketAddr>,
) -> Result<f64> {
    let mut chunk = [0u8; 4096];
    let started = Instant::now();
    if let Some(addr) = fresh {
        *s = TcpStream::connect(addr).await?;
        s.set_nodelay(true)?;
        buf.clear();
    }
    s.write_all(req).await?;
    let head_end = loop {
        if let Some(i) = find(buf, b"\r\n\r\n") {
            break i + 4;
        }
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            bail!("connection closed");
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = std::str::from_utf8(&buf[..head_end])?.to_ascii_lowercase();
    let len: usize = head
        .split("\r\n")
        .find_map(|l| l.strip_prefix("content-length:"))
        .map(|v| v.trim().parse())
        .transpose()?
        .unwrap_or(0);
    while buf.len() < head_end + len {
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            bail!("connection closed mid-body");
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let took = started.elapsed().as_secs_f64() * 1000.0;
    if !buf.starts_with(b"HTTP/1.1 202") {
        bail!(
            "unexpected answer: {}",
            String::from_utf8_lossy(&buf[..head_end])
        );
    }
    buf.drain(..head_end + len);
    Ok(took)
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let n = s.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

/// Complementary error function (Numerical Recipes `erfcc`, relative error < 1.2e-7).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t
        * (-z * z - 1.265_512_23
            + t * (1.000_023_68
                + t * (0.374_091_96
                    + t * (0.096_784_18
                        + t * (-0.186_288_06
                            + t * (0.278_868_07
                                + t * (-1.135_203_98
                                    + t * (1.488_515_87
                                        + t * (-0.822_152_23 + t * 0.170_872_77)))))))))
            .exp();
    if x >= 0.0 {
        r
    } else {
        2.0 - r
    }
}

/// Two-sided Mann-Whitney U test (normal approximation with tie correction and
/// continuity correction): `(U of a, p)`.
fn mann_whitney(a: &[f64], b: &[f64]) -> (f64, f64) {
    let (n1, n2) = (a.len() as f64, b.len() as f64);
    let mut all: Vec<(f64, bool)> = a
        .iter()
        .map(|&x| (x, true))
        .chain(b.iter().map(|&x| (x, false)))
        .collect();
    all.sort_by(|x, y| x.0.total_cmp(&y.0));
    let n = all.len();
    let mut rank_sum_a = 0.0;
    let mut tie_term = 0.0;
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && all[j + 1].0 == all[i].0 {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0;
        let t = (j - i + 1) as f64;
        tie_term += t * t * t - t;
        for item in &all[i..=j] {
            if item.1 {
                rank_sum_a += avg;
            }
        }
        i = j + 1;
    }
    let u1 = rank_sum_a - n1 * (n1 + 1.0) / 2.0;
    let mean = n1 * n2 / 2.0;
    let nn = n1 + n2;
    let var = n1 * n2 / 12.0 * ((nn + 1.0) - tie_term / (nn * (nn - 1.0)));
    let z = ((u1 - mean).abs() - 0.5).max(0.0) / var.sqrt();
    (u1, erfc(z / std::f64::consts::SQRT_2))
}

async fn run() -> Result<()> {
    let samples = env_num("BENCH_SAMPLES", 1500);
    let warmup = env_num("BENCH_WARMUP", 200);
    let fresh_conns = env_num("BENCH_FRESH", 0) == 1;
    let dir = scratch_dir()?;
    let url = format!("sqlite://{}", dir.join("rampart.db").display());
    let mut cfg = Config::for_tests(dir.clone(), url);
    // The per-IP reset limit (5 an hour) would refuse the run itself.
    cfg.rate_limits.insert(
        "password_reset".into(),
        LimitOverride {
            limit: 1_000_000,
            window_secs: 60,
        },
    );
    let secrets = rampart::secrets::load(&cfg)?;
    let db = rampart::server::open_db(&cfg).await?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let state = rampart::server::build_state(&cfg, &secrets, db, clock.clone()).await?;
    let phc = state
        .auth
        .hasher()
        .hash(&rampart_identity::SecretString::from(
            "correct horse battery staple 7",
        ))
        .await?;
    let username = rampart_kernel::Username::parse("username", EXISTING)
        .map_err(|e| anyhow::anyhow!("username: {}", e.code))?;
    let email = rampart_kernel::Email::parse("email", "resetbench@example.com")
        .map_err(|e| anyhow::anyhow!("email: {}", e.code))?;
    rampart_identity::accounts::create_account(
        &state.db,
        rampart_identity::accounts::NewAccount {
            username: &username,
            email: Some(&email),
            password_hash: &phc,
            role: rampart_kernel::account::Role::Customer,
            email_verified: true,
            now: clock.now_ms(),
        },
        None,
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let running = rampart::server::start(state, &cfg, false).await?;
    let addr: SocketAddr = running.addr;
    let mut s = TcpStream::connect(addr).await.context("connecting")?;
    s.set_nodelay(true)?;
    let mut buf = Vec::with_capacity(8192);
    let fresh = fresh_conns.then_some(addr);

    let existing_req = body_for(EXISTING);
    let missing = |i: usize| body_for(&format!("ghost{:05}", i % 100_000));
    for i in 0..warmup {
        let req = if i % 2 == 0 {
            existing_req.clone()
        } else {
            missing(i)
        };
        timed(&mut s, &req, &mut buf, fresh).await?;
    }
    // Interleaved: each round sends one request of each group in a random order.
    let (mut ex, mut mi, mut mi2) = (Vec::new(), Vec::new(), Vec::new());
    let mut rng = rand::thread_rng();
    let mut order = [0u8, 1, 2];
    for i in 0..samples {
        order.shuffle(&mut rng);
        for g in order {
            match g {
                0 => ex.push(timed(&mut s, &existing_req, &mut buf, fresh).await?),
                1 => mi.push(timed(&mut s, &missing(2 * i), &mut buf, fresh).await?),
                _ => mi2.push(timed(&mut s, &missing(2 * i + 1), &mut buf, fresh).await?),
            }
        }
    }
    let (u, p) = mann_whitney(&ex, &mi);
    let (u0, p0) = mann_whitney(&mi, &mi2);
    println!(
        "password-reset request latency, {samples} interleaved samples per group, {}",
        if fresh_conns {
            "a new connection per request"
        } else {
            "one keep-alive connection"
        }
    );
    println!("  existing account   median {:.3} ms", median(&ex));
    println!("  missing account    median {:.3} ms", median(&mi));
    println!("  missing (2nd grp)  median {:.3} ms", median(&mi2));
    println!(
        "  existing/missing   ratio of medians {:.3}   Mann-Whitney U = {u:.0}, p = {p:.3}",
        median(&ex) / median(&mi)
    );
    println!(
        "  baseline missing/missing  ratio {:.3}   U = {u0:.0}, p = {p0:.3}",
        median(&mi2) / median(&mi)
    );
    running.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
