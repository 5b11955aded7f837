//! The api's own https listener (SCIM_TLS_CERT / SCIM_TLS_KEY): rustls on the accepted sockets,
//! each connection then served by `connections::serve` as a plain one is.
//!
//! The certificate is reloaded when its files change (checked every SCIM_TLS_RELOAD_SECS), so
//! that a renewal (cert-manager, certbot, a mounted secret being updated) needs no restart: new
//! connections get the new certificate, open ones keep theirs. A pair that does not load (a file
//! half written, a key that does not match the certificate) is logged and the previous
//! certificate stays in use until the files change again.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

/// Where the certificate and key are, and how often to look for a new pair.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub reload_every: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{what} {path}: {source}")]
    Read {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{what} {path}: {detail}")]
    Pem {
        what: &'static str,
        path: PathBuf,
        detail: String,
    },
    #[error("SCIM_TLS_CERT {0} holds no certificate")]
    NoCertificate(PathBuf),
    #[error("the key in SCIM_TLS_KEY does not fit the certificate in SCIM_TLS_CERT (or is unusable): {0}")]
    Key(rustls::Error),
    #[error("TLS configuration: {0}")]
    Config(rustls::Error),
}

fn provider() -> Arc<CryptoProvider> {
    // The one provider of the workspace, named rather than looked up process-wide.
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Reads and checks a certificate chain and its key (PEM; PKCS#8, PKCS#1 or SEC1 keys).
pub fn load(cert: &Path, key: &Path) -> Result<CertifiedKey, TlsError> {
    let read = |what, path: &Path| {
        std::fs::read(path).map_err(|source| TlsError::Read {
            what,
            path: path.to_owned(),
            source,
        })
    };
    let pem_err = |what, path: &Path, e: rustls::pki_types::pem::Error| TlsError::Pem {
        what,
        path: path.to_owned(),
        detail: e.to_string(),
    };
    let chain = CertificateDer::pem_slice_iter(&read("SCIM_TLS_CERT", cert)?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_err("SCIM_TLS_CERT", cert, e))?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate(cert.to_owned()));
    }
    let key_der = PrivateKeyDer::from_pem_slice(&read("SCIM_TLS_KEY", key)?)
        .map_err(|e| pem_err("SCIM_TLS_KEY", key, e))?;
    CertifiedKey::from_der(chain, key_der, &provider()).map_err(TlsError::Key)
}

/// The certificate new handshakes get; replaced by [`watch`].
#[derive(Debug)]
pub struct Current(RwLock<Arc<CertifiedKey>>);

impl Current {
    fn get(&self) -> Arc<CertifiedKey> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn set(&self, key: CertifiedKey) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(key);
    }
}

impl ResolvesServerCert for Current {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.get())
    }
}

/// The listener's TLS acceptor and the certificate holder [`watch`] updates. Fails (stopping
/// the start) if the files do not give a usable certificate.
pub fn acceptor(files: &TlsFiles) -> Result<(TlsAcceptor, Arc<Current>), TlsError> {
    let current = Arc::new(Current(RwLock::new(Arc::new(load(&files.cert, &files.key)?))));
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Config)?
        .with_no_client_auth()
        .with_cert_resolver(current.clone());
    // Only HTTP/1.1 is served (axum's http1); saying so lets clients skip asking for h2.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok((TlsAcceptor::from(Arc::new(config)), current))
}

/// What a file looked like when it was last read; a change of either file means a new pair.
fn stamp(files: &TlsFiles) -> Option<[(SystemTime, u64); 2]> {
    let of = |p: &Path| {
        let m = std::fs::metadata(p).ok()?;
        Some((m.modified().ok()?, m.len()))
    };
    Some([of(&files.cert)?, of(&files.key)?])
}

/// Reloads the certificate whenever its files change, until shutdown.
pub fn watch(
    files: TlsFiles,
    current: Arc<Current>,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut seen = stamp(&files);
        let mut tick = tokio::time::interval(files.reload_every.max(Duration::from_millis(100)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = shutdown.cancelled() => return,
            }
            let now = stamp(&files);
            if now == seen {
                continue;
            }
            // Reported once per change of the files, whatever the outcome.
            seen = now;
            match load(&files.cert, &files.key) {
                Ok(key) => {
                    current.set(key);
                    tracing::info!(cert = %files.cert.display(), "TLS certificate reloaded");
                }
                Err(e) => tracing::warn!(
                    error = %e,
                    "the changed TLS certificate files do not load; the previous certificate stays in use"
                ),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_files_are_named_in_the_error() {
        let err = load(
            Path::new("/nonexistent/cert.pem"),
            Path::new("/nonexistent/key.pem"),
        )
        .unwrap_err();
        assert!(
            err.to_string().starts_with("SCIM_TLS_CERT /nonexistent/cert.pem"),
            "{err}"
        );
    }

    #[test]
    fn a_file_without_a_certificate_is_refused() {
        let path = std::env::temp_dir().join(format!("scim-tls-{}", uuid::Uuid::new_v4()));
        std::fs::write(&path, "not a certificate\n").unwrap();
        let err = load(&path, &path).unwrap_err();
        std::fs::remove_file(&path).unwrap();
        assert!(matches!(err, TlsError::NoCertificate(_)), "{err}");
    }
}
