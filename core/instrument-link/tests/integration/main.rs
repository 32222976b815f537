//! The driver against the simulated spectrometer, in-process and as a program over TCP.

#![allow(clippy::unwrap_used)]

mod faults;
mod program;
mod session;

use std::sync::Arc;
use std::time::Duration;

use ecsp_instrument_link::driver::{DriverConfig, Instrument};
use ecsp_instrument_link::sim::{SimConfig, SimulatedSpectrometer, Timing};

/// A fast simulator and a driver over it.
pub fn rig(att_mtu: u16) -> (SimulatedSpectrometer, Instrument) {
    let sim = SimulatedSpectrometer::new(SimConfig {
        att_mtu,
        timing: Timing::instant(),
        ..SimConfig::default()
    });
    let instrument = Instrument::new(Arc::new(sim.clone()), fast_driver());
    (sim, instrument)
}

pub fn fast_driver() -> DriverConfig {
    DriverConfig {
        response_timeout: Duration::from_millis(500),
        connect_timeout: Duration::from_secs(2),
        backoff_base: Duration::from_millis(1),
        backoff_max: Duration::from_millis(20),
        max_attempts: 30,
        frame_error_grace: Duration::from_millis(30),
    }
}
