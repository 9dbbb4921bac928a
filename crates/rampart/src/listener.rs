//! The accept loop `rampart serve` and every test server run (issue 8): a header-read
//! timeout, an idle keep-alive timeout, caps on open connections per client IP and in
//! total, optional TLS (`tls.rs`), and an optional plain-HTTP listener that only
//! redirects to HTTPS. Why and how it fails: docs/design/tls-and-connections.md.

use crate::tls::TlsState;
use anyhow::{bail, Context, Result};
use axum::body::Body;
use axum::extract::ConnectInfo;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use rampart_security::metrics::Metrics;
use serde::Deserialize;
use std::collections::HashMap;
use std::convert::Infallible;
use std::io;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::time::Instant;
use tower::ServiceExt as _;

/// Default time a client has to send a complete request head (and, on TLS, to finish
/// the handshake).
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Default time an open connection may sit with no traffic and no request running.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Default cap on connections open at once from one client IP (IPv6: one /64).
pub const DEFAULT_MAX_CONNECTIONS_PER_IP: usize = 128;
/// Default cap on connections open at once in total (also bounded by the file limit).
pub const DEFAULT_MAX_CONNECTIONS: usize = 8192;
/// Largest request head (request line and headers) accepted; longer gets 431.
const MAX_HEAD: usize = 32 * 1024;
/// Read buffer bound per connection (hyper's default is ~400 KiB).
const MAX_BUF: usize = 64 * 1024;
/// File descriptors kept free for the database pool, Redis, logs and files.
const FD_RESERVE: u64 = 256;

/// `[listener]` in `rampart.toml`; every field optional.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerFile {
    header_read_timeout_secs: Option<u64>,
    idle_timeout_secs: Option<u64>,
    max_connections_per_ip: Option<usize>,
    max_connections: Option<usize>,
    tls_cert_file: Option<PathBuf>,
    tls_key_file: Option<PathBuf>,
    http_redirect_bind: Option<String>,
}

/// Certificate chain and private key files (PEM), re-read on SIGHUP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain, leaf first.
    pub cert: PathBuf,
    /// The private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// How the server listens.
#[derive(Debug, Clone)]
pub struct ListenerConfig {
    /// Time to a complete request head, from accept or from the end of the previous
    /// response; also bounds the TLS handshake.
    pub header_read_timeout: Duration,
    /// A connection with no bytes moving and no request running is closed after this.
    pub idle_timeout: Duration,
    /// Connections open at once from one client IP (IPv6: per /64). Trusted proxies
    /// are exempt (all their clients share their address).
    pub max_connections_per_ip: usize,
    /// Connections open at once in total.
    pub max_connections: usize,
    /// Terminate TLS with these files.
    pub tls: Option<TlsFiles>,
    /// Also listen here for plain HTTP that only redirects to HTTPS.
    pub http_redirect_bind: Option<SocketAddr>,
}

impl Default for ListenerConfig {
    fn default() -> Self {
        Self {
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_connections_per_ip: DEFAULT_MAX_CONNECTIONS_PER_IP,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            tls: None,
            http_redirect_bind: None,
        }
    }
}

