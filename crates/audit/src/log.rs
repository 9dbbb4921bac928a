//! The tamper-evident audit log (C1, C2): append inside the caller's transaction,
//! verify the whole chain, prune while keeping an anchor.
//!
//! Appends take the single `audit_chain` row with an `UPDATE … RETURNING` first, which
//! row-locks it on PostgreSQL (and SQLite has one writer), so concurrent writers queue
//! instead of forking the chain.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use crate::chain::{
    chain_hash, keyed_hash, parse_hash, ActionType, AuditContent, Target, GENESIS_HASH,
};
use crate::keys::{installed_keys, AuditKeys};
use rampart_db::{on_read, on_tx, on_write, Db, DbError, Engine, Result, Tx};

/// What to record.
#[derive(Debug, Clone)]
pub struct NewAuditEntry<'a> {
    /// Who acted; `None` for the system or the command line.
    pub actor_user_uuid: Option<&'a str>,
    /// What was done.
    pub action: ActionType,
    /// What was acted on.
    pub target: Target<'a>,
    /// Extra facts (never secrets).
    pub metadata: serde_json::Value,
    /// Correlation ID of the request, if any.
    pub request_id: Option<&'a str>,
    /// Unix milliseconds.
    pub created_at: i64,
}

/// A stored row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditRow {
    /// Chain position.
    pub seq: i64,
    /// Row UUID.
    pub id: String,
    /// Actor.
    pub actor_user_uuid: Option<String>,
    /// Action type name.
    pub action_type: String,
    /// Target kind.
    pub target_type: String,
    /// Target id.
    pub target_id: String,
    /// JSON text.
    pub metadata: String,
    /// Unix ms.
    pub created_at: i64,
    /// Request correlation ID.
    pub request_id: Option<String>,
    /// Previous row's hash (hex).
    pub prev_hash: String,
    /// This row's hash (hex).
    pub hash: String,
    /// Id of the audit key that hashed it (`None`/empty: legacy plain SHA-256 row).
    pub hash_kid: Option<String>,
}

impl AuditRow {
    /// The hashed content of this row, borrowed.
    pub fn content(&self) -> AuditContent<'_> {
        AuditContent {
            seq: self.seq,
            id: &self.id,
            actor_user_uuid: self.actor_user_uuid.as_deref(),
            action_type: &self.action_type,
            target_type: &self.target_type,
            target_id: &self.target_id,
            metadata: &self.metadata,
            created_at: self.created_at,
            request_id: self.request_id.as_deref(),
        }
    }
}

/// The installed key ring, or an error naming the missing secret: nothing is written
/// or verified without it.
fn keys() -> Result<&'static AuditKeys> {
    installed_keys().ok_or_else(|| {
        DbError::Corrupt(
            "the audit key ring is not installed (RAMPART_AUDIT_KEY); refusing to write or verify an unkeyed audit chain".into(),
        )
    })
}

/// Appends one row in the caller's transaction, keyed with the process-wide ring
/// ([`crate::install_keys`]); fails if none is installed. It commits or rolls back with
/// the action it records. Returns the new row's sequence number.
pub async fn record(tx: &mut Tx, entry: NewAuditEntry<'_>) -> Result<i64> {
    record_with(tx, keys()?, entry).await
}

