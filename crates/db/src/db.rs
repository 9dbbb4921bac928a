//! Connections, migrations, transactions and the engine dispatch macros.

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, Postgres, Sqlite, SqlitePool};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

/// Errors callers branch on; `Db` wraps everything else.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// A unique constraint refused the write.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The row does not exist.
    #[error("not found")]
    NotFound,
    /// Stored data does not parse (a bug or tampering).
    #[error("corrupt data: {0}")]
    Corrupt(String),
    /// The database failed.
    #[error("database error: {0}")]
    Db(#[source] sqlx::Error),
    /// Migrations failed.
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl From<sqlx::Error> for DbError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::RowNotFound => DbError::NotFound,
            sqlx::Error::Database(d) if d.is_unique_violation() => {
                // PostgreSQL names the constraint; SQLite only says so in the message
                // ("UNIQUE constraint failed: users.email").
                DbError::Conflict(
                    d.constraint()
                        .map(str::to_owned)
                        .unwrap_or_else(|| d.message().to_owned()),
                )
            }
            _ => DbError::Db(e),
        }
    }
}

/// How a SQLite write transaction begins: taking the write lock at once. A deferred
/// `BEGIN` reads first and asks for the lock on its first write; if another process
/// (the standalone worker, an operator's `sqlite3`) committed in between, that
/// upgrade fails at once with `SQLITE_BUSY` (the busy timeout does not apply), and
/// the request failed. `BEGIN IMMEDIATE` waits for the other writer (busy timeout)
/// and then reads what it committed. Within one process the one-connection writer
/// pool already serialises writers.
const SQLITE_BEGIN: &str = "BEGIN IMMEDIATE";

/// The engine behind a [`Db`].
#[derive(Debug, Clone)]
pub enum Engine {
    /// SQLite has one writer: writes and transactions go through a one-connection
    /// pool (which also serialises read-then-write transactions without
    /// `BEGIN IMMEDIATE` upgrade deadlocks); plain reads use the other pool.
    Sqlite {
        /// Readers (WAL lets them run beside the writer).
        read: SqlitePool,
        /// The single writer.
        write: SqlitePool,
    },
    /// PostgreSQL.
    Postgres(PgPool),
}

/// A handle to the database; cheap to clone.
#[derive(Debug, Clone)]
pub struct Db {
    /// The engine and its pools.
    pub engine: Engine,
}

