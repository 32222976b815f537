//! A chart, a simulator walking it, a session store in a temporary directory, and the
//! reference server with a signed-in field technician.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use ecsp_client::secrets::MemorySecretStore;
use ecsp_client::{ClientConfig, EcspClient};
use ecsp_color::dataset::Dataset;
use ecsp_instrument::message::Grid;
use ecsp_instrument_link::driver::{DriverConfig, Instrument};
use ecsp_instrument_link::sim::{SimConfig, SimulatedSpectrometer, Timing};
use ecsp_measure::SessionPlan;
use ecsp_measure::store::SessionStore;
use ecsp_protocol::colour_model::IlluminationCondition;
use ecsp_server_mock::seed::DemoAccounts;
use ecsp_server_mock::{Config, Server};
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

pub struct TestServer {
    /// Kept to keep the server running until the test ends.
    _server: Server,
    pub dir: tempfile::TempDir,
    pub demo: DemoAccounts,
    pub ca_pem: String,
    pub url: String,
}

impl TestServer {
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::with_defaults(dir.path().join("server"));
        config.listen = "127.0.0.1:0".parse().unwrap();
        let server = ecsp_server_mock::start(config).await.unwrap();
        Self {
            url: format!("https://localhost:{}", server.addr.port()),
            demo: server.demo.clone().unwrap(),
            ca_pem: server.ca_pem.clone().unwrap(),
            _server: server,
            dir,
        }
    }

    /// A client signed in as the demo field technician, and a printer it may upload for.
    pub async fn technician(&self, name: &str) -> (EcspClient, Uuid) {
        let config = ClientConfig {
            server: self.url.clone(),
            ca_pem: Some(self.ca_pem.clone().into_bytes()),
            data_dir: self.dir.path().join("clients").join(name),
            ..ClientConfig::default()
        };
        let client = EcspClient::open(&config, Arc::new(MemorySecretStore::default())).unwrap();
        let user = self
            .demo
            .users
            .iter()
            .find(|u| u.email.starts_with("technician"))
            .unwrap();
        client.login(&user.email, &user.password).await.unwrap();
        let device = client.devices().await.unwrap()[0].device_id;
        (client, device)
    }
}