/// [`record`] with an explicit key ring: the row is hashed with HMAC-SHA256 under the
/// ring's active key and stores its id.
pub async fn record_with(tx: &mut Tx, keys: &AuditKeys, entry: NewAuditEntry<'_>) -> Result<i64> {
    let (kid, mac) = keys
        .active()
        .ok_or_else(|| DbError::Corrupt("empty audit key ring".into()))?;
    let (seq, prev_hex): (i64, String) = on_tx!(tx, |e| {
        sqlx::query_as(
        "UPDATE audit_chain SET last_seq = last_seq + 1 WHERE id = 1 RETURNING last_seq, last_hash"
    )
    .fetch_one(e)
    .await
    })?;
    let prev = parse_hash(&prev_hex).ok_or_else(|| DbError::Corrupt("audit chain head".into()))?;
    let id = uuid::Uuid::now_v7().to_string();
    let metadata = entry.metadata.to_string();
    let content = AuditContent {
        seq,
        id: &id,
        actor_user_uuid: entry.actor_user_uuid,
        action_type: entry.action.as_str(),
        target_type: entry.target.kind.as_str(),
        target_id: entry.target.id,
        metadata: &metadata,
        created_at: entry.created_at,
        request_id: entry.request_id,
    };
    let hash = hex::encode(keyed_hash(
        mac,
        &prev,
        &content,
        &mut Vec::with_capacity(256),
    ));
    on_tx!(tx, |e| sqlx::query(
        "INSERT INTO audit_log (seq, id, actor_user_uuid, action_type, target_type, target_id, \
         metadata, created_at, request_id, prev_hash, hash, hash_kid) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
    )
    .bind(seq)
    .bind(&id)
    .bind(entry.actor_user_uuid)
    .bind(entry.action.as_str())
    .bind(entry.target.kind.as_str())
    .bind(entry.target.id)
    .bind(&metadata)
    .bind(entry.created_at)
    .bind(entry.request_id)
    .bind(&prev_hex)
    .bind(&hash)
    .bind(kid)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))?;
    on_tx!(tx, |e| sqlx::query(
        "UPDATE audit_chain SET last_hash = $1 WHERE id = 1"
    )
    .bind(&hash)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(seq)
}

/// The first problem `verify` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainBreak {
    /// The row's content no longer matches its hash (edited).
    Tampered {
        /// Sequence number of the row.
        seq: i64,
    },
    /// Rows are missing before this one (deleted), or it was inserted out of order.
    Gap {
        /// The sequence number expected.
        expected_seq: i64,
        /// The one found.
        found_seq: i64,
    },
    /// The row does not link to its predecessor (inserted or re-chained).
    BrokenLink {
        /// Sequence number of the row.
        seq: i64,
    },
    /// The row is hashed with a key id that is not in the key ring (a removed key, or a
    /// forged id).
    UnknownKey {
        /// Sequence number of the row.
        seq: i64,
        /// The stored key id.
        kid: String,
    },
    /// An unkeyed (plain SHA-256) row after the legacy prefix: rewritten by someone
    /// without the key.
    Unkeyed {
        /// Sequence number of the row.
        seq: i64,
    },
    /// The chain ends before the recorded head (rows deleted at the end) or runs past
    /// it (rows inserted at the end).
    HeadMismatch {
        /// Last sequence number found in the table.
        last_seq_found: i64,
        /// Last sequence number recorded in the head.
        head_seq: i64,
    },
    /// The chain starts after a prune point that no intact `audit_prune` row records:
    /// the oldest rows were deleted and the anchor moved by hand.
    UnvouchedPrune {
        /// The prune point the head records.
        anchor_seq: i64,
    },
}

impl std::fmt::Display for ChainBreak {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChainBreak::UnvouchedPrune { anchor_seq } => write!(
                f,
                "rows up to {anchor_seq} are gone and no audit_prune row vouches for it (deleted by hand?)"
            ),
            ChainBreak::Tampered { seq } => write!(f, "row {seq} was modified (hash mismatch)"),
            ChainBreak::Gap { expected_seq, found_seq } => write!(
                f,
                "row {expected_seq} is missing (deleted?); next row found is {found_seq}"
            ),
            ChainBreak::BrokenLink { seq } => {
                write!(f, "row {seq} does not link to the previous row (inserted or re-chained)")
            }
            ChainBreak::UnknownKey { seq, kid } => write!(
                f,
                "row {seq} is keyed with {kid:?}, which is not in the audit key ring (RAMPART_AUDIT_KEY)"
            ),
            ChainBreak::Unkeyed { seq } => write!(
                f,
                "row {seq} has an unkeyed (plain SHA-256) hash after the legacy rows (rewritten without the audit key)"
            ),
            ChainBreak::HeadMismatch { last_seq_found, head_seq } => write!(
                f,
                "chain ends at row {last_seq_found} but the head records row {head_seq} (rows deleted or appended outside Rampart)"
            ),
        }
    }
}

