//! Enrolment (the server's CA, pinned by fingerprint) and the upload of the outbox to
//! `POST /api/v1/agent/device-data` with the agent's bearer secret.

use std::time::Duration;

use chrono::Utc;
use ecsp_client::Secret;
use ecsp_protocol::agent::{
    AgentInfo, AgentType, BrokerCredential, CollectionType, DesignatedDevices, DeviceDataUpload,
};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::store::{AgentStore, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("the server URL `{0}` is not an https:// URL")]
    Url(String),
    #[error("cannot reach the server: {0}")]
    Network(String),
    #[error(
        "the server's CA has fingerprint {found}, not the expected {expected}: refusing to trust it"
    )]
    FingerprintMismatch { expected: String, found: String },
    #[error("the server sent no usable CA certificate at /ca.pem ({0})")]
    BadCa(String),
    #[error("no CA certificate in {0}")]
    CaFile(String),
    #[error("the server refused the agent's credentials (401): re-enrol the agent")]
    Unauthorized,
    #[error("the server answered {status}: {detail}")]
    Refused { status: u16, detail: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// `AA:BB:…` upper-case SHA-256 of a certificate, as the server prints it.
pub fn fingerprint(der: &[u8]) -> String {
    Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn normalise(fp: &str) -> String {
    fp.chars()
        .filter(char::is_ascii_hexdigit)
        .collect::<String>()
        .to_ascii_uppercase()
}

fn https(server: &str) -> Result<url::Url, UploadError> {
    let url = url::Url::parse(server).map_err(|_| UploadError::Url(server.to_owned()))?;
    if url.scheme() != "https" {
        return Err(UploadError::Url(server.to_owned()));
    }
    Ok(url)
}

/// Downloads `/ca.pem` and accepts it only if its fingerprint is the one the operator was given
/// (trust on first use, pinned). The download itself cannot be verified yet — that is the point
/// of the fingerprint — so nothing else is sent on that connection.
pub async fn fetch_ca(server: &str, expected_fingerprint: &str) -> Result<String, UploadError> {
    let url = https(server)?
        .join("/ca.pem")
        .map_err(|_| UploadError::Url(server.to_owned()))?;
    let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| UploadError::Network(e.to_string()))?
    .dangerous()
    .with_custom_certificate_verifier(std::sync::Arc::new(AnyServer))
    .with_no_client_auth();
    let http = reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .timeout(Duration::from_secs(20))
        .build()
        .map_err(|e| UploadError::Network(e.to_string()))?;
    let pem = http
        .get(url)
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map_err(|e| UploadError::Network(e.without_url().to_string()))?
        .text()
        .await
        .map_err(|e| UploadError::Network(e.to_string()))?;
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let der = CertificateDer::from_pem_slice(pem.as_bytes())
        .map_err(|e| UploadError::BadCa(e.to_string()))?;
    let found = fingerprint(der.as_ref());
    if normalise(&found) != normalise(expected_fingerprint) {
        return Err(UploadError::FingerprintMismatch {
            expected: expected_fingerprint.to_owned(),
            found,
        });
    }
    Ok(pem)
}

/// A CA certificate from a PEM file the operator holds (copied from the server's data
/// directory, or on the server's own machine), with its SHA-256 fingerprint.
pub fn read_ca_file(path: &std::path::Path) -> Result<(String, String), UploadError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let pem = std::fs::read_to_string(path)
        .map_err(|e| UploadError::CaFile(format!("{} ({e})", path.display())))?;
    let der = CertificateDer::from_pem_slice(pem.as_bytes())
        .map_err(|e| UploadError::CaFile(format!("{} ({e})", path.display())))?;
    let found = fingerprint(der.as_ref());
    Ok((pem, found))
}

/// Accepts any server certificate: used only for the one download whose content is then
/// checked against the pinned fingerprint.
#[derive(Debug)]
struct AnyServer;

impl rustls::client::danger::ServerCertVerifier for AnyServer {
    fn verify_server_cert(
        &self,
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &[rustls::pki_types::CertificateDer<'_>],
        _: &rustls::pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &rustls::crypto::ring::default_provider().signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &rustls::crypto::ring::default_provider().signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        rustls::crypto::ring::default_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// What one flush did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlushSummary {
    pub sent: usize,
    pub rejected: usize,
    pub retry_later: usize,
}

/// Uploads device data as one agent.
pub struct Uploader {
    http: reqwest::Client,
    base: url::Url,
    agent_id: Uuid,
    secret: Secret,
    agent_type: AgentType,
}

impl std::fmt::Debug for Uploader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Uploader")
            .field("base", &self.base.as_str())
            .field("agent_id", &self.agent_id)
            .finish_non_exhaustive()
    }
}

/// A refusal with its status and the start of the server's explanation.
async fn refusal(res: reqwest::Response) -> UploadError {
    UploadError::Refused {
        status: res.status().as_u16(),
        detail: res
            .text()
            .await
            .unwrap_or_default()
            .chars()
            .take(500)
            .collect(),
    }
}

