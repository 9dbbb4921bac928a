//! The SQL of the messaging tables, written once with `$n` placeholders for both
//! engines. Message IDs are UUIDv7 text, so `ORDER BY id` is time order and `id < $n`
//! is a keyset cursor.

use rampart_db::{on_conn, on_tx, Conn, Result, Tx};

/// A conversation's participants (stored sorted).
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct ConvRow {
    pub id: String,
    pub user_low: String,
    pub user_high: String,
}

/// A stored message.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct MessageRow {
    pub id: String,
    pub conversation_id: String,
    pub sender_id: String,
    pub content_type: String,
    pub payload: Vec<u8>,
    pub created_at: i64,
}

/// One inbox line: the conversation, its last message, the caller's unread count.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct InboxRow {
    pub user_low: String,
    pub user_high: String,
    pub id: String,
    pub conversation_id: String,
    pub sender_id: String,
    pub content_type: String,
    pub payload: Vec<u8>,
    pub created_at: i64,
    pub unread: i64,
}

const MESSAGE_COLUMNS: &str = "id, conversation_id, sender_id, content_type, payload, created_at";

// ----- blocks -----------------------------------------------------------------------

/// The blockers among the pair (a, b): who has blocked whom, either direction.
pub(crate) async fn blockers_between(
    conn: impl Into<Conn<'_>>,
    a: &str,
    b: &str,
) -> Result<Vec<String>> {
    let rows: Vec<(String,)> = on_conn!(conn.into(), |e| sqlx::query_as(
        "SELECT blocker_id FROM user_blocks \
         WHERE (blocker_id = $1 AND blocked_id = $2) OR (blocker_id = $2 AND blocked_id = $1)"
    )
    .bind(a)
    .bind(b)
    .fetch_all(e)
    .await)?;
    Ok(rows.into_iter().map(|r| r.0).collect())
}

