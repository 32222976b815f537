//! Link recovery: with the simulator dropping the link, losing and damaging frames, every reading
//! it takes is delivered once, in order.

use ecsp_instrument_link::driver::Instrument;
use ecsp_instrument_link::sim::{Faults, SimulatedSpectrometer};
use ecsp_protocol::colour_model::IlluminationCondition;

use crate::rig;

/// Measures `n` readings and checks delivered = taken, consecutive counters, no duplicate.
async fn measure_all(sim: &SimulatedSpectrometer, instrument: &Instrument, n: usize) {
    let mut counters = Vec::with_capacity(n);
    for _ in 0..n {
        counters.push(
            instrument
                .measure(IlluminationCondition::M1)
                .await
                .unwrap()
                .counter,
        );
    }
    let stats = sim.stats();
    assert_eq!(
        counters.len() as u64,
        stats.readings_taken,
        "delivered = taken"
    );
    for pair in counters.windows(2) {
        assert_eq!(pair[1], pair[0] + 1, "no reading skipped or repeated");
    }
    let driver = instrument.stats().await;
    println!("{n} readings: sim {stats:?}; driver {driver:?}");
}

#[tokio::test]
async fn dropping_the_link_every_7_frames_loses_no_reading_over_1000() {
    let (sim, instrument) = rig(185);
    instrument.calibrate_white().await.unwrap();
    sim.set_faults(Faults {
        drop_link_every_frames: Some(7),
        ..Faults::default()
    });
    measure_all(&sim, &instrument, 1000).await;
    let stats = sim.stats();
    assert!(stats.links_dropped >= 100, "the fault fired: {stats:?}");
    assert!(instrument.stats().await.reconnects >= 100);
}

#[tokio::test]
async fn dropping_the_link_mid_transfer_at_mtu_23() {
    // A reading is 10 frames at MTU 23: a drop every 23 frames cuts transfers in the middle.
    let (sim, instrument) = rig(23);
    instrument.calibrate_white().await.unwrap();
    sim.set_faults(Faults {
        drop_link_every_frames: Some(23),
        ..Faults::default()
    });
    measure_all(&sim, &instrument, 200).await;
    assert!(sim.stats().links_dropped >= 40);
}

#[tokio::test]
async fn lost_and_damaged_frames_lose_no_reading() {
    let (sim, instrument) = rig(23);
    instrument.calibrate_white().await.unwrap();
    sim.set_faults(Faults {
        drop_frame_one_in: Some(40),
        corrupt_frame_one_in: Some(40),
        ..Faults::default()
    });
    measure_all(&sim, &instrument, 300).await;
    let stats = sim.stats();
    assert!(
        stats.frames_dropped > 10 && stats.frames_corrupted > 10,
        "{stats:?}"
    );
    assert!(instrument.stats().await.frame_errors > 10);
}

#[tokio::test]
async fn slow_notifications_still_arrive() {
    let (sim, instrument) = rig(23);
    instrument.calibrate_white().await.unwrap();
    sim.set_faults(Faults {
        slow_notifications: std::time::Duration::from_millis(20),
        ..Faults::default()
    });
    measure_all(&sim, &instrument, 3).await;
}
