//! A reading is on disk before it is acknowledged: resume after the app dies, recover a reading
//! taken while it was gone, no duplicates, and no loss when the link keeps dropping. An app
//! killed between capturing its upload and noting it uploads one record.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ecsp_client::EcspClient;
use ecsp_client::outbox::{OutboxKind, QueueState};
use ecsp_client::remote::RecordQuery;
use ecsp_client::sync::FlushOptions;
use ecsp_instrument_link::sim::{Faults, SimulatedSpectrometer};
use ecsp_measure::calibration::CalibrationPolicy;
use ecsp_measure::session::UPLOAD_LOG_TARGET;
use ecsp_measure::store::SessionStore;
use ecsp_measure::{LocationProvider, MeasureErrorCode, MeasurementSession};
use ecsp_protocol::colour_model::IlluminationCondition;
use ecsp_protocol::consent::Purpose;
use ecsp_protocol::measurement::{GpsFix, MeasurementRecord};
use ecsp_protocol::upload::RecordKind;
use uuid::Uuid;

use crate::common::{
    COLORCHECKER, FileSecretStore, TestServer, chart, client_of, instrument, measured_session,
    plan, sim_config, spectra_of, store, synthetic_chart,
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

/// Set in the child process of the kill test: the directory the two processes share.
const KILL_CHILD: &str = "ECSP_MEASURE_KILL_CHILD";
/// This test's path in the test binary, for the child process to run it alone.
const KILL_TEST: &str =
    "durability::an_app_killed_between_capturing_and_noting_its_upload_sends_one_record";

/// What the parent tells the child: the server and the printer.
#[derive(serde::Serialize, serde::Deserialize)]
struct ChildPlan {
    url: String,
    ca_pem: String,
    device: Uuid,
}

/// A host whose GPS fix is at `latitude`.
#[derive(Debug)]
struct At(f64);

impl LocationProvider for At {
    fn current_fix(&self) -> Option<GpsFix> {
        Some(GpsFix {
            latitude: self.0,
            longitude: 139.7671,
            accuracy_m: Some(12.0),
            altitude_m: None,
            fixed_at: chrono::Utc::now() - chrono::Duration::seconds(5),
        })
    }
}

/// The window between the client's outbox taking the record and the session noting it, hit by
/// a real SIGKILL. The test binary runs this same test again as the app (the child): it
/// measures a chart and uploads; the moment the session logs that the record is in the outbox,
/// the child stops dead and the parent kills it. The parent then restarts the app from the
/// files the child left (the session file, the client's outbox, the shared secrets), uploads
/// again with a different GPS fix, flushes, and the server holds one record: the first capture.
#[cfg(unix)]
#[tokio::test]
async fn an_app_killed_between_capturing_and_noting_its_upload_sends_one_record() {
    use std::os::unix::process::ExitStatusExt as _;

    if let Ok(work) = std::env::var(KILL_CHILD) {
        return app_killed_after_capture(std::path::Path::new(&work)).await;
    }
    let server = TestServer::start().await;
    let work = tempfile::tempdir().unwrap();
    let secrets = || Arc::new(FileSecretStore::new(work.path().join("secrets.json")));
    let (client, device) = server
        .technician_in(&work.path().join("client"), secrets())
        .await;
    client.grant(Purpose::Gps).await.unwrap();
    let measurement = RecordQuery {
        kind: Some(RecordKind::Measurement),
        ..RecordQuery::default()
    };
    let on_server_before = client.records(device, measurement).await.unwrap().len();
    drop(client);
    let plan = ChildPlan {
        url: server.url.clone(),
        ca_pem: server.ca_pem.clone(),
        device,
    };
    std::fs::write(
        work.path().join("plan.json"),
        serde_json::to_vec(&plan).unwrap(),
    )
    .unwrap();

    let stderr = std::fs::File::create(work.path().join("child.stderr")).unwrap();
    let mut child = KilledOnDrop(
        std::process::Command::new(std::env::current_exe().unwrap())
            .args([KILL_TEST, "--exact", "--nocapture", "--test-threads", "1"])
            .env(KILL_CHILD, work.path())
            .stdout(std::process::Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap(),
    );
    let marker = work.path().join("captured");
    let deadline = Instant::now() + Duration::from_secs(120);
    while !marker.exists() {
        if let Some(status) = child.0.try_wait().unwrap() {
            panic!(
                "the app ended ({status}) before its record was captured:\n{}",
                std::fs::read_to_string(work.path().join("child.stderr")).unwrap()
            );
        }
        assert!(
            Instant::now() < deadline,
            "the app captured nothing in 120 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.0.kill().unwrap();
    let status = child.0.wait().unwrap();
    assert_eq!(status.signal(), Some(9), "killed by SIGKILL: {status}");
    let killed_record: Uuid = std::fs::read_to_string(&marker).unwrap().parse().unwrap();

    // The app starts again: the session is not marked uploaded, its record is in the outbox.
    let store = store(work.path());
    let open = store.open_sessions().unwrap();
    assert_eq!(open.len(), 1, "{open:?}");
    let (fixed_record, fixed_at) = store.session(open[0]).unwrap().upload.unwrap();
    assert_eq!(fixed_record, killed_record);
    let client = client_of(
        &server.url,
        &server.ca_pem,
        &work.path().join("client"),
        secrets(),
    );
    let queued = |client: EcspClient| async move {
        client
            .queue_list(None, 100)
            .await
            .unwrap()
            .items
            .into_iter()
            .filter(|i| i.kind == OutboxKind::Measurement)
            .map(|i| (i.record_id, i.state))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        queued(client.clone()).await,
        vec![(killed_record, QueueState::Queued)]
    );

    let sim = SimulatedSpectrometer::new(sim_config());
    let mut session = MeasurementSession::resume(
        store.clone(),
        instrument(&sim),
        open[0],
        CalibrationPolicy::default(),
    )
    .await
    .unwrap();
    let captured = session.upload(&client, Some(&At(36.0))).await.unwrap();
    assert_eq!(
        (captured.record_id, captured.captured_at),
        (killed_record, fixed_at)
    );
    assert!(captured.withheld.is_empty(), "{captured:?}");
    assert_eq!(
        queued(client.clone()).await,
        vec![(killed_record, QueueState::Queued)],
        "nothing new in the outbox"
    );
    assert!(store.open_sessions().unwrap().is_empty());

    let report = client.flush(FlushOptions::default()).await.unwrap();
    assert_eq!((report.rejected, report.remaining), (0, 0), "{report:?}");
    let on_server = client.records(device, measurement).await.unwrap();
    assert_eq!(on_server.len(), on_server_before + 1);
    let view = client.record(killed_record).await.unwrap();
    let record: MeasurementRecord = serde_json::from_value(view.record).unwrap();
    assert_eq!(record.samples.len(), 24);
    assert_eq!(
        record.gps.unwrap().latitude,
        35.0,
        "the first capture's fix"
    );
    assert_eq!(record.captured_at, fixed_at);
    assert_eq!(
        sim.stats().readings_taken,
        0,
        "the restarted app measured nothing"
    );
}

/// The child process, killed if the parent fails before killing it, so that none is left behind.
struct KilledOnDrop(std::process::Child);

impl Drop for KilledOnDrop {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// The child: the app measuring a chart and uploading, stopped dead once its record is in the
/// outbox (see [`StopAtCapture`]).
async fn app_killed_after_capture(work: &std::path::Path) {
    use tracing_subscriber::layer::SubscriberExt as _;
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(StopAtCapture {
        marker: work.join("captured"),
    }))
    .unwrap();
    let plan_of_child: ChildPlan =
        serde_json::from_slice(&std::fs::read(work.join("plan.json")).unwrap()).unwrap();
    let client = client_of(
        &plan_of_child.url,
        &plan_of_child.ca_pem,
        &work.join("client"),
        Arc::new(FileSecretStore::new(work.join("secrets.json"))),
    );
    let (mut session, _sim) = measured_session(work, plan_of_child.device).await;
    let outcome = session.upload(&client, Some(&At(35.0))).await;
    panic!("the upload returned ({outcome:?}): the session never logged its capture");
}

/// On the session's "captured into the outbox" event: writes the record id to `marker` and
/// stops the thread for good, so nothing after the capture runs before the parent's SIGKILL.
struct StopAtCapture {
    marker: std::path::PathBuf,
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for StopAtCapture {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if event.metadata().target() != UPLOAD_LOG_TARGET {
            return;
        }
        let mut record = RecordField(None);
        event.record(&mut record);
        let tmp = self.marker.with_extension("tmp");
        std::fs::write(&tmp, record.0.unwrap()).unwrap();
        std::fs::rename(&tmp, &self.marker).unwrap();
        loop {
            std::thread::park();
        }
    }
}

/// The `record` field of an event.
struct RecordField(Option<String>);

impl tracing::field::Visit for RecordField {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "record" {
            self.0 = Some(format!("{value:?}"));
        }
    }
}