impl ListenerConfig {
    /// Defaults < `[listener]` < `RAMPART_*` (docs/configuration.md).
    pub fn from_parts(f: ListenerFile) -> Result<Self> {
        let env = crate::config::env;
        let num = |name: &str, file: Option<u64>| -> Result<Option<u64>> {
            match env(name) {
                Some(v) => {
                    Ok(Some(v.trim().parse::<u64>().with_context(|| {
                        format!("{name} must be a whole number")
                    })?))
                }
                None => Ok(file),
            }
        };
        let secs = |name: &str, file: Option<u64>, default: Duration| -> Result<Duration> {
            match num(name, file)? {
                Some(0) => bail!("{name} must be at least 1 second"),
                Some(s) => Ok(Duration::from_secs(s.min(3600))),
                None => Ok(default),
            }
        };
        let cert = env("RAMPART_TLS_CERT_FILE")
            .map(PathBuf::from)
            .or(f.tls_cert_file);
        let key = env("RAMPART_TLS_KEY_FILE")
            .map(PathBuf::from)
            .or(f.tls_key_file);
        let tls = match (cert, key) {
            (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
            (None, None) => None,
            (Some(_), None) => {
                bail!("RAMPART_TLS_CERT_FILE is set but RAMPART_TLS_KEY_FILE is not")
            }
            (None, Some(_)) => {
                bail!("RAMPART_TLS_KEY_FILE is set but RAMPART_TLS_CERT_FILE is not")
            }
        };
        let http_redirect_bind = match env("RAMPART_HTTP_REDIRECT_BIND").or(f.http_redirect_bind) {
            Some(s) => Some(s.trim().parse::<SocketAddr>().with_context(|| {
                format!("RAMPART_HTTP_REDIRECT_BIND {s:?} is not an address:port")
            })?),
            None => None,
        };
        if http_redirect_bind.is_some() && tls.is_none() {
            bail!("RAMPART_HTTP_REDIRECT_BIND needs TLS (RAMPART_TLS_CERT_FILE and RAMPART_TLS_KEY_FILE): it redirects to the HTTPS listener");
        }
        let count = |name: &str, file: Option<usize>, default: usize| -> Result<usize> {
            match num(name, file.map(|v| v as u64))? {
                Some(0) => bail!("{name} must be at least 1"),
                Some(v) => Ok(usize::try_from(v).unwrap_or(usize::MAX)),
                None => Ok(default),
            }
        };
        Ok(Self {
            header_read_timeout: secs(
                "RAMPART_HEADER_READ_TIMEOUT_SECS",
                f.header_read_timeout_secs,
                DEFAULT_HEADER_READ_TIMEOUT,
            )?,
            idle_timeout: secs(
                "RAMPART_IDLE_TIMEOUT_SECS",
                f.idle_timeout_secs,
                DEFAULT_IDLE_TIMEOUT,
            )?,
            max_connections_per_ip: count(
                "RAMPART_MAX_CONNECTIONS_PER_IP",
                f.max_connections_per_ip,
                DEFAULT_MAX_CONNECTIONS_PER_IP,
            )?,
            max_connections: count(
                "RAMPART_MAX_CONNECTIONS",
                f.max_connections,
                DEFAULT_MAX_CONNECTIONS,
            )?,
            tls,
            http_redirect_bind,
        })
    }
}

/// Raises this process's soft `RLIMIT_NOFILE` to its hard limit where the OS allows,
/// and returns the resulting soft limit (`None` where it cannot be read).
pub fn raise_file_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        match rlimit::increase_nofile_limit(u64::MAX) {
            Ok(n) => Some(n),
            Err(e) => {
                tracing::warn!(error = %e, "could not raise the open-file limit");
                rlimit::Resource::NOFILE.get().ok().map(|(soft, _)| soft)
            }
        }
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// The total cap actually used: the configured one, but never so many that accepted
/// sockets could take the descriptors the database and files need.
pub fn effective_max_connections(configured: usize, file_limit: Option<u64>) -> usize {
    match file_limit {
        Some(n) => {
            let room = usize::try_from(n.saturating_sub(FD_RESERVE)).unwrap_or(usize::MAX);
            configured.min(room.max(16))
        }
        None => configured,
    }
}

/// Which client a connection is charged to: the IPv4 address (also when written as
/// IPv4-mapped IPv6), or the IPv6 /64 (one customer's allocation).
fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// Why a connection was closed at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The client IP already has its maximum open.
    PerIp,
    /// The server has its maximum open.
    Total,
}

/// Counts open connections per client and in total. Shared by all listeners of one
/// server, so the redirect listener cannot be used to double a client's share.
#[derive(Debug)]
pub struct ConnLimits {
    per_ip: usize,
    max_total: usize,
    exempt: Vec<IpAddr>,
    open: Mutex<(usize, HashMap<IpAddr, usize>)>,
}

