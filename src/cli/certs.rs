//! Serving certificates for clusters without cert-manager or OpenShift's service-ca, and
//! the development certificate `serve` uses when none is given.
//!
//! Keys are ECDSA P-256: full TLS handshakes cost about a third of RSA 2048's in rustls.
//! The serving certificate carries every name as a subject alternative name (the
//! apiserver refuses a CN-only certificate), e.g. `ibgu-webhook.ibgu-system.svc`.
//!
//! ```
//! let bundle = ibgu_webhook::cli::certs::generate(&["ibgu-webhook.ibgu-system.svc".into()], &[], 365).unwrap();
//! assert!(bundle.ca_pem.starts_with("-----BEGIN CERTIFICATE-----"));
//! assert!(bundle.key_pem.contains("PRIVATE KEY"));
//! ```

use std::net::IpAddr;
use std::path::Path;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, SanType,
};
use time::{Duration, OffsetDateTime};

/// Why certificates could not be made or written.
#[derive(Debug, thiserror::Error)]
pub enum CertsError {
    /// The certificate library refused the parameters.
    #[error("generating certificates: {0}")]
    Generate(#[from] rcgen::Error),
    /// A file could not be written.
    #[error("writing {path}: {source}")]
    Write {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// No name to put in the certificate.
    #[error("at least one --dns name or --ip address is needed")]
    NoNames,
}

/// A CA and a serving certificate signed by it, PEM-encoded.
#[derive(Clone)]
pub struct Bundle {
    /// The CA certificate: the `caBundle` of the webhook configurations.
    pub ca_pem: String,
    /// The serving certificate.
    pub cert_pem: String,
    /// The serving certificate's private key (PKCS#8).
    pub key_pem: String,
}

impl std::fmt::Debug for Bundle {
    // The key is never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bundle").finish_non_exhaustive()
    }
}

/// Generates a CA and a serving certificate for `dns` names and `ips`, valid for `days`.
pub fn generate(dns: &[String], ips: &[IpAddr], days: i64) -> Result<Bundle, CertsError> {
    if dns.is_empty() && ips.is_empty() {
        return Err(CertsError::NoNames);
    }
    let now = OffsetDateTime::now_utc();
    // Accept clocks a little behind ours.
    let not_before = now - Duration::hours(1);
    let not_after = now + Duration::days(days.max(1));

    let ca_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.distinguished_name
        .push(DnType::CommonName, "ibgu-webhook CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca.not_before = not_before;
    ca.not_after = not_after + Duration::days(1);
    let ca_cert = ca.self_signed(&ca_key)?;

    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let mut leaf = CertificateParams::new(dns.to_vec())?;
    leaf.subject_alt_names
        .extend(ips.iter().map(|ip| SanType::IpAddress(*ip)));
    let cn = dns
        .first()
        .cloned()
        .or_else(|| ips.first().map(ToString::to_string))
        .unwrap_or_default();
    leaf.distinguished_name.push(DnType::CommonName, cn);
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.not_before = not_before;
    leaf.not_after = not_after;
    let issuer = Issuer::from_params(&ca, &ca_key);
    let cert = leaf.signed_by(&key, &issuer)?;

    Ok(Bundle {
        ca_pem: ca_cert.pem(),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

impl Bundle {
    /// Writes `ca.crt`, `tls.crt` and `tls.key` (mode 0600) into `dir`, creating it.
    pub fn write(&self, dir: &Path) -> Result<(), CertsError> {
        let err = |path: &Path| {
            let path = path.display().to_string();
            move |source| CertsError::Write { path, source }
        };
        std::fs::create_dir_all(dir).map_err(err(dir))?;
        for (name, pem, private) in [
            ("ca.crt", &self.ca_pem, false),
            ("tls.crt", &self.cert_pem, false),
            ("tls.key", &self.key_pem, true),
        ] {
            let path = dir.join(name);
            write_file(&path, pem.as_bytes(), private).map_err(err(&path))?;
        }
        Ok(())
    }
}

fn write_file(path: &Path, bytes: &[u8], private: bool) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    options.open(path)?.write_all(bytes)
}

/// The names the development certificate covers: loopback, `localhost`, and the service
/// names of the default install.
pub fn development_names() -> (Vec<String>, Vec<IpAddr>) {
    (
        vec![
            "localhost".into(),
            "ibgu-webhook".into(),
            "ibgu-webhook.ibgu-system".into(),
            "ibgu-webhook.ibgu-system.svc".into(),
        ],
        vec![
            IpAddr::from([127, 0, 0, 1]),
            IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1]),
        ],
    )
}