/// An open transaction on either engine; dropped without commit, it rolls back.
pub enum Tx {
    /// SQLite transaction (on the writer).
    Sqlite(sqlx::Transaction<'static, Sqlite>),
    /// PostgreSQL transaction.
    Postgres(sqlx::Transaction<'static, Postgres>),
}

/// Runs `$body` with `$e` bound to an executor for reads.
#[macro_export]
macro_rules! on_read {
    ($db:expr, |$e:ident| $body:expr) => {
        match &$db.engine {
            $crate::Engine::Sqlite { read, .. } => {
                let $e = read;
                $body
            }
            $crate::Engine::Postgres(pool) => {
                let $e = pool;
                $body
            }
        }
    };
}

/// Runs `$body` with `$e` bound to an executor for single-statement writes.
#[macro_export]
macro_rules! on_write {
    ($db:expr, |$e:ident| $body:expr) => {
        match &$db.engine {
            $crate::Engine::Sqlite { write, .. } => {
                let $e = write;
                $body
            }
            $crate::Engine::Postgres(pool) => {
                let $e = pool;
                $body
            }
        }
    };
}

/// Runs `$body` with `$e` bound to the executor behind a [`Conn`]: the read pool
/// (SQLite readers) or the transaction's connection. One query, one function, whether
/// the caller holds a transaction or not.
#[macro_export]
macro_rules! on_conn {
    ($conn:expr, |$e:ident| $body:expr) => {
        match $conn {
            $crate::Conn::Pool(db) => match &db.engine {
                $crate::Engine::Sqlite { read, .. } => {
                    let $e = read;
                    $body
                }
                $crate::Engine::Postgres(pool) => {
                    let $e = pool;
                    $body
                }
            },
            $crate::Conn::Tx(tx) => match tx {
                $crate::Tx::Sqlite(t) => {
                    let $e = &mut **t;
                    $body
                }
                $crate::Tx::Postgres(t) => {
                    let $e = &mut **t;
                    $body
                }
            },
        }
    };
}

/// Like [`on_conn!`] for a write: on the pool it runs on the writer (SQLite's single
/// writer connection), inside a transaction on the transaction's connection.
#[macro_export]
macro_rules! on_conn_write {
    ($conn:expr, |$e:ident| $body:expr) => {
        match $conn {
            $crate::Conn::Pool(db) => match &db.engine {
                $crate::Engine::Sqlite { write, .. } => {
                    let $e = write;
                    $body
                }
                $crate::Engine::Postgres(pool) => {
                    let $e = pool;
                    $body
                }
            },
            $crate::Conn::Tx(tx) => match tx {
                $crate::Tx::Sqlite(t) => {
                    let $e = &mut **t;
                    $body
                }
                $crate::Tx::Postgres(t) => {
                    let $e = &mut **t;
                    $body
                }
            },
        }
    };
}

/// Runs `$body` with `$e` bound to the transaction's connection.
#[macro_export]
macro_rules! on_tx {
    ($tx:expr, |$e:ident| $body:expr) => {
        match $tx {
            $crate::Tx::Sqlite(t) => {
                let $e = &mut **t;
                $body
            }
            $crate::Tx::Postgres(t) => {
                let $e = &mut **t;
                $body
            }
        }
    };
}

impl Db {
    /// Connects to `url`: `postgres://…`/`postgresql://…`, or `sqlite://path`, or a bare
    /// file path (SQLite). SQLite files are created with WAL, foreign keys and a busy
    /// timeout.
    pub async fn connect(url: &str, max_connections: u32) -> crate::Result<Db> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let opts = PgConnectOptions::from_str(url)?;
            let pool = PgPoolOptions::new()
                .max_connections(max_connections.max(2))
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(opts)
                .await?;
            return Ok(Db {
                engine: Engine::Postgres(pool),
            });
        }
        let path = url.strip_prefix("sqlite://").unwrap_or(url);
        let path = path.strip_prefix("sqlite:").unwrap_or(path);
        if let Some(parent) = Path::new(path).parent() {
            if !parent.as_os_str().is_empty() {
                std::fs::create_dir_all(parent).map_err(|e| DbError::Db(sqlx::Error::Io(e)))?;
            }
        }
        let opts = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(opts.clone())
            .await?;
        let read = SqlitePoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(opts.read_only(false))
            .await?;
        Ok(Db {
            engine: Engine::Sqlite { read, write },
        })
    }

