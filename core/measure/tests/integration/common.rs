//! A chart, a simulator walking it, a session store in a temporary directory, and the
//! reference server with a signed-in field technician.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ecsp_client::secrets::{MemorySecretStore, Secret, SecretStore};
use ecsp_client::{ClientConfig, EcspClient, EcspResult};
use ecsp_color::dataset::Dataset;
use ecsp_instrument::message::Grid;
use ecsp_instrument_link::driver::{DriverConfig, Instrument};
use ecsp_instrument_link::sim::{SimConfig, SimulatedSpectrometer, Timing};
use ecsp_measure::SessionPlan;
use ecsp_measure::store::SessionStore;
use ecsp_protocol::colour_model::IlluminationCondition;
use ecsp_server_mock::testing;
use serde_json::json;
use uuid::Uuid;

pub const COLORCHECKER: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../color/tests/data/colorchecker_babelcolor.cgats"
);

/// A chart file's bytes and its spectra (for the simulator to walk).
pub fn chart(path: &str) -> (Vec<u8>, Vec<Vec<f32>>) {
    let bytes = std::fs::read(path).unwrap();
    let spectra = spectra_of(&bytes);
    (bytes, spectra)
}

pub fn spectra_of(bytes: &[u8]) -> Vec<Vec<f32>> {
    Dataset::from_bytes(bytes)
        .unwrap()
        .patches
        .iter()
        .map(|p| {
            p.spectrum
                .as_ref()
                .unwrap()
                .values()
                .iter()
                .map(|v| *v as f32)
                .collect()
        })
        .collect()
}

/// A CGATS chart of `n` distinct smooth spectra, 380–730 nm at 10 nm.
pub fn synthetic_chart(n: usize) -> Vec<u8> {
    let mut s = String::from(
        "CGATS.17\nORIGINATOR \"ecsp-measure tests\"\nKEYWORD \"MEASUREMENT_CONDITION\"\nMEASUREMENT_CONDITION \"M1\"\nNUMBER_OF_FIELDS 37\nBEGIN_DATA_FORMAT\nSAMPLE_ID",
    );
    for nm in (380..=730).step_by(10) {
        write!(s, " SPECTRAL_{nm}").unwrap();
    }
    writeln!(s, "\nEND_DATA_FORMAT\nNUMBER_OF_SETS {n}\nBEGIN_DATA").unwrap();
    for i in 0..n {
        // Walk hue (peak position), chroma and lightness so neighbours differ by several ΔE.
        let peak = 400.0 + (i * 37 % 320) as f64;
        let height = 0.3 + 0.5 * ((i * 13 % 10) as f64 / 10.0);
        let base = 0.04 + 0.3 * ((i * 7 % 11) as f64 / 11.0);
        write!(s, "P{}", i + 1).unwrap();
        for nm in (380..=730).step_by(10) {
            let x = (f64::from(nm) - peak) / 45.0;
            write!(s, " {:.5}", (base + height * (-x * x).exp()).min(1.0)).unwrap();
        }
        s.push('\n');
    }
    s.push_str("END_DATA\n");
    s.into_bytes()
}

pub fn sim_config() -> SimConfig {
    SimConfig {
        att_mtu: 185,
        timing: Timing::instant(),
        grid: Grid {
            start_nm: 380,
            interval_nm: 10,
            bands: 36,
        },
        ..SimConfig::default()
    }
}

pub fn driver_config() -> DriverConfig {
    DriverConfig {
        response_timeout: Duration::from_millis(500),
        connect_timeout: Duration::from_secs(2),
        backoff_base: Duration::from_millis(1),
        backoff_max: Duration::from_millis(20),
        max_attempts: 30,
        frame_error_grace: Duration::from_millis(30),
    }
}

pub fn instrument(sim: &SimulatedSpectrometer) -> Arc<Instrument> {
    Arc::new(Instrument::new(Arc::new(sim.clone()), driver_config()))
}

pub fn store(dir: &Path) -> SessionStore {
    SessionStore::open(&dir.join("sessions.sqlite3")).unwrap()
}

pub fn plan(device_id: Uuid) -> SessionPlan {
    serde_json::from_value(json!({
        "device_id": device_id,
        "software": {"name": "ECSP Field", "version": "0.1.0"},
        "settings": {"paper": "Fogra MOW", "printing_condition": "FOGRA51"},
        "condition": IlluminationCondition::M1,
    }))
    .unwrap()
}

