//! HTTPS to the ECSP server: rustls (TLS 1.2 and 1.3 only, ring provider) trusting the system
//! roots plus an optional CA file (the reference server's local CA), no redirects, no plain HTTP.
//! TLS failures are told apart (unknown CA, wrong host, expired, old protocol) so the user gets
//! an error they can act on.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use url::Url;

#[cfg(test)]
use crate::error::EcspError;
use crate::error::{ClientError, Result, TlsFailure};

/// A configured HTTPS client for one server.
#[derive(Debug, Clone)]
pub(crate) struct Transport {
    http: reqwest::Client,
    base: Url,
}

/// Parses a server URL, refusing anything but `https://`.
pub fn parse_server_url(server: &str) -> crate::EcspResult<Url> {
    Ok(parse_url(server)?)
}

fn parse_url(server: &str) -> Result<Url> {
    let url =
        Url::parse(server.trim()).map_err(|e| ClientError::BadUrl(format!("{server}: {e}")))?;
    if url.scheme() != "https" {
        return Err(ClientError::PlainHttpRefused(server.to_owned()));
    }
    if url.host_str().is_none() {
        return Err(ClientError::BadUrl(format!("{server}: no host")));
    }
    Ok(url)
}

fn root_store(ca_file: Option<&Path>, ca_pem: Option<&[u8]>) -> Result<rustls::RootCertStore> {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for cert in native.certs {
        // A malformed system certificate is skipped, as every TLS client does.
        let _ = roots.add(cert);
    }
    if let Some(path) = ca_file {
        let ca_err = |reason: String| ClientError::CaFile {
            path: path.to_owned(),
            reason,
        };
        let certs = CertificateDer::pem_file_iter(path)
            .map_err(|e| ca_err(e.to_string()))?
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| ca_err(format!("not a PEM certificate file: {e}")))?;
        if certs.is_empty() {
            return Err(ca_err("holds no PEM certificate".into()));
        }
        for cert in certs {
            roots.add(cert).map_err(|e| ca_err(e.to_string()))?;
        }
    }
    if let Some(pem) = ca_pem {
        let certs = CertificateDer::pem_slice_iter(pem)
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| ClientError::CaPem(format!("not PEM certificates: {e}")))?;
        if certs.is_empty() {
            return Err(ClientError::CaPem("no PEM certificate in them".into()));
        }
        for cert in certs {
            roots
                .add(cert)
                .map_err(|e| ClientError::CaPem(e.to_string()))?;
        }
    }
    Ok(roots)
}

/// The rustls configuration every connection uses.
pub fn tls_config(
    ca_file: Option<&Path>,
    ca_pem: Option<&[u8]>,
) -> crate::EcspResult<rustls::ClientConfig> {
    Ok(build_tls_config(ca_file, ca_pem)?)
}

fn build_tls_config(ca_file: Option<&Path>, ca_pem: Option<&[u8]>) -> Result<rustls::ClientConfig> {
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
    .map_err(|_| ClientError::Tls(TlsFailure::Other))?
    .with_root_certificates(root_store(ca_file, ca_pem)?)
    .with_no_client_auth();
    Ok(config)
}

impl Transport {
    pub(crate) fn new(server: &str, ca_file: Option<&Path>, ca_pem: Option<&[u8]>) -> Result<Self> {
        let base = parse_url(server)?;
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(build_tls_config(ca_file, ca_pem)?)
            .https_only(true)
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(120))
            .user_agent(concat!("ecsp-client/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ClientError::Unreachable(e.to_string()))?;
        Ok(Self { http, base })
    }

    /// The server's origin, e.g. `https://localhost:8443` (the key under which tokens are kept).
    pub fn origin(&self) -> String {
        self.base.origin().ascii_serialization()
    }

    /// The URL of an API path, which may carry a query (`/api/v1/…?limit=20`).
    pub fn url(&self, path: &str) -> Url {
        let (path, query) = match path.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (path, None),
        };
        let mut url = self.base.clone();
        let prefix = self.base.path().trim_end_matches('/');
        url.set_path(&format!("{prefix}{path}"));
        url.set_query(query);
        url
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Sends a request, turning transport failures into specific errors.
    pub(crate) async fn send(&self, request: reqwest::RequestBuilder) -> Result<reqwest::Response> {
        request.send().await.map_err(|e| classify(&e))
    }
}

/// Finds the rustls error behind a reqwest error, if any. The chain passes through `io::Error`s
/// (nested, in places), whose `source()` skips the error they wrap, so those are unwrapped by hand.
fn rustls_cause<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = current {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        current = match e
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
        {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => e.source(),
        };
    }
    None
}

pub(crate) fn classify(err: &reqwest::Error) -> ClientError {
    use rustls::{AlertDescription, CertificateError, Error as E};
    if let Some(tls) = rustls_cause(err) {
        let failure = match tls {
            E::InvalidCertificate(CertificateError::UnknownIssuer) => TlsFailure::UnknownCa,
            E::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            ) => TlsFailure::WrongHost,
            E::InvalidCertificate(
                CertificateError::Expired
                | CertificateError::ExpiredContext { .. }
                | CertificateError::NotValidYet
                | CertificateError::NotValidYetContext { .. },
            ) => TlsFailure::Expired,
            E::PeerIncompatible(_) | E::AlertReceived(AlertDescription::ProtocolVersion) => {
                TlsFailure::ProtocolVersion
            }
            E::PeerMisbehaved(_) | E::InappropriateHandshakeMessage { .. } => {
                TlsFailure::ProtocolVersion
            }
            _ => TlsFailure::Other,
        };
        return ClientError::Tls(failure);
    }
    if err.is_builder() {
        return ClientError::BadUrl(err.to_string());
    }
    // Connection refused, DNS failure, timeouts, resets: all mean "try again later".
    let mut msg = String::new();
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = current {
        msg = e.to_string();
        current = e.source();
    }
    ClientError::Unreachable(msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_urls_are_accepted() {
        assert!(matches!(
            parse_url("http://localhost:8443"),
            Err(ClientError::PlainHttpRefused(_))
        ));
        assert!(matches!(
            parse_url("localhost:8443"),
            Err(ClientError::PlainHttpRefused(_) | ClientError::BadUrl(_))
        ));
        let t = Transport::new("https://example.test:8443/ecsp/", None, None).unwrap();
        assert_eq!(
            t.url("/api/v1/me").as_str(),
            "https://example.test:8443/ecsp/api/v1/me"
        );
        assert_eq!(t.origin(), "https://example.test:8443");
        assert_eq!(
            t.url("/api/v1/devices/x/records?kind=dfe&limit=5").as_str(),
            "https://example.test:8443/ecsp/api/v1/devices/x/records?kind=dfe&limit=5"
        );
    }

    #[test]
    fn a_missing_or_empty_ca_file_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("ca.pem");
        std::fs::write(&empty, "not a certificate").unwrap();
        let err = Transport::new("https://localhost", Some(&empty), None).unwrap_err();
        assert!(matches!(err, ClientError::CaFile { .. }), "{err}");
        assert!(err.to_string().contains("ca.pem"));
        let public = EcspError::from(err);
        assert_eq!(public.code, crate::ErrorCode::Configuration);
    }

    #[test]
    fn trust_anchors_given_as_bytes_must_hold_a_certificate() {
        let err = Transport::new("https://localhost", None, Some(b"no pem here")).unwrap_err();
        assert!(matches!(err, ClientError::CaPem(_)), "{err}");
        let ca = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        Transport::new("https://localhost", None, Some(ca.cert.pem().as_bytes())).unwrap();
    }
}
