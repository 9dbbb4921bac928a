//! WebSocket load (docs/benchmarks.md, issue 11 §2): idle sockets per 100 MB of the
//! server's RSS, and delivery latency with 1 000 connected users sending
//! 1 000 messages/s — on one `rampart serve` process, across two sharing one
//! PostgreSQL database, and a loopback WebSocket echo baseline in the same run.
//!
//! ```text
//! scripts/load/ws.sh          # builds release, then runs this
//! ```
//!
//! Needs PostgreSQL (`BENCH_DATABASE_URL`, else `RAMPART_TEST_DATABASE_URL`; a fresh
//! schema is made and dropped) and the release server binary (`RAMPART_BIN`, default
//! `target/release/rampart`). Knobs: `BENCH_IDLE` idle sockets (10 000),
//! `BENCH_USERS` (1 000), `BENCH_RATE` messages/s (1 000), `BENCH_SECS` seconds per
//! latency run (10). Everything runs on loopback and stops by itself.

use anyhow::{bail, Context, Result};
use futures::{SinkExt, StreamExt};
use rampart::config::Config;
use rampart_identity::ClientCtx;
use rampart_kernel::account::Role;
use rampart_kernel::{Clock, SystemClock};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

type Ws = WebSocketStream<TcpStream>;

fn env_num(name: &str, default: u64) -> u64 {
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

struct User {
    id: String,
    cookie: String,
    csrf: String,
}

struct Server {
    child: Child,
    url: String,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn rss_kib(&self) -> u64 {
        let s = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        s.lines()
            .find(|l| l.starts_with("VmRSS:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

async fn start_server(bin: &str, dir: &std::path::Path, db_url: &str) -> Result<Server> {
    let port = free_port()?;
    let child = Command::new(bin)
        .arg("serve")
        .current_dir(dir)
        .env("RAMPART_CONFIG", dir.join("rampart.toml"))
        .env("RAMPART_DATA_DIR", dir)
        .env("RAMPART_DATABASE_URL", db_url)
        .env("RAMPART_BIND", format!("127.0.0.1:{port}"))
        .env("RAMPART_LOG", "error")
        .env("RAMPART_WORKER_IN_PROCESS", "false")
        .env("RAMPART_MAX_CONNECTIONS", "16000")
        .env_remove("RAMPART_REDIS_URL")
        .env_remove("RAMPART_PUBLIC_ORIGIN")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(
            dir.join(format!("serve-{port}.log")),
        )?)
        .spawn()
        .with_context(|| format!("starting {bin}"))?;
    let s = Server {
        child,
        url: format!("http://127.0.0.1:{port}"),
        port,
    };
    let c = reqwest::Client::new();
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(60) {
        if let Ok(r) = c.get(format!("{}/readyz", s.url)).send().await {
            if r.status() == 200 {
                return Ok(s);
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("server did not become ready")
}

/// Opens an authenticated socket from `ip`; waits for `ready`.
async fn open(port: u16, ip: &str, cookie: &str) -> Result<Ws> {
    let sock = TcpSocket::new_v4()?;
    sock.bind(format!("{ip}:0").parse()?)?;
    let tcp = sock.connect(format!("127.0.0.1:{port}").parse()?).await?;
    let mut req = format!("ws://127.0.0.1:{port}/ws").into_client_request()?;
    req.headers_mut()
        .insert("origin", format!("http://127.0.0.1:{port}").parse()?);
    req.headers_mut().insert("cookie", cookie.parse()?);
    let (mut ws, _) = tokio_tungstenite::client_async(req, tcp).await?;
    match tokio::time::timeout(Duration::from_secs(30), ws.next()).await {
        Ok(Some(Ok(Message::Text(_)))) => Ok(ws),
        other => bail!("no ready frame: {other:?}"),
    }
}

fn source_ip(k: usize) -> String {
    // 100 sockets per address, under the default per-IP cap of 128.
    let n = k / 100;
    format!("127.2.{}.{}", n / 250, n % 250 + 1)
}

/// Percentile of sorted nanoseconds, in milliseconds.
fn pct(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1e6
}

struct Latency {
    sent: u64,
    received: usize,
    p50: f64,
    p99: f64,
    max: f64,
    achieved_rate: f64,
}

/// 1 000 users each with one socket on `recv_port`; `rate` messages/s for `secs`,
/// each from user i to user i+1, sent over HTTP to `send_url`. Latency: from just
/// before the POST to the recipient's socket reading the event.
async fn latency_run(
    users: &[User],
    recv_port: u16,
    send_url: &str,
    rate: u64,
    secs: u64,
) -> Result<Latency> {
    let t0 = Instant::now();
    let samples = Arc::new(Mutex::new(Vec::<u64>::with_capacity(
        (rate * secs) as usize,
    )));
    let mut readers = Vec::new();
    for (i, u) in users.iter().enumerate() {
        let ws = open(recv_port, &source_ip(i), &u.cookie).await?;
        let samples = samples.clone();
        let me = u.id.clone();
        readers.push(tokio::spawn(async move {
            let (_, mut rx) = ws.split();
            while let Some(Ok(m)) = rx.next().await {
                let Message::Text(t) = m else { continue };
                let now = t0.elapsed().as_nanos() as u64;
                let Ok(v) = serde_json::from_str::<serde_json::Value>(t.as_str()) else {
                    continue;
                };
                if v["type"] != "message" || v["message"]["recipient_id"] != me.as_str() {
                    continue;
                }
                let sent: u64 = v["message"]["payload"]
                    .as_str()
                    .and_then(|p| p.strip_prefix("t="))
                    .and_then(|p| p.parse().ok())
                    .unwrap_or(now);
                if let Ok(mut s) = samples.lock() {
                    s.push(now.saturating_sub(sent));
                }
            }
        }));
    }
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()?;
    let sent = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    // Under the listener's per-IP cap (128): every send comes from 127.0.0.1.
    let inflight = Arc::new(tokio::sync::Semaphore::new(100));
    let failures = Arc::new(Mutex::new(std::collections::BTreeMap::<String, u64>::new()));
    let total = rate * secs;
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(total as usize);
    for k in 0..total {
        let due = start + Duration::from_nanos(k * 1_000_000_000 / rate);
        tokio::time::sleep_until(due.into()).await;
        let permit = inflight.clone().acquire_owned().await?;
        let from = &users[(k as usize) % users.len()];
        let to = &users[(k as usize + 1) % users.len()];
        let req = client
            .post(format!("{send_url}/v1/messages"))
            .header("cookie", &from.cookie)
            .header("x-csrf-token", &from.csrf)
            .json(&serde_json::json!({
                "to": to.id,
                "content_type": "text/plain",
                "payload": format!("t={}", t0.elapsed().as_nanos()),
            }));
        let sent = sent.clone();
        let errors = errors.clone();
        let failures = failures.clone();
        tasks.push(tokio::spawn(async move {
            let why = match req.send().await {
                Ok(r) if r.status() == 201 => {
                    sent.fetch_add(1, Ordering::Relaxed);
                    None
                }
                Ok(r) => Some(r.status().to_string()),
                Err(e) => Some(format!("transport: {e}")),
            };
            if let Some(w) = why {
                errors.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut f) = failures.lock() {
                    *f.entry(w).or_default() += 1;
                }
            }
            drop(permit);
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let elapsed = start.elapsed().as_secs_f64();
    // Let the last events arrive.
    tokio::time::sleep(Duration::from_secs(2)).await;
    for r in &readers {
        r.abort();
    }
    let mut s = samples.lock().map(|s| s.clone()).unwrap_or_default();
    s.sort_unstable();
    let n_err = errors.load(Ordering::Relaxed);
    if n_err > 0 {
        let f = failures.lock().map(|f| f.clone()).unwrap_or_default();
        println!("  {n_err} sends failed: {f:?}");
    }
    let sent = sent.load(Ordering::Relaxed);
    Ok(Latency {
        sent,
        received: s.len(),
        p50: pct(&s, 0.50),
        p99: pct(&s, 0.99),
        max: pct(&s, 1.0),
        achieved_rate: sent as f64 / elapsed,
    })
}

/// The baseline: a bare loopback WebSocket echo (tokio-tungstenite, no application),
/// `users` sockets, the same rate; latency is the round trip.
async fn echo_run(users: usize, rate: u64, secs: u64) -> Result<Latency> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else {
                    return;
                };
                while let Some(Ok(m)) = ws.next().await {
                    if m.is_text() && ws.send(m).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    let t0 = Instant::now();
    let samples = Arc::new(Mutex::new(Vec::<u64>::new()));
    let mut sinks = Vec::new();
    for i in 0..users {
        let sock = TcpSocket::new_v4()?;
        sock.bind(format!("{}:0", source_ip(i)).parse()?)?;
        let tcp = sock.connect(addr).await?;
        let (ws, _) = tokio_tungstenite::client_async(format!("ws://{addr}/"), tcp).await?;
        let (tx, mut rx) = ws.split();
        let samples = samples.clone();
        tokio::spawn(async move {
            while let Some(Ok(Message::Text(t))) = rx.next().await {
                let now = t0.elapsed().as_nanos() as u64;
                if let Ok(sent) = t.as_str().parse::<u64>() {
                    if let Ok(mut s) = samples.lock() {
                        s.push(now.saturating_sub(sent));
                    }
                }
            }
        });
        sinks.push(Arc::new(tokio::sync::Mutex::new(tx)));
    }
    let total = rate * secs;
    let start = Instant::now();
    for k in 0..total {
        let due = start + Duration::from_nanos(k * 1_000_000_000 / rate);
        tokio::time::sleep_until(due.into()).await;
        let sink = sinks[(k as usize) % users].clone();
        tokio::spawn(async move {
            let _ = sink
                .lock()
                .await
                .send(Message::text(t0.elapsed().as_nanos().to_string()))
                .await;
        });
    }
    let elapsed = start.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut s = samples.lock().map(|s| s.clone()).unwrap_or_default();
    s.sort_unstable();
    Ok(Latency {
        sent: total,
        received: s.len(),
        p50: pct(&s, 0.50),
        p99: pct(&s, 0.99),
        max: pct(&s, 1.0),
        achieved_rate: total as f64 / elapsed,
    })
}

async fn run() -> Result<()> {
    let limit = rampart::listener::raise_file_limit();
    let admin = std::env::var("BENCH_DATABASE_URL")
        .or_else(|_| std::env::var("RAMPART_TEST_DATABASE_URL"))
        .context(
            "BENCH_DATABASE_URL (or RAMPART_TEST_DATABASE_URL) must name a PostgreSQL database",
        )?;
    let bin = std::env::var("RAMPART_BIN").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../target/release/rampart").to_owned()
    });
    let n_idle = env_num("BENCH_IDLE", 10_000) as usize;
    let n_users = env_num("BENCH_USERS", 1_000) as usize;
    let rate = env_num("BENCH_RATE", 1_000);
    let secs = env_num("BENCH_SECS", 10);
    println!(
        "ws bench: {n_idle} idle sockets, {n_users} users, {rate} msg/s for {secs} s; open-file limit {limit:?}"
    );

    // A fresh schema, dropped at the end.
    let schema = format!("wsbench_{:08x}", rand_u32());
    let pool = sqlx::PgPool::connect(&admin).await?;
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&pool)
        .await?;
    let sep = if admin.contains('?') { '&' } else { '?' };
    let url = format!("{admin}{sep}options=-c%20search_path%3D{schema}");
    let dir = std::env::temp_dir().join(format!("rampart-wsbench-{schema}"));
    std::fs::create_dir_all(&dir)?;
    let result = bench(&bin, &dir, &url, n_idle, n_users, rate, secs).await;
    sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .execute(&pool)
        .await?;
    pool.close().await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn rand_u32() -> u32 {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    n ^ std::process::id()
}

#[allow(clippy::too_many_arguments)]
async fn bench(
    bin: &str,
    dir: &std::path::Path,
    url: &str,
    n_idle: usize,
    n_users: usize,
    rate: u64,
    secs: u64,
) -> Result<()> {
    // Limits raised for the load (each user sends more than 10 a minute; thousands of
    // handshakes come from a few addresses).
    std::fs::write(
        dir.join("rampart.toml"),
        "[rate_limits]\nws_handshake = { limit = 1000000, window_secs = 60 }\nmessage_send = { limit = 1000000, window_secs = 60 }\n",
    )?;
    // Users and web sessions, made through the library against the same database and
    // data directory (so the same generated secrets) as the servers.
    let cfg = Config::for_tests(dir.to_path_buf(), url.to_owned());
    let secrets = rampart::secrets::load(&cfg)?;
    let db = rampart::server::open_db(&cfg).await?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let state = rampart::server::build_state(&cfg, &secrets, db.clone(), clock.clone()).await?;
    let phc = state
        .auth
        .hasher()
        .hash(&rampart_identity::SecretString::from(
            "correct horse battery staple",
        ))
        .await?;
    let ctx = ClientCtx {
        ip: Some("127.0.0.1".parse()?),
        user_agent: String::new(),
        request_id: None,
    };
    let names = state.config.cookie_names();
    let t = Instant::now();
    let mut users = Vec::with_capacity(n_users);
    for i in 0..n_users {
        let username = rampart_kernel::Username::parse("username", &format!("wsb{i:05}"))
            .map_err(|e| anyhow::anyhow!("{}", e.code))?;
        let id = rampart_identity::accounts::create_account(
            &db,
            rampart_identity::accounts::NewAccount {
                username: &username,
                email: None,
                email_verified: true,
                password_hash: &phc,
                role: Role::Customer,
                now: clock.now_ms(),
            },
            None,
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .into_string();
        let web = state
            .auth
            .start_web_session(&id, &ctx)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        users.push(User {
            csrf: state.csrf.token_for(&format!("sid:{}", web.session_id)),
            cookie: format!("{}={}", names.session, web.cookie),
            id,
        });
    }
    println!(
        "setup: {n_users} users with sessions in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    // 1. Idle sockets per 100 MB of the server's RSS.
    let a = start_server(bin, dir, url).await?;
    if n_idle > 0 {
        idle_run(&a, &users, n_idle).await?;
    }

    // 2. Echo baseline.
    let echo = echo_run(n_users, rate, secs).await?;
    report("loopback echo baseline (round trip)", &echo);

    // 3. One instance.
    let one = latency_run(&users, a.port, &a.url, rate, secs).await?;
    report("one instance (HTTP send -> socket)", &one);
    tokio::time::sleep(Duration::from_secs(2)).await;

    // 4. Two instances: sockets on B, sends to A.
    let b = start_server(bin, dir, url).await?;
    let two = latency_run(&users, b.port, &a.url, rate, secs).await?;
    report("two instances (HTTP send to A -> socket on B)", &two);
    println!(
        "server RSS at the end: A {:.1} MiB, B {:.1} MiB",
        a.rss_kib() as f64 / 1024.0,
        b.rss_kib() as f64 / 1024.0
    );
    drop(b);
    drop(a);
    db.close().await;
    Ok(())
}

/// Opens `n_idle` authenticated sockets (100 per source address) and reports the
/// server's RSS growth per socket.
async fn idle_run(a: &Server, users: &[User], n_idle: usize) -> Result<()> {
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = a.rss_kib();
    let t = Instant::now();
    let opened = Arc::new(tokio::sync::Mutex::new(Vec::with_capacity(n_idle)));
    let gate = Arc::new(tokio::sync::Semaphore::new(64));
    let mut handles = Vec::new();
    for k in 0..n_idle {
        let permit = gate.clone().acquire_owned().await?;
        let cookie = users[k % users.len()].cookie.clone();
        let opened = opened.clone();
        let port = a.port;
        handles.push(tokio::spawn(async move {
            let r = open(port, &source_ip(k), &cookie).await;
            drop(permit);
            let ws = r?;
            opened.lock().await.push(ws);
            Ok::<(), anyhow::Error>(())
        }));
    }
    let mut failed = 0;
    let mut first_err = None;
    for h in handles {
        if let Ok(Err(e)) = h.await {
            failed += 1;
            first_err.get_or_insert(e.to_string());
        }
    }
    let n_open = opened.lock().await.len();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = a.rss_kib();
    let per_socket_kib = (after.saturating_sub(before)) as f64 / n_open.max(1) as f64;
    println!(
        "idle: {n_open} sockets open ({failed} failed{}) in {:.1} s; server RSS {:.1} MiB -> {:.1} MiB; {:.2} KiB per socket; {:.0} sockets per 100 MB",
        first_err.map(|e| format!(": {e}")).unwrap_or_default(),
        t.elapsed().as_secs_f64(),
        before as f64 / 1024.0,
        after as f64 / 1024.0,
        per_socket_kib,
        100.0 * 1000.0 * 1000.0 / 1024.0 / per_socket_kib,
    );
    opened.lock().await.clear();
    tokio::time::sleep(Duration::from_secs(2)).await;
    Ok(())
}

fn report(what: &str, l: &Latency) {
    println!(
        "{what}: sent {} ({:.0}/s achieved), received {}; p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        l.sent, l.achieved_rate, l.received, l.p50, l.p99, l.max
    );
}
