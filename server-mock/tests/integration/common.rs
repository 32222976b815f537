//! A server per test, in its own data directory, and a client that trusts its local CA.

use std::sync::Arc;

use ecsp_protocol::auth::TokenPair;
use ecsp_server_mock::db::{PostgresTarget, StoreError};
use ecsp_server_mock::seed::DemoAccounts;
use ecsp_server_mock::{Config, Server, sql};
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

pub struct TestServer {
    pub server: Server,
    pub dir: tempfile::TempDir,
    pub client: reqwest::Client,
    pub demo: DemoAccounts,
    /// The PostgreSQL database, when the server runs on PostgreSQL.
    pub database: Option<PostgresTarget>,
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
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::with_defaults(dir.path().join("data"));
        config.listen = "127.0.0.1:0".parse().unwrap();
        config.database = test_database().await;
        tweak(&mut config);
        let database = config.database.clone();
        let server = ecsp_server_mock::start(config).await.unwrap();
        let client = https_client(server.ca_pem.as_deref().unwrap());
        let demo = server.demo.clone().unwrap();
        Self {
            server,
            dir,
            client,
            demo,
            database,
        }
    }

    /// Stops the server; its data directory (and database) stay for [`Stopped::start_with`].
    pub async fn stop(self) -> Stopped {
        let TestServer {
            server,
            dir,
            demo,
            database,
            ..
        } = self;
        server.shutdown().await.unwrap();
        Stopped {
            dir,
            demo,
            database,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{}", self.server.addr.port(), path)
    }

    pub fn password(&self, role_email_prefix: &str) -> (String, String) {
        let u = self
            .demo
            .users
            .iter()
            .find(|u| u.email.starts_with(role_email_prefix))
            .unwrap();
        (u.email.clone(), u.password.clone())
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

    pub fn device(&self, i: usize) -> Uuid {
        self.demo.devices[i].device_id
    }

    /// A second organisation with its admin signed in and one registered device.
    pub async fn foreign_org(&self) -> ForeignOrg {
        let (_, password) = ecsp_server_mock::seed::add_organization(
            &self.server.db,
            &self.server.key,
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

    /// Rows in a table of the server's database.
    pub async fn count(&self, table: &'static str) -> i64 {
        self.read_sql(move |c| {
            c.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
        })
        .await
    }

    /// Reads the server's database directly (whichever engine), as an operator's SQL would.
    pub async fn read_sql<T: Send + 'static>(
        &self,
        f: impl FnOnce(&sql::Connection) -> sql::Result<T> + Send + 'static,
    ) -> T {
        self.server
            .db
            .read(move |c| f(c).map_err(StoreError::from))
            .await
            .unwrap()
    }

    /// Writes to the server's database directly, in one transaction; the error is returned.
    pub async fn write_sql<T: Send + 'static>(
        &self,
        f: impl FnOnce(&sql::Connection) -> sql::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.server
            .db
            .write(move |c| f(c).map_err(StoreError::from))
            .await
    }

    /// Everything the server has stored, as an attacker with the database would read it: the
    /// SQLite file and its log, or a `pg_dump` of the PostgreSQL database.
    pub async fn stored_bytes(&self) -> Vec<u8> {
        match &self.database {
            None => {
                let db = self.db_path();
                let raw = std::fs::read(&db).unwrap();
                let wal = std::fs::read(db.with_extension("sqlite3-wal")).unwrap_or_default();
                [raw, wal].concat()
            }
            Some(_) => {
                let out = tokio::process::Command::new(pg_tool("pg_dump"))
                    .arg("--dbname")
                    .arg(self.database_url().unwrap())
                    .output()
                    .await
                    .unwrap();
                assert!(
                    out.status.success(),
                    "pg_dump: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                out.stdout
            }
        }
    }

    /// The URL of the server's PostgreSQL database (with the test cluster's credentials), for
    /// the server's own commands run beside it (`ECSP_DATABASE_URL`).
    pub fn database_url(&self) -> Option<String> {
        self.database.as_ref().map(url_of)
    }

    pub fn engine(&self) -> sql::Engine {
        self.server.db.engine()
    }

    pub async fn refresh(&self, refresh_token: &str) -> Response {
        self.client
            .post(self.url("/api/v1/auth/refresh"))
            .json(&json!({ "refresh_token": refresh_token }))
            .send()
            .await
            .unwrap()
    }

    pub fn db_path(&self) -> std::path::PathBuf {
        self.dir
            .path()
            .join("data")
            .join(ecsp_server_mock::DATABASE_FILE)
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

pub async fn grant_consent(ts: &TestServer, token: &str, purpose: &str, decision: &str) {
    let res = ts
        .post(
            token,
            "/api/v1/consents",
            &json!({"decision_id": uuid::Uuid::new_v4(), "purpose": purpose, "decision": decision, "notice_version": "2026-11", "decided_at": chrono::Utc::now()}),
        )
        .await;
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

/// The PostgreSQL server the tests may use, if `ECSP_TEST_POSTGRES` names one (an admin URL
/// such as `postgres://postgres@127.0.0.1:5433/postgres`; `scripts/test.sh` starts a throwaway
/// cluster and sets it).
pub fn postgres_admin() -> Option<PostgresTarget> {
    let url = std::env::var("ECSP_TEST_POSTGRES")
        .ok()
        .filter(|u| !u.is_empty())?;
    Some(PostgresTarget::parse(&url, None, None).expect("ECSP_TEST_POSTGRES is a postgres:// URL"))
}

/// Whether this run's servers keep their data in PostgreSQL (`ECSP_TEST_ENGINE=postgres`);
/// otherwise SQLite, the embedded default.
pub fn on_postgres() -> bool {
    std::env::var("ECSP_TEST_ENGINE").is_ok_and(|e| e == "postgres")
}

/// A new, empty database on the test PostgreSQL server, one per server started, when the run
/// is on PostgreSQL.
pub async fn test_database() -> Option<PostgresTarget> {
    if !on_postgres() {
        return None;
    }
    let admin = postgres_admin()
        .expect("ECSP_TEST_ENGINE=postgres needs ECSP_TEST_POSTGRES (scripts/postgres-cluster.sh)");
    Some(new_database(&admin).await)
}

/// A stopped [`TestServer`]: its data directory, the demo accounts it made, its database.
pub struct Stopped {
    pub dir: tempfile::TempDir,
    pub demo: DemoAccounts,
    pub database: Option<PostgresTarget>,
}

impl Stopped {
    pub fn data_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("data")
    }

    pub async fn start_with(self, tweak: impl FnOnce(&mut Config)) -> TestServer {
        let mut config = Config::with_defaults(self.data_dir());
        config.listen = "127.0.0.1:0".parse().unwrap();
        config.database = self.database;
        tweak(&mut config);
        let database = config.database.clone();
        let server = ecsp_server_mock::start(config).await.unwrap();
        let client = https_client(server.ca_pem.as_deref().unwrap());
        TestServer {
            server,
            dir: self.dir,
            client,
            demo: self.demo,
            database,
        }
    }
}

/// The test cluster, for a test that needs PostgreSQL whichever engine the run is on: in the
/// PostgreSQL pass; elsewhere it says in one line that it runs there.
pub fn postgres_only(test: &str) -> Option<PostgresTarget> {
    use std::io::Write as _;
    if on_postgres() {
        return postgres_admin();
    }
    let _ = writeln!(
        std::io::stderr(),
        "{test}: PostgreSQL only, SKIPPED in this pass (scripts/test.sh runs it in the PostgreSQL pass)"
    );
    None
}

/// A new, empty database on the test cluster.
pub async fn new_database(admin: &PostgresTarget) -> PostgresTarget {
    let name = format!("ecsp_test_{}", Uuid::new_v4().simple());
    ecsp_server_mock::db::postgres::create_database(admin, &name)
        .await
        .unwrap()
}

/// `target`'s URL with the test cluster's credentials.
pub fn url_of(target: &PostgresTarget) -> String {
    let mut url = url::Url::parse(&std::env::var("ECSP_TEST_POSTGRES").unwrap()).unwrap();
    url.set_path(target.database_name());
    url.into()
}

/// A PostgreSQL client tool: from PATH, or Debian's versioned directory.
pub fn pg_tool(name: &str) -> std::path::PathBuf {
    let debian = std::path::Path::new("/usr/lib/postgresql/15/bin").join(name);
    if debian.exists() { debian } else { name.into() }
}