/// Outcome of a verification.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VerifyReport {
    /// Rows found intact (all of them, or those before the first break).
    pub rows: u64,
    /// First break, if any.
    pub first_break: Option<ChainBreak>,
    /// Intact rows in the unkeyed legacy form (written before the chain was keyed).
    pub legacy_rows: u64,
    /// The head as recorded: (last_seq, last_hash).
    pub head: (i64, String),
    /// Key id of the last intact row (`None`: legacy form or no rows).
    pub head_kid: Option<String>,
    /// The prune point as recorded: (anchor_seq, anchor_hash).
    pub prune_anchor: (i64, String),
    /// Rows up to this seq may use the legacy form (`audit_chain.legacy_until`).
    pub legacy_until: i64,
    /// Hashes of the intact rows asked for in [`VerifyOptions::want`].
    pub hashes: BTreeMap<i64, String>,
    /// Intact `audit_prune` rows: (their seq, the `anchor_seq` and `anchor_hash` they
    /// set). They vouch for the prune point.
    pub prunes: Vec<(i64, i64, Option<String>)>,
}

/// What else to collect while verifying.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// Sequence numbers whose hashes to report (external anchors).
    pub want: BTreeSet<i64>,
}

/// Total rows (for a progress bar).
pub async fn count(db: &Db) -> Result<i64> {
    let (n,): (i64,) = on_read!(db, |e| sqlx::query_as("SELECT COUNT(*) FROM audit_log")
        .fetch_one(e)
        .await)?;
    Ok(n)
}

/// Hex-encodes a hash into a stack buffer (lowercase, as stored).
fn hex32(h: &[u8; 32]) -> [u8; 64] {
    let mut out = [0u8; 64];
    // Cannot fail: the output is exactly twice the input.
    let _ = hex::encode_to_slice(h, &mut out);
    out
}

/// Walks the chain from the anchor, calling `progress(rows_done)` now and then, and
/// reports the first tampered, deleted or inserted row (and stops there).
///
/// The head and the rows are read in one read-only transaction, so one snapshot: a
/// verification running beside live appends does not mistake a new row for an
/// insertion. Stored hashes are compared as exact lowercase hex text, so even an edit
/// that only changes the case of a hash column is reported. Rows are decoded as
/// borrowed `&str` (no per-row allocation).
///
/// Uses the process-wide key ring ([`crate::install_keys`]); fails without one.
pub async fn verify(db: &Db, progress: impl FnMut(u64)) -> Result<VerifyReport> {
    verify_with(db, keys()?, &VerifyOptions::default(), progress).await
}

