//! Calibration due, the chart's order, wrong-patch readings and re-measuring.

use ecsp_instrument_link::sim::SimulatedSpectrometer;
use ecsp_measure::calibration::{CalibrationDue, CalibrationPolicy};
use ecsp_measure::{MeasureErrorCode, MeasurementSession};
use uuid::Uuid;

use crate::common::{COLORCHECKER, chart, instrument, plan, sim_config, store};

#[tokio::test]
async fn calibration_is_due_before_the_first_reading_and_after_each_limit() {
    let dir = tempfile::tempdir().unwrap();
    let (bytes, spectra) = chart(COLORCHECKER);
    let sim = SimulatedSpectrometer::new(sim_config());
    sim.walk_chart(spectra);
    let policy = CalibrationPolicy {
        max_readings: 3,
        ..CalibrationPolicy::default()
    };
    let mut session = MeasurementSession::start(
        store(dir.path()),
        instrument(&sim),
        plan(Uuid::new_v4()),
        bytes,
        policy,
    )
    .await
    .unwrap();

    let status = session.status().await.unwrap();
    assert_eq!(status.calibration_due, Some(CalibrationDue::Never));
    assert_eq!(
        (status.total, status.measured, status.next_patch),
        (24, 0, Some(0))
    );
    let err = session.measure_next().await.unwrap_err();
    assert_eq!(err.code(), MeasureErrorCode::CalibrationDue);
    assert_eq!(
        sim.stats().readings_taken,
        0,
        "refused before the instrument measured"
    );

    session.calibrate().await.unwrap();
    assert_eq!(session.status().await.unwrap().calibration_due, None);
    for _ in 0..3 {
        session.measure_next().await.unwrap();
    }
    assert_eq!(
        session.calibration_due().await.unwrap(),
        Some(CalibrationDue::Readings {
            readings: 3,
            max: 3
        })
    );

    session.calibrate().await.unwrap();
    // The optics warm up by 4 °C: the next reading shows it, the one after is refused.
    sim.set_temperature(270);
    session.measure_next().await.unwrap();
    assert!(matches!(
        session.calibration_due().await.unwrap(),
        Some(CalibrationDue::Temperature {
            change_tenth_c: 40,
            ..
        })
    ));
    assert_eq!(
        session.measure_next().await.unwrap_err().code(),
        MeasureErrorCode::CalibrationDue
    );
}

#[tokio::test]
async fn the_chart_gives_the_order_and_a_neighbour_reading_is_flagged_until_remeasured() {
    let dir = tempfile::tempdir().unwrap();
    let (bytes, spectra) = chart(COLORCHECKER);
    let sim = SimulatedSpectrometer::new(sim_config());
    let mut session = MeasurementSession::start(
        store(dir.path()),
        instrument(&sim),
        plan(Uuid::new_v4()),
        bytes,
        CalibrationPolicy::default(),
    )
    .await
    .unwrap();
    session.calibrate().await.unwrap();

    for (i, spectrum) in spectra.iter().take(5).enumerate() {
        assert_eq!(session.next_patch(), Some(i));
        sim.place_on(spectrum.clone());
        let m = session.measure_next().await.unwrap();
        assert_eq!(m.index, i);
        assert_eq!(m.patch_id, (i + 1).to_string());
        assert!(m.check.delta_e < 0.5, "patch {i}: ΔE00 {}", m.check.delta_e);
        assert_eq!(m.check.better_match, None);
    }

    // The technician skips ahead: patch 6's colour is read for patch 5.
    sim.place_on(spectra[6].clone());
    let wrong = session.measure_next().await.unwrap();
    assert_eq!(wrong.index, 5);
    let (neighbour, de) = wrong.check.better_match.unwrap();
    assert_eq!(neighbour, 6);
    assert!(de < 0.5 && wrong.check.delta_e > 5.0, "{:?}", wrong.check);
    assert_eq!(session.flagged(), vec![5]);
    assert_eq!(
        session.next_patch(),
        Some(6),
        "the flagged patch has a reading"
    );

    // Re-measuring replaces the reading; the flag goes.
    sim.place_on(spectra[5].clone());
    let right = session.measure_patch(5).await.unwrap();
    assert!(right.new && right.check.better_match.is_none());
    assert!(session.flagged().is_empty());
    let status = session.status().await.unwrap();
    assert_eq!(status.measured, 6);
    let stored = ecsp_measure::store::SessionStore::open(&dir.path().join("sessions.sqlite3"))
        .unwrap()
        .readings(session.id())
        .unwrap();
    assert_eq!(stored.len(), 6, "one row per patch");
    assert_eq!(stored[5].reading.counter, right.counter);

    assert_eq!(
        session.measure_patch(24).await.unwrap_err().code(),
        MeasureErrorCode::NotFound
    );
}
