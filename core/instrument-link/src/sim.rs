//! A simulated spectrometer that speaks the GATT profile through [`InstrumentLink`], so that the
//! driver, the measurement session and the bindings run against the same bytes a real
//! instrument sends.
//!
//! Timing is realistic by default (connection 300 ms, white calibration 1.5 s, a reading 0.9 s,
//! one notification per 7.5 ms connection interval) and can be made instant for tests. Faults
//! are injected at run time: drop the link every N notification frames (mid-transfer), drop or
//! corrupt one frame in N, slow notifications, refuse connections, expire the calibration, a
//! dirty tile, stray light, a low battery, a temperature change.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use ecsp_instrument::PROFILE_VERSION;
use ecsp_instrument::frame::{self, Reassembler};
use ecsp_instrument::message::{
    Calibration, DeviceInfo, ErrorCode, Grid, Reading, Request, Response,
};
use ecsp_protocol::colour_model::{Geometry, IlluminationCondition};
use tokio::sync::{Notify, mpsc};
use tokio::time::Instant;

use crate::{Connection, InstrumentLink, LinkError, LinkFuture};

/// How long the simulated instrument takes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timing {
    pub connect: Duration,
    pub calibrate: Duration,
    pub measure: Duration,
    /// Between two notification frames (the connection interval).
    pub per_frame: Duration,
}

impl Timing {
    /// Close to a handheld instrument over BLE.
    pub fn realistic() -> Self {
        Self {
            connect: Duration::from_millis(300),
            calibrate: Duration::from_millis(1500),
            measure: Duration::from_millis(900),
            per_frame: Duration::from_micros(7500),
        }
    }

    /// No waiting at all (benchmarks of the host side, long fault tests).
    pub fn instant() -> Self {
        Self {
            connect: Duration::ZERO,
            calibrate: Duration::ZERO,
            measure: Duration::ZERO,
            per_frame: Duration::ZERO,
        }
    }
}

/// Faults to inject; change them at any time with [`SimulatedSpectrometer::set_faults`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Faults {
    /// Drop the link after every N-th notification frame (counted over the instrument's life).
    pub drop_link_every_frames: Option<u64>,
    /// Lose one notification frame in N, at random.
    pub drop_frame_one_in: Option<u32>,
    /// Flip a bit in one notification frame in N, at random.
    pub corrupt_frame_one_in: Option<u32>,
    /// Extra delay before each notification frame.
    pub slow_notifications: Duration,
    /// Refuse this many connection attempts (out of range, powered off).
    pub refuse_connections: u32,
    /// The white tile is dirty: calibration fails with `tile_delta_e_too_high`.
    pub dirty_tile: bool,
    /// The next measurement sees stray light.
    pub ambient_light_once: bool,
}

/// Who the simulated instrument is and what it measures.
#[derive(Debug, Clone, PartialEq)]
pub struct SimConfig {
    pub serial: String,
    pub att_mtu: u16,
    pub timing: Timing,
    pub grid: Grid,
    /// The instrument's own calibration lifetime (after it, `not_calibrated`).
    pub calibration_valid_for: Duration,
    /// Seed of the fault and noise generator (runs are repeatable).
    pub seed: u64,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            serial: "SIM-000123".into(),
            att_mtu: 185,
            timing: Timing::realistic(),
            grid: Grid {
                start_nm: 400,
                interval_nm: 10,
                bands: 31,
            },
            calibration_valid_for: Duration::from_secs(8 * 3600),
            seed: 7,
        }
    }
}

/// The spectra of a CGATS or CxF chart, in order, and their grid: what a simulator walking
/// that chart reads.
pub fn chart_samples(bytes: &[u8]) -> Result<(Grid, Vec<Vec<f32>>), String> {
    let dataset = ecsp_color::dataset::Dataset::from_bytes(bytes).map_err(|e| e.to_string())?;
    let grid = dataset
        .grid()
        .map_err(|e| e.to_string())?
        .ok_or_else(|| "the chart has no spectra".to_owned())?;
    let samples = dataset
        .patches
        .iter()
        .filter_map(|p| p.spectrum.as_ref())
        .map(|s| s.values().iter().map(|v| *v as f32).collect())
        .collect();
    let grid = Grid {
        start_nm: u16::try_from(grid.start_nm).map_err(|e| e.to_string())?,
        interval_nm: u16::try_from(grid.interval_nm).map_err(|e| e.to_string())?,
        bands: u16::try_from(grid.bands).map_err(|e| e.to_string())?,
    };
    Ok((grid, samples))
}

