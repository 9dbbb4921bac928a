//! B8 / issue 8: `rampart serve` terminates TLS itself (TLS 1.2+, modern suites,
//! HSTS), reloads its certificate on SIGHUP (same function as the signal handler),
//! keeps the old one when the new files are bad, redirects plain HTTP to HTTPS without
//! running the application, and closes clients that never finish the handshake.

use crate::listener::connect_from;
use anyhow::{bail, Context, Result};
use rampart::listener::TlsFiles;
use rampart_test_support::{count_rows, Engine, TempDir, TestApp};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A fresh self-signed P-256 certificate for `localhost`/127.0.0.1 (openssl CLI).
pub fn make_cert(dir: &Path, name: &str) -> Result<(PathBuf, PathBuf)> {
    let cert = dir.join(format!("{name}.crt"));
    let key = dir.join(format!("{name}.key"));
    let out = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .arg("ec_paramgen_curve:prime256v1")
        .args(["-nodes", "-days", "2", "-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .args(["-addext", "extendedKeyUsage=serverAuth"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .context("running openssl")?;
    if !out.status.success() {
        bail!("openssl: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok((cert, key))
}

/// A TLS client that trusts exactly `ca` (a PEM file).
pub fn connector(ca: &Path) -> Result<tokio_rustls::TlsConnector> {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(ca)? {
        roots.add(c?)?;
    }
    let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(cfg)))
}

/// `GET path` over TLS to `addr` as `localhost`, trusting `ca`; the raw response.
pub async fn https_get(addr: SocketAddr, ca: &Path, path: &str) -> Result<String> {
    let tcp = TcpStream::connect(addr).await?;
    let mut tls = connector(ca)?
        .connect(ServerName::try_from("localhost")?, tcp)
        .await?;
    tls.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await?;
    let mut out = Vec::new();
    let _ = tls.read_to_end(&mut out).await;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

fn header<'a>(raw: &'a str, name: &str) -> Option<&'a str> {
    let head = raw.split("\r\n\r\n").next()?;
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

async fn tls_app(dir: &TempDir, header_secs: u64) -> Result<(TestApp, PathBuf, PathBuf)> {
    let (cert, key) = make_cert(&dir.0, "a")?;
    // The server reads fixed paths; tests swap what is at them.
    let live_cert = dir.0.join("live.crt");
    let live_key = dir.0.join("live.key");
    std::fs::copy(&cert, &live_cert)?;
    std::fs::copy(&key, &live_key)?;
    let files = TlsFiles {
        cert: live_cert,
        key: live_key,
    };
    let app = TestApp::builder(Engine::Sqlite)
        .config(move |c| {
            c.listener.tls = Some(files);
            c.listener.http_redirect_bind = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
            c.listener.header_read_timeout = Duration::from_secs(header_secs);
        })
        .spawn()
        .await?
        .context("sqlite")?;
    Ok((app, cert, key))
}

/// `openssl s_client` exit status for one handshake with `args`.
fn s_client(addr: SocketAddr, args: &[&str]) -> Result<bool> {
    let out = Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &addr.to_string(),
            "-servername",
            "localhost",
        ])
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .context("running openssl s_client")?;
    let text = String::from_utf8_lossy(&out.stdout);
    // s_client exits 0 after a completed handshake when stdin closes.
    Ok(out.status.success() && text.contains("BEGIN CERTIFICATE"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_serves_with_hsts_and_refuses_old_protocols() -> Result<()> {
    let dir = TempDir::new()?;
    let (app, cert, _) = tls_app(&dir, 10).await?;
    let addr = app.running().addr;
    assert!(app.running().url().starts_with("https://"));

    let raw = https_get(addr, &cert, "/healthz").await?;
    assert!(raw.starts_with("HTTP/1.1 200"), "{raw}");
    assert_eq!(
        header(&raw, "strict-transport-security"),
        Some("max-age=63072000; includeSubDomains")
    );

    // Plain HTTP on the TLS port gets no application answer.
    let mut plain = TcpStream::connect(addr).await?;
    plain
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await?;
    let mut got = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), plain.read_to_end(&mut got)).await;
    assert!(!String::from_utf8_lossy(&got).contains("200 OK"));

    // TLS 1.2 with a modern suite works (control); TLS 1.1, TLS 1.0 and a CBC-only
    // TLS 1.2 client are refused.
    let a = addr;
    let (ok12, ok11, ok10, cbc) = tokio::task::spawn_blocking(move || -> Result<_> {
        Ok((
            s_client(a, &["-tls1_2"])?,
            s_client(a, &["-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0"])?,
            s_client(a, &["-tls1", "-cipher", "DEFAULT:@SECLEVEL=0"])?,
            s_client(a, &["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA"])?,
        ))
    })
    .await??;
    assert!(ok12, "TLS 1.2 handshake should succeed");
    assert!(!ok11, "TLS 1.1 must be refused");
    assert!(!ok10, "TLS 1.0 must be refused");
    assert!(!cbc, "CBC suites must be refused");
    app.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_presents_the_new_certificate_and_keeps_the_old_on_bad_files() -> Result<()> {
    let dir = TempDir::new()?;
    let (app, cert_a, _) = tls_app(&dir, 10).await?;
    let addr = app.running().addr;
    let (cert_b, key_b) = make_cert(&dir.0, "b")?;
    assert!(https_get(addr, &cert_a, "/healthz")
        .await?
        .starts_with("HTTP/1.1 200"));
    assert!(
        https_get(addr, &cert_b, "/healthz").await.is_err(),
        "B is not served yet"
    );

    // Renewal: new files in place, then what SIGHUP runs.
    std::fs::copy(&cert_b, dir.0.join("live.crt"))?;
    std::fs::copy(&key_b, dir.0.join("live.key"))?;
    app.running().reload_tls()?;
    assert!(https_get(addr, &cert_b, "/healthz")
        .await?
        .starts_with("HTTP/1.1 200"));
    assert!(
        https_get(addr, &cert_a, "/healthz").await.is_err(),
        "A is no longer presented"
    );

    // A broken renewal (key of another certificate, then garbage) is refused and B
    // keeps serving.
    let (_, key_c) = make_cert(&dir.0, "c")?;
    std::fs::copy(&key_c, dir.0.join("live.key"))?;
    let err = app.running().reload_tls().unwrap_err();
    assert!(format!("{err:#}").contains("does not match"), "{err:#}");
    std::fs::write(dir.0.join("live.key"), "not a key")?;
    assert!(app.running().reload_tls().is_err());
    assert!(https_get(addr, &cert_b, "/healthz")
        .await?
        .starts_with("HTTP/1.1 200"));
    app.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_only_redirects_and_silent_handshakes_are_closed() -> Result<()> {
    let dir = TempDir::new()?;
    let header_secs = 2;
    let (app, _, _) = tls_app(&dir, header_secs).await?;
    let https_port = app.running().addr.port();
    let redirect = app.running().redirect_addr.context("redirect listener")?;
    let users = count_rows(app.db(), "users").await?;

    let send = |req: String| async move {
        let mut s = TcpStream::connect(redirect).await?;
        s.write_all(req.as_bytes()).await?;
        let mut out = Vec::new();
        s.read_to_end(&mut out).await?;
        anyhow::Ok(String::from_utf8_lossy(&out).into_owned())
    };
    let raw = send(
        "GET /login?next=%2Faccount HTTP/1.1\r\nHost: localhost:8080\r\nConnection: close\r\n\r\n"
            .into(),
    )
    .await?;
    assert!(raw.starts_with("HTTP/1.1 301"), "{raw}");
    assert_eq!(
        header(&raw, "location"),
        Some(format!("https://localhost:{https_port}/login?next=%2Faccount").as_str())
    );
    assert_eq!(header(&raw, "content-length"), Some("0"));
    assert!(raw.ends_with("\r\n\r\n"), "no body: {raw}");
    assert!(header(&raw, "strict-transport-security").is_none());

    // A state-changing request is not run over plain HTTP: 308, nothing stored.
    let body = r#"{"username":"plainhttp","email":"p@example.com","password":"Plover-Quartz-Marigold-74!"}"#;
    let raw = send(format!(
        "POST /v1/auth/register HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    ))
    .await?;
    assert!(raw.starts_with("HTTP/1.1 308"), "{raw}");
    assert_eq!(
        header(&raw, "location"),
        Some(format!("https://localhost:{https_port}/v1/auth/register").as_str())
    );
    assert_eq!(count_rows(app.db(), "users").await?, users);

    // A Host that is not a host name gets no redirect at all.
    let raw =
        send("GET / HTTP/1.1\r\nHost: evil.example/x\r\nConnection: close\r\n\r\n".into()).await?;
    assert!(raw.starts_with("HTTP/1.1 400"), "{raw}");
    assert!(header(&raw, "location").is_none());

    // A client that opens TCP to the TLS port and never says hello is closed within
    // the header timeout (+ margin).
    let mut silent = connect_from("127.0.0.6", app.running().addr).await?;
    let mut buf = [0u8; 16];
    let r = tokio::time::timeout(Duration::from_secs(header_secs + 8), silent.read(&mut buf)).await;
    assert!(
        matches!(r, Ok(Ok(0)) | Ok(Err(_))),
        "silent TLS client still open"
    );
    let timeouts = app.state.metrics.counter(
        rampart::listener::CLOSED_METRIC,
        &[("reason", "handshake_timeout")],
    );
    assert!(timeouts >= 1);
    app.stop().await;
    Ok(())
}

/// The real binary: `rampart serve` with certificate files, then `kill -HUP`; new
/// handshakes present the new certificate and the process keeps running.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_the_certificate_in_the_running_binary() -> Result<()> {
    use std::io::BufRead;
    let dir = TempDir::new()?;
    let (cert_a, key_a) = make_cert(&dir.0, "a")?;
    let (cert_b, key_b) = make_cert(&dir.0, "b")?;
    let live_cert = dir.0.join("live.crt");
    let live_key = dir.0.join("live.key");
    std::fs::copy(&cert_a, &live_cert)?;
    std::fs::copy(&key_a, &live_key)?;
    let mut child = Command::new(env!("CARGO_BIN_EXE_rampart"))
        .current_dir(&dir.0)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RAMPART_DATA_DIR", dir.0.join("data"))
        .env("RAMPART_LOG", "warn")
        .env("RAMPART_BIND", "127.0.0.1:0")
        .env("RAMPART_TLS_CERT_FILE", &live_cert)
        .env("RAMPART_TLS_KEY_FILE", &live_key)
        .arg("serve")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let stdout = child.stdout.take().context("stdout")?;
    let mut lines = std::io::BufReader::new(stdout).lines();
    let url = loop {
        let line = lines.next().context("server exited before listening")??;
        if let Some(u) = line.strip_prefix("listening on ") {
            break u.trim().to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    let result = async {
        let addr: SocketAddr = url.strip_prefix("https://").context("https URL")?.parse()?;
        assert!(https_get(addr, &cert_a, "/healthz")
            .await?
            .starts_with("HTTP/1.1 200"));
        std::fs::copy(&cert_b, &live_cert)?;
        std::fs::copy(&key_b, &live_key)?;
        let st = Command::new("kill")
            .args(["-HUP", &child.id().to_string()])
            .status()?;
        assert!(st.success());
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(raw) = https_get(addr, &cert_b, "/healthz").await {
                assert!(raw.starts_with("HTTP/1.1 200"), "{raw}");
                break;
            }
            if std::time::Instant::now() > deadline {
                bail!("new certificate not presented 10 s after SIGHUP");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(
            child.try_wait()?.is_none(),
            "SIGHUP must not stop the server"
        );
        anyhow::Ok(())
    }
    .await;
    let _ = child.kill();
    let _ = child.wait();
    result
}
