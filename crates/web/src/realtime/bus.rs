//! The bus between instances: PostgreSQL `LISTEN`/`NOTIFY` on one channel per
//! database schema. Outgoing messages are queued (bounded) and sent in batches, one
//! statement per batch; incoming ones from other instances are applied to this
//! instance's sockets. After a lost listening connection every open socket's
//! credential is checked again in the database (a revocation may have been missed).
//! On SQLite there is no bus: one process is one instance (several `rampart serve`
//! on one SQLite file are unsupported for real time; a warning says so at startup).
//! Every sweep also re-reads each open socket's credential, so a revocation this
//! instance did not hear of (another process on the same SQLite file, a lost
//! notification) closes the socket within one sweep interval.

use super::hub::{Close, Credential, Hub};
use crate::state::AppState;
use rampart_db::notify::Heard;
use rampart_identity::Principal;
use std::collections::HashMap;
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
        tracing::warn!(
            "real time on SQLite: no bus between processes. Run one `rampart serve` per \
             SQLite file; with several, live events reach only the sockets of the process \
             that made them, and revocations made by another process close sockets only \
             at the next sweep (unsupported topology; use PostgreSQL for several instances)"
        );
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
                    let again = st.clone();
                    tokio::spawn(async move {
                        recheck_all(&again).await;
                    });
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
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            sweep(&state).await;
        }
    });
}

/// One sweep (every `sweep_every`): closes the sockets whose credential expired on
/// the injected clock (1008 `expired`), then re-reads every open socket's credential
/// from the database — session still live, PAT not deleted, account still allowed in
/// — and closes the dead ones (1008 `revoked`). Returns how many it closed.
pub async fn sweep(state: &AppState) -> usize {
    let hub: &Arc<Hub> = &state.realtime;
    hub.sweep(state.clock.now_ms()) + recheck_all(state).await
}

/// Checks every open socket's credential in the database (one read per credential,
/// however many sockets share it); closes the dead ones and moves the others' end to
/// what the database says (a session's idle expiry slides with use). Returns how
/// many it closed.
pub async fn recheck_all(state: &AppState) -> usize {
    let mut by_cred: HashMap<Credential, Vec<(u64, Principal)>> = HashMap::new();
    for (id, cred, p) in state.realtime.principals() {
        by_cred.entry(cred).or_default().push((id, p));
    }
    let mut closed = 0;
    for socks in by_cred.values() {
        let Some((_, first)) = socks.first() else {
            continue;
        };
        match state.auth.credential_live_until(first).await {
            Ok(Some(until)) => {
                for (id, p) in socks {
                    state.realtime.set_live_until(p.user_id(), *id, until);
                }
            }
            Ok(None) => {
                for (id, _) in socks {
                    closed += state.realtime.close_id(*id, Close::Revoked);
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "re-checking a socket's credential failed");
            }
        }
    }
    closed
}
