//! The HTTPS transport for the Stripe adapter: hyper's HTTP/1 client over tokio-rustls
//! (the ring provider, system roots), one connection per call, with a deadline and a
//! response size cap. Plain HTTP only to a loopback host (a local stripe-mock, tests).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, HOST, USER_AGENT};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::stripe::{Method, RawResponse, SecretKey, StripeRequest, Transport};
use super::ProviderError;

/// The largest response body read (Stripe objects are a few KiB).
const MAX_BODY: usize = 1 << 20;

/// A base URL the transport cannot use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportSetupError {
    /// Not `https://host[:port]`, or `http://` to a host that is not loopback.
    #[error("bad provider base URL {0:?}")]
    BaseUrl(String),
    /// No usable TLS root certificates on this machine.
    #[error("no TLS root certificates found")]
    NoRoots,
    /// rustls refused the configuration.
    #[error("TLS setup: {0}")]
    Tls(String),
}

/// HTTPS (or loopback HTTP) to one provider host.
#[derive(Clone)]
pub struct HttpsTransport {
    host: String,
    port: u16,
    tls: Option<tokio_rustls::TlsConnector>,
    timeout: Duration,
}

impl fmt::Debug for HttpsTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpsTransport")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls.is_some())
            .field("timeout", &self.timeout)
            .finish()
    }
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl HttpsTransport {
    /// `https://api.stripe.com`.
    pub fn stripe() -> Result<Self, TransportSetupError> {
        Self::new("https://api.stripe.com", Duration::from_secs(30))
    }

    /// A transport to `base_url` (`https://host[:port]`, or `http://` to loopback),
    /// each call bounded by `timeout`.
    pub fn new(base_url: &str, timeout: Duration) -> Result<Self, TransportSetupError> {
        let bad = || TransportSetupError::BaseUrl(base_url.to_owned());
        let (https, rest) = if let Some(r) = base_url.strip_prefix("https://") {
            (true, r)
        } else if let Some(r) = base_url.strip_prefix("http://") {
            (false, r)
        } else {
            return Err(bad());
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        // Host names and IPv4 only: nothing here needs an IPv6 literal.
        if rest.is_empty() || rest.contains(['/', '?', '#', '@', '[', ']']) {
            return Err(bad());
        }
        let (host, port) = match rest.split_once(':') {
            Some((h, p)) => (h.to_owned(), p.parse::<u16>().map_err(|_| bad())?),
            None => (rest.to_owned(), if https { 443 } else { 80 }),
        };
        if host.is_empty() || (!https && !is_loopback(&host)) {
            return Err(bad());
        }
        let tls = if https { Some(connector()?) } else { None };
        Ok(Self {
            host,
            port,
            tls,
            timeout,
        })
    }

    fn request(
        &self,
        secret: &SecretKey,
        api_version: Option<&str>,
        req: &StripeRequest,
    ) -> Result<http::Request<Full<Bytes>>, ProviderError> {
        let bad = |e: http::Error| ProviderError::Unavailable(format!("request: {e}"));
        let default_port = if self.tls.is_some() { 443 } else { 80 };
        let host = if self.port == default_port {
            self.host.clone()
        } else {
            format!("{}:{}", self.host, self.port)
        };
        let mut auth = HeaderValue::from_str(&format!("Bearer {}", secret.expose()))
            .map_err(|_| ProviderError::Authentication)?;
        auth.set_sensitive(true);
        let mut b = http::Request::builder()
            .method(match req.method {
                Method::Get => http::Method::GET,
                Method::Post => http::Method::POST,
            })
            .uri(&req.path)
            .header(HOST, host)
            .header(AUTHORIZATION, auth)
            .header(USER_AGENT, concat!("rampart/", env!("CARGO_PKG_VERSION")));
        if let Some(v) = api_version {
            b = b.header("Stripe-Version", v);
        }
        if let Some(k) = &req.idempotency_key {
            b = b.header("Idempotency-Key", k.as_str());
        }
        let body = match req.method {
            Method::Get => Bytes::new(),
            Method::Post => {
                b = b.header(CONTENT_TYPE, "application/x-www-form-urlencoded");
                Bytes::from(req.body())
            }
        };
        b.body(Full::new(body)).map_err(bad)
    }

    async fn exchange(
        &self,
        request: http::Request<Full<Bytes>>,
    ) -> Result<RawResponse, ProviderError> {
        let io_err = |e: std::io::Error| ProviderError::Unavailable(format!("connect: {e}"));
        let tcp = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(io_err)?;
        match &self.tls {
            None => roundtrip(TokioIo::new(tcp), request).await,
            Some(tls) => {
                let name = rustls_pki_types::ServerName::try_from(self.host.clone())
                    .map_err(|_| ProviderError::Unavailable("bad TLS server name".into()))?;
                let stream = tls.connect(name, tcp).await.map_err(io_err)?;
                roundtrip(TokioIo::new(stream), request).await
            }
        }
    }
}

fn connector() -> Result<tokio_rustls::TlsConnector, TransportSetupError> {
    let mut roots = rustls::RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    let (added, _) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        return Err(TransportSetupError::NoRoots);
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| TransportSetupError::Tls(e.to_string()))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

pub(crate) async fn roundtrip<I>(
    io: I,
    request: http::Request<Full<Bytes>>,
) -> Result<RawResponse, ProviderError>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let fail = |e: hyper::Error| ProviderError::Unavailable(format!("http: {e}"));
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(fail)?;
    let driver = tokio::spawn(conn);
    let result = async {
        let resp = sender.send_request(request).await.map_err(fail)?;
        let status = resp.status().as_u16();
        let body = Limited::new(resp.into_body(), MAX_BODY)
            .collect()
            .await
            .map_err(|e| ProviderError::Unavailable(format!("body: {e}")))?
            .to_bytes();
        Ok(RawResponse {
            status,
            body: body.to_vec(),
        })
    }
    .await;
    driver.abort();
    result
}

