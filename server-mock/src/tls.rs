//! HTTPS: TLS 1.2 and 1.3 only (rustls with the ring provider), with either the operator's own
//! certificate or a local CA this server creates on first start.
//!
//! The local CA is what the ECSP agents mean by "download the server's SSL certificate": clients
//! fetch `GET /ca.pem` once (verifying its fingerprint out of band, printed at start) and trust it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};

use crate::fsutil::write_private;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {reason}")]
    File { path: String, reason: String },
    #[error("certificate generation failed: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("TLS configuration rejected: {0}")]
    Rustls(#[from] rustls::Error),
}

/// What the server presents, and the CA certificate clients may download (if it made one).
#[derive(Debug, Clone)]
pub struct TlsMaterial {
    pub config: Arc<ServerConfig>,
    pub ca_pem: Option<String>,
}

impl TlsMaterial {
    /// SHA-256 fingerprint of the CA certificate, for checking a download out of band.
    pub fn ca_fingerprint(&self) -> Option<String> {
        let pem = self.ca_pem.as_ref()?;
        let der = CertificateDer::from_pem_slice(pem.as_bytes()).ok()?;
        let digest = Sha256::digest(der.as_ref());
        Some(
            digest
                .iter()
                .map(|b| format!("{b:02X}"))
                .collect::<Vec<_>>()
                .join(":"),
        )
    }
}

fn file_err(path: &Path, reason: impl std::fmt::Display) -> TlsError {
    TlsError::File {
        path: path.display().to_string(),
        reason: reason.to_string(),
    }
}

/// The operator's certificate chain and key (PEM files).
pub fn from_files(cert: &Path, key: &Path) -> Result<TlsMaterial, TlsError> {
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(|e| file_err(cert, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_err(cert, e))?;
    if chain.is_empty() {
        return Err(file_err(cert, "holds no PEM certificate"));
    }
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| file_err(key, e))?;
    Ok(TlsMaterial {
        config: server_config(chain, key_der)?,
        ca_pem: None,
    })
}

const CA_DAYS: i64 = 3650;
/// Validity of the server certificate: within the CA/Browser Forum's 200-day limit (from March
/// 2026) and Mozilla's 366 days; the server renews it in its last 30 days, checking daily.
pub const SERVER_DAYS: i64 = 200;
const RENEW_WITHIN_DAYS: i64 = 30;

/// Uses the local CA and server certificate in `dir`, creating or renewing them as needed.
/// `hosts` are the names and addresses the server certificate is valid for.
pub fn local_ca(dir: &Path, hosts: &[String]) -> Result<TlsMaterial, TlsError> {
    std::fs::create_dir_all(dir).map_err(|e| file_err(dir, e))?;
    let ca_cert_path = dir.join("ca.pem");
    let ca_key_path = dir.join("ca.key");
    let cert_path = dir.join("server.pem");
    let key_path = dir.join("server.key");
    let expiry_path = dir.join("server.expires");
    let hosts_path = dir.join("server.hosts");

    let ca_key = if ca_key_path.exists() {
        let pem = std::fs::read_to_string(&ca_key_path).map_err(|e| file_err(&ca_key_path, e))?;
        KeyPair::from_pem(&pem).map_err(|e| file_err(&ca_key_path, e))?
    } else {
        let key = KeyPair::generate()?;
        write_private(&ca_key_path, key.serialize_pem().as_bytes())
            .map_err(|e| file_err(&ca_key_path, e))?;
        let _ = std::fs::remove_file(&ca_cert_path);
        key
    };
    // The CA certificate is re-derivable from its key and fixed name; children chain to it
    // whichever copy signed them, because both carry the same subject and key.
    let ca_params = ca_params()?;
    let ca_cert = ca_params.self_signed(&ca_key)?;
    if !ca_cert_path.exists() {
        write_private(&ca_cert_path, ca_cert.pem().as_bytes())
            .map_err(|e| file_err(&ca_cert_path, e))?;
        let _ = std::fs::remove_file(&cert_path);
    }

    let wanted_hosts = hosts.join("\n");
    let now = time::OffsetDateTime::now_utc();
    let still_good = cert_path.exists()
        && key_path.exists()
        && std::fs::read_to_string(&hosts_path).is_ok_and(|h| h == wanted_hosts)
        && std::fs::read_to_string(&expiry_path)
            .ok()
            .and_then(|s| s.trim().parse::<i64>().ok())
            .is_some_and(|exp| {
                exp > (now + time::Duration::days(RENEW_WITHIN_DAYS)).unix_timestamp()
            });
    if !still_good {
        let mut params = CertificateParams::new(hosts.to_vec())?;
        let mut dn = DistinguishedName::new();
        dn.push(
            DnType::CommonName,
            hosts.first().cloned().unwrap_or_else(|| "localhost".into()),
        );
        dn.push(DnType::OrganizationName, "ECSP reference server");
        params.distinguished_name = dn;
        params.not_before = now - time::Duration::hours(1);
        params.not_after = now + time::Duration::days(SERVER_DAYS);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate()?;
        let not_after = params.not_after;
        let cert = params.signed_by(&key, &ca_cert, &ca_key)?;
        write_private(&cert_path, cert.pem().as_bytes()).map_err(|e| file_err(&cert_path, e))?;
        write_private(&key_path, key.serialize_pem().as_bytes())
            .map_err(|e| file_err(&key_path, e))?;
        write_private(
            &expiry_path,
            not_after.unix_timestamp().to_string().as_bytes(),
        )
        .map_err(|e| file_err(&expiry_path, e))?;
        write_private(&hosts_path, wanted_hosts.as_bytes())
            .map_err(|e| file_err(&hosts_path, e))?;
        tracing::info!(hosts = ?hosts, "issued a server certificate from the local CA");
    }
    let mut material = from_files(&cert_path, &key_path)?;
    material.ca_pem =
        Some(std::fs::read_to_string(&ca_cert_path).map_err(|e| file_err(&ca_cert_path, e))?);
    Ok(material)
}

fn ca_params() -> Result<CertificateParams, TlsError> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "ECSP reference server local CA");
    dn.push(DnType::OrganizationName, "ECSP reference server");
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    // Fixed validity so that re-deriving the CA certificate gives the same one in effect.
    params.not_before = time::OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000);
    params.not_after = params.not_before + time::Duration::days(CA_DAYS);
    Ok(params)
}

fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Default names for the server certificate: loopback names plus this machine's host name.
pub fn default_hosts(extra: &[String]) -> Vec<String> {
    let mut hosts = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    if let Ok(name) = std::fs::read_to_string("/etc/hostname") {
        let name = name.trim();
        if !name.is_empty() && !hosts.iter().any(|h| h == name) {
            hosts.push(name.to_owned());
        }
    }
    for h in extra {
        if !hosts.contains(h) {
            hosts.push(h.clone());
        }
    }
    hosts
}

/// Where the local CA lives inside a data directory.
pub fn tls_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("tls")
}
