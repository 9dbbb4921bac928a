//! Integration-test helpers: start the real server in-process on a random port with a
//! fresh database (a new SQLite file, or a new PostgreSQL schema migrated by its owner
//! and served through the non-owner `rampart_app` role), an injected clock,
//! and HTTP clients that can come from any 127.x.y.z address.
//!
//! ```text
//! rampart_test_support::both_engines!(health_is_ok);
//! async fn health_is_ok(app: TestApp) -> anyhow::Result<()> {
//!     assert_eq!(app.get("/healthz").await?.status(), 200);
//!     Ok(())
//! }
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use anyhow::{Context, Result};
use rampart::config::Config;
use rampart::server::{self, Running};
use rampart_db::Db;
use rampart_kernel::{Clock, ManualClock};
use rampart_web::state::AppState;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// Which database engine a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// A fresh SQLite file.
    Sqlite,
    /// A fresh schema in `RAMPART_TEST_DATABASE_URL`.
    Postgres,
}

/// The PostgreSQL URL for tests, or `None` (with a clear SKIPPED line) when unset.
pub fn pg_url(test: &str) -> Option<String> {
    match std::env::var("RAMPART_TEST_DATABASE_URL") {
        Ok(u) if !u.trim().is_empty() => Some(u),
        _ => {
            eprintln!("SKIPPED {test} on PostgreSQL: RAMPART_TEST_DATABASE_URL is not set");
            None
        }
    }
}

/// The Redis URL for tests, or `None` (with a clear SKIPPED line) when unset.
pub fn redis_url(test: &str) -> Option<String> {
    match std::env::var("RAMPART_TEST_REDIS_URL") {
        Ok(u) if !u.trim().is_empty() => Some(u),
        _ => {
            eprintln!("SKIPPED {test} with Redis: RAMPART_TEST_REDIS_URL is not set");
            None
        }
    }
}

/// A per-test PostgreSQL schema, dropped when the test ends.
struct PgSchema {
    admin_url: String,
    schema: String,
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        let url = self.admin_url.clone();
        let schema = self.schema.clone();
        // Drop runs inside the test's runtime; do the async cleanup on its own thread.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async {
                let pool = sqlx::PgPool::connect(&url).await.ok()?;
                sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                    .execute(&pool)
                    .await
                    .ok()?;
                pool.close().await;
                Some(())
            })
        })
        .join();
    }
}

/// The cluster-wide login role the test servers connect as: a member of
/// `rampart_app` (created by migration 0009), so row-level security binds it exactly as
/// it binds a deployment's server. Its password is a fixed test value, not a secret.
pub const TEST_APP_ROLE: &str = "rampart_test_app";
const TEST_APP_PASSWORD: &str = "rampart_test_app";