    /// `sqlite` or `postgres`.
    pub fn engine_name(&self) -> &'static str {
        match self.engine {
            Engine::Sqlite { .. } => "sqlite",
            Engine::Postgres(_) => "postgres",
        }
    }

    /// Applies pending migrations of this engine's folder.
    pub async fn migrate(&self) -> crate::Result<()> {
        match &self.engine {
            Engine::Sqlite { write, .. } => {
                sqlx::migrate!("./migrations/sqlite").run(write).await?
            }
            Engine::Postgres(pool) => sqlx::migrate!("./migrations/postgres").run(pool).await?,
        }
        Ok(())
    }

    /// Versions of this engine's migrations not yet applied here. On PostgreSQL it
    /// only reads `_sqlx_migrations` (the application role may read it), so a server
    /// connected as the non-owner role can tell whether the owner has migrated.
    pub async fn pending_migrations(&self) -> crate::Result<Vec<i64>> {
        let migrator = match &self.engine {
            Engine::Sqlite { .. } => sqlx::migrate!("./migrations/sqlite"),
            Engine::Postgres(_) => sqlx::migrate!("./migrations/postgres"),
        };
        let applied: Vec<i64> = match &self.engine {
            Engine::Sqlite { read, .. } => {
                let exists: Option<(String,)> = sqlx::query_as(
                    "SELECT name FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
                )
                .fetch_optional(read)
                .await?;
                if exists.is_none() {
                    Vec::new()
                } else {
                    sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
                        .fetch_all(read)
                        .await?
                }
            }
            Engine::Postgres(pool) => {
                let exists: Option<String> =
                    sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations')::text")
                        .fetch_one(pool)
                        .await?;
                if exists.is_none() {
                    Vec::new()
                } else {
                    sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
                        .fetch_all(pool)
                        .await?
                }
            }
        };
        Ok(migrator
            .iter()
            .map(|m| m.version)
            .filter(|v| !applied.contains(v))
            .collect())
    }

    /// Who this handle connects as, for the row-level-security start-up check:
    /// `None` on SQLite (no roles). See [`RolePosture::bypasses_rls`].
    pub async fn role_posture(&self) -> crate::Result<Option<RolePosture>> {
        let Engine::Postgres(pool) = &self.engine else {
            return Ok(None);
        };
        let (role, superuser, bypassrls, database, schema): (String, bool, bool, String, String) =
            sqlx::query_as(
                "SELECT current_user::text, rolsuper, rolbypassrls, current_database()::text, \
                 COALESCE(current_schema()::text, '') FROM pg_roles WHERE rolname = current_user",
            )
            .fetch_one(pool)
            .await?;
        // Owning a table (directly or through an inherited role) exempts from its
        // policies unless FORCE ROW LEVEL SECURITY; pg_has_role(…, 'USAGE') is the
        // same test PostgreSQL applies.
        let mut owns: Vec<String> = sqlx::query_scalar(
            "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') \
             AND c.relrowsecurity AND NOT c.relforcerowsecurity \
             AND pg_has_role(current_user, c.relowner, 'USAGE')",
        )
        .fetch_all(pool)
        .await?;
        owns.sort();
        Ok(Some(RolePosture {
            role,
            superuser,
            bypassrls,
            owns_rls_tables: owns,
            database,
            schema,
        }))
    }

    /// Begins a transaction (on SQLite, on the single writer).
    pub async fn begin(&self) -> crate::Result<Tx> {
        Ok(match &self.engine {
            Engine::Sqlite { write, .. } => Tx::Sqlite(write.begin_with(SQLITE_BEGIN).await?),
            Engine::Postgres(pool) => Tx::Postgres(pool.begin().await?),
        })
    }

    /// Begins a transaction whose commit may be acknowledged before it is durable:
    /// PostgreSQL's `SET LOCAL synchronous_commit = off`, sent with the `BEGIN` in one
    /// round trip. A crash of the database server (not of Rampart) may lose the last
    /// few hundred milliseconds of such commits, whole and atomically; it never
    /// corrupts anything and never delays or weakens any other transaction. Only for
    /// low-value state that the client simply makes again (a storefront cart), never
    /// for money, orders, the ledger, identity or audit-bearing changes — see
    /// `docs/design/checkout.md`. On SQLite it is [`Db::begin`] (WAL with
    /// `synchronous = NORMAL` already: durable across a crash of the process).
    pub async fn begin_async_commit(&self) -> crate::Result<Tx> {
        Ok(match &self.engine {
            Engine::Sqlite { write, .. } => Tx::Sqlite(write.begin_with(SQLITE_BEGIN).await?),
            Engine::Postgres(pool) => Tx::Postgres(
                pool.begin_with("BEGIN; SET LOCAL synchronous_commit = off")
                    .await?,
            ),
        })
    }

    /// Cheap round trip for readiness checks.
    pub async fn ping(&self) -> crate::Result<()> {
        on_read!(self, |e| sqlx::query("SELECT 1")
            .execute(e)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Every (table, column) of the application schema, sorted; used to prove both
    /// engines' migrations define the same schema.
    pub async fn schema_columns(&self) -> crate::Result<Vec<(String, String)>> {
        let mut cols: Vec<(String, String)> = match &self.engine {
            Engine::Sqlite { read, .. } => {
                sqlx::query_as(
                    "SELECT m.name, p.name FROM sqlite_master m JOIN pragma_table_info(m.name) p \
                     WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name NOT LIKE '_sqlx%'",
                )
                .fetch_all(read)
                .await?
            }
            Engine::Postgres(pool) => {
                sqlx::query_as(
                    "SELECT table_name::text, column_name::text FROM information_schema.columns \
                     WHERE table_schema = current_schema() AND table_name NOT LIKE '_sqlx%'",
                )
                .fetch_all(pool)
                .await?
            }
        };
        cols.sort();
        Ok(cols)
    }

    /// Closes every pool (flushes SQLite's WAL on the last connection).
    pub async fn close(&self) {
        match &self.engine {
            Engine::Sqlite { read, write } => {
                read.close().await;
                write.close().await;
            }
            Engine::Postgres(pool) => pool.close().await,
        }
    }
}

/// Where a query runs: on the pool (reads; each statement its own transaction) or
/// inside an open transaction. Repository functions take `impl Into<Conn<'_>>`, so
/// `&db` and `&mut tx` both work and no query has a `*_tx` twin.
pub enum Conn<'c> {
    /// The pool (on SQLite, the readers).
    Pool(&'c Db),
    /// An open transaction.
    Tx(&'c mut Tx),
}

impl Conn<'_> {
    /// The same connection for one more call (a transaction is lent, not given away).
    pub fn reborrow(&mut self) -> Conn<'_> {
        match self {
            Conn::Pool(db) => Conn::Pool(db),
            Conn::Tx(tx) => Conn::Tx(tx),
        }
    }
}