/// The workspace's test server (either engine).
pub struct TestServer {
    pub harness: testing::TestServer,
    /// `https://localhost:PORT`.
    pub url: String,
}

impl std::ops::Deref for TestServer {
    type Target = testing::TestServer;

    fn deref(&self) -> &testing::TestServer {
        &self.harness
    }
}

impl TestServer {
    pub async fn start() -> Self {
        let harness = testing::TestServer::start().await;
        Self {
            url: harness.url(),
            harness,
        }
    }

    /// A client signed in as the demo field technician, and a printer it may upload for.
    pub async fn technician(&self, name: &str) -> (EcspClient, Uuid) {
        self.technician_in(
            &self.dir.path().join("clients").join(name),
            Arc::new(MemorySecretStore::default()),
        )
        .await
    }

    /// The same, with the client's files in `data_dir` and its secrets in `secrets`.
    pub async fn technician_in(
        &self,
        data_dir: &Path,
        secrets: Arc<dyn SecretStore>,
    ) -> (EcspClient, Uuid) {
        let client = client_of(&self.url, &self.ca_pem, data_dir, secrets);
        let user = self.user("technician");
        client.login(&user.email, &user.password).await.unwrap();
        let device = client.devices().await.unwrap()[0].device_id;
        (client, device)
    }
}

/// A client of the server at `url` with its files in `data_dir`.
pub fn client_of(
    url: &str,
    ca_pem: &str,
    data_dir: &Path,
    secrets: Arc<dyn SecretStore>,
) -> EcspClient {
    let config = ClientConfig {
        server: url.to_owned(),
        ca_pem: Some(ca_pem.as_bytes().to_vec()),
        data_dir: data_dir.to_owned(),
        ..ClientConfig::default()
    };
    EcspClient::open(&config, secrets).unwrap()
}

/// Secrets in a JSON file, so that two processes of a test share a sign-in and the outbox key,
/// as an app and the same app restarted share the phone's keystore.
#[derive(Debug)]
pub struct FileSecretStore {
    path: PathBuf,
    lock: Mutex<()>,
}

impl FileSecretStore {
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            lock: Mutex::new(()),
        }
    }

    fn read(&self) -> BTreeMap<String, String> {
        match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => panic!("{}: {e}", self.path.display()),
        }
    }

    fn change(&self, f: impl FnOnce(&mut BTreeMap<String, String>)) -> EcspResult<()> {
        let _held = self.lock.lock().unwrap();
        let mut all = self.read();
        f(&mut all);
        // Written whole and renamed, so the other process never reads half a file.
        let tmp = self.path.with_extension("tmp");
        std::fs::write(&tmp, serde_json::to_vec(&all).unwrap()).unwrap();
        std::fs::rename(&tmp, &self.path).unwrap();
        Ok(())
    }
}

impl SecretStore for FileSecretStore {
    fn get(&self, key: &str) -> EcspResult<Option<Secret>> {
        let _held = self.lock.lock().unwrap();
        Ok(self.read().remove(key).map(Secret::new))
    }

    fn set(&self, key: &str, value: &Secret) -> EcspResult<()> {
        self.change(|all| {
            all.insert(key.to_owned(), value.expose().to_owned());
        })
    }

    fn delete(&self, key: &str) -> EcspResult<()> {
        self.change(|all| {
            all.remove(key);
        })
    }
}

/// A session over the ColorChecker chart with every patch measured by the simulator (which the
/// caller keeps, to inject faults or read its state).
pub async fn measured_session(
    dir: &Path,
    device: Uuid,
) -> (ecsp_measure::MeasurementSession, SimulatedSpectrometer) {
    let (bytes, spectra) = chart(COLORCHECKER);
    let sim = SimulatedSpectrometer::new(sim_config());
    sim.walk_chart(spectra);
    let mut session = ecsp_measure::MeasurementSession::start(
        store(dir),
        instrument(&sim),
        plan(device),
        bytes,
        ecsp_measure::calibration::CalibrationPolicy::default(),
    )
    .await
    .unwrap();
    session.calibrate().await.unwrap();
    while session.next_patch().is_some() {
        session.measure_next().await.unwrap();
    }
    (session, sim)
}