/// [`verify`] with an explicit key ring and options. Each row is checked with the key
/// its `hash_kid` names (HMAC-SHA256), or with plain SHA-256 when it has none — only
/// allowed up to `audit_chain.legacy_until`, the rows that existed when the chain was
/// keyed.
pub async fn verify_with(
    db: &Db,
    keys: &AuditKeys,
    opts: &VerifyOptions,
    mut progress: impl FnMut(u64),
) -> Result<VerifyReport> {
    let mut tx = match &db.engine {
        Engine::Sqlite { read, .. } => Tx::Sqlite(read.begin().await?),
        Engine::Postgres(pool) => {
            let mut t = pool.begin().await?;
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                .execute(&mut *t)
                .await?;
            Tx::Postgres(t)
        }
    };
    let (head_seq, head_hash, anchor_seq, anchor_hash, legacy_until): (
        i64,
        String,
        i64,
        String,
        i64,
    ) = on_tx!(&mut tx, |e| {
        sqlx::query_as(
            "SELECT last_seq, last_hash, anchor_seq, anchor_hash, legacy_until FROM audit_chain WHERE id = 1"
        )
        .fetch_one(e)
        .await
    })?;
    let mut prev =
        parse_hash(&anchor_hash).ok_or_else(|| DbError::Corrupt("audit anchor".into()))?;
    // The first row must link to the anchor exactly as stored.
    let mut prev_hex: [u8; 64] = anchor_hash
        .as_bytes()
        .try_into()
        .map_err(|_| DbError::Corrupt("audit anchor".into()))?;
    let mut expected = anchor_seq + 1;
    let mut rows = 0u64;
    let mut buf = Vec::with_capacity(512);
    let mut first_break = None;
    let mut legacy_rows = 0u64;
    let mut last_kid: Option<usize> = None;
    let mut hashes = BTreeMap::new();
    let mut prunes = Vec::new();
    // One step of the walk; `false` stops it (a break was found).
    let mut check = |r: RowRef<'_>| -> bool {
        let seq = r.seq;
        if seq != expected {
            first_break = Some(ChainBreak::Gap {
                expected_seq: expected,
                found_seq: seq,
            });
            return false;
        }
        if r.prev_hash.as_bytes() != prev_hex.as_slice() {
            first_break = Some(ChainBreak::BrokenLink { seq });
            return false;
        }
        let (h, kid) = match r.hash_kid.filter(|k| !k.is_empty()) {
            None => {
                if seq > legacy_until {
                    first_break = Some(ChainBreak::Unkeyed { seq });
                    return false;
                }
                (chain_hash(&prev, &r.content, &mut buf), None)
            }
            Some(k) => match keys
                .index_of(k)
                .and_then(|i| keys.mac_at(i).map(|m| (i, m)))
            {
                Some((i, mac)) => (keyed_hash(mac, &prev, &r.content, &mut buf), Some(i)),
                None => {
                    first_break = Some(ChainBreak::UnknownKey {
                        seq,
                        kid: k.to_owned(),
                    });
                    return false;
                }
            },
        };
        let h_hex = hex32(&h);
        if r.hash.as_bytes() != h_hex.as_slice() {
            first_break = Some(ChainBreak::Tampered { seq });
            return false;
        }
        if kid.is_none() {
            legacy_rows += 1;
        }
        last_kid = kid;
        if !opts.want.is_empty() && opts.want.contains(&seq) {
            hashes.insert(seq, r.hash.to_owned());
        }
        if r.content.action_type == "audit_prune" {
            if let Ok(m) = serde_json::from_str::<serde_json::Value>(r.content.metadata) {
                if let Some(a) = m.get("anchor_seq").and_then(|v| v.as_i64()) {
                    let h = m
                        .get("anchor_hash")
                        .and_then(|v| v.as_str())
                        .map(str::to_owned);
                    prunes.push((seq, a, h));
                }
            }
        }
        prev = h;
        prev_hex = h_hex;
        expected += 1;
        rows += 1;
        if rows & 4095 == 0 {
            progress(rows);
        }
        true
    };
    match &mut tx {
        // SQLite hands rows over one at a time from its worker thread, which costs more
        // than hashing them; aggregating a page into one JSON array per round trip
        // halves the time. The aggregate's order is not trusted: a row out of order
        // is reported as a gap.
        Tx::Sqlite(t) => {
            let mut from = i64::MIN;
            'pages: loop {
                let (json,): (String,) = sqlx::query_as(
                    "SELECT json_group_array(json_array(seq, id, actor_user_uuid, action_type, \
                     target_type, target_id, metadata, created_at, request_id, prev_hash, hash, \
                     hash_kid)) \
                     FROM (SELECT * FROM audit_log WHERE seq >= $1 ORDER BY seq LIMIT $2)",
                )
                .bind(from)
                .bind(VERIFY_PAGE)
                .fetch_one(&mut **t)
                .await?;
                let page: Vec<PageRow<'_>> = serde_json::from_str(&json)
                    .map_err(|e| DbError::Corrupt(format!("audit page: {e}")))?;
                for r in &page {
                    if !check(RowRef::from_page(r)) {
                        break 'pages;
                    }
                }
                match page.last() {
                    Some(last) if page.len() as i64 == VERIFY_PAGE => from = last.0 + 1,
                    _ => break,
                }
            }
        }
        // PostgreSQL streams rows cheaply (building JSON there is the slow part).
        Tx::Postgres(t) => {
            use futures::TryStreamExt;
            use sqlx::Row;
            let mut stream = sqlx::query(
                "SELECT seq, id, actor_user_uuid, action_type, target_type, target_id, metadata, \
                 created_at, request_id, prev_hash, hash, hash_kid FROM audit_log ORDER BY seq",
            )
            .fetch(&mut **t);
            while let Some(row) = stream.try_next().await? {
                let r = RowRef {
                    seq: row.try_get(0)?,
                    prev_hash: row.try_get(9)?,
                    hash: row.try_get(10)?,
                    hash_kid: row.try_get(11)?,
                    content: AuditContent {
                        seq: row.try_get(0)?,
                        id: row.try_get(1)?,
                        actor_user_uuid: row.try_get(2)?,
                        action_type: row.try_get(3)?,
                        target_type: row.try_get(4)?,
                        target_id: row.try_get(5)?,
                        metadata: row.try_get(6)?,
                        created_at: row.try_get(7)?,
                        request_id: row.try_get(8)?,
                    },
                };
                if !check(r) {
                    break;
                }
            }
        }
    }
    tx.rollback().await?;
    progress(rows);
    let last_seq = expected - 1;
    if first_break.is_none()
        && (last_seq != head_seq || head_hash.as_bytes() != prev_hex.as_slice())
    {
        first_break = Some(ChainBreak::HeadMismatch {
            last_seq_found: last_seq,
            head_seq,
        });
    }
    // A prune point must be vouched for by an intact `audit_prune` row naming it (with
    // its hash, on rows written since prunes record it); otherwise someone deleted the
    // oldest rows and moved the anchor by hand.
    if first_break.is_none() && anchor_seq > 0 {
        let vouched = prunes.iter().any(|(_, a, h)| {
            *a == anchor_seq && h.as_deref().is_none_or(|h| h == anchor_hash.as_str())
        });
        if !vouched {
            first_break = Some(ChainBreak::UnvouchedPrune { anchor_seq });
        }
    }
    Ok(VerifyReport {
        rows,
        first_break,
        legacy_rows,
        head: (head_seq, head_hash),
        head_kid: last_kid.and_then(|i| keys.kid_at(i)).map(str::to_owned),
        prune_anchor: (anchor_seq, anchor_hash),
        legacy_until,
        hashes,
        prunes,
    })
}

