//! Start-up time and idle memory of the release binary, against a bare axum server
//! process measured in the same run.
//!
//! ```text
//! cargo build --release -p rampart
//! cargo bench -p rampart --bench startup
//! ```
//!
//! For each iteration: a fresh temporary data directory and a free loopback port;
//! spawn `rampart serve` and time process start → first `200` from `/readyz`
//! (polled every 2 ms) — the *fresh* figure (secrets generated, migrations run);
//! then send 50 warm-up requests and read `VmRSS`/`VmHWM` from `/proc/<pid>/status`;
//! stop it with SIGTERM and start it again on the same directory — the *restart*
//! figure (existing database, nothing to migrate). The baseline is this bench binary
//! re-executed as a bare axum server (`/readyz` and `/healthz` only).
//!
//! Environment knobs: `RAMPART_BIN` (default: `<target>/release/rampart`),
//! `BENCH_ITERS` (default 10).

use anyhow::{bail, Context, Result};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Set in the child when this binary runs as the bare baseline server.
const BARE_ENV: &str = "RAMPART_BENCH_BARE_BIND";

fn main() -> Result<()> {
    if let Ok(bind) = std::env::var(BARE_ENV) {
        return bare_server(&bind);
    }
    let iters = std::env::var("BENCH_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10usize);
    let bin = rampart_bin()?;
    println!("binary: {}", bin.display());
    println!(
        "{} cores, {iters} iterations, readiness polled every 2 ms",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );

    let (mut fresh, mut restart, mut rss, mut hwm, mut stop_ms) =
        (vec![], vec![], vec![], vec![], vec![]);
    let (mut bare, mut bare_rss) = (vec![], vec![]);
    let self_exe = std::env::current_exe()?;
    for _ in 0..iters {
        // Baseline first, then the real thing, so drift affects both alike.
        let addr = free_addr()?;
        let mut cmd = Command::new(&self_exe);
        cmd.env(BARE_ENV, addr.to_string());
        let (child, ms) = spawn_until_ready(cmd, addr)?;
        warm_up(addr)?;
        bare.push(ms);
        bare_rss.push(proc_kb(child.id(), "VmRSS")?);
        stop(child)?;

        let dir = scratch_dir()?;
        let addr = free_addr()?;
        let (child, ms) = spawn_until_ready(rampart_cmd(&bin, &dir, addr), addr)?;
        fresh.push(ms);
        warm_up(addr)?;
        std::thread::sleep(Duration::from_millis(100));
        rss.push(proc_kb(child.id(), "VmRSS")?);
        hwm.push(proc_kb(child.id(), "VmHWM")?);
        stop_ms.push(stop(child)?);

        let addr = free_addr()?;
        let (child, ms) = spawn_until_ready(rampart_cmd(&bin, &dir, addr), addr)?;
        restart.push(ms);
        stop(child)?;
        let _ = std::fs::remove_dir_all(&dir);
    }

    println!();
    println!(
        "{:<34} {:>8} {:>8} {:>8}",
        "start → /readyz 200 (ms)", "median", "min", "max"
    );
    row("bare axum process (baseline)", &bare);
    row("rampart serve, fresh database", &fresh);
    row("rampart serve, existing database", &restart);
    println!(
        "{:<34} {:>8.1}",
        "rampart SIGTERM → exit (ms)",
        median(&stop_ms)
    );
    println!();
    let mb = |kb: &[f64]| median(kb) / 1024.0;
    println!("idle RSS after 50 requests (MiB, median):");
    println!("  bare axum process      {:>6.1}", mb(&bare_rss));
    println!(
        "  rampart serve          {:>6.1}   (min {:.1}, max {:.1}; peak VmHWM {:.1})",
        mb(&rss),
        min(&rss) / 1024.0,
        max(&rss) / 1024.0,
        mb(&hwm)
    );
    println!();
    let rss_mb = mb(&rss);
    println!(
        "RESULT startup_fresh_ms={:.1} startup_restart_ms={:.1} bare_ms={:.1} ratio_fresh={:.2} ratio_restart={:.2} \
         idle_rss_mib={:.1} bare_rss_mib={:.1} ratio_rss={:.2} goal_rss<=25MB {}",
        median(&fresh),
        median(&restart),
        median(&bare),
        median(&fresh) / median(&bare),
        median(&restart) / median(&bare),
        rss_mb,
        mb(&bare_rss),
        rss_mb / mb(&bare_rss),
        if median(&rss) * 1024.0 <= 25_000_000.0 { "PASS" } else { "ABOVE GOAL" }
    );
    Ok(())
}

/// `RAMPART_BIN`, else `<target>/release/rampart` next to this bench's `deps/` folder.
fn rampart_bin() -> Result<PathBuf> {
    if let Ok(p) = std::env::var("RAMPART_BIN") {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe()?;
    let target = exe
        .parent()
        .and_then(Path::parent)
        .and_then(Path::parent)
        .context("cannot locate the target directory")?;
    let bin = target.join("release").join("rampart");
    if !bin.exists() {
        bail!(
            "{} not found: run `cargo build --release -p rampart` first (or set RAMPART_BIN)",
            bin.display()
        );
    }
    Ok(bin)
}

fn scratch_dir() -> Result<PathBuf> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!(
        "rampart-bench-start-{}-{nanos}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// A loopback port that was free a moment ago.
fn free_addr() -> Result<SocketAddr> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?)
}

/// `rampart serve` with a clean environment: only the settings under test.
fn rampart_cmd(bin: &Path, dir: &Path, addr: SocketAddr) -> Command {
    let mut cmd = Command::new(bin);
    cmd.arg("serve").current_dir(dir);
    for (k, _) in std::env::vars() {
        if k.starts_with("RAMPART_") || k.ends_with("_RATE_LIMIT_PER_MINUTE") {
            cmd.env_remove(k);
        }
    }
    cmd.env("RAMPART_BIND", addr.to_string())
        .env("RAMPART_DATA_DIR", dir.join("data"))
        .env("RAMPART_MODE", "development");
    cmd
}

/// Spawns and returns once `/readyz` answers 200, with the elapsed milliseconds.
fn spawn_until_ready(mut cmd: Command, addr: SocketAddr) -> Result<(Child, f64)> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = cmd.spawn().context("spawning the server")?;
    loop {
        if get_status(addr, "/readyz").ok() == Some(200) {
            return Ok((child, started.elapsed().as_secs_f64() * 1000.0));
        }
        if let Some(status) = child.try_wait()? {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            bail!("server exited before ready ({status}): {err}");
        }
        if started.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            bail!("server not ready after 30 s");
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// One `GET` on a new connection; the status code.
fn get_status(addr: SocketAddr, path: &str) -> Result<u16> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(200))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut resp = Vec::new();
    s.read_to_end(&mut resp)?;
    let head = String::from_utf8_lossy(&resp[..resp.len().min(16)]).into_owned();
    head.split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .with_context(|| format!("bad status line {head:?}"))
}

