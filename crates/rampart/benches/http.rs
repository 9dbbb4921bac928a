//! `/healthz` throughput: the real Rampart stack against a bare axum handler, in one
//! process, driven by the same load generator, in alternating rounds so machine noise
//! hits both alike. Logging is off (no subscriber), so this measures the middleware
//! stack, not stdout.
//!
//! ```text
//! cargo bench -p rampart --bench http
//! ```
//!
//! Environment knobs (all optional):
//! - `BENCH_CONNS` keep-alive connections (default 32)
//! - `BENCH_SECS` seconds per measurement (default 3)
//! - `BENCH_ROUNDS` alternating rounds (default 6)
//! - `BENCH_LAYERS=1` also measure each layer of the stack on its own against bare
//! - `BENCH_WRK=1` also cross-check with `wrk` (a separate process) when installed
//! - `BENCH_SERVE=1` start both servers, print their URLs and wait (for manual wrk)

use anyhow::{bail, Context, Result};
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::{from_fn, from_fn_with_state, Next};
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};
use rampart::config::Config;
use rampart_kernel::{Clock, SystemClock};
use rampart_security::metrics::Metrics;
use serde_json::json;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn env_flag(name: &str) -> bool {
    matches!(
        std::env::var(name).as_deref(),
        Ok("1") | Ok("true") | Ok("yes")
    )
}

fn main() -> Result<()> {
    // Same shape as the `rampart` binary's runtime: multi-threaded, one worker per core.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(run())
}

/// A unique scratch directory under the system temp dir.
fn scratch_dir(tag: &str) -> Result<PathBuf> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!(
        "rampart-bench-{tag}-{}-{nanos}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

/// Starts the real application through the library, as `rampart serve` does.
async fn start_rampart(dir: &std::path::Path) -> Result<rampart::server::Running> {
    let url = format!("sqlite://{}", dir.join("rampart.db").display());
    let mut cfg = Config::for_tests(dir.to_path_buf(), url);
    cfg.key_rotation_days = 0;
    // Every load connection comes from 127.0.0.1; BENCH_CONNS may exceed the per-IP cap.
    cfg.listener.max_connections_per_ip = usize::MAX;
    let secrets = rampart::secrets::load(&cfg)?;
    let db = rampart::server::open_db(&cfg).await?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let state = rampart::server::build_state(&cfg, &secrets, db, clock).await?;
    rampart::server::start(state, &cfg, false).await
}

async fn bare_healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

/// The baseline: one route, no layers.
fn bare_router() -> Router {
    Router::new().route("/healthz", get(bare_healthz))
}

/// Serves `router` on a random loopback port (with `ConnectInfo` when asked, as the
/// real server does).
async fn serve(router: Router, connect_info: bool) -> Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        if connect_info {
            let _ = axum::serve(
                listener,
                router.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await;
        } else {
            let _ = axum::serve(listener, router).await;
        }
    });
    Ok(addr)
}

const REQUEST: &[u8] =
    b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: rampart-bench\r\n\r\n";

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Content-Length of a response head (0 when absent).
fn content_length(head: &[u8]) -> Result<usize> {
    let text = std::str::from_utf8(head).context("response head is not UTF-8")?;
    for line in text.split("\r\n").skip(1) {
        if let Some((k, v)) = line.split_once(':') {
            if k.trim().eq_ignore_ascii_case("content-length") {
                return v.trim().parse().context("bad content-length");
            }
        }
    }
    if text
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        bail!("chunked responses are not supported by this load generator");
    }
    Ok(0)
}