impl ConnLimits {
    /// Caps of `per_ip` and `max_total`; `exempt` IPs (trusted proxies) count only
    /// toward the total.
    pub fn new(per_ip: usize, max_total: usize, exempt: Vec<IpAddr>) -> Self {
        Self {
            per_ip,
            max_total,
            exempt,
            open: Mutex::new((0, HashMap::new())),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (usize, HashMap<IpAddr, usize>)> {
        // The counters stay consistent even if a holder panicked (nothing panics
        // while holding it); keep serving rather than poisoning the listener.
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Charges one connection from `ip`, or says why not.
    pub fn try_acquire(self: &Arc<Self>, ip: IpAddr) -> Result<ConnGuard, Refused> {
        let key = (!self.exempt.contains(&ip)).then(|| client_key(ip));
        let mut g = self.lock();
        if g.0 >= self.max_total {
            return Err(Refused::Total);
        }
        if let Some(k) = key {
            let n = g.1.entry(k).or_insert(0);
            if *n >= self.per_ip {
                return Err(Refused::PerIp);
            }
            *n += 1;
        }
        g.0 += 1;
        Ok(ConnGuard {
            limits: self.clone(),
            key,
        })
    }

    /// Connections open now from `ip`'s client key.
    pub fn open_from(&self, ip: IpAddr) -> usize {
        self.lock().1.get(&client_key(ip)).copied().unwrap_or(0)
    }

    /// Connections open now in total.
    pub fn open_total(&self) -> usize {
        self.lock().0
    }
}

/// One open connection's charge; released when the connection ends.
#[derive(Debug)]
pub struct ConnGuard {
    limits: Arc<ConnLimits>,
    key: Option<IpAddr>,
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        let mut g = self.limits.lock();
        g.0 = g.0.saturating_sub(1);
        if let Some(k) = self.key {
            if let Some(n) = g.1.get_mut(&k) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    g.1.remove(&k);
                }
            }
        }
    }
}

/// When a connection last moved bytes, and whether a handler is running on it.
struct Activity {
    base: Instant,
    /// A send buffer size a handler asked for (a WebSocket upgrade), applied on the
    /// next write.
    send_buffer: rampart_web::realtime::SendBufferHint,
    last_ms: AtomicU64,
    in_flight: AtomicUsize,
}

impl Activity {
    fn new() -> Self {
        Self {
            base: Instant::now(),
            send_buffer: Default::default(),
            last_ms: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
        }
    }
    fn touch(&self) {
        let ms = u64::try_from(self.base.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }
    fn last(&self) -> Instant {
        self.base + Duration::from_millis(self.last_ms.load(Ordering::Relaxed))
    }
}

/// Marks a request in flight until dropped.
struct Busy(Arc<Activity>);
impl Busy {
    fn new(a: Arc<Activity>) -> Self {
        a.in_flight.fetch_add(1, Ordering::Relaxed);
        Self(a)
    }
}
impl Drop for Busy {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.0.touch();
    }
}

/// Sets the kernel send buffer (`SO_SNDBUF`) of the TCP socket under a stream.
pub trait SendBuffer {
    /// Sets `SO_SNDBUF` to `bytes`.
    fn set_send_buffer(&self, bytes: usize) -> io::Result<()>;
}

impl SendBuffer for TcpStream {
    fn set_send_buffer(&self, bytes: usize) -> io::Result<()> {
        socket2::SockRef::from(self).set_send_buffer_size(bytes)
    }
}

impl SendBuffer for tokio_rustls::server::TlsStream<TcpStream> {
    fn set_send_buffer(&self, bytes: usize) -> io::Result<()> {
        self.get_ref().0.set_send_buffer(bytes)
    }
}

/// A stream that records when bytes move through it.
struct Tracked<T> {
    io: T,
    activity: Arc<Activity>,
    /// The connection's place under the caps: held as long as the socket, so an
    /// upgraded connection (a WebSocket, which outlives the HTTP loop) still counts.
    _guard: ConnGuard,
}

impl<T: AsyncRead + Unpin> AsyncRead for Tracked<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let r = Pin::new(&mut this.io).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.activity.touch();
        }
        r
    }
}

impl<T: SendBuffer> Tracked<T> {
    /// Applies a send buffer size a handler asked for.
    fn tune(&self) {
        let n = self.activity.send_buffer.take();
        if n > 0 {
            if let Err(e) = self.io.set_send_buffer(n) {
                tracing::debug!(error = %e, "could not set the socket's send buffer");
            }
        }
    }
}

impl<T: AsyncWrite + SendBuffer + Unpin> AsyncWrite for Tracked<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.tune();
        let r = Pin::new(&mut this.io).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            this.activity.touch();
        }
        r
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.tune();
        let r = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            this.activity.touch();
        }
        r
    }
    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// What a listener serves.
