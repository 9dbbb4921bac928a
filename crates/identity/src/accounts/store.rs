//! User accounts.

#![allow(unused_imports)]

use rampart_db::{on_conn, on_read, on_tx, on_write, Conn, Db, DbError, Result, Tx};
use rampart_kernel::account::{AccountStatus, Role};

/// A stored account.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserRow {
    /// UUID.
    pub id: String,
    /// Normalised username.
    pub username: String,
    /// Normalised e-mail.
    pub email: Option<String>,
    /// PHC string.
    pub password_hash: String,
    /// Role name.
    pub role: String,
    /// Status name.
    pub status: String,
    /// Preferred language (`en`, `et`).
    pub language: Option<String>,
    /// Encrypted TOTP secret.
    pub totp_secret: Option<String>,
    /// TOTP confirmed.
    pub totp_enabled: bool,
    /// Last accepted TOTP step (replay guard).
    pub totp_last_step: Option<i64>,
    /// Who referred this user.
    pub referred_by: Option<String>,
    /// This user's referral code.
    pub referral_code: Option<String>,
    /// Lockout end (Unix ms).
    pub locked_until: Option<i64>,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub updated_at: i64,
    /// Unix ms; tokens issued before it are void.
    pub password_changed_at: i64,
    /// When the current e-mail was verified (Unix ms); `None`: not verified.
    pub email_verified_at: Option<i64>,
}

impl UserRow {
    /// Parsed role.
    pub fn role(&self) -> Result<Role> {
        self.role
            .parse()
            .map_err(|_| DbError::Corrupt(format!("role of user {}", self.id)))
    }
    /// Parsed status.
    pub fn status(&self) -> Result<AccountStatus> {
        self.status
            .parse()
            .map_err(|_| DbError::Corrupt(format!("status of user {}", self.id)))
    }
}

const COLUMNS: &str = "id, username, email, password_hash, role, status, language, totp_secret, \
    totp_enabled, totp_last_step, referred_by, referral_code, locked_until, created_at, updated_at, \
    password_changed_at, email_verified_at";

/// A user to create.
#[derive(Debug, Clone)]
pub struct NewUser<'a> {
    /// Normalised username.
    pub username: &'a str,
    /// Normalised e-mail.
    pub email: Option<&'a str>,
    /// PHC string.
    pub password_hash: &'a str,
    /// Role.
    pub role: Role,
    /// Referrer.
    pub referred_by: Option<&'a str>,
    /// Own referral code.
    pub referral_code: Option<&'a str>,
    /// When the e-mail was verified (`None`: not verified).
    pub email_verified_at: Option<i64>,
    /// Unix ms.
    pub now: i64,
}