impl<'c> From<&'c Db> for Conn<'c> {
    fn from(db: &'c Db) -> Self {
        Conn::Pool(db)
    }
}

impl<'c> From<&'c mut Tx> for Conn<'c> {
    fn from(tx: &'c mut Tx) -> Self {
        Conn::Tx(tx)
    }
}

/// The PostgreSQL role behind a [`Db`], as far as row-level security cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolePosture {
    /// `current_user`.
    pub role: String,
    /// A superuser: RLS never applies.
    pub superuser: bool,
    /// `BYPASSRLS`: RLS never applies.
    pub bypassrls: bool,
    /// Tables with RLS enabled (not forced) that this role owns, directly or through
    /// an inherited role: their policies do not apply to it.
    pub owns_rls_tables: Vec<String>,
    /// `current_database()`.
    pub database: String,
    /// `current_schema()` (where the tables are).
    pub schema: String,
}

impl RolePosture {
    /// Whether some row-level-security policy does not bind this role.
    pub fn bypasses_rls(&self) -> bool {
        self.superuser || self.bypassrls || !self.owns_rls_tables.is_empty()
    }

    /// Why it is not bound, in words for a log line or an error (no secrets: the
    /// role name only).
    pub fn reasons(&self) -> Vec<String> {
        let mut r = Vec::new();
        if self.superuser {
            r.push(format!("role {} is a superuser", self.role));
        }
        if self.bypassrls {
            r.push(format!("role {} has BYPASSRLS", self.role));
        }
        if !self.owns_rls_tables.is_empty() {
            r.push(format!(
                "role {} owns {} table(s) with row-level security ({}…)",
                self.role,
                self.owns_rls_tables.len(),
                self.owns_rls_tables[0]
            ));
        }
        r
    }
}

/// Who a transaction acts for, for PostgreSQL row-level security (F4).
#[derive(Debug, Clone, Copy, Default)]
pub struct RlsContext<'a> {
    /// `app.user_id`: the signed-in user, if any.
    pub user_id: Option<&'a str>,
    /// `app.workspace_id`: the store (workspace) the request acts in, if any.
    pub workspace_id: Option<&'a str>,
}

impl Tx {
    /// Sets the row-level-security context for the rest of this transaction only
    /// (`set_config(…, true)`, never a session-level `SET` that would leak to the next
    /// user of the pooled connection). A no-op on SQLite, where the same filters are
    /// applied in code.
    pub async fn set_context(&mut self, ctx: RlsContext<'_>) -> crate::Result<()> {
        if let Tx::Postgres(t) = self {
            sqlx::query(
                "SELECT set_config('app.user_id', $1, true), set_config('app.workspace_id', $2, true)",
            )
            .bind(ctx.user_id.unwrap_or(""))
            .bind(ctx.workspace_id.unwrap_or(""))
            .execute(&mut **t)
            .await?;
        }
        Ok(())
    }

    /// Commits.
    pub async fn commit(self) -> crate::Result<()> {
        match self {
            Tx::Sqlite(t) => t.commit().await?,
            Tx::Postgres(t) => t.commit().await?,
        }
        Ok(())
    }
    /// Rolls back explicitly (dropping does the same).
    pub async fn rollback(self) -> crate::Result<()> {
        match self {
            Tx::Sqlite(t) => t.rollback().await?,
            Tx::Postgres(t) => t.rollback().await?,
        }
        Ok(())
    }
}
