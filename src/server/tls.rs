//! TLS for the webhook: rustls (ring), TLS 1.2 and 1.3, HTTP/2 and HTTP/1.1 by ALPN,
//! optional client-certificate authentication of the apiserver, and serving certificates
//! that are reloaded in place.
//!
//! cert-manager and OpenShift's service-ca rotate the serving certificate by updating a
//! Secret that kubelet projects into the pod, swapping a `..data` symlink; a per-file
//! inotify watch misses that. [`CertStore::reload_from`] therefore re-reads both files by
//! path on a short interval and swaps in a new pair only when it changed and is valid:
//! it parses, its key matches its certificate, and it has not expired. A bad pair is
//! refused, logged and counted, and the last good pair keeps serving. New handshakes pick
//! the current pair through [`CertStore`], a rustls certificate resolver.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;

/// Why a certificate pair or a TLS configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The certificate PEM holds no certificate, or one that does not parse.
    #[error("certificate: {0}")]
    Certificate(String),
    /// The key PEM holds no usable private key.
    #[error("private key: {0}")]
    Key(String),
    /// The key does not belong to the certificate.
    #[error("the private key does not match the certificate: {0}")]
    Mismatch(rustls::Error),
    /// The certificate's validity has ended.
    #[error("the certificate expired at {0} (unix time)")]
    Expired(i64),
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Config(#[from] rustls::Error),
    /// The client CA bundle could not be used.
    #[error("client CA: {0}")]
    ClientCa(String),
}

/// The crypto provider used throughout: ring (no C toolchain beyond `cc` needed).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A validated serving certificate and key.
pub struct LoadedCert {
    key: Arc<CertifiedKey>,
    not_after: i64,
    source: Vec<u8>,
}

impl std::fmt::Debug for LoadedCert {
    // Never prints key material.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedCert")
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

impl LoadedCert {
    /// Parses and validates a PEM certificate chain and its PEM private key.
    pub fn from_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<Self, TlsError> {
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem)
            .collect::<Result<_, _>>()
            .map_err(|e| TlsError::Certificate(e.to_string()))?;
        let Some(leaf) = chain.first() else {
            return Err(TlsError::Certificate("no certificate in PEM".into()));
        };
        let not_after = not_after(leaf)?;
        if not_after <= now() {
            return Err(TlsError::Expired(not_after));
        }
        let key =
            PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| TlsError::Key(e.to_string()))?;
        let signing = provider()
            .key_provider
            .load_private_key(key)
            .map_err(|e| TlsError::Key(e.to_string()))?;
        let certified = CertifiedKey::new(chain, signing);
        certified.keys_match().map_err(TlsError::Mismatch)?;
        let mut source = cert_pem.to_vec();
        source.extend_from_slice(key_pem);
        Ok(LoadedCert {
            key: Arc::new(certified),
            not_after,
            source,
        })
    }

    /// When the serving certificate expires (unix seconds).
    pub fn not_after(&self) -> i64 {
        self.not_after
    }
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn not_after(cert: &CertificateDer<'_>) -> Result<i64, TlsError> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref())
        .map_err(|e| TlsError::Certificate(e.to_string()))?;
    Ok(parsed.validity().not_after.timestamp())
}

/// The serving certificate in use, swapped atomically on reload, with reload counters.
#[derive(Debug)]
pub struct CertStore {
    current: ArcSwap<LoadedCert>,
    reloads: AtomicU64,
    failures: AtomicU64,
}

/// The result of one reload attempt.
#[derive(Debug, PartialEq, Eq)]
pub enum Reload {
    /// The files are as last loaded.
    Unchanged,
    /// A new valid pair now serves.
    Reloaded,
}

impl CertStore {
    /// A store serving `cert`.
    pub fn new(cert: LoadedCert) -> Self {
        CertStore {
            current: ArcSwap::from_pointee(cert),
            reloads: AtomicU64::new(0),
            failures: AtomicU64::new(0),
        }
    }

    /// Re-reads the pair from `files`; swaps it in when it changed and is valid. On error
    /// the previous pair keeps serving and the failure is counted.
    pub fn reload_from(&self, files: &CertFiles) -> Result<Reload, TlsError> {
        let result = files.read().and_then(|(cert, key)| {
            let current = self.current.load();
            let same = current.source.len() == cert.len() + key.len()
                && current.source[..cert.len()] == cert[..]
                && current.source[cert.len()..] == key[..];
            if same {
                return Ok(Reload::Unchanged);
            }
            let loaded = LoadedCert::from_pem(&cert, &key)?;
            self.current.store(Arc::new(loaded));
            Ok(Reload::Reloaded)
        });
        match &result {
            Ok(Reload::Reloaded) => {
                self.reloads.fetch_add(1, Ordering::Relaxed);
            }
            Ok(Reload::Unchanged) => {}
            Err(_) => {
                self.failures.fetch_add(1, Ordering::Relaxed);
            }
        }
        result
    }

