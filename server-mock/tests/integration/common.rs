//! A server per test, in its own data directory, and a client that trusts its local CA.

use std::sync::Arc;

use ecsp_protocol::auth::TokenPair;
use ecsp_server_mock::Config;
pub use ecsp_server_mock::testing::{
    self, new_database, on_postgres, postgres_admin, postgres_only, url_of,
};
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

/// The workspace's test server ([`testing::TestServer`]: data directory, engine, database) and
/// an HTTPS client that trusts its CA, with the API calls these tests make.
pub struct TestServer {
    pub harness: testing::TestServer,
    pub client: reqwest::Client,
}

impl std::ops::Deref for TestServer {
    type Target = testing::TestServer;

    fn deref(&self) -> &testing::TestServer {
        &self.harness
    }
}

impl std::ops::DerefMut for TestServer {
    fn deref_mut(&mut self) -> &mut testing::TestServer {
        &mut self.harness
    }
}

pub fn rustls_client_config(
    ca_pem: &str,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> rustls::ClientConfig {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(ca_pem.as_bytes()).unwrap())
        .unwrap();
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth()
}

pub fn https_client(ca_pem: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .use_preconfigured_tls(rustls_client_config(ca_pem, rustls::DEFAULT_VERSIONS))
        .build()
        .unwrap()
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> Self {
        let harness = testing::TestServer::start_with(tweak).await;
        let client = https_client(&harness.ca_pem);
        Self { harness, client }
    }

    /// Another node of the same service (same PostgreSQL database, data key and CA).
    pub async fn start_node(&self) -> Self {
        let harness = self.harness.start_node().await;
        let client = https_client(&harness.ca_pem);
        Self { harness, client }
    }

    pub async fn start_node_with(&self, tweak: impl FnOnce(&mut Config)) -> Self {
        let harness = self.harness.start_node_with(tweak).await;
        let client = https_client(&harness.ca_pem);
        Self { harness, client }
    }

    /// Starts it again with a changed configuration, and a client that trusts it.
    pub async fn restart_with(&mut self, tweak: impl FnOnce(&mut Config)) {
        self.harness.restart_with(tweak).await;
        self.client = https_client(&self.harness.ca_pem);
    }

    pub fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{}", self.addr.port(), path)
    }

    pub async fn login(&self, email: &str, password: &str) -> Response {
        self.client
            .post(self.url("/api/v1/auth/login"))
            .json(&json!({ "email": email, "password": password }))
            .send()
            .await
            .unwrap()
    }

    /// Signs in as the demo user whose e-mail starts with `who` (`admin`, `support`, `operator`, `technician`).
    pub async fn tokens(&self, who: &str) -> TokenPair {
        let (email, password) = self.password(who);
        let res = self.login(&email, &password).await;
        assert_eq!(res.status(), StatusCode::OK, "login as {who}");
        res.json().await.unwrap()
    }

    pub async fn token(&self, who: &str) -> String {
        self.tokens(who).await.access_token
    }

    pub async fn call(
        &self,
        method: Method,
        token: Option<&str>,
        path: &str,
        body: Option<&Value>,
    ) -> Response {
        let mut req = self.client.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        req.send().await.unwrap()
    }

    pub async fn get(&self, token: &str, path: &str) -> Response {
        self.call(Method::GET, Some(token), path, None).await
    }

    pub async fn post(&self, token: &str, path: &str, body: &Value) -> Response {
        self.call(Method::POST, Some(token), path, Some(body)).await
    }

    /// A second organisation with its admin signed in and one registered device.
    pub async fn foreign_org(&self) -> ForeignOrg {
        let (_, password) = ecsp_server_mock::seed::add_organization(
            &self.server().db,
            &self.server().key,
            "Other Print Shop",
            "admin@other.ecsp.example",
            "Other Admin",
        )
        .await
        .unwrap();
        let res = self.login("admin@other.ecsp.example", &password).await;
        let token = res.json::<TokenPair>().await.unwrap().access_token;
        let res = self
            .post(
                &token,
                "/api/v1/admin/devices",
                &json!({"manufacturer": "Epson", "model": "SC-T7700", "serial_number": "FOREIGN01"}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let device: Value = res.json().await.unwrap();
        let me: Value = self.get(&token, "/api/v1/me").await.json().await.unwrap();
        ForeignOrg {
            token,
            device: Uuid::parse_str(device["device_id"].as_str().unwrap()).unwrap(),
            admin: Uuid::parse_str(me["user_id"].as_str().unwrap()).unwrap(),
        }
    }

    pub async fn refresh(&self, refresh_token: &str) -> Response {
        self.client
            .post(self.url("/api/v1/auth/refresh"))
            .json(&json!({ "refresh_token": refresh_token }))
            .send()
            .await
            .unwrap()
    }
}

pub struct ForeignOrg {
    pub token: String,
    pub device: Uuid,
    pub admin: Uuid,
}

pub fn environment() -> Value {
    json!({"os_name": "Windows", "os_version": "11 23H2", "app_version": "0.1.0", "architecture": "x86_64"})
}

/// A valid DFE record for `device`; with `job` if given.
pub fn dfe_record(device: Uuid, job: Option<Value>) -> Value {
    let mut r = json!({
        "record_id": Uuid::new_v4(),
        "captured_at": chrono::Utc::now(),
        "device_id": device,
        "software": {"name": "Fiery XF", "version": "7.3.2", "vendor": "EFI"},
        "environment": environment(),
        "print_settings": {
            "preset_name": "Proof 720",
            "media_name": "Epson Proofing Paper White Semimatte",
            "resolution_dpi": [720, 720],
            "rendering_intent": "absolute_colorimetric",
            "values": {"ink_limit_percent": 280, "linearization": {"file": "SC-P9500_PSWS.lin"}}
        }
    });
    if let Some(job) = job {
        r["job"] = job;
    }
    r
}

pub fn dfe_upload(records: Vec<Value>) -> Value {
    json!({"schema_version": 1, "records": records})
}

/// A valid measurement record for `device`, with the optional GPS fix and photos.
pub fn measurement_record(device: Uuid, gps: bool, photo: bool) -> Value {
    let values: Vec<f64> = (0..36).map(|i| 0.05 + 0.02 * f64::from(i)).collect();
    let mut r = json!({
        "record_id": Uuid::new_v4(),
        "captured_at": chrono::Utc::now(),
        "device_id": device,
        "software": {"name": "i1Pro3 driver", "version": "3.1.0"},
        "environment": {"os_name": "Android", "os_version": "15", "app_version": "0.1.0", "device_model": "Pixel 9"},
        "instrument": {"manufacturer": "X-Rite", "model": "i1Pro3", "serial_number": "1234567", "firmware_version": "1.2.3"},
        "maintenance": {"status": "ready", "last_calibrated_at": chrono::Utc::now()},
        "settings": {"paper": "Epson Premium Luster 260", "printing_condition": "FOGRA51"},
        "samples": [{
            "patch": "A1",
            "condition": {"illumination": "M1", "geometry": "45/0", "bandpass_corrected": true, "backing": "white"},
            "spectrum": {"start_nm": 380, "interval_nm": 10, "values": values},
            "lab": {"L": 54.2, "a": -37.1, "b": -50.3, "illuminant": "D50", "observer": 2}
        }]
    });
    if gps {
        r["gps"] = json!({"latitude": 35.681, "longitude": 139.767, "accuracy_m": 12.0, "fixed_at": chrono::Utc::now()});
    }
    if photo {
        use base64::Engine as _;
        let jpeg = [0xFF, 0xD8, 0xFF, 0xE0, 0, 16, b'J', b'F', b'I', b'F', 0];
        r["photos"] = json!([{"media_type": "image/jpeg", "data_base64": base64::engine::general_purpose::STANDARD.encode(jpeg)}]);
    }
    r
}

pub fn measurement_upload(records: Vec<Value>) -> Value {
    json!({"schema_version": 1, "records": records})
}

/// Uploads DFE `records` as `token`'s user and asserts they were stored.
pub async fn upload_dfe(ts: &TestServer, token: &str, records: Vec<Value>) {
    let res = ts
        .post(token, "/api/v1/uploads/dfe", &dfe_upload(records))
        .await;
    expect_created(res).await;
}

pub async fn grant_consent(ts: &TestServer, token: &str, purpose: &str, decision: &str) {
    let res = ts
        .post(
            token,
            "/api/v1/consents",
            &json!({"decision_id": uuid::Uuid::new_v4(), "purpose": purpose, "decision": decision, "notice_version": "2026-11", "decided_at": chrono::Utc::now()}),
        )
        .await;
    expect_created(res).await;
}

/// Asserts a `201 Created` answer, quoting the body when it is not one.
pub async fn expect_created(res: Response) {
    assert_eq!(
        res.status(),
        StatusCode::CREATED,
        "{}",
        res.text().await.unwrap()
    );
}

/// Asserts a problem+json answer with `status` and `code`; returns the problem.
pub async fn expect_problem(res: Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(res.status(), status);
    let ctype = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(ctype.as_deref(), Some("application/problem+json"));
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], status.as_u16());
    body
}

/// An agent's device-data upload of one record with the demo printer.
pub fn device_data_upload(agent: Uuid, record_id: Uuid, status: &str) -> Value {
    json!({
        "schema_version": 1,
        "agent": {"agent_id": agent, "agent_type": "dc_agent", "agent_version": "5.2", "collection_type": "scheduled",
                  "sent_at": "2026-12-01T08:00:00Z", "pc_hostname": "PRINTROOM-PC", "os": "Windows", "os_version": "11"},
        "records": [{"record_id": record_id, "captured_at": "2026-12-01T07:59:00Z",
                     "device": {"manufacturer": "Epson", "model": "SureColor SC-P9500", "serial_number": "X4DEMO0001",
                                "firmware_version": "AB12", "printer_status": status}}]
    })
}