#[derive(Clone)]
pub enum Serve {
    /// The application, over plain HTTP or TLS.
    App {
        /// The application service.
        app: rampart_web::edge::App,
        /// `Some` to terminate TLS.
        tls: Option<Arc<TlsState>>,
    },
    /// Only redirects to HTTPS.
    Redirect(Arc<RedirectTarget>),
    /// A small internal router (the metrics listener), plain HTTP, with the same
    /// timeouts and caps as every other listener.
    Router(axum::Router),
}

/// Where the plain-HTTP listener sends clients.
#[derive(Debug, Clone)]
pub struct RedirectTarget {
    /// The configured `https://` public origin, if any (preferred over `Host`).
    pub origin: Option<String>,
    /// The HTTPS listener's port, used with the request's `Host` otherwise.
    pub https_port: u16,
}

/// Counter of connections closed by the listener (refused or timed out), by reason.
pub const CLOSED_METRIC: &str = "rampart_connections_closed_total";
const CLOSED_HELP: &str =
    "Connections the listener closed: over a cap, or a header, handshake or idle timeout.";

fn closed(metrics: &Metrics, reason: &str) {
    metrics.inc(CLOSED_METRIC, CLOSED_HELP, &[("reason", reason)]);
}

/// Timeouts every connection of a listener gets.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// See [`ListenerConfig::header_read_timeout`].
    pub header_read: Duration,
    /// See [`ListenerConfig::idle_timeout`].
    pub idle: Duration,
}