/// Blocks; blocking twice keeps the first row. True when a row was written.
pub(crate) async fn insert_block(
    tx: &mut Tx,
    blocker: &str,
    blocked: &str,
    now: i64,
) -> Result<bool> {
    let n = on_tx!(tx, |e| sqlx::query(
        "INSERT INTO user_blocks (blocker_id, blocked_id, created_at) VALUES ($1, $2, $3) \
         ON CONFLICT (blocker_id, blocked_id) DO NOTHING"
    )
    .bind(blocker)
    .bind(blocked)
    .bind(now)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

/// Lifts a block. True when there was one.
pub(crate) async fn delete_block(tx: &mut Tx, blocker: &str, blocked: &str) -> Result<bool> {
    let n = on_tx!(tx, |e| sqlx::query(
        "DELETE FROM user_blocks WHERE blocker_id = $1 AND blocked_id = $2"
    )
    .bind(blocker)
    .bind(blocked)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

/// Whom `blocker` has blocked, oldest first: (user, since).
pub(crate) async fn blocked_by(
    conn: impl Into<Conn<'_>>,
    blocker: &str,
) -> Result<Vec<(String, i64)>> {
    Ok(on_conn!(conn.into(), |e| sqlx::query_as(
        "SELECT blocked_id, created_at FROM user_blocks WHERE blocker_id = $1 \
         ORDER BY created_at, blocked_id"
    )
    .bind(blocker)
    .fetch_all(e)
    .await)?)
}

// ----- conversations and messages ------------------------------------------------------

/// The conversation of the sorted pair (low, high), created if missing; its ID.
pub(crate) async fn conversation_id_for_pair(
    tx: &mut Tx,
    fresh_id: &str,
    low: &str,
    high: &str,
    now: i64,
) -> Result<String> {
    on_tx!(tx, |e| sqlx::query(
        "INSERT INTO conversations (id, user_low, user_high, last_message_id, created_at) \
         VALUES ($1, $2, $3, NULL, $4) ON CONFLICT (user_low, user_high) DO NOTHING"
    )
    .bind(fresh_id)
    .bind(low)
    .bind(high)
    .bind(now)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))?;
    let (id,): (String,) = on_tx!(tx, |e| sqlx::query_as(
        "SELECT id FROM conversations WHERE user_low = $1 AND user_high = $2"
    )
    .bind(low)
    .bind(high)
    .fetch_one(e)
    .await)?;
    Ok(id)
}

pub(crate) async fn conversation(conn: impl Into<Conn<'_>>, id: &str) -> Result<Option<ConvRow>> {
    Ok(on_conn!(conn.into(), |e| sqlx::query_as(
        "SELECT id, user_low, user_high FROM conversations WHERE id = $1"
    )
    .bind(id)
    .fetch_optional(e)
    .await)?)
}

pub(crate) async fn conversation_of_pair(
    conn: impl Into<Conn<'_>>,
    low: &str,
    high: &str,
) -> Result<Option<ConvRow>> {
    Ok(on_conn!(conn.into(), |e| sqlx::query_as(
        "SELECT id, user_low, user_high FROM conversations WHERE user_low = $1 AND user_high = $2"
    )
    .bind(low)
    .bind(high)
    .fetch_optional(e)
    .await)?)
}

pub(crate) async fn insert_message(tx: &mut Tx, m: &MessageRow) -> Result<()> {
    on_tx!(tx, |e| sqlx::query(
        "INSERT INTO messages (id, conversation_id, sender_id, content_type, payload, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)"
    )
    .bind(&m.id)
    .bind(&m.conversation_id)
    .bind(&m.sender_id)
    .bind(&m.content_type)
    .bind(&m.payload)
    .bind(m.created_at)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Moves the conversation's inbox key forward to `message_id` (never back).
pub(crate) async fn advance_last_message(
    tx: &mut Tx,
    conversation_id: &str,
    message_id: &str,
) -> Result<()> {
    on_tx!(tx, |e| sqlx::query(
        "UPDATE conversations SET last_message_id = $1 \
         WHERE id = $2 AND (last_message_id IS NULL OR last_message_id < $1)"
    )
    .bind(message_id)
    .bind(conversation_id)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// A page of a conversation, newest first, strictly before `before` when given.
pub(crate) async fn messages_page(
    conn: impl Into<Conn<'_>>,
    conversation_id: &str,
    before: Option<&str>,
    limit: i64,
) -> Result<Vec<MessageRow>> {
    let cursor = if before.is_some() { " AND id < $3" } else { "" };
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages WHERE conversation_id = $1{cursor} \
         ORDER BY id DESC LIMIT $2"
    );
    Ok(on_conn!(conn.into(), |e| {
        let q = sqlx::query_as(&sql).bind(conversation_id).bind(limit);
        let q = match before {
            Some(b) => q.bind(b),
            None => q,
        };
        q.fetch_all(e).await
    })?)
}

/// The message if it belongs to `conversation_id`.
pub(crate) async fn message_in(
    conn: impl Into<Conn<'_>>,
    message_id: &str,
    conversation_id: &str,
) -> Result<Option<MessageRow>> {
    let sql =
        format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = $1 AND conversation_id = $2");
    Ok(on_conn!(conn.into(), |e| sqlx::query_as(&sql)
        .bind(message_id)
        .bind(conversation_id)
        .fetch_optional(e)
        .await)?)
}

/// A message by ID.
pub(crate) async fn message(
    conn: impl Into<Conn<'_>>,
    message_id: &str,
) -> Result<Option<MessageRow>> {
    let sql = format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = $1");
    Ok(on_conn!(conn.into(), |e| sqlx::query_as(&sql)
        .bind(message_id)
        .fetch_optional(e)
        .await)?)
}

/// The inbox of `user`: conversations with at least one message, newest last message
/// first, strictly older than `before` when given, with the unread count.
pub(crate) async fn inbox(
    conn: impl Into<Conn<'_>>,
    user: &str,
    before: Option<&str>,
    limit: i64,
) -> Result<Vec<InboxRow>> {
    let cursor = if before.is_some() {
        " AND c.last_message_id < $3"
    } else {
        ""
    };
    let sql = format!(
        "SELECT c.user_low, c.user_high, m.id, m.conversation_id, m.sender_id, \
         m.content_type, m.payload, m.created_at, \
         (SELECT COUNT(*) FROM messages u WHERE u.conversation_id = c.id \
            AND u.sender_id <> $1 \
            AND u.id > COALESCE((SELECT r.last_read_message_id FROM message_reads r \
                                 WHERE r.conversation_id = c.id AND r.user_id = $1), '')) \
           AS unread \
         FROM conversations c JOIN messages m ON m.id = c.last_message_id \
         WHERE (c.user_low = $1 OR c.user_high = $1){cursor} \
         ORDER BY c.last_message_id DESC LIMIT $2"
    );
    Ok(on_conn!(conn.into(), |e| {
        let q = sqlx::query_as(&sql).bind(user).bind(limit);
        let q = match before {
            Some(b) => q.bind(b),
            None => q,
        };
        q.fetch_all(e).await
    })?)
}

// ----- read state -----------------------------------------------------------------

/// Moves `user`'s read pointer in the conversation to `message_id` if that is
/// further on. True when it moved.
pub(crate) async fn advance_read(
    tx: &mut Tx,
    conversation_id: &str,
    user: &str,
    message_id: &str,
    now: i64,
) -> Result<bool> {
    let n = on_tx!(tx, |e| sqlx::query(
        "INSERT INTO message_reads (conversation_id, user_id, last_read_message_id, read_at) \
         VALUES ($1, $2, $3, $4) \
         ON CONFLICT (conversation_id, user_id) DO UPDATE \
         SET last_read_message_id = excluded.last_read_message_id, read_at = excluded.read_at \
         WHERE message_reads.last_read_message_id < excluded.last_read_message_id"
    )
    .bind(conversation_id)
    .bind(user)
    .bind(message_id)
    .bind(now)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

/// Read pointers of a conversation: (user, last read message, read at).
pub(crate) async fn reads(
    conn: impl Into<Conn<'_>>,
    conversation_id: &str,
) -> Result<Vec<(String, String, i64)>> {
    Ok(on_conn!(conn.into(), |e| sqlx::query_as(
        "SELECT user_id, last_read_message_id, read_at FROM message_reads \
         WHERE conversation_id = $1"
    )
    .bind(conversation_id)
    .fetch_all(e)
    .await)?)
}

// ----- reports ----------------------------------------------------------------------

/// A stored report.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct ReportRow {
    pub id: String,
    pub message_id: String,
    pub reporter_id: String,
    pub reason: String,
    pub status: String,
    pub created_at: i64,
}

/// Inserts an open report; a second report of the same message by the same user
/// writes nothing (false).
pub(crate) async fn insert_report(tx: &mut Tx, r: &ReportRow) -> Result<bool> {
    let n = on_tx!(tx, |e| {
        sqlx::query(
        "INSERT INTO message_reports (id, message_id, reporter_id, reason, status, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (message_id, reporter_id) DO NOTHING"
    )
    .bind(&r.id)
    .bind(&r.message_id)
    .bind(&r.reporter_id)
    .bind(&r.reason)
    .bind(&r.status)
    .bind(r.created_at)
    .execute(e)
    .await
    .map(|r| r.rows_affected())
    })?;
    Ok(n == 1)
}

pub(crate) async fn report_of(
    conn: impl Into<Conn<'_>>,
    message_id: &str,
    reporter: &str,
) -> Result<Option<ReportRow>> {
    Ok(on_conn!(conn.into(), |e| sqlx::query_as(
        "SELECT id, message_id, reporter_id, reason, status, created_at FROM message_reports \
         WHERE message_id = $1 AND reporter_id = $2"
    )
    .bind(message_id)
    .bind(reporter)
    .fetch_optional(e)
    .await)?)
}

// ----- prekeys ----------------------------------------------------------------------

/// A stored bundle (without one-time prekeys).
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct BundleRow {
    pub identity_key: Vec<u8>,
    pub signed_prekey_id: i64,
    pub signed_prekey: Vec<u8>,
    pub signed_prekey_signature: Vec<u8>,
}

/// The user's bundle. On PostgreSQL `lock` takes `FOR UPDATE` (a publish) or
/// `FOR SHARE` (a claim, so a publish cannot swap the identity mid-claim); SQLite
/// transactions already run one at a time on its writer.
pub(crate) async fn bundle(tx: &mut Tx, user: &str, exclusive: bool) -> Result<Option<BundleRow>> {
    let lock = match (&*tx, exclusive) {
        (Tx::Postgres(_), true) => " FOR UPDATE",
        (Tx::Postgres(_), false) => " FOR SHARE",
        (Tx::Sqlite(_), _) => "",
    };
    let sql = format!(
        "SELECT identity_key, signed_prekey_id, signed_prekey, signed_prekey_signature \
         FROM prekey_bundles WHERE user_id = $1{lock}"
    );
    Ok(on_tx!(tx, |e| sqlx::query_as(&sql)
        .bind(user)
        .fetch_optional(e)
        .await)?)
}

pub(crate) async fn upsert_bundle(tx: &mut Tx, user: &str, b: &BundleRow, now: i64) -> Result<()> {
    on_tx!(tx, |e| sqlx::query(
        "INSERT INTO prekey_bundles (user_id, identity_key, signed_prekey_id, signed_prekey, \
         signed_prekey_signature, updated_at) VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (user_id) DO UPDATE SET identity_key = excluded.identity_key, \
         signed_prekey_id = excluded.signed_prekey_id, signed_prekey = excluded.signed_prekey, \
         signed_prekey_signature = excluded.signed_prekey_signature, \
         updated_at = excluded.updated_at"
    )
    .bind(user)
    .bind(&b.identity_key)
    .bind(b.signed_prekey_id)
    .bind(&b.signed_prekey)
    .bind(&b.signed_prekey_signature)
    .bind(now)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

pub(crate) async fn delete_one_time_prekeys(tx: &mut Tx, user: &str) -> Result<u64> {
    Ok(on_tx!(tx, |e| sqlx::query(
        "DELETE FROM one_time_prekeys WHERE user_id = $1"
    )
    .bind(user)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))?)
}

/// Inserts one one-time prekey; an ID the user already has is refused by the
/// primary key (`DbError::Conflict`).
pub(crate) async fn insert_one_time_prekey(
    tx: &mut Tx,
    user: &str,
    key_id: i64,
    public_key: &[u8],
    now: i64,
) -> Result<()> {
    on_tx!(tx, |e| sqlx::query(
        "INSERT INTO one_time_prekeys (user_id, key_id, public_key, created_at) \
         VALUES ($1, $2, $3, $4)"
    )
    .bind(user)
    .bind(key_id)
    .bind(public_key)
    .bind(now)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

pub(crate) async fn count_one_time_prekeys(conn: impl Into<Conn<'_>>, user: &str) -> Result<i64> {
    let (n,): (i64,) = on_conn!(conn.into(), |e| sqlx::query_as(
        "SELECT COUNT(*) FROM one_time_prekeys WHERE user_id = $1"
    )
    .bind(user)
    .fetch_one(e)
    .await)?;
    Ok(n)
}

/// Takes one one-time prekey of `user` (the lowest ID free to take): one statement
/// that deletes the row and returns it, so the row is handed out by exactly the
/// transaction that deleted it. On PostgreSQL the row is chosen `FOR UPDATE SKIP
/// LOCKED`: concurrent claims lock different rows instead of queueing on one (a row
/// deleted by a claim that committed meanwhile is skipped, not returned). SQLite runs
/// one writer transaction at a time.
pub(crate) async fn take_one_time_prekey(
    tx: &mut Tx,
    user: &str,
) -> Result<Option<(i64, Vec<u8>)>> {
    let lock = if matches!(tx, Tx::Postgres(_)) {
        " FOR UPDATE SKIP LOCKED"
    } else {
        ""
    };
    let sql = format!(
        "DELETE FROM one_time_prekeys WHERE user_id = $1 AND key_id = \
         (SELECT key_id FROM one_time_prekeys WHERE user_id = $1 ORDER BY key_id LIMIT 1{lock}) \
         RETURNING key_id, public_key"
    );
    Ok(on_tx!(tx, |e| sqlx::query_as(&sql)
        .bind(user)
        .fetch_optional(e)
        .await)?)
}
