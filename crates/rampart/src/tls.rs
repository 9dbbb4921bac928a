//! TLS termination (B8, issue 8): rustls with the ring provider, TLS 1.3 and 1.2 only,
//! ECDHE + AEAD suites only, HTTP/1.1 by ALPN. The certificate and key are re-read on
//! SIGHUP; a bad pair is refused and the previous one keeps serving.

use crate::listener::TlsFiles;
use anyhow::{bail, Context, Result};
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::sync::{Arc, RwLock};

/// The one crypto provider: ring (no aws-lc-rs, no cmake). Its defaults are the
/// modern set: TLS 1.3 AES-GCM/ChaCha20 suites and TLS 1.2 ECDHE-ECDSA/RSA with
/// AES-GCM/ChaCha20 (no CBC, no RSA key exchange), X25519/P-256/P-384.
pub fn provider() -> CryptoProvider {
    rustls::crypto::ring::default_provider()
}

/// Holds the current certificate; every new handshake reads it.
#[derive(Debug)]
struct Resolver {
    current: RwLock<Arc<CertifiedKey>>,
}

impl ResolvesServerCert for Resolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        )
    }
}

/// The server's TLS configuration and the files it reloads from.
#[derive(Debug)]
pub struct TlsState {
    files: TlsFiles,
    resolver: Arc<Resolver>,
    config: Arc<ServerConfig>,
}

impl TlsState {
    /// Loads the files and builds the configuration; any problem is an error that
    /// names the file (never its contents).
    pub fn load(files: &TlsFiles) -> Result<Self> {
        let key = load_pair(files)?;
        let resolver = Arc::new(Resolver {
            current: RwLock::new(Arc::new(key)),
        });
        let mut config = ServerConfig::builder_with_provider(Arc::new(provider()))
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .context("TLS protocol versions")?
            .with_no_client_auth()
            .with_cert_resolver(resolver.clone());
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        // Our suite order (strongest first), not the client's.
        config.ignore_client_order = true;
        Ok(Self {
            files: files.clone(),
            resolver,
            config: Arc::new(config),
        })
    }

    /// The configuration new handshakes use.
    pub fn server_config(&self) -> Arc<ServerConfig> {
        self.config.clone()
    }

    /// Re-reads the files (what SIGHUP does). On error the current certificate stays.
    pub fn reload(&self) -> Result<()> {
        let key = load_pair(&self.files)?;
        *self
            .resolver
            .current
            .write()
            .unwrap_or_else(|e| e.into_inner()) = Arc::new(key);
        Ok(())
    }
}

fn load_pair(files: &TlsFiles) -> Result<CertifiedKey> {
    let certs = CertificateDer::pem_file_iter(&files.cert)
        .with_context(|| format!("reading the TLS certificate {}", files.cert.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("parsing the TLS certificate {}", files.cert.display()))?;
    if certs.is_empty() {
        bail!(
            "the TLS certificate file {} holds no certificate",
            files.cert.display()
        );
    }
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .with_context(|| format!("reading the TLS private key {}", files.key.display()))?;
    CertifiedKey::from_der(certs, key, &provider()).with_context(|| {
        format!(
            "the TLS key {} does not match the certificate {} or has an unsupported type",
            files.key.display(),
            files.cert.display()
        )
    })
}
