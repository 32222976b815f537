//! Helpers shared by the end-to-end tests and benchmarks: a reference server in a temporary data
//! directory, clients with a real OS keyring, and valid capture inputs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ecsp_client::capture::{DfeCapture, MeasurementCapture};
use ecsp_client::{ClientConfig, EcspClient, SecretStore};
use ecsp_server_mock::seed::DemoAccounts;
use ecsp_server_mock::{Config, Server};
use serde_json::json;
use uuid::Uuid;

/// A reference server with its data directory.
#[derive(Debug)]
pub struct Harness {
    pub server: Option<Server>,
    pub dir: tempfile::TempDir,
    pub addr: SocketAddr,
    pub demo: DemoAccounts,
    pub ca_file: PathBuf,
}

impl Harness {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::with_defaults(dir.path().join("server"));
        config.listen = "127.0.0.1:0".parse().unwrap();
        tweak(&mut config);
        let server = ecsp_server_mock::start(config).await.unwrap();
        // The local CA, when the server made one (not with an operator certificate).
        let ca_file = dir.path().join("ca.pem");
        if let Some(pem) = &server.ca_pem {
            std::fs::write(&ca_file, pem).unwrap();
        }
        Self {
            addr: server.addr,
            demo: server.demo.clone().unwrap(),
            server: Some(server),
            dir,
            ca_file,
        }
    }

    pub fn url(&self) -> String {
        format!("https://localhost:{}", self.addr.port())
    }

    pub fn server_config(&self) -> Config {
        let mut config = Config::with_defaults(self.dir.path().join("server"));
        config.listen = self.addr;
        config
    }

    /// Stops the server (the data directory stays).
    pub async fn stop(&mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown().await.unwrap();
        }
    }

    /// Starts the server again on the same address and data directory.
    pub async fn restart(&mut self) {
        self.stop().await;
        self.server = Some(ecsp_server_mock::start(self.server_config()).await.unwrap());
    }

    pub fn password(&self, who: &str) -> (String, String) {
        let u = self
            .demo
            .users
            .iter()
            .find(|u| u.email.starts_with(who))
            .unwrap();
        (u.email.clone(), u.password.clone())
    }

    pub fn device(&self, i: usize) -> Uuid {
        self.demo.devices[i].device_id
    }

    /// A client of this server with its own local data directory under `name`.
    pub fn client(&self, name: &str, secrets: Arc<dyn SecretStore>) -> EcspClient {
        EcspClient::open(&self.client_config(name), secrets).unwrap()
    }

    pub fn client_config(&self, name: &str) -> ClientConfig {
        ClientConfig {
            server: self.url(),
            ca_file: Some(self.ca_file.clone()),
            data_dir: self.dir.path().join("clients").join(name),
            ..ClientConfig::default()
        }
    }

    /// Runs a read-only SQL query on the server's database.
    pub fn server_db(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(
            self.dir
                .path()
                .join("server")
                .join(ecsp_server_mock::DATABASE_FILE),
        )
        .unwrap()
    }

    /// Record ids stored on the server, with how many rows each has.
    pub fn stored_records(&self) -> Vec<(String, i64)> {
        let db = self.server_db();
        let mut stmt = db
            .prepare("SELECT record_id, COUNT(*) FROM records GROUP BY record_id")
            .unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }
}

/// The real OS keyring (the test script runs the suite in a private D-Bus session with a
/// Secret Service), under a service name of its own.
pub fn os_keyring() -> Arc<dyn SecretStore> {
    Arc::new(
        ecsp_client::secrets::KeyringSecretStore::new("ecsp-e2e")
            .expect("an OS keyring (run scripts/test.sh)"),
    )
}

pub fn dfe_capture(device: Uuid, with_job: bool) -> DfeCapture {
    serde_json::from_value(json!({
        "device_id": device,
        "software": {"name": "Fiery XF", "version": "7.3.2"},
        "print_settings": {"preset_name": "Proof", "resolution_dpi": [720, 720], "values": {"ink_limit": 280}},
        "job": if with_job { json!({"job_id": "J-1", "job_name": "Client brochure.pdf", "copies": 2}) } else { json!(null) }
    }))
    .unwrap()
}

pub fn measurement_capture(device: Uuid, gps: bool, photos: bool) -> MeasurementCapture {
    use base64::Engine as _;
    let jpeg = base64::engine::general_purpose::STANDARD.encode([0xFF, 0xD8, 0xFF, 0xE0, 0, 16]);
    serde_json::from_value(json!({
        "device_id": device,
        "software": {"name": "i1Pro3 driver", "version": "3.1.0"},
        "instrument": {"model": "i1Pro3", "serial_number": "1234567", "firmware_version": "1.2.3"},
        "settings": {"paper": "Premium Luster", "printing_condition": "FOGRA51"},
        "samples": (0..36).map(|i| json!({
            "patch": format!("P{i}"),
            "condition": {"illumination": "M1", "geometry": "45/0", "bandpass_corrected": true},
            "spectrum": {"start_nm": 380, "interval_nm": 10, "values": vec![0.4; 36]},
            "lab": {"L": 50.0 + f64::from(i) * 0.5, "a": 1.0, "b": -3.0, "illuminant": "D50", "observer": 2}
        })).collect::<Vec<_>>(),
        "gps": if gps { json!({"latitude": 35.68, "longitude": 139.76, "fixed_at": chrono::Utc::now()}) } else { json!(null) },
        "photos": if photos { json!([{"media_type": "image/jpeg", "data_base64": jpeg}]) } else { json!([]) }
    }))
    .unwrap()
}

/// The `ecsp` command with its own configuration and data directories, and none of the
/// caller's `ECSP_*` settings.
pub fn ecsp_command(config: &Path, data: &Path) -> std::process::Command {
    let mut c = std::process::Command::new(ecsp_binary());
    c.env("ECSP_CONFIG_DIR", config)
        .env("ECSP_DATA_DIR", data)
        .env("LANG", "C.UTF-8")
        .env_remove("ECSP_SERVER")
        .env_remove("ECSP_CA_CERT")
        .env_remove("ECSP_PASSWORD");
    c
}

/// Runs `ecsp` to completion with `stdin` as its input: (status, stdout, stderr).
pub fn run_ecsp(config: &Path, data: &Path, args: &[&str], stdin: &str) -> (i32, String, String) {
    use std::io::Write as _;
    use std::process::Stdio;
    let mut child = ecsp_command(config, data)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The `ecsp` binary built next to the test executable.
pub fn ecsp_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(Path::parent).unwrap();
    let bin = dir.join(format!("ecsp{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} is missing: build it with `cargo build -p ecsp-cli`",
        bin.display()
    );
    bin
}