impl Uploader {
    /// `ca_pem`: the server's CA as enrolment pinned it.
    pub fn new(
        server: &str,
        ca_pem: &str,
        agent_id: Uuid,
        secret: Secret,
        agent_type: AgentType,
    ) -> Result<Self, UploadError> {
        let base = https(server)?;
        let tls = ecsp_client::transport::tls_config(None, Some(ca_pem.as_bytes()))
            .map_err(|e| UploadError::BadCa(e.to_string()))?;
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| UploadError::Network(e.to_string()))?;
        Ok(Uploader {
            http,
            base,
            agent_id,
            secret,
            agent_type,
        })
    }

    /// A bodiless request to `path` with the agent's secret.
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
    ) -> Result<reqwest::Response, UploadError> {
        let url = self
            .base
            .join(path)
            .map_err(|_| UploadError::Url(self.base.to_string()))?;
        self.http
            .request(method, url)
            .bearer_auth(self.secret.expose())
            .send()
            .await
            .map_err(|e| UploadError::Network(e.without_url().to_string()))
    }

    /// The devices designated to this agent (`GET /api/v1/agent/devices`): the only ones whose
    /// device data the server accepts from it.
    pub async fn designated(&self) -> Result<DesignatedDevices, UploadError> {
        let res = self
            .send(reqwest::Method::GET, "/api/v1/agent/devices")
            .await?;
        match res.status() {
            s if s.is_success() => {
                let body: DesignatedDevices = res
                    .json()
                    .await
                    .map_err(|e| UploadError::Network(e.without_url().to_string()))?;
                Ok(body)
            }
            reqwest::StatusCode::UNAUTHORIZED => Err(UploadError::Unauthorized),
            _ => Err(refusal(res).await),
        }
    }

    /// A credential for the service's clustered MQTT broker
    /// (`POST /api/v1/agent/broker-credential`); `None` when the service's broker takes the
    /// agent's secret itself (404).
    pub async fn broker_credential(&self) -> Result<Option<BrokerCredential>, UploadError> {
        let res = self
            .send(reqwest::Method::POST, "/api/v1/agent/broker-credential")
            .await?;
        match res.status() {
            s if s.is_success() => {
                Ok(Some(res.json().await.map_err(|e| {
                    UploadError::Network(e.without_url().to_string())
                })?))
            }
            reqwest::StatusCode::NOT_FOUND => Ok(None),
            reqwest::StatusCode::UNAUTHORIZED => Err(UploadError::Unauthorized),
            _ => Err(refusal(res).await),
        }
    }

    /// Sends what is due in the outbox, `batch` records per request, until nothing is due.
    pub async fn flush(
        &self,
        store: &AgentStore,
        collection: CollectionType,
        batch: usize,
    ) -> Result<FlushSummary, UploadError> {
        let mut summary = FlushSummary::default();
        let url = self
            .base
            .join("/api/v1/agent/device-data")
            .map_err(|_| UploadError::Url(self.base.to_string()))?;
        loop {
            let due = store.due(Utc::now(), batch.max(1))?;
            if due.is_empty() {
                return Ok(summary);
            }
            let body = DeviceDataUpload {
                schema_version: ecsp_protocol::PROTOCOL_VERSION,
                agent: AgentInfo {
                    agent_id: self.agent_id,
                    agent_type: self.agent_type,
                    agent_version: env!("CARGO_PKG_VERSION").to_owned(),
                    collection_type: collection,
                    sent_at: Utc::now(),
                    pc_hostname: None,
                    os: Some(std::env::consts::OS.to_owned()),
                    os_version: None,
                    os_product_type: None,
                },
                records: due.iter().map(|q| q.record.clone()).collect(),
            };
            let seqs: Vec<i64> = due.iter().map(|q| q.seq).collect();
            let sent = self
                .http
                .post(url.clone())
                .bearer_auth(self.secret.expose())
                .json(&body)
                .send()
                .await;
            match sent {
                Ok(res) if res.status().is_success() => {
                    store.mark_sent(&seqs)?;
                    summary.sent += seqs.len();
                }
                Ok(res) if res.status() == reqwest::StatusCode::UNAUTHORIZED => {
                    return Err(UploadError::Unauthorized);
                }
                Ok(res)
                    if res.status().is_client_error()
                        && res.status() != reqwest::StatusCode::TOO_MANY_REQUESTS
                        && res.status() != reqwest::StatusCode::REQUEST_TIMEOUT =>
                {
                    let status = res.status();
                    let detail = res.text().await.unwrap_or_default();
                    let reason: String = format!("{status}: {detail}").chars().take(1000).collect();
                    tracing::warn!(records = seqs.len(), %reason, "the server refused the upload");
                    store.mark_rejected(&seqs, &reason)?;
                    summary.rejected += seqs.len();
                }
                Ok(res) => {
                    store.reschedule(&due, &res.status().to_string(), Utc::now())?;
                    summary.retry_later += seqs.len();
                    return Ok(summary);
                }
                Err(e) => {
                    store.reschedule(&due, &e.without_url().to_string(), Utc::now())?;
                    summary.retry_later += seqs.len();
                    return Ok(summary);
                }
            }
        }
    }
}
