//! Issue 8, slow clients: connections that never finish their headers, dribble them,
//! or sit idle are closed within the configured timeout; one client IP cannot hold
//! more than its share; everyone else keeps getting prompt answers. The servers here
//! run the same accept loop as `rampart serve` (`rampart::listener`).

use anyhow::{bail, Context, Result};
use rampart_test_support::{Engine, TestApp};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// Generous slack on top of a timeout: the assertion is "closed by the timeout, not
/// by the end of the test", never "closed at exactly t".
const MARGIN: Duration = Duration::from_secs(8);

async fn app(header_secs: u64, idle_secs: u64, per_ip: usize, max_total: usize) -> Result<TestApp> {
    TestApp::builder(Engine::Sqlite)
        .config(move |c| {
            c.listener.header_read_timeout = Duration::from_secs(header_secs);
            c.listener.idle_timeout = Duration::from_secs(idle_secs);
            c.listener.max_connections_per_ip = per_ip;
            c.listener.max_connections = max_total;
        })
        .spawn()
        .await?
        .context("sqlite")
}

/// A TCP connection from `ip` (any 127.x.y.z is its own client on loopback).
pub async fn connect_from(ip: &str, to: SocketAddr) -> Result<TcpStream> {
    let s = TcpSocket::new_v4()?;
    s.bind(SocketAddr::new(ip.parse()?, 0))?;
    Ok(s.connect(to).await?)
}

/// Reads until the peer closes (or errors); `Ok(elapsed)` if that happened within
/// `limit`.
async fn closed_within(s: &mut TcpStream, limit: Duration) -> Result<Duration> {
    let start = Instant::now();
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(limit.saturating_sub(start.elapsed()), s.read(&mut buf)).await {
            Err(_) => bail!("still open after {limit:?}"),
            Ok(Ok(0)) | Ok(Err(_)) => return Ok(start.elapsed()),
            Ok(Ok(_)) => {}
        }
    }
}

/// One response on a keep-alive connection: (status, body).
async fn read_response(s: &mut TcpStream) -> Result<(u16, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            bail!("closed before a response head");
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let status: u16 = head.split_whitespace().nth(1).context("status")?.parse()?;
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    let mut body = buf[head_end..].to_vec();
    while body.len() < len {
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            bail!("closed inside the body");
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Ok((status, body))
}

fn closed(app: &TestApp, reason: &str) -> u64 {
    app.state
        .metrics
        .counter(rampart::listener::CLOSED_METRIC, &[("reason", reason)])
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

async fn healthz_from(app: &TestApp, from: &str) -> Result<Duration> {
    let client = app.client_from(from);
    let start = Instant::now();
    let r = tokio::time::timeout(
        Duration::from_secs(5),
        client.get(app.at("/healthz")).send(),
    )
    .await
    .context("/healthz did not answer within 5 s")??;
    assert_eq!(r.status(), 200);
    Ok(start.elapsed())
}

/// The incident: thousands of connections that never finish their headers, from a few
/// IPs. Each IP holds at most its cap, the rest are closed at once, the held ones are
/// closed within the header timeout, and another IP is answered promptly throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_open_flood_is_capped_and_closed_while_others_are_served() -> Result<()> {
    const PER_IP: usize = 300;
    const EACH: usize = 600;
    let header = Duration::from_secs(8);
    let app = app(header.as_secs(), 30, PER_IP, 10_000).await?;
    let addr = app.running().addr;
    let attackers = ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"];

    let mut conns = Vec::new();
    for a in attackers {
        for _ in 0..EACH {
            match connect_from(a, addr).await {
                Ok(mut s) => {
                    // A request head that never ends. Over-cap sockets may already
                    // be closed: a failed write is fine.
                    let _ = s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await;
                    conns.push((Instant::now(), s));
                }
                Err(e) => bail!("connect from {a}: {e}"),
            }
        }
    }
    // While the flood is open: nobody holds more than the cap, and another client IP
    // gets prompt answers.
    for a in attackers {
        let n = app.running().limits.open_from(ip(a));
        assert!(n <= PER_IP, "{a} holds {n} connections, cap {PER_IP}");
    }
    assert!(
        app.running().limits.open_total() >= PER_IP,
        "the flood is being held open (so the checks below run during it)"
    );
    for _ in 0..5 {
        let took = healthz_from(&app, "127.0.0.9").await?;
        assert!(took < Duration::from_secs(5), "/healthz took {took:?}");
    }

    // Every flood connection is closed within the header timeout (+ margin) of its
    // opening; the ones over the cap much earlier.
    let mut tasks = Vec::new();
    for (opened, mut s) in conns {
        tasks.push(tokio::spawn(async move {
            let left = (header + MARGIN).saturating_sub(opened.elapsed());
            closed_within(&mut s, left).await.map(|_| opened.elapsed())
        }));
    }
    let mut worst = Duration::ZERO;
    for t in tasks {
        worst = worst.max(t.await??);
    }
    assert!(worst <= header + MARGIN, "{worst:?}");
    // Nothing is left charged to anyone, and the server still serves.
    let deadline = Instant::now() + MARGIN;
    while app.running().limits.open_total() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for a in attackers {
        assert_eq!(app.running().limits.open_from(ip(a)), 0, "{a}");
    }
    healthz_from(&app, "127.0.0.2").await?;
    app.stop().await;
    Ok(())
}

/// The per-IP cap refuses the next connection at once (long before the timeout),
/// leaves other IPs alone, and frees a slot when a connection closes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_ip_cap_refuses_at_once_and_frees_slots() -> Result<()> {
    let app = app(60, 60, 5, 1000).await?;
    let addr = app.running().addr;
    let limits = app.running().limits.clone();
    let mut held = Vec::new();
    for _ in 0..5 {
        let mut s = connect_from("127.0.0.2", addr).await?;
        s.write_all(b"GET / HTTP/1.1\r\n").await?;
        held.push(s);
    }
    let deadline = Instant::now() + MARGIN;
    while limits.open_from(ip("127.0.0.2")) < 5 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(limits.open_from(ip("127.0.0.2")), 5);

    // The sixth is closed without an answer, well inside the 60 s timeouts.
    let mut sixth = connect_from("127.0.0.2", addr).await?;
    let _ = sixth
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    let mut got = Vec::new();
    let r = tokio::time::timeout(MARGIN, sixth.read_to_end(&mut got)).await;
    assert!(r.is_ok(), "the over-cap connection was not closed at once");
    assert!(
        !String::from_utf8_lossy(&got).contains("200 OK"),
        "over-cap connection was served"
    );
    assert_eq!(
        limits.open_from(ip("127.0.0.2")),
        5,
        "refusal charged nothing"
    );
    assert_eq!(closed(&app, "per_ip_cap"), 1);

    // Another IP is unaffected.
    healthz_from(&app, "127.0.0.3").await?;

    // Closing one frees one slot.
    drop(held.pop());
    let deadline = Instant::now() + MARGIN;
    while limits.open_from(ip("127.0.0.2")) > 4 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut s = connect_from("127.0.0.2", addr).await?;
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await?;
    let (status, _) = read_response(&mut s).await?;
    assert_eq!(status, 200);
    drop(held);
    app.stop().await;
    Ok(())
}

