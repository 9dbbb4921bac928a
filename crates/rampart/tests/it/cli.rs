//! The binary as an operator uses it: start-up refusals, `admin create`, restarts.

use anyhow::{Context, Result};
use rampart_test_support::TempDir;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};

fn rampart(dir: &TempDir) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_rampart"));
    c.current_dir(&dir.0)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RAMPART_DATA_DIR", dir.0.join("data"))
        .env("RAMPART_LOG", "warn")
        .env("RAMPART_BIND", "127.0.0.1:0");
    c
}

/// Starts `rampart serve` and returns it with its URL.
fn serve(dir: &TempDir) -> Result<(Child, String)> {
    let mut child = rampart(dir)
        .arg("serve")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let out = child.stdout.take().context("stdout")?;
    let mut lines = BufReader::new(out).lines();
    let url = loop {
        let line = lines.next().context("server exited before listening")??;
        if let Some(u) = line.strip_prefix("listening on ") {
            break u.trim().to_owned();
        }
    };
    // Keep draining stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Ok((child, url))
}

#[test]
fn production_refuses_to_start_without_secrets_and_names_the_variable() -> Result<()> {
    let dir = TempDir::new()?;
    let out = rampart(&dir)
        .env("RAMPART_MODE", "production")
        .arg("serve")
        .output()?;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("RAMPART_CSRF_KEY"), "{err}");
    // A short key is refused with its name too, and its value is never echoed.
    let out = rampart(&dir)
        .env("RAMPART_MODE", "production")
        .env("RAMPART_CSRF_KEY", "tooshortsecretvalue")
        .arg("serve")
        .output()?;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("RAMPART_CSRF_KEY is too short"), "{err}");
    assert!(!err.contains("tooshortsecretvalue"));
    Ok(())
}

#[test]
fn pat_lifetimes_are_validated_at_start_up() -> Result<()> {
    let dir = TempDir::new()?;
    for (vars, name) in [
        (
            vec![("RAMPART_PAT_MAX_TTL_DAYS", "0")],
            "RAMPART_PAT_MAX_TTL_DAYS",
        ),
        (
            vec![
                ("RAMPART_PAT_MAX_TTL_DAYS", "30"),
                ("RAMPART_PAT_DEFAULT_TTL_DAYS", "90"),
            ],
            "RAMPART_PAT_DEFAULT_TTL_DAYS",
        ),
    ] {
        let mut c = rampart(&dir);
        for (k, v) in &vars {
            c.env(k, v);
        }
        let out = c.arg("serve").output()?;
        assert!(!out.status.success(), "{vars:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(name), "{vars:?}: {err}");
    }
    Ok(())
}

#[cfg(unix)]
#[test]
fn development_generates_secrets_once_with_0600() -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new()?;
    let out = rampart(&dir).arg("migrate").output()?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (mut child, _) = serve(&dir)?;
    child.kill()?;
    child.wait()?;
    let secrets = dir.0.join("data/secrets");
    let mut first = Vec::new();
    for f in ["csrf.key", "session.key", "encryption.key", "audit.key"] {
        let p = secrets.join(f);
        let mode = std::fs::metadata(&p)?.permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{f}");
        first.push(std::fs::read_to_string(&p)?);
    }
    assert_eq!(
        std::fs::metadata(&secrets)?.permissions().mode() & 0o777,
        0o700
    );
    let (mut child, _) = serve(&dir)?;
    child.kill()?;
    child.wait()?;
    for (i, f) in ["csrf.key", "session.key", "encryption.key", "audit.key"]
        .iter()
        .enumerate()
    {
        assert_eq!(
            std::fs::read_to_string(secrets.join(f))?,
            first[i],
            "{f} must not change"
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_create_then_restart_then_login() -> Result<()> {
    let dir = TempDir::new()?;
    let password = "correct horse battery staple 42";
    // No password on the command line: it is read from stdin.
    let mut child = rampart(&dir)
        .args([
            "admin",
            "create",
            "--username",
            "root_admin",
            "--email",
            "root@example.com",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    writeln!(child.stdin.take().context("stdin")?, "{password}")?;
    let out = child.wait_with_output()?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("created super-admin root_admin"));
    // A weak password is refused and nothing is created.
    let mut child = rampart(&dir)
        .args(["admin", "create", "--username", "weak_admin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    writeln!(child.stdin.take().context("stdin")?, "password")?;
    let out = child.wait_with_output()?;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("password refused"));

    for _ in 0..2 {
        let (mut server, url) = serve(&dir)?;
        let client = reqwest::Client::new();
        let r = client
            .post(format!("{url}/v1/auth/token"))
            .json(&serde_json::json!({"login": "root_admin", "password": password}))
            .send()
            .await?;
        assert_eq!(r.status(), 200, "{:?}", r.text().await);
        let tok: serde_json::Value = r.json().await?;
        let at = tok["access_token"].as_str().context("token")?;
        let me: serde_json::Value = client
            .get(format!("{url}/v1/me"))
            .bearer_auth(at)
            .send()
            .await?
            .json()
            .await?;
        assert_eq!(me["role"], "super_admin");
        assert_eq!(me["totp_enrolment_required"], true);
        // Until TOTP is enrolled, nothing but enrolment is reachable.
        let r = client
            .get(format!("{url}/v1/sessions"))
            .bearer_auth(at)
            .send()
            .await?;
        assert_eq!(r.status(), 403);
        let v: serde_json::Value = r.json().await?;
        assert_eq!(v["code"], "totp_enrolment_required");
        let r = client
            .post(format!("{url}/v1/auth/token"))
            .json(&serde_json::json!({"login": "weak_admin", "password": "password"}))
            .send()
            .await?;
        assert_eq!(r.status(), 401);
        server.kill()?;
        server.wait()?;
    }
    Ok(())
}