/// Accepts until `shutdown` turns true, then lets open connections finish their
/// current request (up to `grace`).
pub async fn run(
    listener: TcpListener,
    serve: Serve,
    limits: Arc<ConnLimits>,
    timeouts: Timeouts,
    metrics: Arc<Metrics>,
    mut shutdown: watch::Receiver<bool>,
    grace: Duration,
) {
    loop {
        tokio::select! {
            r = listener.accept() => match r {
                Ok((tcp, peer)) => {
                    let guard = match limits.try_acquire(peer.ip()) {
                        Ok(g) => g,
                        Err(why) => {
                            // Closed at once: the cost of a refusal is one accept.
                            tracing::debug!(?why, "connection refused by the connection caps");
                            closed(&metrics, match why {
                                Refused::PerIp => "per_ip_cap",
                                Refused::Total => "total_cap",
                            });
                            drop(tcp);
                            continue;
                        }
                    };
                    let _ = tcp.set_nodelay(true);
                    tokio::spawn(connection(
                        tcp,
                        peer,
                        serve.clone(),
                        timeouts,
                        metrics.clone(),
                        shutdown.clone(),
                        guard,
                    ));
                }
                // A client that reset before we accepted: nothing to do.
                Err(e) if matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionAborted
                        | io::ErrorKind::ConnectionReset
                        | io::ErrorKind::ConnectionRefused
                ) => {}
                Err(e) => {
                    // EMFILE/ENFILE and friends: back off instead of spinning; the
                    // caps above are meant to keep this from happening.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            _ = shutdown.changed() => break,
        }
    }
    drop(listener);
    let deadline = Instant::now() + grace;
    while limits.open_total() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn connection(
    tcp: TcpStream,
    peer: SocketAddr,
    serve: Serve,
    timeouts: Timeouts,
    metrics: Arc<Metrics>,
    shutdown: watch::Receiver<bool>,
    guard: ConnGuard,
) {
    match serve {
        Serve::App { app, tls: None } => {
            http1(tcp, guard, timeouts, metrics, shutdown, move |req| {
                let app = app.clone();
                async move {
                    let mut req = req.map(Body::new);
                    req.extensions_mut().insert(ConnectInfo(peer));
                    app.oneshot(req).await
                }
            })
            .await
        }
        Serve::App {
            app,
            tls: Some(tls),
        } => {
            let acceptor = tokio_rustls::TlsAcceptor::from(tls.server_config());
            // The handshake gets the same budget as a request head: a client that
            // opens TCP and never says hello is closed like one that never finishes.
            let stream =
                match tokio::time::timeout(timeouts.header_read, acceptor.accept(tcp)).await {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => {
                        tracing::debug!(error = %e, "TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        closed(&metrics, "handshake_timeout");
                        return;
                    }
                };
            http1(stream, guard, timeouts, metrics, shutdown, move |req| {
                let app = app.clone();
                async move {
                    let mut req = req.map(Body::new);
                    req.extensions_mut().insert(ConnectInfo(peer));
                    app.oneshot(req).await
                }
            })
            .await
        }
        Serve::Redirect(target) => {
            http1(tcp, guard, timeouts, metrics, shutdown, move |req| {
                let r = redirect(&req, &target);
                async move { Ok::<_, Infallible>(r) }
            })
            .await
        }
        Serve::Router(router) => {
            http1(tcp, guard, timeouts, metrics, shutdown, move |req| {
                let router = router.clone();
                async move {
                    let req = req.map(Body::new);
                    router.oneshot(req).await
                }
            })
            .await
        }
    }
}

/// Serves HTTP/1.1 on `io` with the header-read timeout, and closes it when no bytes
/// moved and no request ran for the idle timeout.
async fn http1<IO, F, Fut>(
    io: IO,
    guard: ConnGuard,
    timeouts: Timeouts,
    metrics: Arc<Metrics>,
    mut shutdown: watch::Receiver<bool>,
    handler: F,
) where
    IO: AsyncRead + AsyncWrite + SendBuffer + Unpin + Send + 'static,
    F: Fn(Request<Incoming>) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<Response<Body>, Infallible>> + Send + 'static,
{
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Tracked {
        io,
        _guard: guard,
        activity: activity.clone(),
    });
    let act = activity.clone();
    let handler = Arc::new(handler);
    let svc = hyper::service::service_fn(move |mut req: Request<Incoming>| {
        req.extensions_mut().insert(act.send_buffer.clone());
        let busy = Busy::new(act.clone());
        let fut = handler(req);
        async move {
            let r = fut.await;
            drop(busy);
            r
        }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(timeouts.header_read)
        .keep_alive(true)
        // Bounds what one slow connection can make us buffer.
        .max_buf_size(MAX_BUF)
        .max_header_size(MAX_HEAD)
        .serve_connection(io, svc)
        // `GET /ws`: after a 101 the socket leaves this loop for the WebSocket task.
        .with_upgrades();
    tokio::pin!(conn);
    let mut draining = *shutdown.borrow();
    if draining {
        conn.as_mut().graceful_shutdown();
    }
    loop {
        // A running handler keeps the connection; the window restarts when it ends.
        let idle_at = if activity.in_flight.load(Ordering::Relaxed) > 0 {
            Instant::now() + timeouts.idle
        } else {
            activity.last() + timeouts.idle
        };
        tokio::select! {
            r = conn.as_mut() => {
                if let Err(e) = r {
                    if e.is_timeout() {
                        closed(&metrics, "header_timeout");
                    }
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                break;
            }
            _ = shutdown.changed(), if !draining => {
                draining = true;
                conn.as_mut().graceful_shutdown();
            }
            _ = tokio::time::sleep_until(idle_at) => {
                let quiet = activity.last() + timeouts.idle <= Instant::now();
                if quiet && activity.in_flight.load(Ordering::Relaxed) == 0 {
                    // Dropping the connection closes the socket.
                    closed(&metrics, "idle_timeout");
                    break;
                }
            }
        }
    }
}

/// The plain-HTTP listener's only answer: a permanent redirect to the same path on
/// HTTPS, no body, no application code run.
fn redirect(req: &Request<Incoming>, target: &RedirectTarget) -> Response<Body> {
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .filter(|p| p.starts_with('/'))
        .unwrap_or("/");
    let base = match &target.origin {
        Some(o) => Some(o.clone()),
        None => req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .and_then(host_only)
            .map(|h| match target.https_port {
                443 => format!("https://{h}"),
                p => format!("https://{h}:{p}"),
            }),
    };
    let location = base.and_then(|b| HeaderValue::from_str(&format!("{b}{path}")).ok());
    let mut res = Response::new(Body::empty());
    match location {
        Some(loc) => {
            // 301 keeps old clients happy for GET/HEAD; 308 keeps the method and body
            // of anything else (which the client must send again, over TLS).
            *res.status_mut() = if req.method() == Method::GET || req.method() == Method::HEAD {
                StatusCode::MOVED_PERMANENTLY
            } else {
                StatusCode::PERMANENT_REDIRECT
            };
            res.headers_mut().insert(header::LOCATION, loc);
        }
        None => *res.status_mut() = StatusCode::BAD_REQUEST,
    }
    res.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// The host part of a `Host` header, if it is a plain DNS name or IP literal.
fn host_only(h: &str) -> Option<&str> {
    let host = if let Some(rest) = h.strip_prefix('[') {
        let end = rest.find(']')?;
        &h[..end + 2]
    } else {
        h.split(':').next()?
    };
    let ok = !host.is_empty()
        && host.len() <= 253
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'[' | b']' | b':'));
    ok.then_some(host)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn per_ip_and_total_caps_release_on_drop() {
        let l = Arc::new(ConnLimits::new(2, 3, vec!["10.0.0.9".parse().unwrap()]));
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let g1 = l.try_acquire(a).unwrap();
        let _g2 = l.try_acquire(a).unwrap();
        assert_eq!(l.try_acquire(a).unwrap_err(), Refused::PerIp);
        // A trusted proxy only counts toward the total.
        let _p = l.try_acquire("10.0.0.9".parse().unwrap()).unwrap();
        assert_eq!(
            l.try_acquire("10.0.0.2".parse().unwrap()).unwrap_err(),
            Refused::Total
        );
        drop(g1);
        assert_eq!(l.open_from(a), 1);
        assert!(l.try_acquire(a).is_ok());
    }

    #[test]
    fn ipv6_clients_are_counted_per_64() {
        let l = Arc::new(ConnLimits::new(1, 10, vec![]));
        let _g = l.try_acquire("2001:db8::1".parse().unwrap()).unwrap();
        assert!(l.try_acquire("2001:db8::2".parse().unwrap()).is_err());
        assert!(l.try_acquire("2001:db8:0:1::2".parse().unwrap()).is_ok());
        let _m = l.try_acquire("::ffff:10.1.1.1".parse().unwrap()).unwrap();
        assert!(l.try_acquire("10.1.1.1".parse().unwrap()).is_err());
    }

    #[test]
    fn listener_table_is_read_and_checked() {
        let f: ListenerFile = toml::from_str(
            "header_read_timeout_secs = 3\nidle_timeout_secs = 4\nmax_connections_per_ip = 5\nmax_connections = 6\ntls_cert_file = \"c.pem\"\ntls_key_file = \"k.pem\"\nhttp_redirect_bind = \"127.0.0.1:80\"\n",
        )
        .unwrap();
        let c = ListenerConfig::from_parts(f).unwrap();
        assert_eq!(c.header_read_timeout, Duration::from_secs(3));
        assert_eq!(c.idle_timeout, Duration::from_secs(4));
        assert_eq!((c.max_connections_per_ip, c.max_connections), (5, 6));
        assert_eq!(c.tls.unwrap().key, PathBuf::from("k.pem"));
        assert_eq!(c.http_redirect_bind, Some("127.0.0.1:80".parse().unwrap()));
        let only_cert: ListenerFile = toml::from_str("tls_cert_file = \"c.pem\"").unwrap();
        assert!(ListenerConfig::from_parts(only_cert).is_err());
        let redirect_alone: ListenerFile =
            toml::from_str("http_redirect_bind = \"127.0.0.1:80\"").unwrap();
        assert!(ListenerConfig::from_parts(redirect_alone).is_err());
        let zero: ListenerFile = toml::from_str("header_read_timeout_secs = 0").unwrap();
        assert!(ListenerConfig::from_parts(zero).is_err());
        assert!(toml::from_str::<ListenerFile>("tls_key = \"k\"").is_err());
    }

    #[test]
    fn file_limit_bounds_the_total() {
        assert_eq!(effective_max_connections(8192, Some(1024)), 768);
        assert_eq!(effective_max_connections(100, Some(65536)), 100);
        assert_eq!(effective_max_connections(100, None), 100);
    }

    #[test]
    fn host_only_accepts_names_and_literals_only() {
        assert_eq!(host_only("example.com:8080"), Some("example.com"));
        assert_eq!(host_only("[::1]:80"), Some("[::1]"));
        assert_eq!(host_only("evil.com/x"), None);
        assert_eq!(host_only(""), None);
    }
}
