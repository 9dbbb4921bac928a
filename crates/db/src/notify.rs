//! Cross-process notifications over PostgreSQL `LISTEN`/`NOTIFY` (the real-time
//! layer's bus between server instances). Nothing here knows what a payload means.
//!
//! A channel is per database *and schema*: `NOTIFY` is database-wide, so two
//! deployments (or test runs) sharing a database in different schemas would hear
//! each other; [`Db::notify_channel`] appends the connection's current schema.
//! SQLite has no such mechanism: [`Db::listen`] answers `None` and
//! [`Db::notify_batch`] does nothing (one process is one instance there).

use crate::db::{Db, DbError, Engine};

/// Largest payload PostgreSQL accepts in one notification is 8 000 bytes; callers
/// keep theirs under this.
pub const NOTIFY_PAYLOAD_MAX: usize = 7_900;

/// A `LISTEN`ing connection.
pub struct Listener {
    inner: sqlx::postgres::PgListener,
}

/// What [`Listener::recv`] hands back.
#[derive(Debug)]
pub enum Heard {
    /// One notification's payload.
    Payload(String),
    /// The connection was lost and is being re-established: notifications sent
    /// meanwhile may be lost (the caller re-checks whatever it must not miss).
    Reconnected,
    /// The pool was closed (the server is stopping): stop listening.
    Closed,
}

impl Listener {
    /// The next notification (waits). Reconnects by itself after a lost connection.
    pub async fn recv(&mut self) -> Result<Heard, DbError> {
        match self.inner.try_recv().await {
            Ok(Some(n)) => Ok(Heard::Payload(n.payload().to_owned())),
            Ok(None) => Ok(Heard::Reconnected),
            Err(sqlx::Error::PoolClosed) => Ok(Heard::Closed),
            Err(e) => Err(e.into()),
        }
    }
}

impl Db {
    /// `base` suffixed with the current schema (PostgreSQL), at most 63 bytes (the
    /// identifier limit). `base` itself on SQLite.
    pub async fn notify_channel(&self, base: &str) -> Result<String, DbError> {
        match &self.engine {
            Engine::Sqlite { .. } => Ok(base.to_owned()),
            Engine::Postgres(p) => {
                let (schema,): (Option<String>,) = sqlx::query_as("SELECT current_schema()")
                    .fetch_one(p)
                    .await?;
                let mut c = format!("{base}_{}", schema.unwrap_or_default());
                c.retain(|ch| ch.is_ascii_alphanumeric() || ch == '_');
                c.truncate(63);
                Ok(c)
            }
        }
    }

    /// Starts listening on `channel`; `None` on SQLite.
    pub async fn listen(&self, channel: &str) -> Result<Option<Listener>, DbError> {
        match &self.engine {
            Engine::Sqlite { .. } => Ok(None),
            Engine::Postgres(p) => {
                let mut inner = sqlx::postgres::PgListener::connect_with(p).await?;
                inner.listen(channel).await?;
                Ok(Some(Listener { inner }))
            }
        }
    }

    /// Sends every payload on `channel` in one statement (one round trip however many
    /// there are). A no-op on SQLite and for an empty list.
    pub async fn notify_batch(&self, channel: &str, payloads: &[String]) -> Result<(), DbError> {
        let Engine::Postgres(p) = &self.engine else {
            return Ok(());
        };
        if payloads.is_empty() {
            return Ok(());
        }
        sqlx::query("SELECT pg_notify($1, x) FROM unnest($2::text[]) AS t(x)")
            .bind(channel)
            .bind(payloads)
            .execute(p)
            .await?;
        Ok(())
    }
}