/// What lies under the aperture.
#[derive(Debug, Clone, PartialEq)]
enum Sample {
    Fixed(Vec<f32>),
    /// The technician walks a chart: reading *k* sees patch *k* mod *n*.
    Walk(Vec<Vec<f32>>),
}

#[derive(Debug)]
struct State {
    link: Option<SimLink>,
    generation: u64,
    busy: Option<u8>,
    cancelled: Option<u8>,
    calibrated_at: Option<Instant>,
    readings_since_calibration: u32,
    counter: u32,
    last_reading: Option<Reading>,
    temperature_tenth_c: i16,
    battery_percent: u8,
    sample: Sample,
    faults: Faults,
    frames_sent: u64,
    rng: fastrand::Rng,
    stats: SimStats,
}

#[derive(Debug)]
struct SimLink {
    tx: mpsc::Sender<Vec<u8>>,
    inbound: Reassembler,
    tx_seq: u8,
}

/// What the simulated instrument did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SimStats {
    /// Readings the instrument took (its counter advanced).
    pub readings_taken: u64,
    pub connections: u64,
    pub links_dropped: u64,
    pub frames_dropped: u64,
    pub frames_corrupted: u64,
    /// Control-point frames it could not use (the host's write was damaged or out of order).
    pub frames_refused: u64,
}

#[derive(Debug)]
struct Shared {
    config: SimConfig,
    state: Mutex<State>,
    /// One message at a time on the air, as a real GATT server queues notifications.
    sending: tokio::sync::Mutex<()>,
    cancel: Notify,
}

/// The simulated spectrometer. Cheap to clone; clones are the same instrument.
#[derive(Debug, Clone)]
pub struct SimulatedSpectrometer {
    shared: Arc<Shared>,
}

impl SimulatedSpectrometer {
    pub fn new(config: SimConfig) -> Self {
        let bands = usize::from(config.grid.bands);
        let rng = fastrand::Rng::with_seed(config.seed);
        Self {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    link: None,
                    generation: 0,
                    busy: None,
                    cancelled: None,
                    calibrated_at: None,
                    readings_since_calibration: 0,
                    counter: 1000,
                    last_reading: None,
                    temperature_tenth_c: 230,
                    battery_percent: 80,
                    sample: Sample::Fixed(vec![0.8; bands]),
                    faults: Faults::default(),
                    frames_sent: 0,
                    rng,
                    stats: SimStats::default(),
                }),
                config,
                sending: tokio::sync::Mutex::new(()),
                cancel: Notify::new(),
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A poisoned lock only means a test thread panicked while holding it; the state is
        // plain data and still usable.
        self.shared
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn config(&self) -> &SimConfig {
        &self.shared.config
    }

    pub fn set_faults(&self, faults: Faults) {
        self.state().faults = faults;
    }

    pub fn stats(&self) -> SimStats {
        self.state().stats
    }

    /// Puts one sample (reflectance per band of the instrument's grid) under the aperture.
    pub fn place_on(&self, reflectance: Vec<f32>) {
        self.state().sample = Sample::Fixed(reflectance);
    }

    /// Walks a chart: the next readings see these samples in turn.
    pub fn walk_chart(&self, samples: Vec<Vec<f32>>) {
        if !samples.is_empty() {
            self.state().sample = Sample::Walk(samples);
        }
    }

    pub fn set_temperature(&self, tenth_c: i16) {
        self.state().temperature_tenth_c = tenth_c;
    }

    pub fn set_battery(&self, percent: u8) {
        self.state().battery_percent = percent;
    }

    /// Makes the instrument's calibration expire now.
    pub fn expire_calibration(&self) {
        self.state().calibrated_at = None;
    }

    /// Drops the link now, as if the phone walked out of range.
    pub fn drop_link(&self) {
        let mut st = self.state();
        if st.link.take().is_some() {
            st.stats.links_dropped += 1;
        }
    }

    pub fn is_connected(&self) -> bool {
        self.state().link.is_some()
    }

    fn info(&self, st: &State) -> DeviceInfo {
        let c = &self.shared.config;
        DeviceInfo {
            profile_version: PROFILE_VERSION,
            manufacturer: "ECSP Open".into(),
            model: "SimSpectro 1".into(),
            serial: c.serial.clone(),
            firmware: "1.4.2".into(),
            geometry: Geometry::FortyFiveZero,
            aperture_tenth_mm: 40,
            grid: c.grid,
            conditions: vec![
                IlluminationCondition::M0,
                IlluminationCondition::M1,
                IlluminationCondition::M2,
            ],
            seconds_since_calibration: st
                .calibrated_at
                .map(|t| u32::try_from(t.elapsed().as_secs()).unwrap_or(u32::MAX - 1)),
            readings_since_calibration: st.readings_since_calibration,
            temperature_tenth_c: st.temperature_tenth_c,
            battery_percent: st.battery_percent,
        }
    }