/// One row as the walk sees it, borrowed from wherever it was read.
struct RowRef<'a> {
    seq: i64,
    prev_hash: &'a str,
    hash: &'a str,
    hash_kid: Option<&'a str>,
    content: AuditContent<'a>,
}

impl<'a> RowRef<'a> {
    fn from_page(r: &'a PageRow<'a>) -> Self {
        RowRef {
            seq: r.0,
            prev_hash: &r.9,
            hash: &r.10,
            hash_kid: r.11.as_deref(),
            content: AuditContent {
                seq: r.0,
                id: &r.1,
                actor_user_uuid: r.2.as_deref(),
                action_type: &r.3,
                target_type: &r.4,
                target_id: &r.5,
                metadata: &r.6,
                created_at: r.7,
                request_id: r.8.as_deref(),
            },
        }
    }
}

/// Rows per page when verifying.
const VERIFY_PAGE: i64 = 4096;

/// One row of a verification page, borrowing from the page's JSON where it can.
#[derive(serde::Deserialize)]
struct PageRow<'a>(
    i64,
    #[serde(borrow)] Cow<'a, str>,
    #[serde(borrow)] Option<Cow<'a, str>>,
    #[serde(borrow)] Cow<'a, str>,
    #[serde(borrow)] Cow<'a, str>,
    #[serde(borrow)] Cow<'a, str>,
    #[serde(borrow)] Cow<'a, str>,
    i64,
    #[serde(borrow)] Option<Cow<'a, str>>,
    #[serde(borrow)] Cow<'a, str>,
    #[serde(borrow)] Cow<'a, str>,
    #[serde(borrow)] Option<Cow<'a, str>>,
);

/// Deletes rows created before `before_ms`, moving the anchor to the last deleted row
/// so the remaining chain still verifies; the prune itself is audited. Returns the
/// number of rows removed.
///
/// A broken chain is refused ([`DbError::Corrupt`]) and left as it is: pruning it
/// would delete the evidence and anchor the chain on a forged hash.
pub async fn prune(db: &Db, before_ms: i64, now_ms: i64, request_id: Option<&str>) -> Result<u64> {
    prune_with(db, keys()?, before_ms, now_ms, request_id).await
}