/// One keep-alive connection: request, read the whole response, repeat until `stop`.
async fn connection(
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    done: Arc<AtomicU64>,
    bad: Arc<AtomicU64>,
) -> Result<()> {
    let mut s = TcpStream::connect(addr).await?;
    s.set_nodelay(true)?;
    let mut buf: Vec<u8> = Vec::with_capacity(8192);
    let mut chunk = [0u8; 8192];
    while !stop.load(Ordering::Relaxed) {
        s.write_all(REQUEST).await?;
        // Read the head.
        let head_end = loop {
            if let Some(i) = find(&buf, b"\r\n\r\n") {
                break i + 4;
            }
            let n = s.read(&mut chunk).await?;
            if n == 0 {
                bail!("connection closed by server");
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let len = content_length(&buf[..head_end])?;
        while buf.len() < head_end + len {
            let n = s.read(&mut chunk).await?;
            if n == 0 {
                bail!("connection closed mid-body");
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        if buf.starts_with(b"HTTP/1.1 200") {
            done.fetch_add(1, Ordering::Relaxed);
        } else {
            bad.fetch_add(1, Ordering::Relaxed);
        }
        buf.drain(..head_end + len);
    }
    Ok(())
}

/// Drives `addr` with `conns` connections for `secs`; returns requests per second.
async fn load(addr: SocketAddr, conns: u64, secs: f64) -> Result<f64> {
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let bad = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..conns {
        tasks.push(tokio::spawn(connection(
            addr,
            stop.clone(),
            done.clone(),
            bad.clone(),
        )));
    }
    // Let every connection get going before the clock starts.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let start_count = done.load(Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
    let n = done.load(Ordering::Relaxed) - start_count;
    let elapsed = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.context("load task")??;
    }
    let b = bad.load(Ordering::Relaxed);
    if b > 0 {
        bail!("{b} responses were not 200 OK from {addr}");
    }
    Ok(n as f64 / elapsed)
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    match s.len() {
        0 => 0.0,
        n if n % 2 == 1 => s[n / 2],
        n => (s[n / 2 - 1] + s[n / 2]) / 2.0,
    }
}

/// Alternates measurements of `subject` and `base` (ABBA…) and returns the per-round
/// figures for each.
async fn compare(
    subject: SocketAddr,
    base: SocketAddr,
    conns: u64,
    secs: f64,
    rounds: u64,
) -> Result<(Vec<f64>, Vec<f64>)> {
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for r in 0..rounds {
        if r & 1 == 0 {
            a.push(load(subject, conns, secs).await?);
            b.push(load(base, conns, secs).await?);
        } else {
            b.push(load(base, conns, secs).await?);
            a.push(load(subject, conns, secs).await?);
        }
    }
    Ok((a, b))
}

fn report(name: &str, a: &[f64], b: &[f64]) {
    let ratios: Vec<f64> = a.iter().zip(b).map(|(x, y)| x / y).collect();
    let (ma, mb) = (median(a), median(b));
    println!(
        "{name:<28} {:>9.0} req/s   bare {:>9.0} req/s   ratio {:.3}  (per-round ratios: {})",
        ma,
        mb,
        ma / mb,
        ratios
            .iter()
            .map(|r| format!("{r:.3}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
}

// ---- single-layer variants (BENCH_LAYERS=1), to attribute the cost -------------

async fn passthrough(req: Request, next: Next) -> Response {
    next.run(req).await
}

/// A copy of `rampart_web`'s (private) metrics layer, on a bare router.
async fn metrics_track(State(m): State<Arc<Metrics>>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = req.method().as_str().to_owned();
    let started = Instant::now();
    let resp = next.run(req).await;
    m.observe_http(
        &method,
        &route,
        resp.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    resp
}

/// The real security-header function of the edge layer.
async fn headers_apply(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    rampart_web::headers::apply(
        resp.headers_mut(),
        rampart_web::headers::HeaderConfig { hsts: false },
    );
    resp
}

/// The same eight headers as the edge layer's, with the map reserved up front.
async fn headers_reserved(req: Request, next: Next) -> Response {
    use axum::http::{header, HeaderName, HeaderValue};
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.reserve(12);
    for (k, v) in [
        (header::CONTENT_SECURITY_POLICY, rampart_web::headers::CSP),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "strict-origin-when-cross-origin"),
        (
            HeaderName::from_static("permissions-policy"),
            "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), microphone=(), payment=(), usb=(), interest-cohort=()",
        ),
        (HeaderName::from_static("cross-origin-opener-policy"), "same-origin"),
        (HeaderName::from_static("cross-origin-resource-policy"), "same-site"),
        (header::X_XSS_PROTECTION, "0"),
        (header::CACHE_CONTROL, "no-store"),
    ] {
        h.insert(k, HeaderValue::from_static(v));
    }
    resp
}

/// What a JSON response needs: a short CSP, nosniff, no-store, CORP.
async fn headers_api_sized(req: Request, next: Next) -> Response {
    use axum::http::{header, HeaderName, HeaderValue};
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        HeaderName::from_static("cross-origin-resource-policy"),
        HeaderValue::from_static("same-site"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

fn variants() -> Vec<(&'static str, Router, bool)> {
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    all_variants()
        .into_iter()
        .filter(|(n, _, _)| only.is_empty() || n.contains(only.as_str()))
        .collect()
}

fn all_variants() -> Vec<(&'static str, Router, bool)> {
    use tower_http::catch_panic::CatchPanicLayer;
    use tower_http::limit::RequestBodyLimitLayer;
    use tower_http::timeout::TimeoutLayer;
    vec![
        ("bare + connect_info", bare_router(), true),
        (
            "bare + empty from_fn",
            bare_router().layer(from_fn(passthrough)),
            false,
        ),
        (
            "bare + security headers (headers::apply)",
            bare_router().layer(from_fn(headers_apply)),
            false,
        ),
        (
            "bare + headers, reserved map",
            bare_router().layer(from_fn(headers_reserved)),
            false,
        ),
        (
            "bare + API-sized headers",
            bare_router().layer(from_fn(headers_api_sized)),
            false,
        ),
        (
            "bare + metrics",
            bare_router().layer(from_fn_with_state(Arc::new(Metrics::new()), metrics_track)),
            false,
        ),
        (
            "bare + tower-http trio",
            bare_router()
                .layer(axum::extract::DefaultBodyLimit::max(64 * 1024))
                .layer(RequestBodyLimitLayer::new(1024 * 1024))
                .layer(TimeoutLayer::with_status_code(
                    axum::http::StatusCode::REQUEST_TIMEOUT,
                    Duration::from_secs(30),
                ))
                .layer(CatchPanicLayer::new()),
            false,
        ),
    ]
}

// ---- wrk cross-check (BENCH_WRK=1) --------------------------------------------

fn wrk(addr: SocketAddr, conns: u64, secs: u64) -> Result<f64> {
    let out = std::process::Command::new("wrk")
        .args([
            "-t1",
            &format!("-c{conns}"),
            &format!("-d{secs}s"),
            &format!("http://{addr}/healthz"),
        ])
        .output()
        .context("running wrk (apt-get install -y wrk)")?;
    let text = String::from_utf8_lossy(&out.stdout);
    if text.contains("Non-2xx") {
        bail!("wrk saw non-2xx responses from {addr}:\n{text}");
    }
    text.lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .with_context(|| format!("no Requests/sec in wrk output:\n{text}"))
}

async fn run() -> Result<()> {
    let conns = env_num("BENCH_CONNS", 32);
    let secs = env_num("BENCH_SECS", 3) as f64;
    let rounds = env_num("BENCH_ROUNDS", 6);

    let dir = scratch_dir("http")?;
    let running = start_rampart(&dir).await?;
    let rampart_addr = running.addr;
    let bare_addr = serve(bare_router(), false).await?;

    if env_flag("BENCH_SERVE") {
        println!("rampart http://{rampart_addr}/healthz");
        println!("bare    http://{bare_addr}/healthz");
        println!("Ctrl-C to stop");
        let _ = tokio::signal::ctrl_c().await;
        running.stop().await;
        let _ = std::fs::remove_dir_all(&dir);
        return Ok(());
    }

    println!(
        "/healthz throughput, {} cores, {conns} keep-alive connections, {secs}s per measurement, {rounds} alternating rounds",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    );
    // Warm both up (connection pools, allocator, caches).
    load(rampart_addr, conns, 1.0).await?;
    load(bare_addr, conns, 1.0).await?;

    let (a, b) = compare(rampart_addr, bare_addr, conns, secs, rounds).await?;
    report("rampart (full stack)", &a, &b);
    let ratio = median(&a) / median(&b);
    println!(
        "RESULT healthz_full_stack_rps={:.0} bare_rps={:.0} ratio={:.3} goal>=0.85 {}",
        median(&a),
        median(&b),
        ratio,
        if ratio >= 0.85 { "PASS" } else { "BELOW GOAL" }
    );

    if env_flag("BENCH_LAYERS") {
        let layer_rounds = env_num("BENCH_LAYER_ROUNDS", 4);
        println!("\nsingle layers on the bare router ({layer_rounds} rounds each):");
        for (name, router, ci) in variants() {
            let addr = serve(router, ci).await?;
            load(addr, conns, 0.5).await?;
            let (x, y) = compare(addr, bare_addr, conns, secs, layer_rounds).await?;
            report(name, &x, &y);
        }
    }

    if env_flag("BENCH_WRK") {
        let wrk_secs = env_num("BENCH_WRK_SECS", 5);
        println!("\nwrk cross-check (-t1 -c{conns} -d{wrk_secs}s, separate process):");
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for r in 0..4 {
            // wrk blocks; keep it off the runtime's workers, which serve both apps.
            let run = |addr| tokio::task::spawn_blocking(move || wrk(addr, conns, wrk_secs));
            if r & 1 == 0 {
                a.push(run(rampart_addr).await??);
                b.push(run(bare_addr).await??);
            } else {
                b.push(run(bare_addr).await??);
                a.push(run(rampart_addr).await??);
            }
        }
        report("rampart via wrk", &a, &b);
    }

    running.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