/// Creates [`TEST_APP_ROLE`] if missing and makes it a member of `rampart_app`.
/// Idempotent and safe when parallel tests (or test processes) race: a lost
/// `CREATE ROLE` race is ignored, and a conflicting catalog update is retried.
async fn ensure_test_app_role(pool: &sqlx::PgPool) -> Result<()> {
    static DONE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if DONE.load(std::sync::atomic::Ordering::Relaxed) {
        return Ok(());
    }
    let create = format!(
        "DO $$ BEGIN \
           IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{TEST_APP_ROLE}') THEN \
             CREATE ROLE {TEST_APP_ROLE} LOGIN INHERIT NOSUPERUSER NOBYPASSRLS PASSWORD '{TEST_APP_PASSWORD}'; \
           END IF; \
         EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
    );
    let grant = format!(
        "DO $$ BEGIN \
           IF NOT pg_has_role('{TEST_APP_ROLE}', 'rampart_app', 'MEMBER') THEN \
             GRANT rampart_app TO {TEST_APP_ROLE}; \
           END IF; \
         EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
    );
    let mut last = None;
    for attempt in 0..10u64 {
        let r = async {
            sqlx::query(&create).execute(pool).await?;
            sqlx::query(&grant).execute(pool).await?;
            Ok::<_, sqlx::Error>(())
        }
        .await;
        match r {
            Ok(()) => {
                DONE.store(true, std::sync::atomic::Ordering::Relaxed);
                return Ok(());
            }
            // e.g. "tuple concurrently updated" when two processes grant at once.
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(std::time::Duration::from_millis(50 * (attempt + 1))).await;
    }
    Err(last
        .map(anyhow::Error::from)
        .unwrap_or_else(|| anyhow::anyhow!("unreachable")))
    .context("creating the test application role")
}

/// URLs of a fresh per-test schema: the owner's (the admin URL, which migrates) and
/// the application's ([`TEST_APP_ROLE`], which the server connects as).
struct PgUrls {
    owner: String,
    app: String,
}

/// Creates a fresh schema, migrates it as the owner (the admin role of
/// `RAMPART_TEST_DATABASE_URL`) and returns the owner's and the application role's
/// URLs whose connections use it.
async fn pg_schema(admin_url: &str) -> Result<(PgUrls, PgSchema)> {
    let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
    let pool = sqlx::PgPool::connect(admin_url)
        .await
        .context("connecting to RAMPART_TEST_DATABASE_URL")?;
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&pool)
        .await?;
    let guard = PgSchema {
        admin_url: admin_url.to_owned(),
        schema: schema.clone(),
    };
    let sep = if admin_url.contains('?') { '&' } else { '?' };
    let owner = format!("{admin_url}{sep}options=-c%20search_path%3D{schema}");
    let migrated = async {
        let db = Db::connect(&owner, 2).await?;
        let r = db.migrate().await;
        db.close().await;
        r
    }
    .await;
    migrated.context("migrating the test schema as its owner")?;
    ensure_test_app_role(&pool).await?;
    pool.close().await;
    let mut app = reqwest::Url::parse(&owner).context("RAMPART_TEST_DATABASE_URL")?;
    app.set_username(TEST_APP_ROLE)
        .and_then(|()| app.set_password(Some(TEST_APP_PASSWORD)))
        .map_err(|()| anyhow::anyhow!("RAMPART_TEST_DATABASE_URL has no user part"))?;
    Ok((
        PgUrls {
            owner,
            app: app.to_string(),
        },
        guard,
    ))
}