/// [`prune`] with an explicit key ring. The `audit_prune` row records the new anchor's
/// seq and hash, so an external anchor older than the prune point can be told apart
/// from a deletion ([`crate::anchor::check_anchors`]).
pub async fn prune_with(
    db: &Db,
    keys: &AuditKeys,
    before_ms: i64,
    now_ms: i64,
    request_id: Option<&str>,
) -> Result<u64> {
    if let Some(b) = verify_with(db, keys, &VerifyOptions::default(), |_| {})
        .await?
        .first_break
    {
        return Err(DbError::Corrupt(format!(
            "audit chain is broken ({b}); refusing to prune it"
        )));
    }
    let mut tx = db.begin().await?;
    // Prune a prefix by sequence, never a hole: the cut is the last row of the
    // leading run older than `before_ms`.
    let cut: Option<(i64, String)> = on_tx!(&mut tx, |e| sqlx::query_as(
        "SELECT seq, hash FROM audit_log WHERE seq < COALESCE(\
            (SELECT MIN(seq) FROM audit_log WHERE created_at >= $1), \
            (SELECT MAX(seq) + 1 FROM audit_log)) \
         ORDER BY seq DESC LIMIT 1"
    )
    .bind(before_ms)
    .fetch_optional(e)
    .await)?;
    let Some((cut_seq, cut_hash)) = cut else {
        tx.rollback().await?;
        return Ok(0);
    };
    let removed = on_tx!(&mut tx, |e| sqlx::query(
        "DELETE FROM audit_log WHERE seq <= $1"
    )
    .bind(cut_seq)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))?;
    on_tx!(&mut tx, |e| sqlx::query(
        "UPDATE audit_chain SET anchor_seq = $1, anchor_hash = $2 WHERE id = 1"
    )
    .bind(cut_seq)
    .bind(&cut_hash)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))?;
    record_with(
        &mut tx,
        keys,
        NewAuditEntry {
            actor_user_uuid: None,
            action: ActionType::AuditPrune,
            target: Target::audit_log(),
            metadata: serde_json::json!({
                "before": before_ms,
                "rows": removed,
                "anchor_seq": cut_seq,
                "anchor_hash": cut_hash,
            }),
            request_id,
            created_at: now_ms,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(removed)
}

/// Rows of one request, newest first (for tests and the admin UI).
pub async fn by_request_id(db: &Db, request_id: &str) -> Result<Vec<AuditRow>> {
    Ok(on_read!(db, |e| {
        sqlx::query_as::<_, AuditRow>(
        "SELECT seq, id, actor_user_uuid, action_type, target_type, target_id, metadata, \
         created_at, request_id, prev_hash, hash, hash_kid FROM audit_log WHERE request_id = $1 ORDER BY seq DESC"
    )
    .bind(request_id)
    .fetch_all(e)
    .await
    })?)
}

/// The latest rows about one target (a user, a store…), newest first: what the staff
/// pages show as "audit rows about them".
pub async fn about(db: &Db, target: Target<'_>, limit: i64) -> Result<Vec<AuditRow>> {
    Ok(on_read!(db, |e| {
        sqlx::query_as::<_, AuditRow>(
            "SELECT seq, id, actor_user_uuid, action_type, target_type, target_id, metadata, \
         created_at, request_id, prev_hash, hash, hash_kid FROM audit_log \
         WHERE target_type = $1 AND target_id = $2 ORDER BY seq DESC LIMIT $3",
        )
        .bind(target.kind.as_str())
        .bind(target.id)
        .bind(limit)
        .fetch_all(e)
        .await
    })?)
}

/// The latest rows, newest first.
pub async fn latest(db: &Db, limit: i64) -> Result<Vec<AuditRow>> {
    Ok(on_read!(db, |e| {
        sqlx::query_as::<_, AuditRow>(
        "SELECT seq, id, actor_user_uuid, action_type, target_type, target_id, metadata, \
         created_at, request_id, prev_hash, hash, hash_kid FROM audit_log ORDER BY seq DESC LIMIT $1"
    )
    .bind(limit)
    .fetch_all(e)
    .await
    })?)
}

#[doc(hidden)]
/// Used by the chain's own tests to exercise the `write!` path.
pub async fn raw_exec(db: &Db, sql: &str) -> Result<u64> {
    Ok(on_write!(db, |e| sqlx::query(sql)
        .execute(e)
        .await
        .map(|r| r.rows_affected()))?)
}

/// Convenience for callers without a transaction of their own.
pub async fn record_alone(db: &Db, entry: NewAuditEntry<'_>) -> Result<i64> {
    record_alone_with(db, keys()?, entry).await
}

/// [`record_alone`] with an explicit key ring.
pub async fn record_alone_with(db: &Db, keys: &AuditKeys, entry: NewAuditEntry<'_>) -> Result<i64> {
    let mut tx = db.begin().await?;
    let seq = record_with(&mut tx, keys, entry).await?;
    tx.commit().await?;
    Ok(seq)
}

/// The hash before row 1, hex-encoded.
pub fn genesis_hex() -> String {
    hex::encode(GENESIS_HASH)
}
