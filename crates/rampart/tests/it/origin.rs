//! Issue 8, origins: production refuses to start without `RAMPART_PUBLIC_ORIGIN`
//! (links would otherwise be built from the bind address over http), and the
//! cross-origin check compares scheme, host and port exactly.

use anyhow::Result;
use rampart_test_support::{both_engines, count_rows, Engine, TempDir, TestApp};
use serde_json::{json, Value};
use std::process::Command;

both_engines!(origin_with_another_scheme_or_port_is_refused);

const KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

fn production(dir: &TempDir) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_rampart"));
    c.current_dir(&dir.0)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RAMPART_DATA_DIR", dir.0.join("data"))
        .env("RAMPART_LOG", "warn")
        .env("RAMPART_BIND", "127.0.0.1:0")
        .env("RAMPART_MODE", "production")
        .env("RAMPART_CSRF_KEY", KEY)
        .env("RAMPART_SESSION_KEY", KEY)
        .env("RAMPART_ENCRYPTION_KEY", format!("k1:{KEY}"))
        .env("RAMPART_AUDIT_KEY", format!("a1:{KEY}"))
        .arg("serve");
    c
}

#[test]
fn production_without_public_origin_refuses_to_start_and_names_the_variable() -> Result<()> {
    let dir = TempDir::new()?;
    let out = production(&dir).output()?;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("RAMPART_PUBLIC_ORIGIN"), "{err}");
    assert!(!err.contains(KEY), "no secret in the message");
    // Refused before anything was created.
    assert!(!dir.0.join("data").join("rampart.db").exists());

    // A malformed one, or an http one while terminating TLS, is refused too.
    let out = production(&dir)
        .env("RAMPART_PUBLIC_ORIGIN", "market.example")
        .output()?;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("RAMPART_PUBLIC_ORIGIN"));
    let (cert, key) = crate::tls::make_cert(&dir.0, "s")?;
    let out = production(&dir)
        .env("RAMPART_PUBLIC_ORIGIN", "http://market.example")
        .env("RAMPART_TLS_CERT_FILE", &cert)
        .env("RAMPART_TLS_KEY_FILE", &key)
        .output()?;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("https://"));
    assert!(!dir.0.join("data").join("rampart.db").exists());
    Ok(())
}

#[test]
fn production_with_public_origin_starts() -> Result<()> {
    let dir = TempDir::new()?;
    let mut child = production(&dir)
        .env("RAMPART_PUBLIC_ORIGIN", "https://market.example")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let out = child.stdout.take().expect("stdout");
    // Log lines (JSON, e.g. the single-process real-time notice on SQLite) may come
    // first; the server is up once it prints its address.
    let mut reader = std::io::BufReader::new(out);
    let mut seen = Vec::new();
    let mut started = false;
    for _ in 0..50 {
        let mut line = String::new();
        if std::io::BufRead::read_line(&mut reader, &mut line)? == 0 {
            break;
        }
        if line.starts_with("listening on ") {
            started = true;
            break;
        }
        seen.push(line);
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(started, "no `listening on` line; output: {seen:?}");
    Ok(())
}

async fn register(
    app: &TestApp,
    origin: Option<&str>,
    name: &str,
) -> Result<(u16, Option<String>)> {
    let mut req = app
        .new_client()
        .post(app.at("/v1/auth/register"))
        .json(&json!({"username": name, "password": "Plover-Quartz-Marigold-74!"}));
    if let Some(o) = origin {
        req = req.header("origin", o);
    }
    let r = req.send().await?;
    let status = r.status().as_u16();
    let v: Value = r.json().await.unwrap_or(Value::Null);
    Ok((status, v["code"].as_str().map(str::to_owned)))
}

async fn origin_with_another_scheme_or_port_is_refused(app: TestApp) -> Result<()> {
    // The site is http://127.0.0.1:port (no public origin configured: the Host).
    let port = app.running().addr.port();
    let users = count_rows(app.db(), "users").await?;
    for bad in [
        format!("https://127.0.0.1:{port}"),
        format!("http://127.0.0.1:{}", port.wrapping_add(1)),
        "http://127.0.0.1".to_owned(),
        format!("ftp://127.0.0.1:{port}"),
        format!("http://evil@127.0.0.1:{port}"),
    ] {
        let (status, code) = register(&app, Some(&bad), "mallory").await?;
        assert_eq!(status, 403, "{bad}");
        assert_eq!(code.as_deref(), Some("csrf_origin_mismatch"), "{bad}");
    }
    assert_eq!(
        count_rows(app.db(), "users").await?,
        users,
        "nothing created"
    );
    // Without Origin, the Referer's origin is compared the same way.
    let r = app
        .new_client()
        .post(app.at("/v1/auth/register"))
        .header("referer", format!("https://127.0.0.1:{port}/register"))
        .json(&json!({"username": "mallory", "email": "m@example.com", "password": "Plover-Quartz-Marigold-74!"}))
        .send()
        .await?;
    assert_eq!(r.status(), 403);
    assert_eq!(
        count_rows(app.db(), "users").await?,
        users,
        "nothing created"
    );
    // Control: the exact origin (any case) is accepted.
    let (status, _) = register(&app, Some(&format!("HTTP://127.0.0.1:{port}")), "alice").await?;
    assert_eq!(status, 201);
    app.stop().await;
    Ok(())
}

/// With a configured public origin, only its scheme, host and port pass (the default
/// port may be written or not).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_public_origin_is_compared_exactly() -> Result<()> {
    let app = TestApp::builder(Engine::Sqlite)
        .config(|c| {
            c.public_origin = Some("http://market.example".into());
            c.trusted_origins = vec!["https://partner.example:8443".into()];
        })
        .spawn()
        .await?
        .expect("sqlite");
    let users = count_rows(app.db(), "users").await?;
    for bad in [
        "https://market.example",
        "http://market.example:8080",
        "https://partner.example",
        "http://partner.example:8443",
    ] {
        let (status, code) = register(&app, Some(bad), "mallory").await?;
        assert_eq!(status, 403, "{bad}");
        assert_eq!(code.as_deref(), Some("csrf_origin_mismatch"), "{bad}");
    }
    assert_eq!(count_rows(app.db(), "users").await?, users);
    let (s1, _) = register(&app, Some("http://market.example:80"), "alice").await?;
    let (s2, _) = register(&app, Some("https://Partner.example:8443"), "bob").await?;
    assert_eq!((s1, s2), (201, 201));
    app.stop().await;
    Ok(())
}
