//! A second server: the real `rampart serve` binary on the same database (and data
//! directory, so the same generated secrets) as an in-process [`TestApp`]; killed
//! when dropped.

use anyhow::{bail, Result};
use rampart_test_support::TestApp;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `rampart serve`.
pub struct ServeProcess {
    child: Child,
    /// `http://127.0.0.1:port`.
    pub url: String,
    log: std::path::PathBuf,
}

impl ServeProcess {
    /// Starts `rampart serve` beside `app` and waits until it is ready.
    pub async fn start(app: &TestApp) -> Result<ServeProcess> {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0")?;
            l.local_addr()?.port()
        };
        let dir = &app.config.data_dir;
        let log = dir.join(format!("serve-{port}.log"));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rampart"));
        cmd.arg("serve")
            .current_dir(dir)
            .env("RAMPART_BIND", format!("127.0.0.1:{port}"))
            .env("RAMPART_DATA_DIR", dir)
            .env("RAMPART_DATABASE_URL", &app.config.database_url)
            .env("RAMPART_LOG", "warn")
            .env("RAMPART_WORKER_IN_PROCESS", "false")
            .env_remove("RAMPART_CONFIG")
            .env_remove("RAMPART_REDIS_URL")
            .env_remove("RAMPART_METRICS_BIND")
            .env_remove("RAMPART_PUBLIC_ORIGIN")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(
                dir.join(format!("serve-{port}.out")),
            )?)
            .stderr(std::fs::File::create(&log)?);
        match &app.config.migration_database_url {
            Some(m) => cmd.env("RAMPART_MIGRATION_DATABASE_URL", m),
            None => cmd.env_remove("RAMPART_MIGRATION_DATABASE_URL"),
        };
        let mut me = ServeProcess {
            child: cmd.spawn()?,
            url: format!("http://127.0.0.1:{port}"),
            log,
        };
        let started = Instant::now();
        loop {
            if let Some(status) = me.child.try_wait()? {
                bail!("rampart serve exited ({status}): {}", me.logs());
            }
            if let Ok(r) = me.client().get(format!("{}/readyz", me.url)).send().await {
                if r.status() == 200 {
                    return Ok(me);
                }
            }
            if started.elapsed() > Duration::from_secs(60) {
                bail!("rampart serve not ready after 60 s: {}", me.logs());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A plain client.
    pub fn client(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap_or_default()
    }

    /// Its standard error so far (for failure messages).
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Its standard output so far (the JSON log).
    pub fn out(&self) -> String {
        std::fs::read_to_string(self.log.with_extension("out")).unwrap_or_default()
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
