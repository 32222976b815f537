//! Helpers shared by the end-to-end tests and benchmarks: a reference server in a temporary data
//! directory, clients with a real OS keyring, and valid capture inputs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ecsp_client::capture::{DfeCapture, MeasurementCapture};
use ecsp_client::{ClientConfig, EcspClient, SecretStore};
use ecsp_server_mock::Config;
pub use ecsp_server_mock::testing;
use serde_json::json;
use uuid::Uuid;

/// The workspace's test server (either engine: see [`testing`]) and this crate's clients of it.
#[derive(Debug)]
pub struct Harness {
    pub server: testing::TestServer,
}

impl std::ops::Deref for Harness {
    type Target = testing::TestServer;

    fn deref(&self) -> &testing::TestServer {
        &self.server
    }
}

impl std::ops::DerefMut for Harness {
    fn deref_mut(&mut self) -> &mut testing::TestServer {
        &mut self.server
    }
}

impl Harness {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> Self {
        Self {
            server: testing::TestServer::start_with(tweak).await,
        }
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
