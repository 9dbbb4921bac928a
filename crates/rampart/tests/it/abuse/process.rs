//! The real binary as separate processes: limits shared through Redis across two
//! instances (B5), and what a debug-level log of a full identity session contains (C5).

use anyhow::{bail, Context, Result};
use rampart_test_support::{redis_url, TempDir};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

/// One `rampart serve` process with its own data directory.
struct Server {
    child: Child,
    url: String,
    output: Arc<Mutex<String>>,
    readers: Vec<std::thread::JoinHandle<()>>,
    _dir: TempDir,
}

impl Server {
    async fn start(toml: &str, env: &[(&str, &str)]) -> Result<Server> {
        let dir = TempDir::new()?;
        let config = dir.0.join("rampart.toml");
        std::fs::write(&config, toml)?;
        // RAMPART_TEST_BIN: a copy of the binary (CI with a target dir shared by several checkouts).
        let bin = std::env::var("RAMPART_TEST_BIN")
            .unwrap_or_else(|_| env!("CARGO_BIN_EXE_rampart").to_owned());
        let mut cmd = Command::new(bin);
        cmd.arg("serve")
            .current_dir(&dir.0)
            .env_clear()
            .env("RAMPART_DATA_DIR", &dir.0)
            .env("RAMPART_CONFIG", &config)
            .env("RAMPART_BIND", "127.0.0.1:0")
            .env("RAMPART_PASSWORD_HASH_CONCURRENCY", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().context("starting rampart serve")?;
        let output = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel::<String>();
        let mut readers = Vec::new();
        let stdout = child.stdout.take().context("stdout")?;
        let stderr = child.stderr.take().context("stderr")?;
        for (stream, tx) in [
            (Box::new(stdout) as Box<dyn std::io::Read + Send>, Some(tx)),
            (Box::new(stderr) as Box<dyn std::io::Read + Send>, None),
        ] {
            let out = output.clone();
            readers.push(std::thread::spawn(move || {
                for line in BufReader::new(stream).lines() {
                    let Ok(line) = line else { break };
                    if let (Some(tx), Some(url)) = (&tx, line.strip_prefix("listening on ")) {
                        let _ = tx.send(url.trim().to_owned());
                    }
                    let mut o = out.lock().unwrap();
                    o.push_str(&line);
                    o.push('\n');
                }
            }));
        }
        let url =
            tokio::task::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(60))).await?;
        let mut server = Server {
            child,
            url: String::new(),
            output,
            readers,
            _dir: dir,
        };
        match url {
            Ok(u) => server.url = u,
            Err(_) => {
                let out = server.stop();
                bail!("rampart serve did not start:\n{out}");
            }
        }
        Ok(server)
    }

    fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// Kills the process and returns everything it wrote.
    fn stop(&mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
        self.output.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn client_from(ip: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(ip.parse::<std::net::IpAddr>().unwrap())
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// `auth` and `login` lifted so that the login ceiling (from the environment) binds.
const LIFTED: &str = "[rate_limits]\nauth = { limit = 1000, window_secs = 60 }\nlogin = { limit = 1000, window_secs = 300 }\n";

/// Alternates `n` failed logins between the servers; returns the statuses in order.
async fn alternate(
    servers: &[&Server],
    client: &reqwest::Client,
    n: usize,
) -> Result<Vec<(usize, u16)>> {
    let mut out = Vec::new();
    for i in 0..n {
        let which = i % servers.len();
        let r = client
            .post(servers[which].at("/v1/auth/token"))
            .json(&json!({"login": "nobody", "password": "wrong-password"}))
            .send()
            .await?;
        let status = r.status().as_u16();
        if status == 429 {
            let pol = r.headers()["ratelimit-policy"].to_str()?.to_owned();
            assert!(pol.contains("\"login_ceiling\";q=4;w=60"), "{pol}");
            assert!(r.headers().contains_key("retry-after"));
        }
        out.push((which, status));
    }
    Ok(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_limits_are_shared_by_two_processes() -> Result<()> {
    let Some(redis) = redis_url("redis_limits_are_shared_by_two_processes") else {
        return Ok(());
    };
    let prefix = format!("rampart-test:{}:", uuid::Uuid::new_v4().simple());
    let env = [
        ("RAMPART_REDIS_URL", redis.as_str()),
        ("RAMPART_REDIS_PREFIX", prefix.as_str()),
        ("LOGIN_RATE_LIMIT_PER_MINUTE", "4"),
    ];
    let mut a = Server::start(LIFTED, &env).await?;
    let mut b = Server::start(LIFTED, &env).await?;
    let client = client_from("127.0.0.81");
    let got = alternate(&[&a, &b], &client, 10).await?;
    let accepted = got.iter().filter(|(_, s)| *s == 401).count();
    assert_eq!(
        accepted, 4,
        "exactly the global limit is accepted across both: {got:?}"
    );
    assert!(got[..4].iter().all(|(_, s)| *s == 401), "{got:?}");
    assert!(got[4..].iter().all(|(_, s)| *s == 429), "{got:?}");
    assert!(got[4..].iter().any(|(w, _)| *w == 0) && got[4..].iter().any(|(w, _)| *w == 1));
    // Another client IP is unaffected on both.
    let other = client_from("127.0.0.82");
    assert_eq!(
        alternate(&[&a, &b], &other, 2)
            .await?
            .iter()
            .filter(|(_, s)| *s == 401)
            .count(),
        2
    );
    let out_a = a.stop();
    b.stop();
    assert!(
        out_a.contains("\"limiter\":\"redis\""),
        "server A did not use Redis:\n{out_a}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_limits_are_per_process() -> Result<()> {
    // Why B5 needs Redis: with the in-process limiter each instance counts alone, so
    // two instances together accept twice the limit.
    let env = [("LOGIN_RATE_LIMIT_PER_MINUTE", "4")];
    let mut a = Server::start(LIFTED, &env).await?;
    let mut b = Server::start(LIFTED, &env).await?;
    let client = client_from("127.0.0.83");
    let got = alternate(&[&a, &b], &client, 10).await?;
    let accepted = got.iter().filter(|(_, s)| *s == 401).count();
    assert_eq!(accepted, 8, "each process accepts its own 4: {got:?}");
    assert!(got[8..].iter().all(|(_, s)| *s == 429), "{got:?}");
    a.stop();
    b.stop();
    Ok(())
}

fn cookie_value(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix(&format!("{name}=")))
        .and_then(|v| v.split(';').next())
        .map(str::to_owned)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_logs_contain_no_secrets() -> Result<()> {
    let mut s = Server::start(LIFTED, &[("RAMPART_LOG", "debug")]).await?;
    let http = client_from("127.0.0.91");
    let mut secrets: Vec<(&str, String)> = Vec::new();
    let mut rids: Vec<String> = Vec::new();
    let mut n = 0;
    let mut rid = |rids: &mut Vec<String>| {
        n += 1;
        let id = format!("redaction-{n}-{}", uuid::Uuid::new_v4().simple());
        rids.push(id.clone());
        id
    };
    let password = "Zephyr-Lantern-Quokka-5511";
    let new_password = "Obsidian-Harbor-Walrus-8820";
    let wrong_password = "Wrong-Pelican-Umbrella-3097";
    secrets.push(("password", password.into()));
    secrets.push(("new password", new_password.into()));
    secrets.push(("wrong password", wrong_password.into()));

    // Pre-session CSRF cookie and token.
    let r = http
        .get(s.at("/v1/auth/csrf"))
        .header("x-request-id", rid(&mut rids))
        .send()
        .await?;
    let pre = cookie_value(&r, "rampart_csrf").context("pre-session cookie")?;
    let pre_token = r.json::<Value>().await?["csrf_token"]
        .as_str()
        .context("token")?
        .to_owned();
    secrets.push(("pre-session cookie", pre.clone()));
    secrets.push(("pre-session csrf token", pre_token.clone()));

    let r = http
        .post(s.at("/v1/auth/register"))
        .header("x-request-id", rid(&mut rids))
        .header("cookie", format!("rampart_csrf={pre}"))
        .header("x-csrf-token", &pre_token)
        .json(&json!({"username": "redact_me", "email": "redact_me@example.com", "password": password}))
        .send()
        .await?;
    assert_eq!(r.status(), 202);
    // The account exists once the mailed verification link is used.
    let db = format!("sqlite://{}", s._dir.0.join("rampart.db").display());
    let pool = sqlx::SqlitePool::connect(&db).await?;
    let mut verify = None;
    for _ in 0..100 {
        let rows: Vec<(String,)> =
            sqlx::query_as("SELECT body FROM outbox WHERE kind = 'verify_email'")
                .fetch_all(&pool)
                .await?;
        verify = rows
            .iter()
            .find_map(|(b,)| b.split("token=").nth(1))
            .and_then(|t| t.split_whitespace().next())
            .map(str::to_owned);
        if verify.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    pool.close().await;
    let verify = verify.context("verification mail")?;
    secrets.push(("verification token", verify.clone()));
    let r = http
        .post(s.at("/v1/auth/verify-email"))
        .header("x-request-id", rid(&mut rids))
        .json(&json!({"token": verify}))
        .send()
        .await?;
    assert_eq!(r.status(), 200);

    // A failed login with another password.
    let r = http
        .post(s.at("/v1/auth/token"))
        .header("x-request-id", rid(&mut rids))
        .json(&json!({"login": "redact_me", "password": wrong_password}))
        .send()
        .await?;
    assert_eq!(r.status(), 401);

    // Browser login: refresh cookie, CSRF token, access token.
    let r = http
        .post(s.at("/v1/auth/token"))
        .header("x-request-id", rid(&mut rids))
        .json(&json!({"login": "redact_me", "password": password}))
        .send()
        .await?;
    assert_eq!(r.status(), 200);
    let cookie = cookie_value(&r, "rampart_refresh").context("refresh cookie")?;
    let v: Value = r.json().await?;
    let access = v["access_token"].as_str().context("access")?.to_owned();
    let csrf = v["csrf_token"].as_str().context("csrf")?.to_owned();
    secrets.push(("refresh cookie", cookie.clone()));
    secrets.push((
        "refresh token (cookie)",
        cookie.split_once('.').context("cookie shape")?.1.to_owned(),
    ));
    secrets.push(("access token", access.clone()));
    secrets.push(("csrf token", csrf.clone()));

    // Cookie refresh with the CSRF header.
    let r = http
        .post(s.at("/v1/auth/refresh"))
        .header("x-request-id", rid(&mut rids))
        .header("cookie", format!("rampart_refresh={cookie}"))
        .header("x-csrf-token", &csrf)
        .send()
        .await?;
    assert_eq!(r.status(), 200);
    let cookie2 = cookie_value(&r, "rampart_refresh").context("rotated cookie")?;
    let v: Value = r.json().await?;
    secrets.push((
        "rotated refresh token",
        cookie2
            .split_once('.')
            .context("cookie shape")?
            .1
            .to_owned(),
    ));
    secrets.push((
        "access token 2",
        v["access_token"].as_str().context("access")?.to_owned(),
    ));

    // Native login and body refresh.
    let r = http
        .post(s.at("/v1/auth/token"))
        .header("x-request-id", rid(&mut rids))
        .json(&json!({"login": "redact_me", "password": password, "client": "native"}))
        .send()
        .await?;
    let v: Value = r.json().await?;
    let native_refresh = v["refresh_token"]
        .as_str()
        .context("native refresh")?
        .to_owned();
    secrets.push(("native refresh token", native_refresh.clone()));
    secrets.push((
        "access token 3",
        v["access_token"].as_str().context("access")?.to_owned(),
    ));
    let r = http
        .post(s.at("/v1/auth/refresh"))
        .header("x-request-id", rid(&mut rids))
        .json(&json!({"refresh_token": native_refresh}))
        .send()
        .await?;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await?;
    secrets.push((
        "native refresh token 2",
        v["refresh_token"].as_str().context("refresh")?.to_owned(),
    ));
    // Reuse of a rotated token (an event is logged; the token must not be).
    let r = http
        .post(s.at("/v1/oauth/token"))
        .header("x-request-id", rid(&mut rids))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", native_refresh.as_str()),
        ])
        .send()
        .await?;
    assert!(r.status().is_client_error() || r.status().is_success());

    // A personal access token, then used.
    let r = http
        .post(s.at("/v1/tokens"))
        .header("x-request-id", rid(&mut rids))
        .bearer_auth(&access)
        .json(&json!({"name": "logs", "scopes": ["profile:read"]}))
        .send()
        .await?;
    assert_eq!(r.status(), 201);
    let pat = r.json::<Value>().await?["token"]
        .as_str()
        .context("pat")?
        .to_owned();
    secrets.push(("personal access token", pat.clone()));
    let r = http
        .get(s.at("/v1/me"))
        .header("x-request-id", rid(&mut rids))
        .bearer_auth(&pat)
        .send()
        .await?;
    assert_eq!(r.status(), 200);
    // A wrong bearer token is rejected (and logged as an event, without the value).
    let bogus = format!("{}x", &access[..access.len() - 1]);
    let r = http
        .get(s.at("/v1/me"))
        .header("x-request-id", rid(&mut rids))
        .bearer_auth(&bogus)
        .send()
        .await?;
    assert_eq!(r.status(), 401);

    // Password reset: the token only travels by mail (the outbox).
    let r = http
        .post(s.at("/v1/auth/password-reset"))
        .header("x-request-id", rid(&mut rids))
        .json(&json!({"login": "redact_me@example.com"}))
        .send()
        .await?;
    assert_eq!(r.status(), 202);
    let db = format!("sqlite://{}", s._dir.0.join("rampart.db").display());
    let pool = sqlx::SqlitePool::connect(&db).await?;
    let mut reset = None;
    for _ in 0..100 {
        let rows: Vec<(String,)> =
            sqlx::query_as("SELECT body FROM outbox WHERE kind = 'password_reset'")
                .fetch_all(&pool)
                .await?;
        reset = rows
            .iter()
            .find_map(|(b,)| b.split("token=").nth(1))
            .and_then(|t| t.split_whitespace().next())
            .map(str::to_owned);
        if reset.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    pool.close().await;
    let reset = reset.context("reset mail")?;
    secrets.push(("reset token", reset.clone()));
    let r = http
        .post(s.at("/v1/auth/password-reset/confirm"))
        .header("x-request-id", rid(&mut rids))
        .json(&json!({"token": reset, "password": new_password}))
        .send()
        .await?;
    assert_eq!(r.status(), 204, "{:?}", r.text().await);

    // A secret in a path parameter is redacted without breaking the JSON line.
    let in_path = format!("pathsecret{}", uuid::Uuid::new_v4().simple());
    for path in [
        format!("/ws;token={in_path}"),
        format!("/zz;access_token={in_path}"),
    ] {
        let _ = http
            .get(s.at(&path))
            .header("x-request-id", rid(&mut rids))
            .send()
            .await?;
    }
    secrets.push(("token in a path", in_path));

    let out = s.stop();
    assert!(out.lines().count() > 20, "expected a debug log:\n{out}");
    for line in out.lines().filter(|l| l.starts_with('{')) {
        assert!(
            serde_json::from_str::<Value>(line).is_ok(),
            "a log line is not valid JSON: {line}"
        );
    }
    for (what, value) in &secrets {
        assert!(value.len() >= 8, "{what} too short to search for");
        if let Some(line) = out.lines().find(|l| l.contains(value.as_str())) {
            panic!("the {what} appears in the log: {line}");
        }
    }
    for id in &rids {
        assert!(
            out.contains(id.as_str()),
            "request ID {id} missing from the log"
        );
    }
    // Every line written inside a request names it.
    let mut in_request = 0;
    for line in out.lines() {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        if v["span"]["name"] == "request" {
            in_request += 1;
            let id = v["span"]["request_id"].as_str().unwrap_or("");
            assert!(!id.is_empty(), "log line without request_id: {line}");
            if v["target"] == "security" {
                assert_eq!(
                    v["request_id"], id,
                    "security event with another request id: {line}"
                );
            }
        }
    }
    assert!(in_request >= rids.len(), "{in_request} request lines");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_served_only_on_their_own_listener_behind_the_token() -> Result<()> {
    // Issue 8: the public port must not enumerate accounts through /metrics.
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let bind = format!("127.0.0.1:{port}");
    let token = "metrics-secret-0123456789abcdef-0123456789";
    let mut srv = Server::start(
        "",
        &[
            ("RAMPART_METRICS_BIND", bind.as_str()),
            ("RAMPART_METRICS_TOKEN", token),
        ],
    )
    .await?;
    let c = reqwest::Client::new();
    let r = c.get(srv.at("/metrics")).send().await?;
    assert_eq!(r.status(), 404, "not on the public port");
    assert!(!r.text().await?.contains("rampart_"));
    let m = format!("http://{bind}/metrics");
    assert_eq!(c.get(&m).send().await?.status(), 401, "no bearer");
    assert_eq!(
        c.get(&m)
            .bearer_auth("not-the-token")
            .send()
            .await?
            .status(),
        401
    );
    let r = c.get(&m).bearer_auth(token).send().await?;
    assert_eq!(r.status(), 200);
    assert!(r.text().await?.contains("rampart_http_requests_total"));
    srv.stop();
    Ok(())
}
