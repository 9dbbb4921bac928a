//! The sandbox provider's webhook sender: takes the events the [`Sandbox`] queued and
//! POSTs them, signed like Stripe (`Stripe-Signature: t=…,v1=…`), to the server's own
//! webhook URL over real HTTP — late, duplicated and out of order when its
//! [`DeliveryPlan`] says so. Send times are on the injected clock, so a test moves
//! the clock to let a late delivery go; the loop itself polls on real time.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::header::{CONTENT_TYPE, HOST, USER_AGENT};
use http_body_util::Full;
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rampart_kernel::Clock;
use tokio::net::TcpStream;

use crate::payment::sandbox::{DeliveryPlan, Sandbox, SandboxEvent};
use crate::webhook::WebhookSecret;

/// Where and how the sender delivers.
#[derive(Debug, Clone)]
pub struct SenderConfig {
    /// The server's address (loopback in development and tests).
    pub addr: SocketAddr,
    /// The webhook path, `/v1/webhooks/payments/sandbox`.
    pub path: String,
    /// The secret deliveries are signed with.
    pub secret: WebhookSecret,
    /// How deliveries misbehave.
    pub plan: DeliveryPlan,
    /// How often the queue is looked at (real time).
    pub poll: Duration,
}

/// The sender's queue of scheduled deliveries; shared so tests can change the plan
/// and see what is still waiting.
#[derive(Debug, Default)]
pub struct Outbox {
    scheduled: Vec<(i64, SandboxEvent)>,
    plan: Option<DeliveryPlan>,
    sent: u64,
}

/// A handle on a running sender.
#[derive(Debug, Clone, Default)]
pub struct SenderHandle(Arc<Mutex<Outbox>>);

impl SenderHandle {
    /// Changes the plan for events taken from now on.
    pub fn set_plan(&self, plan: DeliveryPlan) {
        self.lock().plan = Some(plan);
    }
    /// Deliveries scheduled and not yet sent.
    pub fn pending(&self) -> usize {
        self.lock().scheduled.len()
    }
    /// Deliveries sent so far (whatever the server answered).
    pub fn sent(&self) -> u64 {
        self.lock().sent
    }
    fn lock(&self) -> std::sync::MutexGuard<'_, Outbox> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Starts the sender on the current runtime; it stops when the task is aborted.
pub fn spawn(
    sandbox: Arc<SandboxRef>,
    clock: Arc<dyn Clock>,
    cfg: SenderConfig,
) -> (SenderHandle, tokio::task::JoinHandle<()>) {
    let handle = SenderHandle::default();
    handle.set_plan(cfg.plan);
    let h = handle.clone();
    let task = tokio::spawn(async move {
        loop {
            tick(sandbox.as_ref(), clock.as_ref(), &cfg, &h).await;
            tokio::time::sleep(cfg.poll).await;
        }
    });
    (handle, task)
}

/// How the sender reaches the sandbox (it lives inside the provider enum).
pub trait SandboxSource: Send + Sync {
    /// The sandbox, when the provider is one.
    fn sandbox(&self) -> Option<&Sandbox>;
}

/// A shareable [`SandboxSource`].
pub type SandboxRef = dyn SandboxSource;

async fn tick(source: &SandboxRef, clock: &dyn Clock, cfg: &SenderConfig, h: &SenderHandle) {
    let Some(sandbox) = source.sandbox() else {
        return;
    };
    let now = clock.now_secs();
    let events = sandbox.take_events();
    let due: Vec<SandboxEvent> = {
        let mut o = h.lock();
        if !events.is_empty() {
            let plan = o.plan.unwrap_or_default();
            let scheduled = plan.schedule(&events, now);
            // Keep the plan's relative order: a reversed or late round is shifted to
            // start now, not squeezed before what is already waiting.
            o.scheduled.extend(scheduled);
        }
        // A plan without delay sends everything as soon as it is taken (in the plan's
        // order); a late one waits for the clock.
        let immediate = o.plan.is_some_and(|p| p.delay_secs == 0);
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut o.scheduled)
            .into_iter()
            .partition(|(at, _)| immediate || *at <= now);
        o.scheduled = later;
        due.into_iter().map(|(_, e)| e).collect()
    };
    for e in due {
        let signed = e.signed(&cfg.secret, clock.now_secs());
        let _ = post(cfg, &signed.body, &signed.signature).await;
        h.lock().sent += 1;
    }
}

async fn post(cfg: &SenderConfig, body: &[u8], signature: &str) -> Result<u16, String> {
    let req = http::Request::builder()
        .method(http::Method::POST)
        .uri(&cfg.path)
        .header(HOST, cfg.addr.to_string())
        .header(CONTENT_TYPE, "application/json")
        .header(USER_AGENT, "rampart-sandbox-webhooks")
        .header("Stripe-Signature", signature)
        .body(Full::new(Bytes::from(body.to_vec())))
        .map_err(|e| e.to_string())?;
    let tcp = TcpStream::connect(cfg.addr)
        .await
        .map_err(|e| e.to_string())?;
    let resp = crate::payment::http::roundtrip(TokioIo::new(tcp), req)
        .await
        .map_err(|e| e.to_string())?;
    Ok(resp.status)
}
