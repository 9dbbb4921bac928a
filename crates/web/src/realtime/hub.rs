//! The connection registry: user ID → that user's open sockets, each with a bounded
//! queue of outgoing events and a close signal. Delivery never waits: an event that
//! does not fit a socket's queue disconnects that socket (a stalled reader cannot
//! make the server hold more than `queue` events for it).

use axum::extract::ws::Utf8Bytes;
use rampart_identity::{Principal, Revoked, Via};
use rampart_security::metrics::Metrics;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Real-time settings.
#[derive(Debug, Clone)]
pub struct RealtimeConfig {
    /// Events waiting for one socket at most; one more disconnects it (1013).
    pub queue: usize,
    /// A ping after this much time; the client's pong (or any frame) counts as life.
    pub ping_every: Duration,
    /// No frame from the client for this long: closed (1001).
    pub idle_after: Duration,
    /// A socket opened without credentials must send its `auth` frame within this.
    pub auth_deadline: Duration,
    /// How often sockets whose credential has expired are closed.
    pub sweep_every: Duration,
    /// Open sockets per user at most; the oldest is closed for a new one.
    pub per_user: usize,
}

impl Default for RealtimeConfig {
    fn default() -> Self {
        Self {
            queue: 256,
            ping_every: Duration::from_secs(30),
            idle_after: Duration::from_secs(75),
            auth_deadline: Duration::from_secs(5),
            sweep_every: Duration::from_secs(30),
            per_user: 32,
        }
    }
}

/// Why the server closes a socket (the close frame's code and reason).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Close {
    /// The session or token was revoked, or the user banned (1008).
    Revoked,
    /// The credential expired (1008).
    Expired,
    /// The socket's queue was full: the client reads too slowly (1013).
    TooSlow,
    /// The user opened more sockets than allowed; this was the oldest (1008).
    Replaced,
    /// No frame within the idle time (1001).
    Idle,
    /// No valid `auth` frame in time (1008).
    Unauthenticated,
    /// The server is stopping (1001).
    Shutdown,
}

impl Close {
    /// The close code (RFC 6455 §7.4.1).
    pub fn code(self) -> u16 {
        match self {
            Close::Revoked | Close::Expired | Close::Replaced | Close::Unauthenticated => 1008,
            Close::TooSlow => 1013,
            Close::Idle | Close::Shutdown => 1001,
        }
    }
    /// The close reason (and metric label).
    pub fn reason(self) -> &'static str {
        match self {
            Close::Revoked => "revoked",
            Close::Expired => "expired",
            Close::TooSlow => "too_slow",
            Close::Replaced => "replaced",
            Close::Idle => "idle",
            Close::Unauthenticated => "unauthenticated",
            Close::Shutdown => "shutdown",
        }
    }
}

/// The credential a socket was opened with, so its revocation finds the socket.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Credential {
    /// A session: the web cookie's, or the API session behind a bearer token.
    Session(String),
    /// A personal access token.
    Pat(String),
}

impl Credential {
    /// The credential of a user principal (OAuth clients have no user: `None`).
    pub fn of(p: &Principal) -> Option<Credential> {
        match &p.via {
            Via::Session { sid } | Via::Bearer { sid } => Some(Credential::Session(sid.clone())),
            Via::Pat { id, .. } => Some(Credential::Pat(id.clone())),
            Via::Client { .. } => None,
        }
    }
}

struct Conn {
    id: u64,
    cred: Credential,
    principal: Principal,
    live_until: i64,
    tx: mpsc::Sender<Utf8Bytes>,
    close: oneshot::Sender<Close>,
}

/// What a registered socket reads from.
pub struct Registration {
    /// Its ID in the hub.
    pub id: u64,
    /// Events to write.
    pub events: mpsc::Receiver<Utf8Bytes>,
    /// Fires once when the hub closes the socket.
    pub close: oneshot::Receiver<Close>,
}

/// One message on the bus between instances.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(tag = "k", rename_all = "snake_case")]
pub(crate) enum BusMsg {
    /// An event for these users' sockets.
    Event {
        to: Vec<String>,
        e: serde_json::Value,
    },
    /// Close the sockets of this session.
    Session { s: String },
    /// Close the sockets of this PAT.
    Pat { p: String },
    /// Close every socket of this user.
    User { u: String },
}

/// The bus envelope: which instance sent it (an instance ignores its own).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct Envelope {
    pub(crate) o: String,
    #[serde(flatten)]
    pub(crate) m: BusMsg,
}