/// 50 requests: mostly `/healthz`, some `/readyz` and the home page.
fn warm_up(addr: SocketAddr) -> Result<()> {
    for i in 0..50 {
        let path = match i % 10 {
            0 => "/readyz",
            5 => "/",
            _ => "/healthz",
        };
        let code = get_status(addr, path)?;
        if code != 200 && code != 404 {
            bail!("{path} answered {code}");
        }
    }
    Ok(())
}

/// A `/proc/<pid>/status` field in kB.
fn proc_kb(pid: u32, field: &str) -> Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field).and_then(|r| r.strip_prefix(':')))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .with_context(|| format!("no {field} in /proc/{pid}/status"))
}

/// SIGTERM, wait; the milliseconds to exit.
fn stop(mut child: Child) -> Result<f64> {
    let started = Instant::now();
    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        child.kill()?;
    }
    child.wait()?;
    Ok(started.elapsed().as_secs_f64() * 1000.0)
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

fn min(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::INFINITY, f64::min)
}

fn max(v: &[f64]) -> f64 {
    v.iter().copied().fold(0.0, f64::max)
}

fn row(name: &str, v: &[f64]) {
    println!(
        "{name:<34} {:>8.1} {:>8.1} {:>8.1}",
        median(v),
        min(v),
        max(v)
    );
}

// ---- the baseline server --------------------------------------------------------

async fn ok() -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({"status": "ok"}))
}

/// A bare axum server on the same runtime shape as `rampart serve`; stops on SIGTERM.
fn bare_server(bind: &str) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let app = axum::Router::new()
            .route("/readyz", axum::routing::get(ok))
            .route("/healthz", axum::routing::get(ok));
        let listener = tokio::net::TcpListener::bind(bind).await?;
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                term.recv().await;
            })
            .await?;
        Ok(())
    })
}
