//! The SMTP adapter: [`SmtpMailer`] sends through a relay with lettre over rustls (ring).
//!
//! Encryption is chosen, never negotiated down: `Plain` (local development only),
//! `StartTls` (required — a server that does not offer STARTTLS gets nothing) or
//! `Implicit` TLS (SMTPS). Credentials are refused on a plain connection.

use crate::mailer::{Mailer, Outgoing, SendError};
use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::path::PathBuf;
use std::time::Duration;

/// How the connection to the relay is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// No encryption: only for a relay on the same host or a test server.
    Plain,
    /// Plain connect, then STARTTLS, required (default port 587).
    StartTls,
    /// TLS from the first byte (SMTPS, default port 465).
    Implicit,
}

/// The SMTP password; never printed.
#[derive(Clone)]
pub struct SmtpPassword(String);

impl SmtpPassword {
    /// Wraps a password (trailing newlines from a `*_FILE` are the caller's to trim).
    pub fn new(p: impl Into<String>) -> Self {
        SmtpPassword(p.into())
    }
}

impl std::fmt::Debug for SmtpPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SmtpPassword(***)")
    }
}

/// A configuration that cannot work.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The URL does not parse or uses something unsupported.
    #[error("SMTP URL: {0}")]
    Url(String),
    /// The sender address does not parse.
    #[error("sender address {0:?} is not a valid mailbox")]
    From(String),
    /// Credentials on a plain connection.
    #[error("SMTP authentication needs STARTTLS or implicit TLS; refusing to send a password in plain text")]
    PlainAuth,
    /// A username without password or the other way round.
    #[error("SMTP username and password go together")]
    HalfCredentials,
    /// The extra root certificate file.
    #[error("SMTP CA file {0}: {1}")]
    CaFile(String, String),
    /// TLS setup failed.
    #[error("SMTP TLS setup: {0}")]
    Tls(String),
}

/// Where and how to send.
#[derive(Debug, Clone)]
pub struct SmtpConfig {
    /// Relay host name (also the name its certificate must carry) or IP address.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Encryption.
    pub tls: TlsMode,
    /// AUTH user.
    pub username: Option<String>,
    /// AUTH password.
    pub password: Option<SmtpPassword>,
    /// Sender, `Name <addr>` or `addr`.
    pub from: String,
    /// PEM file of extra trusted roots (a private CA or a self-signed relay), trusted
    /// in addition to the system's roots.
    pub ca_file: Option<PathBuf>,
    /// Name sent in EHLO; default: the sender's domain.
    pub helo_name: Option<String>,
    /// Connect timeout (lettre's own; it does not time single commands).
    pub timeout: Duration,
    /// Limit for one whole message, connect to QUIT: a relay that stops answering
    /// must not hold the deliverer (the claim lease must exceed batch × this).
    pub send_timeout: Duration,
}

