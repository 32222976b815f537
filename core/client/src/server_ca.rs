//! First contact with a server whose certificate is signed by its own local CA: download
//! `GET /ca.pem` and show its SHA-256 fingerprint, so the user can compare it with the one the
//! server printed before trusting it (trust on first use, checked out of band).
//!
//! The download cannot be verified by TLS — the CA it fetches is what TLS would need — so this
//! one request accepts any server certificate (the handshake signature is still checked). What
//! makes it safe is the fingerprint comparison, which the host must show and the user must
//! confirm; nothing fetched here is trusted until the host passes it to `ClientConfig::ca_pem`.

use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::{ClientError, EcspResult, Result};

/// The largest `/ca.pem` read: a CA certificate is a few kilobytes.
const MAX_CA_BYTES: usize = 64 * 1024;

/// A CA certificate offered by a server, not yet trusted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServerCa {
    /// The PEM text as served (one or more certificates).
    pub pem: String,
    /// SHA-256 of the first certificate's DER, as upper-case hex pairs joined by `:` (the form
    /// the reference server prints at start).
    pub sha256: String,
}

/// The SHA-256 fingerprint of the first certificate in `pem`.
pub fn fingerprint(pem: &[u8]) -> EcspResult<String> {
    Ok(first_fingerprint(pem)?)
}

fn first_fingerprint(pem: &[u8]) -> Result<String> {
    let der = CertificateDer::pem_slice_iter(pem)
        .next()
        .ok_or_else(|| ClientError::CaPem("the server's /ca.pem holds no PEM certificate".into()))?
        .map_err(|e| ClientError::CaPem(format!("the server's /ca.pem is not PEM: {e}")))?;
    Ok(Sha256::digest(der.as_ref())
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":"))
}

/// Whether two fingerprints are the same, ignoring case, spaces and separators (people copy
/// them from a terminal in any of these shapes).
pub fn fingerprints_match(a: &str, b: &str) -> bool {
    let norm = |s: &str| -> String {
        s.chars()
            .filter(char::is_ascii_hexdigit)
            .map(|c| c.to_ascii_uppercase())
            .collect()
    };
    let (a, b) = (norm(a), norm(b));
    a.len() == 64 && a == b
}

/// Downloads `{server}/ca.pem` without verifying the server's certificate (see the module
/// docs) and returns it with its fingerprint. Refuses anything that is not PEM certificates.
pub async fn fetch_server_ca(server: &str) -> EcspResult<ServerCa> {
    Ok(fetch(server).await?)
}

async fn fetch(server: &str) -> Result<ServerCa> {
    let base =
        crate::transport::parse_server_url(server).map_err(|e| ClientError::BadUrl(e.message))?;
    let mut url = base.clone();
    url.set_path(&format!("{}/ca.pem", base.path().trim_end_matches('/')));
    url.set_query(None);
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|_| ClientError::Tls(crate::TlsFailure::Other))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
        .with_no_client_auth();
    let http = reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .https_only(true)
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| ClientError::Unreachable(e.to_string()))?;
    let response = http.get(url).send().await.map_err(|e| {
        ClientError::Unreachable(format!("{}: {e}", base.origin().ascii_serialization()))
    })?;
    let status = response.status().as_u16();
    if status == 404 {
        return Err(ClientError::CaPem(
            "the server offers no CA certificate (/ca.pem): it uses a certificate from a CA this \
             computer already trusts, or its administrator must give you the CA file"
                .into(),
        ));
    }
    if status != 200 {
        return Err(ClientError::UnexpectedStatus { status });
    }
    if response
        .content_length()
        .is_some_and(|n| n as usize > MAX_CA_BYTES)
    {
        return Err(ClientError::CaPem(
            "the server's /ca.pem is too large for a CA certificate".into(),
        ));
    }
    let bytes = response
        .bytes()
        .await
        .map_err(|e| ClientError::Unreachable(e.to_string()))?;
    if bytes.len() > MAX_CA_BYTES {
        return Err(ClientError::CaPem(
            "the server's /ca.pem is too large for a CA certificate".into(),
        ));
    }
    let sha256 = first_fingerprint(&bytes)?;
    let pem = String::from_utf8(bytes.to_vec())
        .map_err(|_| ClientError::CaPem("the server's /ca.pem is not text".into()))?;
    Ok(ServerCa { pem, sha256 })
}

/// Accepts any certificate, still checking that the server holds its key. Used for the one
/// `/ca.pem` download whose result the user verifies by fingerprint.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_compare_whatever_their_separators() {
        let a = "AB:".repeat(31) + "AB";
        let b = "ab".repeat(32);
        assert!(fingerprints_match(&a, &b));
        assert!(fingerprints_match(&a, &b.replace("ab", "ab ")));
        assert!(!fingerprints_match(&a, &"ac".repeat(32)));
        // A prefix is not a match.
        assert!(!fingerprints_match(&a, &"ab".repeat(16)));
    }

    #[test]
    fn a_file_without_a_certificate_is_refused() {
        let e = fingerprint(b"hello").unwrap_err();
        assert_eq!(e.code, crate::ErrorCode::Configuration);
    }
}
