//! Test fixtures: a fresh database per test (SQLite file, or a PostgreSQL schema in
//! `RAMPART_TEST_DATABASE_URL`), and a real SMTP server (aiosmtpd, run by the Python in
//! `RAMPART_TEST_PYTHON`, default `python3`) with certificates made by the openssl CLI.

use anyhow::{bail, Context, Result};
use rampart_db::Db;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A unique scratch directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Result<TempDir> {
        let p = std::env::temp_dir().join(format!(
            "rampart-mail-{tag}-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&p)?;
        Ok(TempDir(p))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A migrated database and the URL to open it again (a second "process").
pub struct TestDb {
    pub db: Db,
    pub url: String,
    _dir: Option<TempDir>,
    pg_schema: Option<(String, String)>,
}

impl TestDb {
    pub async fn sqlite() -> Result<TestDb> {
        let dir = TempDir::new("db")?;
        let url = format!("sqlite://{}", dir.0.join("t.db").display());
        let db = Db::connect(&url, 4).await?;
        db.migrate().await?;
        Ok(TestDb {
            db,
            url,
            _dir: Some(dir),
            pg_schema: None,
        })
    }

    pub async fn postgres(test: &str) -> Result<Option<TestDb>> {
        let admin = match std::env::var("RAMPART_TEST_DATABASE_URL") {
            Ok(u) if !u.trim().is_empty() => u,
            _ => {
                eprintln!("SKIPPED {test} on PostgreSQL: RAMPART_TEST_DATABASE_URL is not set");
                return Ok(None);
            }
        };
        let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
        let pool = sqlx::PgPool::connect(&admin)
            .await
            .context("connecting to RAMPART_TEST_DATABASE_URL")?;
        sqlx::query(&format!("CREATE SCHEMA {schema}"))
            .execute(&pool)
            .await?;
        pool.close().await;
        let sep = if admin.contains('?') { '&' } else { '?' };
        let url = format!("{admin}{sep}options=-c%20search_path%3D{schema}");
        let db = Db::connect(&url, 8).await?;
        db.migrate().await?;
        Ok(Some(TestDb {
            db,
            url,
            _dir: None,
            pg_schema: Some((admin, schema)),
        }))
    }

    /// Another handle on the same database, as a second server process would have.
    pub async fn reopen(&self) -> Result<Db> {
        Ok(Db::connect(&self.url, 4).await?)
    }

    pub async fn close(self) {
        self.db.close().await;
        if let Some((admin, schema)) = &self.pg_schema {
            if let Ok(pool) = sqlx::PgPool::connect(admin).await {
                let _ = sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                    .execute(&pool)
                    .await;
                pool.close().await;
            }
        }
    }
}

/// One test per engine for each `async fn(&TestDb) -> Result<()>`.
#[macro_export]
macro_rules! both_engines {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() -> anyhow::Result<()> {
                    let t = $crate::support::TestDb::sqlite().await?;
                    let r = super::$name(&t).await;
                    t.close().await;
                    r
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() -> anyhow::Result<()> {
                    let Some(t) = $crate::support::TestDb::postgres(stringify!($name)).await? else {
                        return Ok(());
                    };
                    let r = super::$name(&t).await;
                    t.close().await;
                    r
                }
            }
        )*
    };
}

/// The Python that has aiosmtpd, or `None` after printing a SKIPPED line.
pub fn python(test: &str) -> Option<String> {
    let py = std::env::var("RAMPART_TEST_PYTHON")
        .ok()
        .filter(|p| !p.trim().is_empty())
        .unwrap_or_else(|| "python3".into());
    let ok = Command::new(&py)
        .args(["-c", "import aiosmtpd"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        eprintln!(
            "SKIPPED {test}: {py} cannot import aiosmtpd (set RAMPART_TEST_PYTHON to a Python with aiosmtpd; .ci/run makes one)"
        );
        return None;
    }
    Some(py)
}

/// A private CA and a server certificate for `localhost` and 127.0.0.1 signed by it.
pub struct Certs {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    _dir: TempDir,
}

fn openssl(dir: &Path, args: &[&str]) -> Result<()> {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .context("running openssl")?;
    if !out.status.success() {
        bail!("openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

impl Certs {
    pub fn generate() -> Result<Certs> {
        let dir = TempDir::new("certs")?;
        let d = &dir.0;
        openssl(
            d,
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                "/CN=Rampart Test CA",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        )?;
        openssl(
            d,
            &[
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
                "-subj",
                "/CN=localhost",
            ],
        )?;
        std::fs::write(
            d.join("ext.cnf"),
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth\n",
        )?;
        openssl(
            d,
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "server.pem",
                "-days",
                "2",
                "-extfile",
                "ext.cnf",
            ],
        )?;
        Ok(Certs {
            ca: d.join("ca.pem"),
            cert: d.join("server.pem"),
            key: d.join("server.key"),
            _dir: dir,
        })
    }
}

/// How the test server behaves.
#[derive(Default)]
pub struct ServerOpts<'a> {
    /// `plain`, `starttls` or `smtps`.
    pub mode: &'a str,
    pub certs: Option<&'a Certs>,
    pub auth: Option<&'a str>,
    pub tempfail: u32,
    pub reject_rcpt: Option<&'a str>,
    pub hang: bool,
}

/// aiosmtpd on 127.0.0.1; stops when dropped.
pub struct SmtpServer {
    pub port: u16,
    child: Child,
    out: TempDir,
}

impl SmtpServer {
    pub fn start(py: &str, o: ServerOpts<'_>) -> Result<SmtpServer> {
        let out = TempDir::new("smtp")?;
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/smtp_server.py");
        let mut cmd = Command::new(py);
        cmd.arg(script)
            .arg("--outdir")
            .arg(&out.0)
            .arg("--mode")
            .arg(if o.mode.is_empty() { "plain" } else { o.mode })
            .arg("--tempfail")
            .arg(o.tempfail.to_string());
        if let Some(c) = o.certs {
            cmd.arg("--cert").arg(&c.cert).arg("--key").arg(&c.key);
        }
        if let Some(a) = o.auth {
            cmd.arg("--auth").arg(a);
        }
        if let Some(r) = o.reject_rcpt {
            cmd.arg("--reject-rcpt").arg(r);
        }
        if o.hang {
            cmd.arg("--hang");
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("starting the SMTP test server")?;
        let stdout = child.stdout.take().context("no stdout")?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let port = match line.trim().strip_prefix("READY ") {
            Some(p) => p.parse()?,
            None => {
                let _ = child.kill();
                let _ = child.wait();
                bail!("SMTP test server did not start: {line:?}");
            }
        };
        Ok(SmtpServer { port, child, out })
    }

    /// Every message accepted so far (JSON records written by the server).
    pub fn received(&self) -> Result<Vec<serde_json::Value>> {
        let mut v = Vec::new();
        for e in std::fs::read_dir(&self.out.0)? {
            let p = e?.path();
            if p.extension().and_then(|x| x.to_str()) == Some("json") {
                v.push(serde_json::from_str(&std::fs::read_to_string(&p)?)?);
            }
        }
        Ok(v)
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        // Closing stdin asks it to stop; kill in case it does not.
        drop(self.child.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