impl Transport for HttpsTransport {
    async fn send(
        &self,
        secret: &SecretKey,
        api_version: Option<&str>,
        request: &StripeRequest,
    ) -> Result<RawResponse, ProviderError> {
        let request = self.request(secret, api_version, request)?;
        tokio::time::timeout(self.timeout, self.exchange(request))
            .await
            .map_err(|_| ProviderError::Unavailable("timeout".into()))?
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn base_urls_are_checked() {
        let t = Duration::from_secs(1);
        assert!(HttpsTransport::new("http://127.0.0.1:12111", t).is_ok());
        assert!(HttpsTransport::new("http://localhost:12111/", t).is_ok());
        for bad in [
            "http://api.stripe.com",
            "ftp://x",
            "https://",
            "https://a/b",
            "https://u@evil",
            "http://127.0.0.1:notaport",
        ] {
            assert!(HttpsTransport::new(bad, t).is_err(), "{bad}");
        }
    }

    /// A one-shot HTTP server: answers `reply` and hands back the raw request.
    async fn one_shot(reply: &'static str) -> (String, tokio::task::JoinHandle<String>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            loop {
                let n = s.read(&mut chunk).await.unwrap();
                buf.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buf).to_string();
                if let Some(head_end) = text.find("\r\n\r\n") {
                    let len = text
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length: "))
                        .and_then(|v| v.trim().parse::<usize>().ok())
                        .unwrap_or(0);
                    if buf.len() >= head_end + 4 + len {
                        break;
                    }
                }
                if n == 0 {
                    break;
                }
            }
            let resp = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{reply}",
                reply.len()
            );
            s.write_all(resp.as_bytes()).await.unwrap();
            String::from_utf8_lossy(&buf).to_string()
        });
        (format!("http://{addr}"), task)
    }

    #[tokio::test]
    async fn a_call_carries_the_headers_and_form_body() {
        let (base, server) = one_shot(r#"{"ok":true}"#).await;
        let t = HttpsTransport::new(&base, Duration::from_secs(5)).unwrap();
        let key = SecretKey::parse("sk_test_REDACTED_fake_key").unwrap();
        let req = StripeRequest {
            method: Method::Post,
            path: "/v1/refunds".into(),
            form: vec![("amount".into(), "5".into())],
            idempotency_key: Some("k-1".into()),
        };
        let r = t.send(&key, Some("2024-06-20"), &req).await.unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, &br#"{"ok":true}"#[..]));
        let seen = server.await.unwrap().to_ascii_lowercase();
        assert!(seen.starts_with("post /v1/refunds http/1.1\r\n"), "{seen}");
        for h in [
            "authorization: bearer sk_test_redacted_fake_key",
            "idempotency-key: k-1",
            "stripe-version: 2024-06-20",
            "content-type: application/x-www-form-urlencoded",
        ] {
            assert!(seen.contains(h), "missing {h} in {seen}");
        }
        assert!(seen.ends_with("\r\n\r\namount=5"));
    }

    #[tokio::test]
    async fn an_unreachable_provider_is_unavailable() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let t = HttpsTransport::new(&format!("http://{addr}"), Duration::from_secs(2)).unwrap();
        let key = SecretKey::parse("sk_test_REDACTED_fake_key").unwrap();
        let req = super::super::stripe::retrieve_intent_request(
            &crate::payment::IntentId::parse("pi_1").unwrap(),
        );
        let err = t.send(&key, None, &req).await.unwrap_err();
        assert_eq!(err.code(), "payment_provider_unavailable");
    }
}
