//! Failed logins and lockouts.

#![allow(unused_imports)]

use rampart_db::{on_conn, on_read, on_tx, on_write, Conn, Db, DbError, Result, Tx};

/// Records a failed login for the lockout window.
pub async fn record_failure(db: &Db, user_id: &str, now: i64) -> Result<()> {
    on_write!(db, |e| sqlx::query(
        "INSERT INTO login_failures (id, user_id, at) VALUES ($1, $2, $3)"
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(user_id)
    .bind(now)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// The write [`record_failure`] costs, for a login name with no account: a statement
/// that matches no row (the unknown-account path does the same work as the known one).
pub async fn record_no_failure(db: &Db, now: i64) -> Result<()> {
    on_write!(db, |e| sqlx::query(
        "DELETE FROM login_failures WHERE user_id = '' AND at = $1"
    )
    .bind(now)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Failures since `since`.
pub async fn failures_since(db: &Db, user_id: &str, since: i64) -> Result<i64> {
    let (n,): (i64,) = on_read!(db, |e| sqlx::query_as(
        "SELECT COUNT(*) FROM login_failures WHERE user_id = $1 AND at > $2"
    )
    .bind(user_id)
    .bind(since)
    .fetch_one(e)
    .await)?;
    Ok(n)
}

/// Clears failures (after a success or when a lockout starts) and sets `locked_until`.
pub async fn set_lock(db: &Db, user_id: &str, locked_until: Option<i64>) -> Result<()> {
    on_write!(db, |e| sqlx::query(
        "DELETE FROM login_failures WHERE user_id = $1"
    )
    .bind(user_id)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))?;
    on_write!(db, |e| sqlx::query(
        "UPDATE users SET locked_until = $2 WHERE id = $1"
    )
    .bind(user_id)
    .bind(locked_until)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}