const OPENED: &str = "rampart_ws_connections_total";
const OPENED_HELP: &str = "WebSocket connections authenticated and registered.";
const CLOSED: &str = "rampart_ws_closed_total";
const CLOSED_HELP: &str = "WebSocket connections the server closed, by reason.";

/// The registry of open sockets on this instance.
pub struct Hub {
    conns: Mutex<HashMap<String, Vec<Conn>>>,
    next: AtomicU64,
    cfg: RealtimeConfig,
    instance: String,
    bus: OnceLock<mpsc::Sender<String>>,
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hub")
    }
}

impl Hub {
    /// An empty hub.
    pub fn new(cfg: RealtimeConfig, metrics: Arc<Metrics>) -> Self {
        Self {
            conns: Mutex::new(HashMap::new()),
            next: AtomicU64::new(1),
            cfg,
            instance: uuid::Uuid::new_v4().simple().to_string(),
            bus: OnceLock::new(),
            metrics,
        }
    }

    /// The settings.
    pub fn config(&self) -> &RealtimeConfig {
        &self.cfg
    }

    /// Connects the bus's outgoing queue (once).
    pub(crate) fn set_bus(&self, tx: mpsc::Sender<String>) {
        let _ = self.bus.set(tx);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<Conn>>> {
        // A panic while holding the lock leaves plain data; keep serving.
        self.conns.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn closed(&self, why: Close) {
        self.metrics
            .inc(CLOSED, CLOSED_HELP, &[("reason", why.reason())]);
    }

    /// Registers an authenticated socket of `principal`, valid until `live_until`
    /// (Unix ms). Past the per-user cap the user's oldest socket is closed.
    pub fn register(
        &self,
        principal: &Principal,
        cred: Credential,
        live_until: i64,
    ) -> Registration {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (tx, events) = mpsc::channel(self.cfg.queue.max(1));
        let (close_tx, close) = oneshot::channel();
        let evicted = {
            let mut map = self.lock();
            let list = map.entry(principal.user_id().to_owned()).or_default();
            let evicted = if list.len() >= self.cfg.per_user.max(1) {
                Some(list.remove(0))
            } else {
                None
            };
            list.push(Conn {
                id,
                cred,
                principal: principal.clone(),
                live_until,
                tx,
                close: close_tx,
            });
            evicted
        };
        if let Some(old) = evicted {
            let _ = old.close.send(Close::Replaced);
            self.closed(Close::Replaced);
        }
        self.metrics.inc(OPENED, OPENED_HELP, &[]);
        Registration { id, events, close }
    }

    /// Removes a socket that ended by itself (the client left).
    pub fn unregister(&self, user: &str, id: u64) {
        let mut map = self.lock();
        if let Some(list) = map.get_mut(user) {
            list.retain(|c| c.id != id);
            if list.is_empty() {
                map.remove(user);
            }
        }
    }

    /// Sets until when a registered socket's credential is valid (Unix ms).
    pub fn set_live_until(&self, user: &str, id: u64, live_until: i64) {
        if let Some(c) = self
            .lock()
            .get_mut(user)
            .and_then(|l| l.iter_mut().find(|c| c.id == id))
        {
            c.live_until = live_until;
        }
    }

    /// Open sockets of `user` on this instance.
    pub fn connections_of(&self, user: &str) -> usize {
        self.lock().get(user).map_or(0, Vec::len)
    }

    /// Open sockets on this instance.
    pub fn connections(&self) -> usize {
        self.lock().values().map(Vec::len).sum()
    }

    /// Queues `event` on every socket of each user in `to`, here only. A socket whose
    /// queue is full is closed (1013); one whose task ended is dropped.
    pub fn deliver_local(&self, to: &[String], event: &Utf8Bytes) {
        let mut slow = Vec::new();
        {
            let mut map = self.lock();
            for user in to {
                let Some(list) = map.get_mut(user) else {
                    continue;
                };
                let mut i = 0;
                while i < list.len() {
                    match list[i].tx.try_send(event.clone()) {
                        Ok(()) => i += 1,
                        Err(mpsc::error::TrySendError::Full(_)) => slow.push(list.remove(i)),
                        Err(mpsc::error::TrySendError::Closed(_)) => {
                            list.remove(i);
                        }
                    }
                }
                if list.is_empty() {
                    map.remove(user);
                }
            }
        }
        for c in slow {
            let _ = c.close.send(Close::TooSlow);
            self.closed(Close::TooSlow);
        }
    }

    /// Closes, here, every socket `pick` selects.
    fn close_where(&self, why: Close, pick: impl Fn(&str, &Conn) -> bool) -> usize {
        let mut out = Vec::new();
        {
            let mut map = self.lock();
            map.retain(|user, list| {
                let mut i = 0;
                while i < list.len() {
                    if pick(user, &list[i]) {
                        out.push(list.remove(i));
                    } else {
                        i += 1;
                    }
                }
                !list.is_empty()
            });
        }
        let n = out.len();
        for c in out {
            let _ = c.close.send(why);
            self.closed(why);
        }
        n
    }

    /// Closes, here, the sockets a revocation ends.
    pub fn close_local(&self, what: &Revoked) -> usize {
        match what {
            Revoked::Session(sid) => self.close_where(
                Close::Revoked,
                |_, c| matches!(&c.cred, Credential::Session(s) if s == sid),
            ),
            Revoked::Pat(id) => self.close_where(
                Close::Revoked,
                |_, c| matches!(&c.cred, Credential::Pat(p) if p == id),
            ),
            Revoked::User(u) => self.close_where(Close::Revoked, |user, _| user == u),
        }
    }

    /// A revocation in this process: closes the sockets here and tells the other
    /// instances. The identity service calls it (its revocation hook) after commit.
    pub fn revoked(&self, what: &Revoked) {
        self.close_local(what);
        self.send_bus(match what {
            Revoked::Session(s) => BusMsg::Session { s: s.clone() },
            Revoked::Pat(p) => BusMsg::Pat { p: p.clone() },
            Revoked::User(u) => BusMsg::User { u: u.clone() },
        });
    }

    /// Pushes an event to every open socket of each user in `to`, on every instance.
    pub fn publish(&self, to: Vec<String>, event: serde_json::Value) {
        let text = Utf8Bytes::from(event.to_string());
        self.deliver_local(&to, &text);
        self.send_bus(BusMsg::Event { to, e: event });
    }

    fn send_bus(&self, m: BusMsg) {
        let Some(tx) = self.bus.get() else {
            return;
        };
        let env = Envelope {
            o: self.instance.clone(),
            m,
        };
        let Ok(text) = serde_json::to_string(&env) else {
            return;
        };
        if text.len() > rampart_db::notify::NOTIFY_PAYLOAD_MAX {
            tracing::warn!(
                bytes = text.len(),
                "real-time event too large for the bus; other instances miss it"
            );
            return;
        }
        if tx.try_send(text).is_err() {
            self.metrics.inc(
                "rampart_ws_bus_dropped_total",
                "Real-time messages not sent to other instances (bus queue full or stopped).",
                &[],
            );
        }
    }

    /// Applies a message another instance sent.
    pub(crate) fn apply_remote(&self, text: &str) {
        let Ok(env) = serde_json::from_str::<Envelope>(text) else {
            tracing::warn!("unreadable real-time bus message ignored");
            return;
        };
        if env.o == self.instance {
            return;
        }
        match env.m {
            BusMsg::Event { to, e } => self.deliver_local(&to, &Utf8Bytes::from(e.to_string())),
            BusMsg::Session { s } => {
                self.close_local(&Revoked::Session(s));
            }
            BusMsg::Pat { p } => {
                self.close_local(&Revoked::Pat(p));
            }
            BusMsg::User { u } => {
                self.close_local(&Revoked::User(u));
            }
        }
    }

    /// Closes the sockets whose credential ended by `now` (Unix ms).
    pub fn sweep(&self, now: i64) -> usize {
        self.close_where(Close::Expired, |_, c| c.live_until <= now)
    }

    /// Every open socket's ID, credential and principal (for re-checking credentials
    /// in the database).
    pub(crate) fn principals(&self) -> Vec<(u64, Credential, Principal)> {
        self.lock()
            .values()
            .flatten()
            .map(|c| (c.id, c.cred.clone(), c.principal.clone()))
            .collect()
    }

    /// Closes one socket by ID with `why`.
    pub(crate) fn close_id(&self, id: u64, why: Close) -> usize {
        self.close_where(why, |_, c| c.id == id)
    }

    /// Closes every socket (the server is stopping).
    pub fn shutdown(&self) {
        self.close_where(Close::Shutdown, |_, _| true);
    }
}