    /// Handles one decoded request in the background, as the instrument's firmware would.
    fn handle(&self, request: Request, generation: u64) {
        let this = self.clone();
        tokio::spawn(async move {
            if let Some(response) = this.respond(request).await {
                this.send(response, generation).await;
            }
        });
    }

    async fn respond(&self, request: Request) -> Option<Response> {
        let timing = self.shared.config.timing;
        match request {
            Request::GetInfo { id } => {
                let st = self.state();
                Some(Response::Info {
                    id,
                    info: self.info(&st),
                })
            }
            Request::Cancel { id } => {
                let mut st = self.state();
                if st.busy == Some(id) {
                    st.cancelled = Some(id);
                    drop(st);
                    self.shared.cancel.notify_waiters();
                    None // the request in progress answers `Cancelled`
                } else {
                    Some(Response::Cancelled { id })
                }
            }
            Request::ResendLastReading { id } => Some(match self.state().last_reading.clone() {
                Some(reading) => Response::Reading { id, reading },
                None => Response::Error {
                    id,
                    code: ErrorCode::NoReading,
                },
            }),
            Request::CalibrateWhite { id } => {
                if let Err(code) = self.begin(id) {
                    return Some(Response::Error { id, code });
                }
                if !self.wait(timing.calibrate, id).await {
                    return Some(Response::Cancelled { id });
                }
                let mut st = self.state();
                st.busy = None;
                if st.faults.dirty_tile {
                    return Some(Response::Error {
                        id,
                        code: ErrorCode::TileDeltaETooHigh,
                    });
                }
                st.calibrated_at = Some(Instant::now());
                st.readings_since_calibration = 0;
                Some(Response::Calibrated {
                    id,
                    calibration: Calibration {
                        tile_delta_e_hundredths: 18,
                        temperature_tenth_c: st.temperature_tenth_c,
                    },
                })
            }
            Request::Measure { id, condition } => {
                if condition == IlluminationCondition::M3 {
                    return Some(Response::Error {
                        id,
                        code: ErrorCode::UnsupportedCondition,
                    });
                }
                {
                    let mut st = self.state();
                    let valid = self.shared.config.calibration_valid_for;
                    let code = if st.battery_percent < 5 {
                        Some(ErrorCode::LowBattery)
                    } else if st.calibrated_at.is_none_or(|t| t.elapsed() > valid) {
                        Some(ErrorCode::NotCalibrated)
                    } else if std::mem::take(&mut st.faults.ambient_light_once) {
                        Some(ErrorCode::AmbientLight)
                    } else {
                        None
                    };
                    if let Some(code) = code {
                        return Some(Response::Error { id, code });
                    }
                }
                if let Err(code) = self.begin(id) {
                    return Some(Response::Error { id, code });
                }
                if !self.wait(timing.measure, id).await {
                    return Some(Response::Cancelled { id });
                }
                let mut st = self.state();
                st.busy = None;
                st.counter += 1;
                st.readings_since_calibration += 1;
                st.stats.readings_taken += 1;
                // Walking a chart, reading k (from 0) sees patch k.
                let k = (st.stats.readings_taken - 1) as usize;
                let mut values = match &st.sample {
                    Sample::Fixed(v) => v.clone(),
                    Sample::Walk(chart) => chart[k % chart.len()].clone(),
                };
                // Instrument noise: ±0.0005 reflectance, well under a tenth of a ΔE.
                for v in &mut values {
                    *v = (*v + (st.rng.f32() - 0.5) * 0.001).max(0.0);
                }
                let reading = Reading {
                    counter: st.counter,
                    condition,
                    geometry: Geometry::FortyFiveZero,
                    aperture_tenth_mm: 40,
                    serial: self.shared.config.serial.clone(),
                    grid: Grid {
                        bands: values.len() as u16,
                        ..self.shared.config.grid
                    },
                    values,
                    temperature_tenth_c: st.temperature_tenth_c,
                };
                st.last_reading = Some(reading.clone());
                Some(Response::Reading { id, reading })
            }
        }
    }

    fn begin(&self, id: u8) -> Result<(), ErrorCode> {
        let mut st = self.state();
        if st.busy.is_some() {
            return Err(ErrorCode::Busy);
        }
        st.busy = Some(id);
        st.cancelled = None;
        Ok(())
    }

