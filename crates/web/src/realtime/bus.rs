//! The bus between instances: PostgreSQL `LISTEN`/`NOTIFY` on one channel per
//! database schema. Outgoing messages are queued (bounded) and sent in batches, one
//! statement per batch; incoming ones from other instances are applied to this
//! instance's sockets. After a lost listening connection every open socket's
//! credential is checked again in the database (a revocation may have been missed).
//! On SQLite there is no bus: one process is one instance.

use super::hub::{Close, Hub};
use crate::state::AppState;
use rampart_db::notify::Heard;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// The channel's base name (the schema is appended).
const CHANNEL: &str = "rampart_rt";
/// Messages waiting to be sent to the other instances at most.
const OUT_QUEUE: usize = 16_384;
/// Messages per `NOTIFY` statement at most.
const BATCH: usize = 256;

/// Starts the sweeper (expired credentials) and, on PostgreSQL, the bus.
pub async fn start(state: &AppState) -> Result<(), rampart_db::DbError> {
    spawn_sweeper(state.clone());
    let db = &state.db;
    let channel = db.notify_channel(CHANNEL).await?;
    let Some(mut listener) = db.listen(&channel).await? else {
        return Ok(());
    };
    let (tx, mut rx) = mpsc::channel::<String>(OUT_QUEUE);
    state.realtime.set_bus(tx);
    let sender_db = db.clone();
    let out_channel = channel.clone();
    tokio::spawn(async move {
        let mut batch = Vec::with_capacity(BATCH);
        while let Some(first) = rx.recv().await {
            batch.clear();
            batch.push(first);
            while batch.len() < BATCH {
                match rx.try_recv() {
                    Ok(m) => batch.push(m),
                    Err(_) => break,
                }
            }
            if let Err(e) = sender_db.notify_batch(&out_channel, &batch).await {
                tracing::warn!(error = %e, n = batch.len(), "real-time bus: NOTIFY failed; other instances miss these events");
            }
        }
    });
    let st = state.clone();
    tokio::spawn(async move {
        loop {
            match listener.recv().await {
                Ok(Heard::Payload(p)) => st.realtime.apply_remote(&p),
                Ok(Heard::Closed) => break,
                Ok(Heard::Reconnected) => {
                    tracing::warn!(
                        "real-time bus: listening connection lost; re-checking open sockets"
                    );
                    tokio::spawn(recheck_all(st.clone()));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "real-time bus: listen failed; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    });
    Ok(())
}

fn spawn_sweeper(state: AppState) {
    let every = state.realtime.config().sweep_every;
    let hub: Arc<Hub> = state.realtime.clone();
    let clock = state.clock.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            hub.sweep(clock.now_ms());
        }
    });
}

/// Checks every open socket's credential in the database; closes the dead ones.
pub async fn recheck_all(state: AppState) {
    for (id, p) in state.realtime.principals() {
        match state.auth.credential_live_until(&p).await {
            Ok(Some(_)) => {}
            Ok(None) => state.realtime.close_id(id, Close::Revoked),
            Err(e) => {
                tracing::warn!(error = %e, "re-checking a socket's credential failed");
            }
        }
    }
}
