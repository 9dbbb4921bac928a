//! SQL of `stores` and `store_members`.

use rampart_db::{on_conn, on_tx, Conn, Result, Tx};

/// A stored store.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoreRow {
    pub id: String,
    pub name: String,
    pub description: String,
    pub currency: String,
    pub auto_release_days: i64,
    pub min_order_minor: Option<i64>,
    pub status: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A store with the caller's membership role.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoreWithRole {
    #[sqlx(flatten)]
    pub store: StoreRow,
    pub member_role: Option<String>,
}

/// A stored membership.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MemberRow {
    pub user_id: String,
    pub role: String,
    pub created_at: i64,
}

const COLUMNS: &str =
    "s.id, s.name, s.description, s.currency, s.auto_release_days, s.min_order_minor, s.status, \
     s.created_at, s.updated_at";

/// Inserts a store.
pub async fn insert(tx: &mut Tx, s: &StoreRow) -> Result<()> {
    on_tx!(tx, |e| {
        sqlx::query(
        "INSERT INTO stores (id, name, description, currency, auto_release_days, status, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
    )
    .bind(&s.id)
    .bind(&s.name)
    .bind(&s.description)
    .bind(&s.currency)
    .bind(s.auto_release_days)
    .bind(&s.status)
    .bind(s.created_at)
    .bind(s.updated_at)
    .execute(e)
    .await
    .map(|r| r.rows_affected())
    })?;
    Ok(())
}

/// A store and `user`'s role in it (one query: the membership decides access).
pub async fn find_with_role(
    conn: impl Into<Conn<'_>>,
    store_id: &str,
    user_id: &str,
) -> Result<Option<StoreWithRole>> {
    let sql = format!(
        "SELECT {COLUMNS}, m.role AS member_role FROM stores s \
         LEFT JOIN store_members m ON m.store_id = s.id AND m.user_id = $2 WHERE s.id = $1"
    );
    Ok(on_conn!(conn.into(), |e| {
        sqlx::query_as::<_, StoreWithRole>(&sql)
            .bind(store_id)
            .bind(user_id)
            .fetch_optional(e)
            .await
    })?)
}

/// Every store `user` is a member of, with the role.
pub async fn of_member(conn: impl Into<Conn<'_>>, user_id: &str) -> Result<Vec<StoreWithRole>> {
    let sql = format!(
        "SELECT {COLUMNS}, m.role AS member_role FROM store_members m \
         JOIN stores s ON s.id = m.store_id WHERE m.user_id = $1 ORDER BY s.created_at, s.id"
    );
    Ok(on_conn!(conn.into(), |e| {
        sqlx::query_as::<_, StoreWithRole>(&sql)
            .bind(user_id)
            .fetch_all(e)
            .await
    })?)
}

/// Replaces the settings.
pub async fn update(tx: &mut Tx, s: &StoreRow) -> Result<u64> {
    Ok(on_tx!(tx, |e| sqlx::query(
        "UPDATE stores SET name = $2, description = $3, currency = $4, auto_release_days = $5, \
         updated_at = $6, min_order_minor = $7 WHERE id = $1"
    )
    .bind(&s.id)
    .bind(&s.name)
    .bind(&s.description)
    .bind(&s.currency)
    .bind(s.auto_release_days)
    .bind(s.updated_at)
    .bind(s.min_order_minor)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))?)
}

/// Adds a member; an existing membership is a conflict.
pub async fn add_member(
    tx: &mut Tx,
    store_id: &str,
    user_id: &str,
    role: &str,
    now: i64,
) -> Result<()> {
    on_tx!(tx, |e| sqlx::query(
        "INSERT INTO store_members (store_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)"
    )
    .bind(store_id)
    .bind(user_id)
    .bind(role)
    .bind(now)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// The members of a store.
pub async fn members(conn: impl Into<Conn<'_>>, store_id: &str) -> Result<Vec<MemberRow>> {
    Ok(on_conn!(conn.into(), |e| {
        sqlx::query_as::<_, MemberRow>(
        "SELECT user_id, role, created_at FROM store_members WHERE store_id = $1 ORDER BY created_at, user_id"
    )
    .bind(store_id)
    .fetch_all(e)
    .await
    })?)
}

/// One member's role.
pub async fn member_role(tx: &mut Tx, store_id: &str, user_id: &str) -> Result<Option<String>> {
    Ok(on_tx!(tx, |e| sqlx::query_scalar::<_, String>(
        "SELECT role FROM store_members WHERE store_id = $1 AND user_id = $2"
    )
    .bind(store_id)
    .bind(user_id)
    .fetch_optional(e)
    .await)?)
}

/// Takes the store row's write lock for the rest of the transaction (a no-op update):
/// membership changes of one store are serialised, so two owners leaving at once
/// cannot both pass the last-owner check (SQLite has one writer anyway).
pub async fn lock(tx: &mut Tx, store_id: &str) -> Result<u64> {
    Ok(on_tx!(tx, |e| sqlx::query(
        "UPDATE stores SET updated_at = updated_at WHERE id = $1"
    )
    .bind(store_id)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))?)
}

/// Removes a member unless they are the last owner; returns rows removed (call
/// [`lock`] first).
pub async fn remove_member(tx: &mut Tx, store_id: &str, user_id: &str) -> Result<u64> {
    Ok(on_tx!(tx, |e| sqlx::query(
        "DELETE FROM store_members WHERE store_id = $1 AND user_id = $2 AND (role <> 'owner' OR \
         (SELECT COUNT(*) FROM store_members o WHERE o.store_id = $1 AND o.role = 'owner') > 1)"
    )
    .bind(store_id)
    .bind(user_id)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))?)
}

/// Changes a member's role unless that demotes the last owner.
pub async fn set_member_role(
    tx: &mut Tx,
    store_id: &str,
    user_id: &str,
    role: &str,
) -> Result<u64> {
    Ok(on_tx!(tx, |e| sqlx::query(
        "UPDATE store_members SET role = $3 WHERE store_id = $1 AND user_id = $2 AND \
         (role <> 'owner' OR $3 = 'owner' OR \
          (SELECT COUNT(*) FROM store_members o WHERE o.store_id = $1 AND o.role = 'owner') > 1)"
    )
    .bind(store_id)
    .bind(user_id)
    .bind(role)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))?)
}