impl SmtpConfig {
    /// Reads `smtp://[user@]host[:port][?starttls=required|never]` or
    /// `smtps://[user@]host[:port]`. `smtp://` means STARTTLS required unless
    /// `starttls=never` asks for a plain connection. A password in the URL is refused
    /// (it would end up in logs and process lists): pass it separately.
    ///
    /// ```
    /// use rampart_mail::smtp::{SmtpConfig, TlsMode};
    /// let c = SmtpConfig::from_url("smtps://mailer@mail.example.org", "noreply@example.org").unwrap();
    /// assert_eq!((c.tls, c.port, c.username.as_deref()), (TlsMode::Implicit, 465, Some("mailer")));
    /// let c = SmtpConfig::from_url("smtp://mail.example.org?starttls=required", "a@b.c").unwrap();
    /// assert_eq!((c.tls, c.port), (TlsMode::StartTls, 587));
    /// assert!(SmtpConfig::from_url("smtp://u:pw@h", "a@b.c").is_err());
    /// ```
    pub fn from_url(raw: &str, from: &str) -> Result<SmtpConfig, ConfigError> {
        let url = url::Url::parse(raw.trim()).map_err(|e| ConfigError::Url(e.to_string()))?;
        if url.password().is_some() {
            return Err(ConfigError::Url(
                "put the password in RAMPART_SMTP_PASSWORD or RAMPART_SMTP_PASSWORD_FILE, not in the URL".into(),
            ));
        }
        let host = match url.host() {
            Some(url::Host::Domain(d)) => d.to_owned(),
            Some(url::Host::Ipv4(a)) => a.to_string(),
            Some(url::Host::Ipv6(a)) => a.to_string(),
            None => return Err(ConfigError::Url("no host".into())),
        };
        if !(url.path().is_empty() || url.path() == "/") || url.fragment().is_some() {
            return Err(ConfigError::Url(
                "only scheme, user, host, port and ?starttls= are allowed".into(),
            ));
        }
        let mut starttls: Option<String> = None;
        for (k, v) in url.query_pairs() {
            match k.as_ref() {
                "starttls" if starttls.is_none() => starttls = Some(v.to_ascii_lowercase()),
                other => {
                    return Err(ConfigError::Url(format!(
                        "unknown or repeated parameter {other:?}"
                    )))
                }
            }
        }
        let tls = match (url.scheme(), starttls.as_deref()) {
            ("smtps", None) => TlsMode::Implicit,
            ("smtps", Some(_)) => {
                return Err(ConfigError::Url(
                    "smtps:// is TLS from the start; starttls= does not apply".into(),
                ))
            }
            ("smtp", None | Some("required")) => TlsMode::StartTls,
            ("smtp", Some("never")) => TlsMode::Plain,
            ("smtp", Some(other)) => {
                return Err(ConfigError::Url(format!(
                    "starttls={other} is not supported: use required (or never for a local relay); \
                     opportunistic STARTTLS can be stripped by an attacker"
                )))
            }
            (s, _) => {
                return Err(ConfigError::Url(format!(
                    "scheme {s:?}: use smtp:// or smtps://"
                )))
            }
        };
        let port = url.port().unwrap_or(match tls {
            TlsMode::Implicit => 465,
            TlsMode::StartTls => 587,
            TlsMode::Plain => 25,
        });
        let username = match url.username() {
            "" => None,
            u => Some(
                percent_decode(u).ok_or_else(|| ConfigError::Url("bad escape in user".into()))?,
            ),
        };
        Ok(SmtpConfig {
            host,
            port,
            tls,
            username,
            password: None,
            from: from.to_owned(),
            ca_file: None,
            helo_name: None,
            timeout: Duration::from_secs(30),
            send_timeout: Duration::from_secs(60),
        })
    }

    /// True when the relay is this machine (plain text never leaves the host).
    pub fn is_loopback(&self) -> bool {
        self.host.eq_ignore_ascii_case("localhost")
            || self
                .host
                .parse::<std::net::IpAddr>()
                .map(|a| a.is_loopback())
                .unwrap_or(false)
    }
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Sends through one SMTP relay; a new connection per message.
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    send_timeout: Duration,
    from: Mailbox,
    msgid_domain: String,
}

impl std::fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpMailer")
            .field("from", &self.from.email.to_string())
            .finish_non_exhaustive()
    }
}

impl SmtpMailer {
    /// Checks `cfg` and builds the transport (no connection is made yet).
    pub fn new(cfg: &SmtpConfig) -> Result<SmtpMailer, ConfigError> {
        let from: Mailbox = cfg
            .from
            .parse()
            .map_err(|_| ConfigError::From(cfg.from.clone()))?;
        let domain = from.email.domain().to_owned();
        let tls_params = || -> Result<TlsParameters, ConfigError> {
            let mut b = TlsParameters::builder(cfg.host.clone());
            if let Some(path) = &cfg.ca_file {
                let pem = std::fs::read(path)
                    .map_err(|e| ConfigError::CaFile(path.display().to_string(), e.to_string()))?;
                let cert = Certificate::from_pem(&pem)
                    .map_err(|e| ConfigError::CaFile(path.display().to_string(), e.to_string()))?;
                b = b.add_root_certificate(cert);
            }
            b.build_rustls()
                .map_err(|e| ConfigError::Tls(e.to_string()))
        };
        let tls = match cfg.tls {
            TlsMode::Plain => Tls::None,
            TlsMode::StartTls => Tls::Required(tls_params()?),
            TlsMode::Implicit => Tls::Wrapper(tls_params()?),
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&cfg.host)
            .port(cfg.port)
            .tls(tls)
            .timeout(Some(cfg.timeout))
            .hello_name(ClientId::Domain(
                cfg.helo_name.clone().unwrap_or_else(|| domain.clone()),
            ));
        match (&cfg.username, &cfg.password) {
            (Some(user), Some(SmtpPassword(pw))) => {
                if cfg.tls == TlsMode::Plain {
                    return Err(ConfigError::PlainAuth);
                }
                builder = builder.credentials(Credentials::new(user.clone(), pw.clone()));
            }
            (None, None) => {}
            _ => return Err(ConfigError::HalfCredentials),
        }
        Ok(SmtpMailer {
            transport: builder.build(),
            send_timeout: cfg.send_timeout,
            from,
            msgid_domain: domain,
        })
    }