/// A fresh, empty temporary directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// Creates one.
    pub fn new() -> Result<Self> {
        let p =
            std::env::temp_dir().join(format!("rampart-test-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&p)?;
        Ok(Self(p))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running server for one test.
pub struct TestApp {
    /// `http://127.0.0.1:port`.
    pub url: String,
    /// Shared state (database, metrics…).
    pub state: AppState,
    /// The injected clock; move it instead of sleeping.
    pub clock: ManualClock,
    /// A client with a cookie jar that does not follow redirects.
    pub client: reqwest::Client,
    /// Engine in use.
    pub engine: Engine,
    /// The configuration the server was started with.
    pub config: Config,
    running: Option<Running>,
    _schema: Option<PgSchema>,
    _dir: TempDir,
}

/// A configuration change applied before the server starts.
type Tweak = Box<dyn FnOnce(&mut Config) + Send>;

/// Builds a [`TestApp`] with configuration tweaks.
pub struct Builder {
    engine: Engine,
    tweak: Vec<Tweak>,
}

impl Builder {
    /// Changes the configuration before start.
    pub fn config(mut self, f: impl FnOnce(&mut Config) + Send + 'static) -> Self {
        self.tweak.push(Box::new(f));
        self
    }

    /// Starts the server; `Ok(None)` when the engine is not available here.
    pub async fn spawn(self) -> Result<Option<TestApp>> {
        let dir = TempDir::new()?;
        let (db_url, owner_url, schema) = match self.engine {
            Engine::Sqlite => (
                format!("sqlite://{}", dir.0.join("rampart.db").display()),
                None,
                None,
            ),
            Engine::Postgres => {
                let Some(admin) = pg_url("this test") else {
                    return Ok(None);
                };
                let (urls, schema) = pg_schema(&admin).await?;
                (urls.app, Some(urls.owner), Some(schema))
            }
        };
        let mut cfg = Config::for_tests(dir.0.clone(), db_url);
        // Like a deployment: migrations as the owner, the server as rampart_app.
        cfg.migration_database_url = owner_url;
        for t in self.tweak {
            t(&mut cfg);
        }
        let secrets = rampart::secrets::load(&cfg)?;
        let db = server::open_db(&cfg).await?;
        server::check_database_role(&cfg, &db).await?;
        let clock = ManualClock::starting_now();
        let dyn_clock: Arc<dyn Clock> = Arc::new(clock.clone());
        let state = server::build_state(&cfg, &secrets, db, dyn_clock).await?;
        let running = server::start(state.clone(), &cfg, false).await?;
        Ok(Some(TestApp {
            url: running.url(),
            state,
            clock,
            client: client_builder().build()?,
            engine: self.engine,
            config: cfg,
            running: Some(running),
            _schema: schema,
            _dir: dir,
        }))
    }
}

fn client_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(60))
}

impl TestApp {
    /// A builder for `engine`.
    pub fn builder(engine: Engine) -> Builder {
        Builder {
            engine,
            tweak: Vec::new(),
        }
    }

    /// Starts with default test configuration.
    pub async fn spawn(engine: Engine) -> Result<Option<TestApp>> {
        Self::builder(engine).spawn().await
    }

    /// The database.
    pub fn db(&self) -> &Db {
        &self.state.db
    }

    /// `url + path`.
    pub fn at(&self, path: &str) -> String {
        format!("{}{}", self.url, path)
    }

    /// A fresh client (own cookie jar) whose connections come from `ip`
    /// (any 127.x.y.z is a distinct client IP on loopback).
    pub fn client_from(&self, ip: &str) -> reqwest::Client {
        let ip: IpAddr = ip.parse().expect("ip");
        client_builder().local_address(ip).build().expect("client")
    }

    /// A fresh client with its own cookie jar.
    pub fn new_client(&self) -> reqwest::Client {
        client_builder().build().expect("client")
    }

    /// GET with the default client.
    pub async fn get(&self, path: &str) -> Result<reqwest::Response> {
        Ok(self.client.get(self.at(path)).send().await?)
    }

    /// The running server (listener addresses, connection counters, TLS reload).
    pub fn running(&self) -> &Running {
        self.running.as_ref().expect("running until stopped")
    }

    /// Stops the server and closes its database.
    pub async fn stop(mut self) {
        if let Some(r) = self.running.take() {
            r.stop().await;
        }
    }
}

/// Number of rows in `table` (test assertions that nothing changed).
pub async fn count_rows(db: &Db, table: &str) -> Result<i64> {
    let sql = format!("SELECT COUNT(*) FROM {table}");
    let n: (i64,) = match &db.engine {
        rampart_db::Engine::Sqlite { read, .. } => sqlx::query_as(&sql).fetch_one(read).await?,
        rampart_db::Engine::Postgres(p) => sqlx::query_as(&sql).fetch_one(p).await?,
    };
    Ok(n.0)
}

/// Runs a raw statement (tests that tamper with the database directly).
pub async fn exec(db: &Db, sql: &str) -> Result<u64> {
    Ok(match &db.engine {
        rampart_db::Engine::Sqlite { write, .. } => {
            sqlx::query(sql).execute(write).await?.rows_affected()
        }
        rampart_db::Engine::Postgres(p) => sqlx::query(sql).execute(p).await?.rows_affected(),
    })
}

/// Generates one test per engine for each named `async fn(TestApp) -> Result<()>`;
/// the PostgreSQL variant prints SKIPPED and passes when no database is configured.
#[macro_export]
macro_rules! both_engines {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() -> anyhow::Result<()> {
                    let app = $crate::TestApp::spawn($crate::Engine::Sqlite).await?.expect("sqlite");
                    super::$name(app).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() -> anyhow::Result<()> {
                    match $crate::TestApp::spawn($crate::Engine::Postgres).await? {
                        Some(app) => super::$name(app).await,
                        None => Ok(()),
                    }
                }
            }
        )*
    };
}

/// One text column of one row, read straight from the database (`$1` is `arg`), for
/// white-box assertions about what is stored (ciphertext, hashes, lock times).
pub async fn text_value(db: &Db, sql: &str, arg: &str) -> Result<Option<String>> {
    let v: Option<(Option<String>,)> = match &db.engine {
        rampart_db::Engine::Sqlite { read, .. } => {
            sqlx::query_as(sql).bind(arg).fetch_optional(read).await?
        }
        rampart_db::Engine::Postgres(p) => sqlx::query_as(sql).bind(arg).fetch_optional(p).await?,
    };
    Ok(v.and_then(|r| r.0))
}