/// A slowloris that keeps sending one header byte at a time (so it is never idle) is
/// still closed by the header-read timeout; a kept-alive connection with nothing to
/// do is closed by the idle timeout but serves requests sent before it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dribbled_headers_and_idle_keep_alive_are_closed() -> Result<()> {
    let header = Duration::from_secs(2);
    let idle = Duration::from_secs(1);
    let app = app(header.as_secs(), idle.as_secs(), 50, 1000).await?;
    let addr = app.running().addr;

    let mut slow = connect_from("127.0.0.2", addr).await?;
    slow.write_all(b"GET /healthz HTTP/1.1\r\n").await?;
    let start = Instant::now();
    let dribble = async {
        loop {
            tokio::time::sleep(Duration::from_millis(250)).await;
            if slow.write_all(b"X").await.is_err() {
                return start.elapsed();
            }
            if start.elapsed() > header + MARGIN {
                return start.elapsed();
            }
        }
    };
    let took = dribble.await;
    assert!(
        took <= header + MARGIN,
        "dribbling client kept for {took:?}"
    );
    closed_within(&mut slow, MARGIN).await?;

    // Keep-alive: two requests on one connection, then silence.
    let mut ka = connect_from("127.0.0.3", addr).await?;
    ka.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await?;
    assert_eq!(read_response(&mut ka).await?.0, 200);
    tokio::time::sleep(idle / 4).await;
    ka.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await?;
    assert_eq!(read_response(&mut ka).await?.0, 200);
    let took = closed_within(&mut ka, idle + MARGIN).await?;
    assert!(took <= idle + MARGIN, "{took:?}");

    // A connection that sends nothing at all is closed too.
    let mut mute = connect_from("127.0.0.4", addr).await?;
    closed_within(&mut mute, header.max(idle) + MARGIN).await?;
    healthz_from(&app, "127.0.0.5").await?;
    assert!(closed(&app, "header_timeout") >= 1);
    assert!(closed(&app, "idle_timeout") >= 1);
    app.stop().await;
    Ok(())
}

/// A request head larger than 32 KiB is answered 431 and
/// the connection closed; the server keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_request_head_is_refused() -> Result<()> {
    let app = app(10, 10, 50, 1000).await?;
    let addr = app.running().addr;
    let mut s = connect_from("127.0.0.2", addr).await?;
    let big = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: {}\r\n\r\n",
        "a".repeat(100 * 1024)
    );
    let _ = s.write_all(big.as_bytes()).await;
    let mut got = Vec::new();
    let _ = tokio::time::timeout(MARGIN, s.read_to_end(&mut got)).await;
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 431"), "{text}");
    healthz_from(&app, "127.0.0.2").await?;
    app.stop().await;
    Ok(())
}

/// The total cap holds across IPs: once it is reached, new connections from anyone
/// are closed at once (instead of the process running out of descriptors), and
/// service resumes as soon as connections end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn total_cap_refuses_everyone_until_connections_end() -> Result<()> {
    let app = app(60, 60, 10, 20).await?;
    let addr = app.running().addr;
    let limits = app.running().limits.clone();
    let mut held = Vec::new();
    for i in 0..20 {
        let mut s = connect_from(&format!("127.0.1.{}", i % 4 + 1), addr).await?;
        s.write_all(b"GET / HTTP/1.1\r\n").await?;
        held.push(s);
    }
    let deadline = Instant::now() + MARGIN;
    while limits.open_total() < 20 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(limits.open_total(), 20);
    let mut extra = connect_from("127.0.1.9", addr).await?;
    let _ = extra
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    let mut got = Vec::new();
    let r = tokio::time::timeout(MARGIN, extra.read_to_end(&mut got)).await;
    assert!(r.is_ok(), "over the total cap but not closed at once");
    assert!(!String::from_utf8_lossy(&got).contains("200 OK"));
    assert_eq!(closed(&app, "total_cap"), 1);
    drop(held);
    let deadline = Instant::now() + MARGIN;
    while limits.open_total() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    healthz_from(&app, "127.0.1.9").await?;
    app.stop().await;
    Ok(())
}
