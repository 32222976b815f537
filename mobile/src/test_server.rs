//! The reference server in this process, for the foreign-language tests only (feature
//! `test-server`). It runs on its own runtime until the process ends.

use std::sync::OnceLock;

use crate::{FieldError, FieldErrorCode};

/// Where the test server listens, and the demo field technician's sign-in.
#[derive(Debug, Clone, uniffi::Record)]
pub struct ReferenceServer {
    pub url: String,
    pub ca_pem: String,
    pub technician_email: String,
    pub technician_password: String,
}

static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();

/// Starts a reference server on a free loopback port with its data in `data_dir`.
#[uniffi::export]
pub fn start_reference_server(data_dir: String) -> Result<ReferenceServer, FieldError> {
    let fail = |e: String| FieldError::new(FieldErrorCode::ServerError, e);
    let runtime = match RUNTIME.get() {
        Some(r) => r,
        None => {
            let r = tokio::runtime::Runtime::new().map_err(|e| fail(e.to_string()))?;
            RUNTIME.get_or_init(|| r)
        }
    };
    let mut config = ecsp_server_mock::Config::with_defaults(data_dir.into());
    config.listen = "127.0.0.1:0"
        .parse()
        .map_err(|e: std::net::AddrParseError| fail(e.to_string()))?;
    let server = runtime
        .block_on(ecsp_server_mock::start(config))
        .map_err(|e| fail(e.to_string()))?;
    let demo = server
        .demo
        .clone()
        .ok_or_else(|| fail("no demo data".into()))?;
    let tech = demo
        .users
        .iter()
        .find(|u| u.email.starts_with("technician"))
        .ok_or_else(|| fail("no demo technician".into()))?;
    let info = ReferenceServer {
        url: format!("https://localhost:{}", server.addr.port()),
        ca_pem: server.ca_pem.clone().unwrap_or_default(),
        technician_email: tech.email.clone(),
        technician_password: tech.password.clone(),
    };
    // Kept running for the rest of the process.
    std::mem::forget(server);
    Ok(info)
}

/// Serves a simulated spectrometer over TCP on a free loopback port (the simulator program's
/// framing, `ecsp_instrument_link::tcp`), so a foreign test can play the phone's Bluetooth
/// stack in [`crate::HostInstrumentLink`]. Returns `host:port`.
#[uniffi::export]
pub fn start_simulator_server(
    serial: String,
    chart_path: String,
    drop_link_every_frames: Option<u64>,
) -> Result<String, FieldError> {
    use ecsp_instrument_link::sim::{Faults, SimConfig, SimulatedSpectrometer, Timing};
    let fail = |e: String| FieldError::new(FieldErrorCode::InvalidInput, e);
    let runtime = match RUNTIME.get() {
        Some(r) => r,
        None => {
            let r = tokio::runtime::Runtime::new().map_err(|e| fail(e.to_string()))?;
            RUNTIME.get_or_init(|| r)
        }
    };
    let bytes = std::fs::read(&chart_path).map_err(|e| fail(format!("{chart_path}: {e}")))?;
    let (grid, samples) = ecsp_instrument_link::sim::chart_samples(&bytes)
        .map_err(|e| fail(format!("{chart_path}: {e}")))?;
    let sim = SimulatedSpectrometer::new(SimConfig {
        serial,
        timing: Timing::instant(),
        grid,
        ..SimConfig::default()
    });
    sim.walk_chart(samples);
    sim.set_faults(Faults {
        drop_link_every_frames,
        ..Faults::default()
    });
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .map_err(|e| fail(e.to_string()))?;
    let addr = listener.local_addr().map_err(|e| fail(e.to_string()))?;
    runtime.spawn(ecsp_instrument_link::tcp::serve(listener, sim));
    Ok(addr.to_string())
}
