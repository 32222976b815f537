//! btleplug's real code — scan by service UUID, connect, discover, subscribe, write without
//! response, notifications — against `tests/bluez_double.py`, which serves the simulated
//! spectrometer's bytes; the driver on top reconnects when the simulator drops the link.

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use ecsp_instrument::message::Grid;
use ecsp_instrument_ble::{BleConfig, BleLink};
use ecsp_instrument_link::driver::{DriverConfig, Instrument};
use ecsp_instrument_link::sim::{Faults, SimConfig, SimulatedSpectrometer, Timing};
use ecsp_instrument_link::{InstrumentLink, LinkState};
use ecsp_protocol::colour_model::IlluminationCondition;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpListener;
use tokio::process::{Child, Command};

/// One double owns `org.bluez` at a time: the tests take turns.
static BUS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The simulator behind a TCP socket, and the BlueZ double in front of it.
struct Rig {
    sim: SimulatedSpectrometer,
    double: Child,
}

impl Rig {
    async fn start(config: SimConfig) -> Self {
        let bus = std::env::var("DBUS_SYSTEM_BUS_ADDRESS").expect(
            "DBUS_SYSTEM_BUS_ADDRESS must name a private bus: run scripts/test.d/55-ble.sh",
        );
        assert!(
            !bus.contains("/run/dbus/"),
            "refusing the real system bus: {bus}"
        );
        let python = std::env::var("ECSP_BLE_PYTHON")
            .expect("ECSP_BLE_PYTHON (from `scripts/setup-python.sh ble`) must be set");
        let sim = SimulatedSpectrometer::new(config);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(ecsp_instrument_link::tcp::serve(listener, sim.clone()));
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/bluez_double.py");
        let mut double = Command::new(python)
            .args([script, "--sim", &addr.to_string()])
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(double.stdout.take().unwrap()).lines();
        let ready = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .expect("the BlueZ double did not start")
            .unwrap();
        assert_eq!(ready.as_deref(), Some("ready"));
        Self { sim, double }
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        let _ = self.double.start_kill();
    }
}

fn sim_config(mtu: u16) -> SimConfig {
    SimConfig {
        att_mtu: mtu,
        timing: Timing::instant(),
        grid: Grid {
            start_nm: 380,
            interval_nm: 10,
            bands: 36,
        },
        ..SimConfig::default()
    }
}

fn driver_config() -> DriverConfig {
    DriverConfig {
        response_timeout: Duration::from_secs(3),
        connect_timeout: Duration::from_secs(20),
        backoff_base: Duration::from_millis(20),
        backoff_max: Duration::from_millis(200),
        max_attempts: 20,
        frame_error_grace: Duration::from_millis(100),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn btleplug_scans_connects_subscribes_and_completes_a_measurement() {
    let _turn = BUS.lock().await;
    // MTU 23: the smallest, so every reading arrives in many chunks.
    let rig = Rig::start(sim_config(23)).await;
    let link = Arc::new(BleLink::new(BleConfig::default()));

    // The raw link: the connection reports the MTU the double negotiated.
    let connection = link.connect().await.unwrap();
    assert_eq!(connection.att_mtu, 23);
    link.disconnect().await.unwrap();

    let instrument = Instrument::new(link.clone(), driver_config());
    let mut states = instrument.link_state();
    let info = instrument.info().await.unwrap();
    assert_eq!(info.serial, "SIM-000123");
    assert!(matches!(
        *states.borrow_and_update(),
        LinkState::Connected { att_mtu: 23 }
    ));
    instrument.calibrate_white().await.unwrap();
    rig.sim.place_on(vec![0.5; 36]);
    let reading = instrument.measure(IlluminationCondition::M1).await.unwrap();
    assert_eq!(reading.values.len(), 36);
    assert!(
        reading.values.iter().all(|v| (v - 0.5).abs() < 0.05),
        "{:?}",
        reading.values
    );
    assert_eq!(reading.serial, "SIM-000123");
    assert_eq!(rig.sim.stats().links_dropped, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_link_drops_the_driver_reconnects_through_bluez_and_loses_no_reading() {
    let _turn = BUS.lock().await;
    let rig = Rig::start(sim_config(185)).await;
    rig.sim.set_faults(Faults {
        drop_link_every_frames: Some(3),
        ..Faults::default()
    });
    let link = Arc::new(BleLink::new(BleConfig::default()));
    let instrument = Instrument::new(link, driver_config());
    instrument.calibrate_white().await.unwrap();
    let mut counters = Vec::new();
    for _ in 0..12 {
        let reading = instrument.measure(IlluminationCondition::M1).await.unwrap();
        counters.push(reading.counter);
    }
    let dropped = rig.sim.stats().links_dropped;
    assert!(
        dropped >= 3,
        "the simulator dropped the link {dropped} times"
    );
    let stats = instrument.stats().await;
    // Every drop but one after the last reading is noticed through BlueZ and reconnected.
    assert!(
        stats.reconnects + 1 >= dropped,
        "{dropped} drops, {stats:?}"
    );
    eprintln!("link dropped {dropped} times; driver {stats:?}");
    // Exactly once: twelve readings, twelve distinct counters in order.
    let mut sorted = counters.clone();
    sorted.dedup();
    assert_eq!(sorted.len(), 12, "{counters:?}");
    assert!(counters.windows(2).all(|w| w[0] < w[1]), "{counters:?}");
}