/// Creates a user in `tx`; a taken username or e-mail is [`DbError::Conflict`].
pub async fn create(tx: &mut Tx, u: NewUser<'_>) -> Result<String> {
    let id = uuid::Uuid::now_v7().to_string();
    on_tx!(tx, |e| sqlx::query(
        "INSERT INTO users (id, username, email, password_hash, role, status, referred_by, \
         referral_code, created_at, updated_at, password_changed_at, email_verified_at) \
         VALUES ($1, $2, $3, $4, $5, 'active', $6, $7, $8, $8, $8, $9)"
    )
    .bind(&id)
    .bind(u.username)
    .bind(u.email)
    .bind(u.password_hash)
    .bind(u.role.as_str())
    .bind(u.referred_by)
    .bind(u.referral_code)
    .bind(u.now)
    .bind(u.email_verified_at)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(id)
}

/// Finds by username or e-mail (both stored normalised).
pub async fn find_by_login(db: &Db, login: &str) -> Result<Option<UserRow>> {
    let sql = format!("SELECT {COLUMNS} FROM users WHERE username = $1 OR email = $1");
    Ok(on_read!(db, |e| sqlx::query_as::<_, UserRow>(&sql)
        .bind(login)
        .fetch_optional(e)
        .await)?)
}

/// Finds by id, on the pool or inside a transaction.
pub async fn find_by_id(conn: impl Into<Conn<'_>>, id: &str) -> Result<Option<UserRow>> {
    let sql = format!("SELECT {COLUMNS} FROM users WHERE id = $1");
    Ok(on_conn!(conn.into(), |e| sqlx::query_as::<_, UserRow>(
        &sql
    )
    .bind(id)
    .fetch_optional(e)
    .await)?)
}

/// Finds by referral code.
pub async fn find_by_referral_code(db: &Db, code: &str) -> Result<Option<UserRow>> {
    let sql = format!("SELECT {COLUMNS} FROM users WHERE referral_code = $1");
    Ok(on_read!(db, |e| sqlx::query_as::<_, UserRow>(&sql)
        .bind(code)
        .fetch_optional(e)
        .await)?)
}

/// Replaces the password hash (a rehash on login keeps `password_changed_at`).
pub async fn set_password_hash(
    db: &Db,
    id: &str,
    phc: &str,
    now: i64,
    is_change: bool,
) -> Result<()> {
    on_write!(db, |e| sqlx::query(
        "UPDATE users SET password_hash = $2, updated_at = $3, \
         password_changed_at = CASE WHEN $4 THEN $3 ELSE password_changed_at END WHERE id = $1"
    )
    .bind(id)
    .bind(phc)
    .bind(now)
    .bind(is_change)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Sets a password inside a transaction (password change/reset).
pub async fn set_password(tx: &mut Tx, id: &str, phc: &str, now: i64) -> Result<()> {
    on_tx!(tx, |e| {
        sqlx::query(
        "UPDATE users SET password_hash = $2, updated_at = $3, password_changed_at = $3 WHERE id = $1"
    )
    .bind(id)
    .bind(phc)
    .bind(now)
    .execute(e).await.map(|r| r.rows_affected())
    })?;
    Ok(())
}

/// Sets the account status inside a transaction.
pub async fn set_status(tx: &mut Tx, id: &str, status: AccountStatus, now: i64) -> Result<u64> {
    Ok(on_tx!(tx, |e| sqlx::query(
        "UPDATE users SET status = $2, updated_at = $3 WHERE id = $1"
    )
    .bind(id)
    .bind(status.as_str())
    .bind(now)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))?)
}

/// Sets the role inside a transaction.
pub async fn set_role(tx: &mut Tx, id: &str, role: Role, now: i64) -> Result<u64> {
    Ok(on_tx!(tx, |e| sqlx::query(
        "UPDATE users SET role = $2, updated_at = $3 WHERE id = $1"
    )
    .bind(id)
    .bind(role.as_str())
    .bind(now)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))?)
}

/// Sets the preferred language.
pub async fn set_language(db: &Db, id: &str, lang: &str, now: i64) -> Result<()> {
    on_write!(db, |e| sqlx::query(
        "UPDATE users SET language = $2, updated_at = $3 WHERE id = $1"
    )
    .bind(id)
    .bind(lang)
    .bind(now)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Sets an account's address and marks it verified; a taken address is
/// [`DbError::Conflict`].
pub async fn set_verified_email(tx: &mut Tx, user_id: &str, email: &str, now: i64) -> Result<()> {
    on_tx!(tx, |e| sqlx::query(
        "UPDATE users SET email = $2, email_verified_at = $3, updated_at = $3 WHERE id = $1"
    )
    .bind(user_id)
    .bind(email)
    .bind(now)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// The account already using this address, if any: its ID and when its address was
/// verified.
pub async fn email_owner(tx: &mut Tx, email: &str) -> Result<Option<(String, Option<i64>)>> {
    Ok(on_tx!(tx, |e| sqlx::query_as::<_, (String, Option<i64>)>(
        "SELECT id, email_verified_at FROM users WHERE email = $1"
    )
    .bind(email)
    .fetch_optional(e)
    .await)?)
}
