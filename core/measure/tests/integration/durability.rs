//! A reading is on disk before it is acknowledged: resume after the app dies, recover a reading
//! taken while it was gone, no duplicates, and no loss when the link keeps dropping.

use ecsp_instrument_link::sim::{Faults, SimulatedSpectrometer};
use ecsp_measure::calibration::CalibrationPolicy;
use ecsp_measure::store::SessionStore;
use ecsp_measure::{MeasureErrorCode, MeasurementSession};
use ecsp_protocol::colour_model::IlluminationCondition;
use uuid::Uuid;

use crate::common::{
    COLORCHECKER, chart, instrument, plan, sim_config, spectra_of, store, synthetic_chart,
};

#[tokio::test]
async fn a_session_resumes_from_its_file_after_the_app_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let (bytes, spectra) = chart(COLORCHECKER);
    let sim = SimulatedSpectrometer::new(sim_config());
    sim.walk_chart(spectra);
    let id = {
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
        for _ in 0..5 {
            session.measure_next().await.unwrap();
        }
        session.id()
        // Everything in memory is dropped here: the session, its driver, its store handle.
    };

    let store = store(dir.path());
    assert_eq!(store.open_sessions().unwrap(), vec![id]);
    let mut session =
        MeasurementSession::resume(store, instrument(&sim), id, CalibrationPolicy::default())
            .await
            .unwrap();
    let status = session.status().await.unwrap();
    assert_eq!((status.measured, status.next_patch), (5, Some(5)));
    assert_eq!(
        status.calibration_due, None,
        "the calibration was stored too"
    );
    while session.next_patch().is_some() {
        let m = session.measure_next().await.unwrap();
        assert!(m.check.better_match.is_none(), "patch {}", m.index);
    }
    assert_eq!(sim.stats().readings_taken, 24);
}

#[tokio::test]
async fn a_reading_taken_while_the_app_died_is_recovered_once() {
    let dir = tempfile::tempdir().unwrap();
    let (bytes, spectra) = chart(COLORCHECKER);
    let sim = SimulatedSpectrometer::new(sim_config());
    sim.walk_chart(spectra);
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
    for _ in 0..3 {
        session.measure_next().await.unwrap();
    }
    let id = session.id();
    drop(session);

    // The app asked for patch 3, the instrument measured, and the app was killed before it
    // stored the reading: the pending mark is on disk, the reading only in the instrument.
    let s = store(dir.path());
    let newest = s.newest_counter("SIM-000123").unwrap();
    s.set_pending(id, Some((3, newest))).unwrap();
    let taken = instrument(&sim)
        .measure(IlluminationCondition::M1)
        .await
        .unwrap();

    let session = MeasurementSession::resume(
        s.clone(),
        instrument(&sim),
        id,
        CalibrationPolicy::default(),
    )
    .await
    .unwrap();
    let readings = s.readings(id).unwrap();
    assert_eq!(readings.len(), 4);
    assert_eq!(readings[3].patch_index, 3);
    assert_eq!(readings[3].reading.counter, taken.counter);
    assert_eq!(session.next_patch(), Some(4));

    // Resuming again finds nothing pending and stores nothing twice.
    drop(session);
    let mut session = MeasurementSession::resume(
        s.clone(),
        instrument(&sim),
        id,
        CalibrationPolicy::default(),
    )
    .await
    .unwrap();
    assert_eq!(s.readings(id).unwrap().len(), 4);
    let next = session.measure_next().await.unwrap();
    assert_eq!((next.index, next.counter), (4, taken.counter + 1));
    assert_eq!(sim.stats().readings_taken, 5);
}

#[tokio::test]
async fn the_same_instrument_reading_is_stored_once() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let (bytes, spectra) = chart(COLORCHECKER);
    let sim = SimulatedSpectrometer::new(sim_config());
    sim.walk_chart(spectra);
    let mut session = MeasurementSession::start(
        s.clone(),
        instrument(&sim),
        plan(Uuid::new_v4()),
        bytes,
        CalibrationPolicy::default(),
    )
    .await
    .unwrap();
    session.calibrate().await.unwrap();
    session.measure_next().await.unwrap();
    let id = session.id();
    let mut first = s.readings(id).unwrap().remove(0);
    // A resend of that reading, offered for another patch, changes nothing.
    first.patch_index = 1;
    assert_eq!(
        s.store_reading(id, &first).unwrap(),
        ecsp_measure::store::Stored::Duplicate
    );
    assert_eq!(s.readings(id).unwrap().len(), 1);
}

#[tokio::test]
async fn a_file_from_a_newer_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sessions.sqlite3");
    drop(SessionStore::open(&path).unwrap());
    rusqlite::Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", 99)
        .unwrap();
    let err = SessionStore::open(&path).unwrap_err();
    assert_eq!(err.code(), MeasureErrorCode::LocalStorage);
    assert!(err.to_string().contains("newer version"), "{err}");
}

#[tokio::test]
async fn a_200_patch_chart_with_the_link_dropping_every_5_frames_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = synthetic_chart(200);
    let sim = SimulatedSpectrometer::new(sim_config());
    sim.walk_chart(spectra_of(&bytes));
    let s = store(dir.path());
    let mut session = MeasurementSession::start(
        s.clone(),
        instrument(&sim),
        plan(Uuid::new_v4()),
        bytes,
        CalibrationPolicy::default(),
    )
    .await
    .unwrap();
    session.calibrate().await.unwrap();
    sim.set_faults(Faults {
        drop_link_every_frames: Some(5),
        ..Faults::default()
    });
    while session.next_patch().is_some() {
        let m = session.measure_next().await.unwrap();
        assert!(m.new);
        assert!(
            m.check.better_match.is_none(),
            "patch {}: {:?}",
            m.index,
            m.check
        );
    }
    let stored = s.readings(session.id()).unwrap();
    let stats = sim.stats();
    assert_eq!(stored.len(), 200);
    assert_eq!(
        stats.readings_taken, 200,
        "readings delivered = readings taken"
    );
    assert!(stats.links_dropped >= 40, "{stats:?}");
    let mut counters: Vec<u32> = stored.iter().map(|r| r.reading.counter).collect();
    counters.dedup();
    assert_eq!(counters.len(), 200);
}
