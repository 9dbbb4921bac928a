//! Property: any single-character or single-field edit of any row is detected, and
//! the break names that row.

use crate::support::{append, row, verify, TestDb, T0};
use anyhow::{bail, Result};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use rampart_audit::{AuditRow, ChainBreak};
use rampart_db::{on_write, Db};

const ROWS: i64 = 12;
const TEXT_COLS: [&str; 9] = [
    "id",
    "actor_user_uuid",
    "action_type",
    "target_type",
    "target_id",
    "metadata",
    "request_id",
    "prev_hash",
    "hash",
];

/// One edit: which row, which column (0..9 text, 9 created_at, 10 seq), where, what.
#[derive(Debug, Clone)]
struct Edit {
    seq: i64,
    col: usize,
    pos: usize,
    ch: u8,
    delta: i64,
}

fn edits() -> impl Strategy<Value = Edit> {
    (
        1..=ROWS,
        0usize..11,
        any::<usize>(),
        0x20u8..0x7f,
        prop_oneof![-1000i64..0, 1i64..1000],
    )
        .prop_map(|(seq, col, pos, ch, delta)| Edit {
            seq,
            col,
            pos,
            ch,
            delta,
        })
}

fn text_of(r: &AuditRow, col: usize) -> Option<String> {
    match col {
        0 => Some(r.id.clone()),
        1 => r.actor_user_uuid.clone(),
        2 => Some(r.action_type.clone()),
        3 => Some(r.target_type.clone()),
        4 => Some(r.target_id.clone()),
        5 => Some(r.metadata.clone()),
        6 => r.request_id.clone(),
        7 => Some(r.prev_hash.clone()),
        _ => Some(r.hash.clone()),
    }
}

/// Replaces one character with a different ASCII one; a NULL becomes a value and an
/// empty/absent optional value becomes NULL.
fn mutate(orig: Option<&str>, e: &Edit) -> Option<String> {
    let s = orig?;
    let chars: Vec<char> = s.chars().collect();
    if chars.is_empty() {
        return Some(String::from(e.ch as char));
    }
    let i = e.pos % chars.len();
    let mut c = e.ch as char;
    if c == chars[i] {
        c = if c == 'z' { 'y' } else { 'z' };
    }
    let mut out = chars;
    out[i] = c;
    Some(out.into_iter().collect())
}

async fn set_text(db: &Db, col: &str, seq: i64, v: Option<&str>) -> Result<()> {
    let sql = format!("UPDATE audit_log SET {col} = $1 WHERE seq = $2");
    let n = on_write!(db, |e| sqlx::query(&sql)
        .bind(v)
        .bind(seq)
        .execute(e)
        .await?
        .rows_affected());
    anyhow::ensure!(n == 1, "updated {n} rows");
    Ok(())
}

async fn set_int(db: &Db, col: &str, seq: i64, v: i64) -> Result<()> {
    let sql = format!("UPDATE audit_log SET {col} = $1 WHERE seq = $2");
    let n = on_write!(db, |e| sqlx::query(&sql)
        .bind(v)
        .bind(seq)
        .execute(e)
        .await?
        .rows_affected());
    anyhow::ensure!(n == 1, "updated {n} rows");
    Ok(())
}

/// Applies the edit, checks it is detected at the right row, then restores the row.
async fn case(db: &Db, e: &Edit) -> Result<()> {
    let orig = row(db, e.seq).await?;
    let mut seq_now = e.seq;
    match e.col {
        c if c < 9 => {
            let col = TEXT_COLS[c];
            let old = text_of(&orig, c);
            let new = match old.as_deref() {
                // Optional columns: NULL → value.
                None => Some(String::from(e.ch as char)),
                Some(_) if c == 1 || c == 6 => {
                    if e.ch & 1 == 0 {
                        None
                    } else {
                        mutate(old.as_deref(), e)
                    }
                }
                Some(_) => mutate(old.as_deref(), e),
            };
            assert_ne!(new, old);
            set_text(db, col, e.seq, new.as_deref()).await?;
        }
        9 => set_int(db, "created_at", e.seq, orig.created_at + e.delta).await?,
        _ => {
            seq_now = 10_000 + e.delta.abs();
            set_int(db, "seq", e.seq, seq_now).await?;
        }
    }
    let got = verify(db).await?.first_break;
    let ok = match (&got, e.col) {
        (Some(ChainBreak::BrokenLink { seq }), 7) => *seq == e.seq,
        (Some(ChainBreak::Tampered { seq }), c) if c < 10 && c != 7 => *seq == e.seq,
        (Some(ChainBreak::Gap { expected_seq, .. }), 10) => *expected_seq == e.seq,
        _ => false,
    };
    if !ok {
        bail!("edit {e:?} reported as {got:?}");
    }
    // Restore.
    if e.col == 10 {
        set_int(db, "seq", seq_now, e.seq).await?;
    }
    for (c, col) in TEXT_COLS.iter().enumerate() {
        set_text(db, col, e.seq, text_of(&orig, c).as_deref()).await?;
    }
    set_int(db, "created_at", e.seq, orig.created_at).await?;
    let after = verify(db).await?;
    if after.first_break.is_some() {
        bail!("restoring after {e:?} left {after:?}");
    }
    Ok(())
}

fn run(pg: bool) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let t = if pg {
        match rt
            .block_on(TestDb::postgres("random_single_edits_are_detected"))
            .unwrap()
        {
            Some(t) => t,
            None => return,
        }
    } else {
        rt.block_on(TestDb::sqlite()).unwrap()
    };
    rt.block_on(append(&t.db, ROWS, T0)).unwrap();
    let cases: u32 = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(16);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&edits(), |e| {
        rt.block_on(case(&t.db, &e))
            .map_err(|err| TestCaseError::fail(format!("{err:#}")))
    });
    rt.block_on(t.db.close());
    drop(t);
    if let Err(e) = result {
        panic!("{e}");
    }
}

#[test]
fn random_single_edits_are_detected_sqlite() {
    run(false);
}

#[test]
fn random_single_edits_are_detected_postgres() {
    run(true);
}