    /// Waits `d` unless request `id` is cancelled; false if it was.
    async fn wait(&self, d: Duration, id: u8) -> bool {
        let deadline = Instant::now() + d;
        loop {
            let notified = self.shared.cancel.notified();
            if self.state().cancelled == Some(id) {
                let mut st = self.state();
                st.busy = None;
                st.cancelled = None;
                return false;
            }
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => return true,
                _ = notified => {}
            }
        }
    }

    /// Sends one response as notification frames, applying the faults. The transfer dies with
    /// the link it started on.
    async fn send(&self, response: Response, generation: u64) {
        let Ok(bytes) = response.encode() else {
            tracing::error!("the simulator built a response it cannot encode");
            return;
        };
        let _on_air = self.shared.sending.lock().await;
        let frames = {
            let mut st = self.state();
            if st.generation != generation {
                return;
            }
            let Some(link) = st.link.as_mut() else {
                return;
            };
            match frame::encode(&bytes, self.shared.config.att_mtu, &mut link.tx_seq) {
                Ok(frames) => frames,
                Err(_) => return,
            }
        };
        for mut f in frames {
            let delay =
                self.shared.config.timing.per_frame + self.state().faults.slow_notifications;
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            let tx = {
                let mut st = self.state();
                if st.generation != generation || st.link.is_none() {
                    return;
                }
                st.frames_sent += 1;
                let faults = st.faults.clone();
                if faults
                    .drop_frame_one_in
                    .is_some_and(|n| st.rng.u32(0..n.max(1)) == 0)
                {
                    st.stats.frames_dropped += 1;
                    continue;
                }
                if faults
                    .corrupt_frame_one_in
                    .is_some_and(|n| st.rng.u32(0..n.max(1)) == 0)
                {
                    let at = st.rng.usize(0..f.len());
                    f[at] ^= 1 << st.rng.u8(0..8);
                    st.stats.frames_corrupted += 1;
                }
                let cut = faults
                    .drop_link_every_frames
                    .is_some_and(|n| st.frames_sent % n.max(1) == 0);
                if cut {
                    // The link drops while this frame is on the air: it never arrives.
                    st.link = None;
                    st.stats.links_dropped += 1;
                    return;
                }
                st.link.as_ref().map(|l| l.tx.clone())
            };
            if let Some(tx) = tx
                && tx.send(f).await.is_err()
            {
                return;
            }
        }
    }
}

impl InstrumentLink for SimulatedSpectrometer {
    fn connect(&self) -> LinkFuture<'_, Connection> {
        Box::pin(async move {
            tokio::time::sleep(self.shared.config.timing.connect).await;
            let mut st = self.state();
            if st.faults.refuse_connections > 0 {
                st.faults.refuse_connections -= 1;
                return Err(LinkError::NotFound);
            }
            let (tx, rx) = mpsc::channel(1024);
            st.generation += 1;
            st.stats.connections += 1;
            st.link = Some(SimLink {
                tx,
                inbound: Reassembler::new(),
                tx_seq: 0,
            });
            Ok(Connection {
                att_mtu: self.shared.config.att_mtu,
                notifications: rx,
            })
        })
    }

    fn write(&self, frame: Vec<u8>) -> LinkFuture<'_, ()> {
        Box::pin(async move {
            let (message, generation) = {
                let mut st = self.state();
                let generation = st.generation;
                let Some(link) = st.link.as_mut() else {
                    return Err(LinkError::Disconnected);
                };
                match link.inbound.push(&frame) {
                    Ok(Some(m)) => (m, generation),
                    Ok(None) => return Ok(()),
                    Err(_) => {
                        // A real instrument ignores a damaged write; the host times out.
                        st.stats.frames_refused += 1;
                        return Ok(());
                    }
                }
            };
            match Request::decode(&message) {
                Ok(request) => self.handle(request, generation),
                Err(_) => {
                    let id = message.get(1).copied().unwrap_or(0);
                    let code = if message
                        .first()
                        .is_some_and(|op| !(0x01..=0x05).contains(op))
                    {
                        ErrorCode::UnknownCommand
                    } else {
                        ErrorCode::MalformedRequest
                    };
                    let this = self.clone();
                    tokio::spawn(async move {
                        this.send(Response::Error { id, code }, generation).await;
                    });
                }
            }
            Ok(())
        })
    }

    fn disconnect(&self) -> LinkFuture<'_, ()> {
        Box::pin(async move {
            self.state().link = None;
            Ok(())
        })
    }
}