    /// When the serving certificate expires (unix seconds).
    pub fn not_after(&self) -> i64 {
        self.current.load().not_after
    }

    /// Whether the serving certificate is still valid now.
    pub fn valid_now(&self) -> bool {
        self.not_after() > now()
    }

    /// How many times a new pair was swapped in.
    pub fn reloads(&self) -> u64 {
        self.reloads.load(Ordering::Relaxed)
    }

    /// How many reload attempts were refused.
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load().key.clone())
    }
}

/// Where the serving certificate and key live on disk.
#[derive(Debug, Clone)]
pub struct CertFiles {
    /// PEM certificate chain, leaf first.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
}

impl CertFiles {
    fn read(&self) -> Result<(Vec<u8>, Vec<u8>), TlsError> {
        let read = |p: &Path| {
            std::fs::read(p).map_err(|source| TlsError::Read {
                path: p.display().to_string(),
                source,
            })
        };
        Ok((read(&self.cert)?, read(&self.key)?))
    }

    /// Loads the pair, validated.
    pub fn load(&self) -> Result<LoadedCert, TlsError> {
        let (cert, key) = self.read()?;
        LoadedCert::from_pem(&cert, &key)
    }
}

/// The rustls server configuration: TLS 1.3 and 1.2, ALPN `h2` then `http/1.1`, the
/// certificate from `store`, and client certificates required and verified against
/// `client_ca_pem` when given.
pub fn server_config(
    store: Arc<CertStore>,
    client_ca_pem: Option<&[u8]>,
) -> Result<rustls::ServerConfig, TlsError> {
    let provider = provider();
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?;
    let builder = match client_ca_pem {
        None => builder.with_no_client_auth(),
        Some(pem) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(pem) {
                let cert = cert.map_err(|e| TlsError::ClientCa(e.to_string()))?;
                roots
                    .add(cert)
                    .map_err(|e| TlsError::ClientCa(e.to_string()))?;
            }
            if roots.is_empty() {
                return Err(TlsError::ClientCa("no certificate in the bundle".into()));
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| TlsError::ClientCa(e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_cert_resolver(store);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::certs;

    fn bundle() -> certs::Bundle {
        certs::generate(&["svc.ns.svc".into()], &[], 30).unwrap()
    }

    #[test]
    fn loads_a_valid_pair_and_refuses_bad_ones() {
        let b = bundle();
        let loaded = LoadedCert::from_pem(b.cert_pem.as_bytes(), b.key_pem.as_bytes()).unwrap();
        assert!(loaded.not_after() > now() + 29 * 86_400);
        let other = bundle();
        assert!(matches!(
            LoadedCert::from_pem(b.cert_pem.as_bytes(), other.key_pem.as_bytes()),
            Err(TlsError::Mismatch(_))
        ));
        assert!(matches!(
            LoadedCert::from_pem(b"garbage", b.key_pem.as_bytes()),
            Err(TlsError::Certificate(_))
        ));
        assert!(matches!(
            LoadedCert::from_pem(b.cert_pem.as_bytes(), b""),
            Err(TlsError::Key(_))
        ));
        let half = &b.cert_pem.as_bytes()[..b.cert_pem.len() / 2];
        assert!(LoadedCert::from_pem(half, b.key_pem.as_bytes()).is_err());
    }

    #[test]
    fn reload_swaps_only_valid_changes() {
        let dir = std::env::temp_dir().join(format!("ibgu-tls-{}", std::process::id()));
        let b = bundle();
        b.write(&dir).unwrap();
        let files = CertFiles {
            cert: dir.join("tls.crt"),
            key: dir.join("tls.key"),
        };
        let store = CertStore::new(files.load().unwrap());
        assert_eq!(store.reload_from(&files).unwrap(), Reload::Unchanged);
        std::fs::write(&files.cert, "garbage").unwrap();
        assert!(store.reload_from(&files).is_err());
        assert_eq!((store.reloads(), store.failures()), (0, 1));
        bundle().write(&dir).unwrap();
        assert_eq!(store.reload_from(&files).unwrap(), Reload::Reloaded);
        assert_eq!((store.reloads(), store.failures()), (1, 1));
        assert!(store.valid_now());
        let _ = std::fs::remove_dir_all(dir);
    }
}