    fn message(&self, mail: Outgoing<'_>) -> Result<Message, SendError> {
        let to: Mailbox = mail.to.parse().map_err(|_| SendError::Permanent {
            code: None,
            detail: "recipient address does not parse".into(),
        })?;
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(mail.subject)
            .message_id(Some(format!("<{}@{}>", mail.id, self.msgid_domain)))
            .header(ContentType::TEXT_PLAIN)
            .body(mail.body.to_owned())
            .map_err(|e| SendError::Permanent {
                code: None,
                detail: format!("message does not build: {e}"),
            })
    }
}

/// Authentication replies: a configuration problem, not a property of the message.
const AUTH_CODES: [u16; 4] = [530, 534, 535, 538];

fn classify(e: &lettre::transport::smtp::Error) -> SendError {
    let code = e.status().and_then(|c| c.to_string().parse::<u16>().ok());
    let detail = e.to_string();
    match code {
        Some(c) if e.is_permanent() && !AUTH_CODES.contains(&c) => {
            SendError::Permanent { code, detail }
        }
        _ => SendError::Transient { code, detail },
    }
}

impl Mailer for SmtpMailer {
    async fn send(&self, mail: Outgoing<'_>) -> Result<(), SendError> {
        let msg = self.message(mail)?;
        match tokio::time::timeout(self.send_timeout, self.transport.send(msg)).await {
            Ok(r) => r.map(|_| ()).map_err(|e| classify(&e)),
            Err(_) => Err(SendError::Transient {
                code: None,
                detail: format!("no answer within {:?}", self.send_timeout),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn urls() {
        let c = SmtpConfig::from_url("smtp://127.0.0.1:2525?starttls=never", "a@b.c").unwrap();
        assert_eq!(
            (c.tls, c.port, c.host.as_str()),
            (TlsMode::Plain, 2525, "127.0.0.1")
        );
        assert!(c.is_loopback());
        let c = SmtpConfig::from_url("smtp://relay.example", "a@b.c").unwrap();
        assert_eq!((c.tls, c.port), (TlsMode::StartTls, 587));
        assert!(!c.is_loopback());
        let c = SmtpConfig::from_url("smtps://us%40er@[::1]:4650", "a@b.c").unwrap();
        assert_eq!(c.username.as_deref(), Some("us@er"));
        assert_eq!((c.tls, c.port), (TlsMode::Implicit, 4650));
        for bad in [
            "smtp://h?starttls=opportunistic",
            "smtps://h?starttls=required",
            "smtp://u:p@h",
            "http://h",
            "smtp://h/path",
            "smtp://h?x=1",
            "smtp://h?starttls=never&starttls=required",
            "smtp://",
        ] {
            assert!(SmtpConfig::from_url(bad, "a@b.c").is_err(), "{bad}");
        }
    }

    #[test]
    fn no_password_over_plain_text_and_none_printed() {
        let mut c = SmtpConfig::from_url("smtp://localhost?starttls=never", "a@b.c").unwrap();
        c.username = Some("u".into());
        c.password = Some(SmtpPassword::new("hunter2"));
        assert!(matches!(SmtpMailer::new(&c), Err(ConfigError::PlainAuth)));
        assert!(!format!("{c:?}").contains("hunter2"));
        c.tls = TlsMode::StartTls;
        c.password = None;
        assert!(matches!(
            SmtpMailer::new(&c),
            Err(ConfigError::HalfCredentials)
        ));
        c.from = "not an address".into();
        c.username = None;
        assert!(matches!(SmtpMailer::new(&c), Err(ConfigError::From(_))));
    }
}
