//! Figures for the measurement session, printed (not asserted):
//! * per-reading session overhead with an instant simulator (so no instrument time): the
//!   driver's framing, colorimetry, the wrong-patch check and the durable SQLite write;
//! * a 200-patch chart measured on the simulator and delivered end to end to the reference
//!   server over TLS;
//! * link recovery: 1,000 readings with the simulator dropping the link every N frames.
//!
//! `cargo bench -p ecsp-measure --bench session`

#![allow(clippy::unwrap_used)]

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ecsp_client::secrets::MemorySecretStore;
use ecsp_client::sync::FlushOptions;
use ecsp_client::{ClientConfig, EcspClient};
use ecsp_color::dataset::Dataset;
use ecsp_instrument::message::Grid;
use ecsp_instrument_link::driver::{DriverConfig, Instrument};
use ecsp_instrument_link::sim::{Faults, SimConfig, SimulatedSpectrometer, Timing};
use ecsp_measure::calibration::CalibrationPolicy;
use ecsp_measure::store::SessionStore;
use ecsp_measure::{MeasurementSession, SessionPlan};
use ecsp_server_mock::Config;
use serde_json::json;

fn chart(n: usize) -> Vec<u8> {
    let mut s = String::from("CGATS.17\nNUMBER_OF_FIELDS 37\nBEGIN_DATA_FORMAT\nSAMPLE_ID");
    for nm in (380..=730).step_by(10) {
        write!(s, " SPECTRAL_{nm}").unwrap();
    }
    writeln!(s, "\nEND_DATA_FORMAT\nNUMBER_OF_SETS {n}\nBEGIN_DATA").unwrap();
    for i in 0..n {
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

fn sim(timing: Timing) -> SimulatedSpectrometer {
    SimulatedSpectrometer::new(SimConfig {
        att_mtu: 185,
        timing,
        grid: Grid {
            start_nm: 380,
            interval_nm: 10,
            bands: 36,
        },
        ..SimConfig::default()
    })
}

fn driver(sim: &SimulatedSpectrometer) -> Arc<Instrument> {
    Arc::new(Instrument::new(
        Arc::new(sim.clone()),
        DriverConfig {
            backoff_base: Duration::from_millis(1),
            backoff_max: Duration::from_millis(20),
            max_attempts: 30,
            ..DriverConfig::default()
        },
    ))
}

fn plan(device_id: uuid::Uuid) -> SessionPlan {
    serde_json::from_value(json!({
        "device_id": device_id,
        "software": {"name": "ECSP Field", "version": "0.1.0"},
        "settings": {"paper": "Fogra MOW", "printing_condition": "FOGRA51"},
        "condition": "M1",
    }))
    .unwrap()
}

fn spectra(bytes: &[u8]) -> Vec<Vec<f32>> {
    Dataset::from_bytes(bytes)
        .unwrap()
        .patches
        .iter()
        .map(|p| {
            let s = p.spectrum.as_ref().unwrap();
            s.values().iter().map(|v| *v as f32).collect()
        })
        .collect()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

async fn per_reading_overhead(dir: &std::path::Path) {
    let bytes = chart(500);
    let sim = sim(Timing::instant());
    sim.walk_chart(spectra(&bytes));
    let store = SessionStore::open(&dir.join("overhead.sqlite3")).unwrap();
    let mut session = MeasurementSession::start(
        store,
        driver(&sim),
        plan(uuid::Uuid::new_v4()),
        bytes,
        CalibrationPolicy::default(),
    )
    .await
    .unwrap();
    session.calibrate().await.unwrap();
    let mut times = Vec::new();
    while session.next_patch().is_some() {
        let t = Instant::now();
        session.measure_next().await.unwrap();
        times.push(t.elapsed());
    }
    times.sort();
    println!(
        "per-reading session overhead (instant simulator, {} readings, durable SQLite write included): median {:.3} ms, p95 {:.3} ms, max {:.3} ms (aim < 5 ms)",
        times.len(),
        percentile(&times, 0.5).as_secs_f64() * 1e3,
        percentile(&times, 0.95).as_secs_f64() * 1e3,
        times.last().unwrap().as_secs_f64() * 1e3,
    );
}

async fn chart_end_to_end(dir: &std::path::Path, timing: Timing, label: &str) {
    let mut config = Config::with_defaults(dir.join(format!("server-{label}")));
    config.listen = "127.0.0.1:0".parse().unwrap();
    let server = ecsp_server_mock::start(config).await.unwrap();
    let client = EcspClient::open(
        &ClientConfig {
            server: format!("https://localhost:{}", server.addr.port()),
            ca_pem: server.ca_pem.clone().map(String::into_bytes),
            data_dir: dir.join(format!("client-{label}")),
            ..ClientConfig::default()
        },
        Arc::new(MemorySecretStore::default()),
    )
    .unwrap();
    let demo = server.demo.clone().unwrap();
    let tech = demo
        .users
        .iter()
        .find(|u| u.email.starts_with("technician"))
        .unwrap();
    client.login(&tech.email, &tech.password).await.unwrap();
    let device = client.devices().await.unwrap()[0].device_id;

    let bytes = chart(200);
    let sim = sim(timing);
    sim.walk_chart(spectra(&bytes));
    let store = SessionStore::open(&dir.join(format!("e2e-{label}.sqlite3"))).unwrap();
    let start = Instant::now();
    let mut session = MeasurementSession::start(
        store,
        driver(&sim),
        plan(device),
        bytes,
        CalibrationPolicy::default(),
    )
    .await
    .unwrap();
    session.calibrate().await.unwrap();
    while session.next_patch().is_some() {
        session.measure_next().await.unwrap();
    }
    let measured = start.elapsed();
    let captured = session.upload(&client, None).await.unwrap();
    let report = client.flush(FlushOptions::default()).await.unwrap();
    let view = client.record(captured.record_id).await.unwrap();
    let samples = view.record["samples"].as_array().map_or(0, Vec::len);
    println!(
        "200-patch chart, {label} simulator: measured in {:.2} s, uploaded and confirmed by the server after {:.2} s in all (record holds {samples} samples; flush sent {}, rejected {})",
        measured.as_secs_f64(),
        start.elapsed().as_secs_f64(),
        report.sent,
        report.rejected,
    );
    server.shutdown().await.unwrap();
}

async fn link_recovery(every: u64) {
    let sim = sim(Timing::instant());
    let instrument = driver(&sim);
    instrument.calibrate_white().await.unwrap();
    sim.set_faults(Faults {
        drop_link_every_frames: Some(every),
        ..Faults::default()
    });
    let start = Instant::now();
    let mut delivered = 0u64;
    let mut last = None;
    let mut in_order = true;
    for _ in 0..1000 {
        let r = instrument
            .measure(ecsp_protocol::colour_model::IlluminationCondition::M1)
            .await
            .unwrap();
        if let Some(prev) = last {
            in_order &= r.counter == prev + 1;
        }
        last = Some(r.counter);
        delivered += 1;
    }
    let stats = sim.stats();
    println!(
        "link recovery, link dropped every {every} frames: {delivered} readings delivered, {} taken, consecutive counters: {in_order}, {} links dropped, {} reconnects, {:.2} s",
        stats.readings_taken,
        stats.links_dropped,
        instrument.stats().await.reconnects,
        start.elapsed().as_secs_f64(),
    );
}

fn main() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    runtime.block_on(async {
        per_reading_overhead(dir.path()).await;
        chart_end_to_end(dir.path(), Timing::instant(), "instant").await;
        if std::env::var_os("ECSP_BENCH_REALISTIC").is_some() {
            chart_end_to_end(dir.path(), Timing::realistic(), "realistic-timing").await;
        }
        for every in [3, 7, 50] {
            link_recovery(every).await;
        }
    });
}
