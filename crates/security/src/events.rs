//! Structured security events (C3): one place that names every event, logs it as a
//! JSON record on the `security` target with truncated IP and user agent and no
//! secrets, and counts it in `rampart_security_events_total{event=…}`.

use crate::client_ip::ip_prefix;
use crate::metrics::Metrics;
use std::net::IpAddr;
use std::sync::Arc;

/// Every security event Rampart emits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SecurityEvent {
    /// Successful login.
    LoginSuccess,
    /// Failed login (wrong password, unknown account, locked, banned).
    LoginFailure,
    /// An account entered its login cool-down.
    Lockout,
    /// A user changed their password.
    PasswordChange,
    /// A password was reset with a reset token.
    PasswordReset,
    /// A reset link was requested.
    PasswordResetRequest,
    /// An access/refresh token pair was issued.
    TokenCreated,
    /// A refresh token was rotated.
    TokenRotated,
    /// A rotated refresh token was presented again outside the grace window.
    RefreshReuseDetected,
    /// A session (and its refresh family) was revoked.
    SessionRevoked,
    /// The concurrent-session limit evicted the oldest session.
    SessionEvicted,
    /// A personal access token was created.
    PatCreate,
    /// A personal access token was changed.
    PatUpdate,
    /// A personal access token was deleted.
    PatDelete,
    /// An account's status changed (ban, unban, delete).
    AccountStatusChange,
    /// A rate limit refused a request.
    RateLimitHit,
    /// A CSRF check refused a request.
    CsrfRejected,
    /// A session's fingerprint changed.
    SuspiciousSession,
    /// A login from a device never seen for the account.
    NewDeviceLogin,
    /// A webhook signature did not verify.
    WebhookSignatureFailure,
    /// TOTP enrolled.
    TotpEnabled,
    /// A TOTP or recovery code was wrong or replayed.
    TotpFailure,
    /// A signing key was rotated.
    KeyRotated,
    /// A signing key was revoked.
    KeyRevoked,
    /// A request presented an invalid, expired or revoked token.
    TokenRejected,
    /// The worker's scheduled reconciliation or monitoring found a ledger anomaly
    /// (an imbalance, a transaction held too long, a store's refunds or disputes
    /// spiking).
    LedgerAnomaly,
}

impl SecurityEvent {
    /// The stable event name.
    pub fn as_str(self) -> &'static str {
        use SecurityEvent::*;
        match self {
            LoginSuccess => "login_success",
            LoginFailure => "login_failure",
            Lockout => "lockout",
            PasswordChange => "password_change",
            PasswordReset => "password_reset",
            PasswordResetRequest => "password_reset_request",
            TokenCreated => "token_created",
            TokenRotated => "token_rotated",
            RefreshReuseDetected => "refresh_reuse_detected",
            SessionRevoked => "session_revoked",
            SessionEvicted => "session_evicted",
            PatCreate => "pat_create",
            PatUpdate => "pat_update",
            PatDelete => "pat_delete",
            AccountStatusChange => "account_status_change",
            RateLimitHit => "rate_limit_hit",
            CsrfRejected => "csrf_rejected",
            SuspiciousSession => "suspicious_session",
            NewDeviceLogin => "new_device_login",
            WebhookSignatureFailure => "webhook_signature_failure",
            TotpEnabled => "totp_enabled",
            TotpFailure => "totp_failure",
            KeyRotated => "key_rotated",
            KeyRevoked => "key_revoked",
            TokenRejected => "token_rejected",
            LedgerAnomaly => "ledger_anomaly",
        }
    }

    /// `info` for routine events, `warn` for ones worth a look.
    pub fn severity(self) -> &'static str {
        use SecurityEvent::*;
        match self {
            LoginSuccess | PasswordChange | PasswordReset | PasswordResetRequest | TokenCreated
            | TokenRotated | PatCreate | PatUpdate | PatDelete | TotpEnabled | KeyRotated
            | SessionRevoked | SessionEvicted => "info",
            _ => "warn",
        }
    }
}

/// Who and where, for an event.
#[derive(Debug, Clone, Default)]
pub struct EventContext<'a> {
    /// Correlation ID.
    pub request_id: Option<&'a str>,
    /// Client IP (logged only as a prefix).
    pub ip: Option<IpAddr>,
    /// User agent (logged truncated).
    pub user_agent: Option<&'a str>,
    /// Acting or affected user.
    pub user_id: Option<&'a str>,
}

/// Truncates a user agent for logs: enough to recognise the client, not to track it.
pub fn truncate_ua(ua: &str) -> String {
    ua.chars().filter(|c| !c.is_control()).take(64).collect()
}

/// Emits events.
#[derive(Debug, Clone)]
pub struct SecurityEvents {
    metrics: Arc<Metrics>,
}

impl SecurityEvents {
    /// Events counted in `metrics`.
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Self { metrics }
    }

    /// Logs and counts one event; `detail` holds extra non-secret facts
    /// (a reason code, a policy name…).
    pub fn emit(&self, event: SecurityEvent, ctx: &EventContext<'_>, detail: &[(&str, &str)]) {
        self.metrics.inc(
            "rampart_security_events_total",
            "Security events by type.",
            &[("event", event.as_str())],
        );
        let ip = ctx.ip.map(ip_prefix).unwrap_or_default();
        let ua = ctx.user_agent.map(truncate_ua).unwrap_or_default();
        let detail: serde_json::Map<String, serde_json::Value> = detail
            .iter()
            .map(|(k, v)| ((*k).to_owned(), serde_json::Value::String((*v).to_owned())))
            .collect();
        let detail = serde_json::Value::Object(detail).to_string();
        if event.severity() == "warn" {
            tracing::warn!(
                target: "security",
                event = event.as_str(),
                severity = event.severity(),
                request_id = ctx.request_id.unwrap_or(""),
                user_id = ctx.user_id.unwrap_or(""),
                ip_prefix = %ip,
                user_agent = %ua,
                detail = %detail,
                "security event"
            );
        } else {
            tracing::info!(
                target: "security",
                event = event.as_str(),
                severity = event.severity(),
                request_id = ctx.request_id.unwrap_or(""),
                user_id = ctx.user_id.unwrap_or(""),
                ip_prefix = %ip,
                user_agent = %ua,
                detail = %detail,
                "security event"
            );
        }
    }
}
